//! The metrics CloudWatch sees. CloudWatch reads the service only through
//! its logs (the metric filters of `infra/cloudformation/monitoring.yaml`),
//! so every minute each instance writes one JSON line per series of
//! [`FAMILIES`] (target `paygraph::metrics`, message `metric`): for a
//! counter, its increase since the last line, and only when it increased;
//! for a histogram, the count and sum of the values recorded since
//! (`<family>_count`, `<family>_sum`); for a gauge, its value. The metric's
//! name is the field `metric`, its value the field `value`, and each label
//! a field of its own name, which the filters turn into dimensions.
//!
//! A recorder beside the Prometheus one (both get every update) keeps
//! these families; a quiet instance writes the pool gauges and little else.

use std::{
    sync::{Arc, OnceLock, atomic::Ordering},
    time::Duration,
};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

/// The families written to the log.
pub const FAMILIES: &[&str] = &[
    "paygraph_transactions_total",
    "paygraph_balance_changes_total",
    "paygraph_balance_change_minor_units_total",
    "paygraph_fraud_score",
    "paygraph_fraud_decisions_total",
    "paygraph_db_pool_connections",
    "paygraph_db_pool_max_connections",
    "paygraph_redis_pool_connections",
    "paygraph_redis_pool_max_connections",
];

/// How often the lines are written: CloudWatch's standard resolution.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// Every label the families of [`FAMILIES`] have: each is a field of the
/// line.
const LABELS: [&str; 6] = [
    "type",
    "status",
    "currency",
    "operation",
    "decision",
    "state",
];

/// Keeps the updates of [`FAMILIES`] until [`LogRecorder::drain`] takes
/// them.
#[derive(Clone)]
pub struct LogRecorder(Arc<Registry<Key, AtomicStorage>>);

/// One line: a series and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl LogRecorder {
    /// The process's one log recorder (installed beside the Prometheus
    /// recorder by [`super::install_recorder`]).
    pub fn global() -> &'static LogRecorder {
        static GLOBAL: OnceLock<LogRecorder> = OnceLock::new();
        GLOBAL.get_or_init(LogRecorder::new)
    }

    fn new() -> Self {
        Self(Arc::new(Registry::atomic()))
    }

    /// What changed since the last call, as the lines to write, sorted.
    pub fn drain(&self) -> Vec<Line> {
        let mut lines = Vec::new();
        self.0.visit_counters(|key, counter| {
            let increase = counter.swap(0, Ordering::Relaxed);
            if increase > 0 {
                lines.push(line(key, "", increase as f64));
            }
        });
        self.0.visit_histograms(|key, histogram| {
            let (mut count, mut sum) = (0u64, 0.0);
            histogram.clear_with(|values| {
                count += values.len() as u64;
                sum += values.iter().sum::<f64>();
            });
            if count > 0 {
                lines.push(line(key, "_count", count as f64));
                lines.push(line(key, "_sum", sum));
            }
        });
        self.0.visit_gauges(|key, gauge| {
            lines.push(line(key, "", f64::from_bits(gauge.load(Ordering::Relaxed))));
        });
        lines.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        lines
    }

    fn kept(key: &Key) -> bool {
        FAMILIES.contains(&key.name())
    }
}

fn line(key: &Key, suffix: &str, value: f64) -> Line {
    Line {
        metric: format!("{}{suffix}", key.name()),
        labels: key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect(),
        value,
    }
}

impl Recorder for LogRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if !Self::kept(key) {
            return Counter::noop();
        }
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        if !Self::kept(key) {
            return Gauge::noop();
        }
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if !Self::kept(key) {
            return Histogram::noop();
        }
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// Writes `lines` to the log.
pub fn write(lines: &[Line]) {
    for l in lines {
        let label = |name: &str| {
            l.labels
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let [kind, status, currency, operation, decision, state] = LABELS.map(label);
        tracing::info!(
            target: "paygraph::metrics",
            metric = %l.metric,
            value = l.value,
            r#type = kind,
            status,
            currency,
            operation,
            decision,
            state,
            "metric"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::{Line, LogRecorder};

    fn line(metric: &str, labels: &[(&str, &str)], value: f64) -> Line {
        Line {
            metric: metric.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        }
    }

    #[test]
    fn each_line_says_what_changed_since_the_last() {
        let recorder = LogRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let completed = [("type", "transfer"), ("status", "completed")];
            metrics::counter!("paygraph_transactions_total", &completed).increment(2);
            metrics::counter!("paygraph_transactions_total", &completed).increment(1);
            metrics::counter!("paygraph_fraud_decisions_total", "decision" => "review")
                .increment(0);
            metrics::histogram!("paygraph_fraud_score").record(10.0);
            metrics::histogram!("paygraph_fraud_score").record(35.0);
            metrics::gauge!("paygraph_db_pool_connections", "state" => "in_use").set(4.0);
            metrics::counter!("paygraph_graphql_requests_total").increment(1);
        });
        assert_eq!(
            recorder.drain(),
            [
                line("paygraph_db_pool_connections", &[("state", "in_use")], 4.0),
                line("paygraph_fraud_score_count", &[], 2.0),
                line("paygraph_fraud_score_sum", &[], 45.0),
                line(
                    "paygraph_transactions_total",
                    &[("type", "transfer"), ("status", "completed")],
                    3.0
                ),
            ],
            "the families of the log only, a counter only when it moved"
        );
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("paygraph_transactions_total", "type" => "transfer", "status" => "completed")
                .increment(1);
        });
        assert_eq!(
            recorder.drain(),
            [
                line("paygraph_db_pool_connections", &[("state", "in_use")], 4.0),
                line(
                    "paygraph_transactions_total",
                    &[("type", "transfer"), ("status", "completed")],
                    1.0
                ),
            ],
            "counters by their increase since, gauges as they are"
        );
    }

    /// The JSON a line becomes, as the metric filters read it.
    #[test]
    fn a_line_carries_its_labels_as_fields_of_their_own_name() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            super::write(&[line(
                "paygraph_transactions_total",
                &[("type", "transfer"), ("status", "failed")],
                2.0,
            )]);
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let json: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(json["target"], "paygraph::metrics");
        assert_eq!(
            json["fields"],
            serde_json::json!({
                "message": "metric",
                "metric": "paygraph_transactions_total",
                "value": 2.0,
                "type": "transfer",
                "status": "failed",
            })
        );
    }
}
