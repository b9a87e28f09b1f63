//! TOTP two-factor sign-in: enrolment with a code generated from the
//! returned secret, codes accepted once on any instance, recovery codes
//! good once, and wrong codes slowed per account whatever the address.

use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::{
    both_backends,
    helpers::{
        Backend, PASSWORD, Registered, TestApp, error_code, error_field, spawn_app, spawn_app_with,
    },
};

const LOGIN: &str = "mutation($i: LoginInput!) { login(input: $i) { token } }";

/// The code an authenticator app shows for `secret` at `unix_secs`.
pub fn code_at(secret: &str, unix_secs: u64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new()).generate(unix_secs)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Turns two-factor on for `user`; returns the secret and the recovery codes.
pub async fn enable_totp(app: &TestApp, user: &Registered) -> (String, Vec<String>) {
    let begun = app
        .ok(
            "mutation { beginTotpEnrollment { secret otpauthUri } }",
            json!({}),
            &user.token,
        )
        .await;
    let secret = begun["beginTotpEnrollment"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = begun["beginTotpEnrollment"]["otpauthUri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    let confirmed = app
        .ok(
            "mutation($c: String!) { confirmTotpEnrollment(code: $c) { codes } }",
            json!({"c": code_at(&secret, now())}),
            &user.token,
        )
        .await;
    let codes: Vec<String> = confirmed["confirmTotpEnrollment"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

async fn login_with(app: &TestApp, email: &str, password: &str, extra: Value) -> Value {
    let mut input = json!({"email": email, "password": password});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.gql(LOGIN, json!({"i": input}), None).await
}

fn logged_in(body: &Value) -> bool {
    body["data"]["login"]["token"].is_string()
}

async fn enrolment_with_a_generated_code_makes_login_ask_for_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    // Before enrolment, the password is enough.
    assert!(logged_in(
        &login_with(&app, &user.email, PASSWORD, json!({})).await
    ));

    // A wrong code does not confirm, and two-factor stays off.
    let begun = app
        .ok(
            "mutation { beginTotpEnrollment { secret } }",
            json!({}),
            &user.token,
        )
        .await;
    let secret = begun["beginTotpEnrollment"]["secret"].as_str().unwrap();
    let wrong = app
        .gql(
            "mutation { confirmTotpEnrollment(code: \"12345\") { codes } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        (error_code(&wrong), error_field(&wrong)),
        ("BAD_USER_INPUT", Some("code"))
    );
    assert!(logged_in(
        &login_with(&app, &user.email, PASSWORD, json!({})).await
    ));
    // The secret is stored encrypted.
    let stored = app
        .count(&format!(
            "SELECT COUNT(*) AS n FROM user_totp WHERE secret_ciphertext LIKE 'v1:%' AND secret_ciphertext NOT LIKE '%{secret}%'"
        ))
        .await;
    assert_eq!(stored, 1);

    let (secret, codes) = enable_totp(&app, &user).await;
    assert_eq!(codes.len(), 10);
    let again = app
        .gql(
            "mutation { beginTotpEnrollment { secret } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&again), "INVALID_STATE");

    // The password alone reveals nothing more.
    let bare = login_with(&app, &user.email, PASSWORD, json!({})).await;
    assert_eq!(error_code(&bare), "SECOND_FACTOR_REQUIRED", "{bare}");
    assert!(bare["data"]["login"].is_null(), "{bare}");
    // A wrong password is still just wrong, code or not.
    let wrong_password = login_with(
        &app,
        &user.email,
        "not the password at all",
        json!({"totpCode": code_at(&secret, now() + 30)}),
    )
    .await;
    assert_eq!(error_code(&wrong_password), "UNAUTHENTICATED");
    // The next step's code (the confirmation took this one).
    let ok = login_with(
        &app,
        &user.email,
        PASSWORD,
        json!({"totpCode": code_at(&secret, now() + 30)}),
    )
    .await;
    assert!(logged_in(&ok), "{ok}");
}

async fn a_code_is_accepted_once_on_any_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.spawn_sibling().await;
    let user = app.register().await;
    let (secret, _) = enable_totp(&app, &user).await;
    let code = code_at(&secret, now() + 30);
    let first = login_with(&app, &user.email, PASSWORD, json!({"totpCode": code})).await;
    assert!(logged_in(&first), "{first}");
    for instance in [&other, &app] {
        let replayed = login_with(instance, &user.email, PASSWORD, json!({"totpCode": code})).await;
        assert_eq!(error_code(&replayed), "UNAUTHENTICATED", "{replayed}");
        assert!(replayed["data"]["login"].is_null());
    }
    // An older step's code is no better than a replay.
    let older = login_with(
        &app,
        &user.email,
        PASSWORD,
        json!({"totpCode": code_at(&secret, now())}),
    )
    .await;
    assert_eq!(error_code(&older), "UNAUTHENTICATED", "{older}");
}

async fn recovery_codes_are_good_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let (_, codes) = enable_totp(&app, &user).await;
    let first = login_with(
        &app,
        &user.email,
        PASSWORD,
        json!({"recoveryCode": codes[0]}),
    )
    .await;
    assert!(logged_in(&first), "{first}");
    let spent = login_with(
        &app,
        &user.email,
        PASSWORD,
        json!({"recoveryCode": codes[0]}),
    )
    .await;
    assert_eq!(error_code(&spent), "UNAUTHENTICATED", "{spent}");
    // Typed loosely (upper case, no dashes), another one works.
    let loose = codes[1].replace('-', "").to_uppercase();
    let second = login_with(&app, &user.email, PASSWORD, json!({"recoveryCode": loose})).await;
    assert!(logged_in(&second), "{second}");
    let made_up = login_with(
        &app,
        &user.email,
        PASSWORD,
        json!({"recoveryCode": "aaaa-bbbb-cccc-dddd"}),
    )
    .await;
    assert_eq!(error_code(&made_up), "UNAUTHENTICATED");
}

async fn login_from(app: &TestApp, address: &str, input: Value) -> Value {
    app.client
        .post(format!("{}/graphql", app.address))
        .header("x-forwarded-for", address)
        .json(&json!({"query": LOGIN, "variables": {"i": input}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn retry_after(body: &Value) -> u64 {
    assert_eq!(error_code(body), "RATE_LIMITED", "{body}");
    body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap()
}

async fn wrong_codes_from_many_addresses_lock_the_account_longer_each_time(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.server.trust_proxy = true;
        c.rate_limits.second_factor.limit = 3;
        c.rate_limits.second_factor.window = std::time::Duration::from_secs(900);
    })
    .await;
    let user = app.register().await;
    let bystander = app.register().await;
    let (secret, _) = enable_totp(&app, &user).await;
    // A code from an hour ago: wrong now.
    let wrong = json!({"email": user.email, "password": PASSWORD, "totpCode": code_at(&secret, now() - 3600)});
    for i in 1..=3 {
        let body = login_from(&app, &format!("198.51.100.{i}"), wrong.clone()).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    // Each address has one failure; the account has three: the next try,
    // from yet another address, is refused before it is checked, even
    // with the right code, and each try while refused waits longer.
    let right = json!({"email": user.email, "password": PASSWORD, "totpCode": code_at(&secret, now() + 30)});
    let first = retry_after(&login_from(&app, "198.51.100.4", right.clone()).await);
    let second = retry_after(&login_from(&app, "198.51.100.5", wrong.clone()).await);
    let third = retry_after(&login_from(&app, "198.51.100.6", right).await);
    assert!(
        first > 0 && second > first && third > second,
        "{first} {second} {third}"
    );
    // Wrong passwords count the same way.
    let password = json!({"email": user.email, "password": "wrong password!!"});
    retry_after(&login_from(&app, "198.51.100.7", password).await);
    // Another account on one of those addresses is not locked out.
    let other = login_from(
        &app,
        "198.51.100.8",
        json!({"email": bystander.email, "password": PASSWORD}),
    )
    .await;
    assert!(logged_in(&other), "{other}");
}

async fn wrong_passwords_from_one_address_are_slowed_across_accounts(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.server.trust_proxy = true;
        c.rate_limits.second_factor.limit = 2;
    })
    .await;
    let users = [
        app.register().await,
        app.register().await,
        app.register().await,
    ];
    for user in &users[..2] {
        let body = login_from(
            &app,
            "203.0.113.9",
            json!({"email": user.email, "password": "wrong password!!"}),
        )
        .await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    }
    let third = json!({"email": users[2].email, "password": PASSWORD});
    retry_after(&login_from(&app, "203.0.113.9", third.clone()).await);
    assert!(logged_in(&login_from(&app, "203.0.113.10", third).await));
}

async fn disabling_needs_a_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let (_, codes) = enable_totp(&app, &user).await;
    let wrong = app
        .gql(
            "mutation { disableTotp(code: \"000000\") }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        (error_code(&wrong), error_field(&wrong)),
        ("BAD_USER_INPUT", Some("code"))
    );
    let off = app
        .ok(
            "mutation($c: String!) { disableTotp(code: $c) }",
            json!({"c": codes[3]}),
            &user.token,
        )
        .await;
    assert_eq!(off["disableTotp"], true);
    assert!(logged_in(
        &login_with(&app, &user.email, PASSWORD, json!({})).await
    ));
    let again = app
        .gql(
            "mutation { disableTotp(code: \"000000\") }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&again), "INVALID_STATE");
}

both_backends!(
    enrolment_with_a_generated_code_makes_login_ask_for_it,
    a_code_is_accepted_once_on_any_instance,
    recovery_codes_are_good_once,
    wrong_codes_from_many_addresses_lock_the_account_longer_each_time,
    wrong_passwords_from_one_address_are_slowed_across_accounts,
    disabling_needs_a_code,
);
