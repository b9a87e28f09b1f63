//! Four eyes for support: a refund or a hold at or above
//! `SUPPORT_APPROVAL_AMOUNT`, and closing an account, wait for a second
//! agent, and run once when approved, whichever instance approves.

use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, spawn_app_with},
};

const REFUND: &str = "mutation($i: RefundTransactionInput!) { refundTransaction(input: $i) { id type amount { amount } } }";
const HOLD: &str = "mutation($i: HoldInput!) { holdFunds(input: $i) { frozenBalance { amount } } }";
const STATUS: &str = "mutation($i: SetUserStatusInput!) { setUserStatus(input: $i) { status } }";
const APPROVE: &str = "mutation($id: ID!) { approveSupportAction(id: $id) { id kind status reason requestedBy { displayName } approvedBy { displayName } decidedAt result { __typename ... on Transaction { type amount { amount } } ... on Wallet { frozenBalance { amount } } ... on User { status } } } }";
const REJECT: &str = "mutation($i: RejectSupportActionInput!) { rejectSupportAction(input: $i) { status approvedBy { displayName } decidedAt } }";
const ACTIONS: &str = "query($s: SupportActionStatus) { supportActions(status: $s, first: 10) { edges { node { id kind status reason requestedBy { displayName } } } } }";

/// The app with approvals from 100.00 USD.
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.ledger.support_approval_amount = "USD:100".parse().unwrap()
    })
    .await
}

fn action_id(body: &Value) -> Value {
    assert_eq!(error_code(body), "APPROVAL_REQUIRED", "{body}");
    body["errors"][0]["extensions"]["supportActionId"].clone()
}

async fn listed(app: &TestApp, token: &str, status: &str) -> Vec<Value> {
    let data = app.ok(ACTIONS, json!({"s": status}), token).await;
    data["supportActions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn a_large_refund_waits_for_a_second_agent_and_runs_once(backend: Backend) {
    let app = app(backend).await;
    let maker = app.support_agent().await;
    let checker = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let ada_wallet = app.funded_wallet(&ada.token, "USD", "500.00").await;
    let bob_wallet = app.create_wallet(&bob.token, "USD").await;
    let big = app
        .transfer(&ada.token, &bob.email, "100.00", "USD", "big")
        .await;
    let small = app
        .transfer(&ada.token, &bob.email, "99.99", "USD", "small")
        .await;
    let id = |b: &Value| b["data"]["transfer"]["id"].clone();
    let refund = |tx: Value, key: &str| json!({"i": {"transactionId": tx, "reason": "chargeback", "idempotencyKey": key}});

    // Just below the threshold: one agent is enough.
    let done = app
        .ok(REFUND, refund(id(&small), "r-small"), &maker.token)
        .await;
    assert_eq!(done["refundTransaction"]["type"], "REFUND");
    assert_eq!(app.balances(&bob.token, &bob_wallet).await.0, "100.00");

    // At the threshold: nothing moves, and the action waits.
    let asked = app
        .gql(REFUND, refund(id(&big), "r-big"), Some(&maker.token))
        .await;
    let action = action_id(&asked);
    assert_eq!(app.balances(&bob.token, &bob_wallet).await.0, "100.00");
    // Asking again is the same action, not a second one.
    let again = app
        .gql(REFUND, refund(id(&big), "r-big"), Some(&maker.token))
        .await;
    assert_eq!(action_id(&again), action);
    let pending = listed(&app, &checker.token, "PENDING").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["id"], action);
    assert_eq!(pending[0]["kind"], "REFUND");
    assert_eq!(pending[0]["reason"], "chargeback");
    assert_eq!(pending[0]["requestedBy"]["displayName"], "Sam S.");

    // The maker cannot approve their own; a customer cannot see it.
    let own = app
        .gql(APPROVE, json!({"id": action}), Some(&maker.token))
        .await;
    assert_eq!(error_code(&own), "FORBIDDEN", "{own}");
    let seen = app
        .gql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": action}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(error_code(&seen), "NOT_FOUND", "{seen}");
    let by_customer = app
        .gql(APPROVE, json!({"id": action}), Some(&ada.token))
        .await;
    assert_eq!(error_code(&by_customer), "FORBIDDEN", "{by_customer}");
    assert_eq!(app.balances(&bob.token, &bob_wallet).await.0, "100.00");

    let approved = app.ok(APPROVE, json!({"id": action}), &checker.token).await;
    let a = &approved["approveSupportAction"];
    assert_eq!(a["status"], "APPROVED", "{approved}");
    assert_eq!(a["approvedBy"]["displayName"], "Sam S.");
    assert!(a["decidedAt"].is_string());
    assert_eq!(a["result"]["__typename"], "Transaction");
    assert_eq!(a["result"]["type"], "REFUND");
    assert_eq!(a["result"]["amount"]["amount"], "100.00");
    assert_eq!(app.balances(&bob.token, &bob_wallet).await.0, "0.00");
    let (ada_balance, _, _) = app.balances(&ada.token, &ada_wallet).await;

    // Decided once: approving or rejecting again changes nothing.
    let twice = app
        .gql(APPROVE, json!({"id": action}), Some(&checker.token))
        .await;
    assert_eq!(error_code(&twice), "INVALID_STATE", "{twice}");
    assert_eq!(twice["errors"][0]["extensions"]["state"], "APPROVED");
    let reject = app
        .gql(
            REJECT,
            json!({"i": {"id": action, "reason": "late"}}),
            Some(&checker.token),
        )
        .await;
    assert_eq!(error_code(&reject), "INVALID_STATE", "{reject}");
    assert_eq!(app.balances(&ada.token, &ada_wallet).await.0, ada_balance);
    assert!(listed(&app, &checker.token, "PENDING").await.is_empty());
    assert_eq!(listed(&app, &checker.token, "APPROVED").await.len(), 1);

    // The refund's audit event names both agents.
    let named: i64 = app
        .count(&format!(
            "SELECT COUNT(*) AS n FROM audit_outbox WHERE CAST(data AS TEXT) LIKE '%{}%' AND CAST(data AS TEXT) LIKE '%{}%' AND event_type LIKE 'transaction.%'",
            crate::helpers::key_of(&maker.id),
            crate::helpers::key_of(&checker.id)
        ))
        .await
        + app
            .count(&format!(
                "SELECT COUNT(*) AS n FROM audit_logs WHERE CAST(data AS TEXT) LIKE '%{}%' AND CAST(data AS TEXT) LIKE '%{}%' AND event_type LIKE 'transaction.%'",
                crate::helpers::key_of(&maker.id),
                crate::helpers::key_of(&checker.id)
            ))
            .await;
    assert!(named >= 1, "no audit event of the refund names both agents");
}

async fn two_approvals_at_once_on_two_instances_hold_the_money_once(backend: Backend) {
    let app = app(backend).await;
    let maker = app.support_agent().await;
    let first = app.support_agent().await;
    let second = app.support_agent().await;
    let ada = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "500.00").await;
    let other = app.spawn_sibling().await;
    let hold = json!({"i": {"walletId": wallet, "amount": "250.00", "reason": "fraud inquiry"}});
    let action = action_id(&app.gql(HOLD, hold, Some(&maker.token)).await);
    assert_eq!(app.balances(&ada.token, &wallet).await.2, "0.00");

    let (a, b) = tokio::join!(
        app.gql(APPROVE, json!({"id": action}), Some(&first.token)),
        other.gql(APPROVE, json!({"id": action}), Some(&second.token)),
    );
    let codes: Vec<&str> = [&a, &b]
        .iter()
        .map(|r| {
            if r["errors"].is_null() {
                "OK"
            } else {
                error_code(r)
            }
        })
        .collect();
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, ["INVALID_STATE", "OK"], "{a} {b}");
    let won = if codes[0] == "OK" { &a } else { &b };
    let result = &won["data"]["approveSupportAction"]["result"];
    assert_eq!(result["__typename"], "Wallet");
    assert_eq!(result["frozenBalance"]["amount"], "250.00");
    assert_eq!(app.balances(&ada.token, &wallet).await.2, "250.00");
}

async fn a_closure_waits_and_can_be_rejected_or_expire(backend: Backend) {
    let app = app(backend).await;
    let maker = app.support_agent().await;
    let checker = app.support_agent().await;
    let ada = app.register().await;
    let close = json!({"i": {"userId": ada.id, "status": "CLOSED", "reason": "asked by customer"}});
    let action = action_id(&app.gql(STATUS, close.clone(), Some(&maker.token)).await);

    // Rejected: nothing runs, and it cannot be approved afterwards.
    let rejected = app
        .ok(
            REJECT,
            json!({"i": {"id": action, "reason": "identity not confirmed"}}),
            &checker.token,
        )
        .await;
    assert_eq!(rejected["rejectSupportAction"]["status"], "REJECTED");
    assert!(rejected["rejectSupportAction"]["approvedBy"].is_null());
    assert_eq!(
        app.me(&ada.token).await["data"]["me"]["email"],
        json!(ada.email)
    );
    let late = app
        .gql(APPROVE, json!({"id": action}), Some(&checker.token))
        .await;
    assert_eq!(error_code(&late), "INVALID_STATE", "{late}");
    assert_eq!(late["errors"][0]["extensions"]["state"], "REJECTED");
    assert_eq!(listed(&app, &checker.token, "REJECTED").await.len(), 1);

    // Asked again and left 24 hours: expired, it cannot be approved.
    let action = action_id(&app.gql(STATUS, close, Some(&maker.token)).await);
    let key = crate::helpers::key_of(action.as_str().unwrap());
    app.exec_with_uuid(
        "UPDATE support_actions SET expires_at = created_at WHERE action_id = $1",
        key,
    )
    .await;
    let expired = listed(&app, &checker.token, "EXPIRED").await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["status"], "EXPIRED");
    let late = app
        .gql(APPROVE, json!({"id": action}), Some(&checker.token))
        .await;
    assert_eq!(error_code(&late), "INVALID_STATE", "{late}");
    assert_eq!(late["errors"][0]["extensions"]["state"], "EXPIRED");
    assert_eq!(
        app.me(&ada.token).await["data"]["me"]["email"],
        json!(ada.email)
    );

    // Approved by a second agent: closed at once, and the customer's
    // audit log shows it.
    let close = json!({"i": {"userId": ada.id, "status": "CLOSED", "reason": "asked again"}});
    let action = action_id(&app.gql(STATUS, close, Some(&maker.token)).await);
    let approved = app.ok(APPROVE, json!({"id": action}), &checker.token).await;
    assert_eq!(
        approved["approveSupportAction"]["result"]["status"],
        "CLOSED"
    );
    assert_eq!(error_code(&app.me(&ada.token).await), "UNAUTHENTICATED");
}

both_backends!(
    a_large_refund_waits_for_a_second_agent_and_runs_once,
    two_approvals_at_once_on_two_instances_hold_the_money_once,
    a_closure_waits_and_can_be_rejected_or_expire,
);
