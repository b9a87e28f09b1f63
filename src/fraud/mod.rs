//! Fraud checks: the rules run before money moves, and their records.
//!
//! A check's record is queued in the audit outbox, in the same database
//! transaction as the transfer it judged, and relayed to the
//! `fraud_detection` store like any audit event (service `fraud`).

pub mod rules;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::AuditEvent;

pub const SERVICE: &str = "fraud";
pub const EVENT_TYPE: &str = "fraud.check";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Review,
}

/// One check: what was judged, the score, the rules that fired, the decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FraudCheck {
    pub check_id: Uuid,
    pub user_id: Uuid,
    pub transaction_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
    /// 0 (nothing suspicious) to 100.
    pub score: u32,
    pub rules_fired: Vec<String>,
    pub decision: Decision,
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

impl Decision {
    pub const ALL: [Self; 2] = [Self::Allow, Self::Review];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Review => "review",
        }
    }
}

/// Counts a check in the metrics, once its record is delivered (so once
/// per committed check, whichever instance relays it).
pub fn observe(check: &FraudCheck) {
    metrics::histogram!("paygraph_fraud_score").record(f64::from(check.score));
    metrics::counter!("paygraph_fraud_decisions_total", "decision" => check.decision.as_str())
        .increment(1);
}

/// The check's record as an audit event, queued with the payment's other
/// writes.
pub fn audit_event(check: &FraudCheck) -> AuditEvent {
    AuditEvent {
        service: SERVICE,
        event_type: EVENT_TYPE,
        actor_id: Some(check.user_id),
        user_id: Some(check.user_id),
        transaction_id: check.transaction_id,
        data: serde_json::to_value(check).expect("a fraud check serialises"),
    }
}
