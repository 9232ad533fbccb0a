//! The extension points the JavaScript helper
//! (`plugins/examples/javascript/kws-policy.js`) offers beyond filter and
//! score, through a loaded component: the `FrameworkJs` fixture
//! (`tests/fixtures/framework-javascript`) does at pre-filter, filter,
//! pre-score, score and permit what the pod's `framework/<point>` label
//! says, as the Rust `Framework` fixture does in `framework.rs`, whose
//! tests these mirror.

use kws_host::simulate;
use kws_tests::framework_fixture::{self, NODES, placed, pod, unplaced};

fn run(pods: &[String]) -> simulate::Report {
    framework_fixture::run("FrameworkJs", "framework-javascript", NODES, pods)
}

#[test]
fn filter_and_score_read_what_pre_filter_and_pre_score_kept() {
    // Filter and score fail without their cycle's state: placing the pods
    // shows the helper kept each cycle's state from pre-filter and
    // pre-score to the calls after them.
    let report = run(&[pod("plain", &[]), pod("also-plain", &[])]);
    assert_eq!(
        report.placements,
        vec![placed("plain", "n2"), placed("also-plain", "n2")]
    );
    assert!(report.unschedulable.is_empty(), "{report:?}");
}

#[test]
fn pre_filter_names_the_only_nodes_to_filter() {
    let report = run(&[pod("only-n1", &[("pre-filter", "only-n1")])]);
    assert_eq!(report.placements, vec![placed("only-n1", "n1")]);
}

#[test]
fn pre_filter_rejects_the_pod_for_every_node() {
    let report = run(&[pod("refused", &[("pre-filter", "reject")])]);
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "refused",
            "0/3 nodes are available: pre-filter said no."
        )]
    );
}

#[test]
fn pre_filter_skip_leaves_the_plugins_filter_out() {
    // FrameworkJs's filter would refuse n3, the best scored node (and fail
    // every node, since a skipping pre-filter keeps no state).
    let report = run(&[pod("skipped", &[("pre-filter", "skip")])]);
    assert_eq!(report.placements, vec![placed("skipped", "n3")]);
}

#[test]
fn pre_score_skip_leaves_the_plugins_score_out() {
    // Score fails without pre-score's state, so a score call would fail
    // the pod: it is placed only if skip is honoured.
    let report = run(&[pod("unscored", &[("pre-score", "skip")])]);
    assert_eq!(report.placements.len(), 1, "{report:?}");
    assert_ne!(report.placements[0].node, "n3");
}

#[test]
fn a_permit_rejection_leaves_the_pod_unscheduled() {
    let report = run(&[pod("refused", &[("permit", "reject")])]);
    assert!(report.placements.is_empty(), "{report:?}");
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "refused",
            "0/1 nodes are available: permit refused by FrameworkJs."
        )]
    );
}

#[test]
fn a_gang_of_two_waits_at_permit_until_both_are_there() {
    // The first waits; the second finds it among the host's waiting pods,
    // allows it and is allowed.
    let member = |name: &str| pod(name, &[("permit", "gang-2"), ("group", "g")]);
    let report = run(&[member("g1"), member("g2")]);
    assert_eq!(
        report.placements,
        vec![placed("g1", "n2"), placed("g2", "n2")]
    );
}

#[test]
fn an_incomplete_gang_times_out() {
    let member = |name: &str| {
        pod(
            name,
            &[("permit", "gang-3"), ("group", "g"), ("timeout-ms", "300")],
        )
    };
    let report = run(&[member("g1"), member("g2")]);
    assert!(report.placements.is_empty(), "{report:?}");
    let timeout = "rejected due to timeout after waiting 300ms at plugin FrameworkJs";
    assert_eq!(
        report.unschedulable,
        vec![unplaced("g1", timeout), unplaced("g2", timeout)]
    );
}

#[test]
fn cycle_state_does_not_outlive_its_cycle() {
    // Each cycle keeps 8 KiB in the plugin; 30 000 cycles would hold
    // 240 MB if the helper did not drop their pod and state at cycle-end
    // (the memory limit is 128 MiB).
    framework_fixture::assert_cycle_state_is_dropped("framework-javascript", 8192, 30_000);
}
