//! NodeResourcesFit: keeps pods off nodes without room for their resource
//! requests, and scores the nodes that have room by how full they would be,
//! as kube-scheduler's plugin of the same name does (v1.37).
//!
//! **Filter.** The pod's effective request (`pod.requests`, computed by the
//! host) must fit in what the node's pods leave of its allocatable:
//!
//! - the pod count: `pods on node + 1 <= allocatable.pods`, else
//!   `Too many pods`;
//! - a pod that requests nothing but a pod slot is checked for nothing else;
//! - cpu, memory, ephemeral storage and every extended resource the pod asks
//!   a non-zero amount of: `request <= allocatable - requested by the node's
//!   pods`, else `Insufficient <resource>`.
//!
//! Every failing check adds a reason. The status is Unschedulable, or
//! UnschedulableAndUnresolvable when the pod asks more of some resource than
//! the node has at all (preemption cannot help then). Extended resources
//! (`example.com/foo`) listed in `ignoredResources`, or whose domain is in
//! `ignoredResourceGroups`, are not checked.
//!
//! **Score**, 0..=100 with no normalisation. For each resource of
//! `scoringStrategy.resources` (default cpu and memory, weight 1) the
//! strategy rates `requested / allocatable` after placing the pod, and the
//! node's score is the weighted mean. Cpu and memory count non-zero requests
//! (100m cpu and 200Mi memory for a container that asks none, on both the
//! pod and the node's pods), so that request-less pods still spread; every
//! other resource counts plain requests. A resource the node has none of is
//! left out of the mean, as is an extended resource the pod does not ask for.
//! All arithmetic is integer and truncates, as upstream's:
//!
//! - `LeastAllocated` (default): `(allocatable - requested) * 100 / allocatable`,
//!   0 when over-committed; mean `sum(score * weight) / sum(weight)`;
//! - `MostAllocated`: `min(requested, allocatable) * 100 / allocatable`,
//!   same mean;
//! - `RequestedToCapacityRatio`: utilisation `requested * 100 / allocatable`
//!   (100 when over-committed) mapped through the broken-line `shape`
//!   (scores 0..=10, scaled by 10); only resources scoring above 0 enter the
//!   mean, which is rounded half away from zero.
//!
//! Not modelled, for want of data in the WIT: extended resources backed by
//! DRA device classes (upstream leaves those to DynamicResources when the
//! node does not advertise the resource), so they are checked and scored
//! like device-plugin resources.

use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, Code, EventResource, ExtensionPoint, NodeInfo, NodeUsage,
    Plugin, Pod, QueueingHint, RegisteredEvent, Resources, Status, objects,
};
use serde::Deserialize;

/// The reasons kube-scheduler reports. Extended resources get
/// `Insufficient <name>`, see [`insufficient`].
pub const ERR_REASON_TOO_MANY_PODS: &str = "Too many pods";
pub const ERR_REASON_INSUFFICIENT_CPU: &str = "Insufficient cpu";
pub const ERR_REASON_INSUFFICIENT_MEMORY: &str = "Insufficient memory";
pub const ERR_REASON_INSUFFICIENT_EPHEMERAL_STORAGE: &str = "Insufficient ephemeral-storage";

/// The reason for a resource the node lacks, e.g. `Insufficient nvidia.com/gpu`.
pub fn insufficient(resource: &str) -> String {
    format!("Insufficient {resource}")
}

/// `NodeResourcesFitArgs` (kubescheduler.config.k8s.io/v1).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeResourcesFitArgs {
    /// Accepted because upstream's args carry TypeMeta; not used.
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Extended resources the Filter does not check.
    pub ignored_resources: Vec<String>,
    /// Domains (`example.com`) whose extended resources the Filter does not check.
    pub ignored_resource_groups: Vec<String>,
    /// Default: LeastAllocated over cpu and memory, weight 1 each.
    pub scoring_strategy: Option<ScoringStrategyArgs>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringStrategyArgs {
    /// `LeastAllocated`, `MostAllocated` or `RequestedToCapacityRatio`;
    /// required once `scoringStrategy` is given, as upstream.
    #[serde(rename = "type")]
    pub kind: String,
    /// Empty means cpu and memory; a weight of 0 means 1.
    pub resources: Vec<ResourceSpec>,
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatioArgs>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceSpec {
    pub name: String,
    pub weight: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestedToCapacityRatioArgs {
    /// Points in increasing `utilization` (0..=100), `score` 0..=10.
    pub shape: Vec<UtilizationShapePoint>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UtilizationShapePoint {
    pub utilization: i32,
    pub score: i32,
}

/// How a node's utilisation of one resource turns into a score.
#[derive(Debug, PartialEq)]
enum Strategy {
    LeastAllocated,
    MostAllocated,
    /// `(utilization, score)` points, scores already scaled to 0..=100.
    RequestedToCapacityRatio(Vec<(i64, i64)>),
}

pub struct NodeResourcesFit {
    ignored_resources: Vec<String>,
    ignored_resource_groups: Vec<String>,
    strategy: Strategy,
    resources: Vec<ResourceSpec>,
}

impl Plugin for NodeResourcesFit {
    const NAME: &'static str = "NodeResourcesFit";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::Filter,
        ExtensionPoint::Score,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = NodeResourcesFitArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them with queueing hints: a bound
    /// pod that leaves or shrinks frees room (its hint always queues a
    /// bound pod), a node added or given more allocatable may have it.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(
                EventResource::AssignedPod,
                &[ActionType::Delete, ActionType::UpdatePodScaleDown],
            ),
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeAllocatable],
            )
            .with_hint(),
        ]
    }

    /// Upstream's `isSchedulableAfterNodeChange`: only a node whose
    /// allocatable could hold the pod were it empty. (Upstream also skips
    /// an update that raised none of the resources the pod asks for; the
    /// node's allocatable before the change is not decoded here, so such
    /// an update queues the pod.)
    fn queueing_hint(
        &self,
        pod: &Pod,
        cluster: &Cluster,
        _: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let Some((_, new)) = objects::node_change(old, new)? else {
            return Ok(QueueingHint::Skip);
        };
        let Some(node) = cluster.nodes().find(|n| n.node.name == new.name) else {
            return Ok(QueueingHint::Queue);
        };
        let empty = NodeInfo {
            usage: NodeUsage {
                requested: Resources::zero(),
                non_zero_requested: Resources::zero(),
                pod_count: 0,
                used_ports: Vec::new(),
            },
            ..node.clone()
        };
        Ok(if self.filter(pod, &empty).passes() {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }

    fn new(args: NodeResourcesFitArgs) -> Result<Self, String> {
        let mut errors = Vec::new();
        for (i, name) in args.ignored_resources.iter().enumerate() {
            if !is_qualified_name(name) {
                errors.push(format!(
                    "ignoredResources[{i}]: Invalid value: {name:?}: {QUALIFIED_NAME_RULE}"
                ));
            }
        }
        for (i, group) in args.ignored_resource_groups.iter().enumerate() {
            if group.contains('/') {
                errors.push(format!(
                    "ignoredResourceGroups[{i}]: Invalid value: {group:?}: resource group name can't contain '/'"
                ));
            } else if !is_qualified_name(group) {
                errors.push(format!(
                    "ignoredResourceGroups[{i}]: Invalid value: {group:?}: {QUALIFIED_NAME_RULE}"
                ));
            }
        }
        let (strategy, resources) = scoring(args.scoring_strategy, &mut errors);
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(NodeResourcesFit {
            ignored_resources: args.ignored_resources,
            ignored_resource_groups: args.ignored_resource_groups,
            strategy,
            resources,
        })
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let allocatable = &node.node.allocatable;
        let used = &node.usage.requested;
        let want = &pod.requests;
        let mut reasons = Vec::new();
        let mut unresolvable = false;

        if i64::from(node.usage.pod_count) + 1 > allocatable.pods {
            reasons.push(ERR_REASON_TOO_MANY_PODS.to_string());
        }
        let asks_more_than_a_slot = want.milli_cpu != 0
            || want.memory != 0
            || want.ephemeral_storage != 0
            || !want.scalar.is_empty();
        if asks_more_than_a_slot {
            let mut check = |reason: String, want: i64, used: i64, allocatable: i64| {
                if want > 0 && want > allocatable - used {
                    reasons.push(reason);
                    unresolvable |= want > allocatable;
                }
            };
            check(
                ERR_REASON_INSUFFICIENT_CPU.into(),
                want.milli_cpu,
                used.milli_cpu,
                allocatable.milli_cpu,
            );
            check(
                ERR_REASON_INSUFFICIENT_MEMORY.into(),
                want.memory,
                used.memory,
                allocatable.memory,
            );
            check(
                ERR_REASON_INSUFFICIENT_EPHEMERAL_STORAGE.into(),
                want.ephemeral_storage,
                used.ephemeral_storage,
                allocatable.ephemeral_storage,
            );
            for (name, amount) in &want.scalar {
                if !self.ignores(name) {
                    check(
                        insufficient(name),
                        *amount,
                        used.scalar(name),
                        allocatable.scalar(name),
                    );
                }
            }
        }

        match (reasons.is_empty(), unresolvable) {
            (true, _) => Status::success(),
            (false, false) => Status::unschedulable_for(reasons),
            (false, true) => Status {
                code: Code::UnschedulableAndUnresolvable,
                reasons,
            },
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        let mut weighted_sum = 0;
        let mut weight_sum = 0;
        for spec in &self.resources {
            let (requested, allocatable) = requested_and_allocatable(pod, node, &spec.name);
            if allocatable == 0 {
                continue;
            }
            let score = self.strategy.resource_score(requested, allocatable);
            if matches!(self.strategy, Strategy::RequestedToCapacityRatio(_)) && score <= 0 {
                continue;
            }
            weighted_sum += score * spec.weight;
            weight_sum += spec.weight;
        }
        Ok(match (&self.strategy, weight_sum) {
            (_, 0) => 0,
            (Strategy::RequestedToCapacityRatio(_), _) => {
                (weighted_sum as f64 / weight_sum as f64).round() as i64
            }
            _ => weighted_sum / weight_sum,
        })
    }
}

impl NodeResourcesFit {
    /// Whether the Filter skips this resource: only extended resources can
    /// be ignored, by name or by the domain before the `/`.
    fn ignores(&self, resource: &str) -> bool {
        let Some((group, _)) = resource.split_once('/') else {
            return false;
        };
        let extended = !resource.contains("kubernetes.io/") && !resource.starts_with("requests.");
        extended
            && (self.ignored_resources.iter().any(|r| r == resource)
                || self.ignored_resource_groups.iter().any(|g| g == group))
    }
}

impl Strategy {
    /// One resource's score, 0..=100, once `allocatable > 0`.
    fn resource_score(&self, requested: i64, allocatable: i64) -> i64 {
        const MAX: i64 = kws_plugin_sdk::MAX_NODE_SCORE;
        match self {
            Strategy::LeastAllocated if requested > allocatable => 0,
            Strategy::LeastAllocated => (allocatable - requested) * MAX / allocatable,
            Strategy::MostAllocated => requested.min(allocatable) * MAX / allocatable,
            Strategy::RequestedToCapacityRatio(shape) => {
                let utilization = if requested > allocatable {
                    100
                } else {
                    requested * 100 / allocatable
                };
                broken_line(shape, utilization)
            }
        }
    }
}

/// The node's total request of a resource with the pod placed on it, and
/// its allocatable amount (0 leaves the resource out of the score).
fn requested_and_allocatable(pod: &Pod, node: &NodeInfo, resource: &str) -> (i64, i64) {
    let allocatable = &node.node.allocatable;
    let non_zero = &node.usage.non_zero_requested;
    let requested = &node.usage.requested;
    match resource {
        "cpu" => (
            non_zero.milli_cpu + pod.non_zero_requests.milli_cpu,
            allocatable.milli_cpu,
        ),
        "memory" => (
            non_zero.memory + pod.non_zero_requests.memory,
            allocatable.memory,
        ),
        "ephemeral-storage" => (
            requested.ephemeral_storage + pod.requests.ephemeral_storage,
            allocatable.ephemeral_storage,
        ),
        // An extended resource counts only for pods that ask for it.
        name => match pod.requests.scalar(name) {
            0 => (0, 0),
            want => (requested.scalar(name) + want, allocatable.scalar(name)),
        },
    }
}

/// The piecewise-linear function through `shape` at `p`, flat before the
/// first point and after the last (upstream's `BuildBrokenLinearFunction`).
fn broken_line(shape: &[(i64, i64)], p: i64) -> i64 {
    match shape.iter().position(|&(utilization, _)| p <= utilization) {
        Some(0) => shape[0].1,
        Some(i) => {
            let ((u0, s0), (u1, s1)) = (shape[i - 1], shape[i]);
            s0 + (s1 - s0) * (p - u0) / (u1 - u0)
        }
        None => shape[shape.len() - 1].1,
    }
}

/// Applies upstream's defaults to `scoringStrategy` and validates it.
fn scoring(
    args: Option<ScoringStrategyArgs>,
    errors: &mut Vec<String>,
) -> (Strategy, Vec<ResourceSpec>) {
    let args = args.unwrap_or_else(|| ScoringStrategyArgs {
        kind: "LeastAllocated".into(),
        ..Default::default()
    });
    let mut resources = args.resources;
    if resources.is_empty() {
        resources = ["cpu", "memory"]
            .map(|name| ResourceSpec {
                name: name.into(),
                weight: 1,
            })
            .into();
    }
    for (i, spec) in resources.iter_mut().enumerate() {
        if spec.weight == 0 {
            spec.weight = 1;
        }
        if !(1..=100).contains(&spec.weight) {
            errors.push(format!(
                "scoringStrategy.resources[{i}].weight: Invalid value: {}: resource weight of {} not in valid range (0, 100]",
                spec.weight, spec.name
            ));
        }
    }
    let shape = args.requested_to_capacity_ratio.map(|ratio| {
        validate_shape(&ratio.shape, errors);
        // Shape scores are 0..=10 (MaxCustomPriorityScore); node scores 0..=100.
        let scale = kws_plugin_sdk::MAX_NODE_SCORE / 10;
        let points = ratio.shape.iter();
        points
            .map(|p| (i64::from(p.utilization), i64::from(p.score) * scale))
            .collect::<Vec<_>>()
    });
    let strategy = match (args.kind.as_str(), shape) {
        ("LeastAllocated", _) => Strategy::LeastAllocated,
        ("MostAllocated", _) => Strategy::MostAllocated,
        ("RequestedToCapacityRatio", Some(shape)) => Strategy::RequestedToCapacityRatio(shape),
        ("RequestedToCapacityRatio", None) => {
            errors.push(
                "scoringStrategy.requestedToCapacityRatio: Required value: the RequestedToCapacityRatio strategy needs a shape".into(),
            );
            Strategy::LeastAllocated
        }
        (other, _) => {
            errors.push(format!(
                "scoringStrategy.type: Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""
            ));
            Strategy::LeastAllocated
        }
    };
    (strategy, resources)
}

fn validate_shape(shape: &[UtilizationShapePoint], errors: &mut Vec<String>) {
    const PATH: &str = "scoringStrategy.requestedToCapacityRatio.shape";
    if shape.is_empty() {
        errors.push(format!(
            "{PATH}: Required value: at least one point must be specified"
        ));
    }
    if let Some(i) = (1..shape.len()).find(|&i| shape[i - 1].utilization >= shape[i].utilization) {
        errors.push(format!(
            "{PATH}[{i}].utilization: Invalid value: {}: values must be sorted in increasing order",
            shape[i].utilization
        ));
    }
    for (i, point) in shape.iter().enumerate() {
        if !(0..=100).contains(&point.utilization) {
            errors.push(format!(
                "{PATH}[{i}].utilization: Invalid value: {}: not in valid range [0, 100]",
                point.utilization
            ));
        }
        if !(0..=10).contains(&point.score) {
            errors.push(format!(
                "{PATH}[{i}].score: Invalid value: {}: not in valid range [0, 10]",
                point.score
            ));
        }
    }
}

const QUALIFIED_NAME_RULE: &str = "must be a qualified name: an optional DNS subdomain and '/', then 1 to 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric";

/// Kubernetes' rule for label keys and resource names, which upstream
/// applies to `ignoredResources` and `ignoredResourceGroups`.
fn is_qualified_name(s: &str) -> bool {
    let alnum_ends = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    let name_ok = name.len() <= 63
        && alnum_ends(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let prefix_ok = prefix.is_none_or(|prefix| {
        prefix.len() <= 253
            && prefix.split('.').all(|label| {
                alnum_ends(label)
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok
}

kws_plugin_sdk::export_plugin!(NodeResourcesFit);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{DEFAULT_MEMORY, node, node_info, pod};
    use kws_plugin_sdk::{Change, Node, Runner};

    const MI: i64 = 1024 * 1024;

    fn plugin(args: &str) -> NodeResourcesFit {
        let args = serde_json::from_str(args).expect("args parse");
        NodeResourcesFit::new(args).expect("args are valid")
    }

    fn args_error(args: &str) -> String {
        match Runner::<NodeResourcesFit>::configured(args) {
            Ok(_) => panic!("{args} was accepted"),
            Err(e) => e,
        }
    }

    /// A node with `cpu` millicores, `memory` bytes and room for 110 pods.
    fn sized(cpu: i64, memory: i64) -> Node {
        node("n").allocatable(cpu, memory, 110).build()
    }

    fn with_ephemeral_storage(mut n: Node, bytes: i64) -> Node {
        n.allocatable.ephemeral_storage = bytes;
        n
    }

    fn filter(p: &Pod, n: &NodeInfo) -> Status {
        plugin("{}").filter(p, n)
    }

    // --- Filter ---

    #[test]
    fn a_pod_that_fits_passes() {
        let running = pod("d", "running").requests(1000, 1000).build();
        let n = node_info(0, sized(2000, 2000), vec![running]);
        // 1000 free of each; asking exactly that fits.
        assert!(filter(&pod("d", "p").requests(1000, 1000).build(), &n).passes());
    }

    #[test]
    fn each_short_resource_has_its_reason() {
        let running = pod("d", "running").requests(1500, 1500).build();
        let n = node_info(0, sized(2000, 2000), vec![running]);

        let status = filter(&pod("d", "p").requests(600, 0).build(), &n);
        assert_eq!(status.code, Code::Unschedulable);
        assert_eq!(status.reasons, [ERR_REASON_INSUFFICIENT_CPU]);

        let status = filter(&pod("d", "p").requests(0, 600).build(), &n);
        assert_eq!(status.reasons, [ERR_REASON_INSUFFICIENT_MEMORY]);

        let mut p = pod("d", "p").build();
        p.requests.ephemeral_storage = 600;
        let n = node_info(0, with_ephemeral_storage(sized(2000, 2000), 500), vec![]);
        let status = filter(&p, &n);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["Insufficient ephemeral-storage"]);
    }

    #[test]
    fn extended_resources_are_checked_by_name() {
        let gpu_node = node("n")
            .allocatable(4000, 4000, 110)
            .scalar("nvidia.com/gpu", 2);
        let running = pod("d", "running").scalar("nvidia.com/gpu", 1).build();
        let n = node_info(0, gpu_node.build(), vec![running]);

        assert!(filter(&pod("d", "p").scalar("nvidia.com/gpu", 1).build(), &n).passes());
        let status = filter(&pod("d", "p").scalar("nvidia.com/gpu", 2).build(), &n);
        assert_eq!(
            status.code,
            Code::Unschedulable,
            "2 fit once the other pod goes"
        );
        assert_eq!(status.reasons, [insufficient("nvidia.com/gpu")]);
        assert_eq!(status.reasons, ["Insufficient nvidia.com/gpu"]);

        // A node without the resource can never take the pod.
        let plain = node_info(1, sized(4000, 4000), vec![]);
        let status = filter(&pod("d", "p").scalar("example.com/foo", 1).build(), &plain);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["Insufficient example.com/foo"]);
    }

    #[test]
    fn all_reasons_are_reported_together() {
        let running = pod("d", "running").requests(900, 900).build();
        let n = node("n")
            .allocatable(1000, 1000, 1)
            .scalar("example.com/b", 1);
        let n = node_info(0, n.build(), vec![running]);
        let p = pod("d", "p")
            .requests(200, 200)
            .scalar("example.com/a", 1)
            .scalar("example.com/b", 1)
            .build();
        let status = filter(&p, &n);
        assert_eq!(
            status.reasons,
            [
                "Too many pods",
                "Insufficient cpu",
                "Insufficient memory",
                "Insufficient example.com/a",
            ]
        );
        // example.com/a is absent from the node: more than it has at all.
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
    }

    #[test]
    fn asking_more_than_the_node_has_is_unresolvable() {
        let empty = node_info(0, sized(1000, 1000), vec![]);
        let status = filter(&pod("d", "p").requests(1001, 0).build(), &empty);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, [ERR_REASON_INSUFFICIENT_CPU]);

        // The same shortage caused by other pods may be solved by preemption.
        let running = pod("d", "running").requests(500, 0).build();
        let busy = node_info(0, sized(1000, 1000), vec![running]);
        let status = filter(&pod("d", "p").requests(600, 0).build(), &busy);
        assert_eq!(status.code, Code::Unschedulable);
    }

    #[test]
    fn the_pod_count_limits_every_pod() {
        let two_slots = node("n").allocatable(1000, 1000, 2).build();
        let full = node_info(
            0,
            two_slots,
            vec![pod("d", "a").build(), pod("d", "b").build()],
        );
        // The pod asks nothing but a slot: only the pod count is checked
        // (this node has no cpu or memory left to compare with anyway).
        let status = filter(&pod("d", "p").build(), &full);
        assert_eq!(status.code, Code::Unschedulable);
        assert_eq!(status.reasons, [ERR_REASON_TOO_MANY_PODS]);

        let three_slots = node("n").allocatable(1000, 1000, 3).build();
        let one_free = node_info(0, three_slots, full.pods.clone());
        assert!(filter(&pod("d", "p").build(), &one_free).passes());
    }

    #[test]
    fn a_request_free_pod_fits_a_node_with_no_resources_left() {
        let n = node_info(0, sized(0, 0), vec![]);
        assert!(filter(&pod("d", "p").build(), &n).passes());
    }

    #[test]
    fn the_hosts_effective_request_is_what_counts() {
        // Containers ask 500m in total, an init container 2 cpu: the host
        // sets `requests` to the larger, and the plugin goes by it.
        let mut p = pod("d", "p").requests(500, 0).build();
        p.requests.milli_cpu = 2000;
        let n = node_info(0, sized(1500, 1000), vec![]);
        let status = filter(&p, &n);
        assert_eq!(status.reasons, [ERR_REASON_INSUFFICIENT_CPU]);
        let n = node_info(0, sized(2000, 1000), vec![]);
        assert!(filter(&p, &n).passes());
    }

    #[test]
    fn ignored_extended_resources_are_not_checked() {
        let fit = plugin(
            r#"{"ignoredResources": ["example.com/foo", "hugepages-2Mi"],
                "ignoredResourceGroups": ["vendor.io"]}"#,
        );
        let n = node_info(0, sized(1000, 1000), vec![]);
        let asks = |name: &str| pod("d", "p").scalar(name, 1).build();
        assert!(fit.filter(&asks("example.com/foo"), &n).passes());
        assert!(fit.filter(&asks("vendor.io/anything"), &n).passes());
        assert_eq!(
            fit.filter(&asks("example.com/bar"), &n).reasons,
            ["Insufficient example.com/bar"]
        );
        // Only extended resources can be ignored; hugepages are native.
        assert_eq!(
            fit.filter(&asks("hugepages-2Mi"), &n).reasons,
            ["Insufficient hugepages-2Mi"]
        );
        // The pod count is never ignored.
        let full = node_info(0, node("n").allocatable(1000, 1000, 0).build(), vec![]);
        assert_eq!(
            fit.filter(&asks("example.com/foo"), &full).reasons,
            [ERR_REASON_TOO_MANY_PODS]
        );
    }

    // --- Score ---

    /// Allocatable 3000m / 7000 bytes; after placing the pod 1000m / 2000
    /// bytes are requested.
    fn third_used() -> (Pod, NodeInfo) {
        let running = pod("d", "running").requests(400, 1500).build();
        let p = pod("d", "p").requests(600, 500).build();
        (p, node_info(0, sized(3000, 7000), vec![running]))
    }

    #[test]
    fn least_allocated_truncates_each_step() {
        let (p, n) = third_used();
        // cpu    (3000 - 1000) * 100 / 3000 = 200000 / 3000 = 66
        // memory (7000 - 2000) * 100 / 7000 = 500000 / 7000 = 71
        // node   (66 * 1 + 71 * 1) / 2 = 137 / 2 = 68
        assert_eq!(plugin("{}").score(&p, &n), Ok(68));
        let explicit = r#"{"scoringStrategy": {"type": "LeastAllocated"}}"#;
        assert_eq!(plugin(explicit).score(&p, &n), Ok(68));
    }

    #[test]
    fn most_allocated_truncates_each_step() {
        let (p, n) = third_used();
        // cpu    1000 * 100 / 3000 = 33
        // memory 2000 * 100 / 7000 = 28
        // node   (33 + 28) / 2 = 61 / 2 = 30
        let fit = plugin(r#"{"scoringStrategy": {"type": "MostAllocated"}}"#);
        assert_eq!(fit.score(&p, &n), Ok(30));
    }

    #[test]
    fn over_committed_nodes_score_zero_or_full() {
        let running = pod("d", "running").requests(3000, 7000).build();
        let n = node_info(0, sized(3000, 7000), vec![running]);
        let p = pod("d", "p").requests(100, 100).build();
        // requested 3100 > 3000 and 7100 > 7000.
        assert_eq!(plugin("{}").score(&p, &n), Ok(0));
        let most = plugin(r#"{"scoringStrategy": {"type": "MostAllocated"}}"#);
        assert_eq!(most.score(&p, &n), Ok(100));
    }

    #[test]
    fn weights_weigh_the_mean() {
        let (p, n) = third_used();
        // (66 * 3 + 71 * 1) / (3 + 1) = 269 / 4 = 67
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "LeastAllocated",
                "resources": [{"name": "cpu", "weight": 3}, {"name": "memory"}]}}"#,
        );
        assert_eq!(fit.score(&p, &n), Ok(67));
        // Only memory: 71.
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "LeastAllocated",
                "resources": [{"name": "memory", "weight": 5}]}}"#,
        );
        assert_eq!(fit.score(&p, &n), Ok(71));
    }

    #[test]
    fn cpu_and_memory_scores_use_non_zero_requests() {
        // Neither pod asks for anything: each counts as 100m and 200Mi.
        let n = node_info(0, sized(1000, 1000 * MI), vec![pod("d", "running").build()]);
        let p = pod("d", "p").build();
        assert_eq!(p.non_zero_requests.memory, DEFAULT_MEMORY);
        // cpu    (1000 - 200) * 100 / 1000 = 80
        // memory (1000Mi - 400Mi) * 100 / 1000Mi = 60
        // node   (80 + 60) / 2 = 70
        assert_eq!(plugin("{}").score(&p, &n), Ok(70));
    }

    #[test]
    fn extended_resources_score_only_for_pods_that_ask() {
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "LeastAllocated",
                "resources": [{"name": "cpu", "weight": 1}, {"name": "nvidia.com/gpu", "weight": 2}]}}"#,
        );
        let gpu_node = node("n")
            .allocatable(3000, 7000, 110)
            .scalar("nvidia.com/gpu", 4);
        let running = pod("d", "running")
            .requests(400, 0)
            .scalar("nvidia.com/gpu", 1)
            .build();
        let n = node_info(0, gpu_node.build(), vec![running]);

        let p = pod("d", "p")
            .requests(600, 0)
            .scalar("nvidia.com/gpu", 1)
            .build();
        // cpu (3000 - 1000) * 100 / 3000 = 66; gpu (4 - 2) * 100 / 4 = 50
        // node (66 * 1 + 50 * 2) / 3 = 166 / 3 = 55
        assert_eq!(fit.score(&p, &n), Ok(55));

        // A pod without gpus is scored on cpu alone: 66.
        let p = pod("d", "p").requests(600, 0).build();
        assert_eq!(fit.score(&p, &n), Ok(66));

        // A node without gpus is scored on cpu alone too.
        let plain = node_info(1, sized(3000, 7000), vec![]);
        let p = pod("d", "p")
            .requests(1000, 0)
            .scalar("nvidia.com/gpu", 1)
            .build();
        assert_eq!(fit.score(&p, &plain), Ok(66));
    }

    #[test]
    fn ephemeral_storage_scores_plain_requests() {
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "MostAllocated",
                "resources": [{"name": "ephemeral-storage", "weight": 1}]}}"#,
        );
        let mut p = pod("d", "p").build();
        p.requests.ephemeral_storage = 300;
        let n = node_info(0, with_ephemeral_storage(sized(1000, 1000), 1000), vec![]);
        // 300 * 100 / 1000 = 30
        assert_eq!(fit.score(&p, &n), Ok(30));
    }

    #[test]
    fn requested_to_capacity_ratio_rounds_the_mean() {
        let (p, n) = third_used();
        // Shape scores 0..=10 scale by 10: (0, 0) -> (100, 100).
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0},
                                                       {"utilization": 100, "score": 10}]}}}"#,
        );
        // utilisation cpu 1000 * 100 / 3000 = 33, memory 2000 * 100 / 7000 = 28
        // scores 0 + (100 - 0) * (33 - 0) / 100 = 33 and 28
        // node round((33 + 28) / 2) = round(30.5) = 31 (MostAllocated: 30)
        assert_eq!(fit.score(&p, &n), Ok(31));

        // Inverted, with a flat start: (0, 10) (50, 10) (100, 0) scaled.
        let fit = plugin(
            r#"{"scoringStrategy": {"type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 10},
                    {"utilization": 50, "score": 10}, {"utilization": 100, "score": 0}]}}}"#,
        );
        // Both utilisations are under 50: 100 each, mean 100.
        assert_eq!(fit.score(&p, &n), Ok(100));
    }

    #[test]
    fn broken_line_interpolates_and_truncates() {
        let shape = [(10, 20), (50, 100), (90, 0)];
        assert_eq!(broken_line(&shape, 0), 20);
        assert_eq!(broken_line(&shape, 10), 20);
        // 20 + 80 * (33 - 10) / 40 = 20 + 1840 / 40 = 20 + 46 = 66
        assert_eq!(broken_line(&shape, 33), 66);
        // 100 + (-100) * (77 - 50) / 40 = 100 - 2700 / 40 = 100 - 67 = 33
        assert_eq!(broken_line(&shape, 77), 33);
        assert_eq!(broken_line(&shape, 100), 0);
    }

    #[test]
    fn runs_through_the_runner() {
        let mut runner = Runner::<NodeResourcesFit>::configured("{}").unwrap();
        let (p, _) = third_used();
        runner.apply(vec![
            Change::NodeSet((0, sized(3000, 7000))),
            Change::NodeSet((1, sized(500, 7000))),
        ]);
        let rejected = runner.filter(0, &p, &[0, 1]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].node, 1);
        assert_eq!(rejected[0].status.code, Code::UnschedulableAndUnresolvable);
        // Node 0 is empty: cpu (3000 - 600) * 100 / 3000 = 80,
        // memory (7000 - 500) * 100 / 7000 = 92, mean 172 / 2 = 86.
        assert_eq!(runner.score(0, &p, &[0]), Ok(vec![86]));
        let metadata = Runner::<NodeResourcesFit>::metadata();
        assert_eq!(metadata.name, "NodeResourcesFit");
        assert_eq!(
            metadata.extension_points,
            [
                ExtensionPoint::Filter,
                ExtensionPoint::Score,
                ExtensionPoint::EnqueueExtensions
            ]
        );
    }

    // --- Args ---

    #[test]
    fn defaults_match_upstream() {
        let fit = plugin("{}");
        assert_eq!(fit.strategy, Strategy::LeastAllocated);
        let cpu_memory = [("cpu", 1), ("memory", 1)].map(|(name, weight)| ResourceSpec {
            name: name.into(),
            weight,
        });
        assert_eq!(fit.resources, cpu_memory);
        // Given resources replace the default; weight 0 means 1.
        let fit = plugin(
            r#"{"kind": "NodeResourcesFitArgs", "apiVersion": "kubescheduler.config.k8s.io/v1",
                "scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 0}]}}"#,
        );
        assert_eq!(fit.strategy, Strategy::MostAllocated);
        assert_eq!(fit.resources, cpu_memory[..1]);
    }

    #[test]
    fn bad_args_name_the_field() {
        let e = args_error(r#"{"ignoredResource": ["example.com/foo"]}"#);
        assert!(e.starts_with("invalid args"), "{e}");
        assert!(e.contains("unknown field `ignoredResource`"), "{e}");

        let e = args_error(r#"{"scoringStrategy": {"type": "LeastAllocated", "resource": []}}"#);
        assert!(e.contains("unknown field `resource`"), "{e}");

        let e = args_error(r#"{"scoringStrategy": {"type": "Balanced"}}"#);
        assert!(
            e.contains("scoringStrategy.type: Unsupported value: \"Balanced\""),
            "{e}"
        );

        // Upstream does not default the type of a given strategy.
        let e = args_error(r#"{"scoringStrategy": {"resources": [{"name": "cpu"}]}}"#);
        assert!(
            e.contains("scoringStrategy.type: Unsupported value: \"\""),
            "{e}"
        );

        let e = args_error(
            r#"{"scoringStrategy": {"type": "MostAllocated",
                "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 101}]}}"#,
        );
        assert!(
            e.contains("scoringStrategy.resources[1].weight: Invalid value: 101"),
            "{e}"
        );

        let e = args_error(r#"{"scoringStrategy": {"type": "RequestedToCapacityRatio"}}"#);
        assert!(
            e.contains("scoringStrategy.requestedToCapacityRatio: Required"),
            "{e}"
        );

        let e = args_error(
            r#"{"scoringStrategy": {"type": "RequestedToCapacityRatio",
                "requestedToCapacityRatio": {"shape": [{"utilization": 50, "score": 11},
                                                       {"utilization": 50, "score": 0}]}}}"#,
        );
        assert!(
            e.contains("shape[1].utilization: Invalid value: 50: values must be sorted"),
            "{e}"
        );
        assert!(e.contains("shape[0].score: Invalid value: 11"), "{e}");

        let e = args_error(r#"{"ignoredResources": ["example.com/"]}"#);
        assert!(
            e.contains("ignoredResources[0]: Invalid value: \"example.com/\""),
            "{e}"
        );

        let e = args_error(r#"{"ignoredResourceGroups": ["ok.io", "example.com/gpu"]}"#);
        assert!(e.contains("ignoredResourceGroups[1]: Invalid value"), "{e}");
        assert!(e.contains("can't contain '/'"), "{e}");
    }

    #[test]
    fn qualified_names() {
        for good in [
            "nvidia.com/gpu",
            "example.com",
            "a",
            "x.y-z/A_b.c",
            "hugepages-2Mi",
        ] {
            assert!(is_qualified_name(good), "{good}");
        }
        for bad in [
            "",
            "/gpu",
            "Example.com/gpu",
            "a/b/c",
            "-a",
            "a-",
            "example.com/",
            "a b",
        ] {
            assert!(!is_qualified_name(bad), "{bad}");
        }
    }

    #[test]
    fn hints_queue_for_a_node_that_could_hold_the_pod() {
        let mut runner = Runner::<NodeResourcesFit>::configured("{}").unwrap();
        runner.apply(vec![
            Change::NodeSet((0, node("big").allocatable(4000, 8 << 30, 110).build())),
            Change::NodeSet((1, node("small").allocatable(1000, 8 << 30, 110).build())),
        ]);
        let added = ClusterEvent {
            resource: EventResource::Node,
            action: ActionType::Add,
        };
        let asking = pod("default", "p").requests(2000, 0).build();
        let hint = |name: &str| {
            let object = format!(r#"{{"metadata": {{"name": "{name}"}}}}"#);
            runner
                .queueing_hint(&asking, &added, None, Some(&object))
                .unwrap()
        };
        assert_eq!(hint("big"), QueueingHint::Queue);
        assert_eq!(hint("small"), QueueingHint::Skip);
    }
}
