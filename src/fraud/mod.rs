//! Fraud checks: the rules run before money moves, and their records.
//!
//! A check's record is queued in the audit outbox, in the same database
//! transaction as the transfer it judged, and relayed to the
//! `fraud_detection` store like any audit event (service `fraud`); the
//! record's type is the audit store's (`audit::fraud_check`).

pub mod rules;

pub use crate::audit::fraud_check::{Decision, FraudCheck};
use crate::audit::{
    AuditEvent,
    fraud_check::{EVENT_TYPE, SERVICE},
};

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
