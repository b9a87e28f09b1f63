//! The audit events' downstream queue (`AUDIT_SQS_QUEUE_URL`): every audit
//! event the relay delivers to the audit store is also sent to SQS, with
//! its event id as the message attribute `event_id`, so that a consumer
//! drops the duplicates a retried batch sends. Fraud checks go to the
//! fraud store only.
//!
//! The relay deletes an outbox row only once the store and the queue both
//! have it: an SQS outage delays events, as a DynamoDB outage does, and
//! loses none.

use aws_sdk_sqs::{
    Client,
    error::DisplayErrorContext,
    types::{MessageAttributeValue, SendMessageBatchRequestEntry},
};

use super::store::{AuditEntry, Record, StoreError};
use crate::config::Config;

/// SendMessageBatch takes at most 10 messages.
const BATCH_LIMIT: usize = 10;

pub struct AuditQueue {
    client: Client,
    url: String,
}

impl AuditQueue {
    /// The configured queue, if any; `AWS_ENDPOINT_URL_SQS` names a local
    /// emulator (see `aws::sdk_config`).
    pub async fn from_config(config: &Config) -> Option<Self> {
        let url = config.audit.sqs_queue_url.clone()?;
        // Bounded as the audit store's calls are: a queue that does not
        // answer fails the relay's round, which is retried later.
        let bound = config.audit.store_timeout;
        let sdk = super::aws::sdk_config(config.audit.aws_endpoint_url.sqs.as_deref(), bound).await;
        Some(Self {
            client: Client::new(&sdk),
            url,
        })
    }

    /// Sends the audit events among `records`; any message SQS did not
    /// take fails the whole call (a retry sends them all again).
    pub async fn send(&self, records: &[Record]) -> Result<(), StoreError> {
        let entries: Vec<SendMessageBatchRequestEntry> = records
            .iter()
            .filter_map(|record| match record {
                Record::Audit(entry) => Some(entry),
                Record::Fraud(_) => None,
            })
            .map(|entry| {
                let id = entry.event_id.to_string();
                let attribute = |value: &str| {
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(value)
                        .build()
                        .expect("a string attribute has its type and value")
                };
                SendMessageBatchRequestEntry::builder()
                    .id(entry.event_id.simple().to_string())
                    .message_body(body(entry))
                    .message_attributes("event_id", attribute(&id))
                    .message_attributes("event_type", attribute(&entry.event_type))
                    .build()
                    .expect("an entry has its id and body")
            })
            .collect();
        for chunk in entries.chunks(BATCH_LIMIT) {
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| StoreError(format!("SQS: {}", DisplayErrorContext(&e))))?;
            if let Some(failed) = sent.failed().first() {
                return Err(StoreError(format!(
                    "SQS refused {} of {} messages: {}",
                    sent.failed().len(),
                    chunk.len(),
                    failed.message().unwrap_or(failed.code())
                )));
            }
        }
        Ok(())
    }
}

/// The event as JSON, in the audit store's field names.
fn body(entry: &AuditEntry) -> String {
    serde_json::json!({
        "event_id": entry.event_id,
        "service": entry.service,
        "event_type": entry.event_type,
        "actor_id": entry.actor_id,
        "user_id": entry.user_id,
        "transaction_id": entry.transaction_id,
        "data": entry.data,
        "created_at": entry.created_at,
    })
    .to_string()
}
