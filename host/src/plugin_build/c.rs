//! C: bindings from `wit-bindgen-c` (for the world without the interfaces
//! no source file implements: `exports_kws_scheduler_<name>_` appears in
//! none), the policy and its helper compiled by clang against wasi-libc as
//! a reactor, then `component new`. The sources avoid stdio, so the module
//! imports nothing from WASI and needs no adapter.

use super::component::{component_new, keep_interfaces, world};
use super::tools::{needed, run};
use super::{AtPath, BuildError};
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) fn tools() -> Result<String, BuildError> {
    needed(
        Command::new("clang").arg("--version"),
        "C",
        "clang with wasm32 support, lld and wasi-libc (Debian/Ubuntu: \
         apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)",
    )
}

pub(super) fn build(wit: &Path, source: &Path, work: &Path) -> Result<Vec<u8>, BuildError> {
    let generated = work.join("gen");
    std::fs::create_dir_all(&generated).at(&generated)?;
    let sources = sources(source)?;
    let mut text = String::new();
    for file in &sources {
        text.push_str(&std::fs::read_to_string(file).at(file)?);
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
        let file = generated.join(name);
        std::fs::write(&file, contents).at(&file)?;
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
    Ok(component_new(&std::fs::read(&core).at(&core)?, None)?)
}

/// The `.c` files of a folder, sorted.
pub(super) fn sources(folder: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(folder)
        .at(folder)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    Ok(sources)
}
