//! Live instances of one configured plugin, one per scheduling worker.
//!
//! An instance is created on first use from the pre-instantiated component,
//! configured with the profile's args, and brought up to date with the
//! cache before every call. After a trap, a missed deadline or a memory-cap
//! hit its store is unusable, so it is dropped; the next call starts a fresh
//! one (with a full resync of the cluster state).

use super::{HostState, Limits, LoadedPlugin, MemoryLimitHit, deadline_ticks};
use crate::cache::{Cache, Catchup, Snapshot};
use crate::wit::{NodeId, NodeStatus, Plugin, Pod};
use k8s_openapi::api::core::v1 as core;
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime::{Store, Trap};

/// What a call needs from the scheduling cycle.
#[derive(Clone, Copy)]
pub struct CallContext<'a> {
    /// To bring the instance's copy of the cluster up to date.
    pub cache: &'a Cache,
    pub snapshot: &'a Arc<Snapshot>,
    pub pod: &'a Arc<core::Pod>,
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
}

struct Live {
    store: Store<HostState>,
    bindings: Plugin,
    /// The cache sequence number this instance has applied.
    synced: Option<u64>,
}

pub struct PluginPool {
    plugin: Arc<LoadedPlugin>,
    args: String,
    limits: Limits,
    slots: Vec<Mutex<Option<Live>>>,
}

impl PluginPool {
    /// A pool of `workers` instances of `plugin` configured with `args`
    /// (JSON). One instance is created now, so bad args are reported at
    /// startup rather than on the first pod.
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        args: String,
        limits: Limits,
        workers: usize,
    ) -> Result<PluginPool, PluginError> {
        let pool = PluginPool {
            plugin,
            args,
            limits,
            slots: (0..workers.max(1)).map(|_| Mutex::new(None)).collect(),
        };
        let first = pool.start()?;
        *pool.lock(0) = Some(first);
        Ok(pool)
    }

    pub fn name(&self) -> &str {
        self.plugin.name()
    }

    pub fn plugin(&self) -> &LoadedPlugin {
        &self.plugin
    }

    /// Runs Filter over `nodes`; returns the nodes that did not pass.
    pub fn filter(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Vec<NodeStatus>, PluginError> {
        let statuses = self.call(worker, ctx, "filter", |b, s| {
            b.kws_scheduler_filter().call_filter(s, pod, nodes)
        })?;
        if let Some(bad) = statuses.iter().find(|s| !nodes.contains(&s.node)) {
            return Err(self.invalid(
                "filter",
                format!(
                    "a status for node id {}, which was not asked about",
                    bad.node
                ),
            ));
        }
        Ok(statuses)
    }

    /// Runs Score over `nodes`; one score per node, in order.
    pub fn score(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        pod: &Pod,
        nodes: &[NodeId],
    ) -> Result<Vec<i64>, PluginError> {
        let scores = self.call(worker, ctx, "score", |b, s| {
            b.kws_scheduler_score().call_score(s, pod, nodes)
        })?;
        self.checked_scores("score", scores, nodes.len())
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
        let scores = self.call(worker, ctx, "normalize-score", |b, s| {
            b.kws_scheduler_score()
                .call_normalize_score(s, pod, nodes, scores)
        })?;
        self.checked_scores("normalize-score", scores, nodes.len())
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

    fn invalid(&self, call: &'static str, detail: String) -> PluginError {
        PluginError::InvalidResult {
            plugin: self.name().to_string(),
            call,
            detail,
        }
    }

    fn lock(&self, worker: usize) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.slots[worker % self.slots.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates and configures an instance.
    fn start(&self) -> Result<Live, PluginError> {
        let (mut store, bindings) =
            self.plugin
                .instantiate(self.limits)
                .map_err(|e| PluginError::Instantiate {
                    plugin: self.name().to_string(),
                    detail: format!("{e:#}"),
                })?;
        store.set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        let configured = bindings
            .kws_scheduler_lifecycle()
            .call_configure(&mut store, &self.args)
            .map_err(|e| self.fault("configure", e))?;
        configured.map_err(|detail| PluginError::Configure {
            plugin: self.name().to_string(),
            detail,
        })?;
        Ok(Live {
            store,
            bindings,
            synced: None,
        })
    }

    /// Runs one call on the worker's instance, after bringing it up to
    /// date; drops the instance if the call faults.
    fn call<R>(
        &self,
        worker: usize,
        ctx: CallContext<'_>,
        name: &'static str,
        f: impl FnOnce(&Plugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let mut slot = self.lock(worker);
        let live = match slot.as_mut() {
            Some(live) => live,
            None => slot.insert(self.start()?),
        };
        let result = self.sync(live, ctx.cache).and_then(|()| {
            let state = live.store.data_mut();
            state.pod = Some(ctx.pod.clone());
            state.snapshot = Some(ctx.snapshot.clone());
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
        let lifecycle = live.bindings.kws_scheduler_lifecycle();
        live.store
            .set_epoch_deadline(deadline_ticks(self.limits.call_timeout));
        let applied = match cache.catchup(live.synced) {
            Catchup::Changes([]) => Ok(()),
            Catchup::Changes(changes) => lifecycle.call_apply(&mut live.store, changes),
            Catchup::Full(changes) => lifecycle.call_apply(&mut live.store, &changes),
        };
        applied.map_err(|e| self.fault("apply", e))?;
        live.synced = Some(cache.seq());
        Ok(())
    }

    /// Names what went wrong in a call that returned an error.
    fn fault(&self, call: &'static str, error: wasmtime::Error) -> PluginError {
        let plugin = self.name().to_string();
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return PluginError::Deadline {
                plugin,
                call,
                timeout_ms: self.limits.call_timeout.as_millis(),
            };
        }
        if error.downcast_ref::<MemoryLimitHit>().is_some() {
            return PluginError::MemoryLimit {
                plugin,
                call,
                limit_bytes: self.limits.memory_bytes,
            };
        }
        PluginError::Trap {
            plugin,
            call,
            detail: trap_summary(&error),
        }
    }
}

/// The trap's cause in one line (`wasm trap: wasm `unreachable` instruction
/// executed`), without the wasm backtrace wasmtime attaches.
fn trap_summary(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => format!("wasm trap: {trap}"),
        None => error.to_string(),
    }
}
