//! The `wasm-tools` steps, through their library crates: reading the
//! world, trimming it to what a module implements, embedding it, and
//! wrapping a core module into a component.

use super::WORLD;
use std::path::Path;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// A WIT package and its `plugin` world.
pub(super) fn world(wit: &Path) -> anyhow::Result<(Resolve, wit_parser::WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(wit)?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    Ok((resolve, world))
}

/// `wasm-tools component new`: wraps a core module that carries its world
/// (a `component-type` custom section) into a component.
pub(super) fn component_new(core: &[u8], adapter: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    let mut encoder = ComponentEncoder::default();
    encoder.module(core)?.validate(true);
    if let Some(adapter) = adapter {
        encoder.adapter("wasi_snapshot_preview1", adapter)?;
    }
    encoder.encode()
}

/// `wasm-tools component embed`: the world attached to a core module.
pub(super) fn embed(
    module: &mut Vec<u8>,
    resolve: &Resolve,
    world: wit_parser::WorldId,
) -> anyhow::Result<()> {
    wit_component::embed_component_metadata(module, resolve, world, StringEncoding::UTF8, false)
}

/// The names a core module exports.
pub(super) fn module_exports(module: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ExportSection(exports) = payload? {
            for export in exports {
                names.push(export?.name.to_string());
            }
        }
    }
    Ok(names)
}

/// Drops from `world` the exported interfaces `implemented` says no (given
/// the interface's full name, `kws:scheduler/filter@0.3.0`, and its own,
/// `filter`): the Go and C helpers implement the extension points they
/// support, and the host looks up no other.
pub(super) fn keep_interfaces(
    resolve: &mut Resolve,
    world: wit_parser::WorldId,
    implemented: impl Fn(&str, &str) -> bool,
) -> anyhow::Result<()> {
    let ids: Vec<_> = resolve.worlds[world]
        .exports
        .keys()
        .filter_map(|key| match key {
            wit_parser::WorldKey::Interface(id) => Some(*id),
            wit_parser::WorldKey::Name(_) => None,
        })
        .collect();
    for id in ids {
        let Some(full) = resolve.id_of(id) else {
            anyhow::bail!("the world's exports are named interfaces");
        };
        let name = resolve.interfaces[id].name.clone().unwrap_or_default();
        if !implemented(&full, &name) {
            resolve.worlds[world]
                .exports
                .shift_remove(&wit_parser::WorldKey::Interface(id));
        }
    }
    Ok(())
}
