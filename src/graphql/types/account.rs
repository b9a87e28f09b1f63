use crate::graphql::scalars::Timestamp;
use async_graphql::{Enum, ID, Object};

use crate::graphql::ids::{self, Kind};
use entity::accounts;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::accounts::AccountType")]
pub enum AccountType {
    Checking,
    Savings,
}

/// A linked bank account. The account number is never shown whole.
pub struct Account(pub accounts::Model);

#[Object]
impl Account {
    pub async fn id(&self) -> ID {
        ids::encode(Kind::Account, self.0.account_id)
    }

    async fn account_type(&self) -> AccountType {
        self.0.account_type.into()
    }

    /// The account number masked to its last four digits, e.g. "****6789".
    async fn masked_account_number(&self) -> String {
        format!("****{}", self.0.account_number_last_four)
    }

    async fn last_four(&self) -> &str {
        &self.0.account_number_last_four
    }

    async fn routing_number(&self) -> Option<&str> {
        self.0.routing_number.as_deref()
    }

    async fn bank_name(&self) -> Option<&str> {
        self.0.bank_name.as_deref()
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }
}
