//! kube-wasm-scheduler against a real kube-apiserver (built from the
//! `k8s.io/kubernetes` Go module by `tests/cluster/start`): binding through
//! the `binding` subresource, events, conditions, pods of other schedulers,
//! scheduling gates and priority order.

use k8s_openapi::api::core::v1::{Node, Pod, PodSchedulingGate};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{
    ONE_NODE_OUT_OF_CPU, OURS, bound, create, event_about, events_for, eventually, node, node_name,
    pod, unschedulable,
};
use kws_tests::cluster::{RunningScheduler, TestCluster};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_created_while_the_scheduler_is_down_is_bound_when_it_starts() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("node-1", "4")).await;
    create(&pods, &pod("webserver", OURS, "100m")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        node_name(&pods.get("webserver").await.unwrap()),
        None,
        "nothing binds it yet"
    );

    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    assert_eq!(
        bound(&pods, "webserver", Duration::from_secs(60)).await,
        "node-1"
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    let scheduled = event_about(&events, "webserver", "Scheduled", Duration::from_secs(30)).await;
    assert_eq!(
        scheduled.note.as_deref(),
        Some("Successfully assigned default/webserver to node-1")
    );
    assert_eq!(scheduled.reporting_controller.as_deref(), Some(OURS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_pods_are_left_alone_but_counted_and_unschedulable_pods_wait_for_a_node() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("small", "2")).await;
    // Bound by someone else: it fills the node.
    let mut theirs = pod("theirs", "default-scheduler", "2");
    theirs.spec.as_mut().unwrap().node_name = Some("small".into());
    create(&pods, &theirs).await;
    // Pending, for another scheduler (none runs here).
    create(&pods, &pod("for-default", "default-scheduler", "100m")).await;
    create(&pods, &pod("ours", OURS, "1")).await;

    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    let condition = unschedulable(&pods, "ours", Duration::from_secs(60)).await;
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(condition.message.as_deref(), Some(ONE_NODE_OUT_OF_CPU));
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let failed = event_about(&events, "ours", "FailedScheduling", Duration::from_secs(30)).await;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(failed.note.as_deref(), Some(ONE_NODE_OUT_OF_CPU));

    // A node with room arrives: the pod is bound there, no restart needed.
    create(&nodes, &node("roomy", "4")).await;
    assert_eq!(bound(&pods, "ours", Duration::from_secs(60)).await, "roomy");
    assert_eq!(
        node_name(&pods.get("for-default").await.unwrap()),
        None,
        "another scheduler's pod is not ours to bind"
    );
    assert!(
        events_for(&events, "for-default").await.is_empty(),
        "and we record nothing about it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_pods_over_fifty_nodes_are_each_bound_once_within_allocatable() {
    const NODES: usize = 50;
    const PODS: usize = 500;
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..NODES {
        // 10 cpus each: exactly room for the 500 one-cpu pods.
        create(&nodes, &node(&format!("node-{i:02}"), "10")).await;
    }
    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    let started = Instant::now();
    for i in 0..PODS {
        create(&pods, &pod(&format!("pod-{i:03}"), OURS, "1")).await;
    }
    let placed = eventually(
        "every pod to be bound",
        Duration::from_secs(300),
        || async {
            let all = pods.list(&ListParams::default()).await.ok()?.items;
            let placed: Vec<String> = all.iter().filter_map(node_name).collect();
            (placed.len() == PODS).then_some(placed)
        },
    )
    .await;
    let elapsed = started.elapsed();
    println!(
        "{PODS} pods over {NODES} nodes: {:.1} pods/s from first create to last bind ({:.1} s)",
        PODS as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for node in placed {
        *per_node.entry(node).or_default() += 1;
    }
    assert_eq!(per_node.len(), NODES, "every node is used: {per_node:?}");
    assert!(
        per_node.values().all(|&n| n == 10),
        "no node is over its 10 cpus: {per_node:?}"
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    let all_events = events.list(&ListParams::default()).await.unwrap().items;
    let mut scheduled: HashMap<String, usize> = HashMap::new();
    for e in all_events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Scheduled"))
    {
        let pod = e
            .regarding
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        let count = e.series.as_ref().map_or(1, |s| s.count as usize);
        *scheduled.entry(pod).or_default() += count;
    }
    assert_eq!(scheduled.len(), PODS, "one Scheduled event per pod");
    assert!(
        scheduled.values().all(|&n| n == 1),
        "no pod was bound twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_pod_waits_for_its_gates_to_be_removed_then_is_bound() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("node-1", "4")).await;
    let mut gated = pod("gated", OURS, "100m");
    gated.spec.as_mut().unwrap().scheduling_gates = Some(vec![PodSchedulingGate {
        name: "example.com/quota".into(),
    }]);
    create(&pods, &gated).await;
    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    // A pod that needs no gate shows the scheduler is running.
    create(&pods, &pod("free", OURS, "100m")).await;
    bound(&pods, "free", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = pods.get("gated").await.unwrap();
    assert_eq!(node_name(&held), None, "a gated pod is not bound");
    // The apiserver marks a gated pod; the scheduler leaves the mark as it
    // is and records no failure, since it made no attempt.
    let condition = held
        .status
        .and_then(|s| s.conditions)
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled")
        .expect("the apiserver's PodScheduled condition");
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("False", Some("SchedulingGated"))
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    assert!(events_for(&events, "gated").await.is_empty());

    // Removing the gate (an update the apiserver allows) releases it.
    let mut open = pods.get("gated").await.unwrap();
    open.spec.as_mut().unwrap().scheduling_gates = None;
    pods.replace("gated", &PostParams::default(), &open)
        .await
        .unwrap();
    assert_eq!(
        bound(&pods, "gated", Duration::from_secs(60)).await,
        "node-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_higher_priority_pod_is_placed_first() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    let high: PriorityClass = serde_json::from_value(serde_json::json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "high"},
        "value": 1000,
    }))
    .unwrap();
    create(&classes, &high).await;
    let nodes: Api<Node> = Api::all(client.clone());
    create(&nodes, &node("node-1", "2")).await;
    // Both wait for the scheduler: room for one, created low first.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, &pod("low", OURS, "1500m")).await;
    let mut urgent = pod("high", OURS, "1500m");
    urgent.spec.as_mut().unwrap().priority_class_name = Some("high".into());
    // The Priority admission plugin reads classes from its informer, which
    // may not have seen the new one yet.
    eventually(
        "the apiserver to admit a pod of the new class",
        Duration::from_secs(30),
        || async { pods.create(&PostParams::default(), &urgent).await.ok() },
    )
    .await;
    assert_eq!(
        pods.get("high")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.priority),
        Some(1000),
        "the apiserver resolved the priority class"
    );

    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    assert_eq!(
        bound(&pods, "high", Duration::from_secs(60)).await,
        "node-1"
    );
    let events: Api<Event> = Api::namespaced(client, "default");
    event_about(&events, "low", "FailedScheduling", Duration::from_secs(30)).await;
    assert_eq!(node_name(&pods.get("low").await.unwrap()), None);
}

/// The profile with PodTopologySpread and InterPodAffinity enabled (the
/// shared test profile of `clusters/spread-and-affinity.config.yaml`).
fn spread_and_affinity_config() -> Config {
    let path = kws_tests::workspace().join("tests/e2e/clusters/spread-and-affinity.config.yaml");
    Config::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_are_watched_for_pod_affinity_namespace_selectors() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    for name in ["node-1", "node-2"] {
        let mut n = node(name, "4");
        n.metadata.labels = Some([("kubernetes.io/hostname".to_string(), name.to_string())].into());
        create(&nodes, &n).await;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "team-a"}})).unwrap();
    create(&namespaces, &team).await;
    // The cache runs on node-1, bound by someone else.
    let mut cache = pod("cache", "default-scheduler", "100m");
    cache.metadata.namespace = Some("team-a".into());
    cache.metadata.labels = Some([("app".to_string(), "cache".to_string())].into());
    cache.spec.as_mut().unwrap().node_name = Some("node-1".into());
    Api::<Pod>::namespaced(client.clone(), "team-a")
        .create(&PostParams::default(), &cache)
        .await
        .unwrap();
    // The client must run beside a cache of a namespace labelled team=a.
    let mut client_pod = pod("client", OURS, "100m");
    client_pod.spec.as_mut().unwrap().affinity = Some(
        serde_json::from_value(serde_json::json!({"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app": "cache"}},
                "namespaceSelector": {"matchLabels": {"team": "a"}},
            }],
        }}))
        .unwrap(),
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, &client_pod).await;

    let _scheduler = RunningScheduler::start(&cluster, spread_and_affinity_config());
    let condition = unschedulable(&pods, "client", Duration::from_secs(60)).await;
    assert_eq!(
        condition.message.as_deref(),
        Some(
            "0/2 nodes are available: 2 node(s) didn't match pod affinity rules. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        )
    );

    // Labelling the namespace makes the cache's namespace selected: the
    // client is retried and bound beside it.
    let labels = serde_json::json!({"metadata": {"labels": {"team": "a"}}});
    namespaces
        .patch("team-a", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();
    assert_eq!(
        bound(&pods, "client", Duration::from_secs(60)).await,
        "node-1"
    );
}
