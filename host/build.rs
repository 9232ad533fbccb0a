//! Builds the default plugins (every crate under `plugins/` but the
//! examples) as components and embeds them, so the binary schedules with
//! no plugin directory. They are built by a nested `cargo build` for
//! `wasm32-wasip2` with the `plugin` profile, into `<target-dir>/components`:
//! the outer build holds the lock on its own target directory, and
//! `cargo xtask plugins` builds into the same place, so each component is
//! compiled once for both.

use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-wasip2";

fn main() {
    let host = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = host
        .parent()
        .expect("the host crate lives in the workspace");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    for watched in ["plugins", "plugin-sdk", "wit", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let crates = default_plugin_crates(&root.join("plugins"));
    let target_dir = components_dir(&out);
    build(root, &target_dir, &crates);
    let built = target_dir.join(WASM_TARGET).join("plugin");
    let mut table = String::from("&[\n");
    for (package, file_stem) in &crates {
        let artifact = built.join(format!("{}.wasm", package.replace('-', "_")));
        table.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            format!("{file_stem}.wasm"),
            artifact.display().to_string()
        ));
    }
    table.push(']');
    std::fs::write(out.join("builtin_plugins.rs"), table).expect("OUT_DIR is writable");
}

/// `(package, file stem)` of each default plugin: `plugins/<dir>` with a
/// `kws-plugin-<dir>` package, sorted; `plugins/examples` holds examples.
fn default_plugin_crates(plugins: &Path) -> Vec<(String, String)> {
    let mut crates: Vec<(String, String)> = std::fs::read_dir(plugins)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", plugins.display()))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|dir| dir != "examples" && plugins.join(dir).join("Cargo.toml").is_file())
        .map(|dir| (format!("kws-plugin-{dir}"), dir))
        .collect();
    crates.sort();
    crates
}

/// `<target-dir>/components`: the target directory is the ancestor of
/// `OUT_DIR` that cargo marked with `CACHEDIR.TAG`.
fn components_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map_or_else(|| out.join("components"), |dir| dir.join("components"))
}

fn build(root: &Path, target_dir: &Path, crates: &[(String, String)]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--profile", "plugin", "--target", WASM_TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags and wrappers (clippy's driver, coverage
        // flags) are for the host, not for the components.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR");
    for (package, _) in crates {
        command.args(["--package", package]);
    }
    // Cargo reads a build script's stdout for instructions: the nested
    // build's output goes to stderr.
    let status = command
        .stdout(std::io::stderr())
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the default plugins: {e}"));
    if !status.success() {
        panic!(
            "building the default plugins for {WASM_TARGET} failed ({status}); \
             if the target is missing: rustup target add {WASM_TARGET} \
             (`cargo xtask plugins` adds it, from ../shared/toolchain when offline)"
        );
    }
}
