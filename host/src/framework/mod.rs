//! One pod's scheduling cycle with the plugins of the pod's profile:
//! PreFilter, Filter (PostFilter when no node fits), PreScore, Score, then
//! the choice of a node. What follows the choice (Reserve, Permit and the
//! binding cycle) is in [`cycle`]; pods held at Permit in
//! [`waiting_pods`].
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
//! plugins), starting where the previous pod's search stopped. Scores are normalised to 0..=100 per plugin, weighted and
//! summed; the highest total wins, ties broken at random (seeded, so runs
//! repeat).
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
pub mod waiting_pods;

pub use cycle::{Cycle, PermitOutcome, StepError};
pub use waiting_pods::{Decision, WaitingPods};

use crate::cache::{Cache, Snapshot};
use crate::config::{Config, DEFAULT_PLUGINS, FailurePolicy, PluginSettings, Profile};
use crate::runtime::{CallContext, LoadedPlugin, PluginError, PluginPool, point_name};
use crate::wit::{
    ActionType, ClusterEvent, Code, EventResource, ExtensionPoint, NodeId, NodeStatus, Pod,
    QueueingHint, RegisteredEvent, Status,
};
use cycle::Member;
use k8s_openapi::api::core::v1 as core;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Below this many nodes kube-scheduler checks them all.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Batches smaller than this run on one worker: a thread costs more than
/// the plugins save.
const MIN_PARALLEL_BATCH: usize = 256;
/// Below this many feasible nodes the score plugins run one after the
/// other on one worker: a thread costs more than the plugins save.
const MIN_PARALLEL_SCORE: usize = 64;
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
    #[error("profile {profile}: {source}")]
    Plugin {
        profile: String,
        source: PluginError,
    },
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

/// How one pod's scheduling cycle ended.
#[derive(Debug)]
pub enum Outcome {
    /// The pod goes to `cycle.node`; Reserve, Permit and the binding cycle
    /// follow through `cycle`.
    Scheduled(Box<Cycle>),
    /// No node fits.
    Unschedulable(Box<Diagnosis>),
    /// A plugin failed; the pod is retried after backoff.
    Failed(String),
}

/// Why no node fits: each rejected node's status and the plugin that
/// rejected it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnosis {
    pub total_nodes: usize,
    pub rejected: Vec<Rejection>,
    /// A PreFilter plugin rejected the pod for every node: its message
    /// stands in for the per-node reasons.
    pub pre_filter: Option<String>,
    /// The PreFilter plugin that did.
    pub pre_filter_plugin: Option<String>,
    /// What PostFilter said (kube-scheduler's `preemption: ...` part).
    pub post_filter: Option<String>,
    /// The node PostFilter nominated, if any.
    pub nominated_node: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub node: String,
    pub plugin: String,
    pub status: Status,
}

impl Diagnosis {
    /// The plugins that rejected the pod (kube-scheduler's
    /// UnschedulablePlugins): the events they registered for may help it.
    /// A node PreFilter left out names every plugin that narrowed the
    /// nodes, joined by commas.
    pub fn plugins(&self) -> Vec<String> {
        let mut plugins: Vec<String> = self
            .rejected
            .iter()
            .flat_map(|r| r.plugin.split(',').map(str::to_string))
            .chain(self.pre_filter_plugin.clone())
            .collect();
        plugins.sort();
        plugins.dedup();
        plugins
    }

    /// kube-scheduler's message: `0/3 nodes are available: 1 Insufficient
    /// cpu, 2 node(s) didn't match Pod's node affinity/selector.` Each reason
    /// is counted once per node that gave it; entries are sorted as text.
    ///
    /// ```
    /// use kws_host::framework::{Diagnosis, Rejection};
    /// use kws_host::wit::{Code, Status};
    /// let reject = |node: &str, reason: &str| Rejection {
    ///     node: node.into(),
    ///     plugin: "P".into(),
    ///     status: Status { code: Code::Unschedulable, reasons: vec![reason.into()] },
    /// };
    /// let d = Diagnosis {
    ///     total_nodes: 3,
    ///     rejected: vec![reject("a", "Insufficient cpu"), reject("b", "Too many pods"), reject("c", "Insufficient cpu")],
    ///     ..Diagnosis::default()
    /// };
    /// assert_eq!(d.message(), "0/3 nodes are available: 1 Too many pods, 2 Insufficient cpu.");
    /// ```
    ///
    /// When PreFilter rejected the pod its message replaces the per-node
    /// reasons, and PostFilter's message follows, as upstream's FitError.
    pub fn message(&self) -> String {
        if self.total_nodes == 0 {
            return "no nodes available to schedule pods".to_string();
        }
        let mut message = format!("0/{} nodes are available:", self.total_nodes);
        match &self.pre_filter {
            Some(pre_filter) => message.push_str(&format!(" {pre_filter}.")),
            None => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for rejection in &self.rejected {
                    for reason in &rejection.status.reasons {
                        *counts.entry(reason).or_default() += 1;
                    }
                }
                let mut reasons: Vec<String> = counts
                    .into_iter()
                    .map(|(reason, count)| format!("{count} {reason}"))
                    .collect();
                reasons.sort();
                message.push_str(&format!(" {}.", reasons.join(", ")));
            }
        }
        if let Some(post_filter) = &self.post_filter {
            message.push_str(&format!(" {post_filter}."));
        }
        message
    }
}

/// How many feasible nodes to look for among `all`, as kube-scheduler's
/// `numFeasibleNodesToFind`: every node below 100; else `percentage` of
/// them (adaptive when `None`: 50% minus 1% per 125 nodes, at least 5%),
/// and never fewer than 100.
pub fn feasible_nodes_to_find(percentage: Option<u32>, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = match percentage {
        Some(p) if p > 0 => (p as usize).min(100),
        _ => 50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
    };
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// A node's Filter result: `None` if it passed, else the position (in the
/// profile's filters) of the plugin that rejected it, and its status.
type Verdict = Option<(usize, Status)>;

/// One score plugin's raw scores, and its normalised ones if it normalises.
type ScoreResult = Result<(Vec<i64>, Option<Vec<i64>>), PluginError>;

/// A plugin a profile runs, and the version serving it.
struct Slot {
    name: String,
    /// The profile's `pluginConfig` args, as JSON.
    args: String,
    settings: PluginSettings,
    /// The points the profile names it at (filter, score): its version must
    /// implement them.
    points: Vec<ExtensionPoint>,
    /// The framework's other points the profile takes it out of.
    disabled: Vec<ExtensionPoint>,
    /// The points the last version that served it implements: while no
    /// version serves it, a call at these points fails (under `Fail`,
    /// no pod goes past it).
    implemented: Vec<ExtensionPoint>,
    /// The instance every call of a cycle goes to.
    home: usize,
    /// The cluster events that may make a pod it rejected schedulable;
    /// `None` when it does not say (any event may).
    events: Option<Vec<RegisteredEvent>>,
    /// `None` while no loaded file serves it.
    pool: Option<Arc<PluginPool>>,
}

impl Slot {
    fn pool(&self) -> Result<&PluginPool, PluginError> {
        self.pool.as_deref().ok_or_else(|| PluginError::NotLoaded {
            plugin: self.name.clone(),
        })
    }

    /// Whether the profile runs this plugin at `point`: its version
    /// implements it and the profile did not take it out there.
    fn runs_at(&self, point: ExtensionPoint) -> bool {
        self.implemented.contains(&point) && !self.disabled.contains(&point)
    }

    /// This slot for a cycle's later points.
    fn member(&self) -> Result<Member, PluginError> {
        Ok(Member {
            pool: self.pool.clone().ok_or_else(|| PluginError::NotLoaded {
                plugin: self.name.clone(),
            })?,
            instance: self.home,
            policy: self.settings.failure_policy,
        })
    }

    /// A pool of `plugin` for this slot, or why it cannot serve here.
    fn start(
        &self,
        profile: &str,
        plugin: &Arc<LoadedPlugin>,
        workers: usize,
        waiting: &Arc<WaitingPods>,
    ) -> Result<PluginPool, FrameworkError> {
        if let Some(pinned) = &self.settings.sha256
            && *pinned != plugin.digest
        {
            return Err(FrameworkError::PinMismatch {
                plugin: self.name.clone(),
                file: plugin.file.display().to_string(),
                digest: plugin.digest.clone(),
                pinned: pinned.clone(),
            });
        }
        if let Some(point) = self.points.iter().find(|p| !plugin.implements(**p)) {
            return Err(FrameworkError::NotImplemented {
                profile: profile.to_string(),
                plugin: self.name.clone(),
                point: point_name(*point),
                implemented: format!("{:?}", plugin.metadata.extension_points),
            });
        }
        PluginPool::serving(
            plugin.clone(),
            self.args.clone(),
            self.settings.clone(),
            workers,
            Some(waiting.clone()),
        )
        .map_err(|source| FrameworkError::Plugin {
            profile: profile.to_string(),
            source,
        })
    }
}

fn versions(slots: &[Slot]) -> String {
    let described: Vec<String> = slots
        .iter()
        .map(|slot| match &slot.pool {
            Some(pool) => format!("{} {}", slot.name, pool.plugin().metadata.version),
            None => format!("{} (not loaded)", slot.name),
        })
        .collect();
    described.join(", ")
}

/// The points that may keep state for a cycle: the instances that ran
/// them are told when the cycle ends.
const STATEFUL_POINTS: [ExtensionPoint; 5] = [
    ExtensionPoint::PreFilter,
    ExtensionPoint::PostFilter,
    ExtensionPoint::PreScore,
    ExtensionPoint::Reserve,
    ExtensionPoint::Permit,
];

/// The framework's points by their `KubeSchedulerConfiguration` field
/// names, for `disabled` lists.
const CONFIGURED_POINTS: [(&str, ExtensionPoint); 9] = [
    ("preEnqueue", ExtensionPoint::PreEnqueue),
    ("preFilter", ExtensionPoint::PreFilter),
    ("postFilter", ExtensionPoint::PostFilter),
    ("preScore", ExtensionPoint::PreScore),
    ("reserve", ExtensionPoint::Reserve),
    ("permit", ExtensionPoint::Permit),
    ("preBind", ExtensionPoint::PreBind),
    ("bind", ExtensionPoint::Bind),
    ("postBind", ExtensionPoint::PostBind),
];

/// One cycle on every node with every plugin's answer, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleReport {
    /// A PreFilter plugin that rejected the pod for every node, and its
    /// status (no filter ran then).
    pub pre_filter: Option<(String, Status)>,
    /// The profile's filter plugins, in the order they run.
    pub filters: Vec<String>,
    /// Filter plugins that did not run for the pod: Skip at PreFilter (or
    /// left out after a fault under `failurePolicy: Ignore`).
    pub skipped_filters: Vec<String>,
    /// The PreFilter plugins that narrowed the nodes (joined by commas),
    /// which a node they left out is reported as rejected by.
    pub narrowed_by: Option<String>,
    /// Every node of the snapshot, in snapshot order.
    pub nodes: Vec<NodeReport>,
}

/// The position [`NodeReport::rejected`] gives a node PreFilter ruled
/// out: before every filter plugin.
pub const PRE_FILTER: usize = usize::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub node: String,
    /// The first filter plugin (index into [`CycleReport::filters`]) that
    /// did not pass the node, and its status; `None` if the node is
    /// feasible. The plugins before it passed it.
    pub rejected: Option<(usize, Status)>,
    /// Feasible nodes only: each score plugin in profile order.
    pub scores: Vec<PluginScore>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginScore {
    pub plugin: String,
    pub raw: i64,
    /// After NormalizeScore; the raw score when the plugin has none.
    pub normalized: i64,
    pub weight: i64,
}

/// The plugins of one profile, ready to run cycles.
pub struct ProfileFramework {
    pub scheduler_name: String,
    /// In profile order: filter plugins, score plugins, the others.
    slots: Vec<Slot>,
    /// Indices into `slots`, in profile order.
    filters: Vec<usize>,
    scorers: Vec<(usize, i64)>,
    percentage: Option<u32>,
    workers: usize,
    next_start: usize,
    rng: u64,
    /// `Name version, ...` of the versions serving now, for the log line of
    /// each placement (which code placed this pod?).
    versions: String,
}

/// Every profile of the configuration.
pub struct Framework {
    profiles: Vec<ProfileFramework>,
    waiting: Arc<WaitingPods>,
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
        let waiting = Arc::new(WaitingPods::default());
        let profiles = config
            .profiles
            .iter()
            .map(|p| ProfileFramework::new(config, p, plugins, plugin_dir, &waiting))
            .collect::<Result<_, _>>()?;
        Ok(Framework { profiles, waiting })
    }

    /// The pods held at Permit, of every profile.
    pub fn waiting_pods(&self) -> &Arc<WaitingPods> {
        &self.waiting
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
        let mut started = Vec::new();
        for (p, profile) in self.profiles.iter().enumerate() {
            for (s, slot) in profile.slots.iter().enumerate() {
                if slot.name == plugin.name() {
                    let pool = slot.start(
                        &profile.scheduler_name,
                        plugin,
                        profile.workers,
                        &self.waiting,
                    )?;
                    let pool = Arc::new(pool);
                    let events =
                        registered_events(&pool).map_err(|source| FrameworkError::Plugin {
                            profile: profile.scheduler_name.clone(),
                            source,
                        })?;
                    started.push((p, s, pool, events));
                }
            }
        }
        let count = started.len();
        for (p, s, pool, events) in started {
            let slot = &mut self.profiles[p].slots[s];
            slot.implemented = plugin.metadata.extension_points.clone();
            slot.events = events;
            slot.pool = Some(pool);
            self.profiles[p].versions = versions(&self.profiles[p].slots);
        }
        Ok(count)
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

impl ProfileFramework {
    fn new(
        config: &Config,
        profile: &Profile,
        plugins: &[Arc<LoadedPlugin>],
        plugin_dir: &str,
        waiting: &Arc<WaitingPods>,
    ) -> Result<ProfileFramework, FrameworkError> {
        let name = &profile.scheduler_name;
        let workers = config.parallelism.max(1);
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_for = |plugin: &str, point: Option<ExtensionPoint>| -> usize {
            let index = match slots.iter().position(|s| s.name == plugin) {
                Some(index) => index,
                None => {
                    slots.push(Slot {
                        name: plugin.to_string(),
                        args: profile
                            .plugin_args
                            .get(plugin)
                            .map_or_else(|| "{}".to_string(), ToString::to_string),
                        settings: config.wasm.settings_for(plugin).clone(),
                        points: Vec::new(),
                        disabled: CONFIGURED_POINTS
                            .iter()
                            .filter(|(field, _)| !profile.runs_at(field, plugin))
                            .map(|(_, point)| *point)
                            .collect(),
                        implemented: Vec::new(),
                        home: slots.len() % workers,
                        events: None,
                        pool: None,
                    });
                    slots.len() - 1
                }
            };
            slots[index].points.extend(point);
            index
        };
        // A default plugin whose component is not in the directory is left
        // out rather than refused: a directory built before that default
        // existed (or a deployment that drops one on purpose) still
        // schedules with the others. Any other plugin must be there.
        let absent_defaults: Vec<&str> = profile
            .plugin_names()
            .into_iter()
            .filter(|n| {
                DEFAULT_PLUGINS.iter().any(|d| d.name == *n)
                    && !plugins.iter().any(|p| p.name() == *n)
            })
            .collect();
        for plugin_name in &absent_defaults {
            tracing::warn!(
                "profile {name}: default plugin {plugin_name} is not in {plugin_dir}; \
                 scheduling without it"
            );
        }
        let present = |plugin: &&String| !absent_defaults.contains(&plugin.as_str());
        let filters: Vec<usize> = profile
            .filter
            .iter()
            .filter(present)
            .map(|p| slot_for(p, Some(ExtensionPoint::Filter)))
            .collect();
        let scorers: Vec<(usize, i64)> = profile
            .score
            .iter()
            .filter(|(p, _)| present(&p))
            .map(|(p, weight)| (slot_for(p, Some(ExtensionPoint::Score)), *weight))
            .collect();
        for plugin in profile.other.iter().filter(present) {
            slot_for(plugin, None);
        }
        for slot in &mut slots {
            let plugin = plugins
                .iter()
                .find(|p| p.name() == slot.name)
                .ok_or_else(|| FrameworkError::MissingPlugin {
                    profile: name.clone(),
                    plugin: slot.name.clone(),
                    dir: plugin_dir.to_string(),
                })?;
            let pool = Arc::new(slot.start(name, plugin, workers, waiting)?);
            slot.events = registered_events(&pool).map_err(|source| FrameworkError::Plugin {
                profile: name.clone(),
                source,
            })?;
            slot.pool = Some(pool);
            slot.implemented = plugin.metadata.extension_points.clone();
        }
        Ok(ProfileFramework {
            scheduler_name: name.clone(),
            versions: versions(&slots),
            slots,
            filters,
            scorers,
            percentage: profile.percentage_of_nodes_to_score,
            workers,
            next_start: 0,
            rng: 0x5eed_0fc0_ffee,
        })
    }

    /// The plugin versions serving now: `NodeName 0.1.0, Lane 2.0.0, ...`
    /// (`Lane (not loaded)` for a plugin without one).
    pub fn versions(&self) -> &str {
        &self.versions
    }

    /// Runs one scheduling cycle for `pod` against the cache as it is now:
    /// PreFilter, Filter, PostFilter when no node fits, PreScore, Score and
    /// the choice. A scheduled pod's cycle goes on in the [`Cycle`]; any
    /// other outcome ends it here.
    pub fn schedule(
        &mut self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Outcome {
        let mut scope = CycleScope::new();
        let ctx = CallContext {
            cache: Some(cache),
            snapshot,
            pod: object,
            cycle: scope.id,
        };
        let chosen = match self.run_cycle(ctx, pod, &mut scope) {
            Ok(chosen) => chosen,
            Err(outcome) => {
                self.end(&scope);
                return outcome;
            }
        };
        match self.cycle(ctx, &scope, chosen) {
            Ok(cycle) => Outcome::Scheduled(Box::new(cycle)),
            Err(message) => {
                self.end(&scope);
                Outcome::Failed(message)
            }
        }
    }

    /// Admits a pod to the queue, or says why it waits outside it (the
    /// first PreEnqueue plugin that did not say success).
    pub fn pre_enqueue(
        &self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<(), String> {
        let ctx = CallContext {
            cache: Some(cache),
            snapshot,
            pod: object,
            cycle: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
        };
        for slot in self.slots_at(ExtensionPoint::PreEnqueue) {
            let status = match slot.pool().and_then(|p| p.pre_enqueue(slot.home, ctx, pod)) {
                Ok(status) => status,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "pre-enqueue", &error);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            if status.code != Code::Success {
                return Err(format!(
                    "pod waits for plugin {}: {}",
                    slot.name,
                    status.reasons.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether `event` may make `pod` schedulable: kube-scheduler's
    /// queueing hints. A plugin that rejected the pod decides by what it
    /// registered for (any event when it registered nothing, a hint call
    /// when it asked for one; a failed hint moves the pod); a pod no plugin
    /// is known to have rejected moves on any event. `old` and `new` give
    /// the object's JSON, asked for only when a hint is called.
    #[allow(clippy::too_many_arguments)]
    pub fn queueing_hint(
        &self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        pod: &crate::queue::QueuedPod,
        event: ClusterEvent,
        old: &dyn Fn() -> Option<String>,
        new: &dyn Fn() -> Option<String>,
    ) -> bool {
        if pod.unschedulable_plugins.is_empty() {
            return true;
        }
        for name in &pod.unschedulable_plugins {
            let Some(slot) = self.slots.iter().find(|s| s.name == *name) else {
                return true;
            };
            let Some(events) = &slot.events else {
                return true;
            };
            for registered in events.iter().filter(|r| registered_for(r, event)) {
                if !registered.has_hint {
                    return true;
                }
                let Some(pool) = &slot.pool else {
                    return true;
                };
                let ctx = CallContext {
                    cache: Some(cache),
                    snapshot,
                    pod: &pod.object,
                    cycle: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
                };
                let (old, new) = (old(), new());
                match pool.hint(
                    slot.home,
                    ctx,
                    &pod.record,
                    event,
                    old.as_deref(),
                    new.as_deref(),
                ) {
                    Ok(Ok(QueueingHint::Skip)) => {}
                    Ok(Ok(QueueingHint::Queue)) => return true,
                    Ok(Err(message)) => {
                        tracing::warn!(plugin = slot.name, %message, "queueing hint failed");
                        return true;
                    }
                    Err(error) => {
                        tracing::warn!(plugin = slot.name, %error, "queueing hint failed");
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether any plugin of the profile runs at PreEnqueue.
    pub fn has_pre_enqueue(&self) -> bool {
        self.slots_at(ExtensionPoint::PreEnqueue).next().is_some()
    }

    /// The slots that run at `point`, in profile order.
    fn slots_at(&self, point: ExtensionPoint) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(move |s| s.runs_at(point))
    }

    /// Everything up to the choice of a node; `Err` with the outcome when
    /// there is none.
    fn run_cycle(
        &mut self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
    ) -> Result<NodeId, Outcome> {
        let all = ctx.snapshot.nodes.len();
        if all == 0 {
            return Err(Outcome::Unschedulable(Box::default()));
        }
        let candidates = match self.pre_filter(ctx, pod, scope) {
            Ok(candidates) => candidates,
            Err(PreFilterStop::Rejected { plugin, status }) => {
                return Err(Outcome::Unschedulable(Box::new(Diagnosis {
                    total_nodes: all,
                    pre_filter: Some(status.reasons.join(", ")),
                    pre_filter_plugin: Some(plugin),
                    ..Diagnosis::default()
                })));
            }
            Err(PreFilterStop::Failed(message)) => return Err(Outcome::Failed(message)),
        };
        let (feasible, mut diagnosis) = self
            .find_feasible(ctx, pod, scope, candidates.as_ref())
            .map_err(Outcome::Failed)?;
        if feasible.is_empty() {
            self.post_filter(ctx, pod, scope, &mut diagnosis)
                .map_err(Outcome::Failed)?;
            return Err(Outcome::Unschedulable(Box::new(diagnosis)));
        }
        if feasible.len() == 1 {
            return Ok(feasible[0]);
        }
        self.pre_score(ctx, pod, scope, &feasible)
            .map_err(Outcome::Failed)?;
        let totals = self
            .score(ctx, pod, scope, &feasible)
            .map_err(Outcome::Failed)?;
        Ok(self.select(&feasible, &totals))
    }

    /// PreFilter: every plugin that runs there, in profile order. The node
    /// names the plugins restrict the cycle to (intersected), `None` for
    /// every node; or why the cycle stops.
    fn pre_filter(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
    ) -> Result<Option<Narrowing>, PreFilterStop> {
        let mut candidates: Option<HashSet<String>> = None;
        let mut restricting: Vec<String> = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if !slot.runs_at(ExtensionPoint::PreFilter) {
                continue;
            }
            scope.stateful.insert(index);
            let result = match slot.pool().and_then(|p| p.pre_filter(slot.home, ctx, pod)) {
                Ok(result) => result,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "pre-filter", &error);
                    scope.left_out.insert(index);
                    continue;
                }
                Err(error) => return Err(PreFilterStop::Failed(error.to_string())),
            };
            match result.status.code {
                Code::Success => {}
                Code::Skip => {
                    scope.skip_filter.insert(index);
                    continue;
                }
                Code::Unschedulable | Code::UnschedulableAndUnresolvable => {
                    return Err(PreFilterStop::Rejected {
                        plugin: slot.name.clone(),
                        status: result.status,
                    });
                }
                Code::Error | Code::Wait | Code::Pending => {
                    return Err(PreFilterStop::Failed(format!(
                        "running PreFilter plugin {:?}: {}",
                        slot.name,
                        result.status.reasons.join(", ")
                    )));
                }
            }
            if let Some(names) = result.node_names {
                restricting.push(slot.name.clone());
                let names: HashSet<String> = names.into_iter().collect();
                candidates = Some(match candidates {
                    Some(before) => before.intersection(&names).cloned().collect(),
                    None => names,
                });
                if candidates.as_ref().is_some_and(HashSet::is_empty) {
                    let message = if restricting.len() > 1 {
                        format!(
                            "node(s) didn't satisfy plugin(s) [{}] simultaneously",
                            restricting.join(" ")
                        )
                    } else {
                        format!("node(s) didn't satisfy plugin {}", slot.name)
                    };
                    return Err(PreFilterStop::Rejected {
                        plugin: slot.name.clone(),
                        status: Status {
                            code: Code::UnschedulableAndUnresolvable,
                            reasons: vec![message],
                        },
                    });
                }
            }
        }
        restricting.sort();
        Ok(candidates.map(|names| Narrowing {
            names,
            plugins: restricting,
        }))
    }

    /// Filter: the feasible node ids (in search order), and why the others
    /// were rejected. Only `candidates` are tried when PreFilter named
    /// some.
    fn find_feasible(
        &mut self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        candidates: Option<&Narrowing>,
    ) -> Result<(Vec<NodeId>, Diagnosis), String> {
        let nodes = &ctx.snapshot.nodes;
        let all = nodes.len();
        // Without score plugins any feasible node will do, so kube-scheduler
        // stops at the first one found from the rotating start.
        let wanted = if self.scorers.is_empty() {
            1
        } else {
            feasible_nodes_to_find(self.percentage, all)
        };
        let start = self.next_start % all;
        let order: Vec<NodeId> = (0..all)
            .map(|i| &nodes[(start + i) % all])
            .filter(|n| Narrowing::admits(candidates, &n.name))
            .map(|n| n.id)
            .collect();
        let mut feasible = Vec::with_capacity(wanted);
        let mut rejected: Vec<(NodeId, usize, Status)> = Vec::new();
        let mut processed = 0;
        while feasible.len() < wanted && processed < order.len() {
            let batch_len = next_batch(wanted - feasible.len(), feasible.len(), processed)
                .min(order.len() - processed);
            let batch = &order[processed..processed + batch_len];
            let verdicts = self.filter_batch(ctx, pod, scope, batch)?;
            for (position, (node, verdict)) in batch.iter().zip(verdicts).enumerate() {
                match verdict {
                    None => feasible.push(*node),
                    Some((plugin, status)) => rejected.push((*node, plugin, status)),
                }
                if feasible.len() == wanted {
                    processed += position + 1;
                    break;
                }
                if position + 1 == batch_len {
                    processed += batch_len;
                }
            }
        }
        self.next_start = (start + processed) % all;
        if let Some((node, plugin, status)) =
            rejected.iter().find(|(_, _, s)| s.code == Code::Error)
        {
            let name = ctx.snapshot.node(*node).map_or("?", |n| n.name.as_str());
            return Err(format!(
                "running {} filter plugin on node {name}: {}",
                self.slots[self.filters[*plugin]].name,
                status.reasons.join(", ")
            ));
        }
        let mut diagnosis = Diagnosis {
            total_nodes: all,
            rejected: rejected
                .into_iter()
                .map(|(node, plugin, status)| Rejection {
                    node: ctx
                        .snapshot
                        .node(node)
                        .map(|n| n.name.clone())
                        .unwrap_or_default(),
                    plugin: self.slots[self.filters[plugin]].name.clone(),
                    status,
                })
                .collect(),
            ..Diagnosis::default()
        };
        if let Some(narrowing) = candidates.filter(|_| feasible.is_empty()) {
            let status = narrowing.status();
            diagnosis.rejected.extend(
                nodes
                    .iter()
                    .filter(|n| !narrowing.names.contains(&n.name))
                    .map(|n| Rejection {
                        node: n.name.clone(),
                        plugin: narrowing.plugin(),
                        status: status.clone(),
                    }),
            );
        }
        Ok((feasible, diagnosis))
    }

    /// Runs the filter plugins over a batch, dealt out to the workers by
    /// their home instance, each worker's share as a chain. For each node:
    /// `None` if it passed, or the position (in `filters`) of the first
    /// plugin in profile order that rejected it and its status, as one
    /// chain over all of them would find. (A plugin that faults under
    /// `failurePolicy: Fail` fails the attempt even where one chain would
    /// not have reached it, because earlier plugins rejected every node.)
    /// A plugin that faults under `Ignore` is left out for the rest of the
    /// cycle.
    fn filter_batch(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        batch: &[NodeId],
    ) -> Result<Vec<Verdict>, String> {
        let running: Vec<usize> = (0..self.filters.len())
            .filter(|&i| !scope.skips_filter(self.filters[i]))
            .collect();
        let dealt = self.deal(
            &running,
            |i| self.filters[i],
            batch.len() >= MIN_PARALLEL_BATCH,
        );
        let positions: HashMap<NodeId, usize> =
            batch.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let results = self.on_workers(&dealt, |filters: &Vec<usize>| {
            self.filter_chain(ctx, pod, batch, &positions, filters)
        });
        let mut verdicts: Vec<Verdict> = vec![None; batch.len()];
        let mut ignored: Vec<(usize, PluginError)> = Vec::new();
        for result in results {
            let (chain, skipped) = result.map_err(|e| e.to_string())?;
            for (verdict, theirs) in verdicts.iter_mut().zip(chain) {
                // The first plugin in profile order that rejected the node.
                let earlier = match (&theirs, &*verdict) {
                    (Some((theirs, _)), Some((ours, _))) => theirs < ours,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if earlier {
                    *verdict = theirs;
                }
            }
            ignored.extend(skipped);
        }
        for (filter, error) in ignored {
            log_ignored(ctx, "filter", &error);
            scope.left_out.insert(self.filters[filter]);
        }
        Ok(verdicts)
    }

    /// Some of the filter plugins (`filters`, positions in the profile's
    /// filters, in order) as a chain: each is asked only about the nodes
    /// the ones before it passed (`positions`: each node's index in
    /// `nodes`). Also the faults it ignored, with the plugin's position.
    #[allow(clippy::type_complexity)]
    fn filter_chain(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
        positions: &HashMap<NodeId, usize>,
        filters: &[usize],
    ) -> Result<(Vec<Verdict>, Vec<(usize, PluginError)>), PluginError> {
        let mut verdicts: Vec<Verdict> = vec![None; nodes.len()];
        let mut ignored = Vec::new();
        let mut remaining: Vec<NodeId> = nodes.to_vec();
        for &index in filters {
            if remaining.is_empty() {
                break;
            }
            let slot = &self.slots[self.filters[index]];
            let statuses = match slot
                .pool()
                .and_then(|pool| pool.filter(slot.home, ctx, pod, &remaining))
            {
                Ok(statuses) => statuses,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    ignored.push((index, error));
                    continue;
                }
                Err(error) => return Err(error),
            };
            if statuses.is_empty() {
                continue;
            }
            let mut failed = HashSet::with_capacity(statuses.len());
            for s in statuses {
                if matches!(s.status.code, Code::Success | Code::Skip) {
                    continue;
                }
                failed.insert(s.node);
                if let Some(&i) = positions.get(&s.node) {
                    verdicts[i] = Some((index, s.status));
                }
            }
            remaining.retain(|n| !failed.contains(n));
        }
        Ok((verdicts, ignored))
    }

    /// PostFilter, when no node passed: each plugin that runs there, in
    /// profile order, until one nominates a node or fails. What it says
    /// joins the failure message.
    fn post_filter(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        diagnosis: &mut Diagnosis,
    ) -> Result<(), String> {
        if self.slots_at(ExtensionPoint::PostFilter).next().is_none() {
            return Ok(());
        }
        let ids: HashMap<&str, NodeId> = ctx
            .snapshot
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.id))
            .collect();
        let rejected: Vec<NodeStatus> = diagnosis
            .rejected
            .iter()
            .filter_map(|r| {
                Some(NodeStatus {
                    node: *ids.get(r.node.as_str())?,
                    status: r.status.clone(),
                })
            })
            .collect();
        for (index, slot) in self.slots.iter().enumerate() {
            if !slot.runs_at(ExtensionPoint::PostFilter) || scope.left_out.contains(&index) {
                continue;
            }
            scope.stateful.insert(index);
            let result = match slot
                .pool()
                .and_then(|p| p.post_filter(slot.home, ctx, pod, &rejected))
            {
                Ok(result) => result,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "post-filter", &error);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            if !result.status.reasons.is_empty() {
                diagnosis.post_filter = Some(result.status.reasons.join(", "));
            }
            match result.status.code {
                Code::Success => {
                    diagnosis.nominated_node = result.nominated_node;
                    return Ok(());
                }
                Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Skip => {}
                _ => {
                    tracing::warn!(
                        plugin = slot.name,
                        reasons = ?result.status.reasons,
                        "post-filter plugin failed"
                    );
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// PreScore: each plugin that runs there, with every feasible node.
    fn pre_score(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        feasible: &[NodeId],
    ) -> Result<(), String> {
        for (index, slot) in self.slots.iter().enumerate() {
            if !slot.runs_at(ExtensionPoint::PreScore) || scope.left_out.contains(&index) {
                continue;
            }
            scope.stateful.insert(index);
            let status = match slot
                .pool()
                .and_then(|p| p.pre_score(slot.home, ctx, pod, feasible))
            {
                Ok(status) => status,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "pre-score", &error);
                    scope.left_out.insert(index);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            match status.code {
                Code::Success => {}
                Code::Skip => {
                    scope.skip_score.insert(index);
                }
                _ => {
                    return Err(format!(
                        "running PreScore plugin {:?}: {}",
                        slot.name,
                        status.reasons.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Score: the weighted total of every feasible node, in order.
    ///
    /// Each score plugin sees every feasible node in one call, but the
    /// plugins are independent of each other, so they are dealt out to the
    /// workers by their home instance and run side by side once there are
    /// enough nodes to be worth a thread.
    fn score(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        feasible: &[NodeId],
    ) -> Result<Vec<i64>, String> {
        let running: Vec<usize> = (0..self.scorers.len())
            .filter(|&i| !scope.skips_score(self.scorers[i].0))
            .collect();
        let dealt = self.deal(
            &running,
            |i| self.scorers[i].0,
            feasible.len() >= MIN_PARALLEL_SCORE,
        );
        let ran = self.on_workers(&dealt, |scorers: &Vec<usize>| {
            scorers
                .iter()
                .map(|&i| {
                    let slot = &self.slots[self.scorers[i].0];
                    (i, self.plugin_scores(slot, ctx, pod, feasible))
                })
                .collect::<Vec<_>>()
        });
        // Back in profile order, so that the first failure is reported.
        let mut results: Vec<(usize, ScoreResult)> = ran.into_iter().flatten().collect();
        results.sort_by_key(|(i, _)| *i);
        let mut totals = vec![0i64; feasible.len()];
        for (i, result) in results {
            let (slot, weight) = self.scorers[i];
            let settings = &self.slots[slot].settings;
            let scores = match result {
                Ok((raw, normalized)) => normalized.unwrap_or(raw),
                Err(error) if settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "score", &error);
                    scope.left_out.insert(slot);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            for (total, score) in totals.iter_mut().zip(&scores) {
                *total += score * weight;
            }
        }
        Ok(totals)
    }

    /// One score plugin over the feasible nodes: its raw scores, and the
    /// normalised ones when the plugin normalises (else the raw ones
    /// count); the pool checks they lie in 0..=[`MAX_NODE_SCORE`]. One call
    /// with every feasible node, not one per worker: a plugin's scores may
    /// depend on the whole set (PodTopologySpread counts over it, as
    /// kube-scheduler's PreScore does).
    fn plugin_scores(
        &self,
        slot: &Slot,
        ctx: CallContext<'_>,
        pod: &Pod,
        feasible: &[NodeId],
    ) -> ScoreResult {
        let pool = slot.pool()?;
        let raw = pool.score(slot.home, ctx, pod, feasible)?;
        let normalized = if pool.plugin().implements(ExtensionPoint::NormalizeScore) {
            Some(pool.normalize_score(slot.home, ctx, pod, feasible, &raw)?)
        } else {
            None
        };
        Ok((raw, normalized))
    }

    /// The rest of a cycle that chose `node`: the plugin versions of its
    /// later points, fixed now so that a swap cannot strand the pod.
    fn cycle(
        &self,
        ctx: CallContext<'_>,
        scope: &CycleScope,
        node: NodeId,
    ) -> Result<Cycle, String> {
        let members = |point: ExtensionPoint| -> Result<Vec<Member>, String> {
            let mut members = Vec::new();
            for (index, slot) in self.slots.iter().enumerate() {
                if !slot.runs_at(point) || scope.left_out.contains(&index) {
                    continue;
                }
                match slot.member() {
                    Ok(member) => members.push(member),
                    Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                        log_ignored(ctx, point_name(point), &error);
                    }
                    Err(error) => return Err(error.to_string()),
                }
            }
            Ok(members)
        };
        let stateful: Vec<Member> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(index, slot)| {
                scope.stateful.contains(index) || STATEFUL_POINTS.iter().any(|p| slot.runs_at(*p))
            })
            .filter_map(|(_, slot)| slot.member().ok())
            .collect();
        Ok(Cycle {
            id: scope.id,
            profile: self.scheduler_name.clone(),
            node: ctx
                .snapshot
                .node(node)
                .map(|n| n.name.clone())
                .unwrap_or_default(),
            node_id: node,
            snapshot: ctx.snapshot.clone(),
            reserve: members(ExtensionPoint::Reserve)?,
            permit: members(ExtensionPoint::Permit)?,
            pre_bind: members(ExtensionPoint::PreBind)?,
            bind: members(ExtensionPoint::Bind)?,
            post_bind: members(ExtensionPoint::PostBind)?,
            stateful,
        })
    }

    /// Tells the instances that ran a stateful point that the cycle is over.
    fn end(&self, scope: &CycleScope) {
        for &index in &scope.stateful {
            let slot = &self.slots[index];
            if let Some(pool) = &slot.pool
                && let Err(error) = pool.cycle_end(slot.home, scope.id)
            {
                tracing::warn!(plugin = slot.name, %error, "cycle-end failed");
            }
        }
    }

    /// Runs the whole cycle for `pod` on every node, whatever
    /// `percentageOfNodesToScore` says, and reports each plugin's verdict
    /// and score (what `explain` prints). Chooses nothing and changes no
    /// state: the rotating start index stays where it was.
    pub fn explain(
        &self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<CycleReport, String> {
        let mut scope = CycleScope::new();
        let ctx = CallContext {
            cache: Some(cache),
            snapshot,
            pod: object,
            cycle: scope.id,
        };
        let report = self.explain_cycle(ctx, pod, &mut scope);
        self.end(&scope);
        report
    }

    fn explain_cycle(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
    ) -> Result<CycleReport, String> {
        let filters = self
            .filters
            .iter()
            .map(|&slot| self.slots[slot].name.clone())
            .collect();
        let candidates = match self.pre_filter(ctx, pod, scope) {
            Ok(candidates) => candidates,
            Err(PreFilterStop::Rejected { plugin, status }) => {
                return Ok(CycleReport {
                    nodes: ctx
                        .snapshot
                        .nodes
                        .iter()
                        .map(|n| NodeReport {
                            node: n.name.clone(),
                            rejected: Some((PRE_FILTER, status.clone())),
                            scores: Vec::new(),
                        })
                        .collect(),
                    pre_filter: Some((plugin, status)),
                    filters,
                    skipped_filters: Vec::new(),
                    narrowed_by: None,
                });
            }
            Err(PreFilterStop::Failed(message)) => return Err(message),
        };
        let all: Vec<NodeId> = ctx
            .snapshot
            .nodes
            .iter()
            .filter(|n| Narrowing::admits(candidates.as_ref(), &n.name))
            .map(|n| n.id)
            .collect();
        let mut verdicts: HashMap<NodeId, Verdict> = all
            .iter()
            .copied()
            .zip(self.filter_batch(ctx, pod, scope, &all)?)
            .collect();
        let feasible: Vec<NodeId> = all
            .iter()
            .filter(|node| verdicts.get(node).is_some_and(Option::is_none))
            .copied()
            .collect();
        let mut scores = vec![Vec::with_capacity(self.scorers.len()); feasible.len()];
        if !feasible.is_empty() {
            self.pre_score(ctx, pod, scope, &feasible)?;
            for &(slot_index, weight) in &self.scorers {
                if scope.skips_score(slot_index) {
                    continue;
                }
                let slot = &self.slots[slot_index];
                let (raw, normalized) = self
                    .plugin_scores(slot, ctx, pod, &feasible)
                    .map_err(|e| e.to_string())?;
                let normalized = normalized.unwrap_or_else(|| raw.clone());
                for ((node_scores, raw), normalized) in scores.iter_mut().zip(raw).zip(normalized) {
                    node_scores.push(PluginScore {
                        plugin: slot.name.clone(),
                        raw,
                        normalized,
                        weight,
                    });
                }
            }
        }
        let mut scores = feasible
            .iter()
            .copied()
            .zip(scores)
            .collect::<HashMap<_, _>>();
        let nodes = ctx
            .snapshot
            .nodes
            .iter()
            .map(|node| {
                // A node PreFilter left out counts as rejected by the
                // plugins that narrowed the nodes.
                let rejected = verdicts
                    .remove(&node.id)
                    .unwrap_or_else(|| candidates.as_ref().map(|n| (PRE_FILTER, n.status())));
                NodeReport {
                    node: node.name.clone(),
                    scores: scores.remove(&node.id).unwrap_or_default(),
                    rejected,
                }
            })
            .collect();
        Ok(CycleReport {
            pre_filter: None,
            skipped_filters: self
                .filters
                .iter()
                .filter(|&&slot| scope.skips_filter(slot))
                .map(|&slot| self.slots[slot].name.clone())
                .collect(),
            narrowed_by: candidates.map(|n| n.plugin()),
            filters,
            nodes,
        })
    }

    /// The highest total wins; among equals each has the same chance
    /// (reservoir sampling, as kube-scheduler's selectHost).
    fn select(&mut self, feasible: &[NodeId], totals: &[i64]) -> NodeId {
        let mut best = feasible[0];
        let mut best_total = totals[0];
        let mut ties = 1u64;
        for (node, total) in feasible.iter().zip(totals).skip(1) {
            if *total > best_total {
                best = *node;
                best_total = *total;
                ties = 1;
            } else if *total == best_total {
                ties += 1;
                if self.next_random().is_multiple_of(ties) {
                    best = *node;
                }
            }
        }
        best
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: cheap, and seeded so simulations repeat.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Deals plugins (`running`: their positions in a point's list) out to
    /// the workers by their home instance (`slot` gives a position's slot):
    /// one group per worker, each in profile order; one group of all unless
    /// `parallel`.
    fn deal(
        &self,
        running: &[usize],
        slot: impl Fn(usize) -> usize,
        parallel: bool,
    ) -> Vec<Vec<usize>> {
        if !parallel || self.workers == 1 {
            return vec![running.to_vec()];
        }
        let mut groups = vec![Vec::new(); self.workers];
        for &position in running {
            groups[self.slots[slot(position)].home].push(position);
        }
        groups.retain(|g| !g.is_empty());
        groups
    }

    /// Runs `f` for each group, in parallel when there is more than one:
    /// the first on this thread, the others on threads of their own.
    fn on_workers<T: Sync, R: Send>(&self, items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
        let Some((first, others)) = items.split_first() else {
            return Vec::new();
        };
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = others
                .iter()
                .map(|item| scope.spawn(move || f(item)))
                .collect();
            let mut results = vec![f(first)];
            results.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a scheduling worker panicked")),
            );
            results
        })
    }
}

/// The nodes PreFilter plugins restricted a cycle to.
struct Narrowing {
    /// The intersection of the node names they returned.
    names: HashSet<String>,
    /// The plugins that returned node names, sorted.
    plugins: Vec<String>,
}

impl Narrowing {
    fn admits(narrowing: Option<&Narrowing>, node: &str) -> bool {
        narrowing.is_none_or(|n| n.names.contains(node))
    }

    /// What every node left out is rejected with, as kube-scheduler's
    /// `SetAbsentNodesStatus`: `node(s) didn't satisfy plugin(s) [A B]`.
    fn status(&self) -> Status {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![format!(
                "node(s) didn't satisfy plugin(s) [{}]",
                self.plugins.join(" ")
            )],
        }
    }

    /// The name a left-out node's rejection carries: the plugins, joined
    /// by commas (what the reference oracle prints).
    fn plugin(&self) -> String {
        self.plugins.join(",")
    }
}

/// Why PreFilter stopped a cycle.
enum PreFilterStop {
    /// A plugin said no node can pass.
    Rejected { plugin: String, status: Status },
    /// A plugin failed: the pod is retried after backoff.
    Failed(String),
}

/// What one cycle has learnt about its plugins so far (slots by index).
struct CycleScope {
    id: u64,
    /// PreFilter said Skip: their filter is not called.
    skip_filter: HashSet<usize>,
    /// PreScore said Skip: their score is not called.
    skip_score: HashSet<usize>,
    /// Faulted under `failurePolicy: Ignore`: left out of the cycle.
    left_out: HashSet<usize>,
    /// Ran a point that may keep state: told when the cycle ends.
    stateful: BTreeSet<usize>,
}

impl CycleScope {
    fn new() -> CycleScope {
        CycleScope {
            id: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
            skip_filter: HashSet::new(),
            skip_score: HashSet::new(),
            left_out: HashSet::new(),
            stateful: BTreeSet::new(),
        }
    }

    fn skips_filter(&self, slot: usize) -> bool {
        self.skip_filter.contains(&slot) || self.left_out.contains(&slot)
    }

    fn skips_score(&self, slot: usize) -> bool {
        self.skip_score.contains(&slot) || self.left_out.contains(&slot)
    }
}

/// Whether a registration covers an event: same resource (or any), and
/// the action, `all`, or for an update of any kind, `update`.
fn registered_for(registered: &RegisteredEvent, event: ClusterEvent) -> bool {
    let resource =
        registered.resource == EventResource::Wildcard || registered.resource == event.resource;
    let is_update = !matches!(event.action, ActionType::Add | ActionType::Delete);
    resource
        && registered.actions.iter().any(|a| {
            *a == ActionType::All || *a == event.action || (*a == ActionType::Update && is_update)
        })
}

/// What a plugin registers for at EnqueueExtensions, asked once per pool;
/// `None` when it does not implement the point.
fn registered_events(pool: &PluginPool) -> Result<Option<Vec<RegisteredEvent>>, PluginError> {
    if !pool.plugin().implements(ExtensionPoint::EnqueueExtensions) {
        return Ok(None);
    }
    let snapshot = Arc::new(Snapshot::default());
    let pod = Arc::new(core::Pod::default());
    let ctx = CallContext {
        cache: None,
        snapshot: &snapshot,
        pod: &pod,
        cycle: 0,
    };
    pool.events_to_register(0, ctx).map(Some)
}

/// How many nodes the next filter batch takes, when `missing` feasible
/// nodes are still wanted and `found` of the `processed` nodes passed.
///
/// Each batch costs every filter plugin's per-pod work (kube-scheduler's
/// PreFilter, such as counting the pods that match a spread constraint or
/// an anti-affinity term) once more, so batches should be few: the
/// next one is sized by the pass rate seen so far, with a quarter more for
/// luck, and takes every node left when none passed yet.
fn next_batch(missing: usize, found: usize, processed: usize) -> usize {
    if processed == 0 {
        return missing.max(MIN_PARALLEL_BATCH);
    }
    if found == 0 {
        return usize::MAX;
    }
    let expected = missing.saturating_mul(processed).div_ceil(found);
    expected
        .saturating_add(expected / 4)
        .max(MIN_PARALLEL_BATCH)
}

/// A fault left out under `failurePolicy: Ignore`: logged, so the choice
/// to place the pod without that plugin's say is on record.
fn log_ignored(ctx: CallContext<'_>, point: &str, error: &PluginError) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_batches_follow_the_pass_rate() {
        // The first batch is what is wanted, at least a parallel batch.
        assert_eq!(next_batch(420, 0, 0), 420);
        assert_eq!(next_batch(50, 0, 0), MIN_PARALLEL_BATCH);
        // A third of the nodes passed: three times the missing count, and
        // a quarter more.
        assert_eq!(next_batch(100, 140, 420), 375);
        // Nearly all passed: a parallel batch is enough.
        assert_eq!(next_batch(10, 410, 420), MIN_PARALLEL_BATCH);
        // None passed: every node left.
        assert_eq!(next_batch(420, 0, 420), usize::MAX);
    }

    #[test]
    fn registrations_cover_their_resource_and_actions() {
        let event = |resource, action| ClusterEvent { resource, action };
        let nodes = RegisteredEvent {
            resource: EventResource::Node,
            actions: vec![ActionType::Add, ActionType::UpdateNodeLabel],
            has_hint: false,
        };
        assert!(registered_for(
            &nodes,
            event(EventResource::Node, ActionType::Add)
        ));
        assert!(registered_for(
            &nodes,
            event(EventResource::Node, ActionType::UpdateNodeLabel)
        ));
        assert!(!registered_for(
            &nodes,
            event(EventResource::Node, ActionType::UpdateNodeTaint)
        ));
        assert!(!registered_for(
            &nodes,
            event(EventResource::AssignedPod, ActionType::Add)
        ));
        let any_update = RegisteredEvent {
            resource: EventResource::Wildcard,
            actions: vec![ActionType::Update],
            has_hint: false,
        };
        assert!(registered_for(
            &any_update,
            event(EventResource::AssignedPod, ActionType::UpdatePodLabel)
        ));
        assert!(!registered_for(
            &any_update,
            event(EventResource::AssignedPod, ActionType::Delete)
        ));
        let all = RegisteredEvent {
            actions: vec![ActionType::All],
            ..any_update
        };
        assert!(registered_for(
            &all,
            event(EventResource::Node, ActionType::Delete)
        ));
    }

    #[test]
    fn feasible_node_counts_follow_kube_scheduler() {
        assert_eq!(feasible_nodes_to_find(None, 50), 50);
        assert_eq!(feasible_nodes_to_find(None, 99), 99);
        // 50 - 100/125 = 50%: 50 nodes, raised to the minimum of 100.
        assert_eq!(feasible_nodes_to_find(None, 100), 100);
        // 50 - 1000/125 = 42%.
        assert_eq!(feasible_nodes_to_find(None, 1000), 420);
        // 50 - 5000/125 = 10%.
        assert_eq!(feasible_nodes_to_find(None, 5000), 500);
        // 50 - 15000/125 < 5: 5%.
        assert_eq!(feasible_nodes_to_find(None, 15000), 750);
        assert_eq!(feasible_nodes_to_find(Some(100), 5000), 5000);
        assert_eq!(feasible_nodes_to_find(Some(1), 5000), 100);
        assert_eq!(feasible_nodes_to_find(Some(30), 1000), 300);
    }

    fn rejection(node: &str, code: Code, reasons: &[&str]) -> Rejection {
        Rejection {
            node: node.into(),
            plugin: "P".into(),
            status: Status {
                code,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            },
        }
    }

    #[test]
    fn failure_messages_match_kube_scheduler() {
        let d = Diagnosis {
            total_nodes: 3,
            rejected: vec![
                rejection(
                    "a",
                    Code::Unschedulable,
                    &["Insufficient cpu", "Insufficient memory"],
                ),
                rejection(
                    "b",
                    Code::UnschedulableAndUnresolvable,
                    &["node(s) had untolerated taint(s)"],
                ),
                rejection(
                    "c",
                    Code::UnschedulableAndUnresolvable,
                    &["node(s) had untolerated taint(s)"],
                ),
            ],
            ..Diagnosis::default()
        };
        assert_eq!(
            d.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 2 node(s) had untolerated taint(s)."
        );
        assert_eq!(
            Diagnosis::default().message(),
            "no nodes available to schedule pods"
        );
    }
}
