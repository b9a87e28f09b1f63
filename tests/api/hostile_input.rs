//! Documents built to hurt the server: nested past any real need, broken,
//! or random. Each gets a JSON error with a stable code, and the server
//! keeps serving. The servers here run on a multi-threaded runtime, so
//! requests run on tokio's worker threads and their stacks, as in production.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, spawn_app},
};

/// What a generated document nests: every recursive construct of GraphQL.
#[derive(Debug, Clone, Copy)]
enum Construct {
    ListInArgument,
    ObjectInArgument,
    ListInVariableDefault,
    ObjectInVariableDefault,
    ListType,
    SelectionSet,
    InlineFragment,
    FragmentDefinition,
    DirectiveArgument,
    /// Deep JSON in the request's `variables`, not in the document.
    VariablesJson,
}

const CONSTRUCTS: [Construct; 10] = [
    Construct::ListInArgument,
    Construct::ObjectInArgument,
    Construct::ListInVariableDefault,
    Construct::ObjectInVariableDefault,
    Construct::ListType,
    Construct::SelectionSet,
    Construct::InlineFragment,
    Construct::FragmentDefinition,
    Construct::DirectiveArgument,
    Construct::VariablesJson,
];

/// `open` `depth` times, `inner`, then `close` `depth` times.
fn nest(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

/// A request body (raw JSON text: serialising a deep `Value` would itself
/// recurse) whose construct nests `depth` levels.
fn nested_body(construct: Construct, depth: usize) -> String {
    let list = || nest("[", "1", "]", depth);
    let object = || nest("{a: ", "1", "}", depth);
    let query = match construct {
        Construct::ListInArgument => format!("{{ __typename(a: {}) }}", list()),
        Construct::ObjectInArgument => format!("{{ __typename(a: {}) }}", object()),
        Construct::ListInVariableDefault => {
            format!("query($v: Int = {}) {{ __typename }}", list())
        }
        Construct::ObjectInVariableDefault => {
            format!("query($v: Int = {}) {{ __typename }}", object())
        }
        Construct::ListType => format!(
            "query($v: {}) {{ __typename }}",
            nest("[", "Int", "]", depth)
        ),
        Construct::SelectionSet => format!("{{ {} }}", nest("a { ", "b", " }", depth)),
        Construct::InlineFragment => format!(
            "{{ {} }}",
            nest("... on Query { ", "__typename", " }", depth)
        ),
        Construct::FragmentDefinition => format!(
            "{{ ...F }} fragment F on Query {{ {} }}",
            nest("a { ", "b", " }", depth)
        ),
        Construct::DirectiveArgument => {
            format!("{{ __typename @skip(if: {}) }}", list())
        }
        Construct::VariablesJson => {
            let value = nest("[", "1", "]", depth);
            return format!(
                r#"{{"query":"query($v: Int) {{ __typename }}","variables":{{"v":{value}}}}}"#
            );
        }
    };
    json!({ "query": query }).to_string()
}

async fn post_raw(app: &TestApp, body: String) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = res.status().as_u16();
    let text = res.text().await.expect("a body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}: not a JSON answer: {text:.300}"));
    (status, json)
}

/// The code of the only error, or a panic naming the answer.
fn code_of(answer: &Value) -> String {
    let errors = answer["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected errors, got {answer:.300}"));
    let code = errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("an error without a code: {answer:.300}"));
    code.to_owned()
}

async fn assert_alive(app: &TestApp) {
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200, "the server still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_nested_two_thousand_deep_is_too_complex() {
    let app = spawn_app(Backend::Sqlite).await;
    for construct in CONSTRUCTS {
        let (_, answer) = post_raw(&app, nested_body(construct, 2_000)).await;
        assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX", "{construct:?}");
        assert!(
            answer["errors"][0].get("locations").is_none(),
            "{construct:?}: {answer:.300}"
        );
    }
    assert_alive(&app).await;
}

/// A GET's `variables` parameter is JSON as a POST body's member is, and
/// is refused alike when it nests too deep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_in_a_url_nested_two_thousand_deep_are_too_complex() {
    let app = spawn_app(Backend::Sqlite).await;
    let variables = format!(r#"{{"v":{}1{}}}"#, "[".repeat(2_000), "]".repeat(2_000));
    let res = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[
            ("query", "query($v: Int) { __typename }"),
            ("variables", variables.as_str()),
        ])
        .header("accept", "application/json")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(res.status().as_u16(), 400);
    let answer: Value = res.json().await.expect("a JSON answer");
    assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX", "{answer:.300}");
    assert_alive(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_as_deep_as_the_body_allows_is_too_complex() {
    let app = spawn_app(Backend::Sqlite).await;
    let depth = (app.config.server.max_body_bytes - 100) / 2;
    let (_, answer) = post_raw(&app, nested_body(Construct::ListInArgument, depth)).await;
    assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX");
    assert_alive(&app).await;
}

/// One code at every depth past the limit, whatever part of the server
/// meets the document first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_selection_is_too_complex_at_every_depth() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app.register().await;
    for depth in [13, 16, 31, 33, 40, 63, 64, 65, 100, 300, 5_000] {
        let query = format!("{{ me {{ {} }} }}", nest("a { ", "b", " }", depth));
        let answer = app.gql(&query, json!({}), Some(&user.token)).await;
        assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX", "depth {depth}");
    }
}

/// A document's shape for the generated test, and the answer it must get.
#[derive(Debug, Clone)]
enum Case {
    /// Nested `depth` levels: past the bound it is QUERY_TOO_COMPLEX.
    Nested(Construct, usize),
    /// Brackets inside a string, a block string or a comment: they nest
    /// nothing, and the document runs.
    Quoted(usize, u8),
    /// Openers never closed, or closers never opened: a syntax error, or
    /// past a bound QUERY_TOO_COMPLEX.
    Unbalanced(usize, bool),
    /// Any text as the document.
    Text(String),
    /// Any bytes as the body.
    Bytes(Vec<u8>),
}

fn case() -> impl Strategy<Value = Case> {
    // Shallow, just past the bound, or as deep as the body limit allows.
    let depth = prop_oneof![1usize..40, 70usize..200, 200usize..12_000];
    prop_oneof![
        (0..CONSTRUCTS.len(), depth.clone()).prop_map(|(c, d)| Case::Nested(CONSTRUCTS[c], d)),
        (1usize..12_000, 0u8..3).prop_map(|(d, how)| Case::Quoted(d, how)),
        (depth, any::<bool>()).prop_map(|(d, open)| Case::Unbalanced(d, open)),
        "\\PC{0,300}".prop_map(Case::Text),
        "[\\[\\]{}()\"#a-z:$ \n]{0,2000}".prop_map(Case::Text),
        prop::collection::vec(any::<u8>(), 0..500).prop_map(Case::Bytes),
    ]
}

/// The nested body, shallower when it would pass the body limit (which
/// answers 413 before any GraphQL is read).
fn within_body_limit(app: &TestApp, construct: Construct, depth: usize) -> String {
    let body = nested_body(construct, depth);
    let room = app.config.server.max_body_bytes - 200;
    if body.len() <= app.config.server.max_body_bytes {
        return body;
    }
    nested_body(construct, depth * room / body.len())
}

async fn check(app: &TestApp, case: Case) -> Result<(), TestCaseError> {
    let bound = app.config.graphql.max_nesting;
    let (status, answer) = match &case {
        Case::Nested(c, d) => post_raw(app, within_body_limit(app, *c, *d)).await,
        Case::Quoted(d, how) => {
            let brackets = "[{(".repeat(*d / 3 + 1);
            let query = match how {
                0 => format!("{{ __type(name: {}) {{ name }} }}", json!(brackets)),
                1 => format!("{{ __type(name: \"\"\"{brackets}\"\"\") {{ name }} }}"),
                _ => format!("{{ __typename # {brackets}\n }}"),
            };
            post_raw(app, json!({ "query": query }).to_string()).await
        }
        Case::Unbalanced(d, open) => {
            let query = if *open {
                format!("{{ __typename(a: {}", "[".repeat(*d))
            } else {
                format!("{{ __typename }}{}", "]".repeat(*d))
            };
            post_raw(app, json!({ "query": query }).to_string()).await
        }
        Case::Text(text) => post_raw(app, json!({ "query": text }).to_string()).await,
        Case::Bytes(bytes) => {
            let res = app
                .client
                .post(format!("{}/graphql", app.address))
                .header("content-type", "application/json")
                .body(bytes.clone())
                .send()
                .await
                .expect("the server answers");
            let status = res.status().as_u16();
            let text = res.text().await.expect("a body");
            let json = serde_json::from_str(&text).map_err(|_| {
                TestCaseError::fail(format!("status {status}: not JSON: {text:.300}"))
            })?;
            (status, json)
        }
    };
    prop_assert!(status < 500, "{case:?}: status {status}: {answer:.300}");
    match case {
        // Shortened to fit the body limit, it is still thousands deep.
        Case::Nested(_, d) if d > bound => {
            prop_assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX", "{:?}", case);
        }
        Case::Quoted(..) => {
            prop_assert!(answer.get("errors").is_none(), "{case:?}: {answer:.300}");
        }
        // Stray closers nest nothing, but each is a token.
        Case::Unbalanced(d, open)
            if (open && d > bound) || d + 3 > app.config.graphql.max_tokens =>
        {
            prop_assert_eq!(code_of(&answer), "QUERY_TOO_COMPLEX", "{:?}", case);
        }
        Case::Unbalanced(..) => {
            prop_assert_eq!(code_of(&answer), "BAD_USER_INPUT", "{:?}", case);
        }
        Case::Bytes(_) => {
            let code = code_of(&answer);
            prop_assert!(
                code == "BAD_USER_INPUT" || code == "QUERY_TOO_COMPLEX",
                "{case:?}: {answer:.300}"
            );
        }
        _ => {
            // Shallow documents and text: an answer, or errors that each
            // carry one of the codes a document can earn.
            for error in answer["errors"].as_array().into_iter().flatten() {
                let code = error["extensions"]["code"].as_str().unwrap_or_default();
                prop_assert!(
                    ["BAD_USER_INPUT", "QUERY_TOO_COMPLEX", "UNAUTHENTICATED"].contains(&code),
                    "{case:?}: {answer:.300}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn generated_hostile_documents_get_coded_errors_and_the_server_lives() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let app = runtime.block_on(spawn_app(Backend::Sqlite));
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(case in case())| {
        runtime.block_on(check(&app, case))?;
    });
    runtime.block_on(assert_alive(&app));
}

/// A browser sends `text/plain` (or a form) to another origin without
/// asking first: such a POST must run nothing. Only JSON is a request.
async fn a_post_that_is_not_json_is_415_and_moves_no_money(backend: Backend) {
    let app = spawn_app(backend).await;
    let sender = app.register().await;
    let receiver = app.register().await;
    let wallet = app.funded_wallet(&sender.token, "USD", "100.00").await;
    let before = app.balances(&sender.token, &wallet).await;
    let body = json!({
        "query": "mutation($i: TransferInput!) { transfer(input: $i) { id status } }",
        "variables": {"i": {"recipientEmail": receiver.email, "amount": "10.00", "currency": "USD", "idempotencyKey": "plain-1"}},
    })
    .to_string();
    let post = |content_type: Option<&str>| {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&sender.token)
            .body(body.clone());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        request.send()
    };
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        None,
    ] {
        let res = post(content_type).await.expect("an answer");
        assert_eq!(res.status(), 415, "{content_type:?}");
        let text = res.text().await.unwrap();
        let answer: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{content_type:?}: not JSON: {text:.300}"));
        assert_eq!(
            error_code(&answer),
            "BAD_USER_INPUT",
            "{content_type:?}: {answer}"
        );
        assert!(answer["data"].is_null(), "{content_type:?}: {answer}");
    }
    assert_eq!(app.balances(&sender.token, &wallet).await, before);
    let received = app
        .ok("{ me { wallets { id } } }", json!({}), &receiver.token)
        .await;
    assert_eq!(
        received["me"]["wallets"],
        json!([]),
        "nothing reached the receiver"
    );

    // JSON, with or without a charset, runs.
    let res = post(Some("application/json; charset=utf-8")).await.unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(
        answer["data"]["transfer"]["status"], "COMPLETED",
        "{answer}"
    );
}

both_backends!(a_post_that_is_not_json_is_415_and_moves_no_money);
