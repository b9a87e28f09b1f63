//! The DynamoDB adapter of the audit store, and `create-tables`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata},
    operation::query::builders::QueryFluentBuilder,
    types::{
        AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
        KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, TableStatus,
        WriteRequest,
    },
};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use sea_orm::ActiveEnum;
use uuid::Uuid;

use super::{
    fraud_check::{Decision, FraudCheck},
    store::{
        AuditEntry, AuditStore, PageKey, PageQuery, Record, StoreError, StorePage, fraud_key,
        fraud_timestamp, user_index_key,
    },
    tables::{self, AUDIT_LOGS, FRAUD_DETECTION, TRANSACTION_INDEX, USER_INDEX},
};
use crate::config::Config;

type Item = HashMap<String, AttributeValue>;

/// BatchWriteItem takes at most 25 puts.
const BATCH_LIMIT: usize = 25;
/// Rounds of resending what DynamoDB left unprocessed (throttling) before
/// the batch counts as failed; the relay then retries it later.
const UNPROCESSED_ROUNDS: u32 = 8;

/// A client for the configured endpoint (see `aws::sdk_config`), each
/// call bounded by `PAYGRAPH_AUDIT_STORE_TIMEOUT_MS`; the store's callers
/// bound each of their calls by it too (`store::Bounded`).
pub async fn client(config: &Config) -> Client {
    let bound = config.audit.store_timeout;
    Client::new(
        &super::aws::sdk_config(config.audit.aws_endpoint_url.dynamodb.as_deref(), bound).await,
    )
}

/// Creates the tables of `tables::all()` under the prefix, skipping any
/// that exist, and waits until each is active.
pub async fn create_tables(client: &Client, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for table in tables::all() {
        let name = format!("{prefix}{}", table.name);
        let key_schema = |keys: &[tables::KeyAttr]| -> Result<Vec<KeySchemaElement>, StoreError> {
            keys.iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(k.name)
                        .key_type(if k.range {
                            KeyType::Range
                        } else {
                            KeyType::Hash
                        })
                        .build()
                        .map_err(build_error)
                })
                .collect()
        };
        let mut request = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&table.keys)?));
        for attr in table.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*attr)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        for index in &table.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .set_key_schema(Some(key_schema(&index.keys)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        match request.send().await {
            Ok(_) => created.push(name.clone()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(sdk_error("create table", e)),
        }
        wait_until_active(client, &name).await?;
    }
    Ok(created)
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("describe table", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError(format!("table {name} did not become active")))
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError(format!("dynamodb request: {e}"))
}

/// The whole cause chain, for the log only: it may name the endpoint.
fn sdk_error<E, R>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError(format!("dynamodb {what}: {}", DisplayErrorContext(&e)))
}

pub struct DynamoStore {
    client: Client,
    audit_table: String,
    fraud_table: String,
}

impl DynamoStore {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self {
            client,
            audit_table: format!("{prefix}{AUDIT_LOGS}"),
            fraud_table: format!("{prefix}{FRAUD_DETECTION}"),
        }
    }

    /// One BatchWriteItem of at most 25 puts, resending what comes back
    /// unprocessed with exponential backoff and jitter.
    async fn write_chunk(
        &self,
        mut pending: HashMap<String, Vec<WriteRequest>>,
    ) -> Result<(), StoreError> {
        for round in 0..UNPROCESSED_ROUNDS {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| sdk_error("batch write", e))?;
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, requests| !requests.is_empty());
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(jittered(Duration::from_millis(50) * 2u32.pow(round))).await;
        }
        Err(StoreError(
            "dynamodb batch write: items still unprocessed after retries".into(),
        ))
    }

    /// A query of `table` (through `index`, if any) for the items whose
    /// `attribute` is `id`, oldest first or newest first.
    fn query_by(
        &self,
        table: &str,
        index: Option<&str>,
        attribute: &str,
        id: Uuid,
        oldest_first: bool,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression(format!("{attribute} = :k"))
            .expression_attribute_values(":k", s(id.to_string()))
            .scan_index_forward(oldest_first)
    }

    /// Runs a query page by page until `want` items (after DynamoDB's
    /// filter) are in hand or the items run out.
    async fn query_until(
        &self,
        request: QueryFluentBuilder,
        mut start: Option<Item>,
        want: Option<usize>,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut items = Vec::new();
        loop {
            // One more than wanted, to know whether another page exists.
            let limit = want.map(|w| i32::try_from(w + 1 - items.len()).unwrap_or(i32::MAX));
            let out = request
                .clone()
                .set_limit(limit)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            let enough = want.is_some_and(|w| items.len() > w);
            if enough || start.is_none() {
                break;
            }
        }
        let has_more = want.is_some_and(|w| items.len() > w);
        if let Some(w) = want {
            items.truncate(w);
        }
        Ok((items, has_more))
    }
}

fn jittered(base: Duration) -> Duration {
    let factor = rand::thread_rng().gen_range(0.5..=1.0);
    base.mul_f64(factor)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn audit_item(e: &AuditEntry) -> Item {
    let mut item = Item::from([
        ("partition_key".into(), s(e.partition_key())),
        ("sort_key".into(), s(e.sort_key())),
        ("event_id".into(), s(e.event_id.to_string())),
        ("service".into(), s(&e.service)),
        ("event_type".into(), s(&e.event_type)),
        ("created_at".into(), s(rfc3339(e.created_at))),
    ]);
    // Absent ids are left out, not empty: an index key cannot be "".
    for (name, id) in [
        ("actor_id", e.actor_id),
        ("user_id", e.user_id),
        ("transaction_id", e.transaction_id),
    ] {
        if let Some(id) = id {
            item.insert(name.into(), s(id.to_string()));
        }
    }
    if let Some(data) = &e.data {
        item.insert("data".into(), s(data.to_string()));
    }
    item
}

fn fraud_item(c: &FraudCheck) -> Item {
    let mut item = Item::from([
        ("user_id".into(), s(c.user_id.to_string())),
        ("timestamp".into(), s(fraud_timestamp(c))),
        ("check_id".into(), s(c.check_id.to_string())),
        // Numbers travel as decimal strings: exact, never a float.
        (
            "amount_minor".into(),
            AttributeValue::N(c.amount_minor.to_string()),
        ),
        ("currency".into(), s(&c.currency)),
        ("score".into(), AttributeValue::N(c.score.to_string())),
        (
            "rules_fired".into(),
            AttributeValue::L(c.rules_fired.iter().map(s).collect()),
        ),
        ("decision".into(), s(c.decision.to_value())),
        ("checked_at".into(), s(rfc3339(c.checked_at))),
    ]);
    if let Some(tx) = c.transaction_id {
        item.insert("transaction_id".into(), s(tx.to_string()));
    }
    item
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_id(item: &Item, name: &str) -> Option<Uuid> {
    get_s(item, name).and_then(|v| v.parse().ok())
}

fn bad_item(table: &str) -> StoreError {
    StoreError(format!(
        "dynamodb: an item of {table} lacks a required attribute"
    ))
}

fn parse_audit(item: &Item) -> Result<AuditEntry, StoreError> {
    let bad = || bad_item(AUDIT_LOGS);
    Ok(AuditEntry {
        event_id: get_id(item, "event_id").ok_or_else(bad)?,
        service: get_s(item, "service").ok_or_else(bad)?.to_owned(),
        event_type: get_s(item, "event_type").ok_or_else(bad)?.to_owned(),
        actor_id: get_id(item, "actor_id"),
        user_id: get_id(item, "user_id"),
        transaction_id: get_id(item, "transaction_id"),
        data: get_s(item, "data").and_then(|d| serde_json::from_str(d).ok()),
        created_at: get_s(item, "created_at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(bad)?
            .to_utc(),
    })
}

fn parse_fraud(item: &Item) -> Result<FraudCheck, StoreError> {
    let bad = || bad_item(FRAUD_DETECTION);
    let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok());
    Ok(FraudCheck {
        check_id: get_id(item, "check_id").ok_or_else(bad)?,
        user_id: get_id(item, "user_id").ok_or_else(bad)?,
        transaction_id: get_id(item, "transaction_id"),
        amount_minor: number("amount_minor")
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?,
        currency: get_s(item, "currency").ok_or_else(bad)?.to_owned(),
        score: number("score")
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?,
        rules_fired: item
            .get("rules_fired")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        decision: get_s(item, "decision")
            .and_then(|d| Decision::try_from_value(&d.to_owned()).ok())
            .ok_or_else(bad)?,
        checked_at: get_s(item, "checked_at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or_else(bad)?
            .to_utc(),
    })
}

fn start_key(key: &Option<PageKey>) -> Option<Item> {
    key.as_ref()
        .map(|k| k.0.iter().map(|(n, v)| (n.clone(), s(v))).collect())
}

#[async_trait::async_trait]
impl AuditStore for DynamoStore {
    async fn put(&self, records: &[Record]) -> Result<(), StoreError> {
        let requests: Vec<(&str, WriteRequest)> = records
            .iter()
            .map(|r| {
                let (table, item) = match r {
                    Record::Audit(e) => (self.audit_table.as_str(), audit_item(e)),
                    Record::Fraud(c) => (self.fraud_table.as_str(), fraud_item(c)),
                };
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(build_error)?;
                Ok((table, WriteRequest::builder().put_request(put).build()))
            })
            .collect::<Result<_, StoreError>>()?;
        let chunks: Vec<HashMap<String, Vec<WriteRequest>>> = requests
            .chunks(BATCH_LIMIT)
            .map(|chunk| {
                let mut by_table: HashMap<String, Vec<WriteRequest>> = HashMap::new();
                for (table, request) in chunk {
                    by_table
                        .entry((*table).to_owned())
                        .or_default()
                        .push(request.clone());
                }
                by_table
            })
            .collect();
        // A few chunks at a time: a large batch drains faster, and a plain
        // put overwrites, so the order between chunks does not matter.
        futures::stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk))
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn by_transaction(&self, transaction_id: Uuid) -> Result<Vec<AuditEntry>, StoreError> {
        let request = self.query_by(
            &self.audit_table,
            Some(TRANSACTION_INDEX),
            "transaction_id",
            transaction_id,
            true,
        );
        let (items, _) = self.query_until(request, None, None).await?;
        items.iter().map(parse_audit).collect()
    }

    async fn by_user(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<AuditEntry>, StoreError> {
        let mut request = self.query_by(
            &self.audit_table,
            Some(USER_INDEX),
            "user_id",
            user_id,
            false,
        );
        if let Some(prefix) = page.exclude_type_prefix {
            request = request
                .filter_expression("NOT begins_with(event_type, :p)")
                .expression_attribute_values(":p", s(prefix));
        }
        let (items, has_more) = self
            .query_until(request, start_key(&page.after), Some(page.limit))
            .await?;
        StorePage::read(&items, has_more, parse_audit, |e| {
            user_index_key(e, user_id)
        })
    }

    async fn fraud_checks(
        &self,
        user_id: Uuid,
        page: &PageQuery,
    ) -> Result<StorePage<FraudCheck>, StoreError> {
        let request = self.query_by(&self.fraud_table, None, "user_id", user_id, false);
        let (items, has_more) = self
            .query_until(request, start_key(&page.after), Some(page.limit))
            .await?;
        StorePage::read(&items, has_more, parse_fraud, fraud_key)
    }

    fn kind(&self) -> &'static str {
        "dynamodb"
    }
}
