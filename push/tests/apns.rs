//! APNs against a stand-in on loopback (HTTP/2 over TLS with a test CA) that checks each provider
//! token with the team's key: pushes arrive with their headers, one provider token serves many
//! pushes, and the answers come back as outcomes (an unregistered device is gone; an expired
//! provider token is made afresh).

use std::time::Duration;

use lucarne_push::apns::{Apns, ApnsConfig, Kind};
use lucarne_push::{Message, Outcome, Urgency};
use lucarne_testing::ApnsService;
use serde_json::json;

fn sender(service: &ApnsService) -> Apns {
    Apns::new(ApnsConfig {
        key_pem: service.key_pem(),
        key_id: service.key_id().into(),
        team_id: service.team_id().into(),
        topic: service.topic().into(),
        base_url: service.url(),
        extra_ca_pem: Some(service.ca_pem()),
    })
    .expect("an APNs sender")
}

fn alert(title: &str, collapse: Option<&str>) -> Message {
    Message {
        payload: json!({"aps": {"alert": {"title": title}}, "lucarne": {"view": "orders"}})
            .to_string()
            .into_bytes(),
        ttl: Duration::from_secs(3600),
        urgency: Urgency::High,
        topic: collapse.map(str::to_owned),
    }
}

#[tokio::test]
async fn pushes_arrive_over_http2_with_one_provider_token_and_their_headers() {
    let service = ApnsService::start().await;
    let apns = sender(&service);
    for i in 0..5 {
        let outcome = apns.send("a1b2c3", &alert(&format!("Order o-{i}"), Some("p1")), Kind::Alert).await;
        assert_eq!(outcome.expect("sent"), Outcome::Delivered, "{:?}", service.refused());
    }
    let background = Message { payload: br#"{"aps":{"content-available":1}}"#.to_vec(), ..alert("", None) };
    assert_eq!(apns.send("a1b2c3", &background, Kind::Background).await.expect("sent"), Outcome::Delivered);
    let got = service.received();
    assert_eq!(got.len(), 6);
    assert_eq!(got[0].payload["aps"]["alert"]["title"], "Order o-0");
    assert_eq!(
        (got[0].push_type.as_str(), got[0].priority.as_deref(), got[0].collapse_id.as_deref()),
        ("alert", Some("10"), Some("p1"))
    );
    assert_eq!(
        (got[5].push_type.as_str(), got[5].priority.as_deref(), got[5].collapse_id.as_deref()),
        ("background", Some("5"), None)
    );
    assert!(got[0].expiration.is_some_and(|e| e > 0));
    // One connection, one provider token for all of them (Apple refuses a new one more often
    // than every 20 minutes).
    assert_eq!((service.connections(), service.token_changes()), (1, 0));
}

#[tokio::test]
async fn apns_answers_come_back_as_outcomes() {
    let service = ApnsService::start().await;
    let apns = sender(&service);
    service.unregister("dead");
    assert_eq!(apns.send("dead", &alert("x", None), Kind::Alert).await.expect("answered"), Outcome::Gone);
    service.answer_next(400, "BadDeviceToken");
    assert_eq!(apns.send("beef", &alert("x", None), Kind::Alert).await.expect("answered"), Outcome::Gone);
    service.answer_next(429, "TooManyRequests");
    assert_eq!(
        apns.send("beef", &alert("x", None), Kind::Alert).await.expect("answered"),
        Outcome::Retry { after: None }
    );
    service.answer_next(403, "ExpiredProviderToken");
    assert_eq!(
        apns.send("beef", &alert("x", None), Kind::Alert).await.expect("answered"),
        Outcome::Retry { after: None }
    );
    // The next push carries a token made afresh (the same text within the same second).
    assert_eq!(
        apns.send("beef", &alert("y", None), Kind::Alert).await.expect("answered"),
        Outcome::Delivered
    );
    assert!(service.token_changes() <= 1);
    service.answer_next(400, "BadTopic");
    match apns.send("beef", &alert("z", None), Kind::Alert).await.expect("answered") {
        Outcome::Refused { status: 400, reason } => assert_eq!(reason, "BadTopic"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_sender_with_another_teams_key_or_for_a_device_token_that_is_not_hex_is_refused() {
    let service = ApnsService::start().await;
    let other = ApnsService::start().await;
    let stranger = Apns::new(ApnsConfig {
        key_pem: other.key_pem(),
        ..ApnsConfig {
            key_pem: String::new(),
            key_id: service.key_id().into(),
            team_id: service.team_id().into(),
            topic: service.topic().into(),
            base_url: service.url(),
            extra_ca_pem: Some(service.ca_pem()),
        }
    })
    .expect("a sender");
    match stranger.send("a1b2", &alert("x", None), Kind::Alert).await.expect("answered") {
        Outcome::Refused { status: 403, reason } => assert_eq!(reason, "InvalidProviderToken"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        sender(&service).request("not hex!", &alert("x", None), Kind::Alert),
        Err(lucarne_push::PushError::InvalidKey(_))
    ));
    assert!(service.received().is_empty());
}
