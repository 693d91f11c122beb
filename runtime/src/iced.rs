//! iced glue: a live query, or a live search, as an iced `Subscription`.

use iced_futures::Subscription;

use crate::client::Client;
use crate::event::{Query, SearchEvent, ViewEvent};
use lucarne_protocol::SearchQuery;

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

/// Keeps a search current from an iced app's `subscription` ([`Client::watch_search`]): the
/// same client, index and query keep the live search; a new query (a key typed, a facet value
/// picked) starts a new one and drops the old.
pub fn watch_search(client: &Client, index: &str, query: SearchQuery) -> Subscription<SearchEvent> {
    Subscription::run_with((client.clone(), index.to_owned(), query), |(client, index, query)| {
        client.watch_search(index, query.clone())
    })
}
