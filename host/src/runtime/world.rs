//! Which world a component implements, and its exports in that world.
//!
//! A `kws:scheduler@0.3.0` component exports `lifecycle` and the interface
//! of each extension point its metadata lists; the host looks each one up
//! by name, so a plugin exports only what it implements. A `0.2.0`
//! component exports `lifecycle`, `filter` and `score` and runs at those
//! points only: its answers are converted to 0.3.0's types, its cluster
//! records are the same.

use super::HostState;
use crate::wit::{
    self, ClusterEvent, ExtensionPoint, NodeId, NodeStatus, PermitResult, PluginMetadata, Pod,
    PostFilterResult, PreFilterResult, QueueingHint, RegisteredEvent, Status, guest, v0_2,
};
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

/// The world a component was built against, with its export lookups done
/// once at load.
pub(crate) enum World {
    V0_2(v0_2::PluginPre<HostState>),
    V0_3(Box<Indices>),
}

/// Export lookups of a 0.3.0 component: `lifecycle`, and each extension
/// point's interface when the component exports it.
pub(crate) struct Indices {
    pre: InstancePre<HostState>,
    lifecycle: guest::lifecycle::GuestIndices,
    pre_enqueue: Option<guest::pre_enqueue::GuestIndices>,
    pre_filter: Option<guest::pre_filter::GuestIndices>,
    filter: Option<guest::filter::GuestIndices>,
    post_filter: Option<guest::post_filter::GuestIndices>,
    pre_score: Option<guest::pre_score::GuestIndices>,
    score: Option<guest::score::GuestIndices>,
    reserve: Option<guest::reserve::GuestIndices>,
    permit: Option<guest::permit::GuestIndices>,
    pre_bind: Option<guest::pre_bind::GuestIndices>,
    bind: Option<guest::bind::GuestIndices>,
    post_bind: Option<guest::post_bind::GuestIndices>,
    enqueue_extensions: Option<guest::enqueue_extensions::GuestIndices>,
}

/// A live instance's exports.
pub(crate) enum Exports {
    V0_2(v0_2::Plugin),
    V0_3(Box<Guests>),
}

pub(crate) struct Guests {
    lifecycle: guest::lifecycle::Guest,
    pre_enqueue: Option<guest::pre_enqueue::Guest>,
    pre_filter: Option<guest::pre_filter::Guest>,
    filter: Option<guest::filter::Guest>,
    post_filter: Option<guest::post_filter::Guest>,
    pre_score: Option<guest::pre_score::Guest>,
    score: Option<guest::score::Guest>,
    reserve: Option<guest::reserve::Guest>,
    permit: Option<guest::permit::Guest>,
    pre_bind: Option<guest::pre_bind::Guest>,
    bind: Option<guest::bind::Guest>,
    post_bind: Option<guest::post_bind::Guest>,
    enqueue_extensions: Option<guest::enqueue_extensions::Guest>,
}

/// The package version of a world's interfaces.
pub const V0_3: &str = "0.3.0";
pub const V0_2: &str = "0.2.0";

impl World {
    /// Finds the world among the component's exports: the version of its
    /// `kws:scheduler/lifecycle` export.
    pub(crate) fn of(pre: InstancePre<HostState>, exports: &[String]) -> Result<World, String> {
        let lifecycle = |version: &str| {
            exports
                .iter()
                .any(|e| *e == format!("kws:scheduler/lifecycle@{version}"))
        };
        if lifecycle(V0_3) {
            Ok(World::V0_3(Box::new(Indices::new(pre)?)))
        } else if lifecycle(V0_2) {
            v0_2::PluginPre::new(pre).map(World::V0_2).map_err(|e| {
                format!("does not implement the kws:scheduler/plugin@0.2.0 world: {e:#}")
            })
        } else {
            Err(format!(
                "does not implement the kws:scheduler/plugin world: it exports no \
                 kws:scheduler/lifecycle@{V0_3} (nor @{V0_2}, which this host also serves)"
            ))
        }
    }

    /// `0.3.0` or `0.2.0`.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            World::V0_2(_) => V0_2,
            World::V0_3(_) => V0_3,
        }
    }

    /// Whether the component exports the interface of `point`.
    pub(crate) fn exports(&self, point: ExtensionPoint) -> bool {
        match self {
            World::V0_2(_) => matches!(
                point,
                ExtensionPoint::Filter | ExtensionPoint::Score | ExtensionPoint::NormalizeScore
            ),
            World::V0_3(indices) => match point {
                ExtensionPoint::PreEnqueue => indices.pre_enqueue.is_some(),
                ExtensionPoint::PreFilter => indices.pre_filter.is_some(),
                ExtensionPoint::Filter => indices.filter.is_some(),
                ExtensionPoint::PostFilter => indices.post_filter.is_some(),
                ExtensionPoint::PreScore => indices.pre_score.is_some(),
                ExtensionPoint::Score | ExtensionPoint::NormalizeScore => indices.score.is_some(),
                ExtensionPoint::Reserve => indices.reserve.is_some(),
                ExtensionPoint::Permit => indices.permit.is_some(),
                ExtensionPoint::PreBind => indices.pre_bind.is_some(),
                ExtensionPoint::Bind => indices.bind.is_some(),
                ExtensionPoint::PostBind => indices.post_bind.is_some(),
                ExtensionPoint::EnqueueExtensions => indices.enqueue_extensions.is_some(),
            },
        }
    }

    pub(crate) fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<Exports> {
        match self {
            World::V0_2(pre) => Ok(Exports::V0_2(pre.instantiate(store)?)),
            World::V0_3(indices) => {
                let instance = indices.pre.instantiate(&mut *store)?;
                Ok(Exports::V0_3(Box::new(indices.load(store, &instance)?)))
            }
        }
    }
}

impl Indices {
    fn new(pre: InstancePre<HostState>) -> Result<Indices, String> {
        let lifecycle = guest::lifecycle::GuestIndices::new(&pre).map_err(|e| {
            format!("does not implement the kws:scheduler/plugin@0.3.0 world: {e:#}")
        })?;
        Ok(Indices {
            lifecycle,
            pre_enqueue: guest::pre_enqueue::GuestIndices::new(&pre).ok(),
            pre_filter: guest::pre_filter::GuestIndices::new(&pre).ok(),
            filter: guest::filter::GuestIndices::new(&pre).ok(),
            post_filter: guest::post_filter::GuestIndices::new(&pre).ok(),
            pre_score: guest::pre_score::GuestIndices::new(&pre).ok(),
            score: guest::score::GuestIndices::new(&pre).ok(),
            reserve: guest::reserve::GuestIndices::new(&pre).ok(),
            permit: guest::permit::GuestIndices::new(&pre).ok(),
            pre_bind: guest::pre_bind::GuestIndices::new(&pre).ok(),
            bind: guest::bind::GuestIndices::new(&pre).ok(),
            post_bind: guest::post_bind::GuestIndices::new(&pre).ok(),
            enqueue_extensions: guest::enqueue_extensions::GuestIndices::new(&pre).ok(),
            pre,
        })
    }

    /// Each export's typed functions, checked against the world.
    fn load(&self, store: &mut Store<HostState>, instance: &Instance) -> wasmtime::Result<Guests> {
        macro_rules! load {
            ($field:ident) => {
                match &self.$field {
                    Some(indices) => Some(indices.load(&mut *store, instance)?),
                    None => None,
                }
            };
        }
        Ok(Guests {
            lifecycle: self.lifecycle.load(&mut *store, instance)?,
            pre_enqueue: load!(pre_enqueue),
            pre_filter: load!(pre_filter),
            filter: load!(filter),
            post_filter: load!(post_filter),
            pre_score: load!(pre_score),
            score: load!(score),
            reserve: load!(reserve),
            permit: load!(permit),
            pre_bind: load!(pre_bind),
            bind: load!(bind),
            post_bind: load!(post_bind),
            enqueue_extensions: load!(enqueue_extensions),
        })
    }
}

/// The error for a call to a point the component does not export (the
/// host checks metadata against the exports at load, so this is a bug
/// guard, reported as the plugin's fault rather than a panic).
fn missing(point: &str) -> wasmtime::Error {
    wasmtime::format_err!("the component does not export the {point} interface")
}

/// One call per extension point; each returns the guest's answer in
/// 0.3.0's types.
impl Exports {
    pub(crate) fn metadata(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<PluginMetadata> {
        match self {
            Exports::V0_2(b) => Ok(b.kws_scheduler_lifecycle().call_metadata(store)?.into()),
            Exports::V0_3(g) => g.lifecycle.call_metadata(store),
        }
    }

    pub(crate) fn configure(
        &self,
        store: &mut Store<HostState>,
        args: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Exports::V0_2(b) => b.kws_scheduler_lifecycle().call_configure(store, args),
            Exports::V0_3(g) => g.lifecycle.call_configure(store, args),
        }
    }

    pub(crate) fn apply(
        &self,
        store: &mut Store<HostState>,
        changes: &[wit::Change],
    ) -> wasmtime::Result<()> {
        match self {
            Exports::V0_2(b) => b.kws_scheduler_lifecycle().call_apply(store, changes),
            Exports::V0_3(g) => g.lifecycle.call_apply(store, changes),
        }
    }

    /// Whether the pod of a cycle goes to the instance once, by
    /// `cycle-start` (0.3.0), rather than with every call (0.2.0).
    pub(crate) fn takes_cycle_start(&self) -> bool {
        matches!(self, Exports::V0_3(_))
    }

    pub(crate) fn cycle_start(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        pod: &Pod,
    ) -> wasmtime::Result<()> {
        match self {
            Exports::V0_2(_) => Ok(()),
            Exports::V0_3(g) => g.lifecycle.call_cycle_start(store, cycle, pod),
        }
    }

    /// A 0.2.0 plugin keeps no cycle state: nothing to tell it.
    pub(crate) fn cycle_end(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
    ) -> wasmtime::Result<()> {
        match self {
            Exports::V0_2(_) => Ok(()),
            Exports::V0_3(g) => g.lifecycle.call_cycle_end(store, cycle),
        }
    }

    /// A 0.2.0 component keeps no cycle state: nothing to copy.
    pub(crate) fn cycle_fork(
        &self,
        store: &mut Store<HostState>,
        original: u64,
        copy: u64,
    ) -> wasmtime::Result<()> {
        match self {
            Exports::V0_2(_) => Ok(()),
            Exports::V0_3(g) => g.lifecycle.call_cycle_fork(store, original, copy),
        }
    }

    pub(crate) fn add_pod(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        pod: &Pod,
        node: NodeId,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.pre_filter.as_ref(), "pre-filter")?
            .call_add_pod(store, cycle, pod, node)
    }

    pub(crate) fn remove_pod(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        uid: &str,
        node: NodeId,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.pre_filter.as_ref(), "pre-filter")?
            .call_remove_pod(store, cycle, uid, node)
    }

    pub(crate) fn pre_enqueue(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.pre_enqueue.as_ref(), "pre-enqueue")?
            .call_pre_enqueue(store, cycle)
    }

    pub(crate) fn pre_filter(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
    ) -> wasmtime::Result<PreFilterResult> {
        self.v3(|g| g.pre_filter.as_ref(), "pre-filter")?
            .call_pre_filter(store, cycle)
    }

    pub(crate) fn filter(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> wasmtime::Result<Vec<NodeStatus>> {
        match self {
            Exports::V0_2(b) => Ok(b
                .kws_scheduler_filter()
                .call_filter(store, pod, nodes)?
                .into_iter()
                .map(Into::into)
                .collect()),
            Exports::V0_3(g) => g
                .filter
                .as_ref()
                .ok_or_else(|| missing("filter"))?
                .call_filter(store, cycle, nodes),
        }
    }

    pub(crate) fn post_filter(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        statuses: &[NodeStatus],
    ) -> wasmtime::Result<PostFilterResult> {
        self.v3(|g| g.post_filter.as_ref(), "post-filter")?
            .call_post_filter(store, cycle, statuses)
    }

    pub(crate) fn pre_score(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        nodes: &[NodeId],
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.pre_score.as_ref(), "pre-score")?
            .call_pre_score(store, cycle, nodes)
    }

    pub(crate) fn score(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> wasmtime::Result<Result<Vec<i64>, String>> {
        match self {
            Exports::V0_2(b) => b.kws_scheduler_score().call_score(store, pod, nodes),
            Exports::V0_3(g) => g
                .score
                .as_ref()
                .ok_or_else(|| missing("score"))?
                .call_score(store, cycle, nodes),
        }
    }

    pub(crate) fn normalize_score(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        pod: &Pod,
        nodes: &[NodeId],
        scores: &[i64],
    ) -> wasmtime::Result<Result<Vec<i64>, String>> {
        match self {
            Exports::V0_2(b) => b
                .kws_scheduler_score()
                .call_normalize_score(store, pod, nodes, scores),
            Exports::V0_3(g) => g
                .score
                .as_ref()
                .ok_or_else(|| missing("score"))?
                .call_normalize_score(store, cycle, nodes, scores),
        }
    }

    pub(crate) fn reserve(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.reserve.as_ref(), "reserve")?
            .call_reserve(store, cycle, node)
    }

    pub(crate) fn unreserve(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<()> {
        self.v3(|g| g.reserve.as_ref(), "reserve")?
            .call_unreserve(store, cycle, node)
    }

    pub(crate) fn permit(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<PermitResult> {
        self.v3(|g| g.permit.as_ref(), "permit")?
            .call_permit(store, cycle, node)
    }

    pub(crate) fn pre_bind(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.pre_bind.as_ref(), "pre-bind")?
            .call_pre_bind(store, cycle, node)
    }

    pub(crate) fn bind(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<Status> {
        self.v3(|g| g.bind.as_ref(), "bind")?
            .call_bind(store, cycle, node)
    }

    pub(crate) fn post_bind(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        node: NodeId,
    ) -> wasmtime::Result<()> {
        self.v3(|g| g.post_bind.as_ref(), "post-bind")?
            .call_post_bind(store, cycle, node)
    }

    pub(crate) fn events_to_register(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<RegisteredEvent>> {
        self.v3(|g| g.enqueue_extensions.as_ref(), "enqueue-extensions")?
            .call_events_to_register(store)
    }

    pub(crate) fn hint(
        &self,
        store: &mut Store<HostState>,
        cycle: u64,
        event: ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> wasmtime::Result<Result<QueueingHint, String>> {
        self.v3(|g| g.enqueue_extensions.as_ref(), "enqueue-extensions")?
            .call_hint(store, cycle, event, old, new)
    }

    /// A 0.3.0 export, or the error for a point 0.2.0 has not.
    fn v3<'a, T>(
        &'a self,
        get: impl FnOnce(&'a Guests) -> Option<&'a T>,
        point: &str,
    ) -> wasmtime::Result<&'a T> {
        match self {
            Exports::V0_2(_) => Err(missing(point)),
            Exports::V0_3(g) => get(g).ok_or_else(|| missing(point)),
        }
    }
}
