//! One pod's scheduling cycle: Filter, then Score, then the choice of a
//! node, with the plugins of the pod's profile.
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
//! `failurePolicy` is `Ignore`: then it is left out for that pod, and the
//! pod is placed by the other plugins. Versions are swapped between cycles
//! ([`Framework::swap`]): a cycle runs on the pools it started with.

use crate::cache::{Cache, Snapshot};
use crate::config::{Config, DEFAULT_PLUGINS, FailurePolicy, PluginSettings, Profile};
use crate::runtime::{CallContext, LoadedPlugin, PluginError, PluginPool};
use crate::wit::{Code, ExtensionPoint, NodeId, Pod, Status};
use k8s_openapi::api::core::v1 as core;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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

/// How one pod's cycle ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The pod goes to `node`.
    Scheduled { node: String },
    /// No node fits.
    Unschedulable(Diagnosis),
    /// A plugin failed; the pod is retried after backoff.
    Failed(String),
}

/// Why no node fits: each rejected node's status and the plugin that
/// rejected it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnosis {
    pub total_nodes: usize,
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub node: String,
    pub plugin: String,
    pub status: Status,
}

impl Diagnosis {
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
    /// let d = Diagnosis { total_nodes: 3, rejected: vec![reject("a", "Insufficient cpu"), reject("b", "Too many pods"), reject("c", "Insufficient cpu")] };
    /// assert_eq!(d.message(), "0/3 nodes are available: 1 Too many pods, 2 Insufficient cpu.");
    /// ```
    pub fn message(&self) -> String {
        if self.total_nodes == 0 {
            return "no nodes available to schedule pods".to_string();
        }
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
        format!(
            "0/{} nodes are available: {}.",
            self.total_nodes,
            reasons.join(", ")
        )
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
    /// The points the profile runs it at.
    points: Vec<ExtensionPoint>,
    /// `None` while no loaded file serves it.
    pool: Option<Arc<PluginPool>>,
}

impl Slot {
    fn pool(&self) -> Result<&PluginPool, PluginError> {
        self.pool.as_deref().ok_or_else(|| PluginError::NotLoaded {
            plugin: self.name.clone(),
        })
    }

    /// A pool of `plugin` for this slot, or why it cannot serve here.
    fn start(
        &self,
        profile: &str,
        plugin: &Arc<LoadedPlugin>,
        workers: usize,
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
        PluginPool::new(
            plugin.clone(),
            self.args.clone(),
            self.settings.clone(),
            workers,
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

fn point_name(point: ExtensionPoint) -> &'static str {
    match point {
        ExtensionPoint::Filter => "filter",
        ExtensionPoint::Score => "score",
        ExtensionPoint::NormalizeScore => "normalize-score",
    }
}

/// One cycle on every node with every plugin's answer, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleReport {
    /// The profile's filter plugins, in the order they run.
    pub filters: Vec<String>,
    /// Every node of the snapshot, in snapshot order.
    pub nodes: Vec<NodeReport>,
}

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
        let profiles = config
            .profiles
            .iter()
            .map(|p| ProfileFramework::new(config, p, plugins, plugin_dir))
            .collect::<Result<_, _>>()?;
        Ok(Framework { profiles })
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
                    let pool = slot.start(&profile.scheduler_name, plugin, profile.workers)?;
                    started.push((p, s, Arc::new(pool)));
                }
            }
        }
        let count = started.len();
        for (p, s, pool) in started {
            self.profiles[p].slots[s].pool = Some(pool);
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
    ) -> Result<ProfileFramework, FrameworkError> {
        let name = &profile.scheduler_name;
        let workers = config.parallelism.max(1);
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_for = |plugin: &str, point: ExtensionPoint| -> usize {
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
                        pool: None,
                    });
                    slots.len() - 1
                }
            };
            slots[index].points.push(point);
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
            .map(|p| slot_for(p, ExtensionPoint::Filter))
            .collect();
        let scorers: Vec<(usize, i64)> = profile
            .score
            .iter()
            .filter(|(p, _)| present(&p))
            .map(|(p, weight)| (slot_for(p, ExtensionPoint::Score), *weight))
            .collect();
        for slot in &mut slots {
            let plugin = plugins
                .iter()
                .find(|p| p.name() == slot.name)
                .ok_or_else(|| FrameworkError::MissingPlugin {
                    profile: name.clone(),
                    plugin: slot.name.clone(),
                    dir: plugin_dir.to_string(),
                })?;
            slot.pool = Some(Arc::new(slot.start(name, plugin, workers)?));
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

    /// Runs one scheduling cycle for `pod` against the cache as it is now.
    pub fn schedule(
        &mut self,
        cache: &Cache,
        snapshot: &Arc<Snapshot>,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Outcome {
        let ctx = CallContext {
            cache,
            snapshot,
            pod: object,
        };
        let all = snapshot.nodes.len();
        if all == 0 {
            return Outcome::Unschedulable(Diagnosis::default());
        }
        let (feasible, diagnosis) = match self.find_feasible(ctx, pod) {
            Ok(found) => found,
            Err(message) => return Outcome::Failed(message),
        };
        if feasible.is_empty() {
            return Outcome::Unschedulable(diagnosis);
        }
        let chosen = if feasible.len() == 1 {
            feasible[0]
        } else {
            match self.score(ctx, pod, &feasible) {
                Ok(totals) => self.select(&feasible, &totals),
                Err(message) => return Outcome::Failed(message),
            }
        };
        let node = snapshot
            .node(chosen)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        Outcome::Scheduled { node }
    }

    /// Filter: the feasible node ids (in search order), and why the others
    /// were rejected.
    fn find_feasible(
        &mut self,
        ctx: CallContext<'_>,
        pod: &Pod,
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
        let order: Vec<NodeId> = (0..all).map(|i| nodes[(start + i) % all].id).collect();
        let mut feasible = Vec::with_capacity(wanted);
        let mut rejected: Vec<(NodeId, usize, Status)> = Vec::new();
        let mut processed = 0;
        while feasible.len() < wanted && processed < all {
            let batch_len =
                next_batch(wanted - feasible.len(), feasible.len(), processed).min(all - processed);
            let batch = &order[processed..processed + batch_len];
            let verdicts = self.filter_batch(ctx, pod, batch)?;
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
        let diagnosis = Diagnosis {
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
        };
        Ok((feasible, diagnosis))
    }

    /// Runs the filter plugins over a batch, dealt out to the workers, each
    /// worker's share as a chain. For each node: `None` if it passed, or
    /// the position (in `filters`) of the first plugin in profile order
    /// that rejected it and its status, as one chain over all of them
    /// would find. (A plugin that faults under `failurePolicy: Fail` fails
    /// the attempt even where one chain would not have reached it, because
    /// earlier plugins rejected every node.)
    fn filter_batch(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        batch: &[NodeId],
    ) -> Result<Vec<Verdict>, String> {
        let dealt = self.deal(self.filters.len(), batch.len() >= MIN_PARALLEL_BATCH);
        let positions: HashMap<NodeId, usize> =
            batch.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let results = self.on_workers(&dealt, |worker, filters: &Vec<usize>| {
            self.filter_chain(worker, ctx, pod, batch, &positions, filters)
        });
        let mut verdicts: Vec<Verdict> = vec![None; batch.len()];
        let mut ignored: Vec<PluginError> = Vec::new();
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
        for error in ignored {
            log_ignored(ctx, "filter", &error);
        }
        Ok(verdicts)
    }

    /// Some of the filter plugins (`filters`, positions in the profile's
    /// filters, in order) as a chain on one worker: each is asked only
    /// about the nodes the ones before it passed (`positions`: each node's
    /// index in `nodes`). Also the faults it ignored.
    fn filter_chain(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
        positions: &HashMap<NodeId, usize>,
        filters: &[usize],
    ) -> Result<(Vec<Verdict>, Vec<PluginError>), PluginError> {
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
                .and_then(|pool| pool.filter(worker, ctx, pod, &remaining))
            {
                Ok(statuses) => statuses,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    ignored.push(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            if statuses.is_empty() {
                continue;
            }
            let mut failed = std::collections::HashSet::with_capacity(statuses.len());
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

    /// Score: the weighted total of every feasible node, in order.
    ///
    /// Each score plugin sees every feasible node in one call, but the
    /// plugins are independent of each other, so they are dealt out to the
    /// workers (plugin `i` on worker `i % workers`) and run side by side
    /// once there are enough nodes to be worth a thread.
    fn score(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        feasible: &[NodeId],
    ) -> Result<Vec<i64>, String> {
        let dealt = self.deal(self.scorers.len(), feasible.len() >= MIN_PARALLEL_SCORE);
        let ran = self.on_workers(&dealt, |worker, scorers: &Vec<usize>| {
            scorers
                .iter()
                .map(|&i| {
                    let slot = &self.slots[self.scorers[i].0];
                    (i, self.plugin_scores(slot, worker, ctx, pod, feasible))
                })
                .collect::<Vec<_>>()
        });
        // Back in profile order, so that the first failure is reported.
        let mut results: Vec<(usize, ScoreResult)> = ran.into_iter().flatten().collect();
        results.sort_by_key(|(i, _)| *i);
        let mut totals = vec![0i64; feasible.len()];
        for (&(slot, weight), (_, result)) in self.scorers.iter().zip(results) {
            let slot = &self.slots[slot];
            let scores = match result {
                Ok((raw, normalized)) => normalized.unwrap_or(raw),
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "score", &error);
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
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        feasible: &[NodeId],
    ) -> ScoreResult {
        let pool = slot.pool()?;
        let raw = pool.score(worker, ctx, pod, feasible)?;
        let normalized = if pool.plugin().implements(ExtensionPoint::NormalizeScore) {
            Some(pool.normalize_score(worker, ctx, pod, feasible, &raw)?)
        } else {
            None
        };
        Ok((raw, normalized))
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
        let ctx = CallContext {
            cache,
            snapshot,
            pod: object,
        };
        let all: Vec<NodeId> = snapshot.nodes.iter().map(|n| n.id).collect();
        let verdicts = self.filter_batch(ctx, pod, &all)?;
        let feasible: Vec<NodeId> = all
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.is_none())
            .map(|(node, _)| *node)
            .collect();
        let mut scores = vec![Vec::with_capacity(self.scorers.len()); feasible.len()];
        if !feasible.is_empty() {
            for &(slot, weight) in &self.scorers {
                let slot = &self.slots[slot];
                let (raw, normalized) = self
                    .plugin_scores(slot, 0, ctx, pod, &feasible)
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
        let mut scores = scores.into_iter();
        let nodes = snapshot
            .nodes
            .iter()
            .zip(verdicts)
            .map(|(node, rejected)| NodeReport {
                node: node.name.clone(),
                scores: match rejected {
                    None => scores.next().unwrap_or_default(),
                    Some(_) => Vec::new(),
                },
                rejected,
            })
            .collect();
        Ok(CycleReport {
            filters: self
                .filters
                .iter()
                .map(|&slot| self.slots[slot].name.clone())
                .collect(),
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

    /// Deals `count` plugins (their positions) out to the workers, plugin
    /// `i` to worker `i % workers`; all to one worker unless `parallel`.
    fn deal(&self, count: usize, parallel: bool) -> Vec<Vec<usize>> {
        let workers = if parallel {
            self.workers.min(count).max(1)
        } else {
            1
        };
        (0..workers)
            .map(|worker| (worker..count).step_by(workers).collect())
            .collect()
    }

    /// Runs `f` for each item, item `i` on worker `i` (so with that
    /// worker's plugin instances), in parallel when there is more than one:
    /// the first on this thread, the others on threads of their own.
    fn on_workers<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(usize, &T) -> R + Sync,
    ) -> Vec<R> {
        let Some((first, others)) = items.split_first() else {
            return Vec::new();
        };
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = others
                .iter()
                .enumerate()
                .map(|(i, item)| scope.spawn(move || f(i + 1, item)))
                .collect();
            let mut results = vec![f(0, first)];
            results.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a scheduling worker panicked")),
            );
            results
        })
    }
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
