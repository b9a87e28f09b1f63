//! The outbox relay: copies audit events (and fraud checks) from the
//! `audit_outbox` table to the audit store, in every server instance.
//!
//! Guarantees, and how:
//! - Nothing is lost: a row leaves the outbox only after the store has
//!   acknowledged its write. A failed write leaves it there, to be tried
//!   again later (attempts + 1, the error, a capped exponential backoff);
//!   after `PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS` failures it moves to the
//!   dead-letter table (see `dead_letters`), where an operator requeues it.
//! - No duplicates: every write is keyed by the event's id (the sort key
//!   holds it), so a batch written twice, by a retry or by two relays
//!   after a lease ran out, leaves one item per event.
//! - Instances share the work: a round claims its rows with one
//!   statement that pushes their `next_attempt_at` forward by a lease
//!   (PostgreSQL: the rows are picked `FOR UPDATE SKIP LOCKED`, so relays
//!   never wait for each other; SQLite runs one writing statement at a
//!   time), committed before the store is called. No database transaction
//!   is ever held across a call to DynamoDB.
//! - A relay that dies holds nothing for long: the lease is short
//!   (`PAYGRAPH_AUDIT_RELAY_LEASE_MS`) and renewed while the batch is in
//!   flight, so rows claimed by an instance that was killed, or by a claim
//!   whose answer was lost with its connection, or left leased after a
//!   write because the delete failed, are due again after one short lease.
//! - A store that hangs is seen: every store call is bounded
//!   (`PAYGRAPH_AUDIT_STORE_TIMEOUT_MS`) and a timeout counts as a failure,
//!   and the gauges (depth, lag, dead letters) are measured by a task of
//!   their own from the outbox, whatever the rounds are doing.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, SubsecRound, Utc};
use rand::Rng;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    dead_letters,
    fraud_check::{self, FraudCheck},
    sqs::AuditQueue,
    store::{AuditEntry, AuditStore, Record, StoreError},
};
use crate::{config::Config, db};
use entity::audit_outbox;

/// The first retry waits about this long; each failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Gauges are refreshed this often, or as often as the relay polls if
/// that is less often.
const GAUGE_EVERY: Duration = Duration::from_secs(1);
/// The JSON log line that infra's metric filter reads, at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    pub poll: Duration,
    pub batch: u64,
    pub max_backoff: Duration,
    /// How long a claimed row stays out of other relays' reach; renewed
    /// every third of it while the batch is in flight.
    pub lease: Duration,
    /// Failed deliveries of a row before it is dead-lettered.
    pub max_attempts: i32,
}

impl RelaySettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            poll: config.audit.relay.poll,
            batch: config.audit.relay.batch,
            max_backoff: config.audit.relay.max_backoff,
            lease: config.audit.relay.lease,
            max_attempts: i32::try_from(config.audit.relay.max_attempts).unwrap_or(i32::MAX),
        }
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(10))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub struct Relay {
    db: DatabaseConnection,
    store: Arc<dyn AuditStore>,
    /// Where audit events go downstream as well, when configured.
    queue: Option<AuditQueue>,
    settings: RelaySettings,
}

impl Relay {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn AuditStore>,
        settings: RelaySettings,
    ) -> Self {
        Self {
            db,
            store,
            queue: None,
            settings,
        }
    }

    /// Sends every delivered audit event to `queue` too; a row leaves the
    /// outbox only once both have it.
    pub fn with_queue(mut self, queue: Option<AuditQueue>) -> Self {
        self.queue = queue;
        self
    }

    /// Relays until `stop` turns true; the round in progress finishes first.
    /// Beside it, a task of its own measures the outbox.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(store = self.store.kind(), "audit relay started");
        let every = self.settings.poll.max(GAUGE_EVERY);
        let gauges = tokio::spawn(measure(self.db.clone(), every, stop.clone()));
        let mut full = false;
        loop {
            if *stop.borrow() {
                break;
            }
            full = match self.round_after(full).await {
                Ok(n) => n as u64 >= self.settings.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "audit relay round failed; the events stay in the outbox");
                    false
                }
            };
            // A full batch suggests more is due: go on at once.
            if full {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = stop.changed() => {}
            }
        }
        let _ = gauges.await;
        tracing::info!("audit relay stopped");
    }

    /// One round: claim due rows, write them, then delete them (or
    /// reschedule them on failure). Returns how many were delivered.
    pub async fn round(&self) -> Result<usize, RelayError> {
        self.round_after(false).await
    }

    /// A round, told whether the last one was full (so that rows are
    /// surely due and the probe for any can be skipped). Every failed
    /// round is counted, whether the store or the outbox failed it.
    async fn round_after(&self, full: bool) -> Result<usize, RelayError> {
        let result = self.deliver(full).await;
        if result.is_err() {
            metrics::counter!("paygraph_audit_relay_failures_total").increment(1);
        }
        result
    }

    async fn deliver(&self, full: bool) -> Result<usize, RelayError> {
        let claimed = self.claim(full).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut records = Vec::with_capacity(claimed.len());
        let mut delivered = Vec::with_capacity(claimed.len());
        for row in &claimed {
            match to_record(row) {
                Ok(record) => {
                    records.push(record);
                    delivered.push(row.event_id);
                }
                // Kept and retried like a failed write, never dropped: the
                // error is in `last_error` for an operator to look at.
                Err(e) => self.failed(&[row], &e).await?,
            }
        }
        if records.is_empty() {
            return Ok(0);
        }
        let put = async {
            self.store.put(&records).await?;
            match &self.queue {
                Some(queue) => queue.send(&records).await,
                None => Ok(()),
            }
        };
        if let Err(e) = self.while_leased(&delivered, put).await {
            let rows: Vec<_> = claimed
                .iter()
                .filter(|r| delivered.contains(&r.event_id))
                .collect();
            self.failed(&rows, &e.to_string()).await?;
            return Err(e.into());
        }
        audit_outbox::Entity::delete_many()
            .filter(audit_outbox::Column::EventId.is_in(delivered.iter().copied()))
            .exec(&self.db)
            .await?;
        metrics::counter!("paygraph_audit_relay_events_total").increment(delivered.len() as u64);
        for record in &records {
            if let Record::Fraud(check) = record {
                fraud_check::observe(check);
            }
        }
        Ok(delivered.len())
    }

    /// Takes up to a batch of due rows, oldest first, and leases them, in
    /// one statement: an `UPDATE` of the rows a subquery picks, returning
    /// them. On PostgreSQL the subquery locks what it picks and skips rows
    /// another relay holds (`FOR UPDATE SKIP LOCKED`), so relays never wait
    /// for each other; SQLite runs one writing statement at a time.
    async fn claim(&self, full: bool) -> Result<Vec<audit_outbox::Model>, DbErr> {
        let now = Utc::now();
        // The ids of due rows: probed for one below, claimed in batches.
        let due = audit_outbox::Entity::find()
            .select_only()
            .column(audit_outbox::Column::EventId)
            .filter(audit_outbox::Column::NextAttemptAt.lte(now));
        // Unless the last round was full, a plain read first: an idle
        // relay then never takes a lock, which on SQLite would be the
        // whole database's write lock every poll.
        if !full {
            let any_due = due
                .clone()
                .into_tuple::<Uuid>()
                .one(&self.db)
                .await?
                .is_some();
            if !any_due {
                return Ok(Vec::new());
            }
        }
        let mut due = due
            .order_by_asc(audit_outbox::Column::NextAttemptAt)
            .limit(self.settings.batch);
        if !db::is_sqlite(&self.db) {
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        audit_outbox::Entity::update_many()
            .col_expr(
                audit_outbox::Column::NextAttemptAt,
                Expr::value(now + self.settings.lease()),
            )
            .filter(audit_outbox::Column::EventId.in_subquery(due.into_query()))
            .exec_with_returning(&self.db)
            .await
    }

    /// Runs `work` (a store call) while renewing the lease of `ids` every
    /// third of a lease, so that a batch in flight keeps its rows however
    /// long the call may take, and a relay that dies keeps them one lease
    /// at most. A renewal that fails is only logged: the call goes on.
    async fn while_leased<T>(&self, ids: &[Uuid], work: impl Future<Output = T>) -> T {
        let renewing = async {
            loop {
                tokio::time::sleep(self.settings.lease / 3).await;
                if let Err(e) = self.renew(ids).await {
                    tracing::warn!(error = %e, "cannot renew the lease of the audit batch in flight");
                }
            }
        };
        tokio::select! {
            out = work => out,
            () = renewing => unreachable!("renewing never ends"),
        }
    }

    async fn renew(&self, ids: &[Uuid]) -> Result<(), DbErr> {
        audit_outbox::Entity::update_many()
            .col_expr(
                audit_outbox::Column::NextAttemptAt,
                Expr::value(Utc::now() + self.settings.lease()),
            )
            .filter(audit_outbox::Column::EventId.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// After a failed delivery: rows with attempts left are tried again
    /// later; those that have made their last go to the dead letters.
    async fn failed(&self, rows: &[&audit_outbox::Model], error: &str) -> Result<(), DbErr> {
        let error: String = error.chars().take(1000).collect();
        let (dead, again): (Vec<&audit_outbox::Model>, Vec<_>) = rows
            .iter()
            .partition(|r| r.attempts.saturating_add(1) >= self.settings.max_attempts);
        self.reschedule(&again, &error).await?;
        if !dead.is_empty() {
            dead_letters::bury(&self.db, &dead, &error).await?;
            metrics::counter!("paygraph_audit_relay_dead_lettered_total")
                .increment(dead.len() as u64);
            for row in &dead {
                tracing::error!(
                    event_id = %row.event_id,
                    event_type = %row.event_type,
                    attempts = row.attempts.saturating_add(1),
                    error = %error,
                    "audit event dead-lettered after its last attempt; `paygraph audit dead-letters requeue` sends it again"
                );
            }
        }
        Ok(())
    }

    async fn reschedule(&self, rows: &[&audit_outbox::Model], error: &str) -> Result<(), DbErr> {
        let Some(attempts) = rows.iter().map(|r| r.attempts).max() else {
            return Ok(());
        };
        let wait = backoff(attempts, self.settings.max_backoff);
        audit_outbox::Entity::update_many()
            .col_expr(
                audit_outbox::Column::Attempts,
                Expr::col(audit_outbox::Column::Attempts).add(1),
            )
            .col_expr(audit_outbox::Column::LastError, Expr::value(error))
            .col_expr(
                audit_outbox::Column::NextAttemptAt,
                Expr::value(Utc::now() + wait),
            )
            .filter(audit_outbox::Column::EventId.is_in(rows.iter().map(|r| r.event_id)))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Measures the outbox `every` so often until `stop` turns true: its own
/// task, so that the gauges move while a round waits on the store.
async fn measure(db: DatabaseConnection, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut logged_at: Option<Instant> = None;
    loop {
        let log = logged_at.is_none_or(|t| t.elapsed() >= LOG_EVERY);
        match report(&db, log).await {
            Ok(()) if log => logged_at = Some(Instant::now()),
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "cannot measure the audit outbox"),
        }
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Sets the gauges; with `log`, also writes the JSON line whose field
/// `paygraph_audit_outbox_depth` CloudWatch turns into a metric.
async fn report(db: &DatabaseConnection, log: bool) -> Result<(), DbErr> {
    let depth = audit_outbox::Entity::find().count(db).await?;
    let oldest: Option<DateTime<Utc>> = audit_outbox::Entity::find()
        .select_only()
        .column(audit_outbox::Column::CreatedAt)
        .order_by_asc(audit_outbox::Column::CreatedAt)
        .into_tuple()
        .one(db)
        .await?;
    let dead = dead_letters::count(db).await?;
    let lag = oldest.map_or(0.0, |t| {
        Ord::max((Utc::now() - t).num_milliseconds(), 0) as f64 / 1000.0
    });
    metrics::gauge!("paygraph_audit_outbox_depth").set(depth as f64);
    metrics::gauge!("paygraph_audit_relay_lag_seconds").set(lag);
    metrics::gauge!("paygraph_audit_dead_letters").set(dead as f64);
    if log {
        tracing::info!(
            paygraph_audit_outbox_depth = depth,
            paygraph_audit_relay_lag_seconds = lag,
            paygraph_audit_dead_letters = dead,
            "audit outbox"
        );
    }
    Ok(())
}

/// Exponential in the attempts so far, capped, with jitter (50 to 100 %)
/// so that rows which failed together do not all return together.
fn backoff(attempts: i32, cap: Duration) -> chrono::Duration {
    let exp = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(attempts.clamp(0, 20) as u32));
    let wait = exp
        .min(cap)
        .mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60))
}

/// An outbox row as the store takes it: fraud checks go to
/// `fraud_detection`, everything else to `audit_logs`.
fn to_record(row: &audit_outbox::Model) -> Result<Record, String> {
    if row.service_name == fraud_check::SERVICE && row.event_type == fraud_check::EVENT_TYPE {
        let data = row.data.clone().unwrap_or_default();
        return serde_json::from_value::<FraudCheck>(data)
            .map(|mut check| {
                check.checked_at = check.checked_at.trunc_subsecs(6);
                Record::Fraud(check)
            })
            .map_err(|e| format!("fraud check {} is malformed: {e}", row.event_id));
    }
    Ok(Record::Audit(AuditEntry {
        event_id: row.event_id,
        service: row.service_name.clone(),
        event_type: row.event_type.clone(),
        actor_id: row.actor_id,
        user_id: row.user_id,
        transaction_id: row.transaction_id,
        data: row.data.clone(),
        // PostgreSQL keeps microseconds, SQLite more: every store gets
        // microseconds, as in the sort key, whatever the database.
        created_at: row.created_at.trunc_subsecs(6),
    }))
}

/// Ids of the rows still waiting, for tests and tools.
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<Uuid>, DbErr> {
    audit_outbox::Entity::find()
        .select_only()
        .column(audit_outbox::Column::EventId)
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let cap = Duration::from_secs(30);
        for attempts in 0..40 {
            let wait = backoff(attempts, cap).to_std().unwrap();
            assert!(wait <= cap, "{attempts}: {wait:?}");
        }
        assert!(backoff(0, cap).to_std().unwrap() <= FIRST_BACKOFF);
        assert!(backoff(6, cap).to_std().unwrap() >= Duration::from_secs(15));
    }
}
