use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, error_field, spawn_app},
};

const ADD: &str = "mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id type lastFour expiryMonth expiryYear isDefault } }";

async fn add_card(app: &TestApp, token: &str, number: &str, month: i32, year: i32) -> Value {
    app.gql(
        ADD,
        json!({"i": {"card": {"number": number, "expiryMonth": month, "expiryYear": year}}}),
        Some(token),
    )
    .await
}

/// Every text column of the tables that could hold a number, concatenated.
async fn stored_text(app: &TestApp) -> String {
    let backend = app.db.get_database_backend();
    let mut all = String::new();
    for sql in [
        "SELECT encrypted_data AS t FROM payment_methods",
        "SELECT account_number_ciphertext AS t FROM accounts",
        "SELECT account_number_fingerprint AS t FROM accounts",
        "SELECT CAST(data AS TEXT) AS t FROM audit_outbox WHERE data IS NOT NULL",
        // Where the relay moves those events (the embedded audit store).
        "SELECT data AS t FROM audit_logs WHERE data IS NOT NULL",
    ] {
        for row in app
            .db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            all.push_str(&row.try_get::<String>("", "t").unwrap());
            all.push('\n');
        }
    }
    all
}

async fn cards_are_stored_only_as_ciphertext(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let body = add_card(&app, &user.token, "4242 4242 4242 4242", 12, 2031).await;
    let card = &body["data"]["addPaymentMethod"];
    assert_eq!(card["lastFour"], "4242", "{body}");
    assert_eq!(card["type"], "CARD");
    assert_eq!(
        (card["expiryMonth"].as_i64(), card["expiryYear"].as_i64()),
        (Some(12), Some(2031))
    );
    assert_eq!(
        card["isDefault"], true,
        "the first method becomes the default"
    );
    assert!(!body.to_string().contains("4242424242424242"));

    let stored = stored_text(&app).await;
    assert!(stored.contains("v1:"), "the ciphertext is there: {stored}");
    assert!(
        !stored.contains("4242424242424242"),
        "the full number reached the database"
    );
}

async fn bad_cards_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let cases = [
        ("4242424242424241", 12, 2031, "number"),
        ("4242", 12, 2031, "number"),
        ("42424242424242424242", 12, 2031, "number"),
        ("4242424242424242", 1, 2020, "expiryYear"),
        ("4242424242424242", 13, 2031, "expiryMonth"),
    ];
    for (number, month, year, field) in cases {
        let body = add_card(&app, &user.token, number, month, year).await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{number} {month}/{year}: {body}"
        );
        assert_eq!(error_field(&body), Some(field), "{body}");
        assert!(
            !body.to_string().contains(number),
            "the number was echoed back: {body}"
        );
    }
    let me = app
        .gql(
            "{ me { paymentMethods { id } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(me["data"]["me"]["paymentMethods"], json!([]));
}

async fn exactly_one_default_at_a_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let first = add_card(&app, &user.token, "4242424242424242", 12, 2031).await;
    let second = add_card(&app, &user.token, "5555555555554444", 6, 2032).await;
    let first_id = first["data"]["addPaymentMethod"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_id = second["data"]["addPaymentMethod"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(second["data"]["addPaymentMethod"]["isDefault"], false);

    let set = app
        .gql(
            "mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { isDefault } }",
            json!({"id": second_id}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        set["data"]["setDefaultPaymentMethod"]["isDefault"], true,
        "{set}"
    );
    let me = app
        .gql(
            "{ me { paymentMethods { id isDefault } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    let defaults: Vec<&Value> = me["data"]["me"]["paymentMethods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["id"], second_id.as_str());

    let removed = app
        .gql(
            "mutation($id: ID!) { removePaymentMethod(id: $id) { id } }",
            json!({"id": first_id}),
            Some(&user.token),
        )
        .await;
    assert!(
        removed["data"]["removePaymentMethod"]["id"].is_string(),
        "{removed}"
    );
    let me = app
        .gql(
            "{ me { paymentMethods { id } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        me["data"]["me"]["paymentMethods"].as_array().unwrap().len(),
        1
    );
}

async fn another_users_method_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register().await;
    let other = app.register().await;
    let card = add_card(&app, &owner.token, "4242424242424242", 12, 2031).await;
    let id = card["data"]["addPaymentMethod"]["id"].as_str().unwrap();
    for query in [
        "mutation($id: ID!) { removePaymentMethod(id: $id) { id } }",
        "mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { id } }",
        "query($id: ID!) { node(id: $id) { id } }",
    ] {
        let body = app.gql(query, json!({"id": id}), Some(&other.token)).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}: {body}");
    }
}

async fn bank_accounts_are_masked_and_encrypted(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let link = "mutation($i: LinkBankAccountInput!) { linkBankAccount(input: $i) { id accountType maskedAccountNumber lastFour routingNumber bankName } }";
    let input = json!({"accountType": "CHECKING", "accountNumber": "000123456789", "routingNumber": "021000021", "bankName": "Chase"});
    let body = app.gql(link, json!({"i": input}), Some(&user.token)).await;
    let account = &body["data"]["linkBankAccount"];
    assert_eq!(account["maskedAccountNumber"], "****6789", "{body}");
    assert_eq!(account["accountType"], "CHECKING");
    assert!(!stored_text(&app).await.contains("000123456789"));

    let again = app.gql(link, json!({"i": input}), Some(&user.token)).await;
    assert_eq!(
        error_field(&again),
        Some("accountNumber"),
        "linking twice is refused: {again}"
    );

    let mut bad = input.clone();
    bad["routingNumber"] = json!("021000022");
    let body = app.gql(link, json!({"i": bad}), Some(&user.token)).await;
    assert_eq!(error_field(&body), Some("routingNumber"), "{body}");
    let mut bad = input.clone();
    bad["accountNumber"] = json!("12ab");
    let body = app.gql(link, json!({"i": bad}), Some(&user.token)).await;
    assert_eq!(error_field(&body), Some("accountNumber"), "{body}");

    let me = app
        .gql(
            "{ me { accounts { lastFour } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(me["data"]["me"]["accounts"], json!([{"lastFour": "6789"}]));
}

both_backends!(
    cards_are_stored_only_as_ciphertext,
    bad_cards_are_refused_and_nothing_is_stored,
    exactly_one_default_at_a_time,
    another_users_method_is_not_found,
    bank_accounts_are_masked_and_encrypted,
);
