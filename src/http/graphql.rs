use async_graphql_axum::GraphQLResponse;
use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    HttpState, client_address::ClientAddress, error_response::error_response, graphiql,
    rejection::GraphQLBody, websocket,
};
use crate::{
    auth::{Caller, ClientInfo},
    cache::rate_limit::{Decision, Subject},
    graphql::{
        DocumentBounds,
        errors::{ApiError, Code, RETRY_AFTER_UNAVAILABLE_SECS},
        loaders, operation_class,
    },
};

pub async fn post_graphql(
    State(state): State<HttpState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    GraphQLBody(mut request): GraphQLBody,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match state.app.auth.authenticate(authorization).await {
        Ok(caller) => caller,
        // Only the database, the sessions' truth, can fail this: a token
        // that cannot be checked is never let through.
        Err(e) => {
            tracing::error!(error = %e, "cannot check the session");
            return unavailable();
        }
    };
    let client = ClientInfo {
        device_name: None,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        address,
    };
    let decision = match rate_limit(&state, &caller, address, &mut request).await {
        Ok(d) => d,
        Err(response) => return response,
    };
    let request = request
        .data(caller)
        .data(client)
        .data(loaders::new(&state.app))
        .data(loaders::audit(state.app.audit.clone()));
    let executed = state.schema.execute(request).await;
    let unavailable = all_unavailable(&executed);
    let mut response = GraphQLResponse::from(executed).into_response();
    if unavailable {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
        );
    }
    if let Some(d) = decision {
        budget_headers(response.headers_mut(), &d);
    }
    response
}

/// Whether the response failed only because a backend was unreachable:
/// then it is HTTP 503, like the errors raised before execution.
fn all_unavailable(response: &async_graphql::Response) -> bool {
    !response.errors.is_empty()
        && response.errors.iter().all(|e| {
            e.extensions.as_ref().and_then(|x| x.get("code"))
                == Some(&async_graphql::Value::from(Code::Unavailable.as_str()))
        })
}

/// Counts the request against its class's limit (per instance while Redis
/// is unreachable). `Ok(None)` when no limit applies (disabled), `Err`
/// with the response to send when the request must not run.
async fn rate_limit(
    state: &HttpState,
    caller: &Caller,
    address: Option<std::net::IpAddr>,
    request: &mut async_graphql::Request,
) -> Result<Option<Decision>, Response> {
    if !state.app.config.rate_limit_enabled {
        return Ok(None);
    }
    let bounds = DocumentBounds::from(&*state.app.config);
    let (class, cost) = operation_class::classify(request, &bounds);
    let subject = match (caller, address) {
        (Caller::User(p), _) => Subject::User(p.user_id),
        (_, Some(ip)) => Subject::Address(ip),
        // No peer address (a test harness without connect info): nothing
        // to key on.
        (_, None) => return Ok(None),
    };
    let decision = state.app.rate_limits.check(&subject, class, cost).await;
    if decision.allowed {
        Ok(Some(decision))
    } else {
        Err(rate_limited(&decision))
    }
}

fn seconds(d: std::time::Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

/// The remaining budget, as the IETF RateLimit header fields draft names it.
fn budget_headers(headers: &mut HeaderMap, d: &Decision) {
    let mut set = |name: &'static str, value: u64| {
        headers.insert(name, HeaderValue::from(value));
    };
    set("ratelimit-limit", u64::from(d.limit));
    set("ratelimit-remaining", u64::from(d.remaining));
    set("ratelimit-reset", seconds(d.reset_after));
}

fn rate_limited(d: &Decision) -> Response {
    let retry_after = seconds(d.retry_after).max(1);
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        ApiError::rate_limited(retry_after),
    );
    budget_headers(response.headers_mut(), d);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

fn unavailable() -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        ApiError::unavailable(RETRY_AFTER_UNAVAILABLE_SECS),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
    );
    response
}

/// GET /graphql: a WebSocket upgrade for subscriptions, or GraphiQL.
pub async fn get_graphql(State(state): State<HttpState>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let wants_socket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_socket {
        return websocket::upgrade(state, &mut parts).await;
    }
    graphiql::serve(&state, &parts.headers)
}

pub async fn schema_sdl(State(state): State<HttpState>) -> Response {
    if !state.app.config.introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        crate::graphql::sdl(),
    )
        .into_response()
}
