//! Scheduler configuration: a `KubeSchedulerConfiguration` file, read as
//! kube-scheduler reads it, turned into the effective profiles.
//!
//! The file is kube-scheduler's own format (`kubescheduler.config.k8s.io/v1`),
//! so a configuration written for kube-scheduler works here unchanged as long
//! as it only uses what kube-wasm-scheduler does. Whatever we would silently
//! do differently is refused with an error naming the field; whatever makes
//! no difference to where pods go is accepted with a warning. Without a file,
//! [`Config::default`] has one profile, [`DEFAULT_SCHEDULER_NAME`], running
//! the [`DEFAULT_PLUGINS`].
//!
//! # Example
//!
//! Every field is optional except `apiVersion` and `kind`.
//!
//! ```yaml
//! apiVersion: kubescheduler.config.k8s.io/v1
//! kind: KubeSchedulerConfiguration
//! # Worker threads that run filter and score plugins side by side; each has
//! # its own instance of every plugin. Default: the number of CPUs.
//! parallelism: 8
//! # Stop filtering once this percentage of the nodes is found feasible, and
//! # score only those. 0 or absent: adaptive, 50% of a small cluster down to
//! # 5% of a large one (kube-scheduler's default). A profile can override it.
//! percentageOfNodesToScore: 0
//! # Retry a pod that failed after 1s, doubling up to 10s (the defaults).
//! podInitialBackoffSeconds: 1
//! podMaxBackoffSeconds: 10
//! profiles:
//! # Pods choose a profile with `spec.schedulerName`.
//! - schedulerName: kube-wasm-scheduler
//!   plugins:
//!     # Filter and score plugins are the defaults, merged with what is
//!     # enabled and disabled here (see "Plugins" below).
//!     filter:
//!       disabled:
//!       - name: NodeName
//!     score:
//!       enabled:
//!       - name: NodeAffinity
//!         weight: 5
//!       - name: MyScore          # a plugin of your own; weight 1
//!   # Arguments of each plugin, in the plugin's own format; the plugin
//!   # checks them when it is loaded.
//!   pluginConfig:
//!   - name: NodeResourcesFit
//!     args:
//!       scoringStrategy:
//!         type: MostAllocated
//! - schedulerName: batch
//!   percentageOfNodesToScore: 50
//!   plugins:
//!     score:
//!       disabled:
//!       - name: "*"             # no scoring: any feasible node will do
//! # kube-wasm-scheduler's own section: limits of the WebAssembly sandbox.
//! wasm:
//!   callTimeout: 1s        # longest a plugin may take for one call
//!   memoryLimit: 128Mi     # most linear memory one plugin instance may use
//!   # A plugin fault (trap, missed deadline, memory cap, invalid result):
//!   # Fail = the pod waits and is retried; Ignore = the plugin is skipped
//!   # for that pod. A quarantined or missing plugin counts as a fault.
//!   failurePolicy: Fail
//!   quarantine:            # out of service after this many faults in a row
//!     afterFaults: 5
//!     backoff: 30s
//!   plugins:               # per plugin; what is left out comes from above
//!   - name: NodeAffinity
//!     callTimeout: 200ms
//!     memoryLimit: 64Mi
//!   - name: MyScore
//!     failurePolicy: Ignore
//!     # Only this file content may serve the plugin (hot swaps included).
//!     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! # Plugins
//!
//! Merged with the defaults as kube-scheduler does (its `mergePlugins` and
//! the framework's multiPoint expansion). The defaults are a `multiPoint`
//! list, [`DEFAULT_PLUGINS`] in order; each plugin in it runs at every
//! extension point it implements.
//! - `multiPoint.disabled` removes defaults (`"*"`: all of them);
//!   `multiPoint.enabled` replaces a default of the same name in place, or
//!   else appends.
//! - `filter` / `score`: `disabled` removes multiPoint plugins from that
//!   point only (`"*"`: all). `enabled` plugins that are also multiPoint
//!   plugins override them and run first, in the order given; the others run
//!   last. Plugins that are not built in are enabled here, not in multiPoint:
//!   which points a plugin implements is only known once it is loaded.
//! - A score weight must be 1..=100; 0 or absent takes, in order, the
//!   plugin's weight in `multiPoint.enabled`, its default weight, or 1.
//!   (kube-scheduler takes 1 here; we keep the default so that re-listing a
//!   plugin, e.g. to reorder it, does not quietly change its weight.)
//!
//! - The framework's other points (`preEnqueue`, `preFilter`, `postFilter`,
//!   `preScore`, `reserve`, `permit`, `preBind`, `bind`, `postBind`): every
//!   plugin a profile runs runs at each point its component implements (its
//!   metadata lists), as upstream's multiPoint expansion does, in profile
//!   order (filter plugins, then score plugins, then the plugins enabled at
//!   these points). `enabled` there adds a plugin to the profile;
//!   `disabled` takes a plugin out of that point only (`"*"`: all).
//!   `bind: DefaultBinder` is the host's own binder, which binds every pod
//!   no bind plugin takes; disabling `DefaultPreemption` at `postFilter` is
//!   accepted (it is not built in: nothing runs there unless enabled).
//!
//! `queueSort` (only `PrioritySort`, what the queue does) and the pod-group
//! points are not run by kube-wasm-scheduler yet. They may be left out or
//! empty; enabling a plugin there is an error.
//!
//! # Top-level fields
//!
//! - `leaderElection`: ignored, with a warning unless `leaderElect: false`.
//!   We do no leader election yet: run one replica. Harmless to accept,
//!   because configurations copied from kube-scheduler almost all carry it.
//! - `clientConnection`: ignored with a warning. The connection to the
//!   cluster comes from the command line and environment; QPS and burst
//!   only pace API calls, they don't change placements.
//! - `enableProfiling`, `enableContentionProfiling`: ignored (warning when
//!   true): no profiling endpoints are served.
//! - `delayCacheUntilActive`: ignored (warning when true): without leader
//!   election the scheduler is always active.
//! - `percentageOfPlacementsToScore` (top level and per profile): ignored
//!   (warning unless 0): pod-group placement is not done yet.
//! - `extenders`: refused unless empty: filtering and scoring through HTTP
//!   extenders would change placements and is not supported.
//! - `podInitialBackoffSeconds`, `podMaxBackoffSeconds`: honoured, see
//!   [`Config::pod_initial_backoff`].
//! - Bounds beyond kube-scheduler's, so that no value overflows a clock or
//!   exhausts memory: `parallelism` at most [`MAX_PARALLELISM`] (256), the
//!   pod backoffs at most a day (86400), `callTimeout` at most `1h`,
//!   `quarantine.backoff` at most `24h`, `memoryLimit` at most `4Gi` (all
//!   a 32-bit WebAssembly guest can address).
//! - Unknown fields anywhere are errors, as kube-scheduler's strict decoding.

use crate::model::quantity::Quantity;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The profile of [`Config::default`] and of a file's only profile when it
/// names none. Not kube-scheduler's `default-scheduler`, so that both can
/// run in one cluster and pods choose ours explicitly.
pub const DEFAULT_SCHEDULER_NAME: &str = "kube-wasm-scheduler";

/// The only `apiVersion` read; older versions are gone from kube-scheduler too.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
pub const KIND: &str = "KubeSchedulerConfiguration";

/// A plugin kube-wasm-scheduler ships and runs by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultPlugin {
    pub name: &'static str,
    /// Runs at filter.
    pub filter: bool,
    /// Runs at score, with this weight unless the file gives one.
    pub score_weight: Option<i64>,
}

/// The default plugins: kube-scheduler v1.37's default profile
/// (`pkg/scheduler/apis/config/v1/default_plugins.go`), its multiPoint list
/// in its order and with its weights, from which the filter and score orders
/// follow:
///
/// | point  | plugins, in order (weight) |
/// |--------|----------------------------|
/// | filter | NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread, InterPodAffinity |
/// | score  | TaintToleration (3), NodeAffinity (2), NodeResourcesFit (1), PodTopologySpread (2), InterPodAffinity (2), NodeResourcesBalancedAllocation (1), ImageLocality (1) |
///
/// Left out of upstream's list: SchedulingGates and PrioritySort (the queue
/// holds gated pods and orders by priority itself), the volume plugins
/// (VolumeRestrictions, the *Limits plugins, VolumeBinding, VolumeZone:
/// nothing to decide for pods without volumes, which is all we schedule
/// yet), DefaultPreemption (no preemption) and DefaultBinder (built in).
///
/// Each default runs at every point it implements, as upstream's multiPoint
/// expansion; the table says which. A default whose component is missing
/// from the plugin directory is left out of the profile with a warning
/// (see `framework`), so a directory built before a default plugin existed
/// still schedules. To ship a new plugin, add it here.
#[rustfmt::skip]
pub const DEFAULT_PLUGINS: &[DefaultPlugin] = &[
    DefaultPlugin { name: "NodeUnschedulable",               filter: true,  score_weight: None },
    DefaultPlugin { name: "NodeName",                        filter: true,  score_weight: None },
    DefaultPlugin { name: "TaintToleration",                 filter: true,  score_weight: Some(3) },
    DefaultPlugin { name: "NodeAffinity",                    filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "NodePorts",                       filter: true,  score_weight: None },
    DefaultPlugin { name: "NodeResourcesFit",                filter: true,  score_weight: Some(1) },
    DefaultPlugin { name: "PodTopologySpread",               filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "InterPodAffinity",                filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "NodeResourcesBalancedAllocation", filter: false, score_weight: Some(1) },
    DefaultPlugin { name: "ImageLocality",                   filter: false, score_weight: Some(1) },
];

/// Upstream plugins at extension points we don't run whose job the
/// scheduler does itself, so enabling them changes nothing.
const BUILT_INTO_SCHEDULER: &[(&str, &str)] =
    &[("queueSort", "PrioritySort"), ("bind", "DefaultBinder")];

pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 128 << 20;
pub const DEFAULT_QUARANTINE_AFTER_FAULTS: u32 = 5;
pub const DEFAULT_QUARANTINE_BACKOFF: Duration = Duration::from_secs(30);
/// kube-scheduler's defaults.
pub const DEFAULT_POD_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const DEFAULT_POD_MAX_BACKOFF: Duration = Duration::from_secs(10);

// Upper bounds of what a file may ask for. kube-scheduler checks only the
// lower ones; past these a value is a typo or a denial of service (a
// backoff that overflows the clock, a worker count that exhausts memory).

/// Most `parallelism`: workers each hold an instance of every plugin.
pub const MAX_PARALLELISM: usize = 256;
/// Most `podInitialBackoffSeconds` and `podMaxBackoffSeconds`: one day.
pub const MAX_POD_BACKOFF_SECONDS: i64 = 24 * 60 * 60;
/// Most `callTimeout`: while a call runs, its worker schedules nothing.
pub const MAX_CALL_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Most `quarantine.backoff`.
pub const MAX_QUARANTINE_BACKOFF: Duration = Duration::from_secs(24 * 60 * 60);
/// Most `memoryLimit`: 4 GiB, all a 32-bit WebAssembly guest can address.
pub const MAX_MEMORY_LIMIT_BYTES: u64 = 4 << 30;

/// The effective, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// At least one; scheduler names are unique and non-empty.
    pub profiles: Vec<Profile>,
    /// Worker threads (and plugin instances per plugin) used to filter and
    /// score in parallel, 1 to [`MAX_PARALLELISM`]. Default:
    /// [`std::thread::available_parallelism`] (at most [`MAX_PARALLELISM`]),
    /// at least 1 (kube-scheduler's fixed 16 would oversubscribe small
    /// machines, since each worker also holds its own plugin instances).
    pub parallelism: usize,
    /// Wait before retrying a pod whose attempt failed; doubles per attempt
    /// up to [`Config::pod_max_backoff`]. `podInitialBackoffSeconds`.
    pub pod_initial_backoff: Duration,
    /// `podMaxBackoffSeconds`; never less than the initial backoff.
    pub pod_max_backoff: Duration,
    pub wasm: WasmSettings,
}

/// One scheduling profile: the plugins run for pods naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub scheduler_name: String,
    /// Filter plugins in the order they run.
    pub filter: Vec<String>,
    /// Score plugins with their weights (> 0), in order.
    pub score: Vec<(String, i64)>,
    /// Args per plugin name as JSON (`pluginConfig[].args`), absent = none
    /// given. `apiVersion` and `kind` are removed: upstream args carry them,
    /// our plugins refuse fields they don't know.
    pub plugin_args: BTreeMap<String, Value>,
    /// `percentageOfNodesToScore` of the profile, or else of the top level;
    /// None = adaptive (kube's default).
    pub percentage_of_nodes_to_score: Option<u32>,
    /// Plugins enabled at one of the framework's other points (`preFilter`,
    /// `reserve`, `permit`, ...) and not at filter or score, in order: they
    /// run at every point they implement.
    pub other: Vec<String>,
    /// Plugins taken out of one point (by its field name, e.g.
    /// `preFilter`); `*` takes out every plugin.
    pub disabled_at: BTreeMap<String, BTreeSet<String>>,
}

/// The WebAssembly sandbox's settings, per plugin (the `wasm:` section).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WasmSettings {
    pub defaults: PluginSettings,
    /// Overrides by plugin name, missing fields already filled from
    /// [`WasmSettings::defaults`].
    pub plugins: BTreeMap<String, PluginSettings>,
}

/// How one plugin runs: its limits, what a fault costs the pod, and which
/// file may serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    /// Longest one call into the plugin may take before it is cut off, so a
    /// looping plugin cannot stall the scheduler.
    pub call_timeout: Duration,
    /// Most linear memory one instance of the plugin may grow to.
    pub memory_limit_bytes: u64,
    /// What a fault (or a quarantined or missing plugin) means for the pod.
    pub failure_policy: FailurePolicy,
    pub quarantine: Quarantine,
    /// The only file content (hex SHA-256) allowed to serve this plugin.
    pub sha256: Option<String>,
}

/// What a plugin's fault means for the pod being scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The pod's attempt fails and is retried after backoff: a broken
    /// policy never lets a pod through that it would have rejected.
    #[default]
    Fail,
    /// The plugin is skipped for that pod (logged): for policies that only
    /// refine a placement, where a late pod costs more than a worse node.
    Ignore,
}

/// When a faulting plugin is taken out of service for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantine {
    /// Consecutive faults (traps, missed deadlines, memory-cap hits,
    /// invalid results) that quarantine the plugin.
    pub after_faults: u32,
    /// How long it stays out before it is tried again.
    pub backoff: Duration,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            after_faults: DEFAULT_QUARANTINE_AFTER_FAULTS,
            backoff: DEFAULT_QUARANTINE_BACKOFF,
        }
    }
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            call_timeout: DEFAULT_CALL_TIMEOUT,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            failure_policy: FailurePolicy::Fail,
            quarantine: Quarantine::default(),
            sha256: None,
        }
    }
}

impl WasmSettings {
    /// The settings of `plugin`: its own entry, else the defaults.
    pub fn settings_for(&self, plugin: &str) -> &PluginSettings {
        self.plugins.get(plugin).unwrap_or(&self.defaults)
    }
}

/// A configuration that could not be read. The text names the source and,
/// when known, the field (`profiles[0].plugins.score`), as kube-scheduler's
/// messages do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: {error}")]
    Io {
        source_name: String,
        error: crate::files::ReadError,
    },
    /// Not YAML, or not of the configuration's shape (unknown field, wrong
    /// type); serde_yaml's text carries the field path and line.
    #[error("{source_name}: {error}")]
    Yaml {
        source_name: String,
        error: serde_yaml::Error,
    },
    /// Well-formed, but refused: out of range, duplicated, not supported.
    #[error("{source_name}: {field}: {message}")]
    Invalid {
        source_name: String,
        field: String,
        message: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            profiles: vec![Profile::with_default_plugins(DEFAULT_SCHEDULER_NAME)],
            parallelism: default_parallelism(),
            pod_initial_backoff: DEFAULT_POD_INITIAL_BACKOFF,
            pod_max_backoff: DEFAULT_POD_MAX_BACKOFF,
            wasm: WasmSettings::default(),
        }
    }
}

impl Config {
    /// Reads and validates a configuration file (a regular file or a pipe
    /// of at most [`MAX_CONFIG_FILE_BYTES`](crate::files::MAX_CONFIG_FILE_BYTES));
    /// errors name the path.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        use crate::files::{self, Kind, MAX_CONFIG_FILE_BYTES};
        let source_name = path.display().to_string();
        let text = files::read_to_string(
            path,
            Kind::RegularOrPipe,
            MAX_CONFIG_FILE_BYTES,
            "a configuration file",
        )
        .map_err(|error| ConfigError::Io {
            source_name: source_name.clone(),
            error,
        })?;
        Config::from_yaml(&source_name, &text)
    }

    /// Reads and validates a configuration; `source_name` starts every error
    /// message (a file name, or e.g. `--config`).
    /// Fields accepted but ignored are logged as warnings.
    pub fn from_yaml(source_name: &str, text: &str) -> Result<Config, ConfigError> {
        let (config, warnings) = load(source_name, text)?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// The profile pods with `spec.schedulerName: scheduler_name` use.
    pub fn profile(&self, scheduler_name: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.scheduler_name == scheduler_name)
    }
}

impl Profile {
    /// A profile running the [`DEFAULT_PLUGINS`] with their default weights.
    pub fn with_default_plugins(scheduler_name: impl Into<String>) -> Profile {
        Profile {
            scheduler_name: scheduler_name.into(),
            filter: DEFAULT_PLUGINS
                .iter()
                .filter(|p| p.filter)
                .map(|p| p.name.to_string())
                .collect(),
            score: DEFAULT_PLUGINS
                .iter()
                .filter_map(|p| Some((p.name.to_string(), p.score_weight?)))
                .collect(),
            plugin_args: BTreeMap::new(),
            percentage_of_nodes_to_score: None,
            other: Vec::new(),
            disabled_at: BTreeMap::new(),
        }
    }

    /// Every plugin the profile runs, once: filter plugins in order, then
    /// score plugins, then the other points' plugins, not already listed.
    pub fn plugin_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.filter.iter().map(String::as_str).collect();
        for name in self.score.iter().map(|(n, _)| n).chain(&self.other) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }

    /// Whether `plugin` runs at the point named `point` (its field name,
    /// e.g. `preFilter`), when it implements it.
    pub fn runs_at(&self, point: &str, plugin: &str) -> bool {
        self.disabled_at
            .get(point)
            .is_none_or(|d| !d.contains(plugin) && !d.contains("*"))
    }
}

/// Reads a configuration, and the warnings about what it ignores (given
/// back rather than logged here, so that tests can check them).
fn load(source_name: &str, text: &str) -> Result<(Config, Vec<String>)> {
    let cx = Cx {
        source: source_name,
        warnings: RefCell::default(),
    };
    // Version first, so a v1beta3 file gets "wrong version" rather than a
    // complaint about a field that moved.
    let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| cx.yaml(e))?;
    if document.is_null() {
        return Err(cx.invalid(".", format!("the file is empty; expected a {KIND}")));
    }
    if let serde_yaml::Value::Mapping(map) = &document {
        check_header(&cx, map)?;
    }
    let file: FileConfig = serde_yaml::from_str(text).map_err(|e| cx.yaml(e))?;
    let config = resolve(&cx, file)?;
    Ok((config, cx.warnings.into_inner()))
}

fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARALLELISM))
}

// --- The file's shape -------------------------------------------------------
//
// Mirrors upstream's v1 types; every field optional so that defaults apply.
// `expecting` words serde's type errors ("invalid type: sequence, expected a
// plugin set (enabled, disabled)").

#[derive(Deserialize, Default)]
#[serde(
    expecting = "a KubeSchedulerConfiguration",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FileConfig {
    /// Checked before, from the untyped document.
    #[serde(rename = "apiVersion")]
    _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    parallelism: Option<i64>,
    leader_election: Option<serde_yaml::Mapping>,
    client_connection: Option<serde_yaml::Mapping>,
    enable_profiling: Option<bool>,
    enable_contention_profiling: Option<bool>,
    percentage_of_nodes_to_score: Option<i64>,
    percentage_of_placements_to_score: Option<i64>,
    pod_initial_backoff_seconds: Option<i64>,
    pod_max_backoff_seconds: Option<i64>,
    profiles: Option<Vec<FileProfile>>,
    extenders: Option<Vec<IgnoredAny>>,
    delay_cache_until_active: Option<bool>,
    wasm: Option<FileWasm>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "a profile (schedulerName, plugins, pluginConfig, ...)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FileProfile {
    scheduler_name: Option<String>,
    percentage_of_nodes_to_score: Option<i64>,
    percentage_of_placements_to_score: Option<i64>,
    plugins: Option<FilePlugins>,
    plugin_config: Option<Vec<FilePluginConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "extension points (filter, score, multiPoint, ...)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FilePlugins {
    multi_point: Option<FilePluginSet>,
    filter: Option<FilePluginSet>,
    score: Option<FilePluginSet>,
    // Not run yet: see the module doc.
    pre_enqueue: Option<FilePluginSet>,
    queue_sort: Option<FilePluginSet>,
    pre_filter: Option<FilePluginSet>,
    post_filter: Option<FilePluginSet>,
    pre_score: Option<FilePluginSet>,
    reserve: Option<FilePluginSet>,
    permit: Option<FilePluginSet>,
    pre_bind: Option<FilePluginSet>,
    bind: Option<FilePluginSet>,
    post_bind: Option<FilePluginSet>,
    placement_generate: Option<FilePluginSet>,
    placement_score: Option<FilePluginSet>,
    placement_feasible: Option<FilePluginSet>,
    pod_group_post_filter: Option<FilePluginSet>,
}

impl FilePlugins {
    /// The extension points we don't run, by their field names.
    fn not_run(&self) -> [(&'static str, Option<&FilePluginSet>); 5] {
        [
            ("queueSort", self.queue_sort.as_ref()),
            ("placementGenerate", self.placement_generate.as_ref()),
            ("placementScore", self.placement_score.as_ref()),
            ("placementFeasible", self.placement_feasible.as_ref()),
            ("podGroupPostFilter", self.pod_group_post_filter.as_ref()),
        ]
    }

    /// The framework's other points, by their field names.
    fn framework_points(&self) -> [(&'static str, Option<&FilePluginSet>); 9] {
        [
            ("preEnqueue", self.pre_enqueue.as_ref()),
            ("preFilter", self.pre_filter.as_ref()),
            ("postFilter", self.post_filter.as_ref()),
            ("preScore", self.pre_score.as_ref()),
            ("reserve", self.reserve.as_ref()),
            ("permit", self.permit.as_ref()),
            ("preBind", self.pre_bind.as_ref()),
            ("bind", self.bind.as_ref()),
            ("postBind", self.post_bind.as_ref()),
        ]
    }
}

#[derive(Deserialize, Default)]
#[serde(expecting = "a plugin set (enabled, disabled)", deny_unknown_fields)]
struct FilePluginSet {
    enabled: Option<Vec<FilePlugin>>,
    disabled: Option<Vec<FilePlugin>>,
}

impl FilePluginSet {
    fn enabled(&self) -> &[FilePlugin] {
        self.enabled.as_deref().unwrap_or_default()
    }
    fn disabled(&self) -> &[FilePlugin] {
        self.disabled.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a plugin (name, weight)", deny_unknown_fields)]
struct FilePlugin {
    name: String,
    weight: Option<i64>,
}

#[derive(Deserialize)]
#[serde(expecting = "plugin args (name, args)", deny_unknown_fields)]
struct FilePluginConfig {
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "WebAssembly limits (callTimeout, memoryLimit, plugins)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FileWasm {
    call_timeout: Option<DurationText>,
    memory_limit: Option<QuantityText>,
    failure_policy: Option<String>,
    quarantine: Option<FileQuarantine>,
    plugins: Option<Vec<FileWasmPlugin>>,
}

#[derive(Deserialize)]
#[serde(
    expecting = "settings of a plugin (name, callTimeout, memoryLimit, failurePolicy, quarantine, sha256)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FileWasmPlugin {
    name: String,
    call_timeout: Option<DurationText>,
    memory_limit: Option<QuantityText>,
    failure_policy: Option<String>,
    quarantine: Option<FileQuarantine>,
    sha256: Option<String>,
}

/// The settings a plugin inherits from the section when it leaves them out,
/// as written in either place.
struct FileSettings<'a> {
    call_timeout: Option<&'a DurationText>,
    memory_limit: Option<&'a QuantityText>,
    failure_policy: Option<&'a str>,
    quarantine: Option<&'a FileQuarantine>,
}

#[derive(Deserialize)]
#[serde(
    expecting = "a quarantine (afterFaults, backoff)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
struct FileQuarantine {
    after_faults: Option<u32>,
    backoff: Option<DurationText>,
}

/// A Go duration as written (`250ms`); parsed later, to name the field.
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with a unit, such as 250ms or 1.5s")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_owned()))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A Kubernetes quantity as written: a string (`128Mi`) or a plain number,
/// as in manifests.
struct QuantityText(String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = QuantityText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity such as 128Mi or 134217728")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<QuantityText, E> {
                Ok(QuantityText(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<QuantityText, E> {
                Ok(QuantityText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<QuantityText, E> {
                Ok(QuantityText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<QuantityText, E> {
                Ok(QuantityText(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

// --- From the file to the effective configuration ---------------------------

/// Where errors and warnings point, and the warnings so far.
struct Cx<'a> {
    source: &'a str,
    warnings: RefCell<Vec<String>>,
}

impl Cx<'_> {
    fn invalid(&self, field: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.source.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn yaml(&self, error: serde_yaml::Error) -> ConfigError {
        ConfigError::Yaml {
            source_name: self.source.to_string(),
            error,
        }
    }

    fn warn(&self, field: &str, message: &str) {
        let warning = format!("{}: {field}: {message}", self.source);
        self.warnings.borrow_mut().push(warning);
    }
}

type Result<T, E = ConfigError> = std::result::Result<T, E>;

fn check_header(cx: &Cx, document: &serde_yaml::Mapping) -> Result<()> {
    match document.get("apiVersion") {
        None => return Err(cx.invalid("apiVersion", format!("required, must be `{API_VERSION}`"))),
        Some(serde_yaml::Value::String(v)) if v == API_VERSION => {}
        Some(serde_yaml::Value::String(v)) if v.starts_with("kubescheduler.config.k8s.io/") => {
            return Err(cx.invalid(
                "apiVersion",
                format!(
                    "`{v}` is not supported, only `{API_VERSION}` \
                     (kube-scheduler has dropped the older versions too)"
                ),
            ));
        }
        Some(other) => {
            return Err(cx.invalid(
                "apiVersion",
                format!("must be `{API_VERSION}`, got {}", yaml_text(other)),
            ));
        }
    }
    match document.get("kind") {
        None => Err(cx.invalid("kind", format!("required, must be `{KIND}`"))),
        Some(serde_yaml::Value::String(k)) if k == KIND => Ok(()),
        Some(other) => Err(cx.invalid(
            "kind",
            format!("must be `{KIND}`, got {}", yaml_text(other)),
        )),
    }
}

fn yaml_text(value: &serde_yaml::Value) -> String {
    match value {
        serde_yaml::Value::String(s) => format!("`{s}`"),
        other => serde_yaml::to_string(other)
            .map_or_else(|_| "?".into(), |s| format!("`{}`", s.trim_end())),
    }
}

fn resolve(cx: &Cx, file: FileConfig) -> Result<Config> {
    let parallelism = match file.parallelism {
        None => default_parallelism(),
        Some(n) if n <= 0 => {
            return Err(cx.invalid("parallelism", format!("must be > 0, got {n}")));
        }
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_PARALLELISM)
            .ok_or_else(|| {
                cx.invalid(
                    "parallelism",
                    format!(
                        "must be at most {MAX_PARALLELISM} (each worker holds an instance of every plugin), got {n}"
                    ),
                )
            })?,
    };
    let top_percentage = percentage(
        cx,
        "percentageOfNodesToScore",
        file.percentage_of_nodes_to_score,
    )?;
    let (pod_initial_backoff, pod_max_backoff) = backoff(
        cx,
        file.pod_initial_backoff_seconds,
        file.pod_max_backoff_seconds,
    )?;
    if file.extenders.as_ref().is_some_and(|e| !e.is_empty()) {
        return Err(cx.invalid(
            "extenders",
            "scheduler extenders are not supported by kube-wasm-scheduler; \
             write the policy as a WebAssembly plugin instead",
        ));
    }
    warn_ignored(cx, &file);
    let wasm = wasm_settings(cx, file.wasm)?;

    let profiles = match file.profiles {
        // As kube-scheduler: no profiles means the default one.
        None => vec![resolve_profile(
            cx,
            0,
            FileProfile::default(),
            1,
            top_percentage,
        )?],
        Some(list) if list.is_empty() => {
            return Err(cx.invalid(
                "profiles",
                "must list at least one profile (leave `profiles` out for the default one)",
            ));
        }
        Some(list) => {
            let count = list.len();
            list.into_iter()
                .enumerate()
                .map(|(i, p)| resolve_profile(cx, i, p, count, top_percentage))
                .collect::<Result<Vec<_>>>()?
        }
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, profile) in profiles.iter().enumerate() {
        if let Some(first) = names.insert(&profile.scheduler_name, i) {
            return Err(cx.invalid(
                format!("profiles[{i}].schedulerName"),
                format!(
                    "duplicate `{}`, already used by profiles[{first}]",
                    profile.scheduler_name
                ),
            ));
        }
    }
    for name in wasm.plugins.keys() {
        if !profiles
            .iter()
            .any(|p| p.plugin_names().contains(&name.as_str()))
        {
            cx.warn(
                "wasm.plugins",
                &format!("`{name}` has settings but no profile runs it"),
            );
        }
    }
    Ok(Config {
        profiles,
        parallelism,
        pod_initial_backoff,
        pod_max_backoff,
        wasm,
    })
}

/// A percentage in 0..=100, as given (0 is resolved later: it overrides).
fn percentage(cx: &Cx, field: &str, value: Option<i64>) -> Result<Option<u32>> {
    value
        .map(|p| {
            u32::try_from(p)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| cx.invalid(field, format!("must be between 0 and 100, got {p}")))
        })
        .transpose()
}

fn backoff(cx: &Cx, initial: Option<i64>, max: Option<i64>) -> Result<(Duration, Duration)> {
    // Validated as upstream, after defaulting: a lone initial above the
    // default max is refused.
    let initial = initial.unwrap_or(DEFAULT_POD_INITIAL_BACKOFF.as_secs() as i64);
    let max = max.unwrap_or(DEFAULT_POD_MAX_BACKOFF.as_secs() as i64);
    if initial <= 0 {
        return Err(cx.invalid(
            "podInitialBackoffSeconds",
            format!("must be > 0, got {initial}"),
        ));
    }
    if max < initial {
        return Err(cx.invalid(
            "podMaxBackoffSeconds",
            format!("must be >= podInitialBackoffSeconds ({initial}), got {max}"),
        ));
    }
    for (field, value) in [
        ("podInitialBackoffSeconds", initial),
        ("podMaxBackoffSeconds", max),
    ] {
        if value > MAX_POD_BACKOFF_SECONDS {
            return Err(cx.invalid(
                field,
                format!("must be at most {MAX_POD_BACKOFF_SECONDS} (one day), got {value}"),
            ));
        }
    }
    Ok((
        Duration::from_secs(initial.unsigned_abs()),
        Duration::from_secs(max.unsigned_abs()),
    ))
}

/// Fields accepted for compatibility that change nothing here; see the
/// module doc for why each is harmless.
fn warn_ignored(cx: &Cx, file: &FileConfig) {
    if let Some(election) = &file.leader_election
        && election.get("leaderElect") != Some(&serde_yaml::Value::Bool(false))
    {
        cx.warn(
            "leaderElection",
            "ignored: kube-wasm-scheduler does no leader election yet; run a single replica",
        );
    }
    if file.client_connection.is_some() {
        cx.warn(
            "clientConnection",
            "ignored: kube-wasm-scheduler takes its connection to the cluster \
             from its command line and environment",
        );
    }
    for (field, value) in [
        ("enableProfiling", file.enable_profiling),
        (
            "enableContentionProfiling",
            file.enable_contention_profiling,
        ),
    ] {
        if value == Some(true) {
            cx.warn(
                field,
                "ignored: kube-wasm-scheduler serves no profiling endpoints",
            );
        }
    }
    if file.delay_cache_until_active == Some(true) {
        cx.warn(
            "delayCacheUntilActive",
            "ignored: without leader election the scheduler is always active",
        );
    }
    warn_placements(
        cx,
        "percentageOfPlacementsToScore",
        file.percentage_of_placements_to_score,
    );
}

fn warn_placements(cx: &Cx, field: &str, value: Option<i64>) {
    if value.is_some_and(|p| p != 0) {
        cx.warn(
            field,
            "ignored: kube-wasm-scheduler does not place pod groups yet",
        );
    }
}

fn resolve_profile(
    cx: &Cx,
    index: usize,
    file: FileProfile,
    count: usize,
    top_percentage: Option<u32>,
) -> Result<Profile> {
    let path = format!("profiles[{index}]");
    let scheduler_name = match file.scheduler_name {
        Some(name) if name.is_empty() => {
            return Err(cx.invalid(format!("{path}.schedulerName"), "must not be empty"));
        }
        Some(name) => name,
        // As kube-scheduler, a name is only made up for a single profile.
        None if count == 1 => DEFAULT_SCHEDULER_NAME.to_string(),
        None => {
            return Err(cx.invalid(
                format!("{path}.schedulerName"),
                "required when there is more than one profile",
            ));
        }
    };
    let own_percentage = percentage(
        cx,
        &format!("{path}.percentageOfNodesToScore"),
        file.percentage_of_nodes_to_score,
    )?;
    // The profile's 0 means adaptive even when the top level says otherwise.
    let percentage_of_nodes_to_score = own_percentage.or(top_percentage).filter(|p| *p > 0);
    warn_placements(
        cx,
        &format!("{path}.percentageOfPlacementsToScore"),
        file.percentage_of_placements_to_score,
    );

    let plugins_path = format!("{path}.plugins");
    let mut plugins = file.plugins.unwrap_or_default();
    for (point, set) in plugins.not_run() {
        if let Some(set) = set {
            check_not_run(cx, &format!("{plugins_path}.{point}"), point, set)?;
        }
    }
    let multi_point = merge_multi_point(
        cx,
        &format!("{plugins_path}.multiPoint"),
        plugins.multi_point.take().unwrap_or_default(),
    )?;
    let filter: Vec<String> = expand(
        cx,
        &format!("{plugins_path}.filter"),
        Point::Filter,
        &plugins.filter.take().unwrap_or_default(),
        &multi_point,
    )?
    .into_iter()
    .map(|e| e.name)
    .collect();
    let score: Vec<(String, i64)> = expand(
        cx,
        &format!("{plugins_path}.score"),
        Point::Score,
        &plugins.score.take().unwrap_or_default(),
        &multi_point,
    )?
    .into_iter()
    .map(|e| {
        let weight = score_weight(&e, &multi_point);
        (e.name, weight)
    })
    .collect();

    let (other, disabled_at) = framework_points(cx, &plugins_path, &plugins, &filter, &score)?;
    let plugin_args = plugin_args(cx, &path, file.plugin_config.unwrap_or_default())?;
    let profile = Profile {
        scheduler_name,
        filter,
        score,
        plugin_args,
        percentage_of_nodes_to_score,
        other,
        disabled_at,
    };
    // Upstream ignores args of plugins it doesn't run; so do we, but say so:
    // it is usually a typo in the name.
    let running = profile.plugin_names();
    for name in profile.plugin_args.keys() {
        if !running.contains(&name.as_str()) {
            cx.warn(
                &format!("{path}.pluginConfig"),
                &format!("args of `{name}` are unused: the profile does not run it"),
            );
        }
    }
    Ok(profile)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    Filter,
    Score,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Point::Filter => "filter",
            Point::Score => "score",
        })
    }
}

fn default_plugin(name: &str) -> Option<&'static DefaultPlugin> {
    DEFAULT_PLUGINS.iter().find(|p| p.name == name)
}

impl DefaultPlugin {
    fn runs_at(&self, point: Point) -> bool {
        match point {
            Point::Filter => self.filter,
            Point::Score => self.score_weight.is_some(),
        }
    }
}

/// A plugin enabled at a point, with the weight given there, if any.
#[derive(Debug)]
struct Enabled {
    name: String,
    weight: Option<i64>,
}

impl From<&FilePlugin> for Enabled {
    fn from(p: &FilePlugin) -> Self {
        Enabled {
            name: p.name.clone(),
            weight: p.weight,
        }
    }
}

/// Names present, no plugin enabled twice, weights in range.
fn check_plugin_set(cx: &Cx, path: &str, set: &FilePluginSet, weighted: bool) -> Result<()> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (j, plugin) in set.enabled().iter().enumerate() {
        let field = format!("{path}.enabled[{j}]");
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if plugin.name == "*" {
            return Err(cx.invalid(
                format!("{field}.name"),
                "`*` only means \"all plugins\" in `disabled`",
            ));
        }
        // kube-scheduler refuses this when it builds the framework.
        if let Some(first) = seen.insert(&plugin.name, j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!("`{}` is already enabled at enabled[{first}]", plugin.name),
            ));
        }
        match plugin.weight {
            Some(w) if weighted && !(0..=100).contains(&w) => {
                return Err(cx.invalid(
                    format!("{field}.weight"),
                    format!(
                        "must be > 0 and <= 100, got {w} \
                         (leave it out, or 0, for the plugin's default weight)"
                    ),
                ));
            }
            Some(w) if !weighted && w != 0 => {
                cx.warn(
                    &format!("{field}.weight"),
                    "ignored: only score plugins have weights",
                );
            }
            _ => {}
        }
    }
    for (j, plugin) in set.disabled().iter().enumerate() {
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{path}.disabled[{j}].name"), "must not be empty"));
        }
    }
    Ok(())
}

/// An extension point we don't run: it may only say things that change
/// nothing here (see the module doc).
///
/// The framework's other points: the plugins enabled there that the
/// profile does not run yet, and what each point disables.
#[allow(clippy::type_complexity)]
fn framework_points(
    cx: &Cx,
    path: &str,
    plugins: &FilePlugins,
    filter: &[String],
    score: &[(String, i64)],
) -> Result<(Vec<String>, BTreeMap<String, BTreeSet<String>>)> {
    let mut other: Vec<String> = Vec::new();
    let mut disabled_at: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (point, set) in plugins.framework_points() {
        let Some(set) = set else { continue };
        let point_path = format!("{path}.{point}");
        check_plugin_set(cx, &point_path, set, false)?;
        for plugin in set.enabled() {
            let name = plugin.name.as_str();
            let built_in = BUILT_INTO_SCHEDULER.contains(&(point, name));
            let runs = filter.iter().any(|f| f == name)
                || score.iter().any(|(s, _)| s == name)
                || other.iter().any(|o| o == name);
            if !built_in && !runs {
                other.push(name.to_string());
            }
        }
        for (j, plugin) in set.disabled().iter().enumerate() {
            let name = plugin.name.as_str();
            let runs = name == "*"
                || default_plugin(name).is_some()
                || filter.iter().any(|f| f == name)
                || score.iter().any(|(s, _)| s == name)
                || other.iter().any(|o| o == name);
            if !runs {
                cx.warn(
                    &format!("{point_path}.disabled[{j}]"),
                    &format!("ignored: `{name}` does not run in this profile"),
                );
            }
        }
        let disabled: BTreeSet<String> = set.disabled().iter().map(|p| p.name.clone()).collect();
        if !disabled.is_empty() {
            disabled_at.insert(point.to_string(), disabled);
        }
    }
    Ok((other, disabled_at))
}

fn check_not_run(cx: &Cx, path: &str, point: &str, set: &FilePluginSet) -> Result<()> {
    for (j, plugin) in set.enabled().iter().enumerate() {
        if !BUILT_INTO_SCHEDULER.contains(&(point, plugin.name.as_str())) {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}]"),
                format!(
                    "the {point} extension point is not supported yet by kube-wasm-scheduler; \
                     cannot enable `{}` there",
                    plugin.name
                ),
            ));
        }
    }
    for (j, plugin) in set.disabled().iter().enumerate() {
        let field = format!("{path}.disabled[{j}]");
        if default_plugin(&plugin.name).is_some() {
            return Err(cx.invalid(
                field,
                format!(
                    "the {point} extension point is not supported yet by kube-wasm-scheduler: \
                     `{}` does not run there; disable it under filter, score or multiPoint",
                    plugin.name
                ),
            ));
        }
        cx.warn(
            &field,
            &format!(
                "ignored: kube-wasm-scheduler runs no {point} plugins, so `{}` is not running",
                plugin.name
            ),
        );
    }
    Ok(())
}

/// The defaults merged with the file's `multiPoint`, as upstream's
/// `mergePluginSet`: disabled defaults go, an enabled default is replaced
/// in place, other enabled plugins are appended.
fn merge_multi_point(cx: &Cx, path: &str, set: FilePluginSet) -> Result<Vec<Enabled>> {
    check_plugin_set(cx, path, &set, true)?;
    let disabled: BTreeSet<&str> = set.disabled().iter().map(|p| p.name.as_str()).collect();
    let enabled = set.enabled();
    let mut merged = Vec::new();
    let mut replaced = BTreeSet::new();
    if !disabled.contains("*") {
        for default in DEFAULT_PLUGINS {
            if disabled.contains(default.name) {
                continue;
            }
            match enabled.iter().position(|p| p.name == default.name) {
                Some(j) => {
                    replaced.insert(j);
                    merged.push(Enabled::from(&enabled[j]));
                }
                None => merged.push(Enabled {
                    name: default.name.to_string(),
                    weight: default.score_weight,
                }),
            }
        }
    }
    for (j, plugin) in enabled.iter().enumerate() {
        if replaced.contains(&j) {
            continue;
        }
        if default_plugin(&plugin.name).is_none() {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}].name"),
                format!(
                    "`{}` is not built into kube-wasm-scheduler, so which extension points \
                     it implements is not known before it is loaded; enable it under \
                     filter and/or score instead",
                    plugin.name
                ),
            ));
        }
        merged.push(Enabled::from(plugin));
    }
    Ok(merged)
}

/// The plugins run at `point`, as upstream's multiPoint expansion: plugins
/// enabled at the point that override multiPoint ones first, then the other
/// multiPoint plugins that run there and aren't disabled there, then the
/// remaining plugins enabled at the point. `disabled: *` drops every
/// multiPoint plugin.
fn expand(
    cx: &Cx,
    path: &str,
    point: Point,
    set: &FilePluginSet,
    multi_point: &[Enabled],
) -> Result<Vec<Enabled>> {
    check_plugin_set(cx, path, set, point == Point::Score)?;
    let specific = set.enabled();
    for (j, plugin) in specific.iter().enumerate() {
        if let Some(default) = default_plugin(&plugin.name)
            && !default.runs_at(point)
        {
            return Err(cx.invalid(
                format!("{path}.enabled[{j}].name"),
                format!("`{}` is not a {point} plugin", plugin.name),
            ));
        }
    }
    let disabled: BTreeSet<&str> = set.disabled().iter().map(|p| p.name.as_str()).collect();
    if disabled.contains("*") {
        return Ok(specific.iter().map(Enabled::from).collect());
    }
    let mut overrides = BTreeSet::new();
    let mut from_multi_point = Vec::new();
    for plugin in multi_point {
        let runs_here = default_plugin(&plugin.name).is_some_and(|d| d.runs_at(point));
        if !runs_here || disabled.contains(plugin.name.as_str()) {
            continue;
        }
        if specific.iter().any(|p| p.name == plugin.name) {
            overrides.insert(plugin.name.as_str());
        } else {
            from_multi_point.push(Enabled {
                name: plugin.name.clone(),
                weight: None,
            });
        }
    }
    let (first, last): (Vec<&FilePlugin>, Vec<&FilePlugin>) = specific
        .iter()
        .partition(|p| overrides.contains(p.name.as_str()));
    let mut plugins: Vec<Enabled> = first.into_iter().map(Enabled::from).collect();
    plugins.extend(from_multi_point);
    plugins.extend(last.into_iter().map(Enabled::from));
    Ok(plugins)
}

/// The weight given at score, else in multiPoint, else the default, else 1
/// (0 counts as not given).
fn score_weight(plugin: &Enabled, multi_point: &[Enabled]) -> i64 {
    let given = |w: Option<i64>| w.filter(|w| *w > 0);
    given(plugin.weight)
        .or_else(|| {
            let in_multi_point = multi_point.iter().find(|m| m.name == plugin.name);
            given(in_multi_point.and_then(|m| m.weight))
        })
        .or_else(|| default_plugin(&plugin.name).and_then(|d| d.score_weight))
        .unwrap_or(1)
}

fn plugin_args(
    cx: &Cx,
    path: &str,
    configs: Vec<FilePluginConfig>,
) -> Result<BTreeMap<String, Value>> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut args = BTreeMap::new();
    for (j, config) in configs.into_iter().enumerate() {
        let field = format!("{path}.pluginConfig[{j}]");
        if config.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if let Some(first) = seen.insert(config.name.clone(), j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!(
                    "duplicate `{}`, already configured at pluginConfig[{first}]",
                    config.name
                ),
            ));
        }
        match config.args {
            None | Some(Value::Null) => {}
            Some(Value::Object(mut map)) => {
                // Upstream picks the args type by `kind`; a mismatch is a
                // copy-paste slip worth catching.
                let expected = format!("{}Args", config.name);
                match map.remove("kind") {
                    None => {}
                    Some(Value::String(kind)) if kind == expected => {}
                    Some(other) => {
                        return Err(cx.invalid(
                            format!("{field}.args.kind"),
                            format!(
                                "must be `{expected}` for plugin `{}`, got {other}",
                                config.name
                            ),
                        ));
                    }
                }
                map.remove("apiVersion");
                args.insert(config.name, Value::Object(map));
            }
            Some(other) => {
                return Err(cx.invalid(
                    format!("{field}.args"),
                    format!("must be a mapping of the plugin's arguments, got {other}"),
                ));
            }
        }
    }
    Ok(args)
}

fn wasm_settings(cx: &Cx, file: Option<FileWasm>) -> Result<WasmSettings> {
    let file = file.unwrap_or_default();
    let section = FileSettings {
        call_timeout: file.call_timeout.as_ref(),
        memory_limit: file.memory_limit.as_ref(),
        failure_policy: file.failure_policy.as_deref(),
        quarantine: file.quarantine.as_ref(),
    };
    let defaults = plugin_settings(cx, "wasm", &section, &PluginSettings::default())?;
    let mut plugins = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (j, plugin) in file.plugins.unwrap_or_default().into_iter().enumerate() {
        let field = format!("wasm.plugins[{j}]");
        if plugin.name.is_empty() {
            return Err(cx.invalid(format!("{field}.name"), "must not be empty"));
        }
        if let Some(first) = seen.insert(plugin.name.clone(), j) {
            return Err(cx.invalid(
                format!("{field}.name"),
                format!(
                    "duplicate `{}`, already listed at wasm.plugins[{first}]",
                    plugin.name
                ),
            ));
        }
        let given = FileSettings {
            call_timeout: plugin.call_timeout.as_ref(),
            memory_limit: plugin.memory_limit.as_ref(),
            failure_policy: plugin.failure_policy.as_deref(),
            quarantine: plugin.quarantine.as_ref(),
        };
        let mut own = plugin_settings(cx, &field, &given, &defaults)?;
        own.sha256 = plugin
            .sha256
            .map(|digest| sha256_pin(cx, &field, &digest))
            .transpose()?;
        plugins.insert(plugin.name, own);
    }
    Ok(WasmSettings { defaults, plugins })
}

/// Settings given at `path`, the rest from `inherited`.
fn plugin_settings(
    cx: &Cx,
    path: &str,
    given: &FileSettings,
    inherited: &PluginSettings,
) -> Result<PluginSettings> {
    let call_timeout = match given.call_timeout {
        None => inherited.call_timeout,
        Some(text) => bounded_duration(
            cx,
            &format!("{path}.callTimeout"),
            text,
            (MAX_CALL_TIMEOUT, "1h"),
        )?,
    };
    let memory_limit_bytes = match given.memory_limit {
        None => inherited.memory_limit_bytes,
        Some(QuantityText(text)) => {
            let field = format!("{path}.memoryLimit");
            let quantity = Quantity::parse(text)
                .map_err(|e| cx.invalid(&field, format!("invalid quantity `{text}`: {e}")))?;
            match quantity.value() {
                bytes if bytes <= 0 => {
                    return Err(cx.invalid(field, format!("must be > 0, got `{text}`")));
                }
                bytes if bytes.unsigned_abs() > MAX_MEMORY_LIMIT_BYTES => {
                    return Err(cx.invalid(
                        field,
                        format!(
                            "must be at most 4Gi (all a 32-bit WebAssembly guest can address), got `{text}`"
                        ),
                    ));
                }
                bytes => bytes.unsigned_abs(),
            }
        }
    };
    let failure_policy = match given.failure_policy {
        None => inherited.failure_policy,
        Some("Fail") => FailurePolicy::Fail,
        Some("Ignore") => FailurePolicy::Ignore,
        Some(other) => {
            return Err(cx.invalid(
                format!("{path}.failurePolicy"),
                format!("must be `Fail` or `Ignore`, got `{other}`"),
            ));
        }
    };
    let mut quarantine = inherited.quarantine;
    if let Some(given) = given.quarantine {
        if let Some(after_faults) = given.after_faults {
            if after_faults == 0 {
                return Err(cx.invalid(format!("{path}.quarantine.afterFaults"), "must be >= 1"));
            }
            quarantine.after_faults = after_faults;
        }
        if let Some(text) = &given.backoff {
            quarantine.backoff = bounded_duration(
                cx,
                &format!("{path}.quarantine.backoff"),
                text,
                (MAX_QUARANTINE_BACKOFF, "24h"),
            )?;
        }
    }
    Ok(PluginSettings {
        call_timeout,
        memory_limit_bytes,
        failure_policy,
        quarantine,
        sha256: None,
    })
}

/// A duration > 0 and at most `max` (written as `max_text` in the error).
fn bounded_duration(
    cx: &Cx,
    field: &str,
    DurationText(text): &DurationText,
    (max, max_text): (Duration, &str),
) -> Result<Duration> {
    match parse_go_duration(text) {
        Err(why) => Err(cx.invalid(field, format!("invalid duration `{text}`: {why}"))),
        Ok(nanos) if nanos <= 0 => Err(cx.invalid(field, format!("must be > 0, got `{text}`"))),
        Ok(nanos) if Duration::from_nanos(nanos.unsigned_abs()) > max => {
            Err(cx.invalid(field, format!("must be at most {max_text}, got `{text}`")))
        }
        Ok(nanos) => Ok(Duration::from_nanos(nanos.unsigned_abs())),
    }
}

/// A pinned digest: 64 hex digits, optionally written `sha256:...` as
/// image digests are; kept in lower case to compare with the file's.
fn sha256_pin(cx: &Cx, path: &str, digest: &str) -> Result<String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(cx.invalid(
            format!("{path}.sha256"),
            format!("must be 64 hex digits (the file's SHA-256), got `{digest}`"),
        ));
    }
    Ok(hex.to_ascii_lowercase())
}

/// Parses a duration as Go's `time.ParseDuration` (`300ms`, `-1.5h`,
/// `2h45m`; units ns, us/µs, ms, s, m, h), into signed nanoseconds.
fn parse_go_duration(text: &str) -> Result<i64, String> {
    const UNITS: &str = "use ns, us, ms, s, m or h";
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("expected a number and a unit, such as 250ms or 1.5s".into());
    }
    let too_long = || "too long".to_string();
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(format!("expected a number at `{rest}`"));
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit after `{number}` ({UNITS})")),
            other => return Err(format!("unknown unit `{other}` ({UNITS})")),
        };
        let mut nanos = digits_value(whole)
            .and_then(|w| w.checked_mul(unit_nanos))
            .ok_or_else(too_long)?;
        // Digits past the 20th are below a nanosecond even in hours.
        let fraction = &fraction[..fraction.len().min(20)];
        if !fraction.is_empty() {
            let numerator = digits_value(fraction).ok_or_else(too_long)?;
            let scale = 10u128.pow(fraction.len() as u32);
            nanos += numerator * unit_nanos / scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_long)?;
        rest = next;
    }
    let total = i64::try_from(total).map_err(|_| too_long())?;
    Ok(if negative { -total } else { total })
}

fn digits_value(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |value, digit| {
        value.checked_mul(10)?.checked_add(u128::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HEADER: &str =
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

    fn parse(body: &str) -> Result<Config> {
        Config::from_yaml("sched.yaml", &format!("{HEADER}{body}"))
    }

    fn ok(body: &str) -> Config {
        parse(body).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(body: &str) -> String {
        match parse(body) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The only profile of a file with `profiles: [<profile>]`.
    fn profile(profile: &str) -> Profile {
        let mut config = ok(&format!("profiles: [{profile}]\n"));
        assert_eq!(config.profiles.len(), 1);
        config.profiles.remove(0)
    }

    fn names(list: &[String]) -> Vec<&str> {
        list.iter().map(String::as_str).collect()
    }

    fn weights(profile: &Profile) -> Vec<(&str, i64)> {
        profile
            .score
            .iter()
            .map(|(n, w)| (n.as_str(), *w))
            .collect()
    }

    /// kube-scheduler v1.37's default filter and score plugins, in order,
    /// less the volume plugins (see DEFAULT_PLUGINS).
    const DEFAULT_FILTER: [&str; 8] = [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
        "NodePorts",
        "NodeResourcesFit",
        "PodTopologySpread",
        "InterPodAffinity",
    ];
    const DEFAULT_SCORE: [(&str, i64); 7] = [
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        ("NodeResourcesFit", 1),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("NodeResourcesBalancedAllocation", 1),
        ("ImageLocality", 1),
    ];

    /// The defaults without `name`.
    fn filter_without(name: &str) -> Vec<&'static str> {
        DEFAULT_FILTER.into_iter().filter(|n| *n != name).collect()
    }

    fn score_without(name: &str) -> Vec<(&'static str, i64)> {
        DEFAULT_SCORE
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect()
    }

    #[test]
    fn default_config() {
        let config = Config::default();
        assert_eq!(config.profiles.len(), 1);
        let profile = config.profile(DEFAULT_SCHEDULER_NAME).unwrap();
        assert_eq!(names(&profile.filter), DEFAULT_FILTER);
        assert_eq!(weights(profile), DEFAULT_SCORE);
        assert!(profile.plugin_args.is_empty());
        assert_eq!(profile.percentage_of_nodes_to_score, None);
        assert!(config.parallelism >= 1);
        assert_eq!(config.pod_initial_backoff, Duration::from_secs(1));
        assert_eq!(config.pod_max_backoff, Duration::from_secs(10));
        assert_eq!(config.wasm.defaults.call_timeout, Duration::from_secs(1));
        assert_eq!(config.wasm.defaults.memory_limit_bytes, 128 * 1024 * 1024);
        assert!(config.wasm.plugins.is_empty());
        assert!(config.profile("default-scheduler").is_none());
        assert_eq!(
            profile.plugin_names(),
            [
                DEFAULT_FILTER.as_slice(),
                &["NodeResourcesBalancedAllocation", "ImageLocality"]
            ]
            .concat()
        );
    }

    #[test]
    fn a_file_that_says_nothing_is_the_default() {
        assert_eq!(ok(""), Config::default());
        // A single profile without a name gets the default name and plugins.
        assert_eq!(ok("profiles: [{}]\n"), Config::default());
        assert_eq!(
            ok("profiles: [{plugins: {filter: {}, score: {enabled: [], disabled: []}}}]\n"),
            Config::default()
        );
    }

    #[test]
    fn disabling_one_plugin_at_one_point() {
        let p = profile("{plugins: {filter: {disabled: [{name: TaintToleration}]}}}");
        assert_eq!(names(&p.filter), filter_without("TaintToleration"));
        // Still scores.
        assert_eq!(weights(&p), DEFAULT_SCORE);

        let p = profile("{plugins: {score: {disabled: [{name: NodeAffinity}]}}}");
        assert_eq!(names(&p.filter), DEFAULT_FILTER);
        assert_eq!(weights(&p), score_without("NodeAffinity"));
    }

    #[test]
    fn disabling_one_plugin_everywhere_with_multi_point() {
        let p = profile("{plugins: {multiPoint: {disabled: [{name: TaintToleration}]}}}");
        assert!(!p.filter.contains(&"TaintToleration".to_string()));
        assert_eq!(weights(&p), score_without("TaintToleration"));
        // Disabling a plugin we don't have (e.g. from an upstream config)
        // does nothing, as upstream.
        let p = profile(
            "{plugins: {multiPoint: {disabled: [{name: VolumeBinding}]}, filter: {disabled: [{name: VolumeZone}]}}}",
        );
        assert_eq!(p, Profile::with_default_plugins(DEFAULT_SCHEDULER_NAME));
    }

    #[test]
    fn disabling_all() {
        let p = profile(
            "{plugins: {filter: {disabled: [{name: '*'}], enabled: [{name: NodeName}, {name: MyFilter}]}}}",
        );
        assert_eq!(names(&p.filter), ["NodeName", "MyFilter"]);
        assert_eq!(weights(&p), DEFAULT_SCORE);

        let p = profile("{plugins: {score: {disabled: [{name: '*'}]}}}");
        assert_eq!(names(&p.filter), DEFAULT_FILTER);
        assert!(p.score.is_empty());

        let p = profile(
            "{plugins: {multiPoint: {disabled: [{name: '*'}]}, score: {enabled: [{name: MyScore}]}}}",
        );
        assert!(p.filter.is_empty());
        assert_eq!(weights(&p), [("MyScore", 1)]);

        // Enabled wins over disabled in the same set, as upstream.
        let p = profile(
            "{plugins: {multiPoint: {disabled: [{name: '*'}], enabled: [{name: NodeAffinity}]}}}",
        );
        assert_eq!(names(&p.filter), ["NodeAffinity"]);
        assert_eq!(weights(&p), [("NodeAffinity", 2)]);
    }

    #[test]
    fn enabled_plugins_are_appended_with_their_weights() {
        let p = profile(
            "{plugins: {filter: {enabled: [{name: MyFilter}, {name: Other}]},
              score: {enabled: [{name: MyScore}, {name: Heavy, weight: 7}, {name: Zero, weight: 0}]}}}",
        );
        let mut filter = DEFAULT_FILTER.to_vec();
        filter.extend(["MyFilter", "Other"]);
        assert_eq!(names(&p.filter), filter);
        let mut score = DEFAULT_SCORE.to_vec();
        score.extend([("MyScore", 1), ("Heavy", 7), ("Zero", 1)]);
        assert_eq!(weights(&p), score);
        assert_eq!(
            p.plugin_names(),
            [
                DEFAULT_FILTER.as_slice(),
                &["MyFilter", "Other"],
                &["NodeResourcesBalancedAllocation", "ImageLocality"],
                &["MyScore", "Heavy", "Zero"]
            ]
            .concat()
        );
    }

    #[test]
    fn weight_defaulting() {
        // Re-listed at score without weight (or 0): the default weight.
        let p = profile(
            "{plugins: {score: {enabled: [{name: NodeAffinity}, {name: TaintToleration, weight: 0}]}}}",
        );
        assert_eq!(
            weights(&p)[..3],
            [
                ("NodeAffinity", 2),
                ("TaintToleration", 3),
                ("NodeResourcesFit", 1)
            ]
        );
        // A weight given in multiPoint is the default of the score point.
        let p = profile(
            "{plugins: {multiPoint: {enabled: [{name: NodeAffinity, weight: 9}]},
              score: {enabled: [{name: NodeAffinity}]}}}",
        );
        assert_eq!(
            weights(&p)[..3],
            [
                ("NodeAffinity", 9),
                ("TaintToleration", 3),
                ("NodeResourcesFit", 1)
            ]
        );
        // The score point's own weight wins.
        let p = profile(
            "{plugins: {multiPoint: {enabled: [{name: NodeAffinity, weight: 9}]},
              score: {enabled: [{name: NodeAffinity, weight: 4}]}}}",
        );
        assert_eq!(weights(&p)[0], ("NodeAffinity", 4));
        // Re-enabled in multiPoint without weight: the default weight.
        let p = profile("{plugins: {multiPoint: {enabled: [{name: TaintToleration}]}}}");
        assert_eq!(weights(&p), DEFAULT_SCORE);
    }

    #[test]
    fn order_follows_upstream() {
        // multiPoint: a default re-enabled is replaced in place; one
        // disabled and enabled again is appended.
        let p = profile(
            "{plugins: {multiPoint: {enabled: [{name: NodeName}, {name: NodeAffinity, weight: 5}], disabled: [{name: NodeName}]}}}",
        );
        assert_eq!(
            names(&p.filter),
            [
                "NodeUnschedulable",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "PodTopologySpread",
                "InterPodAffinity",
                "NodeName"
            ]
        );
        assert_eq!(
            weights(&p)[..3],
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 5),
                ("NodeResourcesFit", 1)
            ]
        );
        // At a point: defaults re-enabled there run first, in the order
        // given there, then the other defaults, then the new plugins.
        let p = profile(
            "{plugins: {filter: {enabled: [{name: First}, {name: NodeResourcesFit}, {name: NodeName}]}}}",
        );
        assert_eq!(
            names(&p.filter),
            [
                "NodeResourcesFit",
                "NodeName",
                "NodeUnschedulable",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "PodTopologySpread",
                "InterPodAffinity",
                "First"
            ]
        );
        // To put a plugin of your own first: disable all, list them all.
        let p = profile(
            "{plugins: {filter: {disabled: [{name: '*'}], enabled: [{name: First}, {name: NodeName}, {name: NodeUnschedulable}]}}}",
        );
        assert_eq!(names(&p.filter), ["First", "NodeName", "NodeUnschedulable"]);
    }

    #[test]
    fn plugins_must_run_where_they_are_enabled() {
        let e = error("profiles: [{plugins: {score: {enabled: [{name: NodeName}]}}}]");
        assert!(
            e.starts_with("sched.yaml: profiles[0].plugins.score.enabled[0].name: `NodeName` is not a score plugin"),
            "{e}"
        );
        let e = error("profiles: [{plugins: {multiPoint: {enabled: [{name: MyPlugin}]}}}]");
        assert!(
            e.starts_with("sched.yaml: profiles[0].plugins.multiPoint.enabled[0].name: `MyPlugin` is not built into kube-wasm-scheduler"),
            "{e}"
        );
        assert!(e.contains("enable it under filter and/or score"), "{e}");
    }

    /// Every validation error: (file body, field, part of the message).
    #[test]
    fn validation_errors_name_the_source_and_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("parallelism: 0", "parallelism", "must be > 0, got 0"),
            ("parallelism: -3", "parallelism", "must be > 0, got -3"),
            (
                "parallelism: 100000000000",
                "parallelism",
                "must be at most 256 (each worker holds an instance of every plugin), got 100000000000",
            ),
            (
                "percentageOfNodesToScore: 101",
                "percentageOfNodesToScore",
                "must be between 0 and 100, got 101",
            ),
            (
                "percentageOfNodesToScore: -1",
                "percentageOfNodesToScore",
                "must be between 0 and 100, got -1",
            ),
            (
                "profiles: [{percentageOfNodesToScore: 200}]",
                "profiles[0].percentageOfNodesToScore",
                "must be between 0 and 100, got 200",
            ),
            (
                "podInitialBackoffSeconds: 0",
                "podInitialBackoffSeconds",
                "must be > 0, got 0",
            ),
            (
                "podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2",
                "podMaxBackoffSeconds",
                "must be >= podInitialBackoffSeconds (5), got 2",
            ),
            (
                "podInitialBackoffSeconds: 20",
                "podMaxBackoffSeconds",
                "must be >= podInitialBackoffSeconds (20), got 10",
            ),
            (
                "podInitialBackoffSeconds: 9223372036854775807\npodMaxBackoffSeconds: 9223372036854775807",
                "podInitialBackoffSeconds",
                "must be at most 86400 (one day), got 9223372036854775807",
            ),
            (
                "podMaxBackoffSeconds: 86401",
                "podMaxBackoffSeconds",
                "must be at most 86400 (one day), got 86401",
            ),
            ("profiles: []", "profiles", "must list at least one profile"),
            (
                "profiles: [{schedulerName: ''}]",
                "profiles[0].schedulerName",
                "must not be empty",
            ),
            (
                "profiles: [{schedulerName: a}, {}]",
                "profiles[1].schedulerName",
                "required when there is more than one profile",
            ),
            (
                "profiles: [{schedulerName: a}, {schedulerName: b}, {schedulerName: a}]",
                "profiles[2].schedulerName",
                "duplicate `a`, already used by profiles[0]",
            ),
            (
                "profiles: [{plugins: {score: {enabled: [{name: A}, {name: B, weight: -1}]}}}]",
                "profiles[0].plugins.score.enabled[1].weight",
                "must be > 0 and <= 100, got -1",
            ),
            (
                "profiles: [{plugins: {score: {enabled: [{name: A, weight: 101}]}}}]",
                "profiles[0].plugins.score.enabled[0].weight",
                "must be > 0 and <= 100, got 101",
            ),
            (
                "profiles: [{plugins: {multiPoint: {enabled: [{name: NodeAffinity, weight: 1000}]}}}]",
                "profiles[0].plugins.multiPoint.enabled[0].weight",
                "must be > 0 and <= 100, got 1000",
            ),
            (
                "profiles: [{plugins: {filter: {enabled: [{name: A}, {name: B}, {name: A}]}}}]",
                "profiles[0].plugins.filter.enabled[2].name",
                "`A` is already enabled at enabled[0]",
            ),
            (
                "profiles: [{plugins: {score: {enabled: [{name: NodeAffinity}, {name: NodeAffinity}]}}}]",
                "profiles[0].plugins.score.enabled[1].name",
                "`NodeAffinity` is already enabled at enabled[0]",
            ),
            (
                "profiles: [{plugins: {multiPoint: {enabled: [{name: NodeName}, {name: NodeName}]}}}]",
                "profiles[0].plugins.multiPoint.enabled[1].name",
                "already enabled at enabled[0]",
            ),
            (
                "profiles: [{plugins: {filter: {enabled: [{name: ''}]}}}]",
                "profiles[0].plugins.filter.enabled[0].name",
                "must not be empty",
            ),
            (
                "profiles: [{plugins: {filter: {disabled: [{name: ''}]}}}]",
                "profiles[0].plugins.filter.disabled[0].name",
                "must not be empty",
            ),
            (
                "profiles: [{plugins: {score: {enabled: [{name: '*'}]}}}]",
                "profiles[0].plugins.score.enabled[0].name",
                "`*` only means \"all plugins\" in `disabled`",
            ),
            (
                "profiles: [{pluginConfig: [{name: A, args: {}}, {name: A}]}]",
                "profiles[0].pluginConfig[1].name",
                "duplicate `A`, already configured at pluginConfig[0]",
            ),
            (
                "profiles: [{pluginConfig: [{name: '', args: {}}]}]",
                "profiles[0].pluginConfig[0].name",
                "must not be empty",
            ),
            (
                "profiles: [{pluginConfig: [{name: A, args: [1]}]}]",
                "profiles[0].pluginConfig[0].args",
                "must be a mapping of the plugin's arguments, got [1]",
            ),
            (
                "profiles: [{pluginConfig: [{name: NodeAffinity, args: {kind: NodeResourcesFitArgs}}]}]",
                "profiles[0].pluginConfig[0].args.kind",
                "must be `NodeAffinityArgs` for plugin `NodeAffinity`, got \"NodeResourcesFitArgs\"",
            ),
            (
                "extenders: [{urlPrefix: 'http://x'}]",
                "extenders",
                "scheduler extenders are not supported",
            ),
            (
                "wasm: {callTimeout: 0s}",
                "wasm.callTimeout",
                "must be > 0, got `0s`",
            ),
            (
                "wasm: {callTimeout: -1s}",
                "wasm.callTimeout",
                "must be > 0, got `-1s`",
            ),
            (
                "wasm: {callTimeout: 1x}",
                "wasm.callTimeout",
                "invalid duration `1x`: unknown unit `x`",
            ),
            (
                "wasm: {callTimeout: '10'}",
                "wasm.callTimeout",
                "invalid duration `10`: missing unit after `10`",
            ),
            (
                "wasm: {memoryLimit: 0}",
                "wasm.memoryLimit",
                "must be > 0, got `0`",
            ),
            (
                "wasm: {memoryLimit: -1Mi}",
                "wasm.memoryLimit",
                "must be > 0, got `-1Mi`",
            ),
            (
                "wasm: {plugins: [{name: A, memoryLimit: 5Gi}]}",
                "wasm.plugins[0].memoryLimit",
                "must be at most 4Gi (all a 32-bit WebAssembly guest can address), got `5Gi`",
            ),
            (
                "wasm: {callTimeout: 2562047h}",
                "wasm.callTimeout",
                "must be at most 1h, got `2562047h`",
            ),
            (
                "wasm: {memoryLimit: 12 MB}",
                "wasm.memoryLimit",
                "invalid quantity `12 MB`: quantities must match",
            ),
            (
                "wasm: {plugins: [{name: A}, {name: A}]}",
                "wasm.plugins[1].name",
                "duplicate `A`, already listed at wasm.plugins[0]",
            ),
            (
                "wasm: {plugins: [{name: ''}]}",
                "wasm.plugins[0].name",
                "must not be empty",
            ),
            (
                "wasm: {plugins: [{name: A, callTimeout: 5parsecs}]}",
                "wasm.plugins[0].callTimeout",
                "invalid duration `5parsecs`: unknown unit `parsecs`",
            ),
            (
                "wasm: {plugins: [{name: A, memoryLimit: 0Mi}]}",
                "wasm.plugins[0].memoryLimit",
                "must be > 0, got `0Mi`",
            ),
            (
                "wasm: {failurePolicy: fail}",
                "wasm.failurePolicy",
                "must be `Fail` or `Ignore`, got `fail`",
            ),
            (
                "wasm: {quarantine: {afterFaults: 0}}",
                "wasm.quarantine.afterFaults",
                "must be >= 1",
            ),
            (
                "wasm: {plugins: [{name: A, quarantine: {backoff: 0s}}]}",
                "wasm.plugins[0].quarantine.backoff",
                "must be > 0, got `0s`",
            ),
            (
                "wasm: {quarantine: {backoff: 25h}}",
                "wasm.quarantine.backoff",
                "must be at most 24h, got `25h`",
            ),
            (
                "wasm: {plugins: [{name: A, sha256: abc}]}",
                "wasm.plugins[0].sha256",
                "must be 64 hex digits (the file's SHA-256), got `abc`",
            ),
        ];
        for (body, field, message) in cases {
            let e = error(body);
            let expected = format!("sched.yaml: {field}: ");
            assert!(
                e.starts_with(&expected),
                "{body}: {e}\nwanted it to start with {expected}"
            );
            assert!(e.contains(message), "{body}: {e}\nwanted {message}");
        }
    }

    #[test]
    fn header_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "kind: KubeSchedulerConfiguration\n",
                "sched.yaml: apiVersion: required, must be `kubescheduler.config.k8s.io/v1`",
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
                "sched.yaml: apiVersion: `kubescheduler.config.k8s.io/v1beta3` is not supported",
            ),
            (
                "apiVersion: v1\nkind: KubeSchedulerConfiguration\n",
                "sched.yaml: apiVersion: must be `kubescheduler.config.k8s.io/v1`, got `v1`",
            ),
            (
                "apiVersion: 1\nkind: KubeSchedulerConfiguration\n",
                "sched.yaml: apiVersion: must be `kubescheduler.config.k8s.io/v1`, got `1`",
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\n",
                "sched.yaml: kind: required, must be `KubeSchedulerConfiguration`",
            ),
            (
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: Pod\n",
                "sched.yaml: kind: must be `KubeSchedulerConfiguration`, got `Pod`",
            ),
            ("", "sched.yaml: .: the file is empty"),
            ("# only a comment\n", "sched.yaml: .: the file is empty"),
            (
                "- a list\n",
                "sched.yaml: invalid type: sequence, expected a KubeSchedulerConfiguration",
            ),
            (
                "a: 1\n---\nb: 2\n",
                "sched.yaml: deserializing from YAML containing more than one document",
            ),
            ("a: [\n", "sched.yaml: "),
        ];
        for (text, expected) in cases {
            let e = Config::from_yaml("sched.yaml", text)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_named_with_their_path_and_line() {
        let e = error("profiles:\n- plugins:\n    filtre:\n      enabled: []\n");
        assert!(
            e.starts_with("sched.yaml: profiles[0].plugins: unknown field `filtre`, expected one of `multiPoint`, `filter`, `score`"),
            "{e}"
        );
        assert!(e.contains("at line 5"), "{e}");

        let e = error("parallelizm: 4\n");
        assert!(
            e.starts_with("sched.yaml: unknown field `parallelizm`"),
            "{e}"
        );
        let e = error("profiles: [{schedulerName: a, plugin: {}}]\n");
        assert!(
            e.starts_with("sched.yaml: profiles[0]: unknown field `plugin`"),
            "{e}"
        );
        let e = error("profiles: [{plugins: {score: {enabled: [{name: A, wieght: 2}]}}}]\n");
        assert!(
            e.starts_with(
                "sched.yaml: profiles[0].plugins.score.enabled[0]: unknown field `wieght`"
            ),
            "{e}"
        );
        let e = error("wasm: {timeout: 1s}\n");
        assert!(
            e.starts_with("sched.yaml: wasm: unknown field `timeout`"),
            "{e}"
        );
        let e = error("profiles: [{plugins: {score: {enabled: [{weight: 2}]}}}]\n");
        assert!(
            e.starts_with("sched.yaml: profiles[0].plugins.score.enabled[0]: missing field `name`"),
            "{e}"
        );
        let e = error("parallelism: many\n");
        assert!(
            e.starts_with("sched.yaml: parallelism: invalid type: string \"many\""),
            "{e}"
        );
        let e = error("wasm: {callTimeout: [5]}\n");
        assert!(
            e.starts_with("sched.yaml: wasm.callTimeout: invalid type: sequence, expected a duration with a unit"),
            "{e}"
        );
    }

    #[test]
    fn extension_points_not_run_yet() {
        let e = error("profiles: [{plugins: {queueSort: {enabled: [{name: MySort}]}}}]");
        assert_eq!(
            e,
            "sched.yaml: profiles[0].plugins.queueSort.enabled[0]: the queueSort extension point \
             is not supported yet by kube-wasm-scheduler; cannot enable `MySort` there"
        );
        let e =
            error("profiles: [{plugins: {placementScore: {disabled: [{name: NodeAffinity}]}}}]");
        assert!(
            e.contains("disable it under filter, score or multiPoint"),
            "{e}"
        );

        // Saying nothing, or what we do anyway, is fine.
        let quiet = ok("profiles: [{plugins: {
            preEnqueue: {}, preFilter: {enabled: [], disabled: []}, reserve: {}, permit: {},
            preBind: {}, postBind: {},
            queueSort: {enabled: [{name: PrioritySort}]}, bind: {enabled: [{name: DefaultBinder}]},
            placementGenerate: {}, placementScore: {}, placementFeasible: {}, podGroupPostFilter: {}}}]");
        assert_eq!(quiet, Config::default());
    }

    #[test]
    fn framework_points_enable_and_disable_plugins() {
        let config = ok("profiles: [{plugins: {
            permit: {enabled: [{name: Gang}]},
            reserve: {enabled: [{name: Gang}, {name: NodeResourcesFit}]},
            preFilter: {disabled: [{name: NodeResourcesFit}]},
            postFilter: {disabled: [{name: DefaultPreemption}]},
            preScore: {disabled: [{name: '*'}]}}}]");
        let profile = &config.profiles[0];
        assert_eq!(profile.other, vec!["Gang".to_string()]);
        assert!(profile.plugin_names().contains(&"Gang"));
        assert!(!profile.runs_at("preFilter", "NodeResourcesFit"));
        assert!(profile.runs_at("preFilter", "NodeAffinity"));
        assert!(profile.runs_at("filter", "NodeResourcesFit"));
        assert!(!profile.runs_at("preScore", "TaintToleration"));
        assert!(profile.runs_at("permit", "Gang"));
    }

    #[test]
    fn limits_at_their_bounds_are_accepted() {
        let config = ok(
            "parallelism: 256\npodInitialBackoffSeconds: 86400\npodMaxBackoffSeconds: 86400\nwasm: {callTimeout: 1h, memoryLimit: 4Gi, quarantine: {backoff: 24h}}\n",
        );
        assert_eq!(config.parallelism, 256);
        assert_eq!(config.pod_max_backoff, Duration::from_secs(86400));
        let wasm = &config.wasm.defaults;
        assert_eq!(wasm.call_timeout, MAX_CALL_TIMEOUT);
        assert_eq!(wasm.memory_limit_bytes, MAX_MEMORY_LIMIT_BYTES);
        assert_eq!(wasm.quarantine.backoff, MAX_QUARANTINE_BACKOFF);
    }

    #[test]
    fn ignored_and_honoured_top_level_fields() {
        let config = ok("
leaderElection: {leaderElect: true, resourceLock: leases}
clientConnection: {kubeconfig: /etc/kubernetes/scheduler.conf, qps: 50}
enableProfiling: true
enableContentionProfiling: true
delayCacheUntilActive: true
percentageOfPlacementsToScore: 30
extenders: []
parallelism: 3
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 60
profiles: [{percentageOfPlacementsToScore: 10}]
");
        assert_eq!(config.parallelism, 3);
        assert_eq!(config.pod_initial_backoff, Duration::from_secs(2));
        assert_eq!(config.pod_max_backoff, Duration::from_secs(60));
        assert_eq!(config.profiles, Config::default().profiles);
    }

    fn warnings(body: &str) -> Vec<String> {
        let (_, warnings) =
            load("sched.yaml", &format!("{HEADER}{body}")).unwrap_or_else(|e| panic!("{e}"));
        warnings
    }

    #[test]
    fn ignored_fields_are_warned_about() {
        let logged = warnings(
            "
leaderElection: {leaderElect: true}
clientConnection: {kubeconfig: /etc/kubernetes/scheduler.conf}
enableProfiling: true
delayCacheUntilActive: true
percentageOfPlacementsToScore: 30
profiles:
- plugins:
    postFilter: {disabled: [{name: DefaultPreemption}]}
    filter: {enabled: [{name: MyFilter, weight: 3}]}
  pluginConfig: [{name: VolumeBinding, args: {}}]
wasm: {plugins: [{name: Unused, callTimeout: 1s}]}
",
        );
        let expected = [
            "sched.yaml: leaderElection: ignored: kube-wasm-scheduler does no leader election yet; run a single replica",
            "sched.yaml: clientConnection: ignored: kube-wasm-scheduler takes its connection to the cluster from its command line and environment",
            "sched.yaml: enableProfiling: ignored: kube-wasm-scheduler serves no profiling endpoints",
            "sched.yaml: delayCacheUntilActive: ignored: without leader election the scheduler is always active",
            "sched.yaml: percentageOfPlacementsToScore: ignored: kube-wasm-scheduler does not place pod groups yet",
            "sched.yaml: profiles[0].plugins.filter.enabled[0].weight: ignored: only score plugins have weights",
            "sched.yaml: profiles[0].plugins.postFilter.disabled[0]: ignored: `DefaultPreemption` does not run in this profile",
            "sched.yaml: profiles[0].pluginConfig: args of `VolumeBinding` are unused: the profile does not run it",
            "sched.yaml: wasm.plugins: `Unused` has settings but no profile runs it",
        ];
        assert_eq!(logged, expected);

        // Saying what we do anyway is quiet.
        let logged = warnings(
            "leaderElection: {leaderElect: false}\nenableProfiling: false\nextenders: []\n",
        );
        assert_eq!(logged, Vec::<String>::new());
        let (_, logged) = load("example", &documented_example()).unwrap();
        assert_eq!(logged, Vec::<String>::new());
    }

    #[test]
    fn percentage_per_profile_over_top_level() {
        let config = ok("percentageOfNodesToScore: 30
profiles:
- schedulerName: inherits
- schedulerName: adaptive
  percentageOfNodesToScore: 0
- schedulerName: own
  percentageOfNodesToScore: 70
");
        let pct = |name| config.profile(name).unwrap().percentage_of_nodes_to_score;
        assert_eq!(pct("inherits"), Some(30));
        assert_eq!(pct("adaptive"), None);
        assert_eq!(pct("own"), Some(70));

        let config = ok(
            "percentageOfNodesToScore: 0\nprofiles: [{schedulerName: a, percentageOfNodesToScore: 100}, {schedulerName: b}]\n",
        );
        assert_eq!(config.profiles[0].percentage_of_nodes_to_score, Some(100));
        assert_eq!(config.profiles[1].percentage_of_nodes_to_score, None);
        // Without profiles the default one takes the top level's.
        assert_eq!(
            ok("percentageOfNodesToScore: 40\n").profiles[0].percentage_of_nodes_to_score,
            Some(40)
        );
    }

    #[test]
    fn plugin_args_are_kept_without_type_meta() {
        let p = profile("{pluginConfig: [
            {name: NodeResourcesFit, args: {apiVersion: kubescheduler.config.k8s.io/v1, kind: NodeResourcesFitArgs,
                scoringStrategy: {type: MostAllocated, resources: [{name: cpu, weight: 2}]}}},
            {name: NodeAffinity, args: {}},
            {name: TaintToleration},
            {name: NodeName, args: null}]}");
        assert_eq!(p.plugin_args.len(), 2);
        assert_eq!(
            p.plugin_args["NodeResourcesFit"],
            json!({"scoringStrategy": {"type": "MostAllocated", "resources": [{"name": "cpu", "weight": 2}]}})
        );
        assert_eq!(p.plugin_args["NodeAffinity"], json!({}));
        // Args of a plugin the profile doesn't run: kept (and warned about).
        let p = profile(
            "{pluginConfig: [{name: DefaultPreemption, args: {minCandidateNodesPercentage: 10}}]}",
        );
        assert_eq!(
            p.plugin_args["DefaultPreemption"],
            json!({"minCandidateNodesPercentage": 10})
        );
    }

    #[test]
    fn wasm_settings_and_per_plugin_override() {
        let config = ok("wasm:
  callTimeout: 1.5s
  memoryLimit: 256Mi
  failurePolicy: Ignore
  quarantine: {afterFaults: 3}
  plugins:
  - name: NodeAffinity
    callTimeout: 200ms
    memoryLimit: 64Mi
    failurePolicy: Fail
    quarantine: {backoff: 2m}
  - name: NodeName
    memoryLimit: 1e6
    sha256: sha256:ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789
  - name: TaintToleration
    callTimeout: 1m30s
  - name: NodeResourcesFit
    memoryLimit: 33554432
");
        let wasm = &config.wasm;
        let mib = 1024 * 1024;
        let section = PluginSettings {
            call_timeout: Duration::from_millis(1500),
            memory_limit_bytes: 256 * mib,
            failure_policy: FailurePolicy::Ignore,
            quarantine: Quarantine {
                after_faults: 3,
                backoff: DEFAULT_QUARANTINE_BACKOFF,
            },
            sha256: None,
        };
        assert_eq!(wasm.defaults, section);
        assert_eq!(
            wasm.settings_for("NodeAffinity"),
            &PluginSettings {
                call_timeout: Duration::from_millis(200),
                memory_limit_bytes: 64 * mib,
                failure_policy: FailurePolicy::Fail,
                quarantine: Quarantine {
                    after_faults: 3,
                    backoff: Duration::from_secs(120),
                },
                sha256: None,
            }
        );
        // Left out: inherited from the section's own defaults.
        assert_eq!(
            wasm.settings_for("NodeName"),
            &PluginSettings {
                memory_limit_bytes: 1_000_000,
                sha256: Some(
                    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789".into()
                ),
                ..section.clone()
            }
        );
        assert_eq!(
            wasm.settings_for("TaintToleration").call_timeout,
            Duration::from_secs(90)
        );
        assert_eq!(
            wasm.settings_for("TaintToleration").memory_limit_bytes,
            256 * mib
        );
        assert_eq!(
            wasm.settings_for("NodeResourcesFit").memory_limit_bytes,
            32 * mib
        );
        assert_eq!(wasm.settings_for("Unlisted"), &wasm.defaults);

        // Only some plugin settings: the built-in defaults for the rest.
        let config = ok("wasm: {plugins: [{name: NodeAffinity, callTimeout: 2s}]}\n");
        assert_eq!(config.wasm.defaults, PluginSettings::default());
        assert_eq!(
            config.wasm.settings_for("NodeAffinity"),
            &PluginSettings {
                call_timeout: Duration::from_secs(2),
                ..PluginSettings::default()
            }
        );
        assert_eq!(ok("wasm: {}\n").wasm, WasmSettings::default());
    }

    #[test]
    fn go_durations() {
        let ns = |t| parse_go_duration(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(ns("0"), 0);
        assert_eq!(ns("250ms"), 250_000_000);
        assert_eq!(ns("1.5s"), 1_500_000_000);
        assert_eq!(ns(".5s"), 500_000_000);
        assert_eq!(ns("5.s"), 5_000_000_000);
        assert_eq!(ns("2m"), 120_000_000_000);
        assert_eq!(ns("1h30m"), 5_400_000_000_000);
        assert_eq!(ns("1h2m3s4ms5us6ns"), 3_723_004_005_006);
        assert_eq!(ns("3µs"), 3_000);
        assert_eq!(ns("3μs"), 3_000);
        assert_eq!(ns("-1.5h"), -5_400_000_000_000);
        assert_eq!(ns("+10ns"), 10);
        assert_eq!(ns("0.000000001s"), 1);
        assert_eq!(ns("1.0000000009s"), 1_000_000_000); // truncated, as Go
        assert_eq!(ns("2562047h"), 2_562_047 * 3_600_000_000_000);
        for bad in [
            "",
            "-",
            "s",
            "1",
            "1.2.3s",
            "1sec",
            "1 s",
            "..s",
            "9999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn from_file_names_the_file() {
        let dir = std::env::temp_dir().join(format!("kws-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sched.yaml");
        std::fs::write(&path, format!("{HEADER}parallelism: 2\n")).unwrap();
        assert_eq!(Config::from_file(&path).unwrap().parallelism, 2);

        std::fs::write(&path, format!("{HEADER}parallelism: 0\n")).unwrap();
        let e = Config::from_file(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}: parallelism: must be > 0, got 0", path.display())
        );

        let missing = dir.join("missing.yaml");
        let e = Config::from_file(&missing).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read: ", missing.display())),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The YAML block of the module doc.
    fn documented_example() -> String {
        let source = include_str!("config.rs");
        let start = source.find("//! ```yaml\n").expect("example start") + "//! ```yaml\n".len();
        let end = start + source[start..].find("//! ```\n").expect("example end");
        let example: String = source[start..end]
            .lines()
            .map(|l| {
                l.strip_prefix("//!")
                    .unwrap()
                    .strip_prefix(' ')
                    .unwrap_or("")
                    .to_string()
                    + "\n"
            })
            .collect();
        example
    }

    /// The example in the module doc is a valid configuration and means what
    /// it says.
    #[test]
    fn documented_example_means_what_it_says() {
        let config =
            Config::from_yaml("example", &documented_example()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.parallelism, 8);
        let main = config.profile(DEFAULT_SCHEDULER_NAME).unwrap();
        assert_eq!(names(&main.filter), filter_without("NodeName"));
        assert_eq!(
            weights(main),
            [
                ("NodeAffinity", 5),
                ("TaintToleration", 3),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1),
                ("MyScore", 1)
            ]
        );
        assert_eq!(
            main.plugin_args["NodeResourcesFit"],
            json!({"scoringStrategy": {"type": "MostAllocated"}})
        );
        let batch = config.profile("batch").unwrap();
        assert_eq!(names(&batch.filter), DEFAULT_FILTER);
        assert!(batch.score.is_empty());
        assert_eq!(batch.percentage_of_nodes_to_score, Some(50));
        assert_eq!(
            config.wasm.settings_for("NodeAffinity").call_timeout,
            Duration::from_millis(200)
        );
        assert_eq!(
            config.wasm.settings_for("NodeName"),
            &PluginSettings::default()
        );
        let my_score = config.wasm.settings_for("MyScore");
        assert_eq!(my_score.failure_policy, FailurePolicy::Ignore);
        assert_eq!(
            my_score.sha256.as_deref(),
            Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
        );
    }
}
