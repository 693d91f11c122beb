//! Platform push against a real server and a Web Push service stand-in on loopback that checks
//! each VAPID token and decrypts each body: a client that is away is woken by one push per burst
//! of the rows it asked for (and none while it is connected); a busy push service is tried
//! again after its `Retry-After`; a subscription the service says is gone is forgotten; a push
//! planned before a kill -9 is sent after the restart; an iOS app is woken through an APNs
//! stand-in (HTTP/2, TLS with a test CA, provider tokens checked) and an Android app through an
//! FCM one (its OAuth token endpoint checking each assertion); registrations a server must
//! refuse are refused with their code.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lucarne_protocol::{ErrorCode, NotificationTemplate, PushInterest, PushNotice, PushTarget};
use lucarne_runtime::{Client, ClientConfig, ClientError};
use lucarne_testing::{ApnsService, FcmService, PushService, Received};
use serde_json::json;

use crate::support::{Server, bin, client, within};

/// A VAPID key written by `lucarne push vapid-key`, and the public key it printed.
fn vapid_key(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("vapid.key");
    let out = Command::new(bin()).args(["push", "vapid-key", "--out"]).arg(&path).output().expect("run");
    assert!(out.status.success(), "{out:?}");
    (path, String::from_utf8(out.stdout).expect("utf-8").trim().to_owned())
}

/// A server pushing to the stand-in (and nowhere else), with a coalescing window of `window_ms`.
fn start(dir: &Path, service: &PushService, window_ms: u64, extra: &[&str]) -> (Server, String) {
    let (key, public) = vapid_key(dir);
    let key = key.display().to_string();
    let (origin, window) = (service.origin(), window_ms.to_string());
    let mut args = vec!["--vapid-key", &key, "--push-endpoints", &origin, "--push-window-ms", &window];
    args.extend(extra);
    (Server::start(&dir.join("data"), &args), public)
}

/// The phone: a client with its own id.
fn phone(server: &Server) -> Client {
    Client::connect(ClientConfig { client_id: "phone".into(), ..ClientConfig::new(server.url()) })
}

/// The phone with a capability token.
fn phone_with(server: &Server, token: String) -> Client {
    Client::connect(ClientConfig {
        client_id: "phone".into(),
        ..ClientConfig::new(server.url()).token(Some(token))
    })
}

/// The phone's interest: Ada's orders, with a notification.
fn ada() -> (PushInterest, Option<NotificationTemplate>) {
    let interest = PushInterest { view: "orders".into(), filter: Some("customer = 'Ada'".into()) };
    let text = NotificationTemplate { title: "Order {order_id}".into(), body: "{customer}: {total}".into() };
    (interest, Some(text))
}

/// Drops the client and waits until the server has seen its connection end.
async fn away(server: &Server, client: Client) {
    drop(client);
    let started = Instant::now();
    loop {
        let log = server.log();
        let session = log
            .lines()
            .filter(|l| l.contains(" hello ") && l.contains("client=phone"))
            .filter_map(|l| l.split("session=").nth(1)?.split_whitespace().next())
            .next_back()
            .map(str::to_owned);
        if let Some(session) = session
            && log.lines().any(|l| l.ends_with(&format!("disconnected session={session}")))
        {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the phone never left:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the pushes received stand for at least `changes` changes; returns them.
async fn pushed(service: &PushService, server: &Server, changes: u32) -> Vec<(PushNotice, Received)> {
    let started = Instant::now();
    loop {
        let got: Vec<(PushNotice, Received)> = service
            .received()
            .into_iter()
            .map(|r| (serde_json::from_slice(&r.payload).expect("a push notice"), r))
            .collect();
        if got.iter().map(|(n, _)| n.changes).sum::<u32>() >= changes {
            return got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} pushes so far (refused: {:?}):\n{}",
            got.len(),
            service.refused(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn place(client: &Client, id: &str, customer: &str, total: u32) {
    let order = json!({"order_id": id, "customer": customer, "total": total});
    within(client.send("place_order", order)).await.expect("acked");
}

/// Waits (up to 30 s) until `done` holds; fails with the server's log if it does not.
async fn until(server: &Server, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The phone registers for Ada's orders through `target` and goes away; two of her orders are
/// placed, each waited for until `arrived` counts it. Returns the registration and the admin.
async fn woken_twice(server: &Server, target: PushTarget, arrived: impl Fn() -> usize) -> (String, Client) {
    let admin = client(&server.url());
    let phone = phone(server);
    let (interest, text) = ada();
    let id = within(phone.register_push(target, interest, text)).await.expect("registered");
    away(server, phone).await;
    for (i, total) in [(1, 5), (2, 6)] {
        place(&admin, &format!("o-{i}"), "Ada", total).await;
        until(server, &format!("push {i}"), || arrived() >= usize::try_from(i).unwrap_or(0)).await;
    }
    (id, admin)
}

/// Once its push service says the target is gone, the next change forgets the registration:
/// the server logs it, and the phone can no longer unregister it.
async fn forgotten(server: &Server, admin: &Client, id: &str) {
    place(admin, "o-3", "Ada", 7).await;
    until(server, "the registration forgotten", || server.log().contains("push registration removed")).await;
    match within(phone(server).unregister_push(id)).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotFound),
        other => panic!("the registration should be gone: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_is_away_is_woken_by_one_push_per_burst_of_the_rows_it_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (server, public_key) = start(dir.path(), &service, 500, &[]);
    let admin = client(&server.url());
    let phone = phone(&server);
    let subscription = service.subscribe();
    let (interest, text) = ada();
    let target = PushTarget::Web(subscription.clone());
    let id = within(phone.register_push(target.clone(), interest.clone(), text.clone()))
        .await
        .expect("registered");
    // The server's key, for the browser's `applicationServerKey`, came with its welcome.
    assert_eq!(phone.push_key().as_deref(), Some(public_key.as_str()));
    // Registering again on the next start is the same registration.
    assert_eq!(within(phone.register_push(target, interest, text)).await.expect("again"), id);

    // While the phone is connected, its changes reach it over its WebSocket: no push.
    place(&admin, "o-1", "Ada", 5).await;
    away(&server, phone).await;
    // Away: Grace's order is not its interest; a burst of Ada's is one push (or two, should a
    // commit fall after the first push left), standing for all five.
    place(&admin, "o-2", "Grace", 7).await;
    let burst = (3..8).map(|i| {
        let admin = admin.clone();
        async move { place(&admin, &format!("o-{i}"), "Ada", i).await }
    });
    futures_util::future::join_all(burst).await;
    let got = pushed(&service, &server, 5).await;
    assert_eq!(got.iter().map(|(n, _)| n.changes).sum::<u32>(), 5, "{got:?}");
    assert!(got.len() < 5, "coalesced: {} pushes for 5 changes", got.len());
    let (notice, received) = &got[got.len() - 1];
    assert_eq!((notice.registration.as_str(), notice.view.as_str()), (id.as_str(), "orders"));
    let key = notice.key.as_str().expect("an order id");
    assert!(["o-3", "o-4", "o-5", "o-6", "o-7"].contains(&key), "{notice:?}");
    assert_eq!(notice.title.as_deref(), Some(format!("Order {key}").as_str()));
    assert!(notice.body.as_deref().is_some_and(|b| b.starts_with("Ada: ")), "{notice:?}");
    assert!(notice.version > 0);
    // Signed with the server's key, one topic per registration, kept a day.
    assert_eq!(received.vapid_key, public_key);
    assert_eq!(
        (received.topic.as_deref(), received.ttl, received.urgency.as_deref()),
        (Some(id.as_str()), 86_400, Some("normal"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_push_service_is_tried_again_and_a_gone_subscription_is_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (server, _) = start(dir.path(), &service, 50, &[]);
    let admin = client(&server.url());
    let phone = phone(&server);
    let subscription = service.subscribe();
    let (interest, text) = ada();
    let id = within(phone.register_push(PushTarget::Web(subscription.clone()), interest, text))
        .await
        .expect("registered");
    away(&server, phone).await;

    // 429 with Retry-After: 1, then accepted.
    service.answer_next(429, Some(1));
    let placed = Instant::now();
    place(&admin, "o-1", "Ada", 5).await;
    let got = pushed(&service, &server, 1).await;
    assert_eq!(got.len(), 1);
    assert!(
        got[0].1.at.duration_since(placed) >= Duration::from_secs(1),
        "tried again only after Retry-After"
    );
    assert!(server.log().contains("push to be tried again"), "{}", server.log());

    // The subscription ends at the push service: the next push is answered 410 and the
    // registration is forgotten at once — later changes try nothing.
    service.unsubscribe(&subscription);
    forgotten(&server, &admin, &id).await;
    assert_eq!(service.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_planned_before_a_kill_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    // A long window: the server dies while the push waits in its outbox.
    let (server, _) = start(dir.path(), &service, 3000, &[]);
    let admin = client(&server.url());
    let phone = phone(&server);
    let (interest, text) = ada();
    within(phone.register_push(PushTarget::Web(service.subscribe()), interest, text))
        .await
        .expect("registered");
    away(&server, phone).await;
    place(&admin, "o-1", "Ada", 5).await;
    drop(admin);
    let server = server.restart();
    assert!(service.received().is_empty(), "nothing was sent before the kill");
    let got = pushed(&service, &server, 1).await;
    assert_eq!((got.len(), got[0].0.key.as_str()), (1, Some("o-1")));
    assert!(server.log().contains("pushes on: 1 registrations kept from before"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_filtered_token_is_pushed_only_its_rows_also_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (key, _) = vapid_key(dir.path());
    let (key, origin) = (key.display().to_string(), service.origin());
    let args = ["--vapid-key", &key, "--push-endpoints", &origin, "--push-window-ms", "50"];
    let server = Server::start_with_tokens(&dir.path().join("data"), &args);
    let admin = crate::support::admin(&server);
    let ada_only = server.token(&["--views", "orders", "--rows", "orders=customer = 'Ada'"]);
    let phone = phone_with(&server, ada_only.clone());
    // Every order, it asks; only Ada's may it see.
    let everything = PushInterest { view: "orders".into(), filter: None };
    within(phone.register_push(PushTarget::Web(service.subscribe()), everything, None))
        .await
        .expect("registered");
    away(&server, phone).await;
    let server = server.restart();
    let admin = {
        drop(admin);
        crate::support::admin(&server)
    };
    for (id, customer) in [("o-1", "Grace"), ("o-2", "Ada"), ("o-3", "Alan")] {
        place(&admin, id, customer, 1).await;
    }
    place(&admin, "o-4", "Ada", 2).await;
    let got = pushed(&service, &server, 2).await;
    let keys: Vec<_> = got.iter().map(|(n, _)| n.key.clone()).collect();
    assert_eq!(got.iter().map(|(n, _)| n.changes).sum::<u32>(), 2, "only Ada's two orders: {keys:?}");
    assert!(keys.iter().all(|k| k == "o-2" || k == "o-4"), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sends_a_test_push_to_a_client_connected_or_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (server, _) = start(dir.path(), &service, 50, &["--allow-define"]);
    let phone = phone(&server);
    let (interest, text) = ada();
    let id = within(phone.register_push(PushTarget::Web(service.subscribe()), interest, text))
        .await
        .expect("registered");
    // The phone stays connected: a test push goes all the same.
    let out = Command::new(bin())
        .args(["push", "test", "phone", "--title", "Hello"])
        .env("LUCARNE_SERVER", server.url())
        .output()
        .expect("lucarne push test");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("a test push queued for 1 registrations of phone: {id}")
    );
    let started = Instant::now();
    while service.received().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let notice: PushNotice = serde_json::from_slice(&service.received()[0].payload).expect("a notice");
    assert_eq!(
        (notice.registration, notice.title.as_deref(), notice.key),
        (id, Some("Hello"), serde_json::Value::Null)
    );
    drop(phone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ios_app_that_is_away_is_woken_through_apns_and_a_dead_token_is_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let apns = ApnsService::start().await;
    let (key, ca) = (dir.path().join("AuthKey.p8"), dir.path().join("ca.pem"));
    std::fs::write(&key, apns.key_pem()).expect("write the key");
    std::fs::write(&ca, apns.ca_pem()).expect("write the CA");
    let (key, ca, url) = (key.display().to_string(), ca.display().to_string(), apns.url());
    let args = [
        "--apns-key",
        &key,
        "--apns-key-id",
        apns.key_id(),
        "--apns-team-id",
        apns.team_id(),
        "--apns-topic",
        apns.topic(),
        "--apns-url",
        &url,
        "--apns-ca",
        &ca,
        "--push-window-ms",
        "50",
    ];
    let server = Server::start(&dir.path().join("data"), &args);
    let target = PushTarget::Apns { token: "a1b2c3d4".into() };
    let (id, admin) = woken_twice(&server, target, || apns.received().len()).await;
    let got = apns.received();
    assert_eq!(got[1].device, "a1b2c3d4");
    assert_eq!(got[1].payload["aps"]["alert"]["title"], "Order o-2");
    assert_eq!(got[1].payload["aps"]["alert"]["body"], "Ada: 6");
    assert_eq!(got[1].payload["lucarne"]["key"], "o-2");
    assert_eq!((got[1].push_type.as_str(), got[1].collapse_id.as_deref()), ("alert", Some(id.as_str())));
    // One provider token for both, over one HTTP/2 connection.
    assert_eq!((apns.connections(), apns.token_changes()), (1, 0));

    // The app was deleted: APNs answers 410, and the registration is forgotten at once.
    apns.unregister("a1b2c3d4");
    forgotten(&server, &admin, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_android_app_that_is_away_is_woken_through_fcm_and_a_dead_token_is_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fcm = FcmService::start().await;
    let (key, ca) = (dir.path().join("service-account.json"), dir.path().join("ca.pem"));
    std::fs::write(&key, fcm.service_account_json()).expect("write the key file");
    std::fs::write(&ca, fcm.ca_pem()).expect("write the CA");
    let (key, ca, url) = (key.display().to_string(), ca.display().to_string(), fcm.url());
    let args = ["--fcm-key", &key, "--fcm-url", &url, "--fcm-ca", &ca, "--push-window-ms", "50"];
    let server = Server::start(&dir.path().join("data"), &args);
    let target = PushTarget::Fcm { token: "dQw4w9WgXcQ:APA91b-test".into() };
    let (id, admin) = woken_twice(&server, target, || fcm.received().len()).await;
    let got = fcm.received();
    assert_eq!(got[1].device, "dQw4w9WgXcQ:APA91b-test");
    let message = &got[1].message;
    assert_eq!(
        (message["notification"]["title"].as_str(), message["notification"]["body"].as_str()),
        (Some("Order o-2"), Some("Ada: 6"))
    );
    let notice: PushNotice =
        serde_json::from_str(message["data"]["lucarne"].as_str().expect("a string")).expect("a notice");
    assert_eq!((notice.registration.as_str(), notice.key.as_str()), (id.as_str(), Some("o-2")));
    assert_eq!(message["android"]["collapse_key"].as_str(), Some(id.as_str()));
    assert_eq!(fcm.token_requests(), 1, "one access token for both pushes");

    // The app was uninstalled: FCM answers UNREGISTERED, and the registration is forgotten.
    fcm.unregister("dQw4w9WgXcQ:APA91b-test");
    forgotten(&server, &admin, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_while_it_sends_a_hundred_pushes_loses_none_and_repeats_each_once_at_most() {
    const AWAY: usize = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (server, _) = start(dir.path(), &service, 50, &[]);
    let admin = client(&server.url());
    let mut subscriptions = Vec::new();
    for i in 0..AWAY {
        let subscription = service.subscribe();
        let client_id = format!("away-{i}");
        let away =
            Client::connect(ClientConfig { client_id: client_id.clone(), ..ClientConfig::new(server.url()) });
        let interest = PushInterest { view: "orders".into(), filter: Some(format!("customer = 'c{i}'")) };
        within(away.register_push(PushTarget::Web(subscription.clone()), interest, None))
            .await
            .expect("registered");
        subscriptions.push(subscription);
    }
    // Every client gone (each connection's end logged), then one order each, acked.
    let started = Instant::now();
    while server.log().matches("disconnected session=").count() < AWAY {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", server.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    service.slow(Duration::from_millis(100));
    let orders = (0..AWAY).map(|i| {
        let admin = admin.clone();
        async move { place(&admin, &format!("o-{i}"), &format!("c{i}"), 1).await }
    });
    futures_util::future::join_all(orders).await;
    // Killed while the pushes go out (some arrived, not all).
    let started = Instant::now();
    while service.received().len() < 10 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", server.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(admin);
    let server = server.restart();
    let before = service.received().len();
    assert!(before < AWAY, "the kill came after every push: {before}");
    let started = Instant::now();
    let per_subscription = || {
        let received = service.received();
        subscriptions
            .iter()
            .map(|s| received.iter().filter(|r| r.endpoint == s.endpoint).count())
            .collect::<Vec<_>>()
    };
    while per_subscription().contains(&0) {
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}\n{}", per_subscription(), server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = per_subscription();
    assert!(counts.iter().all(|&n| n <= 2), "at most once more after the restart: {counts:?}");
    eprintln!(
        "{AWAY} pushes: {before} before the kill, all {AWAY} after the restart, {} sent twice",
        counts.iter().filter(|&&n| n == 2).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_a_server_must_refuse_are_refused_with_their_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = PushService::start().await;
    let (server, _) = start(dir.path(), &service, 50, &["--max-push-registrations", "2"]);
    let phone = phone(&server);
    let web = |endpoint: String| {
        let mut subscription = service.subscribe();
        subscription.endpoint = endpoint;
        PushTarget::Web(subscription)
    };
    let interest = |view: &str, filter: Option<&str>| PushInterest {
        view: view.into(),
        filter: filter.map(str::to_owned),
    };
    let good = service.subscribe();
    let mut bad_keys = good.clone();
    bad_keys.keys.auth = "AAAA".into();
    let check = |target: PushTarget, interest: PushInterest, code: ErrorCode, says: &'static str| {
        let phone = phone.clone();
        async move {
            match within(phone.register_push(target, interest, None)).await {
                Err(ClientError::Server { code: got, message }) => {
                    assert_eq!(got, code, "{message}");
                    assert!(message.contains(says), "{message}");
                }
                other => panic!("refused with {code:?}, not {other:?}"),
            }
        }
    };
    // Where the server would post: only the push services it was told of.
    check(
        web("http://169.254.169.254/latest/meta-data".into()),
        interest("orders", None),
        ErrorCode::Forbidden,
        "not on a push service",
    )
    .await;
    check(
        web(format!("{}.evil.example/push/1", service.origin())),
        interest("orders", None),
        ErrorCode::Forbidden,
        "not on a push service",
    )
    .await;
    check(
        PushTarget::Web(bad_keys),
        interest("orders", None),
        ErrorCode::InvalidMessage,
        "auth: not 16 bytes",
    )
    .await;
    check(PushTarget::Apns { token: "ab".into() }, interest("orders", None), ErrorCode::Unsupported, "APNs")
        .await;
    check(PushTarget::Web(good.clone()), interest("nope", None), ErrorCode::UnknownView, "nope").await;
    check(PushTarget::Web(good.clone()), interest("orders", Some("total >")), ErrorCode::InvalidSql, "where")
        .await;
    // Two per client, then over budget.
    for view in ["orders", "by_customer"] {
        within(phone.register_push(PushTarget::Web(good.clone()), interest(view, None), None))
            .await
            .expect("within the budget");
    }
    check(
        PushTarget::Web(good),
        interest("orders", Some("total > 1")),
        ErrorCode::OverBudget,
        "2 push registrations",
    )
    .await;

    // A server started without a VAPID key sends no pushes.
    let plain = Server::start(&dir.path().join("plain"), &[]);
    let phone = self::phone(&plain);
    match within(phone.register_push(PushTarget::Web(service.subscribe()), interest("orders", None), None))
        .await
    {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::Unsupported),
        other => panic!("{other:?}"),
    }
}
