//! The policy the data-passing benchmark runs, written once as plain Rust
//! over the production records and exported three ways from one component:
//!
//! - design (c), node state resident in the guest: the `kws:scheduler`
//!   exports, through [`kws_plugin_sdk::export_plugin!`] and the SDK's
//!   `Runner`, exactly as a production plugin;
//! - design (a), one call per (pod, node) with full records:
//!   `kws:bench/per-node`;
//! - design (b), one call per pod with every candidate node in full:
//!   `kws:bench/per-pod`.
//!
//! The `kws:bench` bindings are generated for the world `kws:bench/extra`
//! (bench exports only) with `kws:scheduler/types` mapped onto the SDK's
//! types, so every design hands the policy the very same Rust values; the
//! component linker merges that world with the SDK's `kws:scheduler/plugin`.
//! Natively the crate is an ordinary library, which the benchmark's
//! `native` case calls directly.

use kws_plugin_sdk::{
    ExtensionPoint, NoArgs, NodeInfo, Plugin, Pod, Resources, Status, Taint, TaintEffect,
    Toleration, TolerationOperator, lookup,
};

/// Reason for a node whose labels do not satisfy the pod's nodeSelector, as
/// kube-scheduler words it.
pub const ERR_REASON_SELECTOR: &str = "node(s) didn't match Pod's node affinity/selector";

/// A non-trivial filter and score in the style of kube-scheduler's default
/// plugins, fused into one policy so that each design runs it exactly once
/// per node:
///
/// - Filter (NodeAffinity's nodeSelector part, TaintToleration,
///   NodeResourcesFit): every nodeSelector entry must be a node label; every
///   NoSchedule or NoExecute taint must be tolerated; cpu, memory and the
///   pod count must fit in allocatable minus what the node's pods request.
/// - Score (NodeResourcesFit's LeastAllocated): the free share of cpu and of
///   memory after placing the pod, in percent, averaged.
pub struct BenchPolicy;

impl Plugin for BenchPolicy {
    const NAME: &'static str = "BenchFitSelectorTaints";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::Filter, ExtensionPoint::Score];
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(BenchPolicy)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let selected = pod
            .node_selector
            .iter()
            .all(|(key, value)| lookup(&node.node.labels, key) == Some(value.as_str()));
        if !selected {
            return Status::unresolvable(ERR_REASON_SELECTOR);
        }
        if let Some(taint) = node.node.taints.iter().find(|taint| {
            matches!(
                taint.effect,
                TaintEffect::NoSchedule | TaintEffect::NoExecute
            ) && !pod.tolerations.iter().any(|t| tolerates(t, taint))
        }) {
            return Status::unresolvable(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key, taint.value
            ));
        }
        let free = |alloc: i64, used: i64| alloc - used;
        let (alloc, used) = (&node.node.allocatable, &node.usage.requested);
        let mut reasons = Vec::new();
        if i64::from(node.usage.pod_count) + 1 > alloc.pods {
            reasons.push("Too many pods".to_string());
        }
        if pod.requests.milli_cpu > free(alloc.milli_cpu, used.milli_cpu) {
            reasons.push("Insufficient cpu".to_string());
        }
        if pod.requests.memory > free(alloc.memory, used.memory) {
            reasons.push("Insufficient memory".to_string());
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::unschedulable_for(reasons)
        }
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        let alloc: &Resources = &node.node.allocatable;
        let used = &node.usage.non_zero_requested;
        let want = &pod.non_zero_requests;
        let cpu = least_allocated(used.milli_cpu + want.milli_cpu, alloc.milli_cpu);
        let memory = least_allocated(used.memory + want.memory, alloc.memory);
        Ok((cpu + memory) / 2)
    }
}

/// Whether `toleration` tolerates `taint`, by kube's rules: no effect means
/// every effect, an empty key with `Exists` means every key.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    if toleration.key.is_empty() {
        return toleration.operator == TolerationOperator::Exists;
    }
    toleration.key == taint.key
        && match toleration.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => toleration.value == taint.value,
        }
}

/// The unused share of `capacity` in percent, 0 when over-committed.
fn least_allocated(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        0
    } else {
        (capacity - requested) * kws_plugin_sdk::MAX_NODE_SCORE / capacity
    }
}

// Design (c): the production exports and the SDK's resident node table.
kws_plugin_sdk::export_plugin!(BenchPolicy);

/// Designs (a) and (b): the `kws:bench` exports.
#[cfg(target_arch = "wasm32")]
mod designs {
    use super::BenchPolicy;
    use kws_plugin_sdk::{NodeInfo, NodeStatus, Plugin, Pod};

    wit_bindgen::generate!({
        path: ["../../wit", "../wit"],
        world: "kws:bench/extra",
        with: {
            "kws:scheduler/types@0.3.0": kws_plugin_sdk::bindings::kws::scheduler::types,
        },
    });

    use exports::kws::bench::{per_node, per_pod};

    struct Designs;

    impl per_node::Guest for Designs {
        fn filter(
            pod: Pod,
            node: kws_plugin_sdk::Node,
            usage: kws_plugin_sdk::NodeUsage,
        ) -> kws_plugin_sdk::Status {
            BenchPolicy.filter(&pod, &info(0, node, usage))
        }

        fn score(
            pod: Pod,
            node: kws_plugin_sdk::Node,
            usage: kws_plugin_sdk::NodeUsage,
        ) -> Result<i64, String> {
            BenchPolicy.score(&pod, &info(0, node, usage))
        }
    }

    impl per_pod::Guest for Designs {
        fn filter(pod: Pod, nodes: Vec<per_pod::Candidate>) -> Vec<NodeStatus> {
            nodes
                .into_iter()
                .filter_map(|c| {
                    let status = BenchPolicy.filter(&pod, &info(c.id, c.node, c.usage));
                    (!status.passes()).then_some(NodeStatus { node: c.id, status })
                })
                .collect()
        }

        fn score(pod: Pod, nodes: Vec<per_pod::Candidate>) -> Result<Vec<i64>, String> {
            nodes
                .into_iter()
                .map(|c| BenchPolicy.score(&pod, &info(c.id, c.node, c.usage)))
                .collect()
        }
    }

    /// A node as the SDK's table would hold it (the policy ignores `pods`).
    fn info(
        id: kws_plugin_sdk::NodeId,
        node: kws_plugin_sdk::Node,
        usage: kws_plugin_sdk::NodeUsage,
    ) -> NodeInfo {
        NodeInfo {
            usage,
            ..NodeInfo::new(id, node)
        }
    }

    export!(Designs);
}
