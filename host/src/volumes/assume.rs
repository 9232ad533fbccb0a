//! kube-scheduler's AssumeCache (`pkg/scheduler/util/assumecache`): the
//! informer's objects, each of which VolumeBinding may shadow with an
//! assumed version (a PersistentVolume's `claimRef` set, a claim's
//! selected node) between Reserve and the informer catching up.

use std::collections::BTreeMap;
use std::sync::Arc;

/// An object's `metadata.resourceVersion` as a number, as upstream reads
/// it; an object without one (or with one that is not a number) counts
/// as version 0.
pub fn version(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> i64 {
    meta.resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Why an object could not be assumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssumeError {
    #[error("{kind} {name:?} not found")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name:?} is out of sync (stored: {stored}, assume: {assumed})")]
    OutOfSync {
        kind: &'static str,
        name: String,
        stored: i64,
        assumed: i64,
    },
}

struct Entry<T> {
    /// What the informer reported last.
    api: Arc<T>,
    /// `api`, or the version assumed since.
    latest: Arc<T>,
}

/// The objects of one kind by key, with their assumed versions.
pub struct AssumeCache<T> {
    kind: &'static str,
    version: fn(&T) -> i64,
    entries: BTreeMap<String, Entry<T>>,
}

impl<T> AssumeCache<T> {
    pub fn new(kind: &'static str, version: fn(&T) -> i64) -> Self {
        AssumeCache {
            kind,
            version,
            entries: BTreeMap::new(),
        }
    }

    /// The informer's add or update: replaces the object, and any version
    /// assumed for it, unless it is not newer than the latest stored (the
    /// informer has not caught up with an assumption yet). Returns the
    /// latest version before, for the cluster event; `None` when the object
    /// is new or the update was skipped (`applied` false).
    pub fn apply(&mut self, key: String, object: Arc<T>) -> (Option<Arc<T>>, bool) {
        if let Some(entry) = self.entries.get(&key)
            && (self.version)(&object) <= (self.version)(&entry.latest)
        {
            return (None, false);
        }
        let old = self.entries.insert(
            key,
            Entry {
                api: object.clone(),
                latest: object,
            },
        );
        (old.map(|e| e.latest), true)
    }

    /// The informer's delete.
    pub fn delete(&mut self, key: &str) -> Option<Arc<T>> {
        self.entries.remove(key).map(|e| e.latest)
    }

    /// The latest version: the assumed one, else the informer's.
    pub fn get(&self, key: &str) -> Option<&Arc<T>> {
        self.entries.get(key).map(|e| &e.latest)
    }

    /// The informer's version, whatever is assumed.
    pub fn api(&self, key: &str) -> Option<&Arc<T>> {
        self.entries.get(key).map(|e| &e.api)
    }

    /// Every object's latest version, by key.
    pub fn latest(&self) -> impl Iterator<Item = (&String, &Arc<T>)> {
        self.entries.iter().map(|(k, e)| (k, &e.latest))
    }

    /// Shadows the object with `object` until the informer reports a newer
    /// one or [`AssumeCache::restore`] is called. Refused for an unknown
    /// object and for one older than the latest stored.
    pub fn assume(&mut self, key: &str, object: Arc<T>) -> Result<(), AssumeError> {
        let entry = self
            .entries
            .get_mut(key)
            .ok_or_else(|| AssumeError::NotFound {
                kind: self.kind,
                name: key.to_string(),
            })?;
        let (stored, assumed) = ((self.version)(&entry.latest), (self.version)(&object));
        if assumed < stored {
            return Err(AssumeError::OutOfSync {
                kind: self.kind,
                name: key.to_string(),
                stored,
                assumed,
            });
        }
        entry.latest = object;
        Ok(())
    }

    /// Drops the assumed version: the informer's counts again.
    pub fn restore(&mut self, key: &str) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.latest = entry.api.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Object {
        version: i64,
        value: &'static str,
    }

    fn cache() -> AssumeCache<Object> {
        AssumeCache::new("object", |o| o.version)
    }

    fn object(version: i64, value: &'static str) -> Arc<Object> {
        Arc::new(Object { version, value })
    }

    #[test]
    fn an_assumed_version_shadows_the_informers_until_a_newer_one_comes() {
        let mut c = cache();
        c.apply("a".into(), object(1, "informer"));
        c.assume("a", object(1, "assumed")).unwrap();
        assert_eq!(c.get("a").unwrap().value, "assumed");
        assert_eq!(c.api("a").unwrap().value, "informer");
        // The informer resending the same version does not undo it.
        assert!(!c.apply("a".into(), object(1, "informer")).1);
        assert_eq!(c.get("a").unwrap().value, "assumed");
        // A newer version (our write, seen by the watch) replaces both.
        assert!(c.apply("a".into(), object(2, "written")).1);
        assert_eq!(c.get("a").unwrap().value, "written");
        assert_eq!(c.api("a").unwrap().value, "written");
    }

    #[test]
    fn restore_gives_the_informers_version_back() {
        let mut c = cache();
        c.apply("a".into(), object(3, "informer"));
        c.assume("a", object(3, "assumed")).unwrap();
        c.restore("a");
        assert_eq!(c.get("a").unwrap().value, "informer");
    }

    #[test]
    fn older_or_unknown_objects_are_not_assumed() {
        let mut c = cache();
        assert_eq!(
            c.assume("a", object(1, "x")),
            Err(AssumeError::NotFound {
                kind: "object",
                name: "a".into()
            })
        );
        c.apply("a".into(), object(5, "informer"));
        assert_eq!(
            c.assume("a", object(4, "x")).unwrap_err().to_string(),
            "object \"a\" is out of sync (stored: 5, assume: 4)"
        );
    }
}
