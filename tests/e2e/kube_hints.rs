//! Queueing hints against a real kube-apiserver: an unschedulable pod goes
//! back to the queue on the cluster events the plugins that rejected it
//! registered for, a pod bound elsewhere among them.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::PostParams;
use kws_host::config::Config;
use kws_tests::api::{OURS, eventually, node, node_name, pod};
use kws_tests::cluster::{RunningScheduler, TestCluster};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_waiting_for_pod_affinity_is_bound_soon_after_its_target_appears() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut only = node("node-1", "4");
    only.metadata.labels =
        Some([("kubernetes.io/hostname".to_string(), "node-1".to_string())].into());
    nodes.create(&PostParams::default(), &only).await.unwrap();
    let _scheduler = RunningScheduler::start(&cluster, Config::default());

    let mut waiter = pod("waiter", OURS, "100m");
    waiter.spec.as_mut().unwrap().affinity = Some(
        serde_json::from_value(json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "target"}}, "topologyKey": "kubernetes.io/hostname"}
        ]}}))
        .unwrap(),
    );
    pods.create(&PostParams::default(), &waiter).await.unwrap();
    // It is tried and found unschedulable: no pod matches its affinity.
    eventually(
        "waiter to be found unschedulable",
        Duration::from_secs(30),
        || async {
            let pod = pods.get("waiter").await.ok()?;
            pod.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        },
    )
    .await;

    let mut target = pod("target", OURS, "100m");
    target.metadata.labels = Some([("app".to_string(), "target".to_string())].into());
    pods.create(&PostParams::default(), &target).await.unwrap();
    eventually("target to be bound", Duration::from_secs(30), || async {
        node_name(&pods.get("target").await.ok()?)
    })
    .await;
    let target_bound = Instant::now();
    // InterPodAffinity registered for pods bound anywhere: the target's
    // bind moves the waiter back at once (after its 1 s backoff), not at
    // the 5-minute flush.
    let node = eventually(
        "waiter to be bound within 5 s of its target",
        Duration::from_secs(5),
        || async { node_name(&pods.get("waiter").await.ok()?) },
    )
    .await;
    assert_eq!(node, "node-1");
    assert!(target_bound.elapsed() < Duration::from_secs(5));
}

/// A hint function answers through the component, on the apiserver's own
/// JSON of the node before and after: TaintToleration queues a pod it kept
/// off a tainted node as soon as the taint is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_kept_off_by_a_taint_is_bound_soon_after_the_taint_goes() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut tainted = node("node-1", "4");
    tainted.spec.get_or_insert_default().taints = Some(
        serde_json::from_value(json!([{"key": "maintenance", "effect": "NoSchedule"}])).unwrap(),
    );
    nodes
        .create(&PostParams::default(), &tainted)
        .await
        .unwrap();
    let _scheduler = RunningScheduler::start(&cluster, Config::default());

    pods.create(&PostParams::default(), &pod("kept-off", OURS, "100m"))
        .await
        .unwrap();
    eventually(
        "kept-off to be found unschedulable",
        Duration::from_secs(30),
        || async {
            let pod = pods.get("kept-off").await.ok()?;
            pod.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        },
    )
    .await;

    let patch = json!({"spec": {"taints": null}});
    nodes
        .patch(
            "node-1",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let untainted = Instant::now();
    let node = eventually(
        "kept-off to be bound within 5 s of the taint's removal",
        Duration::from_secs(5),
        || async { node_name(&pods.get("kept-off").await.ok()?) },
    )
    .await;
    assert_eq!(node, "node-1");
    assert!(untainted.elapsed() < Duration::from_secs(5));
}
