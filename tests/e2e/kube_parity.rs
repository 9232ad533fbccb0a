//! The same workload placed by the real kube-scheduler and by ours, each on
//! a fresh test cluster with the same nodes: no pod of ours may sit on a
//! node that kube-scheduler's own filters reject, and the same pods must be
//! left unschedulable.
//!
//! "Rejected by upstream's filters" is asked of the reference oracle
//! (`tests/oracle`, kube-scheduler's plugins): for each bound pod, the
//! final cluster with that pod taken off its node, and that pod to place.
//! The final state is a fair question for every filter used here: resource
//! fit, host ports and anti-affinity are symmetric, and a spread constraint
//! that held when a pod was placed still holds once later pods joined
//! (they kept the skew too). The check runs on kube-scheduler's placements
//! as well, which shows the method itself rejects nothing upstream chose.
//!
//! The workload holds no pod whose fate depends on placement order: pods
//! are unschedulable only for reasons no other pod changes (too big, no
//! node with the label, a taint not tolerated, anti-affinity to pods that
//! are everywhere), and pods with affinity to others are created once
//! those are bound.

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{ListParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{OURS, eventually, node_name};
use kws_tests::cluster::{RunningScheduler, TestCluster, UpstreamOptions, UpstreamScheduler};
use kws_tests::scenario_parity::{Oracle, compared_plugins};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const ZONE: &str = "topology.kubernetes.io/zone";

fn nodes() -> Vec<Node> {
    (0..10)
        .map(|i| {
            let name = format!("node-{i}");
            let cpu = if i % 2 == 0 { "4" } else { "8" };
            let mut labels = json!({
                "kubernetes.io/hostname": name,
                ZONE: (["zone-a", "zone-b", "zone-c"][i % 3]),
            });
            let mut spec = json!({});
            if i == 8 {
                spec["unschedulable"] = json!(true);
            }
            if i == 9 {
                labels["accelerator"] = json!("gpu");
                spec["taints"] =
                    json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
            }
            let resources = json!({"cpu": cpu, "memory": "16Gi", "pods": "110"});
            serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": labels},
                "spec": spec,
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }))
            .unwrap()
        })
        .collect()
}

/// A pod of `app` for `scheduler`, with `spec` fields merged in.
fn pod(name: &str, app: &str, scheduler: &str, cpu: &str, spec: Value) -> Pod {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
        "spec": {
            "schedulerName": scheduler,
            "containers": [{
                "name": "main",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}},
            }],
        },
    });
    for (key, value) in spec.as_object().unwrap() {
        pod["spec"][key] = value.clone();
    }
    serde_json::from_value(pod).unwrap()
}

fn anti_affinity(app: &str, key: &str) -> Value {
    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {"app": app}},
        "topologyKey": key,
    }]}})
}

/// The first wave: pods that depend on nodes only, or on each other
/// symmetrically.
fn first_wave(scheduler: &str) -> Vec<Pod> {
    let mut pods = Vec::new();
    for i in 0..6 {
        let spec = json!({"affinity": anti_affinity("web", "kubernetes.io/hostname")});
        pods.push(pod(&format!("web-{i}"), "web", scheduler, "500m", spec));
    }
    for i in 0..9 {
        let spec = json!({"topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "spread"}},
        }]});
        pods.push(pod(
            &format!("spread-{i}"),
            "spread",
            scheduler,
            "250m",
            spec,
        ));
    }
    for i in 0..3 {
        let spec = json!({"nodeSelector": {ZONE: "zone-a"}});
        pods.push(pod(&format!("zone-a-{i}"), "zoned", scheduler, "1", spec));
    }
    for i in 0..3 {
        let spec = json!({"containers": [{
            "name": "main",
            "image": "registry.k8s.io/pause:3.10",
            "ports": [{"containerPort": 8080, "hostPort": 8080}],
            "resources": {"requests": {"cpu": "100m"}},
        }]});
        pods.push(pod(&format!("port-{i}"), "port", scheduler, "100m", spec));
    }
    let gpu = json!({
        "nodeSelector": {"accelerator": "gpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
    });
    pods.push(pod("gpu", "gpu", scheduler, "2", gpu));
    // Unschedulable whatever else happens.
    pods.push(pod("huge", "huge", scheduler, "64", json!({})));
    pods.push(pod(
        "lost",
        "lost",
        scheduler,
        "100m",
        json!({"nodeSelector": {ZONE: "zone-z"}}),
    ));
    let untolerated = json!({"nodeSelector": {"accelerator": "gpu"}});
    pods.push(pod(
        "gpu-untolerated",
        "gpu",
        scheduler,
        "100m",
        untolerated,
    ));
    pods
}

/// The second wave, created once the first is placed: affinity to pods
/// that now exist, anti-affinity to pods that are now in every zone.
fn second_wave(scheduler: &str) -> Vec<Pod> {
    let mut pods = Vec::new();
    for i in 0..3 {
        let spec = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "web"}},
            "topologyKey": ZONE,
        }]}}});
        pods.push(pod(
            &format!("near-web-{i}"),
            "near-web",
            scheduler,
            "200m",
            spec,
        ));
    }
    let spec = json!({"affinity": anti_affinity("spread", ZONE)});
    pods.push(pod("away-from-spread", "away", scheduler, "100m", spec));
    pods
}

/// Where each pod went (`None`: unschedulable), once every pod of `wave`
/// is bound or marked unschedulable (PodScheduled=False, Unschedulable).
async fn settle(pods: &Api<Pod>, wave: &[Pod]) -> BTreeMap<String, Option<String>> {
    let names: BTreeSet<String> = wave
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    eventually(
        "every pod bound or unschedulable",
        Duration::from_secs(120),
        || async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let mut outcome = BTreeMap::new();
            for pod in list.items.iter() {
                let name = pod.metadata.name.clone().unwrap_or_default();
                if !names.contains(&name) {
                    continue;
                }
                let bound = node_name(pod);
                let unschedulable = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| {
                        c.type_ == "PodScheduled"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("Unschedulable")
                    });
                if bound.is_none() && !unschedulable {
                    return None;
                }
                outcome.insert(name, bound);
            }
            (outcome.len() == names.len()).then_some(outcome)
        },
    )
    .await
}

/// Runs both waves on a fresh cluster with `start` as the scheduler;
/// returns where each pod went and the cluster's final objects.
async fn place<S>(
    scheduler: &str,
    start: impl FnOnce(&TestCluster) -> S,
) -> (BTreeMap<String, Option<String>>, Vec<Value>) {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let node_api: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    for node in nodes() {
        node_api
            .create(&PostParams::default(), &node)
            .await
            .unwrap();
    }
    let _running = start(&cluster);
    let mut placed = BTreeMap::new();
    for wave in [first_wave(scheduler), second_wave(scheduler)] {
        for pod in &wave {
            pods.create(&PostParams::default(), pod).await.unwrap();
        }
        placed.extend(settle(&pods, &wave).await);
    }
    let mut objects: Vec<Value> = Vec::new();
    for node in node_api.list(&ListParams::default()).await.unwrap().items {
        objects.push(stored(serde_json::to_value(node).unwrap(), "Node"));
    }
    for pod in pods.list(&ListParams::default()).await.unwrap().items {
        objects.push(stored(serde_json::to_value(pod).unwrap(), "Pod"));
    }
    (placed, objects)
}

/// An object as listed, made a scenario document: its kind set (lists
/// leave it out of items) and server-side bookkeeping dropped.
fn stored(mut object: Value, kind: &str) -> Value {
    object["apiVersion"] = json!("v1");
    object["kind"] = json!(kind);
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.remove("managedFields");
    }
    object
}

/// The bound pods whose node kube-scheduler's filters reject, asking the
/// oracle about each one with the rest of the final cluster in place.
fn rejected_by_upstream(objects: &[Value], dir: &std::path::Path) -> Vec<String> {
    let mut oracle = Oracle::start();
    let plugins = compared_plugins();
    let mut rejected = Vec::new();
    for pod in objects.iter().filter(|o| o["kind"] == "Pod") {
        let Some(node) = pod["spec"]["nodeName"].as_str() else {
            continue;
        };
        let name = pod["metadata"]["name"].as_str().unwrap();
        let mut items: Vec<Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Node" || o["spec"]["nodeName"].is_string())
            .filter(|o| o["metadata"]["name"] != name || o["kind"] == "Node")
            .cloned()
            .collect();
        let mut pending = pod.clone();
        pending["spec"].as_object_mut().unwrap().remove("nodeName");
        pending.as_object_mut().unwrap().remove("status");
        items.push(pending);
        let file = dir.join(format!("{name}.json"));
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        std::fs::write(&file, list.to_string()).unwrap();
        let answer = oracle
            .ask(&Oracle::request(
                &file,
                &format!("default/{name}"),
                &plugins,
            ))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let verdict = answer["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == node)
            .unwrap_or_else(|| panic!("{name}: the oracle did not report {node}: {answer}"))
            .clone();
        if verdict["feasible"] != true {
            rejected.push(format!("{name} on {node}: {}", verdict["filters"]));
        }
    }
    rejected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ours_places_no_pod_where_kube_scheduler_would_not_and_leaves_the_same_pods_unschedulable()
{
    let (theirs, their_objects) = place("default-scheduler", |cluster| {
        UpstreamScheduler::start(cluster, &UpstreamOptions::default())
    })
    .await;
    let (ours, our_objects) = place(OURS, |cluster| {
        RunningScheduler::start(cluster, Config::default())
    })
    .await;

    let unschedulable = |placed: &BTreeMap<String, Option<String>>| -> BTreeSet<String> {
        placed
            .iter()
            .filter(|(_, node)| node.is_none())
            .map(|(name, _)| name.clone())
            .collect()
    };
    let expected: BTreeSet<String> = ["huge", "lost", "gpu-untolerated", "away-from-spread"]
        .map(String::from)
        .into();
    assert_eq!(
        unschedulable(&theirs),
        expected,
        "kube-scheduler: {theirs:?}"
    );
    assert_eq!(unschedulable(&ours), expected, "ours: {ours:?}");
    assert_eq!(ours["gpu"].as_deref(), Some("node-9"));

    let dir = std::env::temp_dir().join(format!("kws-kube-parity-{}", std::process::id()));
    for (who, objects) in [("kube-scheduler", &their_objects), ("ours", &our_objects)] {
        let scratch = dir.join(who);
        std::fs::create_dir_all(&scratch).unwrap();
        let rejected = rejected_by_upstream(objects, &scratch);
        assert!(
            rejected.is_empty(),
            "{who} bound pods where kube-scheduler's filters reject them:\n{}",
            rejected.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
