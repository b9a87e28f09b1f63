//! Audit events. Each is written into the `audit_outbox` table inside the
//! same database transaction as the change it describes, so a committed
//! change always has its event; the relay copies events to the audit store.

mod aws;
pub mod dead_letters;
pub mod dynamodb;
mod embedded;
pub mod fraud_check;
pub mod relay;
pub mod sqs;
pub mod store;
pub mod tables;

use std::{collections::HashMap, sync::Arc};

use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use uuid::Uuid;

pub use embedded::EmbeddedStore;
pub use store::{AuditEntry, AuditStore, Bounded, PageKey, StoreError, StorePage};

use crate::{db::Writes, validation::InvalidInput};
use fraud_check::FraudCheck;
use store::{FRAUD_KEY, PageQuery, USER_INDEX_KEY};

/// One thing that happened, as the audit log will show it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub service: &'static str,
    pub event_type: &'static str,
    /// Who did it: the customer, or the support agent acting on them.
    pub actor_id: Option<Uuid>,
    /// Whose data it concerns.
    pub user_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub data: serde_json::Value,
}

impl AuditEvent {
    /// An event a user caused on their own account.
    pub fn by_user(service: &'static str, event_type: &'static str, user_id: Uuid) -> Self {
        Self {
            service,
            event_type,
            actor_id: Some(user_id),
            user_id: Some(user_id),
            transaction_id: None,
            data: serde_json::Value::Null,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

/// Queues the event in the caller's transaction.
pub async fn record<C: ConnectionTrait>(conn: &C, event: AuditEvent) -> Result<Uuid, DbErr> {
    let row = outbox_row(event);
    let event_id = row.event_id.clone().unwrap();
    row.insert(conn).await?;
    Ok(event_id)
}

/// Queues several events with the caller's other writes (one statement
/// for all).
pub fn record_many(writes: &mut Writes, events: Vec<AuditEvent>) {
    if !events.is_empty() {
        writes.insert(entity::audit_outbox::Entity::insert_many(
            events.into_iter().map(outbox_row),
        ));
    }
}

fn outbox_row(event: AuditEvent) -> entity::audit_outbox::ActiveModel {
    let now = chrono::Utc::now();
    entity::audit_outbox::ActiveModel {
        event_id: Set(Uuid::now_v7()),
        service_name: Set(event.service.to_owned()),
        event_type: Set(event.event_type.to_owned()),
        actor_id: Set(event.actor_id),
        user_id: Set(event.user_id),
        transaction_id: Set(event.transaction_id),
        data: Set((!event.data.is_null()).then_some(event.data)),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_error: Set(None),
    }
}

/// The audit module's failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Another customer's audit or fraud records, without the SUPPORT role.
    #[error("only support agents may read this")]
    Forbidden,
    #[error("audit store: {0}")]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
}

/// Event types of support agents reading a customer's data: shown to
/// support, left out of the customer's own view of their log.
pub const SUPPORT_READ_PREFIX: &str = "support.read";

/// Who reads the audit history: the caller's id, and whether they hold
/// the SUPPORT role (the authentication layer builds it from its caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub user_id: Uuid,
    pub support: bool,
}

/// Reading the audit history. Reads go to the store only: an event still in
/// the outbox is simply not there yet, and no read waits for the relay.
#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
    store: Arc<dyn AuditStore>,
}

impl AuditLog {
    pub fn new(db: DatabaseConnection, store: Arc<dyn AuditStore>) -> Self {
        Self { db, store }
    }

    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }

    /// The trails of several transactions, oldest event first. The store
    /// is asked for all of them at once (one query each, in parallel), so a
    /// page of transactions costs the time of its slowest query, not the sum.
    pub async fn trails(
        &self,
        transaction_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<AuditEntry>>, AuditError> {
        let trails = futures::future::try_join_all(transaction_ids.iter().map(|id| async move {
            Ok::<_, StoreError>((*id, self.store.by_transaction(*id).await?))
        }))
        .await?;
        Ok(trails.into_iter().collect())
    }

    /// A user's audit log, newest first: for the user themself (without
    /// support agents' reads of their data) or for a support agent, whose
    /// read of someone else's log is itself audited.
    pub async fn user_log(
        &self,
        who: Reader,
        user_id: Uuid,
        limit: usize,
        after: Option<&str>,
    ) -> Result<StorePage<AuditEntry>, AuditError> {
        let support = who.support;
        if who.user_id != user_id && !support {
            return Err(AuditError::Forbidden);
        }
        let after = after
            .map(|c| PageKey::decode(c, &USER_INDEX_KEY, user_id))
            .transpose()?;
        let page = PageQuery {
            limit,
            after,
            exclude_type_prefix: (!support).then_some(SUPPORT_READ_PREFIX),
        };
        let result = self.store.by_user(user_id, &page).await?;
        if who.user_id != user_id {
            self.record_support_read(who, user_id, "support.read.audit_log")
                .await?;
        }
        Ok(result)
    }

    /// A user's fraud checks, newest first: support agents only.
    pub async fn fraud_checks(
        &self,
        who: Reader,
        user_id: Uuid,
        limit: usize,
        after: Option<&str>,
    ) -> Result<StorePage<FraudCheck>, AuditError> {
        if !who.support {
            return Err(AuditError::Forbidden);
        }
        let after = after
            .map(|c| PageKey::decode(c, &FRAUD_KEY, user_id))
            .transpose()?;
        let page = PageQuery {
            limit,
            after,
            exclude_type_prefix: None,
        };
        let result = self.store.fraud_checks(user_id, &page).await?;
        if who.user_id != user_id {
            self.record_support_read(who, user_id, "support.read.fraud_checks")
                .await?;
        }
        Ok(result)
    }

    async fn record_support_read(
        &self,
        who: Reader,
        user_id: Uuid,
        event_type: &'static str,
    ) -> Result<(), AuditError> {
        let event = AuditEvent {
            actor_id: Some(who.user_id),
            ..AuditEvent::by_user("support", event_type, user_id)
        };
        record(&self.db, event).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;
    use crate::audit::store::Record;

    /// A store whose transaction queries each wait until `expected` of
    /// them are in flight together: it answers only calls made in parallel.
    struct ParallelOnly {
        in_flight: AtomicUsize,
        expected: usize,
    }

    #[async_trait::async_trait]
    impl AuditStore for ParallelOnly {
        async fn put(&self, _: &[Record]) -> Result<(), StoreError> {
            Ok(())
        }

        async fn by_transaction(&self, id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let all_there = async {
                while self.in_flight.load(Ordering::SeqCst) < self.expected {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            };
            // A generous bound: sequential calls would never get there.
            tokio::time::timeout(Duration::from_secs(10), all_there)
                .await
                .map_err(|_| StoreError(format!("query for {id} ran alone")))?;
            Ok(vec![])
        }

        async fn by_user(
            &self,
            _: Uuid,
            _: &PageQuery,
        ) -> Result<StorePage<AuditEntry>, StoreError> {
            unreachable!()
        }

        async fn fraud_checks(
            &self,
            _: Uuid,
            _: &PageQuery,
        ) -> Result<StorePage<FraudCheck>, StoreError> {
            unreachable!()
        }

        fn kind(&self) -> &'static str {
            "test"
        }
    }

    #[tokio::test]
    async fn the_trails_of_a_page_are_queried_in_parallel() {
        let ids: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
        let store = Arc::new(ParallelOnly {
            in_flight: AtomicUsize::new(0),
            expected: ids.len(),
        });
        let db = sea_orm::DatabaseConnection::default();
        let log = AuditLog::new(db, store);
        let trails = log.trails(&ids).await.expect("all queries ran together");
        assert_eq!(trails.len(), ids.len());
    }
}
