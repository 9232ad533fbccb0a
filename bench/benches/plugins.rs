//! The ten default plugins, each as the component the scheduler loads and
//! as the same crate compiled natively: one pod's Filter+Score over 100,
//! 1000, 5000 and 15000 nodes, and what a new instance costs (instantiate
//! and configure, then the first sync of 5000 nodes and their pods).
//! Results are in BENCHMARKS.md ("Default plugins: WASM against native").
//!
//! Run with `cargo xtask plugins && cargo bench -p kws-bench --bench
//! plugins`. `KWS_BENCH_PLUGINS=node-name,inter-pod-affinity` and
//! `KWS_BENCH_NODES=5000` narrow a run (e.g. to profile one case with
//! `-- --profile-time 10`). The tables are printed as Markdown at the end.
//!
//! A cycle is what the framework does with one plugin for one pod:
//! PreFilter, then Filter over every node (if the plugin filters and
//! PreFilter did not say Skip), PreScore and Score over the nodes that
//! passed (unless PreScore said Skip), then NormalizeScore (if it
//! normalises). The component runs
//! through the host's `PluginPool` (its checks of what the guest returns
//! included) against the host's `Cache`; the native side runs the plugin
//! crate through the SDK's `Runner` over the same changes the cache sends
//! the component. Before a case is measured, both must return the same
//! rejected nodes (with the same statuses) and the same scores.

use criterion::{BenchmarkId, Criterion, SamplingMode};
use k8s_openapi::api::core::v1 as core;
use kws_bench::designs::{built_file, convert};
use kws_bench::kube::{self, Objects};
use kws_host::cache::{Cache, Catchup, Snapshot};
use kws_host::config::PluginSettings;
use kws_host::model::convert as model;
use kws_host::runtime::{CallContext, LoadedPlugin, PluginPool};
use kws_host::wit;
use kws_plugin_sdk::{Change, Code, ExtensionPoint, NodeId, Plugin, Runner};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cluster sizes of the issue.
const SIZES: [usize; 4] = [100, 1000, 5000, 15000];
/// The size of the headline table and of the instantiation figures.
const HEADLINE: usize = 5000;
/// Samples per case: criterion's minimum, so that the 15000-node cases
/// finish in a few seconds each.
const SAMPLES: usize = 10;

/// The component's limits. At 15000 nodes (about 110 000 pods) the first
/// sync runs past the default 1 s deadline and needs 256 to 384 MiB of
/// guest memory, over the default 128 MiB (the full state arrives in one
/// call, so the lowered changes and the table built from them are in
/// memory together), so both are raised; the limits do not change what a
/// call costs.
fn settings() -> PluginSettings {
    PluginSettings {
        call_timeout: Duration::from_secs(60),
        memory_limit_bytes: 4 << 30,
        ..PluginSettings::default()
    }
}

/// One plugin's answer for one pod, as the framework uses it.
#[derive(Debug, PartialEq)]
struct Outcome<S> {
    /// Filter's statuses for the nodes that did not pass, in order.
    rejected: Vec<S>,
    /// The nodes that passed (success or skip), in order.
    feasible: Vec<NodeId>,
    /// Score's answer for `feasible`.
    raw: Vec<i64>,
    /// NormalizeScore's answer for `feasible`, if the plugin normalises.
    normalized: Option<Vec<i64>>,
}

/// The nodes of `nodes` Filter let through: its statuses name the others
/// (a skip passes, as in the framework).
fn passed(nodes: &[NodeId], rejected: impl Iterator<Item = (NodeId, bool)>) -> Vec<NodeId> {
    let failed: HashSet<NodeId> = rejected
        .filter(|(_, passes)| !passes)
        .map(|(node, _)| node)
        .collect();
    nodes
        .iter()
        .copied()
        .filter(|n| !failed.contains(n))
        .collect()
}

/// A plugin crate run natively, whatever its type.
trait Native {
    fn cycle(
        &mut self,
        pod: &kws_plugin_sdk::Pod,
        nodes: &[NodeId],
    ) -> Outcome<kws_plugin_sdk::NodeStatus>;
}

impl<P: Plugin> Native for Runner<P> {
    fn cycle(
        &mut self,
        pod: &kws_plugin_sdk::Pod,
        nodes: &[NodeId],
    ) -> Outcome<kws_plugin_sdk::NodeStatus> {
        let points = P::EXTENSION_POINTS;
        let filters = points.contains(&ExtensionPoint::Filter)
            && (!points.contains(&ExtensionPoint::PreFilter)
                || self.pre_filter(0, pod).status.code != Code::Skip);
        let rejected = if filters {
            self.filter(0, pod, nodes)
        } else {
            Vec::new()
        };
        let feasible = passed(
            nodes,
            rejected
                .iter()
                .map(|s| (s.node, matches!(s.status.code, Code::Success | Code::Skip))),
        );
        let scores = points.contains(&ExtensionPoint::Score)
            && (!points.contains(&ExtensionPoint::PreScore)
                || self.pre_score(0, pod, &feasible).code != Code::Skip);
        let (raw, normalized) = if scores {
            let raw = self.score(0, pod, &feasible).expect("native score");
            let normalized = points.contains(&ExtensionPoint::NormalizeScore).then(|| {
                self.normalize_scores(0, pod, &feasible, raw.clone())
                    .expect("native normalize")
            });
            (raw, normalized)
        } else {
            (Vec::new(), None)
        };
        Outcome {
            rejected,
            feasible,
            raw,
            normalized,
        }
    }
}

/// Builds a plugin's native runner holding the given changes.
type NewNative = fn(Vec<Change>) -> Box<dyn Native>;

/// A runner of `P` configured with its default args, holding `changes`.
fn native<P: Plugin + 'static>(changes: Vec<Change>) -> Box<dyn Native> {
    let mut runner = Runner::<P>::configured("{}").expect("default args");
    runner.apply(changes);
    Box::new(runner)
}

/// The default plugins by component file, with their native build.
const PLUGINS: [(&str, NewNative); 10] = [
    (
        "node-resources-fit",
        native::<kws_plugin_node_resources_fit::NodeResourcesFit>,
    ),
    (
        "node-affinity",
        native::<kws_plugin_node_affinity::NodeAffinity>,
    ),
    (
        "taint-toleration",
        native::<kws_plugin_taint_toleration::TaintToleration>,
    ),
    (
        "node-unschedulable",
        native::<kws_plugin_node_unschedulable::NodeUnschedulable>,
    ),
    ("node-name", native::<kws_plugin_node_name::NodeName>),
    ("node-ports", native::<kws_plugin_node_ports::NodePorts>),
    (
        "balanced-allocation",
        native::<kws_plugin_balanced_allocation::BalancedAllocation>,
    ),
    (
        "image-locality",
        native::<kws_plugin_image_locality::ImageLocality>,
    ),
    (
        "pod-topology-spread",
        native::<kws_plugin_pod_topology_spread::PodTopologySpread>,
    ),
    (
        "inter-pod-affinity",
        native::<kws_plugin_inter_pod_affinity::InterPodAffinity>,
    ),
];

/// The same cycle through the host's runtime.
fn wasm_cycle(
    pool: &PluginPool,
    ctx: CallContext<'_>,
    pod: &wit::Pod,
    nodes: &[NodeId],
) -> Outcome<wit::NodeStatus> {
    let plugin = pool.plugin();
    let skips = |status: wit::Status| status.code == wit::Code::Skip;
    let filters = plugin.implements(wit::ExtensionPoint::Filter)
        && (!plugin.implements(wit::ExtensionPoint::PreFilter)
            || !skips(
                pool.pre_filter(0, ctx, pod)
                    .expect("wasm pre-filter")
                    .status,
            ));
    let rejected = if filters {
        pool.filter(0, ctx, pod, nodes).expect("wasm filter")
    } else {
        Vec::new()
    };
    let feasible = passed(
        nodes,
        rejected.iter().map(|s| {
            (
                s.node,
                matches!(s.status.code, wit::Code::Success | wit::Code::Skip),
            )
        }),
    );
    let scores = plugin.implements(wit::ExtensionPoint::Score)
        && (!plugin.implements(wit::ExtensionPoint::PreScore)
            || !skips(
                pool.pre_score(0, ctx, pod, &feasible)
                    .expect("wasm pre-score"),
            ));
    let (raw, normalized) = if scores {
        let raw = pool.score(0, ctx, pod, &feasible).expect("wasm score");
        let normalized = plugin
            .implements(wit::ExtensionPoint::NormalizeScore)
            .then(|| {
                pool.normalize_score(0, ctx, pod, &feasible, &raw)
                    .expect("wasm normalize")
            });
        (raw, normalized)
    } else {
        (Vec::new(), None)
    };
    Outcome {
        rejected,
        feasible,
        raw,
        normalized,
    }
}

/// A cluster of one size in the host's cache, and the same state as the
/// SDK's changes for the native runners.
struct Setup {
    nodes: usize,
    pods: usize,
    cache: Cache,
    snapshot: Arc<Snapshot>,
    ids: Vec<NodeId>,
    changes: Vec<Change>,
    /// The pending pod per plugin file.
    pending: BTreeMap<&'static str, Arc<core::Pod>>,
}

impl Setup {
    fn new(nodes: usize) -> Setup {
        let objects = Objects::generate(nodes);
        let pods = objects.pods.len();
        let mut cache = Cache::default();
        for namespace in &objects.namespaces {
            cache.set_namespace(namespace);
        }
        let node_name = objects.nodes[nodes / 2].metadata.name.clone();
        for node in objects.nodes {
            cache.set_node(Arc::new(node));
        }
        for pod in &objects.pods {
            let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            cache.set_bound_pod(model::pod(pod), node.expect("bound pods have a node"));
        }
        let snapshot = cache.snapshot();
        let ids = snapshot.nodes.iter().map(|n| n.id).collect();
        // What a new instance is sent, in the SDK's types.
        let Catchup::Full(full) = cache.catchup(None) else {
            unreachable!("an instance that saw nothing gets the full state")
        };
        let changes = full.iter().map(convert).collect();
        let pending = kube::pending(node_name.as_deref().unwrap_or_default())
            .into_iter()
            .map(|(file, pod)| (file, Arc::new(pod)))
            .collect();
        Setup {
            nodes,
            pods,
            cache,
            snapshot,
            ids,
            changes,
            pending,
        }
    }

    fn ctx<'a>(&'a self, pod: &'a Arc<core::Pod>) -> CallContext<'a> {
        CallContext {
            cache: Some(&self.cache),
            snapshot: &self.snapshot,
            pod,
            cycle: 0,
        }
    }
}

/// A measured case: plugin name, what is measured, node count.
type Case = (String, &'static str, usize);

/// The per-iteration time of each sample criterion measured, by case; the
/// tables printed at the end are their medians.
#[derive(Default)]
struct Samples(RefCell<BTreeMap<Case, Vec<Duration>>>);

impl Samples {
    /// Times `iters` runs of `f` for criterion and keeps the mean.
    fn time<R>(&self, key: Case, iters: u64, mut f: impl FnMut() -> R) -> Duration {
        let started = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        let elapsed = started.elapsed();
        self.record(key, elapsed.div_f64(iters as f64));
        elapsed
    }

    fn record(&self, key: Case, per_iteration: Duration) {
        self.0
            .borrow_mut()
            .entry(key)
            .or_default()
            .push(per_iteration);
    }

    /// The median of the last [`SAMPLES`] entries (criterion's samples;
    /// the warm-up's come first).
    fn median(&self, plugin: &str, case: &'static str, nodes: usize) -> Option<Duration> {
        let samples = self.0.borrow();
        let all = samples.get(&(plugin.to_string(), case, nodes))?;
        let mut last: Vec<Duration> = all[all.len().saturating_sub(SAMPLES)..].to_vec();
        last.sort();
        last.get(last.len() / 2).copied()
    }
}

/// What the tables say about each plugin beside its times.
struct Facts {
    name: String,
    points: String,
    size_bytes: u64,
    compile: Duration,
    /// Rejected and feasible nodes at [`HEADLINE`] nodes.
    rejected: usize,
    feasible: usize,
}

/// A comma-separated environment variable, or everything.
fn wanted(var: &str) -> Option<Vec<String>> {
    std::env::var(var)
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let only_plugins = wanted("KWS_BENCH_PLUGINS");
    let only_sizes = wanted("KWS_BENCH_NODES");
    let plugins: Vec<_> = PLUGINS
        .iter()
        .filter(|(file, _)| {
            only_plugins
                .as_ref()
                .is_none_or(|w| w.iter().any(|p| p == file))
        })
        .map(|&(file, native)| {
            let path = built_file(&format!("plugins/{file}.wasm")).unwrap_or_else(|e| {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            });
            let started = Instant::now();
            let loaded = Arc::new(LoadedPlugin::load(&path).unwrap_or_else(|e| panic!("{e}")));
            let facts = Facts {
                name: loaded.name().to_string(),
                points: loaded
                    .metadata
                    .extension_points
                    .iter()
                    .map(|p| {
                        let debug = format!("{p:?}");
                        debug.trim_start_matches("ExtensionPoint::").to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                size_bytes: loaded.size_bytes,
                compile: started.elapsed(),
                rejected: 0,
                feasible: 0,
            };
            (file, native, loaded, RefCell::new(facts))
        })
        .collect();
    let samples = Samples::default();
    let sizes: Vec<usize> = SIZES
        .into_iter()
        .filter(|n| {
            only_sizes
                .as_ref()
                .is_none_or(|w| w.contains(&n.to_string()))
        })
        .collect();
    for &nodes in &sizes {
        let started = Instant::now();
        let setup = Setup::new(nodes);
        eprintln!(
            "{nodes} nodes, {} pods: cluster built in {:.1?}",
            setup.pods,
            started.elapsed()
        );
        for (file, native, loaded, facts) in &plugins {
            let name = loaded.name().to_string();
            let object = &setup.pending[file];
            let ctx = setup.ctx(object);
            let record = model::pod(object);
            let pod: kws_plugin_sdk::Pod = convert(&record);

            let mut runner = native(setup.changes.clone());
            let pool = PluginPool::new(loaded.clone(), "{}".into(), settings(), 1)
                .unwrap_or_else(|e| panic!("{e}"));
            // The first call also sends the instance the cluster.
            let first = wasm_cycle(&pool, ctx, &record, &setup.ids);
            let expected = runner.cycle(&pod, &setup.ids);
            let check = |wasm: Outcome<wit::NodeStatus>| {
                let wasm = Outcome {
                    rejected: convert(&wasm.rejected),
                    feasible: wasm.feasible,
                    raw: wasm.raw,
                    normalized: wasm.normalized,
                };
                assert!(
                    wasm == expected,
                    "{name} at {nodes} nodes: the component and the native build disagree"
                );
            };
            check(first);
            eprintln!(
                "{name}, {nodes} nodes: {} rejected, {} feasible; WASM and native agree",
                expected.rejected.len(),
                expected.feasible.len()
            );
            if nodes == HEADLINE {
                let mut facts = facts.borrow_mut();
                facts.rejected = nodes - expected.feasible.len();
                facts.feasible = expected.feasible.len();
            }

            let mut group = criterion.benchmark_group(&name);
            group.sampling_mode(SamplingMode::Flat);
            let key = |case| (name.clone(), case, nodes);
            group.bench_function(BenchmarkId::new("native", nodes), |b| {
                b.iter_custom(|iters| {
                    samples.time(key("native"), iters, || {
                        runner.cycle(black_box(&pod), &setup.ids)
                    })
                })
            });
            group.bench_function(BenchmarkId::new("wasm", nodes), |b| {
                b.iter_custom(|iters| {
                    samples.time(key("wasm"), iters, || {
                        wasm_cycle(&pool, ctx, black_box(&record), &setup.ids)
                    })
                })
            });
            if nodes == HEADLINE {
                instantiation(&mut group, &samples, &setup, loaded, *native, object, key);
            }
            group.finish();
            check(wasm_cycle(&pool, ctx, &record, &setup.ids));
        }
    }
    criterion.final_summary();
    print_tables(&plugins, &samples, &sizes);
}

/// A new instance: instantiated and configured (what a pool does on its
/// first use or after a fault), then brought up to date with the whole
/// cluster by its first call; and the same load into a native runner.
/// Dropping what was built is left out of the time.
fn instantiation(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    samples: &Samples,
    setup: &Setup,
    loaded: &Arc<LoadedPlugin>,
    native: NewNative,
    object: &Arc<core::Pod>,
    key: impl Fn(&'static str) -> Case,
) {
    let record = model::pod(object);
    let new_pool = || {
        PluginPool::new(loaded.clone(), "{}".into(), settings(), 1)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    group.bench_function("new_instance", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let pool = new_pool();
                elapsed += started.elapsed();
                drop(pool);
            }
            samples.record(key("new_instance"), elapsed.div_f64(iters as f64));
            elapsed
        })
    });
    group.bench_function(
        BenchmarkId::new("new_instance_and_load", setup.nodes),
        |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let pool = new_pool();
                    pool.filter(0, setup.ctx(object), &record, &[])
                        .unwrap_or_else(|e| panic!("{e}"));
                    elapsed += started.elapsed();
                    drop(pool);
                }
                samples.record(key("new_instance_and_load"), elapsed.div_f64(iters as f64));
                elapsed
            })
        },
    );
    group.bench_function(BenchmarkId::new("native_load", setup.nodes), |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let changes = setup.changes.clone();
                let started = Instant::now();
                let runner = native(changes);
                elapsed += started.elapsed();
                drop(runner);
            }
            samples.record(key("native_load"), elapsed.div_f64(iters as f64));
            elapsed
        })
    });
}

fn human(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "-".to_string();
    };
    let micros = d.as_secs_f64() * 1e6;
    if micros >= 1e6 {
        format!("{:.2} s", micros / 1e6)
    } else if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.1} µs")
    }
}

fn ratio(wasm: Option<Duration>, native: Option<Duration>) -> String {
    match (wasm, native) {
        (Some(w), Some(n)) if !n.is_zero() => {
            format!("{:.2}×", w.as_secs_f64() / n.as_secs_f64())
        }
        _ => "-".to_string(),
    }
}

type Loaded<'a> = (&'a str, NewNative, Arc<LoadedPlugin>, RefCell<Facts>);

fn print_tables(plugins: &[Loaded<'_>], samples: &Samples, sizes: &[usize]) {
    println!("\nOne pod's Filter+Score, {HEADLINE} nodes (median of {SAMPLES} samples):\n");
    println!("| plugin | extension points | rejected / feasible | native | WASM | WASM / native |");
    println!("|---|---|---:|---:|---:|---:|");
    for (_, _, _, facts) in plugins {
        let f = facts.borrow();
        let native = samples.median(&f.name, "native", HEADLINE);
        let wasm = samples.median(&f.name, "wasm", HEADLINE);
        println!(
            "| {} | {} | {} / {} | {} | {} | {} |",
            f.name,
            f.points,
            f.rejected,
            f.feasible,
            human(native),
            human(wasm),
            ratio(wasm, native)
        );
    }

    println!("\nGrowth with node count: native / WASM (ratio):\n");
    let header: Vec<String> = sizes.iter().map(|n| format!("{n} nodes")).collect();
    println!("| plugin | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(sizes.len()));
    for (_, _, _, facts) in plugins {
        let name = &facts.borrow().name;
        let cells: Vec<String> = sizes
            .iter()
            .map(|&n| {
                let native = samples.median(name, "native", n);
                let wasm = samples.median(name, "wasm", n);
                format!(
                    "{} / {} ({})",
                    human(native),
                    human(wasm),
                    ratio(wasm, native)
                )
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }

    println!("\nA new instance ({HEADLINE} nodes for the load):\n");
    println!(
        "| plugin | component | compile (once) | new instance | new instance + load | load natively |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (_, _, _, facts) in plugins {
        let f = facts.borrow();
        println!(
            "| {} | {:.0} KiB | {} | {} | {} | {} |",
            f.name,
            f.size_bytes as f64 / 1024.0,
            human(Some(f.compile)),
            human(samples.median(&f.name, "new_instance", HEADLINE)),
            human(samples.median(&f.name, "new_instance_and_load", HEADLINE)),
            human(samples.median(&f.name, "native_load", HEADLINE)),
        );
    }
}
