//! Builders for pods and nodes in plugin unit tests.
//!
//! Amounts are in the host's units: millicores and bytes. A pod's
//! `requests` are set directly (the host computes them from the containers
//! in a real cluster).
//!
//! ```
//! use kws_plugin_sdk::testing::{node, node_info, pod};
//!
//! let web = pod("default", "web").requests(500, 1 << 30).build();
//! let n = node_info(0, node("n0").allocatable(4000, 8 << 30, 110).build(), vec![web]);
//! assert_eq!(n.usage.requested.milli_cpu, 500);
//! assert_eq!(n.usage.pod_count, 1);
//! ```

use crate::{
    Container, ContainerImage, HostPort, LabelSelector, Node, NodeAffinity, NodeId, NodeInfo,
    NodeUsage, Operator, Pod, PodAffinity, Protocol, Requirement, Resources, Taint, TaintEffect,
    Toleration, TopologySpreadConstraint,
};

/// The default requests kube-scheduler assumes for scoring when a
/// container asks for none.
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

fn insert_sorted(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
        Ok(i) => pairs[i].1 = value.to_string(),
        Err(i) => pairs.insert(i, (key.to_string(), value.to_string())),
    }
}

/// A node selector or label selector requirement.
pub fn requirement(key: &str, operator: Operator, values: &[&str]) -> Requirement {
    Requirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// A label selector with only `matchLabels`.
pub fn match_labels(pairs: &[(&str, &str)]) -> LabelSelector {
    let mut match_labels = Vec::new();
    for (key, value) in pairs {
        insert_sorted(&mut match_labels, key, value);
    }
    LabelSelector {
        match_labels,
        match_expressions: Vec::new(),
    }
}

pub fn resources(milli_cpu: i64, memory: i64) -> Resources {
    Resources {
        milli_cpu,
        memory,
        ..Resources::zero()
    }
}

pub struct NodeBuilder(Node);

/// A node with no labels, no taints and nothing allocatable.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(Node {
        name: name.to_string(),
        labels: Vec::new(),
        annotations: Vec::new(),
        taints: Vec::new(),
        unschedulable: false,
        capacity: Resources::zero(),
        allocatable: Resources::zero(),
        images: Vec::new(),
    })
}

impl NodeBuilder {
    pub fn label(mut self, key: &str, value: &str) -> Self {
        insert_sorted(&mut self.0.labels, key, value);
        self
    }

    pub fn taint(mut self, key: &str, value: &str, effect: TaintEffect) -> Self {
        self.0.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect,
        });
        self
    }

    pub fn unschedulable(mut self) -> Self {
        self.0.unschedulable = true;
        self
    }

    /// Sets allocatable and capacity.
    pub fn allocatable(mut self, milli_cpu: i64, memory: i64, pods: i64) -> Self {
        self.0.allocatable = Resources {
            pods,
            ..resources(milli_cpu, memory)
        };
        self.0.capacity = self.0.allocatable.clone();
        self
    }

    /// Adds an extended resource to allocatable and capacity.
    pub fn scalar(mut self, name: &str, amount: i64) -> Self {
        for r in [&mut self.0.allocatable, &mut self.0.capacity] {
            r.scalar.push((name.to_string(), amount));
            r.scalar.sort();
        }
        self
    }

    pub fn image(self, name: &str, size_bytes: i64) -> Self {
        self.images(&[name], size_bytes)
    }

    /// An image the node lists under several names (tag and digest, say).
    pub fn images(mut self, names: &[&str], size_bytes: i64) -> Self {
        self.0.images.push(ContainerImage {
            names: names.iter().map(|n| n.to_string()).collect(),
            size_bytes,
        });
        self
    }

    pub fn build(self) -> Node {
        self.0
    }
}

pub struct PodBuilder(Pod);

/// A pod with one container that requests nothing.
pub fn pod(namespace: &str, name: &str) -> PodBuilder {
    PodBuilder(Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: format!("{namespace}/{name}"),
        labels: Vec::new(),
        annotations: Vec::new(),
        priority: 0,
        scheduler_name: "kube-wasm-scheduler".to_string(),
        node_name: String::new(),
        node_selector: Vec::new(),
        node_affinity: None,
        pod_affinity: None,
        pod_anti_affinity: None,
        tolerations: Vec::new(),
        containers: vec![bare_container("main", "registry.k8s.io/pause:3.10")],
        init_containers: Vec::new(),
        overhead: Resources::zero(),
        topology_spread_constraints: Vec::new(),
        default_spread_selector: None,
        scheduling_gates: Vec::new(),
        terminating: false,
        requests: Resources {
            pods: 1,
            ..Resources::zero()
        },
        non_zero_requests: Resources {
            pods: 1,
            ..resources(DEFAULT_MILLI_CPU, DEFAULT_MEMORY)
        },
    })
}

fn bare_container(name: &str, image: &str) -> Container {
    Container {
        name: name.to_string(),
        image: image.to_string(),
        requests: Resources::zero(),
        limits: Resources::zero(),
        host_ports: Vec::new(),
    }
}

impl PodBuilder {
    pub fn label(mut self, key: &str, value: &str) -> Self {
        insert_sorted(&mut self.0.labels, key, value);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        insert_sorted(&mut self.0.annotations, key, value);
        self
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.0.priority = priority;
        self
    }

    /// The container's cpu and memory requests, and the pod's totals.
    pub fn requests(mut self, milli_cpu: i64, memory: i64) -> Self {
        let r = resources(milli_cpu, memory);
        self.0.containers[0].requests = r.clone();
        self.0.requests = Resources { pods: 1, ..r };
        self.0.non_zero_requests = Resources {
            pods: 1,
            ..resources(
                if milli_cpu == 0 {
                    DEFAULT_MILLI_CPU
                } else {
                    milli_cpu
                },
                if memory == 0 { DEFAULT_MEMORY } else { memory },
            )
        };
        self
    }

    /// Adds an extended resource request to the container and the pod.
    pub fn scalar(mut self, name: &str, amount: i64) -> Self {
        for r in [&mut self.0.containers[0].requests, &mut self.0.requests] {
            r.scalar.push((name.to_string(), amount));
            r.scalar.sort();
        }
        self
    }

    pub fn node_name(mut self, node: &str) -> Self {
        self.0.node_name = node.to_string();
        self
    }

    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        insert_sorted(&mut self.0.node_selector, key, value);
        self
    }

    pub fn node_affinity(mut self, affinity: NodeAffinity) -> Self {
        self.0.node_affinity = Some(affinity);
        self
    }

    pub fn toleration(mut self, toleration: Toleration) -> Self {
        self.0.tolerations.push(toleration);
        self
    }

    /// Marks the pod as being deleted (`deletionTimestamp` set).
    pub fn terminating(mut self) -> Self {
        self.0.terminating = true;
        self
    }

    pub fn topology_spread(mut self, constraint: TopologySpreadConstraint) -> Self {
        self.0.topology_spread_constraints.push(constraint);
        self
    }

    /// Sets the selector the host computes for default spreading (what the
    /// Services and controllers selecting the pod select).
    pub fn default_spread_selector(mut self, selector: LabelSelector) -> Self {
        self.0.default_spread_selector = Some(selector);
        self
    }

    pub fn pod_affinity(mut self, affinity: PodAffinity) -> Self {
        self.0.pod_affinity = Some(affinity);
        self
    }

    pub fn pod_anti_affinity(mut self, affinity: PodAffinity) -> Self {
        self.0.pod_anti_affinity = Some(affinity);
        self
    }

    /// A TCP host port on every address (`hostIP` left empty).
    pub fn host_port(self, port: i32) -> Self {
        self.host_port_on("0.0.0.0", Protocol::Tcp, port)
    }

    /// A host port on one address and protocol, for the first container.
    pub fn host_port_on(mut self, ip: &str, protocol: Protocol, port: i32) -> Self {
        self.0.containers[0].host_ports.push(HostPort {
            ip: ip.to_string(),
            protocol,
            port,
        });
        self
    }

    /// The first container's image.
    pub fn image(mut self, image: &str) -> Self {
        self.0.containers[0].image = image.to_string();
        self
    }

    /// Another container, requesting nothing.
    pub fn container(mut self, name: &str, image: &str) -> Self {
        self.0.containers.push(bare_container(name, image));
        self
    }

    /// An init container, requesting nothing, holding `host_ports` (the host
    /// gives only restartable init containers, sidecars, their ports).
    pub fn init_container(mut self, name: &str, image: &str, host_ports: Vec<HostPort>) -> Self {
        self.0.init_containers.push(Container {
            host_ports,
            ..bare_container(name, image)
        });
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

/// A node with `pods` on it and the usage a host reports for them: their
/// requests and non-zero requests summed, their count, and the host ports
/// of their containers and init containers (the pod record carries only
/// sidecars' among the init containers). `tests/e2e/components.rs` checks
/// that this is the usage the host's cache sends.
pub fn node_info(id: NodeId, node: Node, pods: Vec<Pod>) -> NodeInfo {
    let mut usage = NodeUsage {
        requested: Resources::zero(),
        non_zero_requested: Resources::zero(),
        pod_count: 0,
        used_ports: Vec::new(),
    };
    for pod in &pods {
        add(&mut usage.requested, &pod.requests);
        add(&mut usage.non_zero_requested, &pod.non_zero_requests);
        usage.pod_count += 1;
        for c in pod.containers.iter().chain(&pod.init_containers) {
            usage.used_ports.extend(c.host_ports.iter().cloned());
        }
    }
    let mut info = NodeInfo {
        usage,
        ..NodeInfo::new(id, node)
    };
    for pod in pods {
        info.push_pod(pod);
    }
    info
}

fn add(total: &mut Resources, r: &Resources) {
    total.milli_cpu += r.milli_cpu;
    total.memory += r.memory;
    total.ephemeral_storage += r.ephemeral_storage;
    total.pods += r.pods;
    for (name, amount) in &r.scalar {
        match total.scalar.binary_search_by(|(k, _)| k.cmp(name)) {
            Ok(i) => total.scalar[i].1 += amount,
            Err(i) => total.scalar.insert(i, (name.clone(), *amount)),
        }
    }
}
