//! The DynamoDB tables of the seed, defined once. `create-tables` builds
//! them from this, and `describe-tables` prints it for the infra check
//! that compares it with the CloudFormation templates.

use serde_json::{Value, json};

pub const AUDIT_LOGS: &str = "audit_logs";
pub const FRAUD_DETECTION: &str = "fraud_detection";
pub const USER_INDEX: &str = "user_id-index";
pub const TRANSACTION_INDEX: &str = "transaction_id-index";

pub struct KeyAttr {
    pub name: &'static str,
    pub range: bool,
}

pub struct Index {
    pub name: &'static str,
    pub keys: [KeyAttr; 2],
}

pub struct Table {
    pub name: &'static str,
    pub keys: [KeyAttr; 2],
    /// Every attribute a key uses; all are strings.
    pub attributes: &'static [&'static str],
    pub indexes: Vec<Index>,
}

const fn hash(name: &'static str) -> KeyAttr {
    KeyAttr { name, range: false }
}

const fn range(name: &'static str) -> KeyAttr {
    KeyAttr { name, range: true }
}

/// The seed's layout. One deliberate addition: both GSIs carry `sort_key`
/// (`timestamp#event_id`) as their range key, so a user's or a
/// transaction's events come back in time order and paginate stably.
pub fn all() -> Vec<Table> {
    vec![
        Table {
            name: AUDIT_LOGS,
            keys: [hash("partition_key"), range("sort_key")],
            attributes: &["partition_key", "sort_key", "user_id", "transaction_id"],
            indexes: vec![
                Index {
                    name: USER_INDEX,
                    keys: [hash("user_id"), range("sort_key")],
                },
                Index {
                    name: TRANSACTION_INDEX,
                    keys: [hash("transaction_id"), range("sort_key")],
                },
            ],
        },
        Table {
            name: FRAUD_DETECTION,
            keys: [hash("user_id"), range("timestamp")],
            attributes: &["user_id", "timestamp"],
            indexes: vec![],
        },
    ]
}

fn key_schema(keys: &[KeyAttr]) -> Value {
    keys.iter()
        .map(
            |k| json!({"AttributeName": k.name, "KeyType": if k.range { "RANGE" } else { "HASH" }}),
        )
        .collect()
}

/// The tables in DynamoDB's own JSON vocabulary, names without prefix.
pub fn describe() -> Value {
    let tables: Vec<Value> = all()
        .iter()
        .map(|t| {
            json!({
                "TableName": t.name,
                "KeySchema": key_schema(&t.keys),
                "AttributeDefinitions": t.attributes.iter()
                    .map(|a| json!({"AttributeName": a, "AttributeType": "S"}))
                    .collect::<Vec<_>>(),
                "GlobalSecondaryIndexes": t.indexes.iter()
                    .map(|i| json!({
                        "IndexName": i.name,
                        "KeySchema": key_schema(&i.keys),
                        "Projection": {"ProjectionType": "ALL"},
                    }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "tables": tables })
}
