//! Wiring: configuration in, a running server out.

use std::{sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use tokio::{net::TcpListener, sync::watch};

use crate::{
    audit::{
        self, AuditLog, AuditStore, Bounded, EmbeddedStore,
        dynamodb::DynamoStore,
        relay::{Relay, RelaySettings},
        sqs::AuditQueue,
    },
    auth::{Auth, PasswordHasher, SecondFactor, TokenKeys},
    cache::{
        Cache, RedisLimits,
        events::EventBus,
        notifier::CacheNotifier,
        persisted_queries::PersistedQueries,
        rate_limit::{RateLimiter, Rule, Rules},
        redis_client,
        transactions::TransactionCache,
    },
    config::{AuditStoreKind, Config},
    context::ApiContext,
    crypto::{DevKeys, FieldCipher, check_jwt_secret, decode_encryption_key},
    customer::Customers,
    db::{self, retry::Retry},
    graphql::{self, Limits, trusted_documents::TrustedDocuments},
    http::{self, HttpState},
    ledger::{self, Ledger, LedgerSettings},
    processor::Simulator,
};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// Runs beside the server in every instance; see `audit::relay`.
    relay: Relay,
    ledger: Ledger,
    transfer_workers: ledger::Workers,
    settlement_poll: Duration,
    processor_delay: Duration,
    purge_poll: Duration,
    /// The pools whose state the metrics log reports.
    pools: (sea_orm::DatabaseConnection, Cache),
}

/// Start-up failures, each one line that names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot connect to the database: {0}")]
    Database(sea_orm::DbErr),
    #[error("the database schema is behind ({0} pending migrations): run `paygraph migrate`")]
    MigrationsBehind(usize),
    #[error("cannot connect to Redis: {0}")]
    Redis(crate::cache::CacheError),
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
}

/// `PAYGRAPH_TRUSTED_DOCUMENTS`, read and checked: a manifest that does
/// not read stops start-up, before anything else is opened.
fn trusted_documents(config: &Config) -> Result<Option<Arc<TrustedDocuments>>, StartError> {
    let Some(path) = &config.graphql.trusted_documents else {
        return Ok(None);
    };
    let documents = TrustedDocuments::load(path, config.graphql.trusted_documents_support_any)
        .map_err(|e| StartError::Config(format!("PAYGRAPH_TRUSTED_DOCUMENTS: {e}")))?;
    tracing::info!(
        path = %path.display(),
        operations = documents.operations().len(),
        support_any = config.graphql.trusted_documents_support_any,
        "only trusted documents run"
    );
    Ok(Some(Arc::new(documents)))
}

/// The signing and encryption keys: configured, or for the embedded
/// default generated once and kept beside the SQLite file.
fn keys(config: &Config) -> Result<(String, [u8; 32]), StartError> {
    let cfg = |e: crate::crypto::KeyError| StartError::Config(format!("configuration error: {e}"));
    let exposed = |key: &Option<SecretString>| key.as_ref().map(|k| k.expose_secret().to_owned());
    let (jwt, enc) = match (
        exposed(&config.auth.jwt.secret),
        exposed(&config.auth.encryption.key),
        config.dev_keys_path(),
    ) {
        (Some(j), Some(e), _) => (j, e),
        (j, e, Some(path)) => {
            let (dev, created) = DevKeys::load_or_create(&path).map_err(cfg)?;
            if created {
                tracing::warn!(path = %path.display(), "generated development keys; set JWT_SECRET and PAYGRAPH_ENCRYPTION_KEY in production");
            }
            (j.unwrap_or(dev.jwt_secret), e.unwrap_or(dev.encryption_key))
        }
        (j, e, None) if config.is_sqlite() => {
            // An in-memory database: keys live as long as it does.
            let dev = DevKeys::generate();
            (j.unwrap_or(dev.jwt_secret), e.unwrap_or(dev.encryption_key))
        }
        (j, _, None) => {
            // Outside the embedded default, keys are never invented: two
            // instances with different keys would reject each other's tokens.
            let missing = if j.is_none() {
                "JWT_SECRET"
            } else {
                "PAYGRAPH_ENCRYPTION_KEY"
            };
            return Err(StartError::Config(format!(
                "configuration error: {missing} is required outside the embedded (SQLite) default"
            )));
        }
    };
    check_jwt_secret(&jwt).map_err(cfg)?;
    Ok((jwt, decode_encryption_key(&enc).map_err(cfg)?))
}

/// The relational store, migrated: the embedded default migrates itself;
/// a PostgreSQL whose migrations are behind is refused.
/// Connects and checks the schema, running again after a fault of the
/// moment (a connection terminated while the instance starts, say) as a
/// request does: an instance started during a database blip comes up.
async fn database(
    config: &Config,
    retry: &Retry,
) -> Result<sea_orm::DatabaseConnection, StartError> {
    let database = retry
        .read(|| db::connect(config))
        .await
        .map_err(StartError::Database)?;
    if config.is_sqlite() {
        db::migrate(&database).await.map_err(StartError::Database)?;
    } else {
        let pending = retry
            .read(|| db::pending_migrations(&database))
            .await
            .map_err(StartError::Database)?;
        if !pending.is_empty() {
            return Err(StartError::MigrationsBehind(pending.len()));
        }
    }
    Ok(database)
}

/// Where reads go: with `DATABASE_READ_URL` (PostgreSQL), the replica
/// where it may, its read-your-writes marks shared through Redis when the
/// cache is Redis; otherwise the primary.
async fn read_router(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
    cache: &Cache,
    retry: Retry,
) -> Result<db::Reads, StartError> {
    let Some(replica) = db::connect_replica(config)
        .await
        .map_err(StartError::Database)?
    else {
        return Ok(db::Reads::primary_only(database.clone(), retry));
    };
    let shared = crate::cache::read_marks::ReadMarks::new(cache)
        .map(|marks| Arc::new(marks) as Arc<dyn db::reads::SharedMarks>);
    tracing::info!(
        max_lag_ms = config.database.read_max_lag.as_millis(),
        shared_marks = shared.is_some(),
        "reporting reads go to the read replica (DATABASE_READ_URL) while it keeps up"
    );
    Ok(db::Reads::with_replica(
        database.clone(),
        replica,
        retry,
        config.database.read_max_lag,
        shared,
    ))
}

/// The store is only reached by the relay and by reads: an unreachable
/// DynamoDB delays audit, it does not stop start-up.
async fn audit_store(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
) -> Arc<dyn AuditStore> {
    let store: Arc<dyn AuditStore> = match config.audit.store {
        AuditStoreKind::Embedded => Arc::new(EmbeddedStore::new(database.clone())),
        AuditStoreKind::Dynamodb => Arc::new(DynamoStore::new(
            audit::dynamodb::client(config).await,
            &config.audit.dynamodb.table_prefix,
        )),
    };
    Arc::new(Bounded::new(store, config.audit.store_timeout))
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        // First, so that every metric registered from here on is exported.
        let metrics = http::install_recorder();
        let trusted = trusted_documents(&config)?;
        let (jwt_secret, encryption_key) = keys(&config)?;
        let retry = Retry::from_config(&config);
        let database = database(&config, &retry).await?;
        let cache = cache(&config).await?;
        let reads = read_router(&config, &database, &cache, retry).await?;
        let events = EventBus::start(&cache, config.server.event_buffer)
            .await
            .map_err(StartError::Redis)?;
        let transactions = TransactionCache::new(cache.clone());
        let notifier: crate::ledger::Notifier =
            CacheNotifier::start(transactions.clone(), events.clone());
        let rate_limits = RateLimiter::new(cache.clone(), rate_limit_rules(&config));
        let cipher = FieldCipher::new(&config.auth.encryption.key_id, &encryption_key);
        let second_factor =
            SecondFactor::new(database.clone(), cipher.clone(), rate_limits.clone());
        let auth = auth(
            &config,
            &database,
            &cache,
            &jwt_secret,
            second_factor,
            retry,
        );
        let customers = Customers::new(database.clone(), cipher.clone());
        let (ledger, transfer_workers) =
            start_ledger(&config, &database, &reads, notifier, cipher, retry).await?;
        let limits = Limits::from(&config);
        let (audit, relay) = audit_log(&config, &database).await;
        let listener = TcpListener::bind(config.server.addr)
            .await
            .map_err(|e| StartError::Listen(config.server.addr, e))?;
        let settlement_poll = config.workers.settlement_poll;
        let processor_delay = config.workers.processor_delay;
        let purge_poll = config.workers.idempotency_purge_poll;
        let exports =
            ledger::StatementExports::new(jwt_secret.as_bytes(), &public_url(&config, &listener));
        let app = ApiContext {
            support: crate::support::Support::new(
                database.clone(),
                reads.clone(),
                auth.standings(),
                ledger.clone(),
            ),
            db: database,
            reads,
            cache,
            auth,
            customers,
            audit,
            ledger: ledger.clone(),
            retry,
            config: Arc::new(config),
            transactions,
            events,
            rate_limits,
            exports,
        };
        let pools = (app.db.clone(), app.cache.clone());
        let router = router(app, limits, metrics, trusted)?;
        Ok(Self {
            listener,
            router,
            relay,
            ledger,
            transfer_workers,
            settlement_poll,
            processor_delay,
            purge_poll,
            pools,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    /// Beside the server run the transfer workers, the settlement worker
    /// and the purge of idempotency keys and change feed entries, which
    /// stop with it, and the audit relay, which finishes its round and
    /// stops after it. A worker that dies (a panic) stops the instance the
    /// same way and makes this an error: an instance without them would
    /// answer transfers UNAVAILABLE, accept money that never settles, keep
    /// audit events in the outbox, or never forget keys and changes. The
    /// orchestrator starts a new instance in its place.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(port = self.port(), "paygraph listening");
        let stop = Arc::new(watch::channel(false).0);
        tokio::spawn({
            let stop = stop.clone();
            async move {
                shutdown_signal().await;
                stop.send_replace(true);
            }
        });
        let (stop_relay, relay_stopped) = watch::channel(false);
        let relay = supervise("audit relay", self.relay.run(relay_stopped), stop.clone());
        let transfers = supervise(
            "transfer workers",
            self.transfer_workers.watch(),
            stop.clone(),
        );
        let ledger = self.ledger.clone();
        let (poll, delay) = (self.settlement_poll, self.processor_delay);
        let settlement_stop = stopped(&stop);
        let settlement = supervise(
            "settlement worker",
            async move { ledger.run_settlement(poll, delay, settlement_stop).await },
            stop.clone(),
        );
        let ledger = self.ledger.clone();
        let purge_poll = self.purge_poll;
        let purge_stop = stopped(&stop);
        let purge = supervise(
            "retention purge",
            async move { ledger.run_purges(purge_poll, purge_stop).await },
            stop.clone(),
        );
        let (db, cache) = self.pools;
        tokio::spawn(http::log_for_cloudwatch(db, cache, stopped(&stop)));
        // The peer address is what anonymous traffic is rate-limited by.
        let service = self
            .router
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(stopped(&stop))
            .await;
        let settled = settlement.await.unwrap_or_else(|e| Err(e.to_string()));
        let purged = purge.await.unwrap_or_else(|e| Err(e.to_string()));
        let _ = stop_relay.send(true);
        let relayed = relay.await.unwrap_or_else(|e| Err(e.to_string()));
        // The transfer workers end once the ledger's last copy is dropped,
        // after this returns: only a death already seen is an error here.
        let transferred = if transfers.is_finished() {
            transfers.await.unwrap_or_else(|e| Err(e.to_string()))
        } else {
            Ok(())
        };
        served?;
        transferred
            .and(settled)
            .and(purged)
            .and(relayed)
            .map_err(std::io::Error::other)
    }
}

/// Resolves once `stop` says so.
fn stopped(stop: &watch::Sender<bool>) -> impl Future<Output = ()> + use<> {
    let mut seen = stop.subscribe();
    async move {
        let _ = seen.wait_for(|stop| *stop).await;
    }
}

/// Runs a background worker; if it dies, says so and stops the instance.
fn supervise(
    name: &'static str,
    work: impl Future<Output = ()> + Send + 'static,
    stop: Arc<watch::Sender<bool>>,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let worker = tokio::spawn(work);
    tokio::spawn(async move {
        worker.await.map_err(|e| {
            tracing::error!(worker = name, error = %e, "a background worker died; stopping the instance");
            stop.send_replace(true);
            format!("the {name} died: {e}")
        })
    })
}

/// The auth service, signing tokens with `jwt_secret`.
fn auth(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
    cache: &Cache,
    jwt_secret: &str,
    second_factor: SecondFactor,
    retry: Retry,
) -> Auth {
    let keys = TokenKeys::new(
        jwt_secret.as_bytes(),
        &config.auth.jwt.key_id,
        &config.auth.jwt.issuer,
        &config.auth.jwt.audience,
    );
    Auth::new(
        database.clone(),
        cache.clone(),
        PasswordHasher::new(),
        keys,
        config.auth.session.ttl,
        retry,
        second_factor,
    )
    .with_step_up_ttl(config.auth.step_up.ttl)
}

/// The ledger, its system accounts in place, and its transfer workers.
async fn start_ledger(
    config: &Config,
    database: &sea_orm::DatabaseConnection,
    reads: &db::Reads,
    notifier: crate::ledger::Notifier,
    cipher: FieldCipher,
    retry: Retry,
) -> Result<(Ledger, ledger::Workers), StartError> {
    let settings = LedgerSettings::from_config(config);
    retry
        .read(|| ledger::ensure_system_accounts(database))
        .await
        .map_err(StartError::Database)?;
    Ok(Ledger::new(
        database.clone(),
        reads.clone(),
        settings,
        notifier,
        cipher,
        Arc::new(Simulator),
        ledger::Placement::OwnThreads(Box::new(config.database.clone())),
    ))
}

/// The shared cache: Redis when `REDIS_URL` is set (its certificate
/// trusted, or start-up stops), else the in-process cache.
async fn cache(config: &Config) -> Result<Cache, StartError> {
    let Some(url) = &config.redis.url else {
        return Ok(Cache::in_process(&config.redis.key_prefix));
    };
    let client = redis_client::RedisClient::open(
        url.expose_secret(),
        config.redis.tls_ca_file.as_deref(),
        config.redis.cluster,
    )
    .map_err(StartError::Redis)?;
    let limits = redis_limits(config);
    redis_client::check_trust(&client, limits.timeout * 4)
        .await
        .map_err(StartError::Redis)?;
    Cache::redis(
        client,
        config.redis.pool_size,
        &config.redis.key_prefix,
        limits,
    )
    .await
    .map_err(StartError::Redis)
}

/// The audit log, and the relay that carries its outbox to the store (and
/// the queue, when one is set).
async fn audit_log(config: &Config, database: &sea_orm::DatabaseConnection) -> (AuditLog, Relay) {
    let store = audit_store(config, database).await;
    let relay = Relay::new(
        database.clone(),
        store.clone(),
        RelaySettings::from_config(config),
    )
    .with_queue(AuditQueue::from_config(config).await);
    (AuditLog::new(database.clone(), store), relay)
}

/// Where clients reach this instance (`PAYGRAPH_PUBLIC_URL`), else the
/// address it listens on.
fn public_url(config: &Config, listener: &TcpListener) -> String {
    match &config.server.public_url {
        Some(url) => url.clone(),
        None => format!(
            "http://{}",
            listener.local_addr().unwrap_or(config.server.addr)
        ),
    }
}

/// The HTTP routes over the GraphQL schema of `app`.
fn router(
    app: ApiContext,
    limits: Limits,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    trusted: Option<Arc<TrustedDocuments>>,
) -> Result<axum::Router, StartError> {
    let schema = graphql::schema(limits, Some(app.clone()), trusted.clone());
    let origins = http::Origins::from_config(&app.config).map_err(StartError::Config)?;
    let persisted = PersistedQueries::new(app.cache.clone());
    Ok(http::router(HttpState::new(http::Shared {
        app,
        schema,
        metrics,
        origins,
        persisted,
        trusted,
    })))
}

/// How each Redis call is bounded (`REDIS_TIMEOUT_MS`,
/// `REDIS_BREAKER_OPEN_MS`).
pub fn redis_limits(config: &Config) -> RedisLimits {
    RedisLimits {
        timeout: config.redis.timeout,
        open_for: config.redis.breaker_open,
    }
}

fn rate_limit_rules(config: &Config) -> Rules {
    let rule = |r: &crate::config::RateLimit| Rule {
        limit: r.limit,
        window: r.window,
    };
    let limits = &config.rate_limits;
    Rules {
        auth: rule(&limits.auth),
        read: rule(&limits.read),
        money_movement: rule(&limits.money),
        second_factor: rule(&limits.second_factor),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_worker_that_panics_stops_the_instance_and_says_which() {
        let stop = Arc::new(watch::channel(false).0);
        let died = supervise("test worker", async { panic!("boom") }, stop.clone());
        let said = died.await.unwrap().unwrap_err();
        assert!(
            said.starts_with("the test worker died:")
                && said.contains("panicked")
                && said.contains("boom"),
            "{said}"
        );
        assert!(*stop.borrow(), "the instance is told to stop");
    }

    #[tokio::test]
    async fn a_worker_that_ends_leaves_the_instance_running() {
        let stop = Arc::new(watch::channel(false).0);
        supervise("test worker", async {}, stop.clone())
            .await
            .unwrap()
            .expect("a worker that ends is no failure");
        assert!(!*stop.borrow());
    }
}
