//! A plugin that traps, loops forever or allocates without bound is stopped
//! by the runtime; the pod it was working on is reported with the plugin
//! named, and the scheduler goes on with the next pod (on a fresh instance
//! of the same plugin).

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
  pluginConfig:
  - name: Faulty
    args: {{fault: {fault}, nodes: bad}}
wasm:
  plugins:
  - name: Faulty
    callTimeout: 100ms
    memoryLimit: 32Mi
"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut all = plugins().to_vec();
    all.push(faulty());
    let objects = manifest::parse("faults-cluster.yaml", CLUSTER).unwrap();
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
    assert_survived(&run_with_fault("trap"), "plugin Faulty trapped in filter");
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
