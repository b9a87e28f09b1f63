//! A GraphQL error answer for a request that never reached the document
//! (rate limits, an unreachable backend, a body that is not a request).

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::graphql::errors::ApiError;

/// `{"errors": [...]}` with the error's code and no `locations`: nothing
/// in the document is at fault.
pub fn error_response(status: StatusCode, error: ApiError) -> Response {
    (status, axum::Json(error_body(error))).into_response()
}

/// The GraphQL response that carries only `error`.
pub fn error_body(error: ApiError) -> async_graphql::Response {
    let error: async_graphql::Error = error.into();
    let mut error = error.into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    async_graphql::Response::from_errors(vec![error])
}
