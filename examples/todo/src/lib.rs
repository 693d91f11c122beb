//! A live todo list: one view (`views.sql`), three commands (the routes in `serve.args`), and
//! checkboxes that answer at once. Every screen watching the list sees every change.
//!
//! Run it: `cargo xtask example todo` (a server with this example's views and routes, then the
//! app); in a browser: `cargo xtask example todo --web`.
//!
//! - Adding a todo or ticking one is an [`Edit`]: a command whose effect is shown before the
//!   server has it (`lucarne::Optimistic`), marked `…` until the server's rows hold it, rolled
//!   back with the server's reason when it is refused (ticking a todo someone else ticked first).
//! - Edits made offline wait in the runtime's outbox and are sent on reconnect; those a closed
//!   app left are shown again at the next start ([`App::new`]).

use lucarne::iced::widget::{button, checkbox, column, row, scrollable, text};
use lucarne::iced::{Element, Fill, Subscription, Task};
use lucarne::protocol::Key;
use lucarne::widgets::{Connection, bidi_input, connection_status};
use lucarne::{Answered, Change, Client, Command, Optimistic, Outcome, Query, ViewEvent};
use serde_json::{Value, json};

/// A row of the `todos` view.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Todo {
    /// Its id (the view's key), made by the client that added it.
    pub id: String,
    /// What to do.
    #[serde(default)]
    pub title: String,
    /// Done or not.
    #[serde(default)]
    pub done: bool,
    /// When it was added (ms since the Unix epoch); `None` until the server has it.
    #[serde(default)]
    pub created_ms: Option<f64>,
}

/// What the user does to the list: each is a command, shown before the server has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// `add_todo`: a new todo.
    Add {
        /// Its id.
        id: String,
        /// Its title.
        title: String,
    },
    /// `complete_todo` / `reopen_todo`.
    Check {
        /// The todo.
        id: String,
        /// Done (or open again).
        done: bool,
    },
}

impl Change<Todo> for Edit {
    fn command(&self) -> (String, Value) {
        match self {
            Edit::Add { id, title } => ("add_todo".into(), json!({ "id": id, "title": title })),
            Edit::Check { id, done: true } => ("complete_todo".into(), json!({ "id": id })),
            Edit::Check { id, done: false } => ("reopen_todo".into(), json!({ "id": id })),
        }
    }

    fn key(&self) -> Key {
        match self {
            Edit::Add { id, .. } | Edit::Check { id, .. } => json!(id),
        }
    }

    fn apply(&self, row: Option<Todo>) -> Option<Todo> {
        match self {
            Edit::Add { id, title } => {
                Some(Todo { id: id.clone(), title: title.clone(), done: false, created_ms: None })
            }
            Edit::Check { done, .. } => row.map(|todo| Todo { done: *done, ..todo }),
        }
    }

    fn from_command(name: &str, payload: &Value) -> Option<Self> {
        let id = payload["id"].as_str()?.to_owned();
        match name {
            "add_todo" => Some(Edit::Add { id, title: payload["title"].as_str()?.to_owned() }),
            "complete_todo" => Some(Edit::Check { id, done: true }),
            "reopen_todo" => Some(Edit::Check { id, done: false }),
            _ => None,
        }
    }
}

/// The app's state.
#[derive(Debug)]
pub struct App {
    client: Client,
    todos: Optimistic<Todo, Edit>,
    draft: String,
    connection: Connection,
    error: Option<String>,
}

/// What happens in the app.
#[derive(Debug, Clone)]
pub enum Message {
    /// An event of the `todos` subscription.
    Todos(ViewEvent),
    /// The new todo's title was typed.
    Draft(String),
    /// "Add" (or Enter in the title).
    Add,
    /// A todo's checkbox was ticked or unticked.
    Check(String, bool),
    /// The server answered an edit.
    Answered(Answered),
}

impl App {
    /// The app over `client`, with the edits a previous run left unanswered shown again (the
    /// task awaits their answers).
    pub fn new(client: Client) -> (Self, Task<Message>) {
        let mut todos = Optimistic::new(client.client_id());
        let left = todos.restore(client.unanswered().iter().cloned());
        let answers = Task::batch(left.into_iter().map(|command| deliver(&client, command)));
        let app =
            App { client, todos, draft: String::new(), connection: Connection::Connecting, error: None };
        (app, answers)
    }

    /// The todos: the server's, with the edits on their way shown over them.
    pub fn todos(&self) -> &Optimistic<Todo, Edit> {
        &self.todos
    }

    /// Why the last refused edit was refused.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Applies a message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Todos(event) => {
                lucarne::ui::track(&mut self.connection, &event);
                self.todos.apply(&event);
            }
            Message::Draft(draft) => self.draft = draft,
            Message::Add => {
                let title = self.draft.trim().to_owned();
                if !title.is_empty() {
                    self.draft.clear();
                    // A sequence number of this client is never used twice: a unique id.
                    let id = format!("{}-{}", self.client.client_id(), self.client.next_seq());
                    let command = self.edit(Edit::Add { id, title });
                    return deliver(&self.client, command);
                }
            }
            Message::Check(id, done) => {
                let command = self.edit(Edit::Check { id, done });
                return deliver(&self.client, command);
            }
            Message::Answered(answered) => {
                if let Outcome::RolledBack { change, error } = self.todos.answered(answered) {
                    let what = match &change {
                        Edit::Add { title, .. } => format!("Could not add “{title}”"),
                        Edit::Check { id, .. } => format!("Could not change {id}"),
                    };
                    self.error = Some(format!("{what}: {error}"));
                }
            }
        }
        Task::none()
    }

    /// Makes an edit: shown at once; the command to send comes back.
    pub fn edit(&mut self, edit: Edit) -> Command {
        self.error = None;
        self.client.send_optimistic(&mut self.todos, edit)
    }

    /// The screen.
    pub fn view(&self) -> Element<'_, Message> {
        let header = row![text("Todos").size(24).width(Fill), connection_status(&self.connection)];
        let input = row![
            bidi_input("What needs doing?", &self.draft)
                .id("title")
                .on_input(Message::Draft)
                .on_submit(Message::Add),
            button("Add").on_press(Message::Add),
        ]
        .spacing(8);
        // Oldest first; those the server has not yet got last.
        let mut todos: Vec<(bool, Todo)> =
            self.todos.iter().map(|(key, todo)| (self.todos.is_pending(key), todo.into_owned())).collect();
        todos.sort_by(|(_, a), (_, b)| {
            let at = |t: &Todo| t.created_ms.unwrap_or(f64::INFINITY);
            at(a).total_cmp(&at(b)).then_with(|| a.id.cmp(&b.id))
        });
        let left = todos.iter().filter(|(_, t)| !t.done).count();
        let items = todos.into_iter().map(|(pending, todo)| {
            let label = if pending { format!("{} …", todo.title) } else { todo.title };
            let id = todo.id;
            checkbox(todo.done).label(label).on_toggle(move |done| Message::Check(id.clone(), done)).into()
        });
        let footer = text(match left {
            1 => "1 left".to_owned(),
            n => format!("{n} left"),
        });
        let error = self.error.as_deref().map(|e| text(e.to_owned()));
        column![header, input, scrollable(column(items).spacing(6)).height(Fill), footer]
            .push(error)
            .padding(16)
            .spacing(12)
            .into()
    }

    /// The live view the app watches.
    pub fn subscription(&self) -> Subscription<Message> {
        lucarne::watch(&self.client, Query::view("todos")).map(Message::Todos)
    }
}

/// Sends a command and brings its answer back as a message (through reconnects).
fn deliver(client: &Client, command: Command) -> Task<Message> {
    Task::perform(command.deliver(client.clone()), Message::Answered)
}
