//! The concurrency suite: many users, thousands of random concurrent
//! operations, then every ledger invariant of architecture.md checked in
//! SQL against what the API returned.

use std::collections::HashMap;

use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, CARD_OK, Registered, TestApp, error_code, spawn_app_with},
};

const USERS: usize = 20;
const CONCURRENCY: usize = 16;

#[derive(Clone)]
pub enum Op {
    Transfer {
        from: usize,
        to: usize,
        minor: i64,
        key: String,
    },
    Deposit {
        user: usize,
        minor: i64,
        key: String,
    },
    Withdraw {
        user: usize,
        minor: i64,
        key: String,
    },
    Hold {
        user: usize,
        minor: i64,
        release: bool,
    },
    Refund {
        pick: usize,
        key: String,
    },
}

pub struct Customer {
    pub who: Registered,
    pub wallet: String,
    pub card: String,
    pub account: String,
}

fn decimal(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

pub async fn run(
    app: &TestApp,
    customers: &[Customer],
    agent: &Registered,
    op: &Op,
    completed: &[String],
) -> Value {
    match op {
        Op::Transfer {
            from,
            to,
            minor,
            key,
        } => {
            app.transfer(
                &customers[*from].who.token,
                &customers[*to].who.email,
                &decimal(*minor),
                "USD",
                key,
            )
            .await
        }
        Op::Deposit { user, minor, key } => {
            let c = &customers[*user];
            app.deposit(&c.who.token, &c.wallet, &c.card, &decimal(*minor), key)
                .await
        }
        Op::Withdraw { user, minor, key } => {
            let c = &customers[*user];
            app.gql(
                "mutation($i: WithdrawInput!) { withdraw(input: $i) { id status } }",
                json!({"i": {"walletId": c.wallet, "accountId": c.account, "amount": decimal(*minor), "idempotencyKey": key}}),
                Some(&c.who.token),
            )
            .await
        }
        Op::Hold {
            user,
            minor,
            release,
        } => {
            let m = if *release { "releaseHold" } else { "holdFunds" };
            app.gql(
                &format!("mutation($i: HoldInput!) {{ {m}(input: $i) {{ id }} }}"),
                json!({"i": {"walletId": customers[*user].wallet, "amount": decimal(*minor), "reason": "suite"}}),
                Some(&agent.token),
            )
            .await
        }
        Op::Refund { pick, key } => {
            let Some(id) = completed.get(pick % completed.len().max(1)) else {
                return json!({"skipped": true});
            };
            app.gql(
                "mutation($i: RefundTransactionInput!) { refundTransaction(input: $i) { id } }",
                json!({"i": {"transactionId": id, "reason": "suite", "idempotencyKey": key}}),
                Some(&agent.token),
            )
            .await
        }
    }
}

fn random_op(rng: &mut StdRng, n: usize) -> Op {
    let key = format!("op-{}", rng.r#gen::<u64>());
    let user = rng.gen_range(0..USERS);
    match rng.gen_range(0..100) {
        0..=54 => Op::Transfer {
            from: user,
            to: (user + rng.gen_range(1..USERS)) % USERS,
            minor: rng.gen_range(1..5_000),
            key,
        },
        55..=69 => Op::Deposit {
            user,
            minor: rng.gen_range(100..10_000),
            key,
        },
        70..=79 => Op::Withdraw {
            user,
            minor: rng.gen_range(100..5_000),
            key,
        },
        80..=91 => Op::Hold {
            user,
            minor: rng.gen_range(1..2_000),
            release: rng.gen_bool(0.5),
        },
        _ => Op::Refund { pick: n, key },
    }
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    app.count(sql).await
}

/// `n` customers, each with a funded USD wallet, a card and a bank account.
pub async fn customers(app: &TestApp, n: usize) -> Vec<Customer> {
    let mut customers = Vec::new();
    for _ in 0..n {
        let who = app.register().await;
        let wallet = app.funded_wallet(&who.token, "USD", "500.00").await;
        let card = app.add_card(&who.token, CARD_OK).await;
        let account = app
            .ok("mutation { linkBankAccount(input: {accountType: CHECKING, accountNumber: \"000123456789\", routingNumber: \"021000021\", bankName: \"B\"}) { id } }", json!({}), &who.token)
            .await["linkBankAccount"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        customers.push(Customer {
            who,
            wallet,
            card,
            account,
        });
    }
    customers
}

async fn ledger_invariants_hold_after_random_concurrent_operations(backend: Backend) {
    let ops = if backend == Backend::Postgres {
        2_000
    } else {
        600
    };
    let app = spawn_app_with(backend, |c| {
        c.fraud.velocity_max = 1_000_000;
        c.ledger.kyc_unverified_daily_limit = "USD:100000000".parse().unwrap();
        c.database.max_connections = 20;
    })
    .await;
    let agent = app.support_agent().await;
    let customers = customers(&app, USERS).await;

    let mut rng = StdRng::seed_from_u64(0x5eed_2026);
    let mut planned: Vec<Op> = Vec::new();
    for n in 0..ops {
        // One in ten replays an earlier money-moving request exactly.
        let replay = n > 10 && rng.gen_bool(0.10);
        let op = if replay {
            let earlier = planned[rng.gen_range(0..planned.len())].clone();
            match earlier {
                Op::Hold { .. } | Op::Refund { .. } => random_op(&mut rng, n),
                other => other,
            }
        } else {
            random_op(&mut rng, n)
        };
        planned.push(op);
    }

    let mut completed_transfers: Vec<String> = Vec::new();
    let mut outcomes: HashMap<&'static str, usize> = HashMap::new();
    let mut by_key: HashMap<String, String> = HashMap::new();
    for chunk in planned.chunks(CONCURRENCY) {
        let replies = futures::future::join_all(
            chunk
                .iter()
                .map(|op| run(&app, &customers, &agent, op, &completed_transfers)),
        )
        .await;
        for (op, reply) in chunk.iter().zip(replies) {
            if reply.get("skipped").is_some() {
                continue;
            }
            let data = reply["data"]
                .as_object()
                .and_then(|d| d.values().next())
                .filter(|v| !v.is_null());
            let Some(data) = data else {
                let code = error_code(&reply);
                assert!(
                    matches!(
                        code,
                        "INSUFFICIENT_FUNDS" | "BAD_USER_INPUT" | "INVALID_STATE"
                    ),
                    "only clean refusals are allowed, got {reply}"
                );
                *outcomes
                    .entry(match code {
                        "INSUFFICIENT_FUNDS" => "refused: funds",
                        // A refund of what was refunded already.
                        "INVALID_STATE" => "refused: state",
                        _ => "refused: input",
                    })
                    .or_default() += 1;
                continue;
            };
            *outcomes.entry("succeeded").or_default() += 1;
            let key = match op {
                Op::Transfer { key, .. } | Op::Deposit { key, .. } | Op::Withdraw { key, .. } => {
                    Some(key.clone())
                }
                _ => None,
            };
            if let (Some(key), Some(id)) = (key, data["id"].as_str()) {
                let first = by_key.entry(key).or_insert_with(|| id.to_owned());
                assert_eq!(first, id, "a replayed key returned another transaction");
                if matches!(op, Op::Transfer { .. }) && data["status"] == "COMPLETED" {
                    completed_transfers.push(id.to_owned());
                }
            }
        }
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while scalar(
        &app,
        "SELECT COUNT(*) AS n FROM transactions WHERE status IN ('pending', 'processing')",
    )
    .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "settlement never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let violations = ledger_violations(&app).await;
    let transactions = scalar(&app, "SELECT COUNT(*) AS n FROM transactions").await;
    let history_rows = scalar(&app, "SELECT COUNT(*) AS n FROM balance_history").await;
    println!(
        "invariants [{backend:?}]: {ops} operations ({outcomes:?}), {transactions} transactions, {history_rows} history rows; \
         violations: {violations:?}"
    );
    assert_eq!(violations, Violations::default());
    assert!(
        outcomes.get("succeeded").copied().unwrap_or(0) > ops / 2,
        "most operations should succeed: {outcomes:?}"
    );
}

/// Each ledger invariant of architecture.md, as the number of rows that
/// break it: all zero when the ledger is sound.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Violations {
    pub conservation_drift: i64,
    pub negative: i64,
    pub unbalanced: i64,
    pub broken_history_links: i64,
    pub keys_without_transaction: i64,
    pub transactions_sharing_a_key: i64,
    pub transactions_without_a_key: i64,
    pub tally_drift: i64,
    pub feed_gaps: i64,
    pub changes_missing_from_feeds: i64,
}

pub async fn ledger_violations(app: &TestApp) -> Violations {
    // 1. Money is conserved: all balances (fee wallets included) are what
    //    came in minus what went out.
    let drift = scalar(
        app,
        "SELECT CAST(COALESCE((SELECT SUM(balance_minor) FROM wallets WHERE currency = 'USD'), 0)
            - COALESCE((SELECT SUM(amount_minor) FROM transactions WHERE transaction_type = 'deposit' AND status = 'completed'), 0)
            + COALESCE((SELECT SUM(amount_minor) FROM transactions WHERE transaction_type = 'withdrawal' AND status = 'completed'), 0) AS BIGINT) AS n",
    )
    .await;
    // 2. and 3. No negative part, and balance = available + frozen.
    let negative = scalar(app, "SELECT COUNT(*) AS n FROM wallets WHERE available_balance_minor < 0 OR frozen_balance_minor < 0").await;
    let unbalanced =
        scalar(app, "SELECT COUNT(*) AS n FROM wallets WHERE balance_minor <> available_balance_minor + frozen_balance_minor").await;
    // 4. Every wallet's history is an unbroken chain ending at its balance.
    let broken = broken_history_links(app).await;
    // 5. One transaction per (user, idempotency key), and none without one.
    let orphans = scalar(
        app,
        "SELECT COUNT(*) AS n FROM idempotency_keys WHERE transaction_id IS NULL",
    )
    .await;
    // Not a foreign key: a transfer takes its key already bound.
    let orphans = orphans
        + scalar(
            app,
            "SELECT COUNT(*) AS n FROM idempotency_keys k WHERE k.transaction_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.transaction_id = k.transaction_id)",
        )
        .await;
    let shared = scalar(
        app,
        "SELECT COUNT(*) AS n FROM (SELECT transaction_id FROM idempotency_keys GROUP BY transaction_id HAVING COUNT(*) > 1) AS d",
    )
    .await;
    let unkeyed = scalar(
        app,
        "SELECT COUNT(*) AS n FROM transactions t WHERE NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.transaction_id = t.transaction_id)",
    )
    .await;
    // 6. The outgoing tallies (KYC limit, velocity) are the recount of the
    //    payments they stand for, per sender and currency.
    let recount = "SELECT sender_id AS u, currency AS c, CAST(COUNT(*) AS BIGINT) AS p, CAST(SUM(amount_minor) AS BIGINT) AS a
        FROM transactions WHERE transaction_type IN ('transfer', 'withdrawal') AND status NOT IN ('failed', 'cancelled', 'reversed')
        GROUP BY sender_id, currency";
    let tallied = "SELECT user_id AS u, currency AS c, CAST(SUM(payments) AS BIGINT) AS p, CAST(SUM(amount_minor) AS BIGINT) AS a
        FROM outgoing_tallies GROUP BY user_id, currency HAVING SUM(payments) <> 0 OR SUM(amount_minor) <> 0";
    let tally_drift = scalar(
        app,
        &format!("SELECT COUNT(*) AS n FROM ({recount} EXCEPT {tallied}) AS d"),
    )
    .await
        + scalar(
            app,
            &format!("SELECT COUNT(*) AS n FROM ({tallied} EXCEPT {recount}) AS d"),
        )
        .await;
    // 7. Each user's change feed is numbered 1 to its head with no gap,
    //    and holds every transaction the user sent or received (the fee
    //    account has no feed).
    let feed_gaps = scalar(
        app,
        "SELECT COUNT(*) AS n FROM change_heads h
         WHERE h.last_sequence <> (SELECT COUNT(*) FROM changes c WHERE c.user_id = h.user_id)
            OR h.last_sequence <> (SELECT COALESCE(MAX(c.sequence), 0) FROM changes c WHERE c.user_id = h.user_id)",
    )
    .await
        + scalar(
            app,
            "SELECT COUNT(*) AS n FROM changes c WHERE NOT EXISTS (SELECT 1 FROM change_heads h WHERE h.user_id = c.user_id)",
        )
        .await;
    let missing = |party: &str| {
        format!(
            "SELECT COUNT(*) AS n FROM transactions t
             WHERE t.{party} IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = t.{party} AND u.status = 'system')
               AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.user_id = t.{party} AND c.transaction_id = t.transaction_id)"
        )
    };
    let changes_missing_from_feeds =
        scalar(app, &missing("sender_id")).await + scalar(app, &missing("receiver_id")).await;
    Violations {
        conservation_drift: drift,
        negative,
        unbalanced,
        broken_history_links: broken,
        keys_without_transaction: orphans,
        transactions_sharing_a_key: shared,
        transactions_without_a_key: unkeyed,
        tally_drift,
        feed_gaps,
        changes_missing_from_feeds,
    }
}

/// Links where a row's `balance_before` is not the previous row's
/// `balance_after` (or 0 for the first), in sequence order, plus wallets
/// whose last row does not end at the wallet's balance.
pub async fn broken_history_links(app: &TestApp) -> i64 {
    let backend = app.db.get_database_backend();
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT h.wallet_id AS w, h.balance_before_minor AS b, h.balance_after_minor AS a, w.balance_minor AS end_balance
             FROM balance_history h JOIN wallets w ON w.wallet_id = h.wallet_id
             ORDER BY h.wallet_id, h.sequence",
        ))
        .await
        .unwrap();
    let mut broken = 0;
    let mut last: Option<(uuid::Uuid, i64, i64)> = None;
    for row in rows {
        let wallet: uuid::Uuid = row.try_get("", "w").unwrap();
        let (before, after, end): (i64, i64, i64) = (
            row.try_get("", "b").unwrap(),
            row.try_get("", "a").unwrap(),
            row.try_get("", "end_balance").unwrap(),
        );
        match last {
            Some((w, prev_after, prev_end)) if w == wallet => {
                broken += i64::from(before != prev_after);
                let _ = prev_end;
            }
            Some((_, prev_after, prev_end)) => {
                broken += i64::from(prev_after != prev_end);
                broken += i64::from(before != 0);
            }
            None => broken += i64::from(before != 0),
        }
        last = Some((wallet, after, end));
    }
    if let Some((_, after, end)) = last {
        broken += i64::from(after != end);
    }
    broken
}

both_backends!(ledger_invariants_hold_after_random_concurrent_operations);
