//! The watched plugin directory: a file dropped in, replaced or removed
//! becomes a [`PluginUpdate`] for the scheduling loop, which swaps it in
//! between cycles.
//!
//! Compiling happens here, on the watcher's own thread, never on the
//! scheduling loop. File system events mostly say "look again": after they
//! stop for [`QUIET`], the directory is scanned and each `*.wasm` file whose
//! size, modification time and then content (SHA-256) changed is loaded
//! from one read of its bytes. That covers writers that write in place (a
//! half-written file fails to load and is refused; the write's last event
//! triggers another look). A rename into the directory is the exception: a
//! renamed file is complete, so it is looked at at once, with no quiet
//! period (a finished `*.wasm` renamed into place from a hidden
//! `.name.wasm` staging file, which is ignored; or a ConfigMap volume's
//! `..data` symlink swapped, which changes every file at once and scans
//! the directory); at most once per quiet period, so a writer renaming
//! in a loop is coalesced as one writing in place is. A slow rescan catches
//! anything the events missed.
//! Only regular files (or symlinks to them) of at most
//! [`MAX_PLUGIN_BYTES`](crate::runtime::MAX_PLUGIN_BYTES) are read: a FIFO
//! or a device named `*.wasm` is refused, never waited on.

use crate::runtime::{
    LoadError, LoadedPlugin, Loader, first_of_each_name, miscased_plugin_files, plugin_files,
    read_plugin_file,
};
use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant, SystemTime};

/// How long the directory must be still before it is scanned.
pub const QUIET: Duration = Duration::from_millis(100);
/// The longest a scan waits for quiet: a directory written to without
/// pause (a writer swapping files every few milliseconds) is still scanned.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// How often the directory is scanned with no event at all.
const RESCAN: Duration = Duration::from_secs(5);

/// A change of the plugin directory, already compiled and checked.
#[derive(Debug)]
pub enum PluginUpdate {
    /// A new or changed file that loaded and implements the world.
    Loaded(Arc<LoadedPlugin>),
    /// A new or changed file that cannot serve (not a component, truncated,
    /// another world...); whatever served before keeps serving.
    Refused(LoadError),
    /// A file that was there is gone.
    Removed(PathBuf),
}

/// What was seen of a file the last time it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    digest: String,
}

/// The directory as last scanned.
struct Scanner {
    dir: PathBuf,
    loader: Loader,
    seen: HashMap<PathBuf, Seen>,
}

impl Scanner {
    /// Loads what changed since the last scan; one update per change.
    fn scan(&mut self) -> Vec<PluginUpdate> {
        let mut updates = Vec::new();
        let files = match plugin_files(&self.dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the plugin directory");
                return updates;
            }
        };
        for file in &files {
            if let Some(update) = self.look_at(file) {
                updates.push(update);
            }
        }
        let gone: Vec<PathBuf> = self
            .seen
            .keys()
            .filter(|f| !files.contains(f))
            .cloned()
            .collect();
        for file in gone {
            self.seen.remove(&file);
            updates.push(PluginUpdate::Removed(file));
        }
        updates
    }

    fn look_at(&mut self, file: &Path) -> Option<PluginUpdate> {
        // `metadata` follows symlinks: a ConfigMap's files are links.
        let meta = std::fs::metadata(file).ok()?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        if let Some(seen) = self.seen.get(file)
            && seen.len == len
            && seen.modified == modified
        {
            return None;
        }
        let bytes = match read_plugin_file(file) {
            Ok(bytes) => bytes,
            // Gone between listing and reading: the next scan sees it.
            Err(_) if std::fs::metadata(file).is_err() => return None,
            Err(error) => {
                // Not a regular file, too large, not a component's header:
                // reported once, not at every scan while the reason holds.
                let digest = format!("refused: {}", error.detail);
                let same = self.seen.get(file).is_some_and(|old| old.digest == digest);
                let seen = Seen {
                    len,
                    modified,
                    digest,
                };
                self.seen.insert(file.to_path_buf(), seen);
                return (!same).then_some(PluginUpdate::Refused(error));
            }
        };
        let digest = crate::runtime::sha256_hex(&bytes);
        let seen = Seen {
            len: bytes.len() as u64,
            modified,
            digest,
        };
        let same_content = self
            .seen
            .get(file)
            .is_some_and(|old| old.digest == seen.digest);
        self.seen.insert(file.to_path_buf(), seen);
        if same_content {
            return None;
        }
        Some(match self.loader.load_bytes(file, &bytes) {
            Ok(plugin) => PluginUpdate::Loaded(Arc::new(plugin)),
            Err(error) => PluginUpdate::Refused(error),
        })
    }
}

/// A watched plugin directory. Events are collected from [`PluginDir::open`]
/// on, so nothing written between the first scan and
/// [`PluginDir::follow`] is missed. Watching stops when it is dropped.
pub struct PluginDir {
    _watcher: notify::RecommendedWatcher,
    follower: Option<(Scanner, Receiver<Wakeup>)>,
}

impl PluginDir {
    /// Starts watching `dir` and scans it once: the plugins to start with
    /// (the first file of each plugin name) and the files refused.
    ///
    /// ```no_run
    /// use kws_host::plugin_dir::PluginDir;
    /// use kws_host::runtime::Loader;
    /// let (mut dir, plugins, refused) = PluginDir::open("plugins".as_ref(), Loader::default())?;
    /// dir.follow(|update| {
    ///     println!("{update:?}");
    ///     true
    /// })?;
    /// # Ok::<(), notify::Error>(())
    /// ```
    pub fn open(
        dir: &Path,
        loader: Loader,
    ) -> notify::Result<(PluginDir, Vec<Arc<LoadedPlugin>>, Vec<LoadError>)> {
        let (events, wakeups) = channel::<Wakeup>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) => {
                    let _ = events.send(Wakeup::of(event));
                }
                Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
            })?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        let mut scanner = Scanner {
            dir: dir.to_path_buf(),
            loader,
            seen: HashMap::new(),
        };
        let (plugins, mut refused) = first_of_each_name(scanner.scan().into_iter().filter_map(
            |update| match update {
                PluginUpdate::Loaded(plugin) => Some(Ok(plugin)),
                PluginUpdate::Refused(error) => Some(Err(error)),
                PluginUpdate::Removed(_) => None,
            },
        ));
        refused.extend(miscased_plugin_files(dir));
        let dir = PluginDir {
            _watcher: watcher,
            follower: Some((scanner, wakeups)),
        };
        Ok((dir, plugins, refused))
    }

    /// Passes each later change to `send`, from a thread of its own, until
    /// `send` returns false or this is dropped. Only the first call starts
    /// a thread.
    pub fn follow(
        &mut self,
        send: impl Fn(PluginUpdate) -> bool + Send + 'static,
    ) -> std::io::Result<()> {
        let Some((mut scanner, wakeups)) = self.follower.take() else {
            return Ok(());
        };
        std::thread::Builder::new()
            .name("plugin-dir".into())
            .spawn(move || {
                let sent = |updates: Vec<PluginUpdate>| updates.into_iter().all(&send);
                // At most one look at once per quiet period: a writer
                // renaming files in a loop is coalesced by the quiet wait
                // as in-place writes are.
                let mut looked_at_once: Option<Instant> = None;
                loop {
                    match wakeups.recv_timeout(RESCAN) {
                        Ok(first) => {
                            let mut placed = |wakeup| {
                                if looked_at_once.is_some_and(|at| at.elapsed() < QUIET) {
                                    return true;
                                }
                                let updates = scanner.look_at_placed(wakeup);
                                if !updates.is_empty() {
                                    looked_at_once = Some(Instant::now());
                                }
                                sent(updates)
                            };
                            if !placed(first) || !wait_until_quiet(&wakeups, placed) {
                                return;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if !sent(scanner.scan()) {
                        return;
                    }
                }
            })?;
        Ok(())
    }
}

/// What a file system event asks of the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wakeup {
    /// Something changed: look again once the directory is quiet.
    Changed,
    /// This path was renamed into the directory: whatever it is, it is
    /// complete, so it can be looked at now.
    Placed(PathBuf),
}

impl Wakeup {
    fn of(event: notify::Event) -> Wakeup {
        let target = match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event.paths.first(),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => event.paths.get(1),
            _ => None,
        };
        target.map_or(Wakeup::Changed, |path| Wakeup::Placed(path.clone()))
    }
}

impl Scanner {
    /// What a wakeup shows at once: a plugin file renamed into place is
    /// loaded; anything else renamed in (a ConfigMap's `..data` link, which
    /// swaps every file) scans the directory. Nothing for other events,
    /// which wait for quiet.
    fn look_at_placed(&mut self, wakeup: Wakeup) -> Vec<PluginUpdate> {
        match wakeup {
            Wakeup::Changed => Vec::new(),
            Wakeup::Placed(path) if crate::runtime::is_plugin_file(&path) => {
                self.look_at(&path).into_iter().collect()
            }
            Wakeup::Placed(path) if is_hidden(&path) => Vec::new(),
            Wakeup::Placed(_) => self.scan(),
        }
    }
}

/// A hidden file, such as a writer's staging copy, is nobody's plugin.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && !n.starts_with(".."))
}

/// Swallows events until none came for [`QUIET`], or [`MAX_WAIT`] passed,
/// handing each to `placed` as it comes; false when `placed` said stop.
fn wait_until_quiet(wakeups: &Receiver<Wakeup>, mut placed: impl FnMut(Wakeup) -> bool) -> bool {
    let latest = Instant::now() + MAX_WAIT;
    let mut deadline = Instant::now() + QUIET;
    loop {
        match wakeups.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(wakeup) => {
                if !placed(wakeup) {
                    return false;
                }
                deadline = (Instant::now() + QUIET).min(latest);
            }
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kws-plugin-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn scanner(dir: &Path) -> Scanner {
        Scanner {
            dir: dir.to_path_buf(),
            loader: Loader::default(),
            seen: HashMap::new(),
        }
    }

    fn summary(updates: &[PluginUpdate]) -> Vec<String> {
        updates
            .iter()
            .map(|u| match u {
                PluginUpdate::Loaded(p) => format!("loaded {}", p.file.display()),
                PluginUpdate::Refused(e) => format!("refused {}", e.file.display()),
                PluginUpdate::Removed(f) => format!("removed {}", f.display()),
            })
            .collect()
    }

    #[test]
    fn only_changed_content_is_reloaded() {
        let dir = temp_dir("changes");
        let mut scanner = scanner(&dir);
        let a = dir.join("a.wasm");
        std::fs::write(&a, b"not wasm").unwrap();
        std::fs::write(dir.join(".a.wasm.partial"), b"staging").unwrap();
        std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        assert_eq!(
            summary(&scanner.scan()),
            [format!("refused {}", a.display())]
        );
        assert!(scanner.scan().is_empty(), "nothing changed");

        // Rewritten with the same bytes: a new mtime, the same digest.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&a, b"not wasm").unwrap();
        assert!(scanner.scan().is_empty(), "same content");

        std::fs::write(&a, b"\0asm but cut").unwrap();
        assert_eq!(
            summary(&scanner.scan()),
            [format!("refused {}", a.display())]
        );

        std::fs::remove_file(&a).unwrap();
        assert_eq!(
            summary(&scanner.scan()),
            [format!("removed {}", a.display())]
        );
        assert!(scanner.scan().is_empty());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn fifos_and_devices_are_refused_once_without_blocking() {
        let dir = temp_dir("special");
        let fifo = dir.join("fifo.wasm");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let zero = dir.join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let mut scanner = scanner(&dir);
        let (done, scans) = channel();
        std::thread::spawn(move || {
            let first = summary(&scanner.scan());
            let _ = done.send((first, summary(&scanner.scan())));
        });
        let (first, second) = scans
            .recv_timeout(Duration::from_secs(10))
            .expect("the scans finish");
        assert_eq!(
            first,
            [
                format!("refused {}", fifo.display()),
                format!("refused {}", zero.display())
            ]
        );
        assert!(second.is_empty(), "reported once: {second:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_rename_into_place_is_looked_at_alone_and_at_once() {
        use notify::event::{CreateKind, DataChange, Event};
        let dir = temp_dir("placed");
        let mut scanner = scanner(&dir);
        let (placed, other) = (dir.join("a.wasm"), dir.join("b.wasm"));
        let renamed = |mode, paths: &[&Path]| {
            let kind = EventKind::Modify(ModifyKind::Name(mode));
            paths
                .iter()
                .fold(Event::new(kind), |event, p| event.add_path(p.to_path_buf()))
        };
        assert_eq!(
            Wakeup::of(renamed(RenameMode::Both, &[&dir.join(".a.wasm"), &placed])),
            Wakeup::Placed(placed.clone())
        );
        assert_eq!(
            Wakeup::of(renamed(RenameMode::To, &[&placed])),
            Wakeup::Placed(placed.clone())
        );
        let written = Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any)));
        assert_eq!(Wakeup::of(written), Wakeup::Changed);
        let created = Event::new(EventKind::Create(CreateKind::File));
        assert_eq!(Wakeup::of(created), Wakeup::Changed);

        // b.wasm is being written in place: only the renamed file is read
        // now, b.wasm waits for quiet.
        std::fs::write(&placed, b"junk").unwrap();
        std::fs::write(&other, b"half").unwrap();
        assert_eq!(
            summary(&scanner.look_at_placed(Wakeup::Placed(placed.clone()))),
            [format!("refused {}", placed.display())]
        );
        assert!(scanner.look_at_placed(Wakeup::Changed).is_empty());
        let staging = Wakeup::Placed(dir.join(".c.wasm"));
        assert!(scanner.look_at_placed(staging).is_empty());
        // A ConfigMap volume's `..data` link swapped: every file changed.
        assert_eq!(
            summary(&scanner.look_at_placed(Wakeup::Placed(dir.join("..data")))),
            [format!("refused {}", other.display())]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn events_trigger_a_scan() {
        let dir = temp_dir("events");
        let (sender, updates) = channel();
        let (mut watch, plugins, refused) = PluginDir::open(&dir, Loader::default()).unwrap();
        assert!(plugins.is_empty() && refused.is_empty());
        watch.follow(move |u| sender.send(u).is_ok()).unwrap();
        // Staged under a hidden name, then renamed into place.
        let staged = dir.join(".b.wasm");
        std::fs::write(&staged, b"junk").unwrap();
        std::fs::rename(&staged, dir.join("b.wasm")).unwrap();
        let update = updates.recv_timeout(Duration::from_secs(3)).unwrap();
        assert_eq!(
            summary(&[update]),
            [format!("refused {}", dir.join("b.wasm").display())]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_directory_written_without_pause_is_still_scanned() {
        let dir = temp_dir("busy");
        let (sender, updates) = channel();
        let (mut watch, _, _) = PluginDir::open(&dir, Loader::default()).unwrap();
        watch.follow(move |u| sender.send(u).is_ok()).unwrap();
        let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let writer = {
            let (dir, writing) = (dir.clone(), writing.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    std::fs::write(dir.join("c.wasm"), n.to_le_bytes()).unwrap();
                    std::thread::sleep(QUIET / 5);
                }
            })
        };
        let update = updates.recv_timeout(MAX_WAIT * 10);
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        assert!(
            matches!(update, Ok(PluginUpdate::Refused(_))),
            "scanned while the writes went on: {update:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
