use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{
        Backend, CARD_DECLINED, CARD_OK, TestApp, error_code, error_field, spawn_app,
        spawn_app_with,
    },
};

async fn wallets_show_each_currencys_digits(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    for (code, zero) in [
        ("USD", "0.00"),
        ("EUR", "0.00"),
        ("GBP", "0.00"),
        ("JPY", "0"),
        ("KWD", "0.000"),
    ] {
        let wallet = app.create_wallet(&user.token, code).await;
        assert_eq!(
            app.balances(&user.token, &wallet).await,
            (zero.into(), zero.into(), zero.into())
        );
    }
    let again = app
        .gql(
            "mutation { createWallet(input: {currency: \"USD\"}) { id } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        error_field(&again),
        Some("currency"),
        "one wallet per currency: {again}"
    );
    for bad in ["ABC", "usd", "XAU"] {
        let body = app
            .gql(
                "mutation($c: CurrencyCode!) { createWallet(input: {currency: $c}) { id } }",
                json!({"c": bad}),
                Some(&user.token),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }
    let me = app
        .ok("{ me { wallets { currency } } }", json!({}), &user.token)
        .await;
    assert_eq!(me["me"]["wallets"].as_array().unwrap().len(), 5);
}

async fn deposits_settle_through_the_processor(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let wallet = app.create_wallet(&user.token, "USD").await;
    let card = app.add_card(&user.token, CARD_OK).await;
    let body = app
        .deposit(&user.token, &wallet, &card, "100.00", "dep-1")
        .await;
    let deposit = &body["data"]["deposit"];
    assert_eq!(deposit["status"], "PENDING", "{body}");
    // 2.9% + 0.30 of 100.00, the default schedule.
    assert_eq!(deposit["fees"]["amount"], "3.20");
    let id = deposit["id"].as_str().unwrap();
    let settled = app.settled(&user.token, id).await;
    assert_eq!(settled["status"], "COMPLETED");
    let events: Vec<&str> = settled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["created", "processing", "completed"]);
    assert_eq!(app.balances(&user.token, &wallet).await.0, "96.80");

    let replay = app
        .deposit(&user.token, &wallet, &card, "100.00", "dep-1")
        .await;
    assert_eq!(
        replay["data"]["deposit"]["id"], id,
        "the same key returns the same deposit"
    );
    assert_eq!(
        app.balances(&user.token, &wallet).await.0,
        "96.80",
        "and moves no money again"
    );

    let declined = app.add_card(&user.token, CARD_DECLINED).await;
    let body = app
        .deposit(&user.token, &wallet, &declined, "50.00", "dep-2")
        .await;
    let id = body["data"]["deposit"]["id"].as_str().unwrap();
    assert_eq!(app.settled(&user.token, id).await["status"], "FAILED");
    assert_eq!(
        app.balances(&user.token, &wallet).await.0,
        "96.80",
        "a declined card credits nothing"
    );
}

async fn a_transfer_moves_money_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let body = app
        .transfer(&ada.token, &bob.email, "25.50", "USD", "t-1")
        .await;
    assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");
    assert_eq!(
        body["data"]["transfer"]["amount"],
        json!({"amount": "25.50", "currency": "USD"})
    );
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("71.30".into(), "71.30".into(), "0.00".into())
    );
    // Bob had no USD wallet: it was created for him.
    let bobs = app
        .ok(
            "{ me { wallets { currency balance { amount } } } }",
            json!({}),
            &bob.token,
        )
        .await;
    assert_eq!(
        bobs["me"]["wallets"],
        json!([{"currency": "USD", "balance": {"amount": "25.50"}}])
    );

    let history = app
        .ok(
            "query($id: ID!) { wallet(id: $id) { history(first: 10) { edges { node { amount { amount } balanceBefore { amount } balanceAfter { amount } operationType transaction { type } } } } } }",
            json!({"id": wallet}),
            &ada.token,
        )
        .await;
    let edges = history["wallet"]["history"]["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["operationType"], "transfer_out");
    assert_eq!(
        edges[0]["node"]["balanceBefore"]["amount"],
        edges[1]["node"]["balanceAfter"]["amount"]
    );
    assert_eq!(edges[0]["node"]["transaction"]["type"], "TRANSFER");
}

/// The state a refused request must leave untouched.
async fn snapshot(app: &TestApp, token: &str, wallet: &str) -> (String, String, String, i64) {
    (
        app.balances(token, wallet).await.0,
        app.balances(token, wallet).await.1,
        app.balances(token, wallet).await.2,
        app.count("SELECT COUNT(*) AS n FROM transactions").await,
    )
}

async fn bad_money_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let before = snapshot(&app, &ada.token, &wallet).await;
    let cases: Vec<(Value, &str)> = vec![
        (json!("-1.00"), "USD"),
        (json!("0"), "USD"),
        (json!("0.00"), "USD"),
        (json!("1.001"), "USD"),
        (json!("12.5"), "JPY"),
        (json!(12.5), "USD"),
        (json!(10), "USD"),
        (json!("1e3"), "USD"),
        (json!("abc"), "USD"),
        (json!(" 5.00"), "USD"),
        (json!("10000000000000.00"), "USD"),
        (json!("5.00"), "ABC"),
    ];
    for (i, (amount, currency)) in cases.into_iter().enumerate() {
        let body = app
            .gql(
                "mutation($i: TransferInput!) { transfer(input: $i) { id } }",
                json!({"i": {"recipientEmail": bob.email, "amount": amount, "currency": currency, "idempotencyKey": format!("bad-{i}")}}),
                Some(&ada.token),
            )
            .await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{amount} {currency}: {body}"
        );
    }
    let long_key = "k".repeat(256);
    for key in ["", long_key.as_str()] {
        let body = app
            .transfer(&ada.token, &bob.email, "1.00", "USD", key)
            .await;
        assert_eq!(error_field(&body), Some("idempotencyKey"), "{body}");
    }
    assert_eq!(snapshot(&app, &ada.token, &wallet).await, before);
}

async fn refused_transfers_each_say_why_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let before = snapshot(&app, &ada.token, &wallet).await;

    let own = app
        .transfer(&ada.token, &ada.email, "1.00", "USD", "self")
        .await;
    assert_eq!(
        (error_code(&own), error_field(&own)),
        ("BAD_USER_INPUT", Some("recipientEmail")),
        "{own}"
    );
    let nobody = app
        .transfer(&ada.token, "nobody@example.com", "1.00", "USD", "nobody")
        .await;
    assert_eq!(
        (error_code(&nobody), error_field(&nobody)),
        ("NOT_FOUND", Some("recipientEmail")),
        "{nobody}"
    );
    let broke = app
        .transfer(&ada.token, &bob.email, "400.00", "USD", "broke")
        .await;
    assert_eq!(error_code(&broke), "INSUFFICIENT_FUNDS");
    let no_eur = app
        .transfer(&ada.token, &bob.email, "1.00", "EUR", "no-eur")
        .await;
    assert_eq!(error_code(&no_eur), "INSUFFICIENT_FUNDS");

    app.exec_with_uuid(
        "UPDATE users SET status = 'suspended' WHERE user_id = $1",
        crate::helpers::key_of(&bob.id),
    )
    .await;
    let to_suspended = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "to-suspended")
        .await;
    assert_eq!(error_code(&to_suspended), "ACCOUNT_RESTRICTED");
    app.exec_with_uuid(
        "UPDATE users SET status = 'active' WHERE user_id = $1",
        crate::helpers::key_of(&bob.id),
    )
    .await;

    app.exec_with_uuid(
        "UPDATE wallets SET status = 'frozen' WHERE wallet_id = $1",
        crate::helpers::key_of(&wallet),
    )
    .await;
    let frozen = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "frozen")
        .await;
    assert_eq!(error_code(&frozen), "ACCOUNT_RESTRICTED");
    app.exec_with_uuid(
        "UPDATE wallets SET status = 'active' WHERE wallet_id = $1",
        crate::helpers::key_of(&wallet),
    )
    .await;

    app.exec_with_uuid(
        "UPDATE users SET status = 'suspended' WHERE user_id = $1",
        crate::helpers::key_of(&ada.id),
    )
    .await;
    let suspended = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "suspended")
        .await;
    assert_eq!(error_code(&suspended), "ACCOUNT_RESTRICTED");
    let reads = app
        .gql("{ me { wallets { id } } }", json!({}), Some(&ada.token))
        .await;
    assert!(
        reads.get("errors").is_none(),
        "a suspended user still reads: {reads}"
    );
    app.exec_with_uuid(
        "UPDATE users SET status = 'active' WHERE user_id = $1",
        crate::helpers::key_of(&ada.id),
    )
    .await;

    assert_eq!(snapshot(&app, &ada.token, &wallet).await, before);
}

async fn the_same_key_never_moves_money_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    // Ten identical requests at the same instant.
    let replies = futures::future::join_all(
        (0..10).map(|_| app.transfer(&ada.token, &bob.email, "10.00", "USD", "same")),
    )
    .await;
    let ids: std::collections::HashSet<String> = replies
        .iter()
        .map(|r| {
            r["data"]["transfer"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every duplicate got the original transaction");
    assert_eq!(app.balances(&ada.token, &wallet).await.0, "86.80");
    let conflict = app
        .transfer(&ada.token, &bob.email, "10.01", "USD", "same")
        .await;
    assert_eq!(error_code(&conflict), "IDEMPOTENCY_CONFLICT");
    // Keys are the caller's own: Bob may use the same one.
    let bobs_wallet = app.funded_wallet(&bob.token, "EUR", "50.00").await;
    let bobs = app
        .transfer(&bob.token, &ada.email, "1.00", "EUR", "same")
        .await;
    assert_eq!(bobs["data"]["transfer"]["status"], "COMPLETED", "{bobs}");
    assert_ne!(bobs_wallet, wallet);
}

async fn a_hot_wallet_serialises_without_errors(backend: Backend) {
    // A payroll account: many payments an hour is its normal.
    let app = spawn_app_with(backend, |c| {
        c.fraud.velocity_max = 1000;
        c.database.max_connections = 20;
    })
    .await;
    let payer = app.register().await;
    let wallet = app.funded_wallet(&payer.token, "USD", "20.00").await;
    app.set_kyc_verified(&payer.id).await;
    let payees: Vec<_> = futures::future::join_all((0..5).map(|_| app.register())).await;
    // 50 transfers of 0.50 out of 19.12: 38 fit, 12 must fail cleanly.
    let replies = futures::future::join_all((0..50).map(|i| {
        let to = payees[i % payees.len()].email.clone();
        let app = &app;
        let token = payer.token.clone();
        async move {
            app.transfer(&token, &to, "0.50", "USD", &format!("hot-{i}"))
                .await
        }
    }))
    .await;
    let mut completed = 0;
    for r in &replies {
        match r["data"]["transfer"]["status"].as_str() {
            Some("COMPLETED") => completed += 1,
            _ => assert_eq!(
                error_code(r),
                "INSUFFICIENT_FUNDS",
                "only a clean refusal is allowed: {r}"
            ),
        }
    }
    assert_eq!(completed, 38);
    assert_eq!(app.balances(&payer.token, &wallet).await.0, "0.12");
}

async fn unverified_users_have_a_daily_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ledger.kyc_unverified_daily_limit = "USD:50".parse().unwrap()
    })
    .await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "200.00").await;
    let first = app
        .transfer(&ada.token, &bob.email, "30.00", "USD", "k1")
        .await;
    assert_eq!(first["data"]["transfer"]["status"], "COMPLETED", "{first}");
    let over = app
        .transfer(&ada.token, &bob.email, "30.00", "USD", "k2")
        .await;
    assert_eq!(error_code(&over), "LIMIT_EXCEEDED", "{over}");
    assert_eq!(
        over["errors"][0]["extensions"]["remaining"],
        json!({"amount": "20.00", "currency": "USD"})
    );
    app.set_kyc_verified(&ada.id).await;
    let verified = app
        .transfer(&ada.token, &bob.email, "30.00", "USD", "k3")
        .await;
    assert_eq!(
        verified["data"]["transfer"]["status"], "COMPLETED",
        "a verified user has no such limit: {verified}"
    );
}

/// A refunded payment no longer counts against the sender's daily limit:
/// the limit is about money that left, and this money came back.
async fn a_refunded_payment_gives_its_daily_limit_back(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ledger.kyc_unverified_daily_limit = "USD:50".parse().unwrap()
    })
    .await;
    let agent = app.support_agent().await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "200.00").await;
    let sent = app
        .transfer(&ada.token, &bob.email, "30.00", "USD", "k1")
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");
    let over = app
        .transfer(&ada.token, &bob.email, "50.00", "USD", "k2")
        .await;
    assert_eq!(error_code(&over), "LIMIT_EXCEEDED", "{over}");
    app.ok(
        "mutation($i: RefundTransactionInput!) { refundTransaction(input: $i) { id } }",
        json!({"i": {"transactionId": sent["data"]["transfer"]["id"], "reason": "sent by mistake", "idempotencyKey": "r1"}}),
        &agent.token,
    )
    .await;
    let again = app
        .transfer(&ada.token, &bob.email, "50.00", "USD", "k3")
        .await;
    assert_eq!(
        again["data"]["transfer"]["status"], "COMPLETED",
        "the refunded 30.00 no longer counts: {again}"
    );
}

/// The velocity rule: past `FRAUD_VELOCITY_MAX` payments in the window,
/// the next one is held for review, and it still counts the held ones.
async fn the_velocity_rule_holds_a_burst(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.fraud.velocity_max = 3).await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    let mut statuses = Vec::new();
    for k in 0..5 {
        let sent = app
            .transfer(&ada.token, &bob.email, "1.00", "USD", &format!("v{k}"))
            .await;
        statuses.push(sent["data"]["transfer"]["status"].clone());
    }
    assert_eq!(
        statuses,
        [
            "COMPLETED",
            "COMPLETED",
            "COMPLETED",
            "PENDING_REVIEW",
            "PENDING_REVIEW"
        ]
    );
}

async fn large_transfers_are_held_for_review(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.fraud.review_amount = "USD:50".parse().unwrap()
    })
    .await;
    let ada = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let held = app
        .transfer(&ada.token, &bob.email, "60.00", "USD", "big")
        .await;
    assert_eq!(
        held["data"]["transfer"]["status"], "PENDING_REVIEW",
        "{held}"
    );
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("96.80".into(), "36.80".into(), "60.00".into())
    );
    let bobs = app
        .ok(
            "{ me { wallets { balance { amount } } } }",
            json!({}),
            &bob.token,
        )
        .await;
    assert_eq!(
        bobs["me"]["wallets"][0]["balance"]["amount"], "0.00",
        "nothing arrives before review"
    );
    // The check is queued in the outbox and relayed to the fraud store
    // (here the embedded one); wait for it to land there, once.
    let landed =
        "SELECT COUNT(*) AS n FROM fraud_detection WHERE rules_fired LIKE '%large_amount%'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.count(landed).await == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count(landed).await,
        1,
        "the check, its score and its signals reach the fraud store"
    );
}

async fn withdrawals_reserve_then_settle(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let link = "mutation($n: String!) { linkBankAccount(input: {accountType: CHECKING, accountNumber: $n, routingNumber: \"021000021\", bankName: \"Chase\"}) { id } }";
    let good =
        app.ok(link, json!({"n": "000123456789"}), &ada.token).await["linkBankAccount"]["id"]
            .clone();
    let bad = app.ok(link, json!({"n": CARD_DECLINED}), &ada.token).await["linkBankAccount"]["id"]
        .clone();
    let withdraw =
        "mutation($i: WithdrawInput!) { withdraw(input: $i) { id status fees { amount } } }";
    let paid = app
        .ok(withdraw, json!({"i": {"walletId": wallet, "accountId": good, "amount": "40.00", "idempotencyKey": "w1"}}), &ada.token)
        .await;
    assert_eq!(paid["withdraw"]["status"], "PENDING");
    assert_eq!(paid["withdraw"]["fees"]["amount"], "0.25");
    assert_eq!(
        app.settled(&ada.token, paid["withdraw"]["id"].as_str().unwrap())
            .await["status"],
        "COMPLETED"
    );
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("56.55".into(), "56.55".into(), "0.00".into())
    );

    let failed = app
        .ok(withdraw, json!({"i": {"walletId": wallet, "accountId": bad, "amount": "10.00", "idempotencyKey": "w2"}}), &ada.token)
        .await;
    assert_eq!(
        app.settled(&ada.token, failed["withdraw"]["id"].as_str().unwrap())
            .await["status"],
        "FAILED"
    );
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("56.55".into(), "56.55".into(), "0.00".into()),
        "released"
    );
    let too_much = app
        .gql(withdraw, json!({"i": {"walletId": wallet, "accountId": good, "amount": "56.50", "idempotencyKey": "w3"}}), Some(&ada.token))
        .await;
    assert_eq!(
        error_code(&too_much),
        "INSUFFICIENT_FUNDS",
        "the fee counts too: {too_much}"
    );
}

both_backends!(
    wallets_show_each_currencys_digits,
    deposits_settle_through_the_processor,
    a_transfer_moves_money_at_once,
    bad_money_input_changes_nothing,
    refused_transfers_each_say_why_and_change_nothing,
    the_same_key_never_moves_money_twice,
    a_hot_wallet_serialises_without_errors,
    unverified_users_have_a_daily_limit,
    a_refunded_payment_gives_its_daily_limit_back,
    the_velocity_rule_holds_a_burst,
    large_transfers_are_held_for_review,
    withdrawals_reserve_then_settle,
);
