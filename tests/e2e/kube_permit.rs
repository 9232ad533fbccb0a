//! Permit and waiting pods against a real kube-apiserver: a plugin holds
//! pods at Permit until its group is complete, and a pod whose wait times
//! out is unreserved and tried again. The plugin is the `Framework`
//! fixture (`tests/fixtures/framework`), whose Permit is a small gang.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{Patch, PatchParams};
use kws_host::config::Config;
use kws_tests::api::{
    OURS, bound, create, events_for, eventually, node, node_name, occurrences, pod,
};
use kws_tests::cluster::{RunningScheduler, TestCluster};
use kws_tests::fixture;
use std::time::Duration;

/// The default profile, with `Framework` added (it runs at every point it
/// implements, Permit among them).
fn config() -> Config {
    Config::from_yaml(
        "permit.yaml",
        "
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: kube-wasm-scheduler
  plugins:
    permit:
      enabled: [{name: Framework}]
",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A pod of gang `group` of `size`, waiting at most `timeout_ms` at
/// Permit.
fn member(name: &str, group: &str, size: usize, timeout_ms: u64) -> Pod {
    let mut pod = pod(name, OURS, "100m");
    pod.metadata.labels = Some(
        [
            ("framework/permit", format!("gang-{size}")),
            ("framework/group", group.to_string()),
            ("framework/timeout-ms", timeout_ms.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gang_of_two_is_bound_only_once_both_are_reserved() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("node-1", "4")).await;
    let _scheduler =
        RunningScheduler::start_with_plugins(&cluster, config(), vec![fixture("framework")]);

    create(&pods, &member("first", "g", 2, 60_000)).await;
    // It is reserved and held at Permit: long enough for a bind to land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        node_name(&pods.get("first").await.unwrap()),
        None,
        "the first member is not bound alone"
    );

    create(&pods, &member("second", "g", 2, 60_000)).await;
    for name in ["first", "second"] {
        assert_eq!(bound(&pods, name, Duration::from_secs(30)).await, "node-1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_times_out_unreserves_the_pod_and_requeues_it() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // One Framework slot: a pod that kept it after its timeout would find
    // no free slot on its next attempt.
    let mut only = node("node-1", "4");
    only.metadata.labels = Some([("framework/slots".to_string(), "1".to_string())].into());
    create(&nodes, &only).await;
    let _scheduler =
        RunningScheduler::start_with_plugins(&cluster, config(), vec![fixture("framework")]);

    create(&pods, &member("alone", "lonely", 2, 1_000)).await;
    let timeout = "rejected due to timeout after waiting 1s at plugin Framework";
    let events: Api<Event> = Api::namespaced(client, "default");
    let attempts = |count: usize| {
        let events = events.clone();
        move || {
            let events = events.clone();
            async move {
                let failures: Vec<Event> = events_for(&events, "alone")
                    .await
                    .into_iter()
                    .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
                    .collect();
                let timed_out: usize = failures
                    .iter()
                    .filter(|e| e.note.as_deref() == Some(timeout))
                    .map(occurrences)
                    .sum();
                (timed_out >= count).then_some(failures)
            }
        }
    };
    eventually(
        "the first attempt of `alone` to time out",
        Duration::from_secs(60),
        attempts(1),
    )
    .await;
    // As in kube-scheduler, a pod's own unreserve does not send it round
    // again; a change to the node does (the fixture registers no events,
    // so every event counts for it).
    let touched = serde_json::json!({"metadata": {"labels": {"touched": "once"}}});
    nodes
        .patch("node-1", &PatchParams::default(), &Patch::Merge(&touched))
        .await
        .unwrap();
    let failures = eventually(
        "a second attempt of `alone` to time out",
        Duration::from_secs(60),
        attempts(2),
    )
    .await;
    // Each attempt found the slot free again: the timeout unreserved it.
    for event in failures {
        assert_eq!(event.note.as_deref(), Some(timeout), "{event:?}");
    }
    assert_eq!(node_name(&pods.get("alone").await.unwrap()), None);
}
