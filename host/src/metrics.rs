//! Scheduling latency as Prometheus histograms, under kube-scheduler's own
//! metric names and buckets, so dashboards and benchmarks read both
//! schedulers alike.
//!
//! - `scheduler_scheduling_attempt_duration_seconds{result,profile}`: from
//!   the moment the loop takes a pod from the queue to the end of its
//!   attempt: the bind's result when the pod was placed (binding is
//!   asynchronous, so this spans other pods' cycles, as it does in
//!   kube-scheduler), the decision otherwise.
//! - `scheduler_scheduling_algorithm_duration_seconds`: the framework cycle
//!   alone (filter and score plugins).
//!
//! [`serve`] answers `GET /metrics` (and `/healthz`) over plain HTTP.
//!
//! ```
//! use kws_host::metrics::{AttemptResult, Metrics};
//! use std::time::Duration;
//!
//! let metrics = Metrics::default();
//! metrics.observe_attempt("kube-wasm-scheduler", AttemptResult::Scheduled, Duration::from_millis(3));
//! let text = metrics.render();
//! assert!(text.contains(
//!     r#"scheduler_scheduling_attempt_duration_seconds_bucket{result="scheduled",profile="kube-wasm-scheduler",le="0.004"} 1"#
//! ));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// kube-scheduler's buckets for both histograms:
/// `ExponentialBuckets(0.001, 2, 15)`, 1 ms to about 16 s.
const BUCKETS: [f64; 15] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384,
];

/// How an attempt ended, kube-scheduler's `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttemptResult {
    Scheduled,
    Unschedulable,
    /// A plugin failed, or the bind did.
    Error,
}

impl AttemptResult {
    fn label(self) -> &'static str {
        match self {
            AttemptResult::Scheduled => "scheduled",
            AttemptResult::Unschedulable => "unschedulable",
            AttemptResult::Error => "error",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or below each of [`BUCKETS`], not cumulated.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulated = 0;
        for (le, n) in BUCKETS.iter().zip(self.buckets) {
            cumulated += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulated}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Histograms {
    attempts: BTreeMap<(AttemptResult, String), Histogram>,
    algorithm: Histogram,
}

/// The scheduler's metrics; cheap to share (`Arc`) between the loop, the
/// binder's tasks and the HTTP endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    histograms: Mutex<Histograms>,
}

impl Metrics {
    pub fn observe_attempt(&self, profile: &str, result: AttemptResult, took: Duration) {
        let mut histograms = self.histograms.lock().expect("metrics lock");
        histograms
            .attempts
            .entry((result, profile.to_string()))
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn observe_algorithm(&self, took: Duration) {
        let mut histograms = self.histograms.lock().expect("metrics lock");
        histograms.algorithm.observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let histograms = self.histograms.lock().expect("metrics lock");
        let mut out = String::new();
        let attempt = "scheduler_scheduling_attempt_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {attempt} Scheduling attempt latency in seconds (scheduling algorithm + binding)\n# TYPE {attempt} histogram"
        );
        for ((result, profile), histogram) in &histograms.attempts {
            let labels = format!("result=\"{}\",profile=\"{profile}\"", result.label());
            histogram.render(&mut out, attempt, &labels);
        }
        let algorithm = "scheduler_scheduling_algorithm_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {algorithm} Scheduling algorithm latency in seconds\n# TYPE {algorithm} histogram"
        );
        histograms.algorithm.render(&mut out, algorithm, "");
        out
    }
}

/// Serves `metrics` on `listener` until the runtime stops: `GET /metrics`
/// gives [`Metrics::render`], `GET /healthz` gives `ok`, anything else 404.
/// One request per connection, as scrapers and probes send them. A
/// connection that has not sent its request within [`REQUEST_TIMEOUT`] is
/// closed unanswered, so clients that connect and say nothing cannot pile
/// up; when accepting fails (out of file descriptors), the loop waits a
/// second instead of spinning.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    serve_within(listener, metrics, REQUEST_TIMEOUT).await
}

/// How long a connection to [`serve`] may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_within(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
) {
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics: cannot accept a connection");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            // Only the request line matters; stop at the end of the headers.
            let read = async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            if tokio::time::timeout(request_timeout, read).await.is_err() {
                return;
            }
            let line = String::from_utf8_lossy(&request);
            let path = line.split_whitespace().nth(1).unwrap_or_default();
            let (status, body) = match path {
                "/metrics" => ("200 OK", metrics.render()),
                "/healthz" => ("200 OK", "ok".to_string()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_slow_attempts_only_count_in_inf() {
        let metrics = Metrics::default();
        for ms in [1, 3, 3, 20_000] {
            metrics.observe_attempt("p", AttemptResult::Scheduled, Duration::from_millis(ms));
        }
        metrics.observe_algorithm(Duration::from_micros(500));
        let text = metrics.render();
        let attempt = "scheduler_scheduling_attempt_duration_seconds";
        for (le, n) in [
            ("0.001", 1),
            ("0.002", 1),
            ("0.004", 3),
            ("16.384", 3),
            ("+Inf", 4),
        ] {
            let line =
                format!("{attempt}_bucket{{result=\"scheduled\",profile=\"p\",le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        assert!(text.contains(&format!(
            "{attempt}_count{{result=\"scheduled\",profile=\"p\"}} 4\n"
        )));
        assert!(
            text.contains(
                "scheduler_scheduling_algorithm_duration_seconds_bucket{le=\"0.001\"} 1\n"
            )
        );
        assert!(text.contains("scheduler_scheduling_algorithm_duration_seconds_count 1\n"));
    }

    #[tokio::test]
    async fn a_client_that_says_nothing_is_dropped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let timeout = Duration::from_millis(200);
        tokio::spawn(serve_within(listener, Arc::default(), timeout));
        let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut response = Vec::new();
        let closed = tokio::time::timeout(timeout * 10, silent.read_to_end(&mut response)).await;
        assert!(
            matches!(closed, Ok(Ok(0))),
            "the connection is closed, unanswered: {closed:?}"
        );
    }

    #[tokio::test]
    async fn serves_metrics_and_health_over_http() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        metrics.observe_attempt("p", AttemptResult::Unschedulable, Duration::from_millis(5));
        tokio::spawn(serve(listener, metrics));
        for (path, expect) in [
            (
                "/metrics",
                "result=\"unschedulable\",profile=\"p\",le=\"0.008\"} 1",
            ),
            ("/healthz", "ok"),
            ("/other", "404 Not Found"),
        ] {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            assert!(response.contains(expect), "{path}: {response}");
        }
    }
}
