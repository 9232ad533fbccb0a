//! The plugin runtime: loads components, checks them against the
//! `kws:scheduler/plugin` world, and runs their calls under a deadline and a
//! memory cap.
//!
//! One process-wide wasmtime [`Engine`] compiles every plugin; a background
//! thread advances its epoch every [`EPOCH_TICK`], which is how a call that
//! runs past its deadline is interrupted. A plugin is compiled once and
//! pre-instantiated ([`LoadedPlugin`]); [`PluginPool`] keeps one live
//! instance per scheduling worker.
//!
//! Plugins get only the `kws:scheduler/host` interface. Any other import
//! (for example the WASI interfaces a `wasm32-wasip2` build declares but
//! never calls) is linked to a function that traps: no filesystem, network,
//! environment or clock.

mod compiled;
mod host;
mod pool;
mod world;

pub use compiled::{CompileCache, Origin};
pub use host::{GuestFailure, HostState, MemoryCap, MemoryLimitHit, PreemptionHost};
pub use pool::{CallContext, PluginError, PluginPool};

use crate::wit::{ExtensionPoint, Plugin, PluginMetadata};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};
use world::{Exports, World};

/// How often the engine's epoch advances: the resolution of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// The limits a plugin's calls run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub call_timeout: Duration,
    pub memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(1),
            memory_bytes: 128 << 20,
        }
    }
}

/// The largest plugin file loaded, in bytes: 64 MiB. The largest real
/// component, Python's interpreter with a policy, is about 18.5 MB.
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// Reads a plugin file: a regular file (or a symlink to one; a FIFO or a
/// device is refused without being opened for a blocking read) of at most
/// [`MAX_PLUGIN_BYTES`]. The first 8 bytes are checked before the rest is
/// read, so a large file that is no component costs one small read.
pub fn read_plugin_file(file: &Path) -> Result<Vec<u8>, LoadError> {
    use crate::files::{self, Kind};
    let fail = |detail: String| LoadError {
        file: file.to_path_buf(),
        detail,
    };
    let mut reader = files::open(file, Kind::Regular, MAX_PLUGIN_BYTES, "a plugin file")
        .map_err(|e| fail(e.to_string()))?;
    let header = reader.read_prefix(8).map_err(|e| fail(e.to_string()))?;
    check_header(&header).map_err(fail)?;
    reader.read_rest(header).map_err(|e| fail(e.to_string()))
}

/// Refuses bytes that do not begin as a component does (the first 8 are
/// enough); a truncated or malformed rest is left to the compiler.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(b"\0asm") {
        return Err("not a WebAssembly file".to_string());
    }
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(
            "a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it with `wasm-tools component new`".to_string(),
        );
    }
    Ok(())
}

/// A plugin that could not be loaded, with the file it came from.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", file.display())]
pub struct LoadError {
    pub file: PathBuf,
    pub detail: String,
}

/// The interfaces a plugin may import and get: the host's functions, and
/// the record types they use, in both worlds the host serves. Nothing else
/// is served: no filesystem, network, environment, clock or randomness.
pub const GRANTED_IMPORTS: [&str; 8] = [
    "kws:scheduler/host@0.3.0",
    "kws:scheduler/preemption@0.3.0",
    "kws:scheduler/pod-groups@0.3.0",
    "kws:scheduler/volumes@0.3.0",
    "kws:scheduler/resource-claims@0.3.0",
    "kws:scheduler/types@0.3.0",
    "kws:scheduler/host@0.2.0",
    "kws:scheduler/types@0.2.0",
];

/// Imports that ask for what no plugin ever gets are refused at load, so
/// the author learns it from `plugin check` rather than from a trap on the
/// first pod. Other WASI interfaces (`io`, `cli`, `clocks`, `random`) are
/// declared by standard toolchains whether or not the code calls them:
/// they load, and trap if called.
fn refused_import(import: &str) -> Option<&'static str> {
    if GRANTED_IMPORTS.contains(&import) {
        return None;
    }
    let interface = import.split('@').next().unwrap_or(import);
    if interface.starts_with("kws:scheduler/") {
        return Some(
            "another version of the plugin world (this host serves kws:scheduler@0.3.0 and @0.2.0)",
        );
    }
    match interface.split('/').next() {
        Some("wasi:filesystem") => Some("plugins get no filesystem"),
        Some("wasi:sockets" | "wasi:http") => Some("plugins get no network"),
        Some("wasi:io" | "wasi:cli" | "wasi:clocks" | "wasi:random") => None,
        _ => Some("no host provides it; plugins get only kws:scheduler/host"),
    }
}

/// A plugin component, compiled and checked, ready to instantiate.
pub struct LoadedPlugin {
    pub metadata: PluginMetadata,
    pub file: PathBuf,
    /// SHA-256 of the file, hex.
    pub digest: String,
    pub size_bytes: u64,
    /// The component's imports by name; only [`GRANTED_IMPORTS`] are served.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Whether its code was compiled now or came from the compile cache.
    pub origin: Origin,
    /// From the bytes in memory to ready to instantiate.
    pub load_time: Duration,
    world: World,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("metadata", &self.metadata)
            .field("file", &self.file)
            .finish()
    }
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn implements(&self, point: ExtensionPoint) -> bool {
        self.metadata.extension_points.contains(&point)
    }

    /// The version of the `kws:scheduler` world it was built against:
    /// `0.3.0`, or `0.2.0` (filter, score and normalize-score only).
    pub fn world_version(&self) -> &'static str {
        self.world.version()
    }

    /// Compiles a component file and checks it against the world: its
    /// exports, its imports (only the host interface is served), and its
    /// metadata. [`Loader`] does the same with a compile cache.
    ///
    /// ```no_run
    /// let plugin = kws_host::runtime::LoadedPlugin::load("plugins/node-name.wasm".as_ref())?;
    /// println!("{} {}", plugin.name(), plugin.metadata.version);
    /// # Ok::<(), kws_host::runtime::LoadError>(())
    /// ```
    pub fn load(file: &Path) -> Result<LoadedPlugin, LoadError> {
        Loader::default().load(file)
    }

    /// A fresh instance in its own store.
    fn instantiate(&self, state: HostState) -> wasmtime::Result<(Store<HostState>, Exports)> {
        let mut store = new_store(state);
        let exports = self.world.instantiate(&mut store)?;
        Ok((store, exports))
    }
}

/// Loads plugin components, through a compile cache when it has one.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    cache: Option<CompileCache>,
}

impl Loader {
    pub fn new(cache: Option<CompileCache>) -> Loader {
        Loader { cache }
    }

    /// Reads and loads one file (see [`LoadedPlugin::load`] and
    /// [`read_plugin_file`]).
    pub fn load(&self, file: &Path) -> Result<LoadedPlugin, LoadError> {
        let bytes = read_plugin_file(file)?;
        self.load_bytes(file, &bytes)
    }

    /// Loads the content of `file`, already read: the digest and the code
    /// come from the same bytes even if the file changes meanwhile.
    pub fn load_bytes(&self, file: &Path, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let started = Instant::now();
        let fail = |detail: String| LoadError {
            file: file.to_path_buf(),
            detail,
        };
        check_header(bytes).map_err(fail)?;
        let digest = sha256_hex(bytes);
        let (component, origin) = match &self.cache {
            Some(cache) => cache.component(engine(), &digest, bytes),
            None => Component::new(engine(), bytes).map(|c| (c, Origin::Compiled)),
        }
        .map_err(|e| fail(format!("not a valid component: {e:#}")))?;
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(engine())
            .map(|(name, _)| name.to_string())
            .collect();
        if let Some((import, why)) = imports
            .iter()
            .find_map(|i| refused_import(i).map(|why| (i, why)))
        {
            return Err(fail(format!("imports {import}: {why}")));
        }
        let exports: Vec<String> = ty
            .exports(engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let mut linker = base_linker().clone();
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| fail(format!("cannot link its imports: {e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| fail(format!("cannot link its imports: {e:#}")))?;
        let world = World::of(instance_pre, &exports).map_err(fail)?;
        let mut store = new_store(HostState::new("(loading)".into(), Limits::default()));
        let bindings = world
            .instantiate(&mut store)
            .map_err(|e| fail(format!("cannot be instantiated: {e:#}")))?;
        let metadata = bindings
            .metadata(&mut store)
            .map_err(|e| fail(format!("metadata() failed: {e:#}")))?;
        if metadata.name.is_empty() {
            return Err(fail("metadata() returned an empty plugin name".to_string()));
        }
        if let Some(point) = metadata
            .extension_points
            .iter()
            .find(|p| !world.exports(**p))
        {
            return Err(fail(format!(
                "metadata() lists {} but the component does not export its interface \
                 (kws:scheduler/{}@{})",
                point_name(*point),
                interface_name(*point),
                world.version()
            )));
        }
        Ok(LoadedPlugin {
            metadata,
            file: file.to_path_buf(),
            digest,
            size_bytes: bytes.len() as u64,
            imports,
            exports,
            origin,
            load_time: started.elapsed(),
            world,
        })
    }

    /// Loads every `*.wasm` file of a directory (hidden files aside: they
    /// are how writers stage a file before renaming it into place). Files
    /// that fail are returned beside the plugins that loaded, so one bad
    /// file does not stop the rest.
    pub fn load_dir(
        &self,
        dir: &Path,
    ) -> Result<(Vec<Arc<LoadedPlugin>>, Vec<LoadError>), LoadError> {
        let files = plugin_files(dir).map_err(|e| LoadError {
            file: dir.to_path_buf(),
            detail: format!("cannot read the plugin directory: {e}"),
        })?;
        let (plugins, mut refused) =
            first_of_each_name(files.iter().map(|file| self.load(file).map(Arc::new)));
        refused.extend(miscased_plugin_files(dir));
        Ok((plugins, refused))
    }
}

/// Splits load results into the plugins to run and the refusals; a file
/// whose plugin name an earlier file already took is refused.
pub fn first_of_each_name(
    results: impl IntoIterator<Item = Result<Arc<LoadedPlugin>, LoadError>>,
) -> (Vec<Arc<LoadedPlugin>>, Vec<LoadError>) {
    let mut plugins: Vec<Arc<LoadedPlugin>> = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(plugin) => match plugins.iter().find(|p| p.name() == plugin.name()) {
                Some(first) => errors.push(LoadError {
                    file: plugin.file.clone(),
                    detail: format!(
                        "plugin name {} is already taken by {}",
                        plugin.name(),
                        first.file.display()
                    ),
                }),
                None => plugins.push(plugin),
            },
            Err(e) => errors.push(e),
        }
    }
    (plugins, errors)
}

/// Loads every plugin of a directory with no compile cache; see
/// [`Loader::load_dir`].
pub fn load_dir(dir: &Path) -> Result<(Vec<Arc<LoadedPlugin>>, Vec<LoadError>), LoadError> {
    Loader::default().load_dir(dir)
}

/// The plugin files of a directory, sorted: `*.wasm`, not hidden.
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_plugin_file(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Files named like plugins but for the case of their extension
/// (`policy.WASM`): not loaded, and refused by name so that the operator
/// learns why the plugin is missing.
pub fn miscased_plugin_files(dir: &Path) -> Vec<LoadError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !is_plugin_file(p)
                && p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("wasm"))
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| LoadError {
            file,
            detail: "not loaded: plugin files end in `.wasm`, in lower case".to_string(),
        })
        .collect()
}

/// `*.wasm` and not hidden.
pub(crate) fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "wasm")
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The process-wide engine, with its epoch ticking.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).expect("the wasmtime configuration is valid");
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .expect("the epoch thread starts");
        engine
    })
}

/// A linker that serves the host interface; shared by every plugin.
fn base_linker() -> &'static Linker<HostState> {
    static LINKER: OnceLock<Linker<HostState>> = OnceLock::new();
    LINKER.get_or_init(|| {
        let mut linker = Linker::new(engine());
        Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .expect("the host interface links");
        crate::wit::v0_2::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .expect("the 0.2.0 host interface links");
        linker
    })
}

fn new_store(state: HostState) -> Store<HostState> {
    let timeout = state.call_timeout;
    let mut store = Store::new(engine(), state);
    store.limiter(|state| &mut state.memory);
    // Instantiation runs the component's start code: it gets a deadline too.
    store.set_epoch_deadline(deadline_ticks(timeout));
    // The deadline bounds the plugin's own work. Time it spent waiting on
    // host calls that run other plugins (preemption's what-if filters,
    // each call of which has its own deadline) is given back once.
    store.epoch_deadline_callback(|mut ctx| {
        let owed = std::mem::take(&mut ctx.data_mut().host_time);
        let ticks = u64::try_from(owed.as_nanos() / EPOCH_TICK.as_nanos()).unwrap_or(u64::MAX);
        Ok(if ticks > 0 {
            wasmtime::UpdateDeadline::Continue(ticks)
        } else {
            wasmtime::UpdateDeadline::Interrupt
        })
    });
    store
}

/// The name of an extension point as the WIT spells it.
pub fn point_name(point: ExtensionPoint) -> &'static str {
    match point {
        ExtensionPoint::PreEnqueue => "pre-enqueue",
        ExtensionPoint::PreFilter => "pre-filter",
        ExtensionPoint::Filter => "filter",
        ExtensionPoint::PostFilter => "post-filter",
        ExtensionPoint::PreScore => "pre-score",
        ExtensionPoint::Score => "score",
        ExtensionPoint::NormalizeScore => "normalize-score",
        ExtensionPoint::Reserve => "reserve",
        ExtensionPoint::Permit => "permit",
        ExtensionPoint::PreBind => "pre-bind",
        ExtensionPoint::Bind => "bind",
        ExtensionPoint::PostBind => "post-bind",
        ExtensionPoint::EnqueueExtensions => "enqueue-extensions",
    }
}

/// The WIT interface that carries an extension point.
fn interface_name(point: ExtensionPoint) -> &'static str {
    match point {
        ExtensionPoint::NormalizeScore => "score",
        other => point_name(other),
    }
}

/// Epoch ticks for a deadline, rounded up, plus one for the tick in progress.
fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    u64::try_from(timeout.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX - 1) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upper_case_extension_is_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("kws-miscased-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["policy.WASM", "other.Wasm", ".staged.WASM", "notes.txt"] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let (plugins, refused) = load_dir(&dir).unwrap();
        assert!(plugins.is_empty());
        let names: Vec<String> = refused
            .iter()
            .map(|e| e.file.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["other.Wasm", "policy.WASM"]);
        assert!(refused[0].detail.contains("`.wasm`, in lower case"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Property: arbitrary bytes given as a component, with or without a
    /// component's header, are refused with an error, without a panic and
    /// quickly.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// The preamble of a component (magic, version 0xd, layer 1).
        const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

        fn refused_quickly(bytes: &[u8]) -> Result<(), TestCaseError> {
            let started = Instant::now();
            let loaded = Loader::new(None).load_bytes(Path::new("fuzz.wasm"), bytes);
            let took = started.elapsed();
            match loaded {
                Ok(plugin) => {
                    return Err(TestCaseError::fail(format!("loaded: {}", plugin.name())));
                }
                Err(e) => prop_assert!(!e.detail.is_empty()),
            }
            prop_assert!(took < Duration::from_secs(5), "took {took:?}");
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
                refused_quickly(&bytes)?;
            }

            #[test]
            fn arbitrary_sections_after_a_component_header_are_refused(
                sections in prop::collection::vec((0..14u8, prop::collection::vec(any::<u8>(), 0..120)), 0..6),
            ) {
                let mut bytes = COMPONENT_HEADER.to_vec();
                for (id, payload) in sections {
                    bytes.push(id);
                    bytes.push(payload.len() as u8);
                    bytes.extend(payload);
                }
                refused_quickly(&bytes)?;
            }
        }
    }
}
