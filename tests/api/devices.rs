//! Signed-in devices: a user lists their open sessions, ends one (on every
//! instance at once) or all but the current one, and sees a login from a
//! new device in their audit log.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    both_backends,
    dynamo::wait_for,
    helpers::{Backend, PASSWORD, TestApp, error_code, spawn_app, spawn_app_with},
};

const SESSIONS: &str = "{ me { sessions(first: 10) { edges { node { id deviceName userAgent createdAt lastSeenAt current } } } } }";

/// Logs in as a device would: its name in the input, its user agent in
/// the header. Returns the whole body.
pub async fn login_from(app: &TestApp, email: &str, device: &str, agent: &str) -> Value {
    app.client
        .post(format!("{}/graphql", app.address))
        .header("user-agent", agent)
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { token } }",
            "variables": {"i": {"email": email, "password": PASSWORD, "deviceName": device}}
        }))
        .send()
        .await
        .expect("request reaches the server")
        .json()
        .await
        .expect("a JSON response")
}

pub fn token_of(body: &Value) -> String {
    body["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {body}"))
        .to_owned()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app.ok(SESSIONS, json!({}), token).await;
    data["me"]["sessions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn revoke(app: &TestApp, token: &str, id: &str) -> Value {
    app.gql(
        "mutation($id: ID!) { revokeSession(id: $id) }",
        json!({"id": id}),
        Some(token),
    )
    .await
}

pub(crate) async fn the_device_list_shows_each_login_on_every_instance(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.spawn_sibling().await;
    let user = app.register().await;
    let phone = token_of(&login_from(&app, &user.email, "Ada's phone", "PhoneApp/1.0").await);
    let laptop = token_of(&login_from(&other, &user.email, "Ada's laptop", "Firefox/140").await);

    for (instance, token) in [(&app, &phone), (&other, &laptop)] {
        let list = sessions(instance, token).await;
        // Registration opened a session too; newest first.
        assert_eq!(list.len(), 3, "{list:?}");
        assert_eq!(list[0]["deviceName"], "Ada's laptop");
        assert_eq!(list[0]["userAgent"], "Firefox/140");
        assert_eq!(list[1]["deviceName"], "Ada's phone");
        assert_eq!(list[1]["userAgent"], "PhoneApp/1.0");
        let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1, "exactly one session is the caller's");
        let expected = if *token == laptop {
            "Ada's laptop"
        } else {
            "Ada's phone"
        };
        assert_eq!(current[0]["deviceName"], expected);
        assert!(list[0]["createdAt"].is_string() && list[0]["lastSeenAt"].is_string());
        // Nothing of the address is shown.
        assert!(list[0].get("clientAddress").is_none());
    }
}

pub(crate) async fn revoking_a_session_ends_it_on_every_instance_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.spawn_sibling().await;
    let user = app.register().await;
    let phone = token_of(&login_from(&app, &user.email, "phone", "PhoneApp/1.0").await);
    // The phone's session is in use on the other instance (and so cached there).
    assert_eq!(other.me(&phone).await["data"]["me"]["id"], user.id.as_str());

    let list = sessions(&app, &user.token).await;
    let phone_id = list.iter().find(|s| s["deviceName"] == "phone").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = revoke(&app, &user.token, &phone_id).await;
    assert_eq!(body["data"]["revokeSession"], true, "{body}");

    assert_eq!(error_code(&other.me(&phone).await), "UNAUTHENTICATED");
    assert_eq!(error_code(&app.me(&phone).await), "UNAUTHENTICATED");
    // The revoking session goes on, and the list no longer shows the phone.
    let list = sessions(&other, &user.token).await;
    assert!(list.iter().all(|s| s["deviceName"] != "phone"), "{list:?}");
    // Ended already: nothing left to revoke.
    assert_eq!(
        error_code(&revoke(&app, &user.token, &phone_id).await),
        "NOT_FOUND"
    );
}

pub(crate) async fn logout_everywhere_keeps_only_the_current_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.spawn_sibling().await;
    let user = app.register().await;
    let phone = token_of(&login_from(&app, &user.email, "phone", "PhoneApp/1.0").await);
    let laptop = token_of(&login_from(&other, &user.email, "laptop", "Firefox/140").await);
    assert_eq!(other.me(&phone).await["data"]["me"]["id"], user.id.as_str());

    let body = other
        .gql("mutation { logoutEverywhere }", json!({}), Some(&laptop))
        .await;
    assert_eq!(body["data"]["logoutEverywhere"], true, "{body}");

    for instance in [&app, &other] {
        assert_eq!(error_code(&instance.me(&phone).await), "UNAUTHENTICATED");
        assert_eq!(
            error_code(&instance.me(&user.token).await),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            instance.me(&laptop).await["data"]["me"]["id"],
            user.id.as_str()
        );
    }
    let list = sessions(&app, &laptop).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["current"], true);
}

async fn another_users_session_cannot_be_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.register().await;
    let eve = app.register().await;
    let ada_session = sessions(&app, &ada.token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = revoke(&app, &eve.token, &ada_session).await;
    // As any object of another user: as if it did not exist.
    assert_eq!(error_code(&body), "NOT_FOUND", "{body}");
    assert_eq!(
        app.me(&ada.token).await["data"]["me"]["id"],
        ada.id.as_str()
    );
    // And nobody reads another user's device list.
    let theirs = app
        .gql(
            "query($id: ID!) { node(id: $id) { ... on User { sessions { edges { node { id } } } } } }",
            json!({"id": ada.id}),
            Some(&eve.token),
        )
        .await;
    assert_eq!(error_code(&theirs), "NOT_FOUND", "{theirs}");
}

async fn a_login_from_a_new_device_shows_in_the_audit_log(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.audit.relay.poll = Duration::from_millis(50)).await;
    let user = app.register().await;
    let first = token_of(&login_from(&app, &user.email, "phone", "PhoneApp/1.0").await);
    // The same device again is not new; another name on the same agent is.
    login_from(&app, &user.email, "phone", "PhoneApp/1.0").await;
    login_from(&app, &user.email, "tablet", "PhoneApp/1.0").await;

    let new_devices = wait_for("two new-device events", Duration::from_secs(30), || async {
        let data = app
            .ok(
                "{ me { auditLog(first: 50) { edges { node { eventType data } } } } }",
                json!({}),
                &first,
            )
            .await;
        let found: Vec<Value> = data["me"]["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .filter(|n| n["eventType"] == "session.new_device")
            .collect();
        let logins = data["me"]["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["eventType"] == "user.login")
            .count();
        (logins == 3).then_some(found)
    })
    .await;
    // Two logins a moment apart may share a timestamp: compare as a set.
    let mut names: Vec<&str> = new_devices
        .iter()
        .map(|n| n["data"]["deviceName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["phone", "tablet"], "{new_devices:?}");
    assert!(
        new_devices
            .iter()
            .all(|n| n["data"]["userAgent"] == "PhoneApp/1.0"),
        "{new_devices:?}"
    );
}

both_backends!(
    the_device_list_shows_each_login_on_every_instance,
    revoking_a_session_ends_it_on_every_instance_at_once,
    logout_everywhere_keeps_only_the_current_session,
    another_users_session_cannot_be_revoked,
    a_login_from_a_new_device_shows_in_the_audit_log,
);
