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
        let max = state.app.config.server.max_body_bytes;
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
        if json_nests_past(&bytes, JSON_MAX_NESTING) {
            return Err(BodyRejection::NestedTooDeep);
        }
        let batch = async_graphql::http::receive_batch_json(&bytes[..]).await?;
        let max = state.app.config.graphql.max_batch;
        if let async_graphql::BatchRequest::Batch(requests) = &batch
            && requests.len() > max
        {
            return Err(BodyRejection::TooManyOperations(max));
        }
        Ok(Self(batch))
    }
}

/// The deepest nesting of arrays and objects serde_json reads: it refuses
/// the 128th level. A body that nests deeper is refused before it gets
/// there, so the refusal is this service's, with its own code.
pub(super) const JSON_MAX_NESTING: usize = 127;

/// Whether JSON text nests arrays and objects more than `max` deep
/// (brackets inside strings do not count). One linear pass, blind to any
/// other syntax: whatever does not nest too deep, serde_json judges.
pub(super) fn json_nests_past(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
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
    /// Arrays and objects nested past `JSON_MAX_NESTING` (deep
    /// `variables`, say), refused before anything recurses on them.
    NestedTooDeep,
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
            Self::NestedTooDeep => (
                StatusCode::BAD_REQUEST,
                Code::QueryTooComplex,
                "the request's JSON is nested too deep".to_owned(),
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A GraphQL request whose variables nest `depth` levels in all.
    fn body(depth: usize) -> String {
        let value = format!("{}1{}", "[".repeat(depth - 2), "]".repeat(depth - 2));
        format!(r#"{{"query":"{{ a }}","variables":{{"v":{value}}}}}"#)
    }

    #[test]
    fn a_body_is_refused_here_exactly_where_serde_json_would_refuse_it() {
        for depth in 120..136 {
            let text = body(depth);
            let read = serde_json::from_str::<async_graphql::BatchRequest>(&text);
            assert_eq!(
                json_nests_past(text.as_bytes(), JSON_MAX_NESTING),
                read.is_err(),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn brackets_in_strings_do_not_nest() {
        let quoted = format!(r#"{{"query":"{}\"{}"}}"#, "[".repeat(200), "{".repeat(200));
        assert!(!json_nests_past(quoted.as_bytes(), 4));
        assert!(json_nests_past(br#"{"a":[[[[1]]]]}"#, 4));
        assert!(!json_nests_past(br#"{"a":[[[1]]]}"#, 4));
    }
}
