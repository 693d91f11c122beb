//! The examples against a real server started with their own views and routes (`serve.args`),
//! their states fed by real subscriptions as iced's `watch` would feed them.

use std::path::Path;

use example_todo::{App, Edit, Message};
use futures_util::StreamExt;
use futures_util::future::join_all;
use lucarne_runtime::{Query, Subscription, ViewEvent};
use serde_json::json;

use crate::support::{Server, client, within};

/// A server with an example's arguments (`examples/NAME/serve.args`, one per line; paths are
/// the repository's).
fn example_server(dir: &Path, name: &str) -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let args = std::fs::read_to_string(root.join(format!("examples/{name}/serve.args"))).expect("serve.args");
    let args: Vec<String> = args
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| if l.starts_with("examples/") { root.join(l).display().to_string() } else { l.to_owned() })
        .collect();
    Server::spawn(dir.to_path_buf(), "127.0.0.1:0".parse().expect("addr"), args)
}

/// Feeds `app` (through `feed`) the events of `sub` until `done` holds.
async fn until<A>(
    app: &mut A,
    sub: &mut Subscription,
    feed: fn(&mut A, ViewEvent),
    mut done: impl FnMut(&A) -> bool,
) {
    while !done(app) {
        let event = within(sub.next()).await.expect("subscription ended");
        feed(app, event);
    }
}

/// Feeds the todo app the events of `sub` until `done` holds.
async fn feed_until(app: &mut App, sub: &mut Subscription, done: impl FnMut(&App) -> bool) {
    until(app, sub, |app, event| drop(app.update(Message::Todos(event))), done).await;
}

fn title(app: &App, id: &str) -> Option<(String, bool)> {
    app.todos().get(&json!(id)).map(|t| (t.title.clone(), t.done))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_todo_example_on_two_screens_of_a_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = example_server(dir.path(), "todo");
    let (ada, bob) = (client(&server.url()), client(&server.url()));
    let (mut a, _) = App::new(ada.clone());
    let (mut b, _) = App::new(bob.clone());
    let mut sub_a = ada.subscribe(Query::view("todos"));
    let mut sub_b = bob.subscribe(Query::view("todos"));
    feed_until(&mut a, &mut sub_a, |a| a.todos().view().position().is_some()).await;
    feed_until(&mut b, &mut sub_b, |b| b.todos().view().position().is_some()).await;

    // Ada adds a todo: on her screen at once, then on Bob's; hers settles once the server has it.
    let add = a.edit(Edit::Add { id: "t-1".into(), title: "Call Ada".into() });
    assert_eq!(title(&a, "t-1"), Some(("Call Ada".into(), false)));
    let answer = within(add.deliver(ada.clone())).await;
    assert!(answer.result.is_ok(), "{answer:?}");
    let _ = a.update(Message::Answered(answer));
    feed_until(&mut b, &mut sub_b, |b| title(b, "t-1").is_some()).await;
    feed_until(&mut a, &mut sub_a, |a| a.todos().pending().count() == 0).await;

    // Both tick it at once: the route (`WHEN done = false`) takes one and refuses the other,
    // whose screen rolls back and says why, then shows it done as the server has it.
    let (tick_a, tick_b) = (
        a.edit(Edit::Check { id: "t-1".into(), done: true }),
        b.edit(Edit::Check { id: "t-1".into(), done: true }),
    );
    let (answer_a, answer_b) = tokio::join!(tick_a.deliver(ada.clone()), tick_b.deliver(bob.clone()));
    let refused = usize::from(answer_a.result.is_err()) + usize::from(answer_b.result.is_err());
    assert_eq!(refused, 1, "one tick applied, one refused: {answer_a:?} {answer_b:?}");
    let _ = a.update(Message::Answered(answer_a));
    let _ = b.update(Message::Answered(answer_b));
    let error = a.error().or(b.error()).unwrap_or_default().to_owned();
    assert!(error.starts_with("Could not change t-1: rejected"), "{error}");
    feed_until(&mut a, &mut sub_a, |a| {
        a.todos().pending().count() == 0 && title(a, "t-1").is_some_and(|t| t.1)
    })
    .await;
    feed_until(&mut b, &mut sub_b, |b| {
        b.todos().pending().count() == 0 && title(b, "t-1").is_some_and(|t| t.1)
    })
    .await;

    // A todo id that exists already is refused (`NEW`), and nothing of it is shown.
    let again = a.edit(Edit::Add { id: "t-1".into(), title: "Twice".into() });
    let answer = within(again.deliver(ada.clone())).await;
    assert!(answer.result.is_err(), "{answer:?}");
    let _ = a.update(Message::Answered(answer));
    assert_eq!(title(&a, "t-1"), Some(("Call Ada".into(), true)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_example_keeps_the_last_messages_on_every_screen() {
    use example_chat::{App, LAST, Message, last_messages};
    let feed = |app: &mut App, event: ViewEvent| drop(app.update(Message::Posts(event)));
    let texts = |app: &App| app.shown().into_iter().map(|(_, _, post)| post.text).collect::<Vec<_>>();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = example_server(dir.path(), "chat");
    let (nour, dana) = (client(&server.url()), client(&server.url()));
    let mut n = App::new(nour.clone(), "Nour");
    let mut d = App::new(dana.clone(), "Dana");
    let mut sub_n = nour.subscribe(last_messages());
    let mut sub_d = dana.subscribe(last_messages());
    until(&mut n, &mut sub_n, feed, |n| n.posts().view().position().is_some()).await;
    until(&mut d, &mut sub_d, feed, |d| d.posts().view().position().is_some()).await;

    // Nour writes in Arabic: on her screen at once, on Dana's once the server has it.
    let post = n.post("مرحبا بالجميع");
    assert_eq!(texts(&n), ["مرحبا بالجميع"]);
    let answer = within(post.deliver(nour.clone())).await;
    assert!(answer.result.is_ok(), "{answer:?}");
    let _ = n.update(Message::Answered(answer));
    until(&mut d, &mut sub_d, feed, |d| texts(d) == ["مرحبا بالجميع"]).await;
    until(&mut n, &mut sub_n, feed, |n| n.posts().pending().count() == 0).await;

    // Dana posts 60 more at once: both screens end with the newest LAST, in order.
    let posts: Vec<_> = (1..=60).map(|i| d.post(&format!("שלום {i}"))).collect();
    let answers = join_all(posts.into_iter().map(|p| p.deliver(dana.clone()))).await;
    for answer in answers {
        assert!(answer.result.is_ok(), "{answer:?}");
        let _ = d.update(Message::Answered(answer));
    }
    let last: Vec<String> = (61 - LAST..=60).map(|i| format!("שלום {i}")).collect();
    until(&mut d, &mut sub_d, feed, |d| d.posts().pending().count() == 0 && texts(d) == last).await;
    until(&mut n, &mut sub_n, feed, |n| texts(n) == last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_example_sums_every_sale_to_the_cent_on_every_screen() {
    use example_dashboard::{App, Message};
    let feed = |app: &mut App, event: ViewEvent| drop(app.update(Message::Regions(event)));
    let total = |app: &App, region: &str| app.regions().get(&json!(region)).map(|r| (r.sales, r.cents));
    let dir = tempfile::tempdir().expect("tempdir");
    let server = example_server(dir.path(), "dashboard");
    let (one, two) = (client(&server.url()), client(&server.url()));
    let (mut a, mut b) = (App::new(one.clone()), App::new(two.clone()));
    let (mut sub_a, mut sub_b) =
        (one.subscribe(Query::view("by_region")), two.subscribe(Query::view("by_region")));
    until(&mut a, &mut sub_a, feed, |a| a.regions().position().is_some()).await;
    until(&mut b, &mut sub_b, feed, |b| b.regions().position().is_some()).await;

    // 300 sales of 0.10 and 0.20 from both screens at once: 300 × 0.15 = exactly 45.00.
    let sales = (0..300).map(|i| {
        let (client, cents) = if i % 2 == 0 { (&one, 10) } else { (&two, 20) };
        client.send("sell", json!({ "region": "eu", "cents": cents }))
    });
    for ack in join_all(sales).await {
        assert!(ack.is_ok(), "{ack:?}");
    }
    until(&mut a, &mut sub_a, feed, |a| total(a, "eu") == Some((300, 4_500))).await;
    until(&mut b, &mut sub_b, feed, |b| total(b, "eu") == Some((300, 4_500))).await;
}
