//! Introspection as tools send it: the queries of graphql-js
//! (`getIntrospectionQuery` with each set of options, written into
//! tests/api/fixtures/introspection by tests/browser/introspection-fixtures.mjs)
//! and of Apollo's rover pass; documents nested or aliased past what any
//! tool sends are `QUERY_TOO_COMPLEX`. Introspection reads no backend, so
//! these run on the embedded default only.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, spawn_app, spawn_app_with};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/api/fixtures/introspection"
);

fn fixtures() -> Vec<(String, String)> {
    let mut all: Vec<_> = std::fs::read_dir(FIXTURES)
        .expect("the introspection fixtures")
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    all.sort();
    assert!(all.len() >= 6, "fixtures missing: {all:?}");
    all
}

async fn introspect(app: &TestApp, query: &str) -> Value {
    app.gql(query, json!({}), None).await
}

#[tokio::test]
async fn the_introspection_queries_of_graphql_js_and_apollo_pass() {
    let app = spawn_app(Backend::Sqlite).await;
    for (name, query) in fixtures() {
        let body = introspect(&app, &query).await;
        assert!(body.get("errors").is_none(), "{name}: {body}");
        let types = body["data"]["__schema"]["types"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no types in {body}"));
        let query_type = types
            .iter()
            .find(|t| t["name"] == "Query")
            .unwrap_or_else(|| panic!("{name}: no Query type"));
        // The type references come back whole: `me` is a nullable User.
        let me = query_type["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "me")
            .unwrap_or_else(|| panic!("{name}: no Query.me"));
        assert_eq!(me["type"]["name"], "User", "{name}: {me}");
    }
}

#[tokio::test]
async fn every_introspection_option_is_answered() {
    let app = spawn_app(Backend::Sqlite).await;
    let query =
        std::fs::read_to_string(format!("{FIXTURES}/graphql16-all-options.graphql")).unwrap();
    let body = introspect(&app, &query).await;
    let schema = &body["data"]["__schema"];
    assert!(schema.get("description").is_some(), "{body}");
    let types = schema["types"].as_array().unwrap();
    let scalar = types.iter().find(|t| t["kind"] == "SCALAR").unwrap();
    assert!(scalar.get("specifiedByURL").is_some(), "{scalar}");
    let input = types.iter().find(|t| t["kind"] == "INPUT_OBJECT").unwrap();
    assert!(input.get("isOneOf").is_some(), "{input}");
    assert!(
        input["inputFields"][0].get("isDeprecated").is_some(),
        "{input}"
    );
    let directive = &schema["directives"][0];
    assert!(directive.get("isRepeatable").is_some(), "{directive}");
}

/// `__schema { types { <chain> } }` with `link` nested `times`.
fn chain(link: &str, times: usize, leaf: &str) -> String {
    let inner = (0..times).fold(leaf.to_owned(), |inner, _| format!("{link} {{ {inner} }}"));
    format!("{{ __schema {{ types {{ {inner} }} }} }}")
}

#[tokio::test]
async fn hostile_introspection_is_too_complex() {
    let app = spawn_app(Backend::Sqlite).await;
    let hostile = [
        // A type reference far deeper than any wrapped type.
        ("ofType chain", chain("ofType", 30, "name")),
        // Each level multiplies the answer by the schema's size.
        (
            "fields chain",
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
                .to_owned(),
        ),
        ("interfaces chain", chain("interfaces", 5, "name")),
        (
            "possibleTypes through fields",
            "{ __type(name: \"Node\") { possibleTypes { fields { type { fields { type { fields { name } } } } } } } }"
                .to_owned(),
        ),
        (
            "aliased many times",
            format!(
                "{{ {} }}",
                (0..40)
                    .map(|i| format!("s{i}: __schema {{ types {{ name }} }}"))
                    .collect::<String>()
            ),
        ),
    ];
    for (what, query) in hostile {
        let body = introspect(&app, &query).await;
        assert_eq!(
            error_code(&body),
            "QUERY_TOO_COMPLEX",
            "{what}: {query}\n{body}"
        );
        assert!(body["data"].is_null(), "{what}: {body}");
    }
}

#[tokio::test]
async fn the_depth_limit_holds_outside_introspection() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.graphql.max_depth = 3).await;
    let user = app.register().await;
    let body = app
        .gql(
            "{ me { wallets { balance { amount } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep"), "{body}");
    let shallow = app
        .gql(
            "{ me { wallets { currency } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert!(shallow.get("errors").is_none(), "{shallow}");
    // Introspection, fifteen deep, keeps its own bound.
    let (name, query) = &fixtures()[0];
    let body = introspect(&app, query).await;
    assert!(body.get("errors").is_none(), "{name}: {body}");
}
