//! Hot reload: how long a plugin file takes from appearing in the watched
//! directory to serving, compiled cold and from the compile cache, by
//! plugin size; and what swapping a plugin every few hundred milliseconds
//! costs the scheduling rate. Results are in BENCHMARKS.md.
//!
//! Run with `cargo xtask plugins && cargo bench -p kws-bench --bench reload`.
//! `KWS_RELOAD_FILES` adds components to the first table (paths separated
//! by `:`), e.g. the JavaScript and Python examples.

use kws_bench::designs::built_file;
use kws_host::backend::embedded::EmbeddedCluster;
use kws_host::config::Config;
use kws_host::framework::Framework;
use kws_host::model::manifest;
use kws_host::plugin_dir::{PluginDir, PluginUpdate};
use kws_host::queue::QueueTimings;
use kws_host::runtime::{CompileCache, LoadedPlugin, Loader};
use kws_host::scheduler::Scheduler;
use kws_host::wit::ExtensionPoint;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const REPEATS: usize = 5;
const RATE_NODES: usize = 500;
const RATE_PODS: usize = 3000;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!("kws-reload-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut files: Vec<PathBuf> = ["plugins/node-name.wasm", "plugins/node-affinity.wasm"]
        .iter()
        .chain(&["bench-components/kws-bench-guest.wasm"])
        .map(|f| built_file(f).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if let Some(extra) = std::env::var_os("KWS_RELOAD_FILES") {
        files.extend(std::env::split_paths(&extra));
    }
    println!("## File to serving ({REPEATS} runs each, median)\n");
    println!(
        "| plugin | size | cold: compile | cold: file to serving | cached: load | cached: file to serving |"
    );
    println!("|---|---|---|---|---|---|");
    for file in &files {
        let row = appear_to_serve(file, &scratch.join("appear"))?;
        println!("{row}");
    }
    println!(
        "\n## Scheduling rate while swapping ({RATE_NODES} nodes, {RATE_PODS} pods, embedded cluster)\n"
    );
    println!("| swaps | pods/s | vs no swaps |");
    println!("|---|---|---|");
    let base = scheduling_rate(None, &scratch.join("rate"))?;
    println!("| none | {base:.0} | 1.00 |");
    for every in [Duration::from_millis(200), Duration::from_millis(20)] {
        let rate = scheduling_rate(Some(every), &scratch.join("rate"))?;
        println!("| every {every:?} | {rate:.0} | {:.2} |", rate / base);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Renames `file` into a watched directory and times it to serving: the
/// watcher's update (debounce, read, hash, compile or deserialize, check),
/// then the swap into a profile (a configured instance). Cold: an empty
/// compile cache; cached: the same file again after it was removed.
fn appear_to_serve(file: &Path, scratch: &Path) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    let mut name = String::new();
    for _ in 0..REPEATS {
        let _ = std::fs::remove_dir_all(scratch);
        let dir = scratch.join("plugins");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let cache = CompileCache::open(&scratch.join("cache")).map_err(|e| e.to_string())?;
        let (mut watch, _, _) =
            PluginDir::open(&dir, Loader::new(Some(cache))).map_err(|e| e.to_string())?;
        let (sender, updates) = channel();
        watch
            .follow(move |u| sender.send(u).is_ok())
            .map_err(|e| e.to_string())?;
        for times in [&mut cold, &mut cached] {
            let target = dir.join("plugin.wasm");
            let staged = dir.join(".plugin.wasm.tmp");
            std::fs::write(&staged, &bytes).map_err(|e| e.to_string())?;
            let started = Instant::now();
            std::fs::rename(&staged, &target).map_err(|e| e.to_string())?;
            let plugin = loaded(&updates)?;
            swap_into_a_profile(&plugin)?;
            times.push((plugin.load_time, started.elapsed()));
            name = format!("{} {}", plugin.name(), plugin.metadata.version);
            std::fs::remove_file(&target).map_err(|e| e.to_string())?;
            match updates.recv_timeout(Duration::from_secs(10)) {
                Ok(PluginUpdate::Removed(_)) => {}
                other => return Err(format!("expected the removal, got {other:?}")),
            }
        }
    }
    Ok(format!(
        "| {name} | {} KiB | {:?} | {:?} | {:?} | {:?} |",
        bytes.len() / 1024,
        median(cold.iter().map(|t| t.0)),
        median(cold.iter().map(|t| t.1)),
        median(cached.iter().map(|t| t.0)),
        median(cached.iter().map(|t| t.1)),
    ))
}

fn loaded(updates: &Receiver<PluginUpdate>) -> Result<Arc<LoadedPlugin>, String> {
    match updates.recv_timeout(Duration::from_secs(120)) {
        Ok(PluginUpdate::Loaded(plugin)) => Ok(plugin),
        other => Err(format!("expected a loaded plugin, got {other:?}")),
    }
}

/// What the scheduling loop does with a new version: a profile that runs
/// only this plugin takes it (an instance created and configured).
fn swap_into_a_profile(plugin: &Arc<LoadedPlugin>) -> Result<(), String> {
    let mut points = Vec::new();
    if plugin.implements(ExtensionPoint::Filter) {
        points.push(format!(
            "filter: {{enabled: [{{name: {}}}]}}",
            plugin.name()
        ));
    }
    if plugin.implements(ExtensionPoint::Score) {
        points.push(format!("score: {{enabled: [{{name: {}}}]}}", plugin.name()));
    }
    let yaml = format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         profiles: [{{plugins: {{multiPoint: {{disabled: [{{name: '*'}}]}}, {}}}}}]\n",
        points.join(", ")
    );
    let config = Config::from_yaml("bench.yaml", &yaml).map_err(|e| e.to_string())?;
    let mut framework = Framework::new(&config, std::slice::from_ref(plugin), "bench")
        .map_err(|e| e.to_string())?;
    framework.swap(plugin).map_err(|e| e.to_string())?;
    Ok(())
}

fn median(times: impl Iterator<Item = Duration>) -> Duration {
    let mut times: Vec<Duration> = times.collect();
    times.sort();
    times[times.len() / 2]
}

/// Pods per second placing `RATE_PODS` pods on `RATE_NODES` nodes (half
/// in lane v1, half in v2) with the default plugins and `Lane`, while
/// `Lane` is swapped between its versions every `swap_every`.
fn scheduling_rate(swap_every: Option<Duration>, scratch: &Path) -> Result<f64, String> {
    let _ = std::fs::remove_dir_all(scratch);
    let dir = scratch.join("plugins");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(built_file("plugins").map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?
    {
        let from = entry.map_err(|e| e.to_string())?.path();
        std::fs::copy(&from, dir.join(from.file_name().unwrap_or_default()))
            .map_err(|e| e.to_string())?;
    }
    let versions = ["test-plugins/lane-v1.wasm", "test-plugins/lane-v2.wasm"]
        .map(|f| built_file(f).and_then(|p| Ok(std::fs::read(p)?)));
    let versions = [
        versions[0].as_ref().map_err(|e| e.to_string())?.clone(),
        versions[1].as_ref().map_err(|e| e.to_string())?.clone(),
    ];
    std::fs::write(dir.join("lane.wasm"), &versions[0]).map_err(|e| e.to_string())?;

    let mut yaml = String::new();
    for i in 0..RATE_NODES {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}, labels: {{lane: v{}}}}}\n\
             status: {{capacity: {{cpu: '64', memory: 256Gi, pods: '110'}}}}\n---\n",
            i % 2 + 1
        ));
    }
    for i in 0..RATE_PODS {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i}, namespace: default}}\n\
             spec: {{schedulerName: kube-wasm-scheduler, containers: [{{name: c, image: i, \
             resources: {{requests: {{cpu: 10m, memory: 16Mi}}}}}}]}}\n---\n"
        ));
    }
    let objects = manifest::parse("rate.yaml", &yaml).map_err(|e| e.to_string())?;
    let config = Config::from_yaml(
        "rate.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         profiles: [{plugins: {filter: {enabled: [{name: Lane}]}}}]\n",
    )
    .map_err(|e| e.to_string())?;
    let cache = CompileCache::open(&scratch.join("cache")).map_err(|e| e.to_string())?;
    let (mut watch, plugins, _) =
        PluginDir::open(&dir, Loader::new(Some(cache))).map_err(|e| e.to_string())?;
    let framework = Framework::new(&config, &plugins, "bench").map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let cluster = Arc::new(EmbeddedCluster::new(objects));
    let mut scheduler = Scheduler::new(
        framework,
        cluster.clone(),
        runtime.handle().clone(),
        QueueTimings::from_config(&config),
    )
    .serving(&plugins);
    watch
        .follow(scheduler.plugin_updates())
        .map_err(|e| e.to_string())?;
    let stop = scheduler.stop_flag();
    let started = Instant::now();
    let thread = std::thread::spawn(move || scheduler.run());
    let swapping = Arc::new(AtomicBool::new(true));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = swap_every.map(|every| {
        let (swapping, swaps, dir) = (swapping.clone(), swaps.clone(), dir.clone());
        std::thread::spawn(move || {
            while swapping.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                let n = swaps.fetch_add(1, Ordering::Relaxed) + 1;
                let staged = dir.join(".lane.wasm.tmp");
                if std::fs::write(&staged, &versions[n % 2]).is_ok() {
                    let _ = std::fs::rename(&staged, dir.join("lane.wasm"));
                }
            }
        })
    });
    let deadline = started + Duration::from_secs(600);
    loop {
        let bound = cluster
            .pods()
            .iter()
            .filter(|p| p.spec.as_ref().is_some_and(|s| s.node_name.is_some()))
            .count();
        if bound == RATE_PODS {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {bound} of {RATE_PODS} pods bound in 10 minutes"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    swapping.store(false, Ordering::Relaxed);
    if let Some(swapper) = swapper {
        let _ = swapper.join();
    }
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    if swap_every.is_some() {
        let loaded = cluster
            .plugin_notices()
            .iter()
            .filter(|n| n.reason == "PluginLoaded")
            .count();
        eprintln!(
            "  {} swaps written, {loaded} served, in {elapsed:?}",
            swaps.load(Ordering::Relaxed)
        );
    }
    Ok(RATE_PODS as f64 / elapsed.as_secs_f64())
}
