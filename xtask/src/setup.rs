//! What `cargo xtask test` needs besides the workspace's own crates, checked
//! and installed before anything is built, so that the command works on a
//! fresh machine that has only the toolchains (Rust through rustup, Go,
//! Node with npm, Python 3):
//! - room on the disk: a target directory with less than [`MIN_FREE_GIB`]
//!   free is emptied rather than left to fail a link halfway through;
//! - the Debian packages of [`DEBIAN_PACKAGES`] (the C example's compiler
//!   and libc, curl for the load runs' metrics), through `apt-get` when
//!   `dpkg -s` says one is missing;
//! - rustup's `clippy` and `rustfmt` components, and the `wasm32-wasip2`
//!   target ([`crate::ensure_wasm_target`]);
//! - the Go-built test cluster (`tests/cluster/build`) and the parity oracle
//!   (`tests/oracle/build`), under `$KWS_CACHE`.
//!
//! Each is checked first and costs only the check when present; each long
//! step is announced on stderr and timed ([`crate::step`]).

use crate::{cargo, run, step};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// Debian packages the tests need: clang, lld, wasi-libc and compiler-rt
/// for wasm32 build the C example; curl reads the schedulers' metrics in
/// the load runs.
pub const DEBIAN_PACKAGES: &[&str] = &[
    "clang",
    "lld",
    "wasi-libc",
    "libclang-rt-dev-wasm32",
    "curl",
];

/// Below this much free space the target directory is emptied: a warm one
/// keeps every old build of every test binary, and a full disk fails the
/// run while linking.
pub const MIN_FREE_GIB: u64 = 20;

/// Everything `cargo xtask test` needs before it builds, in order.
pub fn for_tests(root: &Path, target_dir: &Path) -> Result<()> {
    toolchains()?;
    disk_space(target_dir, MIN_FREE_GIB)?;
    debian_packages(
        Path::new("dpkg"),
        Path::new("apt-get"),
        DEBIAN_PACKAGES,
        is_root(),
    )?;
    rust_components()?;
    crate::ensure_wasm_target(root)?;
    step(
        "building the test cluster",
        "etcd, kube-apiserver, kube-scheduler from k8s.io/kubernetes; 15-20 min cold, seconds warm",
        || run(&mut Command::new(root.join("tests/cluster/build"))),
    )?;
    step(
        "building the parity oracle",
        "kube-scheduler's plugins; seconds once the test cluster is built",
        // It prints the binary's path on stdout; the tests ask it again.
        || run(Command::new(root.join("tests/oracle/build")).stdout(Stdio::null())),
    )
}

/// The toolchains xtask does not install: one error naming every one
/// missing, before anything long starts.
fn toolchains() -> Result<()> {
    let wanted: [(&str, &str, &str); 4] = [
        (
            "go",
            "version",
            "Go 1.24 or later (the test cluster, the oracle, the Go example)",
        ),
        ("node", "--version", "Node.js (the JavaScript example)"),
        (
            "npm",
            "--version",
            "npm (the JavaScript example's pinned tools)",
        ),
        (
            "python3",
            "--version",
            "Python 3 with venv (the Python example's pinned tools)",
        ),
    ];
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(program, arg, _)| !succeeds(Command::new(program).arg(arg)))
        .map(|(program, _, what)| format!("  {program}: {what}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "cargo xtask test needs these toolchains on PATH, which it does not install:\n{}",
            missing.join("\n")
        );
    }
    Ok(())
}

/// Empties the target directory when its disk has less than `min_free_gib`
/// free. Skipped where `df` cannot tell.
fn disk_space(target_dir: &Path, min_free_gib: u64) -> Result<()> {
    std::fs::create_dir_all(target_dir)?;
    let Some(free) = free_gib(target_dir) else {
        return Ok(());
    };
    if free >= min_free_gib {
        return Ok(());
    }
    step(
        &format!(
            "{free} GiB free under {} (want {min_free_gib}): emptying the target directory",
            target_dir.display()
        ),
        "everything is rebuilt",
        || {
            for entry in std::fs::read_dir(target_dir)? {
                let path = entry?.path();
                let removed = if path.is_dir() && !path.is_symlink() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.with_context(|| format!("removing {}", path.display()))?;
            }
            Ok(())
        },
    )?;
    if let Some(free) = free_gib(target_dir) {
        eprintln!("{}{free} GiB free now", crate::prefix());
    }
    Ok(())
}

/// Free space on the disk holding `dir`, in whole GiB, as `df` reports it.
fn free_gib(dir: &Path) -> Option<u64> {
    let output = Command::new("df")
        .args(["--output=avail", "-BG"])
        .arg(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let digits: String = text
        .lines()
        .last()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Installs those of `packages` that `dpkg` does not report installed,
/// with `apt_get`; when not `root`, an error naming the command to run. A
/// machine without dpkg gets a note and nothing is installed.
fn debian_packages(dpkg: &Path, apt_get: &Path, packages: &[&str], root: bool) -> Result<()> {
    let Some(missing) = missing_packages(dpkg, packages) else {
        eprintln!(
            "{}no dpkg here: the C example needs {} or their equivalents from this system's packages",
            crate::prefix(),
            packages.join(", ")
        );
        return Ok(());
    };
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !root {
        bail!(
            "Debian packages missing: {list}\n\
             install them as root, then run this again:\n  \
             sudo apt-get update && sudo apt-get install -y {list}"
        );
    }
    step(
        &format!("installing Debian packages: {list}"),
        "apt-get update and install; a minute or two",
        || {
            run(Command::new(apt_get)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["update", "-qq"]))?;
            run(Command::new(apt_get)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-qq"])
                .args(&missing))
        },
    )
}

/// The packages `dpkg -s` does not report as `install ok installed` (a
/// removed package whose configuration files remain is known to dpkg but
/// missing); `None` when dpkg cannot be run.
fn missing_packages(dpkg: &Path, packages: &[&str]) -> Option<Vec<String>> {
    // dpkg itself answers `--version`; without it this is no Debian.
    if !succeeds(Command::new(dpkg).arg("--version")) {
        return None;
    }
    let installed = |package: &str| {
        Command::new(dpkg)
            .args(["-s", package])
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| {
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .any(|l| l.trim() == "Status: install ok installed")
            })
    };
    Some(
        packages
            .iter()
            .filter(|p| !installed(p))
            .map(|p| p.to_string())
            .collect(),
    )
}

/// Whether this process runs as root (`id -u` says 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Adds rustup's `clippy` and `rustfmt` when cargo cannot run them.
fn rust_components() -> Result<()> {
    let missing: Vec<&str> = [("clippy", "clippy"), ("fmt", "rustfmt")]
        .into_iter()
        .filter(|&(subcommand, _)| !succeeds(Command::new(cargo()).args([subcommand, "--version"])))
        .map(|(_, component)| component)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(
        &format!("adding rustup components: {}", missing.join(" ")),
        "a minute at most",
        || {
            run(Command::new("rustup")
                .args(["component", "add"])
                .args(&missing))
            .context("rustup is needed to add clippy and rustfmt")
        },
    )
}

/// Whether the command runs and exits with success, its output discarded.
fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// A fresh directory for one test's fake programs.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-setup-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Held by every test that writes a script and runs processes: a
    /// script still open for writing in one test is inherited by a process
    /// another test forks at that moment, and running it then fails with
    /// "text file busy" (the set-up reads that as no dpkg).
    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        static SCRIPTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SCRIPTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A dpkg that knows lld and curl as installed and clang as removed
    /// with its configuration files left; anything else is unknown.
    fn fake_dpkg(dir: &Path) -> PathBuf {
        script(
            dir,
            "dpkg",
            r#"[ "$1" = --version ] && exit 0
case "$2" in
  lld|curl) printf 'Package: %s\nStatus: install ok installed\n' "$2" ;;
  clang) printf 'Package: clang\nStatus: deinstall ok config-files\n' ;;
  *) echo "dpkg-query: package '$2' is not installed" >&2; exit 1 ;;
esac
"#,
        )
    }

    /// An apt-get that writes each call's arguments as a line of `log`.
    fn fake_apt_get(dir: &Path) -> PathBuf {
        let log = dir.join("apt-get.log");
        script(
            dir,
            "apt-get",
            &format!("echo \"$@\" >> '{}'\n", log.display()),
        )
    }

    #[test]
    fn a_target_directory_on_a_full_disk_is_emptied() {
        let target = scratch("target");
        std::fs::create_dir_all(target.join("debug/deps")).unwrap();
        std::fs::write(target.join("debug/deps/libbig.rlib"), "x").unwrap();
        std::fs::write(target.join(".rustc_info.json"), "{}").unwrap();
        assert!(free_gib(&target).is_some(), "df reports the free space");
        disk_space(&target, 0).unwrap();
        assert!(target.join("debug/deps/libbig.rlib").exists());
        // No disk has this much free.
        disk_space(&target, u64::MAX).unwrap();
        assert!(target.exists());
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    }

    #[test]
    fn dpkg_tells_which_packages_are_missing() {
        let _serial = one_at_a_time();
        let dir = scratch("missing");
        let dpkg = fake_dpkg(&dir);
        assert_eq!(
            missing_packages(&dpkg, DEBIAN_PACKAGES),
            Some(vec![
                "clang".to_string(),
                "wasi-libc".to_string(),
                "libclang-rt-dev-wasm32".to_string()
            ])
        );
        assert_eq!(missing_packages(&dpkg, &["lld", "curl"]), Some(vec![]));
        assert_eq!(
            missing_packages(&dir.join("no-such-dpkg"), DEBIAN_PACKAGES),
            None
        );
    }

    #[test]
    fn root_installs_only_the_missing_packages_after_an_update() {
        let _serial = one_at_a_time();
        let dir = scratch("root");
        let (dpkg, apt_get) = (fake_dpkg(&dir), fake_apt_get(&dir));
        debian_packages(&dpkg, &apt_get, DEBIAN_PACKAGES, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("apt-get.log")).unwrap(),
            "update -qq\ninstall -y -qq clang wasi-libc libclang-rt-dev-wasm32\n"
        );
    }

    #[test]
    fn nothing_is_installed_when_nothing_is_missing() {
        let _serial = one_at_a_time();
        let dir = scratch("complete");
        let (dpkg, apt_get) = (fake_dpkg(&dir), fake_apt_get(&dir));
        debian_packages(&dpkg, &apt_get, &["lld", "curl"], true).unwrap();
        debian_packages(&dpkg, &apt_get, &["lld", "curl"], false).unwrap();
        assert!(!dir.join("apt-get.log").exists());
    }

    #[test]
    fn without_root_the_error_names_the_apt_get_command() {
        let _serial = one_at_a_time();
        let dir = scratch("user");
        let (dpkg, apt_get) = (fake_dpkg(&dir), fake_apt_get(&dir));
        let error = debian_packages(&dpkg, &apt_get, DEBIAN_PACKAGES, false)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "sudo apt-get update && sudo apt-get install -y clang wasi-libc libclang-rt-dev-wasm32"
            ),
            "{error}"
        );
        assert!(!dir.join("apt-get.log").exists());
    }

    #[test]
    fn without_dpkg_nothing_is_installed() {
        let _serial = one_at_a_time();
        let dir = scratch("no-dpkg");
        let apt_get = fake_apt_get(&dir);
        debian_packages(&dir.join("no-such-dpkg"), &apt_get, DEBIAN_PACKAGES, false).unwrap();
        assert!(!dir.join("apt-get.log").exists());
    }

    #[test]
    fn a_failing_apt_get_fails_the_set_up() {
        let _serial = one_at_a_time();
        let dir = scratch("apt-fails");
        let dpkg = fake_dpkg(&dir);
        let apt_get = script(&dir, "apt-get", "exit 100\n");
        let error = debian_packages(&dpkg, &apt_get, DEBIAN_PACKAGES, true).unwrap_err();
        assert!(
            format!("{error:#}").contains("installing Debian packages"),
            "{error:#}"
        );
    }
}
