//! The one place where errors become API error codes (`extensions.code`).
//!
//! `ApiError` deliberately does not implement `Display`: async-graphql
//! converts anything displayable into an error *without* a code, and that
//! path must not exist for us. Every domain error reaches the client
//! through a `From` impl below.

use async_graphql::ErrorExtensions;

use crate::support::SupportError;

use crate::{
    audit::AuditError,
    auth::AuthError,
    crypto::LinkError,
    customer::CustomerError,
    db::retry::{Fault, Faulty},
    four_eyes::FourEyesError,
    ledger::{CursorProblem, LedgerError},
    validation::InvalidInput,
};

/// How long a client is told to wait when a backend is unreachable.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    AccountRestricted,
    InsufficientFunds,
    IdempotencyConflict,
    LimitExceeded,
    QueryTooComplex,
    RateLimited,
    /// A backend the request needs stays unreachable after the service's
    /// own retries: HTTP 503, with `retryAfterSeconds`.
    Unavailable,
    PersistedQueryNotFound,
    OperationNotAllowed,
    SecondFactorRequired,
    StepUpRequired,
    ApprovalRequired,
    /// The object's state does not allow the operation, with `state`.
    InvalidState,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::AccountRestricted => "ACCOUNT_RESTRICTED",
            Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unavailable => "UNAVAILABLE",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::OperationNotAllowed => "OPERATION_NOT_ALLOWED",
            Self::SecondFactorRequired => "SECOND_FACTOR_REQUIRED",
            Self::StepUpRequired => "STEP_UP_REQUIRED",
            Self::ApprovalRequired => "APPROVAL_REQUIRED",
            Self::InvalidState => "INVALID_STATE",
            Self::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    code: Code,
    message: String,
    field: Option<&'static str>,
    /// More `extensions`, e.g. `remaining` for LIMIT_EXCEEDED.
    extra: Vec<(&'static str, serde_json::Value)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            extra: Vec::new(),
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn with(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.extra.push((key, value));
        self
    }

    fn on_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// Over a rate limit: the client may try again after this many seconds.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        Self::new(
            Code::RateLimited,
            format!("rate limit exceeded; retry after {retry_after_seconds} s"),
        )
        .with("retryAfterSeconds", retry_after_seconds.into())
    }

    /// A backend stays unreachable: the client may try again after this
    /// many seconds.
    pub fn unavailable(retry_after_seconds: u64) -> Self {
        Self::new(
            Code::Unavailable,
            "the service is temporarily unavailable; try again shortly",
        )
        .with("retryAfterSeconds", retry_after_seconds.into())
    }

    pub fn unauthenticated() -> Self {
        Self::new(Code::Unauthenticated, "authentication required")
    }

    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "not found")
    }

    /// Logs the cause with everything an operator needs, and tells the
    /// client nothing about it.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(Code::Internal, "internal error")
    }

    /// A database error that reached the API, after the service's own
    /// retries, by its kind: a fault of the moment (the database out of
    /// reach, a race lost every time) is UNAVAILABLE, anything else a bug.
    pub fn database(cause: &dyn std::fmt::Display, fault: Option<Fault>) -> Self {
        match fault {
            Some(fault) => {
                tracing::warn!(error = %cause, ?fault, "database unavailable");
                Self::unavailable(RETRY_AFTER_UNAVAILABLE_SECS)
            }
            None => Self::internal(cause),
        }
    }
}

impl ApiError {
    /// APPROVAL_REQUIRED, naming the pending support action.
    fn approval_required(message: String, action_id: uuid::Uuid) -> Self {
        let id = super::ids::encode(super::ids::Kind::SupportAction, action_id);
        Self::new(Code::ApprovalRequired, message).with("supportActionId", id.0.into())
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::new(Code::BadUserInput, format!("{}: {}", e.field, e.message)).on_field(e.field)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(i) => i.into(),
            AuthError::EmailTaken => InvalidInput::new("email", e.to_string()).into(),
            AuthError::InvalidCredentials | AuthError::Unauthenticated => {
                Self::new(Code::Unauthenticated, e.to_string())
            }
            AuthError::AccountClosed => Self::new(Code::AccountRestricted, e.to_string()),
            AuthError::UnknownUser | AuthError::UnknownSession => Self::not_found(),
            AuthError::Db(ref d) => Self::database(&e, d.fault()),
            AuthError::SecondFactorRequired => Self::new(Code::SecondFactorRequired, e.to_string()),
            AuthError::RateLimited { retry_after_secs } => Self::rate_limited(retry_after_secs),
            AuthError::TotpState { state } => {
                Self::new(Code::InvalidState, e.to_string()).with("state", state.into())
            }
            // The shared cache is a dependency: its fault is never a bug.
            AuthError::Cache(_) => {
                tracing::warn!(error = %e, "cache unavailable");
                Self::unavailable(RETRY_AFTER_UNAVAILABLE_SECS)
            }
            AuthError::Hashing(_) | AuthError::Secret(_) => Self::internal(&e),
        }
    }
}

impl From<CustomerError> for ApiError {
    fn from(e: CustomerError) -> Self {
        match e {
            CustomerError::Invalid(i) => i.into(),
            CustomerError::NotFound => Self::not_found(),
            CustomerError::Db(ref d) => Self::database(&e, d.fault()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let message = e.to_string();
        match e {
            LedgerError::Invalid(i) => i.into(),
            LedgerError::NotFound => Self::not_found(),
            LedgerError::UnknownRecipient => {
                Self::new(Code::NotFound, message).on_field("recipientEmail")
            }
            LedgerError::InsufficientFunds { available } => {
                Self::new(Code::InsufficientFunds, message).with("available", available.into())
            }
            LedgerError::IdempotencyConflict => {
                Self::new(Code::IdempotencyConflict, message).on_field("idempotencyKey")
            }
            LedgerError::Restricted(_) => Self::new(Code::AccountRestricted, message),
            LedgerError::LimitExceeded {
                remaining,
                currency,
            } => Self::new(Code::LimitExceeded, message).with(
                "remaining",
                serde_json::json!({"amount": remaining, "currency": currency}),
            ),
            LedgerError::InvalidState { ref state, .. } => {
                Self::new(Code::InvalidState, message).with("state", state.as_str().into())
            }
            LedgerError::NotPending { state } => {
                Self::new(Code::InvalidState, message).with("state", state.into())
            }
            LedgerError::Declined { retry_after_secs } => {
                Self::rate_limited(retry_after_secs).on_field("payerEmail")
            }
            LedgerError::UnknownPayer => Self::new(Code::NotFound, message).on_field("payerEmail"),
            LedgerError::Forbidden(_) => Self::new(Code::Forbidden, message),
            LedgerError::StepUpRequired {
                ref amount,
                currency,
            } => Self::new(Code::StepUpRequired, message.clone()).with(
                "threshold",
                serde_json::json!({"amount": amount, "currency": currency}),
            ),
            LedgerError::ApprovalRequired { action_id } => {
                Self::approval_required(message, action_id)
            }
            LedgerError::FourEyes(f) => f.into(),
            LedgerError::Cursor(problem) => Self::new(Code::BadUserInput, message)
                .on_field("after")
                .with(
                    "reason",
                    match problem {
                        CursorProblem::Invalid => "CURSOR_INVALID",
                        CursorProblem::Expired => "CURSOR_EXPIRED",
                    }
                    .into(),
                ),
            LedgerError::Db(_) | LedgerError::Unconfirmed(_) => Self::database(&e, e.fault()),
            LedgerError::WorkersStopped => Self::unavailable(RETRY_AFTER_UNAVAILABLE_SECS),
            LedgerError::Sealed(_) => Self::internal(&e),
        }
    }
}

impl From<AuditError> for ApiError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Invalid(i) => i.into(),
            AuditError::Forbidden => Self::new(Code::Forbidden, e.to_string()),
            // The cause (which may name the DynamoDB endpoint) is logged,
            // never shown.
            AuditError::Db(ref d) => Self::database(&e, d.fault()),
            // A store that fails or does not answer in time is a
            // dependency fault, never a bug of ours.
            AuditError::Store(_) => {
                tracing::warn!(error = %e, "audit store unavailable");
                Self::unavailable(RETRY_AFTER_UNAVAILABLE_SECS)
            }
        }
    }
}

impl From<FourEyesError> for ApiError {
    fn from(e: FourEyesError) -> Self {
        match e {
            FourEyesError::NotFound => Self::not_found(),
            FourEyesError::OwnRequest => Self::new(Code::Forbidden, e.to_string()),
            FourEyesError::Decided(state) => Self::new(Code::InvalidState, e.to_string())
                .with("state", state.as_str().to_uppercase().into()),
            FourEyesError::Db(ref d) => Self::database(&e, d.fault()),
        }
    }
}

impl From<SupportError> for ApiError {
    fn from(e: SupportError) -> Self {
        match e {
            SupportError::Invalid(i) => i.into(),
            SupportError::NotFound => Self::not_found(),
            SupportError::OwnAccount => Self::new(Code::Forbidden, e.to_string()),
            SupportError::Db(ref d) => Self::database(&e, d.fault()),
            // A change committed whose cached standing is not rewritten: the
            // cache's (or the database's) fault, which trying again repairs.
            SupportError::Standing(a) => a.into(),
            SupportError::ApprovalRequired { action_id } => {
                Self::approval_required(e.to_string(), action_id)
            }
            SupportError::FourEyes(f) => f.into(),
            SupportError::Ledger(l) => l.into(),
        }
    }
}

/// A signed link (a statement export's) that does not grant anything:
/// `extensions.reason` says whether it expired or was never valid, and
/// either way the client asks for a new one.
impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        let reason = match e {
            LinkError::Invalid => "LINK_INVALID",
            LinkError::Expired => "LINK_EXPIRED",
        };
        Self::new(Code::Forbidden, e.to_string()).with("reason", reason.into())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::database(&e, e.fault())
    }
}

/// A DataLoader's error.
impl From<std::sync::Arc<sea_orm::DbErr>> for ApiError {
    fn from(e: std::sync::Arc<sea_orm::DbErr>) -> Self {
        Self::database(&e, e.fault())
    }
}

impl From<async_graphql::Error> for ApiError {
    /// Errors raised inside async-graphql itself (reading context data,
    /// say) are faults of ours: logged, and shown only as INTERNAL.
    fn from(e: async_graphql::Error) -> Self {
        tracing::error!(error = %e.message, "resolver error");
        Self::new(Code::Internal, "internal error")
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        async_graphql::Error::new(e.message).extend_with(|_, ext| {
            ext.set("code", e.code.as_str());
            if let Some(field) = e.field {
                ext.set("field", field);
            }
            for (key, value) in e.extra {
                ext.set(
                    key,
                    async_graphql::Value::from_json(value).unwrap_or_default(),
                );
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheError;

    #[test]
    fn a_cache_fault_is_unavailable_never_internal() {
        let login: ApiError = AuthError::Cache(CacheError::TimedOut).into();
        assert_eq!(login.code(), Code::Unavailable);
        let suspension: ApiError =
            SupportError::Standing(AuthError::Cache(CacheError::CircuitOpen)).into();
        assert_eq!(suspension.code(), Code::Unavailable);
        let hashing: ApiError = AuthError::Hashing("bug".into()).into();
        assert_eq!(hashing.code(), Code::Internal);
    }
}
