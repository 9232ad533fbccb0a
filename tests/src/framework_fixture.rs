//! What the framework fixtures (`tests/fixtures/framework` in Rust,
//! `tests/fixtures/framework-javascript` through the JavaScript helper) are
//! tested on: three nodes they score by label, pods whose
//! `framework/<point>` labels say what the fixture does at each point, and
//! a profile in which only the fixture runs, so each placement is its
//! doing.

use kws_host::cache::Cache;
use kws_host::config::{Config, PluginSettings};
use kws_host::model::{convert, manifest};
use kws_host::runtime::{CallContext, PluginPool};
use kws_host::simulate::{self, Placement, Unplaced};
use std::sync::Arc;

/// `n1` scores 10, `n2` 90, `n3` 95 but the fixture's filter refuses it.
pub const NODES: &str = "
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {framework/score: '10'}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {framework/score: '90'}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
---
apiVersion: v1
kind: Node
metadata: {name: n3, labels: {framework/score: '95', framework/filter: 'no'}}
status: {capacity: {cpu: '4', memory: 8Gi, pods: '110'}}
";

/// A profile with every default disabled and `plugin` filtering and
/// scoring (and at every other point it implements).
pub fn config(plugin: &str) -> Config {
    let text = format!(
        "
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: kube-wasm-scheduler
  plugins:
    multiPoint:
      disabled: [{{name: '*'}}]
    filter:
      enabled: [{{name: {plugin}}}]
    score:
      enabled: [{{name: {plugin}, weight: 1}}]
"
    );
    Config::from_yaml("framework.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// A pending pod with `framework/<point>: <what>` labels.
pub fn pod(name: &str, labels: &[(&str, &str)]) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("framework/{k}: '{v}'"))
        .collect();
    format!(
        "---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: default, labels: {{{}}}}}
spec:
  schedulerName: kube-wasm-scheduler
  containers: [{{name: c, image: i}}]
",
        labels.join(", ")
    )
}

/// `simulate` of `nodes` and `pods` with only `plugin` (built from
/// `tests/fixtures/<fixture>`) in the profile.
pub fn run(plugin: &str, fixture: &str, nodes: &str, pods: &[String]) -> simulate::Report {
    let mut all = crate::plugins().to_vec();
    all.push(crate::fixture(fixture));
    let text = format!("{nodes}{}", pods.concat());
    let objects =
        manifest::parse("framework-cluster.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    simulate::run(objects, &config(plugin), &all, "test").unwrap_or_else(|e| panic!("{e}"))
}

pub fn placed(pod: &str, node: &str) -> Placement {
    Placement {
        pod: format!("default/{pod}"),
        node: node.into(),
    }
}

pub fn unplaced(pod: &str, message: &str) -> Unplaced {
    Unplaced {
        pod: format!("default/{pod}"),
        message: message.into(),
        error: false,
    }
}

/// A pod whose last attempt failed on an error.
pub fn failed(pod: &str, message: &str) -> Unplaced {
    Unplaced {
        error: true,
        ..unplaced(pod, message)
    }
}

/// A cache holding the nodes of `objects`, for tests that call plugin
/// pools or a profile directly.
pub fn cache_of(objects: &manifest::Manifests) -> Cache {
    let mut cache = Cache::default();
    for node in &objects.nodes {
        cache.set_node(Arc::new(node.clone()));
    }
    cache
}

/// Runs `cycles` cycles of one pod through the fixture built from
/// `tests/fixtures/<fixture>`, configured to keep `ballast` bytes per
/// cycle, and checks the instance's peak memory after the first 1 000
/// holds to the end: the state of a cycle must not outlive its cycle-end.
pub fn assert_cycle_state_is_dropped(fixture: &str, ballast: usize, cycles: u64) {
    let pool = PluginPool::new(
        crate::fixture(fixture),
        format!(r#"{{"ballast": {ballast}}}"#),
        PluginSettings::default(),
        1,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let objects = manifest::parse("leak.yaml", &format!("{NODES}{}", pod("p", &[]))).unwrap();
    let mut cache = cache_of(&objects);
    let object = Arc::new(objects.pods[0].clone());
    let record = convert::pod(&object);
    let snapshot = cache.snapshot();
    let cycle = |id: u64| {
        let ctx = CallContext {
            cache: Some(&cache),
            snapshot: &snapshot,
            pod: &object,
            cycle: id,
        };
        pool.pre_filter(0, ctx, &record)
            .unwrap_or_else(|e| panic!("{e}"));
        pool.cycle_end(0, id).unwrap_or_else(|e| panic!("{e}"));
    };
    let warm_up = 1_000;
    for id in 1..=warm_up {
        cycle(id);
    }
    let warm = pool.peak_memory(0).expect("the instance is live");
    for id in warm_up + 1..=cycles {
        cycle(id);
    }
    assert_eq!(
        pool.peak_memory(0),
        Some(warm),
        "memory grew over {} cycles",
        cycles - warm_up
    );
}
