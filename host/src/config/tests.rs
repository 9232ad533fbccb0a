//! The configuration reader against kube-scheduler's semantics and
//! messages.

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

/// kube-scheduler v1.37's default filter and score plugins, in order.
const DEFAULT_FILTER: [&str; 13] = [
    "NodeUnschedulable",
    "NodeName",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "PodTopologySpread",
    "InterPodAffinity",
    "DynamicResources",
];
const DEFAULT_SCORE: [(&str, i64); 9] = [
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodeResourcesFit", 1),
    ("VolumeBinding", 1),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DynamicResources", 2),
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
            &["NodeResourcesBalancedAllocation", "ImageLocality"],
            &["DefaultPreemption", "GangScheduling"]
        ]
        .concat()
    );
    // DefaultPreemption and GangScheduling run at the points they
    // implement (postFilter; preEnqueue, postFilter and permit).
    assert_eq!(profile.other, ["DefaultPreemption", "GangScheduling"]);
    assert!(profile.runs_at("postFilter", "DefaultPreemption"));
    assert!(profile.runs_at("permit", "GangScheduling"));
}

#[test]
fn preemption_is_turned_off_at_post_filter_or_in_multi_point() {
    let at_post_filter =
        profile("{plugins: {postFilter: {disabled: [{name: DefaultPreemption}]}}}");
    assert!(!at_post_filter.runs_at("postFilter", "DefaultPreemption"));
    let everywhere = profile("{plugins: {multiPoint: {disabled: [{name: DefaultPreemption}]}}}");
    assert_eq!(everywhere.other, ["GangScheduling"]);
    assert!(!everywhere.plugin_names().contains(&"DefaultPreemption"));
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
        "{plugins: {multiPoint: {disabled: [{name: SchedulingGates}]}, filter: {disabled: [{name: NodeDeclaredFeatures}]}}}",
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
            &["MyScore", "Heavy", "Zero"],
            &["DefaultPreemption", "GangScheduling"]
        ]
        .concat()
    );
}

#[test]
fn weight_defaulting() {
    // (plugins, the first weights of the score point).
    let cases: [(&str, &[(&str, i64)]); 3] = [
        // Re-listed at score without weight (or 0): the default weight.
        (
            "{plugins: {score: {enabled: [{name: NodeAffinity}, {name: TaintToleration, weight: 0}]}}}",
            &[
                ("NodeAffinity", 2),
                ("TaintToleration", 3),
                ("NodeResourcesFit", 1),
            ],
        ),
        // A weight given in multiPoint is the default of the score point.
        (
            "{plugins: {multiPoint: {enabled: [{name: NodeAffinity, weight: 9}]},
              score: {enabled: [{name: NodeAffinity}]}}}",
            &[
                ("NodeAffinity", 9),
                ("TaintToleration", 3),
                ("NodeResourcesFit", 1),
            ],
        ),
        // The score point's own weight wins.
        (
            "{plugins: {multiPoint: {enabled: [{name: NodeAffinity, weight: 9}]},
              score: {enabled: [{name: NodeAffinity, weight: 4}]}}}",
            &[("NodeAffinity", 4)],
        ),
    ];
    for (plugins, expected) in cases {
        let p = profile(plugins);
        assert_eq!(weights(&p)[..expected.len()], *expected, "{plugins}");
    }
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
    let mut expected = filter_without("NodeName");
    expected.push("NodeName");
    assert_eq!(names(&p.filter), expected);
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
    let re_enabled = ["NodeResourcesFit", "NodeName"];
    let expected: Vec<&str> = re_enabled
        .into_iter()
        .chain(
            DEFAULT_FILTER
                .into_iter()
                .filter(|n| !re_enabled.contains(n)),
        )
        .chain(["First"])
        .collect();
    assert_eq!(names(&p.filter), expected);
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

    let cases = [
        (
            "parallelizm: 4\n",
            "sched.yaml: unknown field `parallelizm`",
        ),
        (
            "profiles: [{schedulerName: a, plugin: {}}]\n",
            "sched.yaml: profiles[0]: unknown field `plugin`",
        ),
        (
            "profiles: [{plugins: {score: {enabled: [{name: A, wieght: 2}]}}}]\n",
            "sched.yaml: profiles[0].plugins.score.enabled[0]: unknown field `wieght`",
        ),
        (
            "wasm: {timeout: 1s}\n",
            "sched.yaml: wasm: unknown field `timeout`",
        ),
        (
            "profiles: [{plugins: {score: {enabled: [{weight: 2}]}}}]\n",
            "sched.yaml: profiles[0].plugins.score.enabled[0]: missing field `name`",
        ),
        (
            "parallelism: many\n",
            "sched.yaml: parallelism: invalid type: string \"many\"",
        ),
        (
            "wasm: {callTimeout: [5]}\n",
            "sched.yaml: wasm.callTimeout: invalid type: sequence, expected a duration with a unit",
        ),
    ];
    for (body, expected) in cases {
        let e = error(body);
        assert!(e.starts_with(expected), "{body:?}: {e}");
    }
}

#[test]
fn extension_points_not_run_yet() {
    let e = error("profiles: [{plugins: {queueSort: {enabled: [{name: MySort}]}}}]");
    assert_eq!(
        e,
        "sched.yaml: profiles[0].plugins.queueSort.enabled[0]: the queueSort extension point \
             is not supported yet by kube-wasm-scheduler; cannot enable `MySort` there"
    );
    let e = error("profiles: [{plugins: {placementScore: {disabled: [{name: NodeAffinity}]}}}]");
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
    assert_eq!(
        profile.other,
        ["DefaultPreemption", "GangScheduling", "Gang"]
    );
    assert!(!profile.runs_at("postFilter", "DefaultPreemption"));
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

/// A leader election with (lease duration, renew deadline, retry period)
/// on the Lease (namespace, name).
fn election(
    (lease_duration, renew_deadline, retry_period): (Duration, Duration, Duration),
    (namespace, name): (&str, &str),
) -> LeaderElection {
    LeaderElection {
        lease_duration,
        renew_deadline,
        retry_period,
        resource_name: name.to_string(),
        resource_namespace: namespace.to_string(),
    }
}

#[test]
fn leader_election_takes_kube_schedulers_defaults() {
    assert_eq!(
        Config::default().leader_election,
        Some(election(
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            ),
            ("kube-system", "kube-wasm-scheduler"),
        ))
    );
    assert_eq!(ok("").leader_election, Config::default().leader_election);
    assert_eq!(
        ok("leaderElection: {leaderElect: false}").leader_election,
        None
    );
    let given = ok("
leaderElection:
  leaderElect: true
  leaseDuration: 30s
  renewDeadline: 20s
  retryPeriod: 500ms
  resourceLock: leases
  resourceName: wasm-scheduler
  resourceNamespace: scheduling
");
    assert_eq!(
        given.leader_election,
        Some(election(
            (
                Duration::from_secs(30),
                Duration::from_secs(20),
                Duration::from_millis(500)
            ),
            ("scheduling", "wasm-scheduler"),
        ))
    );
}

#[test]
fn leader_election_is_validated_as_kube_scheduler_validates_it() {
    let cases = [
        (
            "leaderElection: {leaseDuration: 10s}",
            "leaderElection.leaseDuration: must be greater than `renewDeadline` (10s), got 10s",
        ),
        (
            "leaderElection: {renewDeadline: 0s}",
            "leaderElection.renewDeadline: must be > 0, got `0s`",
        ),
        (
            "leaderElection: {retryPeriod: 9s}",
            "leaderElection.renewDeadline: must be greater than retryPeriod*JitterFactor (9s * 1.2), got 10s",
        ),
        (
            "leaderElection: {retryPeriod: soon}",
            "leaderElection.retryPeriod: invalid duration `soon`",
        ),
        (
            "leaderElection: {resourceLock: endpoints}",
            "leaderElection.resourceLock: unsupported lock type `endpoints`: only `leases` exists",
        ),
        (
            "leaderElection: {resourceName: Bad_Name}",
            "leaderElection.resourceName: invalid value `Bad_Name`: a lowercase RFC 1123 subdomain",
        ),
        (
            "leaderElection: {resourceNamespace: a.b}",
            "leaderElection.resourceNamespace: invalid value `a.b`: must not contain dots",
        ),
        (
            "leaderElection: {leaderElect: true, lease: 15s}",
            "unknown field `lease`",
        ),
    ];
    for (body, expected) in cases {
        let message = error(body);
        assert!(message.contains(expected), "{body}: {message}");
    }
    // As upstream, a disabled election is not checked.
    assert_eq!(
        ok("leaderElection: {leaderElect: false, leaseDuration: 1s}").leader_election,
        None
    );
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
  pluginConfig: [{name: NodeDeclaredFeatures, args: {}}]
wasm: {plugins: [{name: Unused, callTimeout: 1s}]}
",
    );
    let expected = [
        "sched.yaml: clientConnection: ignored: kube-wasm-scheduler takes its connection to the cluster from its command line and environment",
        "sched.yaml: enableProfiling: ignored: kube-wasm-scheduler serves no profiling endpoints",
        "sched.yaml: delayCacheUntilActive: ignored: a replica that is not leader keeps its caches warm",
        "sched.yaml: percentageOfPlacementsToScore: ignored: kube-wasm-scheduler does not place pod groups yet",
        "sched.yaml: profiles[0].plugins.filter.enabled[0].weight: ignored: only score plugins have weights",
        "sched.yaml: profiles[0].pluginConfig: args of `NodeDeclaredFeatures` are unused: the profile does not run it",
        "sched.yaml: wasm.plugins: `Unused` has settings but no profile runs it",
    ];
    assert_eq!(logged, expected);

    // Saying what we do anyway is quiet.
    let logged =
        warnings("leaderElection: {leaderElect: false}\nenableProfiling: false\nextenders: []\n");
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
            sha256: Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789".into()),
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
    let source = include_str!("mod.rs");
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
            ("VolumeBinding", 1),
            ("PodTopologySpread", 2),
            ("InterPodAffinity", 2),
            ("DynamicResources", 2),
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

/// Properties: a KubeSchedulerConfiguration-shaped file with arbitrary
/// numbers, durations and quantities where they go is read or refused with
/// an error naming the file, never a panic.
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A number as it might be written: small, huge, negative, fractional
    /// or not a number at all.
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            (0..300i64).prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            "[0-9]{20,40}",
            Just("-0".to_string()),
            Just(".inf".to_string()),
            Just("\"12\"".to_string()),
            "[a-z]{0,5}",
        ]
    }

    /// A duration as it might be written.
    fn duration() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<i64>(), "(ns|us|ms|s|m|h|d|)").prop_map(|(n, unit)| format!("{n}{unit}")),
            (0..100_000u64, "(ms|s|m|h)").prop_map(|(n, unit)| format!("{n}{unit}")),
            "[0-9.hmsun]{0,12}",
            any::<i64>().prop_map(|n| n.to_string()),
        ]
    }

    /// A quantity as it might be written.
    fn quantity() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<u64>(), "(|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|m|e9|e40)")
                .prop_map(|(n, suffix)| format!("{n}{suffix}")),
            "[+-]?[0-9.]{0,25}[eEinumkKMGTP]{0,3}[-+]?[0-9]{0,4}",
        ]
    }

    prop_compose! {
        fn configuration()(
            parallelism in number(),
            percentage in number(),
            initial in number(),
            max in number(),
            profile_percentage in number(),
            weight in number(),
            call_timeout in duration(),
            backoff in duration(),
            memory in quantity(),
            plugin_memory in quantity(),
            after_faults in number(),
            policy in "(Fail|Ignore|fail|)",
        ) -> String {
            format!(
                "parallelism: {parallelism}\npercentageOfNodesToScore: {percentage}\npodInitialBackoffSeconds: {initial}\npodMaxBackoffSeconds: {max}\nprofiles:\n- schedulerName: s\n  percentageOfNodesToScore: {profile_percentage}\n  plugins:\n    score:\n      enabled:\n      - name: NodeAffinity\n        weight: {weight}\nwasm:\n  callTimeout: {call_timeout}\n  memoryLimit: {memory}\n  failurePolicy: {policy}\n  quarantine: {{afterFaults: {after_faults}, backoff: {backoff}}}\n  plugins:\n  - name: NodeAffinity\n    callTimeout: {call_timeout}\n    memoryLimit: {plugin_memory}\n"
            )
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_numbers_are_read_or_refused(body in configuration()) {
            match parse(&body) {
                Ok(config) => {
                    prop_assert!((1..=MAX_PARALLELISM).contains(&config.parallelism));
                    let limits = [
                        config.wasm.defaults.memory_limit_bytes,
                        config.wasm.settings_for("NodeAffinity").memory_limit_bytes,
                    ];
                    prop_assert!(limits.iter().all(|l| *l <= MAX_MEMORY_LIMIT_BYTES));
                }
                Err(e) => prop_assert!(e.to_string().starts_with("sched.yaml"), "{}", e),
            }
        }

        #[test]
        fn any_line_dropped_or_doubled_is_read_or_refused(
            body in configuration(),
            line in any::<prop::sample::Index>(),
            doubled in any::<bool>(),
        ) {
            let mut lines: Vec<&str> = body.lines().collect();
            let at = line.index(lines.len());
            if doubled {
                lines.insert(at, lines[at]);
            } else {
                lines.remove(at);
            }
            let _ = parse(&(lines.join("\n") + "\n"));
        }
    }
}
