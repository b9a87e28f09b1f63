//! `GET /exports/<token>`: a statement file, for whoever holds a link the
//! service signed (`createStatementExport`) and has not expired. No
//! `Authorization` header: the link is the permission.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{HttpState, error_response::error_response};
use crate::{
    graphql::{
        errors::{ApiError, Code, RETRY_AFTER_UNAVAILABLE_SECS},
        ids::{self, Kind},
    },
    ledger,
};

/// A request's path as logs may keep it: an export link's token is a
/// permission, so it never reaches a log.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/exports/") {
        "/exports/{token}"
    } else {
        path
    }
}

pub async fn download(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    match statement_csv(&state, &token).await {
        Ok(response) => response,
        Err(e) => refusal(e),
    }
}

async fn statement_csv(state: &HttpState, token: &str) -> Result<Response, ApiError> {
    let app = &state.app;
    let (wallet_id, month) = app.exports.grant(token)?;
    let wallet = app
        .retry
        .read(|| ledger::wallet_by_id(&app.db, wallet_id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let currency = wallet.currency;
    // The link was made for a reader earlier: the owner's writes since
    // are what the replica may not have yet.
    let wallet = &wallet;
    let lines = app
        .reads
        .read(&[wallet.user_id], |db| async move {
            ledger::statement_lines(&db, wallet, month).await
        })
        .await?;
    let body = ledger::write_csv(&lines, currency, |id| {
        ids::encode(Kind::Transaction, id).to_string()
    });
    let filename = format!(
        "attachment; filename=\"statement-{}-{month}.csv\"",
        wallet.currency
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&filename).map_err(|e| ApiError::internal(&e))?,
            ),
            // The URL carries its permission: no cache keeps the answer.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// The error in the API's JSON shape, with the status its code has.
fn refusal(e: ApiError) -> Response {
    let status = match e.code() {
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = error_response(status, e);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
        );
    }
    response
}
