//! Seeds users through the API: register, a USD wallet, a card, and one
//! card deposit each, settled by the payment simulator. Every balance then
//! comes from a completed deposit, so the ledger invariants hold exactly
//! (no opening balances inserted behind the ledger's back).

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use futures::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Gql;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub token: String,
    pub wallet_id: String,
}

const REGISTER: &str = "mutation($i: RegisterInput!) { register(input: $i) { token } }";
const WALLET: &str = "mutation { createWallet(input: {currency: \"USD\"}) { id } }";
const CARD: &str = "mutation { addPaymentMethod(input: {card: {number: \"4242424242424242\", expiryMonth: 12, expiryYear: 2035}}) { id } }";
const DEPOSIT: &str = "mutation($i: DepositInput!) { deposit(input: $i) { id status } }";
const STATUS: &str = "query($id: ID!) { transaction(id: $id) { status } }";

pub async fn seed(
    gql: &Gql,
    run: &str,
    users: usize,
    concurrency: usize,
    deposit: &str,
) -> anyhow::Result<Vec<User>> {
    let gql = Arc::new(gql.clone());
    let results: Vec<anyhow::Result<(User, String)>> = stream::iter(0..users)
        .map(|i| {
            let gql = gql.clone();
            let email = format!("bench-{run}-{i}@example.com");
            let deposit = deposit.to_owned();
            async move {
                let data = gql
                    .must(
                        None,
                        REGISTER,
                        json!({"i": {"email": email, "password": "bench password 1234",
                                     "firstName": "Bench", "lastName": format!("User{i}")}}),
                    )
                    .await
                    .with_context(|| format!("registering {email}"))?;
                let token = data["register"]["token"]
                    .as_str()
                    .context("token")?
                    .to_owned();
                let wallet = gql.must(Some(&token), WALLET, json!({})).await?;
                let wallet_id = wallet["createWallet"]["id"]
                    .as_str()
                    .context("wallet id")?
                    .to_owned();
                let card = gql.must(Some(&token), CARD, json!({})).await?;
                let card_id = card["addPaymentMethod"]["id"].as_str().context("card id")?;
                let dep = gql
                    .must(
                        Some(&token),
                        DEPOSIT,
                        json!({"i": {"walletId": wallet_id, "paymentMethodId": card_id,
                                     "amount": deposit, "idempotencyKey": format!("seed-{i}")}}),
                    )
                    .await?;
                let dep_id = dep["deposit"]["id"]
                    .as_str()
                    .context("deposit id")?
                    .to_owned();
                Ok((
                    User {
                        email,
                        token,
                        wallet_id,
                    },
                    dep_id,
                ))
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    let mut out = Vec::with_capacity(users);
    let mut deposits = Vec::with_capacity(users);
    for r in results {
        let (u, d) = r?;
        out.push(u);
        deposits.push(d);
    }
    // Wait for the simulator to settle every deposit.
    for (u, dep) in out.iter().zip(&deposits) {
        let mut tries = 0;
        loop {
            let s = gql.must(Some(&u.token), STATUS, json!({"id": dep})).await?;
            match s["transaction"]["status"].as_str() {
                Some("COMPLETED") => break,
                Some("PENDING" | "PROCESSING") if tries < 600 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => bail!("deposit {dep} did not settle: {other:?}"),
            }
        }
    }
    Ok(out)
}
