//! Step-up for large payments: at or above `STEP_UP_AMOUNT` a transfer,
//! a withdrawal or paying a request needs `confirmIdentity` on the same
//! session, lately; below it, and for deposits, nothing changes.

use serde_json::{Value, json};

use crate::{
    both_backends,
    devices::token_of,
    helpers::{Backend, PASSWORD, Registered, TestApp, error_code, error_field, spawn_app_with},
    two_factor::{code_at, enable_totp, now},
};

const CONFIRM: &str =
    "mutation($i: ConfirmIdentityInput!) { confirmIdentity(input: $i) { validUntil } }";

async fn step_up_app(backend: Backend, ttl_secs: u64) -> TestApp {
    spawn_app_with(backend, |c| {
        c.auth.step_up.amount = "USD:50".parse().unwrap();
        c.auth.step_up.ttl = std::time::Duration::from_secs(ttl_secs);
    })
    .await
}

async fn confirm(app: &TestApp, token: &str, input: Value) -> Value {
    app.gql(CONFIRM, json!({"i": input}), Some(token)).await
}

fn step_up_required(body: &Value) {
    assert_eq!(error_code(body), "STEP_UP_REQUIRED", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["threshold"],
        json!({"amount": "50.00", "currency": "USD"}),
        "{body}"
    );
}

async fn funded_pair(app: &TestApp) -> (Registered, Registered, String) {
    let ada = app.register().await;
    let bob = app.register().await;
    // Deposits need no step-up, whatever their size.
    let wallet = app.funded_wallet(&ada.token, "USD", "300.00").await;
    app.create_wallet(&bob.token, "USD").await;
    (ada, bob, wallet)
}

async fn a_step_up_is_needed_at_the_threshold_not_below_it(backend: Backend) {
    let app = step_up_app(backend, 300).await;
    let (ada, bob, wallet) = funded_pair(&app).await;
    let below = app
        .transfer(&ada.token, &bob.email, "49.99", "USD", "below")
        .await;
    assert_eq!(below["data"]["transfer"]["status"], "COMPLETED", "{below}");
    let before = app.balances(&ada.token, &wallet).await;
    let at = app
        .transfer(&ada.token, &bob.email, "50.00", "USD", "at")
        .await;
    step_up_required(&at);
    // Nothing moved, and the key is free for the retry.
    assert_eq!(app.balances(&ada.token, &wallet).await, before);

    let wrong = confirm(&app, &ada.token, json!({"password": "not my password!"})).await;
    assert_eq!(
        (error_code(&wrong), error_field(&wrong)),
        ("BAD_USER_INPUT", Some("password"))
    );
    let ok = confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    assert!(
        ok["data"]["confirmIdentity"]["validUntil"].is_string(),
        "{ok}"
    );
    let again = app
        .transfer(&ada.token, &bob.email, "50.00", "USD", "at")
        .await;
    assert_eq!(again["data"]["transfer"]["status"], "COMPLETED", "{again}");
    assert_ne!(app.balances(&ada.token, &wallet).await, before);
}

async fn paying_a_large_request_needs_a_step_up_too(backend: Backend) {
    let app = step_up_app(backend, 300).await;
    let (ada, bob, _) = funded_pair(&app).await;
    let asked = app
        .ok(
            "mutation($i: RequestPaymentInput!) { requestPayment(input: $i) { id } }",
            json!({"i": {"payerEmail": ada.email, "amount": "60.00", "currency": "USD", "idempotencyKey": "r1"}}),
            &bob.token,
        )
        .await;
    let id = asked["requestPayment"]["id"].as_str().unwrap().to_owned();
    let pay = "mutation($i: PayPaymentRequestInput!) { payPaymentRequest(input: $i) { status } }";
    let input = json!({"i": {"paymentRequestId": id, "idempotencyKey": "p1"}});
    step_up_required(&app.gql(pay, input.clone(), Some(&ada.token)).await);
    let still = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on PaymentRequest { status } } }",
            json!({"id": id}),
            &ada.token,
        )
        .await;
    assert_eq!(still["node"]["status"], "PENDING");
    confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    assert_eq!(
        app.ok(pay, input, &ada.token).await["payPaymentRequest"]["status"],
        "PAID"
    );
}

async fn a_large_withdrawal_needs_a_step_up(backend: Backend) {
    let app = step_up_app(backend, 300).await;
    let (ada, _, wallet) = funded_pair(&app).await;
    let account = app
        .ok(
            "mutation { linkBankAccount(input: {accountType: CHECKING, accountNumber: \"000123456789\", routingNumber: \"021000021\", bankName: \"Chase\"}) { id } }",
            json!({}),
            &ada.token,
        )
        .await["linkBankAccount"]["id"]
        .clone();
    let withdraw = "mutation($i: WithdrawInput!) { withdraw(input: $i) { status } }";
    let input = json!({"i": {"walletId": wallet, "accountId": account, "amount": "50.00", "idempotencyKey": "w1"}});
    let before = app.balances(&ada.token, &wallet).await;
    step_up_required(&app.gql(withdraw, input.clone(), Some(&ada.token)).await);
    assert_eq!(app.balances(&ada.token, &wallet).await, before);
    confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    let done = app.gql(withdraw, input, Some(&ada.token)).await;
    assert!(done.get("errors").is_none(), "{done}");
}

async fn a_step_up_expires_after_its_ttl(backend: Backend) {
    let app = step_up_app(backend, 1).await;
    let (ada, bob, _) = funded_pair(&app).await;
    confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    step_up_required(
        &app.transfer(&ada.token, &bob.email, "50.00", "USD", "late")
            .await,
    );
}

async fn a_step_up_belongs_to_its_session(backend: Backend) {
    let app = step_up_app(backend, 300).await;
    let (ada, bob, _) = funded_pair(&app).await;
    let other = app.spawn_sibling().await;
    let second = token_of(&app.login(&ada.email, PASSWORD).await);
    confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    // Another session of the same user, on either instance, is not raised.
    for instance in [&app, &other] {
        step_up_required(
            &instance
                .transfer(&second, &bob.email, "50.00", "USD", "k2")
                .await,
        );
    }
    // The raised session is, on either instance.
    let done = other
        .transfer(&ada.token, &bob.email, "50.00", "USD", "k1")
        .await;
    assert_eq!(done["data"]["transfer"]["status"], "COMPLETED", "{done}");
}

async fn with_two_factor_a_step_up_needs_the_code_too(backend: Backend) {
    let app = step_up_app(backend, 300).await;
    let (ada, bob, _) = funded_pair(&app).await;
    let (secret, _) = enable_totp(&app, &ada).await;
    let no_code = confirm(&app, &ada.token, json!({"password": PASSWORD})).await;
    assert_eq!(
        (error_code(&no_code), error_field(&no_code)),
        ("BAD_USER_INPUT", Some("totpCode"))
    );
    let wrong = confirm(
        &app,
        &ada.token,
        json!({"password": PASSWORD, "totpCode": code_at(&secret, now() - 3600)}),
    )
    .await;
    assert_eq!(
        (error_code(&wrong), error_field(&wrong)),
        ("BAD_USER_INPUT", Some("totpCode"))
    );
    step_up_required(
        &app.transfer(&ada.token, &bob.email, "50.00", "USD", "k")
            .await,
    );
    let ok = confirm(
        &app,
        &ada.token,
        json!({"password": PASSWORD, "totpCode": code_at(&secret, now() + 30)}),
    )
    .await;
    assert!(
        ok["data"]["confirmIdentity"]["validUntil"].is_string(),
        "{ok}"
    );
    let done = app
        .transfer(&ada.token, &bob.email, "50.00", "USD", "k")
        .await;
    assert_eq!(done["data"]["transfer"]["status"], "COMPLETED", "{done}");
}

both_backends!(
    a_step_up_is_needed_at_the_threshold_not_below_it,
    paying_a_large_request_needs_a_step_up_too,
    a_large_withdrawal_needs_a_step_up,
    a_step_up_expires_after_its_ttl,
    a_step_up_belongs_to_its_session,
    with_two_factor_a_step_up_needs_the_code_too,
);
