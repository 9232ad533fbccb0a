//! Kubernetes objects (as the apiserver stores them) to the typed records of
//! the WIT world: what a plugin sees.
//!
//! The host computes each pod's effective requests here, once, exactly as
//! kube-scheduler does, so that no plugin in any language has to.

use super::quantity::Quantity;
use crate::wit::{
    Container, ContainerImage, HostPort, InclusionPolicy, LabelSelector, Namespace, Node,
    NodeAffinity, NodeSelectorTerm, Operator, Pod, PodAffinity, PodAffinityTerm,
    PreferredSchedulingTerm, Protocol, Requirement, Resources, Taint, TaintEffect, Toleration,
    TolerationOperator, TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use std::collections::BTreeMap;

/// kube-scheduler's defaults for a container that requests no cpu or
/// memory, used for the `non-zero` sums that scoring weighs.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

type ResourceList = BTreeMap<String, KubeQuantity>;

/// Reads a resource list into the scheduler's units. Quantities were
/// validated when the object was admitted; one that still fails to parse
/// counts as zero.
pub fn resources(list: Option<&ResourceList>) -> Resources {
    let mut r = Resources::zero();
    for (name, quantity) in list.into_iter().flatten() {
        let Ok(q) = Quantity::parse(&quantity.0) else {
            continue;
        };
        match name.as_str() {
            "cpu" => r.milli_cpu = q.milli_value(),
            "memory" => r.memory = q.value(),
            "ephemeral-storage" => r.ephemeral_storage = q.value(),
            "pods" => r.pods = q.value(),
            other => r.scalar.push((other.to_string(), q.value())),
        }
    }
    r
}

impl Resources {
    pub fn zero() -> Self {
        Resources {
            milli_cpu: 0,
            memory: 0,
            ephemeral_storage: 0,
            pods: 0,
            scalar: Vec::new(),
        }
    }

    /// Adds `other` to `self`, resource by resource.
    pub fn add(&mut self, other: &Resources) {
        self.combine(other, |a, b| a + b);
    }

    /// Subtracts `other` from `self`, resource by resource.
    pub fn subtract(&mut self, other: &Resources) {
        self.combine(other, |a, b| a - b);
    }

    /// Raises each resource of `self` to at least `other`'s.
    fn max_with(&mut self, other: &Resources) {
        self.combine(other, i64::max);
    }

    fn combine(&mut self, other: &Resources, f: impl Fn(i64, i64) -> i64) {
        self.milli_cpu = f(self.milli_cpu, other.milli_cpu);
        self.memory = f(self.memory, other.memory);
        self.ephemeral_storage = f(self.ephemeral_storage, other.ephemeral_storage);
        self.pods = f(self.pods, other.pods);
        for (name, amount) in &other.scalar {
            match self.scalar.binary_search_by(|(k, _)| k.cmp(name)) {
                Ok(i) => self.scalar[i].1 = f(self.scalar[i].1, *amount),
                Err(i) => self.scalar.insert(i, (name.clone(), f(0, *amount))),
            }
        }
        self.scalar.retain(|(_, amount)| *amount != 0);
    }
}

/// A container's requests; with `defaults`, cpu and memory that the
/// container leaves out count as kube-scheduler's non-zero defaults.
fn container_requests(container: &core::Container, defaults: bool) -> Resources {
    let list = container
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref());
    let mut r = resources(list);
    if defaults {
        let has = |name: &str| list.is_some_and(|l| l.contains_key(name));
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// What a pod asks of a node, as kube's `resourcehelper.PodRequests`: the
/// containers' sum, restartable init containers (sidecars) included, or the
/// largest init-container step if that is bigger; plus overhead. `pods` is 1.
pub fn pod_requests(spec: &core::PodSpec, defaults: bool) -> Resources {
    let mut total = Resources::zero();
    for c in &spec.containers {
        total.add(&container_requests(c, defaults));
    }
    let mut sidecars = Resources::zero();
    let mut init_peak = Resources::zero();
    for c in spec.init_containers.iter().flatten() {
        let requests = container_requests(c, defaults);
        let step = if c.restart_policy.as_deref() == Some("Always") {
            total.add(&requests);
            sidecars.add(&requests);
            sidecars.clone()
        } else {
            let mut step = requests;
            step.add(&sidecars);
            step
        };
        init_peak.max_with(&step);
    }
    total.max_with(&init_peak);
    total.add(&resources(spec.overhead.as_ref()));
    total.pods = 1;
    total
}

fn pairs(map: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn operator(op: &str) -> Operator {
    match op {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        _ => Operator::Lt,
    }
}

fn node_requirement(r: &core::NodeSelectorRequirement) -> Requirement {
    Requirement {
        key: r.key.clone(),
        operator: operator(&r.operator),
        values: r.values.clone().unwrap_or_default(),
    }
}

pub(crate) fn node_selector_term(t: &core::NodeSelectorTerm) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: t
            .match_expressions
            .iter()
            .flatten()
            .map(node_requirement)
            .collect(),
        match_fields: t
            .match_fields
            .iter()
            .flatten()
            .map(node_requirement)
            .collect(),
    }
}

fn node_affinity(a: &core::NodeAffinity) -> NodeAffinity {
    NodeAffinity {
        required: a
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .map(|s| {
                s.node_selector_terms
                    .iter()
                    .map(node_selector_term)
                    .collect()
            }),
        preferred: a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| PreferredSchedulingTerm {
                weight: p.weight,
                preference: node_selector_term(&p.preference),
            })
            .collect(),
    }
}

pub(crate) fn label_selector(s: &meta::LabelSelector) -> LabelSelector {
    LabelSelector {
        match_labels: pairs(s.match_labels.as_ref()),
        match_expressions: s
            .match_expressions
            .iter()
            .flatten()
            .map(|r| Requirement {
                key: r.key.clone(),
                operator: operator(&r.operator),
                values: r.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn pod_affinity_term(t: &core::PodAffinityTerm) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: t.label_selector.as_ref().map(label_selector),
        namespaces: t.namespaces.clone().unwrap_or_default(),
        namespace_selector: t.namespace_selector.as_ref().map(label_selector),
        topology_key: t.topology_key.clone(),
        match_label_keys: t.match_label_keys.clone().unwrap_or_default(),
        mismatch_label_keys: t.mismatch_label_keys.clone().unwrap_or_default(),
    }
}

fn pod_affinity(
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> PodAffinity {
    PodAffinity {
        required: required
            .into_iter()
            .flatten()
            .map(pod_affinity_term)
            .collect(),
        preferred: preferred
            .into_iter()
            .flatten()
            .map(|w| WeightedPodAffinityTerm {
                weight: w.weight,
                term: pod_affinity_term(&w.pod_affinity_term),
            })
            .collect(),
    }
}

fn taint_effect(effect: &str) -> Option<TaintEffect> {
    match effect {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

fn toleration(t: &core::Toleration) -> Toleration {
    Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator: match t.operator.as_deref() {
            Some("Exists") => TolerationOperator::Exists,
            _ => TolerationOperator::Equal,
        },
        value: t.value.clone().unwrap_or_default(),
        effect: t.effect.as_deref().and_then(taint_effect),
        toleration_seconds: t.toleration_seconds,
    }
}

fn protocol(p: Option<&str>) -> Protocol {
    match p {
        Some("UDP") => Protocol::Udp,
        Some("SCTP") => Protocol::Sctp,
        _ => Protocol::Tcp,
    }
}

fn container(c: &core::Container) -> Container {
    let requirements = c.resources.as_ref();
    Container {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        requests: resources(requirements.and_then(|r| r.requests.as_ref())),
        limits: resources(requirements.and_then(|r| r.limits.as_ref())),
        host_ports: c
            .ports
            .iter()
            .flatten()
            .filter(|p| p.host_port.unwrap_or(0) > 0)
            .map(|p| HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".to_string()),
                protocol: protocol(p.protocol.as_deref()),
                port: p.host_port.unwrap_or(0),
            })
            .collect(),
    }
}

/// An init container as plugins see it: only a restartable one (a sidecar)
/// keeps `host-ports`, since only it holds them while the pod runs; an
/// ordinary init container has exited by then (kube-scheduler's
/// `GetHostPorts` leaves those out of port conflicts the same way).
fn init_container(c: &core::Container) -> Container {
    let mut init = container(c);
    if c.restart_policy.as_deref() != Some("Always") {
        init.host_ports.clear();
    }
    init
}

fn inclusion_policy(p: Option<&String>) -> Option<InclusionPolicy> {
    p.map(|p| match p.as_str() {
        "Ignore" => InclusionPolicy::Ignore,
        _ => InclusionPolicy::Honor,
    })
}

fn spread_constraint(c: &core::TopologySpreadConstraint) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: c.max_skew,
        topology_key: c.topology_key.clone(),
        when_unsatisfiable: match c.when_unsatisfiable.as_str() {
            "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
            _ => WhenUnsatisfiable::DoNotSchedule,
        },
        label_selector: c.label_selector.as_ref().map(label_selector),
        min_domains: c.min_domains,
        node_affinity_policy: inclusion_policy(c.node_affinity_policy.as_ref()),
        node_taints_policy: inclusion_policy(c.node_taints_policy.as_ref()),
        match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
    }
}

/// The pod as plugins see it.
pub fn pod(p: &core::Pod) -> Pod {
    let default_spec = core::PodSpec::default();
    let spec = p.spec.as_ref().unwrap_or(&default_spec);
    let affinity = spec.affinity.as_ref();
    let pod_aff = affinity.and_then(|a| a.pod_affinity.as_ref());
    let pod_anti = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
    Pod {
        namespace: p.metadata.namespace.clone().unwrap_or_default(),
        name: p.metadata.name.clone().unwrap_or_default(),
        uid: p.metadata.uid.clone().unwrap_or_default(),
        labels: pairs(p.metadata.labels.as_ref()),
        annotations: pairs(p.metadata.annotations.as_ref()),
        priority: spec.priority.unwrap_or(0),
        scheduler_name: spec.scheduler_name.clone().unwrap_or_default(),
        node_name: spec.node_name.clone().unwrap_or_default(),
        node_selector: pairs(spec.node_selector.as_ref()),
        node_affinity: affinity
            .and_then(|a| a.node_affinity.as_ref())
            .map(node_affinity),
        pod_affinity: pod_aff.map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        }),
        pod_anti_affinity: pod_anti.map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution
                    .as_ref(),
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )
        }),
        tolerations: spec.tolerations.iter().flatten().map(toleration).collect(),
        containers: spec.containers.iter().map(container).collect(),
        init_containers: spec
            .init_containers
            .iter()
            .flatten()
            .map(init_container)
            .collect(),
        overhead: resources(spec.overhead.as_ref()),
        topology_spread_constraints: spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .map(spread_constraint)
            .collect(),
        default_spread_selector: None,
        scheduling_gates: spec
            .scheduling_gates
            .iter()
            .flatten()
            .map(|g| g.name.clone())
            .collect(),
        terminating: p.metadata.deletion_timestamp.is_some(),
        requests: pod_requests(spec, false),
        non_zero_requests: pod_requests(spec, true),
    }
}

/// A PodDisruptionBudget as preemption counts it.
pub fn pod_disruption_budget(
    pdb: &k8s_openapi::api::policy::v1::PodDisruptionBudget,
) -> crate::wit::PodDisruptionBudget {
    let status = pdb.status.as_ref();
    crate::wit::PodDisruptionBudget {
        namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
        selector: pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .map(label_selector),
        disruptions_allowed: status.and_then(|s| s.disruptions_allowed).unwrap_or(0),
        disrupted_pods: status
            .and_then(|s| s.disrupted_pods.as_ref())
            .map(|pods| pods.keys().cloned().collect())
            .unwrap_or_default(),
    }
}

/// A pod preemption may evict, from its record and (when the cache has
/// it) its object: start time and whether an earlier preemption already
/// evicts it (upstream's PodTerminatingByPreemption).
pub fn victim(record: &Pod, object: Option<&core::Pod>) -> crate::wit::Victim {
    let status = object.and_then(|o| o.status.as_ref());
    let terminating = object.map_or(record.terminating, |o| {
        o.metadata.deletion_timestamp.is_some()
    });
    let preempted = terminating
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c.type_ == "DisruptionTarget"
                        && c.status == "True"
                        && c.reason.as_deref() == Some("PreemptionByScheduler")
                })
            });
    crate::wit::Victim {
        uid: record.uid.clone(),
        namespace: record.namespace.clone(),
        name: record.name.clone(),
        labels: record.labels.clone(),
        priority: record.priority,
        start_time: status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| i64::try_from(t.0.as_nanosecond()).unwrap_or(i64::MAX)),
        preempted,
        terminating,
    }
}

/// The namespace as plugins see it: its name and labels.
pub fn namespace(n: &core::Namespace) -> Namespace {
    Namespace {
        name: n.metadata.name.clone().unwrap_or_default(),
        labels: pairs(n.metadata.labels.as_ref()),
    }
}

/// The node as plugins see it.
pub fn node(n: &core::Node) -> Node {
    let spec = n.spec.as_ref();
    let status = n.status.as_ref();
    Node {
        name: n.metadata.name.clone().unwrap_or_default(),
        labels: pairs(n.metadata.labels.as_ref()),
        annotations: pairs(n.metadata.annotations.as_ref()),
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(Taint {
                    key: t.key.clone(),
                    value: t.value.clone().unwrap_or_default(),
                    effect: taint_effect(&t.effect)?,
                })
            })
            .collect(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        capacity: resources(status.and_then(|s| s.capacity.as_ref())),
        allocatable: resources(status.and_then(|s| s.allocatable.as_ref())),
        images: status
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .map(|i| ContainerImage {
                names: i.names.clone().unwrap_or_default(),
                size_bytes: i.size_bytes.unwrap_or(0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest;

    fn only_pod(yaml: &str) -> Pod {
        let objects = manifest::parse("t.yaml", yaml).unwrap();
        pod(&objects.pods[0])
    }

    fn resources_of(cpu: i64, memory: i64) -> (i64, i64) {
        (cpu, memory)
    }

    #[test]
    fn requests_follow_kube_pod_requests() {
        // Containers sum to 300m/300Mi; the init container needs 500m alone;
        // the sidecar (restartable init container) adds 100m to everything
        // after it, so the regular init step is 500m+100m only if the sidecar
        // starts before it. Here it starts after, so init peak is 500m.
        let p = only_pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  overhead: {cpu: 10m}\n  initContainers:\n  - {name: init, image: i, resources: {requests: {cpu: 500m, memory: 100Mi}}}\n  - {name: sidecar, image: i, restartPolicy: Always, resources: {requests: {cpu: 100m, memory: 50Mi}}}\n  containers:\n  - {name: a, image: i, resources: {requests: {cpu: 100m, memory: 100Mi}}}\n  - {name: b, image: i, resources: {requests: {cpu: 200m, memory: 200Mi}}}\n",
        );
        // cpu: max(300+100, 500, 100) + 10 = 510; memory: max(300+50, 100, 50) = 350Mi.
        assert_eq!(
            resources_of(p.requests.milli_cpu, p.requests.memory),
            (510, 350 * 1024 * 1024)
        );
        assert_eq!(p.requests.pods, 1);
    }

    #[test]
    fn non_zero_requests_fill_in_missing_cpu_and_memory() {
        let p = only_pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: i}\n  - {name: b, image: i, resources: {requests: {cpu: '0', memory: 1Gi}}}\n",
        );
        assert_eq!(
            resources_of(p.requests.milli_cpu, p.requests.memory),
            (0, 1 << 30)
        );
        // An explicit zero stays zero; a missing request takes the default.
        assert_eq!(p.non_zero_requests.milli_cpu, 100);
        assert_eq!(p.non_zero_requests.memory, 200 * 1024 * 1024 + (1 << 30));
    }

    #[test]
    fn extended_resources_and_host_ports() {
        let p = only_pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: i\n    resources: {limits: {nvidia.com/gpu: '2'}}\n    ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 53, protocol: UDP, hostPort: 53, hostIP: 10.0.0.1}, {containerPort: 9}]\n",
        );
        assert_eq!(p.requests.scalar, vec![("nvidia.com/gpu".to_string(), 2)]);
        let ports = &p.containers[0].host_ports;
        assert_eq!(ports.len(), 2);
        assert_eq!(
            (ports[0].ip.as_str(), ports[0].protocol, ports[0].port),
            ("0.0.0.0", Protocol::Tcp, 8080)
        );
        assert_eq!(
            (ports[1].ip.as_str(), ports[1].protocol, ports[1].port),
            ("10.0.0.1", Protocol::Udp, 53)
        );
    }

    #[test]
    fn only_sidecars_keep_their_host_ports() {
        let p = only_pod(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - {name: setup, image: i, ports: [{containerPort: 80, hostPort: 80}]}\n  - {name: proxy, image: i, restartPolicy: Always, ports: [{containerPort: 81, hostPort: 81}]}\n  containers:\n  - {name: a, image: i}\n",
        );
        assert!(p.init_containers[0].host_ports.is_empty());
        assert_eq!(p.init_containers[1].host_ports[0].port, 81);
    }

    #[test]
    fn nodes_carry_labels_taints_and_allocatable() {
        let objects = manifest::parse(
            "t.yaml",
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {zone: a, arch: arm64}}\nspec:\n  unschedulable: true\n  taints: [{key: gpu, value: 'yes', effect: NoSchedule}]\nstatus:\n  capacity: {cpu: '4', memory: 8Gi, pods: '110', example.com/fpga: '1'}\n  allocatable: {cpu: 3500m, memory: 7Gi, pods: '110'}\n",
        )
        .unwrap();
        let n = node(&objects.nodes[0]);
        assert_eq!(
            n.labels[0],
            ("arch".to_string(), "arm64".to_string()),
            "labels are sorted"
        );
        assert!(n.unschedulable);
        assert_eq!(n.taints[0].effect, TaintEffect::NoSchedule);
        assert_eq!(n.allocatable.milli_cpu, 3500);
        assert_eq!(n.allocatable.memory, 7 << 30);
        assert_eq!(n.capacity.scalar, vec![("example.com/fpga".to_string(), 1)]);
    }
}
