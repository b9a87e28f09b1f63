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
    helpers::{Backend, Registered, TestApp, error_code, error_field, key_of, spawn_app_with},
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

/// A 1% transfer fee, and no fraud or KYC limit in the way.
async fn app_with_fees(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.fee_transfer_percent = "1".into();
        c.fraud_velocity_max = 1_000_000;
        c.kyc_unverified_daily_limit = "USD:100000000".into();
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
    wallet: String,
    bob_wallet: String,
    /// The transfer Alice sent, then refunded.
    sent: String,
}

async fn a_month_of_activity(backend: Backend, description: &str) -> Month {
    let app = app_with_fees(backend).await;
    let alice = app.register().await;
    let bob = app.register().await;
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

both_backends!(
    a_statement_adds_up_gross_of_fees_and_closes_where_the_next_month_opens,
    statement_lines_page_oldest_first_within_the_month,
    balance_at_is_the_balance_after_every_change_at_or_before_the_instant,
    a_malformed_month_is_bad_input_naming_the_field,
    a_stranger_sees_no_statement_or_balance_of_another_wallet,
);
