//! The default plugins, compiled into the binary (see `host/build.rs`), so
//! `run`, `simulate` and `explain` schedule with no plugin directory. A
//! plugin from a directory or a ConfigMap with the same plugin name serves
//! instead of the built-in one; when it goes, the built-in one serves again.

use crate::runtime::{LoadError, LoadedPlugin, Loader, first_of_each_name};
use std::path::Path;
use std::sync::Arc;

/// `(file name, component)` of each default plugin.
const COMPONENTS: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// The directory built-in plugins are named under in messages and in
/// `plugin check`: not a path on disk.
const ORIGIN: &str = "<built-in>";

/// Compiles the built-in plugins (through the loader's compile cache).
///
/// ```
/// use kws_host::builtin_plugins;
/// let plugins = builtin_plugins::load(&kws_host::runtime::Loader::default())?;
/// assert!(plugins.iter().any(|p| p.name() == "NodeResourcesFit"));
/// # Ok::<(), kws_host::runtime::LoadError>(())
/// ```
pub fn load(loader: &Loader) -> Result<Vec<Arc<LoadedPlugin>>, LoadError> {
    let (plugins, mut refused) = first_of_each_name(COMPONENTS.iter().map(|(file, bytes)| {
        loader
            .load_bytes(&Path::new(ORIGIN).join(file), bytes)
            .map(Arc::new)
    }));
    match refused.pop() {
        // Only a build gone wrong gets here: every build checks them.
        Some(error) => Err(error),
        None => Ok(plugins),
    }
}

/// Whether `file` names a built-in plugin rather than a file.
pub fn is_builtin(file: &Path) -> bool {
    file.starts_with(ORIGIN)
}

/// The plugins to serve: each of `chosen` (from a directory or the
/// cluster), and each built-in one whose plugin name none of them has.
pub fn overlay(
    builtin: &[Arc<LoadedPlugin>],
    chosen: Vec<Arc<LoadedPlugin>>,
) -> Vec<Arc<LoadedPlugin>> {
    let mut plugins = chosen;
    for plugin in builtin {
        if !plugins.iter().any(|p| p.name() == plugin.name()) {
            plugins.push(plugin.clone());
        }
    }
    plugins
}

/// Where the plugins of a run come from, for messages: each source a
/// plugin may come from, then the built-in plugins.
///
/// ```
/// use kws_host::builtin_plugins::describe_sources;
/// assert_eq!(describe_sources(&["/plugins".into()]), "/plugins or the built-in plugins");
/// ```
pub fn describe_sources(sources: &[String]) -> String {
    let mut text = sources.join(", ");
    if !text.is_empty() {
        text.push_str(" or ");
    }
    text + "the built-in plugins"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_PLUGINS;

    #[test]
    fn every_default_plugin_is_built_in() {
        let plugins = load(&Loader::default()).unwrap();
        for default in DEFAULT_PLUGINS {
            let plugin = plugins.iter().find(|p| p.name() == default.name);
            let plugin = plugin.unwrap_or_else(|| panic!("{} is not built in", default.name));
            assert!(is_builtin(&plugin.file), "{}", plugin.file.display());
        }
        assert_eq!(plugins.len(), COMPONENTS.len());
    }

    #[test]
    fn a_chosen_plugin_replaces_the_built_in_one_of_its_name() {
        let builtin = load(&Loader::default()).unwrap();
        let mine = Loader::default()
            .load_bytes(Path::new("/plugins/mine.wasm"), COMPONENTS[0].1)
            .unwrap();
        let served = overlay(&builtin, vec![Arc::new(mine)]);
        assert_eq!(served.len(), builtin.len());
        let same_name: Vec<_> = served
            .iter()
            .filter(|p| p.name() == builtin[0].name())
            .collect();
        assert_eq!(same_name.len(), 1);
        assert_eq!(same_name[0].file, Path::new("/plugins/mine.wasm"));
    }
}
