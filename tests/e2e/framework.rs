//! Every extension point of the scheduling framework, through a loaded
//! component: the `Framework` fixture (`tests/fixtures/framework`) runs at
//! each point and does what the pod's `framework/<point>` label says, on
//! the embedded cluster.

use kws_host::config::{Config, PluginSettings};
use kws_host::framework::{Framework, Outcome, PermitOutcome};
use kws_host::model::{convert, manifest};
use kws_host::runtime::{CallContext, PluginPool};
use kws_host::simulate;
use kws_tests::framework_fixture::{self, NODES, cache_of, failed, placed, pod, unplaced};
use kws_tests::{fixture, plugins};
use std::sync::Arc;

fn run(nodes: &str, pods: &[String]) -> simulate::Report {
    framework_fixture::run("Framework", "framework", nodes, pods)
}

#[test]
fn filter_and_score_read_what_pre_filter_and_pre_score_kept() {
    // Filter and Score fail without their cycle's state: placing the pod
    // shows every call of the cycle reached the instance that keeps it.
    let report = run(NODES, &[pod("plain", &[]), pod("also-plain", &[])]);
    assert_eq!(
        report.placements,
        vec![placed("plain", "n2"), placed("also-plain", "n2")]
    );
    assert!(report.unschedulable.is_empty(), "{report:?}");
}

#[test]
fn pre_filter_names_the_only_nodes_to_filter() {
    let report = run(NODES, &[pod("only-n1", &[("pre-filter", "only-n1")])]);
    assert_eq!(report.placements, vec![placed("only-n1", "n1")]);
}

#[test]
fn pre_filter_rejects_the_pod_for_every_node() {
    // PostFilter runs after a PreFilter rejection too, as upstream's, and
    // is shown every node (each with PreFilter's status).
    let report = run(NODES, &[pod("refused", &[("pre-filter", "reject")])]);
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "refused",
            "0/3 nodes are available: pre-filter said no. post-filter: Framework was shown 3 node(s)"
        )]
    );
}

#[test]
fn pre_filter_skip_leaves_the_plugins_filter_out() {
    // Framework's filter would refuse n3, the best scored node.
    let report = run(NODES, &[pod("skipped", &[("pre-filter", "skip")])]);
    assert_eq!(report.placements, vec![placed("skipped", "n3")]);
}

#[test]
fn pre_score_skip_leaves_the_plugins_score_out() {
    // Score fails without pre-score's state, so a score call would fail
    // the pod: it is placed only if skip is honoured.
    let report = run(NODES, &[pod("unscored", &[("pre-score", "skip")])]);
    assert_eq!(report.placements.len(), 1, "{report:?}");
    assert_ne!(report.placements[0].node, "n3");
}

#[test]
fn post_filter_speaks_when_no_node_fits() {
    // Its message ends as the plugin wrote it, as in kube-scheduler's
    // FitError (DefaultPreemption's own messages end with a period).
    let report = run(NODES, &[pod("nowhere", &[("pre-filter", "only-n3")])]);
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "nowhere",
            "0/3 nodes are available: 1 node(s) were refused by Framework, \
             2 node(s) didn't satisfy plugin(s) [Framework]. \
             post-filter: Framework was shown 3 node(s)"
        )]
    );
}

#[test]
fn a_failed_reserve_leaves_the_pod_unscheduled() {
    let report = run(NODES, &[pod("unreserved", &[("reserve", "fail")])]);
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "unreserved",
            "0/1 nodes are available: reserve refused by Framework."
        )]
    );
}

/// One node with one Framework slot (and n3, which Framework refuses).
const ONE_SLOT: &str = "
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {framework/slots: '1'}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {framework/filter: 'no'}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
";

#[test]
fn a_permit_rejection_unreserves_the_node() {
    // `first` reserves n1's only slot and is rejected at permit; unless
    // unreserve gives the slot back, `second` fits nowhere. Once `second`
    // is bound there (AssignedPodAdd), `first` is tried again and finds
    // the slot taken.
    let report = run(
        ONE_SLOT,
        &[pod("first", &[("permit", "reject")]), pod("second", &[])],
    );
    assert_eq!(report.placements, vec![placed("second", "n1")]);
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "first",
            "0/2 nodes are available: 1 node(s) had no free Framework slot, 1 node(s) were refused by Framework. post-filter: Framework was shown 2 node(s)"
        )]
    );
}

#[test]
fn a_gang_waits_at_permit_until_every_member_is_reserved() {
    let member = |name: &str| pod(name, &[("permit", "gang-3"), ("group", "g")]);
    let report = run(NODES, &[member("g1"), member("g2"), member("g3")]);
    assert_eq!(
        report.placements,
        vec![placed("g1", "n2"), placed("g2", "n2"), placed("g3", "n2")]
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
    let report = run(NODES, &[member("g1"), member("g2")]);
    assert!(report.placements.is_empty(), "{report:?}");
    let timeout = "rejected due to timeout after waiting 300ms at plugin Framework";
    assert_eq!(
        report.unschedulable,
        vec![unplaced("g1", timeout), unplaced("g2", timeout)]
    );
}

#[test]
fn the_binding_cycle_runs_pre_bind_and_bind_plugins() {
    let report = run(
        NODES,
        &[
            pod("refused-at-pre-bind", &[("pre-bind", "fail")]),
            pod("bound-by-framework", &[("bind", "take")]),
        ],
    );
    assert_eq!(report.placements, vec![placed("bound-by-framework", "n2")]);
    assert_eq!(
        report.unschedulable,
        vec![failed(
            "refused-at-pre-bind",
            "binding rejected: running PreBind plugin \"Framework\": pre-bind failed in Framework"
        )]
    );
}

#[test]
fn pre_enqueue_keeps_a_pod_out_of_the_queue() {
    let report = run(NODES, &[pod("held", &[("pre-enqueue", "hold")])]);
    assert!(report.placements.is_empty());
    assert_eq!(
        report.unschedulable,
        vec![unplaced(
            "held",
            "pod waits for plugin Framework: held by Framework"
        )]
    );
}

#[test]
fn cycle_state_does_not_outlive_its_cycle() {
    // Each cycle keeps 4 KiB in the plugin; 100 000 cycles would hold
    // 400 MB if their state were not dropped at cycle-end (the memory limit
    // is 128 MiB).
    framework_fixture::assert_cycle_state_is_dropped("framework", 4096, 100_000);
}

#[test]
fn the_framework_ends_each_cycle_on_every_plugin_it_ran() {
    // The default profile's plugins each run at different points (NodeName
    // only filters, ImageLocality only scores, GangScheduling is asked at
    // Permit): every instance sent a cycle's pod keeps it until cycle-end,
    // so a plugin the framework forgot to end cycles on grows with every
    // pod scheduled.
    let config = Config::default();
    let mut framework =
        Framework::new(&config, plugins(), "plugins").unwrap_or_else(|e| panic!("{e}"));
    let objects = manifest::parse("cycles.yaml", &format!("{NODES}{}", pod("p", &[]))).unwrap();
    let mut cache = cache_of(&objects);
    let object = Arc::new(objects.pods[0].clone());
    let record = convert::pod(&object);
    let snapshot = cache.snapshot();
    let profile = framework
        .profile_mut(&config.profiles[0].scheduler_name)
        .expect("the default profile");
    let mut memory_after = |count: usize| {
        for _ in 0..count {
            match profile.schedule(&cache, &snapshot, &object, &record) {
                Outcome::Scheduled(cycle) => {
                    let permit = cycle.permit(&cache, &object, &record);
                    assert!(matches!(permit, PermitOutcome::Allowed), "{permit:?}");
                    cycle.end();
                }
                other => panic!("not scheduled: {other:?}"),
            }
        }
        profile
            .plugin_memory()
            .into_iter()
            .map(|(name, peak)| (name.to_string(), peak))
            .collect::<Vec<_>>()
    };
    let warm = memory_after(500);
    // DefaultPreemption runs only at PostFilter, never reached here: its
    // home instance is live only when it is the one made at start.
    assert!(
        warm.iter()
            .filter(|(name, _)| name != "DefaultPreemption")
            .all(|(_, peak)| peak.is_some()),
        "{warm:?}"
    );
    let after = memory_after(10_000);
    assert_eq!(after, warm, "memory grew over 10 000 cycles");
}

#[test]
fn a_what_if_copy_of_a_cycle_changes_only_the_copy() {
    // What preemption does: copy the cycle, count a pod as added to (then
    // removed from) a node in the copy, and filter there; the original
    // cycle's state stays as pre-filter left it.
    let pool = PluginPool::new(
        fixture("framework"),
        "{}".into(),
        PluginSettings::default(),
        1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = format!("{NODES}{}{}", pod("p", &[]), pod("victim", &[]));
    let objects = manifest::parse("what-if.yaml", &text).unwrap();
    let mut cache = cache_of(&objects);
    let object = Arc::new(objects.pods[0].clone());
    let record = convert::pod(&object);
    let victim = convert::pod(&objects.pods[1]);
    let snapshot = cache.snapshot();
    let ctx = |cycle: u64| CallContext {
        cache: Some(&cache),
        snapshot: &snapshot,
        pod: &object,
        cycle,
    };
    let n1 = snapshot.nodes.iter().find(|n| n.name == "n1").unwrap().id;
    let all: Vec<_> = snapshot.nodes.iter().map(|n| n.id).collect();
    let rejected = |cycle: u64| -> Vec<String> {
        let mut names: Vec<String> = pool
            .filter(0, ctx(cycle), &record, &all)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|s| format!("{}: {}", s.node, s.status.reasons.join(", ")))
            .collect();
        names.sort();
        names
    };
    let (original, copy) = (7_000_001, 7_000_002);
    pool.pre_filter(0, ctx(original), &record)
        .unwrap_or_else(|e| panic!("{e}"));
    let before = rejected(original);
    pool.cycle_fork(0, original, copy)
        .unwrap_or_else(|e| panic!("{e}"));
    let added = pool
        .add_pod(0, ctx(copy), &record, &victim, n1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(added.code, kws_host::wit::Code::Success, "{added:?}");
    let what_if = rejected(copy);
    assert!(
        what_if.contains(&format!("{n1}: node(s) took a what-if pod")),
        "{what_if:?}"
    );
    assert_eq!(
        rejected(original),
        before,
        "the original cycle is untouched"
    );
    pool.remove_pod(0, ctx(copy), &record, &victim.uid, n1)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rejected(copy), before, "remove-pod takes it back");
    for cycle in [copy, original] {
        pool.cycle_end(0, cycle).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn post_bind_runs_once_the_pod_is_bound() {
    // `waiter` waits at permit (30 s) until `first`'s post-bind, which runs
    // only after `first` is bound, lets it go.
    let report = run(
        NODES,
        &[
            pod("waiter", &[("permit", "wait"), ("timeout-ms", "30000")]),
            pod("first", &[("post-bind", "allow-waiter")]),
        ],
    );
    assert_eq!(
        report.placements,
        vec![placed("waiter", "n2"), placed("first", "n2")]
    );
    assert!(report.unschedulable.is_empty(), "{report:?}");
}

/// The later points are timed into kube-scheduler's metrics: Reserve,
/// Permit (a rejection is `Unschedulable`), Unreserve, PreBind and Bind,
/// each extension point once per attempt and each call of the plugin.
/// `rejected` has two attempts: `taken`'s bind (AssignedPodAdd) sends it
/// round again.
#[test]
fn the_later_points_are_timed_in_the_metrics() {
    use kws_host::backend::embedded::EmbeddedCluster;
    use kws_host::metrics::Metrics;
    use kws_host::queue::QueueTimings;
    use kws_host::scheduler::Scheduler;
    use kws_tests::prom_text;

    let mut all = plugins().to_vec();
    all.push(fixture("framework"));
    let pods = [
        pod("rejected", &[("permit", "reject")]),
        pod("taken", &[("bind", "take")]),
    ];
    let objects = manifest::parse("metrics.yaml", &format!("{NODES}{}", pods.concat())).unwrap();
    let framework = Framework::new(&framework_fixture::config("Framework"), &all, "test").unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let mut scheduler = Scheduler::new(
        framework,
        Arc::new(EmbeddedCluster::new(objects)),
        runtime.handle().clone(),
        QueueTimings::default(),
    )
    .with_metrics(metrics.clone());
    scheduler.run_until_settled();
    let text = metrics.render();
    let scrape = prom_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let point = |point: &str, status: &str| {
        scrape.sum(
            "scheduler_framework_extension_point_duration_seconds_count",
            &[("extension_point", point), ("status", status)],
        )
    };
    assert_eq!(point("Reserve", "Success"), 3.0, "{text}");
    assert_eq!(point("Permit", "Unschedulable"), 2.0, "{text}");
    assert_eq!(point("Permit", "Success"), 1.0, "{text}");
    assert_eq!(point("Unreserve", "Success"), 2.0, "{text}");
    assert_eq!(point("Bind", "Success"), 1.0, "{text}");
    let calls = |point: &str| {
        scrape.sum(
            "scheduler_plugin_execution_duration_seconds_count",
            &[("plugin", "Framework"), ("extension_point", point)],
        )
    };
    assert_eq!(calls("Reserve"), 3.0, "{text}");
    assert_eq!(calls("Permit"), 3.0, "{text}");
    assert_eq!(calls("Bind"), 1.0, "{text}");
    assert_eq!(
        scrape.sum(
            "scheduler_schedule_attempts_total",
            &[("result", "scheduled")]
        ),
        1.0,
        "{text}"
    );
}
