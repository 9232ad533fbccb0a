//! `plugin build`: turns one plugin folder into a component, in the
//! folder's own language, with pinned tools fetched into a cache, so an
//! author needs that language's toolchain and nothing else:
//! - Rust (`Cargo.toml`): `cargo build --release --target wasm32-wasip2`;
//! - Go (`go.mod`): the installed Go (the `toolchain` line of `go.mod` pins
//!   the version; Go fetches it when the installed one is older),
//!   `GOOS=wasip1 -buildmode=c-shared`, then the world (trimmed to the
//!   interfaces the module exports) is embedded and the module wrapped into
//!   a component with a deny-all `wasi_snapshot_preview1` adapter;
//! - JavaScript (`package.json`): componentize-qjs, installed with `npm ci`
//!   under the cache from the folder's `package-lock.json`, or else from the
//!   lock this binary carries;
//! - Python (`requirements.txt`): componentize-py in a venv under the cache,
//!   the version the folder's `requirements.txt` pins;
//! - C (`*.c`): bindings from `wit-bindgen-c` (built into this binary),
//!   clang with wasi-libc, then `wit-component`.
//!
//! A folder is built against its own `wit/` directory when it has one (or,
//! for JavaScript, the one `package.json` names in `config.wit`), else
//! against the WIT this binary speaks ([`WIT`]). The `wasm-tools` and
//! `wit-bindgen` steps run through their library crates, so nothing needs
//! `cargo install`. A folder is rebuilt only when its sources, the WIT or
//! its tools change: a digest of them is kept beside the component.

mod c;
mod component;
mod go;
mod javascript;
mod python;
mod rust;
mod tools;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use tools::default_cache_dir;

/// The WIT package (`kws:scheduler`) this binary speaks: what a folder
/// without a `wit/` directory of its own is built against, and what
/// `plugin new` writes into a new folder.
pub const WIT: &str = include_str!("../../../wit/scheduler.wit");

/// The world every plugin implements.
pub const WORLD: &str = "plugin";

/// A language `plugin build` builds, recognised by a file in the folder
/// (checked in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// `Cargo.toml`
    Rust,
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
    /// Every language, in the order `plugin new --lang` lists them.
    pub const ALL: [Language; 5] = [
        Language::Rust,
        Language::Go,
        Language::JavaScript,
        Language::Python,
        Language::C,
    ];

    /// What the folder holds, or `None` when it is no plugin folder.
    pub fn of(folder: &Path) -> Result<Option<Language>, BuildError> {
        Ok(if folder.join("Cargo.toml").exists() {
            Some(Language::Rust)
        } else if folder.join("go.mod").exists() {
            Some(Language::Go)
        } else if folder.join("package.json").exists() {
            Some(Language::JavaScript)
        } else if folder.join("requirements.txt").exists() {
            Some(Language::Python)
        } else if c::sources(folder)?.is_empty() {
            None
        } else {
            Some(Language::C)
        })
    }

    /// `rust`, `go`, `javascript`, `python`, `c`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Go => "go",
            Language::JavaScript => "javascript",
            Language::Python => "python",
            Language::C => "c",
        }
    }
}

/// Why a folder did not build.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is no plugin folder: it has no Cargo.toml, go.mod, package.json, requirements.txt or .c file",
        .0.display()
    )]
    NotAPlugin(PathBuf),
    #[error("{tool} is needed to build a {language} plugin: {hint}")]
    MissingTool {
        tool: String,
        language: &'static str,
        hint: String,
    },
    #[error("{command} failed{detail}")]
    Failed { command: String, detail: String },
    #[error("{}: {problem}", file.display())]
    Folder { file: PathBuf, problem: String },
    #[error("making the component: {0:#}")]
    Component(anyhow::Error),
}

impl From<anyhow::Error> for BuildError {
    fn from(error: anyhow::Error) -> Self {
        BuildError::Component(error)
    }
}

/// `std::fs` results with the path in the error.
pub(crate) trait AtPath<T> {
    fn at(self, path: &Path) -> Result<T, BuildError>;
}

impl<T> AtPath<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T, BuildError> {
        self.map_err(|source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// One plugin folder and what it is built with.
#[derive(Debug, Clone)]
pub struct Folder {
    pub source: PathBuf,
    pub language: Language,
    /// The WIT directory built against.
    pub wit: PathBuf,
    /// Where the pinned tools are installed (`npm ci`, the venv).
    pub cache: PathBuf,
}

/// A built component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub file: PathBuf,
    pub size_bytes: u64,
    /// sha256 of the component, hex (what `plugin check` prints).
    pub sha256: String,
    /// False when the sources were unchanged since the last build.
    pub rebuilt: bool,
}

impl Folder {
    /// The plugin folder `source`, its tools installed under `cache`.
    pub fn open(source: &Path, cache: &Path) -> Result<Folder, BuildError> {
        // The tools run in other directories.
        let source = std::path::absolute(source).at(source)?;
        let cache = std::path::absolute(cache).at(cache)?;
        let (source, cache) = (source.as_path(), cache.as_path());
        let language =
            Language::of(source)?.ok_or_else(|| BuildError::NotAPlugin(source.to_path_buf()))?;
        let wit = match own_wit(source, language)? {
            Some(wit) => wit,
            None => embedded_wit(cache)?,
        };
        Ok(Folder {
            source: source.to_path_buf(),
            language,
            wit,
            cache: cache.to_path_buf(),
        })
    }

    /// The folder's name: the component's file stem.
    pub fn name(&self) -> String {
        self.source
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string()
    }

    /// Installs (or checks) the folder's tools; returns a string that
    /// changes when they do (a version, or the pins they come from).
    pub fn tools(&self) -> Result<String, BuildError> {
        match self.language {
            Language::Rust => rust::tools(),
            Language::Go => go::tools(),
            Language::JavaScript => javascript::tools(&self.source, &self.cache),
            Language::Python => python::tools(&self.source, &self.cache),
            Language::C => c::tools(),
        }
    }

    /// Builds the component into `out` (written under a temporary name and
    /// renamed, so a host watching the directory never sees half a file),
    /// with `scratch` for the steps in between; nothing is built when the
    /// sources, WIT and tools are those of the component already there.
    pub fn build_into(&self, out: &Path, scratch: &Path) -> Result<Built, BuildError> {
        let tools = self.tools()?;
        let name = out.file_name().unwrap_or_default().to_string_lossy();
        let stamp = out.with_file_name(format!(".{name}.inputs"));
        // A JavaScript module may import from outside the folder (its
        // `config.moduleRoot`): such a folder is always rebuilt.
        let digest = match self.language {
            Language::JavaScript if javascript::module_root(&self.source)? != self.source => None,
            _ => Some(self.inputs_digest(&tools)?),
        };
        let rebuilt =
            !(out.exists() && digest.is_some() && std::fs::read_to_string(&stamp).ok() == digest);
        if rebuilt {
            std::fs::create_dir_all(scratch).at(scratch)?;
            let bytes = match self.language {
                Language::Rust => rust::build(&self.source)?,
                Language::Go => go::build(&self.wit, &self.source, scratch)?,
                Language::JavaScript => {
                    javascript::build(&self.wit, &self.source, &self.cache, scratch)?
                }
                Language::Python => python::build(&self.wit, &self.source, &self.cache, scratch)?,
                Language::C => c::build(&self.wit, &self.source, scratch)?,
            };
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).at(parent)?;
            }
            write_atomically(out, &bytes)?;
            // After the build: the build may write a lock file.
            if digest.is_some() {
                let digest = self.inputs_digest(&tools)?;
                std::fs::write(&stamp, digest).at(&stamp)?;
            }
        }
        let bytes = std::fs::read(out).at(out)?;
        Ok(Built {
            file: out.to_path_buf(),
            size_bytes: bytes.len() as u64,
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            rebuilt,
        })
    }

    /// A digest of everything the component is built from: the folder's
    /// files (not its build outputs), the WIT and the tools.
    fn inputs_digest(&self, tools: &str) -> Result<String, BuildError> {
        let mut files = Vec::new();
        collect_files(&self.source, &mut files)?;
        collect_files(&self.wit, &mut files)?;
        files.sort();
        let mut hasher = Sha256::new();
        hasher.update(tools.as_bytes());
        for file in files {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update(std::fs::read(&file).at(&file)?);
        }
        Ok(format!("{:x}", hasher.finalize()))
    }
}

/// The folder's own WIT directory: `wit/`, or for JavaScript the one
/// `package.json` names in `config.wit` (relative to the folder).
fn own_wit(source: &Path, language: Language) -> Result<Option<PathBuf>, BuildError> {
    if language == Language::JavaScript
        && let Some(wit) = javascript::package_json(source)?["config"]["wit"].as_str()
    {
        return Ok(Some(source.join(wit)));
    }
    let wit = source.join("wit");
    Ok(wit.is_dir().then_some(wit))
}

/// [`WIT`] written under the cache, as the tools read a directory.
fn embedded_wit(cache: &Path) -> Result<PathBuf, BuildError> {
    let digest = format!("{:x}", Sha256::digest(WIT.as_bytes()));
    let dir = cache.join("wit").join(&digest[..16]);
    let file = dir.join("scheduler.wit");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(WIT) {
        std::fs::create_dir_all(&dir).at(&dir)?;
        write_atomically(&file, WIT.as_bytes())?;
    }
    Ok(dir)
}

/// Build outputs and tool state a folder may hold, left out of its digest.
const NOT_SOURCES: &[&str] = &["target", "node_modules", "__pycache__", "venv"];

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), BuildError> {
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || NOT_SOURCES.contains(&name.as_ref()) || name.ends_with(".wasm")
        {
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

/// Writes under a temporary name and renames, so a host watching the
/// directory never sees a half-written component.
pub fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let partial = file.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, bytes).at(&partial)?;
    std::fs::rename(&partial, file).at(file)
}
