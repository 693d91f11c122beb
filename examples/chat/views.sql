-- The chat example's view, over the `chat` stream: one row per message (a feed view keeps the
-- newest 1 000, keyed by the event's log position, which is also a column: the order the
-- server took them in, where `ts` may tie). Events: post {author, text}.

CREATE VIEW messages AS
  SELECT position, author, text, ts
  FROM chat
  WHERE type = 'post';
