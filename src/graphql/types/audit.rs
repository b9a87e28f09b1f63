use crate::graphql::scalars::Timestamp;
use async_graphql::{
    Enum, ID, Object,
    connection::{Connection, Edge},
};

use super::Money;
use crate::{
    audit::{AuditEntry as Entry, PageKey, StorePage},
    fraud::{Decision, FraudCheck as Check},
    graphql::ids::{self, Kind},
};

/// One audited event: who did what, when. Read from the audit store
/// (DynamoDB `audit_logs`); an event reaches it shortly after its change
/// commits, so the newest may not be listed yet.
pub struct AuditEntry(pub Entry);

#[Object]
impl AuditEntry {
    /// The event's own id (stable: the same event never shows twice).
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.to_string())
    }

    /// The part of the service that recorded it: `auth`, `customer`, `ledger`, `support`, ...
    async fn service(&self) -> &str {
        &self.0.service
    }

    /// What happened, e.g. `user.login`, `profile.updated`, `transfer.completed`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// The user who did it (the customer, or the support agent acting on
    /// them); null for the system or an operator's command.
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|id| ids::encode(Kind::User, id))
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }

    /// Details of the event, as recorded.
    async fn data(&self) -> Option<async_graphql::Json<serde_json::Value>> {
        self.0.data.clone().map(async_graphql::Json)
    }
}

impl AuditEntry {
    pub fn connection(page: StorePage<Entry>) -> Connection<String, AuditEntry> {
        connection(page, AuditEntry)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum FraudDecision {
    /// The money moved.
    Allow,
    /// Held as `PENDING_REVIEW` for a support agent.
    Review,
}

/// One fraud check of a money movement (from `fraud_detection`).
pub struct FraudCheck(pub Check);

#[Object]
impl FraudCheck {
    async fn check_id(&self) -> ID {
        ID(self.0.check_id.to_string())
    }

    /// The transaction judged, when one was created.
    async fn transaction_id(&self) -> Option<ID> {
        self.0
            .transaction_id
            .map(|id| ids::encode(Kind::Transaction, id))
    }

    async fn amount(&self) -> Money {
        Money::from_minor(self.0.amount_minor, &self.0.currency)
    }

    /// 0 (nothing suspicious) to 100.
    async fn score(&self) -> u32 {
        self.0.score
    }

    /// The names of the rules that fired.
    async fn rules_fired(&self) -> &[String] {
        &self.0.rules_fired
    }

    async fn decision(&self) -> FraudDecision {
        match self.0.decision {
            Decision::Allow => FraudDecision::Allow,
            Decision::Review => FraudDecision::Review,
        }
    }

    async fn checked_at(&self) -> Timestamp {
        self.0.checked_at.into()
    }
}

impl FraudCheck {
    pub fn connection(page: StorePage<Check>) -> Connection<String, FraudCheck> {
        connection(page, FraudCheck)
    }
}

/// A forward-only connection over a store page. Each cursor is the item's
/// DynamoDB key (what `LastEvaluatedKey` would be had the page ended
/// there), encoded; backward paging is not offered by these lists.
fn connection<T, N: async_graphql::OutputType>(
    page: StorePage<T>,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(false, page.has_more);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(item, key): (T, PageKey)| Edge::new(key.encode(), node(item))),
    );
    connection
}
