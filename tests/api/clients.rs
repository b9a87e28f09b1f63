//! The client libraries front ends use, against the real server:
//! tests/clients/clients.mjs drives urql with its default settings (short
//! queries over GET) and Apollo Client with its automatic persisted-query
//! link, its batch link and GraphQLWsLink, and reports what they saw and
//! what they sent. The npm packages come from `npm ci --prefix
//! tests/clients` (scripts/test runs it).

use serde_json::Value;

use crate::{
    both_backends,
    helpers::{Backend, spawn_app},
};

both_backends!(urql_and_apollo_client_run_queries_a_mutation_and_subscriptions);

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");

/// What the script printed; a panic with its output when it failed.
async fn run_clients(url: &str) -> Value {
    for package in ["urql", "@urql/core", "@apollo/client", "graphql-ws", "ws"] {
        assert!(
            std::path::Path::new(DIR)
                .join("node_modules")
                .join(package)
                .is_dir(),
            "the npm package {package} is missing: run `npm ci --prefix tests/clients` \
             (scripts/test does)"
        );
    }
    let output = tokio::process::Command::new("node")
        .arg("clients.mjs")
        .arg(url)
        .current_dir(DIR)
        .output()
        .await
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the clients failed: {stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("the clients printed no JSON ({e}): {stdout}\n{stderr}"))
}

async fn urql_and_apollo_client_run_queries_a_mutation_and_subscriptions(backend: Backend) {
    let app = spawn_app(backend).await;
    let report = run_clients(&format!("{}/graphql", app.address)).await;
    let seen = &report["seen"];
    let wire = report["wire"].as_array().expect("a list of requests");
    let sent_by =
        |client: &str| -> Vec<&Value> { wire.iter().filter(|r| r["client"] == client).collect() };

    // urql, default settings: its queries went as GET (the server runs
    // them), its mutations as POST.
    let urql = sent_by("urql");
    let gets = urql.iter().filter(|r| r["method"] == "GET").count();
    let posts = urql.iter().filter(|r| r["method"] == "POST").count();
    assert!(gets >= 4, "urql's queries over GET: {urql:?}");
    assert_eq!(posts, 4, "urql's four mutations over POST: {urql:?}");
    assert!(
        urql.iter()
            .all(|r| r["status"] == 200 && r["codes"] == serde_json::json!([])),
        "{urql:?}"
    );
    assert_eq!(seen["urqlMe"], true, "{seen}");
    assert_eq!(seen["depositStatus"], "COMPLETED", "{seen}");

    // Apollo's APQ link: a hash the server does not know is asked for,
    // the link sends the document, and later the hash alone runs.
    let apq = sent_by("apollo-apq");
    let asked = apq
        .iter()
        .position(|r| r["hashOnly"] == true && r["codes"][0] == "PERSISTED_QUERY_NOT_FOUND")
        .unwrap_or_else(|| panic!("no PERSISTED_QUERY_NOT_FOUND: {apq:?}"));
    assert_eq!(apq[asked + 1]["hasQuery"], true, "{apq:?}");
    assert_eq!(apq[asked + 1]["status"], 200, "{apq:?}");
    assert!(
        apq.iter().any(|r| r["hashOnly"] == true
            && r["status"] == 200
            && r["codes"] == serde_json::json!([])),
        "the hash alone never ran: {apq:?}"
    );
    assert_eq!(seen["apqBalances"], serde_json::json!(["0.00", "0.00"]));

    // Apollo's batch link: two queries in one request, both answered.
    let batch = sent_by("apollo-batch");
    assert!(
        batch.iter().any(|r| r["batch"] == 2 && r["status"] == 200),
        "no batch of two: {batch:?}"
    );
    assert_eq!(seen["batchMe"], true, "{seen}");

    // The transfer's effect, as each side sees it: by later queries
    // (Apollo's batch, urql over GET) and by each one's subscription.
    assert_eq!(seen["fundedBalance"], "96.80", "{seen}");
    assert_eq!(seen["transferStatus"], "COMPLETED", "{seen}");
    assert_eq!(seen["payerBalanceAfter"], "71.80", "{seen}");
    assert_eq!(seen["payeeBalanceAfter"], "25.00", "{seen}");
    assert_eq!(seen["urqlSubscriptionBalance"], "25.00", "{seen}");
    assert_eq!(seen["apolloSubscriptionBalance"], "71.80", "{seen}");
}
