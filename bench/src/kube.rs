//! The [`Cluster`]'s nodes as Kubernetes objects, with the pods that run on
//! them, for benchmarks that go through the host's cache the way the
//! scheduler does (its conversion, its change log, its resync).
//!
//! The nodes are [`Cluster::generate`]'s (same labels, taints, images and
//! sizes), a fiftieth of them cordoned. Each runs a node-exporter
//! (hostPort 9100), a quarter an ingress controller (hostPorts 80 and 443),
//! and 2 to 10 replicas of the workloads below, so that PodTopologySpread
//! and InterPodAffinity have pods to count, selectors to match and other
//! pods' affinity terms to honour: about 7 pods per node.
//!
//! [`pending`] holds the pod each default plugin is benchmarked with: one
//! Deployment's pod, varied so that the plugin has work to do.

use crate::cluster::{POOL_LABEL, SplitMix64};
use crate::{Cluster, cluster};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kws_plugin_sdk::{Resources, TaintEffect};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The cluster as the scheduler's informers would deliver it.
#[derive(Clone, Debug)]
pub struct Objects {
    pub namespaces: Vec<core::Namespace>,
    pub nodes: Vec<core::Node>,
    /// Bound pods, each with `spec.nodeName` set.
    pub pods: Vec<core::Pod>,
}

impl Objects {
    /// `nodes` nodes and their pods. The nodes are a prefix of the same
    /// sequence for every size, and so are their pods.
    pub fn generate(nodes: usize) -> Objects {
        let cluster = Cluster::generate(nodes);
        let workloads = workloads();
        let mut pods = Vec::new();
        let nodes: Vec<core::Node> = cluster
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let object = node_object(node, i % 50 == 7);
                place(i, node, &workloads, &mut pods);
                object
            })
            .collect();
        Objects {
            namespaces: namespaces(),
            nodes,
            pods,
        }
    }
}

/// Namespaces and their labels (InterPodAffinity's `namespaceSelector`).
fn namespaces() -> Vec<core::Namespace> {
    [
        ("shop", json!({"team": "shop", "env": "prod"})),
        ("payments", json!({"team": "payments", "env": "prod"})),
        ("batch", json!({"team": "data", "env": "prod"})),
        ("monitoring", json!({"team": "platform"})),
        ("ingress", json!({"team": "platform"})),
    ]
    .into_iter()
    .map(|(name, labels)| object(json!({"metadata": {"name": name, "labels": labels}})))
    .collect()
}

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the bench's manifests are valid")
}

/// The SDK's node as the Node object a kubelet would report. A cordoned
/// node also carries the taint the node controller adds.
fn node_object(node: &kws_plugin_sdk::Node, cordoned: bool) -> core::Node {
    let pairs = |pairs: &[(String, String)]| Some(pairs.iter().cloned().collect());
    let mut taints: Vec<core::Taint> = node
        .taints
        .iter()
        .map(|t| core::Taint {
            key: t.key.clone(),
            value: Some(t.value.clone()),
            effect: match t.effect {
                TaintEffect::NoSchedule => "NoSchedule",
                TaintEffect::PreferNoSchedule => "PreferNoSchedule",
                TaintEffect::NoExecute => "NoExecute",
            }
            .to_string(),
            time_added: None,
        })
        .collect();
    if cordoned {
        taints.push(core::Taint {
            key: "node.kubernetes.io/unschedulable".to_string(),
            value: None,
            effect: "NoSchedule".to_string(),
            time_added: None,
        });
    }
    core::Node {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            labels: pairs(&node.labels),
            annotations: pairs(&node.annotations),
            ..ObjectMeta::default()
        },
        spec: Some(core::NodeSpec {
            taints: Some(taints),
            unschedulable: cordoned.then_some(true),
            ..core::NodeSpec::default()
        }),
        status: Some(core::NodeStatus {
            capacity: Some(resource_list(&node.capacity)),
            allocatable: Some(resource_list(&node.allocatable)),
            images: Some(
                node.images
                    .iter()
                    .map(|i| core::ContainerImage {
                        names: Some(i.names.clone()),
                        size_bytes: Some(i.size_bytes),
                    })
                    .collect(),
            ),
            ..core::NodeStatus::default()
        }),
    }
}

fn resource_list(r: &Resources) -> BTreeMap<String, Quantity> {
    let mut list: BTreeMap<String, Quantity> = [
        ("cpu", format!("{}m", r.milli_cpu)),
        ("memory", r.memory.to_string()),
        ("ephemeral-storage", r.ephemeral_storage.to_string()),
        ("pods", r.pods.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    for (name, value) in &r.scalar {
        list.insert(name.clone(), Quantity(value.to_string()));
    }
    list
}

/// A pod template to place replicas of.
struct Workload {
    template: core::Pod,
}

impl Workload {
    fn replica(&self, node: &str, n: usize) -> core::Pod {
        let mut pod = self.template.clone();
        let app = pod.metadata.labels.as_ref().and_then(|l| l.get("app"));
        let name = format!("{}-{node}-{n}", app.map_or("pod", String::as_str));
        pod.metadata.uid = Some(format!("uid-{name}"));
        pod.metadata.name = Some(name);
        pod.spec.as_mut().expect("templates have a spec").node_name = Some(node.to_string());
        pod
    }
}

/// A pod template: `app` label, one container with its image, requests
/// and host ports, and the given spec fields.
fn template(
    namespace: &str,
    app: &str,
    image: &str,
    [cpu, memory]: [&str; 2],
    host_ports: &[i32],
    spec: Value,
) -> Workload {
    let ports: Vec<Value> = host_ports
        .iter()
        .map(|port| json!({"containerPort": port, "hostPort": port}))
        .collect();
    let mut pod = json!({
        "metadata": {
            "namespace": namespace,
            "labels": {
                "app": app,
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/part-of": namespace,
                "pod-template-hash": "5c7d8f9b6",
            },
        },
        "spec": {
            "schedulerName": "default-scheduler",
            "containers": [{
                "name": app,
                "image": image,
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
                "ports": ports,
            }],
        },
    });
    if let (Some(into), Value::Object(fields)) = (pod["spec"].as_object_mut(), spec) {
        into.extend(fields);
    }
    Workload {
        template: object(pod),
    }
}

fn selector(labels: Value) -> Value {
    json!({"matchLabels": labels})
}

/// The workloads, by role: `[node-exporter, ingress, checkout, cart,
/// payments, redis, batch-worker]`.
fn workloads() -> Vec<Workload> {
    vec![
        template(
            "monitoring",
            "node-exporter",
            "quay.io/prometheus/node-exporter:v1.9.1",
            ["100m", "180Mi"],
            &[9100],
            json!({"tolerations": [{"operator": "Exists"}]}),
        ),
        template(
            "ingress",
            "ingress-nginx",
            "registry.k8s.io/ingress-nginx/controller:v1.13.0",
            ["200m", "256Mi"],
            &[80, 443],
            json!({}),
        ),
        // Spread by hostname when it can be.
        template(
            "shop",
            "checkout",
            "registry.example.com/shop/checkout:v2.14.1",
            ["500m", "1Gi"],
            &[],
            json!({
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": selector(json!({"app": "checkout"})),
                    },
                }]}},
                "topologySpreadConstraints": [{
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": selector(json!({"app": "checkout"})),
                }],
            }),
        ),
        // Near its cache, preferably.
        template(
            "shop",
            "cart",
            "registry.example.com/shop/cart:v1.8.0",
            ["250m", "512Mi"],
            &[],
            json!({
                "affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 50,
                    "podAffinityTerm": {
                        "topologyKey": "topology.kubernetes.io/zone",
                        "labelSelector": selector(json!({"app": "redis"})),
                    },
                }]}},
            }),
        ),
        // Likes the shop's frontends in its zone, from another namespace.
        template(
            "payments",
            "payments-api",
            "registry.example.com/payments/api:v3.2.0",
            ["1", "2Gi"],
            &[],
            json!({
                "affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 20,
                    "podAffinityTerm": {
                        "topologyKey": "topology.kubernetes.io/zone",
                        "namespaceSelector": selector(json!({"team": "shop"})),
                        "labelSelector": selector(json!({"app": "checkout"})),
                    },
                }]}},
            }),
        ),
        // One per node, required.
        template(
            "shop",
            "redis",
            "docker.io/library/redis:8.2.1",
            ["500m", "2Gi"],
            &[],
            json!({
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": selector(json!({"app": "redis"})),
                }]}},
            }),
        ),
        // Keeps the shop's pods off its nodes (required anti-affinity that
        // matches the pending pods of the shop).
        template(
            "batch",
            "batch-worker",
            "ghcr.io/example/batch-worker:2025.11.3",
            ["2", "4Gi"],
            &[],
            json!({
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}],
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                    "topologyKey": "kubernetes.io/hostname",
                    "namespaceSelector": selector(json!({"team": "shop"})),
                    "labelSelector": selector(json!({"app.kubernetes.io/part-of": "shop"})),
                }]}},
            }),
        ),
    ]
}

/// Node `i`'s pods: the node-exporter, an ingress controller on every
/// fourth node, and 2 to 10 replicas of the others (batch workers only in
/// the batch pool, at most one redis).
fn place(i: usize, node: &kws_plugin_sdk::Node, workloads: &[Workload], pods: &mut Vec<core::Pod>) {
    const CHECKOUT: usize = 2;
    const CART: usize = 3;
    const PAYMENTS: usize = 4;
    const REDIS: usize = 5;
    const BATCH: usize = 6;
    let mut rng = SplitMix64::new(0x706f_6473 ^ i as u64);
    let batch_pool = kws_plugin_sdk::lookup(&node.labels, POOL_LABEL) == Some("batch");
    let mut chosen = vec![0];
    if i.is_multiple_of(4) {
        chosen.push(1);
    }
    for _ in 0..2 + rng.below(9) {
        let pick = match rng.below(8) {
            0..=2 => CHECKOUT,
            3 | 4 => CART,
            5 | 6 => PAYMENTS,
            _ => REDIS,
        };
        let batch = batch_pool && rng.below(2) == 0;
        chosen.push(match pick {
            _ if batch => BATCH,
            REDIS if chosen.contains(&REDIS) => CART,
            pick => pick,
        });
    }
    for (n, w) in chosen.into_iter().enumerate() {
        pods.push(workloads[w].replica(&node.name, n));
    }
}

/// The default plugins, by the name of their component file, with the
/// pod each one is benchmarked with (pending, on no node). `node_name` is
/// a node the NodeName pod asks for.
pub fn pending(node_name: &str) -> Vec<(&'static str, core::Pod)> {
    let pod = |spec: Value| {
        let mut pod = json!({
            "metadata": {
                "namespace": "shop",
                "name": "checkout-7d9f8b6c5d-x2x4q",
                "uid": "5f0c2a8e-8d1b-4c3e-9a77-2b1d3c4e5f60",
                "labels": {
                    "app": "checkout",
                    "app.kubernetes.io/component": "api",
                    "app.kubernetes.io/name": "checkout",
                    "app.kubernetes.io/part-of": "shop",
                    "pod-template-hash": "7d9f8b6c5d",
                    "version": "v2.14.1",
                },
            },
            "spec": {
                "schedulerName": "kube-wasm-scheduler",
                "tolerations": [{
                    "key": "cloud.example.com/spot",
                    "operator": "Equal",
                    "value": "true",
                    "effect": "NoSchedule",
                }],
                "containers": [{
                    "name": "checkout",
                    "image": "registry.example.com/shop/checkout:v2.14.1",
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                }],
            },
        });
        if let (Some(into), Value::Object(fields)) = (pod["spec"].as_object_mut(), spec) {
            into.extend(fields);
        }
        object::<core::Pod>(pod)
    };
    let checkout = |extra: Value| {
        json!([{
            "name": "checkout",
            "image": "registry.example.com/shop/checkout:v2.14.1",
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        }, extra])
    };
    let term =
        |key: &str, labels: Value| json!({"topologyKey": key, "labelSelector": selector(labels)});
    vec![
        // Rejects fuller nodes; scores the rest (LeastAllocated).
        (
            "node-resources-fit",
            pod(json!({"containers": [{
                "name": "checkout",
                "image": "registry.example.com/shop/checkout:v2.14.1",
                "resources": {"requests": {"cpu": "2", "memory": "6Gi"}},
            }]})),
        ),
        (
            "node-affinity",
            pod(json!({
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "affinity": {"nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                        "matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": ["general", "memory"]}],
                    }]},
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 80, "preference": {"matchExpressions": [
                            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [cluster::ZONES[0]]},
                        ]}},
                        {"weight": 20, "preference": {"matchExpressions": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m6i.4xlarge", "c6i.4xlarge"]},
                        ]}},
                    ],
                }},
            })),
        ),
        // Tolerates spot (NoSchedule) but not its PreferNoSchedule taint,
        // nor batch's or a cordoned node's.
        ("taint-toleration", pod(json!({}))),
        ("node-unschedulable", pod(json!({}))),
        ("node-name", pod(json!({"nodeName": node_name}))),
        (
            "node-ports",
            pod(json!({"containers": checkout(json!({
                "name": "tls-proxy",
                "image": "docker.io/library/nginx:1.29.1",
                "ports": [{"containerPort": 8443, "hostPort": 443}],
            }))})),
        ),
        ("balanced-allocation", pod(json!({}))),
        (
            "image-locality",
            pod(json!({"containers": checkout(json!({
                "name": "log-shipper",
                "image": "docker.io/fluent/fluent-bit:4.0.3",
            }))})),
        ),
        (
            "pod-topology-spread",
            pod(json!({"topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": selector(json!({"app": "checkout"})),
                },
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": selector(json!({"app": "checkout"})),
                },
            ]})),
        ),
        (
            "inter-pod-affinity",
            pod(json!({"affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        term("kubernetes.io/hostname", json!({"app": "redis"})),
                    ],
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": term("kubernetes.io/hostname", json!({"app": "checkout"})),
                    }],
                },
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 50,
                    "podAffinityTerm": term("topology.kubernetes.io/zone", json!({"app": "cart"})),
                }]},
            }})),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kws_host::model::convert;

    #[test]
    fn nodes_read_back_as_the_sdk_generated_them() {
        let sdk = Cluster::generate(60);
        let objects = Objects::generate(60);
        for (i, (node, object)) in sdk.nodes.iter().zip(&objects.nodes).enumerate() {
            let read: kws_plugin_sdk::Node = crate::designs::convert(&convert::node(object));
            let cordoned = i % 50 == 7;
            assert_eq!(read.unschedulable, cordoned);
            assert_eq!(read.taints.len(), node.taints.len() + usize::from(cordoned));
            assert_eq!(
                kws_plugin_sdk::Node {
                    unschedulable: false,
                    taints: node.taints.clone(),
                    ..read
                },
                *node
            );
        }
    }

    #[test]
    fn every_node_runs_a_few_pods_and_every_workload_runs() {
        let objects = Objects::generate(1000);
        let per_node = objects.pods.len() as f64 / 1000.0;
        assert!((5.0..9.0).contains(&per_node), "{per_node}");
        for app in ["checkout", "cart", "payments-api", "redis", "batch-worker"] {
            let count = objects
                .pods
                .iter()
                .filter(|p| {
                    p.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("app"))
                        .map(String::as_str)
                        == Some(app)
                })
                .count();
            assert!(count > 50, "{app}: {count}");
        }
        let pods = pending("x");
        assert_eq!(pods.len(), 10);
        for (_, pod) in &pods {
            assert!(!convert::pod(pod).containers.is_empty());
        }
    }
}
