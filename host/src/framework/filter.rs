//! PreFilter, Filter and PostFilter (kube-scheduler's
//! `findNodesThatFitPod`): which nodes to try, how many feasible ones to
//! look for, the batches, and the first rejecting plugin per node.

use super::*;

/// Below this many nodes kube-scheduler checks them all.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never drops below this.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

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
pub(super) type Verdict = Option<(usize, Status)>;

impl ProfileFramework {
    /// PreFilter: every plugin that runs there, in profile order. The node
    /// names the plugins restrict the cycle to (intersected), `None` for
    /// every node; or why the cycle stops.
    pub(super) fn pre_filter(
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
            let call = || slot.pool().and_then(|p| p.pre_filter(slot.home, ctx, pod));
            let timed = self.timed(slot, "PreFilter", |r| code_name(r.status.code), call);
            let result = match timed {
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
    pub(super) fn find_feasible(
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
            let mut verdicts = self.filter_batch(ctx, pod, scope, batch)?;
            self.check_nominated(ctx, pod, scope, batch, &mut verdicts)
                .map_err(|e| e.to_string())?;
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
    pub(super) fn filter_batch(
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

    /// The nominator (upstream's addNominatedPods): a node that passed,
    /// and to which pods of equal or higher priority are nominated, must
    /// pass with them placed there too; else it is rejected by the filter
    /// that failed, with its status.
    pub(super) fn check_nominated(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &CycleScope,
        batch: &[NodeId],
        verdicts: &mut [Verdict],
    ) -> Result<(), PluginError> {
        let Some(cache) = ctx.cache.filter(|c| c.has_nominations()) else {
            return Ok(());
        };
        let mut what_if: Option<WhatIfFilters> = None;
        for (node, verdict) in batch.iter().zip(verdicts.iter_mut()) {
            if verdict.is_some() {
                continue;
            }
            let Some(name) = ctx.snapshot.node(*node).map(|n| n.name.as_str()) else {
                continue;
            };
            let nominated: Vec<&Pod> = cache.nominated_for(name, pod).collect();
            let Some(usage) = cache.node_usage(name).filter(|_| !nominated.is_empty()) else {
                continue;
            };
            let filters =
                what_if.get_or_insert_with(|| self.what_if_filters(ctx, pod, scope, None));
            *verdict = filters.run(*node, &usage, &[], &nominated)?;
        }
        Ok(())
    }

    /// Some of the filter plugins (`filters`, positions in the profile's
    /// filters, in order) as a chain: each is asked only about the nodes
    /// the ones before it passed (`positions`: each node's index in
    /// `nodes`). Also the faults it ignored, with the plugin's position.
    #[allow(clippy::type_complexity)]
    pub(super) fn filter_chain(
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
            let call = || {
                slot.pool()
                    .and_then(|pool| pool.filter(slot.home, ctx, pod, &remaining))
            };
            let statuses = match self.timed(slot, "Filter", |_| "Success", call) {
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
    pub(super) fn post_filter(
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
        let mut preemption: Option<Box<dyn crate::runtime::PreemptionHost>> = None;
        for (index, slot) in self.slots.iter().enumerate() {
            if !slot.runs_at(ExtensionPoint::PostFilter) || scope.left_out.contains(&index) {
                continue;
            }
            // What-ifs without this plugin, whose instance the call holds.
            if let Some(cache) = ctx.cache {
                let filters = self.what_if_filters(ctx, pod, scope, Some(index));
                preemption = Some(Box::new(Preemption::new(
                    filters,
                    cache,
                    ctx.snapshot,
                    pod,
                    &rejected,
                )));
            }
            if slot.pool.as_ref().is_some_and(|p| {
                p.plugin()
                    .imports
                    .iter()
                    .any(|i| i.starts_with("kws:scheduler/preemption@"))
            }) {
                self.metrics.preemption_attempted();
            }
            let call = || {
                slot.pool()
                    .and_then(|p| p.post_filter(slot.home, ctx, pod, &rejected, &mut preemption))
            };
            let result = match self.timed(slot, "PostFilter", |r| code_name(r.status.code), call) {
                Ok(result) => result,
                Err(error) if slot.settings.failure_policy == FailurePolicy::Ignore => {
                    log_ignored(ctx, "post-filter", &error);
                    continue;
                }
                Err(error) => return Err(error.to_string()),
            };
            // Every plugin's reasons, in order, as upstream's
            // RunPostFilterPlugins gathers them.
            if !result.status.reasons.is_empty() {
                let reasons = result.status.reasons.join(", ");
                diagnosis.post_filter = Some(match diagnosis.post_filter.take() {
                    Some(earlier) => format!("{earlier}, {reasons}"),
                    None => reasons,
                });
            }
            match result.status.code {
                Code::Success => {
                    diagnosis.nominated_node = result.nominated_node;
                    // The victims the plugin chose, if it preempted on the
                    // node it nominates.
                    if let Some((_, victims)) = preemption
                        .take()
                        .and_then(|p| p.into_any().downcast::<Preemption>().ok())
                        .and_then(|p| p.chosen)
                        .filter(|(node, _)| diagnosis.nominated_node.as_ref() == Some(node))
                    {
                        diagnosis.victims = victims;
                    }
                    return Ok(());
                }
                Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Skip => {
                    // `some("")`: the pod's nomination, if any, is cleared.
                    if result.nominated_node.is_some() {
                        diagnosis.nominated_node = result.nominated_node;
                    }
                }
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
}

/// The nodes PreFilter plugins restricted a cycle to.
pub(super) struct Narrowing {
    /// The intersection of the node names they returned.
    pub(super) names: HashSet<String>,
    /// The plugins that returned node names, sorted.
    pub(super) plugins: Vec<String>,
}

impl Narrowing {
    pub(super) fn admits(narrowing: Option<&Narrowing>, node: &str) -> bool {
        narrowing.is_none_or(|n| n.names.contains(node))
    }

    /// What every node left out is rejected with, as kube-scheduler's
    /// `SetAbsentNodesStatus`: `node(s) didn't satisfy plugin(s) [A B]`.
    pub(super) fn status(&self) -> Status {
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
    pub(super) fn plugin(&self) -> String {
        self.plugins.join(",")
    }
}

/// Why PreFilter stopped a cycle.
pub(super) enum PreFilterStop {
    /// A plugin said no node can pass.
    Rejected { plugin: String, status: Status },
    /// A plugin failed: the pod is retried after backoff.
    Failed(String),
}

/// How many nodes the next filter batch takes, when `missing` feasible
/// nodes are still wanted and `found` of the `processed` nodes passed.
///
/// Each batch costs every filter plugin a call across the boundary (and
/// the plugins without a PreFilter their per-pod work) once more, so
/// batches should be few: the next one is sized by the pass rate seen so
/// far, with a quarter more for luck, and takes every node left when none
/// passed yet.
pub(super) fn next_batch(missing: usize, found: usize, processed: usize) -> usize {
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
}
