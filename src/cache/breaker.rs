//! The circuit breaker in front of Redis. While Redis answers it stays
//! closed and costs one atomic load per call. A failure opens it: for the
//! next `open_for` every call fails at once instead of waiting for a
//! timeout, and its caller falls back (sessions to the database, rate
//! limits to this instance's counters). Then one call is let through as a
//! probe (half-open): its success closes the breaker, its failure opens it
//! again. A background prober (see `RedisStore::connect`) keeps probing
//! while no request does, so recovery needs no traffic.
//!
//! Each recovery is remembered ([`Breaker::trusted_since`]): what the
//! cache held before it may predate a change this instance could not
//! write to it during the outage, and the session cache reads such
//! entries again from the database.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One probe is in flight since then.
    HalfOpen {
        since: Instant,
    },
}

pub struct Breaker {
    open_for: Duration,
    /// How long a probe may take before another one is let through (the
    /// call timeout bounds it; this is a safety net).
    probe_for: Duration,
    closed: AtomicBool,
    state: Mutex<State>,
    /// Unix milliseconds of the last recovery; 0 before any outage.
    trusted_since_ms: AtomicU64,
    recovered: Notify,
}

/// Milliseconds since the Unix epoch, on this host's clock.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Breaker {
    pub fn new(open_for: Duration, probe_for: Duration) -> Self {
        Self {
            open_for,
            probe_for,
            closed: AtomicBool::new(true),
            state: Mutex::new(State::Closed),
            trusted_since_ms: AtomicU64::new(0),
            recovered: Notify::new(),
        }
    }

    /// Whether a call may go to Redis now. While open, false until the
    /// interval is over; then true for one caller, the probe.
    pub fn allow(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return true;
        }
        let mut state = self.state.lock().expect("breaker lock");
        let now = Instant::now();
        match *state {
            State::Closed => true,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen { since: now };
                true
            }
            State::HalfOpen { since } if now.duration_since(since) >= self.probe_for => {
                *state = State::HalfOpen { since: now };
                true
            }
            State::Open { .. } | State::HalfOpen { .. } => false,
        }
    }

    pub fn succeeded(&self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock().expect("breaker lock");
        if *state != State::Closed {
            *state = State::Closed;
            self.trusted_since_ms.store(unix_ms(), Ordering::Release);
            self.closed.store(true, Ordering::Release);
            tracing::info!("Redis answers again; using it");
            self.recovered.notify_waiters();
        }
    }

    pub fn failed(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        if *state == State::Closed {
            tracing::warn!(
                open_ms = self.open_for.as_millis() as u64,
                "Redis unreachable; falling back to the database and per-instance limits"
            );
            metrics::counter!("paygraph_redis_breaker_opened_total").increment(1);
        }
        *state = State::Open {
            until: Instant::now() + self.open_for,
        };
        self.closed.store(false, Ordering::Release);
    }

    /// Whether calls currently go to Redis (for `/readyz`).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Unix milliseconds of the last recovery (0: none yet).
    pub fn trusted_since_ms(&self) -> u64 {
        self.trusted_since_ms.load(Ordering::Acquire)
    }

    /// Waits for the next recovery.
    pub async fn recovered(&self) {
        self.recovered.notified().await
    }

    pub fn interval(&self) -> Duration {
        self.open_for
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_opens_it_then_one_probe_passes_and_its_success_closes_it() {
        let b = Breaker::new(Duration::from_millis(30), Duration::from_secs(5));
        assert!(b.allow());
        b.failed();
        assert!(!b.allow(), "open: calls skip Redis");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "the probe");
        assert!(!b.allow(), "only one probe at a time");
        b.succeeded();
        assert!(b.is_closed() && b.allow());
        assert!(b.trusted_since_ms() > 0);
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let b = Breaker::new(Duration::from_millis(30), Duration::from_secs(5));
        b.failed();
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.failed();
        assert!(!b.allow());
        assert_eq!(b.trusted_since_ms(), 0);
    }
}
