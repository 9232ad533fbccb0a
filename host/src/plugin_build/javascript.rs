//! JavaScript: componentize-qjs (QuickJS), every WASI import replaced by a
//! trap, no component-model async.
//!
//! `package.json` names the entry module (`main`), and may name in `config`
//! a WIT directory (`wit`) and the directory imports resolve within
//! (`moduleRoot`, default the folder), both relative to the folder.

use super::tools::{announce, componentize, needed, run};
use super::{AtPath, BuildError, WORLD};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned build tools a folder without a `package-lock.json` of its own
/// is built with: the JavaScript example's.
const PACKAGE_JSON: &str = include_str!("../../../plugins/examples/javascript/package.json");
const PACKAGE_LOCK: &str = include_str!("../../../plugins/examples/javascript/package-lock.json");

pub(super) fn package_json(source: &Path) -> Result<serde_json::Value, BuildError> {
    let manifest = source.join("package.json");
    serde_json::from_slice(&std::fs::read(&manifest).at(&manifest)?).map_err(|e| {
        BuildError::Folder {
            file: manifest,
            problem: e.to_string(),
        }
    })
}

/// Where the folder's imports resolve: `config.moduleRoot`, else the folder.
pub(super) fn module_root(source: &Path) -> Result<PathBuf, BuildError> {
    Ok(
        match package_json(source)?["config"]["moduleRoot"].as_str() {
            Some(root) => source.join(root),
            None => source.to_path_buf(),
        },
    )
}

/// Installs the npm packages of the folder's `package-lock.json` (or the
/// pinned one) under `<cache>/tools/javascript`, again only when the lock
/// changes; returns the lock, which names the tools' versions.
pub(super) fn tools(source: &Path, cache: &Path) -> Result<String, BuildError> {
    needed(
        Command::new("node").arg("--version"),
        "JavaScript",
        "Node.js 20 or later with npm",
    )?;
    let tools = cache.join("tools/javascript");
    let (manifest, lock) = if source.join("package-lock.json").exists() {
        let read = |name: &str| {
            let file = source.join(name);
            std::fs::read_to_string(&file).at(&file)
        };
        (read("package.json")?, read("package-lock.json")?)
    } else {
        (PACKAGE_JSON.to_string(), PACKAGE_LOCK.to_string())
    };
    if std::fs::read_to_string(tools.join("package-lock.json")).ok() != Some(lock.clone())
        || !cli(cache).exists()
    {
        std::fs::create_dir_all(&tools).at(&tools)?;
        std::fs::write(tools.join("package.json"), manifest).at(&tools)?;
        std::fs::write(tools.join("package-lock.json"), &lock).at(&tools)?;
        announce(&format!(
            "installing componentize-qjs into {} (npm ci; a minute)",
            tools.display()
        ));
        needed(
            Command::new("npm").arg("--version"),
            "JavaScript",
            "npm (it comes with Node.js)",
        )?;
        run(Command::new("npm")
            .current_dir(&tools)
            .args(["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(lock)
}

fn cli(cache: &Path) -> PathBuf {
    cache.join("tools/javascript/node_modules/componentize-qjs/cli.mjs")
}

pub(super) fn build(
    wit: &Path,
    source: &Path,
    cache: &Path,
    work: &Path,
) -> Result<Vec<u8>, BuildError> {
    let package = package_json(source)?;
    let entry = package["main"].as_str().ok_or_else(|| BuildError::Folder {
        file: source.join("package.json"),
        problem: "`main` names the entry module".to_string(),
    })?;
    componentize(
        Command::new("node")
            .current_dir(source)
            .arg(cli(cache))
            .arg("--wit")
            .arg(wit)
            .arg("--module-root")
            .arg(module_root(source)?)
            .args(["--world", WORLD, "--js", entry, "--stub-wasi", "--sync"]),
        work,
    )
}
