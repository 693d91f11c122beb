//! A live chat room: messages in any script (Arabic, Hebrew, Latin, mixed), each laid out in
//! its own direction; the screen holds the last [`LAST`] messages as a live query, so the
//! server sends only those and keeps the window current.
//!
//! Run it: `cargo xtask example chat` (a server with this example's view and route, then the
//! app; `LUCARNE_CHAT_NAME` names you); in a browser: `cargo xtask example chat --web`.
//!
//! A message posted shows at once, marked `…`, until the server's window holds it
//! (`lucarne::Optimistic`: a change that creates a row the view will key by its log position).

use lucarne::iced::widget::{button, column, container, row, scrollable, text};
use lucarne::iced::{Element, Fill, Font, Subscription, Task, font};
use lucarne::protocol::Key;
use lucarne::widgets::{Connection, bidi_input, bidi_text, connection_status};
use lucarne::{Answered, Change, Client, Command, Optimistic, Outcome, Query, ViewEvent};
use serde_json::{Value, json};

/// How many of the newest messages the screen holds.
pub const LAST: u64 = 50;

/// The live query of the screen: the newest [`LAST`] messages (by log position: messages
/// taken in one commit share their `ts`).
pub fn last_messages() -> Query {
    Query::view("messages").order_by("position desc").limit(LAST)
}

/// A row of the `messages` view.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Post {
    /// Who wrote it.
    #[serde(default)]
    pub author: String,
    /// What they wrote.
    #[serde(default)]
    pub text: String,
    /// When the server took it (ms since the Unix epoch); `None` until it has.
    #[serde(default)]
    pub ts: Option<f64>,
}

/// A message on its way, shown under a key of its own until the server's window holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    /// Its place until then (`"posting-SEQ"`).
    pub key: String,
    /// The message.
    pub post: Post,
}

impl Change<Post> for Posting {
    fn command(&self) -> (String, Value) {
        ("post".into(), json!({ "author": self.post.author, "text": self.post.text }))
    }

    fn key(&self) -> Key {
        json!(self.key)
    }

    fn apply(&self, _: Option<Post>) -> Option<Post> {
        Some(self.post.clone())
    }
}

/// The app's state.
#[derive(Debug)]
pub struct App {
    client: Client,
    author: String,
    posts: Optimistic<Post, Posting>,
    draft: String,
    connection: Connection,
    error: Option<String>,
}

/// What happens in the app.
#[derive(Debug, Clone)]
pub enum Message {
    /// An event of the live query.
    Posts(ViewEvent),
    /// The message being written changed.
    Draft(String),
    /// "Send" (or Enter).
    Send,
    /// The server answered a message sent.
    Answered(Answered),
}

impl App {
    /// The room, as `author`, over `client`.
    pub fn new(client: Client, author: impl Into<String>) -> Self {
        let posts = Optimistic::new(client.client_id());
        App {
            client,
            author: author.into(),
            posts,
            draft: String::new(),
            connection: Connection::Connecting,
            error: None,
        }
    }

    /// The messages: the server's window, with those on their way.
    pub fn posts(&self) -> &Optimistic<Post, Posting> {
        &self.posts
    }

    /// Posts `text`: shown at once; the command to send comes back.
    pub fn post(&mut self, text: &str) -> Command {
        self.error = None;
        let seq = self.client.next_seq();
        let post = Post { author: self.author.clone(), text: text.to_owned(), ts: None };
        self.posts.begin(seq, Posting { key: format!("posting-{seq}"), post })
    }

    /// Applies a message.
    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Posts(event) => {
                lucarne::ui::track(&mut self.connection, &event);
                self.posts.apply(&event);
            }
            Message::Draft(draft) => self.draft = draft,
            Message::Send => {
                let text = self.draft.trim().to_owned();
                if !text.is_empty() {
                    self.draft.clear();
                    let command = self.post(&text);
                    return Task::perform(command.deliver(self.client.clone()), Message::Answered);
                }
            }
            Message::Answered(answered) => {
                if let Outcome::RolledBack { change, error } = self.posts.answered(answered) {
                    self.error = Some(format!("Not sent: “{}”: {error}", change.post.text));
                }
            }
        }
        Task::none()
    }

    /// The messages as shown, in the order the server took them (their key is their log
    /// position), those on their way last; each with the id of its text on screen (`post:KEY`)
    /// and whether it is on its way.
    pub fn shown(&self) -> Vec<(String, bool, Post)> {
        let mut posts: Vec<(u64, String, bool, Post)> = self
            .posts
            .iter()
            .map(|(key, post)| {
                let id = format!("post:{}", lucarne::ui::row_id(key));
                (key.as_u64().unwrap_or(u64::MAX), id, self.posts.is_pending(key), post.into_owned())
            })
            .collect();
        // Stable: those on their way stay in the order they were sent.
        posts.sort_by_key(|(position, ..)| *position);
        posts.into_iter().map(|(_, id, pending, post)| (id, pending, post)).collect()
    }

    /// The screen.
    pub fn view(&self) -> Element<'_, Message> {
        let bold = Font { weight: font::Weight::Bold, ..lucarne::ui::DEFAULT_FONT };
        let header = row![text("Room").size(24).width(Fill), connection_status(&self.connection)];
        let posts = self.shown().into_iter().map(|(id, pending, post)| {
            let body = if pending { format!("{} …", post.text) } else { post.text };
            // Each message in its own direction: Arabic and Hebrew from the right.
            column![text(post.author).font(bold).size(13), bidi_text(body).id(id).width(Fill)]
                .spacing(2)
                .into()
        });
        let compose = row![
            bidi_input("Write a message", &self.draft)
                .id("message")
                .on_input(Message::Draft)
                .on_submit(Message::Send),
            button("Send").on_press(Message::Send),
        ]
        .spacing(8);
        let error = self.error.as_deref().map(|e| text(e.to_owned()));
        column![
            header,
            container(scrollable(column(posts).spacing(10)).anchor_bottom()).height(Fill),
            compose
        ]
        .push(error)
        .padding(16)
        .spacing(12)
        .into()
    }

    /// The live query the screen watches.
    pub fn subscription(&self) -> Subscription<Message> {
        lucarne::watch(&self.client, last_messages()).map(Message::Posts)
    }
}
