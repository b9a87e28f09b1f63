//! Rate limits: per caller and operation class, shared by every instance.

use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app_with},
};

fn header(res: &reqwest::Response, name: &str) -> Option<u64> {
    res.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json(&json!({"query": "{ me { id } }"}), Some(token))
        .await
}

pub(crate) async fn over_the_limit_is_rate_limited_with_the_budget_in_headers(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.read.limit = 3).await;
    let user = app.register().await;
    for remaining in [2, 1, 0] {
        let res = me(&app, &user.token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-limit"), Some(3));
        assert_eq!(header(&res, "ratelimit-remaining"), Some(remaining));
        assert!(header(&res, "ratelimit-reset").is_some_and(|s| (1..=60).contains(&s)));
    }
    let res = me(&app, &user.token).await;
    assert_eq!(res.status(), 429);
    let retry_after = header(&res, "retry-after").expect("Retry-After");
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&res, "ratelimit-remaining"), Some(0));
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfterSeconds"],
        retry_after
    );
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");

    // Another user has a budget of their own.
    let other = app.register().await;
    assert_eq!(me(&app, &other.token).await.status(), 200);
}

pub(crate) async fn money_movement_is_counted_per_root_field(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.money.limit = 1).await;
    let user = app.register().await;
    // Two transfers under aliases cost two: more than the budget of one.
    let doc = r#"mutation { a: transfer(input: {recipientEmail: "x@example.com", amount: "1.00", currency: "USD", idempotencyKey: "a"}) { id }
                            b: transfer(input: {recipientEmail: "x@example.com", amount: "1.00", currency: "USD", idempotencyKey: "b"}) { id } }"#;
    let res = app
        .post_json(&json!({"query": doc}), Some(&user.token))
        .await;
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED");
    // Reads have their own budget, untouched.
    assert_eq!(me(&app, &user.token).await.status(), 200);
}

async fn login(app: &TestApp, email: &str, forwarded_for: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
            "variables": {"i": {"email": email, "password": "wrong password!"}}
        }))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn anonymous_auth_is_limited_by_client_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.auth.limit = 2).await;
    // X-Forwarded-For is anyone's to write: without a trusted proxy it
    // changes nothing, and the third attempt from this address is refused.
    for i in 0..2 {
        let res = login(&app, "a@example.com", &format!("10.0.0.{i}")).await;
        assert_eq!(res.status(), 200);
    }
    let res = login(&app, "a@example.com", "10.0.0.9").await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        error_code(&res.json::<Value>().await.unwrap()),
        "RATE_LIMITED"
    );
}

async fn behind_a_trusted_proxy_the_forwarded_address_counts(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limits.auth.limit = 1;
        c.server.trust_proxy = true;
    })
    .await;
    assert_eq!(
        login(&app, "a@example.com", "203.0.113.1").await.status(),
        200
    );
    assert_eq!(
        login(&app, "a@example.com", "203.0.113.2").await.status(),
        200
    );
    // The proxy appends the real peer last; an earlier entry is the client's.
    assert_eq!(
        login(&app, "a@example.com", "198.51.100.7, 203.0.113.1")
            .await
            .status(),
        429
    );
}

async fn a_successful_login_still_works_under_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.auth.limit = 5).await;
    let user = app.register().await;
    let body = app.login(&user.email, PASSWORD).await;
    assert!(body["data"]["login"]["token"].is_string(), "{body}");
}

/// A refusal that no part of the document caused points at no part of it:
/// no `locations` (not even line 0, column 0).
async fn a_rate_limit_error_has_no_locations(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limits.read.limit = 1).await;
    let user = app.register().await;
    assert_eq!(me(&app, &user.token).await.status(), 200);
    let res = me(&app, &user.token).await;
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "RATE_LIMITED");
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
}

both_backends!(
    a_rate_limit_error_has_no_locations,
    over_the_limit_is_rate_limited_with_the_budget_in_headers,
    money_movement_is_counted_per_root_field,
    anonymous_auth_is_limited_by_client_address,
    behind_a_trusted_proxy_the_forwarded_address_counts,
    a_successful_login_still_works_under_the_limit,
);

/// Two instances behind one Redis share each budget.
#[tokio::test]
async fn a_limit_holds_across_two_instances() {
    two_instances_share_a_budget().await
}

pub(crate) async fn two_instances_share_a_budget() {
    let a = spawn_app_with(Backend::Postgres, |c| c.rate_limits.read.limit = 4).await;
    let b = a.spawn_sibling().await;
    let user = a.register().await;
    for app in [&a, &b, &a, &b] {
        assert_eq!(me(app, &user.token).await.status(), 200);
    }
    for app in [&a, &b] {
        let res = me(app, &user.token).await;
        assert_eq!(res.status(), 429, "the fifth request overall is refused");
    }
}
