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
//! Before both, a pod whose required terms all pin node names that cannot
//! all hold fails on every node ([`ERR_REASON_CONFLICT`]). Every failure is
//! unresolvable: only a change to the pod, the node's labels or the profile
//! makes the node fit. Matching itself is in [`selector`].
//!
//! Score: the sum of the weights of the pod's preferred terms that match,
//! plus those of `addedAffinity`'s preferred terms. Normalised with
//! kube-scheduler's DefaultNormalizeScore, so the best nodes score 100.

use kws_plugin_sdk::selector::matches_required_node_affinity;
use kws_plugin_sdk::{
    ActionType, EventResource, ExtensionPoint, NodeInfo, NodeSelectorTerm, Operator, Plugin, Pod,
    PreferredSchedulingTerm, RegisteredEvent, Status, default_normalize_score,
};

mod args;
pub mod selector;

pub use args::NodeAffinityArgs;

/// The pod's node selector or required affinity does not match.
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";
/// The profile's `addedAffinity` does not match.
pub const ERR_REASON_ENFORCED: &str = "node(s) didn't match scheduler-enforced node affinity";
/// Every required term pins the node name (`matchFields` `metadata.name In`)
/// and no name satisfies any term. Upstream reports this from PreFilter, for
/// the whole pod; here every node reports it.
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
        ExtensionPoint::Filter,
        ExtensionPoint::Score,
        ExtensionPoint::NormalizeScore,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = NodeAffinityArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![RegisteredEvent::on(
            EventResource::Node,
            &[ActionType::Add, ActionType::UpdateNodeLabel],
        )]
    }

    fn new(args: NodeAffinityArgs) -> Result<Self, String> {
        let (added_required, added_preferred) = args.into_added()?;
        Ok(NodeAffinity {
            added_required,
            added_preferred,
        })
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let node = &node.node;
        if pinned_names_conflict(pod) {
            return Status::unresolvable(ERR_REASON_CONFLICT);
        }
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

    /// Fails, as upstream's PreScore does, when one of the pod's preferred
    /// terms cannot be parsed (the apiserver refuses such pods).
    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        let preferred = pod.node_affinity.as_ref().map_or(&[][..], |a| &a.preferred);
        selector::validate_preferred(preferred, POD_PREFERRED)?;
        Ok(selector::preferred_score(&self.added_preferred, &node.node)
            + selector::preferred_score(preferred, &node.node))
    }

    fn normalize_scores(&self, _pod: &Pod, scores: &mut [i64]) -> Result<(), String> {
        default_normalize_score(scores, false);
        Ok(())
    }
}

/// Upstream's PreFilter check: true when every required term has
/// `metadata.name In` requirements and, in each term, no name is in all of
/// them.
fn pinned_names_conflict(pod: &Pod) -> bool {
    let Some(terms) = pod.node_affinity.as_ref().and_then(|a| a.required.as_ref()) else {
        return false;
    };
    let no_name_in_all = |term: &NodeSelectorTerm| {
        let mut pins = term
            .match_fields
            .iter()
            .filter(|r| r.key == selector::NODE_NAME_FIELD && r.operator == Operator::In);
        let Some(first) = pins.next() else {
            return false; // the term does not pin names: any node may match it
        };
        let rest: Vec<_> = pins.collect();
        !first
            .values
            .iter()
            .any(|name| rest.iter().all(|r| r.values.contains(name)))
    };
    !terms.is_empty() && terms.iter().all(no_name_in_all)
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

    #[test]
    fn terms_pinning_disjoint_names_conflict() {
        let p = plugin("{}");
        // Each term asks for n1 and n2 at once: no node can satisfy either.
        let conflict = required(vec![
            names_term(&[&["n1"], &["n2"]]),
            names_term(&[&["n3"], &["n4"]]),
        ]);
        let status = verdict(
            &p,
            &pod("d", "p").node_affinity(conflict).build(),
            zone("n1", "a"),
        );
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["pod affinity terms conflict"]);

        // One satisfiable term, or one term that does not pin names, is no conflict.
        for other in [
            names_term(&[&["n1"], &["n1"]]),
            labels_term(vec![requirement("zone", Operator::Exists, &[])]),
        ] {
            let fine = required(vec![names_term(&[&["n1"], &["n2"]]), other]);
            assert!(
                verdict(
                    &p,
                    &pod("d", "p").node_affinity(fine).build(),
                    zone("n1", "a")
                )
                .passes()
            );
        }
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

    #[test]
    fn score_fails_on_an_unparsable_preferred_term() {
        let bad = preferred(&[(10, requirement("cores", Operator::Gt, &["x"]))]);
        let err = plugin("{}").score(
            &pod("d", "p").node_affinity(bad).build(),
            &node_info(0, zone("n1", "a"), vec![]),
        );
        assert_eq!(
            err,
            Err("spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]\
                 .preference.matchExpressions[0].values[0]: for 'Gt', 'Lt' operators, the value must be an integer"
                .to_string())
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
            e.starts_with("NodeAffinity: invalid args: unknown field `addedAfinity`"),
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
                "NodeAffinity: addedAffinity.requiredDuringSchedulingIgnoredDuringExecution\
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
            "NodeAffinity: addedAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]\
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
}
