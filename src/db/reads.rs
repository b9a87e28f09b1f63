//! Where a read goes: the read replica (`DATABASE_READ_URL`) or the
//! primary.
//!
//! The reporting reads (the support console's search, a wallet's history,
//! a user's transactions, statements and their exports, the `changes`
//! query) ask [`Reads::read`] for a connection, naming the users whose data
//! they read. SQLite, and PostgreSQL without a replica, always hand out the
//! primary: one code path for every backend.
//!
//! A read goes to the replica only when the replica has replayed every
//! write those users made (read-your-writes) and is no more than
//! `DATABASE_READ_MAX_LAG_MS` behind; otherwise, and when the replica
//! fails the read, it runs on the primary, so a client never sees the
//! replica's faults.
//!
//! How "has replayed" is known without a round trip per write:
//! - A background poll (every [`POLL`]) notes the time `t`, then reads the
//!   primary's WAL position (`pg_current_wal_lsn()`) and the replica's
//!   replay position (`pg_last_wal_replay_lsn()`). Once the replica has
//!   replayed past the position read after `t`, every commit that finished
//!   before `t` is on the replica: the replica is *caught up to* `t`.
//! - A write marks its users with the time after its commit (a *mark*,
//!   [`Reads::wrote`]). A user's read goes to the replica only when the
//!   replica is caught up to a time after their mark (plus
//!   [`CLOCK_MARGIN`]).
//! - The lag is how long ago the replica was last caught up to.
//!
//! Marks are times, not WAL positions, so a write costs no extra statement
//! and every kind of write is covered from two places: the GraphQL layer
//! marks the caller after each mutation, and the ledger marks every user
//! whose wallets or transactions a commit changed (a transfer's receiver,
//! a settlement in the background).
//!
//! Where marks live: in this process, and, when the cache is Redis, in
//! Redis too (with a TTL), so that a read through another instance sees
//! a write made through this one. Times from other instances are wall
//! clock times: [`CLOCK_MARGIN`] absorbs the skew between hosts. When Redis
//! cannot answer, the read goes to the primary; a mark Redis failed to
//! store is known to this instance only.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use uuid::Uuid;

use super::retry::{Fault, Faulty, Retry};

/// How often the replica's replay position is read.
pub const POLL: Duration = Duration::from_millis(100);
/// A mark counts this much later than it says: the skew between the
/// clocks of two instances, and marks of one user stored out of order.
pub const CLOCK_MARGIN: Duration = Duration::from_millis(250);
/// The longest a poll's query may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// At most this many primary positions wait for the replica to pass them.
const PENDING_MAX: usize = 600;

/// Marks kept where every instance reads them (Redis).
#[async_trait::async_trait]
pub trait SharedMarks: Send + Sync {
    /// Stores `user`'s mark (ms since the epoch) for `ttl`.
    async fn set(&self, user: Uuid, at_ms: u64, ttl: Duration) -> Result<(), String>;
    /// `user`'s mark, if one is kept.
    async fn get(&self, user: Uuid) -> Result<Option<u64>, String>;
}

/// Hands out the connection for a read; see the module's doc.
#[derive(Clone)]
pub struct Reads {
    primary: DatabaseConnection,
    retry: Retry,
    replica: Option<Arc<Replica>>,
}

struct Replica {
    db: DatabaseConnection,
    max_lag_ms: u64,
    /// Ms since the epoch up to which every commit is replayed; 0 while
    /// unknown (not polled yet, down, not a replica).
    caught_up_to: AtomicU64,
    local: Mutex<HashMap<Uuid, u64>>,
    shared: Option<Arc<dyn SharedMarks>>,
}

/// Where a read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Replica,
    Primary,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Reads {
    /// Every read on `primary`.
    pub fn primary_only(primary: DatabaseConnection, retry: Retry) -> Self {
        Self {
            primary,
            retry,
            replica: None,
        }
    }

    /// Reads on `replica` where they may go, with the poll of its position
    /// started (so: inside a Tokio runtime); it stops when the last clone
    /// of this is dropped. `shared`: where marks are kept for every
    /// instance, if anywhere.
    pub fn with_replica(
        primary: DatabaseConnection,
        replica: DatabaseConnection,
        retry: Retry,
        max_lag: Duration,
        shared: Option<Arc<dyn SharedMarks>>,
    ) -> Self {
        let state = Arc::new(Replica {
            db: replica,
            max_lag_ms: max_lag.as_millis() as u64,
            caught_up_to: AtomicU64::new(0),
            local: Mutex::new(HashMap::new()),
            shared,
        });
        tokio::spawn(poll(primary.clone(), Arc::downgrade(&state)));
        Self {
            primary,
            retry,
            replica: Some(state),
        }
    }

    /// The primary, for reads that must see the latest commit.
    pub fn primary(&self) -> &DatabaseConnection {
        &self.primary
    }

    /// Whether a replica is configured.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Runs the read `op` on the replica when it may go there for `users`
    /// (the users whose data it reads, and the reader), else on the
    /// primary; a read the replica fails runs again on the primary (as
    /// [`Retry::read`] runs it).
    /// `op` gets its own handle of the pool (a clone is cheap).
    pub async fn read<T, E, F, Fut>(&self, users: &[Uuid], op: F) -> Result<T, E>
    where
        E: Faulty + std::fmt::Display,
        F: Fn(DatabaseConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        if let Some(replica) = &self.replica {
            if replica.target(users).await == Target::Replica {
                match op(replica.db.clone()).await {
                    Ok(done) => {
                        metrics::counter!("paygraph_db_reads_total", "target" => "replica")
                            .increment(1);
                        return Ok(done);
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "a read failed on the replica; running it on the primary");
                        metrics::counter!("paygraph_db_replica_fallbacks_total").increment(1);
                        if e.fault() == Some(Fault::Lost) {
                            // Until the poll finds it again.
                            replica.caught_up_to.store(0, Ordering::Relaxed);
                        }
                    }
                }
            }
            metrics::counter!("paygraph_db_reads_total", "target" => "primary").increment(1);
        }
        self.retry.read(|| op(self.primary.clone())).await
    }

    /// Marks `users` as having just written (after the commit): their reads
    /// go to the primary until the replica has replayed it. Waits for the
    /// shared store, so that the next request, through any instance, sees
    /// the mark.
    pub async fn wrote(&self, users: &[Uuid]) {
        if let Some(replica) = &self.replica {
            let at = replica.mark_here(users);
            replica.share(users, at).await;
        }
    }

    /// As [`Reads::wrote`], without waiting for the shared store: for
    /// writes that no request of these users waits on (their own request,
    /// if any, marks them as well).
    pub fn wrote_soon(&self, users: Vec<Uuid>) {
        if let Some(replica) = &self.replica {
            let at = replica.mark_here(&users);
            if replica.shared.is_some() {
                let replica = replica.clone();
                tokio::spawn(async move { replica.share(&users, at).await });
            }
        }
    }
}

impl Replica {
    /// Marks `users` in this process; returns the mark.
    fn mark_here(&self, users: &[Uuid]) -> u64 {
        let at = now_ms();
        let mut local = self.local.lock().expect("marks");
        // Marks the replica has passed decide nothing any more.
        if local.len() > 10_000 {
            let caught = self.caught_up_to.load(Ordering::Relaxed);
            local.retain(|_, mark| *mark + CLOCK_MARGIN.as_millis() as u64 >= caught);
        }
        for user in users {
            local.insert(*user, at);
        }
        at
    }

    /// Stores the mark where every instance reads it.
    async fn share(&self, users: &[Uuid], at: u64) {
        let Some(shared) = &self.shared else {
            return;
        };
        let ttl = self.mark_ttl();
        let sets = users.iter().map(|u| shared.set(*u, at, ttl));
        for result in futures::future::join_all(sets).await {
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not share a read-your-writes mark: another instance may read this user's data from the replica before the replica has it");
            }
        }
    }

    /// How long a mark matters: a replica further behind is not read.
    fn mark_ttl(&self) -> Duration {
        Duration::from_millis(self.max_lag_ms) + CLOCK_MARGIN + POLL * 2
    }

    async fn target(&self, users: &[Uuid]) -> Target {
        let caught = self.caught_up_to.load(Ordering::Relaxed);
        if !keeps_up(caught, now_ms(), self.max_lag_ms) {
            return Target::Primary;
        }
        let fresh = |mark: u64| !replayed(caught, mark);
        {
            let local = self.local.lock().expect("marks");
            if users
                .iter()
                .any(|u| local.get(u).is_some_and(|m| fresh(*m)))
            {
                return Target::Primary;
            }
        }
        if let Some(shared) = &self.shared {
            let mut users = users.to_vec();
            users.sort();
            users.dedup();
            let marks = futures::future::join_all(users.iter().map(|u| shared.get(*u))).await;
            for mark in marks {
                match mark {
                    Ok(Some(m)) if fresh(m) => return Target::Primary,
                    Ok(_) => {}
                    // Unknown: the primary is always right.
                    Err(_) => return Target::Primary,
                }
            }
        }
        Target::Replica
    }
}

/// Whether a replica caught up to `caught` is within `max_lag_ms` at `now`
/// (0: not known to be caught up to anything).
fn keeps_up(caught: u64, now: u64, max_lag_ms: u64) -> bool {
    caught > 0 && now.saturating_sub(caught) <= max_lag_ms
}

/// Whether a replica caught up to `caught` has what was written before
/// `mark`, give or take [`CLOCK_MARGIN`].
fn replayed(caught: u64, mark: u64) -> bool {
    mark + (CLOCK_MARGIN.as_millis() as u64) < caught
}

/// Drops the primary's positions (time, LSN) that the replica has replayed
/// past `replay_lsn`; the time of the latest one, if any.
fn passed(pending: &mut VecDeque<(u64, i64)>, replay_lsn: i64) -> Option<u64> {
    let mut caught = None;
    while pending.front().is_some_and(|(_, lsn)| *lsn <= replay_lsn) {
        caught = pending.pop_front().map(|(t, _)| t);
    }
    caught
}

/// A WAL position as a number.
async fn position<C: ConnectionTrait>(db: &C, sql: &str) -> Result<Option<i64>, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), sql);
    let row = tokio::time::timeout(POLL_TIMEOUT, db.query_one_raw(statement))
        .await
        .map_err(|_| DbErr::Custom("timed out".into()))??;
    match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0),
        None => Ok(None),
    }
}

/// Follows how far the replica has replayed (see the module's doc) until
/// the replica's state is dropped.
async fn poll(primary: DatabaseConnection, state: Weak<Replica>) {
    // Positions of the primary, oldest first, with the time before each
    // was read, that the replica has not replayed yet.
    let mut pending: VecDeque<(u64, i64)> = VecDeque::new();
    let mut complained = false;
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(replica) = state.upgrade() else {
            return;
        };
        let t = now_ms();
        match position(&primary, "SELECT (pg_current_wal_lsn() - '0/0')::bigint").await {
            Ok(Some(lsn)) => {
                pending.push_back((t, lsn));
                if pending.len() > PENDING_MAX {
                    pending.pop_front();
                }
            }
            // The primary's reads fail on their own; nothing to learn here.
            _ => continue,
        }
        let replayed = position(
            &replica.db,
            "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint",
        )
        .await;
        match replayed {
            Ok(Some(replay_lsn)) => {
                if let Some(t) = passed(&mut pending, replay_lsn) {
                    replica.caught_up_to.fetch_max(t, Ordering::Relaxed);
                }
                if complained {
                    tracing::info!("the read replica answers again");
                    complained = false;
                }
            }
            problem => {
                replica.caught_up_to.store(0, Ordering::Relaxed);
                if !complained {
                    match problem {
                        Ok(_) => tracing::warn!(
                            "DATABASE_READ_URL is not a replica in recovery; reading from the primary"
                        ),
                        Err(e) => {
                            tracing::warn!(error = %e, "the read replica does not answer; reading from the primary")
                        }
                    }
                    complained = true;
                }
            }
        }
        let caught = replica.caught_up_to.load(Ordering::Relaxed);
        if caught > 0 {
            metrics::gauge!("paygraph_db_replica_lag_seconds")
                .set(now_ms().saturating_sub(caught) as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_read_only_while_within_the_lag_bound() {
        assert!(!keeps_up(0, 1_000, 1_000), "never caught up to anything");
        assert!(keeps_up(10_000, 10_900, 1_000));
        assert!(keeps_up(10_000, 11_000, 1_000));
        assert!(!keeps_up(10_000, 11_001, 1_000));
    }

    #[test]
    fn a_mark_counts_as_replayed_only_past_the_clock_margin() {
        let margin = CLOCK_MARGIN.as_millis() as u64;
        assert!(!replayed(10_000, 10_000));
        assert!(!replayed(10_000, 10_000 - margin));
        assert!(replayed(10_000, 10_000 - margin - 1));
        assert!(
            !replayed(10_000, 12_000),
            "a write after the replica's time"
        );
    }

    #[test]
    fn the_replica_is_caught_up_to_the_latest_position_it_passed() {
        let mut pending: VecDeque<(u64, i64)> = [(100, 10), (200, 20), (300, 30)].into();
        assert_eq!(passed(&mut pending, 5), None);
        assert_eq!(passed(&mut pending, 25), Some(200));
        assert_eq!(pending, VecDeque::from([(300, 30)]));
        assert_eq!(passed(&mut pending, 30), Some(300));
        assert!(pending.is_empty());
    }
}
