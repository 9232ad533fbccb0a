//! What the host offers a plugin: its log, and the full JSON of the objects
//! for fields the typed records lack.
//!
//! Natively (unit tests, benchmarks) there is no host: logs go to `tracing`
//! with target `kws_plugin`, and there is no apiserver JSON to return.

pub use crate::bindings::kws::scheduler::host::Level;
use crate::{NodeId, WaitingPod};

/// Writes to the host's log; the host tags it with the plugin's name.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::kws::scheduler::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    match level {
        Level::Trace => tracing::trace!(target: "kws_plugin", "{message}"),
        Level::Debug => tracing::debug!(target: "kws_plugin", "{message}"),
        Level::Info => tracing::info!(target: "kws_plugin", "{message}"),
        Level::Warn => tracing::warn!(target: "kws_plugin", "{message}"),
        Level::Error => tracing::error!(target: "kws_plugin", "{message}"),
    }
}

pub fn debug(message: &str) {
    log(Level::Debug, message)
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// The pod being scheduled, as the apiserver's JSON. `None` natively.
pub fn pod_json() -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return Some(crate::bindings::kws::scheduler::host::pod_json());
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// A node's full JSON object. `None` for an unknown id, and natively.
pub fn node_json(node: NodeId) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::node_json(node);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = node;
        None
    }
}

/// The pods of this plugin's profile held at permit. Empty natively.
pub fn waiting_pods() -> Vec<WaitingPod> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::waiting_pods();
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}

/// Allows a pod this plugin held at permit; false when no such pod waits
/// (and natively).
pub fn allow_waiting_pod(uid: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::allow_waiting_pod(uid);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = uid;
        false
    }
}

/// Rejects a pod held at permit: it is unreserved and requeued with
/// `message`; false when no such pod waits (and natively).
pub fn reject_waiting_pod(uid: &str, message: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::reject_waiting_pod(uid, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (uid, message);
        false
    }
}
