//! `cargo xtask examples`: builds the example policy (LabelZone) of every
//! language under `plugins/examples/` into
//! `<target-dir>/example-plugins/<language>.wasm` (and a policy of your own
//! in a folder beside them into `<folder>.wasm`), and the fixture plugins
//! written in those languages under `tests/fixtures/` into
//! `<target-dir>/test-plugins/<folder>.wasm`.
//!
//! Rust is a workspace member built with the other component crates. Every
//! other folder is built by the scheduler's own `plugin build` (the
//! binary's `host/src/plugin_build`, what plugin authors run), with its
//! pinned tools under `$KWS_CACHE` and its intermediate files under
//! `<target-dir>/examples-build/<folder>`; it rebuilds a folder only when
//! its sources, the WIT or its tools change. A JavaScript fixture names in
//! its `package.json` another WIT directory (`config.wit`) or the directory
//! its imports resolve within (`config.moduleRoot`), relative to itself.

use crate::{run, step};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Builds every example folder under `plugins/examples/` that is not a Rust
/// crate into `<target_dir>/example-plugins/<folder>.wasm` (Rust's are put
/// there by the component build), and every such folder under
/// `tests/fixtures/` into `<target_dir>/test-plugins/<folder>.wasm`; returns
/// the examples' directory.
pub fn build(root: &Path, target_dir: &Path) -> Result<PathBuf> {
    crate::build_scheduler(root)?;
    let binary = target_dir.join("debug/kube-wasm-scheduler");
    let examples = target_dir.join("example-plugins");
    for (within, out) in [
        ("plugins/examples", examples.clone()),
        ("tests/fixtures", target_dir.join("test-plugins")),
    ] {
        std::fs::create_dir_all(&out)?;
        for source in folders(&root.join(within))? {
            let name = source.file_name().unwrap_or_default().to_string_lossy();
            let relative = source.strip_prefix(root).unwrap_or(&source).display();
            step(&format!("plugin build {relative}"), "", || {
                run(Command::new(&binary)
                    .env("KWS_CACHE", cache_dir())
                    .args(["plugin", "build"])
                    .arg(&source)
                    .arg("--target-dir")
                    .arg(target_dir.join("examples-build").join(name.as_ref()))
                    .arg("--into")
                    .arg(&out)
                    .stdout(Stdio::null()))
            })?;
        }
    }
    eprintln!("examples ready in {}", examples.display());
    Ok(examples)
}

/// The folders of `dir` that `plugin build` builds here, sorted: those
/// with a `go.mod`, `package.json`, `requirements.txt` or `.c` file, and
/// no `Cargo.toml` (a workspace member, built with the component crates).
fn folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let folder = entry?.path();
        if !folder.is_dir() || folder.join("Cargo.toml").exists() {
            continue;
        }
        let built = std::fs::read_dir(&folder)?.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            ["go.mod", "package.json", "requirements.txt"].contains(&name.as_str())
                || name.ends_with(".c")
        });
        if built {
            folders.push(folder);
        }
    }
    folders.sort();
    Ok(folders)
}

/// `$KWS_CACHE`, else `~/.cache/kws`: where CI keeps the pinned tools.
fn cache_dir() -> PathBuf {
    std::env::var_os("KWS_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kws"),
        PathBuf::from,
    )
}
