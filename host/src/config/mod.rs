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
//!   no bind plugin takes. `DefaultPreemption` is a default that runs at
//!   `postFilter` (disable it there, or in multiPoint, to turn preemption
//!   off).
//!
//! `queueSort` (only `PrioritySort`, what the queue does) and the pod-group
//! points are not run by kube-wasm-scheduler yet. They may be left out or
//! empty; enabling a plugin there is an error.
//!
//! # Top-level fields
//!
//! - `leaderElection`: honoured by `run`, with kube-scheduler's defaults
//!   and validation (see [`LeaderElection`]); only `resourceLock: leases`
//!   exists (as in client-go today). The Lease is `kube-wasm-scheduler` in
//!   `kube-system` unless `resourceName` says otherwise.
//! - `clientConnection`: ignored with a warning. The connection to the
//!   cluster comes from the command line and environment; QPS and burst
//!   only pace API calls, they don't change placements.
//! - `enableProfiling`, `enableContentionProfiling`: ignored (warning when
//!   true): no profiling endpoints are served.
//! - `delayCacheUntilActive`: ignored (warning when true): a replica that
//!   is not leader keeps its caches warm, so that it takes over at once.
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

mod file;
mod leader_election;
mod plugins;
mod resolve;
#[cfg(test)]
mod tests;
mod wasm;

use file::*;
use leader_election::*;
use plugins::*;
use resolve::*;
use wasm::*;

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
/// | filter | NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, VolumeRestrictions, NodeVolumeLimits, VolumeBinding, VolumeZone, PodTopologySpread, InterPodAffinity, DynamicResources |
/// | score  | TaintToleration (3), NodeAffinity (2), NodeResourcesFit (1), VolumeBinding (1), PodTopologySpread (2), InterPodAffinity (2), DynamicResources (2), NodeResourcesBalancedAllocation (1), ImageLocality (1) |
/// | postFilter | DefaultPreemption, GangScheduling |
/// | preEnqueue | DynamicResources, GangScheduling |
/// | preFilter | the filters', DynamicResources |
/// | reserve, preBind | VolumeBinding, DynamicResources |
/// | permit | GangScheduling |
///
/// Left out of upstream's list: SchedulingGates and PrioritySort (the queue
/// holds gated pods and orders by priority itself) and DefaultBinder
/// (built in). The volume plugins skip a pod without volumes at PreFilter. DefaultPreemption runs at postFilter
/// (a default that is neither a filter nor a score plugin runs at the
/// framework's other points it implements). GangScheduling is upstream's
/// default behind its GenericWorkload feature gate; here it is always on,
/// and does nothing for a pod that names no PodGroup. DynamicResources
/// comes where upstream's DynamicResourceAllocation gate (on by default)
/// puts it, before DefaultPreemption, with weight 2; its Score is 0
/// everywhere (upstream's ranks only `firstAvailable` subrequests, not
/// allocated here).
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
    DefaultPlugin { name: "VolumeRestrictions",              filter: true,  score_weight: None },
    DefaultPlugin { name: "NodeVolumeLimits",                filter: true,  score_weight: None },
    DefaultPlugin { name: "VolumeBinding",                   filter: true,  score_weight: Some(1) },
    DefaultPlugin { name: "VolumeZone",                      filter: true,  score_weight: None },
    DefaultPlugin { name: "PodTopologySpread",               filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "InterPodAffinity",                filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "DynamicResources",                filter: true,  score_weight: Some(2) },
    DefaultPlugin { name: "NodeResourcesBalancedAllocation", filter: false, score_weight: Some(1) },
    DefaultPlugin { name: "ImageLocality",                   filter: false, score_weight: Some(1) },
    DefaultPlugin { name: "DefaultPreemption",               filter: false, score_weight: None },
    DefaultPlugin { name: "GangScheduling",                  filter: false, score_weight: None },
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
    /// `leaderElection`; None when `leaderElect: false`. Only `run` elects.
    pub leader_election: Option<LeaderElection>,
}

/// Which replica schedules: the one holding a `coordination.k8s.io` Lease,
/// renewed every [`LeaderElection::retry_period`]; kube-scheduler's
/// `leaderElection` section with its defaults, except the Lease's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// How long a Lease not renewed stays another replica's (15s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops
    /// scheduling (10s); less than the lease duration, so it has stopped
    /// before the Lease can be taken.
    pub renew_deadline: Duration,
    /// How often every replica tries to take or renew the Lease (2s).
    pub retry_period: Duration,
    /// The Lease's name. [`DEFAULT_LEASE_NAME`] rather than
    /// kube-scheduler's `kube-scheduler`: running beside kube-scheduler
    /// is the common case, and sharing its Lease would leave one of the
    /// two schedulers idle.
    pub resource_name: String,
    /// The Lease's namespace (`kube-system`).
    pub resource_namespace: String,
}

/// [`LeaderElection::resource_name`]'s default.
pub const DEFAULT_LEASE_NAME: &str = "kube-wasm-scheduler";

impl Default for LeaderElection {
    /// component-base's recommended defaults, as kube-scheduler applies them.
    fn default() -> Self {
        LeaderElection {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_name: DEFAULT_LEASE_NAME.to_string(),
            resource_namespace: "kube-system".to_string(),
        }
    }
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
            leader_election: Some(LeaderElection::default()),
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
            other: DEFAULT_PLUGINS
                .iter()
                .filter(|p| !p.filter && p.score_weight.is_none())
                .map(|p| p.name.to_string())
                .collect(),
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

fn default_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARALLELISM))
}
