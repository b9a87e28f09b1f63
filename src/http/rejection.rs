//! A `POST /graphql` body that is not a GraphQL request answers with the
//! same JSON error shape as any other error, never with a library's
//! debug text.

use async_graphql::ParseRequestError;
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::error_response::error_response;
use crate::graphql::errors::{ApiError, Code};

pub struct BodyRejection(ParseRequestError);

impl From<ParseRequestError> for BodyRejection {
    fn from(e: ParseRequestError) -> Self {
        Self(e)
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self.0 {
            ParseRequestError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BadUserInput,
                "the request body is too large".to_owned(),
            ),
            // serde_json refuses JSON nested past its recursion limit
            // (deep `variables`, say) before anything recurses on it.
            ParseRequestError::InvalidRequest(e) if e.to_string().contains("recursion limit") => (
                StatusCode::BAD_REQUEST,
                Code::QueryTooComplex,
                "the request's JSON is nested too deep".to_owned(),
            ),
            ParseRequestError::InvalidRequest(e) => (
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                format!("the body is not a GraphQL request: {e}"),
            ),
            other => {
                tracing::info!(error = ?other, "unreadable request body");
                (
                    StatusCode::BAD_REQUEST,
                    Code::BadUserInput,
                    "the body is not a GraphQL request".to_owned(),
                )
            }
        };
        error_response(status, ApiError::new(code, message))
    }
}
