//! The DynamoDB audit store against the local emulator: the seed's key
//! layout, both indexes, an outage that delays audit without losing it,
//! and `paygraph dynamodb create-tables`.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use paygraph::audit::tables::{AUDIT_LOGS, TRANSACTION_INDEX, USER_INDEX};
use serde_json::json;

use crate::{
    audit::{DEADLINE, update_profile, uuid_of},
    both_backends,
    dynamo::{
        PrivateMoto, Store, client, create_tables, fast_relay, free_port, outbox_len, query_index,
        require_dynamodb, s, scan, spawn_with_store, unique_prefix, use_dynamodb,
        wait_for_empty_outbox,
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

    // A transaction's events, through the other index.
    let tx = paygraph::audit::record(
        &app.db,
        paygraph::audit::AuditEvent {
            transaction_id: Some(uuid::Uuid::now_v7()),
            ..paygraph::audit::AuditEvent::by_user(
                "ledger",
                "transfer.completed",
                uuid_of(&user.id),
            )
        },
    )
    .await
    .unwrap();
    wait_for_empty_outbox(&app.db, DEADLINE).await;
    let items = scan(&dynamo, &table).await;
    let item = items
        .iter()
        .find(|i| s(i, "event_id") == tx.to_string())
        .unwrap();
    let by_tx = query_index(
        &dynamo,
        &table,
        TRANSACTION_INDEX,
        "transaction_id",
        s(item, "transaction_id"),
    )
    .await;
    assert_eq!(by_tx.len(), 1);
    assert_eq!(s(&by_tx[0], "event_id"), tx.to_string());
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
        use_dynamodb(c, &endpoint, &prefix);
    })
    .await;
    let user = app.register().await;
    for i in 0..OPERATIONS {
        update_profile(&app, &user.token, &format!("Ada{i}")).await;
    }
    let waiting = outbox_len(&app.db).await;
    assert_eq!(waiting, OPERATIONS + 1, "every event waits in the outbox");
    let body = app
        .gql(
            "{ me { auditLog(first: 5) { edges { node { eventId } } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "INTERNAL", "{body}");
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

    let dynamo = client(&endpoint).await;
    let table = format!("{prefix}{AUDIT_LOGS}");
    let by_user = query_index(
        &dynamo,
        &table,
        USER_INDEX,
        "user_id",
        &uuid_of(&user.id).to_string(),
    )
    .await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in &by_user {
        *counts.entry(s(item, "event_id")).or_default() += 1;
        assert_seed_layout(item);
    }
    assert!(counts.values().all(|n| *n == 1), "no event twice");
    assert_eq!(by_user.len(), OPERATIONS + 1, "every event arrived");
    eprintln!(
        "outage test ({backend:?}): {} events counted through {USER_INDEX}, outbox drained {:.1} s after the store came back, {:.1} s in all",
        by_user.len(),
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
