//! Money moving reaches subscribers: through another instance, in
//! version order, and through the reference npm client.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, key_of, spawn_app, spawn_app_with},
    subscriptions::{NodeClient, TRANSACTION_UPDATED, WALLET_UPDATED},
    ws::{DEADLINE, Ws},
};

fn version(payload: &Value, field: &str) -> i64 {
    payload["data"][field]["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version: {payload}"))
}

/// The wallet's version as the API reads it now.
async fn wallet_version(app: &TestApp, token: &str, wallet: &str) -> i64 {
    let data = app
        .ok(
            "query($id: ID!) { wallet(id: $id) { version } }",
            json!({"id": wallet}),
            token,
        )
        .await;
    data["wallet"]["version"].as_i64().unwrap()
}

#[tokio::test]
async fn a_subscriber_on_one_instance_hears_a_transfer_made_through_another() {
    a_transfer_through_one_instance_reaches_a_subscriber_on_another().await
}

pub(crate) async fn a_transfer_through_one_instance_reaches_a_subscriber_on_another() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_sibling().await;
    let ada = a.register().await;
    let bob = a.register().await;
    a.funded_wallet(&ada.token, "USD", "100.00").await;
    let bobs_wallet = a.create_wallet(&bob.token, "USD").await;

    let mut ws = Ws::connect(&a, Some(&bob.token)).await.acked();
    // Any of Bob's transactions; then his wallet, whose first message (its
    // current state) says both subscriptions are live.
    ws.subscribe("t", TRANSACTION_UPDATED, json!({})).await;
    ws.subscribe("w", WALLET_UPDATED, json!({"id": bobs_wallet}))
        .await;
    let first = ws.next_payload().await;
    let before = version(&first, "walletUpdated");

    let sent = b
        .transfer(&ada.token, &bob.email, "12.50", "USD", "through-b")
        .await;
    let transfer_id = sent["data"]["transfer"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{sent}"))
        .to_owned();

    let (mut saw_wallet, mut saw_transfer) = (false, false);
    while !(saw_wallet && saw_transfer) {
        let payload = ws.next_payload().await;
        if let Some(w) = payload["data"].get("walletUpdated") {
            assert!(version(&payload, "walletUpdated") > before, "{payload}");
            assert_eq!(w["balance"]["amount"], "12.50", "{payload}");
            saw_wallet = true;
        } else {
            let t = &payload["data"]["transactionUpdated"];
            assert_eq!(t["id"], transfer_id, "{payload}");
            assert_eq!(t["status"], "COMPLETED");
            saw_transfer = true;
        }
    }
}

pub(crate) async fn a_wallets_events_arrive_with_strictly_increasing_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    // On PostgreSQL the transfers go through two instances at once.
    let other = match backend {
        Backend::Postgres => Some(app.spawn_sibling().await),
        Backend::Sqlite => None,
    };
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    let wallet = app.create_wallet(&bob.token, "USD").await;
    let mut ws = Ws::connect(&app, Some(&bob.token)).await.acked();
    ws.subscribe("w", WALLET_UPDATED, json!({"id": wallet}))
        .await;
    let mut versions = vec![version(&ws.next_payload().await, "walletUpdated")];

    let keys: Vec<String> = (0..6).map(|i| format!("v{i}")).collect();
    let transfers = keys.iter().enumerate().map(|(i, key)| {
        let via = match (&other, i % 2) {
            (Some(b), 1) => b,
            _ => &app,
        };
        via.transfer(&ada.token, &bob.email, "1.00", "USD", key)
    });
    for body in futures::future::join_all(transfers).await {
        assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");
    }
    let last = wallet_version(&app, &bob.token, &wallet).await;
    while *versions.last().unwrap() < last {
        versions.push(version(&ws.next_payload().await, "walletUpdated"));
    }
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "versions must only grow: {versions:?}"
    );
    assert_eq!(*versions.last().unwrap(), last);
}

async fn deposits_settling_reach_their_subscribers(backend: Backend) {
    // A slow processor, so the subscription starts before settlement.
    let app = spawn_app_with(backend, |c| {
        c.workers.processor_delay = Duration::from_millis(1500)
    })
    .await;
    let ada = app.register().await;
    let wallet = app.create_wallet(&ada.token, "USD").await;
    let card = app.add_card(&ada.token, crate::helpers::CARD_OK).await;
    let body = app
        .deposit(&ada.token, &wallet, &card, "20.00", "slow")
        .await;
    let id = body["data"]["deposit"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("t", TRANSACTION_UPDATED, json!({"id": id}))
        .await;
    let mut seen = Vec::new();
    loop {
        let payload = ws.next_payload().await;
        let t = &payload["data"]["transactionUpdated"];
        seen.push((
            t["status"].as_str().unwrap().to_owned(),
            version(&payload, "transactionUpdated"),
        ));
        if t["status"] == "COMPLETED" {
            break;
        }
    }
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "versions only grow: {seen:?}"
    );
    assert!(seen.len() >= 2, "the settlement itself arrived: {seen:?}");
}

async fn a_transfer_held_for_review_reaches_the_senders_subscription(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.fraud.review_amount = "USD:50".parse().unwrap()
    })
    .await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    let ada_wallet = app.create_wallet(&ada.token, "EUR").await;
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("t", TRANSACTION_UPDATED, json!({})).await;
    ws.subscribe("w", WALLET_UPDATED, json!({"id": ada_wallet}))
        .await;
    ws.next_payload().await;
    let held = app
        .transfer(&ada.token, &bob.email, "60.00", "USD", "big")
        .await;
    assert_eq!(
        held["data"]["transfer"]["status"], "PENDING_REVIEW",
        "{held}"
    );
    // The deposit's own updates may still be on their way (the bus is
    // off the request path): the held transfer's is the one that counts.
    loop {
        let payload = ws.next_payload().await;
        if let Some(t) = payload["data"].get("transactionUpdated")
            && t["id"] == held["data"]["transfer"]["id"]
        {
            assert_eq!(t["status"], "PENDING_REVIEW");
            break;
        }
    }
}

/// Nobody sees another user's events, though they all flow through the
/// same bus.
pub(crate) async fn a_user_never_sees_another_users_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let eve = app.register().await;
    app.funded_wallet(&ada.token, "USD", "50.00").await;
    let eves_wallet = app.create_wallet(&eve.token, "USD").await;
    let mut eve_ws = Ws::connect(&app, Some(&eve.token)).await.acked();
    eve_ws.subscribe("t", TRANSACTION_UPDATED, json!({})).await;
    eve_ws.subscribe("w", WALLET_UPDATED, json!({})).await;
    eve_ws
        .subscribe("me", WALLET_UPDATED, json!({"id": eves_wallet}))
        .await;
    eve_ws.next_payload().await;
    app.transfer(&ada.token, &bob.email, "5.00", "USD", "not-eves")
        .await;
    // Then one event that is Eve's: it must be the next thing she hears.
    let card = app.add_card(&eve.token, crate::helpers::CARD_OK).await;
    let body = app
        .deposit(&eve.token, &eves_wallet, &card, "3.00", "eve")
        .await;
    let mine = body["data"]["deposit"]["id"].as_str().unwrap().to_owned();
    let payload = eve_ws.next_payload().await;
    let text = payload.to_string();
    assert!(
        text.contains(&mine) || text.contains(&eves_wallet),
        "Eve heard something not hers: {payload}"
    );
}

both_backends!(
    a_wallets_events_arrive_with_strictly_increasing_versions,
    deposits_settling_reach_their_subscribers,
    a_transfer_held_for_review_reaches_the_senders_subscription,
    a_user_never_sees_another_users_events,
);

#[tokio::test]
async fn the_reference_client_subscribes_receives_an_event_and_completes() {
    let app = spawn_app(Backend::Postgres).await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "30.00").await;
    let wallet = app.create_wallet(&bob.token, "USD").await;
    let mut client = NodeClient::start(&app, &bob.token, WALLET_UPDATED, json!({"id": wallet}), 2);
    assert_eq!(client.line().await, "connected");
    let first = client.line().await;
    assert!(first.starts_with("next "), "{first}");
    let before: Value = serde_json::from_str(&first[5..]).unwrap();
    app.transfer(&ada.token, &bob.email, "7.00", "USD", "node")
        .await;
    let second = client.line().await;
    assert!(second.starts_with("next "), "{second}");
    let after: Value = serde_json::from_str(&second[5..]).unwrap();
    assert_eq!(after["data"]["walletUpdated"]["balance"]["amount"], "7.00");
    assert!(version(&after, "walletUpdated") > version(&before, "walletUpdated"));
    assert_eq!(client.line().await, "complete");
    assert_eq!(client.exit_code().await, Some(0));
}

/// `txn:{id}` holds the latest state with the seed's TTL, status reads are
/// served from it, and its stored parties still decide who may read it.
#[tokio::test]
async fn status_reads_come_from_the_transaction_cache() {
    let app = spawn_app(Backend::Postgres).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let eve = app.register().await;
    app.funded_wallet(&ada.token, "USD", "30.00").await;
    let sent = app
        .transfer(&ada.token, &bob.email, "2.00", "USD", "c")
        .await;
    let id = sent["data"]["transfer"]["id"].as_str().unwrap().to_owned();
    let key = format!("{}txn:{}", app.config.redis.key_prefix, key_of(&id));

    let client = crate::helpers::redis_client();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + DEADLINE;
    let cached: String = loop {
        let got: Option<String> = redis::AsyncCommands::get(&mut conn, &key).await.unwrap();
        if let Some(v) = got {
            break v;
        }
        assert!(Instant::now() < deadline, "{key} never cached");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cached: Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(cached["status"], "completed");
    let ttl: i64 = redis::AsyncCommands::ttl(&mut conn, &key).await.unwrap();
    assert!((1..=1800).contains(&ttl), "{ttl}");

    // A change behind the service's back (never done in production) shows
    // that reads are answered from the cache...
    app.exec_with_uuid(
        "UPDATE transactions SET description = 'changed in the database' WHERE transaction_id = $1",
        key_of(&id),
    )
    .await;
    let q = "query($id: ID!) { transaction(id: $id) { status description } }";
    let read = app.ok(q, json!({"id": id}), &bob.token).await;
    assert_eq!(read["transaction"]["status"], "COMPLETED");
    assert_ne!(
        read["transaction"]["description"],
        "changed in the database"
    );
    // ...and that a cached entry is still only for its parties.
    let body = app.gql(q, json!({"id": id}), Some(&eve.token)).await;
    assert_eq!(crate::helpers::error_code(&body), "NOT_FOUND");
}
