//! What a plugin instance may call: the `kws:scheduler/host` interface, and
//! nothing else. Per-store state lives here.

use crate::cache::Snapshot;
use crate::wit::{self, Level};
use k8s_openapi::api::core::v1 as core;
use std::sync::Arc;
use wasmtime::ResourceLimiter;

/// The state of one plugin instance's store.
pub struct HostState {
    /// The plugin's name, to tag its log lines.
    pub plugin: Arc<str>,
    pub memory: MemoryCap,
    /// The pod of the call in progress (for `pod-json`).
    pub pod: Option<Arc<core::Pod>>,
    /// The cycle's nodes (for `node-json`).
    pub snapshot: Option<Arc<Snapshot>>,
}

impl wit::kws::scheduler::types::Host for HostState {}

impl wit::kws::scheduler::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn pod_json(&mut self) -> String {
        self.pod
            .as_ref()
            .and_then(|p| serde_json::to_string(&**p).ok())
            .unwrap_or_default()
    }

    fn node_json(&mut self, node: wit::NodeId) -> Option<String> {
        let snapshot = self.snapshot.as_ref()?;
        serde_json::to_string(&*snapshot.node(node)?.object).ok()
    }
}

/// Caps an instance's linear memory. Growing past the cap traps with
/// [`MemoryLimitHit`], so the host can tell this fault from others.
pub struct MemoryCap {
    pub limit_bytes: usize,
}

/// The trap a [`MemoryCap`] raises.
#[derive(Debug, thiserror::Error)]
#[error("memory would grow to {desired} bytes, past the limit of {limit} bytes")]
pub struct MemoryLimitHit {
    pub desired: usize,
    pub limit: usize,
}

/// Table elements an instance may have: generous for real code, a bound
/// for runaway growth.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            return Err(wasmtime::Error::new(MemoryLimitHit {
                desired,
                limit: self.limit_bytes,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
