//! Drives a [`Plugin`] through the calls the host makes: the same code runs
//! inside the component and natively (in unit tests and benchmarks).

use crate::{
    Change, Cluster, Code, ExtensionPoint, NodeId, NodeInfo, NodeStatus, Plugin, PluginMetadata,
    Pod, Status,
};

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
/// let rejected = runner.filter(&pod("default", "p").build(), &[0, 1]);
/// assert_eq!(rejected.len(), 1);
/// assert_eq!(rejected[0].node, 1);
/// ```
pub struct Runner<P: Plugin> {
    plugin: Option<P>,
    cluster: Cluster,
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

    /// Parses the args and builds the plugin. Errors name the plugin and,
    /// for malformed args, the offending field.
    pub fn configure(&mut self, args: &str) -> Result<(), String> {
        let args = if args.trim().is_empty() { "{}" } else { args };
        let parsed =
            serde_json::from_str(args).map_err(|e| format!("{}: invalid args: {e}", P::NAME))?;
        self.plugin = Some(P::new(parsed).map_err(|e| format!("{}: {e}", P::NAME))?);
        Ok(())
    }

    pub fn apply(&mut self, changes: Vec<Change>) {
        self.cluster.apply(changes);
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Filters `nodes`; returns the ones that did not pass, and every node
    /// with `skip` when the plugin skipped the pod.
    pub fn filter(&self, pod: &Pod, nodes: &[NodeId]) -> Vec<NodeStatus> {
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
        let statuses = plugin.filter_all(pod, &self.cluster, &known);
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

    /// Scores `nodes`, in order.
    pub fn score(&self, pod: &Pod, nodes: &[NodeId]) -> Result<Vec<i64>, String> {
        let plugin = self.plugin()?;
        let known = self.resolve_all(nodes)?;
        plugin.score_all(pod, &self.cluster, &known)
    }

    /// Normalises the scores of `nodes` (in the same order).
    pub fn normalize_scores(
        &self,
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
