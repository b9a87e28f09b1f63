//! Database work that failed for a reason of the moment runs again, on a
//! fresh connection, inside the request: a lost connection or a lost race
//! is the service's problem, not the client's.
//!
//! Errors are told apart by kind (sqlx's error variant, PostgreSQL's
//! SQLSTATE, SQLite's result code), never by their text. A failed
//! connection is closed by the pool when it is handed back (sqlx tests
//! every connection on release), so the next attempt gets another one.
//!
//! What may run again is the caller's decision: a read always; a write
//! whose statements failed before its commit, always (nothing was
//! written); a write whose commit failed with its connection
//! ([`Fault::Unconfirmed`]) only when its idempotency key decides its
//! outcome, because the commit may have happened.

use std::{future::Future, time::Duration};

use sea_orm::{DbErr, RuntimeErr, sqlx, sqlx::error::DatabaseError};

/// Why database work failed, when the failure is of the moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Lost a race with another transaction (deadlock, serialisation
    /// failure, SQLite busy or locked): nothing was written.
    Conflict,
    /// No connection could be had, or it was lost before the commit:
    /// nothing was written.
    Lost,
    /// The connection was lost while committing: the work may or may not
    /// have been committed.
    Unconfirmed,
}

/// An error that may carry a [`Fault`].
pub trait Faulty {
    fn fault(&self) -> Option<Fault>;
}

impl Faulty for DbErr {
    fn fault(&self) -> Option<Fault> {
        fault_of(self)
    }
}

impl Faulty for std::sync::Arc<DbErr> {
    fn fault(&self) -> Option<Fault> {
        fault_of(self)
    }
}

/// The fault behind a database error, if it is one of the moment.
pub fn fault_of(e: &DbErr) -> Option<Fault> {
    match e {
        // The pool could not hand out a connection.
        DbErr::ConnectionAcquire(_) => Some(Fault::Lost),
        // Opening a connection failed, whatever the server said.
        DbErr::Conn(RuntimeErr::SqlxError(_)) => Some(Fault::Lost),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_fault(e)
        }
        _ => None,
    }
}

fn sqlx_fault(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Fault::Lost),
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            Some(sqlite) => sqlite
                .code()
                .and_then(|c| c.parse().ok())
                .and_then(sqlite_fault),
            None => db.code().and_then(|code| sqlstate_fault(&code)),
        },
        _ => None,
    }
}

/// SQLite's primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// SQLite's (extended) result code.
fn sqlite_fault(code: i64) -> Option<Fault> {
    matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED).then_some(Fault::Conflict)
}

/// A PostgreSQL SQLSTATE.
fn sqlstate_fault(code: &str) -> Option<Fault> {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Some(Fault::Conflict),
        // admin_shutdown (pg_terminate_backend), crash_shutdown,
        // cannot_connect_now, too_many_connections
        "57P01" | "57P02" | "57P03" | "53300" => Some(Fault::Lost),
        // connection_exception and its subclasses
        _ if code.starts_with("08") => Some(Fault::Lost),
        _ => None,
    }
}

/// When a connection was last seen lost, so that the pool can test the
/// connections that sat idle across that moment (they may have been
/// dropped with it) and only those: a healthy pool hands out its
/// connections untested.
pub mod losses {
    use std::{
        sync::{
            OnceLock,
            atomic::{AtomicU64, Ordering},
        },
        time::{Duration, Instant},
    };

    /// Milliseconds after [`epoch`] of the last loss, plus one (0: none).
    static LAST: AtomicU64 = AtomicU64::new(0);

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// A connection was just lost.
    pub fn seen() {
        let at = epoch().elapsed().as_millis() as u64 + 1;
        LAST.fetch_max(at, Ordering::Relaxed);
    }

    /// Whether a connection idle for `idle_for` was already idle when a
    /// connection was last lost.
    pub fn idle_across_loss(idle_for: Duration) -> bool {
        let last = LAST.load(Ordering::Relaxed);
        if last == 0 {
            return false;
        }
        let now = epoch().elapsed().as_millis() as u64 + 1;
        now.saturating_sub(idle_for.as_millis() as u64) <= last
    }
}

/// How often, and for how long, work runs again.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// No attempt starts after this long from the first.
    pub budget: Duration,
}

impl Retry {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            attempts: config.database.retry.attempts,
            budget: config.database.retry.budget,
        }
    }
}

/// Which faults the work may run again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safe {
    /// Only those that wrote nothing: reads, and writes not keyed.
    BeforeCommit,
    /// Also an unconfirmed commit: the idempotency key finds the committed
    /// work and answers with it.
    Keyed,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

impl Retry {
    /// Runs `op` until it succeeds, fails with no fault (or one `safe`
    /// does not cover), or the attempts or the time budget run out; the
    /// last error is returned. A lost connection is tried again at once
    /// (another connection is likely good), then after a growing pause.
    pub async fn run<T, E, F, Fut>(&self, safe: Safe, op: F) -> Result<T, E>
    where
        E: Faulty + std::fmt::Display,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let error = match op().await {
                Ok(done) => return Ok(done),
                Err(e) => e,
            };
            if error.fault() == Some(Fault::Lost) {
                losses::seen();
            }
            let retryable = match error.fault() {
                Some(Fault::Conflict | Fault::Lost) => true,
                Some(Fault::Unconfirmed) => safe == Safe::Keyed,
                None => false,
            };
            if !retryable || attempt >= self.attempts || started.elapsed() + backoff > self.budget {
                return Err(error);
            }
            tracing::info!(attempt, error = %error, "database work failed for a reason of the moment; running it again");
            metrics::counter!("paygraph_db_retries_total").increment(1);
            tokio::time::sleep(jittered(backoff)).await;
            backoff = (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
            attempt += 1;
        }
    }

    /// Runs a read again after a fault of the moment.
    pub async fn read<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Faulty + std::fmt::Display,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(Safe::BeforeCommit, op).await
    }
}

/// Between half and all of `d`, so that requests that failed together do
/// not come back together.
fn jittered(d: Duration) -> Duration {
    if d.is_zero() {
        return d;
    }
    use rand::Rng;
    d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_and_sqlite_codes_are_told_apart_by_kind() {
        assert_eq!(sqlstate_fault("40P01"), Some(Fault::Conflict));
        assert_eq!(sqlstate_fault("40001"), Some(Fault::Conflict));
        assert_eq!(sqlstate_fault("57P01"), Some(Fault::Lost));
        assert_eq!(sqlstate_fault("08006"), Some(Fault::Lost));
        assert_eq!(sqlstate_fault("23505"), None);
        assert_eq!(sqlite_fault(5), Some(Fault::Conflict));
        // SQLITE_BUSY_SNAPSHOT, an extended code of SQLITE_BUSY
        assert_eq!(sqlite_fault(517), Some(Fault::Conflict));
        // SQLITE_CONSTRAINT_UNIQUE
        assert_eq!(sqlite_fault(2067), None);
    }

    #[test]
    fn lost_connections_and_pool_failures_are_faults_of_the_moment() {
        let io = DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(sqlx::Error::Io(
            std::io::ErrorKind::ConnectionReset.into(),
        ))));
        assert_eq!(fault_of(&io), Some(Fault::Lost));
        assert_eq!(
            fault_of(&DbErr::ConnectionAcquire(
                sea_orm::error::ConnAcquireErr::Timeout
            )),
            Some(Fault::Lost)
        );
        assert_eq!(fault_of(&DbErr::Custom("x".into())), None);
        assert_eq!(fault_of(&DbErr::RecordNotFound("x".into())), None);
    }
}
