-- The todo example's view, over the `todos` stream.
-- Events: add_todo {id, title}, complete_todo {id}, reopen_todo {id}.

CREATE VIEW todos AS
  SELECT id,
         LAST(title) AS title,
         LAST(CASE type
                WHEN 'add_todo' THEN false
                WHEN 'complete_todo' THEN true
                WHEN 'reopen_todo' THEN false
              END) AS done,
         FIRST(ts) AS created_ms
  FROM todos
  GROUP BY id;
