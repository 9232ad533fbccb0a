//! Host bindings for the `kws:scheduler/plugin` world, generated from `wit/`.
//!
//! The record types double as the host's model of what a plugin sees: the
//! cache keeps nodes and pods in this form, so sending them to a plugin is a
//! single lowering with no conversion.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    additional_derives: [serde::Serialize, PartialEq],
});

pub use kws::scheduler::host::Level;
pub use kws::scheduler::types::*;
