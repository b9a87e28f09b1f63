use crate::graphql::scalars::Timestamp;
use async_graphql::{
    Context, Enum, ID, InputObject, Object, SimpleObject,
    connection::{Connection, Edge},
};
use sea_orm::ActiveEnum;

use super::{AuditEntry, Money, Party};
use crate::{
    audit::SUPPORT_READ_PREFIX,
    auth::{Caller, Role},
    graphql::{
        caller::caller,
        errors::{ApiError, ApiResult},
        ids::{self, Kind},
        loaders::{AuditLoaders, AuditTrailOf, EventsOf, Loaders},
    },
    ledger::{Status, TransactionFilter, TxType},
    pagination::{Cursor, Page},
};
use entity::{transaction_events, transactions};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::ledger::TxType")]
pub enum TransactionType {
    Transfer,
    Deposit,
    Withdrawal,
    Refund,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(remote = "crate::ledger::Status")]
pub enum TransactionStatus {
    Pending,
    Processing,
    PendingReview,
    Completed,
    Failed,
    Cancelled,
    Reversed,
}

#[derive(InputObject, Default)]
pub struct TransactionFilterInput {
    pub status: Option<TransactionStatus>,
    #[graphql(name = "type")]
    pub transaction_type: Option<TransactionType>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

impl TransactionFilterInput {
    pub fn into_domain(self) -> TransactionFilter {
        TransactionFilter {
            status: self.status.map(Status::from),
            transaction_type: self.transaction_type.map(TxType::from),
            created_after: self.created_after.map(|t| t.0),
            created_before: self.created_before.map(|t| t.0),
        }
    }
}

/// One movement of money.
pub struct Transaction(pub transactions::Model);

impl Transaction {
    pub fn cursor(&self) -> String {
        Cursor {
            key: self.0.created_at,
            id: self.0.transaction_id,
        }
        .encode()
    }

    pub fn connection(page: Page<transactions::Model>) -> Connection<String, Transaction> {
        let mut connection = Connection::new(page.has_newer, page.has_older);
        connection.edges.extend(page.rows.into_iter().map(|row| {
            let node = Transaction(row);
            Edge::new(node.cursor(), node)
        }));
        connection
    }
}

#[Object]
impl Transaction {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Transaction, self.0.transaction_id)
    }

    #[graphql(name = "type")]
    async fn transaction_type(&self) -> TransactionType {
        self.0.transaction_type.into()
    }

    async fn status(&self) -> TransactionStatus {
        self.0.status.into()
    }

    async fn amount(&self) -> Money {
        Money::of(self.0.amount_minor, self.0.currency)
    }

    async fn fees(&self) -> Money {
        Money::of(self.0.fees_minor, self.0.currency)
    }

    /// Null for the outside side of a deposit.
    async fn sender(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        Party::load(ctx, self.0.sender_id).await
    }

    /// Null for the outside side of a withdrawal.
    async fn receiver(&self, ctx: &Context<'_>) -> ApiResult<Option<Party>> {
        Party::load(ctx, self.0.receiver_id).await
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Grows by one with every status change; lets a client drop stale updates.
    async fn version(&self) -> i64 {
        self.0.version
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    async fn completed_at(&self) -> Option<Timestamp> {
        self.0.completed_at.map(Timestamp)
    }

    /// Every status change, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> ApiResult<Vec<TransactionEvent>> {
        let rows = ctx
            .data_unchecked::<Loaders>()
            .load_one(EventsOf(self.0.transaction_id))
            .await
            .map_err(ApiError::from)?;
        Ok(rows
            .unwrap_or_default()
            .into_iter()
            .map(TransactionEvent::from)
            .collect())
    }

    /// The audit events of this transaction, oldest first, from the audit
    /// store. Events reach it shortly after they happen, so the newest may
    /// be missing for a moment; reading never waits for them.
    async fn audit_trail(&self, ctx: &Context<'_>) -> ApiResult<Vec<AuditEntry>> {
        let entries = ctx
            .data_unchecked::<AuditLoaders>()
            .load_one(AuditTrailOf(self.0.transaction_id))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        // Support agents' reads of a customer's data are for support eyes.
        let support = matches!(caller(ctx), Caller::User(p) if p.has_role(Role::Support));
        Ok(entries
            .unwrap_or_default()
            .into_iter()
            .filter(|e| support || !e.event_type.starts_with(SUPPORT_READ_PREFIX))
            .map(AuditEntry)
            .collect())
    }
}

#[derive(SimpleObject)]
pub struct TransactionEvent {
    pub event_type: String,
    pub data: Option<async_graphql::Json<serde_json::Value>>,
    pub created_at: Timestamp,
}

impl From<transaction_events::Model> for TransactionEvent {
    fn from(e: transaction_events::Model) -> Self {
        Self {
            event_type: e.event_type.to_value(),
            data: e.event_data.map(async_graphql::Json),
            created_at: e.created_at.into(),
        }
    }
}
