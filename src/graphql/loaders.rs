//! Per-request DataLoaders: one query per relation per request, however
//! many parents a list holds. Created for each request, never shared, so
//! one user's rows cannot reach another's response through a cache. A
//! load that loses its connection runs again on another.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::{
    audit::{AuditEntry, AuditError, AuditLog},
    context::ApiContext,
    customer,
    db::retry::Retry,
    ledger,
};
use entity::{
    accounts, payment_methods, transaction_events, transactions, user_profiles, users, wallets,
};

pub type Loaders = DataLoader<DbLoader, HashMapCache>;

/// With a cache: a connection primes it for a whole page at once (see
/// `prime_page`), and the page's nodes then read from it.
pub fn new(app: &ApiContext) -> Loaders {
    let loader = DbLoader {
        db: app.db.clone(),
        retry: app.retry,
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

/// Loads, in one batch per relation, what the selection under
/// `edges.node` will ask of each transaction in a page. Without it the
/// nodes' loads can straddle the loader's batching window and a bigger
/// page costs more statements.
pub async fn prime_page(
    ctx: &async_graphql::Context<'_>,
    rows: &[transactions::Model],
) -> Result<(), Arc<sea_orm::DbErr>> {
    let node = ctx.look_ahead().field("edges").field("node");
    let loaders = ctx.data_unchecked::<Loaders>();
    if page_shows_parties(ctx) {
        let mut parties: Vec<PartyName> = Vec::with_capacity(rows.len() * 2);
        for t in rows {
            parties.extend(t.sender_id.map(PartyName));
            parties.extend(t.receiver_id.map(PartyName));
        }
        loaders.load_many(parties).await?;
    }
    if node.field("events").exists() {
        let events: Vec<EventsOf> = rows.iter().map(|t| EventsOf(t.transaction_id)).collect();
        loaders.load_many(events).await?;
    }
    Ok(())
}

/// Whether the selection under `edges.node` of the connection being
/// resolved shows the transactions' parties.
pub fn page_shows_parties(ctx: &async_graphql::Context<'_>) -> bool {
    let node = ctx.look_ahead().field("edges").field("node");
    node.field("sender").exists() || node.field("receiver").exists()
}

/// Display names read with a page (`ledger::transactions_with_parties_of`),
/// so that its nodes' parties cost no statement of their own.
pub async fn feed_party_names(
    ctx: &async_graphql::Context<'_>,
    names: impl IntoIterator<Item = (Uuid, String)>,
) {
    let names = names.into_iter().map(|(id, name)| (PartyName(id), name));
    ctx.data_unchecked::<Loaders>().feed_many(names).await;
}

pub struct DbLoader {
    db: DatabaseConnection,
    retry: Retry,
}

impl DbLoader {
    async fn read<T, Fut>(&self, op: impl Fn() -> Fut) -> Result<T, Arc<DbErr>>
    where
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        self.retry.read(op).await.map_err(Arc::new)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid);
/// A user's display name, as another user is shown them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartyName(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileOf(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct WalletsOf(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccountsOf(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentMethodsOf(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventsOf(pub Uuid);
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionById(pub Uuid);

type LoadResult<K, V> = Result<HashMap<K, V>, Arc<sea_orm::DbErr>>;

/// Groups child rows under the key of their parent. Every key asked for
/// gets an entry, empty when it has no rows, so the cache remembers that
/// too and nothing is loaded twice.
fn group<K: Eq + std::hash::Hash + Copy, V>(
    keys: &[K],
    rows: Vec<V>,
    key: impl Fn(&V) -> K,
) -> HashMap<K, Vec<V>> {
    let mut map: HashMap<K, Vec<V>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|k| id(*k)).collect()
}

impl Loader<UserById> for DbLoader {
    type Value = users::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[UserById]) -> LoadResult<UserById, users::Model> {
        let ids = ids(keys, |k| k.0);
        let rows = self.read(|| customer::users_by_id(&self.db, &ids)).await?;
        Ok(rows.into_iter().map(|u| (UserById(u.user_id), u)).collect())
    }
}

impl Loader<PartyName> for DbLoader {
    type Value = String;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[PartyName]) -> LoadResult<PartyName, String> {
        let ids = ids(keys, |k| k.0);
        let names = self
            .read(|| customer::display_names_of(&self.db, &ids))
            .await?;
        Ok(names
            .into_iter()
            .map(|(id, name)| (PartyName(id), name))
            .collect())
    }
}

impl Loader<ProfileOf> for DbLoader {
    type Value = user_profiles::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[ProfileOf]) -> LoadResult<ProfileOf, user_profiles::Model> {
        let ids = ids(keys, |k| k.0);
        let rows = self.read(|| customer::profiles_of(&self.db, &ids)).await?;
        Ok(rows
            .into_iter()
            .map(|p| (ProfileOf(p.user_id), p))
            .collect())
    }
}

impl Loader<WalletsOf> for DbLoader {
    type Value = Vec<wallets::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[WalletsOf]) -> LoadResult<WalletsOf, Vec<wallets::Model>> {
        let ids = ids(keys, |k| k.0);
        let rows = self.read(|| ledger::wallets_of(&self.db, &ids)).await?;
        Ok(group(keys, rows, |w| WalletsOf(w.user_id)))
    }
}

impl Loader<AccountsOf> for DbLoader {
    type Value = Vec<accounts::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[AccountsOf]) -> LoadResult<AccountsOf, Vec<accounts::Model>> {
        let ids = ids(keys, |k| k.0);
        let rows = self.read(|| customer::accounts_of(&self.db, &ids)).await?;
        Ok(group(keys, rows, |a| AccountsOf(a.user_id)))
    }
}

impl Loader<PaymentMethodsOf> for DbLoader {
    type Value = Vec<payment_methods::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(
        &self,
        keys: &[PaymentMethodsOf],
    ) -> LoadResult<PaymentMethodsOf, Vec<payment_methods::Model>> {
        let ids = ids(keys, |k| k.0);
        let rows = self
            .read(|| customer::payment_methods_of(&self.db, &ids))
            .await?;
        Ok(group(keys, rows, |m| PaymentMethodsOf(m.user_id)))
    }
}

impl Loader<EventsOf> for DbLoader {
    type Value = Vec<transaction_events::Model>;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(
        &self,
        keys: &[EventsOf],
    ) -> LoadResult<EventsOf, Vec<transaction_events::Model>> {
        let ids = ids(keys, |k| k.0);
        let rows = self.read(|| ledger::events_of(&self.db, &ids)).await?;
        Ok(group(keys, rows, |e| EventsOf(e.transaction_id)))
    }
}

impl Loader<TransactionById> for DbLoader {
    type Value = transactions::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(
        &self,
        keys: &[TransactionById],
    ) -> LoadResult<TransactionById, transactions::Model> {
        let ids = ids(keys, |k| k.0);
        let rows = self
            .read(|| ledger::transactions_by_id(&self.db, &ids))
            .await?;
        Ok(rows
            .into_iter()
            .map(|t| (TransactionById(t.transaction_id), t))
            .collect())
    }
}

pub type AuditLoaders = DataLoader<AuditTrailLoader>;

/// Audit trails come from the audit store, not the database: a loader of
/// their own, which asks the store for every transaction of a page at once.
pub fn audit(log: AuditLog) -> AuditLoaders {
    DataLoader::new(AuditTrailLoader { log }, tokio::spawn)
}

pub struct AuditTrailLoader {
    log: AuditLog,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditTrailOf(pub Uuid);

impl Loader<AuditTrailOf> for AuditTrailLoader {
    type Value = Vec<AuditEntry>;
    type Error = Arc<AuditError>;

    async fn load(
        &self,
        keys: &[AuditTrailOf],
    ) -> Result<HashMap<AuditTrailOf, Vec<AuditEntry>>, Arc<AuditError>> {
        let trails = self.log.trails(&ids(keys, |k| k.0)).await?;
        Ok(trails
            .into_iter()
            .map(|(id, entries)| (AuditTrailOf(id), entries))
            .collect())
    }
}
