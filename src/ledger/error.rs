use crate::{money::Amount, validation::InvalidInput};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("not found")]
    NotFound,
    #[error("no user has this email")]
    UnknownRecipient,
    #[error("insufficient funds: {available} available")]
    InsufficientFunds { available: String },
    #[error("this idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("{0}")]
    Restricted(&'static str),
    #[error("daily limit for unverified accounts exceeded: {remaining} {currency} remaining today")]
    LimitExceeded {
        remaining: String,
        currency: &'static str,
    },
    #[error("{0}")]
    InvalidState(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

impl LedgerError {
    pub fn insufficient(available_minor: i64, currency: crate::money::Currency) -> Self {
        Self::InsufficientFunds {
            available: crate::money::format_minor(available_minor, currency),
        }
    }

    pub fn limit(remaining_minor: i64, amount: &Amount) -> Self {
        Self::LimitExceeded {
            remaining: crate::money::format_minor(remaining_minor.max(0), amount.currency()),
            currency: amount.currency().code(),
        }
    }

    /// A deadlock or serialisation failure: the whole operation may run
    /// again, and the client never sees it.
    pub fn is_retryable(&self) -> bool {
        let Self::Db(e) = self else { return false };
        let text = e.to_string();
        [
            "40P01",
            "40001",
            "deadlock detected",
            "could not serialize",
            "database is locked",
        ]
        .iter()
        .any(|s| text.contains(s))
    }
}
