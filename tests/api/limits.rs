use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    both_backends,
    helpers::{Backend, TestApp, error_code, error_field, spawn_app},
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
    let padding = " ".repeat(app.config.server.max_body_bytes + 1);
    let res = app
        .post_json(
            &json!({"query": format!("{{ __typename {padding}}}")}),
            None,
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
}

/// Sends `body` as one chunk of a chunked request (no Content-Length),
/// as a client streaming its body does, and returns the status and the
/// answer's text.
async fn post_chunked(app: &TestApp, body: &[u8]) -> (u16, String) {
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    // The server may answer and close before it reads everything.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:.300}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a short answer has a length: {head}"
    );
    (status, body.to_owned())
}

/// Past the body limit, with or without a Content-Length, the answer is
/// 413 and a JSON error with a code, never a library's text.
async fn a_body_past_the_limit_is_413_with_a_json_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let padding = " ".repeat(app.config.server.max_body_bytes + 1);
    let body = json!({"query": format!("{{ __typename {padding}}}")}).to_string();

    let (status, text) = post_chunked(&app, body.as_bytes()).await;
    assert_eq!(status, 413, "{text:.300}");
    let chunked: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:.300}"));
    assert_eq!(error_code(&chunked), "BAD_USER_INPUT", "{chunked}");

    let res = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), reqwest::StatusCode::PAYLOAD_TOO_LARGE);
    let text = res.text().await.unwrap();
    let answer: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:.300}"));
    assert_eq!(answer, chunked);

    // Within the limit, a chunked body is read like any other.
    let (status, text) = post_chunked(&app, br#"{"query":"{ __typename }"}"#).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Query"), "{text}");
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

/// An input value of the wrong kind (a JSON number for money, a date that
/// is no date, an Int past 32 bits) names the field it was given for, in
/// variables and written in the document alike.
async fn a_value_that_does_not_parse_names_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let wallet = app.create_wallet(&user.token, "USD").await;
    let card = app.add_card(&user.token, crate::helpers::CARD_OK).await;
    let transfer = |amount: Value, currency: Value| json!({"recipientEmail": "x@example.com", "amount": amount, "currency": currency, "idempotencyKey": "k-1"});
    let deposit = |amount: Value| json!({"walletId": wallet, "paymentMethodId": card, "amount": amount, "idempotencyKey": "k-2"});
    let cases = [
        (
            "mutation($i: TransferInput!) { transfer(input: $i) { id } }".to_owned(),
            json!({"i": transfer(json!(10.5), json!("USD"))}),
            "amount",
        ),
        (
            "mutation { transfer(input: {recipientEmail: \"x@example.com\", amount: 10.5, currency: \"USD\", idempotencyKey: \"k-1\"}) { id } }".to_owned(),
            json!({}),
            "amount",
        ),
        (
            "mutation($i: TransferInput!) { transfer(input: $i) { id } }".to_owned(),
            json!({"i": transfer(json!("10.50"), json!(840))}),
            "currency",
        ),
        (
            "mutation { transfer(input: {recipientEmail: \"x@example.com\", amount: \"10.50\", currency: 840, idempotencyKey: \"k-1\"}) { id } }".to_owned(),
            json!({}),
            "currency",
        ),
        (
            "mutation($i: DepositInput!) { deposit(input: $i) { id } }".to_owned(),
            json!({"i": deposit(json!(10))}),
            "amount",
        ),
        (
            format!("mutation {{ deposit(input: {{walletId: \"{wallet}\", paymentMethodId: \"{card}\", amount: 10, idempotencyKey: \"k-2\"}}) {{ id }} }}"),
            json!({}),
            "amount",
        ),
        (
            "mutation { createWallet(input: {currency: 840}) { id } }".to_owned(),
            json!({}),
            "currency",
        ),
        (
            "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }".to_owned(),
            json!({"i": {"dateOfBirth": "1990-13-45"}}),
            "dateOfBirth",
        ),
        (
            "mutation { updateProfile(input: {dateOfBirth: \"1990-13-45\"}) { id } }".to_owned(),
            json!({}),
            "dateOfBirth",
        ),
        (
            "query($f: TransactionFilterInput) { me { transactions(filter: $f) { edges { cursor } } } }".to_owned(),
            json!({"f": {"createdAfter": "last tuesday"}}),
            "createdAfter",
        ),
        (
            "{ me { transactions(filter: {createdAfter: \"last tuesday\"}) { edges { cursor } } } }".to_owned(),
            json!({}),
            "createdAfter",
        ),
        (
            "query($n: Int) { me { transactions(first: $n) { edges { cursor } } } }".to_owned(),
            json!({"n": 2147483648u64}),
            "first",
        ),
        (
            "{ me { transactions(first: 2147483648) { edges { cursor } } } }".to_owned(),
            json!({}),
            "first",
        ),
    ];
    for (query, variables, field) in cases {
        let body = app.gql(&query, variables, Some(&user.token)).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(error_field(&body), Some(field), "{query}: {body}");
    }
    let (balance, _, _) = app.balances(&user.token, &wallet).await;
    assert_eq!(balance, "0.00");
}

both_backends!(
    a_value_that_does_not_parse_names_its_field,
    a_deep_query_is_too_complex,
    an_alias_bomb_is_too_complex,
    pages_above_a_hundred_are_refused,
    an_oversized_body_is_refused,
    a_body_past_the_limit_is_413_with_a_json_error,
    a_json_number_where_a_string_belongs_is_bad_input,
);
