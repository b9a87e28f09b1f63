//! Trusted documents (`PAYGRAPH_TRUSTED_DOCUMENTS`): with a manifest set,
//! callers run only its operations, by id or by identical body, over every
//! transport; anything else is OPERATION_NOT_ALLOWED and runs nothing.
//! Support agents run anything only with `..._SUPPORT_ANY`. The manifest is
//! checked at start-up, and `paygraph documents check` checks one before
//! it ships.

use std::{path::PathBuf, process::Command};

use reqwest::header;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, ops, spawn_app_with},
    subscriptions::WALLET_UPDATED,
    ws::{Frame, Ws},
};

both_backends!(
    a_manifest_operation_runs_by_id_over_post_get_a_batch_and_a_websocket,
    a_manifest_operation_runs_by_its_identical_body,
    a_document_outside_the_manifest_is_refused_and_moves_no_money,
    a_subscription_outside_the_manifest_is_refused_on_the_websocket,
    support_agents_run_any_document_only_with_support_any,
);

const ME_NAMED: &str = "query Me { me { id email } }";
/// A manifest id of the app's own choosing, not a hash.
const ME_ID: &str = "me-v1";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest of a front-end release: the operations the test helpers
/// send (named by the SHA-256 of their body, as Apollo's tools name them),
/// and `Me` under an id of its own.
fn manifest() -> Value {
    let anonymous = [
        (ops::REGISTER, "mutation"),
        (ops::ME, "query"),
        (ops::CREATE_WALLET, "mutation"),
        (ops::ADD_CARD, "mutation"),
        (ops::DEPOSIT, "mutation"),
        (ops::TRANSACTION_STATUS, "query"),
        (ops::TRANSFER, "mutation"),
        (ops::BALANCES, "query"),
        (WALLET_UPDATED, "subscription"),
    ];
    let mut operations: Vec<Value> = anonymous
        .iter()
        .map(|(body, kind)| json!({"id": sha256_hex(body), "name": "", "type": kind, "body": body}))
        .collect();
    operations.push(json!({"id": ME_ID, "name": "Me", "type": "query", "body": ME_NAMED}));
    json!({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations})
}

fn write_manifest(dir: &tempfile::TempDir, manifest: &Value) -> PathBuf {
    let path = dir.path().join("persisted-query-manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    path
}

/// A server that runs only `manifest()`; the directory holds the file.
async fn trusted_app(backend: Backend, support_any: bool) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_manifest(&dir, &manifest());
    let app = spawn_app_with(backend, |c| {
        c.graphql.trusted_documents = Some(path);
        c.graphql.trusted_documents_support_any = support_any;
    })
    .await;
    (app, dir)
}

fn by_id(id: &str) -> Value {
    json!({"persistedQuery": {"version": 1, "sha256Hash": id}})
}

async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> Value {
    app.post_json(body, token).await.json().await.unwrap()
}

async fn get(app: &TestApp, id: &str, variables: Value, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/graphql", app.address))
        .query(&[
            ("extensions", by_id(id).to_string()),
            ("variables", variables.to_string()),
        ])
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn assert_not_allowed(body: &Value) {
    assert_eq!(error_code(body), "OPERATION_NOT_ALLOWED", "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
}

async fn a_manifest_operation_runs_by_id_over_post_get_a_batch_and_a_websocket(backend: Backend) {
    let (app, _dir) = trusted_app(backend, false).await;
    let user = app.register().await;

    // By the manifest's own id, and by the body's hash (Apollo's ids).
    let named = post(
        &app,
        &json!({"extensions": by_id(ME_ID)}),
        Some(&user.token),
    )
    .await;
    assert_eq!(named["data"]["me"]["email"], user.email.as_str(), "{named}");
    let hashed = json!({"extensions": by_id(&sha256_hex(ops::ME))});
    let hashed = post(&app, &hashed, Some(&user.token)).await;
    assert_eq!(hashed["data"]["me"]["id"], user.id.as_str(), "{hashed}");

    let res = get(&app, ME_ID, json!({}), &user.token).await;
    assert_eq!(res.status(), 200);
    let by_get: Value = res.json().await.unwrap();
    assert_eq!(
        by_get["data"]["me"]["email"],
        user.email.as_str(),
        "{by_get}"
    );
    // A query in the URL is held to the manifest like a POST's.
    let res = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ me { id } }")])
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_not_allowed(&res.json().await.unwrap());
    let res = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", ME_NAMED)])
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    let by_body: Value = res.json().await.unwrap();
    assert_eq!(by_body["data"]["me"]["id"], user.id.as_str(), "{by_body}");
    // An id standing for a mutation is still a mutation over GET.
    let transfer = json!({"i": {"recipientEmail": user.email, "amount": "1.00", "currency": "USD", "idempotencyKey": "get"}});
    let res = get(&app, &sha256_hex(ops::TRANSFER), transfer, &user.token).await;
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()[header::ALLOW], "POST");

    // Each operation of a batch is admitted on its own.
    let batch = json!([
        {"extensions": by_id(ME_ID)},
        {"query": "{ me { id } }"},
        {"query": ME_NAMED, "operationName": "Me"},
    ]);
    let answers = post(&app, &batch, Some(&user.token)).await;
    assert_eq!(
        answers[0]["data"]["me"]["id"],
        user.id.as_str(),
        "{answers}"
    );
    assert_not_allowed(&answers[1]);
    assert_eq!(
        answers[2]["data"]["me"]["id"],
        user.id.as_str(),
        "{answers}"
    );

    // A subscription named by its id on a WebSocket: the wallet's state.
    let wallet = app.create_wallet(&user.token, "USD").await;
    let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
    ws.send(json!({"type": "subscribe", "id": "1", "payload": {
        "variables": {"id": wallet},
        "extensions": by_id(&sha256_hex(WALLET_UPDATED)),
    }}))
    .await;
    let first = ws.next_payload().await;
    assert_eq!(
        first["data"]["walletUpdated"]["id"],
        wallet.as_str(),
        "{first}"
    );
    assert_eq!(first["data"]["walletUpdated"]["balance"]["amount"], "0.00");
}

async fn a_manifest_operation_runs_by_its_identical_body(backend: Backend) {
    let (app, _dir) = trusted_app(backend, false).await;
    // The helpers send the manifest's bodies: registering, funding a
    // wallet by card and reading its balance all run.
    let user = app.register().await;
    let wallet = app.funded_wallet(&user.token, "USD", "100.00").await;
    let (balance, _, _) = app.balances(&user.token, &wallet).await;
    assert_eq!(balance, "96.80");
    // Sent with its hash, as Apollo's persisted-query link retries.
    let body = json!({"query": ME_NAMED, "extensions": by_id(&sha256_hex(ME_NAMED))});
    let me = post(&app, &body, Some(&user.token)).await;
    assert_eq!(me["data"]["me"]["email"], user.email.as_str(), "{me}");
}

async fn a_document_outside_the_manifest_is_refused_and_moves_no_money(backend: Backend) {
    let (app, _dir) = trusted_app(backend, false).await;
    let payer = app.register().await;
    let payee = app.register().await;
    let from = app.funded_wallet(&payer.token, "USD", "100.00").await;
    let to = app.create_wallet(&payee.token, "USD").await;
    let input = json!({"i": {"recipientEmail": payee.email, "amount": "25.00", "currency": "USD", "idempotencyKey": "t1"}});

    // The same transfer, in a document the release did not ship.
    let other = "mutation Send($i: TransferInput!) { transfer(input: $i) { id status } }";
    let refused = post(
        &app,
        &json!({"query": other, "variables": input}),
        Some(&payer.token),
    )
    .await;
    assert_not_allowed(&refused);
    // A manifest body changed by a single space is another document.
    let spaced = ops::TRANSFER.replacen("{ ", "{  ", 1);
    let refused = post(
        &app,
        &json!({"query": spaced, "variables": input}),
        Some(&payer.token),
    )
    .await;
    assert_not_allowed(&refused);
    // Automatic persisted queries register nothing: the hash of a document
    // outside the manifest is refused, with its body and without.
    let hash = sha256_hex(other);
    let with_body = json!({"query": other, "variables": input, "extensions": by_id(&hash)});
    assert_not_allowed(&post(&app, &with_body, Some(&payer.token)).await);
    let hash_only = json!({"variables": input, "extensions": by_id(&hash)});
    assert_not_allowed(&post(&app, &hash_only, Some(&payer.token)).await);
    // Anonymous callers are held to the manifest too.
    assert_not_allowed(&post(&app, &json!({"query": "{ __typename }"}), None).await);
    // The GraphQL-over-HTTP rules: a request error, 400 when the client
    // accepts application/graphql-response+json.
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(header::ACCEPT, "application/graphql-response+json")
        .json(&json!({"query": other, "variables": input}))
        .bearer_auth(&payer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    assert_eq!(app.balances(&payer.token, &from).await.0, "96.80");
    assert_eq!(app.balances(&payee.token, &to).await.0, "0.00");
    // The manifest's own transfer moves the money.
    let sent = app
        .transfer(&payer.token, &payee.email, "25.00", "USD", "t2")
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");
    assert_eq!(app.balances(&payer.token, &from).await.0, "71.80");
    assert_eq!(app.balances(&payee.token, &to).await.0, "25.00");
}

async fn a_subscription_outside_the_manifest_is_refused_on_the_websocket(backend: Backend) {
    let (app, _dir) = trusted_app(backend, false).await;
    let user = app.register().await;
    let wallet = app.create_wallet(&user.token, "USD").await;
    let mut ws = Ws::connect(&app, Some(&user.token)).await.acked();
    let other = "subscription($id: ID) { walletUpdated(id: $id) { id balance { amount } } }";
    ws.subscribe("1", other, json!({"id": wallet})).await;
    let refused = ws.next_payload().await;
    assert_not_allowed(&refused);
    match ws.next_frame().await {
        Frame::Json(v) => assert_eq!(v["type"], "complete", "{v}"),
        Frame::Closed(code, reason) => panic!("closed with {code} {reason}"),
    }
    // The socket still serves the manifest's subscription.
    ws.subscribe("2", WALLET_UPDATED, json!({"id": wallet}))
        .await;
    let first = ws.next_payload().await;
    assert_eq!(
        first["data"]["walletUpdated"]["id"],
        wallet.as_str(),
        "{first}"
    );
}

async fn support_agents_run_any_document_only_with_support_any(backend: Backend) {
    let ad_hoc = json!({"query": "query Lookup { me { id email } __typename }"});
    for support_any in [false, true] {
        let (app, _dir) = trusted_app(backend, support_any).await;
        let agent = app.support_agent().await;
        let customer = app.register().await;
        let out = post(&app, &ad_hoc, Some(&agent.token)).await;
        if support_any {
            assert_eq!(out["data"]["me"]["email"], agent.email.as_str(), "{out}");
        } else {
            assert_not_allowed(&out);
        }
        // Customers never: the switch is for the SUPPORT role alone.
        assert_not_allowed(&post(&app, &ad_hoc, Some(&customer.token)).await);
        // The agent still runs the manifest's operations either way.
        let me = post(
            &app,
            &json!({"extensions": by_id(ME_ID)}),
            Some(&agent.token),
        )
        .await;
        assert_eq!(me["data"]["me"]["id"], agent.id.as_str(), "{me}");
    }
}

fn paygraph(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paygraph"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run paygraph")
}

#[test]
fn documents_check_prints_each_operations_cost_for_a_good_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_manifest(&dir, &manifest());
    let out = paygraph(&["documents", "check", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me = stdout
        .lines()
        .find(|l| l.starts_with(ME_ID))
        .unwrap_or_else(|| panic!("no line for {ME_ID}: {stdout}"));
    // `me { id email }`: two levels, as PAYGRAPH_MAX_DEPTH counts them.
    assert!(me.contains("query Me"), "{me}");
    assert!(me.contains("depth 2/12"), "{me}");
    assert!(me.contains("complexity "), "{me}");
    assert!(me.ends_with("ok"), "{me}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with("\tok")).count(), 10);
}

#[test]
fn documents_check_fails_on_an_operation_the_server_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = manifest();
    let deep = "query Deep { me { id } }";
    let ops = manifest["operations"].as_array_mut().unwrap();
    ops.push(json!({"id": "typo", "name": "Typo", "type": "query", "body": "query Typo { me { emial } }"}));
    ops.push(json!({"id": "deep", "name": "Deep", "type": "query", "body": deep}));
    let path = write_manifest(&dir, &manifest);
    // The limits are the server's as configured: depth 2 passes at 12, not at 1.
    let out = paygraph(
        &["documents", "check", path.to_str().unwrap()],
        &[("PAYGRAPH_MAX_DEPTH", "1")],
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id}\t")))
            .unwrap_or_else(|| panic!("no line for {id}: {stdout}"))
            .to_owned()
    };
    assert!(line("typo").contains("REFUSED"), "{stdout}");
    assert!(line("typo").contains("emial"), "{stdout}");
    let deep = line("deep");
    assert!(deep.contains("depth 2/1"), "{deep}");
    assert!(deep.contains("REFUSED: Query is nested too deep"), "{deep}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("would be refused"), "{stderr}");
}

#[test]
fn a_bad_manifest_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let mut wrong_type = manifest();
    wrong_type["operations"][0]["type"] = json!("query");
    let mut not_graphql = manifest();
    not_graphql["operations"][1]["body"] = json!("query { me {");
    let cases = [
        (missing, "missing.json"),
        (
            write_file(
                &dir,
                "format.json",
                r#"{"format":"other","version":1,"operations":[]}"#,
            ),
            "apollo-persisted-query-manifest",
        ),
        (write_file(&dir, "json.json", "not json"), "not a manifest"),
        (
            write_file(&dir, "type.json", &wrong_type.to_string()),
            "operation 1",
        ),
        (
            write_file(&dir, "parse.json", &not_graphql.to_string()),
            "does not parse",
        ),
    ];
    for (path, expected) in cases {
        let out = paygraph(
            &["serve"],
            &[
                ("PAYGRAPH_TRUSTED_DOCUMENTS", path.to_str().unwrap()),
                ("PAYGRAPH_ADDR", "127.0.0.1:0"),
                ("DATABASE_URL", "sqlite::memory:"),
            ],
        );
        assert!(!out.status.success(), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("PAYGRAPH_TRUSTED_DOCUMENTS"), "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}
