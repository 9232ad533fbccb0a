//! Cases ported from kube-scheduler v1.37's `filtering_test.go`
//! (TestSingleConstraint, TestMultipleConstraints) and `scoring_test.go`
//! (TestPodTopologySpreadScore): the same clusters, pods and expected
//! verdicts and normalised scores.

use super::*;
use kws_plugin_sdk::testing::{node, pod, requirement};
use kws_plugin_sdk::{
    Change, Code, LabelSelector, Node, NodeAffinity, NodeSelectorTerm, Operator, PlacedPod, Runner,
    TaintEffect, TopologySpreadConstraint,
};

/// `foo` exists: the selector most upstream cases use.
fn foo() -> Option<LabelSelector> {
    exists("foo")
}

fn exists(key: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: vec![],
        match_expressions: vec![requirement(key, Operator::Exists, &[])],
    })
}

fn spread(
    max_skew: i32,
    key: &str,
    when: WhenUnsatisfiable,
    selector: Option<LabelSelector>,
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew,
        topology_key: key.into(),
        when_unsatisfiable: when,
        label_selector: selector,
        min_domains: None,
        node_affinity_policy: None,
        node_taints_policy: None,
        match_label_keys: vec![],
    }
}

fn hard(max_skew: i32, key: &str, selector: Option<LabelSelector>) -> TopologySpreadConstraint {
    spread(max_skew, key, WhenUnsatisfiable::DoNotSchedule, selector)
}

fn soft(max_skew: i32, key: &str, selector: Option<LabelSelector>) -> TopologySpreadConstraint {
    spread(max_skew, key, WhenUnsatisfiable::ScheduleAnyway, selector)
}

fn incoming(labels: &[&str], constraints: Vec<TopologySpreadConstraint>) -> Pod {
    let mut p = pod("default", "p");
    for l in labels {
        p = p.label(l, "");
    }
    constraints
        .into_iter()
        .fold(p, |p, c| p.topology_spread(c))
        .build()
}

/// `name` labelled with each `key=value`.
fn n(name: &str, labels: &[(&str, &str)]) -> Node {
    labels
        .iter()
        .fold(node(name), |b, (k, v)| b.label(k, v))
        .build()
}

/// A zone-and-node labelled node, as upstream's tables build them.
fn zn(name: &str, zone: &str) -> Node {
    n(name, &[("zone", zone), ("node", name)])
}

fn host(name: &str) -> Node {
    n(name, &[(LABEL_HOSTNAME, name)])
}

/// Existing pods: (node name, labels), in namespace `default` unless a
/// label reads `ns=NAME`; `terminating` marks a pod being deleted.
struct World {
    runner: Runner<PodTopologySpread>,
    names: Vec<String>,
}

/// Existing pods as `world` takes them: (node name, labels).
type Pods = Vec<(&'static str, &'static [&'static str])>;

/// `count` pods labelled `foo` on each node, node after node: the shape
/// most upstream cases give their existing pods.
fn foo_pods(per_node: &[(&'static str, usize)]) -> Pods {
    per_node
        .iter()
        .flat_map(|(node, count)| std::iter::repeat_n((*node, &["foo"][..]), *count))
        .collect()
}

fn world(nodes: Vec<Node>, pods: &[(&str, &[&str])]) -> World {
    let mut runner = Runner::<PodTopologySpread>::configured("{}").unwrap();
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut changes: Vec<Change> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, n)| Change::NodeSet((i as u32, n)))
        .collect();
    for (i, (on, labels)) in pods.iter().enumerate() {
        let mut namespace = "default";
        let mut p = pod("default", &format!("existing-{i}"));
        for l in labels.iter() {
            match l.strip_prefix("ns=") {
                Some(ns) => namespace = ns,
                None if *l == "terminating" => p = p.terminating(),
                None => p = p.label(l, ""),
            }
        }
        let mut p = p.build();
        p.namespace = namespace.to_string();
        p.uid = format!("{namespace}/existing-{i}");
        let node = names.iter().position(|n| n == on).expect("known node") as u32;
        changes.push(Change::PodAdded(PlacedPod { node, pod: p }));
    }
    runner.apply(changes);
    World { runner, names }
}

impl World {
    fn id(&self, name: &str) -> u32 {
        self.names.iter().position(|n| n == name).unwrap() as u32
    }

    /// Every node's filter code, in node order, after PreFilter (all Skip
    /// when it says Skip: Filter does not run).
    fn codes(&mut self, p: &Pod) -> Vec<Code> {
        let ids: Vec<u32> = (0..self.names.len() as u32).collect();
        let pre_filter = self.runner.pre_filter(0, p);
        if pre_filter.status.code == Code::Skip {
            return vec![Code::Skip; ids.len()];
        }
        let rejected = self.runner.filter(0, p, &ids);
        ids.iter()
            .map(|id| {
                rejected
                    .iter()
                    .find(|r| r.node == *id)
                    .map_or(Code::Success, |r| r.status.code)
            })
            .collect()
    }

    /// Normalised scores of the candidate nodes after PreScore (all 0
    /// when it says Skip: the plugin adds nothing).
    fn scores(&mut self, p: &Pod, candidates: &[&str]) -> Vec<i64> {
        let ids: Vec<u32> = candidates.iter().map(|c| self.id(c)).collect();
        let pre_score = self.runner.pre_score(0, p, &ids);
        if pre_score.code == Code::Skip {
            return vec![0; ids.len()];
        }
        assert_eq!(pre_score, Status::success());
        let raw = self.runner.score(0, p, &ids).unwrap();
        self.runner.normalize_scores(0, p, &ids, raw).unwrap()
    }
}

use Code::{Success as S, Unschedulable as U, UnschedulableAndUnresolvable as UU};

#[test]
fn no_existing_pods_every_node_fits() {
    let mut w = world(vec![zn("node-a", "zone1"), zn("node-x", "zone2")], &[]);
    let p = incoming(&["foo"], vec![hard(1, "zone", foo())]);
    assert_eq!(w.codes(&p), [S, S]);
}

#[test]
fn pods_in_other_namespaces_do_not_count() {
    let mut w = world(
        vec![zn("node-a", "zone1"), zn("node-x", "zone2")],
        &[
            ("node-a", &["foo", "ns=ns1"]),
            ("node-a", &["foo", "ns=ns1"]),
        ],
    );
    let p = incoming(&["foo"], vec![hard(1, "zone", foo())]);
    assert_eq!(w.codes(&p), [S, S]);
}

#[test]
fn a_missing_selector_matches_no_pod_not_even_itself() {
    let mut w = world(
        vec![zn("node-a", "zone1"), zn("node-x", "zone2")],
        &[("node-a", &["foo"]), ("node-a", &["foo"])],
    );
    let p = incoming(&["foo"], vec![hard(1, "zone", None)]);
    assert_eq!(w.codes(&p), [S, S]);
}

fn four_nodes() -> Vec<Node> {
    vec![
        zn("node-a", "zone1"),
        zn("node-b", "zone1"),
        zn("node-x", "zone2"),
        zn("node-y", "zone2"),
    ]
}

fn spread_2_1_0_3() -> Pods {
    foo_pods(&[("node-a", 2), ("node-b", 1), ("node-y", 3)])
}

#[test]
fn zones_spread_3_3_all_fit() {
    let mut w = world(four_nodes(), &spread_2_1_0_3());
    let p = incoming(&["foo"], vec![hard(1, "zone", foo())]);
    assert_eq!(w.codes(&p), [S, S, S, S]);
}

#[test]
fn a_node_without_the_key_is_unresolvable_and_its_pods_do_not_count() {
    let mut nodes = four_nodes();
    nodes[1] = n("node-b", &[("zon", "zone1"), ("node", "node-b")]);
    let mut w = world(
        nodes,
        &foo_pods(&[("node-a", 1), ("node-b", 1), ("node-x", 1), ("node-y", 1)]),
    );
    let p = incoming(&["foo"], vec![hard(1, "zone", foo())]);
    assert_eq!(w.codes(&p), [S, UU, U, U]);
    let rejected = w.runner.filter(0, &p, &[1, 2]);
    assert_eq!(
        rejected[0].status.reasons,
        [ERR_REASON_NODE_LABEL_NOT_MATCH]
    );
    assert_eq!(
        rejected[1].status.reasons,
        [ERR_REASON_CONSTRAINTS_NOT_MATCH]
    );
}

#[test]
fn no_node_has_the_key() {
    let mut w = world(vec![zn("node-a", "zone1"), zn("node-x", "zone2")], &[]);
    let p = incoming(&["foo"], vec![hard(1, "rack", foo())]);
    assert_eq!(w.codes(&p), [UU, UU]);
}

#[test]
fn nodes_spread_2_1_0_3() {
    let mut w = world(four_nodes(), &spread_2_1_0_3());
    let p = incoming(&["foo"], vec![hard(1, "node", foo())]);
    assert_eq!(w.codes(&p), [U, U, S, U]);
    let p = incoming(&["foo"], vec![hard(2, "node", foo())]);
    assert_eq!(w.codes(&p), [U, S, S, U], "maxSkew 2");
    let p = incoming(&["bar"], vec![hard(1, "node", foo())]);
    assert_eq!(w.codes(&p), [U, S, S, U], "the pod does not match itself");
}

#[test]
fn required_node_affinity_limits_the_counted_domains() {
    let mut w = world(four_nodes(), &spread_2_1_0_3());
    let p = pod("default", "p")
        .label("foo", "")
        .node_affinity(NodeAffinity {
            required: Some(vec![NodeSelectorTerm {
                match_expressions: vec![requirement("node", Operator::In, &["node-a", "node-y"])],
                match_fields: vec![],
            }]),
            preferred: vec![],
        })
        .topology_spread(hard(1, "node", foo()))
        .build();
    // Only node-a (2) and node-y (3) count: the minimum is 2, so node-a
    // fits; node-b and node-x have no count (0 + 1 - 2 <= 1) and pass here
    // (NodeAffinity rejects them in a real profile).
    assert_eq!(w.codes(&p), [S, S, S, U]);
    // With the policy ignored every domain counts again.
    let mut ignoring = p.clone();
    ignoring.topology_spread_constraints[0].node_affinity_policy = Some(InclusionPolicy::Ignore);
    assert_eq!(w.codes(&ignoring), [U, U, S, U]);
}

#[test]
fn min_domains_makes_the_global_minimum_zero_while_domains_are_missing() {
    let nodes = vec![
        n("node-a", &[("node", "node-a")]),
        n("node-b", &[("node", "node-b")]),
        n("node-c", &[("node", "node-c")]),
    ];
    let pods = foo_pods(&[("node-a", 2), ("node-b", 2), ("node-c", 1)]);
    let mut w = world(nodes, &pods);
    let with_min = |min| {
        let mut c = hard(2, "node", foo());
        c.min_domains = Some(min);
        incoming(&["foo"], vec![c])
    };
    assert_eq!(w.codes(&with_min(4)), [U, U, S]);
    assert_eq!(w.codes(&with_min(2)), [S, S, S]);
}

#[test]
fn min_domains_on_zones() {
    let mut w = world(
        four_nodes(),
        &foo_pods(&[("node-a", 1), ("node-b", 1), ("node-y", 1)]),
    );
    let mut c = hard(2, "zone", foo());
    c.min_domains = Some(3);
    assert_eq!(w.codes(&incoming(&["foo"], vec![c])), [U, U, S, S]);
    let mut c = hard(2, "zone", foo());
    c.min_domains = Some(2);
    assert_eq!(w.codes(&incoming(&["foo"], vec![c])), [S, S, S, S]);
}

#[test]
fn node_taints_policy_honor_leaves_out_untolerated_nodes() {
    // Counts 1/2/0 with node-b tainted. Ignored, node-b's crowded domain
    // counts and rejects it; honoured, node-b's domain is left out, so it
    // counts 0 and fits here (TaintToleration rejects it in a profile).
    let mut nodes = vec![host("node-a"), host("node-b"), host("node-x")];
    nodes[1].taints.push(kws_plugin_sdk::Taint {
        key: "foo".into(),
        value: "".into(),
        effect: TaintEffect::NoSchedule,
    });
    let mut w = world(nodes, &foo_pods(&[("node-a", 1), ("node-b", 2)]));
    let mut c = hard(1, LABEL_HOSTNAME, foo());
    assert_eq!(w.codes(&incoming(&["foo"], vec![c.clone()])), [U, U, S]);
    c.node_taints_policy = Some(InclusionPolicy::Honor);
    assert_eq!(w.codes(&incoming(&["foo"], vec![c])), [U, S, S]);
}

#[test]
fn two_constraints_must_both_hold() {
    // TestMultipleConstraints "two Constraints on zone and node, spreads =
    // [3/3, 2/1/0/3]": only node-x fits.
    let mut w = world(four_nodes(), &spread_2_1_0_3());
    let p = incoming(
        &["foo"],
        vec![hard(1, "zone", foo()), hard(1, "node", foo())],
    );
    assert_eq!(w.codes(&p), [U, U, S, U]);
}

#[test]
fn match_label_keys_narrow_the_selector_to_the_pods_own_values() {
    let mut w = world(
        vec![host("node-a"), host("node-b")],
        &[("node-a", &["foo"]), ("node-a", &["foo"])],
    );
    // Existing pods have foo="" but not bar: with matchLabelKeys [bar] the
    // incoming pod (bar="") matches none of them.
    let mut c = hard(1, LABEL_HOSTNAME, foo());
    c.match_label_keys = vec!["bar".into()];
    let p = pod("default", "p")
        .label("foo", "")
        .label("bar", "")
        .topology_spread(c)
        .build();
    assert_eq!(w.codes(&p), [S, S]);
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.codes(&p), [U, S]);
}

#[test]
fn pods_without_hard_constraints_are_skipped_at_pre_filter() {
    let mut w = world(vec![host("node-a")], &[]);
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.runner.pre_filter(1, &p).status.code, Code::Skip);
    let p = incoming(&["foo"], vec![]);
    assert_eq!(w.runner.pre_filter(2, &p).status.code, Code::Skip);
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.runner.pre_filter(3, &p).status, Status::success());
}

#[test]
fn filter_without_pre_filter_state_is_an_error() {
    let w = world(vec![host("node-a")], &[]);
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, foo())]);
    let statuses = w.runner.filter(9, &p, &[0]);
    assert_eq!(statuses[0].status.code, Code::Error);
}

#[test]
fn invalid_selectors_are_errors() {
    let mut w = world(vec![host("node-a")], &[]);
    let bad = Some(LabelSelector {
        match_labels: vec![],
        match_expressions: vec![requirement("foo", Operator::In, &[])],
    });
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, bad)]);
    let status = w.runner.pre_filter(0, &p).status;
    assert_eq!(status.code, Code::Error);
    assert!(status.reasons[0].starts_with("get constraints from pod: "));
}

// Scoring: TestPodTopologySpreadScore.

fn hosts(names: &[&str]) -> Vec<Node> {
    names.iter().map(|n| host(n)).collect()
}

#[test]
fn score_without_existing_pods_is_100_everywhere() {
    let mut w = world(hosts(&["node-a", "node-b"]), &[]);
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b"]), [100, 100]);
}

#[test]
fn score_one_candidate_is_100() {
    let mut w = world(
        hosts(&["node-a", "node-b"]),
        &foo_pods(&[("node-a", 2), ("node-b", 1)]),
    );
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a"]), [100]);
}

fn hosts_2_1_0_3() -> Pods {
    foo_pods(&[("node-a", 2), ("node-b", 1), ("node-d", 3)])
}

#[test]
fn score_spread_2_1_0_3_on_hostnames() {
    let mut w = world(
        hosts(&["node-a", "node-b", "node-c", "node-d"]),
        &hosts_2_1_0_3(),
    );
    let all = ["node-a", "node-b", "node-c", "node-d"];
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &all), [20, 60, 100, 0]);
    let p = incoming(&["foo"], vec![soft(2, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &all), [33, 66, 100, 16]);
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, None)]);
    assert_eq!(w.scores(&p, &all), [100, 100, 100, 100], "null selector");
}

#[test]
fn score_max_skew_3_on_4_3_2_1() {
    let pods = foo_pods(&[("node-a", 4), ("node-b", 3), ("node-c", 2), ("node-d", 1)]);
    let mut w = world(hosts(&["node-a", "node-b", "node-c", "node-d"]), &pods);
    let p = incoming(&["foo"], vec![soft(3, LABEL_HOSTNAME, foo())]);
    assert_eq!(
        w.scores(&p, &["node-a", "node-b", "node-c", "node-d"]),
        [44, 66, 77, 100]
    );
}

fn spread_4_2_1_3() -> Pods {
    foo_pods(&[("node-a", 4), ("node-b", 2), ("node-x", 1), ("node-y", 3)])
}

#[test]
fn score_3_of_4_candidates() {
    let mut w = world(
        hosts(&["node-a", "node-b", "node-x", "node-y"]),
        &spread_4_2_1_3(),
    );
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b", "node-x"]), [33, 83, 100]);
}

#[test]
fn score_a_candidate_without_the_key_is_ignored() {
    let mut nodes = hosts(&["node-a", "node-b", "node-x", "node-y"]);
    nodes[1] = n("node-b", &[("n", "node-b")]);
    let mut w = world(nodes, &spread_4_2_1_3());
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b", "node-x"]), [16, 0, 100]);
}

#[test]
fn score_on_zones_3_of_4_candidates() {
    let nodes = vec![
        n("node-a", &[("zone", "zone1"), (LABEL_HOSTNAME, "node-a")]),
        n("node-b", &[("zone", "zone1"), (LABEL_HOSTNAME, "node-b")]),
        n("node-x", &[("zone", "zone2"), (LABEL_HOSTNAME, "node-x")]),
        n("node-y", &[("zone", "zone2"), (LABEL_HOSTNAME, "node-y")]),
    ];
    let mut w = world(nodes, &spread_4_2_1_3());
    let p = incoming(&["foo"], vec![soft(1, "zone", foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b", "node-x"]), [75, 75, 100]);
}

fn zoned_hosts() -> Vec<Node> {
    ["node-a", "node-b", "node-x", "node-y"]
        .iter()
        .map(|name| {
            let zone = if name < &"node-x" { "zone1" } else { "zone2" };
            n(name, &[("zone", zone), (LABEL_HOSTNAME, name)])
        })
        .collect()
}

#[test]
fn score_two_constraints_on_zone_and_node() {
    let pods = foo_pods(&[("node-a", 2), ("node-b", 1), ("node-x", 2), ("node-y", 4)]);
    let mut w = world(zoned_hosts(), &pods);
    let p = incoming(
        &["foo"],
        vec![soft(1, "zone", foo()), soft(1, LABEL_HOSTNAME, foo())],
    );
    assert_eq!(w.scores(&p, &["node-a", "node-x"]), [100, 63]);
}

#[test]
fn score_two_constraints_with_different_selectors() {
    let pods: &[(&str, &[&str])] = &[
        ("node-a", &["foo"]),
        ("node-b", &["foo", "bar"]),
        ("node-y", &["foo"]),
        ("node-y", &["bar"]),
    ];
    let mut w = world(zoned_hosts(), pods);
    let p = incoming(
        &["foo", "bar"],
        vec![
            soft(1, "zone", foo()),
            soft(1, LABEL_HOSTNAME, exists("bar")),
        ],
    );
    assert_eq!(
        w.scores(&p, &["node-a", "node-b", "node-x", "node-y"]),
        [60, 20, 100, 60]
    );
    assert_eq!(
        w.scores(&p, &["node-a", "node-b", "node-x"]),
        [50, 25, 100],
        "3 of 4 candidates"
    );
}

#[test]
fn score_two_zone_constraints() {
    let nodes = vec![
        n("node-a", &[("zone", "zone1")]),
        n("node-b", &[("zone", "zone1")]),
        n("node-x", &[("zone", "zone2")]),
        n("node-y", &[("zone", "zone2")]),
    ];
    let pods: &[(&str, &[&str])] = &[
        ("node-a", &["foo", "bar"]),
        ("node-a", &["foo"]),
        ("node-b", &["foo", "bar"]),
        ("node-y", &["foo"]),
        ("node-y", &["foo", "bar"]),
        ("node-y", &["foo"]),
    ];
    let mut w = world(nodes, pods);
    let p = incoming(
        &["foo", "bar"],
        vec![soft(1, "zone", foo()), soft(1, "zone", exists("bar"))],
    );
    assert_eq!(w.scores(&p, &["node-a", "node-x"]), [85, 100]);
}

#[test]
fn score_other_namespaces_do_not_count() {
    let mut w = world(
        hosts(&["node-a", "node-b"]),
        &[
            ("node-a", &["foo", "ns=ns1"]),
            ("node-a", &["foo"]),
            ("node-b", &["foo"]),
            ("node-b", &["foo"]),
        ],
    );
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b"]), [100, 33]);
}

#[test]
fn score_is_skipped_without_soft_constraints() {
    let mut w = world(hosts(&["node-a", "node-b"]), &hosts_2_1_0_3()[..3]);
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.runner.pre_score(0, &p, &[0, 1]).code, Code::Skip);
}

#[test]
fn args_are_validated_as_upstream() {
    assert!(Runner::<PodTopologySpread>::configured("{}").is_ok());
    assert!(Runner::<PodTopologySpread>::configured(r#"{"defaultingType": "List"}"#).is_ok());
    let list = r#"{"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}"#;
    assert!(Runner::<PodTopologySpread>::configured(list).is_ok());
    let err = |args: &str| {
        Runner::<PodTopologySpread>::configured(args)
            .err()
            .expect("args refused")
    };
    assert_eq!(
        err(
            r#"{"defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]}"#
        ),
        "defaultingType: Invalid value: \"System\": when .defaultConstraints are not empty"
    );
    assert_eq!(
        err(
            r#"{"defaultingType": "List", "defaultConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {}}]}"#
        ),
        "[defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf), defaultConstraints[0].labelSelector: Forbidden: constraint must not define a selector, as they deduced for each pod]"
    );
    assert!(err(r#"{"defaultingType": "Auto"}"#).contains("Unsupported value: \"Auto\""));
    assert!(err(r#"{"weight": 1}"#).contains("unknown field `weight`"));
}

#[test]
fn terminating_pods_do_not_count() {
    let mut w = world(
        hosts(&["node-a", "node-b"]),
        &[("node-a", &["foo", "terminating"]), ("node-b", &["foo"])],
    );
    let p = incoming(&["foo"], vec![soft(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.scores(&p, &["node-a", "node-b"]), [100, 0]);
    let p = incoming(&["foo"], vec![hard(1, LABEL_HOSTNAME, foo())]);
    assert_eq!(w.codes(&p), [S, U]);
}

// Default constraints: TestPreScoreStateEmptyNodes, TestPodTopologySpreadScore
// ("system defaulting, ...") and TestPreFilterState ("default constraints
// and a service"). The host computes the default selector from the
// Services and controllers selecting the pod; here it is given directly.

/// `world`, with the plugin configured by `args`.
fn world_with(args: &str, nodes: Vec<Node>, pods: &[(&str, &[&str])]) -> World {
    let mut w = world(nodes, pods);
    w.runner.configure(args).unwrap();
    w
}

/// The incoming pod without constraints of its own, labelled `foo`, with
/// the default selector `foo` (as a Service selecting `foo: ""` gives).
fn selected_by_foo() -> Pod {
    pod("default", "p")
        .label("foo", "")
        .default_spread_selector(LabelSelector {
            match_labels: vec![("foo".into(), "".into())],
            match_expressions: vec![],
        })
        .build()
}

#[test]
fn pods_nothing_selects_get_no_default_spreading() {
    let mut w = world(hosts(&["node-a", "node-b"]), &hosts_2_1_0_3()[..3]);
    let p = incoming(&["foo"], vec![]);
    assert_eq!(w.codes(&p), [Code::Skip, Code::Skip]);
    assert_eq!(w.runner.pre_score(0, &p, &[0, 1]).code, Code::Skip);
    // An empty selector is as none: upstream skips when `selector.Empty()`.
    let mut p = selected_by_foo();
    p.default_spread_selector = Some(LabelSelector {
        match_labels: vec![],
        match_expressions: vec![],
    });
    assert_eq!(w.runner.pre_score(1, &p, &[0, 1]).code, Code::Skip);
}

#[test]
fn system_defaults_spread_by_hostname_without_zones() {
    let pods = foo_pods(&[("node-a", 4), ("node-b", 3), ("node-c", 2), ("node-d", 1)]);
    let all = ["node-a", "node-b", "node-c", "node-d"];
    let mut w = world(hosts(&all), &pods);
    let p = selected_by_foo();
    // Same scores as one hostname constraint with maxSkew 3: nodes without
    // a zone label are not left out under the System defaults.
    assert_eq!(w.scores(&p, &all), [44, 66, 77, 100]);
    // The defaults are ScheduleAnyway: Filter has nothing to check.
    assert_eq!(w.runner.pre_filter(1, &p).status.code, Code::Skip);
}

#[test]
fn system_defaults_count_nodes_without_a_zone_as_one_more_zone() {
    let zoned = |name: &str, zone: Option<&str>| {
        let b = node(name).label(LABEL_HOSTNAME, name);
        match zone {
            Some(z) => b.label(LABEL_TOPOLOGY_ZONE, z),
            None => b,
        }
        .build()
    };
    let nodes = vec![
        zoned("node-a", Some("mars")),
        zoned("node-b", Some("mars")),
        zoned("node-c", None),
        zoned("node-d", None),
    ];
    let mut w = world(nodes, &foo_pods(&[("node-a", 2), ("node-c", 1)]));
    // Hostname weight ln(4+2), zone weight ln(2+2) (mars and ""): raw
    // a 2*ln6+2 + 2*ln4+4 = 12, b 2 + 2*ln4+4 = 9, c ln6+2 = 4 (no zone
    // label, so no zone part), d 2.
    assert_eq!(
        w.scores(
            &selected_by_foo(),
            &["node-a", "node-b", "node-c", "node-d"]
        ),
        [16, 41, 83, 100]
    );
}

const LIST_HARD_HOSTNAME: &str = r#"{"defaultingType": "List", "defaultConstraints": [
    {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]}"#;

#[test]
fn list_defaults_can_be_hard() {
    let all = ["node-a", "node-b", "node-c", "node-d"];
    let mut w = world_with(LIST_HARD_HOSTNAME, hosts(&all), &hosts_2_1_0_3());
    assert_eq!(w.codes(&selected_by_foo()), [U, U, S, U]);
    // Nothing selects the pod: no default constraint.
    assert!(
        w.codes(&incoming(&["foo"], vec![]))
            .iter()
            .all(|c| *c == Code::Skip)
    );
    // The pod's own constraints replace the defaults.
    let mut own = selected_by_foo();
    own.topology_spread_constraints = vec![soft(1, LABEL_HOSTNAME, foo())];
    assert!(w.codes(&own).iter().all(|c| *c == Code::Skip));
    // System defaulting has no hard constraint.
    let mut w = world(hosts(&all), &hosts_2_1_0_3());
    assert!(w.codes(&selected_by_foo()).iter().all(|c| *c == Code::Skip));
}

#[test]
fn list_defaults_require_every_topology_key_at_score() {
    let args = r#"{"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
        {"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}]}"#;
    let nodes = vec![
        n("node-a", &[(LABEL_HOSTNAME, "node-a"), ("zone", "z")]),
        n("node-b", &[(LABEL_HOSTNAME, "node-b")]),
        n("node-c", &[("zone", "z")]),
    ];
    let mut w = world_with(args, nodes, &[("node-a", &["foo"])]);
    // Only the soft hostname constraint scores; node-c lacks its key and is
    // ignored (0), unlike under the System defaults.
    assert_eq!(
        w.scores(&selected_by_foo(), &["node-a", "node-b", "node-c"]),
        [0, 100, 0]
    );
    // The hard rack constraint rejects every node: none has the key.
    assert_eq!(w.codes(&selected_by_foo()), [UU, UU, UU]);
}

/// AddPod and RemovePod (what preemption's what-if cycles call) move the
/// counts and the minimum PreFilter made, as upstream's `updateWithPod`:
/// only pods of the incoming pod's namespace that the selector matches.
#[test]
fn removing_and_adding_pods_updates_what_filter_sees() {
    let mut w = world(
        vec![zn("node-a", "zone1"), zn("node-x", "zone2")],
        &[
            ("node-a", &["foo"]),
            ("node-a", &["foo"]),
            ("node-x", &["foo", "ns=other"]),
        ],
    );
    let p = incoming(&["foo"], vec![hard(1, "zone", foo())]);
    // zone1 holds two, zone2 none (the other namespace's pod does not
    // count): only zone2 keeps the skew.
    assert_eq!(w.codes(&p), [U, S]);
    let a = w.id("node-a");
    assert_eq!(
        w.runner.remove_pod(0, &p, "default/existing-0", a),
        Status::success()
    );
    assert_eq!(
        w.runner.filter(0, &p, &[a]).len(),
        1,
        "1 + 1 - 0 is still above 1"
    );
    assert_eq!(
        w.runner.remove_pod(0, &p, "default/existing-1", a),
        Status::success()
    );
    assert!(w.runner.filter(0, &p, &[a]).is_empty());
    // Not in the namespace: no change.
    let x = w.id("node-x");
    assert_eq!(
        w.runner.remove_pod(0, &p, "other/existing-2", x),
        Status::success()
    );
    let mut back = pod("default", "back").label("foo", "").build();
    back.uid = "default/back".into();
    assert_eq!(w.runner.add_pod(0, &p, &back, x), Status::success());
    // zone2 now holds one, zone1 none: node-x is the one out of skew.
    let rejected = w.runner.filter(0, &p, &[a, x]);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].node, x);
}
