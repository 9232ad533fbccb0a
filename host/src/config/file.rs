//! The file's shape: upstream's `kubescheduler.config.k8s.io/v1` types,
//! every field optional so that defaults apply, decoded strictly.

use super::*;

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
pub(super) struct FileConfig {
    /// Checked before, from the untyped document.
    #[serde(rename = "apiVersion")]
    pub(super) _api_version: Option<IgnoredAny>,
    #[serde(rename = "kind")]
    pub(super) _kind: Option<IgnoredAny>,
    pub(super) parallelism: Option<i64>,
    pub(super) leader_election: Option<FileLeaderElection>,
    pub(super) client_connection: Option<serde_yaml::Mapping>,
    pub(super) enable_profiling: Option<bool>,
    pub(super) enable_contention_profiling: Option<bool>,
    pub(super) percentage_of_nodes_to_score: Option<i64>,
    pub(super) percentage_of_placements_to_score: Option<i64>,
    pub(super) pod_initial_backoff_seconds: Option<i64>,
    pub(super) pod_max_backoff_seconds: Option<i64>,
    pub(super) profiles: Option<Vec<FileProfile>>,
    pub(super) extenders: Option<Vec<IgnoredAny>>,
    pub(super) delay_cache_until_active: Option<bool>,
    pub(super) wasm: Option<FileWasm>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "a profile (schedulerName, plugins, pluginConfig, ...)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FileProfile {
    pub(super) scheduler_name: Option<String>,
    pub(super) percentage_of_nodes_to_score: Option<i64>,
    pub(super) percentage_of_placements_to_score: Option<i64>,
    pub(super) plugins: Option<FilePlugins>,
    pub(super) plugin_config: Option<Vec<FilePluginConfig>>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "extension points (filter, score, multiPoint, ...)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FilePlugins {
    pub(super) multi_point: Option<FilePluginSet>,
    pub(super) filter: Option<FilePluginSet>,
    pub(super) score: Option<FilePluginSet>,
    // Not run yet: see the module doc.
    pub(super) pre_enqueue: Option<FilePluginSet>,
    pub(super) queue_sort: Option<FilePluginSet>,
    pub(super) pre_filter: Option<FilePluginSet>,
    pub(super) post_filter: Option<FilePluginSet>,
    pub(super) pre_score: Option<FilePluginSet>,
    pub(super) reserve: Option<FilePluginSet>,
    pub(super) permit: Option<FilePluginSet>,
    pub(super) pre_bind: Option<FilePluginSet>,
    pub(super) bind: Option<FilePluginSet>,
    pub(super) post_bind: Option<FilePluginSet>,
    pub(super) placement_generate: Option<FilePluginSet>,
    pub(super) placement_score: Option<FilePluginSet>,
    pub(super) placement_feasible: Option<FilePluginSet>,
    pub(super) pod_group_post_filter: Option<FilePluginSet>,
}

impl FilePlugins {
    /// The extension points we don't run, by their field names.
    pub(super) fn not_run(&self) -> [(&'static str, Option<&FilePluginSet>); 5] {
        [
            ("queueSort", self.queue_sort.as_ref()),
            ("placementGenerate", self.placement_generate.as_ref()),
            ("placementScore", self.placement_score.as_ref()),
            ("placementFeasible", self.placement_feasible.as_ref()),
            ("podGroupPostFilter", self.pod_group_post_filter.as_ref()),
        ]
    }

    /// The framework's other points, by their field names.
    pub(super) fn framework_points(&self) -> [(&'static str, Option<&FilePluginSet>); 9] {
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
pub(super) struct FilePluginSet {
    pub(super) enabled: Option<Vec<FilePlugin>>,
    pub(super) disabled: Option<Vec<FilePlugin>>,
}

impl FilePluginSet {
    pub(super) fn enabled(&self) -> &[FilePlugin] {
        self.enabled.as_deref().unwrap_or_default()
    }
    pub(super) fn disabled(&self) -> &[FilePlugin] {
        self.disabled.as_deref().unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a plugin (name, weight)", deny_unknown_fields)]
pub(super) struct FilePlugin {
    pub(super) name: String,
    pub(super) weight: Option<i64>,
}

#[derive(Deserialize)]
#[serde(expecting = "plugin args (name, args)", deny_unknown_fields)]
pub(super) struct FilePluginConfig {
    pub(super) name: String,
    pub(super) args: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(
    expecting = "WebAssembly limits (callTimeout, memoryLimit, plugins)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FileWasm {
    pub(super) call_timeout: Option<DurationText>,
    pub(super) memory_limit: Option<QuantityText>,
    pub(super) failure_policy: Option<String>,
    pub(super) quarantine: Option<FileQuarantine>,
    pub(super) plugins: Option<Vec<FileWasmPlugin>>,
}

#[derive(Deserialize)]
#[serde(
    expecting = "settings of a plugin (name, callTimeout, memoryLimit, failurePolicy, quarantine, sha256)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FileWasmPlugin {
    pub(super) name: String,
    pub(super) call_timeout: Option<DurationText>,
    pub(super) memory_limit: Option<QuantityText>,
    pub(super) failure_policy: Option<String>,
    pub(super) quarantine: Option<FileQuarantine>,
    pub(super) sha256: Option<String>,
}

/// The settings a plugin inherits from the section when it leaves them out,
/// as written in either place.
pub(super) struct FileSettings<'a> {
    pub(super) call_timeout: Option<&'a DurationText>,
    pub(super) memory_limit: Option<&'a QuantityText>,
    pub(super) failure_policy: Option<&'a str>,
    pub(super) quarantine: Option<&'a FileQuarantine>,
}

#[derive(Deserialize)]
#[serde(
    expecting = "a quarantine (afterFaults, backoff)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FileQuarantine {
    pub(super) after_faults: Option<u32>,
    pub(super) backoff: Option<DurationText>,
}

/// component-base's `LeaderElectionConfiguration`, as kube-scheduler
/// embeds it.
#[derive(Deserialize, Default)]
#[serde(
    expecting = "a leader election (leaderElect, leaseDuration, renewDeadline, retryPeriod, resourceLock, resourceName, resourceNamespace)",
    rename_all = "camelCase",
    deny_unknown_fields
)]
pub(super) struct FileLeaderElection {
    pub(super) leader_elect: Option<bool>,
    pub(super) lease_duration: Option<DurationText>,
    pub(super) renew_deadline: Option<DurationText>,
    pub(super) retry_period: Option<DurationText>,
    pub(super) resource_lock: Option<String>,
    pub(super) resource_name: Option<String>,
    pub(super) resource_namespace: Option<String>,
}

/// A Go duration as written (`250ms`); parsed later, to name the field.
pub(super) struct DurationText(pub(super) String);

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
pub(super) struct QuantityText(pub(super) String);

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
