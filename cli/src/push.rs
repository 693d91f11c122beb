//! Platform push on the command line: `lucarne serve`'s push flags (`--vapid-key` switches Web
//! Push on, `--apns-key` APNs, `--fcm-key` FCM), `lucarne push vapid-key` (a new VAPID key, and the public key
//! for browsers) and `lucarne push test` (a push now to a client's registrations).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use lucarne_push::apns::{Apns, ApnsConfig};
use lucarne_push::fcm::{Fcm, FcmConfig};
use lucarne_push::{Vapid, WebPush};
use lucarne_server::push::{DEFAULT_ENDPOINTS, PushConfig};

/// `lucarne serve`'s push flags.
#[derive(clap::Args, Debug)]
pub(crate) struct PushArgs {
    /// Send Web Push with this VAPID key (PEM, or the private key in base64url as
    /// `lucarne push vapid-key` writes it): clients may then register for pushes.
    #[arg(long, env = "LUCARNE_VAPID_KEY", value_name = "FILE")]
    vapid_key: Option<PathBuf>,
    /// Send APNs pushes with this team key (the `.p8` file Apple gives); with --apns-key-id,
    /// --apns-team-id and --apns-topic.
    #[arg(long, env = "LUCARNE_APNS_KEY", value_name = "FILE", requires_all = ["apns_key_id", "apns_team_id", "apns_topic"])]
    apns_key: Option<PathBuf>,
    /// The APNs key's id (10 characters).
    #[arg(long, env = "LUCARNE_APNS_KEY_ID")]
    apns_key_id: Option<String>,
    /// The Apple team id.
    #[arg(long, env = "LUCARNE_APNS_TEAM_ID")]
    apns_team_id: Option<String>,
    /// The app's bundle id (`apns-topic`).
    #[arg(long, env = "LUCARNE_APNS_TOPIC")]
    apns_topic: Option<String>,
    /// Where APNs is (the sandbox for development builds: https://api.sandbox.push.apple.com).
    #[arg(long, default_value = lucarne_push::apns::PRODUCTION)]
    apns_url: String,
    /// More certificate authorities to trust for APNs (PEM): a gateway's, a test's.
    #[arg(long, value_name = "FILE")]
    apns_ca: Option<PathBuf>,
    /// Send FCM pushes as this service account (its key file, JSON, from the Firebase console).
    #[arg(long, env = "LUCARNE_FCM_KEY", value_name = "FILE")]
    fcm_key: Option<PathBuf>,
    /// Where FCM is.
    #[arg(long, default_value = lucarne_push::fcm::FCM)]
    fcm_url: String,
    /// More certificate authorities to trust for FCM and its token endpoint (PEM).
    #[arg(long, value_name = "FILE")]
    fcm_ca: Option<PathBuf>,
    /// The contact push services see in the VAPID token (`mailto:` or `https:`).
    #[arg(long, env = "LUCARNE_VAPID_SUBJECT", default_value = "mailto:push@localhost")]
    vapid_subject: String,
    /// Origins a Web Push endpoint may be on (`https://host[:port]`, `*` for any run of
    /// characters), separated by commas; a subscription elsewhere is refused.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_ENDPOINTS.iter().map(|s| (*s).to_owned()))]
    push_endpoints: Vec<String>,
    /// Milliseconds a push waits for more changes of the same registration, to send one.
    #[arg(long, default_value_t = 250)]
    push_window_ms: u64,
    /// Seconds a push service keeps a push for a device that is offline.
    #[arg(long, default_value_t = 86_400)]
    push_ttl: u64,
    /// Push registrations one client id may hold.
    #[arg(long, default_value_t = 8)]
    max_push_registrations: usize,
    /// Push registrations the server holds in all.
    #[arg(long, default_value_t = 10_000)]
    max_push_registrations_total: usize,
}

impl PushArgs {
    /// The push configuration, when a VAPID, an APNs or an FCM key is given.
    pub(crate) fn config(&self) -> Result<Option<PushConfig>> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        };
        let web = match &self.vapid_key {
            Some(path) => {
                let vapid = Vapid::from_key(&read(path)?, &self.vapid_subject)
                    .with_context(|| format!("in {}", path.display()))?;
                tracing::info!("Web Push on: applicationServerKey {}", vapid.public_key());
                Some(WebPush::new(vapid)?)
            }
            None => None,
        };
        let apns = match &self.apns_key {
            Some(path) => {
                let config = ApnsConfig {
                    key_pem: read(path)?,
                    key_id: self.apns_key_id.clone().unwrap_or_default(),
                    team_id: self.apns_team_id.clone().unwrap_or_default(),
                    topic: self.apns_topic.clone().unwrap_or_default(),
                    base_url: self.apns_url.clone(),
                    extra_ca_pem: self.apns_ca.as_ref().map(read).transpose()?,
                };
                let apns = Apns::new(config).with_context(|| format!("in {}", path.display()))?;
                tracing::info!("APNs on: {}", self.apns_url);
                Some(apns)
            }
            None => None,
        };
        let fcm = match &self.fcm_key {
            Some(path) => {
                let config = FcmConfig {
                    service_account_json: read(path)?,
                    base_url: self.fcm_url.clone(),
                    extra_ca_pem: self.fcm_ca.as_ref().map(read).transpose()?,
                };
                let fcm = Fcm::new(config).with_context(|| format!("in {}", path.display()))?;
                tracing::info!("FCM on: project {} at {}", fcm.project(), self.fcm_url);
                Some(fcm)
            }
            None => None,
        };
        if web.is_none() && apns.is_none() && fcm.is_none() {
            return Ok(None);
        }
        Ok(Some(PushConfig {
            web,
            apns,
            fcm,
            endpoints: self.push_endpoints.clone(),
            window: Duration::from_millis(self.push_window_ms),
            ttl: Duration::from_secs(self.push_ttl),
            max_per_client: self.max_push_registrations,
            max_total: self.max_push_registrations_total,
        }))
    }
}

/// `lucarne push …`.
#[derive(clap::Subcommand)]
pub(crate) enum PushCmd {
    /// Write a new VAPID key (for `lucarne serve --vapid-key`) and print its public key (the
    /// browser's `applicationServerKey`).
    VapidKey {
        /// Where to write the private key (created with mode 0600; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Push now to every registration of a client, connected or not (the define right), and
    /// print the registrations pushed to.
    Test {
        /// The client's id.
        client_id: String,
        /// The notification's title.
        #[arg(long, default_value = "Test")]
        title: String,
        #[command(flatten)]
        connect: crate::Connect,
    },
}

pub(crate) async fn run(command: PushCmd) -> Result<u8> {
    match command {
        PushCmd::Test { client_id, title, connect } => {
            let client = crate::client(&connect);
            crate::answered(crate::online(|| client.test_push(&client_id, &title)).await?, |ids| {
                format!(
                    "a test push queued for {} registrations of {client_id}: {}",
                    ids.len(),
                    ids.join(", ")
                )
            })
        }
        PushCmd::VapidKey { out } => {
            if out.exists() {
                bail!("{} exists: it is not overwritten", out.display());
            }
            let vapid = Vapid::generate("mailto:push@localhost")?;
            write_private(&out, &vapid.private_key())?;
            println!("{}", vapid.public_key());
            Ok(0)
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}")?;
    Ok(())
}
