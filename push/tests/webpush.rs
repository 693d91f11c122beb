//! Web Push against a push service stand-in on loopback that checks VAPID and decrypts every
//! body: what it reads is what was sent, with the headers RFC 8030 names; its answers come back
//! as outcomes (gone, retry after, refused).

use std::time::Duration;

use lucarne_push::{Message, Outcome, Urgency, Vapid, WebPush};
use lucarne_testing::PushService;

fn message(payload: &str, topic: Option<&str>) -> Message {
    Message {
        payload: payload.as_bytes().to_vec(),
        ttl: Duration::from_secs(600),
        urgency: Urgency::High,
        topic: topic.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_push_arrives_decrypted_with_its_ttl_urgency_and_topic_signed_by_the_servers_key() {
    let service = PushService::start().await;
    let push = WebPush::new(Vapid::generate("mailto:ops@example.com").expect("vapid")).expect("client");
    let subscription = service.subscribe();
    let outcome =
        push.send(&subscription, &message(r#"{"view":"orders","key":"o-1"}"#, Some("orders-o-1"))).await;
    assert_eq!(outcome.expect("sent"), Outcome::Delivered, "refused: {:?}", service.refused());
    let got = service.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, br#"{"view":"orders","key":"o-1"}"#);
    assert_eq!(
        (got[0].ttl, got[0].urgency.as_deref(), got[0].topic.as_deref()),
        (600, Some("high"), Some("orders-o-1"))
    );
    assert_eq!(got[0].vapid_key, push.vapid().public_key());
}

#[tokio::test]
async fn the_push_services_answers_come_back_as_outcomes() {
    let service = PushService::start().await;
    let push = WebPush::new(Vapid::generate("mailto:ops@example.com").expect("vapid")).expect("client");
    let subscription = service.subscribe();
    service.answer_next(429, Some(7));
    assert_eq!(
        push.send(&subscription, &message("a", None)).await.expect("sent"),
        Outcome::Retry { after: Some(Duration::from_secs(7)) }
    );
    service.answer_next(503, None);
    assert_eq!(
        push.send(&subscription, &message("b", None)).await.expect("sent"),
        Outcome::Retry { after: None }
    );
    assert!(service.received().is_empty(), "nothing accepted yet");
    assert_eq!(push.send(&subscription, &message("c", None)).await.expect("sent"), Outcome::Delivered);
    service.unsubscribe(&subscription);
    assert_eq!(push.send(&subscription, &message("d", None)).await.expect("sent"), Outcome::Gone);
    assert_eq!(service.received().iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), [b"c".to_vec()]);
}

#[tokio::test]
async fn a_token_signed_by_another_key_or_for_another_origin_is_refused() {
    let service = PushService::start().await;
    let ours = WebPush::new(Vapid::generate("mailto:ops@example.com").expect("vapid")).expect("client");
    let other = Vapid::generate("mailto:someone@example.com").expect("vapid");
    let subscription = service.subscribe();
    // Our token with another server's key: the signature does not verify with `k`.
    let request = ours.request(&subscription, &message("x", None)).expect("request");
    let ours_header = request.headers()["authorization"].to_str().expect("ascii").to_owned();
    let forged = format!("{}, k={}", ours_header.split(", k=").next().expect("t="), other.public_key());
    // A token for another origin.
    let elsewhere = other.authorization(&"https://push.example/x".parse().expect("uri")).expect("header");
    for (authorization, why) in [(forged, "does not verify"), (elsewhere, "aud")] {
        let mut request = ours.request(&subscription, &message("x", None)).expect("request");
        request.headers_mut().insert("authorization", authorization.parse().expect("header"));
        let outcome = ours.send_request(request).await.expect("answered");
        assert!(matches!(outcome, Outcome::Refused { status: 403, .. }), "{outcome:?}");
        assert!(service.refused().last().is_some_and(|r| r.contains(why)), "{:?}", service.refused());
    }
    assert!(service.received().is_empty());
}
