//! JSON logs through `tracing` on stdout, filtered by `PAYGRAPH_LOG`.
//! Stderr is kept for the one line a failed command prints.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests start many servers) keeps the first subscriber.
    let _ = fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
