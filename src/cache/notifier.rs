//! The ledger's `ChangeNotifier`: after each commit, refresh the
//! transaction cache and publish the change on the event bus.
//!
//! The ledger calls it synchronously right after commit, and must not wait
//! on Redis there; so changes go into a queue that one worker drains in
//! commit order. When Redis is down the worker keeps the change and retries
//! with backoff, so the cache is refreshed and subscribers hear of it once
//! Redis is back (late, but not silently stale). The queue is bounded: past
//! `MAX_QUEUED` the oldest changes are dropped with a warning; they are
//! still in the database, and a transaction cache entry can be stale for at
//! most its TTL.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

use super::{
    CacheError,
    events::{Change, EventBus},
    notify::ChangeNotifier,
    transactions::{TransactionCache, TransactionSnapshot},
};
use entity::{payment_requests, transactions as txn, wallets};

const MAX_QUEUED: usize = 100_000;
/// The most changes delivered in one go (two pipelined round trips).
const MAX_DELIVERY: usize = 256;
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

pub struct CacheNotifier {
    queue: Arc<Queue>,
    transactions: TransactionCache,
}

#[derive(Default)]
struct Queue {
    changes: Mutex<VecDeque<Change>>,
    wake: Notify,
}

impl CacheNotifier {
    /// Starts the worker that delivers queued changes.
    pub fn start(transactions: TransactionCache, bus: EventBus) -> Arc<Self> {
        let queue = Arc::new(Queue::default());
        tokio::spawn(deliver_forever(queue.clone(), transactions.clone(), bus));
        Arc::new(Self {
            queue,
            transactions,
        })
    }

    fn push(&self, change: Change) {
        if let Change::Transaction(t) = &change {
            self.transactions.refresh_queued(t.transaction_id);
        }
        let mut changes = self.queue.changes.lock().expect("queue lock poisoned");
        if changes.len() >= MAX_QUEUED
            && let Some(dropped) = changes.pop_front()
        {
            tracing::warn!("change queue full; dropped the oldest change notice");
            settled(&self.transactions, &dropped);
        }
        changes.push_back(change);
        drop(changes);
        self.queue.wake.notify_one();
    }
}

impl ChangeNotifier for CacheNotifier {
    fn transaction_changed(&self, transaction: &txn::Model) {
        self.push(Change::Transaction(transaction.into()));
    }

    fn wallet_changed(&self, wallet: &wallets::Model) {
        self.push(Change::Wallet(wallet.into()));
    }

    fn payment_request_changed(&self, request: &payment_requests::Model) {
        self.push(Change::PaymentRequest(request.into()));
    }
}

/// The change's refresh will not be attempted again.
fn settled(transactions: &TransactionCache, change: &Change) {
    if let Change::Transaction(t) = change {
        transactions.refresh_done(t.transaction_id);
    }
}

async fn deliver_forever(queue: Arc<Queue>, transactions: TransactionCache, bus: EventBus) {
    let mut backoff = RETRY_MIN;
    loop {
        let next: Vec<Change> = queue
            .changes
            .lock()
            .expect("queue lock poisoned")
            .iter()
            .take(MAX_DELIVERY)
            .cloned()
            .collect();
        if next.is_empty() {
            // `notify_one` keeps a permit when nobody waits, so a push
            // between the check above and this wait is not lost.
            queue.wake.notified().await;
            continue;
        }
        match deliver(&transactions, &bus, &next).await {
            Ok(()) => {
                let mut changes = queue.changes.lock().expect("queue lock poisoned");
                for change in &next {
                    // Only pop what was delivered: a full queue may have
                    // dropped it.
                    if changes.front() == Some(change) {
                        changes.pop_front();
                        settled(&transactions, change);
                    }
                }
                backoff = RETRY_MIN;
            }
            Err(e) => {
                if backoff == RETRY_MIN {
                    tracing::warn!(error = %e, "cannot deliver change notices; retrying");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Refreshes the cache for every transaction among `changes`, then
/// publishes them all, in order: two round trips however many there are.
/// Both steps are idempotent for one version, so a retry after a half-done
/// attempt does no harm; and a subscriber told of a change finds the cache
/// already fresh.
async fn deliver(
    transactions: &TransactionCache,
    bus: &EventBus,
    changes: &[Change],
) -> Result<(), CacheError> {
    let snapshots: Vec<&TransactionSnapshot> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Transaction(t) => Some(t),
            _ => None,
        })
        .collect();
    transactions.store_many(&snapshots).await?;
    bus.publish_many(changes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, events::BusMessage, transactions::tests::snapshot};
    use entity::transactions::Status;

    #[tokio::test]
    async fn a_change_refreshes_the_cache_and_reaches_the_bus_in_order() {
        let cache = Cache::in_process("");
        let bus = EventBus::start(&cache, 16).await.unwrap();
        let sender = snapshot(1, Status::Pending).sender_id.unwrap();
        let mut rx = bus.subscribe(sender).await;
        let txns = TransactionCache::new(cache.clone());
        let notifier = CacheNotifier::start(txns.clone(), bus);
        for (version, status) in [
            (1, Status::Pending),
            (2, Status::Processing),
            (3, Status::Completed),
        ] {
            notifier.transaction_changed(&snapshot(version, status).into());
        }
        for expected in 1..=3 {
            let msg = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("a change within the deadline")
                .unwrap();
            let BusMessage::Change(change) = msg else {
                panic!("unexpected gap")
            };
            let Change::Transaction(t) = &*change else {
                panic!("a transaction change")
            };
            assert_eq!(t.version, expected);
        }
        // Delivered means refreshed: the entry is served again, newest.
        let id = snapshot(1, Status::Pending).transaction_id;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let cached = loop {
            if let Some(c) = txns.get(id).await.unwrap() {
                break c;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "refresh never settled"
            );
            tokio::task::yield_now().await;
        };
        assert_eq!(cached.status, Status::Completed);
    }
}
