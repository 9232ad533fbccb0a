//! One pod's scheduling cycle: Filter, then Score, then the choice of a
//! node, with the plugins of the pod's profile.
//!
//! As in kube-scheduler, a node passes Filter only if every filter plugin
//! passes it, and its failure reason comes from the first plugin (in profile
//! order) that rejects it; the search stops once enough feasible nodes are
//! found (`percentageOfNodesToScore`), starting where the previous pod's
//! search stopped. Scores are normalised to 0..=100 per plugin, weighted and
//! summed; the highest total wins, ties broken at random (seeded, so runs
//! repeat).
//!
//! Plugins are called once per pod with a batch of node ids (see
//! `wit/scheduler.wit`); large batches are split across workers, each with
//! its own instance of every plugin.

use crate::cache::{Cache, Snapshot};
use crate::config::{Config, Profile};
use crate::runtime::{CallContext, Limits, LoadedPlugin, PluginError, PluginPool};
use crate::wit::{Code, ExtensionPoint, NodeId, Pod, Status};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Below this many nodes kube-scheduler checks them all.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;
/// Batches smaller than this run on one worker: a thread costs more than
/// the plugins save.
const MIN_PARALLEL_BATCH: usize = 256;
/// The score range after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;

/// A profile that cannot run with the plugins at hand.
#[derive(Debug, thiserror::Error)]
pub enum FrameworkError {
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
    filters: Vec<Arc<PluginPool>>,
    scorers: Vec<(Arc<PluginPool>, i64)>,
    percentage: Option<u32>,
    workers: usize,
    next_start: usize,
    rng: u64,
}

/// Every profile of the configuration.
pub struct Framework {
    profiles: Vec<ProfileFramework>,
}

impl Framework {
    /// Builds every profile of `config` from the loaded plugins, creating
    /// and configuring one instance of each plugin per profile now, so
    /// missing plugins and bad args are reported before any pod is touched.
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
}

impl ProfileFramework {
    fn new(
        config: &Config,
        profile: &Profile,
        plugins: &[Arc<LoadedPlugin>],
        plugin_dir: &str,
    ) -> Result<ProfileFramework, FrameworkError> {
        let name = &profile.scheduler_name;
        let mut pools: BTreeMap<String, Arc<PluginPool>> = BTreeMap::new();
        let mut pool =
            |plugin_name: &str, point: ExtensionPoint| -> Result<Arc<PluginPool>, FrameworkError> {
                let plugin = plugins
                    .iter()
                    .find(|p| p.name() == plugin_name)
                    .ok_or_else(|| FrameworkError::MissingPlugin {
                        profile: name.clone(),
                        plugin: plugin_name.to_string(),
                        dir: plugin_dir.to_string(),
                    })?;
                if !plugin.implements(point) {
                    return Err(FrameworkError::NotImplemented {
                        profile: name.clone(),
                        plugin: plugin_name.to_string(),
                        point: match point {
                            ExtensionPoint::Filter => "filter",
                            ExtensionPoint::Score => "score",
                            ExtensionPoint::NormalizeScore => "normalize-score",
                        },
                        implemented: format!("{:?}", plugin.metadata.extension_points),
                    });
                }
                if let Some(existing) = pools.get(plugin_name) {
                    return Ok(existing.clone());
                }
                let args = profile
                    .plugin_args
                    .get(plugin_name)
                    .map_or_else(|| "{}".to_string(), ToString::to_string);
                let settings = config.wasm.limits_for(plugin_name);
                let limits = Limits {
                    call_timeout: settings.call_timeout,
                    memory_bytes: settings.memory_limit_bytes,
                };
                let created = PluginPool::new(plugin.clone(), args, limits, config.parallelism)
                    .map_err(|source| FrameworkError::Plugin {
                        profile: name.clone(),
                        source,
                    })?;
                let created = Arc::new(created);
                pools.insert(plugin_name.to_string(), created.clone());
                Ok(created)
            };
        let filters = profile
            .filter
            .iter()
            .map(|p| pool(p, ExtensionPoint::Filter))
            .collect::<Result<_, _>>()?;
        let scorers = profile
            .score
            .iter()
            .map(|(p, weight)| Ok((pool(p, ExtensionPoint::Score)?, *weight)))
            .collect::<Result<_, _>>()?;
        Ok(ProfileFramework {
            scheduler_name: name.clone(),
            filters,
            scorers,
            percentage: profile.percentage_of_nodes_to_score,
            workers: config.parallelism.max(1),
            next_start: 0,
            rng: 0x5eed_0fc0_ffee,
        })
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
        let wanted = feasible_nodes_to_find(self.percentage, all);
        let start = self.next_start % all;
        let order: Vec<NodeId> = (0..all).map(|i| nodes[(start + i) % all].id).collect();
        let mut feasible = Vec::with_capacity(wanted);
        let mut rejected: Vec<(NodeId, usize, Status)> = Vec::new();
        let mut processed = 0;
        while feasible.len() < wanted && processed < all {
            let batch_len = (wanted - feasible.len())
                .max(MIN_PARALLEL_BATCH)
                .min(all - processed);
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
                self.filters[*plugin].name(),
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
                    plugin: self.filters[plugin].name().to_string(),
                    status,
                })
                .collect(),
        };
        Ok((feasible, diagnosis))
    }

    /// Runs the filter chain over a batch, split across workers. For each
    /// node: `None` if it passed, or the index of the first plugin that
    /// rejected it and its status.
    fn filter_batch(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        batch: &[NodeId],
    ) -> Result<Vec<Option<(usize, Status)>>, String> {
        let chunks = self.chunks(batch);
        let results = self.on_workers(&chunks, |worker, chunk| {
            self.filter_chain(worker, ctx, pod, chunk)
        });
        let mut verdicts = Vec::with_capacity(batch.len());
        for result in results {
            verdicts.extend(result.map_err(|e| e.to_string())?);
        }
        Ok(verdicts)
    }

    fn filter_chain(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Vec<Option<(usize, Status)>>, PluginError> {
        let mut verdicts: Vec<Option<(usize, Status)>> = vec![None; nodes.len()];
        let positions: std::collections::HashMap<NodeId, usize> =
            nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut remaining: Vec<NodeId> = nodes.to_vec();
        for (index, plugin) in self.filters.iter().enumerate() {
            if remaining.is_empty() {
                break;
            }
            let statuses = plugin.filter(worker, ctx, pod, &remaining)?;
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
        Ok(verdicts)
    }

    /// Score: the weighted total of every feasible node, in order.
    fn score(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        feasible: &[NodeId],
    ) -> Result<Vec<i64>, String> {
        let mut totals = vec![0i64; feasible.len()];
        let chunks = self.chunks(feasible);
        for (plugin, weight) in &self.scorers {
            let (raw, normalized) = self.plugin_scores(plugin, ctx, pod, feasible, &chunks)?;
            for (total, score) in totals.iter_mut().zip(normalized.as_ref().unwrap_or(&raw)) {
                *total += score * weight;
            }
        }
        Ok(totals)
    }

    /// One score plugin over the feasible nodes: its raw scores, and the
    /// normalised ones when the plugin normalises (else the raw ones count),
    /// each checked to lie in 0..=[`MAX_NODE_SCORE`].
    fn plugin_scores(
        &self,
        plugin: &PluginPool,
        ctx: CallContext<'_>,
        pod: &Pod,
        feasible: &[NodeId],
        chunks: &[&[NodeId]],
    ) -> Result<(Vec<i64>, Option<Vec<i64>>), String> {
        let results = self.on_workers(chunks, |worker, chunk| {
            plugin.score(worker, ctx, pod, chunk)
        });
        let mut raw = Vec::with_capacity(feasible.len());
        for result in results {
            raw.extend(result.map_err(|e| e.to_string())?);
        }
        let normalized = if plugin.plugin().implements(ExtensionPoint::NormalizeScore) {
            Some(
                plugin
                    .normalize_score(0, ctx, pod, feasible, &raw)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let counted = normalized.as_ref().unwrap_or(&raw);
        if let Some((score, node)) = counted
            .iter()
            .zip(feasible)
            .find(|(score, _)| !(0..=MAX_NODE_SCORE).contains(*score))
        {
            let name = ctx.snapshot.node(*node).map_or("?", |n| n.name.as_str());
            return Err(format!(
                "plugin {} returned an invalid result from score: {score} for node {name}, outside 0..={MAX_NODE_SCORE}",
                plugin.name()
            ));
        }
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
            let chunks = self.chunks(&feasible);
            for (plugin, weight) in &self.scorers {
                let (raw, normalized) = self.plugin_scores(plugin, ctx, pod, &feasible, &chunks)?;
                let normalized = normalized.unwrap_or_else(|| raw.clone());
                for ((node_scores, raw), normalized) in scores.iter_mut().zip(raw).zip(normalized) {
                    node_scores.push(PluginScore {
                        plugin: plugin.name().to_string(),
                        raw,
                        normalized,
                        weight: *weight,
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
            filters: self.filters.iter().map(|p| p.name().to_string()).collect(),
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

    /// Splits nodes into one contiguous chunk per worker (one chunk when the
    /// batch is small).
    fn chunks<'a>(&self, nodes: &'a [NodeId]) -> Vec<&'a [NodeId]> {
        if self.workers <= 1 || nodes.len() < MIN_PARALLEL_BATCH {
            return vec![nodes];
        }
        nodes.chunks(nodes.len().div_ceil(self.workers)).collect()
    }

    /// Runs `f` for each chunk, chunk `i` on worker `i`, in parallel when
    /// there is more than one.
    fn on_workers<R: Send>(
        &self,
        chunks: &[&[NodeId]],
        f: impl Fn(usize, &[NodeId]) -> R + Sync,
    ) -> Vec<R> {
        if let [only] = chunks {
            return vec![f(0, only)];
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(worker, chunk)| {
                    let f = &f;
                    scope.spawn(move || f(worker, chunk))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a scheduling worker panicked"))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
