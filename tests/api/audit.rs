//! The audit trail: events go from the outbox to the store (DynamoDB or
//! embedded) through the relay, once each, and the API reads them back.

use std::{collections::HashSet, time::Duration};

use base64::Engine;
use chrono::Utc;
use paygraph::{
    audit::{self, AuditEvent},
    auth::{Role, grant_role},
    fraud::{self, Decision, FraudCheck},
};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    dynamo::{Store, spawn_with_store, wait_for, wait_for_empty_outbox},
    every_store,
    helpers::{Backend, TestApp, error_code, error_field},
};

/// Generous: bounds a wait, measures nothing.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub const UPDATE_PROFILE: &str =
    "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { firstName } }";

const AUDIT_LOG: &str = "query($first: Int, $after: String) { me { auditLog(first: $first, after: $after) { edges { cursor node { eventId service eventType actorId createdAt data } } pageInfo { hasNextPage endCursor } } } }";

/// The uuid inside a global ID (`base64url("Kind:uuid")`).
pub fn uuid_of(global_id: &str) -> Uuid {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(global_id)
        .expect("a global ID");
    let text = String::from_utf8(raw).unwrap();
    text.split_once(':').unwrap().1.parse().unwrap()
}

pub async fn update_profile(app: &TestApp, token: &str, first_name: &str) {
    let body = app
        .gql(
            UPDATE_PROFILE,
            json!({"i": {"firstName": first_name}}),
            Some(token),
        )
        .await;
    assert_eq!(
        body["data"]["updateProfile"]["firstName"], first_name,
        "{body}"
    );
}

/// The caller's whole audit log through the API, newest first, following
/// cursors page by page.
async fn audit_log(app: &TestApp, token: &str, page: i64) -> Vec<Value> {
    let mut nodes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .gql(
                AUDIT_LOG,
                json!({"first": page, "after": after}),
                Some(token),
            )
            .await;
        let log = &body["data"]["me"]["auditLog"];
        assert!(log.is_object(), "{body}");
        nodes.extend(
            log["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone()),
        );
        if log["pageInfo"]["hasNextPage"] != true {
            return nodes;
        }
        after = Some(log["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
}

async fn wait_for_log_len(app: &TestApp, token: &str, n: usize) -> Vec<Value> {
    wait_for(
        &format!("{n} events in the audit log"),
        DEADLINE,
        || async {
            let log = audit_log(app, token, 100).await;
            (log.len() >= n).then_some(log)
        },
    )
    .await
}

async fn audit_log_pages_newest_first(backend: Backend, store: Store) {
    let (app, _) = spawn_with_store(backend, store).await;
    let user = app.register().await;
    for i in 0..5 {
        update_profile(&app, &user.token, &format!("Ada{i}")).await;
    }
    // registered + 5 profile updates
    let all = wait_for_log_len(&app, &user.token, 6).await;
    assert_eq!(all.len(), 6, "each event once: {all:?}");
    assert_eq!(all[5]["eventType"], "user.registered");
    assert_eq!(all[0]["eventType"], "profile.updated");
    assert_eq!(all[0]["service"], "customer");
    assert_eq!(all[0]["actorId"], user.id.as_str());
    let times: Vec<&str> = all
        .iter()
        .map(|n| n["createdAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    // The relay counts a round after it has cleared the outbox, which is
    // after the store (read above) has the events: wait for the count.
    let names = [
        "paygraph_audit_outbox_depth",
        "paygraph_audit_relay_lag_seconds",
        "paygraph_audit_relay_events_total",
    ];
    let metrics = wait_for("the relay's metrics", DEADLINE, || async {
        let metrics = app.get("/metrics").await.text().await.unwrap();
        names
            .iter()
            .all(|name| metrics.contains(name))
            .then_some(metrics)
    })
    .await;
    for name in names {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // Pages of two give the same events in the same order, each once.
    let paged = audit_log(&app, &user.token, 2).await;
    assert_eq!(paged, all);

    let first_page = app
        .gql(AUDIT_LOG, json!({"first": 2}), Some(&user.token))
        .await;
    let cursor = first_page["data"]["me"]["auditLog"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let tampered = format!("{}x", &cursor[..cursor.len() - 1]);
    for bad in [tampered.as_str(), "bm90LWEtY3Vyc29y", "%%%"] {
        let body = app
            .gql(
                AUDIT_LOG,
                json!({"first": 2, "after": bad}),
                Some(&user.token),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        assert_eq!(error_field(&body), Some("after"));
    }
    // Another user's cursor does not open this user's log.
    let other = app.register().await;
    let body = app
        .gql(
            AUDIT_LOG,
            json!({"first": 2, "after": cursor}),
            Some(&other.token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");

    let body = app
        .gql(AUDIT_LOG, json!({"first": 101}), Some(&user.token))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

const FRAUD_CHECKS: &str = "{ me { fraudChecks(first: 10) { edges { node { checkId transactionId amount { amount currency } score rulesFired decision checkedAt } } pageInfo { hasNextPage } } } }";

async fn fraud_checks_are_for_support_and_support_reads_are_hidden(backend: Backend, store: Store) {
    let (app, _) = spawn_with_store(backend, store).await;
    let customer = app.register().await;
    let agent = app.register().await;
    grant_role(&app.db, &agent.email, Role::Support)
        .await
        .expect("grant support");
    let customer_id = uuid_of(&customer.id);
    let agent_id = uuid_of(&agent.id);

    // An agent's read of the customer's data, and a fraud check of the
    // agent's own transfer (the only user an agent can reach here).
    let read = AuditEvent {
        actor_id: Some(agent_id),
        ..AuditEvent::by_user("support", "support.read.transactions", customer_id)
    };
    audit::record(&app.db, read).await.unwrap();
    let check = FraudCheck {
        check_id: Uuid::now_v7(),
        user_id: agent_id,
        transaction_id: None,
        amount_minor: 1_250,
        currency: "USD".into(),
        score: 85,
        rules_fired: vec!["large_amount".into(), "velocity".into()],
        decision: Decision::Review,
        checked_at: Utc::now(),
    };
    audit::record(&app.db, fraud::audit_event(&check))
        .await
        .unwrap();
    wait_for_empty_outbox(&app.db, DEADLINE).await;

    let body = app
        .gql(FRAUD_CHECKS, json!({}), Some(&customer.token))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");

    let body = app.gql(FRAUD_CHECKS, json!({}), Some(&agent.token)).await;
    let edges = body["data"]["me"]["fraudChecks"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(edges.len(), 1, "{body}");
    let node = &edges[0]["node"];
    assert_eq!(node["checkId"], check.check_id.to_string());
    assert_eq!(
        node["amount"],
        json!({"amount": "12.50", "currency": "USD"})
    );
    assert_eq!(node["score"], 85);
    assert_eq!(node["rulesFired"], json!(["large_amount", "velocity"]));
    assert_eq!(node["decision"], "REVIEW");
    assert_eq!(node["transactionId"], Value::Null);

    // The fraud check went to fraud_detection, not to the audit log.
    let agent_log = audit_log(&app, &agent.token, 100).await;
    assert!(
        agent_log.iter().all(|n| n["service"] != "fraud"),
        "{agent_log:?}"
    );
    // The customer does not see the agent's read of their data.
    let customer_log = audit_log(&app, &customer.token, 100).await;
    let types: Vec<&str> = customer_log
        .iter()
        .map(|n| n["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["user.registered"], "{customer_log:?}");
}

/// A transaction row made directly, with audit events naming it, until the
/// ledger's own mutations exist.
async fn transaction_with_events(app: &TestApp, user_id: Uuid, events: &[&'static str]) -> Uuid {
    let tx_id = Uuid::now_v7();
    let now = Utc::now();
    let txn = app.db.begin().await.unwrap();
    entity::transactions::ActiveModel {
        transaction_id: Set(tx_id),
        sender_id: Set(Some(user_id)),
        receiver_id: Set(None),
        sender_wallet_id: Set(None),
        receiver_wallet_id: Set(None),
        amount_minor: Set(500.into()),
        currency: Set(entity::Currency::parse("USD").unwrap()),
        transaction_type: Set(entity::transactions::TxType::Withdrawal),
        status: Set(entity::transactions::Status::Completed),
        payment_method_id: Set(None),
        account_id: Set(None),
        related_transaction_id: Set(None),
        description: Set(None),
        fees_minor: Set(0.into()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        completed_at: Set(Some(now)),
    }
    .insert(&txn)
    .await
    .expect("insert a transaction");
    for event_type in events {
        let event = AuditEvent {
            transaction_id: Some(tx_id),
            ..AuditEvent::by_user("ledger", event_type, user_id)
        };
        audit::record(&txn, event.with_data(json!({"amount_minor": 500})))
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    tx_id
}

async fn transactions_show_their_audit_trail(backend: Backend, store: Store) {
    let (app, _) = spawn_with_store(backend, store).await;
    let user = app.register().await;
    let user_id = uuid_of(&user.id);
    let mut expected = Vec::new();
    for _ in 0..3 {
        expected.push(
            transaction_with_events(
                &app,
                user_id,
                &["withdrawal.created", "withdrawal.completed"],
            )
            .await,
        );
    }
    wait_for_empty_outbox(&app.db, DEADLINE).await;

    let body = app
        .gql(
            "{ me { transactions(first: 10) { edges { node { id auditTrail { eventId service eventType actorId data } } } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    let edges = body["data"]["me"]["transactions"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(edges.len(), 3, "{body}");
    let mut seen = HashSet::new();
    for edge in edges {
        let node = &edge["node"];
        assert!(expected.contains(&uuid_of(node["id"].as_str().unwrap())));
        let trail = node["auditTrail"].as_array().unwrap();
        let types: Vec<&str> = trail
            .iter()
            .map(|e| e["eventType"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            ["withdrawal.created", "withdrawal.completed"],
            "oldest first"
        );
        for entry in trail {
            assert!(seen.insert(entry["eventId"].as_str().unwrap().to_owned()));
            assert_eq!(entry["service"], "ledger");
            assert_eq!(entry["actorId"], user.id.as_str());
            assert_eq!(entry["data"], json!({"amount_minor": 500}));
        }
    }
}

/// Two server instances on one database: their relays drain one outbox
/// at once, and every event lands once.
async fn two_relays_drain_one_outbox(backend: Backend, store: Store) {
    let (first, _) = spawn_with_store(backend, store).await;
    let shared = first.config.clone();
    let second = crate::helpers::spawn_app_with(backend, |c| {
        *c = shared;
        c.server.addr = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let user = first.register().await;
    let user_id = uuid_of(&user.id);
    wait_for_empty_outbox(&first.db, DEADLINE).await;

    // 600 events at once, committed together so both relays see them in
    // the same instant; all name one transaction, to be counted through
    // its index.
    let tx_id = transaction_with_events(&first, user_id, &[]).await;
    let txn = first.db.begin().await.unwrap();
    let mut ids = HashSet::new();
    for i in 0..600 {
        let event = AuditEvent {
            transaction_id: Some(tx_id),
            ..AuditEvent::by_user("ledger", "test.event", user_id)
        };
        ids.insert(
            audit::record(&txn, event.with_data(json!({"n": i})))
                .await
                .unwrap(),
        );
    }
    txn.commit().await.unwrap();
    wait_for_empty_outbox(&second.db, DEADLINE).await;

    let trail = first
        .gql(
            "query($id: ID!) { transaction(id: $id) { auditTrail { eventId } } }",
            json!({"id": transaction_global_id(tx_id)}),
            Some(&user.token),
        )
        .await;
    let got: Vec<Uuid> = trail["data"]["transaction"]["auditTrail"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"))
        .iter()
        .map(|e| e["eventId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got.len(), 600, "no duplicate, none missing");
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), ids);

    // The store hides a double write (the second overwrites the first), so
    // count the relays' deliveries: one each for the registration and the
    // 600 events, none twice. The counter is per process, so this holds
    // where each test has its process (nextest), as in scripts/test.
    if std::env::var("NEXTEST_EXECUTION_MODE").as_deref() == Ok("process-per-test") {
        // A relay counts its round just after clearing the outbox: give
        // the last count a moment, then hold it for a while (a second
        // delivery would come late, not early).
        let delivered = || async {
            let metrics = first.get("/metrics").await.text().await.unwrap();
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("paygraph_audit_relay_events_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no delivery counter in {metrics}"))
        };
        wait_for("601 deliveries counted", DEADLINE, || async {
            (delivered().await >= 601.0).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            delivered().await,
            601.0,
            "each event delivered once, by one relay"
        );
    }
}

pub fn transaction_global_id(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("Transaction:{id}"))
}

every_store!(
    audit_log_pages_newest_first,
    fraud_checks_are_for_support_and_support_reads_are_hidden,
    transactions_show_their_audit_trail,
    two_relays_drain_one_outbox,
);
