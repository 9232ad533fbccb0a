//! Objects and checks shared by the tests against a real apiserver
//! (`e2e/kube*.rs`).

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// Our scheduler name (the default profile's).
pub const OURS: &str = "kube-wasm-scheduler";

/// What a pod that does not fit on the only node, for lack of cpu, is told
/// (kube-scheduler's message, ours too).
pub const ONE_NODE_OUT_OF_CPU: &str = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

/// A ready node with `cpu` cores, 64Gi and room for 110 pods.
pub fn node(name: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "capacity": {"cpu": cpu, "memory": "64Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "64Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap()
}

/// The default profile with the `Lane` test plugin's filter added.
pub const LANE_PROFILE: &str = "apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: kube-wasm-scheduler
  plugins:
    filter:
      enabled: [{name: Lane}]
";

/// A ready node labelled `lane: <lane>`, roomy enough for thousands of
/// small pods: where the `Lane` test plugin's versions send pods.
pub fn lane_node(name: &str, lane: &str) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"lane": lane}},
        "status": {
            "capacity": {"cpu": "1000", "memory": "1Ti", "pods": "500"},
            "allocatable": {"cpu": "1000", "memory": "1Ti", "pods": "500"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
    .unwrap()
}

/// A pending pod in `default` for `scheduler`, requesting `cpu`.
pub fn pod(name: &str, scheduler: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedulerName": scheduler,
            "containers": [{"name": "nginx", "image": "nginx:1.27", "resources": {"requests": {"cpu": cpu}}}],
        },
    }))
    .unwrap()
}

/// Polls `check` until it returns `Some`, or panics with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn node_name(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.node_name.clone()
}

/// Creates `object`, which the test's setup needs: a refusal fails the test.
pub async fn create<K>(api: &Api<K>, object: &K)
where
    K: Clone + Debug + DeserializeOwned + Serialize,
{
    api.create(&PostParams::default(), object).await.unwrap();
}

/// Waits up to `timeout` for pod `name` to be bound; returns its node.
pub async fn bound(pods: &Api<Pod>, name: &str, timeout: Duration) -> String {
    eventually(&format!("{name} to be bound"), timeout, || async {
        node_name(&pods.get(name).await.ok()?)
    })
    .await
}

/// Waits up to `timeout` for an event with `reason` about `pod`.
pub async fn event_about(events: &Api<Event>, pod: &str, reason: &str, timeout: Duration) -> Event {
    eventually(
        &format!("the {reason} event about {pod}"),
        timeout,
        || async {
            events_for(events, pod)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        },
    )
    .await
}

/// Waits up to `timeout` for pod `name`'s `PodScheduled=False` condition.
pub async fn unschedulable(pods: &Api<Pod>, name: &str, timeout: Duration) -> PodCondition {
    eventually(
        &format!("{name}'s PodScheduled=False condition"),
        timeout,
        || async {
            pods.get(name)
                .await
                .ok()?
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        },
    )
    .await
}

/// Events about a pod.
pub async fn events_for(events: &Api<Event>, pod: &str) -> Vec<Event> {
    events
        .list(&ListParams::default().fields(&format!("regarding.name={pod}")))
        .await
        .unwrap()
        .items
}

/// How many times an event was observed: a repeated event is one object
/// whose `series.count` grows.
pub fn occurrences(event: &Event) -> usize {
    event.series.as_ref().map_or(1, |s| s.count as usize)
}

/// Occurrences of events with `reason`, by the name of the pod they are
/// about.
pub async fn event_counts(events: &Api<Event>, reason: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event in events.list(&ListParams::default()).await.unwrap().items {
        if event.reason.as_deref() != Some(reason) {
            continue;
        }
        let pod = event
            .regarding
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        *counts.entry(pod).or_default() += occurrences(&event);
    }
    counts
}
