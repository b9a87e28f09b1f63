//! Subscriptions over graphql-transport-ws: who may connect, what each
//! user sees, and the reference npm client.

use std::{process::Stdio, time::Duration};

use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use crate::{
    both_backends,
    helpers::{Backend, TestApp, spawn_app, spawn_app_with},
    ws::{DEADLINE, Ws},
};

pub const WALLET_UPDATED: &str =
    "subscription($id: ID) { walletUpdated(id: $id) { id version balance { amount currency } } }";
pub const TRANSACTION_UPDATED: &str =
    "subscription($id: ID) { transactionUpdated(id: $id) { id status version } }";

/// The raw key behind a global ID.
pub fn key(global_id: &str) -> Uuid {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let raw = String::from_utf8(B64.decode(global_id).unwrap()).unwrap();
    raw.split_once(':').unwrap().1.parse().unwrap()
}

pub fn global_id(kind: &str, id: Uuid) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    B64.encode(format!("{kind}:{id}"))
}

/// A wallet row written straight to the database (a fixture: the money
/// tests create theirs through the ledger).
async fn seed_wallet(app: &TestApp, user_id: Uuid) -> Uuid {
    let id = Uuid::now_v7();
    let now = Utc::now();
    entity::wallets::ActiveModel {
        wallet_id: Set(id),
        user_id: Set(user_id),
        currency: Set(entity::Currency::parse("USD").unwrap()),
        balance_minor: Set(500.into()),
        available_balance_minor: Set(500.into()),
        frozen_balance_minor: Set(0.into()),
        status: Set(entity::wallets::WalletStatus::Active),
        version: Set(3),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

async fn bad_missing_and_revoked_tokens_are_refused_before_any_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, _) = Ws::connect(&app, Some("not-a-jwt")).await.closed();
    assert_eq!(code, 4403);
    let (code, _) = Ws::connect(&app, None).await.closed();
    assert_eq!(code, 4401);
    let user = app.register().await;
    let out = app
        .gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(out["data"]["logout"], true);
    let (code, _) = Ws::connect(&app, Some(&user.token)).await.closed();
    assert_eq!(code, 4403);
}

pub(crate) async fn a_subscription_by_id_starts_with_the_current_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let wallet = seed_wallet(&app, key(&user.id)).await;
    let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
    ws.subscribe(
        "1",
        WALLET_UPDATED,
        json!({"id": global_id("Wallet", wallet)}),
    )
    .await;
    let first = ws.next_payload().await;
    let w = &first["data"]["walletUpdated"];
    assert_eq!(w["version"], 3, "{first}");
    assert_eq!(w["balance"]["amount"], "5.00");
    // Completing it is acknowledged by nothing more for that id.
    ws.complete("1").await;
}

async fn another_users_objects_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.register().await;
    let other = app.register().await;
    let wallet = seed_wallet(&app, key(&owner.id)).await;
    let mut ws = Ws::connect(&app, Some(&other.token)).await.acked();
    ws.subscribe(
        "1",
        WALLET_UPDATED,
        json!({"id": global_id("Wallet", wallet)}),
    )
    .await;
    let error = ws.next_payload().await;
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{error}"
    );
    assert_eq!(error["data"], Value::Null);
    let text = format!("{:?}", ws.next_frame().await);
    assert!(text.contains("complete"), "the subscription ends: {text}");
    ws.subscribe("2", WALLET_UPDATED, json!({"id": "junk"}))
        .await;
    let error = ws.next_payload().await;
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{error}"
    );
}

pub(crate) async fn logout_ends_open_subscriptions(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.websocket.session_check = Duration::from_secs(1)
    })
    .await;
    let user = app.register().await;
    let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
    ws.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    app.gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(ws.closed().await, 4403);
}

async fn a_client_that_stops_reading_is_dropped(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.websocket.ping = Duration::from_secs(1)).await;
    let user = app.register().await;
    let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
    ws.subscribe("1", TRANSACTION_UPDATED, json!({})).await;
    // Not reading means not answering pings; after three silent intervals
    // the server gives the socket up.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // 1001 when the close frame is read, 1006 when answering a queued ping
    // finds the connection already gone; either way the server hung up.
    let code = ws.closed().await;
    assert!(matches!(code, 1001 | 1006), "{code}");
}

both_backends!(
    bad_missing_and_revoked_tokens_are_refused_before_any_data,
    a_subscription_by_id_starts_with_the_current_state,
    another_users_objects_are_not_found,
    logout_ends_open_subscriptions,
    a_client_that_stops_reading_is_dropped,
);

/// Runs the reference client (`tests/ws-client/subscribe.mjs`); yields its
/// output lines as they come.
pub struct NodeClient {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl NodeClient {
    pub fn start(app: &TestApp, token: &str, query: &str, variables: Value, events: u32) -> Self {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws-client");
        assert!(
            std::path::Path::new(dir)
                .join("node_modules/graphql-ws")
                .exists(),
            "run `npm ci --prefix tests/ws-client` (scripts/test does)"
        );
        let url = format!("{}/graphql", app.address.replace("http", "ws"));
        let mut child = tokio::process::Command::new("node")
            .arg(format!("{dir}/subscribe.mjs"))
            .args([
                url,
                token.to_owned(),
                query.to_owned(),
                variables.to_string(),
                events.to_string(),
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    pub async fn line(&mut self) -> String {
        tokio::time::timeout(DEADLINE, self.lines.next_line())
            .await
            .expect("the client said something within the deadline")
            .unwrap()
            .expect("the client is still running")
    }

    pub async fn exit_code(mut self) -> Option<i32> {
        tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the client exits")
            .unwrap()
            .code()
    }
}

#[tokio::test]
async fn the_reference_client_is_refused_with_a_bad_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut client =
        NodeClient::start(&app, "expired.or.forged", TRANSACTION_UPDATED, json!({}), 1);
    let mut lines = Vec::new();
    loop {
        let line = client.line().await;
        let done = line.starts_with("error");
        lines.push(line);
        if done {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.starts_with("closed 4403")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("next")), "{lines:?}");
    assert_eq!(client.exit_code().await, Some(1));
}
