//! Go: big Go for `GOOS=wasip1` as a reactor, the `plugin` world embedded
//! (only the interfaces the module exports), and a deny-all WASI adapter in
//! place of `wasi_snapshot_preview1`.

use super::component::{component_new, embed, keep_interfaces, module_exports, world};
use super::tools::{needed, run};
use super::{AtPath, BuildError};
use std::path::Path;
use std::process::Command;

/// The deny-all `wasi_snapshot_preview1` adapter a folder without a
/// `wasi-stub.wat` of its own gets: every WASI call fails, none traps.
const WASI_STUB: &str = include_str!("../../../plugins/examples/go/wasi-stub.wat");

pub(super) fn tools() -> Result<String, BuildError> {
    needed(
        Command::new("go").arg("version"),
        "Go",
        "Go 1.24 or later (https://go.dev/dl); the `toolchain` line of go.mod pins the version used",
    )
}

pub(super) fn build(wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>, BuildError> {
    let core = work.join("core.wasm");
    run(Command::new("go")
        .current_dir(source)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .args(["build", "-trimpath", "-buildmode=c-shared", "-o"])
        .arg(&core)
        .arg("."))?;
    let mut module = std::fs::read(&core).at(&core)?;
    let (mut resolve, world) = world(wit)?;
    let exports = module_exports(&module)?;
    keep_interfaces(&mut resolve, world, |full, _| {
        exports.iter().any(|e| e.starts_with(&format!("{full}#")))
    })?;
    embed(&mut module, &resolve, world)?;
    let own = source.join("wasi-stub.wat");
    let stub = if own.exists() {
        std::fs::read_to_string(&own).at(&own)?
    } else {
        WASI_STUB.to_string()
    };
    Ok(component_new(&module, Some(&wasi_stub(&stub)?))?)
}

/// The adapter: the WAT module with an empty world attached, as
/// `wasm-tools component embed` would.
fn wasi_stub(wat: &str) -> anyhow::Result<Vec<u8>> {
    let mut module = wat::parse_str(wat)?;
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("wasi-stub.wit", "package kws:wasi-stub;\nworld stub {}\n")?;
    let world = resolve.select_world(&[package], Some("stub"))?;
    embed(&mut module, &resolve, world)?;
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wit_parser::{SizeAlign, Type, TypeDefKind};

    /// The Go helper reads records at offsets written by hand in
    /// `kws/abi.go`; they must be the canonical ABI's for the current WIT.
    #[test]
    fn go_abi_offsets_follow_the_wit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let (resolve, _) = world(&root.join("wit")).unwrap();
        let mut sizes = SizeAlign::default();
        sizes.fill(&resolve).unwrap();
        let named = |name: &str| {
            let (id, _) = resolve
                .types
                .iter()
                .find(|(_, t)| t.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no WIT type {name}"));
            Type::Id(id)
        };
        let field = |record: &str, field: &str| {
            let Type::Id(id) = named(record) else {
                unreachable!()
            };
            let TypeDefKind::Record(r) = &resolve.types[id].kind else {
                panic!("{record} is not a record");
            };
            let types: Vec<Type> = r.fields.iter().map(|f| f.ty).collect();
            let index = r.fields.iter().position(|f| f.name == field).unwrap();
            sizes.field_offsets(&types)[index].0.size_wasm32()
        };
        let (pod, node) = (named("pod"), named("node"));
        let expected = BTreeMap::from([
            ("podNamespace", field("pod", "namespace")),
            ("podName", field("pod", "name")),
            ("podLabels", field("pod", "labels")),
            ("podAnnotations", field("pod", "annotations")),
            (
                "cycleStartPod",
                sizes.field_offsets(&[Type::U64, pod])[1].0.size_wasm32(),
            ),
            ("changeSize", sizes.size(&named("change")).size_wasm32()),
            // One tag byte, then the payload at the variant's alignment.
            (
                "changePayload",
                sizes.align(&named("change")).align_wasm32(),
            ),
            (
                "nodeSetNode",
                sizes.field_offsets(&[Type::U32, node])[1].0.size_wasm32(),
            ),
            ("nodeName", field("node", "name")),
            ("nodeLabels", field("node", "labels")),
            (
                "pairSize",
                sizes
                    .record(&[Type::String, Type::String])
                    .size
                    .size_wasm32(),
            ),
            (
                "nodeStatusSize",
                sizes.size(&named("node-status")).size_wasm32(),
            ),
        ]);
        let go = std::fs::read_to_string(root.join("plugins/examples/go/kws/abi.go")).unwrap();
        let written: BTreeMap<&str, usize> = go
            .lines()
            .filter_map(|line| {
                let (name, value) = line.trim().split_once('=')?;
                let value = value.split("//").next()?.trim().parse().ok()?;
                Some((name.trim(), value))
            })
            .collect();
        for (name, offset) in expected {
            assert_eq!(
                written.get(name),
                Some(&offset),
                "plugins/examples/go/kws/abi.go: {name} must be {offset} for wit/scheduler.wit"
            );
        }
    }
}
