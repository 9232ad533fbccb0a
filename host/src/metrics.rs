//! The scheduler's Prometheus metrics, under kube-scheduler v1.37's own
//! names, types, labels and buckets, so dashboards and alerts written for
//! kube-scheduler read this one too; the plugin runtime's own under `kws_`.
//! Built on the `prometheus-client` crate and served in the Prometheus text
//! format (version 0.0.4) by [`serve`], with the health endpoints.
//!
//! kube-scheduler's:
//!
//! | metric | type | labels | when |
//! |---|---|---|---|
//! | `scheduler_schedule_attempts_total` | counter | `result`, `profile` | each attempt's end: `scheduled` once its bind succeeded, `unschedulable`, `error` |
//! | `scheduler_scheduling_attempt_duration_seconds` | histogram | `result`, `profile` | the same attempts: from the pop to the bind's result, or to the decision |
//! | `scheduler_scheduling_algorithm_duration_seconds` | histogram | | PreFilter to the choice of a node |
//! | `scheduler_framework_extension_point_duration_seconds` | histogram | `extension_point`, `status`, `profile` | each point of a cycle, all its plugins together (the points after the choice of a node only where a plugin serves them) |
//! | `scheduler_plugin_execution_duration_seconds` | histogram | `plugin`, `extension_point`, `status` | each plugin call at those points: every call, not upstream's 10% of cycles (a call carries a batch of nodes) |
//! | `scheduler_pod_scheduling_sli_duration_seconds` | histogram | `attempts` | a bound pod: from its first attempt to its bind |
//! | `scheduler_pod_scheduling_attempts` | histogram | | a bound pod: how many attempts it took |
//! | `scheduler_pending_pods` | gauge | `queue`: `active`, `backoff`, `unschedulable`, `gated` | the queue now |
//! | `scheduler_queue_incoming_pods_total` | counter | `queue`, `event` | each pod put into a queue, with the event that put it there |
//! | `scheduler_preemption_attempts_total` | counter | | each PostFilter run of a preempting plugin (DefaultPreemption), whatever it found |
//! | `scheduler_preemption_victims` | histogram | | each preemption carried out: how many pods it evicts |
//! | `leader_election_master_status` | gauge | `name` (the Lease) | 1 while this replica holds the Lease, 0 while it stands by; absent with `leaderElect: false`, as upstream |
//!
//! The plugin runtime's:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `kws_plugin_loads_total` | counter | `plugin`: each version loaded (at startup or swapped in) |
//! | `kws_plugin_swaps_total` | counter | `plugin`: each load that replaced a serving version |
//! | `kws_plugin_refusals_total` | counter | `plugin` (the file's name when the file names none): each file refused |
//! | `kws_plugin_unloads_total` | counter | `plugin`: each plugin unloaded because its file went |
//! | `kws_plugin_faults_total` | counter | `plugin`, `kind`: `panic`, `trap`, `deadline`, `memory_limit`, `invalid_result`, `instantiate`, `configure` |
//! | `kws_plugin_quarantined` | gauge | `plugin`: 1 while quarantined |
//! | `kws_plugin_instance_memory_bytes` | gauge | `profile`, `plugin`: the largest linear memory of the instance its cycles run on |
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
//! assert!(text.contains(
//!     r#"scheduler_schedule_attempts_total{result="scheduled",profile="kube-wasm-scheduler"} 1"#
//! ));
//! ```

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Where a pending pod waits, kube-scheduler's `queue` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Active,
    Backoff,
    Unschedulable,
    /// Held back by its scheduling gates or a PreEnqueue plugin.
    Gated,
}

impl QueueName {
    const ALL: [QueueName; 4] = [
        QueueName::Active,
        QueueName::Backoff,
        QueueName::Unschedulable,
        QueueName::Gated,
    ];

    fn label(self) -> &'static str {
        match self {
            QueueName::Active => "active",
            QueueName::Backoff => "backoff",
            QueueName::Unschedulable => "unschedulable",
            QueueName::Gated => "gated",
        }
    }
}

/// kube-scheduler's events for `scheduler_queue_incoming_pods_total`
/// besides the cluster events (`NodeAdd`, `AssignedPodDelete`, ...).
pub mod events {
    /// A new pending pod.
    pub const POD_ADD: &str = "UnscheduledPodAdd";
    /// A queued pod changed.
    pub const POD_UPDATE: &str = "UnscheduledPodUpdate";
    /// An attempt failed: the pod goes to backoff or unschedulable.
    pub const ATTEMPT_FAILURE: &str = "ScheduleAttemptFailure";
    /// Its backoff is over: the pod becomes active.
    pub const BACKOFF_COMPLETE: &str = "BackoffComplete";
    /// It waited unschedulable for the longest wait with no event.
    pub const UNSCHEDULABLE_TIMEOUT: &str = "UnschedulableTimeout";
    /// Ours: a plugin version was loaded (a pod may wait for it).
    pub const PLUGIN_LOADED: &str = "PluginLoaded";
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    result: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PointLabels {
    extension_point: &'static str,
    status: &'static str,
    profile: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginCallLabels {
    plugin: String,
    extension_point: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptsLabel {
    attempts: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IncomingLabels {
    queue: &'static str,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NameLabel {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    plugin: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemoryLabels {
    profile: String,
    plugin: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Go's `ExponentialBuckets`: `start`, then each times `factor`, computed
/// as Go computes them so the `le` labels print alike.
fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    let mut buckets = Vec::with_capacity(count);
    let mut next = start;
    for _ in 0..count {
        buckets.push(next);
        next *= factor;
    }
    buckets
}

/// Attempt and algorithm latency: `ExponentialBuckets(0.001, 2, 15)`,
/// 1 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Extension points: `ExponentialBuckets(0.0001, 2, 12)`, 0.1 ms to 0.2 s.
fn point_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 12))
}

/// Plugin calls: `ExponentialBuckets(0.00001, 1.5, 20)`, 10 µs to 22 ms.
fn plugin_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 1.5, 20))
}

/// Pod SLI: `ExponentialBuckets(0.01, 2, 20)`, 10 ms to about 1.5 h.
fn sli_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

/// The faults and quarantines the plugin pools record, shared by every
/// [`Metrics`] of the process: a pool records them where it judges a call,
/// far from any scheduler.
struct PluginHealth {
    faults: Family<FaultLabels, Counter>,
    quarantined: Family<PluginLabel, Gauge>,
}

static PLUGIN_HEALTH: LazyLock<PluginHealth> = LazyLock::new(|| PluginHealth {
    faults: Family::default(),
    quarantined: Family::default(),
});

/// Counts a fault of `plugin` (`kind`: `trap`, `deadline`, ...): what the
/// plugin pools call.
pub fn record_plugin_fault(plugin: &str, kind: &'static str) {
    PLUGIN_HEALTH
        .faults
        .get_or_create(&FaultLabels {
            plugin: plugin.to_string(),
            kind,
        })
        .inc();
}

/// Records that `plugin` entered (`true`) or left quarantine.
pub fn record_plugin_quarantine(plugin: &str, quarantined: bool) {
    PLUGIN_HEALTH
        .quarantined
        .get_or_create(&PluginLabel {
            plugin: plugin.to_string(),
        })
        .set(i64::from(quarantined));
}

/// The `plugin` label of a refused file that names no plugin: its name
/// without `.wasm`.
pub fn file_label(file: &std::path::Path) -> String {
    file.file_stem().map_or_else(
        || file.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// What the scheduling queue counts: its pods by place, and each pod it
/// takes in. Cheap to clone (the counts are shared); [`Default`] counts
/// into nothing that is served.
#[derive(Debug, Clone, Default)]
pub struct QueueMetrics {
    /// Indexed as [`QueueName::ALL`].
    pending: [Gauge; 4],
    incoming: Family<IncomingLabels, Counter>,
}

impl QueueMetrics {
    fn gauge(&self, queue: QueueName) -> &Gauge {
        &self.pending[QueueName::ALL
            .iter()
            .position(|q| *q == queue)
            .expect("every queue has a gauge")]
    }

    /// A pod left `from` (if it was in a queue) for `to` (if it went into
    /// one), because of `event`.
    pub fn moved(&self, from: Option<QueueName>, to: Option<QueueName>, event: &str) {
        if from == to {
            return;
        }
        if let Some(from) = from {
            self.gauge(from).dec();
        }
        if let Some(to) = to {
            self.gauge(to).inc();
            self.incoming
                .get_or_create(&IncomingLabels {
                    queue: to.label(),
                    event: event.to_string(),
                })
                .inc();
        }
    }

    /// Sets the number of pods in `queue` (the gated ones, which the loop
    /// keeps outside the queue).
    pub fn set(&self, queue: QueueName, pods: usize) {
        self.gauge(queue)
            .set(i64::try_from(pods).unwrap_or(i64::MAX));
    }

    /// The pods in `queue` now.
    pub fn pending(&self, queue: QueueName) -> i64 {
        self.gauge(queue).get()
    }
}

/// Whether the scheduler is ready to schedule: `/readyz`.
#[derive(Debug, Default)]
struct Readiness {
    plugins_loaded: AtomicBool,
    synced: AtomicBool,
}

/// The scheduler's metrics and readiness; cheap to share (`Arc`) between
/// the loop, the binder's tasks and the HTTP endpoint.
pub struct Metrics {
    registry: Registry,
    schedule_attempts: Family<AttemptLabels, Counter>,
    attempt_duration: HistogramFamily<AttemptLabels>,
    algorithm_duration: Histogram,
    extension_point_duration: HistogramFamily<PointLabels>,
    plugin_execution_duration: HistogramFamily<PluginCallLabels>,
    sli_duration: HistogramFamily<AttemptsLabel>,
    pod_attempts: Histogram,
    preemption_attempts: Counter,
    preemption_victims: Histogram,
    queue: QueueMetrics,
    plugin_loads: Family<PluginLabel, Counter>,
    plugin_swaps: Family<PluginLabel, Counter>,
    plugin_refusals: Family<PluginLabel, Counter>,
    plugin_unloads: Family<PluginLabel, Counter>,
    plugin_memory: Family<MemoryLabels, Gauge>,
    leader: Family<NameLabel, Gauge>,
    readiness: Readiness,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let schedule_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "scheduler_schedule_attempts",
            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem",
            schedule_attempts.clone(),
        );
        let attempt_duration: HistogramFamily<AttemptLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "scheduler_scheduling_attempt_duration_seconds",
            "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
            attempt_duration.clone(),
        );
        let algorithm_duration = latency_histogram();
        registry.register(
            "scheduler_scheduling_algorithm_duration_seconds",
            "Scheduling algorithm latency in seconds",
            algorithm_duration.clone(),
        );
        let extension_point_duration: HistogramFamily<PointLabels> =
            Family::new_with_constructor(point_histogram);
        registry.register(
            "scheduler_framework_extension_point_duration_seconds",
            "Latency for running all plugins of a specific extension point",
            extension_point_duration.clone(),
        );
        let plugin_execution_duration: HistogramFamily<PluginCallLabels> =
            Family::new_with_constructor(plugin_histogram);
        registry.register(
            "scheduler_plugin_execution_duration_seconds",
            "Duration for running a plugin at a specific extension point",
            plugin_execution_duration.clone(),
        );
        let sli_duration: HistogramFamily<AttemptsLabel> =
            Family::new_with_constructor(sli_histogram);
        registry.register(
            "scheduler_pod_scheduling_sli_duration_seconds",
            "E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue and might involve multiple scheduling attempts",
            sli_duration.clone(),
        );
        let pod_attempts = Histogram::new(exponential_buckets(1.0, 2.0, 5));
        registry.register(
            "scheduler_pod_scheduling_attempts",
            "Number of attempts to successfully schedule a pod",
            pod_attempts.clone(),
        );
        let pending = Family::<QueueLabel, Gauge>::default();
        registry.register(
            "scheduler_pending_pods",
            "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated",
            pending.clone(),
        );
        let incoming = Family::<IncomingLabels, Counter>::default();
        registry.register(
            "scheduler_queue_incoming_pods",
            "Number of pods added to scheduling queues by event and queue type",
            incoming.clone(),
        );
        let queue = QueueMetrics {
            pending: QueueName::ALL.map(|queue| {
                pending
                    .get_or_create(&QueueLabel {
                        queue: queue.label(),
                    })
                    .clone()
            }),
            incoming,
        };
        let preemption_attempts = Counter::<u64>::default();
        registry.register(
            "scheduler_preemption_attempts",
            "Total preemption attempts in the cluster till now",
            preemption_attempts.clone(),
        );
        let preemption_victims = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        registry.register(
            "scheduler_preemption_victims",
            "Number of selected preemption victims for preemption initiated by a single pod",
            preemption_victims.clone(),
        );
        let leader = Family::<NameLabel, Gauge>::default();
        registry.register(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name",
            leader.clone(),
        );
        let plugin_loads = Family::<PluginLabel, Counter>::default();
        registry.register(
            "kws_plugin_loads",
            "Plugin versions loaded, at startup or swapped in",
            plugin_loads.clone(),
        );
        let plugin_swaps = Family::<PluginLabel, Counter>::default();
        registry.register(
            "kws_plugin_swaps",
            "Plugin loads that replaced a serving version",
            plugin_swaps.clone(),
        );
        let plugin_refusals = Family::<PluginLabel, Counter>::default();
        registry.register(
            "kws_plugin_refusals",
            "Plugin files refused (by plugin name, or file name when the file names none)",
            plugin_refusals.clone(),
        );
        let plugin_unloads = Family::<PluginLabel, Counter>::default();
        registry.register(
            "kws_plugin_unloads",
            "Plugins unloaded because their file was removed",
            plugin_unloads.clone(),
        );
        registry.register(
            "kws_plugin_faults",
            "Plugin faults (traps, missed deadlines, memory limit, invalid results, failed starts), by kind",
            PLUGIN_HEALTH.faults.clone(),
        );
        registry.register(
            "kws_plugin_quarantined",
            "1 while the plugin is quarantined after faults in a row",
            PLUGIN_HEALTH.quarantined.clone(),
        );
        let plugin_memory = Family::<MemoryLabels, Gauge>::default();
        registry.register(
            "kws_plugin_instance_memory_bytes",
            "The largest linear memory of the plugin instance a profile's cycles run on, in bytes",
            plugin_memory.clone(),
        );
        Metrics {
            registry,
            schedule_attempts,
            attempt_duration,
            algorithm_duration,
            extension_point_duration,
            plugin_execution_duration,
            sli_duration,
            pod_attempts,
            preemption_attempts,
            preemption_victims,
            queue,
            plugin_loads,
            plugin_swaps,
            plugin_refusals,
            plugin_unloads,
            plugin_memory,
            leader,
            readiness: Readiness::default(),
        }
    }
}

impl Metrics {
    /// A preempting PostFilter plugin ran: `scheduler_preemption_attempts_total`.
    pub fn preemption_attempted(&self) {
        self.preemption_attempts.inc();
    }

    /// A preemption is carried out: `scheduler_preemption_victims`.
    pub fn observe_preemption(&self, victims: usize) {
        self.preemption_victims.observe(victims as f64);
    }

    /// An attempt ended: `scheduler_schedule_attempts_total` and
    /// `scheduler_scheduling_attempt_duration_seconds`.
    pub fn observe_attempt(&self, profile: &str, result: AttemptResult, took: Duration) {
        let labels = AttemptLabels {
            result: result.label(),
            profile: profile.to_string(),
        };
        self.schedule_attempts.get_or_create(&labels).inc();
        self.attempt_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub fn observe_algorithm(&self, took: Duration) {
        self.algorithm_duration.observe(took.as_secs_f64());
    }

    /// All the plugins of `point` (kube-scheduler's name: `PreFilter`,
    /// `Filter`, ...) ran for one pod of `profile`, ending with `status`
    /// (`Success`, `Unschedulable`, `Error`, ...).
    pub fn observe_extension_point(
        &self,
        profile: &str,
        point: &'static str,
        status: &'static str,
        took: Duration,
    ) {
        self.extension_point_duration
            .get_or_create(&PointLabels {
                extension_point: point,
                status,
                profile: profile.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// One call of `plugin` at `point`.
    pub fn observe_plugin(
        &self,
        plugin: &str,
        point: &'static str,
        status: &'static str,
        took: Duration,
    ) {
        self.plugin_execution_duration
            .get_or_create(&PluginCallLabels {
                plugin: plugin.to_string(),
                extension_point: point,
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// A pod was bound after `attempts` attempts, `since_first` after the
    /// first began: `scheduler_pod_scheduling_sli_duration_seconds`
    /// (`attempts` capped at `15+`, as upstream) and
    /// `scheduler_pod_scheduling_attempts`.
    pub fn observe_bound(&self, attempts: u32, since_first: Duration) {
        let attempts_label = if attempts >= 15 {
            "15+".to_string()
        } else {
            attempts.to_string()
        };
        self.sli_duration
            .get_or_create(&AttemptsLabel {
                attempts: attempts_label,
            })
            .observe(since_first.as_secs_f64());
        self.pod_attempts.observe(f64::from(attempts));
    }

    /// Sets the number of pods in `queue` (the gated ones: the loop keeps
    /// them outside the queue, which counts the others).
    pub fn set_pending(&self, queue: QueueName, pods: usize) {
        self.queue.set(queue, pods);
    }

    /// The queue's counters, for
    /// [`SchedulingQueue::set_metrics`](crate::queue::SchedulingQueue::set_metrics).
    pub fn queue(&self) -> QueueMetrics {
        self.queue.clone()
    }

    /// A plugin version was loaded; `replaced` when it took over from a
    /// serving one.
    pub fn plugin_loaded(&self, plugin: &str, replaced: bool) {
        let labels = PluginLabel {
            plugin: plugin.to_string(),
        };
        self.plugin_loads.get_or_create(&labels).inc();
        if replaced {
            self.plugin_swaps.get_or_create(&labels).inc();
        }
        // A new version starts with a clean health record.
        record_plugin_quarantine(plugin, false);
    }

    /// A plugin file was refused (`plugin`: its plugin's name, or the
    /// file's when it names none).
    pub fn plugin_refused(&self, plugin: &str) {
        self.plugin_refusals
            .get_or_create(&PluginLabel {
                plugin: plugin.to_string(),
            })
            .inc();
    }

    pub fn plugin_unloaded(&self, plugin: &str) {
        self.plugin_unloads
            .get_or_create(&PluginLabel {
                plugin: plugin.to_string(),
            })
            .inc();
        record_plugin_quarantine(plugin, false);
    }

    /// Whether this replica holds the Lease `lease` (1) or stands by (0).
    pub fn set_leader(&self, lease: &str, leading: bool) {
        self.leader
            .get_or_create(&NameLabel {
                name: lease.to_string(),
            })
            .set(i64::from(leading));
    }

    /// The largest linear memory of `plugin`'s home instance in `profile`.
    pub fn set_plugin_memory(&self, profile: &str, plugin: &str, bytes: usize) {
        self.plugin_memory
            .get_or_create(&MemoryLabels {
                profile: profile.to_string(),
                plugin: plugin.to_string(),
            })
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The plugins the profiles need are loaded (half of readiness).
    pub fn set_plugins_loaded(&self) {
        self.readiness.plugins_loaded.store(true, Ordering::Relaxed);
    }

    /// The informers' first lists are in (the other half).
    pub fn set_synced(&self) {
        self.readiness.synced.store(true, Ordering::Relaxed);
    }

    /// Ready to schedule: plugins loaded and the cluster seen whole.
    pub fn is_ready(&self) -> bool {
        self.readiness.plugins_loaded.load(Ordering::Relaxed)
            && self.readiness.synced.load(Ordering::Relaxed)
    }

    /// `/readyz`'s answer: whether ready, and kube-scheduler's verbose
    /// form of the checks.
    fn readyz(&self) -> (bool, String) {
        let checks = [
            (
                "plugins",
                self.readiness.plugins_loaded.load(Ordering::Relaxed),
            ),
            (
                "informer-sync",
                self.readiness.synced.load(Ordering::Relaxed),
            ),
        ];
        let mut body = String::from("[+]ping ok\n");
        for (name, ok) in checks {
            body.push_str(&format!(
                "[{}]{name} {}\n",
                if ok { '+' } else { '-' },
                if ok { "ok" } else { "failed: not yet" }
            ));
        }
        let ready = checks.iter().all(|(_, ok)| *ok);
        body.push_str(if ready {
            "readyz check passed\n"
        } else {
            "readyz check failed\n"
        });
        (ready, body)
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Serves `metrics` on `listener` until the runtime stops: `GET /metrics`
/// gives [`Metrics::render`]; `/healthz` and `/livez` say `ok` while the
/// process serves; `/readyz` answers 503 until the plugins are loaded and
/// the informers' first lists are in, then 200; anything else 404. One
/// request per connection, as scrapers and probes send them. A connection
/// that has not sent its request within [`REQUEST_TIMEOUT`] is closed
/// unanswered, so clients that connect and say nothing cannot pile up; when
/// accepting fails (out of file descriptors), the loop waits a second
/// instead of spinning.
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
            // The query (`/readyz?verbose`) does not change the answer.
            let path = path.split('?').next().unwrap_or_default();
            let plain = "text/plain; charset=utf-8";
            let (status, content_type, body) = match path {
                "/metrics" => ("200 OK", prometheus_text::CONTENT_TYPE, metrics.render()),
                "/healthz" | "/livez" => ("200 OK", plain, "ok".to_string()),
                "/readyz" => match metrics.readyz() {
                    (true, body) => ("200 OK", plain, body),
                    (false, body) => ("503 Service Unavailable", plain, body),
                },
                _ => ("404 Not Found", plain, "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
        assert!(
            text.contains(
                "scheduler_schedule_attempts_total{result=\"scheduled\",profile=\"p\"} 4\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn every_kube_scheduler_metric_is_there_with_its_type() {
        let metrics = Metrics::default();
        // A family with no labelled sample yet is not shown, as upstream.
        assert!(
            !metrics
                .render()
                .contains("scheduler_schedule_attempts_total")
        );
        metrics.observe_attempt("p", AttemptResult::Scheduled, Duration::ZERO);
        metrics.observe_extension_point("p", "Score", "Success", Duration::ZERO);
        metrics.observe_plugin("Fit", "Score", "Success", Duration::ZERO);
        metrics.observe_bound(1, Duration::ZERO);
        metrics
            .queue()
            .moved(None, Some(QueueName::Active), events::POD_ADD);
        metrics.plugin_loaded("Fit", false);
        record_plugin_fault("Fit", "deadline");
        metrics.set_plugin_memory("p", "Fit", 1);
        metrics.set_leader("kube-wasm-scheduler", true);
        let text = metrics.render();
        for (name, kind) in [
            ("scheduler_schedule_attempts_total", "counter"),
            ("scheduler_scheduling_attempt_duration_seconds", "histogram"),
            (
                "scheduler_scheduling_algorithm_duration_seconds",
                "histogram",
            ),
            (
                "scheduler_framework_extension_point_duration_seconds",
                "histogram",
            ),
            ("scheduler_plugin_execution_duration_seconds", "histogram"),
            ("scheduler_pod_scheduling_sli_duration_seconds", "histogram"),
            ("scheduler_pending_pods", "gauge"),
            ("scheduler_queue_incoming_pods_total", "counter"),
            ("scheduler_preemption_attempts_total", "counter"),
            ("scheduler_preemption_victims", "histogram"),
            ("leader_election_master_status", "gauge"),
            ("kws_plugin_loads_total", "counter"),
            ("kws_plugin_faults_total", "counter"),
            ("kws_plugin_quarantined", "gauge"),
            ("kws_plugin_instance_memory_bytes", "gauge"),
        ] {
            let line = format!("# TYPE {name} {kind}\n");
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        for line in [
            "scheduler_preemption_attempts_total 0\n",
            "leader_election_master_status{name=\"kube-wasm-scheduler\"} 1\n",
            "scheduler_pending_pods{queue=\"active\"} 1\n",
            "scheduler_pending_pods{queue=\"gated\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn the_buckets_are_kube_schedulers() {
        let metrics = Metrics::default();
        metrics.observe_extension_point("p", "Filter", "Success", Duration::from_micros(50));
        metrics.observe_plugin("Fit", "Filter", "Success", Duration::from_micros(5));
        metrics.observe_bound(20, Duration::from_millis(5));
        let text = metrics.render();
        for line in [
            "scheduler_framework_extension_point_duration_seconds_bucket{extension_point=\"Filter\",status=\"Success\",profile=\"p\",le=\"0.0001\"} 1\n",
            "scheduler_framework_extension_point_duration_seconds_bucket{extension_point=\"Filter\",status=\"Success\",profile=\"p\",le=\"0.2048\"} 1\n",
            "scheduler_plugin_execution_duration_seconds_bucket{plugin=\"Fit\",extension_point=\"Filter\",status=\"Success\",le=\"1e-05\"} 1\n",
            "scheduler_pod_scheduling_sli_duration_seconds_bucket{attempts=\"15+\",le=\"0.01\"} 1\n",
            "scheduler_pod_scheduling_sli_duration_seconds_bucket{attempts=\"15+\",le=\"5242.88\"} 1\n",
            "scheduler_pod_scheduling_attempts_bucket{le=\"16\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn queue_moves_count_pending_pods_and_incoming_ones() {
        let metrics = Metrics::default();
        let queue = metrics.queue();
        queue.moved(None, Some(QueueName::Active), events::POD_ADD);
        queue.moved(None, Some(QueueName::Active), events::POD_ADD);
        queue.moved(Some(QueueName::Active), None, "");
        queue.moved(None, Some(QueueName::Backoff), events::ATTEMPT_FAILURE);
        queue.set(QueueName::Gated, 3);
        assert_eq!(queue.pending(QueueName::Active), 1);
        let text = metrics.render();
        for line in [
            "scheduler_pending_pods{queue=\"active\"} 1\n",
            "scheduler_pending_pods{queue=\"backoff\"} 1\n",
            "scheduler_pending_pods{queue=\"gated\"} 3\n",
            "scheduler_queue_incoming_pods_total{queue=\"active\",event=\"UnscheduledPodAdd\"} 2\n",
            "scheduler_queue_incoming_pods_total{queue=\"backoff\",event=\"ScheduleAttemptFailure\"} 1\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn plugin_runtime_metrics_count_loads_swaps_faults_and_quarantine() {
        let metrics = Metrics::default();
        // A name of its own: faults are counted process-wide.
        let plugin = "MetricsUnitTestPlugin";
        metrics.plugin_loaded(plugin, false);
        metrics.plugin_loaded(plugin, true);
        metrics.plugin_refused(plugin);
        record_plugin_fault(plugin, "trap");
        record_plugin_fault(plugin, "trap");
        record_plugin_quarantine(plugin, true);
        metrics.set_plugin_memory("p", plugin, 65536);
        let text = metrics.render();
        for line in [
            format!("kws_plugin_loads_total{{plugin=\"{plugin}\"}} 2\n"),
            format!("kws_plugin_swaps_total{{plugin=\"{plugin}\"}} 1\n"),
            format!("kws_plugin_refusals_total{{plugin=\"{plugin}\"}} 1\n"),
            format!("kws_plugin_faults_total{{plugin=\"{plugin}\",kind=\"trap\"}} 2\n"),
            format!("kws_plugin_quarantined{{plugin=\"{plugin}\"}} 1\n"),
            format!(
                "kws_plugin_instance_memory_bytes{{profile=\"p\",plugin=\"{plugin}\"}} 65536\n"
            ),
        ] {
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
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

    async fn get(address: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
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
            ("/metrics", "Content-Type: text/plain; version=0.0.4"),
            ("/healthz", "ok"),
            ("/livez", "200 OK"),
            ("/other", "404 Not Found"),
        ] {
            let response = get(address, path).await;
            assert!(response.contains(expect), "{path}: {response}");
        }
    }

    #[tokio::test]
    async fn readyz_is_503_until_plugins_are_loaded_and_caches_synced() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        tokio::spawn(serve(listener, metrics.clone()));
        let response = get(address, "/readyz").await;
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains("[-]informer-sync"), "{response}");
        metrics.set_plugins_loaded();
        let response = get(address, "/readyz?verbose").await;
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains("[+]plugins ok"), "{response}");
        metrics.set_synced();
        let response = get(address, "/readyz").await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(get(address, "/livez").await.starts_with("HTTP/1.1 200"));
    }
}
