//! Payment requests: asked for, paid once whatever the concurrency, declined,
//! cancelled, expired; seen only by their two parties.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Registered, TestApp, error_code, key_of, spawn_app, spawn_app_with};
use crate::ws::Ws;

const FIELDS: &str = "id status amount { amount currency } requester { displayName } payer { displayName } note expiresAt transaction { id status amount { amount } }";

both_backends!(
    paying_from_two_instances_at_once_pays_once,
    declined_cancelled_and_expired_requests_cannot_be_paid,
    a_stranger_can_neither_see_nor_act_on_a_request,
    three_declines_in_a_day_stop_that_requesters_requests,
    both_parties_hear_of_each_change,
    the_same_key_replays_a_request_and_a_payment,
    a_payment_held_for_review_and_rejected_gives_the_request_back,
    each_party_acts_only_in_its_own_place_and_support_sees_the_request,
    requests_count_against_the_money_rate_limit,
);

async fn request(app: &TestApp, from: &Registered, payer: &str, amount: &str, key: &str) -> Value {
    app.gql(
        &format!("mutation($i: RequestPaymentInput!) {{ requestPayment(input: $i) {{ {FIELDS} }} }}"),
        json!({"i": {"payerEmail": payer, "amount": amount, "currency": "USD", "note": "dinner", "idempotencyKey": key}}),
        Some(&from.token),
    )
    .await
}

async fn requested(app: &TestApp, from: &Registered, payer: &str, amount: &str) -> String {
    let body = request(app, from, payer, amount, &uuid::Uuid::new_v4().to_string()).await;
    let r = &body["data"]["requestPayment"];
    assert_eq!(r["status"], "PENDING", "{body}");
    r["id"].as_str().unwrap().to_owned()
}

async fn pay(app: &TestApp, payer: &Registered, id: &str, key: &str) -> Value {
    app.gql(
        &format!("mutation($i: PayPaymentRequestInput!) {{ payPaymentRequest(input: $i) {{ {FIELDS} }} }}"),
        json!({"i": {"paymentRequestId": id, "idempotencyKey": key}}),
        Some(&payer.token),
    )
    .await
}

async fn decline(app: &TestApp, payer: &Registered, id: &str) -> Value {
    app.gql(
        "mutation($i: DeclinePaymentRequestInput!) { declinePaymentRequest(input: $i) { id status } }",
        json!({"i": {"paymentRequestId": id, "reason": "not mine"}}),
        Some(&payer.token),
    )
    .await
}

async fn cancel(app: &TestApp, requester: &Registered, id: &str) -> Value {
    app.gql(
        "mutation($i: CancelPaymentRequestInput!) { cancelPaymentRequest(input: $i) { id status } }",
        json!({"i": {"paymentRequestId": id}}),
        Some(&requester.token),
    )
    .await
}

fn invalid_state(body: &Value) -> &str {
    assert_eq!(error_code(body), "INVALID_STATE", "{body}");
    body["errors"][0]["extensions"]["state"].as_str().unwrap()
}

async fn paying_from_two_instances_at_once_pays_once(backend: Backend) {
    let one = spawn_app(backend).await;
    // On PostgreSQL the payments go through two instances at once; the
    // embedded default is one instance, which takes both at once.
    let sibling = match backend {
        Backend::Postgres => Some(one.spawn_sibling().await),
        Backend::Sqlite => None,
    };
    let two = sibling.as_ref().unwrap_or(&one);
    let ada = one.register().await;
    let bob = one.register().await;
    let bobs = one.funded_wallet(&bob.token, "USD", "100.00").await;
    let before = one.balances(&bob.token, &bobs).await.0;
    for round in 0..3 {
        let id = requested(&one, &ada, &bob.email, "10.00").await;
        let (k1, k2) = (format!("one-{round}"), format!("two-{round}"));
        let (a, b) = tokio::join!(pay(&one, &bob, &id, &k1), pay(two, &bob, &id, &k2));
        let paid: Vec<&Value> = [&a, &b]
            .into_iter()
            .filter(|r| r.get("errors").is_none())
            .collect();
        assert_eq!(paid.len(), 1, "exactly one payment: {a} {b}");
        let refused = if a.get("errors").is_some() { &a } else { &b };
        assert_eq!(invalid_state(refused), "PAID");
        let r = &paid[0]["data"]["payPaymentRequest"];
        assert_eq!(r["status"], "PAID");
        assert_eq!(r["transaction"]["status"], "COMPLETED");
        assert_eq!(r["transaction"]["amount"]["amount"], "10.00");
    }
    let after = one.balances(&bob.token, &bobs).await.0;
    let moved: f64 = before.parse::<f64>().unwrap() - after.parse::<f64>().unwrap();
    assert!((moved - 30.0).abs() < 1e-9, "{before} -> {after}");
}

/// Makes a request's time run out.
async fn expire(app: &TestApp, id: &str) {
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Sqlite => {
            "UPDATE payment_requests SET expires_at = ? WHERE payment_request_id = ?"
        }
        _ => "UPDATE payment_requests SET expires_at = $1 WHERE payment_request_id = $2",
    };
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [past.into(), key_of(id).into()],
        ))
        .await
        .unwrap();
}

async fn declined_cancelled_and_expired_requests_cannot_be_paid(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&bob.token, "USD", "100.00").await;

    let declined = requested(&app, &ada, &bob.email, "5.00").await;
    assert_eq!(
        decline(&app, &bob, &declined).await["data"]["declinePaymentRequest"]["status"],
        "DECLINED"
    );
    let cancelled = requested(&app, &ada, &bob.email, "5.00").await;
    assert_eq!(
        cancel(&app, &ada, &cancelled).await["data"]["cancelPaymentRequest"]["status"],
        "CANCELLED"
    );
    let expired = requested(&app, &ada, &bob.email, "5.00").await;
    expire(&app, &expired).await;

    for (id, state) in [
        (&declined, "DECLINED"),
        (&cancelled, "CANCELLED"),
        (&expired, "EXPIRED"),
    ] {
        assert_eq!(
            invalid_state(&pay(&app, &bob, id, &format!("pay-{state}")).await),
            state
        );
        assert_eq!(invalid_state(&decline(&app, &bob, id).await), state);
        assert_eq!(invalid_state(&cancel(&app, &ada, id).await), state);
    }
    // The refused payments gave their keys back and moved nothing.
    let list = app
        .ok(
            "{ me { paymentRequests(direction: INCOMING, status: EXPIRED) { edges { node { id status } } } } }",
            json!({}),
            &bob.token,
        )
        .await;
    let edges = list["me"]["paymentRequests"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{list}");
    assert_eq!(edges[0]["node"]["id"], expired.as_str());
    let out = app
        .ok(
            "{ me { paymentRequests(direction: OUTGOING) { edges { node { status } } } } }",
            json!({}),
            &ada.token,
        )
        .await;
    assert_eq!(
        out["me"]["paymentRequests"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let txs = app
        .ok(
            "{ me { transactions { edges { node { type } } } } }",
            json!({}),
            &bob.token,
        )
        .await;
    assert_eq!(
        txs["me"]["transactions"]["edges"].as_array().unwrap().len(),
        1,
        "only the deposit: {txs}"
    );
}

async fn a_stranger_can_neither_see_nor_act_on_a_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let eve = app.register().await;
    app.funded_wallet(&eve.token, "USD", "100.00").await;
    let id = requested(&app, &ada, &bob.email, "5.00").await;
    let node = "query($id: ID!) { node(id: $id) { ... on PaymentRequest { id status } } }";
    for who in [&ada, &bob] {
        let seen = app.ok(node, json!({"id": id}), &who.token).await;
        assert_eq!(seen["node"]["status"], "PENDING");
    }
    assert_eq!(
        error_code(&app.gql(node, json!({"id": id}), Some(&eve.token)).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(&pay(&app, &eve, &id, "steal").await),
        "NOT_FOUND"
    );
    assert_eq!(error_code(&decline(&app, &eve, &id).await), "NOT_FOUND");
    assert_eq!(error_code(&cancel(&app, &eve, &id).await), "NOT_FOUND");
    let theirs = app
        .ok(
            "{ me { paymentRequests { edges { node { id } } } } }",
            json!({}),
            &eve.token,
        )
        .await;
    assert_eq!(theirs["me"]["paymentRequests"]["edges"], json!([]));
    // Still pending for its parties.
    let seen = app.ok(node, json!({"id": id}), &bob.token).await;
    assert_eq!(seen["node"]["status"], "PENDING");
}

async fn three_declines_in_a_day_stop_that_requesters_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let cy = app.register().await;
    for _ in 0..3 {
        let id = requested(&app, &ada, &bob.email, "1.00").await;
        assert!(decline(&app, &bob, &id).await.get("errors").is_none());
    }
    let fourth = request(&app, &ada, &bob.email, "1.00", "fourth").await;
    assert_eq!(error_code(&fourth), "RATE_LIMITED", "{fourth}");
    let wait = fourth["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!(wait > 0 && wait <= 86_400, "{fourth}");
    // Others may still ask Bob, and Ada may still ask others.
    requested(&app, &cy, &bob.email, "1.00").await;
    requested(&app, &ada, &cy.email, "1.00").await;
    // The refused request made nothing: the key is free again.
    let again = request(&app, &ada, &cy.email, "2.00", "fourth").await;
    assert_eq!(
        again["data"]["requestPayment"]["status"], "PENDING",
        "{again}"
    );
}

async fn both_parties_hear_of_each_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let bobs = app.funded_wallet(&bob.token, "USD", "50.00").await;
    let adas = app.create_wallet(&ada.token, "USD").await;
    let mut sockets = Vec::new();
    for (who, wallet) in [(&ada, &adas), (&bob, &bobs)] {
        let mut ws = Ws::connect(&app, Some(&who.token)).await.acked();
        ws.subscribe(
            "1",
            "subscription { paymentRequestUpdated { id status version } }",
            json!({}),
        )
        .await;
        // A subscription with a first state answers once the socket's
        // subscriptions are running.
        ws.subscribe(
            "2",
            "subscription($id: ID!) { walletUpdated(id: $id) { id } }",
            json!({"id": wallet}),
        )
        .await;
        let first = ws.next_payload().await;
        assert_eq!(
            first["data"]["walletUpdated"]["id"],
            wallet.as_str(),
            "{first}"
        );
        sockets.push(ws);
    }
    let id = requested(&app, &ada, &bob.email, "7.00").await;
    let paid = pay(&app, &bob, &id, "k").await;
    assert_eq!(
        paid["data"]["payPaymentRequest"]["status"], "PAID",
        "{paid}"
    );
    for ws in &mut sockets {
        let mut seen = Vec::new();
        while seen.last().map(String::as_str) != Some("PAID") {
            let p = ws.next_payload().await;
            let r = &p["data"]["paymentRequestUpdated"];
            if r.is_null() {
                continue;
            }
            assert_eq!(r["id"], id.as_str(), "{p}");
            seen.push(r["status"].as_str().unwrap().to_owned());
        }
        assert_eq!(seen, ["PENDING", "PAID"]);
    }
}

async fn the_same_key_replays_a_request_and_a_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let bobs = app.funded_wallet(&bob.token, "USD", "100.00").await;
    let first = request(&app, &ada, &bob.email, "12.50", "ask").await;
    let again = request(&app, &ada, &bob.email, "12.50", "ask").await;
    let id = first["data"]["requestPayment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        again["data"]["requestPayment"]["id"],
        id.as_str(),
        "{again}"
    );
    let other = request(&app, &ada, &bob.email, "13.00", "ask").await;
    assert_eq!(error_code(&other), "IDEMPOTENCY_CONFLICT");

    let before = app.balances(&bob.token, &bobs).await.0;
    let paid = pay(&app, &bob, &id, "pay").await;
    let replay = pay(&app, &bob, &id, "pay").await;
    let t = &paid["data"]["payPaymentRequest"]["transaction"]["id"];
    assert!(t.is_string(), "{paid}");
    assert_eq!(
        replay["data"]["payPaymentRequest"]["status"], "PAID",
        "{replay}"
    );
    assert_eq!(&replay["data"]["payPaymentRequest"]["transaction"]["id"], t);
    let after = app.balances(&bob.token, &bobs).await.0;
    let moved: f64 = before.parse::<f64>().unwrap() - after.parse::<f64>().unwrap();
    assert!((moved - 12.5).abs() < 1e-9, "{before} -> {after}");
    // Another key finds it paid.
    assert_eq!(invalid_state(&pay(&app, &bob, &id, "pay-2").await), "PAID");
}

async fn a_payment_held_for_review_and_rejected_gives_the_request_back(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.fraud.review_amount = "USD:50".parse().unwrap()
    })
    .await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.create_wallet(&ada.token, "USD").await;
    let wallet = app.funded_wallet(&bob.token, "USD", "200.00").await;
    let before = app.balances(&bob.token, &wallet).await;
    let id = requested(&app, &ada, &bob.email, "60.00").await;

    let held = pay(&app, &bob, &id, "pay-held").await;
    let paid = &held["data"]["payPaymentRequest"];
    assert_eq!(paid["status"], "PAID", "{held}");
    assert_eq!(paid["transaction"]["status"], "PENDING_REVIEW", "{held}");
    let rejected = app
        .ok(
            "mutation($i: ReviewTransactionInput!) { reviewTransaction(input: $i) { status } }",
            json!({"i": {"transactionId": paid["transaction"]["id"], "approve": false, "note": "not them"}}),
            &agent.token,
        )
        .await;
    assert_eq!(rejected["reviewTransaction"]["status"], "CANCELLED");

    // No money moved, so the request is pending again, with no transaction,
    // and the payer can pay it.
    let seen = app
        .ok(
            &format!(
                "query($id: ID!) {{ node(id: $id) {{ ... on PaymentRequest {{ {FIELDS} }} }} }}"
            ),
            json!({"id": id}),
            &ada.token,
        )
        .await;
    assert_eq!(seen["node"]["status"], "PENDING", "{seen}");
    assert_eq!(seen["node"]["transaction"], Value::Null, "{seen}");
    assert_eq!(app.balances(&bob.token, &wallet).await, before);
    let again = pay(&app, &bob, &id, "pay-again").await;
    assert_eq!(
        again["data"]["payPaymentRequest"]["status"], "PAID",
        "{again}"
    );
}

async fn each_party_acts_only_in_its_own_place_and_support_sees_the_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let id = requested(&app, &ada, &bob.email, "5.00").await;

    // The requester cannot pay or decline their own request, nor the payer
    // cancel it; nothing changes.
    assert_eq!(
        error_code(&pay(&app, &ada, &id, "self-pay").await),
        "FORBIDDEN"
    );
    assert_eq!(error_code(&decline(&app, &ada, &id).await), "FORBIDDEN");
    assert_eq!(error_code(&cancel(&app, &bob, &id).await), "FORBIDDEN");

    // A support agent reads it as its parties do.
    let query =
        format!("query($id: ID!) {{ node(id: $id) {{ ... on PaymentRequest {{ {FIELDS} }} }} }}");
    let seen = app.ok(&query, json!({"id": id}), &agent.token).await;
    assert_eq!(seen["node"]["status"], "PENDING", "{seen}");
    assert_eq!(seen["node"]["amount"]["amount"], "5.00", "{seen}");
    assert_eq!(
        app.ok(&query, json!({"id": id}), &bob.token).await["node"]["status"],
        "PENDING"
    );
}

async fn requests_count_against_the_money_rate_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.money.limit = 2).await;
    let ada = app.register().await;
    let bob = app.register().await;
    requested(&app, &ada, &bob.email, "1.00").await;
    requested(&app, &ada, &bob.email, "2.00").await;

    let third = request(&app, &ada, &bob.email, "3.00", "third").await;
    assert_eq!(error_code(&third), "RATE_LIMITED", "{third}");
    let listed = app
        .ok(
            "{ me { paymentRequests(direction: OUTGOING, first: 10) { edges { node { id } } } } }",
            json!({}),
            &ada.token,
        )
        .await;
    assert_eq!(
        listed["me"]["paymentRequests"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{listed}"
    );
}
