//! The audit relay when things go wrong: a store that hangs, events that
//! keep failing (dead letters), and a relay that dies holding a lease.

use std::{
    collections::HashMap,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use chrono::Utc;
use paygraph::{
    audit::{dead_letters, relay::pending, tables::AUDIT_LOGS},
    config::Config,
};
use sea_orm::{DatabaseConnection, EntityTrait};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use crate::{
    audit::{DEADLINE, update_profile},
    both_backends,
    dynamo::{
        PrivateMoto, client, create_tables, dynamodb_url, fast_money, fast_relay, free_port,
        metric, require_dynamodb, s, scan, unique_prefix, use_dynamodb, wait_for,
        wait_for_empty_outbox,
    },
    helpers::{Backend, TestApp, error_code, fresh_postgres_database, spawn_app_with},
};

/// How many items of each event id the table holds.
async fn items_by_event(endpoint: &str, prefix: &str) -> HashMap<String, usize> {
    let dynamo = client(endpoint).await;
    let mut seen = HashMap::new();
    for item in scan(&dynamo, &format!("{prefix}{AUDIT_LOGS}")).await {
        *seen.entry(s(&item, "event_id").to_owned()).or_default() += 1;
    }
    seen
}

/// A store that stops answering: every round fails after the store
/// timeout and is counted, the gauges go on moving (lag rising), a read of
/// the audit log answers UNAVAILABLE; once it answers, every event arrives
/// once.
async fn a_hung_store_shows_as_failures_and_rising_lag_and_loses_nothing(backend: Backend) {
    let moto = PrivateMoto::start(free_port()).await;
    let prefix = unique_prefix();
    create_tables(&moto.url, &prefix).await;
    let app = spawn_app_with(backend, |c| {
        fast_relay(c);
        use_dynamodb(c, &moto.url, &prefix);
        c.audit.store_timeout = Duration::from_millis(1_000);
    })
    .await;
    let user = app.register().await;
    wait_for_empty_outbox(&app.db, DEADLINE).await;
    let failures_before = metric(&app, "paygraph_audit_relay_failures_total")
        .await
        .expect("the failure counter is exported");

    moto.pause();
    update_profile(&app, &user.token, "Hung").await;
    update_profile(&app, &user.token, "Still").await;
    let waiting = pending(&app.db).await.unwrap();
    assert_eq!(waiting.len(), 2, "both updates wait in the outbox");

    // With a 1 s store timeout and 1 s gauges, 20 s bound many rounds.
    const WHILE_HUNG: Duration = Duration::from_secs(20);
    let first_lag = wait_for(
        "failures counted and the lag shown while the store hangs",
        WHILE_HUNG,
        || async {
            let failures = metric(&app, "paygraph_audit_relay_failures_total").await?;
            let lag = metric(&app, "paygraph_audit_relay_lag_seconds").await?;
            let depth = metric(&app, "paygraph_audit_outbox_depth").await?;
            (failures > failures_before && lag > 0.0 && depth >= 2.0).then_some(lag)
        },
    )
    .await;
    wait_for("the lag to keep rising", WHILE_HUNG, || async {
        let lag = metric(&app, "paygraph_audit_relay_lag_seconds").await?;
        (lag > first_lag).then_some(())
    })
    .await;

    // A read waits for the store timeout, no longer, and says so.
    let body = app
        .gql(
            "{ me { auditLog(first: 5) { edges { node { eventId } } } } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(error_code(&body), "UNAVAILABLE", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"].is_u64(),
        "{body}"
    );

    moto.resume();
    wait_for_empty_outbox(&app.db, Duration::from_secs(120)).await;
    let stored = items_by_event(&moto.url, &prefix).await;
    for id in &waiting {
        assert_eq!(stored.get(&id.to_string()), Some(&1), "event {id} once");
    }
}

fn paygraph(args: &[&str], database_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paygraph"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run paygraph")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Events whose writes keep failing (the tables do not exist yet) move to
/// the dead-letter table after the configured attempts: shown on /metrics
/// and by `paygraph audit dead-letters list`. Requeued (one by id, then the
/// rest), each is delivered exactly once.
async fn events_that_keep_failing_are_dead_lettered_and_requeued_once(backend: Backend) {
    let url = require_dynamodb().await;
    let prefix = unique_prefix();
    let app = spawn_app_with(backend, |c| {
        fast_relay(c);
        use_dynamodb(c, &url, &prefix);
        c.audit.relay.max_attempts = 3;
    })
    .await;
    let user = app.register().await;
    update_profile(&app, &user.token, "Lost").await;

    let buried = wait_for("the events to be dead-lettered", DEADLINE, || async {
        let dead = metric(&app, "paygraph_audit_dead_letters").await?;
        let outbox = metric(&app, "paygraph_audit_outbox_depth").await?;
        (outbox == 0.0 && dead >= 2.0).then_some(dead)
    })
    .await;
    assert_eq!(
        metric(&app, "paygraph_audit_relay_dead_lettered_total").await,
        Some(buried)
    );
    let listed = stdout_of(&paygraph(
        &["audit", "dead-letters", "list"],
        app.config.database.url.expose_secret(),
    ));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len() as f64, buried, "{listed}");
    assert!(
        lines.iter().any(|l| l.contains("profile.updated")),
        "{listed}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("3 attempts") && l.contains("ResourceNotFound")),
        "the attempts and the store's error: {listed}"
    );
    let ids: Vec<Uuid> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().parse().expect("an event id"))
        .collect();

    // The store is fixed; the operator sends the events again.
    create_tables(&url, &prefix).await;
    let delivered_before = metric(&app, "paygraph_audit_relay_events_total")
        .await
        .unwrap();
    let one = stdout_of(&paygraph(
        &["audit", "dead-letters", "requeue", &ids[0].to_string()],
        app.config.database.url.expose_secret(),
    ));
    assert_eq!(one.trim(), "requeued 1");
    let unknown = paygraph(
        &[
            "audit",
            "dead-letters",
            "requeue",
            &Uuid::now_v7().to_string(),
        ],
        app.config.database.url.expose_secret(),
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no dead letter"));
    let rest = stdout_of(&paygraph(
        &["audit", "dead-letters", "requeue", "--all"],
        app.config.database.url.expose_secret(),
    ));
    assert_eq!(rest.trim(), format!("requeued {}", ids.len() - 1));

    wait_for_empty_outbox(&app.db, DEADLINE).await;
    let stored = items_by_event(&url, &prefix).await;
    assert_eq!(stored.len(), ids.len(), "{stored:?}");
    for id in &ids {
        assert_eq!(stored.get(&id.to_string()), Some(&1), "event {id} once");
    }
    wait_for("the metrics to show no dead letters", DEADLINE, || async {
        (metric(&app, "paygraph_audit_dead_letters").await? == 0.0).then_some(())
    })
    .await;
    let delivered = metric(&app, "paygraph_audit_relay_events_total")
        .await
        .unwrap();
    assert_eq!(
        delivered - delivered_before,
        ids.len() as f64,
        "each requeued event sent once"
    );
    assert_eq!(
        stdout_of(&paygraph(
            &["audit", "dead-letters", "list"],
            app.config.database.url.expose_secret()
        ))
        .trim(),
        "no dead letters"
    );
    assert!(dead_letters::list(&app.db).await.unwrap().is_empty());
}

/// A TCP endpoint that accepts connections and never answers.
async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// A `paygraph serve` process, killed (SIGKILL) when dropped.
struct Instance(Child);

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The outbox rows a relay holds (not due yet), with their lease's end.
async fn leased(db: &DatabaseConnection) -> HashMap<Uuid, chrono::DateTime<Utc>> {
    let now = Utc::now();
    entity::audit_outbox::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.next_attempt_at > now)
        .map(|r| (r.event_id, r.next_attempt_at))
        .collect()
}

/// An instance whose relay is mid-batch (its store hangs) is killed: the
/// lease it held is short, renewed while it lived, and once it is dead
/// another instance delivers its rows after that short lease.
async fn a_lease_held_by_a_killed_relay_runs_out_after_the_short_lease(backend: Backend) {
    const LEASE_MS: i64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display()),
        Backend::Postgres => {
            let url = fresh_postgres_database().await;
            let conn = sea_orm::Database::connect(&url).await.unwrap();
            paygraph::db::migrate(&conn).await.unwrap();
            url
        }
    };
    let prefix = unique_prefix();
    let hung = silent_endpoint().await;
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_paygraph"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &database_url)
        .env("PAYGRAPH_ADDR", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!")
        .env(
            "PAYGRAPH_ENCRYPTION_KEY",
            "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
        )
        .env("PAYGRAPH_LOG", "warn")
        .env("AUDIT_STORE", "dynamodb")
        .env("AWS_ENDPOINT_URL_DYNAMODB", &hung)
        .env("DYNAMODB_TABLE_PREFIX", &prefix)
        .env("PAYGRAPH_AUDIT_RELAY_POLL_MS", "100")
        .env("PAYGRAPH_AUDIT_RELAY_LEASE_MS", LEASE_MS.to_string())
        // Its batch stays in flight for as long as the test looks.
        .env("PAYGRAPH_AUDIT_STORE_TIMEOUT_MS", "600000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start paygraph serve");
    let instance = Instance(child);
    let address = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_for("the instance to serve", DEADLINE, || {
        let probe = http.get(format!("{address}/healthz")).send();
        async move { probe.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    let mut config = Config::default();
    config.database.url = database_url.clone().into();
    let db = paygraph::db::connect(&config).await.unwrap();
    let doomed = TestApp::attach(address, config, db.clone());
    let user = doomed.register().await;
    update_profile(&doomed, &user.token, "Doomed").await;
    let waiting = pending(&db).await.unwrap();
    assert!(waiting.len() >= 2, "{waiting:?}");

    // Its relay claims rows for one short lease, not a minute (the rows
    // of events that came after its claim wait, due, for the next round,
    // which never comes)...
    let held = wait_for("rows to be leased", DEADLINE, || async {
        let held = leased(&db).await;
        (!held.is_empty()).then_some(held)
    })
    .await;
    let first_end = *held.values().max().unwrap();
    assert!(
        first_end - Utc::now() <= chrono::Duration::milliseconds(LEASE_MS),
        "the lease ends {} after now",
        first_end - Utc::now()
    );
    // ... and renews it while the batch is in flight.
    wait_for("the lease to be renewed", DEADLINE, || async {
        let now = leased(&db).await;
        held.keys()
            .all(|id| now.get(id).is_some_and(|end| *end > first_end))
            .then_some(())
    })
    .await;

    drop(instance);
    let url = dynamodb_url();
    create_tables(&url, &prefix).await;
    let survivor = spawn_app_with(backend, |c| {
        c.database.url = database_url.clone().into();
        fast_relay(c);
        fast_money(c);
        use_dynamodb(c, &url, &prefix);
    })
    .await;
    // Bounds the wait well below the minute the old lease held rows for.
    wait_for_empty_outbox(&survivor.db, Duration::from_secs(30)).await;
    let stored = items_by_event(&url, &prefix).await;
    for id in &waiting {
        assert_eq!(stored.get(&id.to_string()), Some(&1), "event {id} once");
    }
}

both_backends!(
    a_hung_store_shows_as_failures_and_rising_lag_and_loses_nothing,
    events_that_keep_failing_are_dead_lettered_and_requeued_once,
    a_lease_held_by_a_killed_relay_runs_out_after_the_short_lease,
);
