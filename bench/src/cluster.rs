//! A synthetic but realistically shaped cluster: nodes and usage as a cloud
//! provider's kubelets report them, and one Deployment pod to place.
//!
//! Everything is derived from a fixed seed, so every run (and every design)
//! sees the same data.

use kws_plugin_sdk::{
    Container, ContainerImage, HostPort, Node, NodeUsage, Pod, Protocol, Resources, Taint,
    TaintEffect, Toleration, TolerationOperator,
};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

/// The node label the pod's nodeSelector picks a pool by; about half of the
/// nodes are in the selected pool `general`.
pub const POOL_LABEL: &str = "node.example.com/pool";

/// The cluster the benchmark schedules into, in the SDK's record types.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Node `i` has node id `i`.
    pub nodes: Vec<Node>,
    /// What the pods on node `i` request from it.
    pub usages: Vec<NodeUsage>,
    /// The pending pod.
    pub pod: Pod,
}

impl Cluster {
    /// `nodes` nodes and one pending pod.
    pub fn generate(nodes: usize) -> Cluster {
        let mut rng = SplitMix64::new(0x6b77_735f_6265_6e63);
        let (nodes, usages) = (0..nodes).map(|i| node(i, &mut rng)).unzip();
        Cluster {
            nodes,
            usages,
            pod: pod(),
        }
    }
}

/// (name, cores, memory GiB) of the instance types in the node groups.
const INSTANCE_TYPES: [(&str, i64, i64); 4] = [
    ("m6i.2xlarge", 8, 32),
    ("m6i.4xlarge", 16, 64),
    ("c6i.4xlarge", 16, 32),
    ("r6i.2xlarge", 8, 64),
];

pub(crate) const ZONES: [&str; 3] = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

/// (repository, tag, size in MiB) of the images a node may have pulled.
const IMAGES: [(&str, &str, i64); 10] = [
    ("registry.k8s.io/kube-proxy", "v1.37.2", 30),
    ("registry.k8s.io/pause", "3.10", 1),
    ("quay.io/prometheus/node-exporter", "v1.9.1", 12),
    ("docker.io/library/nginx", "1.29.1", 72),
    ("registry.example.com/shop/checkout", "v2.14.1", 210),
    ("registry.example.com/shop/cart", "v1.8.0", 180),
    ("docker.io/fluent/fluent-bit", "4.0.3", 40),
    (
        "public.ecr.aws/ebs-csi-driver/aws-ebs-csi-driver",
        "v1.45.0",
        95,
    ),
    ("docker.io/library/redis", "8.2.1", 52),
    ("ghcr.io/example/batch-worker", "2025.11.3", 640),
];

fn node(i: usize, rng: &mut SplitMix64) -> (Node, NodeUsage) {
    let name = format!(
        "ip-10-{}-{}-{}.eu-west-1.compute.internal",
        i / 65536,
        (i / 256) % 256,
        i % 256
    );
    let (instance_type, cores, memory_gib) = INSTANCE_TYPES[rng.below(4) as usize];
    let zone = ZONES[i % ZONES.len()];
    let pool = match rng.below(4) {
        0 | 1 => "general",
        2 => "batch",
        _ => "memory",
    };
    let mut labels = vec![
        ("beta.kubernetes.io/arch", "amd64".to_string()),
        (
            "beta.kubernetes.io/instance-type",
            instance_type.to_string(),
        ),
        ("beta.kubernetes.io/os", "linux".to_string()),
        (
            "failure-domain.beta.kubernetes.io/region",
            "eu-west-1".to_string(),
        ),
        ("failure-domain.beta.kubernetes.io/zone", zone.to_string()),
        ("kubernetes.io/arch", "amd64".to_string()),
        ("kubernetes.io/hostname", name.clone()),
        ("kubernetes.io/os", "linux".to_string()),
        (
            "node.kubernetes.io/instance-type",
            instance_type.to_string(),
        ),
        (POOL_LABEL, pool.to_string()),
        ("topology.kubernetes.io/region", "eu-west-1".to_string()),
        ("topology.kubernetes.io/zone", zone.to_string()),
    ];
    labels.sort();
    let annotations = vec![
        (
            "csi.volume.kubernetes.io/nodeid".to_string(),
            format!(r#"{{"ebs.csi.aws.com":"i-0{:016x}"}}"#, rng.next()),
        ),
        ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
            "true".to_string(),
        ),
    ];
    // A fifth of the nodes are spot capacity (tolerated by the pod), a tenth
    // are dedicated to batch (not tolerated).
    let taints = match rng.below(10) {
        0 | 1 => vec![
            taint("cloud.example.com/spot", "true", TaintEffect::NoSchedule),
            taint(
                "cloud.example.com/interruptible",
                "true",
                TaintEffect::PreferNoSchedule,
            ),
        ],
        2 => vec![taint("dedicated", "batch", TaintEffect::NoSchedule)],
        _ => Vec::new(),
    };
    let hugepages = || {
        vec![
            ("hugepages-1Gi".to_string(), 0),
            ("hugepages-2Mi".to_string(), 0),
        ]
    };
    let capacity = Resources {
        milli_cpu: cores * 1000,
        memory: memory_gib * GIB,
        ephemeral_storage: 100 * GIB,
        pods: 110,
        scalar: hugepages(),
    };
    let allocatable = Resources {
        milli_cpu: cores * 1000 - 90,
        memory: memory_gib * GIB - 1536 * MIB,
        ephemeral_storage: 90 * GIB,
        pods: 110,
        scalar: hugepages(),
    };
    let images = (0..5)
        .map(|k| {
            let (repository, tag, mib) = IMAGES[(i + 3 * k) % IMAGES.len()];
            ContainerImage {
                names: vec![
                    format!("{repository}@sha256:{:016x}{:016x}", rng.next(), rng.next()),
                    format!("{repository}:{tag}"),
                ],
                size_bytes: mib * MIB,
            }
        })
        .collect();

    // Requests between 0 and 100% of allocatable; one node in 30 is full.
    let pod_count = if rng.below(30) == 0 {
        110
    } else {
        5 + rng.below(60) as u32
    };
    let requested = Resources {
        milli_cpu: rng.below(allocatable.milli_cpu as u64 + 1) as i64,
        memory: rng.below(allocatable.memory as u64 / MIB as u64 + 1) as i64 * MIB,
        ephemeral_storage: 0,
        pods: i64::from(pod_count),
        scalar: Vec::new(),
    };
    // Two daemon pods that request nothing count with the scoring defaults.
    let non_zero_requested = Resources {
        milli_cpu: requested.milli_cpu + 2 * 100,
        memory: requested.memory + 2 * 200 * MIB,
        ..requested.clone()
    };
    let usage = NodeUsage {
        requested,
        non_zero_requested,
        pod_count,
        used_ports: vec![HostPort {
            ip: "0.0.0.0".to_string(),
            protocol: Protocol::Tcp,
            port: 9100,
        }],
    };
    let node = Node {
        name,
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        annotations,
        taints,
        unschedulable: false,
        capacity,
        allocatable,
        images,
    };
    (node, usage)
}

fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect,
    }
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.sort();
    pairs
}

/// A Deployment's pod: 6 labels, a nodeSelector on the OS and the `general`
/// pool, one container asking for 500m and 1Gi, and a toleration for spot
/// nodes.
fn pod() -> Pod {
    let requests = Resources {
        milli_cpu: 500,
        memory: GIB,
        ephemeral_storage: 0,
        pods: 0,
        scalar: Vec::new(),
    };
    let limits = Resources {
        milli_cpu: 1000,
        memory: 2 * GIB,
        ..requests.clone()
    };
    let pod_requests = Resources {
        pods: 1,
        ..requests.clone()
    };
    Pod {
        namespace: "shop".to_string(),
        name: "checkout-7d9f8b6c5d-x2x4q".to_string(),
        uid: "5f0c2a8e-8d1b-4c3e-9a77-2b1d3c4e5f60".to_string(),
        labels: pairs(&[
            ("app", "checkout"),
            ("app.kubernetes.io/component", "api"),
            ("app.kubernetes.io/name", "checkout"),
            ("app.kubernetes.io/part-of", "shop"),
            ("pod-template-hash", "7d9f8b6c5d"),
            ("version", "v2.14.1"),
        ]),
        annotations: pairs(&[
            ("kubectl.kubernetes.io/restartedAt", "2026-11-20T09:14:03Z"),
            ("prometheus.io/scrape", "true"),
        ]),
        priority: 0,
        scheduler_name: "kube-wasm-scheduler".to_string(),
        node_name: String::new(),
        node_selector: pairs(&[("kubernetes.io/os", "linux"), (POOL_LABEL, "general")]),
        node_affinity: None,
        pod_affinity: None,
        pod_anti_affinity: None,
        tolerations: vec![Toleration {
            key: "cloud.example.com/spot".to_string(),
            operator: TolerationOperator::Equal,
            value: "true".to_string(),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        }],
        containers: vec![Container {
            name: "checkout".to_string(),
            image: "registry.example.com/shop/checkout:v2.14.1".to_string(),
            requests,
            limits,
            host_ports: Vec::new(),
        }],
        init_containers: Vec::new(),
        overhead: Resources::zero(),
        topology_spread_constraints: Vec::new(),
        default_spread_selector: None,
        scheduling_gates: Vec::new(),
        terminating: false,
        requests: pod_requests.clone(),
        non_zero_requests: pod_requests,
    }
}

/// A small deterministic generator (SplitMix64): no dependency, same data
/// on every machine.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for test data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::lookup;

    #[test]
    fn about_half_the_nodes_are_in_the_selected_pool() {
        let cluster = Cluster::generate(5000);
        let selected = cluster
            .nodes
            .iter()
            .filter(|n| lookup(&n.labels, POOL_LABEL) == Some("general"))
            .count();
        assert!((2200..2800).contains(&selected), "{selected}");
        assert!(cluster.nodes.iter().all(|n| n.labels.len() == 12));
        assert!(cluster.nodes.iter().all(|n| n.labels.is_sorted()));
    }
}
