//! Running the language tools: their output goes to stderr (stdout is the
//! command's own report), and a failure names the command.

use super::{AtPath, BuildError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where pinned tools are installed: `$KWS_CACHE`, else
/// `$XDG_CACHE_HOME/kube-wasm-scheduler`, else
/// `~/.cache/kube-wasm-scheduler`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KWS_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    base.join("kube-wasm-scheduler")
}

/// Runs `command`, its output on stderr.
pub(super) fn run(command: &mut Command) -> Result<(), BuildError> {
    let status = command
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| failed(command, format!(": {e}")))?;
    if !status.success() {
        return Err(failed(command, format!(" with {status}")));
    }
    Ok(())
}

/// Runs a componentize tool (componentize-qjs, componentize-py) with
/// `--output <work>/component.wasm` appended, and returns the component.
pub(super) fn componentize(command: &mut Command, work: &Path) -> Result<Vec<u8>, BuildError> {
    let out = work.join("component.wasm");
    run(command.arg("--output").arg(&out))?;
    std::fs::read(&out).at(&out)
}

/// Runs `command` and returns its stdout; its stderr passes through.
pub(super) fn capture(command: &mut Command) -> Result<String, BuildError> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| failed(command, format!(": {e}")))?;
    if !output.status.success() {
        return Err(failed(command, format!(" with {}", output.status)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The first line a tool prints for its version, or `None` when it cannot
/// be started or fails.
pub(super) fn version(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// [`version`], or the error that says which tool is missing and how to
/// get it.
pub(super) fn needed(
    command: &mut Command,
    language: &'static str,
    hint: &str,
) -> Result<String, BuildError> {
    version(command).ok_or_else(|| BuildError::MissingTool {
        tool: command.get_program().to_string_lossy().to_string(),
        language,
        hint: hint.to_string(),
    })
}

fn failed(command: &Command, detail: String) -> BuildError {
    let mut text = command.get_program().to_string_lossy().to_string();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    BuildError::Failed {
        command: format!("`{text}`"),
        detail,
    }
}

/// Announces a long step on stderr.
pub(super) fn announce(what: &str) {
    eprintln!("{what}...");
}
