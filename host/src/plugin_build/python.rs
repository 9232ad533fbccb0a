//! Python: componentize-py with every WASI import replaced by a trap; the
//! app module is `app.py`.

use super::tools::{announce, componentize, needed, run, version};
use super::{AtPath, BuildError, WORLD};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py version a `requirements.txt` pins:
/// `componentize-py==VERSION`.
fn pinned(source: &Path) -> Result<String, BuildError> {
    let requirements = source.join("requirements.txt");
    let text = std::fs::read_to_string(&requirements).at(&requirements)?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .map(|v| v.trim().to_string())
        .ok_or(BuildError::Folder {
            file: requirements,
            problem: "pins componentize-py==VERSION".to_string(),
        })
}

fn cli(cache: &Path) -> PathBuf {
    cache.join("tools/python/bin/componentize-py")
}

/// The componentize-py of `requirements.txt`, in a venv under
/// `<cache>/tools/python`; returns its version.
pub(super) fn tools(source: &Path, cache: &Path) -> Result<String, BuildError> {
    let wanted = pinned(source)?;
    let venv = cache.join("tools/python");
    let installed = version(Command::new(cli(cache)).arg("--version")).unwrap_or_default();
    if !installed.split_whitespace().any(|w| w == wanted) {
        needed(
            Command::new("python3").arg("--version"),
            "Python",
            "Python 3.10 or later with venv",
        )?;
        announce(&format!(
            "installing componentize-py {wanted} into {} (a venv; a minute)",
            venv.display()
        ));
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(source.join("requirements.txt")))?;
    }
    Ok(format!("componentize-py {wanted}"))
}

pub(super) fn build(
    wit: &Path,
    source: &Path,
    cache: &Path,
    work: &Path,
) -> Result<Vec<u8>, BuildError> {
    componentize(
        Command::new(cli(cache))
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
            .arg("app"),
        work,
    )
}
