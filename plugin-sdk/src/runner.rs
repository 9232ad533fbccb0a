//! Drives a [`Plugin`] through the calls the host makes: the same code runs
//! inside the component and natively (in unit tests and benchmarks).

use crate::{
    Change, Cluster, ClusterEvent, Code, CycleId, CycleState, ExtensionPoint, NodeId, NodeInfo,
    NodeStatus, PermitResult, Plugin, PluginMetadata, Pod, PostFilterResult, PreFilterResult,
    QueueingHint, RegisteredEvent, Status,
};
use std::collections::BTreeMap;

/// A plugin instance together with its copy of the cluster.
///
/// ```
/// use kws_plugin_sdk::testing::{node, pod};
/// use kws_plugin_sdk::{Change, ExtensionPoint, NoArgs, NodeInfo, Plugin, Pod, Runner, Status};
///
/// struct OnlyZoneA;
/// impl Plugin for OnlyZoneA {
///     const NAME: &'static str = "OnlyZoneA";
///     const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::Filter];
///     type Args = NoArgs;
///     fn new(_: NoArgs) -> Result<Self, String> { Ok(OnlyZoneA) }
///     fn filter(&self, _: &Pod, node: &NodeInfo) -> Status {
///         if node.label("zone") == Some("a") { Status::success() } else { Status::unresolvable("wrong zone") }
///     }
/// }
///
/// let mut runner = Runner::<OnlyZoneA>::configured("{}").unwrap();
/// runner.apply(vec![
///     Change::NodeSet((0, node("n0").label("zone", "a").build())),
///     Change::NodeSet((1, node("n1").label("zone", "b").build())),
/// ]);
/// let rejected = runner.filter(1, &pod("default", "p").build(), &[0, 1]);
/// assert_eq!(rejected.len(), 1);
/// assert_eq!(rejected[0].node, 1);
/// ```
pub struct Runner<P: Plugin> {
    plugin: Option<P>,
    cluster: Cluster,
    /// Each open cycle's state, until the host ends the cycle.
    cycles: BTreeMap<CycleId, CycleState>,
    /// Each open cycle's pod, as `cycle-start` sent it.
    pods: BTreeMap<CycleId, Pod>,
    /// The state of a cycle the plugin kept nothing for.
    empty: CycleState,
}

impl<P: Plugin> Default for Runner<P> {
    fn default() -> Self {
        Runner {
            plugin: None,
            cluster: if P::READS_PODS {
                Cluster::default()
            } else {
                Cluster::without_pods()
            },
            cycles: BTreeMap::new(),
            pods: BTreeMap::new(),
            empty: CycleState::default(),
        }
    }
}

impl<P: Plugin> Runner<P> {
    /// A runner whose plugin is configured with `args` (JSON).
    pub fn configured(args: &str) -> Result<Self, String> {
        let mut runner = Runner::default();
        runner.configure(args)?;
        Ok(runner)
    }

    pub fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: P::NAME.to_string(),
            version: String::new(),
            extension_points: P::EXTENSION_POINTS.to_vec(),
        }
    }

    /// Parses the args and builds the plugin. A malformed arg is refused
    /// with its field path (`invalid args: sameZone: invalid type: ...`),
    /// the plugin's own refusal as it wrote it; the host adds the plugin's
    /// name.
    pub fn configure(&mut self, args: &str) -> Result<(), String> {
        let args = if args.trim().is_empty() { "{}" } else { args };
        let mut json = serde_json::Deserializer::from_str(args);
        let parsed = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let error = e.inner().to_string();
            // An unknown field's path is the field, which the error names.
            match e.path().to_string().as_str() {
                "." => format!("invalid args: {error}"),
                _ if error.starts_with("unknown field") => format!("invalid args: {error}"),
                path => format!("invalid args: {path}: {error}"),
            }
        })?;
        self.plugin = Some(P::new(parsed)?);
        Ok(())
    }

    pub fn apply(&mut self, changes: Vec<Change>) {
        self.cluster.apply(changes);
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The number of cycles whose state is kept: what `cycle_end` frees.
    pub fn open_cycles(&self) -> usize {
        self.cycles.len()
    }

    /// The pod of `cycle`, for the calls of the cycle that follow (a new
    /// pod for a cycle id starts its state afresh).
    pub fn cycle_start(&mut self, cycle: CycleId, pod: Pod) {
        self.cycles.remove(&cycle);
        self.pods.insert(cycle, pod);
    }

    /// Drops what was kept for `cycle`.
    pub fn cycle_end(&mut self, cycle: CycleId) {
        self.cycles.remove(&cycle);
        self.pods.remove(&cycle);
    }

    /// Keeps a copy of `original`'s state and pod under `copy`.
    pub fn cycle_fork(&mut self, original: CycleId, copy: CycleId) {
        let state = self.cycles.get(&original).cloned().unwrap_or_default();
        self.cycles.insert(copy, state);
        if let Some(pod) = self.pods.get(&original).cloned() {
            self.pods.insert(copy, pod);
        }
    }

    /// Runs `f` with the pod `cycle-start` sent for `cycle`; `missing` makes
    /// the answer when there is none (the host broke the protocol).
    pub fn with_cycle_pod<T>(
        &mut self,
        cycle: CycleId,
        missing: impl FnOnce(String) -> T,
        f: impl FnOnce(&mut Self, &Pod) -> T,
    ) -> T {
        let Some(pod) = self.pods.remove(&cycle) else {
            return missing(format!("{} was sent no pod for cycle {cycle}", P::NAME));
        };
        let answer = f(self, &pod);
        self.pods.insert(cycle, pod);
        answer
    }

    fn state(&self, cycle: CycleId) -> &CycleState {
        self.cycles.get(&cycle).unwrap_or(&self.empty)
    }

    pub fn pre_enqueue(&self, pod: &Pod) -> Status {
        match &self.plugin {
            Some(plugin) => plugin.pre_enqueue(pod),
            None => not_configured::<P>(),
        }
    }

    pub fn pre_filter(&mut self, cycle: CycleId, pod: &Pod) -> PreFilterResult {
        let Some(plugin) = &self.plugin else {
            return PreFilterResult::rejected(not_configured::<P>());
        };
        let state = self.cycles.entry(cycle).or_default();
        plugin.pre_filter(pod, &self.cluster, state)
    }

    pub fn add_pod(
        &mut self,
        cycle: CycleId,
        pod_to_schedule: &Pod,
        pod: &Pod,
        node: NodeId,
    ) -> Status {
        let (plugin, info) = match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => (plugin, info),
            (None, _) => return not_configured::<P>(),
            (_, None) => return unknown_node::<P>(node),
        };
        let state = self.cycles.entry(cycle).or_default();
        plugin.add_pod(state, pod_to_schedule, pod, info)
    }

    pub fn remove_pod(
        &mut self,
        cycle: CycleId,
        pod_to_schedule: &Pod,
        uid: &str,
        node: NodeId,
    ) -> Status {
        let (plugin, info) = match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => (plugin, info),
            (None, _) => return not_configured::<P>(),
            (_, None) => return unknown_node::<P>(node),
        };
        let state = self.cycles.entry(cycle).or_default();
        plugin.remove_pod(state, pod_to_schedule, uid, info)
    }

    /// Filters `nodes`; returns the ones that did not pass.
    pub fn filter(&self, cycle: CycleId, pod: &Pod, nodes: &[NodeId]) -> Vec<NodeStatus> {
        let Some(plugin) = &self.plugin else {
            return nodes
                .iter()
                .map(|&node| NodeStatus {
                    node,
                    status: not_configured::<P>(),
                })
                .collect();
        };
        let (known, mut unknown) = self.resolve(nodes);
        let statuses = plugin.filter_all(pod, &self.cluster, &known, self.state(cycle));
        let mut rejected: Vec<NodeStatus> = known
            .iter()
            .zip(statuses)
            .filter(|(_, status)| status.code != Code::Success)
            .map(|(info, status)| NodeStatus {
                node: info.id,
                status,
            })
            .collect();
        rejected.append(&mut unknown);
        rejected
    }

    pub fn post_filter(
        &mut self,
        cycle: CycleId,
        pod: &Pod,
        rejected: &[NodeStatus],
    ) -> PostFilterResult {
        let Some(plugin) = &self.plugin else {
            return PostFilterResult {
                status: not_configured::<P>(),
                nominated_node: None,
            };
        };
        let rejected: Vec<(&NodeInfo, &Status)> = rejected
            .iter()
            .filter_map(|s| Some((self.cluster.get(s.node)?, &s.status)))
            .collect();
        let state = self.cycles.entry(cycle).or_default();
        plugin.post_filter(pod, &self.cluster, &rejected, state)
    }

    pub fn pre_score(&mut self, cycle: CycleId, pod: &Pod, nodes: &[NodeId]) -> Status {
        let Some(plugin) = &self.plugin else {
            return not_configured::<P>();
        };
        let state = self.cycles.entry(cycle).or_default();
        let known: Result<Vec<&NodeInfo>, String> = nodes
            .iter()
            .map(|&node| {
                self.cluster
                    .get(node)
                    .ok_or_else(|| unknown_node::<P>(node).reasons.concat())
            })
            .collect();
        match known {
            Ok(known) => plugin.pre_score(pod, &self.cluster, &known, state),
            Err(message) => Status::error(message),
        }
    }

    /// Scores `nodes`, in order.
    pub fn score(&self, cycle: CycleId, pod: &Pod, nodes: &[NodeId]) -> Result<Vec<i64>, String> {
        let plugin = self.plugin()?;
        let known = self.resolve_all(nodes)?;
        plugin.score_all(pod, &self.cluster, &known, self.state(cycle))
    }

    /// Normalises the scores of `nodes` (in the same order).
    pub fn normalize_scores(
        &self,
        _cycle: CycleId,
        pod: &Pod,
        nodes: &[NodeId],
        mut scores: Vec<i64>,
    ) -> Result<Vec<i64>, String> {
        let plugin = self.plugin()?;
        if P::EXTENSION_POINTS.contains(&ExtensionPoint::NormalizeScore) {
            let known = self.resolve_all(nodes)?;
            plugin.normalize_all(pod, &self.cluster, &known, &mut scores)?;
        }
        Ok(scores)
    }

    pub fn reserve(&mut self, cycle: CycleId, pod: &Pod, node: NodeId) -> Status {
        let (plugin, info) = match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => (plugin, info),
            (None, _) => return not_configured::<P>(),
            (_, None) => return unknown_node::<P>(node),
        };
        plugin.reserve(pod, info, self.cycles.entry(cycle).or_default())
    }

    pub fn unreserve(&mut self, cycle: CycleId, pod: &Pod, node: NodeId) {
        if let (Some(plugin), Some(info)) = (self.plugin.as_ref(), self.cluster.get(node)) {
            plugin.unreserve(pod, info, self.cycles.entry(cycle).or_default());
        }
    }

    pub fn permit(&mut self, cycle: CycleId, pod: &Pod, node: NodeId) -> PermitResult {
        let (plugin, info) = match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => (plugin, info),
            (None, _) => return PermitResult::reject(not_configured::<P>().reasons.concat()),
            (_, None) => return PermitResult::reject(unknown_node::<P>(node).reasons.concat()),
        };
        plugin.permit(pod, info, self.cycles.entry(cycle).or_default())
    }

    pub fn pre_bind(&self, cycle: CycleId, pod: &Pod, node: NodeId) -> Status {
        match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => plugin.pre_bind(pod, info, self.state(cycle)),
            (None, _) => not_configured::<P>(),
            (_, None) => unknown_node::<P>(node),
        }
    }

    pub fn bind(&self, cycle: CycleId, pod: &Pod, node: NodeId) -> Status {
        match (self.plugin.as_ref(), self.cluster.get(node)) {
            (Some(plugin), Some(info)) => plugin.bind(pod, info, self.state(cycle)),
            (None, _) => not_configured::<P>(),
            (_, None) => unknown_node::<P>(node),
        }
    }

    pub fn post_bind(&self, cycle: CycleId, pod: &Pod, node: NodeId) {
        if let (Some(plugin), Some(info)) = (self.plugin.as_ref(), self.cluster.get(node)) {
            plugin.post_bind(pod, info, self.state(cycle));
        }
    }

    pub fn events_to_register(&self) -> Vec<RegisteredEvent> {
        self.plugin
            .as_ref()
            .map(Plugin::events_to_register)
            .unwrap_or_default()
    }

    pub fn queueing_hint(
        &self,
        pod: &Pod,
        event: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        self.plugin()?
            .queueing_hint(pod, &self.cluster, event, old, new)
    }

    fn plugin(&self) -> Result<&P, String> {
        self.plugin
            .as_ref()
            .ok_or_else(|| not_configured::<P>().reasons.concat())
    }

    /// The nodes the plugin knows, and an error status for each id it does
    /// not.
    fn resolve(&self, nodes: &[NodeId]) -> (Vec<&NodeInfo>, Vec<NodeStatus>) {
        let mut known = Vec::with_capacity(nodes.len());
        let mut unknown = Vec::new();
        for &node in nodes {
            match self.cluster.get(node) {
                Some(info) => known.push(info),
                None => unknown.push(NodeStatus {
                    node,
                    status: unknown_node::<P>(node),
                }),
            }
        }
        (known, unknown)
    }

    /// Every node of `nodes`, or the error for the first unknown one.
    fn resolve_all(&self, nodes: &[NodeId]) -> Result<Vec<&NodeInfo>, String> {
        nodes
            .iter()
            .map(|&node| {
                self.cluster
                    .get(node)
                    .ok_or_else(|| unknown_node::<P>(node).reasons.concat())
            })
            .collect()
    }
}

fn not_configured<P: Plugin>() -> Status {
    Status::error(format!("{} was called before configure", P::NAME))
}

fn unknown_node<P: Plugin>(node: NodeId) -> Status {
    Status::error(format!("{} has no node with id {node}", P::NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtensionPoint;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct ZoneArgs {
        same_zone: i64,
    }

    struct Zone;

    impl Plugin for Zone {
        const NAME: &'static str = "Zone";
        const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::Filter];
        type Args = ZoneArgs;
        fn new(args: ZoneArgs) -> Result<Self, String> {
            match args.same_zone {
                0..=100 => Ok(Zone),
                n => Err(format!("invalid args: sameZone: {n} is not in 0..=100")),
            }
        }
    }

    fn refusal(args: &str) -> String {
        match Runner::<Zone>::configured(args) {
            Err(e) => e,
            Ok(_) => panic!("{args} was accepted"),
        }
    }

    #[test]
    fn refusals_name_the_field_once_and_not_the_plugin() {
        let wrong_type = refusal(r#"{"sameZone": "x"}"#);
        assert!(
            wrong_type.starts_with(r#"invalid args: sameZone: invalid type: string "x""#),
            "{wrong_type}"
        );
        let unknown = refusal(r#"{"sameZone": 1, "other": 2}"#);
        assert!(
            unknown.starts_with("invalid args: unknown field `other`"),
            "{unknown}"
        );
        assert!(refusal("5").starts_with("invalid args: invalid type: integer `5`"));
        assert_eq!(
            refusal(r#"{"sameZone": 101}"#),
            "invalid args: sameZone: 101 is not in 0..=100"
        );
    }
}
