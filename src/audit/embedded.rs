//! The embedded adapter of the audit store: `audit_logs` and
//! `fraud_detection` as tables of the service's own database (SQLite or
//! PostgreSQL, through SeaORM), with DynamoDB's keys and the same answers.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use uuid::Uuid;

use super::{
    fraud_check::FraudCheck,
    store::{
        AuditEntry, AuditStore, PageQuery, Record, StoreError, StorePage, fraud_key,
        fraud_timestamp, user_index_key,
    },
};
use entity::{audit_logs, fraud_detection};

pub struct EmbeddedStore {
    db: DatabaseConnection,
}

impl EmbeddedStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn audit_row(e: &AuditEntry) -> audit_logs::ActiveModel {
    audit_logs::ActiveModel {
        partition_key: Set(e.partition_key()),
        sort_key: Set(e.sort_key()),
        event_id: Set(e.event_id),
        service: Set(e.service.clone()),
        event_type: Set(e.event_type.clone()),
        actor_id: Set(e.actor_id),
        user_id: Set(e.user_id),
        transaction_id: Set(e.transaction_id),
        data: Set(e.data.as_ref().map(|d| d.to_string())),
        created_at: Set(e.created_at),
    }
}

fn entry(row: audit_logs::Model) -> AuditEntry {
    AuditEntry {
        event_id: row.event_id,
        service: row.service,
        event_type: row.event_type,
        actor_id: row.actor_id,
        user_id: row.user_id,
        transaction_id: row.transaction_id,
        data: row.data.and_then(|d| serde_json::from_str(&d).ok()),
        created_at: row.created_at,
    }
}

fn fraud_row(c: &FraudCheck) -> fraud_detection::ActiveModel {
    fraud_detection::ActiveModel {
        user_id: Set(c.user_id),
        timestamp: Set(fraud_timestamp(c)),
        check_id: Set(c.check_id),
        transaction_id: Set(c.transaction_id),
        amount_minor: Set(c.amount_minor),
        currency: Set(c.currency.clone()),
        score: Set(i32::try_from(c.score).unwrap_or(i32::MAX)),
        rules_fired: Set(serde_json::to_string(&c.rules_fired).expect("strings serialise")),
        decision: Set(c.decision),
        checked_at: Set(c.checked_at),
    }
}

fn check(row: fraud_detection::Model) -> Result<FraudCheck, StoreError> {
    Ok(FraudCheck {
        check_id: row.check_id,
        user_id: row.user_id,
        transaction_id: row.transaction_id,
        amount_minor: row.amount_minor,
        currency: row.currency,
        score: u32::try_from(row.score).unwrap_or(0),
        rules_fired: serde_json::from_str(&row.rules_fired).unwrap_or_default(),
        decision: row.decision,
        checked_at: row.checked_at,
    })
}

/// Keeps `limit` rows and says whether the extra one was there.
fn split<T>(mut rows: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

#[async_trait::async_trait]
impl AuditStore for EmbeddedStore {
    async fn put(&self, records: &[Record]) -> Result<(), StoreError> {
        let audits: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                Record::Audit(e) => Some(audit_row(e)),
                Record::Fraud(_) => None,
            })
            .collect();
        let frauds: Vec<_> = records
            .iter()
            .filter_map(|r| match r {
                Record::Fraud(c) => Some(fraud_row(c)),
                Record::Audit(_) => None,
            })
            .collect();
        // The key holds the event (or check) id: a second write of the same
        // record is a conflict that changes nothing, as DynamoDB's
        // overwrite of an identical item.
        if !audits.is_empty() {
            audit_logs::Entity::insert_many(audits)
                .on_conflict_do_nothing()
                .exec_without_returning(&self.db)
                .await?;
        }
        if !frauds.is_empty() {
            fraud_detection::Entity::insert_many(frauds)
                .on_conflict_do_nothing()
                .exec_without_returning(&self.db)
                .await?;
        }
        Ok(())
    }

    async fn by_transaction(&self, transaction_id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = audit_logs::Entity::find()
            .filter(audit_logs::Column::TransactionId.eq(transaction_id))
            .order_by_asc(audit_logs::Column::SortKey)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(entry).collect())
    }

    async fn by_user(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<AuditEntry>, StoreError> {
        let mut query = audit_logs::Entity::find()
            .filter(audit_logs::Column::UserId.eq(user_id))
            .order_by_desc(audit_logs::Column::SortKey)
            .limit(page.limit as u64 + 1);
        if let Some(after) = &page.after {
            query = query.filter(audit_logs::Column::SortKey.lt(after.get("sort_key")));
        }
        if let Some(prefix) = page.exclude_type_prefix {
            query = query.filter(
                Condition::all()
                    .add(audit_logs::Column::EventType.starts_with(prefix))
                    .not(),
            );
        }
        let (rows, has_more) = split(query.all(&self.db).await?, page.limit);
        StorePage::read(
            rows,
            has_more,
            |row| Ok(entry(row)),
            |e| user_index_key(e, user_id),
        )
    }

    async fn fraud_checks(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<FraudCheck>, StoreError> {
        let mut query = fraud_detection::Entity::find()
            .filter(fraud_detection::Column::UserId.eq(user_id))
            .order_by_desc(fraud_detection::Column::Timestamp)
            .limit(page.limit as u64 + 1);
        if let Some(after) = &page.after {
            query = query.filter(fraud_detection::Column::Timestamp.lt(after.get("timestamp")));
        }
        let (rows, has_more) = split(query.all(&self.db).await?, page.limit);
        StorePage::read(rows, has_more, check, fraud_key)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }
}
