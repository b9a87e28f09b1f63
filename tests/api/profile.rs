use serde_json::json;

use crate::{
    both_backends,
    helpers::{Backend, error_code, error_field, spawn_app},
};

const UPDATE: &str = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { firstName phone profile { dateOfBirth kycStatus address { line1 city postalCode country } } } }";

async fn profile_updates_are_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let input = json!({
        "firstName": "Augusta",
        "phone": "+44 20 7946 0958",
        "dateOfBirth": "1990-12-10",
        "address": {"line1": "12 St James's Sq", "city": "London", "postalCode": "SW1Y 4JH", "country": "gb"}
    });
    let body = app
        .gql(UPDATE, json!({"i": input}), Some(&user.token))
        .await;
    let me = &body["data"]["updateProfile"];
    assert_eq!(me["firstName"], "Augusta", "{body}");
    assert_eq!(me["phone"], "+442079460958");
    assert_eq!(me["profile"]["dateOfBirth"], "1990-12-10");
    assert_eq!(me["profile"]["kycStatus"], "PENDING");
    assert_eq!(me["profile"]["address"]["country"], "GB");

    let read = app
        .gql(
            "{ me { lastName profile { address { city } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(
        read["data"]["me"]["lastName"], "Lovelace",
        "fields left out are unchanged"
    );
    assert_eq!(read["data"]["me"]["profile"]["address"]["city"], "London");
}

async fn bad_profile_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let too_young = chrono::Utc::now().date_naive() - chrono::Days::new(365 * 10);
    let cases = [
        (
            json!({"firstName": "Ok", "dateOfBirth": too_young.to_string()}),
            "dateOfBirth",
        ),
        (
            json!({"firstName": "Ok", "address": {"line1": "x", "city": "y", "postalCode": "z", "country": "Narnia"}}),
            "address.country",
        ),
        (json!({"firstName": "Ok", "phone": "call me"}), "phone"),
    ];
    for (input, field) in cases {
        let body = app
            .gql(UPDATE, json!({"i": input}), Some(&user.token))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(error_field(&body), Some(field), "{body}");
    }
    let me = app
        .gql("{ me { firstName } }", json!({}), Some(&user.token))
        .await;
    assert_eq!(
        me["data"]["me"]["firstName"], "Ada",
        "a refused update changed nothing"
    );
}

both_backends!(profile_updates_are_saved, bad_profile_input_changes_nothing);
