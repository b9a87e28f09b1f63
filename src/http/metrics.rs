//! The Prometheus exporter and the catalogue of every metric family the
//! process exports: each has `# HELP`, and each exists from start (label
//! sets the schema or the error codes bound are registered at zero), but
//! the balance-change families, labelled by currency (any ISO 4217 code),
//! whose series appear with their first change.
//! Durations are histograms, which aggregate across instances.

use std::sync::OnceLock;

use axum::extract::State;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::layers::FanoutBuilder;
use sea_orm::{ActiveEnum, DatabaseConnection, Iterable};

use super::{HttpState, metrics_log::LogRecorder};
use crate::{
    cache::Cache,
    fraud::Decision,
    graphql::{errors::Code, observed},
    ledger::{Status, TxType},
};

/// Buckets of a GraphQL request's duration, in seconds.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of one database statement's duration, in seconds.
const STATEMENT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets of a fraud check's score (0 to 100).
const FRAUD_SCORE_BUCKETS: &[f64] = &[
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0,
];

/// The process has one metrics recorder; every server built in it (tests
/// build several) shares it. Every update goes to the Prometheus recorder
/// (`/metrics`) and to the one that keeps what the log carries to
/// CloudWatch ([`super::metrics_log`]).
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let prometheus = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("paygraph_graphql_request_duration_seconds".into()),
                    REQUEST_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("paygraph_db_statement_duration_seconds".into()),
                        STATEMENT_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("paygraph_fraud_score".into()),
                        FRAUD_SCORE_BUCKETS,
                    )
                })
                .expect("non-empty buckets")
                .build_recorder();
            let handle = prometheus.handle();
            let both = FanoutBuilder::default()
                .add_recorder(prometheus)
                .add_recorder(LogRecorder::global().clone())
                .build();
            metrics::set_global_recorder(both).expect("the only metrics recorder of this process");
            describe();
            register();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        "paygraph_graphql_requests_total",
        "GraphQL operations executed, by kind and root field (`mutation.transfer`; `invalid` when the document did not parse or validate)"
    );
    describe_histogram!(
        "paygraph_graphql_request_duration_seconds",
        Unit::Seconds,
        "Time to execute a GraphQL operation, by kind and root field"
    );
    describe_counter!(
        "paygraph_graphql_errors_total",
        "Errors in GraphQL responses, by the error code of api.md"
    );
    describe_gauge!(
        "paygraph_websocket_connections",
        "Open graphql-transport-ws connections"
    );
    describe_counter!("paygraph_db_statements_total", "Database statements run");
    describe_histogram!(
        "paygraph_db_statement_duration_seconds",
        Unit::Seconds,
        "Time one database statement took"
    );
    describe_counter!(
        "paygraph_db_statement_errors_total",
        "Database statements that failed"
    );
    describe_counter!(
        "paygraph_audit_relay_events_total",
        "Audit events the outbox relay delivered to the audit store"
    );
    describe_counter!(
        "paygraph_audit_relay_failures_total",
        "Outbox relay rounds that failed: a store call failed or found no answer within PAYGRAPH_AUDIT_STORE_TIMEOUT_MS, or the outbox could not be read or written"
    );
    describe_counter!(
        "paygraph_audit_relay_dead_lettered_total",
        "Audit events moved to the dead-letter table after PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS failed deliveries"
    );
    describe_gauge!(
        "paygraph_audit_dead_letters",
        "Audit events in the dead-letter table, waiting for `paygraph audit dead-letters requeue`"
    );
    describe_gauge!(
        "paygraph_audit_outbox_depth",
        "Audit events waiting in the outbox"
    );
    describe_gauge!(
        "paygraph_audit_relay_lag_seconds",
        Unit::Seconds,
        "Age of the oldest audit event waiting in the outbox"
    );
    describe_counter!(
        "paygraph_rate_limit_fallback_total",
        "Rate-limit decisions made by this instance alone because Redis was unreachable"
    );
    describe_counter!(
        "paygraph_redis_breaker_opened_total",
        "Times Redis was found unreachable (its circuit breaker opened)"
    );
    describe_counter!(
        "paygraph_transactions_total",
        "Transactions committed, by type and by the status they were committed in (a deposit counts once pending and once completed)"
    );
    describe_counter!(
        "paygraph_balance_changes_total",
        "Committed changes of a wallet's balance, by currency and operation (deposit, withdrawal, transfer_out, transfer_in, fee, hold, release, reserve, refund_out, refund_in); a series appears with its currency's first change"
    );
    describe_counter!(
        "paygraph_balance_change_minor_units_total",
        "Minor units moved by committed balance changes, by currency and operation, as absolute amounts: what the balance moved, or for hold, release and reserve what moved between available and frozen"
    );
    describe_histogram!(
        "paygraph_fraud_score",
        "Scores (0 to 100) of the fraud checks delivered to the fraud store"
    );
    describe_counter!(
        "paygraph_fraud_decisions_total",
        "Fraud checks delivered to the fraud store, by decision (allow, review)"
    );
    describe_gauge!(
        "paygraph_db_pool_connections",
        "The database pool's connections, idle and in use, when scraped"
    );
    describe_gauge!(
        "paygraph_redis_pool_connections",
        "The Redis pool's connections, idle and in use, when scraped (absent without Redis)"
    );
    describe_gauge!(
        "paygraph_db_pool_max_connections",
        "The most connections the database pool opens (DATABASE_MAX_CONNECTIONS)"
    );
    describe_gauge!(
        "paygraph_redis_pool_max_connections",
        "The most connections the Redis pool opens (REDIS_POOL_SIZE; absent without Redis)"
    );
    describe_counter!(
        "paygraph_transfer_batches_total",
        "Transfer batches the ledger's workers committed"
    );
    describe_counter!(
        "paygraph_transfer_batched_requests_total",
        "Transfers committed in batches"
    );
}

/// Registers every series whose labels are known in advance (adding zero,
/// so a count made before start-up ends is kept).
fn register() {
    for label in observed::schema_labels()
        .into_iter()
        .chain(["invalid".to_owned()])
    {
        metrics::counter!("paygraph_graphql_requests_total", "operation" => label.clone())
            .increment(0);
        let _ =
            metrics::histogram!("paygraph_graphql_request_duration_seconds", "operation" => label);
    }
    for code in <Code as strum::IntoEnumIterator>::iter() {
        metrics::counter!("paygraph_graphql_errors_total", "code" => code.as_str()).increment(0);
    }
    for name in [
        "paygraph_db_statements_total",
        "paygraph_db_statement_errors_total",
        "paygraph_audit_relay_events_total",
        "paygraph_audit_relay_failures_total",
        "paygraph_audit_relay_dead_lettered_total",
        "paygraph_transfer_batches_total",
        "paygraph_transfer_batched_requests_total",
        "paygraph_rate_limit_fallback_total",
        "paygraph_redis_breaker_opened_total",
    ] {
        metrics::counter!(name).increment(0);
    }
    let _ = metrics::histogram!("paygraph_db_statement_duration_seconds");
    let _ = metrics::histogram!("paygraph_fraud_score");
    for kind in TxType::iter() {
        for status in Status::iter() {
            metrics::counter!(
                "paygraph_transactions_total",
                "type" => kind.to_value(),
                "status" => status.to_value()
            )
            .increment(0);
        }
    }
    for decision in Decision::iter() {
        metrics::counter!("paygraph_fraud_decisions_total", "decision" => decision.to_value())
            .increment(0);
    }
    for name in [
        "paygraph_websocket_connections",
        "paygraph_audit_outbox_depth",
        "paygraph_audit_relay_lag_seconds",
        "paygraph_audit_dead_letters",
    ] {
        metrics::gauge!(name).increment(0.0);
    }
}

pub async fn render(State(state): State<HttpState>) -> String {
    observe_pools(&state.app.db, &state.app.cache);
    state.metrics.render()
}

/// Sets the pool gauges to the pools' connections as they are now.
pub fn observe_pools(db: &DatabaseConnection, cache: &Cache) {
    let set = |family: &'static str, max: &'static str, pool: crate::db::PoolState| {
        metrics::gauge!(family, "state" => "idle").set(pool.idle);
        metrics::gauge!(family, "state" => "in_use").set(pool.in_use);
        metrics::gauge!(max).set(pool.max);
    };
    set(
        "paygraph_db_pool_connections",
        "paygraph_db_pool_max_connections",
        crate::db::pool_state(db),
    );
    if let Some(pool) = cache.pool_state() {
        set(
            "paygraph_redis_pool_connections",
            "paygraph_redis_pool_max_connections",
            pool,
        );
    }
}

/// Writes the lines of [`super::metrics_log`] every
/// [`LOG_EVERY`](super::metrics_log::LOG_EVERY), the pools observed just
/// before, until `stop` resolves.
pub async fn log_for_cloudwatch(
    db: DatabaseConnection,
    cache: Cache,
    stop: impl std::future::Future<Output = ()>,
) {
    use super::metrics_log;
    tokio::pin!(stop);
    let mut every = tokio::time::interval(metrics_log::LOG_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = every.tick() => {}
        }
        observe_pools(&db, &cache);
        metrics_log::write(&LogRecorder::global().drain());
    }
}
