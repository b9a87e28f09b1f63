use async_graphql::{BatchRequest, parser::types::OperationType};
use axum::{
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use serde::Deserialize;

use super::{
    HttpState,
    accept::{self, Media},
    client_address::ClientAddress,
    error_response::{error_body, error_response},
    graphiql,
    rejection::{BodyRejection, GraphQLBody, JSON_MAX_NESTING, json_nests_past},
    websocket,
};
use crate::{
    auth::{Caller, ClientInfo},
    cache::rate_limit::{Decision, Subject},
    graphql::{
        DocumentBounds,
        errors::{ApiError, Code, RETRY_AFTER_UNAVAILABLE_SECS},
        loaders, operation_class, persisted_query,
    },
};

/// POST /graphql: a JSON body, one request or a batch of them.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    GraphQLBody(batch): GraphQLBody,
) -> Response {
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    serve(&state, &caller, address, &headers, batch).await
}

/// The caller the request's token names; `Err` with the answer when the
/// token cannot be checked.
async fn authenticate(state: &HttpState, headers: &HeaderMap) -> Result<Caller, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state
        .app
        .auth
        .authenticate(authorization)
        .await
        .map_err(|e| {
            // Only the database, the sessions' truth, can fail this: a token
            // that cannot be checked is never let through.
            tracing::error!(error = %e, "cannot check the session");
            unavailable()
        })
}

/// Runs each operation for the caller as any
/// transport sends it: counted against the rate limits, executed, and
/// answered in the media type the client accepts. The operations of a
/// batch run one after another, each as if sent alone (its own rate-limit
/// count, query limits and loaders), and the answer is the array of their
/// results in order: an operation refused by a rate limit has its
/// RATE_LIMITED error in its place, and the others still run.
async fn serve(
    state: &HttpState,
    caller: &Caller,
    address: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    batch: BatchRequest,
) -> Response {
    let media = accept::response_media(headers);
    let client = ClientInfo {
        device_name: None,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        address,
    };
    let requests = match batch {
        BatchRequest::Single(request) => {
            return match run(state, caller, &client, address, request).await {
                Ok((executed, decision)) => single(media, &executed, decision),
                Err(refused) => rate_limited(&refused),
            };
        }
        BatchRequest::Batch(requests) => requests,
    };
    let mut results = Vec::with_capacity(requests.len());
    // The headers tell the tightest budget the batch left.
    let mut tightest: Option<Decision> = None;
    for request in requests {
        let (result, decision) = match run(state, caller, &client, address, request).await {
            Ok((executed, decision)) => (body_of(&executed), decision),
            Err(refused) => {
                let error = ApiError::rate_limited(retry_after(&refused));
                (body_of(&error_body(error)), Some(refused))
            }
        };
        results.push(result);
        if let Some(d) = decision
            && tightest.is_none_or(|t| d.remaining <= t.remaining)
        {
            tightest = Some(d);
        }
    }
    let mut response = answer(media, StatusCode::OK, &serde_json::Value::Array(results));
    if let Some(d) = tightest {
        budget_headers(response.headers_mut(), &d);
    }
    response
}

/// Counts one operation against its rate limit and executes it; `Err`
/// with the refusal when the limit is spent.
async fn run(
    state: &HttpState,
    caller: &Caller,
    client: &ClientInfo,
    address: Option<std::net::IpAddr>,
    mut request: async_graphql::Request,
) -> Result<(async_graphql::Response, Option<Decision>), Decision> {
    // Before anything reads the document: a persisted query's hash may
    // stand for it.
    let persisted = resolve_persisted(state, caller, &mut request).await;
    let decision = rate_limit(state, caller, address, &mut request).await?;
    if let Err(error) = persisted {
        return Ok((error_body(error), decision));
    }
    let request = request
        .data(caller.clone())
        .data(client.clone())
        .data(loaders::new(&state.app))
        .data(loaders::audit(state.app.audit.clone()));
    Ok((state.schema.execute(request).await, decision))
}

/// Gives the request the document its `extensions.persistedQuery` names,
/// registering the one it carries (Apollo's automatic persisted queries).
async fn resolve_persisted(
    state: &HttpState,
    caller: &Caller,
    request: &mut async_graphql::Request,
) -> Result<(), ApiError> {
    let bounds = DocumentBounds::from(&*state.app.config);
    let max_bytes = state.app.config.server.max_body_bytes;
    let trusted = state.trusted.as_deref();
    persisted_query::resolve(
        &state.persisted,
        trusted,
        caller,
        request,
        &bounds,
        max_bytes,
    )
    .await
}

/// The answer to a request of one operation.
fn single(
    media: Media,
    executed: &async_graphql::Response,
    decision: Option<Decision>,
) -> Response {
    let status = if all_unavailable(executed) {
        StatusCode::SERVICE_UNAVAILABLE
    } else if media == Media::GraphQLResponse && not_executed(executed) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut response = answer(media, status, &body_of(executed));
    if status == StatusCode::SERVICE_UNAVAILABLE {
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

/// Whether the request never ran: it did not parse or validate, or its
/// variables did not fit. Such a response has no data and only errors
/// that point at no field (an error raised while a field resolves names
/// the field's path).
fn not_executed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// The response as JSON. A request that never ran has no `data` entry at
/// all (the GraphQL specification's "request error"), not `"data": null`.
fn body_of(response: &async_graphql::Response) -> serde_json::Value {
    let mut body = serde_json::to_value(response).unwrap_or_default();
    if not_executed(response)
        && let Some(fields) = body.as_object_mut()
    {
        fields.remove("data");
    }
    body
}

fn answer(media: Media, status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response()
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
/// with the refusal when the request must not run.
async fn rate_limit(
    state: &HttpState,
    caller: &Caller,
    address: Option<std::net::IpAddr>,
    request: &mut async_graphql::Request,
) -> Result<Option<Decision>, Decision> {
    if !state.app.config.rate_limits.enabled {
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
        Err(decision)
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

/// Whole seconds until a refused request would be allowed; at least 1.
fn retry_after(d: &Decision) -> u64 {
    seconds(d.retry_after).max(1)
}

fn rate_limited(d: &Decision) -> Response {
    let retry_after = retry_after(d);
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

/// GET /graphql: a WebSocket upgrade for subscriptions; a query sent in
/// the URL's parameters (`query`, `variables`, `operationName`,
/// `extensions`), as the GraphQL-over-HTTP specification says; or, for
/// a browser that asks for HTML with no query, GraphiQL.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ClientAddress(address): ClientAddress,
    req: Request,
) -> Response {
    let (mut parts, _body) = req.into_parts();
    let wants_socket = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_socket {
        return websocket::upgrade(state, &mut parts).await;
    }
    let params = match Query::<GetParams>::try_from_uri(&parts.uri) {
        Ok(Query(params)) => params,
        Err(e) => return bad_request(format!("the URL's parameters do not read: {e}")),
    };
    if params.query.is_none() && params.extensions.is_none() {
        if accept::prefers_html(&parts.headers) {
            return graphiql::serve(&state, &parts.headers);
        }
        return bad_request("GET /graphql takes the operation in a `query` parameter".into());
    }
    if params.nests_too_deep() {
        return BodyRejection::NestedTooDeep.into_response();
    }
    let mut request = match params.into_request() {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let caller = match authenticate(&state, &parts.headers).await {
        Ok(caller) => caller,
        Err(refused) => return refused,
    };
    // A hash may stand for a mutation: resolved first, it is refused as
    // any mutation over GET. A hash that does not resolve is answered
    // when the request runs (it keeps its `persistedQuery`).
    let _ = resolve_persisted(&state, &caller, &mut request).await;
    let bounds = DocumentBounds::from(&*state.app.config);
    if operation_class::operation_type(&mut request, &bounds) == Some(OperationType::Mutation) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ApiError::new(
                Code::OperationNotAllowed,
                "a mutation runs only in a POST request",
            ),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    serve(
        &state,
        &caller,
        address,
        &parts.headers,
        BatchRequest::Single(request),
    )
    .await
}

/// The parameters of a `GET /graphql`; `variables` and `extensions` are
/// JSON objects written as text.
#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    /// Whether `variables` or `extensions` nest deeper than a POST body
    /// may: refused as that body would be.
    fn nests_too_deep(&self) -> bool {
        [&self.variables, &self.extensions]
            .into_iter()
            .flatten()
            .any(|t| json_nests_past(t.as_bytes(), JSON_MAX_NESTING))
    }

    /// The same request a POST body with these members would be.
    fn into_request(self) -> Result<async_graphql::Request, String> {
        let json = |name: &str, text: Option<String>| match text.filter(|t| !t.is_empty()) {
            None => Ok(serde_json::Value::Null),
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| format!("the `{name}` parameter is not JSON: {e}")),
        };
        let body = serde_json::json!({
            "query": self.query.unwrap_or_default(),
            "operationName": self.operation_name,
            "variables": json("variables", self.variables)?,
            "extensions": json("extensions", self.extensions)?,
        });
        serde_json::from_value(body).map_err(|e| format!("not a GraphQL request: {e}"))
    }
}

fn bad_request(message: String) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        ApiError::new(Code::BadUserInput, message),
    )
}

pub async fn schema_sdl(State(state): State<HttpState>) -> Response {
    if !state.app.config.graphql.introspection {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        crate::graphql::sdl(),
    )
        .into_response()
}
