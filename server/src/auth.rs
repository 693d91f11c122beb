//! Capability tokens: who may subscribe to which views, send which commands, define views.
//!
//! A token is a JWT signed with HS256 by the server's key (`lucarne token` issues them). Its
//! claims:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | who it is for (logs only) |
//! | `exp` | expiry, seconds since the Unix epoch (required) |
//! | `iat` | when it was issued (informative) |
//! | `views` | glob patterns (`*`, `?`) of the views that may be subscribed and listed |
//! | `commands` | glob patterns of the commands that may be sent |
//! | `define` | may define, replace and drop views (only names that `views` matches) |
//! | `rows` | per view glob, a SQL condition on the view's columns: only the rows meeting it are ever sent |
//!
//! Row filters are enforced where rows leave the server: a subscription to a view that `rows`
//! matches becomes a live query whose `where` is the token's condition (and the client's own,
//! if any, ANDed to it), so snapshots and deltas carry only the rows the token may see. A
//! token with row filters never gets the `define` right: a view it defined could read the
//! events behind the hidden rows.
//!
//! HS256 with one server key: the server both issues and checks tokens, so a shared secret is
//! enough, and HMAC needs no public-key crypto (no RSA or elliptic curves to build). The
//! `jsonwebtoken` crate does the JWT format and checks (algorithm pinned to HS256, `exp`
//! required, no leeway); the HMAC itself is RustCrypto's `hmac` + `sha2`, plugged in as its
//! crypto provider ([`install_provider`]), verified in constant time.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use lucarne_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

/// The claims of a capability token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token is for (shown in the server's log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// When it was issued, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Glob patterns of the views that may be subscribed to and listed.
    #[serde(default)]
    pub views: Vec<String>,
    /// Glob patterns of the commands that may be sent.
    #[serde(default)]
    pub commands: Vec<String>,
    /// May define, replace and drop views whose names `views` matches.
    #[serde(default)]
    pub define: bool,
    /// Row filters: view glob pattern → SQL condition on the view's columns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rows: BTreeMap<String, String>,
}

/// What one connection may do: from its token, or the anonymous policy of an open server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's subject, if any.
    pub subject: Option<String>,
    views: Vec<String>,
    commands: Vec<String>,
    define: bool,
    rows: BTreeMap<String, String>,
    /// Seconds since the Unix epoch; `None` for the anonymous policy.
    expires: Option<u64>,
    anonymous: bool,
}

impl Grant {
    /// The open development policy: every view and command; defining views if `define`.
    pub fn anonymous(define: bool) -> Grant {
        Grant {
            subject: None,
            views: vec!["*".into()],
            commands: vec!["*".into()],
            define,
            rows: BTreeMap::new(),
            expires: None,
            anonymous: true,
        }
    }

    /// The rights a verified token's claims give (`define` is dropped when the token has row
    /// filters).
    pub fn from_claims(claims: Claims) -> Grant {
        Grant {
            subject: claims.sub,
            views: claims.views,
            commands: claims.commands,
            define: claims.define && claims.rows.is_empty(),
            rows: claims.rows,
            expires: Some(claims.exp),
            anonymous: false,
        }
    }

    /// May subscribe to (and see in `list_views`) this view.
    pub fn may_view(&self, view: &str) -> bool {
        self.views.iter().any(|p| glob_match(p, view))
    }

    /// The condition every row of `view` sent to this grant must meet: the token's row filters
    /// whose pattern matches the view, ANDed; `None` when no filter applies.
    pub fn row_filter(&self, view: &str) -> Option<String> {
        let mut matching = self.rows.iter().filter(|(pattern, _)| glob_match(pattern, view));
        let (_, first) = matching.next()?;
        Some(matching.fold(format!("({first})"), |all, (_, next)| format!("{all} AND ({next})")))
    }

    /// May send this command.
    pub fn may_send(&self, command: &str) -> bool {
        self.commands.iter().any(|p| glob_match(p, command))
    }

    /// May define, replace or drop this view.
    pub fn may_define(&self, view: &str) -> bool {
        self.define && self.may_view(view)
    }

    /// May define or drop some views.
    pub fn can_define(&self) -> bool {
        self.define
    }

    /// True when this grant came from no token.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous
    }

    /// True once the token's expiry has passed.
    pub fn expired(&self) -> bool {
        self.expires.is_some_and(|exp| now_secs() >= exp)
    }

    /// The code of a refusal: `unauthorized` without a token (a token could give the right),
    /// `forbidden` when the token does not give it.
    pub fn refusal(&self) -> ErrorCode {
        if self.anonymous { ErrorCode::Unauthorized } else { ErrorCode::Forbidden }
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether `text` matches the glob `pattern`: `*` is any run of characters (also none), `?` any
/// one character, everything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last `*` take one more character.
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Its `exp` has passed.
    #[error("the token expired")]
    Expired,
    /// Malformed, signed with another key or algorithm, or missing `exp`.
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl TokenError {
    /// The protocol code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::Invalid(_) => ErrorCode::InvalidToken,
        }
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The secret is too short to be a key.
    #[error("the key has {0} bytes; at least {min} are needed", min = TokenKey::MIN_SECRET)]
    TooShort(usize),
}

/// The server's token key (an HS256 secret).
#[derive(Clone)]
pub struct TokenKey {
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(…)")
    }
}

impl TokenKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_SECRET: usize = 32;

    /// A key from secret bytes (at least [`TokenKey::MIN_SECRET`]).
    pub fn from_secret(secret: &[u8]) -> Result<TokenKey, KeyError> {
        if secret.len() < Self::MIN_SECRET {
            return Err(KeyError::TooShort(secret.len()));
        }
        install_provider();
        let invalid = |e: jsonwebtoken::errors::Error| KeyError::Io {
            path: "(secret)".into(),
            source: std::io::Error::other(e.to_string()),
        };
        Ok(TokenKey {
            encoding: Arc::new(EncodingKey::from_secret(secret).map_err(invalid)?),
            decoding: Arc::new(DecodingKey::from_secret(secret).map_err(invalid)?),
        })
    }

    /// Reads the key file: its text, without surrounding whitespace, is the secret.
    pub fn load(path: &Path) -> Result<TokenKey, KeyError> {
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        let text = std::fs::read_to_string(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path)
                && meta.permissions().mode() & 0o077 != 0
            {
                tracing::warn!("key file {} is readable by others; chmod 600 it", path.display());
            }
        }
        TokenKey::from_secret(text.trim().as_bytes())
    }

    /// Reads the key file, or creates it (a fresh random 256-bit secret as 64 hex digits,
    /// mode 0600) when it does not exist; true when it was created.
    pub fn load_or_create(path: &Path) -> Result<(TokenKey, bool), KeyError> {
        if path.exists() {
            return Self::load(path).map(|k| (k, false));
        }
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        let secret: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        match options.open(path) {
            Ok(mut file) => {
                use std::io::Write;
                writeln!(file, "{secret}").and_then(|()| file.sync_all()).map_err(io)?;
                Ok((TokenKey::from_secret(secret.as_bytes())?, true))
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path).map(|k| (k, false)),
            Err(e) => Err(io(e)),
        }
    }

    /// Signs a token with these claims.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks a token's signature (HS256 only) and expiry, and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::Invalid("bad signature".into()),
                ErrorKind::InvalidAlgorithm => TokenError::Invalid("not signed with HS256".into()),
                _ => TokenError::Invalid(e.to_string()),
            }),
        }
    }
}

/// Who gets in: tokens signed by the key, and, on an open server, anonymous clients.
#[derive(Debug, Clone)]
pub struct Auth {
    key: Option<TokenKey>,
    /// The anonymous policy; `None` when a token is required.
    open: Option<Grant>,
}

impl Auth {
    /// Tokens required: only clients with a valid token signed by `key` are let in.
    pub fn tokens(key: TokenKey) -> Auth {
        Auth { key: Some(key), open: None }
    }

    /// The open development policy: clients without a token get every view and command (and
    /// defining views if `define`); tokens, when given, are checked with `key` if there is one.
    pub fn open(key: Option<TokenKey>, define: bool) -> Auth {
        Auth { key, open: Some(Grant::anonymous(define)) }
    }

    /// True when clients without a token are let in.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// What a `hello` with this token may do, or why it is refused.
    pub fn admit(&self, token: Option<&str>) -> Result<Grant, (ErrorCode, String)> {
        match (token, &self.key, &self.open) {
            (None, _, Some(anonymous)) => Ok(anonymous.clone()),
            (None, _, None) => Err((
                ErrorCode::Unauthorized,
                "this server requires a capability token in hello (issued by `lucarne token`)".into(),
            )),
            (Some(token), Some(key), _) => match key.verify(token) {
                Ok(claims) => Ok(Grant::from_claims(claims)),
                Err(e) => Err((e.code(), e.to_string())),
            },
            (Some(_), None, _) => {
                Err((ErrorCode::InvalidToken, "invalid token: this server has no token key".into()))
            }
        }
    }
}

/// HS256 for `jsonwebtoken`, over RustCrypto's `hmac` and `sha2`.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |algorithm, key| match algorithm {
        Algorithm::HS256 if key.family() == AlgorithmFamily::Hmac => {
            let mac = <Hmac256 as hmac::KeyInit>::new_from_slice(key.as_bytes())
                .map_err(|_| new_error(ErrorKind::InvalidKeyFormat))?;
            Ok(Box::new(Hs256(mac)) as Box<dyn JwtSigner>)
        }
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    },
    verifier_factory: |algorithm, key| match algorithm {
        Algorithm::HS256 if key.family() == AlgorithmFamily::Hmac => {
            let mac = <Hmac256 as hmac::KeyInit>::new_from_slice(key.try_get_as_bytes()?)
                .map_err(|_| new_error(ErrorKind::InvalidKeyFormat))?;
            Ok(Box::new(Hs256(mac)) as Box<dyn JwtVerifier>)
        }
        _ => Err(new_error(ErrorKind::InvalidAlgorithm)),
    },
    key_utils: KeyUtils::new_unimplemented(),
};

type Hmac256 = hmac::Hmac<sha2::Sha256>;

struct Hs256(Hmac256);

impl jsonwebtoken::signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, jsonwebtoken::signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl jsonwebtoken::signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), jsonwebtoken::signature::Error> {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(msg);
        // Constant time.
        mac.verify_slice(signature).map_err(|_| jsonwebtoken::signature::Error::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// Installs the HS256 provider as `jsonwebtoken`'s process default (once; if another provider
/// was installed first, that one is used).
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = PROVIDER.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shells() {
        fn check(pattern: &str, text: &str, expected: bool) {
            assert_eq!(glob_match(pattern, text), expected, "{pattern:?} ~ {text:?}");
        }
        check("*", "", true);
        check("*", "orders", true);
        check("orders", "orders", true);
        check("orders", "orders2", false);
        check("orders*", "orders", true);
        check("orders*", "orders_by_day", true);
        check("orders*", "my_orders", false);
        check("order.*", "order.place", true);
        check("order.*", "order", false);
        check("order.*", "orderxplace", false);
        check("*_order", "place_order", true);
        check("*_order", "place_orders", false);
        check("p?y_order", "pay_order", true);
        check("p?y_order", "paay_order", false);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("**", "anything", true);
        check("", "", true);
        check("", "x", false);
        check("é*", "été", true);
    }

    fn claims(views: &[&str], commands: &[&str], define: bool, exp: u64) -> Claims {
        Claims {
            sub: Some("alice".into()),
            exp,
            iat: None,
            views: views.iter().map(|s| s.to_string()).collect(),
            commands: commands.iter().map(|s| s.to_string()).collect(),
            define,
            rows: BTreeMap::new(),
        }
    }

    #[test]
    fn row_filters_apply_to_the_views_they_match_and_take_away_define() {
        let mut c = claims(&["*"], &[], true, now_secs() + 60);
        c.rows.insert("orders*".into(), "region = 'eu'".into());
        c.rows.insert("*".into(), "tenant = 7".into());
        let g = Grant::from_claims(c);
        fn check(g: &Grant, view: &str, expected: Option<&str>) {
            assert_eq!(g.row_filter(view).as_deref(), expected, "{view}");
        }
        check(&g, "orders", Some("(tenant = 7) AND (region = 'eu')"));
        check(&g, "sales", Some("(tenant = 7)"));
        assert!(!g.can_define() && !g.may_define("scratch"), "row filters take away define");
        let plain = Grant::from_claims(claims(&["*"], &[], true, now_secs() + 60));
        check(&plain, "orders", None);
        assert!(plain.can_define());
        check(&Grant::anonymous(true), "orders", None);
    }

    #[test]
    fn grants_follow_the_claims() {
        let g = Grant::from_claims(claims(&["orders*", "sales"], &["pay_*"], false, now_secs() + 60));
        assert!(g.may_view("orders") && g.may_view("orders_eu") && g.may_view("sales"));
        assert!(!g.may_view("secrets") && !g.may_view("sales2"));
        assert!(g.may_send("pay_order") && !g.may_send("place_order"));
        assert!(!g.may_define("orders"));
        assert_eq!(g.refusal(), ErrorCode::Forbidden);
        assert!(!g.expired());
        let g = Grant::from_claims(claims(&["scratch_*"], &[], true, now_secs() + 60));
        assert!(g.may_define("scratch_1") && !g.may_define("orders"));
        assert!(Grant::from_claims(claims(&[], &[], false, now_secs())).expired());

        let open = Grant::anonymous(false);
        assert!(open.may_view("anything") && open.may_send("anything") && !open.may_define("x"));
        assert_eq!(open.refusal(), ErrorCode::Unauthorized);
        assert!(Grant::anonymous(true).may_define("x"));
    }

    #[test]
    fn tokens_round_trip_and_refusals_have_codes() {
        let key = TokenKey::from_secret(&[7; 32]).expect("key");
        let other = TokenKey::from_secret(&[8; 32]).expect("key");
        let good = claims(&["orders"], &["*"], true, now_secs() + 3600);
        let token = key.issue(&good).expect("issued");
        assert_eq!(key.verify(&token), Ok(good.clone()));

        fn check(result: Result<Claims, TokenError>, code: ErrorCode, says: &str) {
            let e = result.expect_err("refused");
            assert_eq!(e.code(), code, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        check(other.verify(&token), ErrorCode::InvalidToken, "bad signature");
        let expired = key.issue(&claims(&["*"], &[], false, now_secs() - 1)).expect("issued");
        check(key.verify(&expired), ErrorCode::TokenExpired, "expired");
        check(key.verify("not.a.token"), ErrorCode::InvalidToken, "invalid token");
        check(key.verify(""), ErrorCode::InvalidToken, "invalid token");
        // A tampered payload (more views) no longer matches the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = claims(&["*"], &["*"], true, now_secs() + 3600);
        let forged_body = b64(&serde_json::to_vec(&forged_claims).expect("json"));
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        check(key.verify(&forged), ErrorCode::InvalidToken, "bad signature");
        // `alg: none` is refused.
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        check(key.verify(&none), ErrorCode::InvalidToken, "invalid token");
        // A token without `exp` is refused.
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"views": ["*"]}),
            &key.encoding,
        )
        .expect("signed");
        check(key.verify(&no_exp), ErrorCode::InvalidToken, "invalid token");

        assert!(matches!(TokenKey::from_secret(b"short"), Err(KeyError::TooShort(5))));
    }

    /// Base64url without padding, as JWT writes it.
    fn b64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn admission_by_policy() {
        let key = TokenKey::from_secret(&[1; 40]).expect("key");
        let token = key.issue(&claims(&["orders"], &[], false, now_secs() + 60)).expect("token");
        let required = Auth::tokens(key.clone());
        assert_eq!(required.admit(None).map_err(|e| e.0), Err(ErrorCode::Unauthorized));
        assert!(required.admit(Some(&token)).is_ok_and(|g| g.may_view("orders") && !g.may_view("x")));
        assert_eq!(required.admit(Some("junk")).map_err(|e| e.0), Err(ErrorCode::InvalidToken));
        let open = Auth::open(Some(key), false);
        assert!(open.admit(None).is_ok_and(|g| g.is_anonymous() && g.may_view("x")));
        assert!(open.admit(Some(&token)).is_ok_and(|g| !g.may_view("x")));
        assert_eq!(Auth::open(None, true).admit(Some(&token)).map_err(|e| e.0), Err(ErrorCode::InvalidToken));
    }

    #[test]
    fn a_created_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("token.key");
        let (key, created) = TokenKey::load_or_create(&path).expect("created");
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, created) = TokenKey::load_or_create(&path).expect("loaded");
        assert!(!created);
        let token = key.issue(&claims(&["*"], &[], false, now_secs() + 60)).expect("token");
        assert!(again.verify(&token).is_ok());
    }
}
