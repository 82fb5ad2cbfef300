//! Command line and settings. Every setting is a flag with an environment variable, so the
//! same binary runs from a shell, systemd or a container without a config file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::event::Channel;

use crate::encryption::{EncryptionKey, KeyParser, Keyring};

/// The default keeps `cargo run -- serve` working on a developer machine with a local Postgres.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/switchboard";

/// `switchboard`: gateway for Meta messaging webhooks.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(
        long,
        env = "SWITCHBOARD_LOG_JSON",
        global = true,
        default_value_t = false
    )]
    pub log_json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands; `serve` is the long-running gateway, the rest are one-shot tools.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: Meta callbacks, REST API and health endpoints.
    Serve(Box<ServeArgs>),
    /// Create the database if missing and apply pending migrations, then exit.
    Migrate(DatabaseArgs),
    /// Manage tenants without the REST API (for bootstrapping and scripts).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print the events a Meta body yields, one JSON object per line, without a database.
    Normalize {
        /// A file holding the webhook body, or `-` for standard input.
        file: PathBuf,
    },
    /// Normalize again the stored receipts that were flagged as unparsable.
    Reprocess(DatabaseArgs),
    /// Rewrite every stored secret with the current encryption key (after setting or
    /// rotating it), so old keys can be retired.
    Reencrypt(ReencryptArgs),
    /// Print the OpenAPI document of the REST API.
    Openapi(PublicUrlArgs),
    /// Send realistic, correctly signed Meta webhooks to a gateway (try it without Meta).
    Simulate(SimulateArgs),
    /// Receive forwarded events on 127.0.0.1, verify their signatures and print them.
    Listen(ListenArgs),
    /// Load a running gateway with signed webhooks and report throughput and latency.
    Bench(BenchArgs),
}

/// Arguments of `switchboard bench` (see `scripts/bench.sh`, which starts the gateway).
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Base URL of the gateway under test (started with --allow-private-destinations).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The gateway's admin token, to create the bench tenant.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// Webhooks to send.
    #[arg(long, default_value_t = 20_000)]
    pub count: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Target rate in webhooks per second; 0 sends as fast as the connections allow.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Process id of the gateway, to report its peak RSS.
    #[arg(long)]
    pub gateway_pid: Option<u32>,
    /// Name of this run in the summary line.
    #[arg(long, default_value = "run")]
    pub label: String,
    /// How long to wait for deliveries after the last send, in seconds.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout_secs: u64,
}

/// Arguments of `switchboard simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Print the channels and kinds that can be sent, with the events each yields.
    #[arg(long, exclusive = true)]
    pub list: bool,
    /// `whatsapp`, `messenger` or `instagram`.
    #[arg(required = true, value_parser = parse_channel)]
    pub channel: Option<Channel>,
    /// What to send, e.g. `text`, `image`, `status-read` (see --list).
    #[arg(required = true)]
    pub kind: Option<String>,
    /// Public id of the tenant whose callback URL receives the webhooks.
    #[arg(long, env = "SWITCHBOARD_SIMULATE_TENANT", required = true)]
    pub tenant: Option<Uuid>,
    /// The tenant's Meta app secret, which signs the bodies.
    #[arg(
        long,
        env = "SWITCHBOARD_SIMULATE_SECRET",
        hide_env_values = true,
        required = true
    )]
    pub secret: Option<String>,
    /// Base URL of the gateway.
    #[arg(
        long,
        env = "SWITCHBOARD_SIMULATE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// How many webhooks to send; each is a distinct occurrence (fresh ids and times).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
}

/// Arguments of `switchboard listen`.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Port on 127.0.0.1; 0 picks a free one (printed at start).
    #[arg(long, env = "SWITCHBOARD_LISTEN_PORT", default_value_t = 8090)]
    pub port: u16,
    /// The endpoint's signing secret (`whsec_…`), as the API returned it.
    #[arg(long, env = "SWITCHBOARD_LISTEN_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Also print each event's JSON, not only its summary line.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

fn parse_channel(name: &str) -> Result<Channel, String> {
    Channel::parse(name)
        .ok_or_else(|| format!("unknown channel {name:?}: whatsapp, messenger or instagram"))
}

/// Tenant subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its id, API key (shown once) and callback URLs.
    Create(TenantCreateArgs),
}

/// Arguments of `switchboard tenant create`.
#[derive(Debug, Args)]
pub struct TenantCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub public: PublicUrlArgs,
    /// Display name of the tenant.
    #[arg(long)]
    pub name: String,
    /// The token Meta sends as `hub.verify_token` in the handshake.
    #[arg(long)]
    pub verify_token: Option<String>,
    /// The Meta app secret that signs this tenant's webhooks.
    #[arg(long)]
    pub app_secret: Option<String>,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
    /// Print `{id, api_key, callback_urls}` as JSON for scripts.
    #[arg(long, default_value_t = false)]
    pub json: bool,
}

/// Arguments of `switchboard reencrypt`.
#[derive(Debug, Args)]
pub struct ReencryptArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
}

/// Encryption of secrets at rest (Meta app secrets, endpoint signing secrets).
#[derive(Debug, Clone, Default, Args)]
pub struct EncryptionArgs {
    /// Key that encrypts secrets in the database: base64 of 32 random bytes, e.g. from
    /// `openssl rand -base64 32`. Without it secrets are stored in clear (a warning says so).
    #[arg(long, env = "SWITCHBOARD_ENCRYPTION_KEY", hide_env_values = true, value_parser = KeyParser)]
    pub encryption_key: Option<EncryptionKey>,
    /// Former keys, comma-separated, still accepted for reading after a rotation until
    /// `switchboard reencrypt` has rewritten every secret with the current key.
    #[arg(
        long,
        env = "SWITCHBOARD_ENCRYPTION_OLD_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        value_parser = KeyParser
    )]
    pub encryption_old_keys: Vec<EncryptionKey>,
}

impl EncryptionArgs {
    /// The keyring the store encrypts and decrypts with.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(
            self.encryption_key.clone(),
            self.encryption_old_keys.clone(),
        )
    }
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL; the database is created if it does not exist.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Maximum connections in the pool.
    #[arg(long, env = "SWITCHBOARD_DB_MAX_CONNECTIONS", default_value_t = 20)]
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before answering 503, in ms.
    /// Short, so Meta gets a quick 503 (and retries) rather than a timeout.
    #[arg(
        long,
        env = "SWITCHBOARD_DB_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3000
    )]
    pub db_acquire_timeout_ms: u64,
}

/// The externally visible base URL, used to build the callback URLs shown to tenants.
#[derive(Debug, Clone, Args)]
pub struct PublicUrlArgs {
    /// Base URL under which Meta reaches this gateway, e.g. `https://hooks.example.com`.
    #[arg(
        long,
        env = "SWITCHBOARD_PUBLIC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub public_url: String,
}

/// Arguments of `switchboard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub public: PublicUrlArgs,
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Bearer token of the operator (admin API). Without it the admin API answers 401.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest webhook body accepted, in bytes; larger ones get 413 and are not stored.
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Longest a client may take to send a webhook body; slower ones (slow-drip attacks)
    /// get 408 and are not stored.
    #[arg(long, env = "SWITCHBOARD_BODY_READ_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub body_read_timeout: Duration,
    /// Which parts run in this process, so ingest and dispatch can scale separately.
    #[arg(long, env = "SWITCHBOARD_ROLE", value_enum, default_value_t = Role::All)]
    pub role: Role,
    #[command(flatten)]
    pub dispatch: DispatchArgs,
    #[command(flatten)]
    pub ingest: IngestArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub encryption: EncryptionArgs,
    #[command(flatten)]
    pub media: MediaArgs,
}

/// How accepted webhooks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngestMode {
    /// Concurrent requests share one transaction (bounded batch and wait); each is answered
    /// only after that commit.
    Group,
    /// One transaction per request.
    Single,
}

/// Ingest settings.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// `group` commits concurrent webhooks together (faster); `single` one per request.
    #[arg(long, env = "SWITCHBOARD_INGEST_MODE", value_enum, default_value_t = IngestMode::Group)]
    pub ingest_mode: IngestMode,
    /// Most webhooks in one group commit.
    #[arg(long, env = "SWITCHBOARD_GROUP_MAX_BATCH", default_value_t = 128)]
    pub group_max_batch: usize,
    /// Longest a webhook waits for others to join its group commit.
    #[arg(long, env = "SWITCHBOARD_GROUP_MAX_WAIT", value_parser = humantime::parse_duration, default_value = "2ms")]
    pub group_max_wait: Duration,
    /// Transactions writing groups at once.
    #[arg(long, env = "SWITCHBOARD_GROUP_COMMITTERS", default_value_t = 4)]
    pub group_committers: usize,
    /// Webhooks waiting to be written (for a group commit, or in `single` mode for a
    /// connection); when full, new ones get 503 at once rather than growing memory.
    #[arg(long, env = "SWITCHBOARD_INGEST_QUEUE", default_value_t = 4096)]
    pub ingest_queue: usize,
}

impl Default for IngestArgs {
    fn default() -> Self {
        IngestArgs {
            ingest_mode: IngestMode::Group,
            group_max_batch: 128,
            group_max_wait: Duration::from_millis(2),
            group_committers: 4,
            ingest_queue: 4096,
        }
    }
}

/// Media capture settings: where the Graph API is, how hard to try, where files go.
#[derive(Debug, Clone, Args)]
pub struct MediaArgs {
    /// Graph API base URL (tests point it at a local server).
    #[arg(
        long,
        env = "SWITCHBOARD_GRAPH_URL",
        default_value = "https://graph.facebook.com"
    )]
    pub graph_url: String,
    /// Graph API version used to resolve media ids.
    #[arg(long, env = "SWITCHBOARD_GRAPH_VERSION", default_value = "v23.0")]
    pub graph_version: String,
    /// Directory captured files are stored under (created if missing).
    #[arg(long, env = "SWITCHBOARD_MEDIA_DIR", default_value = "media")]
    pub media_dir: PathBuf,
    /// Largest media file captured, in bytes; larger ones are refused (WhatsApp allows
    /// documents up to 100 MB). Each capture in flight may hold one file in memory.
    #[arg(long, env = "SWITCHBOARD_MEDIA_MAX_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub media_max_bytes: u64,
    /// Captures running at once in this process.
    #[arg(long, env = "SWITCHBOARD_MEDIA_CONCURRENCY", default_value_t = 4)]
    pub media_concurrency: usize,
    /// How long forwarding waits for an event's media capture before delivering without it.
    #[arg(long, env = "SWITCHBOARD_MEDIA_WAIT", value_parser = humantime::parse_duration, default_value = "30s")]
    pub media_wait: Duration,
    /// First retry delay of a failed fetch; later ones grow exponentially, with jitter.
    #[arg(long, env = "SWITCHBOARD_MEDIA_RETRY_INITIAL", value_parser = humantime::parse_duration, default_value = "1s")]
    pub media_retry_initial: Duration,
    /// Fetches per capture before it fails (the first try included).
    #[arg(long, env = "SWITCHBOARD_MEDIA_MAX_ATTEMPTS", default_value_t = 5)]
    pub media_max_attempts: u32,
    /// Give up on a capture this long after the webhook arrived: Meta's URLs live about
    /// five minutes, after which retrying is pointless.
    #[arg(long, env = "SWITCHBOARD_MEDIA_DEADLINE", value_parser = humantime::parse_duration, default_value = "5m")]
    pub media_deadline: Duration,
    /// Time limit of one Graph API or download request.
    #[arg(long, env = "SWITCHBOARD_MEDIA_TIMEOUT", value_parser = humantime::parse_duration, default_value = "60s")]
    pub media_timeout: Duration,
    /// How long the signed `media.url` in a delivered event works.
    #[arg(long, env = "SWITCHBOARD_MEDIA_LINK_TTL", value_parser = humantime::parse_duration, default_value = "7days")]
    pub media_link_ttl: Duration,
}

impl Default for MediaArgs {
    fn default() -> Self {
        MediaArgs {
            graph_url: "https://graph.facebook.com".to_owned(),
            graph_version: "v23.0".to_owned(),
            media_dir: PathBuf::from("media"),
            media_max_bytes: 100 * 1024 * 1024,
            media_concurrency: 4,
            media_wait: Duration::from_secs(30),
            media_retry_initial: Duration::from_secs(1),
            media_max_attempts: 5,
            media_deadline: Duration::from_secs(300),
            media_timeout: Duration::from_secs(60),
            media_link_ttl: Duration::from_secs(7 * 86400),
        }
    }
}

/// The parts of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// HTTP (Meta callbacks, REST API) and the dispatcher.
    All,
    /// Only HTTP: callbacks and API; another process forwards.
    Http,
    /// Only the dispatcher (plus /healthz and /metrics on the bind address).
    Dispatcher,
}

/// Forwarding settings.
#[derive(Debug, Clone, Args)]
pub struct DispatchArgs {
    /// Time limit of one delivery request (connect, send, first 4 KiB of the answer).
    #[arg(long, env = "SWITCHBOARD_DELIVERY_TIMEOUT", value_parser = humantime::parse_duration, default_value = "15s")]
    pub delivery_timeout: Duration,
    /// Attempts per delivery before it is `failed` (the first try included).
    #[arg(long, env = "SWITCHBOARD_MAX_ATTEMPTS", default_value_t = 8)]
    pub max_attempts: u32,
    /// Delay before the first retry; later ones grow by --retry-factor, with jitter.
    #[arg(long, env = "SWITCHBOARD_RETRY_INITIAL", value_parser = humantime::parse_duration, default_value = "5s")]
    pub retry_initial: Duration,
    /// Growth factor of the retry delay (5s × 6ⁿ ≈ 5s, 30s, 3m, 18m, 2h, 10h…).
    #[arg(long, env = "SWITCHBOARD_RETRY_FACTOR", default_value_t = 6.0)]
    pub retry_factor: f32,
    /// Longest delay between two attempts, also the cap on a receiver's `Retry-After`.
    #[arg(long, env = "SWITCHBOARD_RETRY_MAX_DELAY", value_parser = humantime::parse_duration, default_value = "10h")]
    pub retry_max_delay: Duration,
    /// How long a claimed delivery belongs to one worker before another may take it.
    #[arg(long = "delivery-lease", env = "SWITCHBOARD_DELIVERY_LEASE", value_parser = humantime::parse_duration, default_value = "60s")]
    pub lease: Duration,
    /// Fallback poll interval when no NOTIFY arrives.
    #[arg(long, env = "SWITCHBOARD_POLL_INTERVAL", value_parser = humantime::parse_duration, default_value = "1s")]
    pub poll_interval: Duration,
    /// Deliveries in flight at once in this process.
    #[arg(long, env = "SWITCHBOARD_MAX_IN_FLIGHT", default_value_t = 64)]
    pub max_in_flight: usize,
    /// Deliveries in flight at once to one endpoint, so a slow one cannot take every slot.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_IN_FLIGHT_PER_ENDPOINT",
        default_value_t = 8
    )]
    pub max_in_flight_per_endpoint: usize,
    /// Allow endpoints on loopback, private, link-local and metadata addresses (tests, local dev).
    #[arg(
        long,
        env = "SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS",
        default_value_t = false
    )]
    pub allow_private_destinations: bool,
    /// How long the old signing secret keeps signing after a rotation.
    #[arg(long, env = "SWITCHBOARD_SECRET_ROTATION_GRACE", value_parser = humantime::parse_duration, default_value = "24h")]
    pub secret_rotation_grace: Duration,
    /// Disable an endpoint after this many consecutive failed attempts (0 = never by count).
    #[arg(long, env = "SWITCHBOARD_DISABLE_AFTER_FAILURES", default_value_t = 0)]
    pub disable_after_failures: u32,
    /// Disable an endpoint that has failed without a success for this long.
    #[arg(long, env = "SWITCHBOARD_DISABLE_AFTER", value_parser = humantime::parse_duration, default_value = "5days")]
    pub disable_after: Duration,
}

impl Default for DispatchArgs {
    fn default() -> Self {
        DispatchArgs {
            delivery_timeout: Duration::from_secs(15),
            max_attempts: 8,
            retry_initial: Duration::from_secs(5),
            retry_factor: 6.0,
            retry_max_delay: Duration::from_secs(10 * 3600),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            max_in_flight: 64,
            max_in_flight_per_endpoint: 8,
            allow_private_destinations: false,
            secret_rotation_grace: Duration::from_secs(24 * 3600),
            disable_after_failures: 0,
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// How long stored data is kept. Each age is optional: absent or `0` keeps that data
/// forever, which is the default so that nothing is deleted unless the operator asks.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Delete raw receipts (the signed bodies as received) older than this, e.g. `30days`.
    #[arg(long, env = "SWITCHBOARD_RETAIN_RECEIPTS", value_parser = humantime::parse_duration)]
    pub retain_receipts: Option<Duration>,
    /// Delete events older than this, with their finished deliveries and attempts; events
    /// with a delivery still pending are kept until it is done.
    #[arg(long, env = "SWITCHBOARD_RETAIN_EVENTS", value_parser = humantime::parse_duration)]
    pub retain_events: Option<Duration>,
    /// Delete delivery attempts (the delivery log) older than this.
    #[arg(long, env = "SWITCHBOARD_RETAIN_ATTEMPTS", value_parser = humantime::parse_duration)]
    pub retain_attempts: Option<Duration>,
    /// How often the purge runs when any retention is set.
    #[arg(long, env = "SWITCHBOARD_RETENTION_INTERVAL", value_parser = humantime::parse_duration, default_value = "1h")]
    pub retention_interval: Duration,
}

impl Default for RetentionArgs {
    fn default() -> Self {
        RetentionArgs {
            retain_receipts: None,
            retain_events: None,
            retain_attempts: None,
            retention_interval: Duration::from_secs(3600),
        }
    }
}

/// Settings the running gateway needs, separated from clap so tests can build them directly.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of the callback URLs, without a trailing slash.
    pub public_url: String,
    /// Operator token; `None` disables the admin API.
    pub admin_token: Option<String>,
    /// Webhook body limit in bytes.
    pub max_body_bytes: usize,
    /// Time limit for reading a webhook body.
    pub body_read_timeout: Duration,
    /// Forwarding settings.
    pub dispatch: DispatchArgs,
    /// Ingest settings.
    pub ingest: IngestArgs,
    /// Keys that encrypt secrets at rest; empty = stored in clear.
    pub encryption: Keyring,
    /// Media capture settings.
    pub media: MediaArgs,
}

impl Settings {
    /// Settings with the documented defaults, for tests and embedding.
    pub fn new(public_url: &str) -> Self {
        Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            admin_token: None,
            max_body_bytes: 1024 * 1024,
            body_read_timeout: Duration::from_secs(10),
            dispatch: DispatchArgs::default(),
            ingest: IngestArgs::default(),
            encryption: Keyring::default(),
            media: MediaArgs::default(),
        }
    }
}

impl From<&ServeArgs> for Settings {
    fn from(args: &ServeArgs) -> Self {
        Settings {
            admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
            max_body_bytes: args.max_body_bytes,
            body_read_timeout: args.body_read_timeout,
            dispatch: args.dispatch.clone(),
            ingest: args.ingest.clone(),
            encryption: args.encryption.keyring(),
            media: args.media.clone(),
            ..Settings::new(&args.public.public_url)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn retention_ages_are_optional_and_parse_human_durations() {
        let cli = Cli::parse_from(["switchboard", "serve", "--retain-events", "90days"]);
        let Command::Serve(args) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(
            args.retention.retain_events,
            Some(Duration::from_secs(90 * 86400))
        );
        assert_eq!(args.retention.retain_receipts, None);
    }

    #[test]
    fn simulate_needs_its_target_unless_listing() {
        assert!(Cli::try_parse_from(["switchboard", "simulate", "--list"]).is_ok());
        assert!(Cli::try_parse_from(["switchboard", "simulate", "whatsapp", "text"]).is_err());
        assert!(Cli::try_parse_from(["switchboard", "simulate", "--list", "whatsapp"]).is_err());
        let tenant = Uuid::now_v7().to_string();
        let cli = Cli::try_parse_from([
            "switchboard",
            "simulate",
            "instagram",
            "text",
            "--tenant",
            &tenant,
            "--secret",
            "s",
        ]);
        let Ok(Cli {
            command: Command::Simulate(args),
            ..
        }) = cli
        else {
            panic!("simulate expected");
        };
        assert_eq!(args.channel, Some(Channel::Instagram));
        assert_eq!(args.count, 1);
    }
}
