//! InterPodAffinity: places pods near or away from other pods, as
//! kube-scheduler's plugin of the same name (v1.37, without the alpha
//! `InterPodAffinityHostnameFastPath`, which is off by default).
//!
//! Filter, once per pod over the whole cluster (PreFilter), then per node:
//! 1. the pod's required affinity: every term's topology key must be on the
//!    node and some pod matching all terms must run in the node's domain
//!    of each term, unless no pod anywhere matches them and the pod
//!    matches them itself (the first pod of a group); else the node is
//!    unresolvable, `node(s) didn't match pod affinity rules`;
//! 2. the pod's required anti-affinity: no pod matching a term in the
//!    node's domain for that term (`node(s) didn't match pod anti-affinity
//!    rules`);
//! 3. existing pods' required anti-affinity: no pod whose term matches the
//!    incoming pod (in its namespace, with its namespace's labels) runs in
//!    a domain the node belongs to (`node(s) didn't satisfy existing pods
//!    anti-affinity rules`).
//!
//! Score: per topology domain, the weights of the pod's preferred terms
//! that existing pods match (anti-affinity subtracts), plus, for existing
//! pods, `hardPodAffinityWeight` per required affinity term and the weight
//! of each preferred term the incoming pod matches; a node scores the sum
//! over its domains, normalised to 0..=100 between the lowest and highest.
//!
//! A term's `namespaceSelector` is resolved against the namespaces the host
//! sends; terms with neither namespaces nor a selector look in the pod's
//! own namespace. `matchLabelKeys`/`mismatchLabelKeys` are merged into the
//! label selector by the apiserver when the pod is created, so they are not
//! applied again here.

mod args;

use args::InterPodAffinityArgs;
use kws_plugin_sdk::affinity::{
    AffinityTerm, preferred_affinity, preferred_anti_affinity, required_affinity,
    required_anti_affinity,
};
use kws_plugin_sdk::{
    ActionType, Cluster, CycleState, EventResource, ExtensionPoint, MAX_NODE_SCORE, NodeInfo,
    Plugin, Pod, RegisteredEvent, Status,
};
// BTreeMap rather than HashMap: a HashMap seeds itself from WASI randomness,
// which the sandbox refuses (the call traps).
use std::collections::BTreeMap;

/// The reason for a node where the pod's required affinity fails.
pub const ERR_REASON_AFFINITY_RULES_NOT_MATCH: &str = "node(s) didn't match pod affinity rules";
/// The reason for a node where the pod's required anti-affinity fails.
pub const ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't match pod anti-affinity rules";
/// The reason for a node where an existing pod's anti-affinity forbids
/// the incoming pod.
pub const ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

pub struct InterPodAffinity {
    hard_pod_affinity_weight: i64,
    ignore_preferred_terms_of_existing_pods: bool,
}

/// Whether the pod matches every term; false for no terms
/// (`podMatchesAllAffinityTerms`). The incoming pod's terms have their
/// namespace selectors resolved, so no namespace labels are needed.
fn matches_all(terms: &[AffinityTerm], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, &Vec::new()))
}

/// A topology domain: a node label's key and value, borrowed from the
/// cluster for the length of one call.
type Domain<'a> = (&'a str, &'a str);

/// Pods (or terms) counted per topology domain.
type Counts<'a> = BTreeMap<Domain<'a>, i64>;

/// PreFilter's state.
struct Affinity<'a> {
    affinity: Vec<AffinityTerm>,
    anti_affinity: Vec<AffinityTerm>,
    /// Pods matching all the affinity terms, per domain of each term.
    affinity_counts: Counts<'a>,
    /// Pods matching an anti-affinity term, per domain of that term.
    anti_affinity_counts: Counts<'a>,
    /// Existing pods' anti-affinity terms matching the incoming pod, per
    /// domain of the existing pod's node.
    existing_anti_affinity_counts: Counts<'a>,
    /// The topology keys of `existing_anti_affinity_counts`.
    existing_anti_affinity_keys: Vec<&'a str>,
    matches_itself: bool,
}

impl<'a> Affinity<'a> {
    /// `None` when nothing constrains the pod (PreFilter `Skip`).
    fn new(pod: &Pod, cluster: &'a Cluster) -> Result<Option<Affinity<'a>>, String> {
        let mut affinity = required_affinity(pod)?;
        let mut anti_affinity = required_anti_affinity(pod)?;
        for term in affinity.iter_mut().chain(&mut anti_affinity) {
            term.resolve_namespaces(cluster);
        }
        let no_labels = Vec::new();
        let namespace_labels = cluster
            .namespace_labels(&pod.namespace)
            .unwrap_or(&no_labels);

        let mut existing_anti_affinity_counts = Counts::new();
        for node in cluster.nodes() {
            for existing in node.pods_with_required_anti_affinity() {
                for term in &existing.terms.required_anti_affinity {
                    if term.matches(pod, namespace_labels)
                        && let Some(domain) = term.domain(node)
                    {
                        *existing_anti_affinity_counts.entry(domain).or_default() += 1;
                    }
                }
            }
        }

        let mut affinity_counts = Counts::new();
        let mut anti_affinity_counts = Counts::new();
        if !affinity.is_empty() || !anti_affinity.is_empty() {
            for node in cluster.nodes() {
                for existing in &node.pods {
                    if matches_all(&affinity, existing) {
                        for domain in affinity.iter().filter_map(|t| t.domain(node)) {
                            *affinity_counts.entry(domain).or_default() += 1;
                        }
                    }
                    for term in &anti_affinity {
                        if term.matches(existing, &no_labels)
                            && let Some(domain) = term.domain(node)
                        {
                            *anti_affinity_counts.entry(domain).or_default() += 1;
                        }
                    }
                }
            }
        }

        if existing_anti_affinity_counts.is_empty()
            && affinity.is_empty()
            && anti_affinity.is_empty()
        {
            return Ok(None);
        }
        let matches_itself = matches_all(&affinity, pod);
        Ok(Some(Affinity {
            affinity,
            anti_affinity,
            affinity_counts,
            anti_affinity_counts,
            existing_anti_affinity_keys: topology_keys(&existing_anti_affinity_counts),
            existing_anti_affinity_counts,
            matches_itself,
        }))
    }

    fn filter(&self, node: &NodeInfo) -> Status {
        if !self.satisfies_affinity(node) {
            return Status::unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH);
        }
        let anti_affinity_conflict = !self.anti_affinity_counts.is_empty()
            && self.anti_affinity.iter().any(|t| {
                t.domain(node)
                    .is_some_and(|d| count(&self.anti_affinity_counts, d) > 0)
            });
        if anti_affinity_conflict {
            return Status::unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        let existing_conflict = self
            .existing_anti_affinity_keys
            .iter()
            .filter_map(|key| node.label_pair(key))
            .any(|domain| count(&self.existing_anti_affinity_counts, domain) > 0);
        if existing_conflict {
            return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        Status::success()
    }

    /// `nodeTopologyMatchesAffinity`.
    fn satisfies_affinity(&self, node: &NodeInfo) -> bool {
        if self.affinity.is_empty() {
            return true;
        }
        let mut pods_exist = true;
        for term in &self.affinity {
            let Some(domain) = term.domain(node) else {
                return false;
            };
            if count(&self.affinity_counts, domain) <= 0 {
                pods_exist = false;
            }
        }
        // The first pod of a group that selects itself may go anywhere the
        // topology keys exist, as long as no matching pod runs anywhere.
        pods_exist || (self.affinity_counts.is_empty() && self.matches_itself)
    }
}

fn count(counts: &Counts<'_>, domain: Domain<'_>) -> i64 {
    counts.get(&domain).copied().unwrap_or(0)
}

/// The topology keys the counts have domains of, each once.
fn topology_keys<'a>(counts: &Counts<'a>) -> Vec<&'a str> {
    let mut keys: Vec<&str> = counts.keys().map(|(key, _)| *key).collect();
    keys.dedup();
    keys
}

impl InterPodAffinity {
    /// PreScore: the score of each topology domain, or `None` when no term
    /// applies anywhere (PreScore `Skip`).
    fn domain_scores<'a>(
        &self,
        pod: &Pod,
        cluster: &'a Cluster,
    ) -> Result<Option<Counts<'a>>, String> {
        let mut preferred = preferred_affinity(pod)?;
        let mut preferred_anti = preferred_anti_affinity(pod)?;
        let has_constraints = !preferred.is_empty() || !preferred_anti.is_empty();
        if self.ignore_preferred_terms_of_existing_pods && !has_constraints {
            return Ok(None);
        }
        for term in preferred.iter_mut().chain(&mut preferred_anti) {
            term.resolve_namespaces(cluster);
        }
        let no_labels = Vec::new();
        let namespace_labels = cluster
            .namespace_labels(&pod.namespace)
            .unwrap_or(&no_labels);
        let mut scores = Counts::new();
        let nodes = cluster
            .nodes()
            .filter(|n| has_constraints || !n.pods_with_affinity.is_empty())
            .filter(|n| !n.node.labels.is_empty());
        for node in nodes {
            let mut add = |term: &AffinityTerm, weight: i64| {
                if let Some(domain) = term.domain(node) {
                    *scores.entry(domain).or_default() += weight;
                }
            };
            if has_constraints {
                for existing in &node.pods {
                    for term in preferred.iter().filter(|t| t.matches(existing, &no_labels)) {
                        add(term, term.weight);
                    }
                    for term in preferred_anti
                        .iter()
                        .filter(|t| t.matches(existing, &no_labels))
                    {
                        add(term, -term.weight);
                    }
                }
            }
            for existing in &node.pods_with_affinity {
                let terms = &existing.terms;
                if self.hard_pod_affinity_weight > 0 {
                    for term in &terms.required_affinity {
                        if term.matches(pod, namespace_labels) {
                            add(term, self.hard_pod_affinity_weight);
                        }
                    }
                }
                for term in &terms.preferred_affinity {
                    if term.matches(pod, namespace_labels) {
                        add(term, term.weight);
                    }
                }
                for term in &terms.preferred_anti_affinity {
                    if term.matches(pod, namespace_labels) {
                        add(term, -term.weight);
                    }
                }
            }
        }
        Ok((!scores.is_empty()).then_some(scores))
    }
}

impl Plugin for InterPodAffinity {
    const NAME: &'static str = "InterPodAffinity";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::Filter,
        ExtensionPoint::Score,
        ExtensionPoint::NormalizeScore,
        ExtensionPoint::EnqueueExtensions,
    ];
    type Args = InterPodAffinityArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::All]),
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeLabel],
            ),
            RegisteredEvent::on(
                EventResource::Namespace,
                &[ActionType::Add, ActionType::Update],
            ),
        ]
    }

    fn new(args: InterPodAffinityArgs) -> Result<Self, String> {
        let weight = args.hard_pod_affinity_weight.unwrap_or(1);
        if !(0..=100).contains(&weight) {
            return Err(format!(
                "hardPodAffinityWeight: Invalid value: {weight}: not in valid range [0, 100]"
            ));
        }
        Ok(InterPodAffinity {
            hard_pod_affinity_weight: i64::from(weight),
            ignore_preferred_terms_of_existing_pods: args.ignore_preferred_terms_of_existing_pods,
        })
    }

    fn filter_all(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        nodes: &[&NodeInfo],
        _state: &CycleState,
    ) -> Vec<Status> {
        match Affinity::new(pod, cluster) {
            Ok(Some(state)) => nodes.iter().map(|node| state.filter(node)).collect(),
            Ok(None) => nodes.iter().map(|_| Status::skip()).collect(),
            Err(e) => {
                let status = Status::unresolvable(format!("parsing pod: {e}"));
                nodes.iter().map(|_| status.clone()).collect()
            }
        }
    }

    fn score_all(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        nodes: &[&NodeInfo],
        _state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        let Some(domains) = self.domain_scores(pod, cluster)? else {
            return Ok(vec![0; nodes.len()]);
        };
        let keys = topology_keys(&domains);
        Ok(nodes
            .iter()
            .map(|node| {
                keys.iter()
                    .filter_map(|key| node.label_pair(key))
                    .map(|domain| count(&domains, domain))
                    .sum()
            })
            .collect())
    }

    /// Scales between the lowest and the highest score, truncating as
    /// upstream's float arithmetic does; all 0 when every node scores the
    /// same (which also covers a skipped pod, whose scores are all 0).
    fn normalize_scores(&self, _pod: &Pod, scores: &mut [i64]) -> Result<(), String> {
        let min = scores.iter().copied().min().unwrap_or(0);
        let max = scores.iter().copied().max().unwrap_or(0);
        let spread = max - min;
        for score in scores.iter_mut() {
            *score = if spread > 0 {
                (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / spread as f64)) as i64
            } else {
                0
            };
        }
        Ok(())
    }
}

kws_plugin_sdk::export_plugin!(InterPodAffinity);

#[cfg(test)]
mod tests;
