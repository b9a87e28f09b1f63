//! GraphiQL in a real browser: Debian's Chromium, headless, driven by the
//! npm `playwright-core` (tests/browser/graphiql.mjs), with every request
//! to anything but the server aborted. scripts/test installs both; without
//! them this test fails and says how to get them.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

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
