//! `cargo xtask examples`: builds the example policy (LabelZone) of every
//! language under `plugins/examples/` into
//! `<target-dir>/example-plugins/<language>.wasm` (and a policy of your own
//! in a folder beside them into `<folder>.wasm`), and the fixture plugins
//! written in those languages under `tests/fixtures/` into
//! `<target-dir>/test-plugins/<folder>.wasm`.
//!
//! Rust is a workspace member built with the other component crates. Go,
//! JavaScript, Python and C are built here from source with pinned tools:
//! - Go: the installed Go (`go.mod` pins the toolchain), `GOOS=wasip1`
//!   `-buildmode=c-shared`, then the world (trimmed to the interfaces the
//!   module exports) is embedded and the module wrapped into a component
//!   with our deny-all `wasi_snapshot_preview1` adapter
//!   (`plugins/examples/go/wasi-stub.wat`);
//! - JavaScript: componentize-qjs from `package-lock.json`, installed with
//!   `npm ci` under `$KWS_CACHE/examples/javascript`;
//! - Python: componentize-py from `requirements.txt`, in a venv under
//!   `$KWS_CACHE/examples/python`;
//! - C: bindings from `wit-bindgen-c`, Debian's clang and wasi-libc, then
//!   `wit-component` (what `wasm-tools component new` does).
//!
//! Everything is built against `wit/` (`kws:scheduler@0.3.0`), except a
//! JavaScript folder whose `package.json` names another WIT directory
//! (`"config": {"wit": "wit/0.2.0"}`): the fixture that shows a component
//! of the earlier world still placing pods.
//!
//! The `wasm-tools` and `wit-bindgen` steps run through their library
//! crates, so nothing needs `cargo install`. A folder is rebuilt only when
//! its sources, the WIT or its tool versions change (a digest of them is kept
//! beside the component), so a warm `cargo xtask test` pays only for hashing.
//! The C example's Debian packages are installed by `cargo xtask test`'s
//! set-up ([`crate::setup`]); here they are only checked.

use crate::{run, step};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// A language built here, recognised by a file in the example's folder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Language {
    /// `go.mod`
    Go,
    /// `package.json`; its `main` is the entry module.
    JavaScript,
    /// `requirements.txt`; the app module is `app.py`.
    Python,
    /// `*.c` files.
    C,
}

impl Language {
    /// What the folder holds; `None` for Rust (a workspace member, built
    /// with the other component crates) and anything else.
    fn of(folder: &Path) -> Result<Option<Language>> {
        Ok(if folder.join("Cargo.toml").exists() {
            None
        } else if folder.join("go.mod").exists() {
            Some(Language::Go)
        } else if folder.join("package.json").exists() {
            Some(Language::JavaScript)
        } else if folder.join("requirements.txt").exists() {
            Some(Language::Python)
        } else if c_sources(folder)?.is_empty() {
            None
        } else {
            Some(Language::C)
        })
    }
}

/// The world every example implements.
const WORLD: &str = "plugin";

/// Builds every example folder under `plugins/examples/` that is not a Rust
/// crate into `<target_dir>/example-plugins/<folder>.wasm` (Rust's are put
/// there by the component build), and every such folder under
/// `tests/fixtures/` into `<target_dir>/test-plugins/<folder>.wasm`; returns
/// the examples' directory. A copy of an example in a folder of its own is
/// built the same way.
pub fn build(root: &Path, target_dir: &Path) -> Result<PathBuf> {
    let examples = target_dir.join("example-plugins");
    let scratch = target_dir.join("examples-build");
    for (within, out) in [
        ("plugins/examples", examples.clone()),
        ("tests/fixtures", target_dir.join("test-plugins")),
    ] {
        std::fs::create_dir_all(&out)?;
        for (source, language) in folders(&root.join(within))? {
            build_folder(root, &source, language, &out, &scratch)?;
        }
    }
    eprintln!("examples ready in {}", examples.display());
    Ok(examples)
}

/// Builds one folder into `<out>/<folder>.wasm`, unless what it is built
/// from is unchanged since the last build.
fn build_folder(
    root: &Path,
    source: &Path,
    language: Language,
    out: &Path,
    scratch: &Path,
) -> Result<()> {
    let name = source
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let work = scratch.join(&name);
    std::fs::create_dir_all(&work)?;
    let tools = tools(language, root, source)?;
    let wit = wit_dir(root, source, language)?;
    let component = out.join(format!("{name}.wasm"));
    let stamp = out.join(format!(".{name}.inputs"));
    let digest = inputs_digest(root, source, language, &wit, &tools)?;
    if component.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&digest) {
        return Ok(());
    }
    let relative = source.strip_prefix(root).unwrap_or(source).display();
    let bytes = step(&format!("building {relative}"), "", || match language {
        Language::Go => build_go(&wit, source, &work),
        Language::JavaScript => build_javascript(root, &wit, source, &work),
        Language::Python => build_python(&wit, source, &work),
        Language::C => build_c(&wit, source, &work),
    })?;
    write_atomically(&component, &bytes)?;
    std::fs::write(&stamp, digest)?;
    Ok(())
}

/// The WIT every folder is built against unless it says otherwise.
const WIT: &str = "wit";

/// The WIT directory a folder is built against: [`WIT`], or for JavaScript
/// the one its `package.json` names in `config.wit` (relative to the
/// workspace root).
fn wit_dir(root: &Path, source: &Path, language: Language) -> Result<PathBuf> {
    if language == Language::JavaScript
        && let Some(wit) = package_json(source)?["config"]["wit"].as_str()
    {
        return Ok(root.join(wit));
    }
    Ok(root.join(WIT))
}

fn package_json(source: &Path) -> Result<serde_json::Value> {
    let manifest = source.join("package.json");
    serde_json::from_slice(&std::fs::read(&manifest)?)
        .with_context(|| format!("reading {}", manifest.display()))
}

/// Installs (or checks) the tools of every example folder's language, as
/// [`build`] would before building: the pinned npm and PyPI packages under
/// `$KWS_CACHE`, and that Go and clang are there.
pub fn install_tools(root: &Path) -> Result<()> {
    for (source, language) in folders(&root.join("plugins/examples"))? {
        tools(language, root, &source)?;
    }
    Ok(())
}

/// The folders of `dir` that are built here, sorted, with their language.
fn folders(dir: &Path) -> Result<Vec<(PathBuf, Language)>> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut built = Vec::new();
    for folder in folders {
        if let Some(language) = Language::of(&folder)? {
            built.push((folder, language));
        }
    }
    Ok(built)
}

/// The JavaScript example's folder, whose helper (`kws-policy.js`) and
/// pinned tools a JavaScript fixture without a `package-lock.json` of its
/// own uses; `None` for every other folder.
fn javascript_example(root: &Path, source: &Path, language: Language) -> Option<PathBuf> {
    (language == Language::JavaScript && !source.join("package-lock.json").exists())
        .then(|| root.join("plugins/examples/javascript"))
}

/// A language's tools, installed when they are pinned and missing, as a
/// string that changes when they do (a version or an install location).
fn tools(language: Language, root: &Path, source: &Path) -> Result<String> {
    Ok(match language {
        Language::Go => go_version()?,
        Language::JavaScript => {
            let pinned = javascript_example(root, source, language);
            npm_tools(pinned.as_deref().unwrap_or(source))?
                .display()
                .to_string()
        }
        Language::Python => componentize_py(source)?.display().to_string(),
        Language::C => clang_version()?,
    })
}

/// A digest of everything a folder's component is built from: its sources
/// (and the JavaScript helper it imports), the WIT, and the tools (versions
/// or install locations).
fn inputs_digest(
    root: &Path,
    source: &Path,
    language: Language,
    wit: &Path,
    tools: &str,
) -> Result<String> {
    let mut files = Vec::new();
    collect_files(source, &mut files)?;
    if let Some(example) = javascript_example(root, source, language) {
        collect_files(&example, &mut files)?;
    }
    collect_files(wit, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(tools.as_bytes());
    for file in files {
        hasher.update(
            file.strip_prefix(root)
                .unwrap_or(&file)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(std::fs::read(&file)?);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// A WIT package and its `plugin` world.
fn world(wit: &Path) -> Result<(Resolve, wit_parser::WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(wit)?;
    let world = resolve.select_world(&[package], Some(WORLD))?;
    Ok((resolve, world))
}

/// `wasm-tools component new`: wraps a core module that carries its world
/// (a `component-type` custom section) into a component.
fn component_new(core: &[u8], adapter: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut encoder = ComponentEncoder::default();
    encoder.module(core)?.validate(true);
    if let Some(adapter) = adapter {
        encoder.adapter("wasi_snapshot_preview1", adapter)?;
    }
    encoder.encode()
}

fn go_version() -> Result<String> {
    let version = output(Command::new("go").arg("version"))
        .context("Go is needed for the Go example (1.24 or later)")?;
    Ok(version.trim().to_string())
}

/// Big Go for `GOOS=wasip1` as a reactor, the `plugin` world embedded (only
/// the interfaces the module exports), and the deny-all WASI adapter in
/// place of `wasi_snapshot_preview1`.
fn build_go(wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>> {
    let core = work.join("core.wasm");
    run(Command::new("go")
        .current_dir(source)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        .args(["build", "-trimpath", "-buildmode=c-shared", "-o"])
        .arg(&core)
        .arg("."))?;
    let mut module = std::fs::read(&core)?;
    let (mut resolve, world) = world(wit)?;
    let exports = module_exports(&module)?;
    keep_interfaces(&mut resolve, world, |full, _| {
        exports.iter().any(|e| e.starts_with(&format!("{full}#")))
    })?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        StringEncoding::UTF8,
        false,
    )?;
    let adapter = wasi_stub(&source.join("wasi-stub.wat"))?;
    component_new(&module, Some(&adapter))
}

/// The names a core module exports.
fn module_exports(module: &[u8]) -> Result<Vec<String>> {
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
fn keep_interfaces(
    resolve: &mut Resolve,
    world: wit_parser::WorldId,
    implemented: impl Fn(&str, &str) -> bool,
) -> Result<()> {
    let ids: Vec<_> = resolve.worlds[world]
        .exports
        .keys()
        .filter_map(|key| match key {
            wit_parser::WorldKey::Interface(id) => Some(*id),
            wit_parser::WorldKey::Name(_) => None,
        })
        .collect();
    for id in ids {
        let full = resolve
            .id_of(id)
            .context("the world's exports are named interfaces")?;
        let name = resolve.interfaces[id].name.clone().unwrap_or_default();
        if !implemented(&full, &name) {
            resolve.worlds[world]
                .exports
                .shift_remove(&wit_parser::WorldKey::Interface(id));
        }
    }
    Ok(())
}

/// The deny-all `wasi_snapshot_preview1` adapter: the WAT module with an
/// empty world attached, as `wasm-tools component embed` would.
fn wasi_stub(wat_file: &Path) -> Result<Vec<u8>> {
    let mut module = wat::parse_file(wat_file)?;
    let mut resolve = Resolve::default();
    let package = resolve.push_str("wasi-stub.wit", "package kws:wasi-stub;\nworld stub {}\n")?;
    let world = resolve.select_world(&[package], Some("stub"))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        StringEncoding::UTF8,
        false,
    )?;
    Ok(module)
}

/// Installs the npm packages of `package-lock.json` under the cache (again
/// only when the lock changes) and returns the componentize-qjs CLI.
fn npm_tools(source: &Path) -> Result<PathBuf> {
    let tools = cache_dir().join("examples/javascript");
    std::fs::create_dir_all(&tools)?;
    let lock = std::fs::read(source.join("package-lock.json"))?;
    let cli = tools.join("node_modules/componentize-qjs/cli.mjs");
    if std::fs::read(tools.join("package-lock.json")).ok() != Some(lock.clone()) || !cli.exists() {
        std::fs::copy(source.join("package.json"), tools.join("package.json"))?;
        std::fs::write(tools.join("package-lock.json"), &lock)?;
        step(
            &format!(
                "installing the JavaScript example's npm packages into {}",
                tools.display()
            ),
            "package-lock.json; a minute",
            || {
                run(Command::new("npm")
                    .current_dir(&tools)
                    .args(["ci", "--no-audit", "--no-fund"]))
                .context("npm is needed for the JavaScript example")
            },
        )?;
    }
    Ok(cli)
}

/// componentize-qjs (QuickJS), every WASI import replaced by a trap, no
/// component-model async. Imports resolve within the workspace, so a
/// fixture imports the example's helper where it is.
fn build_javascript(root: &Path, wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>> {
    let package = package_json(source)?;
    let entry = package["main"].as_str().with_context(|| {
        format!(
            "{}: `main` names the entry module",
            source.join("package.json").display()
        )
    })?;
    let pinned = javascript_example(root, source, Language::JavaScript);
    let out = work.join("component.wasm");
    run(Command::new("node")
        .current_dir(source)
        .arg(npm_tools(pinned.as_deref().unwrap_or(source))?)
        .arg("--wit")
        .arg(wit)
        .arg("--module-root")
        .arg(root)
        .args(["--world", WORLD, "--js", entry, "--stub-wasi", "--sync"])
        .arg("--output")
        .arg(&out))?;
    Ok(std::fs::read(out)?)
}

/// The componentize-py of `requirements.txt`, in a venv under the cache.
fn componentize_py(source: &Path) -> Result<PathBuf> {
    let requirements = source.join("requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)?;
    let wanted = wanted
        .lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .context("requirements.txt pins componentize-py==VERSION")?
        .to_string();
    let venv = cache_dir().join("examples/python");
    let cli = venv.join("bin/componentize-py");
    let installed = output(Command::new(&cli).arg("--version")).unwrap_or_default();
    if !installed.split_whitespace().any(|w| w == wanted) {
        step(
            &format!(
                "installing componentize-py {wanted} into {}",
                venv.display()
            ),
            "a venv from requirements.txt; a minute",
            || {
                run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
                    .context("python3 with venv is needed for the Python example")?;
                run(Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "-r"])
                    .arg(&requirements))
            },
        )?;
    }
    Ok(cli)
}

/// componentize-py with every WASI import replaced by a trap.
fn build_python(wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>> {
    let out = work.join("component.wasm");
    run(Command::new(componentize_py(source)?)
        .current_dir(work)
        .arg("--wit-path")
        .arg(wit)
        .args([
            "--world",
            WORLD,
            "componentize",
            "--stub-wasi",
            "--python-path",
        ])
        .arg(source)
        .args(["app", "--output"])
        .arg(&out))?;
    Ok(std::fs::read(out)?)
}

fn clang_version() -> Result<String> {
    let version = output(Command::new("clang").arg("--version")).context(
        "clang is needed for the C example: apt-get update && apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32 \
         (`cargo xtask test` installs them when run as root)",
    )?;
    Ok(version.lines().next().unwrap_or_default().to_string())
}

/// Bindings from `wit-bindgen-c` in `<work>/gen` (for the world without the
/// interfaces no source file implements: `exports_kws_scheduler_<name>_`
/// appears in none), the policy and its helper compiled by clang against
/// wasi-libc as a reactor, then `component new`. The sources avoid stdio, so
/// the module imports nothing from WASI and needs no adapter.
fn build_c(wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>> {
    let generated = work.join("gen");
    std::fs::create_dir_all(&generated)?;
    let sources = c_sources(source)?;
    let mut text = String::new();
    for file in &sources {
        text.push_str(&std::fs::read_to_string(file)?);
    }
    let (mut resolve, world) = world(wit)?;
    keep_interfaces(&mut resolve, world, |_, name| {
        text.contains(&format!(
            "exports_kws_scheduler_{}_",
            name.replace('-', "_")
        ))
    })?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    for (name, contents) in files.iter() {
        std::fs::write(generated.join(name), contents)?;
    }
    let core = work.join("core.wasm");
    run(Command::new("clang")
        .args([
            "--target=wasm32-wasi",
            "-O2",
            "-Wall",
            "-Werror",
            "-mexec-model=reactor",
        ])
        .arg("-I")
        .arg(&generated)
        .arg("-I")
        .arg(source)
        .args(&sources)
        .arg(generated.join("plugin.c"))
        .arg(generated.join("plugin_component_type.o"))
        .arg("-o")
        .arg(&core))?;
    component_new(&std::fs::read(core)?, None)
}

/// The `.c` files of a folder, sorted.
fn c_sources(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(folder)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    Ok(sources)
}

fn cache_dir() -> PathBuf {
    std::env::var_os("KWS_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/kws"),
        PathBuf::from,
    )
}

/// Writes under a temporary name and renames, so a host watching the
/// directory never sees a half-written component.
fn write_atomically(file: &Path, bytes: &[u8]) -> Result<()> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let partial = file.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, file)?;
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wit_parser::{SizeAlign, Type, TypeDefKind};

    /// The Go example reads records at offsets written by hand in
    /// `kws/abi.go`; they must be the canonical ABI's for the current WIT.
    #[test]
    fn go_abi_offsets_follow_the_wit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let (resolve, _) = world(&root.join(WIT)).unwrap();
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
                "plugins/examples/go/kws/abi.go: {name} must be {offset} for {WIT}/scheduler.wit"
            );
        }
    }
}
