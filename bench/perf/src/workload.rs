//! The workloads, after kube-scheduler's `scheduler_perf` test cases: what
//! the nodes look like, which pods exist before measuring (init pods, placed
//! by the scheduler under test) and which pods are measured.
//!
//! Nodes and pods follow scheduler_perf's templates: a node has 4 cpus,
//! 32Gi and room for 110 pods, a `kubernetes.io/hostname` label and no
//! kubelet; a pod is one pause container requesting 100m and 500Mi.
//! The storage and DRA workloads add the objects of [`volumes`] and
//! [`dra`].

pub mod dra;
pub mod volumes;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;

/// Pods per gang of GangScheduling (scheduler_perf's `podsPerGroup`).
pub const PODS_PER_GANG: usize = 3;

/// Zones of the topology workloads.
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Plain pods: filter and score on resources alone.
    SchedulingBasic,
    /// Measured pods require nodes in zone-a or zone-b by node affinity.
    NodeAffinity,
    /// Nodes in 3 zones; measured pods spread over zones (maxSkew 5,
    /// DoNotSchedule), as scheduler_perf's TopologySpreading.
    TopologySpreading,
    /// Every pod (init and measured) has a required anti-affinity to the
    /// others on `kubernetes.io/hostname`: at most one per node.
    PodAntiAffinity,
    /// SchedulingBasic while pods that fit no node (8 cpus) are added, one
    /// per four measured pods: every cluster change retries them.
    UnschedulableChurn,
    /// Measured pods in gangs of 3 (a PodGroup each with `minCount: 3`,
    /// created before them), as scheduler_perf's
    /// `podgroup/gangscheduling` GangScheduling: each gang binds only once
    /// all three are reserved.
    GangScheduling,
    /// scheduler_perf's PreemptionBasic (`default_preemption/`): init pods
    /// of priority 0 asking 900m fill every node four times over (3.6 of 4
    /// cpus); each measured pod, of priority 9999999 asking 3970m, fits
    /// only once all four pods of a node are evicted.
    PreemptionBasic,
    /// scheduler_perf's SchedulingCSIPVs (`volumes/`): every node has a
    /// CSINode allowing 39 EBS CSI volumes, every pod (init and measured)
    /// a claim bound beforehand to a CSI volume of its own.
    SchedulingCsiPvs,
    /// scheduler_perf's SchedulingWithResourceClaimTemplate (`dra/`): ten
    /// simulated GPUs per node in a ResourceSlice, measured pods asking one
    /// each through a ResourceClaimTemplate (the cluster's resource claim
    /// controller makes the claims). As upstream, INIT counts claims
    /// allocated directly, not pods: there are no init pods.
    SchedulingWithResourceClaimTemplate,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Workload::SchedulingBasic => "SchedulingBasic",
            Workload::NodeAffinity => "NodeAffinity",
            Workload::TopologySpreading => "TopologySpreading",
            Workload::PodAntiAffinity => "PodAntiAffinity",
            Workload::UnschedulableChurn => "UnschedulableChurn",
            Workload::GangScheduling => "GangScheduling",
            Workload::PreemptionBasic => "PreemptionBasic",
            Workload::SchedulingCsiPvs => "SchedulingCSIPVs",
            Workload::SchedulingWithResourceClaimTemplate => "SchedulingWithResourceClaimTemplate",
        };
        f.write_str(name)
    }
}

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub nodes: usize,
    pub init_pods: usize,
    pub measured_pods: usize,
}

impl FromStr for Size {
    type Err = String;

    /// `NODES/INIT/MEASURED`, e.g. `5000/1000/5000`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let numbers: Result<Vec<usize>, _> = parts.iter().map(|p| p.parse::<usize>()).collect();
        match numbers.as_deref() {
            Ok([nodes, init_pods, measured_pods]) if *nodes > 0 && *measured_pods > 0 => Ok(Size {
                nodes: *nodes,
                init_pods: *init_pods,
                measured_pods: *measured_pods,
            }),
            _ => Err(format!(
                "`{s}`: expected NODES/INIT_PODS/MEASURED_PODS with at least one node and one measured pod, e.g. 5000/1000/5000"
            )),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.nodes, self.init_pods, self.measured_pods
        )
    }
}

/// The PriorityClass of PreemptionBasic's measured pods. scheduler_perf's
/// template sets `priority: 9999999` itself; the test cluster's apiserver
/// runs the Priority admission plugin, which takes it from a class.
const HIGH_PRIORITY: &str = "high-priority";

/// What a pod is for in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    Measured,
    /// Fits no node; never bound.
    Unschedulable,
}

impl Workload {
    /// Whether the workload can place `size`: with required anti-affinity
    /// every pod needs a node of its own.
    pub fn check(self, size: Size) -> Result<(), String> {
        if self == Workload::PodAntiAffinity && size.init_pods + size.measured_pods > size.nodes {
            return Err(format!(
                "{self} places at most one pod per node: {} init + {} measured pods do not fit on {} nodes",
                size.init_pods, size.measured_pods, size.nodes
            ));
        }
        if self == Workload::PreemptionBasic
            && (size.init_pods > 4 * size.nodes || size.measured_pods > size.nodes)
        {
            return Err(format!(
                "{self} fits four init pods per node and needs a node per measured pod: {} init and {} measured pods on {} nodes",
                size.init_pods, size.measured_pods, size.nodes
            ));
        }
        let per_node = match self {
            Workload::SchedulingCsiPvs => Some((volumes::ATTACHABLE, "volumes")),
            Workload::SchedulingWithResourceClaimTemplate => {
                Some((dra::DEVICES_PER_NODE, "devices"))
            }
            _ => None,
        };
        if let Some((room, what)) = per_node
            && size.init_pods + size.measured_pods > room * size.nodes
        {
            return Err(format!(
                "{self} has {room} {what} per node: {} init and {} measured do not fit on {} nodes",
                size.init_pods, size.measured_pods, size.nodes
            ));
        }
        Ok(())
    }

    /// Whether the cluster runs kube-controller-manager: the resource
    /// claim controller makes the claims of ResourceClaimTemplates.
    /// SchedulingCSIPVs binds its volumes itself, as upstream, where no PV
    /// controller runs.
    pub fn needs_controller_manager(self) -> bool {
        self == Workload::SchedulingWithResourceClaimTemplate
    }

    /// How many init pods the contender places before measuring.
    pub fn init_pods(self, size: Size) -> usize {
        match self {
            Workload::SchedulingWithResourceClaimTemplate => 0,
            _ => size.init_pods,
        }
    }

    /// How many claims are allocated directly before measuring.
    pub fn init_claims(self, size: Size) -> usize {
        match self {
            Workload::SchedulingWithResourceClaimTemplate => size.init_pods,
            _ => 0,
        }
    }

    /// The PriorityClasses the workload's pods name, created with the
    /// nodes.
    pub fn priority_classes(self) -> Vec<PriorityClass> {
        match self {
            Workload::PreemptionBasic => vec![
                serde_json::from_value(json!({
                    "apiVersion": "scheduling.k8s.io/v1",
                    "kind": "PriorityClass",
                    "metadata": {"name": HIGH_PRIORITY},
                    "value": 9_999_999,
                }))
                .expect("a valid priority class"),
            ],
            _ => Vec::new(),
        }
    }

    /// Node `i` of the cluster.
    pub fn node(self, i: usize) -> Node {
        let name = format!("node-{i}");
        let mut labels = json!({"kubernetes.io/hostname": name});
        match self {
            Workload::NodeAffinity | Workload::TopologySpreading => {
                labels["topology.kubernetes.io/zone"] = json!(ZONES[i % ZONES.len()]);
            }
            Workload::SchedulingWithResourceClaimTemplate => {
                labels["node-with-dra"] = json!("true");
            }
            _ => {}
        }
        let mut resources = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
        if self == Workload::SchedulingCsiPvs {
            let (name, value) = volumes::node_allocatable();
            resources[name] = value;
        }
        serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "phase": "Running",
            },
        }))
        .expect("a valid node")
    }

    /// Pod `name` with `role`, for the scheduler named `scheduler`.
    pub fn pod(self, name: &str, role: Role, scheduler: &str) -> Pod {
        let cpu = match (self, role) {
            (_, Role::Unschedulable) => "8",
            (Workload::PreemptionBasic, Role::Init) => "900m",
            (Workload::PreemptionBasic, Role::Measured) => "3970m",
            _ => "100m",
        };
        let mut pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"role": role_label(role), "color": "green"}},
            "spec": {
                "schedulerName": scheduler,
                "containers": [{
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": cpu, "memory": "500Mi"}},
                }],
            },
        });
        let spec = &mut pod["spec"];
        match (self, role) {
            (Workload::NodeAffinity, Role::Measured) => {
                spec["affinity"] = node_affinity();
            }
            (Workload::TopologySpreading, Role::Measured) => {
                spec["topologySpreadConstraints"] = json!([{
                    "maxSkew": 5,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"role": "measured"}},
                }]);
            }
            (Workload::PreemptionBasic, _) => {
                // Limits as scheduler_perf's templates; victims go at once.
                spec["terminationGracePeriodSeconds"] = json!(0);
                spec["containers"][0]["resources"]["limits"] =
                    json!({"cpu": cpu, "memory": "500Mi"});
                if role == Role::Measured {
                    spec["priorityClassName"] = json!(HIGH_PRIORITY);
                }
            }
            (Workload::PodAntiAffinity, Role::Init | Role::Measured) => {
                spec["affinity"] = json!({"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{
                        "labelSelector": {"matchLabels": {"color": "green"}},
                        "topologyKey": "kubernetes.io/hostname",
                    }],
                }});
            }
            (Workload::SchedulingCsiPvs, Role::Init | Role::Measured) => {
                spec["volumes"] = volumes::pod_volume(name);
            }
            (Workload::SchedulingWithResourceClaimTemplate, Role::Measured) => {
                // As upstream's pod-with-claim-template.yaml: no requests.
                let (claims, container_claims) = dra::pod_claims();
                spec["resourceClaims"] = claims;
                spec["containers"][0]["resources"] = json!({"claims": container_claims});
            }
            _ => {}
        }
        serde_json::from_value(pod).expect("a valid pod")
    }

    /// The PodGroups to create before the measured pods: `gang-<n>`, one
    /// per [`PODS_PER_GANG`] measured pods, as scheduler_perf's template.
    pub fn pod_groups(self, size: Size) -> Vec<PodGroup> {
        if self != Workload::GangScheduling {
            return Vec::new();
        }
        (0..size.measured_pods.div_ceil(PODS_PER_GANG))
            .map(|n| {
                serde_json::from_value(json!({
                    "apiVersion": "scheduling.k8s.io/v1beta1",
                    "kind": "PodGroup",
                    "metadata": {"name": format!("gang-{n}")},
                    "spec": {"schedulingPolicy": {"gang": {"minCount": PODS_PER_GANG}}},
                }))
                .expect("a valid PodGroup")
            })
            .collect()
    }

    /// Puts measured pod `i` in its gang (pods 0-2 in `gang-0`, 3-5 in
    /// `gang-1`, ...), for GangScheduling.
    pub fn join_gang(self, pod: &mut Pod, i: usize) {
        if self != Workload::GangScheduling {
            return;
        }
        let group = json!({"podGroupName": format!("gang-{}", i / PODS_PER_GANG)});
        if let Some(spec) = pod.spec.as_mut() {
            spec.scheduling_group = Some(serde_json::from_value(group).expect("a valid group"));
        }
    }

    /// How many unschedulable pods go with the measured ones.
    pub fn unschedulable_pods(self, size: Size) -> usize {
        match self {
            Workload::UnschedulableChurn => size.measured_pods / 4,
            _ => 0,
        }
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Init => "init",
        Role::Measured => "measured",
        Role::Unschedulable => "unschedulable",
    }
}

fn node_affinity() -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{
            "key": "topology.kubernetes.io/zone",
            "operator": "In",
            "values": ["zone-a", "zone-b"],
        }]}],
    }}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_refuse_with_the_expected_form() {
        let size: Size = "500/0/1000".parse().unwrap();
        assert_eq!(size.nodes, 500);
        assert_eq!(size.init_pods, 0);
        assert_eq!(size.measured_pods, 1000);
        for bad in ["500/1000", "0/0/10", "a/b/c", "5/0/0"] {
            let error = bad.parse::<Size>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn anti_affinity_needs_a_node_per_pod() {
        let size = Size {
            nodes: 100,
            init_pods: 50,
            measured_pods: 51,
        };
        assert!(Workload::PodAntiAffinity.check(size).is_err());
        assert!(Workload::SchedulingBasic.check(size).is_ok());
    }

    #[test]
    fn preemption_needs_a_full_node_per_measured_pod() {
        let fits = Size {
            nodes: 100,
            init_pods: 400,
            measured_pods: 100,
        };
        assert!(Workload::PreemptionBasic.check(fits).is_ok());
        for size in [
            Size {
                init_pods: 401,
                ..fits
            },
            Size {
                measured_pods: 101,
                ..fits
            },
        ] {
            assert!(Workload::PreemptionBasic.check(size).is_err());
        }
        let high = Workload::PreemptionBasic.pod("p", Role::Measured, "s");
        let spec = high.spec.unwrap();
        assert_eq!(spec.priority_class_name.as_deref(), Some(HIGH_PRIORITY));
        let requests = spec.containers[0]
            .resources
            .clone()
            .unwrap()
            .requests
            .unwrap();
        assert_eq!(requests["cpu"].0, "3970m");
        let class = &Workload::PreemptionBasic.priority_classes()[0];
        assert_eq!(class.value, Some(9_999_999));
        assert!(Workload::SchedulingBasic.priority_classes().is_empty());
    }

    #[test]
    fn templates_carry_what_each_workload_is_about() {
        let node = Workload::TopologySpreading.node(4);
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["topology.kubernetes.io/zone"], "zone-b");
        assert_eq!(labels["kubernetes.io/hostname"], "node-4");

        let pod = Workload::NodeAffinity.pod("p", Role::Measured, "s");
        assert!(pod.spec.as_ref().unwrap().affinity.is_some());
        let init = Workload::NodeAffinity.pod("p", Role::Init, "s");
        assert!(init.spec.as_ref().unwrap().affinity.is_none());

        let mut member = Workload::GangScheduling.pod("g", Role::Measured, "s");
        Workload::GangScheduling.join_gang(&mut member, 4);
        let group = member.spec.unwrap().scheduling_group.unwrap();
        assert_eq!(group.pod_group_name.as_deref(), Some("gang-1"));
        let size = "10/0/7".parse().unwrap();
        let groups = Workload::GangScheduling.pod_groups(size);
        assert_eq!(groups.len(), 3);
        assert!(Workload::SchedulingBasic.pod_groups(size).is_empty());

        let big = Workload::UnschedulableChurn.pod("u", Role::Unschedulable, "s");
        let requests = big.spec.unwrap().containers[0]
            .resources
            .clone()
            .unwrap()
            .requests
            .unwrap();
        assert_eq!(requests["cpu"].0, "8");
    }

    #[test]
    fn csi_pvs_give_each_pod_its_claim_and_nodes_their_limit() {
        let workload = Workload::SchedulingCsiPvs;
        let node = workload.node(0);
        let allocatable = node.status.unwrap().allocatable.unwrap();
        assert_eq!(
            allocatable["attachable-volumes-csi-ebs.csi.aws.com"].0,
            "39"
        );
        for role in [Role::Init, Role::Measured] {
            let pod = workload.pod("p", role, "s");
            let volumes = pod.spec.unwrap().volumes.unwrap();
            let claim = volumes[0].persistent_volume_claim.as_ref().unwrap();
            assert_eq!(claim.claim_name, "pvc-p");
        }
        assert!(!workload.needs_controller_manager());
        let size: Size = "10/200/190".parse().unwrap();
        assert!(workload.check(size).is_ok());
        let over = Size {
            measured_pods: 191,
            ..size
        };
        assert!(workload.check(over).unwrap_err().contains("39 volumes"));
    }

    #[test]
    fn claim_template_pods_ask_for_a_device_and_init_means_claims() {
        let workload = Workload::SchedulingWithResourceClaimTemplate;
        let pod = workload.pod("p", Role::Measured, "s");
        let spec = pod.spec.unwrap();
        let claims = spec.resource_claims.unwrap();
        assert_eq!(
            claims[0].resource_claim_template_name.as_deref(),
            Some("test-claim-template")
        );
        let resources = spec.containers[0].resources.clone().unwrap();
        assert_eq!(resources.claims.unwrap()[0].name, claims[0].name);
        assert!(resources.requests.is_none());
        let labels = workload.node(1).metadata.labels.unwrap();
        assert_eq!(labels["node-with-dra"], "true");
        assert!(workload.needs_controller_manager());

        let size: Size = "500/2500/2500".parse().unwrap();
        assert_eq!(workload.init_pods(size), 0);
        assert_eq!(workload.init_claims(size), 2500);
        assert!(workload.check(size).is_ok());
        let over = Size {
            init_pods: 2501,
            ..size
        };
        assert!(workload.check(over).unwrap_err().contains("10 devices"));
        assert_eq!(Workload::SchedulingBasic.init_pods(size), 2500);
        assert_eq!(Workload::SchedulingBasic.init_claims(size), 0);
    }
}
