//! Helpers for the end-to-end tests in `e2e/`: where the plugin components
//! are, loaded once per test binary, and a real test cluster to run
//! against ([`cluster`]) and the objects and checks its tests share
//! ([`api`]), random scheduling scenarios for the parity test
//! ([`scenario`], with volumes and devices from [`storage_scenario`]), mutated manifests for the test of the manifest
//! reader against the apiserver ([`manifest_mutations`]), and a strict
//! reader of the Prometheus text format for scraped metrics
//! ([`prom_text`]).

pub mod api;
pub mod cluster;
pub mod framework_fixture;
pub mod manifest_mutations;
pub mod placements;
pub mod prom_text;
pub mod rng;
pub mod scenario;
pub mod scenario_parity;
pub mod storage_scenario;

use kws_host::runtime::{self, LoadedPlugin};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// The workspace root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is one level below the workspace root")
}

/// A directory of built components: `$KWS_PLUGIN_DIR` for `plugins`, else
/// `<target-dir>/<name>` found above the test executable.
pub fn component_dir(name: &str) -> PathBuf {
    if name == "plugins"
        && let Some(dir) = std::env::var_os("KWS_PLUGIN_DIR")
    {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test knows its executable");
    exe.ancestors()
        .map(|dir| dir.join(name))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no {name}/ directory of components above {}: run `cargo xtask plugins` first",
                exe.display()
            )
        })
}

/// The default plugins, compiled once per test binary.
pub fn plugins() -> &'static [Arc<LoadedPlugin>] {
    static PLUGINS: OnceLock<Vec<Arc<LoadedPlugin>>> = OnceLock::new();
    PLUGINS.get_or_init(|| {
        let dir = component_dir("plugins");
        let (plugins, refused) = runtime::load_dir(&dir).expect("the plugin directory is readable");
        assert!(refused.is_empty(), "plugins refused: {refused:?}");
        plugins
    })
}

/// The misbehaving `Faulty` fixture plugin.
pub fn faulty() -> Arc<LoadedPlugin> {
    static FAULTY: OnceLock<Arc<LoadedPlugin>> = OnceLock::new();
    FAULTY
        .get_or_init(|| {
            let file = component_dir("test-plugins").join("faulty.wasm");
            Arc::new(LoadedPlugin::load(&file).unwrap_or_else(|e| panic!("{e}")))
        })
        .clone()
}

/// A fixture plugin from `tests/fixtures/`, by its file name (`framework`
/// for `framework.wasm`), compiled once per test binary.
pub fn fixture(name: &str) -> Arc<LoadedPlugin> {
    static FIXTURES: std::sync::Mutex<Vec<(String, Arc<LoadedPlugin>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut loaded = FIXTURES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, plugin)) = loaded.iter().find(|(n, _)| n == name) {
        return plugin.clone();
    }
    let file = component_dir("test-plugins").join(format!("{name}.wasm"));
    let plugin = Arc::new(LoadedPlugin::load(&file).unwrap_or_else(|e| panic!("{e}")));
    loaded.push((name.to_string(), plugin.clone()));
    plugin
}

/// Writes `bytes` to `dir/name` as a careful writer does: staged under a
/// hidden name, then renamed into place, so a watcher never sees half of it.
pub fn rename_into(dir: &Path, name: &str, bytes: &[u8]) {
    let staged = dir.join(format!(".{name}.tmp"));
    std::fs::write(&staged, bytes).unwrap_or_else(|e| panic!("{}: {e}", staged.display()));
    std::fs::rename(&staged, dir.join(name)).unwrap();
}

/// The `kube-wasm-scheduler` binary beside the test executable, built if
/// this run did not build it.
pub fn scheduler_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in <target>/<profile>/deps");
    let binary = profile_dir.join("kube-wasm-scheduler");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "build",
                "--package",
                "kws-host",
                "--bin",
                "kube-wasm-scheduler",
            ])
            .status()
            .unwrap();
        assert!(status.success(), "building kube-wasm-scheduler failed");
    }
    binary
}
