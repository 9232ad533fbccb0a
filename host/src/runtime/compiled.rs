//! Compiled components kept on disk, so a restart or a swap back to a known
//! version skips Cranelift (35 ms for a small Rust plugin, 5-20 s for a
//! JavaScript or Python one; deserializing takes well under a millisecond
//! for the former and tens of milliseconds for the latter).
//!
//! An entry is keyed by the component file's SHA-256 and by the engine's
//! compatibility hash (wasmtime version and compilation settings), so an
//! upgraded scheduler never loads code compiled by another. Deserializing
//! trusts its input completely, so each entry carries a SHA-256 of its own
//! payload: a truncated or altered entry is detected, removed and rebuilt,
//! never loaded. The directory should be writable by the scheduler alone.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The first bytes of an entry: format name and version.
const MAGIC: &[u8; 8] = b"KWSCWM1\n";
const CHECKSUM_LEN: usize = 32;

/// Where a component's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now (no cache, a miss, or a corrupt entry).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Uses (and creates) `dir`.
    ///
    /// ```no_run
    /// let cache = kws_host::runtime::CompileCache::open("/var/cache/kws".as_ref())?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(dir: &Path) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(dir)?;
        Ok(CompileCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The compiled form of `bytes` (whose SHA-256 is `digest`): from the
    /// cache if a sound entry exists, else compiled and stored. A cache that
    /// cannot be read or written only costs the compile; it is logged.
    pub fn component(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, Origin)> {
        let entry = self.entry(engine, digest);
        match std::fs::read(&entry) {
            Ok(stored) => match open_entry(engine, &stored) {
                Ok(component) => return Ok((component, Origin::Cached)),
                Err(why) => {
                    tracing::warn!(entry = %entry.display(), %why, "corrupt compile cache entry; rebuilding it");
                    let _ = std::fs::remove_file(&entry);
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(entry = %entry.display(), error = %e, "compile cache entry unreadable")
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&entry, &component) {
            tracing::warn!(entry = %entry.display(), error = %e, "cannot write the compile cache");
        }
        Ok((component, Origin::Compiled))
    }

    fn entry(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// Writes the entry beside its final name, then renames it into place,
    /// so a reader never sees half an entry.
    fn store(&self, entry: &Path, component: &Component) -> wasmtime::Result<()> {
        let payload = component.serialize()?;
        let partial = entry.with_extension(format!("partial-{}", std::process::id()));
        let mut file = std::fs::File::create(&partial)?;
        file.write_all(MAGIC)?;
        file.write_all(&sha256(&payload))?;
        file.write_all(&payload)?;
        file.sync_all()?;
        std::fs::rename(&partial, entry)?;
        Ok(())
    }
}

/// Checks an entry's header and checksum, then deserializes its payload.
fn open_entry(engine: &Engine, stored: &[u8]) -> Result<Component, String> {
    let rest = stored
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a compile cache entry of this format")?;
    if rest.len() < CHECKSUM_LEN {
        return Err("truncated header".into());
    }
    let (checksum, payload) = rest.split_at(CHECKSUM_LEN);
    if sha256(payload).as_slice() != checksum {
        return Err("checksum mismatch".into());
    }
    // SAFETY: the payload is byte for byte what `Component::serialize`
    // wrote for an engine with the same compatibility hash (the entry's
    // name), as its checksum shows; wasmtime checks the rest of its header.
    unsafe { Component::deserialize(engine, payload) }.map_err(|e| format!("{e:#}"))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component there is: no imports, no exports.
    fn empty_component() -> Vec<u8> {
        // component preamble: magic, version 0x0d, layer 1.
        vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kws-compiled-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn second_load_comes_from_the_cache() {
        let dir = temp_dir("hit");
        let cache = CompileCache::open(&dir).unwrap();
        let engine = Engine::default();
        let bytes = empty_component();
        let (_, first) = cache.component(&engine, "d1", &bytes).unwrap();
        let (_, second) = cache.component(&engine, "d1", &bytes).unwrap();
        assert_eq!((first, second), (Origin::Compiled, Origin::Cached));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn corrupt_entries_are_rebuilt_not_trusted() {
        let dir = temp_dir("corrupt");
        let cache = CompileCache::open(&dir).unwrap();
        let engine = Engine::default();
        let bytes = empty_component();
        cache.component(&engine, "d2", &bytes).unwrap();
        let entry = cache.entry(&engine, "d2");
        let good = std::fs::read(&entry).unwrap();

        // One flipped byte in the payload, a cut-off entry, a foreign file.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        let damaged: [Vec<u8>; 3] = [flipped, good[..good.len() / 2].to_vec(), b"junk".to_vec()];
        for bad in damaged {
            std::fs::write(&entry, &bad).unwrap();
            let (_, origin) = cache.component(&engine, "d2", &bytes).unwrap();
            assert_eq!(origin, Origin::Compiled);
            assert_eq!(std::fs::read(&entry).unwrap(), good, "rewritten whole");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn another_engine_configuration_does_not_share_entries() {
        let dir = temp_dir("engines");
        let cache = CompileCache::open(&dir).unwrap();
        let plain = Engine::default();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let epochs = Engine::new(&config).unwrap();
        assert_ne!(cache.entry(&plain, "d3"), cache.entry(&epochs, "d3"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
