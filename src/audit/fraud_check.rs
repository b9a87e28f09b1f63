//! A fraud check's record, as the audit store keeps it in
//! `fraud_detection`. The fraud rules produce it; the audit store files it,
//! pages it and counts it once delivered.

use sea_orm::ActiveEnum;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use entity::fraud_detection::Decision;

/// The outbox `service_name` of a fraud check's record.
pub const SERVICE: &str = "fraud";
/// The outbox `event_type` of a fraud check's record.
pub const EVENT_TYPE: &str = "fraud.check";

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

/// Counts a check in the metrics, once its record is delivered (so once
/// per committed check, whichever instance relays it).
pub fn observe(check: &FraudCheck) {
    metrics::histogram!("paygraph_fraud_score").record(f64::from(check.score));
    metrics::counter!("paygraph_fraud_decisions_total", "decision" => check.decision.to_value())
        .increment(1);
}
