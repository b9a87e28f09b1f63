//! Apollo's automatic persisted queries (`extensions.persistedQuery`),
//! over POST and GET: a hash the server does not know asks the client for
//! the document; a document sent with its hash is registered, for every
//! instance when Redis is configured.

use reqwest::header;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, spawn_app},
};

both_backends!(
    an_unknown_hash_asks_for_the_document,
    a_registered_document_runs_by_its_hash_over_post_and_get,
    a_hash_that_is_not_the_querys_is_bad_user_input,
    a_registered_mutation_is_still_refused_over_get,
    a_document_past_the_bounds_is_refused_and_not_registered,
);

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

/// A POST of the hash, with the document when `query` is given.
async fn post(app: &TestApp, hash: &str, query: Option<&str>, variables: Value) -> Value {
    let mut body = json!({"extensions": persisted(hash), "variables": variables});
    if let Some(q) = query {
        body["query"] = json!(q);
    }
    app.post_json(&body, None).await.json().await.unwrap()
}

/// A GET of the hash alone, as Apollo's clients send it.
async fn get(
    app: &TestApp,
    hash: &str,
    variables: Value,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.get(format!("{}/graphql", app.address)).query(&[
        ("extensions", persisted(hash).to_string()),
        ("variables", variables.to_string()),
    ]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request reaches the server")
}

fn assert_not_found(body: &Value) {
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
    assert_eq!(error_code(body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
}

const QUERY: &str = "query T($n: String!) { __type(name: $n) { name } }";

async fn an_unknown_hash_asks_for_the_document(backend: Backend) {
    let app = spawn_app(backend).await;
    let hash = sha256_hex(QUERY);
    assert_not_found(&post(&app, &hash, None, json!({"n": "Money"})).await);
    let res = get(&app, &hash, json!({"n": "Money"}), None).await;
    assert_eq!(res.status(), 200);
    assert_not_found(&res.json().await.unwrap());
}

async fn a_registered_document_runs_by_its_hash_over_post_and_get(backend: Backend) {
    let app = spawn_app(backend).await;
    let hash = sha256_hex(QUERY);
    let first = post(&app, &hash, Some(QUERY), json!({"n": "Money"})).await;
    assert_eq!(first["data"]["__type"]["name"], "Money", "{first}");

    let by_post = post(&app, &hash, None, json!({"n": "Wallet"})).await;
    assert_eq!(by_post["data"]["__type"]["name"], "Wallet", "{by_post}");
    // An uppercase hash names the same document.
    let upper = post(&app, &hash.to_uppercase(), None, json!({"n": "User"})).await;
    assert_eq!(upper["data"]["__type"]["name"], "User", "{upper}");

    let res = get(&app, &hash, json!({"n": "Money"}), None).await;
    assert_eq!(res.status(), 200);
    let by_get: Value = res.json().await.unwrap();
    assert_eq!(by_get["data"]["__type"]["name"], "Money", "{by_get}");
}

async fn a_hash_that_is_not_the_querys_is_bad_user_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = sha256_hex("{ __typename }");
    let body = post(&app, &other, Some(QUERY), json!({"n": "Money"})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    // Nothing was registered under the wrong hash.
    assert_not_found(&post(&app, &other, None, json!({})).await);

    let v2 = json!({
        "query": QUERY,
        "variables": {"n": "Money"},
        "extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha256_hex(QUERY)}},
    });
    let body: Value = app.post_json(&v2, None).await.json().await.unwrap();
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

/// A hash standing for a mutation is a mutation: over GET, 405 and nothing
/// runs.
async fn a_registered_mutation_is_still_refused_over_get(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.register().await;
    let second = app.register().await;
    let logout = "mutation { logout }";
    let hash = sha256_hex(logout);
    let body = json!({"query": logout, "extensions": persisted(&hash)});
    let out: Value = app
        .post_json(&body, Some(&first.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["data"]["logout"], true, "{out}");

    let res = get(&app, &hash, json!({}), Some(&second.token)).await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()[header::ALLOW], "POST");
    let me = app.me(&second.token).await;
    assert_eq!(me["data"]["me"]["email"], second.email.as_str(), "{me}");
}

/// The document bounds apply to a document sent with its hash as to any,
/// and one past them is not registered.
async fn a_document_past_the_bounds_is_refused_and_not_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let depth = app.config.graphql.max_nesting + 1;
    let deep = format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth));
    let hash = sha256_hex(&deep);
    let body = post(&app, &hash, Some(&deep), json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert_not_found(&post(&app, &hash, None, json!({})).await);
}

/// With Redis, a document registered through one instance runs by its
/// hash through another.
#[tokio::test]
async fn a_document_registered_on_one_instance_runs_on_another() {
    let a = spawn_app(Backend::Postgres).await;
    let b = a.spawn_sibling().await;
    let hash = sha256_hex(QUERY);
    assert_not_found(&post(&b, &hash, None, json!({"n": "Money"})).await);
    let first = post(&a, &hash, Some(QUERY), json!({"n": "Money"})).await;
    assert_eq!(first["data"]["__type"]["name"], "Money", "{first}");
    let on_b = post(&b, &hash, None, json!({"n": "Wallet"})).await;
    assert_eq!(on_b["data"]["__type"]["name"], "Wallet", "{on_b}");
    let res = get(&b, &hash, json!({"n": "Money"}), None).await;
    let by_get: Value = res.json().await.unwrap();
    assert_eq!(by_get["data"]["__type"]["name"], "Money", "{by_get}");
}
