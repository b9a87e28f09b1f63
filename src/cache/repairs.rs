//! Cache writes that must not be lost to an outage: a revoked session's
//! marker, a changed user's standing. When Redis cannot take one, it is
//! kept here and written as soon as Redis answers again, before the stale
//! entry it replaces can mislead another instance for long. Instances
//! that saw the outage themselves do not wait for it: they distrust what
//! the cache held before it (`Breaker::trusted_since_ms`).
//!
//! The queue is per instance and bounded; an entry outlives its purpose
//! (the TTL of what it writes) only to be dropped.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use super::{RedisStore, breaker::Breaker};

const MAX_QUEUED: usize = 100_000;

#[derive(Debug, Clone)]
pub(super) enum Repair {
    Set {
        key: String,
        value: String,
        until: Instant,
    },
    Del {
        key: String,
    },
}

#[derive(Default)]
pub(super) struct Repairs {
    queue: Mutex<VecDeque<Repair>>,
}

impl Repairs {
    pub(super) fn push(&self, repair: Repair) {
        let mut queue = self.queue.lock().expect("repairs lock");
        if queue.len() >= MAX_QUEUED {
            tracing::warn!("cache repair queue full; dropping the oldest repair");
            queue.pop_front();
        }
        queue.push_back(repair);
    }

    fn take(&self) -> Vec<Repair> {
        self.queue.lock().expect("repairs lock").drain(..).collect()
    }

    fn put_back(&self, rest: Vec<Repair>) {
        let mut queue = self.queue.lock().expect("repairs lock");
        for repair in rest.into_iter().rev() {
            queue.push_front(repair);
        }
    }
}

/// Writes queued repairs after each recovery, and retries what is left
/// every breaker interval.
pub(super) async fn replay_forever(repairs: Weak<Repairs>, store: RedisStore) {
    let breaker: Arc<Breaker> = store.breaker().clone();
    loop {
        tokio::select! {
            _ = breaker.recovered() => {}
            _ = tokio::time::sleep(breaker.interval()) => {}
        }
        let Some(repairs) = repairs.upgrade() else {
            return;
        };
        if !breaker.is_closed() {
            continue;
        }
        let mut pending = repairs.take().into_iter();
        let mut written = 0usize;
        while let Some(repair) = pending.next() {
            let result = match &repair {
                Repair::Set { key, value, until } => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        continue;
                    }
                    store
                        .set_ex(key, value, left.max(Duration::from_secs(1)))
                        .await
                }
                Repair::Del { key } => store.del(key).await.map(|_| ()),
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "cache repair failed; kept for later");
                repairs.put_back(std::iter::once(repair).chain(pending).collect());
                break;
            }
            written += 1;
        }
        if written > 0 {
            tracing::info!(written, "cache repairs written after the outage");
        }
    }
}
