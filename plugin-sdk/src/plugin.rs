//! The trait a policy implements.

use crate::{
    Cluster, ClusterEvent, CycleState, ExtensionPoint, NodeInfo, PermitResult, Pod,
    PostFilterResult, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use serde::de::DeserializeOwned;

/// A placement policy. Implement the extension points you list in
/// [`Plugin::EXTENSION_POINTS`]; the others keep their defaults and are
/// never called by the host.
///
/// The points run in kube-scheduler's order: `pre_enqueue` when the pod
/// enters the queue; then, in one scheduling cycle, `pre_filter`,
/// `filter_all`, `post_filter` (when no node fits), `pre_score`,
/// `score_all`, `normalize_all`, `reserve` (and `unreserve` when a later
/// step fails), `permit`; then, in the binding cycle, `pre_bind`, `bind`
/// and `post_bind`. What a point works out for the pod goes into the
/// cycle's [`CycleState`], which the later points of the same cycle read.
///
/// The host creates several instances of a plugin (one per scheduling
/// worker), so a plugin must not rely on seeing every pod. Within one
/// cycle every call of a plugin goes to the same instance.
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

    /// Whether the pod may enter the scheduling queue at all: anything but
    /// success (say [`Status::pending`]) keeps it out, with the reasons as
    /// its condition message, until a cluster event lets the host ask again.
    fn pre_enqueue(&self, _pod: &Pod) -> Status {
        Status::success()
    }

    /// Once per cycle, before any filter call: work out what the filter
    /// needs for the pod (kube-scheduler's PreFilter) and keep it in
    /// `state`. [`PreFilterResult::skip`] leaves this plugin's filter out
    /// of the cycle; [`PreFilterResult::only`] names the only nodes that
    /// can pass.
    fn pre_filter(
        &self,
        _pod: &Pod,
        _cluster: &Cluster,
        _state: &mut CycleState,
    ) -> PreFilterResult {
        PreFilterResult::all()
    }

    /// A what-if cycle counts `pod` as placed on `node`: update what
    /// `pre_filter` kept in `state` (kube-scheduler's AddPod).
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod_to_schedule: &Pod,
        _pod: &Pod,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

    /// A what-if cycle counts the pod with `uid` as gone from `node`
    /// (kube-scheduler's RemovePod).
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod_to_schedule: &Pod,
        _uid: &str,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }

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
    /// The default asks [`Plugin::filter`] about each node; override it to
    /// read what [`Plugin::pre_filter`] kept in `state`.
    fn filter_all(
        &self,
        pod: &Pod,
        _cluster: &Cluster,
        nodes: &[&NodeInfo],
        _state: &CycleState,
    ) -> Vec<Status> {
        nodes.iter().map(|node| self.filter(pod, node)).collect()
    }

    /// No node passed filter: `rejected` holds each node that did not and
    /// its status. Try to make room (kube-scheduler's DefaultPreemption)
    /// and name the node the pod may go to once that is done.
    fn post_filter(
        &self,
        _pod: &Pod,
        _cluster: &Cluster,
        _rejected: &[(&NodeInfo, &Status)],
        _state: &mut CycleState,
    ) -> PostFilterResult {
        PostFilterResult::unschedulable(Vec::new())
    }

    /// Once per cycle with every feasible node, before any score call
    /// (kube-scheduler's PreScore). [`Status::skip`] leaves this plugin's
    /// score out of the cycle.
    fn pre_score(
        &self,
        _pod: &Pod,
        _cluster: &Cluster,
        _nodes: &[&NodeInfo],
        _state: &mut CycleState,
    ) -> Status {
        Status::success()
    }

    /// Scores a batch of nodes for one pod, in order. The default asks
    /// [`Plugin::score`] about each node; override it to read what
    /// [`Plugin::pre_score`] kept in `state`. `nodes` are the nodes that
    /// passed Filter.
    fn score_all(
        &self,
        pod: &Pod,
        _cluster: &Cluster,
        nodes: &[&NodeInfo],
        _state: &CycleState,
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

    /// The pod is assumed on `node`: book what the plugin accounts for
    /// itself. Anything but success fails the cycle.
    fn reserve(&self, _pod: &Pod, _node: &NodeInfo, _state: &mut CycleState) -> Status {
        Status::success()
    }

    /// Undo [`Plugin::reserve`]: a later step failed (also called when this
    /// plugin's own reserve failed).
    fn unreserve(&self, _pod: &Pod, _node: &NodeInfo, _state: &mut CycleState) {}

    /// Allow the pod to be bound, reject it, or hold it
    /// ([`PermitResult::wait`]) until [`crate::host::allow_waiting_pod`]
    /// lets it go.
    fn permit(&self, _pod: &Pod, _node: &NodeInfo, _state: &mut CycleState) -> PermitResult {
        PermitResult::allow()
    }

    /// Before the binding: anything but success fails it, and the pod is
    /// unreserved and retried.
    fn pre_bind(&self, _pod: &Pod, _node: &NodeInfo, _state: &CycleState) -> Status {
        Status::success()
    }

    /// [`Status::skip`] leaves the pod to the next binder (at last the
    /// host's); success takes it (the host writes the Binding for it).
    fn bind(&self, _pod: &Pod, _node: &NodeInfo, _state: &CycleState) -> Status {
        Status::skip()
    }

    /// The pod is bound.
    fn post_bind(&self, _pod: &Pod, _node: &NodeInfo, _state: &CycleState) {}

    /// The cluster events that may make a pod this plugin rejected
    /// schedulable (kube-scheduler's EventsToRegister).
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        Vec::new()
    }

    /// For an event registered with a hint: does it help `pod`? `old` and
    /// `new` are the object before and after, as the apiserver's JSON
    /// ([`crate::objects`] decodes the fields hints compare); `cluster`
    /// already holds the change.
    fn queueing_hint(
        &self,
        _pod: &Pod,
        _cluster: &Cluster,
        _event: &ClusterEvent,
        _old: Option<&str>,
        _new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        Ok(QueueingHint::Queue)
    }
}

/// Args for a plugin that takes none: only `{}` (or `null`) is accepted.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}
