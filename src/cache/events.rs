//! The event bus of subscriptions: after each commit, the changed
//! transaction or wallet is published, and every instance hands it to its
//! own subscribers.
//!
//! With Redis, changes go out with `PUBLISH` on `{prefix}events`, and each
//! instance keeps one subscriber connection whose messages it fans out in
//! process (so a thousand sockets cost one Redis connection, not a
//! thousand). The embedded default fans out in process alone. In process,
//! each user's subscriptions share a tokio broadcast channel of their own:
//! a change wakes the subscriptions of the users it concerns, not every
//! subscription of the instance.
//!
//! Pub/sub delivers at most once: while an instance's subscriber
//! connection is down, what is published is lost to it. Subscribers are
//! told (`BusMessage::Gap`) so they can end and let the client subscribe
//! again and re-read, rather than wait silently for events that will not
//! come. Each object carries its version, so repeats and stale events are
//! recognisable.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{Cache, CacheError, RedisStore, Store, transactions::TransactionSnapshot};
use entity::{payment_requests, wallets};

/// One committed change, as it travels between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "object", rename_all = "snake_case")]
pub enum Change {
    Transaction(TransactionSnapshot),
    Wallet(WalletSnapshot),
    PaymentRequest(PaymentRequestSnapshot),
}

/// A payment request as it travels on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequestSnapshot {
    pub payment_request_id: Uuid,
    pub requester_id: Uuid,
    pub payer_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub note: Option<String>,
    pub status: String,
    pub decline_reason: Option<String>,
    pub transaction_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&payment_requests::Model> for PaymentRequestSnapshot {
    fn from(m: &payment_requests::Model) -> Self {
        Self {
            payment_request_id: m.payment_request_id,
            requester_id: m.requester_id,
            payer_id: m.payer_id,
            amount_minor: m.amount_minor,
            currency: m.currency.clone(),
            note: m.note.clone(),
            status: m.status.clone(),
            decline_reason: m.decline_reason.clone(),
            transaction_id: m.transaction_id,
            version: m.version,
            created_at: m.created_at,
            expires_at: m.expires_at,
            updated_at: m.updated_at,
        }
    }
}

/// The idempotency key is not on the bus: no subscriber shows it.
impl From<PaymentRequestSnapshot> for payment_requests::Model {
    fn from(s: PaymentRequestSnapshot) -> Self {
        Self {
            payment_request_id: s.payment_request_id,
            requester_id: s.requester_id,
            payer_id: s.payer_id,
            amount_minor: s.amount_minor,
            currency: s.currency,
            note: s.note,
            status: s.status,
            decline_reason: s.decline_reason,
            transaction_id: s.transaction_id,
            idempotency_key: None,
            request_hash: None,
            version: s.version,
            created_at: s.created_at,
            expires_at: s.expires_at,
            updated_at: s.updated_at,
        }
    }
}

/// A wallet as it travels on the bus (the entity model does not derive serde).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletSnapshot {
    pub wallet_id: Uuid,
    pub user_id: Uuid,
    pub currency: String,
    pub balance_minor: i64,
    pub available_balance_minor: i64,
    pub frozen_balance_minor: i64,
    pub status: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&wallets::Model> for WalletSnapshot {
    fn from(m: &wallets::Model) -> Self {
        Self {
            wallet_id: m.wallet_id,
            user_id: m.user_id,
            currency: m.currency.clone(),
            balance_minor: m.balance_minor,
            available_balance_minor: m.available_balance_minor,
            frozen_balance_minor: m.frozen_balance_minor,
            status: m.status.clone(),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

impl From<WalletSnapshot> for wallets::Model {
    fn from(s: WalletSnapshot) -> Self {
        Self {
            wallet_id: s.wallet_id,
            user_id: s.user_id,
            currency: s.currency,
            balance_minor: s.balance_minor,
            available_balance_minor: s.available_balance_minor,
            frozen_balance_minor: s.frozen_balance_minor,
            status: s.status,
            version: s.version,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl Change {
    /// The users whose subscriptions may show this change.
    fn users(&self) -> impl Iterator<Item = Uuid> {
        let (a, b) = match self {
            Change::Transaction(t) => (
                t.sender_id,
                t.receiver_id.filter(|r| t.sender_id != Some(*r)),
            ),
            Change::Wallet(w) => (Some(w.user_id), None),
            Change::PaymentRequest(r) => (Some(r.requester_id), Some(r.payer_id)),
        };
        a.into_iter().chain(b)
    }
}

/// What a subscriber receives from the bus.
#[derive(Debug, Clone)]
pub enum BusMessage {
    Change(Arc<Change>),
    /// The instance lost its bus connection: changes may have been missed.
    Gap,
}

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    local: Routes,
    remote: Option<Remote>,
    connected: AtomicBool,
}

/// The in-process fan-out: a broadcast channel per user with subscribers,
/// made by the first subscription and dropped once none is left.
struct Routes {
    /// Each channel's capacity: how far one subscriber may fall behind.
    buffer: usize,
    by_user: Mutex<HashMap<Uuid, broadcast::Sender<BusMessage>>>,
}

impl Routes {
    fn new(buffer: usize) -> Self {
        Self {
            buffer,
            by_user: Mutex::new(HashMap::new()),
        }
    }

    fn subscribe(&self, user: Uuid) -> broadcast::Receiver<BusMessage> {
        let mut by_user = self.by_user.lock().expect("routes lock");
        by_user
            .entry(user)
            .or_insert_with(|| broadcast::channel(self.buffer).0)
            .subscribe()
    }

    fn send(&self, change: Change) {
        let change = Arc::new(change);
        let by_user = self.by_user.lock().expect("routes lock");
        for user in change.users() {
            if let Some(channel) = by_user.get(&user) {
                // No receiver left is not an error: the channel goes when
                // its last receiver does.
                let _ = channel.send(BusMessage::Change(change.clone()));
            }
        }
    }

    /// Tells every subscriber that changes may have been missed.
    fn gap(&self) {
        for channel in self.by_user.lock().expect("routes lock").values() {
            let _ = channel.send(BusMessage::Gap);
        }
    }

    /// Drops `user`'s channel when no subscriber is left on it.
    fn release(&self, user: Uuid) {
        let mut by_user = self.by_user.lock().expect("routes lock");
        if by_user
            .get(&user)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            by_user.remove(&user);
        }
    }
}

/// One subscription's receiver, on its user's channel.
pub struct BusReceiver {
    rx: Option<broadcast::Receiver<BusMessage>>,
    user: Uuid,
    bus: Weak<Inner>,
}

impl BusReceiver {
    pub async fn recv(&mut self) -> Result<BusMessage, broadcast::error::RecvError> {
        self.rx.as_mut().expect("held until dropped").recv().await
    }

    /// Discards what is already waiting: for a subscriber that reads the
    /// current state after any wake-up, one read covers them all.
    pub fn skip_waiting(&mut self) {
        let rx = self.rx.as_mut().expect("held until dropped");
        while !matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
        ) {}
    }
}

impl Drop for BusReceiver {
    fn drop(&mut self) {
        // The receiver goes first, so that the channel's count no longer
        // has it.
        drop(self.rx.take());
        if let Some(bus) = self.bus.upgrade() {
            bus.local.release(self.user);
        }
    }
}

struct Remote {
    store: RedisStore,
    channel: String,
}

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

impl EventBus {
    /// The bus over the cache's backend. With Redis it subscribes before
    /// returning, so nothing published after start-up is missed, and keeps
    /// the subscription alive (reconnecting) in a background task.
    pub async fn start(cache: &Cache, buffer: usize) -> Result<Self, CacheError> {
        let local = Routes::new(buffer);
        let Store::Redis(store) = cache.store() else {
            return Ok(Self {
                inner: Arc::new(Inner {
                    local,
                    remote: None,
                    connected: AtomicBool::new(true),
                }),
            });
        };
        let channel = cache.key("events");
        // Redis down at start-up delays the bus, not the instance: the
        // listener keeps trying, and `/readyz` says the bus is degraded.
        let first = match subscribe(store.client(), &channel).await {
            Ok(connection) => Some(connection),
            Err(e) => {
                tracing::warn!(error = %e, "event bus unreachable at start; connecting in the background");
                None
            }
        };
        let inner = Arc::new(Inner {
            local,
            remote: Some(Remote {
                store: store.clone(),
                channel: channel.clone(),
            }),
            connected: AtomicBool::new(first.is_some()),
        });
        tokio::spawn(listen(
            Arc::downgrade(&inner),
            store.client().clone(),
            channel,
            first,
        ));
        Ok(Self { inner })
    }

    /// Sends changes, in order, to every instance's subscribers (this
    /// one's included), in one round trip to Redis.
    pub async fn publish_many(&self, changes: &[Change]) -> Result<(), CacheError> {
        match &self.inner.remote {
            None => {
                for change in changes {
                    self.inner.local.send(change.clone());
                }
                Ok(())
            }
            Some(remote) => {
                if changes.is_empty() {
                    return Ok(());
                }
                let mut pipe = redis::pipe();
                for change in changes {
                    let payload = serde_json::to_string(change).expect("a change serialises");
                    pipe.cmd("PUBLISH")
                        .arg(&remote.channel)
                        .arg(payload)
                        .ignore();
                }
                remote
                    .store
                    .call(async |c| pipe.query_async::<()>(c).await)
                    .await
            }
        }
    }

    /// A receiver of the changes that concern `user`.
    pub fn subscribe(&self, user: Uuid) -> BusReceiver {
        BusReceiver {
            rx: Some(self.inner.local.subscribe(user)),
            user,
            bus: Arc::downgrade(&self.inner),
        }
    }

    /// Whether this instance currently receives the bus (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }
}

async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> Result<redis::aio::PubSub, CacheError> {
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| CacheError::TimedOut)??;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// Reads the subscriber connection and fans its messages out; reconnects
/// with backoff when it drops. Ends when the bus itself is gone.
async fn listen(
    bus: Weak<Inner>,
    client: redis::Client,
    channel: String,
    mut connection: Option<redis::aio::PubSub>,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        if let Some(connected) = connection.take() {
            let mut messages = connected.into_on_message();
            while let Some(msg) = messages.next().await {
                let Some(inner) = bus.upgrade() else { return };
                match serde_json::from_slice::<Change>(msg.get_payload_bytes()) {
                    Ok(change) => inner.local.send(change),
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed bus message"),
                }
            }
            {
                let Some(inner) = bus.upgrade() else { return };
                inner.connected.store(false, Ordering::Relaxed);
                inner.local.gap();
            }
            tracing::warn!("event bus connection lost; reconnecting");
        }
        connection = Some(loop {
            tokio::time::sleep(backoff).await;
            if bus.strong_count() == 0 {
                return;
            }
            match subscribe(&client, &channel).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::debug!(error = %e, "event bus still unreachable");
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                }
            }
        });
        backoff = RECONNECT_MIN;
        if let Some(inner) = bus.upgrade() {
            inner.connected.store(true, Ordering::Relaxed);
            // Anything published while we were away is lost to this
            // instance; subscribers that joined meanwhile hear it too.
            inner.local.gap();
        }
        tracing::info!("event bus reconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::transactions::tests::snapshot;

    #[tokio::test]
    async fn a_change_reaches_both_parties_and_nobody_else() {
        let bus = EventBus::start(&Cache::in_process(""), 16).await.unwrap();
        let t = snapshot(1, "pending");
        let mut sender = bus.subscribe(t.sender_id.unwrap());
        let mut sender_elsewhere = bus.subscribe(t.sender_id.unwrap());
        let mut receiver = bus.subscribe(t.receiver_id.unwrap());
        let change = Change::Transaction(t);
        let mut stranger = bus.subscribe(Uuid::from_u128(99));
        bus.publish_many(std::slice::from_ref(&change))
            .await
            .unwrap();
        for rx in [&mut sender, &mut sender_elsewhere, &mut receiver] {
            match rx.recv().await.unwrap() {
                BusMessage::Change(c) => assert_eq!(*c, change),
                BusMessage::Gap => panic!("unexpected gap"),
            }
        }
        let nothing = tokio::time::timeout(Duration::from_millis(50), stranger.recv()).await;
        assert!(nothing.is_err(), "a stranger heard {nothing:?}");
    }

    #[tokio::test]
    async fn a_users_channel_goes_with_its_last_subscriber() {
        let bus = EventBus::start(&Cache::in_process(""), 16).await.unwrap();
        let user = Uuid::from_u128(1);
        let channels = || bus.inner.local.by_user.lock().unwrap().len();
        let first = bus.subscribe(user);
        let second = bus.subscribe(user);
        assert_eq!(channels(), 1);
        drop(first);
        assert_eq!(channels(), 1, "one subscriber is left");
        drop(second);
        assert_eq!(channels(), 0);
    }

    #[test]
    fn a_change_survives_the_wire() {
        let change = Change::Transaction(snapshot(4, "completed"));
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), change);
    }
}
