//! The HTTP edge as a GraphQL-over-HTTP client sees it: queries in a GET's
//! URL, mutations only over POST, the answer's media type and status from
//! `Accept`, GraphiQL only for a browser, batches, CORS
//! (`PAYGRAPH_CORS_ORIGINS`) and the WebSocket upgrade's Origin check, and
//! the specification's own server audit (npm graphql-http's `auditServer`,
//! tests/http-audit/).

use reqwest::{Method, header};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app, spawn_app_with, unique_email},
    ws::Ws,
};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

both_backends!(
    a_get_runs_a_query_as_a_post_would,
    a_mutation_over_get_is_405_and_runs_nothing,
    a_batch_answers_each_operation_in_order,
    each_operation_of_a_batch_counts_against_the_rate_limit,
    a_large_answer_is_compressed_when_the_client_accepts_it,
    a_websocket_subscription_works_for_a_client_that_accepts_compression,
);

/// `GET /graphql` with `params` in the URL and an optional Accept.
async fn get(
    app: &TestApp,
    params: &[(&str, &str)],
    accept: Option<&str>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request reaches the server")
}

/// A POST of `body` with the given Accept.
async fn post(app: &TestApp, body: &Value, accept: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(body);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    req.send().await.expect("request reaches the server")
}

fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn a_get_runs_a_query_as_a_post_would(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let query = "query Me($n: String!) { me { email } t: __type(name: $n) { name } }";
    let res = get(
        &app,
        &[
            ("query", query),
            ("variables", r#"{"n": "Money"}"#),
            ("operationName", "Me"),
        ],
        None,
        Some(&user.token),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(
        content_type(&res).starts_with("application/json"),
        "{res:?}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["me"]["email"], user.email.as_str(), "{body}");
    assert_eq!(body["data"]["t"]["name"], "Money", "{body}");

    // The operation named in `operationName` is the one that runs.
    let two = "query A { __typename } query B { b: __typename }";
    let res = get(&app, &[("query", two), ("operationName", "B")], None, None).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], json!({"b": "Query"}), "{body}");

    // Variables that are not JSON are the client's mistake.
    let res = get(
        &app,
        &[("query", query), ("variables", "{nope")],
        None,
        None,
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

async fn a_mutation_over_get_is_405_and_runs_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let logout = get(
        &app,
        &[("query", "mutation { logout }")],
        None,
        Some(&user.token),
    )
    .await;
    assert_eq!(logout.status(), 405);
    assert_eq!(logout.headers()[header::ALLOW], "POST");
    let body: Value = logout.json().await.unwrap();
    assert_eq!(error_code(&body), "OPERATION_NOT_ALLOWED", "{body}");
    // The session is still good: nothing ran.
    let me = app.me(&user.token).await;
    assert_eq!(me["data"]["me"]["email"], user.email.as_str(), "{me}");

    // Named among queries, the mutation is still refused; the query is not.
    let doc = "query Q { __typename } mutation M { logout }";
    let res = get(
        &app,
        &[("query", doc), ("operationName", "M")],
        None,
        Some(&user.token),
    )
    .await;
    assert_eq!(res.status(), 405);
    let res = get(
        &app,
        &[("query", doc), ("operationName", "Q")],
        None,
        Some(&user.token),
    )
    .await;
    assert_eq!(res.status(), 200);
}

/// With `Accept: application/graphql-response+json`, a document that does
/// not parse or validate, or whose variables do not fit, is a 400 with no
/// `data`; with `application/json` (or no Accept, or `*/*`), the same
/// answers are 200 in `application/json`.
#[tokio::test]
async fn the_accept_header_chooses_the_media_type_and_the_status() {
    let app = spawn_app(Backend::Sqlite).await;
    let broken = [
        json!({"query": "{"}),
        json!({"query": "{ noSuchField }"}),
        json!({"query": "query($id: ID!) { node(id: $id) { id } }", "variables": {"id": null}}),
    ];
    for body in &broken {
        let res = post(&app, body, Some(GRAPHQL_RESPONSE)).await;
        assert_eq!(res.status(), 400, "{body}");
        assert!(content_type(&res).starts_with(GRAPHQL_RESPONSE), "{res:?}");
        let answer: Value = res.json().await.unwrap();
        assert!(answer.get("data").is_none(), "{answer}");
        assert!(answer["errors"][0]["message"].is_string(), "{answer}");
        for accept in [Some("application/json"), Some("*/*"), None] {
            let res = post(&app, body, accept).await;
            assert_eq!(res.status(), 200, "{body} {accept:?}");
            assert!(
                content_type(&res).starts_with("application/json"),
                "{accept:?}: {res:?}"
            );
        }
    }
    // A query that runs is a 200 in the media type asked for, over GET too.
    let ok = json!({"query": "{ __typename }"});
    let res = post(&app, &ok, Some(GRAPHQL_RESPONSE)).await;
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with(GRAPHQL_RESPONSE));
    let res = get(&app, &[("query", "{ nope }")], Some(GRAPHQL_RESPONSE), None).await;
    assert_eq!(res.status(), 400);
    let res = get(
        &app,
        &[("query", "{ nope }")],
        Some("application/json"),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(content_type(&res).starts_with("application/json"));
}

/// GraphiQL is for a browser's GET with no operation in it; any other GET
/// without a query is a GraphQL error, and a GET with one runs it.
#[tokio::test]
async fn graphiql_is_served_only_to_a_browser_that_sends_no_query() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = get(&app, &[], Some(BROWSER), None).await;
    assert_eq!(page.status(), 200);
    assert!(content_type(&page).starts_with("text/html"));
    for accept in [None, Some("*/*"), Some("application/json")] {
        let res = get(&app, &[], accept, None).await;
        assert_eq!(res.status(), 400, "{accept:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    // A browser that puts a query in the URL gets the query's answer.
    let res = get(&app, &[("query", "{ __typename }")], Some(BROWSER), None).await;
    assert_eq!(res.status(), 200);
    assert!(
        content_type(&res).starts_with("application/json"),
        "{res:?}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
    // So does one with only `extensions` (a persisted query's hash).
    let res = get(&app, &[("extensions", "{}")], Some(BROWSER), None).await;
    assert!(
        content_type(&res).starts_with("application/json"),
        "{res:?}"
    );
}

/// The GraphQL-over-HTTP specification's server audit: every MUST and
/// every SHOULD passes.
#[tokio::test]
async fn the_graphql_over_http_audit_passes_with_no_warning() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http-audit");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/graphql-http")
            .is_dir(),
        "the audit's npm packages are missing: run `npm ci --prefix tests/http-audit` \
         (scripts/test does)"
    );
    let app = spawn_app(Backend::Sqlite).await;
    let output = tokio::process::Command::new("node")
        .arg("audit.mjs")
        .arg(format!("{}/graphql", app.address))
        .current_dir(dir)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the audit failed to run: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the audit printed no JSON ({e}): {stdout}"));
    assert!(results.len() > 40, "{results:?}");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["status"] == "error" || r["status"] == "warn")
        .map(|r| format!("{} {} {}: {}", r["status"], r["id"], r["name"], r["reason"]))
        .collect();
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    println!(
        "graphql-http audit: {} ok, {} notice, {} warn, {} error",
        count("ok"),
        count("notice"),
        count("warn"),
        count("error")
    );
    assert!(failed.is_empty(), "the audit found:\n{}", failed.join("\n"));
}

async fn a_batch_answers_each_operation_in_order(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.graphql.max_aliases = 2).await;
    let user = app.register().await;
    let batch = json!([
        {"query": "{ me { email } }"},
        {"query": "query T($n: String!) { __type(name: $n) { name } }", "variables": {"n": "Money"}},
        {"query": "{ noSuchField }"},
        // Past the alias limit alone: only this operation is refused.
        {"query": "{ a: __typename b: __typename c: __typename }"},
        {"query": "mutation { logout }"},
    ]);
    let res = app.post_json(&batch, Some(&user.token)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let results = body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"));
    assert_eq!(results.len(), 5, "{body}");
    assert_eq!(
        results[0]["data"]["me"]["email"],
        user.email.as_str(),
        "{body}"
    );
    assert_eq!(results[1]["data"]["__type"]["name"], "Money", "{body}");
    assert!(results[2].get("data").is_none(), "{body}");
    assert!(results[2]["errors"][0]["message"].is_string(), "{body}");
    assert_eq!(error_code(&results[3]), "QUERY_TOO_COMPLEX", "{body}");
    assert_eq!(results[4]["data"]["logout"], true, "{body}");
    // The batch's mutation ran: the session is over.
    let me = app.me(&user.token).await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED", "{me}");
}

/// A batch larger than `PAYGRAPH_MAX_BATCH` is one error, and runs nothing.
#[tokio::test]
async fn a_batch_past_the_limit_is_one_error() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.graphql.max_batch = 2).await;
    let register = |email: String| {
        json!({
            "query": "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            "variables": {"i": {"email": email, "password": PASSWORD, "firstName": "A", "lastName": "B"}},
        })
    };
    let emails: Vec<String> = (0..3).map(|_| unique_email("batch")).collect();
    let res = app
        .post_json(
            &Value::Array(emails.iter().cloned().map(register).collect()),
            None,
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(body.is_object(), "{body}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most 2"),
        "{body}"
    );
    let login = app.login(&emails[0], PASSWORD).await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED", "{login}");
    // At the limit, the batch runs.
    let res = app
        .post_json(
            &Value::Array(emails[..2].iter().cloned().map(register).collect()),
            None,
        )
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");
    assert!(body[1]["data"]["register"]["token"].is_string(), "{body}");
}

async fn each_operation_of_a_batch_counts_against_the_rate_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.auth.limit = 3).await;
    let logins: Vec<Value> = (0..5)
        .map(|_| {
            json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
                "variables": {"i": {"email": unique_email("nobody"), "password": "wrong password"}},
            })
        })
        .collect();
    let res = app.post_json(&Value::Array(logins), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let body: Value = res.json().await.unwrap();
    let codes: Vec<&str> = body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"))
        .iter()
        .map(error_code)
        .collect();
    assert_eq!(
        codes,
        [
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            "RATE_LIMITED",
            "RATE_LIMITED"
        ],
        "{body}"
    );
    assert!(
        body[3]["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() >= Some(1),
        "{body}"
    );
    // The batch spent the budget: a login sent alone is refused too.
    let res = app
        .post_json(
            &json!({
                "query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
                "variables": {"i": {"email": unique_email("nobody"), "password": "x"}},
            }),
            None,
        )
        .await;
    assert_eq!(res.status(), 429);
}

const ORIGINS: &str = "https://app.example.com, *.example.org";

/// A POST of `{ __typename }` from a page at `origin`.
async fn post_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.address))
        .header(header::ORIGIN, origin)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .expect("request reaches the server")
}

fn allowed_origin(res: &reqwest::Response) -> Option<&str> {
    res.headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn listed_origins_get_cors_headers_and_others_none() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.server.cors_origins = Some(ORIGINS.into())
    })
    .await;
    for origin in ["https://app.example.com", "https://shop.example.org"] {
        let res = post_from(&app, origin).await;
        assert_eq!(res.status(), 200);
        assert_eq!(allowed_origin(&res), Some(origin), "{res:?}");
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
                .is_none()
        );
        let exposed = res.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
    }
    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://example.org",
        // The embedded default's localhost is not in an explicit list.
        "http://localhost:5173",
    ] {
        let res = post_from(&app, origin).await;
        assert_eq!(allowed_origin(&res), None, "{origin}: {res:?}");
    }
}

#[tokio::test]
async fn a_preflight_for_a_post_with_a_token_is_answered_and_cached() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.server.cors_origins = Some(ORIGINS.into())
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/graphql", app.address))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "authorization, content-type",
            )
            .send()
    };
    let res = preflight("https://app.example.com").await.unwrap();
    assert!(res.status().is_success(), "{res:?}");
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_ascii_lowercase())
            .unwrap_or_default()
    };
    assert_eq!(
        header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        "https://app.example.com"
    );
    assert!(
        header(header::ACCESS_CONTROL_ALLOW_METHODS).contains("post"),
        "{res:?}"
    );
    let allowed = header(header::ACCESS_CONTROL_ALLOW_HEADERS);
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert_eq!(header(header::ACCESS_CONTROL_MAX_AGE), "600");
    assert_eq!(header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS), "");

    let res = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(allowed_origin(&res), None, "{res:?}");
}

/// Unset, the embedded default lets local development servers in; a
/// deployment on PostgreSQL lets no other origin in.
#[tokio::test]
async fn unset_origins_mean_localhost_in_the_embedded_default_and_none_elsewhere() {
    let embedded = spawn_app(Backend::Sqlite).await;
    for origin in ["http://localhost:5173", "http://127.0.0.1:3000"] {
        let res = post_from(&embedded, origin).await;
        assert_eq!(allowed_origin(&res), Some(origin), "{res:?}");
    }
    assert_eq!(
        allowed_origin(&post_from(&embedded, "https://app.example.com").await),
        None
    );
    let production = spawn_app(Backend::Postgres).await;
    assert_eq!(
        allowed_origin(&post_from(&production, "http://localhost:5173").await),
        None
    );
}

/// Opens a graphql-transport-ws socket with the given Origin; the HTTP
/// status the upgrade was refused with, or 101.
async fn upgrade_from(app: &TestApp, origin: Option<&str>) -> u16 {
    let url = format!("{}/graphql", app.address.replace("http", "ws"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(o) = origin {
        req.headers_mut().insert("Origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("the upgrade failed otherwise: {e}"),
    }
}

#[tokio::test]
async fn a_websocket_from_an_origin_not_allowed_is_refused() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.server.cors_origins = Some(ORIGINS.into())
    })
    .await;
    assert_eq!(
        upgrade_from(&app, Some("https://evil.example.com")).await,
        403
    );
    assert_eq!(
        upgrade_from(&app, Some("https://app.example.com")).await,
        101
    );
    assert_eq!(
        upgrade_from(&app, Some("https://shop.example.org")).await,
        101
    );
    // The server's own origin (GraphiQL's page) and clients that are not
    // browsers (no Origin) are let in.
    assert_eq!(upgrade_from(&app, Some(&app.address)).await, 101);
    assert_eq!(upgrade_from(&app, None).await, 101);
}

/// The raw bytes of `path` fetched with the given Accept-Encoding, and the
/// Content-Encoding they came in. The test client decompresses nothing
/// itself (reqwest without its gzip/brotli features).
async fn fetch_encoded(
    req: reqwest::RequestBuilder,
    accept_encoding: Option<&str>,
) -> (Option<String>, Vec<u8>) {
    let req = match accept_encoding {
        Some(e) => req.header(header::ACCEPT_ENCODING, e),
        None => req,
    };
    let res = req.send().await.expect("request reaches the server");
    assert_eq!(res.status(), 200);
    let encoding = res
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap().to_owned());
    (encoding, res.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    brotli_decompressor::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// Answers above 1 KiB (the SDL, an introspection answer) come compressed
/// in the encoding the client accepts, and decompress to the plain
/// answer's bytes; a small answer comes as it is.
async fn a_large_answer_is_compressed_when_the_client_accepts_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let sdl = || app.client.get(format!("{}/schema.graphql", app.address));
    let (encoding, plain) = fetch_encoded(sdl(), None).await;
    assert_eq!(encoding, None);
    assert!(plain.len() > 1024);
    let (encoding, gzipped) = fetch_encoded(sdl(), Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert!(gzipped.len() < plain.len());
    assert_eq!(gunzip(&gzipped), plain);
    let (encoding, brotlied) = fetch_encoded(sdl(), Some("br")).await;
    assert_eq!(encoding.as_deref(), Some("br"));
    assert_eq!(unbrotli(&brotlied), plain);

    // A GraphQL answer, over POST, likewise.
    let introspection = json!({"query": "{ __schema { types { name description } } }"});
    let post = || {
        app.client
            .post(format!("{}/graphql", app.address))
            .json(&introspection)
    };
    let (encoding, plain) = fetch_encoded(post(), None).await;
    assert_eq!(encoding, None);
    assert!(plain.len() > 1024);
    let (encoding, compressed) = fetch_encoded(post(), Some("gzip, br")).await;
    let decompressed = match encoding.as_deref() {
        Some("br") => unbrotli(&compressed),
        Some("gzip") => gunzip(&compressed),
        other => panic!("not compressed: {other:?}"),
    };
    assert_eq!(decompressed, plain);

    // A small answer is not worth compressing.
    let small = || {
        app.client
            .post(format!("{}/graphql", app.address))
            .json(&json!({"query": "{ __typename }"}))
    };
    let (encoding, body) = fetch_encoded(small(), Some("gzip, br")).await;
    assert_eq!(encoding, None);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

/// A client that accepts compressed answers still gets its WebSocket
/// upgrade and its subscription's events.
async fn a_websocket_subscription_works_for_a_client_that_accepts_compression(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let wallet = app.create_wallet(&user.token, "USD").await;
    let mut ws = Ws::connect_with(
        &app,
        Some(&user.token),
        &[("Accept-Encoding", "gzip, deflate, br")],
    )
    .await
    .acked();
    ws.subscribe(
        "1",
        "subscription($id: ID) { walletUpdated(id: $id) { id balance { currency } } }",
        json!({"id": wallet}),
    )
    .await;
    let first = ws.next_payload().await;
    assert_eq!(
        first["data"]["walletUpdated"]["id"],
        wallet.as_str(),
        "{first}"
    );
    assert_eq!(
        first["data"]["walletUpdated"]["balance"]["currency"], "USD",
        "{first}"
    );
}
