//! FCM HTTP v1 against a stand-in on loopback (HTTP/2 over TLS with a test CA, and its OAuth
//! token endpoint checking each RS256 assertion): pushes arrive with their data, notification
//! and Android options; one access token serves many pushes; the answers come back as outcomes.

use std::time::Duration;

use lucarne_push::Outcome;
use lucarne_push::fcm::{Fcm, FcmConfig, Push};
use lucarne_testing::FcmService;

fn sender(service: &FcmService) -> Fcm {
    Fcm::new(FcmConfig {
        service_account_json: service.service_account_json(),
        base_url: service.url(),
        extra_ca_pem: Some(service.ca_pem()),
    })
    .expect("an FCM sender")
}

fn push(title: Option<&str>) -> Push {
    Push {
        data: vec![("lucarne".into(), r#"{"view":"orders","key":"o-1"}"#.into())],
        title: title.map(str::to_owned),
        body: Some("Ada: 5".into()),
        collapse_key: Some("p1".into()),
        ttl: Duration::from_secs(600),
        high_priority: true,
    }
}

#[tokio::test]
async fn pushes_arrive_with_their_data_notification_and_android_options_under_one_access_token() {
    let service = FcmService::start().await;
    let fcm = sender(&service);
    for _ in 0..3 {
        let outcome = fcm.send("dev-1", &push(Some("Order o-1"))).await.expect("sent");
        assert_eq!(outcome, Outcome::Delivered, "{:?}", service.refused());
    }
    assert_eq!(fcm.send("dev-1", &push(None)).await.expect("sent"), Outcome::Delivered);
    let got = service.received();
    assert_eq!(got.len(), 4);
    let message = &got[0].message;
    assert_eq!(message["data"]["lucarne"], r#"{"view":"orders","key":"o-1"}"#);
    assert_eq!(
        (message["notification"]["title"].as_str(), message["notification"]["body"].as_str()),
        (Some("Order o-1"), Some("Ada: 5"))
    );
    assert_eq!(
        (
            message["android"]["collapse_key"].as_str(),
            message["android"]["ttl"].as_str(),
            message["android"]["priority"].as_str()
        ),
        (Some("p1"), Some("600s"), Some("HIGH"))
    );
    assert!(
        got[3].message.get("notification").is_none(),
        "a data message wakes the app without showing anything"
    );
    assert_eq!(service.token_requests(), 1, "one access token for every push while it lasts");
}

#[tokio::test]
async fn fcm_answers_come_back_as_outcomes() {
    let service = FcmService::start().await;
    let fcm = sender(&service);
    service.unregister("gone");
    assert_eq!(fcm.send("gone", &push(None)).await.expect("answered"), Outcome::Gone);
    service.answer_next(400, "UNREGISTERED");
    assert_eq!(fcm.send("dev", &push(None)).await.expect("answered"), Outcome::Gone);
    service.answer_next(503, "UNAVAILABLE");
    assert_eq!(fcm.send("dev", &push(None)).await.expect("answered"), Outcome::Retry { after: None });
    service.answer_next(400, "INVALID_ARGUMENT");
    match fcm.send("dev", &push(None)).await.expect("answered") {
        Outcome::Refused { status: 400, reason } => assert_eq!(reason, "INVALID_ARGUMENT"),
        other => panic!("{other:?}"),
    }
    // An access token refused: a new one for the next try.
    service.answer_next(401, "UNAUTHENTICATED");
    assert_eq!(fcm.send("dev", &push(None)).await.expect("answered"), Outcome::Retry { after: None });
    assert_eq!(fcm.send("dev", &push(None)).await.expect("answered"), Outcome::Delivered);
    assert_eq!(service.token_requests(), 2);
}

#[tokio::test]
async fn a_key_file_that_is_not_one_is_refused_with_a_reason() {
    for (json, says) in [
        ("{}", "key file"),
        (r#"{"project_id":"p","client_email":"e","token_uri":"https://x/t","private_key":"nope"}"#, "PKCS#8"),
    ] {
        match Fcm::new(FcmConfig { service_account_json: json.into(), ..FcmConfig::default() }) {
            Err(lucarne_push::PushError::InvalidKey(message)) => assert!(message.contains(says), "{message}"),
            other => panic!("{other:?}"),
        }
    }
}
