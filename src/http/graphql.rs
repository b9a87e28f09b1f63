use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    extract::{FromRequestParts, Request, State, WebSocketUpgrade},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use super::HttpState;
use crate::graphql::{errors::Code, loaders};

pub async fn post_graphql(
    State(state): State<HttpState>,
    headers: HeaderMap,
    req: GraphQLRequest,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match state.app.auth.authenticate(authorization).await {
        Ok(caller) => caller,
        // Fail closed: without the session store a token cannot be
        // checked, and a revoked one must not come back.
        Err(e) => {
            tracing::error!(error = %e, "cannot check the session");
            return unavailable();
        }
    };
    let request = req
        .into_inner()
        .data(caller)
        .data(loaders::new(state.app.db.clone()))
        .data(loaders::audit(state.app.audit.clone()));
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

fn unavailable() -> Response {
    let body = serde_json::json!({
        "errors": [{
            "message": "the service is temporarily unavailable",
            "extensions": {"code": Code::Internal.as_str()}
        }]
    });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
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
        let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        };
        let schema = state.schema.clone();
        return upgrade
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            .on_upgrade(move |socket| GraphQLWebSocket::new(socket, schema, protocol).serve())
            .into_response();
    }
    if !state.app.config.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .title("paygraph")
            .finish(),
    )
    .into_response()
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
