//! Monthly statements, balances at an instant, and the CSV export: what a
//! customer reads back about a month of their wallet.
//!
//! The months are fixed ones in 2025: the test moves the stamps of the
//! wallet's history rows there (in their order, as if the changes had been
//! made then), so each month's contents do not depend on today's date.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{
        Backend, Registered, TestApp, error_code, error_field, key_of, spawn_app_with, unique_email,
    },
};

const STATEMENT: &str = "query($id: ID!, $month: String!, $first: Int, $after: String) {
  wallet(id: $id) { statement(month: $month) {
    month openingBalance { amount currency } closingBalance { amount }
    totalIn { amount } totalOut { amount } totalFees { amount }
    lines(first: $first, after: $after) {
      edges { cursor node { amount { amount } balanceBefore { amount } balanceAfter { amount }
                            operationType createdAt transaction { id } } }
      pageInfo { hasNextPage hasPreviousPage } } } } }";

const BALANCE_AT: &str = "query($id: ID!, $at: DateTime!) { wallet(id: $id) { balanceAt(at: $at) { amount currency } } }";

const HOLD: &str = "mutation($i: HoldInput!) { holdFunds(input: $i) { frozenBalance { amount } } }";
const RELEASE: &str =
    "mutation($i: HoldInput!) { releaseHold(input: $i) { frozenBalance { amount } } }";
const REFUND: &str =
    "mutation($i: RefundTransactionInput!) { refundTransaction(input: $i) { id status } }";

/// The JWT secret of these tests' servers, from which export links' key
/// is derived.
const SECRET: &str = "a statement test secret, 32 bytes or more";

/// A 1% transfer fee, and no fraud or KYC limit in the way.
async fn app_with_fees(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.auth.jwt.secret = Some(SECRET.into());
        c.fees.transfer_percent = "1".parse().unwrap();
        c.fraud.velocity_max = 1_000_000;
        c.ledger.kyc_unverified_daily_limit = "USD:100000000".parse().unwrap();
    })
    .await
}

/// What a month of Alice's wallet holds, made through the API: a card
/// deposit (with its fee), a transfer out (with its fee), a transfer in, a
/// hold and its release, and a support refund of the transfer out.
struct Month {
    app: TestApp,
    alice: Registered,
    bob: Registered,
    agent: Registered,
    wallet: String,
    bob_wallet: String,
    /// The transfer Alice sent, then refunded.
    sent: String,
}

async fn a_month_of_activity(backend: Backend, description: &str) -> Month {
    let app = app_with_fees(backend).await;
    let alice = app.register().await;
    // A first name a spreadsheet would take for a formula.
    let bob = app
        .register_as(&unique_email("bob"), "@Bob", "Builder")
        .await;
    let agent = app.support_agent().await;
    // 100.00 by card: a 3.20 fee (2.9% + 0.30), 96.80 credited.
    let wallet = app.funded_wallet(&alice.token, "USD", "100.00").await;
    // 50.00 by card: a 1.75 fee, 48.25 credited.
    let bob_wallet = app.funded_wallet(&bob.token, "USD", "50.00").await;
    let sent = app
        .gql(
            "mutation($i: TransferInput!) { transfer(input: $i) { id status } }",
            json!({"i": {"recipientEmail": bob.email, "amount": "10.00", "currency": "USD",
                          "description": description, "idempotencyKey": "rent"}}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");
    let sent = sent["data"]["transfer"]["id"].as_str().unwrap().to_owned();
    let back = app
        .transfer(&bob.token, &alice.email, "5.00", "USD", "back")
        .await;
    assert_eq!(back["data"]["transfer"]["status"], "COMPLETED", "{back}");
    let hold = json!({"i": {"walletId": wallet, "amount": "20.00", "reason": "checking"}});
    app.ok(HOLD, hold.clone(), &agent.token).await;
    app.ok(RELEASE, hold, &agent.token).await;
    let refund =
        json!({"i": {"transactionId": sent, "reason": "sent twice", "idempotencyKey": "r1"}});
    app.ok(REFUND, refund, &agent.token).await;
    Month {
        app,
        alice,
        bob,
        agent,
        wallet,
        bob_wallet,
        sent,
    }
}

/// Moves the wallet's history rows, in their order, to `stamps` (one per
/// row, oldest first): as if the changes had been made at those instants.
async fn restamp(app: &TestApp, wallet: &str, stamps: &[&str]) -> Vec<DateTime<Utc>> {
    use entity::balance_history::{Column as C, Entity};
    let rows = Entity::find()
        .filter(C::WalletId.eq(key_of(wallet)))
        .order_by_asc(C::Sequence)
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), stamps.len(), "one stamp per history row");
    let mut at = Vec::new();
    for (row, stamp) in rows.iter().zip(stamps) {
        let stamp: DateTime<Utc> = stamp.parse().unwrap();
        Entity::update_many()
            .col_expr(C::CreatedAt, Expr::value(stamp))
            .filter(C::HistoryId.eq(row.history_id))
            .exec(&app.db)
            .await
            .unwrap();
        at.push(stamp);
    }
    at
}

fn amount(v: &Value) -> &str {
    v["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("no amount in {v}"))
}

/// `(month, opening, closing, in, out, fees)` and the lines' amounts.
async fn statement(
    app: &TestApp,
    token: &str,
    wallet: &str,
    month: &str,
) -> ([String; 6], Vec<String>) {
    let data = app
        .ok(
            STATEMENT,
            json!({"id": wallet, "month": month, "first": 100}),
            token,
        )
        .await;
    let s = &data["wallet"]["statement"];
    let head = [
        s["month"].as_str().unwrap().to_owned(),
        amount(&s["openingBalance"]).to_owned(),
        amount(&s["closingBalance"]).to_owned(),
        amount(&s["totalIn"]).to_owned(),
        amount(&s["totalOut"]).to_owned(),
        amount(&s["totalFees"]).to_owned(),
    ];
    let lines = s["lines"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| amount(&e["node"]["amount"]).to_owned())
        .collect();
    (head, lines)
}

fn head(parts: [&str; 6]) -> [String; 6] {
    parts.map(str::to_owned)
}

/// `opening + in - out - fees`, exactly, in cents.
fn adds_up(h: &[String; 6]) -> bool {
    let cents = |s: &str| -> i64 { s.replace('.', "").parse().unwrap() };
    cents(&h[1]) + cents(&h[3]) - cents(&h[4]) - cents(&h[5]) == cents(&h[2])
}

async fn a_statement_adds_up_gross_of_fees_and_closes_where_the_next_month_opens(backend: Backend) {
    let m = a_month_of_activity(backend, "rent").await;
    let (app, token) = (&m.app, &m.alice.token);
    // Alice's changes: the deposit (+96.80), the transfer out (-10.10), the
    // transfer in (+5.00), the refund (+10.00). The hold left no line.
    restamp(
        app,
        &m.wallet,
        &[
            "2025-11-14T08:00:00Z",
            "2025-12-02T09:00:00Z",
            "2025-12-15T10:30:00.250Z",
            "2025-12-31T23:59:59.999999Z",
        ],
    )
    .await;

    let (nov, nov_lines) = statement(app, token, &m.wallet, "2025-11").await;
    assert_eq!(
        nov,
        head(["2025-11", "0.00", "96.80", "100.00", "0.00", "3.20"]),
        "the card deposit: 100.00 in and 3.20 in fees, though its line is +96.80"
    );
    assert_eq!(nov_lines, ["96.80"]);

    let (dec, dec_lines) = statement(app, token, &m.wallet, "2025-12").await;
    assert_eq!(
        dec,
        head(["2025-12", "96.80", "101.70", "15.00", "10.00", "0.10"]),
        "10.00 out with its 0.10 fee; 5.00 and the 10.00 refund in; the hold moves nothing"
    );
    assert_eq!(dec_lines, ["-10.10", "5.00", "10.00"]);

    let (jan, jan_lines) = statement(app, token, &m.wallet, "2026-01").await;
    assert_eq!(
        jan,
        head(["2026-01", "101.70", "101.70", "0.00", "0.00", "0.00"])
    );
    assert!(jan_lines.is_empty());
    let (oct, _) = statement(app, token, &m.wallet, "2025-10").await;
    assert_eq!(
        oct,
        head(["2025-10", "0.00", "0.00", "0.00", "0.00", "0.00"])
    );
    for h in [&oct, &nov, &dec, &jan] {
        assert!(adds_up(h), "{h:?}");
    }
    // Each month closes where the next opens, and the last where the wallet is.
    assert_eq!((&oct[2], &nov[2], &dec[2]), (&nov[1], &dec[1], &jan[1]));
    assert_eq!(app.balances(token, &m.wallet).await.0, jan[2]);

    // Bob's month is this one (his rows keep their stamps): 50.00 and
    // 10.00 in; 5.00 and the 10.00 refund out; 1.75 + 0.05 in fees.
    let now = Utc::now().format("%Y-%m").to_string();
    let (bob, _) = statement(app, &m.bob.token, &m.bob_wallet, &now).await;
    assert_eq!(
        bob[1..],
        head([now.as_str(), "0.00", "43.20", "60.00", "15.00", "1.80"])[1..]
    );
    assert!(adds_up(&bob));
}

async fn statement_lines_page_oldest_first_within_the_month(backend: Backend) {
    let m = a_month_of_activity(backend, "rent").await;
    let (app, token) = (&m.app, &m.alice.token);
    restamp(
        app,
        &m.wallet,
        &[
            "2025-11-30T23:59:59.999999Z",
            "2025-12-01T00:00:00Z",
            "2025-12-01T00:00:00Z",
            "2025-12-20T12:00:00Z",
        ],
    )
    .await;
    let page = |after: Option<String>| {
        app.ok(
            STATEMENT,
            json!({"id": m.wallet, "month": "2025-12", "first": 2, "after": after}),
            token,
        )
    };
    let first = page(None).await;
    let lines = &first["wallet"]["statement"]["lines"];
    let ops = |lines: &Value| -> Vec<String> {
        lines["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["operationType"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ops(lines), ["transfer_out", "transfer_in"]);
    assert_eq!(lines["pageInfo"]["hasNextPage"], true);
    assert_eq!(lines["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(
        lines["edges"][0]["node"]["transaction"]["id"].as_str(),
        Some(m.sent.as_str())
    );
    let cursor = lines["edges"][1]["cursor"].as_str().unwrap().to_owned();
    let second = page(Some(cursor)).await;
    let lines = &second["wallet"]["statement"]["lines"];
    assert_eq!(ops(lines), ["refund_in"]);
    assert_eq!(lines["pageInfo"]["hasNextPage"], false);
    assert_eq!(lines["pageInfo"]["hasPreviousPage"], true);
}

async fn balance_at_is_the_balance_after_every_change_at_or_before_the_instant(backend: Backend) {
    let m = a_month_of_activity(backend, "rent").await;
    let (app, token) = (&m.app, &m.alice.token);
    // Each change's own instant, read back from the API as a client would.
    let data = app
        .ok(
            "query($id: ID!) { wallet(id: $id) { history(first: 100) { edges { node {
               createdAt balanceAfter { amount } } } } } }",
            json!({"id": m.wallet}),
            token,
        )
        .await;
    let mut changes: Vec<(DateTime<Utc>, String)> = data["wallet"]["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let node = &e["node"];
            (
                node["createdAt"].as_str().unwrap().parse().unwrap(),
                amount(&node["balanceAfter"]).to_owned(),
            )
        })
        .collect();
    changes.reverse();
    assert_eq!(changes.len(), 4, "{data}");
    let wallet = m.wallet.as_str();
    let balance_at = |at: DateTime<Utc>| async move {
        let data = app
            .ok(
                BALANCE_AT,
                json!({"id": wallet, "at": at.to_rfc3339()}),
                token,
            )
            .await;
        assert_eq!(data["wallet"]["balanceAt"]["currency"], "USD");
        amount(&data["wallet"]["balanceAt"]).to_owned()
    };
    let micro = Duration::microseconds(1);
    assert_eq!(
        balance_at(changes[0].0 - micro).await,
        "0.00",
        "before the first change"
    );
    let (mut before, mut previous) = ("0.00".to_owned(), changes[0].0 - micro);
    for (at, after) in &changes {
        if *at - micro >= previous {
            assert_eq!(balance_at(*at - micro).await, before, "just before {at}");
        }
        assert_eq!(&balance_at(*at).await, after, "at {at}");
        (before, previous) = (after.clone(), *at);
    }
    assert_eq!(balance_at(Utc::now()).await, "101.70");
}

async fn a_malformed_month_is_bad_input_naming_the_field(backend: Backend) {
    let app = app_with_fees(backend).await;
    let alice = app.register().await;
    let wallet = app.create_wallet(&alice.token, "USD").await;
    for month in ["2025-13", "2025-1", "December", "2025-12-01", ""] {
        let body = app
            .gql(
                STATEMENT,
                json!({"id": wallet, "month": month}),
                Some(&alice.token),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{month}: {body}");
        assert_eq!(error_field(&body), Some("month"), "{month}: {body}");
    }
}

async fn a_stranger_sees_no_statement_or_balance_of_another_wallet(backend: Backend) {
    let app = app_with_fees(backend).await;
    let alice = app.register().await;
    let mallory = app.register().await;
    let wallet = app.funded_wallet(&alice.token, "USD", "10.00").await;
    let body = app
        .gql(
            STATEMENT,
            json!({"id": wallet, "month": "2025-12"}),
            Some(&mallory.token),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    let body = app
        .gql(
            BALANCE_AT,
            json!({"id": wallet, "at": Utc::now().to_rfc3339()}),
            Some(&mallory.token),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
}

const EXPORT: &str = "mutation($i: CreateStatementExportInput!) {
  createStatementExport(input: $i) { url expiresAt } }";

/// `(url, expiresAt)` of a new export link, asked for by `token`.
async fn export(app: &TestApp, token: &str, wallet: &str, month: &str) -> (String, DateTime<Utc>) {
    let data = app
        .ok(
            EXPORT,
            json!({"i": {"walletId": wallet, "month": month, "format": "CSV"}}),
            token,
        )
        .await;
    let e = &data["createStatementExport"];
    (
        e["url"].as_str().unwrap().to_owned(),
        e["expiresAt"].as_str().unwrap().parse().unwrap(),
    )
}

/// Fetches a link as a phone's downloader would: no Authorization header.
async fn download(url: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).send().await.unwrap()
}

/// `(status, extensions.code, extensions.reason)` of a refused download.
async fn refusal(url: &str) -> (u16, String, String) {
    let response = download(url).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let ext = &body["errors"][0]["extensions"];
    (
        status,
        ext["code"].as_str().unwrap_or_default().to_owned(),
        ext["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn the_csv_export_is_the_months_lines_in_rfc_4180_with_formulas_neutralised(
    backend: Backend,
) {
    let m = a_month_of_activity(backend, r#"=HYPERLINK("http://x","rent, March")"#).await;
    let (app, token) = (&m.app, &m.alice.token);
    restamp(
        app,
        &m.wallet,
        &[
            "2025-11-14T08:00:00Z",
            "2025-12-02T09:00:00Z",
            "2025-12-15T10:30:00.250Z",
            "2025-12-31T23:59:59.999999Z",
        ],
    )
    .await;
    // The transactions' IDs, as the API shows them.
    let data = app
        .ok(
            STATEMENT,
            json!({"id": m.wallet, "month": "2025-12"}),
            token,
        )
        .await;
    let ids: Vec<String> = data["wallet"]["statement"]["lines"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["transaction"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids[0], m.sent);

    let asked = Utc::now();
    let (url, expires_at) = export(app, token, &m.wallet, "2025-12").await;
    assert!(
        url.starts_with(&format!("{}/exports/", app.address)),
        "{url}"
    );
    let ttl = paygraph::ledger::EXPORT_LINK_TTL_SECS;
    assert_eq!(ttl, 300, "five minutes");
    assert!(
        expires_at > asked + Duration::seconds(ttl - 2)
            && expires_at <= Utc::now() + Duration::seconds(ttl),
        "{expires_at} is not {ttl} s after {asked}"
    );
    let response = download(&url).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"statement-USD-2025-12.csv\""
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    let expected = format!(
        "created_at,transaction_id,type,status,description,counterparty,amount,fee,balance_before,balance_after,currency\r\n\
         2025-12-02T09:00:00Z,{},TRANSFER,REVERSED,\"'=HYPERLINK(\"\"http://x\"\",\"\"rent, March\"\")\",'@Bob B.,-10.00,-0.10,96.80,86.70,USD\r\n\
         2025-12-15T10:30:00.250Z,{},TRANSFER,COMPLETED,,'@Bob B.,5.00,0.00,86.70,91.70,USD\r\n\
         2025-12-31T23:59:59.999999Z,{},REFUND,COMPLETED,Refund: sent twice,'@Bob B.,10.00,0.00,91.70,101.70,USD\r\n",
        ids[0], ids[1], ids[2]
    );
    assert_eq!(body, expected);

    // November: the card deposit, 100.00 before its 3.20 fee, from outside.
    let data = app
        .ok(
            STATEMENT,
            json!({"id": m.wallet, "month": "2025-11"}),
            token,
        )
        .await;
    let deposit = &data["wallet"]["statement"]["lines"]["edges"][0]["node"]["transaction"]["id"];
    let (url, _) = export(app, token, &m.wallet, "2025-11").await;
    let body = download(&url).await.text().await.unwrap();
    assert_eq!(
        body.split("\r\n").nth(1).unwrap(),
        format!(
            "2025-11-14T08:00:00Z,{},DEPOSIT,COMPLETED,,,100.00,-3.20,0.00,96.80,USD",
            deposit.as_str().unwrap()
        )
    );
}

async fn an_export_link_that_expired_or_was_changed_is_refused(backend: Backend) {
    let m = a_month_of_activity(backend, "rent").await;
    let (app, token) = (&m.app, &m.alice.token);
    let (url, _) = export(app, token, &m.wallet, "2025-12").await;
    assert_eq!(download(&url).await.status(), 200);
    let (base, link) = url.rsplit_once('/').unwrap();

    // One character of the signed grant changed.
    let mut parts: Vec<String> = link.split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let tampered = format!("{base}/{}", parts.join("."));
    let invalid = (403, "FORBIDDEN".to_owned(), "LINK_INVALID".to_owned());
    assert_eq!(refusal(&tampered).await, invalid);
    // A session token is not a link; nor is nonsense.
    assert_eq!(refusal(&format!("{base}/{token}")).await, invalid);
    assert_eq!(refusal(&format!("{base}/nonsense")).await, invalid);

    // A link signed as the service signs them: good until its expiry, and
    // refused after it (the service's own verification decides).
    let signer = paygraph::crypto::LinkSigner::derive(SECRET.as_bytes(), "statement-export");
    let grant = json!({"wallet": key_of(&m.wallet), "month": "2025-12", "by": key_of(&m.alice.id)});
    let valid = signer.sign(&grant, Utc::now() + Duration::seconds(60));
    assert_eq!(download(&format!("{base}/{valid}")).await.status(), 200);
    let expired = signer.sign(&grant, Utc::now() - Duration::seconds(1));
    assert_eq!(
        refusal(&format!("{base}/{expired}")).await,
        (403, "FORBIDDEN".to_owned(), "LINK_EXPIRED".to_owned())
    );
    // Signed with another secret: not the service's.
    let other = paygraph::crypto::LinkSigner::derive(
        b"some other secret of 32 bytes or more",
        "statement-export",
    );
    let forged = other.sign(&grant, Utc::now() + Duration::seconds(60));
    assert_eq!(refusal(&format!("{base}/{forged}")).await, invalid);
}

/// The `support.read` events recorded for `customer`: those still in the
/// outbox and those the relay has moved to the (embedded) audit store.
async fn support_reads(app: &TestApp, customer: &str) -> Vec<Value> {
    use entity::{audit_logs, audit_outbox};
    let who = key_of(customer);
    let waiting = audit_outbox::Entity::find()
        .filter(audit_outbox::Column::UserId.eq(who))
        .filter(audit_outbox::Column::EventType.eq("support.read"))
        .all(&app.db)
        .await
        .unwrap();
    let relayed = audit_logs::Entity::find()
        .filter(audit_logs::Column::UserId.eq(who))
        .filter(audit_logs::Column::EventType.eq("support.read"))
        .all(&app.db)
        .await
        .unwrap();
    let mut events: Vec<(uuid::Uuid, Value, Option<uuid::Uuid>)> = waiting
        .into_iter()
        .map(|e| (e.event_id, e.data.unwrap_or_default(), e.actor_id))
        .collect();
    for e in relayed {
        if !events.iter().any(|(id, _, _)| *id == e.event_id) {
            let data = e
                .data
                .map(|d| serde_json::from_str(&d).unwrap())
                .unwrap_or_default();
            events.push((e.event_id, data, e.actor_id));
        }
    }
    events
        .into_iter()
        .map(|(_, data, actor)| json!({"data": data, "actor": actor}))
        .collect()
}

async fn only_the_owner_or_support_exports_a_statement_and_support_is_audited(backend: Backend) {
    let m = a_month_of_activity(backend, "rent").await;
    let app = &m.app;
    let mallory = app.register().await;
    let input = json!({"i": {"walletId": m.wallet, "month": "2025-12"}});
    let body = app.gql(EXPORT, input.clone(), Some(&mallory.token)).await;
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert!(body["data"].is_null() || body["data"]["createStatementExport"].is_null());
    let body = app.gql(EXPORT, input.clone(), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let bad = json!({"i": {"walletId": m.wallet, "month": "2025-13"}});
    let body = app.gql(EXPORT, bad, Some(&m.alice.token)).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(error_field(&body), Some("month"));

    let exports = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["data"]["what"] == "statement_export")
            .cloned()
            .collect::<Vec<_>>()
    };
    // The owner's own export is no support read.
    export(app, &m.alice.token, &m.wallet, "2025-12").await;
    assert!(exports(&support_reads(app, &m.alice.id).await).is_empty());

    let (url, _) = export(app, &m.agent.token, &m.wallet, "2025-12").await;
    assert_eq!(download(&url).await.status(), 200);
    let recorded = exports(&support_reads(app, &m.alice.id).await);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["actor"], json!(key_of(&m.agent.id)));
    assert_eq!(recorded[0]["data"]["wallet_id"], json!(key_of(&m.wallet)));
    assert_eq!(recorded[0]["data"]["month"], "2025-12");
}

both_backends!(
    the_csv_export_is_the_months_lines_in_rfc_4180_with_formulas_neutralised,
    an_export_link_that_expired_or_was_changed_is_refused,
    only_the_owner_or_support_exports_a_statement_and_support_is_audited,
    a_statement_adds_up_gross_of_fees_and_closes_where_the_next_month_opens,
    statement_lines_page_oldest_first_within_the_month,
    balance_at_is_the_balance_after_every_change_at_or_before_the_instant,
    a_malformed_month_is_bad_input_naming_the_field,
    a_stranger_sees_no_statement_or_balance_of_another_wallet,
);
