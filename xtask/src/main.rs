//! Project tasks that need more than one cargo invocation.
//!
//! Plugins are WebAssembly components: they are built for `wasm32-wasip2`
//! with the `plugin` profile and copied, named after their crate, into
//! `<target-dir>/plugins/`, the directory the host, the tests and the
//! examples load them from. Benchmark-only components go to
//! `<target-dir>/bench-components/`, misbehaving test fixtures to
//! `<target-dir>/test-plugins/` (with the fixtures written in other
//! languages, [`examples`]). The example policy of every language goes to
//! `<target-dir>/example-plugins/<language>.wasm` ([`examples`]).

mod cluster;
mod examples;
mod setup;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WASM_TARGET: &str = "wasm32-wasip2";

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  plugins           build every plugin component into <target-dir>/plugins
  examples          build the example policy of every language (Rust, Go,
                    JavaScript, Python, C) into <target-dir>/example-plugins,
                    and the fixtures in those languages into <target-dir>/test-plugins
  cluster [ARGS]    write a large cluster file to stdout, shaped like `kubectl get
                    -o yaml` (--nodes N --pods N, default 1000 each; --list for one
                    `kind: List`), e.g. for `simulate --cluster`
  simulate [ARGS]   build the scheduler (the default plugins inside it) and run
                    `simulate` on examples/cluster.yaml (ARGS go to
                    `kube-wasm-scheduler simulate`, e.g. --plugins DIR)
  setup             install what `test` needs when it is missing, and run nothing
                    (the first step of `test`)
  test              install what the tests need when it is missing (Debian packages
                    through apt-get, clippy and rustfmt, the wasm32-wasip2 target,
                    the examples' pinned npm and PyPI tools, the Go-built test
                    cluster and oracle), build the plugins and examples, then
                    fmt --check, clippy -D warnings, every test of the workspace,
                    and a small side-by-side load run
  perf [ARGS]       release build, then the side-by-side load runs of `kws-perf` on real
                    test clusters (ARGS go to kws-perf, e.g. --size 5000/1000/5000
                    --workload scheduling-basic); tables and plots go to bench/results
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let _ = TASK.set(task.clone());
    if task == "cluster" {
        // Needs no workspace: it only writes text.
        return cluster::generate(&rest);
    }
    let root = workspace_root()?;
    match task.as_str() {
        "plugins" => build_components(&root).map(|_| ()),
        "examples" => build_examples(&root).map(|_| ()),
        "simulate" => simulate(&root, &rest),
        "setup" => setup::for_tests(&root, &target_directory(&metadata(&root)?)?),
        "test" => test(&root),
        "perf" => perf(&root, &rest),
        "" | "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

/// The workspace being worked on, as cargo finds it from the current
/// directory. (Not this binary's `CARGO_MANIFEST_DIR`: with a shared
/// `CARGO_TARGET_DIR`, the binary may have been built from another
/// checkout.)
fn workspace_root() -> Result<PathBuf> {
    let output = Command::new(cargo())
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .context("running cargo locate-project")?;
    if !output.status.success() {
        bail!(
            "not inside the kube-wasm-scheduler workspace: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let manifest = PathBuf::from(String::from_utf8(output.stdout)?.trim());
    Ok(manifest
        .parent()
        .context("the workspace manifest has a directory")?
        .to_path_buf())
}

/// A workspace crate that is built as a component, and where it goes.
struct ComponentCrate {
    package: String,
    /// The file name cargo gives the artifact (the lib name).
    artifact: String,
    /// `plugins`, `example-plugins`, `bench-components` or `test-plugins`.
    destination: &'static str,
    /// The component's file name, without `.wasm`.
    file_stem: String,
}

/// Finds the component crates: every member under `plugins/`,
/// `bench/guest*` or `tests/fixtures/`. The Rust example policy,
/// `plugins/examples/rust`, goes with the other languages' examples as
/// `rust.wasm`.
fn component_crates(root: &Path) -> Result<(PathBuf, Vec<ComponentCrate>)> {
    let metadata = metadata(root)?;
    let target_dir = target_directory(&metadata)?;
    let mut crates = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let relative = manifest.strip_prefix(root).unwrap_or(manifest);
        let destination = if relative.starts_with("plugins/examples") {
            "example-plugins"
        } else if relative.starts_with("plugins") {
            "plugins"
        } else if relative.starts_with("bench/guest") {
            "bench-components"
        } else if relative.starts_with("tests/fixtures") {
            "test-plugins"
        } else {
            continue;
        };
        let lib = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["crate_types"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "cdylib"))
            });
        let Some(lib) = lib else { continue };
        let name = package["name"].as_str().unwrap_or_default();
        let file_stem = match destination {
            "example-plugins" => relative
                .parent()
                .and_then(Path::file_name)
                .context("an example crate lives in plugins/examples/<language>")?
                .to_string_lossy()
                .to_string(),
            _ => name
                .trim_start_matches("kws-plugin-")
                .trim_start_matches("kws-fixture-")
                .to_string(),
        };
        crates.push(ComponentCrate {
            package: name.to_string(),
            artifact: lib["name"].as_str().unwrap_or_default().replace('-', "_"),
            destination,
            file_stem,
        });
    }
    Ok((target_dir, crates))
}

/// The workspace's `cargo metadata`, without dependencies.
fn metadata(root: &Path) -> Result<serde_json::Value> {
    let output = Command::new(cargo())
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The target directory cargo builds into (honouring `CARGO_TARGET_DIR`).
fn target_directory(metadata: &serde_json::Value) -> Result<PathBuf> {
    Ok(PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .context("cargo metadata has no target_directory")?,
    ))
}

/// Builds every component crate and returns the plugin directory.
fn build_components(root: &Path) -> Result<PathBuf> {
    ensure_wasm_target(root)?;
    let (target_dir, crates) = component_crates(root)?;
    // Where the host's build script builds the default plugins it embeds:
    // one compile serves both.
    let components = target_dir.join("components");
    // The default plugins first and alone, as the host's build script
    // builds them: with the other crates, features could unify differently
    // and the script would build them again.
    let (defaults, others): (Vec<_>, Vec<_>) =
        crates.iter().partition(|c| c.destination == "plugins");
    step(
        "building the plugin components",
        "wasm32-wasip2, `plugin` profile",
        || {
            for group in [defaults, others] {
                let mut build = Command::new(cargo());
                build
                    .current_dir(root)
                    .args(["build", "--profile", "plugin", "--target", WASM_TARGET])
                    .arg("--target-dir")
                    .arg(&components);
                for c in group {
                    build.args(["--package", &c.package]);
                }
                run(&mut build)?;
            }
            Ok(())
        },
    )?;
    let built = components.join(WASM_TARGET).join("plugin");
    for c in &crates {
        let destination = target_dir.join(c.destination);
        std::fs::create_dir_all(&destination)?;
        let file_name = format!("{}.wasm", c.file_stem);
        let from = built.join(format!("{}.wasm", c.artifact));
        // Write under a temporary name and rename, so a host watching the
        // directory never sees a half-copied component.
        let partial = destination.join(format!(".{file_name}.partial"));
        std::fs::copy(&from, &partial).with_context(|| format!("copying {}", from.display()))?;
        std::fs::rename(&partial, destination.join(&file_name))?;
    }
    let plugins = target_dir.join("plugins");
    eprintln!("components ready in {}", plugins.display());
    Ok(plugins)
}

/// Adds the wasm target through rustup, or from the rust-std archive in
/// `../shared/toolchain` when rustup cannot download it.
fn ensure_wasm_target(root: &Path) -> Result<()> {
    let sysroot = String::from_utf8(
        Command::new("rustc")
            .args(["--print", "sysroot"])
            .output()?
            .stdout,
    )?;
    let rustlib = Path::new(sysroot.trim()).join("lib/rustlib");
    if rustlib.join(WASM_TARGET).exists() {
        return Ok(());
    }
    eprintln!("{}adding the {WASM_TARGET} target (rustup)...", prefix());
    let added = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if added {
        return Ok(());
    }
    let archive = root.join("../shared/toolchain/rust-std-1.95.0-wasm32-wasip2.tar.xz");
    eprintln!(
        "rustup could not add {WASM_TARGET}; unpacking {}",
        archive.display()
    );
    let scratch = std::env::temp_dir().join("kws-rust-std");
    std::fs::create_dir_all(&scratch)?;
    run(Command::new("tar")
        .arg("-xJf")
        .arg(&archive)
        .arg("-C")
        .arg(&scratch))?;
    let component = format!("rust-std-{WASM_TARGET}/lib/rustlib/{WASM_TARGET}");
    let unpacked = std::fs::read_dir(&scratch)?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(&component))
        .find(|p| p.exists())
        .with_context(|| format!("{} holds no {component}", archive.display()))?;
    run(Command::new("cp").arg("-r").arg(unpacked).arg(&rustlib))
}

/// Builds every component crate (the Rust example among them), then the
/// other languages' examples; returns the plugin directory.
fn build_examples(root: &Path) -> Result<PathBuf> {
    let plugins = build_components(root)?;
    let target_dir = plugins
        .parent()
        .context("the plugin directory is inside the target directory")?;
    examples::build(root, target_dir)?;
    Ok(plugins)
}

/// `cargo build --package kws-host`: the scheduler, with the default
/// plugins built into it; `cargo xtask examples` runs its `plugin build`.
fn build_scheduler(root: &Path) -> Result<()> {
    step(
        "building the scheduler",
        "the default plugins are built into it",
        || {
            run(Command::new(cargo())
                .current_dir(root)
                .args(["build", "--package", "kws-host"]))
        },
    )
}

fn simulate(root: &Path, args: &[String]) -> Result<()> {
    ensure_wasm_target(root)?;
    build_scheduler(root)?;
    let mut command = Command::new(cargo());
    command
        .current_dir(root)
        .args(["run", "--quiet", "--package", "kws-host", "--", "simulate"]);
    if !args.iter().any(|a| a == "--cluster") {
        command.args(["--cluster", "examples/cluster.yaml"]);
    }
    run(command.args(args).env_remove("KWS_PLUGIN_DIR"))
}

/// `cargo xtask test`: the set-up ([`setup`]), the components, then every
/// check, each a step with its time.
fn test(root: &Path) -> Result<()> {
    setup::for_tests(root, &target_directory(&metadata(root)?)?)?;
    let plugins = build_examples(root)?;
    step("cargo fmt --check", "", || {
        run(Command::new(cargo())
            .current_dir(root)
            .args(["fmt", "--all", "--check"]))
    })?;
    step("cargo clippy -D warnings", "minutes cold", || {
        run(Command::new(cargo()).current_dir(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step(
        "cargo test --workspace",
        "the longest step: every test binary, and the end-to-end tests start real test clusters",
        || {
            run(Command::new(cargo())
                .current_dir(root)
                .env("KWS_PLUGIN_DIR", &plugins)
                .args(["test", "--workspace"]))
        },
    )?;
    // The load driver end to end, small, with the debug build: it checks
    // that every contender places every pod; its figures mean nothing here.
    let out = plugins
        .parent()
        .context("the plugin directory is inside the target directory")?
        .join("perf-smoke");
    step(
        "side-by-side load runs",
        "500 nodes, and 20 with DRA; ours, kube-scheduler and a no-decision binder must each place every pod",
        || {
            let smoke =
                ["--size", "500/100/1000", "--workload", "scheduling-basic"].map(String::from);
            run_perf(root, &plugins, Profile::Debug, &out, &smoke)?;
            let backlog = [
                "--size",
                "500/100/500",
                "--workload",
                "scheduling-basic",
                "--backlog",
            ]
            .map(String::from);
            run_perf(root, &plugins, Profile::Debug, &out, &backlog)?;
            // Claims from a template: the controller-manager path, tiny.
            let dra = [
                "--size",
                "20/20/50",
                "--workload",
                "scheduling-with-resource-claim-template",
            ]
            .map(String::from);
            run_perf(root, &plugins, Profile::Debug, &out, &dra)
        },
    )
}

/// The side-by-side comparison with release builds; results go to
/// `bench/results/`.
fn perf(root: &Path, args: &[String]) -> Result<()> {
    let plugins = build_components(root)?;
    run_perf(
        root,
        &plugins,
        Profile::Release,
        &root.join("bench/results"),
        args,
    )
}

#[derive(PartialEq)]
enum Profile {
    Debug,
    Release,
}

/// Builds the scheduler and `kws-perf` with `profile` and runs `kws-perf`
/// on the plugins of `plugins`, writing its tables and plots to `out`.
fn run_perf(
    root: &Path,
    plugins: &Path,
    profile: Profile,
    out: &Path,
    args: &[String],
) -> Result<()> {
    let target_dir = plugins
        .parent()
        .context("the plugin directory is inside the target directory")?;
    let mut build = Command::new(cargo());
    build.current_dir(root).arg("build");
    if profile == Profile::Release {
        build.arg("--release");
    }
    run(build.args(["--package", "kws-host", "--package", "kws-perf"]))?;
    let binaries = target_dir.join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    });
    run(Command::new(binaries.join("kws-perf"))
        .arg("--scheduler")
        .arg(binaries.join("kube-wasm-scheduler"))
        .arg("--plugins")
        .arg(plugins)
        .arg("--compile-cache")
        .arg(target_dir.join("perf-compile-cache"))
        .arg("--out")
        .arg(out)
        .args(args))
}

/// The task being run (`test`, `examples`, ...), for the progress lines.
static TASK: OnceLock<String> = OnceLock::new();

/// What starts each progress line: `xtask test: `.
fn prefix() -> String {
    match TASK.get().map(String::as_str) {
        None | Some("") => "xtask: ".to_string(),
        Some(task) => format!("xtask {task}: "),
    }
}

/// Runs one long step between two progress lines on stderr: `what` (and
/// `note`, e.g. how long it takes, when not empty) before, how long it
/// took after. An error names the step.
fn step<T>(what: &str, note: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let prefix = prefix();
    if note.is_empty() {
        eprintln!("{prefix}{what}...");
    } else {
        eprintln!("{prefix}{what} ({note})...");
    }
    let start = Instant::now();
    let value = f().with_context(|| what.to_string())?;
    eprintln!("{prefix}{what}: done in {}", took(start.elapsed()));
    Ok(value)
}

/// `42s`, `3m 05s`, `1h 02m`.
fn took(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_times_read_at_a_glance() {
        assert_eq!(took(Duration::from_millis(400)), "0s");
        assert_eq!(took(Duration::from_secs(42)), "42s");
        assert_eq!(took(Duration::from_secs(185)), "3m 05s");
        assert_eq!(took(Duration::from_secs(3725)), "1h 02m");
    }
}
