//! One pod's scheduling cycle with the plugins of the pod's profile:
//! PreFilter, Filter (PostFilter when no node fits), PreScore, Score, then
//! the choice of a node. What follows the choice (Reserve, Permit and the
//! binding cycle) is in [`cycle`]; pods held at Permit in
//! [`waiting_pods`].
//!
//! A pod's path through this folder, in the files of kube-scheduler's
//! `schedule_one.go` and `runtime/framework.go`: `schedule_one` runs the
//! cycle (`ProfileFramework::schedule`), `filter` finds the feasible nodes
//! (PreFilter, Filter, PostFilter), `score` ranks them (PreScore, Score),
//! `parallelize` runs plugins side by side, `outcome` says how the cycle
//! ended (kube-scheduler's failure message); `profile` holds which plugin
//! runs where, and `cycle` what follows the choice.
//!
//! Every call of one plugin in one cycle goes to the same instance (its
//! home worker), so that what its PreFilter or PreScore kept for the cycle
//! is there for its Filter and Score; the instances are told when the
//! cycle ends. PreFilter may name the only nodes worth filtering, and
//! PreFilter and PreScore may Skip a plugin for the cycle.
//!
//! As in kube-scheduler, a node passes Filter only if every filter plugin
//! passes it, and its failure reason comes from the first plugin (in profile
//! order) that rejects it; the search stops once enough feasible nodes are
//! found (`percentageOfNodesToScore`; only one when the profile has no score
//! plugins), starting where the previous pod's search stopped. Scores are
//! normalised to 0..=100 per plugin, weighted and summed; the highest total
//! wins, ties broken at random (seeded, so runs repeat).
//!
//! Plugins are called once per pod with a batch of node ids (see
//! `wit/scheduler.wit`). Each worker has its own instance of every plugin;
//! with large batches the plugins are dealt out to the workers and run side
//! by side, each over the whole batch. Splitting the nodes instead would
//! make every worker repeat each plugin's per-pod work (kube-scheduler's
//! PreFilter and PreScore: counting the pods that match a spread
//! constraint or an anti-affinity term over the whole cluster), which is
//! most of the cost of the policies that look at other pods.
//!
//! A plugin that faults, is quarantined or has no loaded version fails the
//! pod's attempt (it is retried after backoff), unless its
//! `failurePolicy` is `Ignore`: then it is left out for that pod at every
//! later point of the cycle (a filter fault also drops its score), and the
//! pod is placed by the other plugins. Versions are swapped between cycles
//! ([`Framework::swap`]): a cycle, its binding cycle included, runs on the
//! pools it started with.

pub mod cycle;
mod filter;
mod outcome;
mod parallelize;
mod preemption;
mod profile;
mod schedule_one;
mod score;
pub mod waiting_pods;

pub use cycle::{Cycle, PermitOutcome, StepError};
pub use filter::feasible_nodes_to_find;
pub use outcome::{
    CycleReport, Diagnosis, NodeReport, Outcome, PRE_FILTER, PluginScore, Preempted, Rejection,
};
pub use profile::ProfileFramework;
pub use waiting_pods::{Decision, WaitingPods};

use filter::*;
use parallelize::MIN_PARALLEL_BATCH;
use preemption::*;
use profile::*;
use schedule_one::*;

use crate::cache::{Cache, Snapshot};
use crate::config::{Config, DEFAULT_PLUGINS, FailurePolicy, PluginSettings, Profile};
use crate::metrics::Metrics;
use crate::model::convert;
use crate::resource_claims::ResourceClaims;
use crate::runtime::{CallContext, LoadedPlugin, PluginError, PluginPool, point_name};
use crate::wit::{
    ActionType, ClusterEvent, Code, EventResource, ExtensionPoint, NodeId, NodeStatus, Pod,
    QueueingHint, RegisteredEvent, Status,
};
use cycle::Member;
use k8s_openapi::api::core::v1 as core;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The score range after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;

/// A profile that cannot run with the plugins at hand.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
    /// Only for plugins that are not defaults: a missing default is left
    /// out of the profile with a warning.
    #[error(
        "profile {profile}: plugin {plugin} is enabled but no plugin of that name was loaded from {dir}"
    )]
    MissingPlugin {
        profile: String,
        plugin: String,
        dir: String,
    },
    #[error(
        "profile {profile}: plugin {plugin} is enabled for {point} but does not implement it (it implements {implemented})"
    )]
    NotImplemented {
        profile: String,
        plugin: String,
        point: &'static str,
        implemented: String,
    },
    /// The message already says everything: the plugin error is part of
    /// the text, not a `source` that `{:#}` would print a second time.
    #[error("profile {profile}: {error}")]
    Plugin { profile: String, error: PluginError },
    #[error(
        "plugin {plugin} from {file} has sha256 {digest}, but wasm.plugins pins it to {pinned}"
    )]
    PinMismatch {
        plugin: String,
        file: String,
        digest: String,
        pinned: String,
    },
}

/// The next cycle id: unique in the process, so that a plugin's state of
/// one cycle is never mistaken for another's.
static NEXT_CYCLE: AtomicU64 = AtomicU64::new(1);

/// Every profile of the configuration.
pub struct Framework {
    profiles: Vec<ProfileFramework>,
    services: HostServices,
}

/// What the host shares with every plugin instance of every profile, and
/// keeps across cycles and instances.
#[derive(Clone, Default)]
pub struct HostServices {
    /// The pods held at Permit.
    pub waiting: Arc<WaitingPods>,
    /// DRA's objects and in-flight allocations (DynamicResources).
    pub resource_claims: Arc<ResourceClaims>,
}

impl Framework {
    /// Builds every profile of `config` from the loaded plugins, creating
    /// and configuring one instance of each plugin per profile now, so
    /// missing or pinned-away plugins and bad args are reported before any
    /// pod is touched.
    pub fn new(
        config: &Config,
        plugins: &[Arc<LoadedPlugin>],
        plugin_dir: &str,
    ) -> Result<Framework, FrameworkError> {
        let services = HostServices::default();
        let profiles = config
            .profiles
            .iter()
            .map(|p| ProfileFramework::new(config, p, plugins, plugin_dir, &services))
            .collect::<Result<_, _>>()?;
        Ok(Framework { profiles, services })
    }

    /// Records each extension point's and each plugin call's duration into
    /// `metrics` from the next cycle on.
    pub fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        for profile in &mut self.profiles {
            profile.metrics = metrics.clone();
        }
    }

    /// The pods held at Permit, of every profile.
    pub fn waiting_pods(&self) -> &Arc<WaitingPods> {
        &self.services.waiting
    }

    /// DRA's objects and in-flight allocations, shared by every plugin
    /// instance.
    pub fn resource_claims(&self) -> &Arc<ResourceClaims> {
        &self.services.resource_claims
    }

    /// The profile that schedules pods with this `schedulerName`.
    pub fn profile(&self, scheduler_name: &str) -> Option<&ProfileFramework> {
        self.profiles
            .iter()
            .find(|p| p.scheduler_name == scheduler_name)
    }

    /// The profile that schedules pods with this `schedulerName`.
    pub fn profile_mut(&mut self, scheduler_name: &str) -> Option<&mut ProfileFramework> {
        self.profiles
            .iter_mut()
            .find(|p| p.scheduler_name == scheduler_name)
    }

    /// Every profile, in the configuration's order.
    pub fn profiles(&self) -> &[ProfileFramework] {
        &self.profiles
    }

    pub fn handles(&self, scheduler_name: &str) -> bool {
        self.profiles
            .iter()
            .any(|p| p.scheduler_name == scheduler_name)
    }

    /// Makes `plugin` serve every profile that runs a plugin of its name,
    /// from the next cycle on. All or nothing: if any profile cannot take it
    /// (pinned to another digest, an extension point missing, its args
    /// refused by the new version), nothing changes. Returns how many
    /// profiles run it (0: loaded, but no profile uses it).
    pub fn swap(&mut self, plugin: &Arc<LoadedPlugin>) -> Result<usize, FrameworkError> {
        let swap = self.prepare(plugin)?;
        Ok(self.install(swap))
    }

    /// [`Framework::swap`]'s first half: the new version's pools, each
    /// with one instance configured, or why a profile cannot take it.
    /// Nothing serves them until [`Framework::install`]; in between they
    /// can be warmed ([`PreparedSwap::warm`]) on another thread.
    pub fn prepare(&self, plugin: &Arc<LoadedPlugin>) -> Result<PreparedSwap, FrameworkError> {
        let mut pools = Vec::new();
        for (p, profile) in self.profiles.iter().enumerate() {
            for (s, slot) in profile.slots.iter().enumerate() {
                if slot.name == plugin.name() {
                    let pool = slot.start(
                        &profile.scheduler_name,
                        plugin,
                        profile.workers,
                        &self.services,
                    )?;
                    let pool = Arc::new(pool);
                    let events =
                        registered_events(&pool).map_err(|error| FrameworkError::Plugin {
                            profile: profile.scheduler_name.clone(),
                            error,
                        })?;
                    // Warm the instances the version in place has used:
                    // a plugin runs mostly on its home worker, and the
                    // other workers' instances would be fed for nothing.
                    let workers = (slot.pool.as_ref())
                        .map(|old| old.live_workers())
                        .filter(|live| !live.is_empty())
                        .unwrap_or_else(|| vec![0]);
                    pools.push(PreparedPool {
                        profile: p,
                        slot: s,
                        pool,
                        events,
                        workers,
                    });
                }
            }
        }
        Ok(PreparedSwap {
            plugin: plugin.clone(),
            pools,
        })
    }

    /// [`Framework::swap`]'s second half: the prepared pools serve from the
    /// next cycle on. Returns how many profiles run the plugin.
    pub fn install(&mut self, swap: PreparedSwap) -> usize {
        let count = swap.pools.len();
        for prepared in swap.pools {
            let profile = &mut self.profiles[prepared.profile];
            let slot = &mut profile.slots[prepared.slot];
            slot.implemented = swap.plugin.metadata.extension_points.clone();
            slot.events = prepared.events;
            slot.pool = Some(prepared.pool);
            profile.versions = versions(&profile.slots);
        }
        count
    }

    /// Takes the plugin of this name out of every profile; pods that need
    /// it then fail (or skip it, under `failurePolicy: Ignore`) until a new
    /// version is swapped in. Returns how many profiles ran it.
    pub fn unload(&mut self, plugin: &str) -> usize {
        let mut count = 0;
        for profile in &mut self.profiles {
            for slot in &mut profile.slots {
                if slot.name == plugin && slot.pool.take().is_some() {
                    count += 1;
                }
            }
            profile.versions = versions(&profile.slots);
        }
        count
    }

    /// Quarantines that began since the last call, one message each.
    pub fn take_quarantine_notices(&self) -> Vec<String> {
        self.profiles
            .iter()
            .flat_map(|p| &p.slots)
            .filter_map(|slot| slot.pool.as_ref()?.take_quarantine_notice())
            .collect()
    }
}

/// A version ready to serve: its pools, one per profile that runs it.
pub struct PreparedSwap {
    plugin: Arc<LoadedPlugin>,
    pools: Vec<PreparedPool>,
}

struct PreparedPool {
    profile: usize,
    slot: usize,
    pool: Arc<PluginPool>,
    events: Option<Vec<crate::wit::RegisteredEvent>>,
    /// The workers whose instances are warmed.
    workers: Vec<usize>,
}

impl PreparedSwap {
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Starts the instances each pool's predecessor had running and gives
    /// each `state` (the cluster as of cache sequence `seq`, see
    /// [`crate::cache::Cache::state`]), so that the swap costs the
    /// scheduling loop only the changes made since. Stops early once
    /// `superseded` is set: a newer version will serve instead.
    pub fn warm(&self, state: &[crate::wit::Change], seq: u64, superseded: &AtomicBool) {
        for prepared in &self.pools {
            prepared
                .pool
                .warm(&prepared.workers, state, seq, superseded);
        }
    }
}

/// Runs one call of `plugin` at `point` and records its duration into
/// `scheduler_plugin_execution_duration_seconds`, with the status `status`
/// reads from its answer (`Error` for a failed call).
pub(super) fn timed_call<R>(
    metrics: &Metrics,
    plugin: &str,
    point: &'static str,
    status: impl FnOnce(&R) -> &'static str,
    call: impl FnOnce() -> Result<R, PluginError>,
) -> Result<R, PluginError> {
    let started = Instant::now();
    let result = call();
    let status = match &result {
        Ok(answer) => status(answer),
        Err(_) => "Error",
    };
    metrics.observe_plugin(plugin, point, status, started.elapsed());
    result
}

/// kube-scheduler's name of a status code (its `Code.String()`): the
/// `status` label of its metrics, and what `explain` prints.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Success => "Success",
        Code::Unschedulable => "Unschedulable",
        Code::UnschedulableAndUnresolvable => "UnschedulableAndUnresolvable",
        Code::Error => "Error",
        Code::Skip => "Skip",
        Code::Wait => "Wait",
        Code::Pending => "Pending",
    }
}

/// A fault left out under `failurePolicy: Ignore`: logged, so the choice
/// to place the pod without that plugin's say is on record.
pub(super) fn log_ignored(ctx: CallContext<'_>, point: &str, error: &PluginError) {
    let pod = ctx.pod.metadata.name.as_deref().unwrap_or_default();
    let namespace = ctx.pod.metadata.namespace.as_deref().unwrap_or_default();
    tracing::warn!(
        pod = %format_args!("{namespace}/{pod}"),
        plugin = error.plugin(),
        point,
        %error,
        "plugin skipped for this pod (failurePolicy: Ignore)"
    );
}
