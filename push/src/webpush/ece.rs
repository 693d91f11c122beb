//! RFC 8291: a Web Push payload encrypted to a subscription's keys — a fresh P-256 key pair and
//! salt per message, the key material from ECDH and the subscription's `auth` secret (HKDF-SHA256
//! over `"WebPush: info\0" ‖ ua_public ‖ as_public`), and one RFC 8188 `aes128gcm` record of
//! 4 096 bytes at most, whose key id is the sender's public key.
//!
//! ```
//! use lucarne_push::webpush::{decrypt, encrypt, UserAgentKeys};
//!
//! let user_agent = UserAgentKeys::generate(); // what a browser holds
//! let body = encrypt(b"wake up", &user_agent.subscription_keys())?;
//! assert_eq!(decrypt(&body, &user_agent)?, b"wake up");
//! # Ok::<(), lucarne_push::PushError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use lucarne_protocol::WebPushKeys;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand_core::{OsRng, RngCore};
use sha2_10::Sha256;

use crate::{MAX_PAYLOAD, PushError};

/// The record size written in the header (RFC 8291 §4: a push service accepts 4 096 bytes).
const RECORD_SIZE: u32 = 4096;

/// A subscription's keys, decoded.
struct Keys {
    ua_public: PublicKey,
    auth: [u8; 16],
}

impl Keys {
    fn decode(keys: &WebPushKeys) -> Result<Keys, PushError> {
        let p256dh = URL_SAFE_NO_PAD
            .decode(keys.p256dh.trim_end_matches('='))
            .map_err(|e| PushError::InvalidKey(format!("p256dh: {e}")))?;
        let ua_public = PublicKey::from_sec1_bytes(&p256dh)
            .map_err(|_| PushError::InvalidKey("p256dh: not a P-256 point".into()))?;
        let auth = URL_SAFE_NO_PAD
            .decode(keys.auth.trim_end_matches('='))
            .map_err(|e| PushError::InvalidKey(format!("auth: {e}")))?;
        let auth = auth.try_into().map_err(|_| PushError::InvalidKey("auth: not 16 bytes".into()))?;
        Ok(Keys { ua_public, auth })
    }
}

/// Checks a subscription's keys: `p256dh` a P-256 point, `auth` 16 bytes (what a push to them
/// needs), without encrypting anything.
pub fn check_keys(keys: &WebPushKeys) -> Result<(), PushError> {
    Keys::decode(keys).map(drop)
}

/// Encrypts `plaintext` for a subscription's keys (a fresh key pair and salt each time).
pub fn encrypt(plaintext: &[u8], keys: &WebPushKeys) -> Result<Vec<u8>, PushError> {
    let keys = Keys::decode(keys)?;
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let sender = SecretKey::random(&mut OsRng);
    encrypt_with(plaintext, &keys, salt, &sender)
}

/// [`encrypt`] with the salt and the sender's key pair given (RFC 8291's worked example).
fn encrypt_with(
    plaintext: &[u8],
    keys: &Keys,
    salt: [u8; 16],
    sender: &SecretKey,
) -> Result<Vec<u8>, PushError> {
    if plaintext.len() > MAX_PAYLOAD {
        return Err(PushError::PayloadTooLarge(plaintext.len()));
    }
    let as_public = sender.public_key();
    let ikm = key_material(sender, &keys.ua_public, &as_public, &keys.ua_public, &keys.auth);
    let key_id = as_public.to_encoded_point(false);
    ece_native::encrypt(ikm, salt, key_id.as_bytes(), std::iter::once(plaintext.to_vec()), RECORD_SIZE)
        .map_err(|e| PushError::Encryption(format!("{e:?}")))
}

/// The input key material: ECDH of `ours` with `theirs`, through HKDF with the `auth` secret;
/// the info names the user agent's public key, then the sender's.
fn key_material(
    ours: &SecretKey,
    theirs: &PublicKey,
    as_public: &PublicKey,
    ua_public: &PublicKey,
    auth: &[u8; 16],
) -> [u8; 32] {
    let shared = p256::ecdh::diffie_hellman(ours.to_nonzero_scalar(), theirs.as_affine());
    let mut info = Vec::with_capacity(14 + 65 + 65);
    info.extend_from_slice(b"WebPush: info\0");
    info.extend_from_slice(ua_public.to_encoded_point(false).as_bytes());
    info.extend_from_slice(as_public.to_encoded_point(false).as_bytes());
    let mut ikm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit (255 × 32): this cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes()).expand(&info, &mut ikm);
    ikm
}

/// What a user agent (a browser) holds for one subscription: its private key and `auth`
/// secret. Servers never have one; it is here to decrypt what [`encrypt`] wrote, in tests and
/// test stand-ins of push services.
#[derive(Clone)]
pub struct UserAgentKeys {
    secret: SecretKey,
    auth: [u8; 16],
}

impl std::fmt::Debug for UserAgentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAgentKeys").field("public", &self.subscription_keys().p256dh).finish()
    }
}

impl UserAgentKeys {
    /// A fresh key pair and secret, as a browser makes for a new subscription.
    pub fn generate() -> UserAgentKeys {
        let mut auth = [0u8; 16];
        OsRng.fill_bytes(&mut auth);
        UserAgentKeys { secret: SecretKey::random(&mut OsRng), auth }
    }

    /// The keys a subscription publishes (`p256dh`, `auth`).
    pub fn subscription_keys(&self) -> WebPushKeys {
        WebPushKeys {
            p256dh: URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes()),
            auth: URL_SAFE_NO_PAD.encode(self.auth),
        }
    }
}

/// Decrypts a Web Push body with the user agent's keys (the key id in its header is the
/// sender's public key).
pub fn decrypt(body: &[u8], keys: &UserAgentKeys) -> Result<Vec<u8>, PushError> {
    let bad = |why: &str| PushError::Encryption(why.to_owned());
    let id_len = usize::from(*body.get(20).ok_or_else(|| bad("no header"))?);
    let key_id = body.get(21..21 + id_len).ok_or_else(|| bad("a header cut short"))?;
    let as_public = PublicKey::from_sec1_bytes(key_id).map_err(|_| bad("the key id is not a P-256 point"))?;
    let ua_public = keys.secret.public_key();
    let ikm = key_material(&keys.secret, &as_public, &as_public, &ua_public, &keys.auth);
    ece_native::decrypt(ikm, body.to_vec()).map_err(|e| PushError::Encryption(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).expect("base64url")
    }

    /// RFC 8291 Appendix A, every value as the RFC prints it.
    struct Example {
        plaintext: &'static [u8],
        as_private: &'static str,
        ua_private: &'static str,
        ua_public: &'static str,
        auth: &'static str,
        salt: &'static str,
        body: &'static str,
    }

    const RFC_8291: Example = Example {
        plaintext: b"When I grow up, I want to be a watermelon",
        as_private: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
        ua_private: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
        ua_public: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        auth: "BTBZMqHH6r4Tts7J_aSIgg",
        salt: "DGv6ra1nlYgDCS1FRnbzlw",
        body: "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    };

    #[test]
    fn the_worked_example_of_rfc_8291_is_reproduced_byte_for_byte() {
        let e = RFC_8291;
        let keys =
            Keys::decode(&WebPushKeys { p256dh: e.ua_public.into(), auth: e.auth.into() }).expect("keys");
        let sender = SecretKey::from_slice(&b64(e.as_private)).expect("as_private");
        let salt: [u8; 16] = b64(e.salt).try_into().expect("16 bytes");
        let body = encrypt_with(e.plaintext, &keys, salt, &sender).expect("encrypted");
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), e.body);
        // And the user agent of the example reads it.
        let ua = UserAgentKeys {
            secret: SecretKey::from_slice(&b64(e.ua_private)).expect("ua_private"),
            auth: keys.auth,
        };
        assert_eq!(decrypt(&b64(e.body), &ua).expect("decrypted"), e.plaintext);
    }

    #[test]
    fn each_message_has_its_own_salt_and_key_and_the_largest_payload_still_fits_4096_bytes() {
        let ua = UserAgentKeys::generate();
        let keys = ua.subscription_keys();
        let (a, b) = (encrypt(b"same", &keys).expect("a"), encrypt(b"same", &keys).expect("b"));
        assert_ne!(a[..16], b[..16], "salt");
        assert_ne!(a[21..86], b[21..86], "sender key");
        let largest = vec![7u8; MAX_PAYLOAD];
        let body = encrypt(&largest, &keys).expect("fits");
        assert_eq!(body.len(), 4096);
        assert_eq!(decrypt(&body, &ua).expect("decrypted"), largest);
        assert!(matches!(encrypt(&[0; MAX_PAYLOAD + 1], &keys), Err(PushError::PayloadTooLarge(3994))));
    }

    #[test]
    fn keys_that_are_not_keys_are_refused_with_a_reason() {
        let good = UserAgentKeys::generate().subscription_keys();
        for (p256dh, auth, why) in [
            ("!!", good.auth.as_str(), "p256dh: "),
            ("AAAA", good.auth.as_str(), "p256dh: not a P-256 point"),
            (good.p256dh.as_str(), "AAAA", "auth: not 16 bytes"),
        ] {
            let keys = WebPushKeys { p256dh: p256dh.into(), auth: auth.into() };
            match encrypt(b"x", &keys) {
                Err(PushError::InvalidKey(message)) => assert!(message.starts_with(why), "{message}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
