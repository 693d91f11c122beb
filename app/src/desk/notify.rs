//! "Notify me" (in the browser): the orders the filter box shows become a push registration, so
//! that a change to one of them shows a notification while the desk is closed. The page's
//! service worker subscribes with the server's key (`welcome.push_key`, through `start.js`'s
//! `lucarnePush.subscribe`), and the subscription is registered with the filter as its interest
//! and the notification's text in the desk's language (`{column}` filled in by the server).

use lucarne::Client;
use lucarne::protocol::{NotificationTemplate, PushInterest, PushTarget};

use crate::i18n::{Arg, Locale};

/// The registration of the orders `filter` keeps, for the desk's `client`; its id, or why not.
pub(super) async fn register(
    client: Client,
    key: String,
    filter: Option<String>,
    locale: Locale,
) -> Result<String, String> {
    let subscription = subscribe(key).await?;
    let interest = PushInterest { view: "orders".into(), filter };
    let notification = template(locale);
    client
        .register_push(PushTarget::Web(subscription), interest, Some(notification))
        .await
        .map_err(|e| e.to_string())
}

/// The notification's text in `locale`, the order's columns left for the server to fill in.
pub(super) fn template(locale: Locale) -> NotificationTemplate {
    let args = [
        ("order", Arg::from("{order_id}")),
        ("status", Arg::from("{status}")),
        ("customer", Arg::from("{customer}")),
        ("total", Arg::from("{total}")),
    ];
    NotificationTemplate {
        title: locale.tr_args("push-title", &args),
        body: locale.tr_args("push-body", &args),
    }
}

/// The page's push subscription for the server's key (`start.js`).
#[cfg(target_arch = "wasm32")]
async fn subscribe(key: String) -> Result<lucarne::protocol::WebPushSubscription, String> {
    use wasm_bindgen::JsCast as _;
    let why = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let push = js_sys::Reflect::get(&js_sys::global(), &"lucarnePush".into()).map_err(why)?;
    let subscribe: js_sys::Function =
        js_sys::Reflect::get(&push, &"subscribe".into()).map_err(why)?.dyn_into().map_err(why)?;
    let promise: js_sys::Promise =
        subscribe.call1(&push, &key.into()).map_err(why)?.dyn_into().map_err(why)?;
    let json = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| {
        js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| why(e))
    })?;
    let json = json.as_string().ok_or("the subscription is not JSON text")?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// Natively there is no page to subscribe (the button is not shown).
#[cfg(not(target_arch = "wasm32"))]
async fn subscribe(_key: String) -> Result<lucarne::protocol::WebPushSubscription, String> {
    Err("push subscriptions are the browser's".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_in_the_desks_language_with_the_columns_left_for_the_server() {
        for locale in Locale::ALL {
            let t = template(locale);
            for column in ["{order_id}", "{status}"] {
                assert!(t.title.contains(column), "{locale:?}: {}", t.title);
            }
            assert!(t.body.contains("{customer}"), "{locale:?}: {}", t.body);
        }
        assert_ne!(template(Locale::ALL[0]).title, template(Locale::ALL[1]).title);
    }
}
