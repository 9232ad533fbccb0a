//! InterPodAffinity: places pods near or away from other pods, as
//! kube-scheduler's plugin of the same name (v1.37, without the alpha
//! `InterPodAffinityHostnameFastPath`, which is off by default).
//!
//! PreFilter counts, once per cycle over the whole cluster, what Filter
//! then checks per node, and returns Skip, as upstream's, when the pod has
//! no required terms and no existing pod's required anti-affinity matches
//! it. Filter:
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
//! PreScore works out the domains' scores once per cycle and returns Skip
//! when no term applies anywhere (or, with
//! `ignorePreferredTermsOfExistingPods`, when the pod has no preferred
//! terms), as upstream's.
//!
//! A term's `namespaceSelector` is resolved against the namespaces the host
//! sends; terms with neither namespaces nor a selector look in the pod's
//! own namespace. `matchLabelKeys`/`mismatchLabelKeys` are merged into the
//! label selector by the apiserver when the pod is created, so they are not
//! applied again here.

mod args;

use args::InterPodAffinityArgs;
use kws_plugin_sdk::affinity::{
    AffinityTerm, AffinityTerms, preferred_affinity, preferred_anti_affinity, required_affinity,
    required_anti_affinity,
};
use kws_plugin_sdk::{
    ActionType, Cluster, CycleState, EventResource, ExtensionPoint, Labels, MAX_NODE_SCORE,
    NodeInfo, Plugin, Pod, PreFilterResult, RegisteredEvent, Status,
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

/// A topology domain: a node label's key and value.
type Domain<'a> = (&'a str, &'a str);

/// Pods (or terms) counted per topology domain: per key, per value. Owned,
/// so that it can be kept in the cycle's state.
#[derive(Clone, Default)]
struct Counts(BTreeMap<String, BTreeMap<String, i64>>);

impl Counts {
    fn add(&mut self, (key, value): Domain<'_>, amount: i64) {
        let values = match self.0.get_mut(key) {
            Some(values) => values,
            None => self.0.entry(key.to_string()).or_default(),
        };
        match values.get_mut(value) {
            Some(count) => *count += amount,
            None => {
                values.insert(value.to_string(), amount);
            }
        }
    }

    /// Adds `amount` (maybe negative) and drops a count that reaches 0, as
    /// upstream's `topologyToMatchedTermCount.update`: a domain whose
    /// matching pods all went counts as never having had any.
    fn update(&mut self, domain: Domain<'_>, amount: i64) {
        self.add(domain, amount);
        let (key, value) = domain;
        if let Some(values) = self.0.get_mut(key) {
            if values.get(value) == Some(&0) {
                values.remove(value);
            }
            if values.is_empty() {
                self.0.remove(key);
            }
        }
    }

    fn get(&self, (key, value): Domain<'_>) -> i64 {
        self.0
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The topology keys counted, each once.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// PreFilter's state.
#[derive(Clone)]
struct Affinity {
    affinity: Vec<AffinityTerm>,
    anti_affinity: Vec<AffinityTerm>,
    /// Pods matching all the affinity terms, per domain of each term.
    affinity_counts: Counts,
    /// Pods matching an anti-affinity term, per domain of that term.
    anti_affinity_counts: Counts,
    /// Existing pods' anti-affinity terms matching the incoming pod, per
    /// domain of the existing pod's node.
    existing_anti_affinity_counts: Counts,
    matches_itself: bool,
    /// The labels of the pod's namespace, which existing pods' terms are
    /// matched against.
    namespace_labels: Labels,
}

impl Affinity {
    /// `None` when nothing constrains the pod (PreFilter `Skip`).
    fn new(pod: &Pod, cluster: &Cluster) -> Result<Option<Affinity>, String> {
        let mut affinity = required_affinity(pod)?;
        let mut anti_affinity = required_anti_affinity(pod)?;
        for term in affinity.iter_mut().chain(&mut anti_affinity) {
            term.resolve_namespaces(cluster);
        }
        let no_labels = Labels::new();
        let namespace_labels = cluster
            .namespace_labels(&pod.namespace)
            .unwrap_or(&no_labels);

        let mut existing_anti_affinity_counts = Counts::default();
        for node in cluster.nodes() {
            for existing in node.pods_with_required_anti_affinity() {
                for term in &existing.terms.required_anti_affinity {
                    if term.matches(pod, namespace_labels)
                        && let Some(domain) = term.domain(node)
                    {
                        existing_anti_affinity_counts.add(domain, 1);
                    }
                }
            }
        }

        let mut affinity_counts = Counts::default();
        let mut anti_affinity_counts = Counts::default();
        if !affinity.is_empty() || !anti_affinity.is_empty() {
            for node in cluster.nodes() {
                for existing in &node.pods {
                    if matches_all(&affinity, existing) {
                        for domain in affinity.iter().filter_map(|t| t.domain(node)) {
                            affinity_counts.add(domain, 1);
                        }
                    }
                    for term in &anti_affinity {
                        if term.matches(existing, &no_labels)
                            && let Some(domain) = term.domain(node)
                        {
                            anti_affinity_counts.add(domain, 1);
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
            existing_anti_affinity_counts,
            matches_itself,
            namespace_labels: namespace_labels.clone(),
        }))
    }

    /// Counts `pod` on `node` once more (`multiplier` 1) or once less (-1):
    /// a what-if cycle placed it there or took it away (upstream's
    /// `updateWithPod`, for AddPod and RemovePod). `terms` are its own
    /// terms, parsed as placed pods' are.
    fn update_with_pod(
        &mut self,
        incoming: &Pod,
        pod: &Pod,
        terms: &AffinityTerms,
        node: &NodeInfo,
        multiplier: i64,
    ) {
        for term in &terms.required_anti_affinity {
            if term.matches(incoming, &self.namespace_labels)
                && let Some(domain) = term.domain(node)
            {
                self.existing_anti_affinity_counts
                    .update(domain, multiplier);
            }
        }
        if matches_all(&self.affinity, pod) {
            for domain in self.affinity.iter().filter_map(|t| t.domain(node)) {
                self.affinity_counts.update(domain, multiplier);
            }
        }
        for term in &self.anti_affinity {
            if term.matches(pod, &Labels::new())
                && let Some(domain) = term.domain(node)
            {
                self.anti_affinity_counts.update(domain, multiplier);
            }
        }
    }

    fn filter(&self, node: &NodeInfo) -> Status {
        if !self.satisfies_affinity(node) {
            return Status::unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH);
        }
        let anti_affinity_conflict = !self.anti_affinity_counts.is_empty()
            && self.anti_affinity.iter().any(|t| {
                t.domain(node)
                    .is_some_and(|d| self.anti_affinity_counts.get(d) > 0)
            });
        if anti_affinity_conflict {
            return Status::unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH);
        }
        let existing_conflict = self
            .existing_anti_affinity_counts
            .keys()
            .filter_map(|key| node.label_pair(key))
            .any(|domain| self.existing_anti_affinity_counts.get(domain) > 0);
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
            if self.affinity_counts.get(domain) <= 0 {
                pods_exist = false;
            }
        }
        // The first pod of a group that selects itself may go anywhere the
        // topology keys exist, as long as no matching pod runs anywhere.
        pods_exist || (self.affinity_counts.is_empty() && self.matches_itself)
    }
}

impl InterPodAffinity {
    /// PreScore: the score of each topology domain, or `None` when no term
    /// applies anywhere (PreScore `Skip`).
    fn domain_scores(&self, pod: &Pod, cluster: &Cluster) -> Result<Option<Counts>, String> {
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
        let mut scores = Counts::default();
        let nodes = cluster
            .nodes()
            .filter(|n| has_constraints || !n.pods_with_affinity.is_empty())
            .filter(|n| !n.node.labels.is_empty());
        for node in nodes {
            let mut add = |term: &AffinityTerm, weight: i64| {
                if let Some(domain) = term.domain(node) {
                    scores.add(domain, weight);
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
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::PreScore,
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

    fn pre_filter(&self, pod: &Pod, cluster: &Cluster, state: &mut CycleState) -> PreFilterResult {
        match Affinity::new(pod, cluster) {
            Ok(Some(affinity)) => {
                state.write(affinity);
                PreFilterResult::all()
            }
            Ok(None) => PreFilterResult::skip(),
            Err(e) => PreFilterResult::rejected(Status::unresolvable(format!("parsing pod: {e}"))),
        }
    }

    /// A what-if cycle placed `pod` on `node` (upstream's AddPod).
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &Pod,
        pod: &Pod,
        node: &NodeInfo,
    ) -> Status {
        let Some(affinity) = state.read_mut::<Affinity>() else {
            return no_pre_filter_state();
        };
        let terms = AffinityTerms::of_placed(pod);
        affinity.update_with_pod(pod_to_schedule, pod, &terms, node, 1);
        Status::success()
    }

    /// A what-if cycle took the pod `uid` off `node` (upstream's
    /// RemovePod): once a victim is gone, a pod the incoming one needed
    /// near it may be gone too.
    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod_to_schedule: &Pod,
        uid: &str,
        node: &NodeInfo,
    ) -> Status {
        let Some(affinity) = state.read_mut::<Affinity>() else {
            return no_pre_filter_state();
        };
        let Some(pod) = node.pods.iter().find(|p| p.uid == uid) else {
            return Status::success();
        };
        let terms = node
            .pods_with_affinity
            .iter()
            .find(|p| p.uid == uid)
            .map_or_else(AffinityTerms::default, |p| p.terms.clone());
        affinity.update_with_pod(pod_to_schedule, pod, &terms, node, -1);
        Status::success()
    }

    fn filter_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        match state.read::<Affinity>() {
            Some(affinity) => nodes.iter().map(|node| affinity.filter(node)).collect(),
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
        _: &[&NodeInfo],
        state: &mut CycleState,
    ) -> Status {
        match self.domain_scores(pod, cluster) {
            Ok(Some(scores)) => {
                state.write(scores);
                Status::success()
            }
            Ok(None) => Status::skip(),
            Err(e) => Status::error(e),
        }
    }

    fn score_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        let domains = state
            .read::<Counts>()
            .ok_or_else(|| format!("{} found no PreScore state", Self::NAME))?;
        Ok(nodes
            .iter()
            .map(|node| {
                domains
                    .keys()
                    .filter_map(|key| node.label_pair(key))
                    .map(|domain| domains.get(domain))
                    .sum()
            })
            .collect())
    }

    /// Scales between the lowest and the highest score, truncating as
    /// upstream's float arithmetic does; all 0 when every node scores the
    /// same.
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

/// AddPod or RemovePod in a cycle whose PreFilter kept nothing: an error,
/// as upstream's `getPreFilterState`.
fn no_pre_filter_state() -> Status {
    Status::error(format!(
        "error reading \"PreFilter{}\" from cycleState: not found",
        InterPodAffinity::NAME
    ))
}

kws_plugin_sdk::export_plugin!(InterPodAffinity);

#[cfg(test)]
mod tests;
