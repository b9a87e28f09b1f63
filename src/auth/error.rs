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
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}
