//! A plugin that traps, loops forever, allocates without bound or returns
//! an invalid score is stopped by the runtime. Under `failurePolicy: Fail`
//! the pod it was working on is reported with the plugin named and waits;
//! under `Ignore` it is placed without that plugin. Either way the
//! scheduler goes on with the next pod (on a fresh instance of the same
//! plugin), and a plugin that keeps faulting is quarantined.

use kws_host::config::Config;
use kws_host::model::manifest;
use kws_host::simulate::{self, Placement};
use kws_tests::{faulty, plugins};

/// Two nodes; `Faulty` misbehaves whenever it is asked about `bad-1`.
/// `unlucky` reaches it with both nodes; `lucky` only with `good-1`, since
/// its node selector already ruled `bad-1` out.
const CLUSTER: &str = "
apiVersion: v1
kind: Node
metadata: {name: good-1, labels: {zone: good}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
---
apiVersion: v1
kind: Node
metadata: {name: bad-1, labels: {zone: bad}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
---
apiVersion: v1
kind: Pod
metadata: {name: unlucky, namespace: default}
spec:
  schedulerName: kube-wasm-scheduler
  containers: [{name: c, image: i}]
---
apiVersion: v1
kind: Pod
metadata: {name: lucky, namespace: default}
spec:
  schedulerName: kube-wasm-scheduler
  nodeSelector: {zone: good}
  containers: [{name: c, image: i}]
";

fn run_with_fault(fault: &str) -> simulate::Report {
    run_with(fault, "Fail", 5, CLUSTER)
}

fn run_with(fault: &str, policy: &str, after_faults: u32, cluster: &str) -> simulate::Report {
    let config = Config::from_yaml(
        "faults.yaml",
        &format!(
            "
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: kube-wasm-scheduler
  plugins:
    filter:
      enabled: [{{name: Faulty}}]
    score:
      enabled: [{{name: Faulty}}]
  pluginConfig:
  - name: Faulty
    args: {{fault: {fault}, nodes: bad}}
wasm:
  plugins:
  - name: Faulty
    callTimeout: 100ms
    memoryLimit: 32Mi
    failurePolicy: {policy}
    quarantine: {{afterFaults: {after_faults}, backoff: 1h}}
"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut all = plugins().to_vec();
    all.push(faulty());
    let objects = manifest::parse("faults-cluster.yaml", cluster).unwrap();
    simulate::run(objects, &config, &all, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn assert_survived(report: &simulate::Report, expected_message: &str) {
    assert_eq!(
        report.placements,
        [Placement {
            pod: "default/lucky".into(),
            node: "good-1".into()
        }],
        "the next pod is scheduled after the fault"
    );
    assert_eq!(report.unschedulable.len(), 1, "{report:?}");
    let unlucky = &report.unschedulable[0];
    assert_eq!(unlucky.pod, "default/unlucky");
    assert!(unlucky.error, "a fault is an error, not unschedulable");
    assert!(
        report
            .to_text()
            .contains(&format!("default/unlucky error: {}", unlucky.message)),
        "{}",
        report.to_text()
    );
    assert!(
        unlucky.message.contains(expected_message),
        "the pod's message names the plugin and the fault: {}",
        unlucky.message
    );
}

#[test]
fn a_well_behaved_run_places_both() {
    let report = run_with_fault("none");
    assert_eq!(report.placements.len(), 2, "{report:?}");
}

#[test]
fn a_trap_is_reported_and_scheduling_goes_on() {
    assert_survived(
        &run_with_fault("trap"),
        "plugin Faulty trapped in filter: wasm trap: wasm `unreachable` instruction executed",
    );
}

/// A panic reaches the host through `host.fail` (the SDK's panic hook)
/// with its message and location, not as a bare trap.
#[test]
fn a_panic_is_reported_with_its_message() {
    assert_survived(
        &run_with_fault("panic"),
        "plugin Faulty panicked in filter: Faulty was told to panic on bad-1 (at tests/fixtures/faulty/src/lib.rs:",
    );
}

#[test]
fn an_endless_loop_is_cut_at_the_deadline() {
    assert_survived(
        &run_with_fault("loop"),
        "plugin Faulty ran past its 100 ms deadline in filter",
    );
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    assert_survived(
        &run_with_fault("allocate"),
        "plugin Faulty hit its memory limit of 33554432 bytes in filter",
    );
}

#[test]
fn an_out_of_range_score_fails_the_pod() {
    assert_survived(
        &run_with_fault("scoreOutOfRange"),
        "plugin Faulty returned an invalid result from score: 1000 for node bad-1, outside 0..=100",
    );
}

/// Under `failurePolicy: Ignore` each kind of fault leaves the plugin out
/// for that pod: both pods are placed.
#[test]
fn ignored_faults_let_the_other_plugins_place_the_pod() {
    for fault in ["panic", "trap", "loop", "allocate", "scoreOutOfRange"] {
        let report = run_with(fault, "Ignore", 5, CLUSTER);
        assert!(report.unschedulable.is_empty(), "{fault}: {report:?}");
        let mut placed: Vec<&str> = report.placements.iter().map(|p| p.pod.as_str()).collect();
        placed.sort();
        assert_eq!(placed, ["default/lucky", "default/unlucky"], "{fault}");
    }
}

/// Under `Ignore`, a plugin whose Filter faulted is left out of Score as
/// well. Faulty scores `bad-1` 100 and `good-1` 0; a running pod makes
/// `bad-1` the busier node, which the default scorers rate about 76 points
/// lower. With Faulty's score counted `unlucky` would go to `bad-1`, as it
/// does when Faulty does not fault.
#[test]
fn a_filter_fault_under_ignore_drops_the_plugins_score_too() {
    let cluster = format!(
        "{CLUSTER}---
apiVersion: v1
kind: Pod
metadata: {{name: running, namespace: default}}
spec:
  nodeName: bad-1
  containers: [{{name: c, image: i, resources: {{requests: {{cpu: '3'}}}}}}]
"
    );
    let node_of = |report: &simulate::Report| {
        report
            .placements
            .iter()
            .find(|p| p.pod == "default/unlucky")
            .map(|p| p.node.clone())
            .unwrap_or_else(|| panic!("unlucky not placed: {report:?}"))
    };
    assert_eq!(node_of(&run_with("none", "Ignore", 5, &cluster)), "bad-1");
    for fault in ["panic", "trap", "loop"] {
        let report = run_with(fault, "Ignore", 5, &cluster);
        assert_eq!(node_of(&report), "good-1", "{fault}: {report:?}");
    }
}

/// After one fault (`afterFaults: 1`) the plugin is quarantined: the pods
/// after it are not placed without it, not even the one it would have
/// passed, and their message says why.
#[test]
fn a_quarantined_plugin_holds_pods_under_fail() {
    let cluster = format!(
        "{CLUSTER}---
apiVersion: v1
kind: Pod
metadata: {{name: after, namespace: default}}
spec:
  schedulerName: kube-wasm-scheduler
  containers: [{{name: c, image: i}}]
"
    );
    let report = run_with("trap", "Fail", 1, &cluster);
    assert!(report.placements.is_empty(), "{report:?}");
    let message = |pod: &str| {
        report
            .unschedulable
            .iter()
            .find(|u| u.pod == pod)
            .map(|u| u.message.clone())
            .unwrap_or_else(|| panic!("{pod} not reported: {report:?}"))
    };
    assert!(
        message("default/unlucky").contains("plugin Faulty trapped in filter"),
        "{report:?}"
    );
    for pod in ["default/lucky", "default/after"] {
        assert!(
            message(pod).contains("plugin Faulty is quarantined for another")
                && message(pod)
                    .contains("after 1 faults in a row (last: plugin Faulty trapped in filter"),
            "{pod}: {report:?}"
        );
    }
}

/// The same under `Ignore`: quarantined, the plugin is skipped and every
/// pod is placed.
#[test]
fn a_quarantined_plugin_is_skipped_under_ignore() {
    let report = run_with("trap", "Ignore", 1, CLUSTER);
    assert!(report.unschedulable.is_empty(), "{report:?}");
    assert_eq!(report.placements.len(), 2, "{report:?}");
}

/// Each fault is counted by kind in `kws_plugin_faults_total` (shared by
/// every scheduler of the process, so other tests' faults may add to it).
#[test]
fn faults_are_counted_by_kind_in_the_metrics() {
    for (fault, kind) in [
        ("panic", "panic"),
        ("trap", "trap"),
        ("loop", "deadline"),
        ("scoreOutOfRange", "invalid_result"),
    ] {
        let counted = || {
            let text = kws_host::metrics::Metrics::default().render();
            let scrape =
                kws_tests::prom_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            scrape.sum(
                "kws_plugin_faults_total",
                &[("plugin", "Faulty"), ("kind", kind)],
            )
        };
        let before = counted();
        run_with_fault(fault);
        assert!(counted() > before, "{fault}: no {kind} fault counted");
    }
}
