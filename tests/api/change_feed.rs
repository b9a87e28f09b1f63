//! The change feed (`Query.changes`, `Subscription.changes`): the caller's
//! changes in the order they committed, read in pages or followed live
//! from a cursor, with nothing skipped or repeated across reconnects and
//! instances; cursors past the feed's retention, or not from the feed,
//! are refused with a reason.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    both_backends,
    helpers::{Backend, Registered, TestApp, spawn_app_with},
    subscriptions::NodeClient,
    ws::Ws,
};

const CHANGES: &str = "query($after: String, $first: Int) { changes(after: $after, first: $first) {
    edges { cursor node { cursor at transaction { id status } wallet { id version } paymentRequest { id status } } }
    pageInfo { hasNextPage hasPreviousPage } } }";

const SUBSCRIBE: &str = "subscription($after: String) { changes(after: $after) {
    cursor at transaction { id } wallet { id } paymentRequest { id } } }";

/// A server whose fraud and KYC rules let a test send many small
/// transfers, with the feed's retention as given.
async fn feed_app(backend: Backend, retention_secs: u64) -> TestApp {
    spawn_app_with(backend, |c| {
        c.fraud.velocity_max = 1_000_000;
        c.ledger.kyc_unverified_daily_limit = "USD:100000000".parse().unwrap();
        c.ledger.change_feed_retention = Duration::from_secs(retention_secs);
        c.workers.idempotency_purge_poll = Duration::from_millis(100);
    })
    .await
}

/// The feed entry's number, read from its cursor (`c1:<number>:<micros>`).
fn sequence_of(cursor: &str) -> i64 {
    let raw = String::from_utf8(B64.decode(cursor).unwrap()).unwrap();
    raw.split(':').nth(1).unwrap().parse().unwrap()
}

/// The id of whichever object the change is about, checking that exactly
/// one is set.
fn subject(change: &Value) -> String {
    let set: Vec<&str> = ["transaction", "wallet", "paymentRequest"]
        .into_iter()
        .filter_map(|k| change[k]["id"].as_str())
        .collect();
    assert_eq!(set.len(), 1, "exactly one object per change: {change}");
    set[0].to_owned()
}

/// Every change of the caller's feed after `after`, in pages of `page`.
async fn whole_feed(app: &TestApp, token: &str, after: Option<&str>, page: i32) -> Vec<Value> {
    let mut after = after.map(str::to_owned);
    let mut all = Vec::new();
    loop {
        let data = app
            .ok(CHANGES, json!({"after": after, "first": page}), token)
            .await;
        let c = &data["changes"];
        assert_eq!(c["pageInfo"]["hasPreviousPage"], after.is_some(), "{c}");
        for edge in c["edges"].as_array().unwrap() {
            assert_eq!(edge["cursor"], edge["node"]["cursor"]);
            all.push(edge["node"].clone());
        }
        if c["pageInfo"]["hasNextPage"] == false {
            return all;
        }
        after = all.last().map(|n| n["cursor"].as_str().unwrap().to_owned());
    }
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a reason, got {body}"))
}

async fn the_feed_pages_through_every_change_in_commit_order(backend: Backend) {
    let app = feed_app(backend, 604_800).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let ada_wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    let bob_wallet = app.create_wallet(&bob.token, "USD").await;
    let mut sent = Vec::new();
    for i in 0..4 {
        let body = app
            .transfer(&ada.token, &bob.email, "1.00", "USD", &format!("t{i}"))
            .await;
        sent.push(body["data"]["transfer"]["id"].as_str().unwrap().to_owned());
    }
    let request = app
        .ok(
            "mutation($i: RequestPaymentInput!) { requestPayment(input: $i) { id } }",
            json!({"i": {"payerEmail": bob.email, "amount": "2.00", "currency": "USD", "idempotencyKey": "r1"}}),
            &ada.token,
        )
        .await["requestPayment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let feed = whole_feed(&app, &ada.token, None, 3).await;
    let numbers: Vec<i64> = feed
        .iter()
        .map(|c| sequence_of(c["cursor"].as_str().unwrap()))
        .collect();
    assert_eq!(numbers, (1..=feed.len() as i64).collect::<Vec<_>>());
    let subjects: Vec<String> = feed.iter().map(subject).collect();
    // The wallet opened, the deposit recorded, settled (the wallet
    // credited), four transfers each with the wallet they debited, and
    // the payment request.
    assert_eq!(subjects[0], ada_wallet, "{feed:?}");
    let deposit = &subjects[1];
    assert_eq!(&subjects[2], deposit, "processing");
    assert_eq!(&subjects[3], deposit, "completed");
    assert_eq!(subjects[4], ada_wallet, "credited");
    for (i, id) in sent.iter().enumerate() {
        assert_eq!(&subjects[5 + 2 * i], id);
        assert_eq!(subjects[6 + 2 * i], ada_wallet);
    }
    assert_eq!(subjects[13], request);
    assert_eq!(subjects.len(), 14, "{subjects:?}");
    // Times never go backwards along the feed.
    let times: Vec<&str> = feed.iter().map(|c| c["at"].as_str().unwrap()).collect();
    let parsed: Vec<chrono::DateTime<chrono::Utc>> =
        times.iter().map(|t| t.parse().unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // A page from a cursor starts right after it.
    let rest = whole_feed(&app, &ada.token, feed[9]["cursor"].as_str(), 100).await;
    assert_eq!(rest, feed[10..].to_vec());
    // Bob's feed has his wallet, the transfers he received and the
    // request he was sent, nothing of Ada's wallet.
    let bobs: Vec<String> = whole_feed(&app, &bob.token, None, 100)
        .await
        .iter()
        .map(subject)
        .collect();
    assert!(!bobs.contains(&ada_wallet), "{bobs:?}");
    assert!(bobs.contains(&bob_wallet));
    assert!(sent.iter().all(|t| bobs.contains(t)));
    assert!(bobs.contains(&request));
}

async fn a_strangers_changes_are_never_in_my_feed(backend: Backend) {
    let app = feed_app(backend, 604_800).await;
    let ada = app.register().await;
    let bob = app.register().await;
    let eve = app.register().await;
    app.funded_wallet(&ada.token, "USD", "50.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let eves_wallet = app.funded_wallet(&eve.token, "USD", "50.00").await;
    let body = app
        .transfer(&eve.token, &bob.email, "5.00", "USD", "eve-to-bob")
        .await;
    let eves_transfer = body["data"]["transfer"]["id"].as_str().unwrap().to_owned();
    let ada_sees: Vec<String> = whole_feed(&app, &ada.token, None, 100)
        .await
        .iter()
        .map(subject)
        .collect();
    assert!(!ada_sees.is_empty());
    assert!(!ada_sees.contains(&eves_wallet));
    assert!(!ada_sees.contains(&eves_transfer));
    // Bob sees the transfer he received, not Eve's wallet it came from.
    let bob_sees: Vec<String> = whole_feed(&app, &bob.token, None, 100)
        .await
        .iter()
        .map(subject)
        .collect();
    assert!(bob_sees.contains(&eves_transfer));
    assert!(!bob_sees.contains(&eves_wallet));
    // Eve's cursors are her own feed's positions: past the end of Ada's
    // shorter feed, one is not a cursor of Ada's.
    let eves = whole_feed(&app, &eve.token, None, 100).await;
    let eves_last = eves.last().unwrap()["cursor"].as_str().unwrap();
    assert!(sequence_of(eves_last) > ada_sees.len() as i64);
    let body = app
        .gql(
            CHANGES,
            json!({"after": eves_last, "first": 10}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(reason(&body), "CURSOR_INVALID", "{body}");
    // Live, a subscriber hears only its own changes.
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("1", SUBSCRIBE, json!({})).await;
    // Subscribed before the transfers below (the answer to a query on the
    // same instance comes after the subscription is registered).
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.transfer(&eve.token, &bob.email, "1.00", "USD", "eve-again")
        .await;
    let mine = app
        .transfer(&ada.token, &bob.email, "1.00", "USD", "ada-live")
        .await;
    let mine = mine["data"]["transfer"]["id"].as_str().unwrap().to_owned();
    let first = ws.next_payload().await;
    assert_eq!(subject(&first["data"]["changes"]), mine, "{first}");
}

/// Sends `count` transfers of 0.01 back and forth between Ada and Bob,
/// two at a time, through `app`, paced so that a subscriber catches up
/// while they go on.
async fn keep_changing(app: TestApp, ada: Registered, bob: Registered, count: usize) {
    for i in (0..count).step_by(2) {
        let (k1, k2) = (format!("w{i}"), format!("w{}", i + 1));
        let there = app.transfer(&ada.token, &bob.email, "0.01", "USD", &k1);
        let back = app.transfer(&bob.token, &ada.email, "0.01", "USD", &k2);
        let (a, b) = tokio::join!(there, back);
        for body in [a, b] {
            assert_eq!(body["data"]["transfer"]["status"], "COMPLETED", "{body}");
        }
        tokio::time::sleep(Duration::from_millis(75)).await;
    }
}

/// Reads `wanted` changes from the reference client; returns their cursors.
async fn cursors_from(client: &mut NodeClient, wanted: usize) -> Vec<String> {
    let mut cursors = Vec::new();
    while cursors.len() < wanted {
        let line = client.line().await;
        if let Some(json) = line.strip_prefix("next ") {
            let v: Value = serde_json::from_str(json).unwrap();
            let change = &v["data"]["changes"];
            subject(change);
            cursors.push(change["cursor"].as_str().unwrap().to_owned());
        } else {
            assert!(
                matches!(line.as_str(), "connected" | "complete") || line.starts_with("closed"),
                "{line}"
            );
        }
    }
    cursors
}

async fn a_subscriber_resumes_after_a_disconnect_with_no_gap_and_no_repeat(backend: Backend) {
    let app = feed_app(backend, 604_800).await;
    // On PostgreSQL the changes are made through another instance than
    // either subscription's, and the second subscription is on that one.
    let other = match backend {
        Backend::Postgres => app.spawn_sibling().await,
        Backend::Sqlite => TestApp::attach(app.address.clone(), app.config.clone(), app.db.clone()),
    };
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "10.00").await;
    app.funded_wallet(&bob.token, "USD", "10.00").await;
    let before = whole_feed(&app, &ada.token, None, 100).await;
    let start = before.last().unwrap()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    const TRANSFERS: usize = 40;
    let mut writer = tokio::spawn(keep_changing(
        TestApp::attach(
            other.address.clone(),
            other.config.clone(),
            other.db.clone(),
        ),
        Registered {
            token: ada.token.clone(),
            id: ada.id.clone(),
            email: ada.email.clone(),
        },
        Registered {
            token: bob.token.clone(),
            id: bob.id.clone(),
            email: bob.email.clone(),
        },
        TRANSFERS,
    ));
    let mut first = NodeClient::start(&app, &ada.token, SUBSCRIBE, json!({"after": start}), 15);
    let mut seen = cursors_from(&mut first, 15).await;
    // The client unsubscribes and closes after its fifteenth change.
    assert_eq!(first.exit_code().await, Some(0));
    assert!(!writer.is_finished(), "the writer was still writing");
    let resume = seen.last().unwrap().clone();
    let mut second = NodeClient::start(
        &other,
        &ada.token,
        SUBSCRIBE,
        json!({"after": resume}),
        1_000_000,
    );
    // How many changes the transfers make depends on how they were
    // batched (a batch changes Ada's wallet once): the feed, read once
    // they are done, says.
    let listed: Vec<String> = loop {
        tokio::select! {
            done = &mut writer => {
                done.unwrap();
                break whole_feed(&app, &ada.token, Some(&start), 100)
                    .await
                    .iter()
                    .map(|c| c["cursor"].as_str().unwrap().to_owned())
                    .collect();
            }
            more = cursors_from(&mut second, 1) => seen.extend(more),
        }
    };
    assert!(listed.len() >= 2 * TRANSFERS * 3 / 4, "{}", listed.len());
    let rest = listed
        .len()
        .checked_sub(seen.len())
        .expect("no more changes than the feed holds");
    seen.extend(cursors_from(&mut second, rest).await);
    // Nothing more comes.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), second.line())
            .await
            .is_err()
    );
    let from = sequence_of(&start);
    let numbers: Vec<i64> = seen.iter().map(|c| sequence_of(c)).collect();
    assert_eq!(
        numbers,
        ((from + 1)..=(from + listed.len() as i64)).collect::<Vec<_>>()
    );
    // And they are the very changes the query lists.
    assert_eq!(seen, listed);
}

async fn a_subscription_without_a_cursor_is_live_only(backend: Backend) {
    let app = feed_app(backend, 604_800).await;
    let ada = app.register().await;
    let wallet = app.create_wallet(&ada.token, "USD").await;
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("1", SUBSCRIBE, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let eur = app.create_wallet(&ada.token, "EUR").await;
    let first = ws.next_payload().await;
    let change = &first["data"]["changes"];
    assert_eq!(subject(change), eur, "not the older {wallet}: {first}");
    assert_eq!(sequence_of(change["cursor"].as_str().unwrap()), 2);
}

async fn old_and_malformed_cursors_are_refused_with_their_reason(backend: Backend) {
    // Long enough that the first read comes within it on a loaded machine
    // (registering and creating a wallet can take over a second there).
    let app = feed_app(backend, 5).await;
    let ada = app.register().await;
    app.create_wallet(&ada.token, "USD").await;
    let feed = whole_feed(&app, &ada.token, None, 10).await;
    let old = feed[0]["cursor"].as_str().unwrap().to_owned();
    // Fresh, it reads.
    app.ok(CHANGES, json!({"after": old, "first": 5}), &ada.token)
        .await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let body = app
        .gql(CHANGES, json!({"after": old, "first": 5}), Some(&ada.token))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    assert_eq!(reason(&body), "CURSOR_EXPIRED", "{body}");
    assert!(body["data"].is_null(), "{body}");
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("1", SUBSCRIBE, json!({"after": old})).await;
    let error = ws.next_payload().await;
    assert_eq!(reason(&error), "CURSOR_EXPIRED", "{error}");

    // The purge takes changes past their retention away in the background.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.count("SELECT COUNT(*) AS n FROM changes").await > 0 {
        assert!(Instant::now() < deadline, "old changes were never purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A cursor whose following changes were purged is expired, however
    // recent it claims to be: the feed sees the gap.
    app.create_wallet(&ada.token, "EUR").await;
    let recent_but_before_the_purge =
        B64.encode(format!("c1:0:{}", chrono::Utc::now().timestamp_micros()));
    let body = app
        .gql(
            CHANGES,
            json!({"after": recent_but_before_the_purge}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(reason(&body), "CURSOR_EXPIRED", "{body}");

    for junk in [
        "not-a-cursor",
        "",
        &B64.encode("c1:x:1"),
        &Uuid::new_v4().to_string(),
    ] {
        let body = app
            .gql(CHANGES, json!({"after": junk}), Some(&ada.token))
            .await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(reason(&body), "CURSOR_INVALID", "{junk}: {body}");
    }
    let mut ws = Ws::connect(&app, Some(&ada.token)).await.acked();
    ws.subscribe("1", SUBSCRIBE, json!({"after": "nope"})).await;
    let error = ws.next_payload().await;
    assert_eq!(reason(&error), "CURSOR_INVALID", "{error}");
}

both_backends!(
    the_feed_pages_through_every_change_in_commit_order,
    a_strangers_changes_are_never_in_my_feed,
    a_subscriber_resumes_after_a_disconnect_with_no_gap_and_no_repeat,
    a_subscription_without_a_cursor_is_live_only,
    old_and_malformed_cursors_are_refused_with_their_reason,
);
