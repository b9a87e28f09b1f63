//! The audit store: where relayed audit events and fraud checks live, and
//! where the audit history is read from. One interface, two adapters:
//! DynamoDB (`AUDIT_STORE=dynamodb`) and relational tables in the service's
//! own database (`embedded`, the default). Both keep the seed's key layout,
//! so they answer every query the same way.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use super::fraud_check::FraudCheck;
use crate::validation::InvalidInput;

/// An audit event as the store keeps it and the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub event_id: Uuid,
    pub service: String,
    pub event_type: String,
    pub actor_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub data: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl AuditEntry {
    /// `service_name#YYYY-MM-DD` (UTC): one partition per service and day.
    pub fn partition_key(&self) -> String {
        format!("{}#{}", self.service, self.created_at.format("%Y-%m-%d"))
    }

    pub fn sort_key(&self) -> String {
        timestamp_key(self.created_at, self.event_id)
    }
}

/// `<RFC 3339 UTC with microseconds>#<id>`. The fixed precision makes text
/// order equal time order, and microseconds are what PostgreSQL keeps, so
/// the key of an outbox row is the same however often it is relayed: a
/// retried write lands on the same item.
pub fn timestamp_key(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}#{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// `timestamp` key of a fraud check.
pub fn fraud_timestamp(check: &FraudCheck) -> String {
    timestamp_key(check.checked_at, check.check_id)
}

/// What the relay hands the store: an audit event, or a fraud check bound
/// for `fraud_detection`.
#[derive(Debug, Clone)]
pub enum Record {
    Audit(AuditEntry),
    Fraud(FraudCheck),
}

/// A position in a query: the key attributes of the last item of a page,
/// which is what DynamoDB returns as `LastEvaluatedKey` and takes back as
/// `ExclusiveStartKey`. Clients see it as an opaque base64 JSON string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey(pub BTreeMap<String, String>);

impl PageKey {
    pub fn encode(&self) -> String {
        B64.encode(serde_json::to_vec(&self.0).expect("a map of strings serialises"))
    }

    /// Decodes a cursor for a query over `user_id`'s items: it must name
    /// exactly the `expected` attributes, and its `user_id` must be that
    /// user's, so an edited cursor cannot start a page somewhere else.
    pub fn decode(text: &str, expected: &[&str], user_id: Uuid) -> Result<Self, InvalidInput> {
        let bad = || InvalidInput::new("after", "is not a cursor this API returned");
        let raw = B64.decode(text).map_err(|_| bad())?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let same_names =
            map.len() == expected.len() && expected.iter().all(|k| map.contains_key(*k));
        if !same_names || map.get("user_id") != Some(&user_id.to_string()) {
            return Err(bad());
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// The key attributes of an `audit_logs` item read through `user_id-index`.
pub const USER_INDEX_KEY: [&str; 3] = ["partition_key", "sort_key", "user_id"];
/// The key attributes of a `fraud_detection` item.
pub const FRAUD_KEY: [&str; 2] = ["user_id", "timestamp"];

pub fn user_index_key(entry: &AuditEntry, user_id: Uuid) -> PageKey {
    PageKey(BTreeMap::from([
        ("partition_key".to_owned(), entry.partition_key()),
        ("sort_key".to_owned(), entry.sort_key()),
        ("user_id".to_owned(), user_id.to_string()),
    ]))
}

pub fn fraud_key(check: &FraudCheck) -> PageKey {
    PageKey(BTreeMap::from([
        ("user_id".to_owned(), check.user_id.to_string()),
        ("timestamp".to_owned(), fraud_timestamp(check)),
    ]))
}

/// A page request, newest first.
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub limit: usize,
    pub after: Option<PageKey>,
    /// Leave out events whose type starts with this.
    pub exclude_type_prefix: Option<&'static str>,
}

/// One page, each item with its own position.
#[derive(Debug)]
pub struct StorePage<T> {
    pub items: Vec<(T, PageKey)>,
    pub has_more: bool,
}

impl<T> StorePage<T> {
    /// The page of what `read` makes of `rows`, each item with the
    /// position `key` gives it.
    pub fn read<R>(
        rows: impl IntoIterator<Item = R>,
        has_more: bool,
        read: impl Fn(R) -> Result<T, StoreError>,
        key: impl Fn(&T) -> PageKey,
    ) -> Result<Self, StoreError> {
        let items = rows
            .into_iter()
            .map(|row| {
                let item = read(row)?;
                let key = key(&item);
                Ok((item, key))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self { items, has_more })
    }
}

/// The store's failures, described for the log. They reach a client only
/// as `UNAVAILABLE`: the store is a dependency, and its faults are not bugs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl From<sea_orm::DbErr> for StoreError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self(format!("embedded audit store: {e}"))
    }
}

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    /// Writes the records. Idempotent: each is keyed by its event (or
    /// check) id, so writing a record again leaves one copy.
    async fn put(&self, records: &[Record]) -> Result<(), StoreError>;

    /// Every event of a transaction, oldest first (`transaction_id-index`).
    async fn by_transaction(&self, transaction_id: Uuid) -> Result<Vec<AuditEntry>, StoreError>;

    /// A user's events, newest first (`user_id-index`).
    async fn by_user(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<AuditEntry>, StoreError>;

    /// A user's fraud checks, newest first (`fraud_detection`).
    async fn fraud_checks(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<FraudCheck>, StoreError>;

    /// "dynamodb" or "embedded", for logs and readiness.
    fn kind(&self) -> &'static str;
}

/// A store whose every call is bounded: a call that takes longer than
/// `timeout` fails (and is abandoned), so a store that hangs shows as
/// failures rather than as a relay or a request that never ends.
pub struct Bounded {
    inner: Arc<dyn AuditStore>,
    timeout: Duration,
}

impl Bounded {
    pub fn new(inner: Arc<dyn AuditStore>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    async fn bound<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError(format!(
                    "{} audit store: {what} had no answer within {} ms",
                    self.inner.kind(),
                    self.timeout.as_millis()
                )))
            })
    }
}

#[async_trait::async_trait]
impl AuditStore for Bounded {
    async fn put(&self, records: &[Record]) -> Result<(), StoreError> {
        self.bound("a write", self.inner.put(records)).await
    }

    async fn by_transaction(&self, transaction_id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        self.bound("a query", self.inner.by_transaction(transaction_id))
            .await
    }

    async fn by_user(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<AuditEntry>, StoreError> {
        self.bound("a query", self.inner.by_user(user_id, page))
            .await
    }

    async fn fraud_checks(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<FraudCheck>, StoreError> {
        self.bound("a query", self.inner.fraud_checks(user_id, page))
            .await
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_seed_layout_with_fixed_precision() {
        let id = Uuid::now_v7();
        let at = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            timestamp_key(at, id),
            format!("2026-11-25T10:00:00.000000Z#{id}")
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_edits() {
        let user = Uuid::now_v7();
        let key = PageKey(BTreeMap::from([
            ("user_id".to_owned(), user.to_string()),
            ("timestamp".to_owned(), "t#1".to_owned()),
        ]));
        let text = key.encode();
        assert_eq!(PageKey::decode(&text, &FRAUD_KEY, user).unwrap(), key);
        assert!(PageKey::decode(&text, &FRAUD_KEY, Uuid::now_v7()).is_err());
        assert!(PageKey::decode(&text, &USER_INDEX_KEY, user).is_err());
        assert!(PageKey::decode("not-a-cursor", &FRAUD_KEY, user).is_err());
    }
}
