use super::*;
use kws_plugin_sdk::host::preemption::Preemption;
use kws_plugin_sdk::testing::{match_labels, node, node_info, pod};
use std::cell::RefCell;
use std::rc::Rc;

/// A victim on a node of the fake cluster, with the cpu it takes.
struct Placed {
    victim: Victim,
    milli_cpu: i64,
}

/// The node and victims the plugin told the host to preempt.
type Chosen = Rc<RefCell<Option<(NodeId, Vec<String>)>>>;

/// A fake host: nodes with a cpu capacity, what higher-priority pods take
/// there (never evicted), and the lower-priority pods on them. A what-if
/// fits when the pod's cpu fits beside what is left.
struct FakeHost {
    nodes: Vec<(i64, i64, Vec<Placed>)>,
    pod_cpu: i64,
    budgets: Vec<PodDisruptionBudget>,
    chosen: Chosen,
}

impl Preemption for FakeHost {
    fn potential_victims(&self, node: NodeId) -> Vec<Victim> {
        self.nodes[node as usize]
            .2
            .iter()
            .map(|p| p.victim.clone())
            .collect()
    }

    fn nodes_with_victims(&self) -> Vec<NodeId> {
        (0..self.nodes.len() as NodeId)
            .filter(|&n| !self.nodes[n as usize].2.is_empty())
            .collect()
    }

    fn filter_without(&self, node: NodeId, removed: &[String]) -> Status {
        let (capacity, fixed, placed) = &self.nodes[node as usize];
        let used: i64 = placed
            .iter()
            .filter(|p| !removed.contains(&p.victim.uid))
            .map(|p| p.milli_cpu)
            .sum();
        if fixed + used + self.pod_cpu <= *capacity {
            Status::success()
        } else {
            Status::unschedulable("Insufficient cpu")
        }
    }

    fn pod_disruption_budgets(&self) -> Vec<PodDisruptionBudget> {
        self.budgets.clone()
    }

    fn preempt(&self, node: NodeId, victims: &[String]) -> Result<(), String> {
        *self.chosen.borrow_mut() = Some((node, victims.to_vec()));
        Ok(())
    }
}

fn victim(name: &str, priority: i32, start: i64, milli_cpu: i64) -> Placed {
    Placed {
        victim: Victim {
            uid: format!("uid-{name}"),
            namespace: "default".into(),
            name: name.into(),
            labels: vec![("app".into(), name.trim_end_matches(char::is_numeric).into())],
            priority,
            start_time: Some(start),
            preempted: false,
            terminating: false,
        },
        milli_cpu,
    }
}

/// Installs the fake host and runs PostFilter for a pod of priority 100
/// asking for `pod_cpu`, with every node rejected as `code`.
fn run(
    nodes: Vec<(i64, i64, Vec<Placed>)>,
    pod_cpu: i64,
    budgets: Vec<PodDisruptionBudget>,
    preemptor: Preemptor,
    code: Code,
) -> (PostFilterResult, Option<(NodeId, Vec<String>)>) {
    let chosen = Rc::new(RefCell::new(None));
    let count = nodes.len();
    preemption::install(Box::new(FakeHost {
        nodes,
        pod_cpu,
        budgets,
        chosen: chosen.clone(),
    }));
    let infos: Vec<NodeInfo> = (0..count)
        .map(|i| node_info(i as NodeId, node(&format!("n{i}")).build(), Vec::new()))
        .collect();
    let status = Status {
        code,
        reasons: vec!["Insufficient cpu".into()],
    };
    let rejected: Vec<(&NodeInfo, &Status)> = infos.iter().map(|i| (i, &status)).collect();
    let plugin = DefaultPreemption::new(DefaultPreemptionArgs::default()).unwrap();
    let preemptor_pod = pod("default", "high").priority(100).build();
    let result = plugin.preempt(&preemptor_pod, &preemptor, count, &rejected);
    let chosen = chosen.borrow().clone();
    (result, chosen)
}

#[test]
fn the_fewest_lowest_priority_victims_are_chosen() {
    // n0: two pods of priority 10; evicting one (the later started, by
    // reprieving the more important one first) is enough. n1: one pod of
    // priority 50.
    let nodes = vec![
        (
            1000,
            0,
            vec![victim("a", 10, 1, 500), victim("b", 10, 2, 500)],
        ),
        (1000, 0, vec![victim("c", 50, 1, 1000)]),
    ];
    let (result, chosen) = run(
        nodes,
        500,
        Vec::new(),
        Preemptor::default(),
        Code::Unschedulable,
    );
    assert_eq!(result.status.code, Code::Success);
    assert_eq!(result.nominated_node.as_deref(), Some("n0"));
    assert_eq!(
        result.status.reasons,
        ["found a potential placement for pod on node n0, preempting 1 victims"]
    );
    // a started first, so it is more important and reprieved first.
    assert_eq!(chosen, Some((0, vec!["uid-b".to_string()])));
}

#[test]
fn a_budget_steers_the_choice_to_the_node_it_allows() {
    // Both nodes hold one priority-10 pod; the budget forbids evicting
    // `guarded` (0 disruptions allowed), so n1 is chosen though n0 comes
    // first.
    let nodes = vec![
        (1000, 0, vec![victim("guarded", 10, 1, 1000)]),
        (1000, 0, vec![victim("free", 10, 1, 1000)]),
    ];
    let budget = PodDisruptionBudget {
        namespace: "default".into(),
        selector: Some(match_labels(&[("app", "guarded")])),
        disruptions_allowed: 0,
        disrupted_pods: Vec::new(),
    };
    let (result, chosen) = run(
        nodes,
        1000,
        vec![budget],
        Preemptor::default(),
        Code::Unschedulable,
    );
    assert_eq!(result.nominated_node.as_deref(), Some("n1"));
    assert_eq!(chosen, Some((1, vec!["uid-free".to_string()])));
}

#[test]
fn budget_violations_count_only_past_the_disruptions_allowed() {
    let victims = vec![
        victim("web1", 10, 1, 0).victim,
        victim("web2", 10, 2, 0).victim,
        victim("db", 10, 3, 0).victim,
    ];
    let mut budget = PodDisruptionBudget {
        namespace: "default".into(),
        selector: Some(match_labels(&[("app", "web")])),
        disruptions_allowed: 1,
        disrupted_pods: Vec::new(),
    };
    let (violators, others) = split_by_budgets(victims.clone(), std::slice::from_ref(&budget));
    let names = |v: &[Victim]| v.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&violators), ["web2"]);
    assert_eq!(names(&others), ["web1", "db"]);
    // A pod the budget already counts takes no disruption.
    budget.disrupted_pods = vec!["web1".into()];
    let (violators, _) = split_by_budgets(victims.clone(), std::slice::from_ref(&budget));
    assert!(violators.is_empty());
    // An empty selector selects nothing, as upstream.
    budget.selector = Some(match_labels(&[]));
    budget.disruptions_allowed = 0;
    let (violators, _) = split_by_budgets(victims, &[budget]);
    assert!(violators.is_empty());
}

#[test]
fn preemption_policy_never_preempts_nothing() {
    let nodes = vec![(1000, 0, vec![victim("a", 10, 1, 1000)])];
    let never = Preemptor {
        never: true,
        nominated_node: None,
    };
    let (result, chosen) = run(nodes, 1000, Vec::new(), never, Code::Unschedulable);
    assert_eq!(result.status.code, Code::Unschedulable);
    assert_eq!(
        result.status.reasons,
        ["not eligible due to preemptionPolicy=Never."]
    );
    assert_eq!(result.nominated_node, None);
    assert_eq!(chosen, None);
}

#[test]
fn a_pod_waiting_for_its_victims_does_not_preempt_again() {
    let mut going = victim("a", 10, 1, 1000);
    going.victim.preempted = true;
    going.victim.terminating = true;
    let nominated = Preemptor {
        never: false,
        nominated_node: Some("n0".into()),
    };
    let (result, chosen) = run(
        vec![(1000, 0, vec![going])],
        1000,
        Vec::new(),
        nominated,
        Code::Unschedulable,
    );
    assert_eq!(
        result.status.reasons,
        ["not eligible due to a terminating pod on the nominated node."]
    );
    assert_eq!(chosen, None);
}

#[test]
fn without_victims_the_message_is_upstreams() {
    let nodes = vec![
        (1000, 0, Vec::new()),
        (1000, 0, Vec::new()),
        (1000, 0, Vec::new()),
    ];
    let (result, _) = run(
        nodes,
        500,
        Vec::new(),
        Preemptor::default(),
        Code::Unschedulable,
    );
    assert_eq!(
        result.status.reasons,
        ["0/3 nodes are available: 3 No preemption victims found for incoming pod."]
    );
    // The empty nomination clears an earlier one.
    assert_eq!(result.nominated_node.as_deref(), Some(""));
    let nodes = vec![
        (1000, 0, vec![victim("a", 10, 1, 1000)]),
        (1000, 0, Vec::new()),
    ];
    let (result, _) = run(
        nodes,
        500,
        Vec::new(),
        Preemptor::default(),
        Code::UnschedulableAndUnresolvable,
    );
    assert_eq!(
        result.status.reasons,
        ["0/2 nodes are available: 2 Preemption is not helpful for scheduling."]
    );
    // Victims that would not make room: the filter's own reason.
    let nodes = vec![(1000, 600, vec![victim("a", 10, 1, 400)])];
    let (result, _) = run(
        nodes,
        500,
        Vec::new(),
        Preemptor::default(),
        Code::Unschedulable,
    );
    assert_eq!(
        result.status.reasons,
        ["0/1 nodes are available: 1 Insufficient cpu."]
    );
}

#[test]
fn candidates_are_ranked_by_upstreams_criteria_in_order() {
    let candidate = |node: NodeId, victims: Vec<Placed>, pdb_violations| Candidate {
        node,
        name: format!("n{node}"),
        victims: victims.into_iter().map(|p| p.victim).collect(),
        pdb_violations,
    };
    let pick = |c: Vec<Candidate>| select_candidate(c).node;
    // Fewest violations beats everything else.
    assert_eq!(
        pick(vec![
            candidate(0, vec![victim("a", 1, 1, 0)], 1),
            candidate(1, vec![victim("b", 50, 1, 0), victim("c", 40, 1, 0)], 0),
        ]),
        1
    );
    // Then the lowest highest priority.
    assert_eq!(
        pick(vec![
            candidate(0, vec![victim("a", 20, 1, 0)], 0),
            candidate(1, vec![victim("b", 10, 1, 0), victim("c", 10, 1, 0)], 0),
        ]),
        1
    );
    // Then the smallest sum (negative priorities shifted, so two pods of
    // -5 weigh more than one).
    assert_eq!(
        pick(vec![
            candidate(0, vec![victim("a", -5, 1, 0), victim("b", -5, 1, 0)], 0),
            candidate(1, vec![victim("c", -5, 1, 0)], 0),
        ]),
        1
    );
    // Then the latest start of the most important victims.
    assert_eq!(
        pick(vec![
            candidate(0, vec![victim("a", 10, 5, 0)], 0),
            candidate(1, vec![victim("b", 10, 9, 0)], 0),
        ]),
        1
    );
    // A full tie: the first.
    assert_eq!(
        pick(vec![
            candidate(0, vec![victim("a", 10, 5, 0)], 0),
            candidate(1, vec![victim("b", 10, 5, 0)], 0),
        ]),
        0
    );
}

#[test]
fn args_are_upstreams_with_its_defaults_and_bounds() {
    let plugin = DefaultPreemption::new(DefaultPreemptionArgs::default()).unwrap();
    assert_eq!(plugin.candidates_to_find(50), 50);
    assert_eq!(plugin.candidates_to_find(5000), 500);
    let args = |percentage, absolute| DefaultPreemptionArgs {
        min_candidate_nodes_percentage: percentage,
        min_candidate_nodes_absolute: absolute,
        ..DefaultPreemptionArgs::default()
    };
    assert_eq!(
        DefaultPreemption::new(args(50, 1))
            .unwrap()
            .candidates_to_find(10),
        5
    );
    assert!(DefaultPreemption::new(args(101, 1)).is_err());
    assert!(DefaultPreemption::new(args(10, -1)).is_err());
    assert!(DefaultPreemption::new(args(0, 0)).is_err());
    let parsed: DefaultPreemptionArgs = serde_json::from_str(
        r#"{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "DefaultPreemptionArgs", "minCandidateNodesAbsolute": 3}"#,
    )
    .unwrap();
    assert_eq!(parsed.min_candidate_nodes_percentage, 10);
    assert_eq!(parsed.min_candidate_nodes_absolute, 3);
}

#[test]
fn the_preemptor_is_read_from_its_json() {
    let p = Preemptor::from_json(
        r#"{"spec": {"preemptionPolicy": "Never"}, "status": {"nominatedNodeName": "n1"}}"#,
    );
    assert!(p.never);
    assert_eq!(p.nominated_node.as_deref(), Some("n1"));
    assert_eq!(Preemptor::from_json("{}"), Preemptor::default());
}

/// Where we knowingly differ (docs/parity.md, "Preemption"): upstream's dry
/// run starts at a random offset into the potential nodes and stops once
/// it has enough candidates; ours starts at the first. With one candidate
/// wanted, the first node with one is taken even though a later node would
/// cost less; upstream would take whichever its offset reaches first.
#[test]
fn the_dry_run_starts_at_the_first_potential_node() {
    let nodes = vec![
        (1000, 0, vec![victim("a", 50, 1, 1000)]),
        (1000, 0, vec![victim("b", 10, 1, 1000)]),
    ];
    preemption::install(Box::new(FakeHost {
        nodes,
        pod_cpu: 500,
        budgets: Vec::new(),
        chosen: Rc::new(RefCell::new(None)),
    }));
    let plugin = DefaultPreemption::new(DefaultPreemptionArgs {
        min_candidate_nodes_percentage: 0,
        min_candidate_nodes_absolute: 1,
        ..DefaultPreemptionArgs::default()
    })
    .unwrap();
    let (candidates, _) = plugin.dry_run(&[(0, "n0"), (1, "n1")], &[]);
    let names: Vec<&str> = candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["n0"], "n1's cheaper victim is never looked at");
    // With every node tried (the default below 100 potential nodes), the
    // cheaper one wins, as it would upstream from any offset.
    let all = DefaultPreemption::new(DefaultPreemptionArgs::default()).unwrap();
    let (candidates, _) = all.dry_run(&[(0, "n0"), (1, "n1")], &[]);
    assert_eq!(select_candidate(candidates).name, "n1");
}
