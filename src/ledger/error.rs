use sea_orm::{DatabaseTransaction, DbErr};

use super::feed::CursorProblem;
use crate::{
    db::retry::{Fault, Faulty, fault_of},
    money::Amount,
    validation::InvalidInput,
};

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
    /// The transaction's state does not allow the operation: `state` is
    /// its status, as the API names it.
    #[error("{message}")]
    InvalidState {
        message: &'static str,
        state: String,
    },
    /// A payment request that is no longer pending: `state` is its status.
    #[error("this payment request is {state}, not PENDING")]
    NotPending { state: &'static str },
    /// The payer declined too many of this requester's requests lately.
    #[error("this payer declined your recent requests; try again later")]
    Declined { retry_after_secs: u64 },
    #[error("no user has this email")]
    UnknownPayer,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A payment at or above the step-up threshold from a session without
    /// a fresh step-up: `amount` and `currency` are the threshold.
    #[error("payments of {amount} {currency} or more need a fresh confirmIdentity")]
    StepUpRequired {
        amount: String,
        currency: &'static str,
    },
    /// A change feed cursor that cannot be read from.
    #[error("{}", match .0 {
        CursorProblem::Invalid => "after: is not a cursor of your change feed",
        CursorProblem::Expired => "after: this cursor is older than the change feed keeps; reload",
    })]
    Cursor(CursorProblem),
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The connection was lost while committing: the operation may or may
    /// not have been committed.
    #[error("the commit's outcome is unknown: {0}")]
    Unconfirmed(DbErr),
    /// The action waits for a second agent: nothing changed yet.
    #[error("a second support agent must approve this action")]
    ApprovalRequired { action_id: uuid::Uuid },
    /// A support action that cannot be decided (see `four_eyes`).
    #[error(transparent)]
    FourEyes(crate::four_eyes::FourEyesError),
    /// A stored payment instrument could not be decrypted (its key is
    /// missing): ours to fix, not the database's.
    #[error("cannot decrypt a stored payment instrument: {0}")]
    Sealed(#[source] crate::crypto::CipherError),
    /// The instance is stopping and its transfer workers are gone: another
    /// instance can take the request.
    #[error("the transfer workers have stopped")]
    WorkersStopped,
}

impl LedgerError {
    pub fn insufficient(available: entity::MinorUnit, currency: crate::money::Currency) -> Self {
        Self::InsufficientFunds {
            available: crate::money::format_minor(available.get(), currency),
        }
    }

    pub fn limit(remaining_minor: i64, amount: &Amount) -> Self {
        Self::LimitExceeded {
            remaining: crate::money::format_minor(remaining_minor.max(0), amount.currency()),
            currency: amount.currency().code(),
        }
    }

    /// The same database failure again, for each request of a batch that
    /// it failed: `None` for any other error.
    pub fn database_failure(&self) -> Option<Self> {
        match self {
            Self::Db(e) => Some(Self::Db(e.clone())),
            Self::Unconfirmed(e) => Some(Self::Unconfirmed(e.clone())),
            _ => None,
        }
    }
}

impl From<crate::four_eyes::FourEyesError> for LedgerError {
    /// A database failure stays one, so that it is retried as any other.
    fn from(e: crate::four_eyes::FourEyesError) -> Self {
        match e {
            crate::four_eyes::FourEyesError::Db(e) => Self::Db(e),
            other => Self::FourEyes(other),
        }
    }
}

impl Faulty for LedgerError {
    fn fault(&self) -> Option<Fault> {
        match self {
            Self::Db(e) => fault_of(e),
            Self::Unconfirmed(_) => Some(Fault::Unconfirmed),
            _ => None,
        }
    }
}

/// Commits `txn`. A connection lost on the way leaves the outcome unknown
/// ([`LedgerError::Unconfirmed`]): only an operation whose idempotency key
/// decides its outcome may run again after it.
pub async fn commit(txn: DatabaseTransaction) -> Result<(), LedgerError> {
    txn.commit().await.map_err(|e| match fault_of(&e) {
        Some(Fault::Lost) => LedgerError::Unconfirmed(e),
        _ => LedgerError::Db(e),
    })
}
