//! The body of a `POST /graphql`, and the answer when it is not a GraphQL
//! request: the same JSON error shape as any other error, never a
//! library's text.
//!
//! Only a JSON media type is a request: a browser sends `text/plain`, a
//! form or multipart to another origin without a CORS preflight, so any
//! of them that ran would let a page elsewhere act for its visitor.

use async_graphql::ParseRequestError;
use axum::{
    body::HttpBody,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use http_body_util::LengthLimitError;

use super::{HttpState, error_response::error_response};
use crate::graphql::errors::{ApiError, Code};

/// One GraphQL request, or a batch (a JSON array) of at most
/// `PAYGRAPH_MAX_BATCH`, read from a JSON body (`application/json` or a
/// `+json` type, any parameters) of at most `PAYGRAPH_MAX_BODY_BYTES`,
/// whether the body declares its length or comes in chunks.
pub struct GraphQLBody(pub async_graphql::BatchRequest);

impl FromRequest<HttpState> for GraphQLBody {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &HttpState) -> Result<Self, BodyRejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !json {
            return Err(BodyRejection::NotJson);
        }
        let max = state.app.config.max_body_bytes;
        let body = req.into_body();
        // A declared length past the limit is refused before anything is read.
        if body.size_hint().lower() > max as u64 {
            return Err(BodyRejection::TooLarge);
        }
        let bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
            let e = e.into_inner();
            if e.is::<LengthLimitError>() {
                BodyRejection::TooLarge
            } else {
                BodyRejection::Unreadable(ParseRequestError::Io(std::io::Error::other(e)))
            }
        })?;
        let batch = async_graphql::http::receive_batch_json(&bytes[..]).await?;
        let max = state.app.config.max_batch;
        if let async_graphql::BatchRequest::Batch(requests) = &batch
            && requests.len() > max
        {
            return Err(BodyRejection::TooManyOperations(max));
        }
        Ok(Self(batch))
    }
}

/// Whether a Content-Type names JSON: `application/json` or a structured
/// `+json` type (RFC 6839), with any parameters (`charset=utf-8`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application")
        && (subtype == "json" || (subtype.len() > 5 && subtype.ends_with("+json")))
}

pub enum BodyRejection {
    /// No Content-Type, or one that is not JSON.
    NotJson,
    /// Past `PAYGRAPH_MAX_BODY_BYTES`.
    TooLarge,
    /// A batch of more than `PAYGRAPH_MAX_BATCH` operations.
    TooManyOperations(usize),
    Unreadable(ParseRequestError),
}

impl From<ParseRequestError> for BodyRejection {
    fn from(e: ParseRequestError) -> Self {
        match e {
            ParseRequestError::PayloadTooLarge => Self::TooLarge,
            e => Self::Unreadable(e),
        }
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            Self::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::BadUserInput,
                "POST /graphql takes a JSON body: Content-Type: application/json".to_owned(),
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BadUserInput,
                "the request body is too large".to_owned(),
            ),
            Self::TooManyOperations(max) => (
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                format!("a batch holds at most {max} operations"),
            ),
            // serde_json refuses JSON nested past its recursion limit
            // (deep `variables`, say) before anything recurses on it.
            Self::Unreadable(ParseRequestError::InvalidRequest(e))
                if e.to_string().contains("recursion limit") =>
            {
                (
                    StatusCode::BAD_REQUEST,
                    Code::QueryTooComplex,
                    "the request's JSON is nested too deep".to_owned(),
                )
            }
            Self::Unreadable(ParseRequestError::InvalidRequest(e)) => (
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                format!("the body is not a GraphQL request: {e}"),
            ),
            Self::Unreadable(other) => {
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
