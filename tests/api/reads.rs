use chrono::{Duration, Utc};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, error_field, spawn_app},
};

use crate::helpers::key_of as key;

async fn seed_transfers(app: &TestApp, from: Uuid, to: Uuid, n: i64) {
    let start = Utc::now() - Duration::minutes(n);
    for i in 0..n {
        let at = start + Duration::minutes(i);
        entity::transactions::ActiveModel {
            transaction_id: Set(Uuid::now_v7()),
            sender_id: Set(Some(from)),
            receiver_id: Set(Some(to)),
            sender_wallet_id: Set(None),
            receiver_wallet_id: Set(None),
            amount_minor: Set((100 + i).into()),
            currency: Set(entity::Currency::parse("USD").unwrap()),
            transaction_type: Set(entity::transactions::TxType::Transfer),
            status: Set(entity::transactions::Status::Completed),
            payment_method_id: Set(None),
            account_id: Set(None),
            related_transaction_id: Set(None),
            description: Set(Some(format!("#{i}"))),
            fees_minor: Set(0.into()),
            version: Set(1),
            created_at: Set(at),
            updated_at: Set(at),
            completed_at: Set(Some(at)),
        }
        .insert(&app.db)
        .await
        .unwrap();
    }
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) { me { transactions(first: $first, after: $after, last: $last, before: $before) { edges { cursor node { description amount { amount currency } sender { displayName } receiver { displayName } } } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } } }";

fn descriptions(body: &Value) -> Vec<String> {
    body["data"]["me"]["transactions"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges: {body}"))
        .iter()
        .map(|e| e["node"]["description"].as_str().unwrap().to_owned())
        .collect()
}

async fn transactions_page_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app
        .register_as(&crate::helpers::unique_email("ada"), "Ada", "Lovelace")
        .await;
    let bob = app
        .register_as(&crate::helpers::unique_email("bob"), "Bob", "Babbage")
        .await;
    seed_transfers(&app, key(&ada.id), key(&bob.id), 5).await;

    let first = app.gql(PAGE, json!({"first": 2}), Some(&ada.token)).await;
    assert_eq!(descriptions(&first), ["#4", "#3"]);
    let info = &first["data"]["me"]["transactions"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    let edge = &first["data"]["me"]["transactions"]["edges"][0]["node"];
    assert_eq!(edge["amount"], json!({"amount": "1.04", "currency": "USD"}));
    assert_eq!(edge["sender"]["displayName"], "Ada L.");
    assert_eq!(
        edge["receiver"],
        json!({"displayName": "Bob B."}),
        "no email, no wallets"
    );

    let next = app
        .gql(
            PAGE,
            json!({"first": 10, "after": info["endCursor"]}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(descriptions(&next), ["#2", "#1", "#0"]);
    assert_eq!(
        next["data"]["me"]["transactions"]["pageInfo"]["hasNextPage"],
        false
    );
    assert_eq!(
        next["data"]["me"]["transactions"]["pageInfo"]["hasPreviousPage"],
        true
    );

    let back = app
        .gql(PAGE, json!({"last": 2, "before": next["data"]["me"]["transactions"]["pageInfo"]["startCursor"]}), Some(&ada.token))
        .await;
    assert_eq!(descriptions(&back), ["#4", "#3"]);

    // The receiver sees the same transactions; a stranger sees none of them.
    let theirs = app.gql(PAGE, json!({"first": 10}), Some(&bob.token)).await;
    assert_eq!(descriptions(&theirs).len(), 5);
    let stranger = app.register().await;
    let none = app
        .gql(PAGE, json!({"first": 10}), Some(&stranger.token))
        .await;
    assert!(descriptions(&none).is_empty());
}

async fn other_users_objects_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let own = app
        .gql(
            "query($id: ID!) { node(id: $id) { id ... on User { email } } }",
            json!({"id": ada.id}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(own["data"]["node"]["email"], ada.email.as_str());

    let body = app
        .gql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": ada.id}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = app
        .gql(
            "query($id: ID!) { wallet(id: $id) { id } }",
            json!({"id": "not-an-id"}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), Some("id"));
    let body = app
        .gql(
            "query($id: ID!) { wallet(id: $id) { id } }",
            json!({"id": ada.id}),
            Some(&bob.token),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "BAD_USER_INPUT",
        "a User ID is not a Wallet ID: {body}"
    );
}

/// A page of 10 and a page of 100 transactions, each with both parties and
/// its events, cost the same number of SQL statements: the loaders batch.
async fn a_page_costs_the_same_statements_whatever_its_size(backend: Backend) {
    let app = crate::helpers::spawn_quiet_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    seed_transfers(&app, key(&ada.id), key(&bob.id), 120).await;
    let query = "query($n: Int) { me { wallets { balance { amount } } transactions(first: $n) { edges { node { amount { amount } status sender { displayName } receiver { displayName } events { eventType } } } } } }";
    // A session's first request reads the user's standing (and, with
    // Redis, caches it); after that both pages are counted alike.
    app.me(&ada.token).await;
    let mut costs = Vec::new();
    for n in [10, 100] {
        let before = app.statements_so_far().await;
        let body = app.gql(query, json!({"n": n}), Some(&ada.token)).await;
        assert_eq!(
            body["data"]["me"]["transactions"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            n as usize,
            "{body}"
        );
        let after = app.statements_so_far().await;
        costs.push(after - before);
    }
    assert_eq!(
        costs[0], costs[1],
        "statements grew with the page size: {costs:?}"
    );
    assert!(costs[0] <= 10, "a page costs {} statements", costs[0]);
}

/// The wallet screen's read (balances, and a page of transactions with
/// both parties' names) costs two statements: one for the wallets, one for
/// the page with its parties' names. The caller's own row is not read.
async fn the_wallet_screen_costs_two_statements(backend: Backend) {
    let app = crate::helpers::spawn_quiet_app(backend).await;
    let ada = app
        .register_as(&crate::helpers::unique_email("ada"), "Ada", "Lovelace")
        .await;
    let bob = app
        .register_as(&crate::helpers::unique_email("bob"), "Bob", "Babbage")
        .await;
    app.create_wallet(&ada.token, "USD").await;
    seed_transfers(&app, key(&ada.id), key(&bob.id), 12).await;
    // The session's first request reads the user's standing.
    app.me(&ada.token).await;
    let query = "{ me { wallets { balance { amount } } transactions(first: 10) { edges { node { amount { amount } status sender { displayName } receiver { displayName } } } } } }";
    // The server's background work (relay, settlement) counts too: the
    // fewest of three reads is the read's own cost.
    let mut cost = u64::MAX;
    let mut body = Value::Null;
    for _ in 0..3 {
        let before = app.statements_so_far().await;
        body = app.gql(query, json!({}), Some(&ada.token)).await;
        cost = cost.min(app.statements_so_far().await - before);
    }
    let me = &body["data"]["me"];
    assert_eq!(me["wallets"].as_array().unwrap().len(), 1, "{body}");
    let edges = me["transactions"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 10, "{body}");
    for edge in edges {
        assert_eq!(edge["node"]["sender"]["displayName"], "Ada L.", "{body}");
        assert_eq!(edge["node"]["receiver"]["displayName"], "Bob B.", "{body}");
    }
    // SQLite's in-process cache checks the session in the database.
    let session_check = match backend {
        Backend::Postgres => 0,
        Backend::Sqlite => 1,
    };
    assert_eq!(cost, 2 + session_check, "statements for the wallet screen");
}

both_backends!(
    the_wallet_screen_costs_two_statements,
    transactions_page_newest_first,
    other_users_objects_are_not_found,
    a_page_costs_the_same_statements_whatever_its_size,
);
