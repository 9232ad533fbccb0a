//! The trait a policy implements.

use crate::{Cluster, ExtensionPoint, NodeInfo, Pod, Status};
use serde::de::DeserializeOwned;

/// A placement policy. Implement the extension points you list in
/// [`Plugin::EXTENSION_POINTS`]; the others keep their defaults and are
/// never called by the host.
///
/// The host creates several instances of a plugin (one per scheduling
/// worker), so a plugin must not rely on seeing every pod.
pub trait Plugin: Sized + 'static {
    /// The name profiles enable the plugin by, e.g. `NodeResourcesFit`.
    const NAME: &'static str;
    /// The extension points this plugin implements.
    const EXTENSION_POINTS: &'static [ExtensionPoint];
    /// Whether the policy looks at the pods on a node ([`NodeInfo::pods`],
    /// [`NodeInfo::pods_with_affinity`]). A policy that reads only nodes
    /// and their usage (requests, pod count, host ports) says `false`: its
    /// [`Cluster`] then keeps no pods, which spares every instance a copy of
    /// every pod in the cluster.
    const READS_PODS: bool = true;
    /// The plugin's `pluginConfig` args. They arrive as JSON; `{}` when the
    /// profile gives none, so every field should have a default.
    type Args: DeserializeOwned;

    /// Builds the plugin from its args. An `Err` refuses the configuration,
    /// and the host reports the message with the plugin's name.
    fn new(args: Self::Args) -> Result<Self, String>;

    /// Can `pod` run on `node`?
    fn filter(&self, _pod: &Pod, _node: &NodeInfo) -> Status {
        Status::success()
    }

    /// How well `node` suits `pod`; any range when the plugin normalises,
    /// else `0..=100`.
    fn score(&self, _pod: &Pod, _node: &NodeInfo) -> Result<i64, String> {
        Ok(0)
    }

    /// Maps the scores of every feasible node onto `0..=100`, in place.
    fn normalize_scores(&self, _pod: &Pod, _scores: &mut [i64]) -> Result<(), String> {
        Ok(())
    }

    /// Filters a batch of nodes for one pod, one status per node in order.
    /// The default asks [`Plugin::filter`] about each node. Override it when
    /// the verdict needs per-pod state worked out from the whole cluster
    /// first (kube-scheduler's PreFilter): compute it once here, then look
    /// at each node. A plugin with nothing to say about the pod answers
    /// [`Status::skip`] for every node (kube-scheduler's PreFilter `Skip`).
    fn filter_all(&self, pod: &Pod, _cluster: &Cluster, nodes: &[&NodeInfo]) -> Vec<Status> {
        nodes.iter().map(|node| self.filter(pod, node)).collect()
    }

    /// Scores a batch of nodes for one pod, in order. The default asks
    /// [`Plugin::score`] about each node; override it to compute per-pod
    /// state first (kube-scheduler's PreScore). `nodes` are the nodes that
    /// passed Filter.
    fn score_all(
        &self,
        pod: &Pod,
        _cluster: &Cluster,
        nodes: &[&NodeInfo],
    ) -> Result<Vec<i64>, String> {
        nodes.iter().map(|node| self.score(pod, node)).collect()
    }

    /// Normalises the scores of every feasible node (`nodes`, in the order
    /// of `scores`). The default calls [`Plugin::normalize_scores`];
    /// override it when normalisation depends on the nodes or the cluster.
    fn normalize_all(
        &self,
        pod: &Pod,
        _cluster: &Cluster,
        _nodes: &[&NodeInfo],
        scores: &mut [i64],
    ) -> Result<(), String> {
        self.normalize_scores(pod, scores)
    }
}

/// Args for a plugin that takes none: only `{}` (or `null`) is accepted.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}
