//! One pod's scheduling cycle from PreFilter to the choice of a node
//! (kube-scheduler's `schedulingCycle`), what the cycle learns about its
//! plugins as it goes, and the same cycle over every node for `explain`.

use super::*;

impl ProfileFramework {
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

    /// Everything up to the choice of a node; `Err` with the outcome when
    /// there is none.
    pub(super) fn run_cycle(
        &mut self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
    ) -> Result<NodeId, Outcome> {
        let all = ctx.snapshot.nodes.len();
        if all == 0 {
            return Err(Outcome::Unschedulable(Box::default()));
        }
        let started = Instant::now();
        let pre_filter = self.pre_filter(ctx, pod, scope);
        let status = match &pre_filter {
            Ok(_) => "Success",
            Err(PreFilterStop::Rejected { status, .. }) => code_name(status.code),
            Err(PreFilterStop::Failed(_)) => "Error",
        };
        self.observe_point("PreFilter", status, started);
        let candidates = match pre_filter {
            Ok(candidates) => candidates,
            Err(PreFilterStop::Rejected { plugin, status }) => {
                // As upstream, PostFilter runs after a PreFilter rejection
                // too, with every node given PreFilter's status.
                let mut diagnosis = pre_filter_diagnosis(ctx, plugin, status);
                self.run_post_filter(ctx, pod, scope, &mut diagnosis)?;
                return Err(Outcome::Unschedulable(Box::new(diagnosis)));
            }
            Err(PreFilterStop::Failed(message)) => return Err(Outcome::Failed(message)),
        };
        let started = Instant::now();
        let found = self.find_feasible(ctx, pod, scope, candidates.as_ref());
        let status = match &found {
            Ok((feasible, _)) if !feasible.is_empty() => "Success",
            Ok(_) => "Unschedulable",
            Err(_) => "Error",
        };
        self.observe_point("Filter", status, started);
        let (feasible, mut diagnosis) = found.map_err(Outcome::Failed)?;
        if feasible.is_empty() {
            self.run_post_filter(ctx, pod, scope, &mut diagnosis)?;
            return Err(Outcome::Unschedulable(Box::new(diagnosis)));
        }
        if feasible.len() == 1 {
            return Ok(feasible[0]);
        }
        let started = Instant::now();
        let pre_score = self.pre_score(ctx, pod, scope, &feasible);
        let status = if pre_score.is_ok() {
            "Success"
        } else {
            "Error"
        };
        self.observe_point("PreScore", status, started);
        pre_score.map_err(Outcome::Failed)?;
        let started = Instant::now();
        let scored = self.score(ctx, pod, scope, &feasible);
        let status = if scored.is_ok() { "Success" } else { "Error" };
        self.observe_point("Score", status, started);
        let totals = scored.map_err(Outcome::Failed)?;
        Ok(self.select(&feasible, &totals))
    }

    /// PostFilter, timed; `Err` with the outcome when a plugin failed.
    pub(super) fn run_post_filter(
        &self,
        ctx: CallContext<'_>,
        pod: &Pod,
        scope: &mut CycleScope,
        diagnosis: &mut Diagnosis,
    ) -> Result<(), Outcome> {
        let started = Instant::now();
        let post_filter = self.post_filter(ctx, pod, scope, diagnosis);
        let status = match &post_filter {
            Ok(())
                if diagnosis
                    .nominated_node
                    .as_ref()
                    .is_some_and(|n| !n.is_empty()) =>
            {
                "Success"
            }
            Ok(()) => "Unschedulable",
            Err(_) => "Error",
        };
        self.observe_point("PostFilter", status, started);
        post_filter.map_err(Outcome::Failed)
    }

    /// The rest of a cycle that chose `node`: the plugin versions of its
    /// later points, fixed now so that a swap cannot strand the pod.
    pub(super) fn cycle(
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
        let every: Vec<Member> = self.slots.iter().filter_map(|s| s.member().ok()).collect();
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
            every,
            metrics: self.metrics.clone(),
        })
    }

    /// Tells every plugin that the cycle is over (a pool calls only the
    /// instance that was sent the cycle's pod, whichever point it ran).
    pub(super) fn end(&self, scope: &CycleScope) {
        for slot in &self.slots {
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

    pub(super) fn explain_cycle(
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
                let mut diagnosis = pre_filter_diagnosis(ctx, plugin.clone(), status.clone());
                self.post_filter(ctx, pod, scope, &mut diagnosis)?;
                return Ok(CycleReport {
                    preemption: Preempted::of(diagnosis),
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
        // No node fits: PostFilter says what preemption would do (it
        // evicts nothing here).
        let mut preemption = None;
        if feasible.is_empty() {
            let mut diagnosis = Diagnosis {
                total_nodes: ctx.snapshot.nodes.len(),
                rejected: ctx
                    .snapshot
                    .nodes
                    .iter()
                    .filter_map(|node| {
                        let (plugin, status) = match verdicts.get(&node.id) {
                            Some(Some((i, status))) => {
                                (self.slots[self.filters[*i]].name.clone(), status.clone())
                            }
                            Some(None) => return None,
                            None => {
                                let narrowing = candidates.as_ref()?;
                                (narrowing.plugin(), narrowing.status())
                            }
                        };
                        Some(Rejection {
                            node: node.name.clone(),
                            plugin,
                            status,
                        })
                    })
                    .collect(),
                ..Diagnosis::default()
            };
            self.post_filter(ctx, pod, scope, &mut diagnosis)?;
            preemption = Preempted::of(diagnosis);
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
            preemption,
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
    pub(super) fn select(&mut self, feasible: &[NodeId], totals: &[i64]) -> NodeId {
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

    pub(super) fn next_random(&mut self) -> u64 {
        // xorshift64: cheap, and seeded so simulations repeat.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

/// What a cycle that PreFilter rejected tells PostFilter and the failure
/// message: every node has PreFilter's status (upstream's
/// `SetAbsentNodesStatus`), and PreFilter's message stands for them.
fn pre_filter_diagnosis(ctx: CallContext<'_>, plugin: String, status: Status) -> Diagnosis {
    Diagnosis {
        total_nodes: ctx.snapshot.nodes.len(),
        pre_filter: Some(status.reasons.join(", ")),
        rejected: ctx
            .snapshot
            .nodes
            .iter()
            .map(|node| Rejection {
                node: node.name.clone(),
                plugin: plugin.clone(),
                status: status.clone(),
            })
            .collect(),
        pre_filter_plugin: Some(plugin),
        ..Diagnosis::default()
    }
}

/// What one cycle has learnt about its plugins so far (slots by index).
pub(super) struct CycleScope {
    pub(super) id: u64,
    /// PreFilter said Skip: their filter is not called.
    pub(super) skip_filter: HashSet<usize>,
    /// PreScore said Skip: their score is not called.
    pub(super) skip_score: HashSet<usize>,
    /// Faulted under `failurePolicy: Ignore`: left out of the cycle.
    pub(super) left_out: HashSet<usize>,
}

impl CycleScope {
    pub(super) fn new() -> CycleScope {
        CycleScope {
            id: NEXT_CYCLE.fetch_add(1, Ordering::Relaxed),
            skip_filter: HashSet::new(),
            skip_score: HashSet::new(),
            left_out: HashSet::new(),
        }
    }

    pub(super) fn skips_filter(&self, slot: usize) -> bool {
        self.skip_filter.contains(&slot) || self.left_out.contains(&slot)
    }

    pub(super) fn skips_score(&self, slot: usize) -> bool {
        self.skip_score.contains(&slot) || self.left_out.contains(&slot)
    }
}
