use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::Money;
use crate::graphql::{
    ids::{self, Kind},
    scalars::CurrencyCode,
};
use entity::wallets;

/// A user's balance in one currency. `balance = availableBalance + frozenBalance`.
pub struct Wallet(pub wallets::Model);

#[Object]
impl Wallet {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Wallet, self.0.wallet_id)
    }

    async fn currency(&self) -> CurrencyCode {
        CurrencyCode(self.0.currency.clone())
    }

    async fn balance(&self) -> Money {
        Money::from_minor(self.0.balance_minor, &self.0.currency)
    }

    /// What can be spent now.
    async fn available_balance(&self) -> Money {
        Money::from_minor(self.0.available_balance_minor, &self.0.currency)
    }

    /// Held: reserved for a pending withdrawal, a review, or by support.
    async fn frozen_balance(&self) -> Money {
        Money::from_minor(self.0.frozen_balance_minor, &self.0.currency)
    }

    /// Grows by one with every balance change; lets a client drop stale updates.
    async fn version(&self) -> i64 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}
