use serde_json::json;

use crate::{
    both_backends,
    helpers::{Backend, error_code, error_field, spawn_app},
};

async fn a_deep_query_is_too_complex(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    // Introspection types nest as deep as a client likes.
    let deep = (0..20).fold("name".to_owned(), |inner, _| {
        format!("ofType {{ {inner} }}")
    });
    let body = app
        .gql(
            &format!("{{ __schema {{ types {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
}

async fn an_alias_bomb_is_too_complex(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let aliases: String = (0..200).map(|i| format!("a{i}: me {{ id }} ")).collect();
    let body = app
        .gql(&format!("{{ {aliases} }}"), json!({}), Some(&user.token))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(body["data"].is_null());
}

async fn pages_above_a_hundred_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let body = app
        .gql(
            "{ me { transactions(first: 1000) { edges { cursor } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(error_field(&body), Some("first"));
    let body = app
        .gql(
            "{ me { transactions(after: \"bogus\") { edges { cursor } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_field(&body), Some("after"), "{body}");
}

async fn an_oversized_body_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let padding = " ".repeat(app.config.max_body_bytes + 1);
    let res = app
        .post_json(
            &json!({"query": format!("{{ __typename {padding}}}")}),
            None,
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
}

async fn a_json_number_where_a_string_belongs_is_bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app
        .gql(
            "mutation($i: LoginInput!) { login(input: $i) { token } }",
            json!({"i": {"email": 12.5, "password": "x"}}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

both_backends!(
    a_deep_query_is_too_complex,
    an_alias_bomb_is_too_complex,
    pages_above_a_hundred_are_refused,
    an_oversized_body_is_refused,
    a_json_number_where_a_string_belongs_is_bad_input,
);
