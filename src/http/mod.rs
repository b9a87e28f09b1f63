//! The HTTP surface (api.md's transport table).

mod accept;
mod access_log;
mod client_address;
mod cors;
mod error_response;
mod exports;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod metrics_log;
mod rejection;
mod websocket;

use std::{sync::Arc, time::Duration};

use axum::{Router, http::HeaderName, routing::get};
use tower_http::{
    compression::{
        CompressionLayer,
        predicate::{DefaultPredicate, Predicate, SizeAbove},
    },
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

pub use self::{
    cors::Origins,
    metrics::{install_recorder, log_for_cloudwatch},
};
use crate::{context::ApiContext, graphql::ApiSchema};

/// What the handlers share. axum clones the state for every request, so it
/// is one pointer: the context holds a dozen handles of its own.
#[derive(Clone)]
pub struct HttpState(Arc<Shared>);

pub struct Shared {
    pub app: ApiContext,
    pub schema: ApiSchema,
    pub metrics: ::metrics_exporter_prometheus::PrometheusHandle,
    /// `PAYGRAPH_CORS_ORIGINS`, read.
    pub origins: Origins,
    /// The documents of automatic persisted queries.
    pub persisted: crate::cache::persisted_queries::PersistedQueries,
    /// `PAYGRAPH_TRUSTED_DOCUMENTS`, read (the schema enforces them).
    pub trusted: Option<Arc<crate::graphql::trusted_documents::TrustedDocuments>>,
}

impl HttpState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for HttpState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Answers above 1 KiB are compressed (gzip or br) when the request's
/// Accept-Encoding allows it; smaller ones gain too little to pay for the
/// work. Bodiless answers (a WebSocket upgrade's 101) and event streams are
/// never touched (the default predicate).
fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024)))
}

pub fn router(state: HttpState) -> Router {
    let cors = state.origins.clone().layer();
    Router::new()
        .route("/graphql", get(graphql::get_graphql).post(graphql::post_graphql))
        .route("/graphiql/{*asset}", get(graphiql::asset))
        .route("/schema.graphql", get(graphql::schema_sdl))
        .route("/exports/{token}", get(exports::download))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .with_state(state)
        .layer(cors)
        .layer(compression())
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %exports::loggable_path(req.uri().path()), request_id = %id)
        }))
        .layer(axum::middleware::from_fn(access_log::record))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
