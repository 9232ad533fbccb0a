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

    /// What the SDK calls to score a node: [`Plugin::score`], unless the
    /// plugin overrides this because a node's score depends on the rest of
    /// the cluster too (ImageLocality weighs an image by how many nodes
    /// have it). `cluster` holds every node, feasible or not.
    fn score_with_cluster(
        &self,
        pod: &Pod,
        node: &NodeInfo,
        _cluster: &Cluster,
    ) -> Result<i64, String> {
        self.score(pod, node)
    }

    /// Maps the scores of every feasible node onto `0..=100`, in place.
    fn normalize_scores(&self, _pod: &Pod, _scores: &mut [i64]) -> Result<(), String> {
        Ok(())
    }
}

/// Args for a plugin that takes none: only `{}` (or `null`) is accepted.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}
