//! Typed configuration, in sections, from the environment
//! (docs/configuration.md).
//!
//! Environment variables always win; an optional TOML file named by
//! `PAYGRAPH_CONFIG` may supply what the environment leaves unset, in the
//! same sections and names as the structure (`[database]`,
//! `max_connections = 60`).
//!
//! A setting's environment name comes from where it sits: the prefix
//! `PREFIXES` gives its nearest listed section, then the rest of its path,
//! joined by `_` and upper-cased (`rate_limits.auth.window_secs` is
//! `PAYGRAPH_RATE_LIMIT_AUTH_WINDOW_SECS`). A field added to a section is
//! named with no further list to keep.
//!
//! A variable's value is taken as written, as text: figment reads numbers
//! and switches out of it where a setting is one (`extract_lossy`), so
//! `JWT_KEY_ID=007` keeps its zeros. Amounts, percentages and durations
//! are read into typed values here, once; one that does not read stops
//! loading with its variable's name.
//!
//! Keys, and URLs that may hold a password, are `SecretString`s: `Debug`
//! shows them redacted and `Serialize` leaves them out (as null).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Format, Serialized, Toml},
    value::{Dict, Value},
};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::money::{PerCurrency, percent};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub graphql: GraphqlConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub audit: AuditConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimits,
    pub websocket: WebsocketConfig,
    pub workers: WorkersConfig,
    pub ledger: LedgerConfig,
    pub fees: FeeSchedule,
    pub fraud: FraudSettings,
}

/// The environment prefix of each section (a section not listed takes
/// `PAYGRAPH`); a leaf listed here is named by its entry alone.
const PREFIXES: &[(&str, &str)] = &[
    ("server", "PAYGRAPH"),
    ("graphql", "PAYGRAPH"),
    ("database", "DATABASE"),
    ("database.retry", "PAYGRAPH_DB_RETRY"),
    ("redis", "REDIS"),
    ("audit", "AUDIT"),
    ("audit.store_timeout_ms", "PAYGRAPH_AUDIT_STORE_TIMEOUT_MS"),
    ("audit.dynamodb", "DYNAMODB"),
    ("audit.aws_endpoint_url", "AWS_ENDPOINT_URL"),
    ("audit.relay", "PAYGRAPH_AUDIT_RELAY"),
    ("auth.jwt", "JWT"),
    ("auth.session", "SESSION"),
    ("auth.encryption", "PAYGRAPH_ENCRYPTION"),
    ("auth.step_up", "STEP_UP"),
    ("rate_limits", "PAYGRAPH_RATE_LIMIT"),
    ("websocket", "PAYGRAPH_WS"),
    ("workers", "PAYGRAPH"),
    ("ledger", ""),
    ("fees", "FEE"),
    ("fraud", "FRAUD"),
];

/// The deepest bracket nesting async-graphql's parser takes: it refuses
/// a selection set 66 brackets deep (`recursion limit exceeded`).
/// `PAYGRAPH_MAX_NESTING` may not exceed it, so that the refusal of a
/// deeper document is always the pre-parse scan's, with its own code.
pub const PARSER_MAX_NESTING: usize = 65;

/// The listener and the HTTP edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The listen address.
    pub addr: SocketAddr,
    /// A tracing filter.
    pub log: String,
    pub max_body_bytes: usize,
    /// Browser origins allowed to call the API (`http::cors` reads the
    /// list when it builds the routes); unset, the embedded default allows
    /// `http://localhost:*` and `http://127.0.0.1:*`, others none.
    pub cors_origins: Option<String>,
    /// Where clients reach this service (`https://api.example.com`), for
    /// the links it hands out (statement exports); unset, the address it
    /// listens on.
    pub public_url: Option<String>,
    /// Take the client address from the rightmost `X-Forwarded-For` entry
    /// (the one our own proxy appended). Off, the header is ignored:
    /// anyone can write it.
    pub trust_proxy: bool,
    /// Events buffered for each user with subscriptions on the instance
    /// (each such user has a channel of this capacity); a subscriber that
    /// falls further behind is disconnected.
    pub event_buffer: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log: "info,sqlx=warn".into(),
            max_body_bytes: 64 * 1024,
            cors_origins: None,
            public_url: None,
            trust_proxy: false,
            event_buffer: 256,
        }
    }
}

/// What a GraphQL request may ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphqlConfig {
    /// Serve GraphiQL on `GET /graphql`.
    pub graphiql: bool,
    pub introspection: bool,
    /// Operations in one batched request (a JSON array); each is counted
    /// and limited as if sent alone.
    pub max_batch: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Brackets (`{`, `[`, `(`) may nest this deep in a document; checked
    /// on the text before it is parsed.
    pub max_nesting: usize,
    /// Lexical tokens in one document.
    pub max_tokens: usize,
    /// A persisted-query manifest (Apollo's format); set, callers run only
    /// its operations. Read at start-up.
    pub trusted_documents: Option<PathBuf>,
    /// Support agents may still run any document (the support console's
    /// ad hoc queries).
    pub trusted_documents_support_any: bool,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        Self {
            graphiql: true,
            introspection: true,
            max_batch: 10,
            max_depth: 12,
            max_complexity: 2_000,
            max_aliases: 30,
            max_nesting: 64,
            max_tokens: 10_000,
            trusted_documents: None,
            trusted_documents_support_any: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` or `sqlite://...`; may hold a password.
    #[serde(serialize_with = "secret::hidden", deserialize_with = "secret::read")]
    pub url: SecretString,
    /// The pool's bound: the seed's pool (20) plus its overflow (30).
    pub max_connections: u32,
    pub min_connections: u32,
    /// Connections are recycled after this long (the seed's `pool_recycle`).
    #[serde(rename = "max_lifetime_secs", with = "secs")]
    pub max_lifetime: Duration,
    /// A streaming read replica of the PostgreSQL primary, for the
    /// reporting reads (`db::reads`); unset, every read goes to the
    /// primary. SQLite has none. Holds a password.
    #[serde(
        serialize_with = "secret::hidden",
        deserialize_with = "secret::read_optional"
    )]
    pub read_url: Option<SecretString>,
    /// A replica further behind the primary than this is not read from.
    #[serde(rename = "read_max_lag_ms", with = "millis")]
    pub read_max_lag: Duration,
    pub retry: DbRetryConfig,
}

impl DatabaseConfig {
    pub fn is_sqlite(&self) -> bool {
        self.url.expose_secret().starts_with("sqlite:")
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://paygraph.db?mode=rwc".into(),
            max_connections: 50,
            min_connections: 1,
            max_lifetime: Duration::from_secs(3600),
            read_url: None,
            read_max_lag: Duration::from_millis(1000),
            retry: DbRetryConfig::default(),
        }
    }
}

/// Database work that failed for a reason of the moment (a lost
/// connection, a deadlock) runs again before the client gets UNAVAILABLE.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbRetryConfig {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// No attempt starts after this long from the first.
    #[serde(rename = "budget_ms", with = "millis")]
    pub budget: Duration,
}

impl Default for DbRetryConfig {
    fn default() -> Self {
        Self {
            attempts: 10,
            budget: Duration::from_millis(5_000),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// Unset means the in-process cache. With `cluster`, one or more seed
    /// nodes, comma-separated. May hold an AUTH token.
    #[serde(
        serialize_with = "secret::hidden",
        deserialize_with = "secret::read_optional"
    )]
    pub url: Option<SecretString>,
    /// `url` names nodes of a Redis Cluster (cluster mode enabled), whose
    /// keys are spread over its shards.
    pub cluster: bool,
    /// A PEM file with the CA that a `rediss://` server's certificate is
    /// checked against, instead of the public roots (ElastiCache needs
    /// none).
    pub tls_ca_file: Option<PathBuf>,
    pub pool_size: u32,
    /// Lets environments (and tests) share one Redis.
    pub key_prefix: String,
    /// The longest one Redis call may take (taking a pooled connection
    /// included) before it counts as a failure.
    #[serde(rename = "timeout_ms", with = "millis")]
    pub timeout: Duration,
    /// After a failure, how long every call skips Redis (sessions read the
    /// database, rate limits count per instance) before one call probes it
    /// again.
    #[serde(rename = "breaker_open_ms", with = "millis")]
    pub breaker_open: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            cluster: false,
            tls_ca_file: None,
            pool_size: 32,
            key_prefix: String::new(),
            timeout: Duration::from_millis(250),
            breaker_open: Duration::from_millis(1000),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStoreKind {
    Embedded,
    Dynamodb,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    pub store: AuditStoreKind,
    /// Every delivered audit event is sent to this queue too; unset, none
    /// is.
    pub sqs_queue_url: Option<String>,
    /// The longest one call to the audit store (DynamoDB or the embedded
    /// tables) may take before it counts as failed: a relay round then
    /// fails and is retried, a read answers UNAVAILABLE.
    #[serde(rename = "store_timeout_ms", with = "millis")]
    pub store_timeout: Duration,
    pub dynamodb: DynamodbConfig,
    pub aws_endpoint_url: AwsEndpoints,
    pub relay: AuditRelayConfig,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            store: AuditStoreKind::Embedded,
            sqs_queue_url: None,
            store_timeout: Duration::from_millis(5_000),
            dynamodb: DynamodbConfig::default(),
            aws_endpoint_url: AwsEndpoints::default(),
            relay: AuditRelayConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamodbConfig {
    pub table_prefix: String,
}

/// Local emulators, say. Read here as well as by aws-config so that tests
/// can point each app at its own endpoint; with one set, the SDK gets fixed
/// dummy credentials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsEndpoints {
    pub dynamodb: Option<String>,
    pub sqs: Option<String>,
}

/// The relay that carries the audit outbox to the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditRelayConfig {
    /// How often the relay looks for due outbox rows when the last look
    /// found none.
    #[serde(rename = "poll_ms", with = "millis")]
    pub poll: Duration,
    /// Outbox rows claimed per round. Under load every round is full, and
    /// a round's statements share PostgreSQL's CPU with the transfer
    /// workers', so fewer, larger rounds cost less per event.
    pub batch: u64,
    /// The longest wait before an outbox row that failed is tried again.
    #[serde(rename = "max_backoff_ms", with = "millis")]
    pub max_backoff: Duration,
    /// How long a claimed outbox row stays out of other relays' reach. The
    /// relay renews the lease while its batch is in flight, so this only
    /// bounds how long the rows of a relay that died wait for another.
    #[serde(rename = "lease_ms", with = "millis")]
    pub lease: Duration,
    /// Failed deliveries of one outbox row before it moves to the
    /// dead-letter table (`paygraph audit dead-letters`).
    pub max_attempts: u32,
}

impl Default for AuditRelayConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(1_000),
            batch: 500,
            max_backoff: Duration::from_millis(60_000),
            lease: Duration::from_millis(10_000),
            max_attempts: 100,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub jwt: JwtConfig,
    pub session: SessionConfig,
    pub encryption: EncryptionConfig,
    pub step_up: StepUpConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// The HS256 signing key (at least 32 bytes). Generated for the
    /// embedded default.
    #[serde(
        serialize_with = "secret::hidden",
        deserialize_with = "secret::read_optional"
    )]
    pub secret: Option<SecretString>,
    /// The `kid` put in and required of every token.
    pub key_id: String,
    pub issuer: String,
    pub audience: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            key_id: "paygraph-1".into(),
            issuer: "paygraph".into(),
            audience: "paygraph-api".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// The seed's session TTL; tokens expire with it.
    #[serde(rename = "ttl_secs", with = "secs")]
    pub ttl: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
        }
    }
}

/// The field cipher of card and account numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Base64 of 32 bytes. Generated for the embedded default.
    #[serde(
        serialize_with = "secret::hidden",
        deserialize_with = "secret::read_optional"
    )]
    pub key: Option<SecretString>,
    /// Written into every ciphertext, so keys can rotate.
    pub key_id: String,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            key: None,
            key_id: "k1".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepUpConfig {
    /// `transfer`, `withdraw` and `payPaymentRequest` at or above this, per
    /// currency, need a step-up of the session.
    pub amount: PerCurrency,
    /// How long a step-up lasts.
    #[serde(rename = "ttl_secs", with = "secs")]
    pub ttl: Duration,
}

impl Default for StepUpConfig {
    fn default() -> Self {
        Self {
            amount: amounts("USD:500,EUR:500,GBP:400,JPY:75000"),
            ttl: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// `register`, `login` (keyed by client address: they are anonymous).
    pub auth: RateLimit,
    /// Queries and every other mutation.
    pub read: RateLimit,
    /// `deposit`, `transfer`, `withdraw`, `createWallet`, `holdFunds`,
    /// `releaseHold`, `refundTransaction`.
    pub money: RateLimit,
    /// Wrong passwords and wrong second-factor codes, counted per account
    /// and per client address; past the limit each further try lengthens
    /// the wait.
    pub second_factor: RateLimit,
}

/// `limit` requests per `window`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub limit: u32,
    #[serde(rename = "window_secs", with = "secs")]
    pub window: Duration,
}

impl RateLimit {
    const fn per(limit: u32, secs: u64) -> Self {
        Self {
            limit,
            window: Duration::from_secs(secs),
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            auth: RateLimit::per(10, 60),
            read: RateLimit::per(300, 60),
            money: RateLimit::per(30, 60),
            second_factor: RateLimit::per(5, 900),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebsocketConfig {
    /// The ping interval; a socket that has sent nothing for three
    /// intervals is closed.
    #[serde(rename = "ping_secs", with = "secs")]
    pub ping: Duration,
    /// A socket that does not take a message within this time is dropped
    /// (a slow reader is not buffered).
    #[serde(rename = "send_timeout_secs", with = "secs")]
    pub send_timeout: Duration,
    /// How often an open socket's session is checked again, so logout or
    /// expiry ends its subscriptions.
    #[serde(rename = "session_check_secs", with = "secs")]
    pub session_check: Duration,
    /// Subscriptions one socket may hold.
    pub max_subscriptions: usize,
}

impl Default for WebsocketConfig {
    fn default() -> Self {
        Self {
            ping: Duration::from_secs(20),
            send_timeout: Duration::from_secs(10),
            session_check: Duration::from_secs(30),
            max_subscriptions: 32,
        }
    }
}

/// The background work of an instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Transfer batches run at once by this instance on PostgreSQL (SQLite
    /// has one writer, so one worker). One makes the largest batches; more
    /// overlap round trips to a distant database.
    pub transfer_workers: usize,
    /// For a host whose CPUs the database shares, the threads that serve
    /// requests step down in niceness so that the transfer workers get a
    /// CPU first (see `priority`). Off by default: where the database has
    /// a host of its own, it buys nothing and changes the whole process's
    /// scheduling.
    pub transfer_workers_first: bool,
    /// How long the payment simulator takes to settle.
    #[serde(rename = "processor_delay_ms", with = "millis")]
    pub processor_delay: Duration,
    /// How often the settlement worker looks for due work.
    #[serde(rename = "settlement_poll_ms", with = "millis")]
    pub settlement_poll: Duration,
    /// How often the purge looks for idempotency keys past their
    /// retention.
    #[serde(rename = "idempotency_purge_poll_ms", with = "millis")]
    pub idempotency_purge_poll: Duration,
    /// Keys deleted per statement, so that no purge holds locks on many
    /// rows at once.
    pub idempotency_purge_batch: u64,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            transfer_workers: 1,
            transfer_workers_first: false,
            processor_delay: Duration::from_millis(2000),
            settlement_poll: Duration::from_millis(250),
            idempotency_purge_poll: Duration::from_millis(60_000),
            idempotency_purge_batch: 500,
        }
    }
}

/// The ledger's rules besides fees and fraud.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// How long an idempotency key answers with its first result; older
    /// keys are purged in the background.
    #[serde(rename = "idempotency_retention_days", with = "days")]
    pub idempotency_retention: Duration,
    /// How long a payment request stays payable.
    #[serde(rename = "payment_request_ttl_secs", with = "secs")]
    pub payment_request_ttl: Duration,
    /// How long the change feed keeps a change; a cursor older than this
    /// is refused (`CURSOR_EXPIRED`), and older changes are purged with the
    /// idempotency keys.
    #[serde(rename = "change_feed_retention_secs", with = "secs")]
    pub change_feed_retention: Duration,
    /// Refunds and holds at or above this, per currency, wait for a second
    /// agent.
    pub support_approval_amount: PerCurrency,
    /// What a user whose KYC is not verified may send (transfers and
    /// withdrawals) per UTC day, per currency.
    pub kyc_unverified_daily_limit: PerCurrency,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            idempotency_retention: Duration::from_secs(30 * 86_400),
            payment_request_ttl: Duration::from_secs(604_800),
            change_feed_retention: Duration::from_secs(604_800),
            support_approval_amount: amounts("USD:1000,EUR:1000,GBP:800,JPY:150000"),
            kyc_unverified_daily_limit: amounts("USD:1000,EUR:1000,GBP:1000,JPY:150000,KWD:300"),
        }
    }
}

/// The fee schedule; percentages are of the amount, fixed parts per
/// currency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeeSchedule {
    #[serde(with = "percent")]
    pub card_deposit_percent: Decimal,
    pub card_deposit_fixed: PerCurrency,
    #[serde(with = "percent")]
    pub bank_deposit_percent: Decimal,
    /// P2P is free by default.
    #[serde(with = "percent")]
    pub transfer_percent: Decimal,
    pub withdrawal_fixed: PerCurrency,
}

impl Default for FeeSchedule {
    fn default() -> Self {
        Self {
            card_deposit_percent: Decimal::new(29, 1),
            card_deposit_fixed: amounts("USD:0.30,EUR:0.25,GBP:0.20,JPY:30,KWD:0.100"),
            bank_deposit_percent: Decimal::ZERO,
            transfer_percent: Decimal::ZERO,
            withdrawal_fixed: amounts("USD:0.25,EUR:0.25,GBP:0.25,JPY:25,KWD:0.075"),
        }
    }
}

/// The fraud rules' thresholds and weights: each rule that fires adds its
/// weight; at or above `review_score` a transfer is held for review.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FraudSettings {
    /// Amounts at or above this, per currency, score `weight_amount`.
    pub review_amount: PerCurrency,
    /// Outgoing payments within `velocity_window` that score
    /// `weight_velocity`.
    pub velocity_max: u64,
    #[serde(rename = "velocity_window_secs", with = "secs")]
    pub velocity_window: Duration,
    /// Accounts younger than this many days score `weight_new_account`.
    pub new_account_days: i64,
    pub review_score: u32,
    pub weight_amount: u32,
    pub weight_velocity: u32,
    pub weight_new_recipient: u32,
    pub weight_new_account: u32,
}

impl Default for FraudSettings {
    fn default() -> Self {
        Self {
            review_amount: amounts("USD:5000,EUR:5000,GBP:5000,JPY:750000,KWD:1500"),
            velocity_max: 20,
            velocity_window: Duration::from_secs(3600),
            new_account_days: 1,
            review_score: 70,
            weight_amount: 70,
            weight_velocity: 70,
            weight_new_recipient: 20,
            weight_new_account: 20,
        }
    }
}

/// A default written per currency (every test reads each of them).
fn amounts(text: &str) -> PerCurrency {
    PerCurrency::parse(text).expect("a default amount reads")
}

impl Config {
    /// Reads the configuration; the error names the offending setting.
    pub fn from_env() -> Result<Self, String> {
        let settings = settings();
        let mut figment = Figment::from(Serialized::defaults(defaults()));
        if let Ok(path) = std::env::var("PAYGRAPH_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut written = Dict::new();
        for (key, value) in std::env::vars_os() {
            let key = key.to_string_lossy().trim().to_ascii_uppercase();
            if let Some(setting) = settings.iter().find(|s| s.name == key) {
                insert(&mut written, &setting.path, &value.to_string_lossy());
            } else if let Some(rest) = key.strip_prefix("PAYGRAPH_")
                && rest != "CONFIG"
                // `PAYGRAPH_TEST_*` belong to the test harness (the servers
                // tests use), not to the service: a command run from a test
                // must not refuse them as unknown settings.
                && !rest.starts_with("TEST_")
            {
                return Err(format!(
                    "configuration error: {key} is not a setting (see docs/configuration.md)"
                ));
            }
        }
        let config: Config = figment
            .merge(Serialized::defaults(written))
            .extract_lossy()
            .map_err(|e| format!("configuration error: {}", describe(&e, &settings)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let bad = |name: &str, why: &str| Err(format!("configuration error: {name} {why}"));
        let db = &self.database;
        if !(self.is_sqlite() || db.url.expose_secret().starts_with("postgres")) {
            return bad("DATABASE_URL", "must start with postgres:// or sqlite://");
        }
        if let Some(url) = &db.read_url
            && !url.expose_secret().starts_with("postgres")
        {
            return bad("DATABASE_READ_URL", "must start with postgres://");
        }
        let redis = &self.redis;
        if let Some(url) = &redis.url {
            let nodes: Vec<&str> = url.expose_secret().split(',').map(str::trim).collect();
            if nodes
                .iter()
                .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
            {
                return bad("REDIS_URL", "must start with redis:// or rediss://");
            }
            if nodes.len() > 1 && !redis.cluster {
                return bad(
                    "REDIS_URL",
                    "names one node unless REDIS_CLUSTER=true (then seed nodes, comma-separated)",
                );
            }
        }
        if redis.cluster && redis.key_prefix.contains(['{', '}']) {
            return bad(
                "REDIS_KEY_PREFIX",
                "must not contain { or } with REDIS_CLUSTER: a hash tag there would put every key in one slot",
            );
        }
        let endpoints = &self.audit.aws_endpoint_url;
        for (name, url) in [
            ("PAYGRAPH_PUBLIC_URL", &self.server.public_url),
            ("AUDIT_SQS_QUEUE_URL", &self.audit.sqs_queue_url),
            ("AWS_ENDPOINT_URL_DYNAMODB", &endpoints.dynamodb),
            ("AWS_ENDPOINT_URL_SQS", &endpoints.sqs),
        ] {
            if let Some(url) = url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return bad(name, "must start with http:// or https://");
            }
        }
        if db.max_connections == 0 || db.min_connections > db.max_connections {
            return bad(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least DATABASE_MIN_CONNECTIONS and above 0",
            );
        }
        if db.retry.attempts == 0 {
            return bad("PAYGRAPH_DB_RETRY_ATTEMPTS", "must be at least 1");
        }
        let workers = &self.workers;
        if workers.transfer_workers == 0 || workers.transfer_workers > db.max_connections as usize {
            return bad(
                "PAYGRAPH_TRANSFER_WORKERS",
                "must be at least 1 and at most DATABASE_MAX_CONNECTIONS",
            );
        }
        let relay = &self.audit.relay;
        if relay.poll.is_zero() || relay.batch == 0 {
            return bad(
                "PAYGRAPH_AUDIT_RELAY_POLL_MS",
                "and PAYGRAPH_AUDIT_RELAY_BATCH must be above 0",
            );
        }
        if relay.lease < Duration::from_millis(100) {
            return bad("PAYGRAPH_AUDIT_RELAY_LEASE_MS", "must be at least 100");
        }
        if relay.max_attempts == 0 || relay.max_attempts > i32::MAX as u32 {
            return bad("PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS", "must be at least 1");
        }
        if self.audit.store_timeout.is_zero() {
            return bad("PAYGRAPH_AUDIT_STORE_TIMEOUT_MS", "must be above 0");
        }
        const TEN_YEARS: Duration = Duration::from_secs(10 * 365 * 86_400);
        let ledger = &self.ledger;
        if ledger.payment_request_ttl.is_zero() || ledger.payment_request_ttl > TEN_YEARS {
            return bad(
                "PAYMENT_REQUEST_TTL_SECS",
                "must be from 1 to ten years of seconds",
            );
        }
        let step_up_ttl = self.auth.step_up.ttl;
        if step_up_ttl.is_zero() || step_up_ttl > Duration::from_secs(86_400) {
            return bad("STEP_UP_TTL_SECS", "must be from 1 to 86400");
        }
        if ledger.change_feed_retention.is_zero() || ledger.change_feed_retention > TEN_YEARS {
            return bad(
                "CHANGE_FEED_RETENTION_SECS",
                "must be from 1 to ten years of seconds",
            );
        }
        if ledger.idempotency_retention.is_zero() {
            return bad("IDEMPOTENCY_RETENTION_DAYS", "must be at least 1");
        }
        if workers.idempotency_purge_poll.is_zero() || workers.idempotency_purge_batch == 0 {
            return bad(
                "PAYGRAPH_IDEMPOTENCY_PURGE_POLL_MS",
                "and PAYGRAPH_IDEMPOTENCY_PURGE_BATCH must be above 0",
            );
        }
        let r = &self.rate_limits;
        for (name, rule) in [
            ("PAYGRAPH_RATE_LIMIT_AUTH", r.auth),
            ("PAYGRAPH_RATE_LIMIT_READ", r.read),
            ("PAYGRAPH_RATE_LIMIT_MONEY", r.money),
            ("PAYGRAPH_RATE_LIMIT_SECOND_FACTOR", r.second_factor),
        ] {
            if rule.limit == 0 || rule.window.is_zero() {
                return Err(format!(
                    "configuration error: {name}_LIMIT and {name}_WINDOW_SECS must be above 0"
                ));
            }
        }
        let ws = &self.websocket;
        if ws.ping.is_zero() || ws.send_timeout.is_zero() || self.server.event_buffer == 0 {
            return bad(
                "PAYGRAPH_WS_PING_SECS",
                "PAYGRAPH_WS_SEND_TIMEOUT_SECS and PAYGRAPH_EVENT_BUFFER must be above 0",
            );
        }
        let graphql = &self.graphql;
        if graphql.max_batch == 0 {
            return bad("PAYGRAPH_MAX_BATCH", "must be at least 1");
        }
        // A selection `max_depth` deep nests one bracket more than that.
        if graphql.max_nesting <= graphql.max_depth {
            return bad("PAYGRAPH_MAX_NESTING", "must be above PAYGRAPH_MAX_DEPTH");
        }
        if graphql.max_nesting > PARSER_MAX_NESTING {
            return bad(
                "PAYGRAPH_MAX_NESTING",
                "must be at most 65: the GraphQL parser refuses deeper documents",
            );
        }
        if self.auth.session.ttl < Duration::from_secs(60) {
            return bad("SESSION_TTL_SECS", "must be at least 60");
        }
        if redis.timeout.is_zero() || redis.breaker_open.is_zero() {
            return bad(
                "REDIS_TIMEOUT_MS",
                "and REDIS_BREAKER_OPEN_MS must be above 0",
            );
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.is_sqlite()
    }

    /// Where the embedded default keeps its generated development keys:
    /// beside the SQLite file.
    pub fn dev_keys_path(&self) -> Option<PathBuf> {
        let rest = self.database.url.expose_secret().strip_prefix("sqlite:")?;
        let path = rest.trim_start_matches("//").split('?').next()?;
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(PathBuf::from(format!("{path}.keys.json")))
    }
}

/// One setting: its environment name and its path in the structure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    name: String,
    path: Vec<String>,
}

/// Every setting, found by walking the default configuration's sections.
fn settings() -> Vec<Setting> {
    fn walk(value: &serde_json::Value, path: &mut Vec<String>, out: &mut Vec<Setting>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (field, value) in fields {
                    path.push(field.clone());
                    walk(value, path, out);
                    path.pop();
                }
            }
            _ => out.push(Setting {
                name: env_name(path),
                path: path.clone(),
            }),
        }
    }
    let mut out = Vec::new();
    walk(&default_tree(), &mut Vec::new(), &mut out);
    out
}

/// The environment name of the setting at `path`: the prefix of its
/// nearest section in `PREFIXES`, then the rest of the path.
fn env_name(path: &[String]) -> String {
    let (prefix, rest) = (1..=path.len())
        .rev()
        .find_map(|depth| {
            let section = path[..depth].join(".");
            PREFIXES
                .iter()
                .find(|(listed, _)| *listed == section)
                .map(|(_, prefix)| (*prefix, &path[depth..]))
        })
        .unwrap_or(("PAYGRAPH", path));
    std::iter::once(prefix)
        .chain(rest.iter().map(String::as_str))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_uppercase()
}

/// The default configuration as serde writes it: secrets left out.
fn default_tree() -> serde_json::Value {
    serde_json::to_value(Config::default()).expect("the configuration serialises")
}

/// The defaults figment starts from, without the unset (null) ones: a
/// field left out takes its section's default, which for a secret is the
/// only way to have one.
fn defaults() -> serde_json::Value {
    fn prune(value: &mut serde_json::Value) {
        if let serde_json::Value::Object(fields) = value {
            fields.retain(|_, v| !v.is_null());
            fields.values_mut().for_each(prune);
        }
    }
    let mut tree = default_tree();
    prune(&mut tree);
    tree
}

/// Puts `value`, as written, at `path` in `dict`.
fn insert(dict: &mut Dict, path: &[String], value: &str) {
    match path {
        [] => {}
        [leaf] => {
            dict.insert(leaf.clone(), Value::from(value));
        }
        [section, rest @ ..] => {
            let entry = dict
                .entry(section.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

/// figment's error in one line, naming the setting by its environment
/// name (or, for a key no setting has, by its path in the file).
fn describe(e: &figment::Error, settings: &[Setting]) -> String {
    let msg = e.kind.to_string();
    if e.path.is_empty() {
        return msg;
    }
    match settings.iter().find(|s| s.path == e.path) {
        Some(setting) => format!("{}: {msg}", setting.name),
        None => format!("{}: {msg}", e.path.join(".")),
    }
}

/// Secrets in serde: read from text, never written (serialised as null).
mod secret {
    use secrecy::SecretString;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn hidden<T, S: Serializer>(_: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }

    pub fn read<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }

    pub fn read_optional<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
    }
}

/// A `Duration` written as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// A `Duration` written as whole milliseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A `Duration` written as whole days.
mod days {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    const DAY: u64 = 86_400;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs() / DAY)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u32::deserialize(d).map(|days| Duration::from_secs(u64::from(days) * DAY))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Every setting docs/configuration.md lists, as an operator would
    /// write it, and the value the service must read from it (as JSON, typed values
    /// in their written form);
    /// `None` for a variable the AWS SDK reads, not the service.
    const WRITTEN: &[(&str, &str, Option<&str>)] = &[
        ("PAYGRAPH_ADDR", "0.0.0.0:9000", Some(r#""0.0.0.0:9000""#)),
        (
            "DATABASE_URL",
            "postgres://db/pay",
            Some(r#""postgres://db/pay""#),
        ),
        ("DATABASE_MAX_CONNECTIONS", "60", Some("60")),
        ("DATABASE_MIN_CONNECTIONS", "2", Some("2")),
        ("DATABASE_MAX_LIFETIME_SECS", "600", Some("600")),
        (
            "DATABASE_READ_URL",
            "postgres://reader:secret@replica/pay",
            Some(r#""postgres://reader:secret@replica/pay""#),
        ),
        ("DATABASE_READ_MAX_LAG_MS", "250", Some("250")),
        ("PAYGRAPH_DB_RETRY_ATTEMPTS", "3", Some("3")),
        ("PAYGRAPH_DB_RETRY_BUDGET_MS", "2500", Some("2500")),
        (
            "REDIS_URL",
            "redis://cache:6379",
            Some(r#""redis://cache:6379""#),
        ),
        ("REDIS_CLUSTER", "true", Some("true")),
        (
            "REDIS_TLS_CA_FILE",
            "/etc/paygraph/redis-ca.pem",
            Some(r#""/etc/paygraph/redis-ca.pem""#),
        ),
        ("REDIS_POOL_SIZE", "8", Some("8")),
        ("REDIS_KEY_PREFIX", "2024", Some(r#""2024""#)),
        ("REDIS_TIMEOUT_MS", "100", Some("100")),
        ("REDIS_BREAKER_OPEN_MS", "500", Some("500")),
        ("AUDIT_STORE", "dynamodb", Some(r#""dynamodb""#)),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            "http://127.0.0.1:8000",
            Some(r#""http://127.0.0.1:8000""#),
        ),
        ("AWS_REGION", "eu-west-1", None),
        (
            "AUDIT_SQS_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/paygraph-audit",
            Some(r#""https://sqs.eu-west-1.amazonaws.com/123456789012/paygraph-audit""#),
        ),
        (
            "AWS_ENDPOINT_URL_SQS",
            "http://127.0.0.1:5055",
            Some(r#""http://127.0.0.1:5055""#),
        ),
        ("DYNAMODB_TABLE_PREFIX", "prod_", Some(r#""prod_""#)),
        ("PAYGRAPH_AUDIT_RELAY_POLL_MS", "200", Some("200")),
        ("PAYGRAPH_AUDIT_RELAY_BATCH", "100", Some("100")),
        ("PAYGRAPH_TRANSFER_WORKERS", "4", Some("4")),
        ("PAYGRAPH_TRANSFER_WORKERS_FIRST", "true", Some("true")),
        (
            "PAYGRAPH_AUDIT_RELAY_MAX_BACKOFF_MS",
            "30000",
            Some("30000"),
        ),
        ("PAYGRAPH_AUDIT_RELAY_LEASE_MS", "5000", Some("5000")),
        ("PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS", "20", Some("20")),
        ("PAYGRAPH_AUDIT_STORE_TIMEOUT_MS", "2000", Some("2000")),
        (
            "JWT_SECRET",
            "01234567890123456789012345678901234567890",
            Some(r#""01234567890123456789012345678901234567890""#),
        ),
        ("JWT_KEY_ID", "007", Some(r#""007""#)),
        ("JWT_ISSUER", "true", Some(r#""true""#)),
        ("JWT_AUDIENCE", "1.0", Some(r#""1.0""#)),
        ("SESSION_TTL_SECS", "7200", Some("7200")),
        (
            "PAYGRAPH_ENCRYPTION_KEY",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            Some(r#""KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=""#),
        ),
        ("PAYGRAPH_ENCRYPTION_KEY_ID", "2", Some(r#""2""#)),
        ("PAYGRAPH_GRAPHIQL", "false", Some("false")),
        ("PAYGRAPH_INTROSPECTION", "false", Some("false")),
        ("PAYGRAPH_MAX_BODY_BYTES", "131072", Some("131072")),
        ("PAYGRAPH_MAX_BATCH", "5", Some("5")),
        (
            "PAYGRAPH_CORS_ORIGINS",
            "https://app.example.com,*.example.com",
            Some(r#""https://app.example.com,*.example.com""#),
        ),
        (
            "PAYGRAPH_TRUSTED_DOCUMENTS",
            "/etc/paygraph/documents.json",
            Some(r#""/etc/paygraph/documents.json""#),
        ),
        (
            "PAYGRAPH_TRUSTED_DOCUMENTS_SUPPORT_ANY",
            "true",
            Some("true"),
        ),
        (
            "PAYGRAPH_PUBLIC_URL",
            "https://api.example.com",
            Some(r#""https://api.example.com""#),
        ),
        ("PAYGRAPH_MAX_DEPTH", "10", Some("10")),
        ("PAYGRAPH_MAX_COMPLEXITY", "500", Some("500")),
        ("PAYGRAPH_MAX_ALIASES", "5", Some("5")),
        ("PAYGRAPH_MAX_NESTING", "40", Some("40")),
        ("PAYGRAPH_MAX_TOKENS", "5000", Some("5000")),
        ("PAYGRAPH_LOG", "debug", Some(r#""debug""#)),
        ("PAYGRAPH_RATE_LIMIT_ENABLED", "false", Some("false")),
        ("PAYGRAPH_RATE_LIMIT_AUTH_LIMIT", "20", Some("20")),
        ("PAYGRAPH_RATE_LIMIT_AUTH_WINDOW_SECS", "120", Some("120")),
        ("PAYGRAPH_RATE_LIMIT_READ_LIMIT", "600", Some("600")),
        ("PAYGRAPH_RATE_LIMIT_READ_WINDOW_SECS", "30", Some("30")),
        ("PAYGRAPH_RATE_LIMIT_MONEY_LIMIT", "10", Some("10")),
        ("PAYGRAPH_RATE_LIMIT_MONEY_WINDOW_SECS", "90", Some("90")),
        ("PAYGRAPH_RATE_LIMIT_SECOND_FACTOR_LIMIT", "3", Some("3")),
        (
            "PAYGRAPH_RATE_LIMIT_SECOND_FACTOR_WINDOW_SECS",
            "600",
            Some("600"),
        ),
        ("PAYGRAPH_TRUST_PROXY", "true", Some("true")),
        ("PAYGRAPH_WS_PING_SECS", "15", Some("15")),
        ("PAYGRAPH_WS_SEND_TIMEOUT_SECS", "5", Some("5")),
        ("PAYGRAPH_WS_SESSION_CHECK_SECS", "60", Some("60")),
        ("PAYGRAPH_WS_MAX_SUBSCRIPTIONS", "8", Some("8")),
        ("PAYGRAPH_EVENT_BUFFER", "64", Some("64")),
        ("PAYGRAPH_PROCESSOR_DELAY_MS", "500", Some("500")),
        ("PAYGRAPH_SETTLEMENT_POLL_MS", "100", Some("100")),
        ("IDEMPOTENCY_RETENTION_DAYS", "7", Some("7")),
        ("PAYGRAPH_IDEMPOTENCY_PURGE_POLL_MS", "1000", Some("1000")),
        ("PAYGRAPH_IDEMPOTENCY_PURGE_BATCH", "50", Some("50")),
        ("PAYMENT_REQUEST_TTL_SECS", "3600", Some("3600")),
        ("STEP_UP_AMOUNT", "USD:100", Some(r#""USD:100.00""#)),
        ("STEP_UP_TTL_SECS", "60", Some("60")),
        (
            "SUPPORT_APPROVAL_AMOUNT",
            "USD:5000",
            Some(r#""USD:5000.00""#),
        ),
        ("CHANGE_FEED_RETENTION_SECS", "86400", Some("86400")),
        ("FEE_CARD_DEPOSIT_PERCENT", "2.90", Some(r#""2.90""#)),
        ("FEE_BANK_DEPOSIT_PERCENT", "1", Some(r#""1""#)),
        ("FEE_TRANSFER_PERCENT", "1", Some(r#""1""#)),
        ("FEE_CARD_DEPOSIT_FIXED", "USD:0.50", Some(r#""USD:0.50""#)),
        ("FEE_WITHDRAWAL_FIXED", "USD:1", Some(r#""USD:1.00""#)),
        (
            "KYC_UNVERIFIED_DAILY_LIMIT",
            "USD:500",
            Some(r#""USD:500.00""#),
        ),
        ("FRAUD_REVIEW_AMOUNT", "USD:2500", Some(r#""USD:2500.00""#)),
        ("FRAUD_VELOCITY_MAX", "10", Some("10")),
        ("FRAUD_VELOCITY_WINDOW_SECS", "600", Some("600")),
        ("FRAUD_NEW_ACCOUNT_DAYS", "7", Some("7")),
        ("FRAUD_WEIGHT_AMOUNT", "60", Some("60")),
        ("FRAUD_WEIGHT_VELOCITY", "65", Some("65")),
        ("FRAUD_WEIGHT_NEW_RECIPIENT", "10", Some("10")),
        ("FRAUD_WEIGHT_NEW_ACCOUNT", "15", Some("15")),
        ("FRAUD_REVIEW_SCORE", "50", Some("50")),
    ];

    /// The variables named in the first column of docs/configuration.md.
    fn documented() -> Vec<String> {
        include_str!("../docs/configuration.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| "))
            .filter_map(|row| row.split(" | ").next())
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect()
    }

    /// Each setting's value by its environment name, as serde writes it,
    /// with the secrets (which serde leaves out) exposed.
    fn by_name(config: &Config) -> BTreeMap<String, serde_json::Value> {
        let tree = serde_json::to_value(config).expect("a config serialises");
        let mut values: BTreeMap<_, _> = settings()
            .into_iter()
            .map(|s| {
                let value = s.path.iter().fold(&tree, |v, field| &v[field]);
                (s.name, value.clone())
            })
            .collect();
        let shown = |s: &SecretString| serde_json::Value::from(s.expose_secret());
        let optional = |s: &Option<SecretString>| s.as_ref().map_or(serde_json::Value::Null, shown);
        for (name, value) in [
            ("DATABASE_URL", shown(&config.database.url)),
            ("DATABASE_READ_URL", optional(&config.database.read_url)),
            ("REDIS_URL", optional(&config.redis.url)),
            ("JWT_SECRET", optional(&config.auth.jwt.secret)),
            (
                "PAYGRAPH_ENCRYPTION_KEY",
                optional(&config.auth.encryption.key),
            ),
        ] {
            assert!(values.contains_key(name), "{name} is a setting");
            values.insert(name.to_owned(), value);
        }
        values
    }

    /// Each documented setting, written plainly in the environment,
    /// changes the setting of that name, and only it, to the value
    /// written; every setting of the structure is documented, and no two
    /// have one name.
    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment's own Result"
    )]
    fn every_documented_setting_takes_its_plain_written_form() {
        let defaults = by_name(&Config::default());
        assert_eq!(
            defaults.len(),
            settings().len(),
            "two settings share a name"
        );
        let mut set = std::collections::BTreeSet::new();
        for name in documented() {
            let (_, written, expected) = WRITTEN
                .iter()
                .find(|(n, _, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is documented: give it a value in WRITTEN"));
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(&name, written);
                let config = Config::from_env().map_err(|e| format!("{name}={written}: {e}"))?;
                let changed: Vec<_> = by_name(&config)
                    .into_iter()
                    .filter(|(setting, value)| defaults[setting] != *value)
                    .collect();
                match expected {
                    None => assert!(changed.is_empty(), "{name}: {changed:?}"),
                    Some(expected) => {
                        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
                        assert_eq!(changed.len(), 1, "{name}={written}: {changed:?}");
                        assert_eq!(changed[0].0, name, "{name}={written}");
                        assert_eq!(changed[0].1, expected, "{name}={written}");
                        set.insert(name.clone());
                    }
                }
                Ok(())
            });
        }
        let undocumented: Vec<_> = defaults.keys().filter(|n| !set.contains(*n)).collect();
        assert!(
            undocumented.is_empty(),
            "settings missing from docs/configuration.md: {undocumented:?}"
        );
    }

    /// Keys and the URLs that may hold passwords, each set: the config
    /// reads them, and neither its `Debug` nor what serde writes of it
    /// shows any.
    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment's own Result"
    )]
    fn secrets_show_in_neither_debug_nor_serialize() {
        const SECRETS: &[(&str, &str, &str)] = &[
            (
                "JWT_SECRET",
                "jwt-signing-key-0123456789abcdefghij",
                "jwt-signing-key",
            ),
            (
                "PAYGRAPH_ENCRYPTION_KEY",
                "c2VjcmV0LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzISE=",
                "c2VjcmV0LWVuY3J5cHRpb24ta2V5",
            ),
            (
                "DATABASE_URL",
                "postgres://app:db-password@db/pay",
                "db-password",
            ),
            (
                "DATABASE_READ_URL",
                "postgres://reader:replica-password@replica/pay",
                "replica-password",
            ),
            (
                "REDIS_URL",
                "rediss://:redis-token@cache:6379",
                "redis-token",
            ),
        ];
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (name, value, _) in SECRETS {
                jail.set_env(name, value);
            }
            let config = Config::from_env()?;
            let values = by_name(&config);
            let outputs = [
                format!("{config:?}"),
                format!("{config:#?}"),
                serde_json::to_string(&config).unwrap(),
                format!("{:?}", figment::value::Value::serialize(&config).unwrap()),
                format!("{:?}", defaults()),
            ];
            for (name, value, part) in SECRETS {
                assert_eq!(values[*name], *value, "{name} is read");
                for output in &outputs {
                    assert!(!output.contains(part), "{name} shows in {output}");
                }
            }
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment's own Result"
    )]
    fn a_file_supplies_what_the_environment_leaves_unset() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "paygraph.toml",
                "[database]\nmax_connections = 60\nmin_connections = 2\n\
                 [rate_limits.auth]\nlimit = 3\n\
                 [fees]\ntransfer_percent = 1.5\n",
            )?;
            jail.set_env("PAYGRAPH_CONFIG", "paygraph.toml");
            jail.set_env("DATABASE_MIN_CONNECTIONS", "5");
            let c = Config::from_env()?;
            assert_eq!(c.database.max_connections, 60);
            assert_eq!(c.database.min_connections, 5);
            assert_eq!(c.rate_limits.auth.limit, 3);
            assert_eq!(c.rate_limits.auth.window, Duration::from_secs(60));
            assert_eq!(c.fees.transfer_percent, Decimal::new(15, 1));
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment's own Result"
    )]
    fn a_value_that_does_not_read_is_refused_by_its_name() {
        for (name, value) in [
            ("FEE_CARD_DEPOSIT_FIXED", "USD"),
            ("FEE_TRANSFER_PERCENT", "100"),
            ("PAYGRAPH_WS_PING_SECS", "soon"),
            ("PAYGRAPH_RATE_LIMIT_MONEY_WINDOW_SECS", "-1"),
            ("PAYGRAPH_NO_SUCH_SETTING", "1"),
        ] {
            figment::Jail::expect_with(|jail| {
                jail.clear_env();
                jail.set_env(name, value);
                let error = Config::from_env().unwrap_err();
                assert!(error.contains(name), "{name}={value}: {error}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("PAYGRAPH_TEST_SERVER", "elsewhere");
            Config::from_env()?;
            Ok(())
        });
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_by_its_name() {
        let mut c = Config::default();
        c.audit.aws_endpoint_url.sqs = Some("127.0.0.1:5055".into());
        assert!(c.validate().unwrap_err().contains("AWS_ENDPOINT_URL_SQS"));
        c.audit.aws_endpoint_url.sqs = Some("http://127.0.0.1:5055".into());
        c.server.public_url = Some("api.example.com".into());
        assert!(c.validate().unwrap_err().contains("PAYGRAPH_PUBLIC_URL"));
        c.server.public_url = Some("https://api.example.com".into());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn dev_keys_live_beside_the_sqlite_file() {
        let mut c = Config::default();
        c.database.url = "sqlite://data/pg.db?mode=rwc".into();
        assert_eq!(
            c.dev_keys_path(),
            Some(PathBuf::from("data/pg.db.keys.json"))
        );
    }

    #[test]
    fn a_database_url_of_another_kind_is_refused() {
        let mut c = Config::default();
        c.database.url = "mysql://localhost/x".into();
        assert!(c.validate().unwrap_err().contains("DATABASE_URL"));
    }

    #[test]
    fn document_nesting_stops_where_the_parser_does() {
        let mut c = Config::default();
        c.graphql.max_nesting = PARSER_MAX_NESTING;
        assert!(c.validate().is_ok());
        c.graphql.max_nesting = PARSER_MAX_NESTING + 1;
        assert!(c.validate().unwrap_err().contains("PAYGRAPH_MAX_NESTING"));
    }

    #[test]
    fn a_read_replica_is_postgresql_and_unset_by_default() {
        let mut c = Config::default();
        assert!(c.database.read_url.is_none());
        assert_eq!(c.database.read_max_lag, Duration::from_millis(1000));
        c.database.read_url = Some("sqlite://replica.db".into());
        assert!(c.validate().unwrap_err().contains("DATABASE_READ_URL"));
    }

    #[test]
    // Each worker has a connection of its own, beside the pool; the pool's
    // size still bounds how many an instance may open.
    fn transfer_workers_are_bounded_by_the_pool_size() {
        for workers in [0, 51] {
            let mut c = Config::default();
            c.workers.transfer_workers = workers;
            assert!(
                c.validate()
                    .unwrap_err()
                    .contains("PAYGRAPH_TRANSFER_WORKERS")
            );
        }
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn several_redis_nodes_are_a_clusters_seeds() {
        let mut c = Config::default();
        c.redis.url = Some("redis://10.0.0.1:6379,redis://10.0.0.2:6379".into());
        assert!(c.validate().unwrap_err().contains("REDIS_CLUSTER"));
        c.redis.cluster = true;
        assert!(c.validate().is_ok());
        let mut bad_seed = c.clone();
        bad_seed.redis.url = Some("redis://10.0.0.1:6379,10.0.0.2:6379".into());
        assert!(bad_seed.validate().unwrap_err().contains("REDIS_URL"));
        c.redis.key_prefix = "{prod}:".into();
        assert!(c.validate().unwrap_err().contains("REDIS_KEY_PREFIX"));
    }
}
