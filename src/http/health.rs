use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::HttpState;
use crate::db;

/// How long `/readyz` waits for the database: an orchestrator's probe
/// must get an answer quickly, whatever a backend does.
const DATABASE_PROBE: Duration = Duration::from_millis(90);

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 while the database answers, 503 when it does not: without it
/// nothing can be served. The cache and the event bus are reported
/// `degraded` when unreachable without making the instance unready (it
/// serves from the database and counts rate limits itself meanwhile).
/// Their state is what the instance already knows (the Redis circuit
/// breaker, the bus's connection), so the answer never waits on Redis.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let app = &state.app;
    let database = match tokio::time::timeout(DATABASE_PROBE, db::ping(&app.db)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            // The reason stays in the log: this endpoint is often public.
            tracing::warn!(error = %e, "database not ready");
            false
        }
        Err(_) => {
            tracing::warn!("database did not answer the readiness probe in time");
            false
        }
    };
    let cache = app.cache.is_reachable();
    // The bus's own subscriber connection: down, this instance's
    // subscribers hear nothing even while the pool still answers.
    let events = app.events.is_connected();
    let db_kind = if db::is_sqlite(&app.db) {
        "sqlite"
    } else {
        "postgres"
    };
    let entry = |kind: &str, up: bool, otherwise: &str| json!({"kind": kind, "state": if up { "up" } else { otherwise }});
    let status = match (database, cache && events) {
        (false, _) => "unavailable",
        (true, false) => "degraded",
        (true, true) => "ready",
    };
    let body = json!({
        "status": status,
        "backends": {
            "database": entry(db_kind, database, "down"),
            "cache": entry(app.cache.backend_name(), cache, "degraded"),
            "events": entry(app.cache.backend_name(), events, "degraded"),
        }
    });
    let code = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
