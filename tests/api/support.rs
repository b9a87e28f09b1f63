use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{
        Backend, PASSWORD, TestApp, error_code, error_field, key_of, spawn_app, spawn_app_with,
    },
};

const HOLD: &str = "mutation($i: HoldInput!) { holdFunds(input: $i) { balance { amount } availableBalance { amount } frozenBalance { amount } } }";
const RELEASE: &str = "mutation($i: HoldInput!) { releaseHold(input: $i) { availableBalance { amount } frozenBalance { amount } } }";
const REVIEW: &str =
    "mutation($i: ReviewTransactionInput!) { reviewTransaction(input: $i) { id status } }";
const REFUND: &str = "mutation($i: RefundTransactionInput!) { refundTransaction(input: $i) { id type status amount { amount } } }";
const STATUS: &str = "mutation($i: SetUserStatusInput!) { setUserStatus(input: $i) { status } }";
const KYC: &str =
    "mutation($i: SetKycStatusInput!) { setKycStatus(input: $i) { profile { kycStatus } } }";
const SEARCH: &str = "query($q: String, $first: Int, $after: String) { users(query: $q, first: $first, after: $after) { edges { node { id email } } pageInfo { hasNextPage endCursor } } }";

/// The support events recorded for a customer, oldest first: those still in
/// the outbox and those the relay has moved to the (embedded) audit store.
/// The outbox is read first: an event the relay moves in between is then
/// already in the store when that is read.
async fn support_events(app: &TestApp, customer: &str) -> Vec<String> {
    use chrono::SubsecRound;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let waiting = entity::audit_outbox::Entity::find()
        .filter(entity::audit_outbox::Column::UserId.eq(key_of(customer)))
        .filter(entity::audit_outbox::Column::ServiceName.eq("support"))
        .all(&app.db)
        .await
        .unwrap();
    let relayed = entity::audit_logs::Entity::find()
        .filter(entity::audit_logs::Column::UserId.eq(key_of(customer)))
        .filter(entity::audit_logs::Column::Service.eq("support"))
        .all(&app.db)
        .await
        .unwrap();
    let mut events: std::collections::BTreeMap<_, _> = waiting
        .into_iter()
        .map(|e| ((e.created_at.trunc_subsecs(6), e.event_id), e.event_type))
        .collect();
    events.extend(
        relayed
            .into_iter()
            .map(|e| ((e.created_at, e.event_id), e.event_type)),
    );
    events.into_values().collect()
}

async fn customers_and_strangers_are_refused_everything(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.register().await;
    let wallet = app.create_wallet(&customer.token, "USD").await;
    let hold = json!({"i": {"walletId": wallet, "amount": "1.00", "reason": "x"}});
    let calls: Vec<(&str, Value)> = vec![
        (SEARCH, json!({"q": "a"})),
        (
            "query($id: ID!) { user(id: $id) { id } }",
            json!({"id": customer.id}),
        ),
        (HOLD, hold.clone()),
        (RELEASE, hold),
        (
            REVIEW,
            json!({"i": {"transactionId": wallet, "approve": true, "note": "x"}}),
        ),
        (
            REFUND,
            json!({"i": {"transactionId": wallet, "reason": "x", "idempotencyKey": "k"}}),
        ),
        (
            STATUS,
            json!({"i": {"userId": customer.id, "status": "ACTIVE", "reason": "x"}}),
        ),
        (
            KYC,
            json!({"i": {"userId": customer.id, "status": "VERIFIED", "note": "x"}}),
        ),
    ];
    for (query, vars) in calls {
        let as_customer = app.gql(query, vars.clone(), Some(&customer.token)).await;
        assert_eq!(
            error_code(&as_customer),
            "FORBIDDEN",
            "{query}: {as_customer}"
        );
        let anonymous = app.gql(query, vars, None).await;
        assert_eq!(
            error_code(&anonymous),
            "UNAUTHENTICATED",
            "{query}: {anonymous}"
        );
    }
    let introspect =
        "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }";
    let seen = app
        .ok(introspect, json!({}), &customer.token)
        .await
        .to_string();
    for hidden in [
        "\"users\"",
        "holdFunds",
        "reviewTransaction",
        "setKycStatus",
    ] {
        assert!(!seen.contains(hidden), "{hidden} is visible to a customer");
    }
    let agent = app.support_agent().await;
    let seen = app
        .ok(introspect, json!({}), &agent.token)
        .await
        .to_string();
    assert!(
        seen.contains("holdFunds") && seen.contains("\"users\""),
        "{seen}"
    );
}

async fn agents_find_customers_by_email_name_or_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let ada = app
        .register_as("ada.lovelace@example.com", "Ada", "Lovelace")
        .await;
    app.ok(
        "mutation { updateProfile(input: {phone: \"+44 20 7946 0958\"}) { id } }",
        json!({}),
        &ada.token,
    )
    .await;
    app.register_as("charles@example.com", "Charles", "Babbage")
        .await;
    for q in ["LOVELACE@", "ada love", "7946", "lovelace"] {
        let found = app.ok(SEARCH, json!({"q": q}), &agent.token).await;
        let emails: Vec<&str> = found["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, ["ada.lovelace@example.com"], "{q}");
    }
    let none = app.ok(SEARCH, json!({"q": "100%"}), &agent.token).await;
    assert_eq!(
        none["users"]["edges"],
        json!([]),
        "wildcards match literally"
    );
    let page = app.ok(SEARCH, json!({"first": 2}), &agent.token).await;
    assert_eq!(
        page["users"]["pageInfo"]["hasNextPage"], true,
        "three users: {page}"
    );
    let rest = app
        .ok(
            SEARCH,
            json!({"first": 2, "after": page["users"]["pageInfo"]["endCursor"]}),
            &agent.token,
        )
        .await;
    assert_eq!(rest["users"]["edges"].as_array().unwrap().len(), 1);

    // The agent sees a customer's whole record; each read is audited.
    let full = app
        .ok("query($id: ID!) { user(id: $id) { email profile { kycStatus } wallets { id } transactions(first: 5) { edges { cursor } } } }", json!({"id": ada.id}), &agent.token)
        .await;
    assert_eq!(full["user"]["email"], "ada.lovelace@example.com");
    let events = support_events(&app, &ada.id).await;
    assert!(
        events.iter().filter(|e| *e == "support.read").count() >= 4,
        "{events:?}"
    );
}

async fn holds_move_money_between_available_and_frozen(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let customer = app.register().await;
    let wallet = app.funded_wallet(&customer.token, "USD", "100.00").await;
    let held = app
        .ok(
            HOLD,
            json!({"i": {"walletId": wallet, "amount": "30.00", "reason": "chargeback risk"}}),
            &agent.token,
        )
        .await;
    assert_eq!(held["holdFunds"]["balance"]["amount"], "96.80");
    assert_eq!(held["holdFunds"]["availableBalance"]["amount"], "66.80");
    assert_eq!(held["holdFunds"]["frozenBalance"]["amount"], "30.00");

    let too_much = app
        .gql(
            HOLD,
            json!({"i": {"walletId": wallet, "amount": "66.81", "reason": "x"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_field(&too_much), Some("amount"), "{too_much}");
    let no_reason = app
        .gql(
            HOLD,
            json!({"i": {"walletId": wallet, "amount": "1.00", "reason": "  "}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_field(&no_reason), Some("reason"), "{no_reason}");
    let over_release = app
        .gql(
            RELEASE,
            json!({"i": {"walletId": wallet, "amount": "30.01", "reason": "x"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_field(&over_release), Some("amount"), "{over_release}");
    let released = app
        .ok(
            RELEASE,
            json!({"i": {"walletId": wallet, "amount": "30.00", "reason": "cleared"}}),
            &agent.token,
        )
        .await;
    assert_eq!(released["releaseHold"]["frozenBalance"]["amount"], "0.00");

    let own = app.funded_wallet(&agent.token, "USD", "10.00").await;
    let own_hold = app
        .gql(
            HOLD,
            json!({"i": {"walletId": own, "amount": "1.00", "reason": "x"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(
        error_code(&own_hold),
        "FORBIDDEN",
        "no acting on one's own account: {own_hold}"
    );
    assert_eq!(
        support_events(&app, &customer.id).await,
        ["wallet.hold_placed", "wallet.hold_released"]
    );
}

async fn reviews_decide_held_transfers(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.fraud.review_amount = "USD:50".parse().unwrap()
    })
    .await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "200.00").await;
    let first = app
        .transfer(&ada.token, &bob.email, "60.00", "USD", "big-1")
        .await;
    let second = app
        .transfer(&ada.token, &bob.email, "70.00", "USD", "big-2")
        .await;
    let (first, second) = (
        first["data"]["transfer"]["id"].clone(),
        second["data"]["transfer"]["id"].clone(),
    );
    let approved = app
        .ok(
            REVIEW,
            json!({"i": {"transactionId": first, "approve": true, "note": "called the customer"}}),
            &agent.token,
        )
        .await;
    assert_eq!(approved["reviewTransaction"]["status"], "COMPLETED");
    let rejected = app
        .ok(
            REVIEW,
            json!({"i": {"transactionId": second, "approve": false, "note": "not them"}}),
            &agent.token,
        )
        .await;
    assert_eq!(rejected["reviewTransaction"]["status"], "CANCELLED");
    // 200.00 less the 6.10 deposit fee, less the approved 60.00.
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("133.90".into(), "133.90".into(), "0.00".into())
    );
    let bobs = app
        .ok(
            "{ me { wallets { balance { amount } } } }",
            json!({}),
            &bob.token,
        )
        .await;
    assert_eq!(bobs["me"]["wallets"][0]["balance"]["amount"], "60.00");
    let again = app
        .gql(
            REVIEW,
            json!({"i": {"transactionId": first, "approve": true, "note": "x"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(
        error_code(&again),
        "INVALID_STATE",
        "not under review any more: {again}"
    );
    assert_eq!(again["errors"][0]["extensions"]["state"], "COMPLETED");
    let no_note = app
        .gql(
            REVIEW,
            json!({"i": {"transactionId": first, "approve": true, "note": ""}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_field(&no_note), Some("note"));
}

async fn refunds_are_idempotent_and_reverse_the_original(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let sent = app
        .transfer(&ada.token, &bob.email, "40.00", "USD", "pay")
        .await;
    let id = sent["data"]["transfer"]["id"].clone();
    let input = json!({"i": {"transactionId": id, "reason": "merchant dispute", "idempotencyKey": "refund-1"}});
    let refund = app.ok(REFUND, input.clone(), &agent.token).await;
    assert_eq!(refund["refundTransaction"]["type"], "REFUND");
    assert_eq!(refund["refundTransaction"]["status"], "COMPLETED");
    let replay = app.ok(REFUND, input, &agent.token).await;
    assert_eq!(
        replay["refundTransaction"]["id"],
        refund["refundTransaction"]["id"]
    );
    assert_eq!(
        app.balances(&ada.token, &wallet).await.0,
        "96.80",
        "refunded once"
    );
    let original = app
        .ok(
            "query($id: ID!) { transaction(id: $id) { status } }",
            json!({"id": id}),
            &ada.token,
        )
        .await;
    assert_eq!(original["transaction"]["status"], "REVERSED");
    let twice = app
        .gql(
            REFUND,
            json!({"i": {"transactionId": id, "reason": "x", "idempotencyKey": "refund-2"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(
        error_code(&twice),
        "INVALID_STATE",
        "a reversed transfer cannot be refunded again: {twice}"
    );
    assert_eq!(twice["errors"][0]["extensions"]["state"], "REVERSED");
}

async fn status_and_kyc_changes_take_effect_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ledger.kyc_unverified_daily_limit = "USD:10".parse().unwrap()
    })
    .await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    assert_eq!(
        error_code(
            &app.transfer(&ada.token, &bob.email, "20.00", "USD", "a")
                .await
        ),
        "LIMIT_EXCEEDED"
    );
    let kyc = app
        .ok(
            KYC,
            json!({"i": {"userId": ada.id, "status": "VERIFIED", "note": "passport checked"}}),
            &agent.token,
        )
        .await;
    assert_eq!(kyc["setKycStatus"]["profile"]["kycStatus"], "VERIFIED");
    assert_eq!(
        app.transfer(&ada.token, &bob.email, "20.00", "USD", "b")
            .await["data"]["transfer"]["status"],
        "COMPLETED"
    );

    app.ok(
        STATUS,
        json!({"i": {"userId": ada.id, "status": "SUSPENDED", "reason": "investigation"}}),
        &agent.token,
    )
    .await;
    assert_eq!(
        error_code(
            &app.transfer(&ada.token, &bob.email, "1.00", "USD", "c")
                .await
        ),
        "ACCOUNT_RESTRICTED"
    );
    assert!(
        app.login(&ada.email, PASSWORD).await["data"]["login"]["token"].is_string(),
        "suspended users log in"
    );
    // Closing an account takes a second agent.
    let asked = app
        .gql(
            STATUS,
            json!({"i": {"userId": ada.id, "status": "CLOSED", "reason": "customer request"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_code(&asked), "APPROVAL_REQUIRED", "{asked}");
    assert!(
        app.login(&ada.email, PASSWORD).await["data"]["login"]["token"].is_string(),
        "closed before a second agent approved"
    );
    let second = app.support_agent().await;
    let action = asked["errors"][0]["extensions"]["supportActionId"].clone();
    app.ok(
        "mutation($id: ID!) { approveSupportAction(id: $id) { status } }",
        json!({"id": action}),
        &second.token,
    )
    .await;
    assert_eq!(
        error_code(&app.login(&ada.email, PASSWORD).await),
        "ACCOUNT_RESTRICTED"
    );
    assert_eq!(error_code(&app.me(&ada.token).await), "UNAUTHENTICATED");

    let own = app
        .gql(
            STATUS,
            json!({"i": {"userId": agent.id, "status": "ACTIVE", "reason": "x"}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_code(&own), "FORBIDDEN");
    let no_reason = app
        .gql(
            STATUS,
            json!({"i": {"userId": bob.id, "status": "ACTIVE", "reason": ""}}),
            Some(&agent.token),
        )
        .await;
    assert_eq!(error_field(&no_reason), Some("reason"));
    let actions: Vec<String> = support_events(&app, &ada.id)
        .await
        .into_iter()
        .filter(|e| e != "support.read")
        .collect();
    assert_eq!(
        actions,
        [
            "support.kyc_status_changed",
            "support.user_status_changed",
            "support.action_requested",
            "support.user_status_changed"
        ]
    );
}

/// Support actions reach the customer's `auditLog` (relayed to the audit
/// store), with the agent as actor; the agents' reads do not show there,
/// but an agent sees them, and the customer's fraud checks.
async fn support_actions_are_read_back_through_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let customer = app.register().await;
    let wallet = app.funded_wallet(&customer.token, "USD", "100.00").await;
    app.ok(
        HOLD,
        json!({"i": {"walletId": wallet, "amount": "5.00", "reason": "check"}}),
        &agent.token,
    )
    .await;
    app.ok(
        RELEASE,
        json!({"i": {"walletId": wallet, "amount": "5.00", "reason": "cleared"}}),
        &agent.token,
    )
    .await;
    app.ok(
        KYC,
        json!({"i": {"userId": customer.id, "status": "VERIFIED", "note": "ok"}}),
        &agent.token,
    )
    .await;
    let log = "{ me { auditLog(first: 100) { edges { node { eventType service actorId } } } } }";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let entries = loop {
        let body = app.ok(log, json!({}), &customer.token).await;
        let entries: Vec<Value> = body["me"]["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect();
        if entries.iter().filter(|e| e["service"] == "support").count() >= 3 {
            break entries;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "support actions never reached the audit log: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let support: Vec<&Value> = entries
        .iter()
        .filter(|e| e["service"] == "support")
        .collect();
    let types: Vec<&str> = support
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    for expected in [
        "wallet.hold_placed",
        "wallet.hold_released",
        "support.kyc_status_changed",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    assert!(
        !types.iter().any(|t| t.starts_with("support.read")),
        "the customer sees no agent reads: {types:?}"
    );
    assert!(
        support.iter().all(|e| e["actorId"] == json!(agent.id)),
        "the agent is the actor: {support:?}"
    );

    let as_agent = "query($id: ID!) { user(id: $id) { auditLog(first: 100) { edges { node { eventType } } } fraudChecks(first: 10) { edges { node { __typename } } } } }";
    let seen = app
        .ok(as_agent, json!({"id": customer.id}), &agent.token)
        .await;
    assert!(
        seen["user"]["auditLog"]["edges"].as_array().unwrap().len() >= 3,
        "{seen}"
    );
    let forbidden = app
        .gql(
            "{ me { fraudChecks(first: 1) { edges { cursor } } } }",
            json!({}),
            Some(&customer.token),
        )
        .await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
}

const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on User { email } ... on Wallet { balance { amount } } ... on Transaction { type status } ... on Account { bankName } ... on PaymentMethod { lastFour } } }";

/// `node(id)` of `id` as `token`: the object, or the error code.
async fn node(app: &TestApp, token: &str, id: &Value) -> Result<Value, String> {
    let out = app.gql(NODE, json!({"id": id}), Some(token)).await;
    match out["data"]["node"].clone() {
        Value::Null => Err(error_code(&out).to_owned()),
        found => Ok(found),
    }
}

async fn agents_see_a_customer_by_every_path_and_customers_only_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = json!(app.funded_wallet(&ada.token, "USD", "100.00").await);
    let account = app
        .ok("mutation { linkBankAccount(input: {accountType: CHECKING, accountNumber: \"000123456789\", routingNumber: \"021000021\", bankName: \"B\"}) { id } }", json!({}), &ada.token)
        .await["linkBankAccount"]["id"]
        .clone();
    let card = app
        .ok("{ me { paymentMethods { id } } }", json!({}), &ada.token)
        .await["me"]["paymentMethods"][0]["id"]
        .clone();
    let sent = app
        .transfer(&ada.token, &bob.email, "40.00", "USD", "pay")
        .await;
    let transfer = sent["data"]["transfer"]["id"].clone();
    let refund = app
        .ok(
            REFUND,
            json!({"i": {"transactionId": transfer, "reason": "dispute", "idempotencyKey": "r-1"}}),
            &agent.token,
        )
        .await["refundTransaction"]["id"]
        .clone();

    // The agent: user(id) and node(id) show the same customer.
    let reads_before = support_events(&app, &ada.id).await.len();
    let by_user = app
        .ok(
            "query($id: ID!) { user(id: $id) { id email } }",
            json!({"id": ada.id}),
            &agent.token,
        )
        .await;
    assert_eq!(
        node(&app, &agent.token, &json!(ada.id)).await,
        Ok(by_user["user"].clone())
    );
    // The refund it issued, by transaction(id) and node(id).
    let by_transaction = app
        .ok(
            "query($id: ID!) { transaction(id: $id) { id type status } }",
            json!({"id": refund}),
            &agent.token,
        )
        .await;
    assert_eq!(by_transaction["transaction"]["type"], "REFUND");
    assert_eq!(
        node(&app, &agent.token, &refund).await,
        Ok(by_transaction["transaction"].clone())
    );
    // Every other kind of the customer's objects, by node(id) and wallet(id).
    for id in [&wallet, &transfer, &account, &card] {
        let found = node(&app, &agent.token, id).await;
        assert_eq!(found.map(|n| n["id"].clone()), Ok(id.clone()));
    }
    let by_wallet = app
        .ok(
            "query($id: ID!) { wallet(id: $id) { id } }",
            json!({"id": wallet}),
            &agent.token,
        )
        .await;
    assert_eq!(by_wallet["wallet"]["id"], wallet);
    assert!(
        support_events(&app, &ada.id).await.len() > reads_before + 6,
        "each of the agent's reads is audited"
    );

    // A customer sees their own by every path, and nobody else's by any.
    assert_eq!(
        node(&app, &ada.token, &wallet)
            .await
            .map(|n| n["id"].clone()),
        Ok(wallet.clone())
    );
    let carol = app.register().await;
    for id in [&json!(ada.id), &wallet, &transfer, &refund, &account, &card] {
        assert_eq!(
            node(&app, &carol.token, id).await,
            Err("NOT_FOUND".into()),
            "{id}"
        );
    }
    for (query, id) in [
        ("query($id: ID!) { transaction(id: $id) { id } }", &refund),
        ("query($id: ID!) { transaction(id: $id) { id } }", &transfer),
        ("query($id: ID!) { wallet(id: $id) { id } }", &wallet),
    ] {
        let out = app.gql(query, json!({"id": id}), Some(&carol.token)).await;
        assert_eq!(error_code(&out), "NOT_FOUND", "{query}: {out}");
    }
    // Bob takes part in both transfers, but Ada's wallet and card are hers.
    assert!(node(&app, &bob.token, &refund).await.is_ok());
    assert_eq!(
        node(&app, &bob.token, &wallet).await,
        Err("NOT_FOUND".into())
    );
    assert_eq!(node(&app, &bob.token, &card).await, Err("NOT_FOUND".into()));
}

both_backends!(
    customers_and_strangers_are_refused_everything,
    agents_find_customers_by_email_name_or_phone,
    holds_move_money_between_available_and_frozen,
    reviews_decide_held_transfers,
    refunds_are_idempotent_and_reverse_the_original,
    status_and_kyc_changes_take_effect_at_once,
    support_actions_are_read_back_through_the_audit_log,
    agents_see_a_customer_by_every_path_and_customers_only_their_own,
);
