//! One JSON line per HTTP request at `info` (target `paygraph::access`):
//! request id, the trace id of a W3C `traceparent` the client sent, method,
//! path (never the query string), status, duration, and for GraphQL each
//! operation's kind, root field, name, the caller's opaque user id and the
//! error codes. No header, body, token or account data is read for it.

use std::time::Instant;

use axum::{extract::Request, middleware::Next, response::Response};

use super::REQUEST_ID;
use crate::graphql::observed::{self, Operation};

pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = super::exports::loggable_path(request.uri().path()).to_owned();
    let request_id = header(&request, REQUEST_ID.as_str()).map(str::to_owned);
    let trace_id = header(&request, "traceparent")
        .and_then(trace_id)
        .map(str::to_owned);
    let (response, observed) = observed::observe(next.run(request)).await;
    let operations = observed.operations();
    let joined = |part: fn(&Operation) -> Option<String>| -> Option<String> {
        let parts: Vec<String> = operations.iter().filter_map(part).collect();
        (!parts.is_empty()).then(|| parts.join(","))
    };
    tracing::info!(
        target: "paygraph::access",
        request_id = request_id.as_deref(),
        trace_id = trace_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        operation_type = joined(|o| Some(o.kind.to_owned())),
        operation = joined(|o| Some(o.label.clone())),
        operation_name = joined(|o| o.name.clone()),
        user_id = joined(|o| o.user_id.map(|id| id.to_string())),
        error_codes = joined(|o| (!o.codes.is_empty()).then(|| o.codes.join(","))),
        "request"
    );
    response
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The trace id of a `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), only
/// when the header has that form and the id is not all zeros.
fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, id, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(id, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && id.bytes().any(|b| b != b'0');
    valid.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::trace_id;

    #[test]
    fn only_a_well_formed_traceparent_gives_a_trace_id() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            trace_id("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id("00-\"injected\"-00f067aa0ba902b7-01"), None);
        assert_eq!(trace_id("garbage"), None);
    }
}
