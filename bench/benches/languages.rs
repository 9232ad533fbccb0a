//! The example policy, LabelZone, in each language (`plugins/examples/`)
//! run by the host's own runtime: component size, compilation, a new
//! instance (instantiate + configure), and one pod's Filter over 1000 nodes
//! then Score over the feasible ones, the instance's node table already
//! current. Results are in BENCHMARKS.md ("Plugin languages").
//!
//! Run with `cargo xtask examples && cargo bench -p kws-bench --bench
//! languages`. Each figure is the median of its repetitions; the table is
//! printed as Markdown.

use k8s_openapi::api::core::v1 as core;
use kws_host::cache::Cache;
use kws_host::config::PluginSettings;
use kws_host::model::{convert, manifest};
use kws_host::runtime::{CallContext, LoadedPlugin, PluginPool};
use kws_host::wit::NodeId;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 1000;
const LANGUAGES: [&str; 5] = ["rust", "c", "go", "javascript", "python"];
const ARGS: &str = r#"{"sameZone": 90, "otherZone": 10, "noZone": 50}"#;
/// New instances timed per language.
const INSTANCES: usize = 20;
/// Pods timed per language, after one warm-up pod.
const PODS: usize = 50;

/// 1000 nodes: a `zone` label cycling east, west, central and none, a
/// `gpu` label on every other node, and ten more labels each so that label
/// lookups have something to search.
fn cluster() -> Cache {
    let mut yaml = String::new();
    for i in 0..NODES {
        let mut labels: Vec<String> = (0..10).map(|k| format!("label-{k}: v{}", i % 7)).collect();
        match i % 4 {
            0 => labels.push("zone: east".into()),
            1 => labels.push("zone: west".into()),
            2 => labels.push("zone: central".into()),
            _ => {}
        }
        if i % 2 == 0 {
            labels.push("gpu: a100".into());
        }
        yaml += &format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{i:04}, labels: {{{}}}}}\nstatus: {{capacity: {{cpu: \"8\", memory: 16Gi, pods: \"110\"}}}}\n",
            labels.join(", ")
        );
    }
    let objects = manifest::parse("languages-bench.yaml", &yaml).expect("the bench cluster parses");
    let mut cache = Cache::default();
    for node in objects.nodes {
        cache.set_node(Arc::new(node));
    }
    cache
}

fn pending_pod() -> Arc<core::Pod> {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n  annotations: {example.kws.dev/required-label: gpu, example.kws.dev/zone: west}\nspec:\n  containers: [{name: c, image: i, resources: {requests: {cpu: 500m, memory: 1Gi}}}]\n";
    let objects = manifest::parse("languages-bench-pod.yaml", yaml).expect("the bench pod parses");
    Arc::new(objects.pods.into_iter().next().expect("one pod"))
}

/// `<target-dir>/example-plugins`, found above this executable.
fn example_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    exe.ancestors()
        .map(|d| d.join("example-plugins"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| {
            eprintln!(
                "error: no example-plugins/ above {}: run `cargo xtask examples` first",
                exe.display()
            );
            std::process::exit(1);
        })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}

struct Row {
    language: &'static str,
    size: u64,
    compile: Duration,
    instantiate: Duration,
    filter_score: Duration,
    feasible: usize,
}

fn measure(language: &'static str, file: &Path, cache: &mut Cache, pod: &Arc<core::Pod>) -> Row {
    let started = Instant::now();
    let plugin = Arc::new(LoadedPlugin::load(file).unwrap_or_else(|e| panic!("{e}")));
    let compile = started.elapsed();

    let instantiate = median(
        (0..INSTANCES)
            .map(|_| {
                let started = Instant::now();
                let pool =
                    PluginPool::new(plugin.clone(), ARGS.into(), PluginSettings::default(), 1)
                        .unwrap_or_else(|e| panic!("{e}"));
                let elapsed = started.elapsed();
                drop(pool);
                elapsed
            })
            .collect(),
    );

    let pool = PluginPool::new(plugin, ARGS.into(), PluginSettings::default(), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let snapshot = cache.snapshot();
    let ctx = CallContext {
        cache: Some(cache),
        snapshot: &snapshot,
        pod,
        cycle: 0,
    };
    let record = convert::pod(pod);
    let ids: Vec<NodeId> = snapshot.nodes.iter().map(|n| n.id).collect();
    let cycle = || {
        let rejected = pool
            .filter(0, ctx, &record, &ids)
            .unwrap_or_else(|e| panic!("{e}"));
        let feasible: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|id| !rejected.iter().any(|r| r.node == *id))
            .collect();
        let scores = pool
            .score(0, ctx, &record, &feasible)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scores.len(), feasible.len());
        feasible.len()
    };
    // The first call also sends the instance the 1000 nodes.
    let feasible = cycle();
    let filter_score = median(
        (0..PODS)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(cycle(), feasible, "{language} answers the same every time");
                started.elapsed()
            })
            .collect(),
    );
    Row {
        language,
        size: std::fs::metadata(file).map(|m| m.len()).unwrap_or_default(),
        compile,
        instantiate,
        filter_score,
        feasible,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; other arguments name the languages to run.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = example_dir();
    let mut cache = cluster();
    let pod = pending_pod();
    let mut rows = Vec::new();
    for language in LANGUAGES {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == language) {
            continue;
        }
        let row = measure(
            language,
            &dir.join(format!("{language}.wasm")),
            &mut cache,
            &pod,
        );
        eprintln!("{language}: done");
        rows.push(row);
    }
    let feasible: Vec<usize> = rows.iter().map(|r| r.feasible).collect();
    assert!(
        feasible.windows(2).all(|w| w[0] == w[1]),
        "the languages disagree on the feasible nodes: {feasible:?}"
    );
    println!(
        "| language | component | compile (Cranelift) | new instance (instantiate + configure) | one pod: Filter 1000 nodes + Score {} feasible |",
        feasible.first().unwrap_or(&0)
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.1} KiB | {} | {} | {} |",
            r.language,
            r.size as f64 / 1024.0,
            human(r.compile),
            human(r.instantiate),
            human(r.filter_score)
        );
    }
}
