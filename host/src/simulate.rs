//! `simulate`: the whole pipeline on the embedded cluster, from manifests
//! to placements, with no Kubernetes.

use crate::backend::embedded::EmbeddedCluster;
use crate::config::Config;
use crate::framework::{Framework, FrameworkError};
use crate::model::manifest::Manifests;
use crate::queue::QueueTimings;
use crate::runtime::LoadedPlugin;
use crate::scheduler::Scheduler;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where each pending pod went, in the order of the manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub placements: Vec<Placement>,
    pub unschedulable: Vec<Unplaced>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// `namespace/name`.
    pub pod: String,
    pub node: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unplaced {
    pub pod: String,
    /// kube-scheduler's message for the last failed attempt.
    pub message: String,
    /// The attempt failed on an error (a plugin fault, a failed bind), not
    /// for want of a node: a scheduler problem rather than the pod's.
    pub error: bool,
}

impl Report {
    /// One line per pod: `ns/name -> node`, `ns/name unschedulable: why`
    /// or, when the attempt failed on an error, `ns/name error: what`.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for p in &self.placements {
            let _ = writeln!(text, "{} -> {}", p.pod, p.node);
        }
        for u in &self.unschedulable {
            let label = if u.error { "error" } else { "unschedulable" };
            let _ = writeln!(text, "{} {label}: {}", u.pod, u.message);
        }
        text
    }
}

/// Schedules every pending pod of `objects` whose `schedulerName` has a
/// profile in `config`, until each has had its attempt.
///
/// ```no_run
/// use kws_host::{config::Config, model::manifest, runtime, simulate};
/// let objects = manifest::read_file("examples/cluster.yaml".as_ref())?;
/// let (plugins, _refused) = runtime::load_dir("target/plugins".as_ref())?;
/// let report = simulate::run(objects, &Config::default(), &plugins, "target/plugins")?;
/// print!("{}", report.to_text());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(
    objects: Manifests,
    config: &Config,
    plugins: &[Arc<LoadedPlugin>],
    plugin_dir: &str,
) -> Result<Report, FrameworkError> {
    run_with_progress(objects, config, plugins, plugin_dir, |_| {})
}

/// How far a simulation has come: pods bound of those pending at the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub placed: usize,
    pub pending: usize,
    pub elapsed: Duration,
    /// The last report, once every pod has had its attempt.
    pub done: bool,
}

impl fmt::Display for Progress {
    /// `placed 5000/20000 pods (3.1 s)`; the last report adds the time per
    /// pod attempted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            "placed {}/{} pods ({seconds:.1} s",
            self.placed, self.pending
        )?;
        if self.done && self.pending > 0 {
            let per_pod = seconds * 1000.0 / self.pending as f64;
            write!(f, ", {per_pod:.1} ms per pod")?;
        }
        write!(f, ")")
    }
}

/// Fewest pending pods for which [`run_with_progress`] reports progress.
pub const PROGRESS_FROM_PODS: usize = 1000;
/// Longest time between two progress reports while pods are scheduled.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// [`run`], reporting [`Progress`] to `progress` when at least
/// [`PROGRESS_FROM_PODS`] pods are pending: after each tenth of them has had
/// its first attempt, at most [`PROGRESS_EVERY`] apart, and once at the end.
pub fn run_with_progress(
    objects: Manifests,
    config: &Config,
    plugins: &[Arc<LoadedPlugin>],
    plugin_dir: &str,
    mut progress: impl FnMut(&Progress),
) -> Result<Report, FrameworkError> {
    let framework = Framework::new(config, plugins, plugin_dir)?;
    let pending: Vec<_> = objects
        .pods
        .iter()
        .filter(|p| {
            let spec = p.spec.as_ref();
            spec.and_then(|s| s.node_name.as_deref())
                .unwrap_or_default()
                .is_empty()
                && framework.handles(
                    spec.and_then(|s| s.scheduler_name.as_deref())
                        .unwrap_or_default(),
                )
        })
        .map(|p| {
            let namespace = p.metadata.namespace.clone().unwrap_or_default();
            let name = p.metadata.name.clone().unwrap_or_default();
            (
                format!("{namespace}/{name}"),
                p.metadata.uid.clone().unwrap_or_default(),
            )
        })
        .collect();
    let Embedded {
        mut scheduler,
        cluster,
        runtime: _runtime,
    } = Embedded::start(objects, config, framework);
    let started = Instant::now();
    let report_progress = pending.len() >= PROGRESS_FROM_PODS;
    let mut report_at = Instant::now() + PROGRESS_EVERY;
    let (mut cycles, mut tenths) = (0, 0);
    let now = |done: bool| Progress {
        placed: cluster.binds(),
        pending: pending.len(),
        elapsed: started.elapsed(),
        done,
    };
    scheduler.run_until_settled_with(|| {
        if !report_progress {
            return;
        }
        cycles += 1;
        let tenth = (cycles * 10 / pending.len()).min(10);
        // The last tenth is the final report's.
        if (tenth > tenths && tenth < 10) || Instant::now() >= report_at {
            tenths = tenths.max(tenth);
            report_at = Instant::now() + PROGRESS_EVERY;
            progress(&now(false));
        }
    });
    if report_progress {
        progress(&now(true));
    }
    let nodes: HashMap<String, String> = cluster
        .pods()
        .iter()
        .filter_map(|p| Some((p.metadata.uid.clone()?, p.spec.as_ref()?.node_name.clone()?)))
        .collect();
    let mut report = Report::default();
    for (pod, uid) in pending {
        match (nodes.get(&uid), scheduler.waiting(&uid)) {
            (Some(node), _) => report.placements.push(Placement {
                pod,
                node: node.clone(),
            }),
            (None, Some(waiting)) => report.unschedulable.push(Unplaced {
                pod,
                message: waiting.reason,
                error: waiting.error,
            }),
            (None, None) => {}
        }
    }
    Ok(report)
}

/// A scheduler watching the embedded cluster of a manifest file: the same
/// intake `run` has on a real cluster, shared by `simulate` and `explain`.
pub(crate) struct Embedded {
    pub scheduler: Scheduler<EmbeddedCluster>,
    pub cluster: Arc<EmbeddedCluster>,
    /// Runs the binds and reports; kept as long as the scheduler.
    pub runtime: tokio::runtime::Runtime,
}

impl Embedded {
    pub fn start(objects: Manifests, config: &Config, framework: Framework) -> Embedded {
        let cluster = Arc::new(EmbeddedCluster::new(objects));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        let timings = QueueTimings {
            initial_backoff: config.pod_initial_backoff,
            max_backoff: config.pod_max_backoff,
            ..QueueTimings::default()
        };
        let scheduler = Scheduler::new(
            framework,
            cluster.clone(),
            runtime.handle().clone(),
            timings,
        );
        Embedded {
            scheduler,
            cluster,
            runtime,
        }
    }
}
