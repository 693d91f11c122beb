//! RFC 8292 (VAPID): the server names itself to a push service with a JWT signed by its P-256
//! key (ES256), for the push service's origin (`aud`), valid 12 hours (`exp`; at most 24 are
//! allowed), with a contact (`sub`). A token is reused for its origin until an hour before it
//! expires.
//!
//! ```
//! use lucarne_push::Vapid;
//!
//! let vapid = Vapid::generate("mailto:ops@example.com")?;
//! let header = vapid.authorization(&"https://push.example/send/1".parse().unwrap())?;
//! assert!(header.starts_with("vapid t="));
//! assert!(header.ends_with(&format!(", k={}", vapid.public_key())));
//! // The same origin: the same token.
//! assert_eq!(header, vapid.authorization(&"https://push.example/send/2".parse().unwrap())?);
//! # Ok::<(), lucarne_push::PushError>(())
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use rand_core::OsRng;

use crate::PushError;

/// How long a token is valid.
const VALID: Duration = Duration::from_secs(12 * 3600);
/// A token is made afresh when less than this is left of it.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);

/// A server's VAPID identity: its key and contact, and the tokens made for each origin.
pub struct Vapid {
    key: SigningKey,
    public: String,
    subject: String,
    tokens: Mutex<HashMap<String, (String, SystemTime)>>,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid").field("public", &self.public).field("subject", &self.subject).finish()
    }
}

impl Vapid {
    /// A VAPID identity from a key: PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, as
    /// `openssl ecparam -name prime256v1 -genkey` writes) or the 32-byte scalar in base64url (as
    /// the `web-push` tools print it). `subject` is a `mailto:` or `https:` contact.
    pub fn from_key(text: &str, subject: &str) -> Result<Vapid, PushError> {
        let text = text.trim();
        let key = if text.contains("-----BEGIN PRIVATE KEY-----") {
            SigningKey::from_pkcs8_pem(text)
                .map_err(|e| PushError::InvalidKey(format!("VAPID PKCS#8: {e}")))?
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(text)
                .map_err(|e| PushError::InvalidKey(format!("VAPID SEC1: {e}")))?;
            SigningKey::from(secret)
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|e| PushError::InvalidKey(format!("VAPID key: neither PEM nor base64url ({e})")))?;
            SigningKey::from_slice(&bytes)
                .map_err(|_| PushError::InvalidKey("VAPID key: not a P-256 scalar".into()))?
        };
        Vapid::with_key(key, subject)
    }

    /// A new VAPID identity (its key is lost with it: use [`Vapid::private_key`] to keep it).
    pub fn generate(subject: &str) -> Result<Vapid, PushError> {
        Vapid::with_key(SigningKey::random(&mut OsRng), subject)
    }

    fn with_key(key: SigningKey, subject: &str) -> Result<Vapid, PushError> {
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            return Err(PushError::InvalidKey(format!(
                "VAPID subject {subject:?}: a mailto: or https: contact"
            )));
        }
        let public = URL_SAFE_NO_PAD.encode(key.verifying_key().to_encoded_point(false).as_bytes());
        Ok(Vapid { key, public, subject: subject.into(), tokens: Mutex::default() })
    }

    /// The public key, base64url: the browser's `applicationServerKey`.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The private key as base64url (what [`Vapid::from_key`] reads back).
    pub fn private_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<public key>`.
    pub fn authorization(&self, endpoint: &http::Uri) -> Result<String, PushError> {
        self.authorization_at(endpoint, SystemTime::now())
    }

    pub(crate) fn authorization_at(
        &self,
        endpoint: &http::Uri,
        now: SystemTime,
    ) -> Result<String, PushError> {
        let origin = origin(endpoint)?;
        let mut tokens = self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = tokens
            .get(&origin)
            .filter(|(_, exp)| exp.duration_since(now).is_ok_and(|left| left > RENEW_BEFORE));
        let token = match fresh {
            Some((token, _)) => token.clone(),
            None => {
                let exp = now + VALID;
                let token = self.sign(&origin, exp);
                tokens.insert(origin, (token.clone(), exp));
                token
            }
        };
        Ok(format!("vapid t={token}, k={}", self.public))
    }

    fn sign(&self, audience: &str, exp: SystemTime) -> String {
        let exp = exp.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": exp, "sub": self.subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

/// An endpoint's origin: `scheme://host[:port]`.
fn origin(endpoint: &http::Uri) -> Result<String, PushError> {
    let invalid = || PushError::InvalidEndpoint(endpoint.to_string());
    let scheme = endpoint.scheme_str().filter(|s| matches!(*s, "https" | "http")).ok_or_else(invalid)?;
    let authority = endpoint.authority().ok_or_else(invalid)?;
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    fn claims_of(header: &str) -> (serde_json::Value, bool) {
        let token = header.strip_prefix("vapid t=").and_then(|r| r.split(", k=").next()).expect("t=");
        let key = header.rsplit(", k=").next().expect("k=");
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let key = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(key).expect("k")).expect("point");
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("sig")).expect("r‖s");
        let valid = key.verify(signed.as_bytes(), &signature).is_ok();
        let claims = signed.split('.').nth(1).expect("claims");
        (serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json"), valid)
    }

    #[test]
    fn a_token_names_the_push_services_origin_expires_within_a_day_and_verifies_with_the_public_key() {
        let vapid = Vapid::generate("mailto:ops@example.com").expect("vapid");
        let now = SystemTime::now();
        let header = vapid
            .authorization_at(&"https://push.example:8443/a/b?c=d".parse().expect("uri"), now)
            .expect("header");
        let (claims, valid) = claims_of(&header);
        assert!(valid, "the signature verifies");
        assert_eq!(claims["aud"], "https://push.example:8443");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        let exp = claims["exp"].as_u64().expect("exp");
        let now_s = now.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        assert!(exp > now_s && exp <= now_s + 24 * 3600, "{exp} against {now_s}");
    }

    #[test]
    fn a_token_is_reused_for_its_origin_and_made_afresh_near_its_expiry_or_for_another_origin() {
        let vapid = Vapid::generate("https://example.com/contact").expect("vapid");
        let a: http::Uri = "https://one.example/x".parse().expect("uri");
        let b: http::Uri = "https://two.example/x".parse().expect("uri");
        let now = SystemTime::now();
        let first = vapid.authorization_at(&a, now).expect("a");
        assert_eq!(first, vapid.authorization_at(&a, now + Duration::from_secs(3600)).expect("an hour on"));
        assert_ne!(first, vapid.authorization_at(&b, now).expect("b"));
        let late =
            vapid.authorization_at(&a, now + VALID - RENEW_BEFORE + Duration::from_secs(1)).expect("late");
        assert_ne!(first, late, "renewed in its last hour");
    }

    #[test]
    fn keys_are_read_from_pem_or_base64url_and_bad_ones_refused() {
        let vapid = Vapid::generate("mailto:a@b.c").expect("vapid");
        let again = Vapid::from_key(&vapid.private_key(), "mailto:a@b.c").expect("base64url");
        assert_eq!(again.public_key(), vapid.public_key());
        // `openssl ecparam -name prime256v1 -genkey -noout` (SEC1) and its PKCS#8 form.
        let sec1 = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIHHfn8kyJOe3CvPV3NS/RbLcRG76JBUOPRGsfsKwyDQhoAoGCCqGSM49
AwEHoUQDQgAEu220IJLtKy6zk9PttHXCSWDRkyKjUrpRmB2rvfXH11Sm44rsyY7M
9Pjq+t/x58rogrDxTdZ7b0SiZ8d3dNt+Bg==
-----END EC PRIVATE KEY-----
";
        let from_sec1 = Vapid::from_key(sec1, "mailto:a@b.c").expect("SEC1 PEM");
        let pkcs8 = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcd+fyTIk57cK89Xc
1L9FstxEbvokFQ49Eax+wrDINCGhRANCAAS7bbQgku0rLrOT0+20dcJJYNGTIqNS
ulGYHau99cfXVKbjiuzJjsz0+Or63/HnyuiCsPFN1ntvRKJnx3d0234G
-----END PRIVATE KEY-----
";
        let from_pkcs8 = Vapid::from_key(pkcs8, "mailto:a@b.c").expect("PKCS#8 PEM");
        assert_eq!(from_sec1.public_key(), from_pkcs8.public_key());
        assert!(matches!(Vapid::from_key("not a key", "mailto:a@b.c"), Err(PushError::InvalidKey(_))));
        assert!(matches!(
            Vapid::from_key(&vapid.private_key(), "ops@example.com"),
            Err(PushError::InvalidKey(_))
        ));
    }
}
