//! DefaultPreemption: kube-scheduler v1.37's PostFilter plugin. When no
//! node fits a pod, it looks for the node where evicting pods of lower
//! priority would make room, with the fewest and least important victims,
//! and asks the host to evict them; the pod is nominated to that node and
//! tried again once they are gone.
//!
//! As upstream (`framework/preemption` and `plugins/defaultpreemption`):
//!
//! 1. The pod must be eligible: not `preemptionPolicy: Never`, and not
//!    already waiting for a victim of an earlier preemption to go from the
//!    node it is nominated to.
//! 2. Candidates are the nodes Filter rejected as `Unschedulable` (a node
//!    rejected as `UnschedulableAndUnresolvable` cannot be helped).
//! 3. On each (SelectVictimsOnNode): every pod of lower priority is
//!    removed; if the pod then fits, they are put back one at a time, most
//!    important first (PodDisruptionBudget violators before the others),
//!    and each that keeps the pod from fitting is a victim.
//!    The search stops once enough candidates are found
//!    (`minCandidateNodesPercentage`, `minCandidateNodesAbsolute`) and one
//!    of them violates no budget.
//! 4. The node is chosen by, in order: fewest budget violations, lowest
//!    highest victim priority, smallest sum of victim priorities, fewest
//!    victims, latest start of its most important victims.
//!
//! The host runs the what-if filters and carries out the evictions (the
//! `preemption` interface of `wit/scheduler.wit`).

use kws_plugin_sdk::host::preemption::{self, PodDisruptionBudget, Victim};
use kws_plugin_sdk::selector::Selector;
use kws_plugin_sdk::{
    Cluster, Code, CycleState, ExtensionPoint, NodeId, NodeInfo, Plugin, Pod, PostFilterResult,
    Status,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

pub struct DefaultPreemption {
    args: DefaultPreemptionArgs,
}

/// kube-scheduler's `DefaultPreemptionArgs`, with its defaults and
/// validation.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultPreemptionArgs {
    /// Accepted because upstream's args carry TypeMeta; not used.
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// At least this percentage of the nodes is dry-run (0..=100).
    pub min_candidate_nodes_percentage: i32,
    /// And at least this many (>= 0; not both 0).
    pub min_candidate_nodes_absolute: i32,
}

impl Default for DefaultPreemptionArgs {
    fn default() -> Self {
        DefaultPreemptionArgs {
            api_version: None,
            kind: None,
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

/// What the plugin needs to know about the preemptor beyond its record,
/// read from its JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preemptor {
    /// `spec.preemptionPolicy: Never`.
    pub never: bool,
    /// `status.nominatedNodeName`, if set.
    pub nominated_node: Option<String>,
}

impl Preemptor {
    /// From the pod's JSON as the apiserver serves it.
    pub fn from_json(json: &str) -> Preemptor {
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        Preemptor {
            never: value["spec"]["preemptionPolicy"] == "Never",
            nominated_node: value["status"]["nominatedNodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        }
    }
}

/// Upstream's message for a node rejected as unresolvable, or left out.
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Upstream's message for a node with no pod of lower priority.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// A node where preemption makes room, and at what cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub node: NodeId,
    pub name: String,
    /// Most important first.
    pub victims: Vec<Victim>,
    pub pdb_violations: usize,
}

impl Plugin for DefaultPreemption {
    const NAME: &'static str = "DefaultPreemption";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::PostFilter];
    /// Victims come from the host, with what the pod records lack.
    const READS_PODS: bool = false;
    type Args = DefaultPreemptionArgs;

    fn new(args: DefaultPreemptionArgs) -> Result<Self, String> {
        let percentage = args.min_candidate_nodes_percentage;
        let absolute = args.min_candidate_nodes_absolute;
        if !(0..=100).contains(&percentage) {
            return Err(format!(
                "minCandidateNodesPercentage: Invalid value: {percentage}: not in valid range [0, 100]"
            ));
        }
        if absolute < 0 {
            return Err(format!(
                "minCandidateNodesAbsolute: Invalid value: {absolute}: not in valid range [0, inf)"
            ));
        }
        if percentage == 0 && absolute == 0 {
            return Err(
                "minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same time as minCandidateNodesAbsolute"
                    .to_string(),
            );
        }
        Ok(DefaultPreemption { args })
    }

    fn post_filter(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        rejected: &[(&NodeInfo, &Status)],
        _state: &mut CycleState,
    ) -> PostFilterResult {
        let preemptor = kws_plugin_sdk::host::pod_json()
            .map(|json| Preemptor::from_json(&json))
            .unwrap_or_default();
        let result = self.preempt(pod, &preemptor, cluster.len(), rejected);
        // As upstream's PostFilter: the message, whatever the outcome, is
        // "preemption: " and what the evaluator said.
        PostFilterResult {
            status: Status {
                code: result.status.code,
                reasons: result
                    .status
                    .reasons
                    .iter()
                    .map(|r| format!("preemption: {r}"))
                    .collect(),
            },
            nominated_node: result.nominated_node,
        }
    }
}

impl DefaultPreemption {
    /// Upstream's Evaluator.Preempt, with the messages as it writes them
    /// (before the `preemption: ` prefix). `all_nodes` is the number of
    /// nodes in the cluster.
    pub fn preempt(
        &self,
        pod: &Pod,
        preemptor: &Preemptor,
        all_nodes: usize,
        rejected: &[(&NodeInfo, &Status)],
    ) -> PostFilterResult {
        if let Err(reason) = eligible(pod, preemptor, rejected) {
            return PostFilterResult {
                status: Status::unschedulable(reason),
                nominated_node: None,
            };
        }
        let potential: Vec<(NodeId, &str)> = rejected
            .iter()
            .filter(|(_, status)| status.code == Code::Unschedulable)
            .map(|(node, _)| (node.id, node.name()))
            .collect();
        let budgets = if potential.is_empty() {
            Vec::new()
        } else {
            preemption::pod_disruption_budgets()
        };
        let (candidates, statuses) = self.dry_run(&potential, &budgets);
        if candidates.is_empty() {
            if let Some(error) = statuses.iter().find(|(_, s)| s.code == Code::Error) {
                return PostFilterResult {
                    status: Status::error(error.1.reasons.join(", ")),
                    nominated_node: None,
                };
            }
            // Upstream's FitError over the nodes it dry-ran; every other
            // node counts as one preemption cannot help. The empty
            // nomination clears an earlier one.
            return PostFilterResult {
                status: Status::unschedulable(fit_error(all_nodes, &statuses)),
                nominated_node: Some(String::new()),
            };
        }
        let best = select_candidate(candidates);
        let uids: Vec<String> = best.victims.iter().map(|v| v.uid.clone()).collect();
        if let Err(error) = preemption::preempt(best.node, &uids) {
            return PostFilterResult {
                status: Status::error(error),
                nominated_node: None,
            };
        }
        PostFilterResult {
            status: Status {
                code: Code::Success,
                reasons: vec![format!(
                    "found a potential placement for pod on node {}, preempting {} victims",
                    best.name,
                    uids.len()
                )],
            },
            nominated_node: Some(best.name),
        }
    }

    /// How many candidates to find among `nodes` potential nodes
    /// (upstream's calculateNumCandidates).
    pub fn candidates_to_find(&self, nodes: usize) -> usize {
        let nodes = i64::try_from(nodes).unwrap_or(i64::MAX);
        let by_percentage = nodes * i64::from(self.args.min_candidate_nodes_percentage) / 100;
        let wanted = by_percentage
            .max(i64::from(self.args.min_candidate_nodes_absolute))
            .min(nodes);
        usize::try_from(wanted).unwrap_or(0)
    }

    /// Upstream's DryRunPreemption, from the first potential node (upstream
    /// starts at a random offset; the plugin has no randomness, and below
    /// `minCandidateNodesAbsolute` potential nodes every node is tried
    /// either way): the candidates, those that violate no budget first,
    /// and the status of each node that is none.
    pub fn dry_run(
        &self,
        potential: &[(NodeId, &str)],
        budgets: &[PodDisruptionBudget],
    ) -> (Vec<Candidate>, Vec<(String, Status)>) {
        let wanted = self.candidates_to_find(potential.len());
        let mut clean = Vec::new();
        let mut violating = Vec::new();
        let mut statuses = Vec::new();
        // Most nodes of a cluster whose pods share a priority have no
        // victim: one call says which do.
        let with_victims: BTreeSet<NodeId> = if potential.is_empty() {
            BTreeSet::new()
        } else {
            preemption::nodes_with_victims().into_iter().collect()
        };
        for &(node, name) in potential {
            if !with_victims.contains(&node) {
                statuses.push((name.to_string(), Status::unresolvable(NO_VICTIMS)));
                continue;
            }
            match select_victims_on_node(node, budgets) {
                Ok((victims, pdb_violations)) if !victims.is_empty() => {
                    let candidate = Candidate {
                        node,
                        name: name.to_string(),
                        victims,
                        pdb_violations,
                    };
                    if pdb_violations == 0 {
                        clean.push(candidate);
                    } else {
                        violating.push(candidate);
                    }
                    if !clean.is_empty() && clean.len() + violating.len() >= wanted {
                        break;
                    }
                }
                Ok(_) => statuses.push((
                    name.to_string(),
                    Status::error(format!("expected at least one victim pod on node {name:?}")),
                )),
                Err(status) => statuses.push((name.to_string(), status)),
            }
        }
        clean.extend(violating);
        (clean, statuses)
    }
}

/// Upstream's PodEligibleToPreemptOthers.
fn eligible(
    pod: &Pod,
    preemptor: &Preemptor,
    rejected: &[(&NodeInfo, &Status)],
) -> Result<(), String> {
    if preemptor.never {
        return Err("not eligible due to preemptionPolicy=Never.".to_string());
    }
    let Some(nominated) = &preemptor.nominated_node else {
        return Ok(());
    };
    // A nominated node absent from the statuses counts as unresolvable.
    let Some((node, status)) = rejected.iter().find(|(n, _)| n.name() == nominated) else {
        return Ok(());
    };
    if status.code == Code::UnschedulableAndUnresolvable {
        return Ok(());
    }
    let waiting = preemption::potential_victims(node.id)
        .iter()
        .any(|v| v.priority < pod.priority && v.preempted);
    if waiting {
        return Err("not eligible due to a terminating pod on the nominated node.".to_string());
    }
    Ok(())
}

/// Upstream's SelectVictimsOnNode for single pods: the victims, most
/// important first, and how many of them violate a budget; or the status
/// that says why the node cannot be a candidate.
pub fn select_victims_on_node(
    node: NodeId,
    budgets: &[PodDisruptionBudget],
) -> Result<(Vec<Victim>, usize), Status> {
    let mut potential = preemption::potential_victims(node);
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    let mut removed: Vec<String> = potential.iter().map(|v| v.uid.clone()).collect();
    let status = preemption::filter_without(node, &removed);
    if status.code != Code::Success {
        return Err(status);
    }
    potential.sort_by(more_important_first);
    let (violators, others) = split_by_budgets(potential, budgets);
    let mut victims = Vec::new();
    let mut violations = 0;
    let mut reprieve = |victim: Victim, violates: bool| {
        removed.retain(|uid| *uid != victim.uid);
        let fits = preemption::filter_without(node, &removed).code == Code::Success;
        if !fits {
            removed.push(victim.uid.clone());
            violations += usize::from(violates);
            victims.push(victim);
        }
    };
    let mixed = !violators.is_empty() && !others.is_empty();
    for victim in violators {
        reprieve(victim, true);
    }
    for victim in others {
        reprieve(victim, false);
    }
    if mixed {
        victims.sort_by(more_important_first);
    }
    Ok((victims, violations))
}

/// Upstream's MoreImportantVictim for pods: higher priority first, then
/// the one that started earlier (a pod not started counts as starting
/// now, after every started one).
fn more_important_first(a: &Victim, b: &Victim) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| start(a).cmp(&start(b)))
}

fn start(victim: &Victim) -> i64 {
    victim.start_time.unwrap_or(i64::MAX)
}

/// Upstream's FilterVictimsWithPDBViolation: walking the victims in
/// order, each takes one of the disruptions every budget that selects it
/// allows (a pod a budget already counts as disrupted takes none); a pod
/// that takes one more than some budget allows violates it.
pub fn split_by_budgets(
    victims: Vec<Victim>,
    budgets: &[PodDisruptionBudget],
) -> (Vec<Victim>, Vec<Victim>) {
    let selectors: Vec<Selector> = budgets
        .iter()
        .map(|b| Selector::parse(b.selector.as_ref()).unwrap_or_else(|_| Selector::nothing()))
        .collect();
    let mut allowed: Vec<i64> = budgets
        .iter()
        .map(|b| i64::from(b.disruptions_allowed))
        .collect();
    let mut violators = Vec::new();
    let mut others = Vec::new();
    for victim in victims {
        let mut violates = false;
        if !victim.labels.is_empty() {
            for (i, budget) in budgets.iter().enumerate() {
                if budget.namespace != victim.namespace
                    || selectors[i].is_empty()
                    || !selectors[i].matches(&victim.labels)
                    || budget.disrupted_pods.contains(&victim.name)
                {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violates = true;
                    break;
                }
            }
        }
        if violates {
            violators.push(victim);
        } else {
            others.push(victim);
        }
    }
    (violators, others)
}

/// Upstream's SelectCandidate and pickOneNodeForPreemption: each criterion
/// keeps the best candidates until one is left; if several are left, the
/// first (upstream: the first of a map's order, so any).
pub fn select_candidate(mut candidates: Vec<Candidate>) -> Candidate {
    type Score = fn(&Candidate) -> i64;
    let criteria: [Score; 5] = [
        // Fewest budget violations.
        |c| -(c.pdb_violations as i64),
        // Lowest highest victim priority.
        |c| -i64::from(c.victims[0].priority),
        // Smallest sum of priorities, each shifted to be >= 0.
        |c| {
            -c.victims
                .iter()
                .map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1)
                .sum::<i64>()
        },
        // Fewest victims.
        |c| -(c.victims.len() as i64),
        // Latest start among the highest-priority victims.
        |c| earliest_start_of_most_important(&c.victims),
    ];
    for score in criteria {
        if candidates.len() == 1 {
            break;
        }
        let best = candidates.iter().map(score).max().unwrap_or(i64::MIN);
        candidates.retain(|c| score(c) == best);
    }
    candidates.swap_remove(0)
}

/// Upstream's GetEarliestPodStartTime: the earliest start among the
/// victims of the highest priority.
fn earliest_start_of_most_important(victims: &[Victim]) -> i64 {
    let top = victims.iter().map(|v| v.priority).max().unwrap_or(0);
    victims
        .iter()
        .filter(|v| v.priority == top)
        .map(start)
        .min()
        .unwrap_or(i64::MAX)
}

/// Upstream's FitError message for preemption that found no candidate:
/// `0/N nodes are available: 2 No preemption victims found for incoming
/// pod, 1 Preemption is not helpful for scheduling.`
pub fn fit_error(all_nodes: usize, statuses: &[(String, Status)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, status) in statuses {
        for reason in &status.reasons {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let absent = all_nodes.saturating_sub(statuses.len());
    if absent > 0 {
        *counts.entry(NOT_HELPFUL).or_default() += absent;
    }
    let mut reasons: Vec<String> = counts
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    reasons.sort();
    format!("0/{all_nodes} nodes are available: {}.", reasons.join(", "))
}

kws_plugin_sdk::export_plugin!(DefaultPreemption);

#[cfg(test)]
mod tests;
