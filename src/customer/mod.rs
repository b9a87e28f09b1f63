//! A customer's own records: profile, linked bank accounts, payment methods.
//!
//! Card and account numbers arrive as `SecretString` (they cannot be
//! printed or logged by accident), are checked, and are stored only as
//! ciphertext plus their last four digits.

mod bank_accounts;
mod card;
mod display_name;
mod payment_methods;
mod profile;
mod users;

pub use bank_accounts::{NewBankAccount, accounts_of};
pub use card::{CardExpiry, CardNumber};
pub use display_name::{display_name, display_names_of};
pub use entity::accounts::AccountType;
pub use payment_methods::{NewPaymentMethod, payment_methods_of};
pub use profile::{Address, ProfileChange, profiles_of};
pub use users::{user_by_id, users_by_id};

use sea_orm::DatabaseConnection;

use crate::{crypto::FieldCipher, validation::InvalidInput};

#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

#[derive(Clone)]
pub struct Customers {
    db: DatabaseConnection,
    cipher: FieldCipher,
}

impl Customers {
    pub fn new(db: DatabaseConnection, cipher: FieldCipher) -> Self {
        Self { db, cipher }
    }
}

/// The last four characters of a validated number (always ASCII digits).
fn last_four(digits: &str) -> String {
    digits[digits.len() - 4..].to_owned()
}
