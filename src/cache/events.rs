//! The event bus of subscriptions: after each commit, the changed
//! transaction or wallet is published, and every instance hands it to its
//! own subscribers.
//!
//! With Redis, each user has a channel, `{prefix}events:{<user_id>}`, and
//! a change goes out with `SPUBLISH` on the channel of each user it
//! concerns (sharded pub/sub, Redis 7). An instance keeps one subscriber
//! connection and is subscribed (`SSUBSCRIBE`) to the channels of the
//! users it has subscribers for: the first local subscription of a user
//! subscribes the instance to that user's channel (before it returns, so
//! nothing published after is missed), and the last one leaving
//! unsubscribes it. A thousand sockets still cost one Redis connection,
//! and an instance receives only what its subscribers may see. The design
//! is the same on one node and on a Redis Cluster: there the user id is
//! the channel's hash tag, so a change is published to the one shard that
//! owns the user's slot (the shard of the user's session keys), not
//! broadcast to every node as plain `PUBLISH` is, and the subscriber
//! connection holds one link per shard it needs. The embedded default
//! fans out in process alone. In process, each user's subscriptions share
//! a tokio broadcast channel of their own.
//!
//! Pub/sub delivers at most once: while an instance's subscriber
//! connection (or, on a cluster, its link to any shard) is down, what is
//! published is lost to it. Subscribers are told (`BusMessage::Gap`) so
//! they can end and let the client subscribe again and re-read, rather
//! than wait silently for events that will not come; the connection is
//! made again and subscribed to every channel still wanted. Each object
//! carries its version, so repeats and stale events are recognisable.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use redis::{PushInfo, PushKind};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, mpsc};
use uuid::Uuid;

use super::{
    Cache, CacheError, RedisStore, Store, redis_client::Link, transactions::TransactionSnapshot,
};
use entity::{
    Currency, MinorUnit, payment_requests,
    wallets::{self, WalletStatus},
};

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
    pub amount_minor: MinorUnit,
    pub currency: Currency,
    pub note: Option<String>,
    pub status: payment_requests::Status,
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
            currency: m.currency,
            note: m.note.clone(),
            status: m.status,
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
    pub currency: Currency,
    pub balance_minor: MinorUnit,
    pub available_balance_minor: MinorUnit,
    pub frozen_balance_minor: MinorUnit,
    pub status: WalletStatus,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&wallets::Model> for WalletSnapshot {
    fn from(m: &wallets::Model) -> Self {
        Self {
            wallet_id: m.wallet_id,
            user_id: m.user_id,
            currency: m.currency,
            balance_minor: m.balance_minor,
            available_balance_minor: m.available_balance_minor,
            frozen_balance_minor: m.frozen_balance_minor,
            status: m.status,
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

    /// Hands a change that arrived on `user`'s channel to that user's
    /// subscribers only (the other party's arrives on their channel).
    fn send_to(&self, user: Uuid, change: Change) {
        if let Some(channel) = self.by_user.lock().expect("routes lock").get(&user) {
            let _ = channel.send(BusMessage::Change(Arc::new(change)));
        }
    }

    fn has(&self, user: Uuid) -> bool {
        self.by_user
            .lock()
            .expect("routes lock")
            .contains_key(&user)
    }

    fn users(&self) -> Vec<Uuid> {
        self.by_user
            .lock()
            .expect("routes lock")
            .keys()
            .copied()
            .collect()
    }

    /// Tells every subscriber that changes may have been missed.
    fn gap(&self) {
        for channel in self.by_user.lock().expect("routes lock").values() {
            let _ = channel.send(BusMessage::Gap);
        }
    }

    /// Drops `user`'s channel when no subscriber is left on it; true when
    /// it did.
    fn release(&self, user: Uuid) -> bool {
        let mut by_user = self.by_user.lock().expect("routes lock");
        if by_user
            .get(&user)
            .is_some_and(|channel| channel.receiver_count() == 0)
        {
            by_user.remove(&user);
            return true;
        }
        false
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
        if let Some(bus) = self.bus.upgrade()
            && bus.local.release(self.user)
            && bus.remote.is_some()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let user = self.user;
            runtime.spawn(async move {
                if let Some(remote) = &bus.remote {
                    remote.unfollow(user, &bus.local).await;
                }
            });
        }
    }
}

struct Remote {
    store: RedisStore,
    /// `{prefix}events:`; a user's channel adds `{<user_id>}`.
    channel_prefix: String,
    subscriber: tokio::sync::Mutex<Subscriber>,
    /// Wakes the listener when a subscription command failed: the
    /// connection is made again.
    broken: Arc<Notify>,
}

/// The subscriber connection and the users whose channels it listens to.
#[derive(Default)]
struct Subscriber {
    link: Option<Link>,
    users: HashSet<Uuid>,
}

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How long one (un)subscription or the subscriber's connection may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

type Pushes = mpsc::UnboundedReceiver<PushInfo>;

impl Remote {
    fn channel(&self, user: Uuid) -> String {
        format!("{}{{{user}}}", self.channel_prefix)
    }

    fn user_of(&self, channel: &[u8]) -> Option<Uuid> {
        let channel = std::str::from_utf8(channel).ok()?;
        let tag = channel
            .strip_prefix(self.channel_prefix.as_str())?
            .strip_prefix('{')?
            .strip_suffix('}')?;
        Uuid::parse_str(tag).ok()
    }

    async fn send(&self, link: &mut Link, command: &str, user: Uuid) -> Result<(), CacheError> {
        let mut cmd = redis::cmd(command);
        cmd.arg(self.channel(user));
        tokio::time::timeout(SUBSCRIBE_TIMEOUT, cmd.exec_async(link))
            .await
            .map_err(|_| CacheError::TimedOut)??;
        Ok(())
    }

    /// Subscribes the instance to `user`'s channel unless it already is.
    /// Without a connection it does nothing: the next one subscribes to
    /// every user with local subscribers.
    async fn follow(&self, user: Uuid) {
        let mut subscriber = self.subscriber.lock().await;
        let Subscriber { link, users } = &mut *subscriber;
        if users.contains(&user) {
            return;
        }
        let Some(connection) = link.as_mut() else {
            return;
        };
        match self.send(connection, "SSUBSCRIBE", user).await {
            Ok(()) => {
                users.insert(user);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to a user's events; reconnecting the bus");
                *link = None;
                users.clear();
                self.broken.notify_one();
            }
        }
    }

    /// Unsubscribes from `user`'s channel once no local subscriber is left
    /// on it (checked under the lock, so a subscriber that came back
    /// meanwhile keeps it).
    async fn unfollow(&self, user: Uuid, local: &Routes) {
        let mut subscriber = self.subscriber.lock().await;
        let Subscriber { link, users } = &mut *subscriber;
        if local.has(user) || !users.contains(&user) {
            return;
        }
        let Some(connection) = link.as_mut() else {
            return;
        };
        match self.send(connection, "SUNSUBSCRIBE", user).await {
            Ok(()) => {
                users.remove(&user);
            }
            // Kept: a channel nobody here listens to costs only messages
            // that are dropped on arrival.
            Err(e) => tracing::debug!(error = %e, "cannot unsubscribe from a user's events"),
        }
    }

    /// A new subscriber connection, subscribed to the channel of every
    /// user `local` has subscribers for.
    async fn connect(&self, local: &Routes) -> Result<Pushes, CacheError> {
        let mut subscriber = self.subscriber.lock().await;
        subscriber.link = None;
        subscriber.users.clear();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut link = tokio::time::timeout(
            SUBSCRIBE_TIMEOUT,
            self.store.client().connect_subscriber(tx),
        )
        .await
        .map_err(|_| CacheError::TimedOut)??;
        let users = local.users();
        for user in &users {
            self.send(&mut link, "SSUBSCRIBE", *user).await?;
        }
        subscriber.link = Some(link);
        subscriber.users = users.into_iter().collect();
        Ok(rx)
    }
}

impl EventBus {
    /// The bus over the cache's backend. With Redis it makes its
    /// subscriber connection before returning, and keeps it alive
    /// (reconnecting) in a background task.
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
        let broken = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            local,
            remote: Some(Remote {
                store: store.clone(),
                channel_prefix: cache.key("events:"),
                subscriber: tokio::sync::Mutex::default(),
                broken: broken.clone(),
            }),
            connected: AtomicBool::new(false),
        });
        let remote = inner.remote.as_ref().expect("just set");
        // Redis down at start-up delays the bus, not the instance: the
        // listener keeps trying, and `/readyz` says the bus is degraded.
        let first = match remote.connect(&inner.local).await {
            Ok(pushes) => Some(pushes),
            Err(e) => {
                tracing::warn!(error = %e, "event bus unreachable at start; connecting in the background");
                None
            }
        };
        inner.connected.store(first.is_some(), Ordering::Relaxed);
        tokio::spawn(listen(Arc::downgrade(&inner), broken, first));
        Ok(Self { inner })
    }

    /// Sends changes, in order, to every instance's subscribers (this
    /// one's included): one `SPUBLISH` per user a change concerns, in one
    /// round trip (on a cluster, one per shard, at once).
    pub async fn publish_many(&self, changes: &[Change]) -> Result<(), CacheError> {
        match &self.inner.remote {
            None => {
                for change in changes {
                    self.inner.local.send(change.clone());
                }
                Ok(())
            }
            Some(remote) => {
                let mut commands = Vec::new();
                for change in changes {
                    let payload = serde_json::to_string(change).expect("a change serialises");
                    for user in change.users() {
                        let channel = remote.channel(user);
                        let mut cmd = redis::cmd("SPUBLISH");
                        cmd.arg(&channel).arg(&payload);
                        commands.push((channel, cmd));
                    }
                }
                remote.store.exec_by_slot(commands, None).await
            }
        }
    }

    /// A receiver of the changes that concern `user`. With Redis, the
    /// instance listens to the user's channel by the time it returns
    /// (unless the bus is down: then a gap follows its reconnection).
    pub async fn subscribe(&self, user: Uuid) -> BusReceiver {
        let receiver = BusReceiver {
            rx: Some(self.inner.local.subscribe(user)),
            user,
            bus: Arc::downgrade(&self.inner),
        };
        if let Some(remote) = &self.inner.remote {
            remote.follow(user).await;
        }
        receiver
    }

    /// Whether this instance currently receives the bus (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }
}

/// Reads the subscriber connection's messages and fans them out; makes
/// the connection again, with backoff, when it (or a link of it to a
/// shard) drops or a subscription fails. Ends when the bus itself is gone.
async fn listen(bus: Weak<Inner>, broken: Arc<Notify>, mut pushes: Option<Pushes>) {
    let mut backoff = RECONNECT_MIN;
    loop {
        if let Some(mut connected) = pushes.take() {
            loop {
                let push = tokio::select! {
                    push = connected.recv() => push,
                    () = broken.notified() => None,
                };
                let Some(inner) = bus.upgrade() else { return };
                let Some(push) = push else { break };
                match push.kind {
                    PushKind::SMessage => deliver(&inner, push.data),
                    PushKind::Disconnection => break,
                    _ => {}
                }
            }
            {
                let Some(inner) = bus.upgrade() else { return };
                inner.connected.store(false, Ordering::Relaxed);
                // No (un)subscription goes to the lost connection from now
                // on; it is made again below.
                if let Some(remote) = &inner.remote {
                    let mut subscriber = remote.subscriber.lock().await;
                    subscriber.link = None;
                    subscriber.users.clear();
                }
                inner.local.gap();
            }
            tracing::warn!("event bus connection lost; reconnecting");
        }
        pushes = Some(loop {
            tokio::time::sleep(backoff).await;
            let Some(inner) = bus.upgrade() else { return };
            let remote = inner.remote.as_ref().expect("a Redis bus");
            match remote.connect(&inner.local).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::debug!(error = %e, "event bus still unreachable");
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                }
            }
        });
        backoff = RECONNECT_MIN;
        // A failure noted on the lost connection is already dealt with.
        let _ = broken.notified().now_or_never();
        if let Some(inner) = bus.upgrade() {
            inner.connected.store(true, Ordering::Relaxed);
            // Anything published while we were away is lost to this
            // instance; subscribers that joined meanwhile hear it too.
            inner.local.gap();
        }
        tracing::info!("event bus reconnected");
    }
}

/// One `smessage` push: `[channel, payload]`.
fn deliver(inner: &Inner, data: Vec<redis::Value>) {
    let remote = inner.remote.as_ref().expect("a Redis bus");
    let [channel, payload] = &data[..] else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        redis::from_redis_value::<Vec<u8>>(channel),
        redis::from_redis_value::<Vec<u8>>(payload),
    ) else {
        return;
    };
    let Some(user) = remote.user_of(&channel) else {
        return;
    };
    match serde_json::from_slice::<Change>(&payload) {
        Ok(change) => inner.local.send_to(user, change),
        Err(e) => tracing::warn!(error = %e, "ignoring a malformed bus message"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::transactions::tests::snapshot;
    use entity::transactions::Status;

    #[tokio::test]
    async fn a_change_reaches_both_parties_and_nobody_else() {
        let bus = EventBus::start(&Cache::in_process(""), 16).await.unwrap();
        let t = snapshot(1, Status::Pending);
        let mut sender = bus.subscribe(t.sender_id.unwrap()).await;
        let mut sender_elsewhere = bus.subscribe(t.sender_id.unwrap()).await;
        let mut receiver = bus.subscribe(t.receiver_id.unwrap()).await;
        let change = Change::Transaction(t);
        let mut stranger = bus.subscribe(Uuid::from_u128(99)).await;
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
        let first = bus.subscribe(user).await;
        let second = bus.subscribe(user).await;
        assert_eq!(channels(), 1);
        drop(first);
        assert_eq!(channels(), 1, "one subscriber is left");
        drop(second);
        assert_eq!(channels(), 0);
    }

    #[test]
    fn a_change_survives_the_wire() {
        let change = Change::Transaction(snapshot(4, Status::Completed));
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), change);
    }
}
