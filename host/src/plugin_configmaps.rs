//! Plugins delivered through the cluster: ConfigMaps labelled
//! [`LABEL`] in one namespace, each `binaryData` key ending in `.wasm` one
//! component. Creating, changing or deleting such a ConfigMap (`kubectl
//! create configmap my-policy --from-file=my-policy.wasm`, then label it)
//! swaps the plugin in on every replica without touching its filesystem;
//! a version that does not load is refused and the serving one stays, as
//! with the plugin directory.
//!
//! A ConfigMap holds at most 1 MiB, which fits the components of Rust and C
//! policies; Go, JavaScript and Python ones are larger and go in the plugin
//! directory.
//!
//! Each component is named `configmap:<namespace>/<configmap>/<key>` in
//! messages and events, and loaded once per content: the watch's relists
//! and unrelated changes to the ConfigMap cost a digest, not a compile.

use crate::plugin_dir::PluginUpdate;
use crate::runtime::{LoadError, LoadedPlugin, Loader, MAX_PLUGIN_BYTES, sha256_hex};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The label that marks a ConfigMap as holding plugins (any value).
pub const LABEL: &str = "kube-wasm-scheduler/plugins";

/// The ConfigMaps of one namespace as last seen: the digest of each
/// component, by name, or why it was refused.
pub struct PluginConfigMaps {
    api: Api<ConfigMap>,
    loader: Loader,
    seen: HashMap<PathBuf, String>,
}

impl PluginConfigMaps {
    /// Lists the labelled ConfigMaps of `namespace` once: the plugins to
    /// start with (the first of each plugin name, in the order of the
    /// ConfigMaps' names and keys) and the components refused.
    ///
    /// ```no_run
    /// # async fn example(client: kube::Client) -> Result<(), kube::Error> {
    /// use kws_host::plugin_configmaps::PluginConfigMaps;
    /// use kws_host::runtime::Loader;
    /// let (configmaps, plugins, refused) =
    ///     PluginConfigMaps::list(client, "kube-system", Loader::default()).await?;
    /// configmaps.follow(&tokio::runtime::Handle::current(), |update| {
    ///     println!("{update:?}");
    ///     true
    /// });
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list(
        client: kube::Client,
        namespace: &str,
        loader: Loader,
    ) -> Result<(PluginConfigMaps, Vec<Arc<LoadedPlugin>>, Vec<LoadError>), kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(client, namespace);
        let mut listed = api.list(&ListParams::default().labels(LABEL)).await?.items;
        listed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut configmaps = PluginConfigMaps {
            api,
            loader,
            seen: HashMap::new(),
        };
        let mut updates = Vec::new();
        for configmap in &listed {
            updates.extend(configmaps.apply(configmap).await);
        }
        let (plugins, refused) = crate::runtime::first_of_each_name(
            updates.into_iter().filter_map(|update| match update {
                PluginUpdate::Loaded(plugin) => Some(Ok(plugin)),
                PluginUpdate::Refused(error) => Some(Err(error)),
                PluginUpdate::Removed(_) => None,
            }),
        );
        Ok((configmaps, plugins, refused))
    }

    /// Watches the ConfigMaps from now on, on `runtime`, passing each change
    /// to `send` until it returns false.
    pub fn follow(
        mut self,
        runtime: &tokio::runtime::Handle,
        send: impl Fn(PluginUpdate) -> bool + Send + 'static,
    ) {
        runtime.spawn(async move {
            let config = watcher::Config::default().labels(LABEL);
            let mut stream = watcher(self.api.clone(), config).boxed();
            let mut relisted: Option<HashSet<PathBuf>> = None;
            while let Some(event) = stream.next().await {
                let updates = match event {
                    Ok(watcher::Event::Init) => {
                        relisted = Some(HashSet::new());
                        Vec::new()
                    }
                    Ok(watcher::Event::InitApply(configmap)) => {
                        if let Some(listed) = relisted.as_mut() {
                            listed.extend(components(&configmap).into_iter().map(|(f, _)| f));
                        }
                        self.apply(&configmap).await
                    }
                    Ok(watcher::Event::Apply(configmap)) => self.apply(&configmap).await,
                    Ok(watcher::Event::InitDone) => {
                        let listed = relisted.take().unwrap_or_default();
                        self.forget(|file| !listed.contains(file))
                    }
                    Ok(watcher::Event::Delete(configmap)) => {
                        let prefix = origin(&configmap);
                        self.forget(|file| file.starts_with(&prefix))
                    }
                    Err(error) => {
                        tracing::warn!(%error, "plugin ConfigMap watch failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Vec::new()
                    }
                };
                for update in updates {
                    if !send(update) {
                        return; // the scheduler has stopped
                    }
                }
            }
        });
    }

    /// Loads what changed in one ConfigMap; a component gone from it is
    /// removed.
    async fn apply(&mut self, configmap: &ConfigMap) -> Vec<PluginUpdate> {
        let prefix = origin(configmap);
        let current = components(configmap);
        let mut updates = self.forget(|file| {
            file.starts_with(&prefix) && !current.iter().any(|(name, _)| name == file)
        });
        for (file, content) in current {
            let digest = match &content {
                Ok(bytes) => sha256_hex(bytes),
                Err(detail) => format!("refused: {detail}"),
            };
            if self.seen.get(&file) == Some(&digest) {
                continue;
            }
            self.seen.insert(file.clone(), digest);
            let update = match content {
                Err(detail) => PluginUpdate::Refused(LoadError { file, detail }),
                Ok(bytes) => {
                    // Compiling takes a core for a while: not on the runtime's threads.
                    let loader = self.loader.clone();
                    let loaded = tokio::task::spawn_blocking(move || {
                        loader.load_bytes(&file, &bytes).map(Arc::new)
                    })
                    .await
                    .expect("loading a plugin does not panic");
                    match loaded {
                        Ok(plugin) => PluginUpdate::Loaded(plugin),
                        Err(error) => PluginUpdate::Refused(error),
                    }
                }
            };
            updates.push(update);
        }
        updates
    }

    /// Removes the components `gone` says are gone.
    fn forget(&mut self, gone: impl Fn(&Path) -> bool) -> Vec<PluginUpdate> {
        let files: Vec<PathBuf> = self.seen.keys().filter(|f| gone(f)).cloned().collect();
        files
            .into_iter()
            .map(|file| {
                self.seen.remove(&file);
                PluginUpdate::Removed(file)
            })
            .collect()
    }
}

/// The name under which a ConfigMap's components are known.
fn origin(configmap: &ConfigMap) -> PathBuf {
    let meta = &configmap.metadata;
    PathBuf::from(format!(
        "configmap:{}",
        meta.namespace.as_deref().unwrap_or_default()
    ))
    .join(meta.name.as_deref().unwrap_or_default())
}

/// The components of a ConfigMap, sorted by key: each `binaryData` key
/// ending in `.wasm`, or why it cannot be one (text in `data`, too large).
fn components(configmap: &ConfigMap) -> Vec<(PathBuf, Result<Vec<u8>, String>)> {
    let prefix = origin(configmap);
    let mut found: Vec<(PathBuf, Result<Vec<u8>, String>)> = Vec::new();
    for (key, bytes) in configmap.binary_data.iter().flatten() {
        if key.ends_with(".wasm") {
            let content = if bytes.0.len() as u64 > MAX_PLUGIN_BYTES {
                Err(format!(
                    "a plugin is at most {MAX_PLUGIN_BYTES} bytes; this one is {}",
                    bytes.0.len()
                ))
            } else {
                Ok(bytes.0.clone())
            };
            found.push((prefix.join(key), content));
        }
    }
    for key in configmap.data.iter().flatten().map(|(key, _)| key) {
        if key.ends_with(".wasm") {
            let why = "a component is binary: it belongs in binaryData, not data \
                       (kubectl create configmap --from-file puts it there)";
            found.push((prefix.join(key), Err(why.to_string())));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;
    use std::collections::BTreeMap;

    fn configmap(binary: &[(&str, &[u8])], data: &[&str]) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("policies".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            binary_data: Some(
                binary
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
                    .collect::<BTreeMap<_, _>>(),
            ),
            data: Some(
                data.iter()
                    .map(|k| (k.to_string(), String::new()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn only_wasm_keys_are_components_and_text_ones_are_refused() {
        let found = components(&configmap(
            &[("b.wasm", b"\0asm"), ("notes.txt", b"hi")],
            &["a.wasm", "README"],
        ));
        let names: Vec<_> = found.iter().map(|(f, _)| f.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "configmap:kube-system/policies/a.wasm",
                "configmap:kube-system/policies/b.wasm"
            ]
        );
        assert!(found[0].1.as_ref().unwrap_err().contains("binaryData"));
        assert_eq!(found[1].1.as_deref().unwrap(), b"\0asm");
    }
}
