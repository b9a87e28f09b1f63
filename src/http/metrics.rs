use std::sync::OnceLock;

use axum::extract::State;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::HttpState;

/// The process has one metrics recorder; every server built in it (tests
/// build several) shares it.
pub fn install_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("the only metrics recorder of this process")
        })
        .clone()
}

pub async fn render(State(state): State<HttpState>) -> String {
    state.metrics.render()
}
