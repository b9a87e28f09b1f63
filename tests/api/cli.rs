//! The `paygraph` binary itself: its commands and its start-up refusals.

use std::process::{Command, Output};

use secrecy::ExposeSecret;
use serde_json::json;

use crate::helpers::{Backend, error_code, fresh_postgres_database, spawn_app};

fn paygraph(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paygraph"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run paygraph")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn print_schema_matches_the_checked_in_file() {
    let out = paygraph(&["print-schema"], &[]);
    assert!(out.status.success());
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == checked_in,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let out = paygraph(&["serve"], &[("PAYGRAPH_ADDR", "not-an-address")]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("PAYGRAPH_ADDR") || err.contains("ADDR"),
        "{err}"
    );

    let out = paygraph(&["serve"], &[("DATABASE_URL", "mysql://x")]);
    assert!(stderr(&out).contains("DATABASE_URL"), "{}", stderr(&out));
}

#[tokio::test]
async fn serve_refuses_a_postgres_whose_migrations_are_behind() {
    let url = fresh_postgres_database().await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!"),
        (
            "PAYGRAPH_ENCRYPTION_KEY",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        ),
        ("PAYGRAPH_ADDR", "127.0.0.1:0"),
    ];
    let out = paygraph(&["serve"], &env);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("paygraph migrate"), "{err}");

    let migrated = paygraph(&["migrate"], &env);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let conn = sea_orm::Database::connect(&url).await.unwrap();
    assert!(
        paygraph::db::pending_migrations(&conn)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn postgres_without_secrets_refuses_to_start() {
    let out = paygraph(
        &["serve"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1/postgres")],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("JWT_SECRET"), "{}", stderr(&out));
}

/// Runs the binary without blocking the test's runtime, which also drives
/// the server under test: a blocked runtime would freeze that server (and
/// its background work, holding whatever lock it held) until the command ends.
async fn paygraph_beside(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        paygraph(&args, &env)
    })
    .await
    .expect("run paygraph")
}

async fn grant_role_from_the_command_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register().await;
    let url = app.config.database.url.expose_secret().to_owned();
    let out = paygraph_beside(
        &["users", "grant-role", &user.email, "support"],
        &[("DATABASE_URL", &url)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let roles = sea_orm::ConnectionTrait::query_one_raw(
        &app.db,
        sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM user_roles WHERE role = 'support'",
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(roles.try_get::<i64>("", "n").unwrap(), 1);

    let unknown = paygraph_beside(
        &["users", "grant-role", "nobody@example.com", "support"],
        &[("DATABASE_URL", &url)],
    )
    .await;
    assert!(!unknown.status.success());
    let bad_role = paygraph_beside(
        &["users", "grant-role", &user.email, "admin"],
        &[("DATABASE_URL", &url)],
    )
    .await;
    assert!(
        stderr(&bad_role).contains("unknown role"),
        "{}",
        stderr(&bad_role)
    );

    let out = paygraph_beside(
        &["users", "revoke-role", &user.email, "support"],
        &[("DATABASE_URL", &url)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The session still works: roles change what a user may do, not who they are.
    let me = app.gql("{ me { id } }", json!({}), Some(&user.token)).await;
    assert!(me.get("errors").is_none(), "{me} {}", error_code(&me));
}

/// A role changed from the command line applies to sessions already in
/// use: servers cache a user's roles in the shared cache (Redis), and the
/// command rewrites that entry.
async fn roles_from_the_command_line_reach_open_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.register().await;
    let search = || {
        app.gql(
            "{ users(first: 1) { edges { node { id } } } }",
            json!({}),
            Some(&agent.token),
        )
    };
    // The session is in use (so its standing is cached) before the change.
    assert_eq!(error_code(&search().await), "FORBIDDEN");
    let mut env = vec![("DATABASE_URL", app.config.database.url.expose_secret())];
    if let Some(url) = &app.config.redis.url {
        env.push(("REDIS_URL", url.expose_secret()));
        env.push(("REDIS_KEY_PREFIX", &app.config.redis.key_prefix));
    }
    let ca_file = app
        .config
        .redis
        .tls_ca_file
        .as_ref()
        .map(|p| p.display().to_string());
    if let Some(ca_file) = &ca_file {
        env.push(("REDIS_TLS_CA_FILE", ca_file));
    }
    for (command, answer) in [("grant-role", None), ("revoke-role", Some("FORBIDDEN"))] {
        let out = paygraph_beside(&["users", command, &agent.email, "support"], &env).await;
        assert!(out.status.success(), "{}", stderr(&out));
        let body = search().await;
        match answer {
            None => assert!(body.get("errors").is_none(), "{command}: {body}"),
            Some(code) => assert_eq!(error_code(&body), code, "{command}: {body}"),
        }
    }
}

crate::both_backends!(
    grant_role_from_the_command_line,
    roles_from_the_command_line_reach_open_sessions
);

#[test]
fn dynamodb_tables_are_described_as_json() {
    let out = paygraph(&["dynamodb", "describe-tables"], &[]);
    let tables: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = tables["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["TableName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit_logs", "fraud_detection"]);
}

/// The niceness of each of the process's threads named `tokio-rt-worker`
/// (the threads that serve requests), and of its main thread.
#[cfg(target_os = "linux")]
fn runtime_thread_niceness(pid: u32) -> (i64, Vec<i64>) {
    let niceness = |stat: &str| -> i64 {
        // Field 19 of stat(5); the fields after the command's ")" start at 3.
        let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
        rest.split(' ')
            .nth(16)
            .expect("niceness")
            .parse()
            .expect("a number")
    };
    let read = |path: String| std::fs::read_to_string(path).unwrap_or_default();
    let main = niceness(&read(format!("/proc/{pid}/stat")));
    let mut workers = vec![];
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("its threads") {
        let dir = task.expect("a thread").path();
        let comm = read(format!("{}/comm", dir.display()));
        let stat = read(format!("{}/stat", dir.display()));
        if comm.trim() == "tokio-rt-worker" && !stat.is_empty() {
            workers.push(niceness(&stat));
        }
    }
    (main, workers)
}

#[cfg(target_os = "linux")]
#[test]
fn request_threads_step_down_only_when_transfer_workers_first_is_set() {
    for first in [false, true] {
        let dir = tempfile::tempdir().expect("a folder");
        let url = format!("sqlite://{}/p.db?mode=rwc", dir.path().display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_paygraph"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("PAYGRAPH_ADDR", "127.0.0.1:0")
            .env("PAYGRAPH_LOG", "error")
            .env("PAYGRAPH_TRANSFER_WORKERS_FIRST", first.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start paygraph");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let (main, workers) = loop {
            let (main, workers) = runtime_thread_niceness(child.id());
            let stepped_down = workers.iter().any(|&n| n == main + 5);
            let settled = !workers.is_empty() && (stepped_down || !first);
            if settled || std::time::Instant::now() > deadline {
                // Threads that would step down do so as they start.
                std::thread::sleep(std::time::Duration::from_millis(500));
                break runtime_thread_niceness(child.id());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let _ = child.kill();
        let _ = child.wait();
        assert!(!workers.is_empty(), "no runtime threads seen");
        let expected = if first { main + 5 } else { main };
        assert!(
            workers.iter().all(|&n| n == expected),
            "PAYGRAPH_TRANSFER_WORKERS_FIRST={first}: main thread at {main}, request threads at {workers:?}"
        );
    }
}
