//! The DynamoDB audit store against the local emulator: the seed's key
//! layout, both indexes, an outage that delays audit without losing it,
//! and `paygraph dynamodb create-tables`.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use paygraph::audit::tables::{AUDIT_LOGS, FRAUD_DETECTION, TRANSACTION_INDEX, USER_INDEX};
use serde_json::json;

use crate::{
    audit::{DEADLINE, update_profile, uuid_of},
    both_backends,
    dynamo::{
        PrivateMoto, Store, client, create_tables, fast_money, fast_relay, free_port, fund,
        outbox_len, query_index, require_dynamodb, s, scan, spawn_with_store, transfer,
        unique_prefix, use_dynamodb, wait_for_empty_outbox,
    },
    helpers::{Backend, error_code, spawn_app_with},
};

/// Checks an `audit_logs` item against the seed's layout:
/// `partition_key` = `service#YYYY-MM-DD`, `sort_key` = `timestamp#event_id`
/// with a fixed-precision UTC timestamp.
fn assert_seed_layout(item: &crate::dynamo::Item) {
    let created: DateTime<Utc> = s(item, "created_at")
        .parse()
        .expect("created_at is RFC 3339");
    assert_eq!(
        s(item, "partition_key"),
        format!("{}#{}", s(item, "service"), created.format("%Y-%m-%d"))
    );
    let (stamp, event_id) = s(item, "sort_key")
        .split_once('#')
        .expect("timestamp#event_id");
    assert_eq!(event_id, s(item, "event_id"));
    assert_eq!(stamp.len(), "2026-11-25T10:00:00.000000Z".len(), "{stamp}");
    assert!(stamp.ends_with('Z'));
    assert_eq!(stamp.parse::<DateTime<Utc>>().unwrap(), created);
}

async fn relayed_events_have_the_seed_layout_in_both_indexes(backend: Backend) {
    let (app, prefix) = spawn_with_store(backend, Store::Dynamodb).await;
    let user = app.register().await;
    update_profile(&app, &user.token, "Augusta").await;
    let login = app.login(&user.email, crate::helpers::PASSWORD).await;
    assert!(login["data"]["login"].is_object(), "{login}");
    wait_for_empty_outbox(&app.db, DEADLINE).await;

    let dynamo = client(&crate::dynamo::dynamodb_url()).await;
    let table = format!("{prefix}{AUDIT_LOGS}");
    let items = scan(&dynamo, &table).await;
    let ids: HashSet<&str> = items.iter().map(|i| s(i, "event_id")).collect();
    assert_eq!(ids.len(), items.len(), "each event once");
    assert_eq!(
        items.len(),
        3,
        "registered, profile.updated, login: {items:?}"
    );
    items.iter().for_each(assert_seed_layout);

    let user_id = uuid_of(&user.id).to_string();
    let by_user = query_index(&dynamo, &table, USER_INDEX, "user_id", &user_id).await;
    let mut types: Vec<&str> = by_user.iter().map(|i| s(i, "event_type")).collect();
    types.sort();
    assert_eq!(types, ["profile.updated", "user.login", "user.registered"]);
    let data: serde_json::Value = by_user
        .iter()
        .find(|i| s(i, "event_type") == "profile.updated")
        .map(|i| serde_json::from_str(s(i, "data")).expect("data is a JSON string"))
        .unwrap();
    assert!(data.is_object(), "{data}");

    // A transfer's events, through the other index: those of the
    // transaction, and its fraud check in fraud_detection.
    let receiver = app.register().await;
    fund(&app, &user.token, "50.00").await;
    let tx = uuid_of(&transfer(&app, &user.token, &receiver.email, "12.50").await);
    wait_for_empty_outbox(&app.db, DEADLINE).await;
    let by_tx = query_index(
        &dynamo,
        &table,
        TRANSACTION_INDEX,
        "transaction_id",
        &tx.to_string(),
    )
    .await;
    let events = transaction_events_of(&app, tx).await;
    assert!(!by_tx.is_empty());
    assert_eq!(by_tx.len(), events, "one audit event per transaction event");
    by_tx.iter().for_each(assert_seed_layout);
    let checks = scan(&dynamo, &format!("{prefix}{FRAUD_DETECTION}")).await;
    let check = checks
        .iter()
        .find(|c| c.get("transaction_id").and_then(|v| v.as_s().ok()) == Some(&tx.to_string()))
        .expect("the transfer's fraud check");
    assert_eq!(s(check, "user_id"), user_id);
    assert_eq!(check["amount_minor"].as_n().unwrap(), "1250");
    assert!(s(check, "timestamp").ends_with(&format!("#{}", s(check, "check_id"))));
}

/// How many `transaction_events` rows a transaction has.
async fn transaction_events_of(app: &crate::helpers::TestApp, tx: uuid::Uuid) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    entity::transaction_events::Entity::find()
        .filter(entity::transaction_events::Column::TransactionId.eq(tx))
        .count(&app.db)
        .await
        .unwrap() as usize
}

/// DynamoDB down: every operation still succeeds and its event waits in the
/// outbox; DynamoDB back: every event lands exactly once, the outbox empties.
async fn an_outage_delays_audit_and_loses_nothing(backend: Backend) {
    const OPERATIONS: usize = 200;
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let prefix = unique_prefix();
    let started = Instant::now();
    let app = spawn_app_with(backend, |c| {
        fast_relay(c);
        fast_money(c);
        use_dynamodb(c, &endpoint, &prefix);
    })
    .await;
    let user = app.register().await;
    let receiver = app.register().await;
    fund(&app, &user.token, "500.00").await;
    let mut transfers = Vec::new();
    for _ in 0..OPERATIONS {
        transfers.push(uuid_of(
            &transfer(&app, &user.token, &receiver.email, "1.00").await,
        ));
    }
    // Everything since start-up waits: registrations, the deposit, the
    // transfers and their fraud checks.
    let waiting = outbox_len(&app.db).await;
    assert!(
        waiting > 2 * OPERATIONS,
        "every event waits in the outbox: {waiting}"
    );
    assert_eq!(
        outbox_len(&app.db).await,
        waiting,
        "nothing left while the store was down"
    );
    let body = app
        .gql(
            "{ me { auditLog(first: 5) { edges { node { eventId } } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    let message = body.to_string();
    assert!(
        !message.contains("127.0.0.1") && !message.contains(&port.to_string()),
        "no backend address leaks: {message}"
    );

    // The store comes back (an emulator starts empty, so its tables are
    // created again, as after a restore).
    let moto = PrivateMoto::start(port).await;
    create_tables(&moto.url, &prefix).await;
    let recovering = Instant::now();
    wait_for_empty_outbox(&app.db, Duration::from_secs(120)).await;
    let drained_in = recovering.elapsed();

    let dynamo = client(&moto.url).await;
    let table = format!("{prefix}{AUDIT_LOGS}");
    // Through transaction_id-index: each transfer's events, once each.
    let mut counted = 0;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for tx in &transfers {
        let items = query_index(
            &dynamo,
            &table,
            TRANSACTION_INDEX,
            "transaction_id",
            &tx.to_string(),
        )
        .await;
        assert_eq!(
            items.len(),
            transaction_events_of(&app, *tx).await,
            "transfer {tx}"
        );
        for item in &items {
            assert_seed_layout(item);
            *seen.entry(s(item, "event_id").to_owned()).or_default() += 1;
        }
        counted += items.len();
    }
    assert!(seen.values().all(|n| *n == 1), "no event twice");
    // And in all: every row that waited is one item, in audit_logs or
    // (fraud checks) in fraud_detection.
    let stored = scan(&dynamo, &table).await.len()
        + scan(&dynamo, &format!("{prefix}{FRAUD_DETECTION}"))
            .await
            .len();
    assert_eq!(stored, waiting, "every waiting event arrived, once");
    eprintln!(
        "outage test ({backend:?}): {OPERATIONS} transfers; {counted} transfer events counted through {TRANSACTION_INDEX}; \
         {stored} items stored for {waiting} waiting outbox rows; outbox drained {:.1} s after the store came back; {:.1} s in all",
        drained_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

both_backends!(
    relayed_events_have_the_seed_layout_in_both_indexes,
    an_outage_delays_audit_and_loses_nothing,
);

#[tokio::test]
async fn create_tables_is_idempotent_against_any_endpoint() {
    let url = require_dynamodb().await;
    let prefix = unique_prefix();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_paygraph"))
            .args(["dynamodb", "create-tables"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_DYNAMODB", &url)
            .env("DYNAMODB_TABLE_PREFIX", &prefix)
            .output()
            .expect("run paygraph")
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains(&format!("{prefix}audit_logs")));
    let second = run();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let dynamo = client(&url).await;
    let table = dynamo
        .describe_table()
        .table_name(format!("{prefix}audit_logs"))
        .send()
        .await
        .unwrap();
    let mut indexes: Vec<String> = table
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    indexes.sort();
    assert_eq!(indexes, [TRANSACTION_INDEX, USER_INDEX]);
    // Re-creating is harmless to the items already there.
    create_tables(&url, &prefix).await;
}
