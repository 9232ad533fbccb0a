//! What-if filters (kube-scheduler's `RunFilterPluginsWithNominatedPods`
//! on a copy of a node) and what a preempting PostFilter plugin asks of the
//! host (the `preemption` interface of `wit/scheduler.wit`).
//!
//! Plugins keep their own copy of each node (see `cache`), so a what-if
//! node is made by sending its instances the changes that remove (or add)
//! pods, running the filters, and sending the changes that undo them,
//! before the instance next catches up with the cache. PreFilter state
//! follows on a fork of the cycle, through `pre-filter.add-pod` and
//! `remove-pod`, as upstream's cloned CycleState.

use super::*;
use crate::backend::PodRef;
use crate::runtime::PreemptionHost;
use crate::wit::{Change, NodeUsage, PodDisruptionBudget, Victim};

/// The profile's filters of one cycle, owned, so that a what-if can run
/// while a plugin call is in progress.
pub(super) struct WhatIfFilters {
    /// The plugins that run at PreFilter (and were not skipped at Filter):
    /// their AddPod and RemovePod keep the forked cycle's state.
    pre_filters: Vec<(Arc<PluginPool>, usize)>,
    /// The filter plugins the cycle runs, in profile order: position in
    /// the profile's filters, pool, home instance, failure policy.
    filters: Vec<(usize, Arc<PluginPool>, usize, FailurePolicy)>,
    snapshot: Arc<Snapshot>,
    object: Arc<core::Pod>,
    pod: Pod,
    cycle: u64,
}

impl ProfileFramework {
    /// The cycle's filters as [`WhatIfFilters`], their home instances
    /// brought up to date with `cache` first (what-ifs answer without it).
    /// `calling`: the slot of the PostFilter plugin whose call asks for
    /// them, left out.
    pub(super) fn what_if_filters(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &CycleScope,
        calling: Option<usize>,
    ) -> WhatIfFilters {
        let mut pre_filter_pools = Vec::new();
        let mut filter_pools = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            let Some(pool) = slot.pool.clone() else {
                continue;
            };
            // The PostFilter plugin's own instance is busy with the call
            // that asks for the what-if: it is left out (DefaultPreemption
            // filters nothing; DynamicResources, a PostFilter plugin too,
            // filters in the what-ifs DefaultPreemption asks for).
            let filters = self.filters.contains(&index);
            let pre_filters = slot.runs_at(ExtensionPoint::PreFilter);
            if scope.skips_filter(index) || calling == Some(index) || !(filters || pre_filters) {
                continue;
            }
            if let Some(cache) = ctx.cache
                && let Err(error) = pool.catch_up(slot.home, cache)
            {
                tracing::warn!(plugin = slot.name, %error, "what-if filters: catch-up failed");
            }
            if pre_filters {
                pre_filter_pools.push((pool.clone(), slot.home));
            }
        }
        for (position, &index) in self.filters.iter().enumerate() {
            if scope.skips_filter(index) || calling == Some(index) {
                continue;
            }
            let slot = &self.slots[index];
            if let Some(pool) = slot.pool.clone() {
                filter_pools.push((position, pool, slot.home, slot.settings.failure_policy));
            }
        }
        WhatIfFilters {
            pre_filters: pre_filter_pools,
            filters: filter_pools,
            snapshot: ctx.snapshot.clone(),
            object: ctx.pod.clone(),
            pod: pod.clone(),
            cycle: ctx.cycle,
        }
    }
}

impl WhatIfFilters {
    /// The filters on `node` with `removed` gone and `added` placed there
    /// (as upstream's RunFilterPluginsWithNominatedPods: when `added` is
    /// not empty the node must pass both with and without them). `None`
    /// when it passes, else the position of the first filter that rejects
    /// it and its status.
    pub(super) fn run(
        &self,
        node: NodeId,
        usage: &NodeUsage,
        removed: &[&Pod],
        added: &[&Pod],
    ) -> Result<Verdict, PluginError> {
        if !added.is_empty() {
            let verdict = self.run_once(node, usage, removed, added)?;
            if verdict.is_some() {
                return Ok(verdict);
            }
        }
        self.run_once(node, usage, removed, &[])
    }

    fn run_once(
        &self,
        node: NodeId,
        usage: &NodeUsage,
        removed: &[&Pod],
        added: &[&Pod],
    ) -> Result<Verdict, PluginError> {
        let copy = NEXT_CYCLE.fetch_add(1, Ordering::Relaxed);
        let ctx = CallContext {
            cache: None,
            snapshot: &self.snapshot,
            pod: &self.object,
            cycle: copy,
        };
        let (forward, back) = Cache::what_if(node, usage, removed, added);
        let result = self.fork_and_filter(ctx, node, removed, added, &forward);
        let undone = self.undo(copy, &back);
        let status = result?;
        undone?;
        Ok(status)
    }

    fn fork_and_filter(
        &self,
        ctx: CallContext<'_>,
        node: NodeId,
        removed: &[&Pod],
        added: &[&Pod],
        forward: &[Change],
    ) -> Result<Verdict, PluginError> {
        for (pool, home) in &self.pre_filters {
            pool.cycle_fork(*home, self.cycle, ctx.cycle)?;
            for pod in removed {
                let status = pool.remove_pod(*home, ctx, &self.pod, &pod.uid, node)?;
                if status.code != Code::Success {
                    return Err(extension_failed(pool, "remove-pod", status));
                }
            }
            for pod in added {
                let status = pool.add_pod(*home, ctx, &self.pod, pod, node)?;
                if status.code != Code::Success {
                    return Err(extension_failed(pool, "add-pod", status));
                }
            }
        }
        for (_, pool, home, _) in &self.filters {
            pool.apply_what_if(*home, forward)?;
        }
        for (position, pool, home, policy) in &self.filters {
            let statuses = match pool.filter(*home, ctx, &self.pod, &[node]) {
                Ok(statuses) => statuses,
                Err(_) if *policy == FailurePolicy::Ignore => continue,
                Err(error) => return Err(error),
            };
            if let Some(rejected) = statuses
                .into_iter()
                .find(|s| !matches!(s.status.code, Code::Success | Code::Skip))
            {
                return Ok(Some((*position, rejected.status)));
            }
        }
        Ok(None)
    }

    /// Sends every filter instance the changes that undo a what-if, and
    /// ends the forked cycle everywhere.
    fn undo(&self, copy: u64, back: &[Change]) -> Result<(), PluginError> {
        let mut first_error = None;
        for (_, pool, home, _) in &self.filters {
            if let Err(error) = pool.apply_what_if(*home, back) {
                first_error.get_or_insert(error);
            }
        }
        for (pool, home) in self
            .pre_filters
            .iter()
            .map(|(pool, home)| (pool, *home))
            .chain(self.filters.iter().map(|(_, pool, home, _)| (pool, *home)))
        {
            if let Err(error) = pool.cycle_end(home, copy) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A PreFilter extension (AddPod, RemovePod) that did not succeed: an
/// error, as upstream's `status.AsError()`.
fn extension_failed(pool: &PluginPool, call: &'static str, status: Status) -> PluginError {
    PluginError::Failed {
        plugin: pool.name().to_string(),
        call,
        reason: status.reasons.join(", "),
    }
}

/// One node a preemption may pick: what its pods take, the pods it may
/// evict, and the pods nominated to it that count for the preemptor.
struct CandidateNode {
    name: String,
    usage: NodeUsage,
    victims: Vec<(Pod, Victim)>,
    nominated: Vec<Pod>,
}

/// What the `preemption` imports answer from during one post-filter call.
pub(super) struct Preemption {
    filters: WhatIfFilters,
    nodes: HashMap<NodeId, CandidateNode>,
    budgets: Vec<PodDisruptionBudget>,
    /// The plugin's choice: the node and the victims.
    pub(super) chosen: Option<(String, Vec<PodRef>)>,
}

impl Preemption {
    /// Gathers, for every node rejected as `unschedulable`, the pods of
    /// lower priority than `pod` (the only ones preemption may evict).
    pub(super) fn new(
        filters: WhatIfFilters,
        cache: &Cache,
        snapshot: &Snapshot,
        pod: &Pod,
        rejected: &[NodeStatus],
    ) -> Preemption {
        let nodes = rejected
            .iter()
            .filter(|r| r.status.code == Code::Unschedulable)
            .filter_map(|r| {
                let name = snapshot.node(r.node)?.name.clone();
                let victims = cache
                    .node_pods(&name)
                    .filter(|p| p.record.priority < pod.priority)
                    .map(|p| {
                        let victim = convert::victim(p.record, p.object.map(|o| &**o));
                        (p.record.clone(), victim)
                    })
                    .collect();
                let nominated = cache.nominated_for(&name, pod).cloned().collect();
                let usage = cache.node_usage(&name)?;
                Some((
                    r.node,
                    CandidateNode {
                        name,
                        usage,
                        victims,
                        nominated,
                    },
                ))
            })
            .collect();
        Preemption {
            filters,
            nodes,
            budgets: cache.budgets().cloned().collect(),
            chosen: None,
        }
    }
}

impl PreemptionHost for Preemption {
    fn potential_victims(&self, node: NodeId) -> Vec<Victim> {
        self.nodes
            .get(&node)
            .map(|n| n.victims.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default()
    }

    fn nodes_with_victims(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, candidate)| !candidate.victims.is_empty())
            .map(|(id, _)| *id)
            .collect();
        nodes.sort_unstable();
        nodes
    }

    fn filter_without(&mut self, node: NodeId, removed: &[String]) -> Status {
        let Some(candidate) = self.nodes.get(&node) else {
            return Status {
                code: Code::Error,
                reasons: vec![format!("node {node} was not rejected as unschedulable")],
            };
        };
        let mut pods = Vec::with_capacity(removed.len());
        for uid in removed {
            match candidate.victims.iter().find(|(p, _)| p.uid == *uid) {
                Some((pod, _)) => pods.push(pod),
                None => {
                    return Status {
                        code: Code::Error,
                        reasons: vec![format!(
                            "pod {uid} is not a potential victim on node {}",
                            candidate.name
                        )],
                    };
                }
            }
        }
        let nominated: Vec<&Pod> = candidate.nominated.iter().collect();
        match self.filters.run(node, &candidate.usage, &pods, &nominated) {
            Ok(None) => Status {
                code: Code::Success,
                reasons: Vec::new(),
            },
            Ok(Some((_, status))) => status,
            Err(error) => Status {
                code: Code::Error,
                reasons: vec![error.to_string()],
            },
        }
    }

    fn pod_disruption_budgets(&self) -> Vec<PodDisruptionBudget> {
        self.budgets.clone()
    }

    fn preempt(&mut self, node: NodeId, victims: Vec<String>) -> Result<(), String> {
        let candidate = self
            .nodes
            .get(&node)
            .ok_or_else(|| format!("node {node} was not rejected as unschedulable"))?;
        let refs = victims
            .iter()
            .map(|uid| {
                candidate
                    .victims
                    .iter()
                    .find(|(p, _)| p.uid == *uid)
                    .map(|(p, _)| PodRef {
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                        uid: p.uid.clone(),
                    })
                    .ok_or_else(|| {
                        format!(
                            "pod {uid} is not a potential victim on node {}",
                            candidate.name
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.chosen = Some((candidate.name.clone(), refs));
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}
