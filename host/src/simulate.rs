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
use std::fmt::Write as _;
use std::sync::Arc;

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
}

impl Report {
    /// One line per pod: `ns/name -> node` or `ns/name unschedulable: why`.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for p in &self.placements {
            let _ = writeln!(text, "{} -> {}", p.pod, p.node);
        }
        for u in &self.unschedulable {
            let _ = writeln!(text, "{} unschedulable: {}", u.pod, u.message);
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
    scheduler.run_until_settled();
    let pods = cluster.pods();
    let mut report = Report::default();
    for (pod, uid) in pending {
        let bound = pods
            .iter()
            .find(|p| p.metadata.uid.as_deref() == Some(uid.as_str()))
            .and_then(|p| p.spec.as_ref()?.node_name.clone());
        match (bound, scheduler.waiting(&uid)) {
            (Some(node), _) => report.placements.push(Placement { pod, node }),
            (None, Some(waiting)) => report.unschedulable.push(Unplaced {
                pod,
                message: waiting.reason,
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
