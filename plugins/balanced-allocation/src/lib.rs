//! NodeResourcesBalancedAllocation: prefers nodes whose resources would be
//! used evenly after placing the pod, as kube-scheduler's plugin of the same
//! name (v1.37). Score only, 0..=100, no normalisation, default weight 1.
//!
//! For each resource of `resources` (default cpu and memory) the node's
//! fraction in use is `requested / allocatable`, capped at 1. The balance of
//! a set of fractions is `(1 - std) * 100`, truncated, where `std` is
//! `|f0 - f1| / 2` for two resources and the population standard deviation
//! for more (0 for one). The score compares the balance with the pod and
//! without it: `50 + (50 + with - without) / 2`, in integer division, so a
//! pod that makes a node more even scores above 50.
//!
//! What counts, as in v1.37 (which scores with plain requests, not the
//! 100m/200Mi non-zero defaults NodeResourcesFit uses):
//! - the pod's `requests` (containers, sidecars, init peak and overhead) and
//!   the node's pods' `requested`;
//! - a resource the node has no allocatable of is left out;
//! - an extended resource (any name but cpu, memory and ephemeral-storage) is
//!   left out when the pod does not ask for it.
//!
//! PreScore works out what the pod asks for once per cycle, and returns
//! Skip for a pod that asks for none of the resources (best effort), as
//! upstream's: the plugin then adds nothing to that pod's scores.
//!
//! Not modelled, for want of data in the WIT: extended resources backed by
//! DRA device classes.

use kws_plugin_sdk::{
    Cluster, CycleState, ExtensionPoint, MAX_NODE_SCORE, NodeInfo, Plugin, Pod, Resources, Status,
};
use serde::Deserialize;

/// `NodeResourcesBalancedAllocationArgs` (kubescheduler.config.k8s.io/v1).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct BalancedAllocationArgs {
    /// Accepted because upstream's args carry TypeMeta; not used.
    pub api_version: Option<String>,
    pub kind: Option<String>,
    /// Empty means cpu and memory. Every weight must be 1 (0 means 1), as
    /// upstream's validation says: the balance does not weigh resources.
    pub resources: Vec<ResourceSpec>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceSpec {
    pub name: String,
    pub weight: i64,
}

pub struct BalancedAllocation {
    /// Resource names, in the order given.
    resources: Vec<String>,
}

impl Plugin for BalancedAllocation {
    const NAME: &'static str = "NodeResourcesBalancedAllocation";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::PreScore, ExtensionPoint::Score];
    const READS_PODS: bool = false;
    type Args = BalancedAllocationArgs;

    fn new(args: BalancedAllocationArgs) -> Result<Self, String> {
        if args.resources.is_empty() {
            return Ok(BalancedAllocation {
                resources: vec!["cpu".into(), "memory".into()],
            });
        }
        let mut errors = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (i, spec) in args.resources.into_iter().enumerate() {
            if names.contains(&spec.name) {
                errors.push(format!(
                    "resources[{i}].name: Duplicate value: {:?}",
                    spec.name
                ));
            }
            if spec.weight != 0 && spec.weight != 1 {
                errors.push(format!(
                    "resources[{i}].weight: Invalid value: {}: must be 1",
                    spec.weight
                ));
            }
            names.push(spec.name);
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(BalancedAllocation { resources: names })
    }

    fn pre_score(&self, pod: &Pod, _: &Cluster, _: &[&NodeInfo], state: &mut CycleState) -> Status {
        let wanted = self.wanted(pod);
        if wanted.0.iter().all(|w| *w == 0) {
            return Status::skip();
        }
        state.write(wanted);
        Status::success()
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        Ok(self.balanced(&self.wanted(pod), node))
    }

    fn score_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        let computed;
        let wanted = match state.read::<Wanted>() {
            Some(wanted) => wanted,
            None => {
                computed = self.wanted(pod);
                &computed
            }
        };
        Ok(nodes.iter().map(|n| self.balanced(wanted, n)).collect())
    }
}

/// PreScore's state: what the pod asks for of each resource, in order.
#[derive(Clone)]
struct Wanted(Vec<i64>);

impl BalancedAllocation {
    fn wanted(&self, pod: &Pod) -> Wanted {
        Wanted(
            self.resources
                .iter()
                .map(|r| amount(&pod.requests, r))
                .collect(),
        )
    }

    /// The score of `node`; 0 for a pod that asks for nothing.
    fn balanced(&self, wanted: &Wanted, node: &NodeInfo) -> i64 {
        if wanted.0.iter().all(|w| *w == 0) {
            return 0;
        }
        let mut with_pod = Vec::with_capacity(wanted.0.len());
        let mut without_pod = Vec::with_capacity(wanted.0.len());
        for (resource, &want) in self.resources.iter().zip(&wanted.0) {
            if want == 0 && is_extended(resource) {
                continue;
            }
            let allocatable = amount(&node.node.allocatable, resource);
            if allocatable == 0 {
                continue;
            }
            let used = amount(&node.usage.requested, resource);
            with_pod.push(fraction(used + want, allocatable));
            without_pod.push(fraction(used, allocatable));
        }
        let half = MAX_NODE_SCORE / 2;
        half + (half + balance(&with_pod) - balance(&without_pod)) / 2
    }
}

/// One resource's amount by its Kubernetes name.
fn amount(r: &Resources, name: &str) -> i64 {
    match name {
        "cpu" => r.milli_cpu,
        "memory" => r.memory,
        "ephemeral-storage" => r.ephemeral_storage,
        other => r.scalar(other),
    }
}

/// Resources other than these are scalar (extended, hugepages, ...) for
/// kube-scheduler, and only count when the pod asks for them.
fn is_extended(name: &str) -> bool {
    !matches!(name, "cpu" | "memory" | "ephemeral-storage")
}

fn fraction(requested: i64, allocatable: i64) -> f64 {
    (requested as f64 / allocatable as f64).min(1.0)
}

/// `(1 - std) * 100` of the fractions, truncated; the float operations are
/// upstream's, in its order, so the truncation lands on the same integer.
fn balance(fractions: &[f64]) -> i64 {
    let std = match fractions {
        [a, b] => ((a - b) / 2.0).abs(),
        [_, _, _, ..] => {
            let n = fractions.len() as f64;
            let mean = fractions.iter().sum::<f64>() / n;
            let squares = fractions
                .iter()
                .fold(0.0, |sum, f| sum + (f - mean) * (f - mean));
            (squares / n).sqrt()
        }
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

kws_plugin_sdk::export_plugin!(BalancedAllocation);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Code, Runner};

    fn plugin(args: &str) -> BalancedAllocation {
        let args = serde_json::from_str(args).expect("args parse");
        BalancedAllocation::new(args).expect("valid args")
    }

    /// A pod whose containers' requests add up to these.
    fn asking(cpu: i64, memory: i64) -> Pod {
        pod("default", "p").requests(cpu, memory).build()
    }

    fn scores(
        p: &BalancedAllocation,
        incoming: &Pod,
        nodes: &[(i64, i64)],
        existing: &[Vec<Pod>],
    ) -> Vec<i64> {
        nodes
            .iter()
            .enumerate()
            .map(|(i, (cpu, memory))| {
                let pods = existing.get(i).cloned().unwrap_or_default();
                let n = node_info(
                    i as u32,
                    node(&format!("node{}", i + 1))
                        .allocatable(*cpu, *memory, 110)
                        .build(),
                    pods,
                );
                p.score(incoming, &n).unwrap()
            })
            .collect()
    }

    // The cases of upstream's TestNodeResourcesBalancedAllocation (v1.37.2),
    // with the scores it expects. Each `Req` there is a container; the sums
    // are written here.

    #[test]
    fn a_best_effort_pod_is_skipped_at_pre_score() {
        let p = plugin("{}");
        let pre_score =
            |pod: &Pod| p.pre_score(pod, &Cluster::default(), &[], &mut CycleState::default());
        assert_eq!(pre_score(&pod("default", "p").build()).code, Code::Skip);
        assert_eq!(pre_score(&asking(0, 1)), Status::success());
    }

    #[test]
    fn differently_sized_nodes() {
        let p = plugin("{}");
        assert_eq!(
            scores(
                &p,
                &asking(3000, 5000),
                &[(4000, 10000), (6000, 10000)],
                &[]
            ),
            [68, 75]
        );
    }

    #[test]
    fn pods_scheduled_with_resources() {
        let p = plugin("{}");
        let existing = vec![vec![asking_cpu(3000)], vec![asking(3000, 5000)]];
        assert_eq!(
            scores(
                &p,
                &asking(3000, 5000),
                &[(10000, 20000), (10000, 20000)],
                &existing
            ),
            [73, 74]
        );
        assert_eq!(
            scores(
                &p,
                &asking(3000, 5000),
                &[(10000, 20000), (10000, 50000)],
                &existing
            ),
            [73, 70]
        );
    }

    /// A cpu-only pod: no memory request, and no 200Mi default either.
    fn asking_cpu(cpu: i64) -> Pod {
        pod("default", "cpu-only").requests(cpu, 0).build()
    }

    #[test]
    fn min_and_max_scores() {
        let p = plugin("{}");
        let memory_only = pod("default", "p").requests(0, 5000).build();
        assert_eq!(
            scores(
                &p,
                &memory_only,
                &[(3000, 5000), (3000, 5000)],
                &[vec![asking_cpu(3000)]]
            ),
            [100, 50]
        );
    }

    #[test]
    fn requests_at_node_capacity() {
        let p = plugin("{}");
        let existing = vec![vec![asking_cpu(3000)], vec![asking(3000, 5000)]];
        assert_eq!(
            scores(
                &p,
                &asking_cpu(3000),
                &[(6000, 10000), (6000, 10000)],
                &existing
            ),
            [62, 62]
        );
    }

    fn gpu_node(id: u32, gpus: i64, pods: Vec<Pod>) -> NodeInfo {
        let mut n = node(&format!("node{}", id + 1)).allocatable(3500, 40000, 110);
        if gpus > 0 {
            n = n.scalar("nvidia.com/gpu", gpus);
        }
        node_info(id, n.build(), pods)
    }

    #[test]
    fn an_extended_resource_counts_when_the_pod_asks_for_it() {
        let p = plugin(
            r#"{"resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1},
                              {"name": "nvidia.com/gpu", "weight": 1}]}"#,
        );
        let wants_gpu = pod("default", "p").scalar("nvidia.com/gpu", 1).build();
        let with_gpus = pod("default", "a")
            .requests(3000, 5000)
            .scalar("nvidia.com/gpu", 3)
            .build();
        let node1 = gpu_node(0, 8, vec![with_gpus]);
        let node2 = gpu_node(1, 8, vec![asking(3000, 5000)]);
        assert_eq!(p.score(&wants_gpu, &node1), Ok(75));
        assert_eq!(p.score(&wants_gpu, &node2), Ok(76));

        // Not asked for: left out, so the gpu node scores as the other.
        let node1 = gpu_node(0, 8, vec![]);
        let node2 = gpu_node(1, 0, vec![]);
        let incoming = asking(3000, 5000);
        assert_eq!(p.score(&incoming, &node1), Ok(56));
        assert_eq!(p.score(&incoming, &node2), Ok(56));
    }

    #[test]
    fn three_resources_use_the_standard_deviation() {
        let p = plugin(
            r#"{"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}]}"#,
        );
        let mut n = node("n").allocatable(1000, 1000, 110).build();
        n.allocatable.ephemeral_storage = 1000;
        let mut incoming = asking(500, 250);
        incoming.requests.ephemeral_storage = 0;
        // With the pod: 0.5, 0.25, 0 -> mean 0.25, std sqrt(0.125/3) = 0.2041
        // -> 79; without: 100. 50 + (50 + 79 - 100) / 2 = 64.
        assert_eq!(p.score(&incoming, &node_info(0, n, vec![])), Ok(64));
    }

    #[test]
    fn over_committed_fractions_are_capped() {
        let p = plugin("{}");
        let existing = vec![asking(4000, 0)];
        let n = node_info(0, node("n").allocatable(2000, 1000, 110).build(), existing);
        // cpu 1 (capped), memory 0.5 with the pod; 1 and 0 without:
        // with 75, without 50 -> 50 + (50 + 25) / 2 = 87.
        assert_eq!(p.score(&asking(1000, 500), &n), Ok(87));
    }

    #[test]
    fn args_follow_upstream_validation() {
        let err = |args: &str| {
            Runner::<BalancedAllocation>::configured(args)
                .err()
                .expect("refused")
        };
        assert_eq!(
            err(r#"{"resources": [{"name": "cpu", "weight": 2}]}"#),
            "resources[0].weight: Invalid value: 2: must be 1"
        );
        assert_eq!(
            err(r#"{"resources": [{"name": "cpu"}, {"name": "cpu"}]}"#),
            "resources[1].name: Duplicate value: \"cpu\""
        );
        assert!(err(r#"{"resource": []}"#).contains("unknown field `resource`"));
        assert!(
            Runner::<BalancedAllocation>::configured(
                r#"{"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "NodeResourcesBalancedAllocationArgs",
                    "resources": [{"name": "cpu", "weight": 1}, {"name": "memory"}]}"#
            )
            .is_ok()
        );
    }
}
