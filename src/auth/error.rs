use crate::{cache::CacheError, validation::InvalidInput};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("this account is closed")]
    AccountClosed,
    #[error("authentication required")]
    Unauthenticated,
    #[error("no user has this email")]
    UnknownUser,
    /// Not one of the caller's open sessions.
    #[error("not found")]
    UnknownSession,
    /// Two-factor is on and the login gave no code.
    #[error("a second factor is required: totpCode or recoveryCode")]
    SecondFactorRequired,
    /// Too many wrong passwords or codes for this account or address.
    #[error("too many failed attempts; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Two-factor is not in the state the operation needs: `ENABLED` or
    /// `DISABLED`, as it is.
    #[error("two-factor is {state}")]
    TotpState { state: &'static str },
    /// A stored secret could not be decrypted (a key missing): ours to fix.
    #[error("cannot read a stored secret: {0}")]
    Secret(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
