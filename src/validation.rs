//! The one shape of "this input is wrong": which field, and why. Domain
//! modules return it inside their own errors; the API maps it to
//! `BAD_USER_INPUT` with `extensions.field`.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
