//! Host bindings for the `kws:scheduler/plugin` world, generated from `wit/`.
//!
//! The record types double as the host's model of what a plugin sees: the
//! cache keeps nodes and pods in this form, so sending them to a plugin is a
//! single lowering with no conversion.
//!
//! Components built against `kws:scheduler@0.2.0` keep running: [`v0_2`]
//! binds that world with the same cluster records (0.3.0 did not change
//! their shape), so only the few types 0.3.0 did change (status codes,
//! extension points) are converted, and only for answers.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    additional_derives: [serde::Serialize, PartialEq],
    // `fail` ends the guest's call: it returns the trap that carries the
    // guest's message (`runtime::GuestFailure`).
    imports: { "kws:scheduler/host.fail": trappable },
});

pub use exports::kws::scheduler as guest;
pub use kws::scheduler::host::{Level, WaitingPod};
pub use kws::scheduler::pod_groups::{PodGroup, SchedulingPolicy};
pub use kws::scheduler::preemption::{PodDisruptionBudget, Victim};
pub use kws::scheduler::resource_claims::{DeviceId, PodClaim};
pub use kws::scheduler::types::*;
pub use kws::scheduler::volumes;

/// The `kws:scheduler@0.2.0` world: filter, score and normalize-score, no
/// cycle ids.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "plugin",
        with: { "kws:scheduler/types@0.2.0": types },
    });

    /// `kws:scheduler/types@0.2.0`: the cluster records are 0.3.0's (their
    /// shape did not change); the status code and the extension points
    /// have fewer cases, so they are types of their own here.
    pub mod types {
        pub use crate::wit::{
            Change, Container, ContainerImage, HostPort, InclusionPolicy, LabelSelector, Labels,
            Namespace, Node, NodeAffinity, NodeId, NodeSelectorTerm, NodeUsage, Operator,
            PlacedPod, Pod, PodAffinity, PodAffinityTerm, PreferredSchedulingTerm, Protocol,
            RemovedPod, Requirement, Resources, Taint, TaintEffect, Toleration, TolerationOperator,
            TopologySpreadConstraint, WeightedPodAffinityTerm, WhenUnsatisfiable,
        };
        use wasmtime::component::{ComponentType, Lift, Lower};

        /// The interface has no functions: linking it is declaring it.
        pub trait Host {}

        impl<T: Host + ?Sized> Host for &mut T {}

        pub trait HostWithStore<T>: wasmtime::component::HasData {}

        impl<T, D: wasmtime::component::HasData + ?Sized> HostWithStore<T> for D {}

        pub fn add_to_linker<T, D>(
            linker: &mut wasmtime::component::Linker<T>,
            _host_getter: fn(&mut T) -> D::Data<'_>,
        ) -> wasmtime::Result<()>
        where
            D: HostWithStore<T>,
            for<'a> D::Data<'a>: Host,
            T: 'static,
        {
            linker.instance("kws:scheduler/types@0.2.0")?;
            Ok(())
        }

        #[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
        #[component(enum)]
        #[repr(u8)]
        pub enum Code {
            #[component(name = "success")]
            Success,
            #[component(name = "unschedulable")]
            Unschedulable,
            #[component(name = "unschedulable-and-unresolvable")]
            UnschedulableAndUnresolvable,
            #[component(name = "error")]
            Error,
            #[component(name = "skip")]
            Skip,
        }

        #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
        #[component(record)]
        pub struct Status {
            pub code: Code,
            pub reasons: Vec<String>,
        }

        #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
        #[component(record)]
        pub struct NodeStatus {
            pub node: NodeId,
            pub status: Status,
        }

        #[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
        #[component(enum)]
        #[repr(u8)]
        pub enum ExtensionPoint {
            #[component(name = "filter")]
            Filter,
            #[component(name = "score")]
            Score,
            #[component(name = "normalize-score")]
            NormalizeScore,
        }

        #[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
        #[component(record)]
        pub struct PluginMetadata {
            pub name: String,
            pub version: String,
            #[component(name = "extension-points")]
            pub extension_points: Vec<ExtensionPoint>,
        }

        impl From<Code> for crate::wit::Code {
            fn from(code: Code) -> Self {
                match code {
                    Code::Success => crate::wit::Code::Success,
                    Code::Unschedulable => crate::wit::Code::Unschedulable,
                    Code::UnschedulableAndUnresolvable => {
                        crate::wit::Code::UnschedulableAndUnresolvable
                    }
                    Code::Error => crate::wit::Code::Error,
                    Code::Skip => crate::wit::Code::Skip,
                }
            }
        }

        impl From<NodeStatus> for crate::wit::NodeStatus {
            fn from(s: NodeStatus) -> Self {
                crate::wit::NodeStatus {
                    node: s.node,
                    status: crate::wit::Status {
                        code: s.status.code.into(),
                        reasons: s.status.reasons,
                    },
                }
            }
        }

        impl From<PluginMetadata> for crate::wit::PluginMetadata {
            fn from(m: PluginMetadata) -> Self {
                crate::wit::PluginMetadata {
                    name: m.name,
                    version: m.version,
                    extension_points: m
                        .extension_points
                        .into_iter()
                        .map(|p| match p {
                            ExtensionPoint::Filter => crate::wit::ExtensionPoint::Filter,
                            ExtensionPoint::Score => crate::wit::ExtensionPoint::Score,
                            ExtensionPoint::NormalizeScore => {
                                crate::wit::ExtensionPoint::NormalizeScore
                            }
                        })
                        .collect(),
                }
            }
        }
    }
}
