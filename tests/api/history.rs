//! A wallet's balance history is a chain in the order its changes were
//! made: each row starts where the one before it ended. The order is the
//! wallet's own sequence, taken under its lock, not a time or a v7 id
//! stamped by whichever instance wrote the row.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use uuid::Uuid;

use crate::{
    both_backends,
    helpers::{Backend, Registered, TestApp, spawn_app_with},
    invariants::broken_history_links,
};

const HISTORY: &str =
    "query($id: ID!, $after: String) { wallet(id: $id) { history(first: 2, after: $after) {
    edges { cursor node { amount { amount } balanceBefore { amount } balanceAfter { amount } } }
    pageInfo { hasNextPage } } } }";

/// Two instances on one database, every transfer paying a fee into the
/// one fee wallet both write.
async fn two_instances() -> (TestApp, TestApp) {
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.fees.transfer_percent = "1".parse().unwrap();
        c.fraud.velocity_max = 1_000_000;
        c.ledger.kyc_unverified_daily_limit = "USD:100000000".parse().unwrap();
    })
    .await;
    let sibling = app.spawn_sibling().await;
    (app, sibling)
}

/// `(wallet, rows, lowest sequence, highest sequence, distinct sequences)`
/// of every wallet with history.
async fn sequences(app: &TestApp) -> Vec<(Uuid, i64, i64, i64, i64)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT wallet_id AS w, COUNT(*) AS n, MIN(sequence) AS lo, MAX(sequence) AS hi,
                    COUNT(DISTINCT sequence) AS d
             FROM balance_history GROUP BY wallet_id",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "w").unwrap(),
                r.try_get("", "n").unwrap(),
                r.try_get("", "lo").unwrap(),
                r.try_get("", "hi").unwrap(),
                r.try_get("", "d").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn history_chains_hold_in_sequence_order_when_two_instances_write_one_fee_wallet() {
    let (app, sibling) = two_instances().await;
    let mut users: Vec<Registered> = Vec::new();
    for _ in 0..6 {
        let who = app.register().await;
        app.funded_wallet(&who.token, "USD", "500.00").await;
        users.push(who);
    }
    let instances = [&app, &sibling];
    let mut sent = Vec::new();
    for round in 0..20 {
        for (i, from) in users.iter().enumerate() {
            let to = &users[(i + 1 + round % 5) % users.len()];
            let via = instances[(i + round) % 2];
            sent.push(async move {
                let key = format!("chain-{round}-{i}");
                via.transfer(&from.token, &to.email, "1.00", "USD", &key)
                    .await
            });
        }
    }
    // A dozen at a time, from both instances at once.
    let mut sent = sent.into_iter();
    loop {
        let chunk: Vec<_> = sent.by_ref().take(12).collect();
        if chunk.is_empty() {
            break;
        }
        for reply in futures::future::join_all(chunk).await {
            assert_eq!(reply["data"]["transfer"]["status"], "COMPLETED", "{reply}");
        }
    }
    assert_eq!(broken_history_links(&app).await, 0);
    // Every balance change of this workload moves money, so each wallet's
    // rows are numbered 1, 2, ... without a gap or a repeat.
    let wallets = sequences(&app).await;
    assert_eq!(
        wallets.len(),
        users.len() + 1,
        "the users' wallets and the fee wallet"
    );
    for (wallet, rows, lo, hi, distinct) in wallets {
        assert_eq!((lo, hi, distinct), (1, rows, rows), "wallet {wallet}");
    }
}

/// The history as the API pages it, newest first, two rows a page.
async fn history_pages(app: &TestApp, token: &str, wallet: &str) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .ok(HISTORY, json!({"id": wallet, "after": after}), token)
            .await;
        let history = &data["wallet"]["history"];
        for edge in history["edges"].as_array().unwrap() {
            let node = &edge["node"];
            let s = |k: &str| node[k]["amount"].as_str().unwrap().to_owned();
            rows.push((s("amount"), s("balanceBefore"), s("balanceAfter")));
            after = edge["cursor"].as_str().map(str::to_owned);
        }
        if history["pageInfo"]["hasNextPage"] != true {
            return rows;
        }
    }
}

async fn wallet_history_follows_the_changes_when_instance_clocks_disagree(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.fraud.velocity_max = 1_000_000;
    })
    .await;
    let alice = app.register().await;
    let bob = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "100.00").await;
    for (n, amount) in ["1.00", "2.00", "3.00"].iter().enumerate() {
        let reply = app
            .transfer(
                &alice.token,
                &bob.email,
                amount,
                "USD",
                &format!("clock-{n}"),
            )
            .await;
        assert_eq!(reply["data"]["transfer"]["status"], "COMPLETED", "{reply}");
    }
    // As if each change had been written by an instance whose clock runs
    // further behind than the last one's: later changes, earlier times.
    let skewed = if backend == Backend::Postgres {
        "UPDATE balance_history SET created_at = TIMESTAMPTZ '2026-01-01 00:00:00+00' - sequence * INTERVAL '1 second' WHERE wallet_id = $1"
    } else {
        "UPDATE balance_history SET created_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', '2026-01-01', '-' || sequence || ' seconds') WHERE wallet_id = $1"
    };
    app.exec_with_uuid(skewed, crate::helpers::key_of(&wallet))
        .await;

    let rows = history_pages(&app, &alice.token, &wallet).await;
    let start = |(amount, before, after): (&str, &str, &str)| {
        (amount.to_owned(), before.to_owned(), after.to_owned())
    };
    assert_eq!(
        rows,
        vec![
            start(("-3.00", "93.80", "90.80")),
            start(("-2.00", "95.80", "93.80")),
            start(("-1.00", "96.80", "95.80")),
            start(("96.80", "0.00", "96.80")),
        ],
        "newest first, each row ending where the next newer one starts"
    );
    assert_eq!(broken_history_links(&app).await, 0);
}

both_backends!(wallet_history_follows_the_changes_when_instance_clocks_disagree);
