//! The event bus of subscriptions: after each commit, the changed
//! transaction or wallet is published, and every instance hands it to its
//! own subscribers.
//!
//! With Redis, changes go out with `PUBLISH` on `{prefix}events`, and each
//! instance keeps one subscriber connection whose messages it fans out in
//! process through a tokio broadcast channel (so a thousand sockets cost one
//! Redis connection, not a thousand). The embedded default uses the
//! broadcast channel alone.
//!
//! Pub/sub delivers at most once: while an instance's subscriber
//! connection is down, what is published is lost to it. Subscribers are
//! told (`BusMessage::Gap`) so they can end and let the client subscribe
//! again and re-read, rather than wait silently for events that will not
//! come. Each object carries its version, so repeats and stale events are
//! recognisable.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::{
    Cache, CacheError, RedisStore, Store, redis_store::err, transactions::TransactionSnapshot,
};
use entity::wallets;

/// One committed change, as it travels between instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "object", rename_all = "snake_case")]
pub enum Change {
    Transaction(TransactionSnapshot),
    Wallet(WalletSnapshot),
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
    local: broadcast::Sender<BusMessage>,
    remote: Option<Remote>,
    connected: AtomicBool,
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
        let (local, _) = broadcast::channel(buffer);
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
        let first = subscribe(store.url(), &channel).await?;
        let inner = Arc::new(Inner {
            local,
            remote: Some(Remote {
                store: store.clone(),
                channel: channel.clone(),
            }),
            connected: AtomicBool::new(true),
        });
        tokio::spawn(listen(
            Arc::downgrade(&inner),
            store.url().to_owned(),
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
                    // No receivers is not an error: nobody is subscribed.
                    let _ = self
                        .inner
                        .local
                        .send(BusMessage::Change(Arc::new(change.clone())));
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
                let mut conn = remote.store.conn().await?;
                pipe.query_async::<()>(&mut *conn).await.map_err(err)
            }
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.inner.local.subscribe()
    }

    /// Whether this instance currently receives the bus (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Relaxed)
    }
}

async fn subscribe(url: &str, channel: &str) -> Result<redis::aio::PubSub, CacheError> {
    let client = redis::Client::open(url).map_err(err)?;
    let mut pubsub = tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub())
        .await
        .map_err(|_| CacheError("timed out connecting the event bus".into()))?
        .map_err(err)?;
    pubsub.subscribe(channel).await.map_err(err)?;
    Ok(pubsub)
}

/// Reads the subscriber connection and fans its messages out; reconnects
/// with backoff when it drops. Ends when the bus itself is gone.
async fn listen(
    bus: Weak<Inner>,
    url: String,
    channel: String,
    mut connection: redis::aio::PubSub,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let mut messages = connection.into_on_message();
        while let Some(msg) = messages.next().await {
            let Some(inner) = bus.upgrade() else { return };
            match serde_json::from_slice::<Change>(msg.get_payload_bytes()) {
                Ok(change) => {
                    let _ = inner.local.send(BusMessage::Change(Arc::new(change)));
                }
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed bus message"),
            }
        }
        {
            let Some(inner) = bus.upgrade() else { return };
            inner.connected.store(false, Ordering::Relaxed);
            let _ = inner.local.send(BusMessage::Gap);
        }
        tracing::warn!("event bus connection lost; reconnecting");
        connection = loop {
            tokio::time::sleep(backoff).await;
            if bus.strong_count() == 0 {
                return;
            }
            match subscribe(&url, &channel).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::debug!(error = %e, "event bus still unreachable");
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                }
            }
        };
        backoff = RECONNECT_MIN;
        if let Some(inner) = bus.upgrade() {
            inner.connected.store(true, Ordering::Relaxed);
            // Anything published while we were away is lost to this
            // instance; subscribers that joined meanwhile hear it too.
            let _ = inner.local.send(BusMessage::Gap);
        }
        tracing::info!("event bus reconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::transactions::tests::snapshot;

    #[tokio::test]
    async fn the_in_process_bus_reaches_every_subscriber() {
        let bus = EventBus::start(&Cache::in_process(""), 16).await.unwrap();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        let change = Change::Transaction(snapshot(1, "pending"));
        bus.publish_many(std::slice::from_ref(&change))
            .await
            .unwrap();
        for rx in [&mut a, &mut b] {
            match rx.recv().await.unwrap() {
                BusMessage::Change(c) => assert_eq!(*c, change),
                BusMessage::Gap => panic!("unexpected gap"),
            }
        }
    }

    #[test]
    fn a_change_survives_the_wire() {
        let change = Change::Transaction(snapshot(4, "completed"));
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), change);
    }
}
