//! PreScore and Score (kube-scheduler's `prioritizeNodes`): each score
//! plugin's raw and normalised scores, weighted and summed per node.

use super::*;

/// Below this many feasible nodes the score plugins run one after the
/// other on one worker: a thread costs more than the plugins save.
const MIN_PARALLEL_SCORE: usize = 64;

/// One score plugin's raw scores, and its normalised ones if it normalises.
pub(super) type ScoreResult = Result<(Vec<i64>, Option<Vec<i64>>), PluginError>;

impl ProfileFramework {
    /// PreScore: each plugin that runs there, with every feasible node.
    pub(super) fn pre_score(
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
            let call = || {
                slot.pool()
                    .and_then(|p| p.pre_score(slot.home, ctx, pod, feasible))
            };
            let status = match self.timed(slot, "PreScore", |s| code_name(s.code), call) {
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
    pub(super) fn score(
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
                    let call = || self.plugin_scores(slot, ctx, pod, feasible);
                    (i, self.timed(slot, "Score", |_| "Success", call))
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
    pub(super) fn plugin_scores(
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
}
