//! Subscriptions: `transactionUpdated`, `walletUpdated` and
//! `paymentRequestUpdated`, fed by the event bus; every event is authorised
//! against the socket's user before it is sent, whatever the subscription
//! asked for. And `changes`, the caller's change feed, read from the
//! database: the bus only wakes it up.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_graphql::{Context, ID, Subscription as SubscriptionRoot};
use futures::Stream;
use tokio::sync::{broadcast::error::RecvError, watch};
use uuid::Uuid;

use super::{
    caller::{app, require_user},
    errors::{ApiError, ApiResult, Code},
    ids::{self, Kind},
    types::{Change as FeedChange, PaymentRequest, Transaction, Wallet},
};
use crate::{
    cache::events::{BusMessage, BusReceiver, Change},
    ledger::{self, Ledger},
    support::{Sight, sight},
};

/// `row` when it is the caller's own (`support::sight`), else
/// `NOT_FOUND`. The bus brings a socket only its user's events, so a
/// subscription follows only the caller's own objects, agents' included.
fn own<T>(
    ctx: &Context<'_>,
    row: Option<T>,
    owners: impl FnOnce(&T) -> Vec<Option<Uuid>>,
) -> ApiResult<T> {
    let reader = require_user(ctx)?;
    row.filter(|r| sight(reader, &owners(r)) == Some(Sight::Own))
        .ok_or_else(ApiError::not_found)
}

/// The key `id` names, if given, and that object's current state, read
/// by `read` and the caller's own (`own`): where a subscription to one
/// object starts.
async fn current<T, Fut>(
    ctx: &Context<'_>,
    id: Option<ID>,
    kind: Kind,
    read: impl Fn(Uuid) -> Fut,
    owners: impl FnOnce(&T) -> Vec<Option<Uuid>>,
) -> ApiResult<(Option<Uuid>, Option<T>)>
where
    Fut: Future<Output = Result<Option<T>, sea_orm::DbErr>>,
{
    let Some(key) = id.map(|id| ids::decode("id", kind, &id)).transpose()? else {
        return Ok((None, None));
    };
    let row = app(ctx).retry.read(|| read(key)).await?;
    Ok((Some(key), Some(own(ctx, row, owners)?)))
}

pub struct Subscription;

/// Why the transport should close a socket, and with which code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub code: u16,
    pub reason: &'static str,
}

/// Per-socket bookkeeping shared with the resolvers through the
/// connection data: how many subscriptions the socket holds, and a way
/// for a subscription to ask the transport to close the socket.
pub struct SocketControl {
    active: AtomicUsize,
    max: usize,
    close: watch::Sender<Option<CloseRequest>>,
}

impl SocketControl {
    pub fn new(max: usize) -> (Arc<Self>, watch::Receiver<Option<CloseRequest>>) {
        let (close, rx) = watch::channel(None);
        let control = Arc::new(Self {
            active: AtomicUsize::new(0),
            max,
            close,
        });
        (control, rx)
    }

    fn acquire(self: &Arc<Self>) -> ApiResult<Slot> {
        let held = self.active.fetch_add(1, Ordering::AcqRel);
        if held >= self.max {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::new(
                Code::QueryTooComplex,
                format!("at most {} subscriptions per connection", self.max),
            ));
        }
        Ok(Slot(self.clone()))
    }

    /// Events were lost to this socket (it fell behind, or the bus
    /// connection dropped). Closing with 1013 (try again later) makes a
    /// client reconnect, subscribe again and so re-read the current state,
    /// which is better than a stream that silently skipped changes.
    fn events_lost(&self, reason: &'static str) {
        self.close
            .send_replace(Some(CloseRequest { code: 1013, reason }));
    }
}

/// One held subscription; dropping it (unsubscribe, socket closed) frees it.
struct Slot(Arc<SocketControl>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Remembers the last version sent per object so that a stale or repeated
/// event (two instances publishing out of order) is not sent. Bounded: past
/// `MAX_TRACKED` objects it starts over, which at worst lets one repeat
/// through (clients compare versions too).
#[derive(Default)]
struct Versions(HashMap<Uuid, i64>);

const MAX_TRACKED: usize = 10_000;

impl Versions {
    fn is_newer(&mut self, id: Uuid, version: i64) -> bool {
        if self.0.get(&id).is_some_and(|seen| *seen >= version) {
            return false;
        }
        if self.0.len() >= MAX_TRACKED {
            self.0.clear();
        }
        self.0.insert(id, version);
        true
    }
}

/// The bus as seen by one subscription: changes it may see, newest only;
/// `None` ends the stream.
async fn next_change(rx: &mut BusReceiver, control: Option<&SocketControl>) -> Option<Arc<Change>> {
    match rx.recv().await {
        Ok(BusMessage::Change(change)) => Some(change),
        Ok(BusMessage::Gap) => {
            if let Some(c) = control {
                c.events_lost("event bus interrupted; subscribe again");
            }
            None
        }
        Err(RecvError::Lagged(_)) => {
            if let Some(c) = control {
                c.events_lost("subscriber fell behind; subscribe again");
            }
            None
        }
        Err(RecvError::Closed) => None,
    }
}

/// What every subscription starts with: the caller, a slot on the socket,
/// and a receiver on the bus, taken before any current state is read so a
/// change committed in between is seen (once, thanks to the versions).
struct Subscriber {
    who: Uuid,
    control: Option<Arc<SocketControl>>,
    slot: Option<Slot>,
    rx: BusReceiver,
}

impl Subscriber {
    async fn new(ctx: &Context<'_>) -> ApiResult<Self> {
        let who = require_user(ctx)?.user_id;
        let control = ctx.data_opt::<Arc<SocketControl>>().cloned();
        let slot = control.as_ref().map(|c| c.acquire()).transpose()?;
        Ok(Self {
            who,
            control,
            slot,
            rx: app(ctx).events.subscribe(who).await,
        })
    }

    /// The current state (when one object was asked for), then each change
    /// `pick` lets through, newer versions only.
    fn follow<T: Send + 'static>(
        self,
        first: Option<(Uuid, i64, T)>,
        pick: impl Fn(&Change) -> Option<(Uuid, i64, T)> + Send + 'static,
    ) -> impl Stream<Item = T> {
        let Self {
            control,
            slot,
            mut rx,
            ..
        } = self;
        async_stream::stream! {
            let _slot = slot;
            let mut versions = Versions::default();
            if let Some((id, version, item)) = first {
                versions.is_newer(id, version);
                yield item;
            }
            while let Some(change) = next_change(&mut rx, control.as_deref()).await {
                if let Some((id, version, item)) = pick(&change)
                    && versions.is_newer(id, version)
                {
                    yield item;
                }
            }
        }
    }
}

/// How long a live change feed waits for a wake-up before it reads anyway:
/// a wake-up lost past the bus's own recovery delays a change by this
/// much, never loses it.
const FEED_IDLE_READ: Duration = Duration::from_secs(30);

/// Changes read per statement while a feed catches up.
const FEED_PAGE: u64 = 100;

impl Subscriber {
    /// The caller's feed after `start`: what is there now, then, at each
    /// wake-up from the bus (any message for this user, a gap or falling
    /// behind included), what was added after the last change sent. Each
    /// read starts after the last change read, so nothing is sent twice
    /// or skipped, whichever instance made the change.
    fn feed(
        self,
        ledger: Ledger,
        start: ledger::Start,
    ) -> impl Stream<Item = async_graphql::Result<FeedChange>> {
        let Self {
            who, slot, mut rx, ..
        } = self;
        async_stream::stream! {
            let _slot = slot;
            let mut next = start;
            loop {
                // What is waiting now is covered by the read that follows.
                rx.skip_waiting();
                loop {
                    match ledger.feed_page(who, next, FEED_PAGE).await {
                        Ok(page) => {
                            next = page.next;
                            for entry in page.entries {
                                yield Ok(FeedChange(entry));
                            }
                            if !page.more {
                                break;
                            }
                        }
                        // The client subscribes again from its last cursor.
                        Err(e) => {
                            yield Err(ApiError::from(e).into());
                            return;
                        }
                    }
                }
                tokio::select! {
                    woken = rx.recv() => {
                        if matches!(woken, Err(RecvError::Closed)) {
                            return;
                        }
                    }
                    _ = tokio::time::sleep(FEED_IDLE_READ) => {}
                }
            }
        }
    }
}

#[SubscriptionRoot]
impl Subscription {
    /// The caller's change feed. With `after` (a `Change.cursor`): every
    /// change since, then each new one as it commits; without: new ones
    /// only. The order is the order the changes committed in; none is
    /// skipped or repeated, across reconnects and instances. An old or
    /// malformed cursor is `BAD_USER_INPUT` (`extensions.reason`
    /// `CURSOR_EXPIRED` or `CURSOR_INVALID`).
    async fn changes(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<FeedChange>> + use<>> {
        // On the bus before the first read, so no wake-up is missed.
        let subscriber = Subscriber::new(ctx).await?;
        let ledger = app(ctx).ledger.clone();
        let start = match after {
            Some(cursor) => ledger.feed_from(subscriber.who, &cursor).await,
            None => ledger.feed_head(subscriber.who).await,
        }
        .map_err(ApiError::from)?;
        Ok(subscriber.feed(ledger, start))
    }

    /// With `id`: that transaction's current state first, then each of its
    /// status changes. Without: every change of any transaction the caller
    /// sends or receives (no initial state). Drop an event whose `version`
    /// is not above the last one seen for that transaction.
    async fn transaction_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Transaction> + use<>> {
        let subscriber = Subscriber::new(ctx).await?;
        let who = subscriber.who;
        let (key, now) = current(
            ctx,
            id,
            Kind::Transaction,
            |key| {
                let app = app(ctx);
                ledger::transaction_by_id(&app.db, &app.transactions, key)
            },
            |t| vec![t.sender_id, t.receiver_id],
        )
        .await?;
        let first = now.map(|t| (t.transaction_id, t.version, Transaction(t)));
        Ok(subscriber.follow(first, move |change| match change {
            Change::Transaction(t)
                if t.is_party(who) && key.is_none_or(|k| k == t.transaction_id) =>
            {
                Some((t.transaction_id, t.version, Transaction(t.clone().into())))
            }
            _ => None,
        }))
    }

    /// With `id`: that wallet's current state first, then each balance
    /// change. Without: every change of any of the caller's wallets (no
    /// initial state). Versions only grow; drop an event whose `version` is
    /// not above the last one seen for that wallet.
    async fn wallet_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Wallet> + use<>> {
        let subscriber = Subscriber::new(ctx).await?;
        let who = subscriber.who;
        let (key, now) = current(
            ctx,
            id,
            Kind::Wallet,
            |key| ledger::wallet_by_id(&app(ctx).db, key),
            |w| vec![Some(w.user_id)],
        )
        .await?;
        let first = now.map(|w| (w.wallet_id, w.version, Wallet(w)));
        Ok(subscriber.follow(first, move |change| match change {
            Change::Wallet(w) if w.user_id == who && key.is_none_or(|k| k == w.wallet_id) => {
                Some((w.wallet_id, w.version, Wallet(w.clone().into())))
            }
            _ => None,
        }))
    }

    /// Every change of any payment request the caller sent or is asked to
    /// pay: made, paid, declined, cancelled (no initial state). Drop an
    /// event whose `version` is not above the last one seen for that
    /// request.
    async fn payment_request_updated(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = PaymentRequest> + use<>> {
        let subscriber = Subscriber::new(ctx).await?;
        let who = subscriber.who;
        Ok(subscriber.follow(None, move |change| match change {
            Change::PaymentRequest(r) if r.requester_id == who || r.payer_id == who => Some((
                r.payment_request_id,
                r.version,
                PaymentRequest(r.clone().into()),
            )),
            _ => None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_versions_pass() {
        let mut v = Versions::default();
        let id = Uuid::from_u128(1);
        assert!(v.is_newer(id, 1));
        assert!(!v.is_newer(id, 1));
        assert!(v.is_newer(id, 3));
        assert!(!v.is_newer(id, 2));
        assert!(v.is_newer(Uuid::from_u128(2), 1));
    }

    #[test]
    fn a_socket_holds_at_most_its_share_of_subscriptions() {
        let (control, _rx) = SocketControl::new(2);
        let a = control.acquire().unwrap();
        let _b = control.acquire().unwrap();
        assert!(control.acquire().is_err());
        drop(a);
        assert!(control.acquire().is_ok());
    }
}
