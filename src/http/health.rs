use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::HttpState;
use crate::db;

pub async fn healthz() -> &'static str {
    "ok"
}

/// 200 only while every configured backend answers; the body names each.
pub async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    let app = &state.app;
    let database = db::ping(&app.db).await.map_err(|e| e.to_string());
    let cache = app.cache.ping().await.map_err(|e| e.to_string());
    let db_kind = if db::is_sqlite(&app.db) {
        "sqlite"
    } else {
        "postgres"
    };
    let entry = |kind: &str, result: &Result<(), String>| match result {
        Ok(()) => json!({"kind": kind, "state": "up"}),
        // The reason stays in the log: this endpoint is often public.
        Err(e) => {
            tracing::warn!(backend = kind, error = %e, "backend not ready");
            json!({"kind": kind, "state": "down"})
        }
    };
    // The bus's own subscriber connection: down, this instance's
    // subscribers hear nothing even while the pool still answers.
    let events = if app.events.is_connected() {
        Ok(())
    } else {
        Err("subscriber connection down".to_owned())
    };
    let ready = database.is_ok() && cache.is_ok() && events.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "backends": {
            "database": entry(db_kind, &database),
            "cache": entry(app.cache.backend_name(), &cache),
            "events": entry(app.cache.backend_name(), &events),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
