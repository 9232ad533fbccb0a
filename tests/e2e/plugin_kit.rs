//! The plugin authoring kit, as an author uses it: for each language,
//! `plugin new` into a folder outside the workspace, the template's unit
//! tests in the language's own runner (Rust, JavaScript, Python), an edit
//! of the policy,
//! `plugin build`, then `plugin test` on the folder's own scenario with the
//! expected placements updated for the edit; a wrong expectation fails with
//! a diff that names the pod.
//!
//! Each language's commands run with a PATH holding only that language's
//! tools (linked into a folder of their own), so a build that reached for
//! another language's toolchain fails here. The tools are cached under
//! `$KWS_CACHE` (default `~/.cache/kws`), so only the first run pays for
//! `npm ci` and the venv; Rust's builds share a target directory there.

use kws_tests::scheduler_binary;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the edited policy, as the template writes it, prefers nodes
/// labelled `disk: ssd`; the edit makes it prefer `disk: hdd`, which moves
/// the pod `fast` from node a to node b.
struct Language {
    name: &'static str,
    /// The tools on PATH: the language's toolchain only.
    tools: &'static [&'static str],
    /// The template's unit tests, in the language's own test runner.
    unit_tests: Option<&'static [&'static str]>,
    policy: &'static str,
    preferred: &'static str,
    edited: &'static str,
}

const BEFORE: &str = "default/fast -> a";
const AFTER: &str = "default/fast -> b";

fn cache() -> PathBuf {
    std::env::var_os("KWS_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/kws"),
        PathBuf::from,
    )
}

/// `name` as found on the test's PATH.
fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Every file on the test's PATH whose name starts with `prefix`.
fn find_all(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A folder with links to `tools` only, to be the whole PATH (`name*`:
/// every tool whose name starts so, e.g. Debian's `wasm-ld-14`). Python is
/// linked as the interpreter itself (pyenv's shims need pyenv).
fn tool_path(dir: &Path, tools: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tools: Vec<String> = tools
        .iter()
        .flat_map(|t| match t.strip_suffix('*') {
            Some(prefix) => find_all(prefix),
            None => vec![t.to_string()],
        })
        .collect();
    for tool in &tools {
        let target = if tool == "python3" {
            let out = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("python3 is on PATH");
            PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
        } else {
            find(tool).unwrap_or_else(|| panic!("{tool} is not on PATH"))
        };
        std::os::unix::fs::symlink(target, bin.join(tool)).unwrap();
    }
    bin
}

fn kws(path: &Path, args: &[&str], folder: &Path) -> Output {
    Command::new(scheduler_binary())
        .args(args)
        .arg(folder)
        .env("PATH", path)
        .env("KWS_CACHE", cache())
        .env("CARGO_TARGET_DIR", cache().join("plugin-kit/rust-target"))
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn author(language: Language) {
    let base = std::env::temp_dir().join(format!(
        "kws-plugin-kit-{}-{}",
        language.name,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&base);
    let path = tool_path(&base, language.tools);
    let folder = base.join("gpu-or-ssd");

    let new = Command::new(scheduler_binary())
        .args(["plugin", "new", "--lang", language.name, "GpuOrSsd"])
        .arg(&folder)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(new.status.success(), "{}: {}", language.name, text(&new));
    assert!(folder.join(".gitignore").exists() && folder.join("wit/scheduler.wit").exists());

    if let Some(command) = language.unit_tests {
        let tests = Command::new(command[0])
            .args(&command[1..])
            .current_dir(&folder)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", cache().join("plugin-kit/rust-target"))
            .output()
            .unwrap();
        assert!(
            tests.status.success(),
            "{}: {}",
            language.name,
            text(&tests)
        );
    }

    // The edit, and the expectation that follows it.
    let policy = folder.join(language.policy);
    let source = std::fs::read_to_string(&policy).unwrap();
    assert!(source.contains(language.preferred), "{}", language.name);
    std::fs::write(&policy, source.replace(language.preferred, language.edited)).unwrap();
    let expected = folder.join("expected.txt");
    let before = std::fs::read_to_string(&expected).unwrap();
    assert!(before.contains(BEFORE), "{before}");
    std::fs::write(&expected, before.replace(BEFORE, AFTER)).unwrap();

    let into = base.join("watched");
    std::fs::create_dir_all(&into).unwrap();
    let build = kws(
        &path,
        &["plugin", "build", "--into", into.to_str().unwrap()],
        &folder,
    );
    let report = text(&build);
    assert!(build.status.success(), "{}: {report}", language.name);
    let stdout = String::from_utf8_lossy(&build.stdout);
    let mut lines = stdout.lines();
    let component = PathBuf::from(lines.next().unwrap());
    let bytes = std::fs::read(&component).unwrap();
    assert_eq!(
        lines.next(),
        Some(format!("size: {} bytes", bytes.len()).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(format!("sha256: {:x}", Sha256::digest(&bytes)).as_str())
    );
    let dropped: Vec<_> = std::fs::read_dir(&into)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(dropped, ["gpu-or-ssd.wasm"], "{}", language.name);
    assert_eq!(std::fs::read(into.join("gpu-or-ssd.wasm")).unwrap(), bytes);

    let scenario = folder.join("scenario.yaml");
    let test = |expect: &Path| {
        kws(
            &path,
            &[
                "plugin",
                "test",
                "--cluster",
                scenario.to_str().unwrap(),
                "--expect",
                expect.to_str().unwrap(),
            ],
            &folder,
        )
    };
    let passed = test(&expected);
    assert!(
        passed.status.success(),
        "{}: {}",
        language.name,
        text(&passed)
    );
    assert!(
        String::from_utf8_lossy(&passed.stdout).contains("ok: 3 pods placed as"),
        "{}: {}",
        language.name,
        text(&passed)
    );

    // The template's expectation no longer holds after the edit.
    let wrong = base.join("wrong.txt");
    std::fs::write(&wrong, &before).unwrap();
    let failed = test(&wrong);
    assert!(
        !failed.status.success(),
        "{}: {}",
        language.name,
        text(&failed)
    );
    assert!(
        String::from_utf8_lossy(&failed.stdout).contains(&format!(
            "  default/needs-gpu -> b\n- {BEFORE}\n+ {AFTER}\n"
        )),
        "{}: {}",
        language.name,
        text(&failed)
    );
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("the placements differ from"),
        "{}",
        text(&failed)
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn rust() {
    author(Language {
        name: "rust",
        // cc links build scripts and proc macros for the machine itself.
        tools: &["cargo", "rustc", "rustup", "cc"],
        unit_tests: Some(&["cargo", "test"]),
        policy: "src/lib.rs",
        preferred: r#"("disk", "ssd")"#,
        edited: r#"("disk", "hdd")"#,
    });
}

#[test]
fn go() {
    author(Language {
        name: "go",
        tools: &["go"],
        unit_tests: None,
        policy: "main.go",
        preferred: r#"preferredValue = "ssd""#,
        edited: r#"preferredValue = "hdd""#,
    });
}

#[test]
fn javascript() {
    author(Language {
        name: "javascript",
        // npm runs scripts through sh.
        tools: &["node", "npm", "sh"],
        unit_tests: Some(&["npm", "test"]),
        policy: "policy.js",
        preferred: "PREFERRED_VALUE = 'ssd'",
        edited: "PREFERRED_VALUE = 'hdd'",
    });
}

#[test]
fn python() {
    author(Language {
        name: "python",
        tools: &["python3"],
        unit_tests: Some(&["python3", "-m", "unittest"]),
        policy: "app.py",
        preferred: r#"PREFERRED_VALUE = "ssd""#,
        edited: r#"PREFERRED_VALUE = "hdd""#,
    });
}

#[test]
fn c() {
    author(Language {
        name: "c",
        tools: &["clang", "wasm-ld*"],
        unit_tests: None,
        policy: "policy.c",
        preferred: r#"#define PREFERRED_VALUE "ssd""#,
        edited: r#"#define PREFERRED_VALUE "hdd""#,
    });
}
