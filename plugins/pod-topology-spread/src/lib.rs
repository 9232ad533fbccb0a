//! PodTopologySpread: spreads matching pods across topology domains (zones,
//! nodes, any node label), as kube-scheduler's plugin of the same name
//! (v1.37, with minDomains, node inclusion policies and matchLabelKeys, all
//! GA there).
//!
//! Filter (the pod's `DoNotSchedule` constraints): once per pod, count the
//! pods matching each constraint's selector in the pod's namespace per
//! topology value, over every node that has all the constraints' topology
//! keys and passes the constraint's node inclusion policies (PreFilter).
//! A node without a constraint's key is rejected for good; a node where
//! `matching + (1 if the pod matches itself) - global minimum > maxSkew` is
//! rejected until pods move. The global minimum is 0 while fewer domains
//! than `minDomains` exist.
//!
//! Score (the `ScheduleAnyway` constraints): per feasible node, the sum
//! over constraints of `matching pods in its domain * ln(domains + 2) +
//! maxSkew - 1`, rounded; normalised so the fewest matching pods score 100
//! and feasible nodes missing a topology key score 0.
//!
//! Default constraints: a pod without constraints of its own gets the
//! profile's default ones (`defaultingType: System`: hostname maxSkew 3 and
//! zone maxSkew 5, both ScheduleAnyway; `List`: the args'
//! `defaultConstraints`), all with the selector the host computed as
//! upstream's `helper.DefaultSelector` (the pod's `default-spread-selector`:
//! what the Services, ReplicationControllers, ReplicaSets and StatefulSets
//! selecting it select). A pod nothing selects gets none. With the System
//! defaults, Score does not require nodes to carry every topology key: a
//! node without a zone label still spreads by hostname.
//!
//! PreFilter counts the matching pods per domain once per cycle and returns
//! Skip for a pod without DoNotSchedule constraints; PreScore counts them
//! over the feasible nodes and returns Skip for a pod without
//! ScheduleAnyway constraints, as upstream's. Filter and Score read what
//! they kept, and fail, as upstream's do, when it is missing.

mod args;

use args::PodTopologySpreadArgs;
use kws_plugin_sdk::selector::{Selector, has_untolerated_taint, matches_required_node_affinity};
use kws_plugin_sdk::{
    ActionType, Cluster, CycleState, EventResource, ExtensionPoint, InclusionPolicy,
    MAX_NODE_SCORE, NodeInfo, Plugin, Pod, PreFilterResult, RegisteredEvent, Status,
    WhenUnsatisfiable, lookup,
};
// BTreeMap rather than HashMap: a HashMap seeds itself from WASI randomness,
// which the sandbox refuses (the call traps).
use std::collections::BTreeMap;

/// The reason for a node whose domain would be too crowded.
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// The reason for a node that lacks a constraint's topology key.
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

/// The hostname label: per-node domains, counted at Score time.
const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";

/// The zone label, the System defaults' second key.
const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";

pub struct PodTopologySpread {
    /// The default constraints with their action; their selectors are
    /// filled in per pod.
    defaults: Vec<(WhenUnsatisfiable, Constraint)>,
    /// `defaultingType: System`: Score leaves no node out for lacking a
    /// default constraint's key (upstream's `requireAllTopologies` false).
    system_defaulted: bool,
}

/// A constraint with its selector parsed and its defaults filled in.
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i32,
    topology_key: String,
    selector: Selector,
    min_domains: i32,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    /// Whether the node's domain counts for this constraint
    /// (`matchNodeInclusionPolicies`).
    fn includes(&self, pod: &Pod, node: &NodeInfo) -> bool {
        (!self.honor_node_affinity || matches_required_node_affinity(pod, &node.node))
            && (!self.honor_node_taints || !has_untolerated_taint(pod, &node.node))
    }

    /// The node's pods in `namespace` that the selector matches, leaving
    /// out terminating pods; none for an empty selector, as upstream's
    /// `countPodsMatchSelector`.
    fn count(&self, node: &NodeInfo, namespace: &str) -> usize {
        if self.selector.is_empty() {
            return 0;
        }
        node.pods
            .iter()
            .filter(|p| {
                !p.terminating && p.namespace == namespace && self.selector.matches(&p.labels)
            })
            .count()
    }
}

/// A default constraint as upstream's `filterTopologySpreadConstraints`
/// reads it: `minDomains` 1, node affinity honoured and taints ignored
/// unless given (a policy other than `Honor` counts as ignoring). Its
/// `matchLabelKeys` never matter: the default selector replaces the one
/// they would narrow.
fn default_constraint(
    max_skew: i32,
    topology_key: &str,
    min_domains: Option<i32>,
    node_affinity_policy: Option<&str>,
    node_taints_policy: Option<&str>,
) -> Constraint {
    Constraint {
        max_skew,
        topology_key: topology_key.to_string(),
        selector: Selector::nothing(),
        min_domains: min_domains.unwrap_or(1),
        honor_node_affinity: node_affinity_policy.is_none_or(|p| p == "Honor"),
        honor_node_taints: node_taints_policy == Some("Honor"),
    }
}

impl PodTopologySpread {
    /// The constraints that apply to the pod with the given
    /// `whenUnsatisfiable`: its own, or, when it has none, the default
    /// ones (upstream's `getConstraints` and `initPreScoreState`).
    fn constraints(&self, pod: &Pod, action: WhenUnsatisfiable) -> Result<Vec<Constraint>, String> {
        if pod.topology_spread_constraints.is_empty() {
            self.default_constraints(pod, action)
        } else {
            own_constraints(pod, action)
        }
    }

    /// Upstream's `buildDefaultConstraints`: the default constraints with
    /// this action, each selecting what the pod's default selector selects;
    /// none when that selector is missing or empty.
    fn default_constraints(
        &self,
        pod: &Pod,
        action: WhenUnsatisfiable,
    ) -> Result<Vec<Constraint>, String> {
        let selector = Selector::parse(pod.default_spread_selector.as_ref())
            .map_err(|e| format!("default spread selector: {e}"))?;
        if pod.default_spread_selector.is_none() || selector.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .defaults
            .iter()
            .filter(|(when, _)| *when == action)
            .map(|(_, c)| Constraint {
                selector: selector.clone(),
                ..c.clone()
            })
            .collect())
    }

    /// Whether Score leaves out feasible nodes that lack a constraint's
    /// topology key: always for the pod's own constraints, for default ones
    /// only when they come from the args (`defaultingType: List`).
    fn require_all_topologies(&self, pod: &Pod) -> bool {
        !pod.topology_spread_constraints.is_empty() || !self.system_defaulted
    }
}

/// The pod's own constraints with the given `whenUnsatisfiable`.
fn own_constraints(pod: &Pod, action: WhenUnsatisfiable) -> Result<Vec<Constraint>, String> {
    pod.topology_spread_constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let own: Vec<(String, String)> = c
                .match_label_keys
                .iter()
                .filter_map(|key| lookup(&pod.labels, key).map(|v| (key.clone(), v.to_string())))
                .collect();
            let selector = Selector::parse(c.label_selector.as_ref())?.with_labels(own);
            Ok(Constraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: c.min_domains.unwrap_or(1),
                honor_node_affinity: c.node_affinity_policy != Some(InclusionPolicy::Ignore),
                honor_node_taints: c.node_taints_policy == Some(InclusionPolicy::Honor),
            })
        })
        .collect()
}

/// Whether the node has every constraint's topology key.
fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| node.label(&c.topology_key).is_some())
}

/// The smallest count among a constraint's domains, or 0 while there are
/// fewer domains than `minDomains`.
fn minimum(c: &Constraint, counts: &BTreeMap<String, usize>) -> usize {
    if counts.len() < c.min_domains.max(0) as usize {
        0
    } else {
        counts.values().copied().min().unwrap_or(0)
    }
}

/// PreFilter's state: matching pods per topology value, per constraint.
#[derive(Clone)]
struct Spread {
    constraints: Vec<Constraint>,
    counts: Vec<BTreeMap<String, usize>>,
    /// Per constraint, the smallest count among its domains, or 0 while
    /// there are fewer domains than `minDomains`.
    minimums: Vec<usize>,
}

impl Spread {
    fn new(pod: &Pod, cluster: &Cluster, constraints: Vec<Constraint>) -> Spread {
        let mut counts: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); constraints.len()];
        for node in cluster.nodes() {
            if !has_all_keys(node, &constraints) {
                continue;
            }
            for (c, counts) in constraints.iter().zip(&mut counts) {
                if !c.includes(pod, node) {
                    continue;
                }
                let value = node.label(&c.topology_key).unwrap_or_default();
                *counts.entry(value.to_string()).or_default() += c.count(node, &pod.namespace);
            }
        }
        let minimums = constraints
            .iter()
            .zip(&counts)
            .map(|(c, counts)| minimum(c, counts))
            .collect();
        Spread {
            constraints,
            counts,
            minimums,
        }
    }

    /// Counts `pod` on `node` once more (`delta` 1) or once less (-1): a
    /// what-if cycle placed it there or took it away (upstream's
    /// `updateWithPod`, for AddPod and RemovePod). Only pods of the
    /// incoming pod's namespace count, on nodes with every key that the
    /// constraint includes. Upstream keeps the two smallest domains and
    /// updates them; a what-if changes one node, so one domain per
    /// constraint, and the smallest it keeps is the minimum recounted here.
    fn update_with_pod(&mut self, incoming: &Pod, pod: &Pod, node: &NodeInfo, delta: i64) {
        if pod.namespace != incoming.namespace || !has_all_keys(node, &self.constraints) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if !c.selector.matches(&pod.labels) || !c.includes(incoming, node) {
                continue;
            }
            let value = node.label(&c.topology_key).unwrap_or_default();
            let count = self.counts[i].entry(value.to_string()).or_default();
            *count = count.saturating_add_signed(delta as isize);
            self.minimums[i] = minimum(c, &self.counts[i]);
        }
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let own = usize::from(c.selector.matches(&pod.labels));
            let matching = self.counts[i].get(value).copied().unwrap_or(0);
            let skew = (matching + own) as i64 - self.minimums[i] as i64;
            if skew > i64::from(c.max_skew) {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

/// PreScore's state for one set of feasible nodes.
#[derive(Clone)]
struct Scoring {
    constraints: Vec<Constraint>,
    /// Feasible nodes that lack a topology key are scored 0.
    require_all: bool,
    /// Matching pods per topology value of the feasible nodes (not used
    /// for hostname constraints, which count the node's own pods).
    counts: Vec<BTreeMap<String, usize>>,
    /// `ln(domains + 2)` per constraint.
    weights: Vec<f64>,
}

impl Scoring {
    /// `None` when the pod has no soft constraints (PreScore `Skip`).
    /// With `require_all`, feasible nodes lacking a topology key are
    /// ignored (scored 0) and nodes lacking one count for no domain;
    /// without, a node's missing label counts as the value `""`.
    fn new(
        pod: &Pod,
        cluster: &Cluster,
        feasible: &[&NodeInfo],
        constraints: Vec<Constraint>,
        require_all: bool,
    ) -> Option<Scoring> {
        if constraints.is_empty() {
            return None;
        }
        let ignored: Vec<bool> = feasible
            .iter()
            .map(|n| require_all && !has_all_keys(n, &constraints))
            .collect();
        let mut counts: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); constraints.len()];
        for (node, _) in feasible
            .iter()
            .zip(&ignored)
            .filter(|(_, ignored)| !**ignored)
        {
            for (c, counts) in constraints.iter().zip(&mut counts) {
                if c.topology_key != LABEL_HOSTNAME {
                    let value = node.label(&c.topology_key).unwrap_or_default();
                    counts.entry(value.to_string()).or_default();
                }
            }
        }
        let scored = ignored.iter().filter(|i| !**i).count();
        let weights = constraints
            .iter()
            .zip(&counts)
            .map(|(c, counts)| {
                let size = if c.topology_key == LABEL_HOSTNAME {
                    scored
                } else {
                    counts.len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        for node in cluster.nodes() {
            if require_all && !has_all_keys(node, &constraints) {
                continue;
            }
            for (c, counts) in constraints.iter().zip(&mut counts) {
                if !c.includes(pod, node) {
                    continue;
                }
                let value = node.label(&c.topology_key).unwrap_or_default();
                if let Some(count) = counts.get_mut(value) {
                    *count += c.count(node, &pod.namespace);
                }
            }
        }
        Some(Scoring {
            constraints,
            require_all,
            counts,
            weights,
        })
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> i64 {
        if self.require_all && !has_all_keys(node, &self.constraints) {
            return 0;
        }
        let mut score = 0.0;
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == LABEL_HOSTNAME {
                c.count(node, &pod.namespace)
            } else {
                self.counts[i].get(value).copied().unwrap_or(0)
            };
            score += count as f64 * self.weights[i] + f64::from(c.max_skew - 1);
        }
        score.round() as i64
    }
}

impl Plugin for PodTopologySpread {
    const NAME: &'static str = "PodTopologySpread";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::PreScore,
        ExtensionPoint::Score,
        ExtensionPoint::NormalizeScore,
        ExtensionPoint::EnqueueExtensions,
    ];
    type Args = PodTopologySpreadArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::All]),
            RegisteredEvent::on(
                EventResource::Node,
                &[
                    ActionType::Add,
                    ActionType::Delete,
                    ActionType::UpdateNodeLabel,
                    ActionType::UpdateNodeTaint,
                ],
            ),
        ]
    }

    fn new(args: PodTopologySpreadArgs) -> Result<Self, String> {
        args.validate()?;
        if args.is_system_defaulting() {
            return Ok(PodTopologySpread {
                defaults: vec![
                    (
                        WhenUnsatisfiable::ScheduleAnyway,
                        default_constraint(3, LABEL_HOSTNAME, None, None, None),
                    ),
                    (
                        WhenUnsatisfiable::ScheduleAnyway,
                        default_constraint(5, LABEL_TOPOLOGY_ZONE, None, None, None),
                    ),
                ],
                system_defaulted: true,
            });
        }
        let defaults = args
            .default_constraints
            .iter()
            .map(|c| {
                let when = if c.when_unsatisfiable == "DoNotSchedule" {
                    WhenUnsatisfiable::DoNotSchedule
                } else {
                    WhenUnsatisfiable::ScheduleAnyway
                };
                let constraint = default_constraint(
                    c.max_skew,
                    &c.topology_key,
                    c.min_domains,
                    c.node_affinity_policy.as_deref(),
                    c.node_taints_policy.as_deref(),
                );
                (when, constraint)
            })
            .collect();
        Ok(PodTopologySpread {
            defaults,
            system_defaulted: false,
        })
    }

    fn pre_filter(&self, pod: &Pod, cluster: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let constraints = match self.constraints(pod, WhenUnsatisfiable::DoNotSchedule) {
            Ok(c) => c,
            Err(e) => {
                return PreFilterResult::rejected(Status::error(format!(
                    "get constraints from pod: {e}"
                )));
            }
        };
        if constraints.is_empty() {
            return PreFilterResult::skip();
        }
        state.write(Spread::new(pod, cluster, constraints));
        PreFilterResult::all()
    }

    /// A what-if cycle placed `pod` on `node` (upstream's AddPod).
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &Pod,
        pod: &Pod,
        node: &NodeInfo,
    ) -> Status {
        let Some(spread) = state.read_mut::<Spread>() else {
            return no_pre_filter_state();
        };
        spread.update_with_pod(pod_to_schedule, pod, node, 1);
        Status::success()
    }

    /// A what-if cycle took the pod `uid` off `node` (upstream's
    /// RemovePod): a victim that counted against the skew counts no more.
    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &Pod,
        uid: &str,
        node: &NodeInfo,
    ) -> Status {
        let Some(spread) = state.read_mut::<Spread>() else {
            return no_pre_filter_state();
        };
        if let Some(pod) = node.pods.iter().find(|p| p.uid == uid) {
            spread.update_with_pod(pod_to_schedule, pod, node, -1);
        }
        Status::success()
    }

    fn filter_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        match state.read::<Spread>() {
            Some(spread) => nodes.iter().map(|node| spread.filter(pod, node)).collect(),
            None => {
                let status = no_pre_filter_state();
                nodes.iter().map(|_| status.clone()).collect()
            }
        }
    }

    fn pre_score(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        nodes: &[&NodeInfo],
        state: &mut CycleState,
    ) -> Status {
        let constraints = match self.constraints(pod, WhenUnsatisfiable::ScheduleAnyway) {
            Ok(c) => c,
            Err(e) => return Status::error(e),
        };
        let require_all = self.require_all_topologies(pod);
        match Scoring::new(pod, cluster, nodes, constraints, require_all) {
            Some(scoring) => {
                state.write(scoring);
                Status::success()
            }
            None => Status::skip(),
        }
    }

    fn score_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        let scoring = state
            .read::<Scoring>()
            .ok_or_else(|| format!("{} found no PreScore state", Self::NAME))?;
        Ok(nodes.iter().map(|node| scoring.score(pod, node)).collect())
    }

    /// The fewest matching pods score 100: `100 * (max + min - score) /
    /// max` over the nodes not ignored; ignored nodes score 0, and all
    /// score 100 when the highest score is 0.
    fn normalize_all(
        &self,
        pod: &Pod,
        _cluster: &Cluster,
        nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Result<(), String> {
        let constraints = self.constraints(pod, WhenUnsatisfiable::ScheduleAnyway)?;
        if constraints.is_empty() {
            return Ok(());
        }
        let require_all = self.require_all_topologies(pod);
        let ignored: Vec<bool> = nodes
            .iter()
            .map(|n| require_all && !has_all_keys(n, &constraints))
            .collect();
        let counted = || {
            scores
                .iter()
                .zip(&ignored)
                .filter(|(_, ignored)| !**ignored)
                .map(|(s, _)| *s)
        };
        let min = counted().min().unwrap_or(i64::MAX);
        let max = counted().max().unwrap_or(0).max(0);
        for (score, ignored) in scores.iter_mut().zip(&ignored) {
            *score = if *ignored {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *score) / max
            };
        }
        Ok(())
    }
}

/// AddPod, RemovePod or Filter in a cycle whose PreFilter kept nothing:
/// an error, as upstream's `getPreFilterState`.
fn no_pre_filter_state() -> Status {
    Status::error(format!(
        "reading \"PreFilter{}\" from cycleState: not found",
        PodTopologySpread::NAME
    ))
}

kws_plugin_sdk::export_plugin!(PodTopologySpread);

#[cfg(test)]
mod tests;
