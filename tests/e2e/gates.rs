//! Scheduling gates and queue order on the embedded cluster: a gated pod is
//! held without an attempt (no event, no failure) until its last gate is
//! removed, then scheduled like any other; the queue takes higher priority
//! first, as kube-scheduler's PrioritySort.

use kws_host::backend::embedded::EmbeddedCluster;
use kws_host::config::Config;
use kws_host::framework::Framework;
use kws_host::model::manifest;
use kws_host::queue::QueueTimings;
use kws_host::scheduler::{SCHEDULING_GATED_MESSAGE, Scheduler};
use kws_tests::plugins;
use std::sync::Arc;

const CLUSTER: &str = "
apiVersion: v1
kind: Node
metadata: {name: only}
status: {capacity: {cpu: '2', memory: 4Gi, pods: '110'}}
---
apiVersion: v1
kind: Pod
metadata: {name: gated, namespace: default}
spec:
  schedulerName: kube-wasm-scheduler
  schedulingGates: [{name: example.com/quota}, {name: example.com/approval}]
  containers: [{name: c, image: i, resources: {requests: {cpu: '1'}}}]
";

fn node_of(cluster: &EmbeddedCluster, name: &str) -> Option<String> {
    let pod = cluster
        .pods()
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no pod {name}"));
    pod.spec.as_ref()?.node_name.clone()
}

fn scheduler(
    cluster: &Arc<EmbeddedCluster>,
    runtime: &tokio::runtime::Runtime,
) -> Scheduler<EmbeddedCluster> {
    let framework =
        Framework::new(&Config::default(), plugins(), "plugins").unwrap_or_else(|e| panic!("{e}"));
    Scheduler::new(
        framework,
        cluster.clone(),
        runtime.handle().clone(),
        QueueTimings::default(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_gated_pod_is_scheduled_once_its_last_gate_is_removed() {
    let objects = manifest::parse("gates.yaml", CLUSTER).unwrap_or_else(|e| panic!("{e}"));
    let cluster = Arc::new(EmbeddedCluster::new(objects));
    let runtime = runtime();
    let mut scheduler = scheduler(&cluster, &runtime);
    scheduler.run_until_settled();

    let gated = cluster.pods()[0].clone();
    let uid = gated.metadata.uid.clone().unwrap();
    assert_eq!(node_of(&cluster, "gated"), None);
    assert_eq!(
        scheduler.waiting(&uid).map(|w| w.reason).as_deref(),
        Some(SCHEDULING_GATED_MESSAGE)
    );
    assert!(
        cluster.events().is_empty(),
        "a gated pod gets no attempt, so no event: {:?}",
        cluster.events()
    );

    // One gate of two removed: still held.
    let mut one_gate = (*gated).clone();
    one_gate
        .spec
        .as_mut()
        .unwrap()
        .scheduling_gates
        .as_mut()
        .unwrap()
        .remove(0);
    assert!(cluster.update_pod(one_gate.clone()));
    scheduler.run_until_settled();
    assert_eq!(node_of(&cluster, "gated"), None);
    assert!(cluster.events().is_empty());

    // The last one removed: scheduled.
    let mut open = one_gate;
    open.spec.as_mut().unwrap().scheduling_gates = None;
    assert!(cluster.update_pod(open));
    scheduler.run_until_settled();
    assert_eq!(node_of(&cluster, "gated").as_deref(), Some("only"));
    assert!(scheduler.waiting(&uid).is_none());
    let events = cluster.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, "Scheduled");
}

#[test]
fn higher_priority_pods_are_tried_first() {
    // Room for one of the two: the later, higher-priority pod gets it.
    let objects = manifest::parse(
        "priority.yaml",
        "
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: Node
metadata: {name: only}
status: {capacity: {cpu: '2', memory: 4Gi, pods: '110'}}
---
apiVersion: v1
kind: Pod
metadata: {name: first-low, namespace: default}
spec:
  schedulerName: kube-wasm-scheduler
  containers: [{name: c, image: i, resources: {requests: {cpu: 1500m}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: second-high, namespace: default}
spec:
  schedulerName: kube-wasm-scheduler
  priorityClassName: high
  containers: [{name: c, image: i, resources: {requests: {cpu: 1500m}}}]
",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cluster = Arc::new(EmbeddedCluster::new(objects));
    let runtime = runtime();
    let mut scheduler = scheduler(&cluster, &runtime);
    scheduler.run_until_settled();
    assert_eq!(node_of(&cluster, "second-high").as_deref(), Some("only"));
    assert_eq!(node_of(&cluster, "first-low"), None);
}
