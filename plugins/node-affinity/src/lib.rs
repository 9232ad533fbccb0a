//! NodeAffinity: places pods by node labels, as kube-scheduler's plugin of
//! the same name (v1.37).
//!
//! Filter: a node fits when
//! 1. it matches the profile's `addedAffinity` required terms, if set
//!    (else [`ERR_REASON_ENFORCED`]), and
//! 2. it carries every label of the pod's `nodeSelector` and matches one of
//!    the pod's required node affinity terms, if the pod has them;
//!    `required: Some([])` matches no node (else [`ERR_REASON_POD`]).
//!
//! PreFilter, as upstream's: Skip for a pod with neither a node selector
//! nor required node affinity when the profile adds none (Filter then never
//! runs for it); when every required term pins node names
//! (`matchFields` `metadata.name In`), the union of those names is the
//! only nodes the cycle tries, and a pod whose pins cannot all hold is
//! rejected for every node ([`ERR_REASON_CONFLICT`]). Every failure is
//! unresolvable: only a change to the pod, the node's labels or the profile
//! makes the node fit. Matching itself is in [`selector`].
//!
//! PreScore: Skip for a pod without preferred terms when the profile adds
//! none; it also refuses a preferred term that cannot be parsed. Score:
//! the sum of the weights of the pod's preferred terms that match, plus
//! those of `addedAffinity`'s preferred terms. Normalised with
//! kube-scheduler's DefaultNormalizeScore, so the best nodes score 100.

use kws_plugin_sdk::selector::matches_required_node_affinity;
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NodeInfo,
    NodeSelectorTerm, Operator, Plugin, Pod, PreFilterResult, PreferredSchedulingTerm,
    QueueingHint, RegisteredEvent, Status, default_normalize_score, objects,
};
use std::collections::BTreeSet;

mod args;
pub mod selector;

pub use args::NodeAffinityArgs;

/// The pod's node selector or required affinity does not match.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// The profile's `addedAffinity` does not match.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// Every required term pins the node name (`matchFields` `metadata.name In`)
/// and no name satisfies any term: PreFilter rejects the pod.
pub const ERR_REASON_CONFLICT: &str = "pod affinity terms conflict";

/// Where a pod's preferred terms live, for the errors Score returns.
const POD_PREFERRED: &str =
    "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution";

pub struct NodeAffinity {
    /// `addedAffinity` required terms; `None` when the profile sets none.
    added_required: Option<Vec<NodeSelectorTerm>>,
    added_preferred: Vec<PreferredSchedulingTerm>,
}

impl Plugin for NodeAffinity {
    const NAME: &'static str = "NodeAffinity";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::PreScore,
        ExtensionPoint::Score,
        ExtensionPoint::NormalizeScore,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = NodeAffinityArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeLabel],
            )
            .with_hint(),
        ]
    }

    fn new(args: NodeAffinityArgs) -> Result<Self, String> {
        let (added_required, added_preferred) = args.into_added()?;
        Ok(NodeAffinity {
            added_required,
            added_preferred,
        })
    }

    fn pre_filter(&self, pod: &Pod, _: &Cluster, _: &mut CycleState) -> PreFilterResult {
        let required = pod.node_affinity.as_ref().and_then(|a| a.required.as_ref());
        if required.is_none() && self.added_required.is_none() && pod.node_selector.is_empty() {
            return PreFilterResult::skip();
        }
        match pinned_names(pod) {
            None => PreFilterResult::all(),
            Some(names) if names.is_empty() => {
                PreFilterResult::rejected(Status::unresolvable(ERR_REASON_CONFLICT))
            }
            Some(names) => PreFilterResult::only(names.into_iter().collect()),
        }
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let node = &node.node;
        if let Some(terms) = &self.added_required
            && !selector::matches_any(terms, node)
        {
            return Status::unresolvable(ERR_REASON_ENFORCED);
        }
        if !matches_required_node_affinity(pod, node) {
            return Status::unresolvable(ERR_REASON_POD);
        }
        Status::success()
    }

    /// Fails, as upstream's does, when one of the pod's preferred terms
    /// cannot be parsed (the apiserver refuses such pods).
    fn pre_score(&self, pod: &Pod, _: &Cluster, _: &[&NodeInfo], _: &mut CycleState) -> Status {
        let preferred = preferred(pod);
        if preferred.is_empty() && self.added_preferred.is_empty() {
            return Status::skip();
        }
        match selector::validate_preferred(preferred, POD_PREFERRED) {
            Ok(()) => Status::success(),
            Err(e) => Status::error(e),
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        Ok(selector::preferred_score(&self.added_preferred, &node.node)
            + selector::preferred_score(preferred(pod), &node.node))
    }

    fn normalize_scores(&self, _pod: &Pod, scores: &mut [i64]) -> Result<(), String> {
        default_normalize_score(scores, false);
        Ok(())
    }

    /// Upstream's: the node matches the profile's added affinity and the
    /// pod's required affinity now, and it is new or did not match before.
    fn queueing_hint(
        &self,
        pod: &Pod,
        _: &Cluster,
        _: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let Some((old, new)) = objects::node_change(old, new)? else {
            return Ok(QueueingHint::Skip);
        };
        let enforced = self
            .added_required
            .as_ref()
            .is_none_or(|terms| selector::matches_any(terms, &new));
        if !enforced || !matches_required_node_affinity(pod, &new) {
            return Ok(QueueingHint::Skip);
        }
        let matched_before = old.is_some_and(|old| matches_required_node_affinity(pod, &old));
        Ok(if matched_before {
            QueueingHint::Skip
        } else {
            QueueingHint::Queue
        })
    }
}

/// The pod's preferred node affinity terms.
fn preferred(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.node_affinity.as_ref().map_or(&[][..], |a| &a.preferred)
}

/// The only nodes the pod's required terms can match when every term pins
/// node names (`metadata.name In`): per term the names all its pins share,
/// over the terms their union. `None` when some term pins none (or there
/// are no terms), so any node may match; empty when no name can.
fn pinned_names(pod: &Pod) -> Option<BTreeSet<String>> {
    let terms = pod.node_affinity.as_ref()?.required.as_ref()?;
    if terms.is_empty() {
        return None;
    }
    let mut union = BTreeSet::new();
    for term in terms {
        let mut pins = term
            .match_fields
            .iter()
            .filter(|r| r.key == selector::NODE_NAME_FIELD && r.operator == Operator::In);
        let first = pins.next()?;
        let mut shared: BTreeSet<&String> = first.values.iter().collect();
        for pin in pins {
            shared.retain(|name| pin.values.contains(name));
        }
        union.extend(shared.into_iter().cloned());
    }
    Some(union)
}

kws_plugin_sdk::export_plugin!(NodeAffinity);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod, requirement};
    use kws_plugin_sdk::{Change, Code, Node, NodeAffinity as Affinity, Requirement, Runner};

    fn labels_term(requirements: Vec<Requirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: requirements,
            match_fields: vec![],
        }
    }

    fn names_term(pins: &[&[&str]]) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: pins
                .iter()
                .map(|names| requirement(selector::NODE_NAME_FIELD, Operator::In, names))
                .collect(),
        }
    }

    fn required(terms: Vec<NodeSelectorTerm>) -> Affinity {
        Affinity {
            required: Some(terms),
            preferred: vec![],
        }
    }

    fn preferred(terms: &[(i32, Requirement)]) -> Affinity {
        Affinity {
            required: None,
            preferred: terms
                .iter()
                .map(|(weight, r)| PreferredSchedulingTerm {
                    weight: *weight,
                    preference: labels_term(vec![r.clone()]),
                })
                .collect(),
        }
    }

    fn plugin(args: &str) -> NodeAffinity {
        let args = serde_json::from_str(args).expect("args parse");
        NodeAffinity::new(args).expect("args are valid")
    }

    fn verdict(p: &NodeAffinity, pod: &Pod, n: Node) -> Status {
        p.filter(pod, &node_info(0, n, vec![]))
    }

    fn zone(name: &str, zone: &str) -> Node {
        node(name).label("zone", zone).build()
    }

    #[test]
    fn pods_without_constraints_fit_everywhere() {
        let s = verdict(&plugin("{}"), &pod("d", "p").build(), zone("n1", "a"));
        assert_eq!(s, Status::success());
    }

    #[test]
    fn node_selector_needs_every_label() {
        let p = plugin("{}");
        let wants = pod("d", "p")
            .node_selector("zone", "a")
            .node_selector("disk", "ssd");
        let wants = wants.build();
        let both = node("n1").label("zone", "a").label("disk", "ssd").build();
        assert!(verdict(&p, &wants, both).passes());
        let status = verdict(&p, &wants, zone("n2", "a"));
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.reasons,
            ["node(s) didn't match Pod's node affinity/selector"]
        );
    }

    #[test]
    fn required_terms_are_ored_and_anded_with_the_node_selector() {
        let p = plugin("{}");
        let a_or_b = required(vec![
            labels_term(vec![requirement("zone", Operator::In, &["a"])]),
            labels_term(vec![requirement("zone", Operator::In, &["b"])]),
        ]);
        let affinity = pod("d", "p").node_affinity(a_or_b.clone()).build();
        assert!(verdict(&p, &affinity, zone("n1", "a")).passes());
        assert!(verdict(&p, &affinity, zone("n2", "b")).passes());
        let status = verdict(&p, &affinity, zone("n3", "c"));
        assert_eq!(status, Status::unresolvable(ERR_REASON_POD));

        let both = pod("d", "p")
            .node_selector("disk", "ssd")
            .node_affinity(a_or_b)
            .build();
        assert!(!verdict(&p, &both, zone("n1", "a")).passes());
        let ssd_in_a = node("n1").label("zone", "a").label("disk", "ssd").build();
        assert!(verdict(&p, &both, ssd_in_a).passes());
    }

    #[test]
    fn an_empty_required_list_or_term_matches_no_node() {
        let p = plugin("{}");
        let none = pod("d", "p").node_affinity(required(vec![])).build();
        assert_eq!(
            verdict(&p, &none, zone("n1", "a")),
            Status::unresolvable(ERR_REASON_POD)
        );
        let empty_term = pod("d", "p").node_affinity(required(vec![labels_term(vec![])]));
        let status = verdict(&p, &empty_term.build(), zone("n1", "a"));
        assert_eq!(status, Status::unresolvable(ERR_REASON_POD));
    }

    #[test]
    fn required_terms_with_unparsable_values_just_do_not_match() {
        let p = plugin("{}");
        let bad = required(vec![labels_term(vec![requirement(
            "cores",
            Operator::Gt,
            &["many"],
        )])]);
        let n = node("n1").label("cores", "8").build();
        let status = verdict(&p, &pod("d", "p").node_affinity(bad).build(), n);
        assert_eq!(status, Status::unresolvable(ERR_REASON_POD));
    }

    #[test]
    fn match_fields_pin_node_names() {
        let p = plugin("{}");
        let pinned = pod("d", "p")
            .node_affinity(required(vec![names_term(&[&["n1"]])]))
            .build();
        assert!(verdict(&p, &pinned, zone("n1", "a")).passes());
        assert_eq!(
            verdict(&p, &pinned, zone("n2", "a")),
            Status::unresolvable(ERR_REASON_POD)
        );
    }

    fn pre_filter(p: &NodeAffinity, pod: &Pod) -> PreFilterResult {
        p.pre_filter(pod, &Cluster::default(), &mut CycleState::default())
    }

    #[test]
    fn pre_filter_skips_a_pod_without_selector_or_required_terms() {
        let p = plugin("{}");
        let skipped = |pod: &Pod| pre_filter(&p, pod).status.code == Code::Skip;
        assert!(skipped(&pod("d", "p").build()));
        assert!(skipped(
            &pod("d", "p").node_affinity(preferred(&[])).build()
        ));
        assert!(!skipped(&pod("d", "p").node_selector("zone", "a").build()));
        assert!(!skipped(
            &pod("d", "p").node_affinity(required(vec![])).build()
        ));
        // A profile's added affinity applies to every pod.
        assert_eq!(
            pre_filter(&plugin(ADDED_REQUIRED), &pod("d", "p").build()).status,
            Status::success()
        );
    }

    #[test]
    fn pre_filter_narrows_to_the_pinned_names() {
        let p = plugin("{}");
        let names = |terms: Vec<NodeSelectorTerm>| {
            pre_filter(&p, &pod("d", "p").node_affinity(required(terms)).build()).node_names
        };
        assert_eq!(
            names(vec![
                names_term(&[&["n1", "n2"], &["n2", "n3"]]),
                names_term(&[&["n4"]])
            ]),
            Some(vec!["n2".to_string(), "n4".to_string()])
        );
        // A term that pins no name lets any node match it.
        assert_eq!(
            names(vec![
                names_term(&[&["n1"]]),
                labels_term(vec![requirement("zone", Operator::Exists, &[])])
            ]),
            None
        );
    }

    #[test]
    fn terms_pinning_disjoint_names_conflict_at_pre_filter() {
        let p = plugin("{}");
        // Each term asks for n1 and n2 at once: no node can satisfy either.
        let conflict = required(vec![
            names_term(&[&["n1"], &["n2"]]),
            names_term(&[&["n3"], &["n4"]]),
        ]);
        let result = pre_filter(&p, &pod("d", "p").node_affinity(conflict).build());
        assert_eq!(result.status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(result.status.reasons, ["pod affinity terms conflict"]);
    }

    const ADDED_REQUIRED: &str = r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}"#;

    #[test]
    fn added_affinity_is_enforced_first_with_its_own_reason() {
        let p = plugin(ADDED_REQUIRED);
        let in_b = pod("d", "p").node_selector("zone", "b").build();
        assert_eq!(
            verdict(&p, &in_b, zone("n1", "a")),
            Status::unresolvable(ERR_REASON_POD)
        );
        let status = verdict(&p, &in_b, zone("n2", "b"));
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.reasons,
            ["node(s) didn't match scheduler-enforced node affinity"]
        );
        assert!(verdict(&p, &pod("d", "p").build(), zone("n1", "a")).passes());
    }

    #[test]
    fn added_affinity_with_no_terms_matches_no_node() {
        let p = plugin(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}"#,
        );
        assert_eq!(
            verdict(&p, &pod("d", "p").build(), zone("n1", "a")),
            Status::unresolvable(ERR_REASON_ENFORCED)
        );
        let preferred_only =
            plugin(r#"{"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}"#);
        assert!(verdict(&preferred_only, &pod("d", "p").build(), zone("n1", "a")).passes());
    }

    #[test]
    fn score_sums_matching_weights_of_the_pod_and_the_profile() {
        let p = plugin(
            r#"{"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
                {"weight": 0, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
            ]}}"#,
        );
        let prefs = preferred(&[
            (30, requirement("zone", Operator::In, &["a"])),
            (20, requirement("cores", Operator::Gt, &["4"])),
            (40, requirement("zone", Operator::In, &["b"])),
        ]);
        let pod = pod("d", "p").node_affinity(prefs).build();
        let n = node("n1")
            .label("zone", "a")
            .label("cores", "8")
            .label("disk", "ssd");
        let score = |n: Node| p.score(&pod, &node_info(0, n, vec![])).unwrap();
        assert_eq!(score(n.build()), 5 + 30 + 20);
        assert_eq!(score(zone("n2", "b")), 40);
        assert_eq!(score(node("n3").build()), 0);
        assert_eq!(
            plugin("{}").score(&pod.clone(), &node_info(0, zone("n4", "a"), vec![])),
            Ok(30)
        );
    }

    fn pre_score(p: &NodeAffinity, pod: &Pod) -> Status {
        p.pre_score(pod, &Cluster::default(), &[], &mut CycleState::default())
    }

    #[test]
    fn pre_score_skips_a_pod_without_preferred_terms() {
        let with = pod("d", "p")
            .node_affinity(preferred(&[(
                1,
                requirement("zone", Operator::Exists, &[]),
            )]))
            .build();
        let without = pod("d", "p").node_selector("zone", "a").build();
        assert_eq!(pre_score(&plugin("{}"), &with), Status::success());
        assert_eq!(pre_score(&plugin("{}"), &without).code, Code::Skip);
        let added = plugin(
            r#"{"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}]}}"#,
        );
        assert_eq!(pre_score(&added, &without), Status::success());
    }

    #[test]
    fn pre_score_fails_on_an_unparsable_preferred_term() {
        let bad = preferred(&[(10, requirement("cores", Operator::Gt, &["x"]))]);
        let status = pre_score(&plugin("{}"), &pod("d", "p").node_affinity(bad).build());
        assert_eq!(
            status,
            Status::error(
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]\
                 .preference.matchExpressions[0].values[0]: for 'Gt', 'Lt' operators, the value must be an integer"
            )
        );
    }

    fn normalized(scores: &[i64]) -> Vec<i64> {
        let mut scores = scores.to_vec();
        plugin("{}")
            .normalize_scores(&pod("d", "p").build(), &mut scores)
            .unwrap();
        scores
    }

    #[test]
    fn normalize_scales_to_the_best_node_with_integer_division() {
        // max 25: 100*10/25 = 40, 100*25/25 = 100, 100*0/25 = 0
        assert_eq!(normalized(&[10, 25, 0]), [40, 100, 0]);
        // max 3: 100*1/3 = 33 (33.3 truncated), 100*2/3 = 66 (66.6 truncated)
        assert_eq!(normalized(&[1, 2, 3]), [33, 66, 100]);
        // max 0: left as they are
        assert_eq!(normalized(&[0, 0]), [0, 0]);
        assert_eq!(normalized(&[]), [0; 0]);
    }

    fn refused(args: &str) -> String {
        match Runner::<NodeAffinity>::configured(args) {
            Ok(_) => panic!("args accepted: {args}"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_args_are_refused_naming_the_field() {
        let e = refused(r#"{"addedAfinity": {}}"#);
        assert!(
            e.starts_with("invalid args: unknown field `addedAfinity`"),
            "{e}"
        );
        let e = refused(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"terms": []}}}"#,
        );
        assert!(e.contains("unknown field `terms`"), "{e}");
        let e = refused(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "Equals", "values": ["a"]}]}]}}}"#,
        );
        assert!(
            e.starts_with(
                "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution\
             .nodeSelectorTerms[0].matchExpressions[0].operator: unsupported value \"Equals\""
            ),
            "{e}"
        );
        let e = refused(
            r#"{"addedAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1,
                "preference": {"matchFields": [{"key": "metadata.name", "operator": "In", "values": []}]}}]}}"#,
        );
        assert_eq!(
            e,
            "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]\
             .preference.matchFields[0].values: must have one element"
        );
        let e = refused(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["ten"]}]}]}}}"#,
        );
        assert!(e.ends_with("nodeSelectorTerms[0].matchExpressions[0].values[0]: for 'Gt', 'Lt' operators, the value must be an integer"), "{e}");
    }

    #[test]
    fn runs_through_the_runner() {
        let mut runner = Runner::<NodeAffinity>::configured(ADDED_REQUIRED).unwrap();
        runner.apply(vec![
            Change::NodeSet((0, zone("n0", "a"))),
            Change::NodeSet((1, zone("n1", "b"))),
            Change::NodeSet((
                2,
                node("n2").label("zone", "a").label("disk", "ssd").build(),
            )),
        ]);
        let p = pod("d", "p")
            .node_affinity(preferred(&[(
                10,
                requirement("disk", Operator::Exists, &[]),
            )]))
            .build();
        let rejected = runner.filter(0, &p, &[0, 1, 2]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].node, 1);
        assert_eq!(
            rejected[0].status,
            Status::unresolvable(ERR_REASON_ENFORCED)
        );
        let scores = runner.score(0, &p, &[0, 2]).unwrap();
        assert_eq!(scores, [0, 10]);
        assert_eq!(
            runner.normalize_scores(0, &p, &[0, 2], scores).unwrap(),
            [0, 100]
        );
    }

    fn node_event(action: ActionType) -> ClusterEvent {
        ClusterEvent {
            resource: EventResource::Node,
            action,
        }
    }

    #[test]
    fn hints_queue_when_a_node_comes_to_match() {
        let in_a = r#"{"metadata": {"name": "n", "labels": {"zone": "a"}}}"#;
        let in_b = r#"{"metadata": {"name": "n", "labels": {"zone": "b"}}}"#;
        let in_a_ssd = r#"{"metadata": {"name": "n", "labels": {"zone": "a", "disk": "ssd"}}}"#;
        let wants_a = pod("d", "p").node_selector("zone", "a").build();
        let hint = |p: &NodeAffinity, old: Option<&str>, new: &str| {
            p.queueing_hint(
                &wants_a,
                &Cluster::default(),
                &node_event(ActionType::UpdateNodeLabel),
                old,
                Some(new),
            )
            .unwrap()
        };
        let p = plugin("{}");
        assert_eq!(hint(&p, None, in_a), QueueingHint::Queue);
        assert_eq!(hint(&p, None, in_b), QueueingHint::Skip);
        assert_eq!(hint(&p, Some(in_b), in_a), QueueingHint::Queue);
        assert_eq!(
            hint(&p, Some(in_a), in_a_ssd),
            QueueingHint::Skip,
            "matched before"
        );
        let enforced = plugin(
            r#"{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "Exists"}]}]}}}"#,
        );
        assert_eq!(hint(&enforced, Some(in_b), in_a), QueueingHint::Skip);
        assert_eq!(hint(&enforced, Some(in_b), in_a_ssd), QueueingHint::Queue);
    }
}
