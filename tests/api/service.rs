use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, spawn_app, spawn_app_with},
};

async fn health_and_readiness_name_each_backend(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    let (db, cache) = match backend {
        Backend::Sqlite => ("sqlite", "in-process"),
        Backend::Postgres => ("postgres", "redis"),
    };
    assert_eq!(
        body["backends"]["database"],
        json!({"kind": db, "state": "up"}),
        "{body}"
    );
    assert_eq!(
        body["backends"]["cache"],
        json!({"kind": cache, "state": "up"}),
        "{body}"
    );
}

async fn metrics_count_requests_per_operation_and_errors_per_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let op = format!("Probe{}", uuid::Uuid::new_v4().simple());
    app.post_json(
        &json!({"query": format!("query {op} {{ __typename }}"), "operationName": op}),
        None,
    )
    .await;
    app.gql("mutation { logout }", json!({}), None).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "paygraph_graphql_requests_total{{operation=\"{op}\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("paygraph_graphql_errors_total{code=\"UNAUTHENTICATED\"}"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "paygraph_graphql_request_duration_seconds_count{{operation=\"{op}\"}}"
    )));
}

async fn graphiql_and_the_schema_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
    let sdl = app.get("/schema.graphql").await.text().await.unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(sdl, checked_in);
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/healthz").await;
    let id = res.headers().get("x-request-id").expect("a request id");
    assert!(!id.is_empty());
}

async fn introspection_and_graphiql_can_be_switched_off(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.introspection = false;
        c.graphiql = false;
    })
    .await;
    let body = app
        .gql("{ __schema { types { name } } }", json!({}), None)
        .await;
    assert!(
        body["data"]["__schema"].is_null(),
        "the schema was introspected: {body}"
    );
    assert_eq!(app.get("/graphql").await.status(), 404);
    assert_eq!(app.get("/schema.graphql").await.status(), 404);
    // Ordinary queries still work.
    let ok = app.gql("{ __typename }", json!({}), None).await;
    assert_eq!(ok["data"]["__typename"], "Query");
}

async fn the_websocket_endpoint_speaks_graphql_transport_ws(backend: Backend) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let url = format!("{}/graphql", app.address.replace("http", "ws"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "graphql-transport-ws"
    );
    socket
        .send(Message::text(
            serde_json::json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", user.token)}})
                .to_string(),
        ))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert_eq!(
        ack.into_text().unwrap().as_str(),
        r#"{"type":"connection_ack"}"#
    );
}

both_backends!(
    health_and_readiness_name_each_backend,
    metrics_count_requests_per_operation_and_errors_per_code,
    graphiql_and_the_schema_are_served,
    every_response_carries_a_request_id,
    introspection_and_graphiql_can_be_switched_off,
    the_websocket_endpoint_speaks_graphql_transport_ws,
);
