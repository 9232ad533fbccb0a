//! Live instances of one configured plugin, one per scheduling worker.
//!
//! An instance is created on first use from the pre-instantiated component,
//! configured with the profile's args, and brought up to date with the
//! cache before every call. After a trap, a missed deadline or a memory-cap
//! hit its store is unusable, so it is dropped; the next call starts a fresh
//! one (with a full resync of the cluster state).
//!
//! Faults (traps, missed deadlines, memory-cap hits, invalid results) are
//! counted per plugin; after `quarantine.afterFaults` in a row the plugin
//! is not called at all for `quarantine.backoff`, then tried again (one
//! more fault puts it straight back). What a fault means for the pod is the
//! framework's business (`failurePolicy`).

use super::world::Exports;
use super::{
    GuestFailure, HostState, Limits, LoadedPlugin, MemoryLimitHit, PreemptionHost, deadline_ticks,
};
use crate::cache::{Cache, Catchup, Snapshot};
use crate::config::PluginSettings;
use crate::framework::{HostServices, MAX_NODE_SCORE};
use crate::wit::{
    Change, ClusterEvent, ExtensionPoint, NodeId, NodeStatus, PermitResult, Pod, PostFilterResult,
    PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use k8s_openapi::api::core::v1 as core;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use wasmtime::{Store, Trap};

/// Changes per `apply` call when an instance catches up (about 20 ms of
/// guest work for the SDK's table at 5000 nodes and 36 000 pods).
const APPLY_CHUNK: usize = 1024;

/// The first status about a node that was not in `nodes`, if any. Linear
/// when statuses come in the order the nodes were asked (as the SDK
/// answers); any order is accepted.
fn first_not_asked(nodes: &[NodeId], statuses: &[NodeStatus]) -> Option<NodeId> {
    let mut cursor = 0;
    let mut asked: Option<std::collections::HashSet<NodeId>> = None;
    for status in statuses {
        if asked.is_none() {
            if let Some(found) = nodes[cursor..].iter().position(|n| *n == status.node) {
                cursor += found + 1;
                continue;
            }
            asked = Some(nodes.iter().copied().collect());
        }
        if asked.as_ref().is_some_and(|a| !a.contains(&status.node)) {
            return Some(status.node);
        }
    }
    None
}

/// What a call needs from the scheduling cycle.
#[derive(Clone, Copy)]
pub struct CallContext<'a> {
    /// To bring the instance's copy of the cluster up to date; `None` in
    /// the binding cycle, which runs off the scheduling loop (the instance
    /// answers from what it has, and catches up at its next scheduling
    /// call).
    pub cache: Option<&'a Cache>,
    pub snapshot: &'a Arc<Snapshot>,
    pub pod: &'a Arc<core::Pod>,
    /// The scheduling cycle the call belongs to.
    pub cycle: u64,
}

/// A plugin call that failed. The message names the plugin and the call.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PluginError {
    #[error("plugin {plugin} could not be instantiated: {detail}")]
    Instantiate { plugin: String, detail: String },
    #[error("plugin {plugin} refused its configuration: {detail}")]
    Configure { plugin: String, detail: String },
    #[error("plugin {plugin} ran past its {timeout_ms} ms deadline in {call}")]
    Deadline {
        plugin: String,
        call: &'static str,
        timeout_ms: u128,
    },
    #[error("plugin {plugin} hit its memory limit of {limit_bytes} bytes in {call}")]
    MemoryLimit {
        plugin: String,
        call: &'static str,
        limit_bytes: u64,
    },
    /// An uncaught exception or a panic, reported by the guest through
    /// `host.fail` with its message.
    #[error("plugin {plugin} panicked in {call}: {message}")]
    Panicked {
        plugin: String,
        call: &'static str,
        message: String,
    },
    #[error("plugin {plugin} trapped in {call}: {detail}")]
    Trap {
        plugin: String,
        call: &'static str,
        detail: String,
    },
    /// The plugin answered with an error of its own (`result::err`).
    #[error("plugin {plugin} failed in {call}: {reason}")]
    Failed {
        plugin: String,
        call: &'static str,
        reason: String,
    },
    #[error("plugin {plugin} returned an invalid result from {call}: {detail}")]
    InvalidResult {
        plugin: String,
        call: &'static str,
        detail: String,
    },
    #[error(
        "plugin {plugin} is quarantined for another {remaining_ms} ms after {faults} faults in a row (last: {last})"
    )]
    Quarantined {
        plugin: String,
        remaining_ms: u128,
        faults: u32,
        last: String,
    },
    /// A profile needs the plugin but no file serves it (it was removed,
    /// or its replacement was refused before any version loaded).
    #[error("plugin {plugin} is not loaded")]
    NotLoaded { plugin: String },
}

impl PluginError {
    /// A fault of the plugin's code or sandbox, as opposed to an answer
    /// (`Failed`) or a state of the scheduler (`Quarantined`, `NotLoaded`):
    /// what counts toward quarantine.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            PluginError::Instantiate { .. }
                | PluginError::Configure { .. }
                | PluginError::Deadline { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Panicked { .. }
                | PluginError::Trap { .. }
                | PluginError::InvalidResult { .. }
        )
    }

    /// The error's kind, as `kws_plugin_faults_total` labels it:
    /// `panic`, `trap`, `deadline`, `memory_limit`, `invalid_result`,
    /// `instantiate`, `configure` (the faults), or `failed`, `quarantined`,
    /// `not_loaded`.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::Instantiate { .. } => "instantiate",
            PluginError::Configure { .. } => "configure",
            PluginError::Deadline { .. } => "deadline",
            PluginError::MemoryLimit { .. } => "memory_limit",
            PluginError::Panicked { .. } => "panic",
            PluginError::Trap { .. } => "trap",
            PluginError::Failed { .. } => "failed",
            PluginError::InvalidResult { .. } => "invalid_result",
            PluginError::Quarantined { .. } => "quarantined",
            PluginError::NotLoaded { .. } => "not_loaded",
        }
    }

    pub fn plugin(&self) -> &str {
        match self {
            PluginError::Instantiate { plugin, .. }
            | PluginError::Configure { plugin, .. }
            | PluginError::Deadline { plugin, .. }
            | PluginError::MemoryLimit { plugin, .. }
            | PluginError::Panicked { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Failed { plugin, .. }
            | PluginError::InvalidResult { plugin, .. }
            | PluginError::Quarantined { plugin, .. }
            | PluginError::NotLoaded { plugin } => plugin,
        }
    }
}

/// Consecutive faults and the quarantine they lead to.
#[derive(Default)]
struct Health {
    faults: u32,
    last_fault: String,
    quarantined_until: Option<Instant>,
    /// A quarantine that began and has not been reported yet.
    unreported: Option<String>,
}

struct Live {
    store: Store<HostState>,
    bindings: Exports,
    /// The cache sequence number this instance has applied.
    synced: Option<u64>,
    /// The cycles whose pod this instance was sent (`cycle-start`), with
    /// the pod's uid, until they end.
    cycles: HashMap<u64, String>,
}

pub struct PluginPool {
    plugin: Arc<LoadedPlugin>,
    args: String,
    settings: PluginSettings,
    limits: Limits,
    slots: Vec<Mutex<Option<Live>>>,
    health: Mutex<Health>,
    services: Option<HostServices>,
}

impl PluginPool {
    /// A pool of `workers` instances of `plugin` configured with `args`
    /// (JSON). One instance is created now, so bad args are reported at
    /// startup (or when a new version is swapped in) rather than on the
    /// first pod.
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        args: String,
        settings: PluginSettings,
        workers: usize,
    ) -> Result<PluginPool, PluginError> {
        PluginPool::serving(plugin, args, settings, workers, None)
    }

    /// [`PluginPool::new`] for a framework whose Permit plugins may allow
    /// and reject the pods in `waiting`.
    pub fn serving(
        plugin: Arc<LoadedPlugin>,
        args: String,
        settings: PluginSettings,
        workers: usize,
        services: Option<HostServices>,
    ) -> Result<PluginPool, PluginError> {
        let limits = Limits {
            call_timeout: settings.call_timeout,
            memory_bytes: settings.memory_limit_bytes,
        };
        let pool = PluginPool {
            plugin,
            args,
            settings,
            limits,
            slots: (0..workers.max(1)).map(|_| Mutex::new(None)).collect(),
            health: Mutex::default(),
            services,
        };
        let first = pool.start()?;
        *pool.lock(0) = Some(first);
        Ok(pool)
    }

    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    /// Drops every device allocation the host holds in flight for `pod`
    /// (Unreserve's safety net for a plugin that faulted after Reserve).
    pub fn release_holds(&self, pod: &core::Pod) {
        if let Some(services) = &self.services {
            services
                .resource_claims
                .release_pod(pod.metadata.uid.as_deref().unwrap_or_default());
        }
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// The message of a quarantine that began since the last call, once.
    pub fn take_quarantine_notice(&self) -> Option<String> {
        self.health().unreported.take()
    }

    /// Runs Filter over `nodes`; returns the nodes that did not pass.
    pub fn filter(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Vec<NodeStatus>, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "filter",
            |b, s| b.filter(s, ctx.cycle, pod, nodes),
            |statuses| match first_not_asked(nodes, &statuses) {
                Some(bad) => Err(self.invalid(
                    "filter",
                    format!("a status for node id {bad}, which was not asked about"),
                )),
                None => Ok(statuses),
            },
        )
    }

    /// Runs Score over `nodes`; one score per node, in order. Without a
    /// NormalizeScore of its own, the plugin's scores must already be in
    /// 0..=[`MAX_NODE_SCORE`].
    pub fn score(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Vec<i64>, PluginError> {
        let normalized_later = self.plugin.implements(ExtensionPoint::NormalizeScore);
        self.call(
            worker,
            ctx,
            Some(pod),
            "score",
            |b, s| b.score(s, ctx.cycle, pod, nodes),
            |scores| {
                let scores = self.checked_scores("score", scores, nodes.len())?;
                if !normalized_later {
                    self.check_range("score", ctx, nodes, &scores)?;
                }
                Ok(scores)
            },
        )
    }

    /// Runs NormalizeScore over every feasible node's score.
    pub fn normalize_score(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
        scores: &[i64],
    ) -> Result<Vec<i64>, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "normalize-score",
            |b, s| b.normalize_score(s, ctx.cycle, pod, nodes, scores),
            |scores| {
                let scores = self.checked_scores("normalize-score", scores, nodes.len())?;
                self.check_range("normalize-score", ctx, nodes, &scores)?;
                Ok(scores)
            },
        )
    }

    /// PreFilter: what the plugin found for the pod; a node subset it names
    /// must be nodes of the cycle.
    pub fn pre_filter(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
    ) -> Result<PreFilterResult, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "pre-filter",
            |b, s| b.pre_filter(s, ctx.cycle),
            Ok,
        )
    }

    /// A what-if copy of a cycle (preemption): the worker's instance keeps
    /// what it kept for `original` under `copy` as well, for the same pod,
    /// until `copy` ends. Nothing to copy where the instance never saw
    /// `original`.
    pub fn cycle_fork(&self, worker: usize, original: u64, copy: u64) -> Result<(), PluginError> {
        self.on_cycle(worker, "cycle-fork", original, |live| {
            let pod = live.cycles[&original].clone();
            live.bindings.cycle_fork(&mut live.store, original, copy)?;
            live.cycles.insert(copy, pod);
            Ok(())
        })
    }

    /// PreFilter's AddPod in the what-if cycle `ctx.cycle`: `added` counts
    /// as placed on `node`.
    pub fn add_pod(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        added: &Pod,
        node: NodeId,
    ) -> Result<Status, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "add-pod",
            |b, s| b.add_pod(s, ctx.cycle, added, node),
            Ok,
        )
    }

    /// PreFilter's RemovePod in the what-if cycle `ctx.cycle`: the pod
    /// with `uid` counts as gone from `node`.
    pub fn remove_pod(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        uid: &str,
        node: NodeId,
    ) -> Result<Status, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "remove-pod",
            |b, s| b.remove_pod(s, ctx.cycle, uid, node),
            Ok,
        )
    }

    /// PostFilter with the statuses of the nodes that did not pass;
    /// `preemption` answers the plugin's `preemption` imports during the
    /// call, and is handed back after it (with the choice it recorded).
    pub fn post_filter(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        rejected: &[NodeStatus],
        preemption: &mut Option<Box<dyn PreemptionHost>>,
    ) -> Result<PostFilterResult, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "post-filter",
            |b, s| {
                s.data_mut().preemption = preemption.take();
                s.data_mut().host_time = std::time::Duration::ZERO;
                let result = b.post_filter(s, ctx.cycle, rejected);
                *preemption = s.data_mut().preemption.take();
                result
            },
            Ok,
        )
    }

    /// Brings the worker's instance up to date with the cache (starting
    /// it if needed), so that later calls without a cache (what-if
    /// filters) answer from the current cluster.
    pub fn catch_up(&self, worker: usize, cache: &Cache) -> Result<(), PluginError> {
        let snapshot = Arc::new(Snapshot::default());
        let pod = Arc::new(core::Pod::default());
        let ctx = CallContext {
            cache: Some(cache),
            snapshot: &snapshot,
            pod: &pod,
            cycle: 0,
        };
        self.call(worker, ctx, None, "apply", |_, _| Ok(()), Ok)
    }

    /// Applies what-if changes to the worker's instance, outside the
    /// cache's log: the caller applies the changes that undo them before
    /// the instance next syncs. Nothing happens without a live instance.
    pub fn apply_what_if(
        &self,
        worker: usize,
        changes: &[crate::wit::Change],
    ) -> Result<(), PluginError> {
        let mut slot = self.lock(worker);
        let Some(live) = slot.as_mut() else {
            return Ok(());
        };
        live.store
            .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        let result = live
            .bindings
            .apply(&mut live.store, changes)
            .map_err(|e| self.fault("apply", e));
        if result.is_err() {
            *slot = None;
        }
        drop(slot);
        self.record(&result);
        result
    }

    /// PreScore with every feasible node.
    pub fn pre_score(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Status, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            "pre-score",
            |b, s| b.pre_score(s, ctx.cycle, nodes),
            Ok,
        )
    }

    /// A call of the cycle about the node it chose: Reserve, Permit and
    /// the binding points.
    fn on_node<T>(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
        name: &'static str,
        f: fn(&Exports, &mut Store<HostState>, u64, NodeId) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.call(
            worker,
            ctx,
            Some(pod),
            name,
            |b, s| f(b, s, ctx.cycle, node),
            Ok,
        )
    }

    pub fn reserve(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<Status, PluginError> {
        self.on_node(worker, ctx, pod, node, "reserve", Exports::reserve)
    }

    pub fn unreserve(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<(), PluginError> {
        self.on_node(worker, ctx, pod, node, "unreserve", Exports::unreserve)
    }

    pub fn permit(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<PermitResult, PluginError> {
        self.on_node(worker, ctx, pod, node, "permit", Exports::permit)
    }

    pub fn pre_bind(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<Status, PluginError> {
        self.on_node(worker, ctx, pod, node, "pre-bind", Exports::pre_bind)
    }

    pub fn bind(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<Status, PluginError> {
        self.on_node(worker, ctx, pod, node, "bind", Exports::bind)
    }

    pub fn post_bind(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        node: NodeId,
    ) -> Result<(), PluginError> {
        self.on_node(worker, ctx, pod, node, "post-bind", Exports::post_bind)
    }

    /// PreEnqueue: whether the pod may enter the queue. `ctx.cycle` is a
    /// cycle of the pod's own, ended here.
    pub fn pre_enqueue(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
    ) -> Result<Status, PluginError> {
        let result = self.call(
            worker,
            ctx,
            Some(pod),
            "pre-enqueue",
            |b, s| b.pre_enqueue(s, ctx.cycle),
            Ok,
        );
        let ended = self.cycle_end(worker, ctx.cycle);
        let status = result?;
        ended.map(|()| status)
    }

    /// The cluster events the plugin registers for (EnqueueExtensions).
    pub fn events_to_register(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
    ) -> Result<Vec<RegisteredEvent>, PluginError> {
        self.call(
            worker,
            ctx,
            None,
            "events-to-register",
            |b, s| b.events_to_register(s),
            Ok,
        )
    }

    /// A queueing hint: does `event` help `pod`, which this plugin
    /// rejected? `ctx.cycle` is a cycle of the pod's own, ended here.
    pub fn hint(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        event: ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<Result<QueueingHint, String>, PluginError> {
        let result = self.call(
            worker,
            ctx,
            Some(pod),
            "hint",
            |b, s| b.hint(s, ctx.cycle, event, old, new),
            Ok,
        );
        let ended = self.cycle_end(worker, ctx.cycle);
        let hint = result?;
        ended.map(|()| hint)
    }

    /// Tells the worker's instance that `cycle` is over, if it was sent the
    /// cycle's pod: the framework ends every cycle on every plugin, and
    /// only the instances that took part are called.
    pub fn cycle_end(&self, worker: usize, cycle: u64) -> Result<(), PluginError> {
        self.on_cycle(worker, "cycle-end", cycle, |live| {
            live.cycles.remove(&cycle);
            live.bindings.cycle_end(&mut live.store, cycle)
        })
    }

    /// A lifecycle call about `cycle` on the worker's instance. Nothing is
    /// called (or counted toward quarantine) unless the instance was sent
    /// the cycle's pod: one that never was, or was dropped since after a
    /// fault, keeps nothing for the cycle. The instance is dropped if the
    /// call faults.
    fn on_cycle(
        &self,
        worker: usize,
        name: &'static str,
        cycle: u64,
        f: impl FnOnce(&mut Live) -> wasmtime::Result<()>,
    ) -> Result<(), PluginError> {
        let mut slot = self.lock(worker);
        let Some(live) = slot
            .as_mut()
            .filter(|live| live.cycles.contains_key(&cycle))
        else {
            return Ok(());
        };
        live.store
            .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        let result = f(live).map_err(|e| self.fault(name, e));
        if result.is_err() {
            *slot = None;
        }
        drop(slot);
        self.record(&result);
        result
    }

    /// The largest linear memory the worker's instance has had, in bytes
    /// (`None` while it has none).
    pub fn peak_memory(&self, worker: usize) -> Option<usize> {
        self.lock(worker)
            .as_ref()
            .map(|live| live.store.data().memory.peak_bytes)
    }

    fn checked_scores(
        &self,
        call: &'static str,
        scores: Result<Vec<i64>, String>,
        expected: usize,
    ) -> Result<Vec<i64>, PluginError> {
        match scores {
            Ok(s) if s.len() == expected => Ok(s),
            Ok(s) => Err(self.invalid(call, format!("{} scores for {expected} nodes", s.len()))),
            Err(reason) => Err(PluginError::Failed {
                plugin: self.name().to_string(),
                call,
                reason,
            }),
        }
    }

    fn check_range(
        &self,
        call: &'static str,
        ctx: CallContext<'_>,
        nodes: &[NodeId],
        scores: &[i64],
    ) -> Result<(), PluginError> {
        match nodes
            .iter()
            .zip(scores)
            .find(|(_, score)| !(0..=MAX_NODE_SCORE).contains(*score))
        {
            Some((node, score)) => {
                let name = ctx.snapshot.node(*node).map_or("?", |n| n.name.as_str());
                Err(self.invalid(
                    call,
                    format!("{score} for node {name}, outside 0..={MAX_NODE_SCORE}"),
                ))
            }
            None => Ok(()),
        }
    }

    fn invalid(&self, call: &'static str, detail: String) -> PluginError {
        PluginError::InvalidResult {
            plugin: self.name().to_string(),
            call,
            detail,
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error to return instead of calling, while quarantined.
    fn quarantined(&self, now: Instant) -> Option<PluginError> {
        let health = self.health();
        let until = health.quarantined_until.filter(|until| *until > now)?;
        Some(PluginError::Quarantined {
            plugin: self.name().to_string(),
            remaining_ms: (until - now).as_millis(),
            faults: health.faults,
            last: health.last_fault.clone(),
        })
    }

    /// Counts a call's result toward (or out of) quarantine.
    fn record<R>(&self, result: &Result<R, PluginError>) {
        let mut health = self.health();
        match result {
            Err(error) if error.is_fault() => {
                crate::metrics::record_plugin_fault(self.name(), error.kind());
                health.faults += 1;
                health.last_fault = error.to_string();
                let quarantine = self.settings.quarantine;
                if health.faults >= quarantine.after_faults {
                    health.quarantined_until = Some(Instant::now() + quarantine.backoff);
                    let notice = format!(
                        "plugin {} ({}) quarantined for {:?} after {} faults in a row; last: {}",
                        self.name(),
                        self.plugin.digest,
                        quarantine.backoff,
                        health.faults,
                        health.last_fault
                    );
                    tracing::warn!(plugin = self.name(), "{notice}");
                    health.unreported = Some(notice);
                    crate::metrics::record_plugin_quarantine(self.name(), true);
                }
            }
            _ => {
                if health.quarantined_until.is_some() {
                    crate::metrics::record_plugin_quarantine(self.name(), false);
                }
                health.faults = 0;
                health.quarantined_until = None;
            }
        }
    }

    fn lock(&self, worker: usize) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.slots[worker % self.slots.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates and configures an instance.
    fn start(&self) -> Result<Live, PluginError> {
        let mut state = HostState::new(self.name().into(), self.limits);
        if let Some(services) = &self.services {
            state.waiting = Some(services.waiting.clone());
            state.resource_claims = Some(services.resource_claims.clone());
        }
        let (mut store, bindings) =
            self.plugin
                .instantiate(state)
                .map_err(|e| PluginError::Instantiate {
                    plugin: self.name().to_string(),
                    detail: format!("{e:#}"),
                })?;
        store.set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        let configured = bindings
            .configure(&mut store, &self.args)
            .map_err(|e| self.fault("configure", e))?;
        configured.map_err(|detail| PluginError::Configure {
            plugin: self.name().to_string(),
            detail,
        })?;
        Ok(Live {
            store,
            bindings,
            synced: None,
            cycles: HashMap::new(),
        })
    }

    /// Runs one call on the worker's instance, unless the plugin is
    /// quarantined, and checks its result; counts faults.
    fn call<R, T>(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: Option<&Pod>,
        name: &'static str,
        f: impl FnOnce(&Exports, &mut Store<HostState>) -> wasmtime::Result<R>,
        check: impl FnOnce(R) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        if let Some(error) = self.quarantined(Instant::now()) {
            return Err(error);
        }
        let result = self.call_live(worker, ctx, pod, name, f).and_then(check);
        self.record(&result);
        result
    }

    /// Runs one call on the worker's instance, after bringing it up to
    /// date and, for a call of a cycle (`pod`), sending it the cycle's pod
    /// if it has not got it yet; drops the instance if the call faults.
    fn call_live<R>(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: Option<&Pod>,
        name: &'static str,
        f: impl FnOnce(&Exports, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut slot = self.lock(worker);
        let live = match slot.as_mut() {
            Some(live) => live,
            None => slot.insert(self.start()?),
        };
        let synced = match ctx.cache {
            Some(cache) => self.sync(live, cache),
            None => Ok(()),
        };
        let started = synced.and_then(|()| match pod {
            Some(pod)
                if live.bindings.takes_cycle_start()
                    && live.cycles.get(&ctx.cycle) != Some(&pod.uid) =>
            {
                live.store
                    .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
                live.bindings
                    .cycle_start(&mut live.store, ctx.cycle, pod)
                    .map_err(|e| self.fault("cycle-start", e))?;
                live.cycles.insert(ctx.cycle, pod.uid.clone());
                Ok(())
            }
            _ => Ok(()),
        });
        let result = started.and_then(|()| {
            let state = live.store.data_mut();
            state.pod = Some(ctx.pod.clone());
            state.snapshot = Some(ctx.snapshot.clone());
            state.pod_group = ctx.cache.and_then(|cache| cache.pod_group_of(ctx.pod));
            state.volumes = ctx.snapshot.volumes.clone();
            live.store
                .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
            f(&live.bindings, &mut live.store).map_err(|e| self.fault(name, e))
        });
        if result.is_err() {
            *slot = None;
        }
        result
    }

    fn sync(&self, live: &mut Live, cache: &Cache) -> Result<(), PluginError> {
        let full;
        let changes = match cache.catchup(live.synced) {
            Catchup::Changes(changes) => changes,
            Catchup::Full(changes) => {
                full = changes;
                &full[..]
            }
        };
        self.apply(live, changes)?;
        live.synced = Some(cache.seq());
        Ok(())
    }

    /// Sends `changes` to the instance. A new instance's first sync carries
    /// the whole cluster: in chunks, each with the call deadline, so that
    /// the deadline bounds a call's work and not the cluster's size.
    fn apply(&self, live: &mut Live, changes: &[Change]) -> Result<(), PluginError> {
        for chunk in changes.chunks(APPLY_CHUNK) {
            live.store
                .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
            live.bindings
                .apply(&mut live.store, chunk)
                .map_err(|e| self.fault("apply", e))?;
        }
        Ok(())
    }

    /// The workers whose instance is running: those the scheduling loop
    /// has used, which a version that replaces this one warms.
    pub fn live_workers(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&worker| self.lock(worker).is_some())
            .collect()
    }

    /// Starts the `workers`' instances and gives each `state`, the whole
    /// cluster as of cache sequence `seq` ([`Cache::state`]), off the
    /// scheduling loop: a version swapped in afterwards only catches up on
    /// what changed since, so its first calls cost no more than anyone's.
    /// A worker whose instance cannot start or faults is left empty; its
    /// first call starts it again and reports the fault as calls do.
    /// Stops once `superseded` is set.
    pub fn warm(&self, workers: &[usize], state: &[Change], seq: u64, superseded: &AtomicBool) {
        for &worker in workers.iter().filter(|w| **w < self.slots.len()) {
            if superseded.load(Ordering::Relaxed) {
                return;
            }
            let mut slot = self.lock(worker);
            if slot.as_ref().is_some_and(|live| live.synced.is_some()) {
                continue;
            }
            let started = match slot.take() {
                Some(live) => Ok(live),
                None => self.start(),
            };
            let warmed = started.and_then(|mut live| {
                self.apply(&mut live, state)?;
                live.synced = Some(seq);
                Ok(live)
            });
            match warmed {
                Ok(live) => *slot = Some(live),
                Err(error) => tracing::debug!(%error, worker, "instance not warmed"),
            }
        }
    }

    /// Names what went wrong in a call that returned an error.
    fn fault(&self, call: &'static str, error: wasmtime::Error) -> PluginError {
        let plugin = self.name().to_string();
        if error.downcast_ref::<MemoryLimitHit>().is_some()
            || error
                .chain()
                .any(|e| e.downcast_ref::<MemoryLimitHit>().is_some())
        {
            return PluginError::MemoryLimit {
                plugin,
                call,
                limit_bytes: self.limits.memory_bytes,
            };
        }
        if let Some(GuestFailure(message)) =
            error.chain().find_map(|e| e.downcast_ref::<GuestFailure>())
        {
            return PluginError::Panicked {
                plugin,
                call,
                message: message.clone(),
            };
        }
        // The trap sits under the wasm backtrace wasmtime wraps it in.
        let trap = error
            .downcast_ref::<Trap>()
            .or_else(|| error.chain().find_map(|e| e.downcast_ref::<Trap>()));
        match trap {
            Some(Trap::Interrupt) => PluginError::Deadline {
                plugin,
                call,
                timeout_ms: self.limits.call_timeout.as_millis(),
            },
            // One line (`wasm `unreachable` instruction executed`), without
            // the backtrace.
            Some(trap) => PluginError::Trap {
                plugin,
                call,
                detail: trap.to_string(),
            },
            // An import the world does not grant, linked to trap (a Rust
            // panic's message goes to WASI stderr, for one).
            None if let Some(import) = ungranted_import(&error) => PluginError::Trap {
                plugin,
                call,
                detail: format!("called {import}, which the host does not grant"),
            },
            // Not a trap: the guest's answer could not be read (an enum
            // case or a string that is not one, a list out of bounds).
            None => PluginError::InvalidResult {
                plugin,
                call,
                detail: format!("{error:#}"),
            },
        }
    }
}

/// The import named by wasmtime's error for a call to an import that
/// `define_unknown_imports_as_traps` stood in for.
fn ungranted_import(error: &wasmtime::Error) -> Option<String> {
    let cause = error.root_cause().to_string();
    let rest = cause.strip_prefix("unknown import: ")?;
    Some(rest.split(" has not been defined").next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::{Code, Status};

    fn rejected(node: NodeId) -> NodeStatus {
        NodeStatus {
            node,
            status: Status {
                code: Code::Unschedulable,
                reasons: vec!["no".into()],
            },
        }
    }

    #[test]
    fn statuses_about_nodes_not_asked_about_are_found_in_any_order() {
        let nodes = [4, 7, 9, 12];
        let in_order: Vec<_> = [4, 9, 12].map(rejected).into();
        assert_eq!(first_not_asked(&nodes, &in_order), None);
        let shuffled: Vec<_> = [12, 4, 7].map(rejected).into();
        assert_eq!(first_not_asked(&nodes, &shuffled), None);
        let stranger: Vec<_> = [7, 8].map(rejected).into();
        assert_eq!(first_not_asked(&nodes, &stranger), Some(8));
        let twice_then_stranger: Vec<_> = [9, 4, 5].map(rejected).into();
        assert_eq!(first_not_asked(&nodes, &twice_then_stranger), Some(5));
    }
}
