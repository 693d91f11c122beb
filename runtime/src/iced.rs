//! iced glue: a live query as an iced `Subscription`.

use iced_futures::Subscription;

use crate::client::Client;
use crate::event::{Query, ViewEvent};

/// Watches a view from an iced app's `subscription`:
///
/// ```no_run
/// # use lucarne_runtime::{Client, Query, ViewEvent, watch};
/// # enum Message { Orders(ViewEvent) }
/// # struct App { client: Client }
/// fn subscription(app: &App) -> iced_futures::Subscription<Message> {
///     watch(&app.client, Query::view("orders")).map(Message::Orders)
/// }
/// ```
///
/// iced identifies subscriptions by the client and the query: returning the same pair on the
/// next `subscription` call keeps the live stream; a different query starts a new one and drops
/// the old (which unsubscribes), all over the client's one socket.
pub fn watch(client: &Client, query: Query) -> Subscription<ViewEvent> {
    Subscription::run_with((client.clone(), query), |(client, query)| client.subscribe(query.clone()))
}
