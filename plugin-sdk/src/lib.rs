//! Write kube-wasm-scheduler placement policies as plain Rust.
//!
//! A policy is a type that implements [`Plugin`]: it looks at one pod and one
//! node at a time and answers with a [`Status`] (Filter) or a score (Score).
//! [`export_plugin!`] turns it into a WebAssembly component for the
//! `kws:scheduler/plugin` world in `wit/`; the same type runs natively through
//! [`Runner`], so its unit tests need no WASM runtime.
//!
//! What the SDK hides: the host sends cluster changes once and then asks
//! about whole lists of node ids per pod (see `wit/scheduler.wit` for why).
//! The SDK keeps the node table ([`Cluster`]) inside the component and loops
//! over the nodes for you.
//!
//! ```
//! use kws_plugin_sdk::{ExtensionPoint, NoArgs, NodeInfo, Plugin, Pod, Status};
//!
//! /// Rejects nodes that carry the label `maintenance`.
//! struct AvoidMaintenance;
//!
//! impl Plugin for AvoidMaintenance {
//!     const NAME: &'static str = "AvoidMaintenance";
//!     const EXTENSION_POINTS: &'static [ExtensionPoint] = &[ExtensionPoint::Filter];
//!     type Args = NoArgs;
//!
//!     fn new(_: NoArgs) -> Result<Self, String> {
//!         Ok(AvoidMaintenance)
//!     }
//!
//!     fn filter(&self, _pod: &Pod, node: &NodeInfo) -> Status {
//!         match node.label("maintenance") {
//!             Some(_) => Status::unschedulable("node(s) were in maintenance"),
//!             None => Status::success(),
//!         }
//!     }
//! }
//!
//! // In the plugin crate: kws_plugin_sdk::export_plugin!(AvoidMaintenance);
//! ```

pub mod affinity;
mod cluster;
mod cycle_state;
mod events;
mod export;
pub mod host;
mod normalize;
pub mod objects;
mod plugin;
pub mod quantity;
mod runner;
pub mod selector;
mod status;
pub mod testing;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "kws_plugin_sdk::bindings",
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
    });
}

pub use bindings::kws::scheduler::host::WaitingPod;
pub use bindings::kws::scheduler::types::{
    ActionType, Change, ClusterEvent, Code, Container, ContainerImage, CycleId, EventResource,
    ExtensionPoint, HostPort, InclusionPolicy, LabelSelector, Labels, Namespace, Node,
    NodeAffinity, NodeId, NodeSelectorTerm, NodeStatus, NodeUsage, Operator, PermitResult,
    PlacedPod, PluginMetadata, Pod, PodAffinity, PodAffinityTerm, PostFilterResult,
    PreFilterResult, PreferredSchedulingTerm, Protocol, QueueingHint, RegisteredEvent, RemovedPod,
    Requirement, Resources, Status, Taint, TaintEffect, Toleration, TolerationOperator,
    TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
};
pub use cluster::{Cluster, NodeInfo};
pub use cycle_state::CycleState;
pub use normalize::default_normalize_score;
pub use plugin::{NoArgs, Plugin};
pub use runner::Runner;

/// Scores plugins return after normalisation lie in `0..=MAX_NODE_SCORE`.
pub const MAX_NODE_SCORE: i64 = 100;

/// Looks a key up in a sorted list of key-value pairs (labels, annotations).
pub fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .binary_search_by(|(k, _)| k.as_str().cmp(key))
        .ok()
        .map(|i| pairs[i].1.as_str())
}
