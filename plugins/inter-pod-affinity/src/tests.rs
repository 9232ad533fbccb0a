//! Cases ported from kube-scheduler v1.37's `filtering_test.go`
//! (TestRequiredAffinitySingleNode, TestRequiredAffinityMultipleNodes) and
//! `scoring_test.go` (TestPreferredAffinity, with its namespaces).

use super::*;
use kws_plugin_sdk::testing::{node, pod, requirement};
use kws_plugin_sdk::{
    Change, Code, LabelSelector, Namespace, Node, Operator, PlacedPod, PodAffinity,
    PodAffinityTerm, Runner, WeightedPodAffinityTerm,
};

fn selector(key: &str, operator: Operator, values: &[&str]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: vec![],
        match_expressions: vec![requirement(key, operator, values)],
    })
}

fn term(key: &str, values: &[&str], topology: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: selector(key, Operator::In, values),
        namespaces: vec![],
        namespace_selector: None,
        topology_key: topology.into(),
        match_label_keys: vec![],
        mismatch_label_keys: vec![],
    }
}

fn required(terms: Vec<PodAffinityTerm>) -> PodAffinity {
    PodAffinity {
        required: terms,
        preferred: vec![],
    }
}

fn preferred(weight: i32, term: PodAffinityTerm) -> PodAffinity {
    PodAffinity {
        required: vec![],
        preferred: vec![WeightedPodAffinityTerm { weight, term }],
    }
}

fn n(name: &str, labels: &[(&str, &str)]) -> Node {
    labels
        .iter()
        .fold(node(name), |b, (k, v)| b.label(k, v))
        .build()
}

/// A pod in `namespace` with the label `security=value`.
fn security(namespace: &str, name: &str, value: &str) -> Pod {
    let mut p = pod(namespace, name).label("security", value).build();
    p.uid = format!("{namespace}/{name}");
    p
}

struct World {
    runner: Runner<InterPodAffinity>,
    count: usize,
}

fn world(args: &str, nodes: Vec<Node>, pods: Vec<(usize, Pod)>) -> World {
    let mut runner = Runner::<InterPodAffinity>::configured(args).unwrap();
    let count = nodes.len();
    let mut changes: Vec<Change> = [
        ("subteam1.team1", "team1"),
        ("subteam2.team1", "team1"),
        ("subteam1.team2", "team2"),
        ("subteam2.team2", "team2"),
    ]
    .iter()
    .map(|(name, team)| {
        Change::NamespaceSet(Namespace {
            name: name.to_string(),
            labels: vec![("team".into(), team.to_string())],
        })
    })
    .collect();
    changes.extend(
        nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| Change::NodeSet((i as u32, n))),
    );
    changes.extend(pods.into_iter().map(|(node, pod)| {
        Change::PodAdded(PlacedPod {
            node: node as u32,
            pod,
        })
    }));
    runner.apply(changes);
    World { runner, count }
}

impl World {
    /// Every node's filter status after PreFilter (all Skip when it says
    /// Skip: Filter does not run).
    fn statuses(&mut self, p: &Pod) -> Vec<Status> {
        let ids: Vec<u32> = (0..self.count as u32).collect();
        let pre_filter = self.runner.pre_filter(0, p);
        if pre_filter.status.code != Code::Success {
            return vec![pre_filter.status; ids.len()];
        }
        let rejected = self.runner.filter(0, p, &ids);
        ids.iter()
            .map(|id| {
                rejected
                    .iter()
                    .find(|r| r.node == *id)
                    .map_or(Status::success(), |r| r.status.clone())
            })
            .collect()
    }

    /// Normalised scores after PreScore (all 0 when it says Skip: the
    /// plugin adds nothing).
    fn scores(&mut self, p: &Pod) -> Vec<i64> {
        let ids: Vec<u32> = (0..self.count as u32).collect();
        let pre_score = self.runner.pre_score(0, p, &ids);
        if pre_score.code == Code::Skip {
            return vec![0; ids.len()];
        }
        assert_eq!(pre_score, Status::success());
        let raw = self.runner.score(0, p, &ids).unwrap();
        self.runner.normalize_scores(0, p, &ids, raw).unwrap()
    }
}

fn ok() -> Status {
    Status::success()
}

fn affinity_fails() -> Status {
    Status::unresolvable(ERR_REASON_AFFINITY_RULES_NOT_MATCH)
}

fn anti_affinity_fails() -> Status {
    Status::unschedulable(ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH)
}

fn existing_anti_affinity_fails() -> Status {
    Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH)
}

fn with_affinity(mut p: Pod, affinity: Option<PodAffinity>, anti: Option<PodAffinity>) -> Pod {
    p.pod_affinity = affinity;
    p.pod_anti_affinity = anti;
    p
}

#[test]
fn a_pod_without_terms_and_no_existing_anti_affinity_is_skipped() {
    let mut w = world("{}", vec![n("node1", &[("region", "r1")])], vec![]);
    let p = security("", "p", "S1");
    assert_eq!(w.runner.pre_filter(1, &p).status.code, Code::Skip);
    assert_eq!(w.runner.pre_score(1, &p, &[0]).code, Code::Skip);
}

#[test]
fn required_affinity_needs_a_matching_pod_in_the_domain() {
    let nodes = vec![
        n("node1", &[("region", "r1"), ("zone", "z11")]),
        n("node2", &[("region", "r1"), ("zone", "z12")]),
        n("node3", &[("region", "r2"), ("zone", "z21")]),
        n("node4", &[("zone", "z22")]),
    ];
    let mut w = world("{}", nodes, vec![(0, security("", "existing", "S1"))]);
    let p = with_affinity(
        security("", "p", "S2"),
        Some(required(vec![term("security", &["S1"], "region")])),
        None,
    );
    assert_eq!(
        w.statuses(&p),
        [ok(), ok(), affinity_fails(), affinity_fails()],
        "same region as the S1 pod; a node without the key never fits"
    );
}

#[test]
fn the_first_pod_of_a_group_that_selects_itself_fits_where_the_key_exists() {
    let nodes = vec![n("node1", &[("region", "r1")]), n("node2", &[])];
    let mut w = world("{}", nodes, vec![]);
    let p = with_affinity(
        security("", "p", "S1"),
        Some(required(vec![term("security", &["S1"], "region")])),
        None,
    );
    assert_eq!(w.statuses(&p), [ok(), affinity_fails()]);
    // A pod that does not select itself needs a match.
    let other = with_affinity(
        security("", "p", "S2"),
        Some(required(vec![term("security", &["S1"], "region")])),
        None,
    );
    assert_eq!(w.statuses(&other), [affinity_fails(), affinity_fails()]);
}

#[test]
fn self_match_does_not_help_once_matching_pods_exist_elsewhere() {
    let nodes = vec![
        n("node1", &[("region", "r1")]),
        n("node2", &[("region", "r2")]),
    ];
    let mut w = world("{}", nodes, vec![(1, security("", "existing", "S1"))]);
    let p = with_affinity(
        security("", "p", "S1"),
        Some(required(vec![term("security", &["S1"], "region")])),
        None,
    );
    assert_eq!(w.statuses(&p), [affinity_fails(), ok()]);
}

#[test]
fn all_affinity_terms_must_match_the_same_pod() {
    let nodes = vec![n("node1", &[("region", "r1"), ("zone", "z1")])];
    let mut both = security("", "existing", "S1");
    both.labels.push(("team".into(), "a".into()));
    let mut w = world("{}", nodes, vec![(0, security("", "e1", "S1"))]);
    let p = with_affinity(
        security("", "p", "S2"),
        Some(required(vec![
            term("security", &["S1"], "region"),
            term("team", &["a"], "zone"),
        ])),
        None,
    );
    assert_eq!(w.statuses(&p), [affinity_fails()]);
    let mut w = world(
        "{}",
        vec![n("node1", &[("region", "r1"), ("zone", "z1")])],
        vec![(0, both)],
    );
    assert_eq!(w.statuses(&p), [ok()]);
}

#[test]
fn required_anti_affinity_keeps_one_per_domain() {
    let nodes = vec![
        n(
            "node1",
            &[("kubernetes.io/hostname", "node1"), ("zone", "z1")],
        ),
        n(
            "node2",
            &[("kubernetes.io/hostname", "node2"), ("zone", "z1")],
        ),
        n(
            "node3",
            &[("kubernetes.io/hostname", "node3"), ("zone", "z2")],
        ),
    ];
    let mut w = world("{}", nodes, vec![(0, security("", "existing", "S1"))]);
    let one_per_node = with_affinity(
        security("", "p", "S1"),
        None,
        Some(required(vec![term(
            "security",
            &["S1"],
            "kubernetes.io/hostname",
        )])),
    );
    assert_eq!(
        w.statuses(&one_per_node),
        [anti_affinity_fails(), ok(), ok()]
    );
    let one_per_zone = with_affinity(
        security("", "p", "S1"),
        None,
        Some(required(vec![term("security", &["S1"], "zone")])),
    );
    assert_eq!(
        w.statuses(&one_per_zone),
        [anti_affinity_fails(), anti_affinity_fails(), ok()]
    );
}

#[test]
fn existing_pods_anti_affinity_repels_the_incoming_pod() {
    let nodes = vec![
        n("node1", &[("region", "r1"), ("zone", "z1")]),
        n("node2", &[("region", "r1"), ("zone", "z2")]),
        n("node3", &[("region", "r2"), ("zone", "z3")]),
    ];
    let guard = with_affinity(
        security("", "guard", "S2"),
        None,
        Some(required(vec![term("security", &["S1"], "region")])),
    );
    let mut w = world("{}", nodes, vec![(0, guard)]);
    assert_eq!(
        w.statuses(&security("", "p", "S1")),
        [
            existing_anti_affinity_fails(),
            existing_anti_affinity_fails(),
            ok()
        ]
    );
    // In another namespace the guard's term (own namespace) does not apply.
    assert_eq!(
        w.statuses(&security("other", "p", "S1"))[0].code,
        Code::Skip
    );
}

#[test]
fn existing_anti_affinity_namespace_selectors_see_the_incoming_pods_namespace_labels() {
    let nodes = vec![
        n("node1", &[("region", "r1")]),
        n("node2", &[("region", "r2")]),
    ];
    let mut t = term("security", &["S1"], "region");
    t.namespace_selector = selector("team", Operator::In, &["team1"]);
    let guard = with_affinity(
        security("subteam1.team2", "guard", "S2"),
        None,
        Some(required(vec![t])),
    );
    let mut w = world("{}", nodes, vec![(0, guard)]);
    assert_eq!(
        w.statuses(&security("subteam2.team1", "p", "S1")),
        [existing_anti_affinity_fails(), ok()]
    );
    assert_eq!(
        w.statuses(&security("subteam1.team2", "p", "S1"))[0].code,
        Code::Skip
    );
}

#[test]
fn incoming_namespace_selectors_resolve_to_the_selected_namespaces() {
    let nodes = vec![
        n("node1", &[("region", "r1")]),
        n("node2", &[("region", "r2")]),
    ];
    let mut w = world(
        "{}",
        nodes,
        vec![
            (0, security("subteam2.team1", "a", "S1")),
            (1, security("subteam1.team2", "b", "S1")),
        ],
    );
    let mut t = term("security", &["S1"], "region");
    t.namespace_selector = selector("team", Operator::In, &["team1"]);
    let p = with_affinity(
        security("subteam1.team2", "p", "S2"),
        Some(required(vec![t.clone()])),
        None,
    );
    assert_eq!(w.statuses(&p), [ok(), affinity_fails()]);
    // An empty namespace selector selects every namespace.
    t.namespace_selector = Some(LabelSelector {
        match_labels: vec![],
        match_expressions: vec![],
    });
    let p = with_affinity(
        security("subteam1.team2", "p", "S2"),
        Some(required(vec![t])),
        None,
    );
    assert_eq!(w.statuses(&p), [ok(), ok()]);
}

// Scoring: TestPreferredAffinity.

fn china() -> Node {
    n("node1", &[("region", "China")])
}

fn india() -> Node {
    n("node2", &[("region", "India")])
}

fn stay_with(value: &str) -> PodAffinity {
    preferred(5, term("security", &[value], "region"))
}

#[test]
fn score_without_affinity_anywhere_is_zero() {
    let mut w = world(
        "{}",
        vec![china(), india(), n("node3", &[("az", "az1")])],
        vec![],
    );
    assert_eq!(w.scores(&security("", "p", "S1")), [0, 0, 0]);
}

#[test]
fn score_prefers_the_domain_of_matching_pods() {
    let mut w = world(
        "{}",
        vec![china(), india(), n("node3", &[("az", "az1")])],
        vec![
            (0, security("", "a", "S1")),
            (1, security("", "b", "S2")),
            (2, security("", "c", "S1")),
        ],
    );
    let p = with_affinity(security("", "p", "S1"), Some(stay_with("S1")), None);
    assert_eq!(w.scores(&p), [100, 0, 0]);
}

#[test]
fn score_counts_matching_pods_per_region() {
    let nodes = vec![
        n("node1", &[("region", "China")]),
        n("node2", &[("region", "India")]),
        n("node3", &[("region", "China")]),
        n("node4", &[("region", "China")]),
        n("node5", &[("region", "India")]),
    ];
    let pods = [0, 0, 1, 2, 3, 4]
        .iter()
        .enumerate()
        .map(|(i, node)| (*node, security("", &format!("e{i}"), "S2")))
        .collect();
    let mut w = world("{}", nodes, pods);
    let p = with_affinity(security("", "p", "S1"), Some(stay_with("S2")), None);
    assert_eq!(w.scores(&p), [100, 0, 100, 100, 0]);
}

#[test]
fn score_anti_affinity_prefers_the_other_domain() {
    let mut w = world(
        "{}",
        vec![china(), india()],
        vec![(0, security("", "a", "S1"))],
    );
    let p = with_affinity(security("", "p", "S1"), None, Some(stay_with("S1")));
    assert_eq!(w.scores(&p), [0, 100]);
}

#[test]
fn score_namespace_selectors_and_namespaces_are_ored() {
    let mut t = term("security", &["S1"], "region");
    t.namespaces = vec!["subteam2.team2".into()];
    t.namespace_selector = selector("team", Operator::In, &["team1"]);
    let pods = vec![
        (0, security("subteam1.team1", "a", "S1")),
        (0, security("subteam1.team1", "b", "S1")),
        (0, security("subteam2.team2", "c", "S1")),
        (1, security("subteam2.team1", "d", "S1")),
    ];
    let mut w = world("{}", vec![china(), india()], pods);
    let p = with_affinity(
        security("subteam1.team1", "p", "S1"),
        Some(preferred(5, t.clone())),
        None,
    );
    assert_eq!(w.scores(&p), [100, 0]);
    let p = with_affinity(
        security("subteam1.team1", "p", "S1"),
        None,
        Some(preferred(5, t)),
    );
    assert_eq!(w.scores(&p), [0, 100]);
}

#[test]
fn score_negative_namespace_selectors() {
    let mut t = term("security", &["S1"], "region");
    t.namespace_selector = selector("team", Operator::NotIn, &["team1"]);
    let pods = vec![
        (0, security("subteam1.team1", "a", "S1")),
        (0, security("subteam1.team1", "b", "S1")),
        (1, security("subteam1.team2", "c", "S1")),
    ];
    let mut w = world("{}", vec![china(), india()], pods);
    let p = with_affinity(
        security("subteam1.team1", "p", "S1"),
        Some(preferred(5, t.clone())),
        None,
    );
    assert_eq!(w.scores(&p), [0, 100]);
    let p = with_affinity(
        security("subteam1.team1", "p", "S1"),
        None,
        Some(preferred(5, t)),
    );
    assert_eq!(w.scores(&p), [100, 0]);
}

#[test]
fn score_existing_pods_terms_count_unless_ignored() {
    let mut away = stay_with("S1");
    away.preferred.push(WeightedPodAffinityTerm {
        weight: 4,
        term: term("security", &["S2"], "az"),
    });
    let pods = vec![
        (0, with_affinity(security("", "a", "S1"), Some(away), None)),
        (
            1,
            with_affinity(security("", "b", "S2"), Some(stay_with("S2")), None),
        ),
    ];
    let nodes = || vec![china(), india()];
    let mut w = world("{}", nodes(), pods.clone());
    assert_eq!(w.scores(&security("", "p", "S2")), [0, 100]);
    let mut w = world(
        r#"{"ignorePreferredTermsOfExistingPods": true}"#,
        nodes(),
        pods,
    );
    assert_eq!(w.scores(&security("", "p", "S2")), [0, 0]);
}

#[test]
fn score_existing_required_affinity_weighs_hard_pod_affinity_weight() {
    let pods = vec![(
        0,
        with_affinity(
            security("", "a", "S1"),
            Some(required(vec![term("security", &["S2"], "region")])),
            None,
        ),
    )];
    let mut w = world("{}", vec![china(), india()], pods.clone());
    assert_eq!(w.scores(&security("", "p", "S2")), [100, 0]);
    let raw = w
        .runner
        .score(0, &security("", "p", "S2"), &[0, 1])
        .unwrap();
    assert_eq!(raw, [1, 0]);
    let mut w = world(
        r#"{"hardPodAffinityWeight": 7}"#,
        vec![china(), india()],
        pods.clone(),
    );
    let incoming = security("", "p", "S2");
    assert_eq!(w.runner.pre_score(0, &incoming, &[0, 1]), Status::success());
    assert_eq!(w.runner.score(0, &incoming, &[0, 1]).unwrap(), [7, 0]);
    let mut w = world(
        r#"{"hardPodAffinityWeight": 0}"#,
        vec![china(), india()],
        pods,
    );
    assert_eq!(w.scores(&security("", "p", "S2")), [0, 0]);
}

#[test]
fn normalize_truncates_between_min_and_max() {
    let mut scores = [-5, 0, 5, 2];
    InterPodAffinity::new(InterPodAffinityArgs::default())
        .unwrap()
        .normalize_scores(&security("", "p", "S1"), &mut scores)
        .unwrap();
    // (0+5)/10 = 50, (2+5)/10 = 70.
    assert_eq!(scores, [0, 50, 100, 70]);
    let mut thirds = [0, 1, 3];
    InterPodAffinity::new(InterPodAffinityArgs::default())
        .unwrap()
        .normalize_scores(&security("", "p", "S1"), &mut thirds)
        .unwrap();
    assert_eq!(thirds, [0, 33, 100]);
}

#[test]
fn args_are_validated_as_upstream() {
    let err = Runner::<InterPodAffinity>::configured(r#"{"hardPodAffinityWeight": 101}"#)
        .err()
        .unwrap();
    assert_eq!(
        err,
        "hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]"
    );
    assert!(Runner::<InterPodAffinity>::configured(r#"{"hardPodAffinityWeight": -1}"#).is_err());
    assert!(Runner::<InterPodAffinity>::configured(r#"{"weight": 1}"#).is_err());
}

/// AddPod and RemovePod (what preemption's what-if cycles call) move the
/// counts PreFilter made, as upstream's `updateWithPod`.
#[test]
fn removing_and_adding_pods_updates_what_filter_sees() {
    let nodes = vec![
        n("node1", &[("region", "r1")]),
        n("node2", &[("region", "r1")]),
    ];
    let mut w = world("{}", nodes, vec![(0, security("", "existing", "S1"))]);
    let p = with_affinity(
        security("", "p", "S2"),
        Some(required(vec![term("security", &["S1"], "region")])),
        None,
    );
    assert_eq!(w.statuses(&p), [ok(), ok()]);
    // The only pod it must be near is gone: the domain counts none, and
    // the incoming pod does not match its own term.
    assert_eq!(w.runner.remove_pod(0, &p, "/existing", 0), ok());
    let rejected = w.runner.filter(0, &p, &[0, 1]);
    assert_eq!(rejected.len(), 2);
    assert!(rejected.iter().all(|r| r.status == affinity_fails()));
    let back = security("", "existing", "S1");
    assert_eq!(w.runner.add_pod(0, &p, &back, 1), ok());
    assert!(w.runner.filter(0, &p, &[0, 1]).is_empty());

    // An existing pod whose anti-affinity repels the incoming one repels
    // it no more once removed.
    let repelling = with_affinity(
        security("", "repelling", "S3"),
        None,
        Some(required(vec![term("security", &["S2"], "region")])),
    );
    let mut w = world(
        "{}",
        vec![n("node1", &[("region", "r1")])],
        vec![(0, repelling)],
    );
    let plain = security("", "p", "S2");
    assert_eq!(w.statuses(&plain), [existing_anti_affinity_fails()]);
    assert_eq!(w.runner.remove_pod(0, &plain, "/repelling", 0), ok());
    assert!(w.runner.filter(0, &plain, &[0]).is_empty());
}

#[test]
fn add_and_remove_without_pre_filter_state_are_errors() {
    let mut w = world("{}", vec![n("node1", &[("region", "r1")])], vec![]);
    let p = security("", "p", "S1");
    let status = w.runner.remove_pod(7, &p, "/none", 0);
    assert_eq!(status.code, Code::Error);
    assert_eq!(
        status.reasons,
        ["error reading \"PreFilterInterPodAffinity\" from cycleState: not found"]
    );
}
