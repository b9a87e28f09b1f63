use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::{
    both_backends,
    helpers::{
        Backend, PASSWORD, TestApp, error_code, error_field, spawn_app, spawn_app_with,
        unique_email,
    },
};

const SECRET: &str = "a-known-secret-for-forgery-tests-0123456789";

async fn register_returns_a_working_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email("Ann");
    let user = app.register_as(&email.to_uppercase(), "Ann", "Lee").await;
    assert_eq!(
        user.email,
        email.to_lowercase(),
        "email is stored normalised"
    );
    let me = app.me(&user.token).await;
    assert_eq!(me["data"]["me"]["id"], user.id.as_str());
}

async fn duplicate_email_in_another_case_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email("dup");
    app.register_as(&email, "A", "B").await;
    let body = app
        .gql(
            "mutation($i: RegisterInput!) { register(input: $i) { token } }",
            json!({"i": {"email": email.to_uppercase(), "password": PASSWORD, "firstName": "C", "lastName": "D"}}),
            None,
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(error_field(&body), Some("email"));
    let rows = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM users WHERE email = '{}'",
                email.to_lowercase()
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rows.try_get::<i64>("", "n").unwrap(),
        1,
        "no second user was created"
    );
}

async fn bad_registrations_name_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = unique_email("bad");
    let cases = [
        (
            json!({"email": email, "password": "short", "firstName": "A", "lastName": "B"}),
            "password",
        ),
        (
            json!({"email": email, "password": email, "firstName": "A", "lastName": "B"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "firstName": "A", "lastName": "B"}),
            "email",
        ),
        (
            json!({"email": email, "password": PASSWORD, "firstName": " ", "lastName": "B"}),
            "firstName",
        ),
        (
            json!({"email": email, "password": PASSWORD, "firstName": "A", "lastName": "B", "phone": "12"}),
            "phone",
        ),
    ];
    for (input, field) in cases {
        let body = app
            .gql(
                "mutation($i: RegisterInput!) { register(input: $i) { token } }",
                json!({"i": input}),
                None,
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{input}");
        assert_eq!(error_field(&body), Some(field), "{input}");
    }
    // Nothing was created by any of them: the email is still free.
    app.register_as(&email, "A", "B").await;
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let wrong = app.login(&user.email, "not the password at all").await;
    let unknown = app.login(&unique_email("nobody"), PASSWORD).await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    let ok = app.login(&user.email.to_uppercase(), PASSWORD).await;
    assert!(ok["data"]["login"]["token"].is_string(), "{ok}");
}

pub(crate) async fn logout_revokes_the_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let second = app.login(&user.email, PASSWORD).await;
    let second = second["data"]["login"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = app
        .gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(out["data"]["logout"], true);
    assert_eq!(error_code(&app.me(&user.token).await), "UNAUTHENTICATED");
    let again = app
        .gql("mutation { logout }", json!({}), Some(&user.token))
        .await;
    assert_eq!(error_code(&again), "UNAUTHENTICATED");
    // Only that session ended; another login still works.
    assert_eq!(app.me(&second).await["data"]["me"]["id"], user.id.as_str());
}

async fn a_closed_account_cannot_log_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    app.db
        .execute_unprepared(&format!(
            "UPDATE users SET status = 'closed' WHERE email = '{}'",
            user.email
        ))
        .await
        .unwrap();
    assert_eq!(
        error_code(&app.login(&user.email, PASSWORD).await),
        "ACCOUNT_RESTRICTED"
    );
    assert_eq!(
        error_code(&app.me(&user.token).await),
        "UNAUTHENTICATED",
        "its sessions stop too"
    );
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &Value, secret: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn forged_tokens_are_unauthenticated(backend: Backend) {
    let app: TestApp = spawn_app_with(backend, |c| c.auth.jwt.secret = Some(SECRET.into())).await;
    let victim = app.register().await;
    let attacker = app.register().await;
    let claims = claims_of(&attacker.token);
    let kid = app.config.auth.jwt.key_id.clone();

    // The control: a token signed the way the server signs is accepted.
    let genuine = sign(&claims, SECRET, &kid);
    assert_eq!(
        app.me(&genuine).await["data"]["me"]["id"],
        attacker.id.as_str()
    );

    let none_header = B64.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let alg_none = format!("{none_header}.{}.", B64.encode(claims.to_string()));

    let mut as_victim = claims.clone();
    as_victim["sub"] = claims_of(&victim.token)["sub"].clone();
    let parts: Vec<&str> = attacker.token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(as_victim.to_string()),
        parts[2]
    );

    let wrong_key = sign(&claims, "some-other-secret-that-is-32-bytes-long!!", &kid);
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    let expired = sign(&expired, SECRET, &kid);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("someone-else");
    let wrong_aud = sign(&wrong_aud, SECRET, &kid);
    let wrong_kid = sign(&claims, SECRET, "another-key");

    for (name, token) in [
        ("alg none", alg_none),
        ("tampered payload", tampered),
        ("wrong key", wrong_key),
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("wrong key id", wrong_kid),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let body = app.me(&token).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{name}: {body}");
        assert!(body["data"]["me"].is_null(), "{name} leaked data: {body}");
    }
}

async fn anonymous_me_is_null_and_fields_need_auth(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.gql("{ me { id } }", json!({}), None).await;
    assert!(
        body["data"]["me"].is_null() && body.get("errors").is_none(),
        "{body}"
    );
    let body = app.gql("mutation { logout }", json!({}), None).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}

/// With Redis, a session in use is checked without the database: the
/// session and the user's standing come from the cache. The in-process
/// cache keeps no standings, so there each request reads the user.
pub(crate) async fn a_session_in_use_costs_no_database_statement(backend: Backend) {
    let app = crate::helpers::spawn_quiet_app(backend).await;
    let user = app.register().await;
    let me = app.me(&user.token).await;
    assert!(me["data"]["me"]["id"].is_string(), "{me}");
    // A Redis call that misses its deadline on a loaded machine is answered
    // from the database, as it should be: the fewest statements of three
    // rounds of 5 requests is what a session in use costs.
    let mut reads = u64::MAX;
    for _ in 0..3 {
        let before = app.statements_so_far().await;
        for _ in 0..5 {
            let body = app
                .gql("{ __typename }", json!({}), Some(&user.token))
                .await;
            assert_eq!(body["data"]["__typename"], "Query", "{body}");
        }
        reads = reads.min(app.statements_so_far().await - before);
    }
    let expected = match backend {
        Backend::Postgres => 0,
        Backend::Sqlite => 5,
    };
    assert_eq!(reads, expected, "statements for 5 authenticated requests");
}

both_backends!(
    a_session_in_use_costs_no_database_statement,
    register_returns_a_working_token,
    duplicate_email_in_another_case_is_refused,
    bad_registrations_name_the_field,
    wrong_password_and_unknown_email_look_the_same,
    logout_revokes_the_token_at_once,
    a_closed_account_cannot_log_in,
    forged_tokens_are_unauthenticated,
    anonymous_me_is_null_and_fields_need_auth,
);
