//! What a run records: how many of a set of pods are bound, sampled every
//! second; scheduling attempt latency from a contender's `/metrics`; a
//! process's peak memory.

use crate::RunError;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts the pods of a label selector that have a node, from a watch (the
/// way scheduler_perf's informer does), so sampling costs the apiserver
/// nothing extra.
pub struct BoundCounter {
    bound: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl BoundCounter {
    pub fn start(client: kube::Client, labels: &str) -> BoundCounter {
        let bound = Arc::new(AtomicUsize::new(0));
        let pods: Api<Pod> = Api::default_namespaced(client);
        let config = watcher::Config::default().labels(labels);
        let count = bound.clone();
        let task = tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut events = watcher(pods, config).boxed();
            while let Some(event) = events.next().await {
                if let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event
                    && pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.node_name.as_ref())
                        .is_some()
                    && seen.insert(pod.metadata.name.clone().unwrap_or_default())
                {
                    count.store(seen.len(), Ordering::Relaxed);
                }
            }
        });
        BoundCounter { bound, task }
    }

    pub fn bound(&self) -> usize {
        self.bound.load(Ordering::Relaxed)
    }
}

impl Drop for BoundCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A latency histogram as Prometheus exposes it: cumulative counts per
/// upper bound, in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub buckets: BTreeMap<OrderedBound, u64>,
    pub count: u64,
}

/// A bucket's upper bound (`le`), ordered (`+Inf` last).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedBound(pub f64);

impl Eq for OrderedBound {}

impl PartialOrd for OrderedBound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Histogram {
    /// The `name` histogram in `text`, summed over the series whose labels
    /// contain `filter` (e.g. `result="scheduled"`, all profiles).
    pub fn parse(text: &str, name: &str, filter: &str) -> Histogram {
        let mut histogram = Histogram::default();
        let bucket = format!("{name}_bucket{{");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&bucket) else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once("} ") else {
                continue;
            };
            if !labels.contains(filter) {
                continue;
            }
            let le = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))
                .map(|l| l.trim_end_matches('"'));
            let (Some(le), Ok(value)) = (le, value.trim().parse::<f64>()) else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            *histogram.buckets.entry(OrderedBound(le)).or_default() += value as u64;
        }
        histogram.count = histogram
            .buckets
            .get(&OrderedBound(f64::INFINITY))
            .copied()
            .unwrap_or_default();
        histogram
    }

    /// What was observed between `earlier` and `self`.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|(le, n)| {
                (
                    *le,
                    n - earlier.buckets.get(le).copied().unwrap_or(0).min(*n),
                )
            })
            .collect();
        Histogram {
            buckets,
            count: self.count - earlier.count.min(self.count),
        }
    }

    /// The `q` quantile, interpolated linearly inside its bucket as
    /// Prometheus' `histogram_quantile` does; `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q * self.count as f64;
        let mut lower = 0.0;
        let mut below = 0u64;
        for (OrderedBound(le), &cumulated) in &self.buckets {
            if cumulated as f64 >= rank {
                if le.is_infinite() {
                    return Some(lower);
                }
                let inside = (cumulated - below) as f64;
                let fraction = if inside == 0.0 {
                    1.0
                } else {
                    (rank - below as f64) / inside
                };
                return Some(lower + (le - lower) * fraction);
            }
            lower = *le;
            below = cumulated;
        }
        Some(lower)
    }
}

/// Fetches `url` with curl (kube-scheduler serves HTTPS with a self-signed
/// certificate, which `-k` accepts).
pub fn scrape(url: &str) -> Result<String, RunError> {
    let output = Command::new("curl")
        .args(["-sSfk", "--max-time", "10", url])
        .output()
        .map_err(|e| RunError::Metrics(format!("cannot run curl for {url}: {e}")))?;
    if !output.status.success() {
        return Err(RunError::Metrics(format!(
            "{url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A process's peak resident memory (`VmHWM`), in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The CPU time a process has used so far, all its threads, user and
/// system (`utime + stime` of `/proc/<pid>/stat`).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_time_of(&stat, clock_ticks_per_second())
}

/// Reads `utime + stime` from a `/proc/<pid>/stat` line: fields 14 and 15,
/// counted after the command name, which may itself hold spaces.
fn cpu_time_of(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let (_, after_name) = stat.rsplit_once(") ")?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks_per_second as f64,
    ))
}

/// `getconf CLK_TCK`: the unit of `/proc/<pid>/stat`'s times (100 on
/// every Linux we know, also the fallback).
fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_reads_utime_and_stime_after_the_command_name() {
        let stat =
            "4242 (kube sched) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_time_of(stat, 100), Some(Duration::from_millis(3250)));
        assert_eq!(cpu_time_of("4242 (x) S 1", 100), None);
    }

    const TEXT: &str = r#"# TYPE scheduler_scheduling_attempt_duration_seconds histogram
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="scheduled",le="0.001"} 2
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="scheduled",le="0.002"} 6
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="scheduled",le="+Inf"} 10
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="unschedulable",le="0.001"} 7
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="unschedulable",le="0.002"} 7
scheduler_scheduling_attempt_duration_seconds_bucket{profile="a",result="unschedulable",le="+Inf"} 7
scheduler_scheduling_attempt_duration_seconds_count{profile="a",result="scheduled"} 10
"#;

    #[test]
    fn quantiles_interpolate_inside_buckets_like_prometheus() {
        let h = Histogram::parse(
            TEXT,
            "scheduler_scheduling_attempt_duration_seconds",
            "result=\"scheduled\"",
        );
        assert_eq!(h.count, 10);
        // rank 5 of 10: the 3rd of 4 observations between 1 and 2 ms.
        assert!((h.quantile(0.5).unwrap() - 0.00175).abs() < 1e-9);
        assert!((h.quantile(0.1).unwrap() - 0.0005).abs() < 1e-9);
        // Past the last finite bucket: its bound, as Prometheus answers.
        assert_eq!(h.quantile(0.99), Some(0.002));
    }

    #[test]
    fn a_window_subtracts_what_came_before() {
        let name = "scheduler_scheduling_attempt_duration_seconds";
        let after = Histogram::parse(TEXT, name, "result=\"scheduled\"");
        let before = Histogram::parse(
            &TEXT.replace("} 6", "} 2").replace("} 10", "} 2"),
            name,
            "result=\"scheduled\"",
        );
        let window = after.since(&before);
        assert_eq!(window.count, 8);
        assert_eq!(window.quantile(0.5), Some(0.002));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn peak_memory_of_this_process_is_readable() {
        assert!(peak_rss(std::process::id()).unwrap() > 0);
    }
}
