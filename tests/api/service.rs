use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_with},
};

async fn health_and_readiness_name_each_backend(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    // A load balancer polls: on a loaded machine the first database probe
    // may miss its deadline (503) just after start-up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let body: Value = loop {
        let ready = app.get("/readyz").await;
        let status = ready.status();
        let body: Value = ready.json().await.unwrap();
        if status == 200 {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 20 s after start: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
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
    ("paygraph_transactions_total", "counter"),
    ("paygraph_fraud_score", "histogram"),
    ("paygraph_fraud_decisions_total", "counter"),
    ("paygraph_db_pool_connections", "gauge"),
    ("paygraph_db_pool_max_connections", "gauge"),
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
        c.graphql.introspection = false;
        c.graphql.graphiql = false;
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

/// The balance-change series of `currency` and `operation`: how many
/// changes, and how many minor units they moved (`None` for a series that
/// does not exist).
fn balance_changes(text: &str, currency: &str, operation: &str) -> (Option<f64>, Option<f64>) {
    let labels = [
        format!("currency=\"{currency}\""),
        format!("operation=\"{operation}\""),
    ];
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    (
        sample(text, "paygraph_balance_changes_total", &labels),
        sample(text, "paygraph_balance_change_minor_units_total", &labels),
    )
}

async fn balance_changes_are_counted_once_committed_per_currency_and_operation(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.fees.transfer_percent = "1".parse().unwrap()).await;
    let ada = app.register().await;
    let bob = app.register().await;
    // USD 100.00 by card: 96.80 credited, 3.20 fee. EUR 10.00: 9.46 and 0.54.
    let wallet = app.funded_wallet(&ada.token, "USD", "100.00").await;
    app.funded_wallet(&bob.token, "EUR", "10.00").await;
    app.create_wallet(&bob.token, "USD").await;
    // 5.00 with a 1% fee: 5.05 out, 5.00 in, 0.05 fee.
    let sent = app
        .transfer(&ada.token, &bob.email, "5.00", "USD", "b-1")
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");
    // Its replay, and refused payments, change nothing and count nothing.
    let replay = app
        .transfer(&ada.token, &bob.email, "5.00", "USD", "b-1")
        .await;
    assert_eq!(
        replay["data"]["transfer"]["id"],
        sent["data"]["transfer"]["id"]
    );
    let too_much = app
        .transfer(&ada.token, &bob.email, "200.00", "USD", "b-2")
        .await;
    assert_eq!(error_code(&too_much), "INSUFFICIENT_FUNDS", "{too_much}");
    let nobody = app
        .transfer(&ada.token, "nobody@example.com", "1.00", "USD", "b-3")
        .await;
    assert!(nobody.get("errors").is_some(), "{nobody}");
    // 40.00 out with a 0.25 fee: 40.25 reserved, then paid out.
    let link = "mutation { linkBankAccount(input: {accountType: CHECKING, accountNumber: \"000123456789\", routingNumber: \"021000021\", bankName: \"Chase\"}) { id } }";
    let account = app.ok(link, json!({}), &ada.token).await["linkBankAccount"]["id"].clone();
    let withdraw = "mutation($i: WithdrawInput!) { withdraw(input: $i) { id status } }";
    let paid = app
        .ok(withdraw, json!({"i": {"walletId": wallet, "accountId": account, "amount": "40.00", "idempotencyKey": "w-1"}}), &ada.token)
        .await;
    let refused = app
        .gql(withdraw, json!({"i": {"walletId": wallet, "accountId": account, "amount": "60.00", "idempotencyKey": "w-2"}}), Some(&ada.token))
        .await;
    assert_eq!(error_code(&refused), "INSUFFICIENT_FUNDS", "{refused}");
    let id = paid["withdraw"]["id"].as_str().unwrap();
    assert_eq!(app.settled(&ada.token, id).await["status"], "COMPLETED");

    // The settlement worker counts right after its commit, which the
    // status read above may see first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        if balance_changes(&text, "USD", "withdrawal").0 == Some(1.0)
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for (currency, operation, count, minor) in [
        ("USD", "deposit", 1.0, 9680.0),
        ("USD", "fee", 3.0, 320.0 + 5.0 + 25.0),
        ("USD", "transfer_out", 1.0, 505.0),
        ("USD", "transfer_in", 1.0, 500.0),
        ("USD", "reserve", 1.0, 4025.0),
        ("USD", "withdrawal", 1.0, 4025.0),
        ("EUR", "deposit", 1.0, 946.0),
        ("EUR", "fee", 1.0, 54.0),
    ] {
        assert_eq!(
            balance_changes(&text, currency, operation),
            (Some(count), Some(minor)),
            "{currency} {operation}: {text}"
        );
    }
    for (currency, operation) in [
        ("USD", "hold"),
        ("USD", "release"),
        ("USD", "refund_out"),
        ("EUR", "transfer_out"),
        ("EUR", "withdrawal"),
    ] {
        assert_eq!(
            balance_changes(&text, currency, operation),
            (None, None),
            "{currency} {operation}: {text}"
        );
    }
    assert_eq!(
        app.balances(&ada.token, &wallet).await,
        ("51.50".into(), "51.50".into(), "0.00".into())
    );
}

both_backends!(
    balance_changes_are_counted_once_committed_per_currency_and_operation,
    the_seeds_custom_metrics_count_transactions_fraud_checks_and_pools,
    health_and_readiness_name_each_backend,
    metrics_count_requests_per_root_field_and_errors_per_code,
    client_chosen_operation_names_add_no_series,
    every_metric_family_has_help_and_a_type_from_start,
    graphiql_and_the_schema_are_served,
    every_response_carries_a_request_id,
    introspection_and_graphiql_can_be_switched_off,
    the_websocket_endpoint_speaks_graphql_transport_ws,
);

/// The value of the series of `family` whose labels include every one of
/// `labels` (`name="value"`), summed over the series that match.
fn sample(text: &str, family: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap();
        if name == family && labels.iter().all(|l| series.contains(l)) {
            *found.get_or_insert(0.0) += value.parse::<f64>().unwrap();
        }
    }
    found
}

async fn the_seeds_custom_metrics_count_transactions_fraud_checks_and_pools(backend: Backend) {
    let app = spawn_app_with(backend, crate::dynamo::fast_relay).await;
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "100.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let sent = app
        .transfer(&ada.token, &bob.email, "5.00", "USD", "m-1")
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");

    // Fraud checks count once their records are delivered by the relay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let checks = sample(&text, "paygraph_fraud_decisions_total", &[]).unwrap_or(0.0);
        if checks >= 1.0 || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let transfers = ["type=\"transfer\"", "status=\"completed\""];
    assert_eq!(
        sample(&text, "paygraph_transactions_total", &transfers),
        Some(1.0),
        "{text}"
    );
    let deposits = ["type=\"deposit\"", "status=\"completed\""];
    assert_eq!(
        sample(&text, "paygraph_transactions_total", &deposits),
        Some(1.0),
        "{text}"
    );
    let refunds = ["type=\"refund\""];
    assert_eq!(
        sample(&text, "paygraph_transactions_total", &refunds),
        Some(0.0),
        "{text}"
    );
    // The transfer was checked and let through.
    let allowed = sample(
        &text,
        "paygraph_fraud_decisions_total",
        &["decision=\"allow\""],
    );
    assert!(allowed >= Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "paygraph_fraud_decisions_total",
            &["decision=\"review\""]
        ),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "paygraph_fraud_score_count", &[]) >= Some(1.0),
        "{text}"
    );
    // The pools, as this scrape found them.
    let db = sample(&text, "paygraph_db_pool_connections", &[]);
    assert!(db >= Some(1.0), "{text}");
    let redis = sample(&text, "paygraph_redis_pool_connections", &[]);
    match backend {
        Backend::Postgres => assert!(redis >= Some(1.0), "{text}"),
        Backend::Sqlite => assert_eq!(redis, None, "{text}"),
    }
    // And the most they open, for saturation (in use against the most).
    let db_max = sample(&text, "paygraph_db_pool_max_connections", &[]);
    assert!(db_max >= db, "{text}");
    let redis_max = sample(&text, "paygraph_redis_pool_max_connections", &[]);
    match backend {
        Backend::Postgres => {
            let configured = f64::from(app.config.database.max_connections);
            assert_eq!(db_max, Some(configured), "{text}");
            let configured = f64::from(app.config.redis.pool_size);
            assert_eq!(redis_max, Some(configured), "{text}");
        }
        Backend::Sqlite => assert_eq!(redis_max, None, "{text}"),
    }
}
