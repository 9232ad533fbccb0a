//! Rust: `cargo build --release --target wasm32-wasip2`, which links a
//! component directly. Cargo's target directory is the folder's `target/`,
//! or `CARGO_TARGET_DIR`; the component is found from cargo's messages.

use super::tools::{capture, needed, run, version};
use super::{AtPath, BuildError};
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Checks cargo, and adds the `wasm32-wasip2` target through rustup when
/// the toolchain lacks it; returns rustc's version.
pub(super) fn tools() -> Result<String, BuildError> {
    needed(
        Command::new(cargo()).arg("--version"),
        "Rust",
        "Rust 1.95 or later through rustup (https://rustup.rs)",
    )?;
    let rustc = needed(Command::new("rustc").arg("--version"), "Rust", "rustup")?;
    let sysroot = version(Command::new("rustc").args(["--print", "sysroot"])).unwrap_or_default();
    if !Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .exists()
    {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    Ok(rustc)
}

pub(super) fn build(source: &Path) -> Result<Vec<u8>, BuildError> {
    let messages = capture(
        Command::new(cargo())
            .current_dir(source)
            .args(["build", "--lib", "--release", "--target", TARGET])
            .arg("--message-format=json-render-diagnostics"),
    )?;
    let component = messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["manifest_path"].as_str().map(Path::new) == Some(&source.join("Cargo.toml"))
        })
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .find(|f| f.extension().is_some_and(|x| x == "wasm"))
        .ok_or_else(|| BuildError::Folder {
            file: source.join("Cargo.toml"),
            problem: "cargo built no .wasm: the package needs `crate-type = [\"cdylib\"]`"
                .to_string(),
        })?;
    std::fs::read(&component).at(&component)
}
