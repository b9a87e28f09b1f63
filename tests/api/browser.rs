//! The API in a real browser: Debian's Chromium, headless, driven by the
//! npm `playwright-core`. GraphiQL (tests/browser/graphiql.mjs), with every
//! request to anything but the server aborted; and a front end on another
//! origin calling the API with fetch (tests/browser/cors.mjs). scripts/test
//! installs both; without them these tests fail and say how to get them.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: `apt-get install -y chromium` (scripts/test does it)"
    );
    assert!(
        Path::new(BROWSER_DIR)
            .join("node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: `npm ci --prefix tests/browser` (scripts/test does it)"
    );
    path
}

/// Runs one of tests/browser's scripts and returns the JSON it prints.
async fn run_script(script: &str, args: &[&str]) -> Value {
    let chromium = chromium();
    let run = tokio::process::Command::new("node")
        .arg(Path::new(BROWSER_DIR).join(script))
        .args(args)
        .env("CHROMIUM", chromium)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in 3 minutes"))
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed: {stdout}\n{stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{script} printed no report ({e}): {stdout}\n{stderr}"))
}

fn strings(report: &Value, key: &str) -> Vec<String> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn graphiql_works_offline_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app.register().await;
    let screenshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/graphiql-screenshot.png"
    );
    let _ = std::fs::remove_file(screenshot);
    let report = run_script(
        "graphiql.mjs",
        &[&app.address, &user.token, &user.email, screenshot],
    )
    .await;

    assert!(report["failure"].is_null(), "{report:#}");
    assert_eq!(report["status"], 200, "{report:#}");
    let policy = report["csp"].as_str().unwrap_or_default();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("script-src 'self';"), "{policy}");
    // Nothing was asked of another origin, nothing broke the policy.
    assert_eq!(
        strings(&report, "offsite"),
        Vec::<String>::new(),
        "{report:#}"
    );
    assert_eq!(
        strings(&report, "policyViolations"),
        Vec::<String>::new(),
        "{report:#}"
    );
    assert_eq!(
        strings(&report, "pageErrors"),
        Vec::<String>::new(),
        "{report:#}"
    );
    // The query ran with the Headers pane's token: `me` is the user.
    let response = report["response"].as_str().unwrap_or_default();
    assert!(response.contains(&user.email), "{response}");
    // The Docs explorer loaded the schema by introspection.
    let root = report["docsRoot"].as_str().unwrap_or_default();
    assert!(root.contains("Query"), "{root}");
    let query = report["docsQuery"].as_str().unwrap_or_default();
    assert!(query.contains("me"), "{query}");
    assert!(
        Path::new(screenshot).exists(),
        "no screenshot at {screenshot}"
    );
}

#[tokio::test]
async fn a_front_end_on_a_listed_origin_calls_the_api_and_another_is_blocked() {
    let (allowed, other) = (crate::dynamo::free_port(), crate::dynamo::free_port());
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.server.cors_origins = Some(format!("http://localhost:{allowed}"));
    })
    .await;
    let report = run_script(
        "cors.mjs",
        &[&app.address, &allowed.to_string(), &other.to_string()],
    )
    .await;

    assert!(report["failure"].is_null(), "{report:#}");
    // The listed origin's page reads the answer (its preflight for a JSON
    // POST with an Authorization header was allowed).
    assert_eq!(report["allowed"]["status"], 200, "{report:#}");
    assert_eq!(
        report["allowed"]["body"]["data"]["__typename"], "Query",
        "{report:#}"
    );
    // Chromium refuses the other page's call: it never sees an answer.
    assert!(
        report["other"]["refused"]
            .as_str()
            .is_some_and(|e| e.contains("Failed to fetch")),
        "{report:#}"
    );
}
