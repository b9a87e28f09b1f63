//! Typed configuration from the environment (api.md's table).
//!
//! Environment variables always win; an optional TOML file named by
//! `PAYGRAPH_CONFIG` may supply what the environment leaves unset.
//!
//! A variable's value is taken as written, as text: figment reads numbers
//! and switches out of it where a setting is one (`extract_lossy`), so
//! `FEE_TRANSFER_PERCENT=1` stays the text `1` and `JWT_KEY_ID=007` keeps
//! its zeros, where figment's `Env` would first have made them numbers.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::{Dict, Value},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `PAYGRAPH_ADDR`
    pub addr: SocketAddr,
    /// `DATABASE_URL`
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`: the seed's pool (20) plus its overflow (30).
    pub database_max_connections: u32,
    /// `DATABASE_MIN_CONNECTIONS`
    pub database_min_connections: u32,
    /// `DATABASE_MAX_LIFETIME_SECS`: the seed's `pool_recycle`.
    pub database_max_lifetime_secs: u64,
    /// `DATABASE_READ_URL`: a streaming read replica of the PostgreSQL
    /// primary, for the reporting reads (`db::reads`); unset, every read
    /// goes to the primary. SQLite has none. Holds a password: never
    /// logged.
    pub database_read_url: Option<String>,
    /// `DATABASE_READ_MAX_LAG_MS`: a replica further behind the primary
    /// than this is not read from.
    pub database_read_max_lag_ms: u64,
    /// `PAYGRAPH_DB_RETRY_ATTEMPTS`: attempts in all (the first included)
    /// of database work that failed for a reason of the moment (a lost
    /// connection, a deadlock) before the client gets UNAVAILABLE.
    pub db_retry_attempts: u32,
    /// `PAYGRAPH_DB_RETRY_BUDGET_MS`: no attempt starts after this long
    /// from the first.
    pub db_retry_budget_ms: u64,
    /// `REDIS_URL`; unset means the in-process cache. With
    /// `REDIS_CLUSTER`, one or more seed nodes, comma-separated.
    pub redis_url: Option<String>,
    /// `REDIS_CLUSTER`: `REDIS_URL` names nodes of a Redis Cluster (cluster
    /// mode enabled), whose keys are spread over its shards.
    pub redis_cluster: bool,
    /// `REDIS_TLS_CA_FILE`: a PEM file with the CA that a `rediss://`
    /// server's certificate is checked against, instead of the public
    /// roots (ElastiCache needs none).
    pub redis_tls_ca_file: Option<PathBuf>,
    /// `REDIS_POOL_SIZE`
    pub redis_pool_size: u32,
    /// `REDIS_KEY_PREFIX`: lets environments (and tests) share one Redis.
    pub redis_key_prefix: String,
    /// `REDIS_TIMEOUT_MS`: the longest one Redis call may take (taking a
    /// pooled connection included) before it counts as a failure.
    pub redis_timeout_ms: u64,
    /// `REDIS_BREAKER_OPEN_MS`: after a failure, how long every call skips
    /// Redis (sessions read the database, rate limits count per instance)
    /// before one call probes it again.
    pub redis_breaker_open_ms: u64,
    /// `AUDIT_STORE`
    pub audit_store: AuditStoreKind,
    /// `DYNAMODB_TABLE_PREFIX`
    pub dynamodb_table_prefix: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB`: a local emulator, say. Read here as well
    /// as by aws-config so that tests can point each app at its own
    /// endpoint; with it set, the SDK gets fixed dummy credentials.
    pub dynamodb_endpoint: Option<String>,
    /// `AUDIT_SQS_QUEUE_URL`: every delivered audit event is sent to this
    /// queue too; unset, none is.
    pub audit_sqs_queue_url: Option<String>,
    /// `AWS_ENDPOINT_URL_SQS`: a local emulator, say (as
    /// `AWS_ENDPOINT_URL_DYNAMODB`).
    pub sqs_endpoint: Option<String>,
    /// `PAYGRAPH_AUDIT_RELAY_POLL_MS`: how often the relay looks for due
    /// outbox rows when the last look found none.
    pub audit_relay_poll_ms: u64,
    /// `PAYGRAPH_AUDIT_RELAY_BATCH`: outbox rows claimed per round. Under
    /// load every round is full, and a round's statements share
    /// PostgreSQL's CPU with the transfer workers', so fewer, larger rounds
    /// cost less per event.
    pub audit_relay_batch: u64,
    /// `PAYGRAPH_TRANSFER_WORKERS`: transfer batches run at once by this
    /// instance on PostgreSQL (SQLite has one writer, so one worker). One
    /// makes the largest batches; more overlap round trips to a distant
    /// database.
    pub transfer_workers: usize,
    /// `PAYGRAPH_TRANSFER_WORKERS_FIRST`: for a host whose CPUs the
    /// database shares, the threads that serve requests step down in
    /// niceness so that the transfer workers get a CPU first (see
    /// `priority`). Off by default: where the database has a host of its
    /// own, it buys nothing and changes the whole process's scheduling.
    pub transfer_workers_first: bool,
    /// `PAYGRAPH_AUDIT_RELAY_MAX_BACKOFF_MS`: the longest wait before an
    /// outbox row that failed is tried again.
    pub audit_relay_max_backoff_ms: u64,
    /// `PAYGRAPH_AUDIT_RELAY_LEASE_MS`: how long a claimed outbox row stays
    /// out of other relays' reach. The relay renews the lease while its
    /// batch is in flight, so this only bounds how long the rows of a relay
    /// that died (its instance or its connection killed) wait for another.
    pub audit_relay_lease_ms: u64,
    /// `PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS`: failed deliveries of one outbox
    /// row before it moves to the dead-letter table (`paygraph audit
    /// dead-letters`).
    pub audit_relay_max_attempts: u32,
    /// `PAYGRAPH_AUDIT_STORE_TIMEOUT_MS`: the longest one call to the audit
    /// store (DynamoDB or the embedded tables) may take before it counts as
    /// failed: a relay round then fails and is retried, a read answers
    /// UNAVAILABLE.
    pub audit_store_timeout_ms: u64,
    /// `JWT_SECRET` (at least 32 bytes). Generated for the embedded default.
    pub jwt_secret: Option<String>,
    /// `JWT_KEY_ID`: the `kid` put in and required of every token.
    pub jwt_key_id: String,
    /// `JWT_ISSUER`
    pub jwt_issuer: String,
    /// `JWT_AUDIENCE`
    pub jwt_audience: String,
    /// `SESSION_TTL_SECS`: the seed's session TTL; tokens expire with it.
    pub session_ttl_secs: u64,
    /// `PAYGRAPH_ENCRYPTION_KEY`: base64 of 32 bytes. Generated for the embedded default.
    pub encryption_key: Option<String>,
    /// `PAYGRAPH_ENCRYPTION_KEY_ID`
    pub encryption_key_id: String,
    /// `PAYGRAPH_GRAPHIQL`
    pub graphiql: bool,
    /// `PAYGRAPH_INTROSPECTION`
    pub introspection: bool,
    /// `PAYGRAPH_MAX_BODY_BYTES`
    pub max_body_bytes: usize,
    /// `PAYGRAPH_CORS_ORIGINS`: browser origins allowed to call the API
    /// (http::cors reads the list); unset, the embedded default allows
    /// `http://localhost:*` and `http://127.0.0.1:*`, others none.
    pub cors_origins: Option<String>,
    /// `PAYGRAPH_PUBLIC_URL`: where clients reach this service
    /// (`https://api.example.com`), for the links it hands out (statement
    /// exports); unset, the address it listens on.
    pub public_url: Option<String>,
    /// `PAYGRAPH_MAX_BATCH`: operations in one batched request (a JSON
    /// array); each is counted and limited as if sent alone.
    pub max_batch: usize,
    /// `PAYGRAPH_TRUSTED_DOCUMENTS`: a persisted-query manifest (Apollo's
    /// format); set, callers run only its operations. Read at start-up.
    pub trusted_documents: Option<PathBuf>,
    /// `PAYGRAPH_TRUSTED_DOCUMENTS_SUPPORT_ANY`: support agents may still
    /// run any document (the support console's ad hoc queries).
    pub trusted_documents_support_any: bool,
    /// `PAYGRAPH_MAX_DEPTH`
    pub max_depth: usize,
    /// `PAYGRAPH_MAX_COMPLEXITY`
    pub max_complexity: usize,
    /// `PAYGRAPH_MAX_ALIASES`
    pub max_aliases: usize,
    /// `PAYGRAPH_MAX_NESTING`: brackets (`{`, `[`, `(`) may nest this deep
    /// in a document; checked on the text before it is parsed.
    pub max_nesting: usize,
    /// `PAYGRAPH_MAX_TOKENS`: lexical tokens in one document.
    pub max_tokens: usize,
    /// `PAYGRAPH_LOG`: a tracing filter.
    pub log: String,
    /// `PAYGRAPH_RATE_LIMIT_ENABLED`
    pub rate_limit_enabled: bool,
    /// `PAYGRAPH_RATE_LIMIT_AUTH_LIMIT` per `..._WINDOW_SECS`: `register`,
    /// `login` (keyed by client address: they are anonymous).
    pub rate_limit_auth_limit: u32,
    pub rate_limit_auth_window_secs: u64,
    /// `PAYGRAPH_RATE_LIMIT_READ_*`: queries and every other mutation.
    pub rate_limit_read_limit: u32,
    pub rate_limit_read_window_secs: u64,
    /// `PAYGRAPH_RATE_LIMIT_MONEY_*`: `deposit`, `transfer`, `withdraw`,
    /// `createWallet`, `holdFunds`, `releaseHold`, `refundTransaction`.
    pub rate_limit_money_limit: u32,
    pub rate_limit_money_window_secs: u64,
    /// `PAYGRAPH_RATE_LIMIT_SECOND_FACTOR_*`: wrong passwords and wrong
    /// second-factor codes, counted per account and per client address;
    /// past the limit each further try lengthens the wait.
    pub rate_limit_second_factor_limit: u32,
    pub rate_limit_second_factor_window_secs: u64,
    /// `PAYGRAPH_TRUST_PROXY`: take the client address from the rightmost
    /// `X-Forwarded-For` entry (the one our own proxy appended). Off, the
    /// header is ignored: anyone can write it.
    pub trust_proxy: bool,
    /// `PAYGRAPH_WS_PING_SECS`: WebSocket ping interval; a socket that has
    /// sent nothing for three intervals is closed.
    pub ws_ping_secs: u64,
    /// `PAYGRAPH_WS_SEND_TIMEOUT_SECS`: a socket that does not take a
    /// message within this time is dropped (a slow reader is not buffered).
    pub ws_send_timeout_secs: u64,
    /// `PAYGRAPH_WS_SESSION_CHECK_SECS`: how often an open socket's session is
    /// checked again, so logout or expiry ends its subscriptions.
    pub ws_session_check_secs: u64,
    /// `PAYGRAPH_WS_MAX_SUBSCRIPTIONS`: subscriptions one socket may hold.
    pub ws_max_subscriptions: usize,
    /// `PAYGRAPH_EVENT_BUFFER`: events buffered for each user with
    /// subscriptions on the instance (each such user has a channel of this
    /// capacity); a subscriber that falls further behind is disconnected.
    pub event_buffer: usize,

    /// `PAYGRAPH_PROCESSOR_DELAY_MS`: how long the payment simulator takes to settle.
    pub processor_delay_ms: u64,
    /// `PAYGRAPH_SETTLEMENT_POLL_MS`: how often the settlement worker looks for due work.
    pub settlement_poll_ms: u64,
    /// `IDEMPOTENCY_RETENTION_DAYS`: how long an idempotency key answers
    /// with its first result; older keys are purged in the background.
    pub idempotency_retention_days: u32,
    /// `PAYGRAPH_IDEMPOTENCY_PURGE_POLL_MS`: how often the purge looks for
    /// keys past their retention.
    pub idempotency_purge_poll_ms: u64,
    /// `PAYGRAPH_IDEMPOTENCY_PURGE_BATCH`: keys deleted per statement, so
    /// that no purge holds locks on many rows at once.
    pub idempotency_purge_batch: u64,
    /// `PAYMENT_REQUEST_TTL_SECS`: how long a payment request stays payable.
    pub payment_request_ttl_secs: u64,
    /// `SUPPORT_APPROVAL_AMOUNT`, per currency: refunds and holds at or
    /// above it wait for a second agent.
    pub support_approval_amount: String,
    /// `STEP_UP_AMOUNT`, per currency: `transfer`, `withdraw` and
    /// `payPaymentRequest` at or above it need a step-up of the session.
    pub step_up_amount: String,
    /// `STEP_UP_TTL_SECS`: how long a step-up lasts.
    pub step_up_ttl_secs: u64,
    /// `CHANGE_FEED_RETENTION_SECS`: how long the change feed keeps a
    /// change; a cursor older than this is refused (`CURSOR_EXPIRED`), and
    /// older changes are purged with the idempotency keys.
    pub change_feed_retention_secs: u64,
    /// `FEE_CARD_DEPOSIT_PERCENT`, e.g. `2.9`.
    pub fee_card_deposit_percent: String,
    /// `FEE_CARD_DEPOSIT_FIXED`, per currency: `USD:0.30,JPY:30`.
    pub fee_card_deposit_fixed: String,
    /// `FEE_BANK_DEPOSIT_PERCENT`
    pub fee_bank_deposit_percent: String,
    /// `FEE_TRANSFER_PERCENT` (P2P is free by default).
    pub fee_transfer_percent: String,
    /// `FEE_WITHDRAWAL_FIXED`, per currency.
    pub fee_withdrawal_fixed: String,
    /// `KYC_UNVERIFIED_DAILY_LIMIT`, per currency: what a user whose KYC is
    /// not verified may send (transfers and withdrawals) per UTC day.
    pub kyc_unverified_daily_limit: String,
    /// `FRAUD_REVIEW_AMOUNT`, per currency: amounts at or above it score `FRAUD_WEIGHT_AMOUNT`.
    pub fraud_review_amount: String,
    /// `FRAUD_VELOCITY_MAX` outgoing payments within `FRAUD_VELOCITY_WINDOW_SECS`.
    pub fraud_velocity_max: u64,
    pub fraud_velocity_window_secs: i64,
    /// `FRAUD_NEW_ACCOUNT_DAYS`: accounts younger than this score `FRAUD_WEIGHT_NEW_ACCOUNT`.
    pub fraud_new_account_days: i64,
    /// `FRAUD_REVIEW_SCORE`: at or above it a transfer is held for review.
    pub fraud_review_score: u32,
    pub fraud_weight_amount: u32,
    pub fraud_weight_velocity: u32,
    pub fraud_weight_new_recipient: u32,
    pub fraud_weight_new_account: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStoreKind {
    Embedded,
    Dynamodb,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://paygraph.db?mode=rwc".into(),
            database_max_connections: 50,
            database_min_connections: 1,
            database_max_lifetime_secs: 3600,
            database_read_url: None,
            database_read_max_lag_ms: 1000,
            db_retry_attempts: 10,
            db_retry_budget_ms: 5_000,
            redis_url: None,
            redis_cluster: false,
            redis_tls_ca_file: None,
            redis_pool_size: 32,
            redis_key_prefix: String::new(),
            redis_timeout_ms: 250,
            redis_breaker_open_ms: 1000,
            audit_store: AuditStoreKind::Embedded,
            dynamodb_table_prefix: String::new(),
            dynamodb_endpoint: None,
            audit_sqs_queue_url: None,
            sqs_endpoint: None,
            audit_relay_poll_ms: 1_000,
            audit_relay_batch: 500,
            transfer_workers: 1,
            transfer_workers_first: false,
            audit_relay_max_backoff_ms: 60_000,
            audit_relay_lease_ms: 10_000,
            audit_relay_max_attempts: 100,
            audit_store_timeout_ms: 5_000,
            jwt_secret: None,
            jwt_key_id: "paygraph-1".into(),
            jwt_issuer: "paygraph".into(),
            jwt_audience: "paygraph-api".into(),
            session_ttl_secs: 3600,
            encryption_key: None,
            encryption_key_id: "k1".into(),
            graphiql: true,
            introspection: true,
            max_body_bytes: 64 * 1024,
            max_batch: 10,
            cors_origins: None,
            trusted_documents: None,
            trusted_documents_support_any: false,
            public_url: None,
            max_depth: 12,
            max_complexity: 2_000,
            max_aliases: 30,
            max_nesting: 64,
            max_tokens: 10_000,
            log: "info,sqlx=warn".into(),
            rate_limit_enabled: true,
            rate_limit_auth_limit: 10,
            rate_limit_auth_window_secs: 60,
            rate_limit_read_limit: 300,
            rate_limit_read_window_secs: 60,
            rate_limit_money_limit: 30,
            rate_limit_money_window_secs: 60,
            rate_limit_second_factor_limit: 5,
            rate_limit_second_factor_window_secs: 900,
            trust_proxy: false,
            ws_ping_secs: 20,
            ws_send_timeout_secs: 10,
            ws_session_check_secs: 30,
            ws_max_subscriptions: 32,
            event_buffer: 256,
            processor_delay_ms: 2000,
            settlement_poll_ms: 250,
            idempotency_retention_days: 30,
            idempotency_purge_poll_ms: 60_000,
            idempotency_purge_batch: 500,
            payment_request_ttl_secs: 604_800,
            step_up_amount: "USD:500,EUR:500,GBP:400,JPY:75000".into(),
            step_up_ttl_secs: 300,
            support_approval_amount: "USD:1000,EUR:1000,GBP:800,JPY:150000".into(),
            change_feed_retention_secs: 604_800,
            fee_card_deposit_percent: "2.9".into(),
            fee_card_deposit_fixed: "USD:0.30,EUR:0.25,GBP:0.20,JPY:30,KWD:0.100".into(),
            fee_bank_deposit_percent: "0".into(),
            fee_transfer_percent: "0".into(),
            fee_withdrawal_fixed: "USD:0.25,EUR:0.25,GBP:0.25,JPY:25,KWD:0.075".into(),
            kyc_unverified_daily_limit: "USD:1000,EUR:1000,GBP:1000,JPY:150000,KWD:300".into(),
            fraud_review_amount: "USD:5000,EUR:5000,GBP:5000,JPY:750000,KWD:1500".into(),
            fraud_velocity_max: 20,
            fraud_velocity_window_secs: 3600,
            fraud_new_account_days: 1,
            fraud_review_score: 70,
            fraud_weight_amount: 70,
            fraud_weight_velocity: 70,
            fraud_weight_new_recipient: 20,
            fraud_weight_new_account: 20,
        }
    }
}

/// Maps variable names that do not carry the `PAYGRAPH_` prefix in api.md.
const UNPREFIXED: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_MIN_CONNECTIONS",
    "DATABASE_MAX_LIFETIME_SECS",
    "DATABASE_READ_URL",
    "DATABASE_READ_MAX_LAG_MS",
    "REDIS_URL",
    "REDIS_CLUSTER",
    "REDIS_TLS_CA_FILE",
    "REDIS_POOL_SIZE",
    "REDIS_KEY_PREFIX",
    "REDIS_TIMEOUT_MS",
    "REDIS_BREAKER_OPEN_MS",
    "AUDIT_STORE",
    "DYNAMODB_TABLE_PREFIX",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AUDIT_SQS_QUEUE_URL",
    "AWS_ENDPOINT_URL_SQS",
    "JWT_SECRET",
    "JWT_KEY_ID",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "SESSION_TTL_SECS",
    "IDEMPOTENCY_RETENTION_DAYS",
    "PAYMENT_REQUEST_TTL_SECS",
    "SUPPORT_APPROVAL_AMOUNT",
    "STEP_UP_AMOUNT",
    "STEP_UP_TTL_SECS",
    "CHANGE_FEED_RETENTION_SECS",
    "FEE_CARD_DEPOSIT_PERCENT",
    "FEE_CARD_DEPOSIT_FIXED",
    "FEE_BANK_DEPOSIT_PERCENT",
    "FEE_TRANSFER_PERCENT",
    "FEE_WITHDRAWAL_FIXED",
    "KYC_UNVERIFIED_DAILY_LIMIT",
    "FRAUD_REVIEW_AMOUNT",
    "FRAUD_VELOCITY_MAX",
    "FRAUD_VELOCITY_WINDOW_SECS",
    "FRAUD_NEW_ACCOUNT_DAYS",
    "FRAUD_REVIEW_SCORE",
    "FRAUD_WEIGHT_AMOUNT",
    "FRAUD_WEIGHT_VELOCITY",
    "FRAUD_WEIGHT_NEW_RECIPIENT",
    "FRAUD_WEIGHT_NEW_ACCOUNT",
];

impl Config {
    /// Reads the configuration; the error names the offending setting.
    pub fn from_env() -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Ok(path) = std::env::var("PAYGRAPH_CONFIG") {
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(as_written(Env::raw().only(UNPREFIXED).map(|k| {
                if k == "AWS_ENDPOINT_URL_DYNAMODB" {
                    "dynamodb_endpoint".into()
                } else if k == "AWS_ENDPOINT_URL_SQS" {
                    "sqs_endpoint".into()
                } else {
                    k.as_str().to_lowercase().into()
                }
            })))
            .merge(as_written(
                Env::prefixed("PAYGRAPH_")
                    .ignore(&["CONFIG"])
                    // `PAYGRAPH_TEST_*` belong to the test harness (the
                    // servers tests use), not to the service: a command run
                    // from a test must not refuse them as unknown settings.
                    .filter(|k| !k.as_str().to_ascii_lowercase().starts_with("test_"))
                    .map(|k| k.as_str().to_lowercase().into()),
            ))
            .extract_lossy()
            .map_err(|e| format!("configuration error: {}", first_line(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let bad = |name: &str, why: &str| Err(format!("configuration error: {name} {why}"));
        if !(self.is_sqlite() || self.database_url.starts_with("postgres")) {
            return bad("DATABASE_URL", "must start with postgres:// or sqlite://");
        }
        if let Some(url) = &self.database_read_url
            && !url.starts_with("postgres")
        {
            return bad("DATABASE_READ_URL", "must start with postgres://");
        }
        if let Some(url) = &self.redis_url {
            let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
            if nodes
                .iter()
                .any(|u| !(u.starts_with("redis://") || u.starts_with("rediss://")))
            {
                return bad("REDIS_URL", "must start with redis:// or rediss://");
            }
            if nodes.len() > 1 && !self.redis_cluster {
                return bad(
                    "REDIS_URL",
                    "names one node unless REDIS_CLUSTER=true (then seed nodes, comma-separated)",
                );
            }
        }
        if self.redis_cluster && self.redis_key_prefix.contains(['{', '}']) {
            return bad(
                "REDIS_KEY_PREFIX",
                "must not contain { or } with REDIS_CLUSTER: a hash tag there would put every key in one slot",
            );
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return bad("PAYGRAPH_PUBLIC_URL", "must start with http:// or https://");
        }
        if self.database_max_connections == 0
            || self.database_min_connections > self.database_max_connections
        {
            return bad(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least DATABASE_MIN_CONNECTIONS and above 0",
            );
        }
        if self.db_retry_attempts == 0 {
            return bad("PAYGRAPH_DB_RETRY_ATTEMPTS", "must be at least 1");
        }
        if self.transfer_workers == 0
            || self.transfer_workers > self.database_max_connections as usize
        {
            return bad(
                "PAYGRAPH_TRANSFER_WORKERS",
                "must be at least 1 and at most DATABASE_MAX_CONNECTIONS",
            );
        }
        if self.audit_relay_poll_ms == 0 || self.audit_relay_batch == 0 {
            return bad(
                "PAYGRAPH_AUDIT_RELAY_POLL_MS",
                "and PAYGRAPH_AUDIT_RELAY_BATCH must be above 0",
            );
        }
        if self.audit_relay_lease_ms < 100 {
            return bad("PAYGRAPH_AUDIT_RELAY_LEASE_MS", "must be at least 100");
        }
        if self.audit_relay_max_attempts == 0 || self.audit_relay_max_attempts > i32::MAX as u32 {
            return bad("PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS", "must be at least 1");
        }
        if self.audit_store_timeout_ms == 0 {
            return bad("PAYGRAPH_AUDIT_STORE_TIMEOUT_MS", "must be above 0");
        }
        if self.payment_request_ttl_secs == 0 || self.payment_request_ttl_secs > 10 * 365 * 86_400 {
            return bad(
                "PAYMENT_REQUEST_TTL_SECS",
                "must be from 1 to ten years of seconds",
            );
        }
        if self.step_up_ttl_secs == 0 || self.step_up_ttl_secs > 86_400 {
            return bad("STEP_UP_TTL_SECS", "must be from 1 to 86400");
        }
        if self.change_feed_retention_secs == 0
            || self.change_feed_retention_secs > 10 * 365 * 86_400
        {
            return bad(
                "CHANGE_FEED_RETENTION_SECS",
                "must be from 1 to ten years of seconds",
            );
        }
        if self.idempotency_retention_days == 0 {
            return bad("IDEMPOTENCY_RETENTION_DAYS", "must be at least 1");
        }
        if self.idempotency_purge_poll_ms == 0 || self.idempotency_purge_batch == 0 {
            return bad(
                "PAYGRAPH_IDEMPOTENCY_PURGE_POLL_MS",
                "and PAYGRAPH_IDEMPOTENCY_PURGE_BATCH must be above 0",
            );
        }
        let r = self;
        for (name, limit, window) in [
            (
                "PAYGRAPH_RATE_LIMIT_AUTH",
                r.rate_limit_auth_limit,
                r.rate_limit_auth_window_secs,
            ),
            (
                "PAYGRAPH_RATE_LIMIT_READ",
                r.rate_limit_read_limit,
                r.rate_limit_read_window_secs,
            ),
            (
                "PAYGRAPH_RATE_LIMIT_MONEY",
                r.rate_limit_money_limit,
                r.rate_limit_money_window_secs,
            ),
            (
                "PAYGRAPH_RATE_LIMIT_SECOND_FACTOR",
                r.rate_limit_second_factor_limit,
                r.rate_limit_second_factor_window_secs,
            ),
        ] {
            if limit == 0 || window == 0 {
                return Err(format!(
                    "configuration error: {name}_LIMIT and {name}_WINDOW_SECS must be above 0"
                ));
            }
        }
        if self.ws_ping_secs == 0 || self.ws_send_timeout_secs == 0 || self.event_buffer == 0 {
            return bad(
                "PAYGRAPH_WS_PING_SECS",
                "PAYGRAPH_WS_SEND_TIMEOUT_SECS and PAYGRAPH_EVENT_BUFFER must be above 0",
            );
        }
        crate::http::Origins::from_config(self)?;
        if self.max_batch == 0 {
            return bad("PAYGRAPH_MAX_BATCH", "must be at least 1");
        }
        // A selection `max_depth` deep nests one bracket more than that.
        if self.max_nesting <= self.max_depth {
            return bad("PAYGRAPH_MAX_NESTING", "must be above PAYGRAPH_MAX_DEPTH");
        }
        crate::ledger::LedgerSettings::from_config(self)?;
        if self.session_ttl_secs < 60 {
            return bad("SESSION_TTL_SECS", "must be at least 60");
        }
        if self.redis_timeout_ms == 0 || self.redis_breaker_open_ms == 0 {
            return bad(
                "REDIS_TIMEOUT_MS",
                "and REDIS_BREAKER_OPEN_MS must be above 0",
            );
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Where the embedded default keeps its generated development keys:
    /// beside the SQLite file.
    pub fn dev_keys_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite:")?;
        let path = rest.trim_start_matches("//").split('?').next()?;
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(PathBuf::from(format!("{path}.keys.json")))
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }
}

/// The variables `env` selects, each value the text it was written as.
fn as_written(env: Env) -> Serialized<Dict> {
    let values: Dict = env
        .iter()
        .map(|(key, value)| (key.into_string(), Value::from(value)))
        .collect();
    Serialized::defaults(values)
}

/// figment's errors name the key and then add a chain; one line is enough.
fn first_line(e: &figment::Error) -> String {
    let key = e.path.last().map(|k| k.to_uppercase());
    let msg = e.kind.to_string();
    match key {
        Some(k) => format!("{k}: {msg}"),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting docs/configuration.md lists, as an operator would
    /// write it, and the value the service must read from it (as JSON);
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
        ("PAYGRAPH_MAX_NESTING", "100", Some("100")),
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
        ("STEP_UP_AMOUNT", "USD:100", Some(r#""USD:100""#)),
        ("STEP_UP_TTL_SECS", "60", Some("60")),
        ("SUPPORT_APPROVAL_AMOUNT", "USD:5000", Some(r#""USD:5000""#)),
        ("CHANGE_FEED_RETENTION_SECS", "86400", Some("86400")),
        ("FEE_CARD_DEPOSIT_PERCENT", "2.90", Some(r#""2.90""#)),
        ("FEE_BANK_DEPOSIT_PERCENT", "1", Some(r#""1""#)),
        ("FEE_TRANSFER_PERCENT", "1", Some(r#""1""#)),
        ("FEE_CARD_DEPOSIT_FIXED", "USD:0.50", Some(r#""USD:0.50""#)),
        ("FEE_WITHDRAWAL_FIXED", "USD:1", Some(r#""USD:1""#)),
        (
            "KYC_UNVERIFIED_DAILY_LIMIT",
            "USD:500",
            Some(r#""USD:500""#),
        ),
        ("FRAUD_REVIEW_AMOUNT", "USD:2500", Some(r#""USD:2500""#)),
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

    fn as_json(config: &Config) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(config).expect("a config serialises") {
            serde_json::Value::Object(fields) => fields,
            other => panic!("not an object: {other}"),
        }
    }

    /// Each documented setting, written plainly in the environment,
    /// changes its own field to the value written, and every field of the
    /// configuration is some documented setting's.
    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail's closure returns figment's own Result"
    )]
    fn every_documented_setting_takes_its_plain_written_form() {
        let defaults = as_json(&Config::default());
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
                let changed: Vec<_> = as_json(&config)
                    .into_iter()
                    .filter(|(field, value)| defaults[field] != *value)
                    .collect();
                match expected {
                    None => assert!(changed.is_empty(), "{name}: {changed:?}"),
                    Some(expected) => {
                        let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
                        assert_eq!(changed.len(), 1, "{name}={written}: {changed:?}");
                        assert_eq!(changed[0].1, expected, "{name}={written}");
                        set.insert(changed[0].0.clone());
                    }
                }
                Ok(())
            });
        }
        let undocumented: Vec<_> = defaults.keys().filter(|f| !set.contains(*f)).collect();
        assert!(
            undocumented.is_empty(),
            "settings missing from docs/configuration.md: {undocumented:?}"
        );
    }

    #[test]
    fn dev_keys_live_beside_the_sqlite_file() {
        let c = Config {
            database_url: "sqlite://data/pg.db?mode=rwc".into(),
            ..Config::default()
        };
        assert_eq!(
            c.dev_keys_path(),
            Some(PathBuf::from("data/pg.db.keys.json"))
        );
    }

    #[test]
    fn a_database_url_of_another_kind_is_refused() {
        let c = Config {
            database_url: "mysql://localhost/x".into(),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("DATABASE_URL"));
    }

    #[test]
    fn a_read_replica_is_postgresql_and_unset_by_default() {
        let c = Config::default();
        assert_eq!(c.database_read_url, None);
        assert_eq!(c.database_read_max_lag_ms, 1000);
        let c = Config {
            database_read_url: Some("sqlite://replica.db".into()),
            ..Config::default()
        };
        assert!(c.validate().unwrap_err().contains("DATABASE_READ_URL"));
    }

    #[test]
    // Each worker has a connection of its own, beside the pool; the pool's
    // size still bounds how many an instance may open.
    fn transfer_workers_are_bounded_by_the_pool_size() {
        for workers in [0, 51] {
            let c = Config {
                transfer_workers: workers,
                ..Config::default()
            };
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
        let seeds = "redis://10.0.0.1:6379,redis://10.0.0.2:6379";
        let one_node = Config {
            redis_url: Some(seeds.into()),
            ..Config::default()
        };
        assert!(one_node.validate().unwrap_err().contains("REDIS_CLUSTER"));
        let cluster = Config {
            redis_cluster: true,
            ..one_node
        };
        assert!(cluster.validate().is_ok());
        let bad_seed = Config {
            redis_url: Some("redis://10.0.0.1:6379,10.0.0.2:6379".into()),
            ..cluster.clone()
        };
        assert!(bad_seed.validate().unwrap_err().contains("REDIS_URL"));
        let tagged_prefix = Config {
            redis_key_prefix: "{prod}:".into(),
            ..cluster
        };
        assert!(
            tagged_prefix
                .validate()
                .unwrap_err()
                .contains("REDIS_KEY_PREFIX")
        );
    }
}
