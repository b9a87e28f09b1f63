use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, spawn_app, spawn_app_with},
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

async fn metrics_count_requests_per_root_field_and_errors_per_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    app.gql("query Mine { me { id } }", json!({}), Some(&user.token))
        .await;
    app.gql("mutation { logout }", json!({}), None).await;
    app.gql("{ nope }", json!({}), None).await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "paygraph_graphql_requests_total{operation=\"query.me\"} 1",
        "paygraph_graphql_requests_total{operation=\"mutation.logout\"} 1",
        "paygraph_graphql_requests_total{operation=\"invalid\"} 1",
        "paygraph_graphql_errors_total{code=\"UNAUTHENTICATED\"} 1",
        "paygraph_graphql_request_duration_seconds_count{operation=\"query.me\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert!(
        !text.contains("Mine"),
        "a client's name became a label: {text}"
    );
}

/// The metric series of a rendering (every line that is not a comment,
/// without its value), sorted.
fn series(text: &str) -> Vec<&str> {
    let mut all: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').map_or(l, |(series, _)| series))
        .collect();
    all.sort_unstable();
    all
}

async fn client_chosen_operation_names_add_no_series(backend: Backend) {
    let app = spawn_app(backend).await;
    app.gql("{ __typename }", json!({}), None).await;
    let before = app.get("/metrics").await.text().await.unwrap();
    let mut junk = Vec::new();
    for _ in 0..3 {
        let name = format!("Junk{}", uuid::Uuid::new_v4().simple());
        app.post_json(
            &json!({"query": format!("query {name} {{ __typename }}"), "operationName": name}),
            None,
        )
        .await;
        junk.push(name);
    }
    let after = app.get("/metrics").await.text().await.unwrap();
    assert_eq!(series(&before), series(&after), "{after}");
    for name in junk {
        assert!(!after.contains(&name), "{name} in {after}");
    }
    assert!(
        after.contains("paygraph_graphql_requests_total{operation=\"query.__typename\"} 4"),
        "{after}"
    );
}

/// Every family the process exports, as the catalogue names them.
const FAMILIES: &[(&str, &str)] = &[
    ("paygraph_graphql_requests_total", "counter"),
    ("paygraph_graphql_request_duration_seconds", "histogram"),
    ("paygraph_graphql_errors_total", "counter"),
    ("paygraph_websocket_connections", "gauge"),
    ("paygraph_db_statements_total", "counter"),
    ("paygraph_db_statement_duration_seconds", "histogram"),
    ("paygraph_db_statement_errors_total", "counter"),
    ("paygraph_audit_relay_events_total", "counter"),
    ("paygraph_audit_relay_failures_total", "counter"),
    ("paygraph_audit_outbox_depth", "gauge"),
    ("paygraph_audit_relay_lag_seconds", "gauge"),
    ("paygraph_transfer_batches_total", "counter"),
    ("paygraph_transfer_batched_requests_total", "counter"),
    ("paygraph_rate_limit_fallback_total", "counter"),
    ("paygraph_redis_breaker_opened_total", "counter"),
];

async fn every_metric_family_has_help_and_a_type_from_start(backend: Backend) {
    let app = spawn_app(backend).await;
    // Before any GraphQL request, every family is there.
    let text = app.get("/metrics").await.text().await.unwrap();
    for (family, kind) in FAMILIES {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {family}: {text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} is not a {kind}: {text}"
        );
    }
    // Durations are histograms with buckets, per root field from start.
    assert!(
        text.contains("paygraph_graphql_request_duration_seconds_bucket{operation=\"mutation.transfer\",le=\"0.1\"} 0"),
        "{text}"
    );
    app.register().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("paygraph_db_statement_duration_seconds_bucket{le=\"+Inf\"}"),
        "{text}"
    );
    // Every series belongs to a family with HELP and TYPE.
    for series in series(&text) {
        let name = series.split('{').next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|base| text.contains(&format!("# TYPE {base} histogram")))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {series}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {series}"
        );
    }
}

/// A GET as a browser's address bar sends it: asking for HTML.
async fn browser_get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{}", app.address, path))
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .expect("request reaches the server")
}

async fn graphiql_and_the_schema_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = browser_get(&app, "/graphql").await;
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
    assert_eq!(browser_get(&app, "/graphql").await.status(), 404);
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
    metrics_count_requests_per_root_field_and_errors_per_code,
    client_chosen_operation_names_add_no_series,
    every_metric_family_has_help_and_a_type_from_start,
    graphiql_and_the_schema_are_served,
    every_response_carries_a_request_id,
    introspection_and_graphiql_can_be_switched_off,
    the_websocket_endpoint_speaks_graphql_transport_ws,
);
