//! `plugin new`: a ready plugin folder from a template, in any of the
//! languages `plugin build` builds. A folder holds a policy stub with
//! Filter and Score, its args with validation, a unit test where the
//! language's own test runner can run the policy natively (Rust's
//! `cargo test`, Node's `node --test`, Python's `unittest`), a scenario with its expected
//! placements (`plugin test`), a `.gitignore`, and the WIT contract.
//!
//! Everything comes from this binary, so a folder works anywhere, inside
//! the repository or not: the templates (`host/templates/`), the language
//! helpers the examples use (`plugins/examples/`), and for Rust the plugin
//! SDK's source, vendored into `kws-plugin-sdk/` (a path dependency of the
//! repository would not resolve outside it, and the SDK is on no registry),
//! with the workspace's `Cargo.lock` so the SDK's dependencies are the
//! versions the scheduler was tested with.

use crate::plugin_build::{AtPath, BuildError, Language, WIT};
use std::path::{Path, PathBuf};

/// One file of a template: its path in the folder and its text, with
/// `{{Name}}` (the plugin's name), `{{package}}` (its kebab-case form),
/// `{{Language}}`, `{{language}}`, `{{policy_file}}`, `{{unit_tests}}` and
/// `{{sdk_version}}` to fill in.
type File = (&'static str, &'static str);

macro_rules! template {
    ($($path:literal => $source:literal),* $(,)?) => {
        &[$(($path, include_str!($source))),*]
    };
}

const COMMON: &[File] = template![
    "scenario.yaml" => "../templates/common/scenario.yaml",
    ".gitignore" => "../templates/common/gitignore",
    "README.md" => "../templates/common/README.md",
];

const RUST: &[File] = template![
    "Cargo.toml" => "../templates/rust/Cargo.toml",
    "src/lib.rs" => "../templates/rust/src/lib.rs",
    "kws-plugin-sdk/Cargo.toml" => "../templates/rust/kws-plugin-sdk/Cargo.toml",
];

/// Written as they are, not filled in: the workspace's lock file and the
/// plugin SDK's source; a unit test checks the list against
/// `plugin-sdk/src`.
const RUST_VERBATIM: &[File] = template![
    "Cargo.lock" => "../../Cargo.lock",

    "kws-plugin-sdk/src/affinity.rs" => "../../plugin-sdk/src/affinity.rs",
    "kws-plugin-sdk/src/cluster.rs" => "../../plugin-sdk/src/cluster.rs",
    "kws-plugin-sdk/src/cycle_state.rs" => "../../plugin-sdk/src/cycle_state.rs",
    "kws-plugin-sdk/src/events.rs" => "../../plugin-sdk/src/events.rs",
    "kws-plugin-sdk/src/export.rs" => "../../plugin-sdk/src/export.rs",
    "kws-plugin-sdk/src/host.rs" => "../../plugin-sdk/src/host.rs",
    "kws-plugin-sdk/src/lib.rs" => "../../plugin-sdk/src/lib.rs",
    "kws-plugin-sdk/src/normalize.rs" => "../../plugin-sdk/src/normalize.rs",
    "kws-plugin-sdk/src/objects.rs" => "../../plugin-sdk/src/objects.rs",
    "kws-plugin-sdk/src/plugin.rs" => "../../plugin-sdk/src/plugin.rs",
    "kws-plugin-sdk/src/quantity.rs" => "../../plugin-sdk/src/quantity.rs",
    "kws-plugin-sdk/src/runner.rs" => "../../plugin-sdk/src/runner.rs",
    "kws-plugin-sdk/src/selector.rs" => "../../plugin-sdk/src/selector.rs",
    "kws-plugin-sdk/src/status.rs" => "../../plugin-sdk/src/status.rs",
    "kws-plugin-sdk/src/testing.rs" => "../../plugin-sdk/src/testing.rs",
];

const GO: &[File] = template![
    "go.mod" => "../templates/go/go.mod",
    "main.go" => "../templates/go/main.go",
];

/// The language helpers, written as they are.
const GO_HELPER: &[File] = template![
    "kws/abi.go" => "../../plugins/examples/go/kws/abi.go",
    "kws/kws.go" => "../../plugins/examples/go/kws/kws.go",
];

const JAVASCRIPT: &[File] = template![
    "package.json" => "../templates/javascript/package.json",
    "policy.js" => "../templates/javascript/policy.js",
    "test/policy.test.js" => "../templates/javascript/test/policy.test.js",
    "test/host.js" => "../templates/javascript/test/host.js",
    "test/host-module.js" => "../templates/javascript/test/host-module.js",
];

const JAVASCRIPT_HELPER: &[File] = template![
    "kws-policy.js" => "../../plugins/examples/javascript/kws-policy.js",
];

const PYTHON: &[File] = template![
    "app.py" => "../templates/python/app.py",
    "test_app.py" => "../templates/python/test_app.py",
];

const PYTHON_HELPER: &[File] = template![
    "kws_policy.py" => "../../plugins/examples/python/kws_policy.py",
    "requirements.txt" => "../../plugins/examples/python/requirements.txt",
];

const C: &[File] = template![
    "policy.c" => "../templates/c/policy.c",
];

const C_HELPER: &[File] = template![
    "kws_policy.c" => "../../plugins/examples/c/kws_policy.c",
    "kws_policy.h" => "../../plugins/examples/c/kws_policy.h",
];

/// The placements of `scenario.yaml` with the policy as the template
/// writes it.
const EXPECTED: &str = include_str!("../templates/common/expected.txt");

/// Why `plugin new` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "{0:?} is no plugin name: a letter A-Z, then letters and digits (a plugin's name is a type name in most languages, e.g. LabelZone)"
    )]
    Name(String),
    #[error("{} exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error(transparent)]
    Write(#[from] BuildError),
}

/// `LabelZone` -> `label-zone`: the package name, and the folder's name
/// when none is given.
///
/// ```
/// assert_eq!(kws_host::plugin_template::package_name("LabelZone"), "label-zone");
/// assert_eq!(kws_host::plugin_template::package_name("GPUFirst2"), "gpufirst2");
/// ```
pub fn package_name(name: &str) -> String {
    let mut package = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let after_lower = i > 0 && chars[i - 1].is_ascii_lowercase();
        if c.is_ascii_uppercase() && after_lower {
            package.push('-');
        }
        package.push(c.to_ascii_lowercase());
    }
    package
}

/// Writes a new plugin folder `dir` for a plugin named `name` in
/// `language`; `dir` must not exist or be empty. Returns the files written,
/// relative to `dir`.
pub fn write(name: &str, language: Language, dir: &Path) -> Result<Vec<PathBuf>, NewError> {
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_uppercase())
        || !chars.all(|c| c.is_ascii_alphanumeric())
    {
        return Err(NewError::Name(name.to_string()));
    }
    if dir.exists() && std::fs::read_dir(dir).at(dir)?.next().is_some() {
        return Err(NewError::NotEmpty(dir.to_path_buf()));
    }
    let (files, verbatim, policy_file, unit_tests) = match language {
        Language::Rust => (
            RUST,
            RUST_VERBATIM,
            "src/lib.rs",
            "    cargo test                                       # unit tests\n",
        ),
        Language::Go => (GO, GO_HELPER, "main.go", ""),
        Language::JavaScript => (
            JAVASCRIPT,
            JAVASCRIPT_HELPER,
            "policy.js",
            "    npm test                                         # unit tests (node --test)\n",
        ),
        Language::Python => (
            PYTHON,
            PYTHON_HELPER,
            "app.py",
            "    python3 -m unittest                              # unit tests\n",
        ),
        Language::C => (C, C_HELPER, "policy.c", ""),
    };
    let display = match language {
        Language::Rust => "Rust",
        Language::Go => "Go",
        Language::JavaScript => "JavaScript",
        Language::Python => "Python",
        Language::C => "C",
    };
    let fill = |text: &str| {
        text.replace("{{Name}}", name)
            .replace("{{package}}", &package_name(name))
            .replace("{{Language}}", display)
            .replace("{{language}}", language.name())
            .replace("{{policy_file}}", policy_file)
            .replace("{{unit_tests}}", unit_tests)
            .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"))
    };
    let filled = files
        .iter()
        .chain(COMMON)
        .chain(&[("expected.txt", EXPECTED)])
        .map(|(path, text)| (*path, fill(text)));
    let verbatim = verbatim
        .iter()
        .chain(&[("wit/scheduler.wit", WIT)])
        .map(|(path, text)| (*path, text.to_string()));
    let mut written = Vec::new();
    for (path, text) in filled.chain(verbatim) {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        std::fs::write(&file, text).at(&file)?;
        written.push(PathBuf::from(path));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Rust folder vendors every source file of the SDK.
    #[test]
    fn the_vendored_sdk_is_the_whole_sdk() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk/src");
        let mut files: Vec<String> = std::fs::read_dir(&sdk)
            .unwrap()
            .map(|e| {
                format!(
                    "kws-plugin-sdk/src/{}",
                    e.unwrap().file_name().to_string_lossy()
                )
            })
            .collect();
        files.sort();
        let vendored: Vec<&str> = RUST_VERBATIM
            .iter()
            .map(|(path, _)| *path)
            .filter(|path| path.starts_with("kws-plugin-sdk/"))
            .collect();
        assert_eq!(files, vendored);
    }

    /// The vendored SDK's manifest asks for what the workspace gives the
    /// SDK, section by section: a dependency bumped in the workspace and
    /// not in the template would build a plugin folder against another
    /// version than the one tested here.
    #[test]
    fn the_vendored_sdk_manifest_has_the_workspaces_dependencies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        let workspace = read("Cargo.toml");
        let pinned = |name: &str| {
            let section = workspace
                .split("[workspace.dependencies]")
                .nth(1)
                .expect("a [workspace.dependencies] section");
            section
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("{name} is not a workspace dependency"))
                .to_string()
        };
        let sections = |manifest: &str| -> Vec<(String, Vec<(String, String)>)> {
            let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for line in manifest.lines().map(str::trim) {
                if line.starts_with('[') {
                    out.push((line.to_string(), Vec::new()));
                } else if let (Some((_, deps)), Some((name, rhs))) =
                    (out.last_mut(), line.split_once(" = "))
                {
                    deps.push((
                        name.trim_end_matches(".workspace").to_string(),
                        rhs.to_string(),
                    ));
                }
            }
            out.retain(|(header, _)| header.contains("dependencies"));
            out
        };
        let sdk: Vec<_> = sections(&read("plugin-sdk/Cargo.toml"))
            .into_iter()
            .map(|(header, deps)| {
                let deps = deps.into_iter().map(|(name, _)| {
                    let rhs = pinned(&name);
                    (name, rhs)
                });
                (header, deps.collect())
            })
            .collect();
        let template = sections(&read("host/templates/rust/kws-plugin-sdk/Cargo.toml"));
        assert_eq!(template, sdk);
    }

    #[test]
    fn names_that_are_no_type_name_are_refused() {
        let dir = std::env::temp_dir().join(format!("kws-template-{}", std::process::id()));
        for name in ["labelZone", "Label-Zone", ""] {
            assert!(
                matches!(write(name, Language::Go, &dir), Err(NewError::Name(_))),
                "{name}"
            );
        }
        assert!(!dir.exists());
    }

    #[test]
    fn every_language_gets_a_folder_plugin_build_recognises() {
        let base = std::env::temp_dir().join(format!("kws-template-langs-{}", std::process::id()));
        for language in Language::ALL {
            let dir = base.join(language.name());
            let files = write("MyPolicy", language, &dir).unwrap();
            assert!(files.contains(&PathBuf::from("expected.txt")));
            assert_eq!(Language::of(&dir).unwrap(), Some(language));
            let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
            assert!(gitignore.contains("*.wasm") && gitignore.contains("target/"));
            for file in ["README.md", "scenario.yaml", "expected.txt"] {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(
                    !text.contains("{{"),
                    "{}: a placeholder left in {file}",
                    language.name()
                );
            }
            assert!(matches!(
                write("MyPolicy", language, &dir),
                Err(NewError::NotEmpty(_))
            ));
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}
