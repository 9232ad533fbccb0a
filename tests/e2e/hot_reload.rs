//! Hot reload on the embedded cluster: the `Lane` plugin is swapped between
//! its two versions by every kind of writer, refused when a file is bad or
//! pinned away, unloaded when removed; each pod lands where the version
//! serving at its cycle says, and no pod is lost. A file may replace a
//! built-in plugin, which serves again when the file goes.

use kws_host::backend::PluginNotice;
use kws_host::backend::embedded::EmbeddedCluster;
use kws_host::builtin_plugins;
use kws_host::config::Config;
use kws_host::framework::Framework;
use kws_host::model::manifest;
use kws_host::plugin_dir::{PluginDir, PluginUpdate};
use kws_host::queue::QueueTimings;
use kws_host::runtime::{CompileCache, Loader};
use kws_host::scheduler::Scheduler;
use kws_tests::component_dir;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NODES: &str = "
apiVersion: v1
kind: Node
metadata: {name: node-v1, labels: {lane: v1}}
status: {capacity: {cpu: '8', memory: 16Gi, pods: '110'}}
---
apiVersion: v1
kind: Node
metadata: {name: node-v2, labels: {lane: v2}}
status: {capacity: {cpu: '8', memory: 16Gi, pods: '110'}}
";

fn config(extra: &str) -> Config {
    Config::from_yaml(
        "hot-reload.yaml",
        &format!(
            "
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
podInitialBackoffSeconds: 1
podMaxBackoffSeconds: 1
profiles:
- schedulerName: kube-wasm-scheduler
  plugins:
    filter:
      enabled: [{{name: Lane}}]
{extra}"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn lane(version: u32) -> Vec<u8> {
    let file = component_dir("test-plugins").join(format!("lane-v{version}.wasm"));
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A scheduler on its own thread, watching its own plugin directory.
struct Running {
    dir: PathBuf,
    cluster: Arc<EmbeddedCluster>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _watch: PluginDir,
    _runtime: tokio::runtime::Runtime,
}

impl Running {
    /// The default plugins plus `lane.wasm` with `first`'s bytes.
    fn start(name: &str, first: &[u8], config: Config) -> Running {
        Running::start_after(name, first, config, |_, _| Vec::new())
    }

    /// [`Running::start`], with the updates `queued` makes (given the
    /// plugin directory and a loader) waiting for the scheduling loop
    /// before it starts: it takes them in order, before anything else.
    fn start_after(
        name: &str,
        first: &[u8],
        config: Config,
        queued: impl FnOnce(&Path, &Loader) -> Vec<PluginUpdate>,
    ) -> Running {
        let dir =
            std::env::temp_dir().join(format!("kws-hot-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        for entry in std::fs::read_dir(component_dir("plugins")).unwrap() {
            let from = entry.unwrap().path();
            std::fs::copy(&from, plugins.join(from.file_name().unwrap())).unwrap();
        }
        std::fs::write(plugins.join("lane.wasm"), first).unwrap();
        // One cache for the test process: each test compiles less.
        let shared =
            std::env::temp_dir().join(format!("kws-hot-reload-cache-{}", std::process::id()));
        let cache = CompileCache::open(&shared).unwrap();
        let loader = Loader::new(Some(cache));
        let builtin = builtin_plugins::load(&loader).unwrap();
        let (mut watch, loaded, refused) = PluginDir::open(&plugins, loader).unwrap();
        assert!(refused.is_empty(), "{refused:?}");
        let loaded = builtin_plugins::overlay(&builtin, loaded);
        let framework =
            Framework::new(&config, &loaded, "plugins").unwrap_or_else(|e| panic!("{e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let cluster = Arc::new(EmbeddedCluster::new(
            manifest::parse("nodes.yaml", NODES).unwrap(),
        ));
        let mut scheduler = Scheduler::new(
            framework,
            cluster.clone(),
            runtime.handle().clone(),
            QueueTimings::from_config(&config),
        )
        .serving(&loaded)
        .falling_back_to(&builtin);
        let send = scheduler.plugin_updates();
        for update in queued(&plugins, &Loader::default()) {
            assert!(send(update));
        }
        watch.follow(scheduler.plugin_updates()).unwrap();
        let stop = scheduler.stop_flag();
        let thread = std::thread::spawn(move || scheduler.run());
        Running {
            dir: plugins,
            cluster,
            stop,
            thread: Some(thread),
            _watch: watch,
            _runtime: runtime,
        }
    }

    fn lane_file(&self) -> PathBuf {
        self.dir.join("lane.wasm")
    }

    /// Replaces `lane.wasm` the careful way: staged under a hidden name,
    /// renamed into place.
    fn rename_in(&self, bytes: &[u8]) {
        kws_tests::rename_into(&self.dir, "lane.wasm", bytes);
    }

    /// Overwrites `lane.wasm` in place, in two writes with a pause longer
    /// than the watcher's quiet period between them: the watcher sees the
    /// half-written file first.
    fn write_in_place_slowly(&self, bytes: &[u8]) {
        let mut file = std::fs::File::create(self.lane_file()).unwrap();
        let half = bytes.len() / 2;
        file.write_all(&bytes[..half]).unwrap();
        file.flush().unwrap();
        std::thread::sleep(kws_host::plugin_dir::QUIET * 4);
        file.write_all(&bytes[half..]).unwrap();
    }

    /// Waits for the `n`th plugin notice (counting from 1) and returns it.
    fn notice(&self, n: usize) -> PluginNotice {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let notices = self.cluster.plugin_notices();
            if let Some(notice) = notices.get(n - 1) {
                return notice.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no notice #{n}; so far: {notices:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Creates a pod and waits until it is bound; returns its node.
    fn place(&self, name: &str) -> String {
        self.create(name);
        self.wait_bound(name, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{name} was not bound; events: {:#?}", self.cluster.events()))
    }

    fn create(&self, name: &str) {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n\
             spec: {{schedulerName: kube-wasm-scheduler, containers: [{{name: c, image: i}}]}}\n"
        );
        let pod = manifest::parse("pod.yaml", &yaml).unwrap().pods.remove(0);
        self.cluster.create_pod(pod);
    }

    fn wait_bound(&self, name: &str, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            let node = self
                .cluster
                .pods()
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(name))
                .and_then(|p| p.spec.as_ref()?.node_name.clone());
            if node.is_some() {
                return node;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(self.dir.parent().unwrap_or(Path::new("/nonexistent")));
    }
}

fn assert_notice(notice: &PluginNotice, reason: &str, parts: &[&str]) {
    assert_eq!(notice.reason, reason, "{notice:#?}");
    for part in parts {
        assert!(notice.message.contains(part), "{part:?} not in {notice:#?}");
    }
}

#[test]
fn versions_swap_bad_files_are_refused_and_removal_unloads() {
    let run = Running::start("swaps", &lane(1), config(""));
    assert_eq!(run.place("p1"), "node-v1");

    // Renamed into place: v2 serves from the next cycle on.
    run.rename_in(&lane(2));
    assert_notice(
        &run.notice(1),
        "PluginLoaded",
        &["Lane 2.0.0", "replaces Lane 1.0.0"],
    );
    assert_eq!(run.place("p2"), "node-v2");

    // Not WebAssembly, then a truncated component: refused, v2 serves on.
    let not_wasm =
        std::fs::read(kws_tests::workspace().join("tests/fixtures/bad-files/not-wasm.wasm"))
            .unwrap();
    run.rename_in(&not_wasm);
    assert_notice(
        &run.notice(2),
        "PluginRefused",
        &[
            "lane.wasm: not a WebAssembly file",
            "Lane keeps serving its previous version",
        ],
    );
    let v1 = lane(1);
    run.rename_in(&v1[..v1.len() / 3]);
    assert_notice(
        &run.notice(3),
        "PluginRefused",
        &["not a valid component", "keeps serving"],
    );
    // A component of another world version.
    let future = std::fs::read(component_dir("test-plugins").join("wrong-world.wasm")).unwrap();
    run.rename_in(&future);
    assert_notice(
        &run.notice(4),
        "PluginRefused",
        &[
            "does not implement the kws:scheduler/plugin world",
            "keeps serving",
        ],
    );
    assert_eq!(run.place("p3"), "node-v2");

    // Written in place in two halves: the half file is refused, the whole
    // one loads (its code comes from the compile cache: v1 was compiled at
    // startup).
    run.write_in_place_slowly(&v1);
    assert_notice(&run.notice(5), "PluginRefused", &["keeps serving"]);
    assert_notice(
        &run.notice(6),
        "PluginLoaded",
        &["Lane 1.0.0", "from the compile cache"],
    );
    assert_eq!(run.place("p4"), "node-v1");

    // Removed: pods that need Lane wait (failurePolicy Fail), none is
    // placed without it; put back, it places them.
    std::fs::remove_file(run.lane_file()).unwrap();
    assert_notice(
        &run.notice(7),
        "PluginUnloaded",
        &["Lane 1.0.0", "was removed"],
    );
    run.create("p5");
    assert_eq!(run.wait_bound("p5", Duration::from_secs(2)), None);
    assert!(
        run.cluster
            .events()
            .iter()
            .any(|e| e.pod == "default/p5" && e.message.contains("plugin Lane is not loaded")),
        "{:#?}",
        run.cluster.events()
    );
    run.rename_in(&lane(2));
    assert_notice(
        &run.notice(8),
        "PluginLoaded",
        &["Lane 2.0.0", "from the compile cache"],
    );
    assert_eq!(
        run.wait_bound("p5", Duration::from_secs(30)).as_deref(),
        Some("node-v2")
    );
    assert!(run.running());
}

#[test]
fn a_pinned_plugin_refuses_other_digests() {
    let v1 = lane(1);
    let digest =
        kws_host::runtime::LoadedPlugin::load(&component_dir("test-plugins").join("lane-v1.wasm"))
            .unwrap()
            .digest;
    let pinned = format!("wasm:\n  plugins:\n  - name: Lane\n    sha256: {digest}\n");
    let run = Running::start("pinned", &v1, config(&pinned));
    run.rename_in(&lane(2));
    assert_notice(
        &run.notice(1),
        "PluginRefused",
        &["Lane 2.0.0", &format!("pins it to {digest}")],
    );
    assert_eq!(run.place("p1"), "node-v1");

    // At startup too: the pinned-away file is not run.
    let mut plugins = kws_tests::plugins().to_vec();
    let v2 = component_dir("test-plugins").join("lane-v2.wasm");
    plugins.push(Arc::new(
        kws_host::runtime::LoadedPlugin::load(&v2).unwrap(),
    ));
    let error = Framework::new(&config(&pinned), &plugins, "plugins")
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains(&format!("pins it to {digest}")),
        "{error}"
    );
}

/// A new version serves once its instances are warm, off the scheduling
/// loop; a version superseded while it warms never serves.
#[test]
fn a_version_superseded_while_it_warms_never_serves() {
    let run = Running::start_after("superseded", &lane(1), config(""), |dir, loader| {
        let file = dir.join("lane.wasm");
        [lane(2), lane(1)]
            .iter()
            .map(|bytes| PluginUpdate::Loaded(Arc::new(loader.load_bytes(&file, bytes).unwrap())))
            .collect()
    });
    assert_notice(
        &run.notice(1),
        "PluginLoaded",
        &["Lane 1.0.0", "replaces Lane 1.0.0"],
    );
    assert_eq!(run.place("p1"), "node-v1");
    let notices = run.cluster.plugin_notices();
    assert_eq!(notices.len(), 1, "{notices:#?}");
}

#[test]
fn a_second_file_cannot_take_a_served_name() {
    let run = Running::start("names", &lane(1), config(""));
    kws_tests::rename_into(&run.dir, "other-lane.wasm", &lane(2));
    assert_notice(
        &run.notice(1),
        "PluginRefused",
        &["other-lane.wasm", "already served by", "lane.wasm"],
    );
    assert_eq!(run.place("p1"), "node-v1");
}

#[test]
fn a_file_replaces_a_built_in_plugin_which_serves_again_when_it_goes() {
    // The directory holds copies of the default plugins: they serve, not
    // the built-in ones of the same names.
    let run = Running::start("builtin", &lane(1), config(""));
    let copy = run.dir.join("node-unschedulable.wasm");
    let bytes = std::fs::read(&copy).unwrap();
    std::fs::remove_file(&copy).unwrap();
    assert_notice(
        &run.notice(1),
        "PluginUnloaded",
        &[
            "NodeUnschedulable",
            "node-unschedulable.wasm was removed",
            "the built-in NodeUnschedulable",
            "<built-in>/node-unschedulable.wasm",
            "serves 1 profile(s) again",
        ],
    );
    assert_eq!(run.place("p1"), "node-v1");

    // Back in the directory: it replaces the built-in one again.
    kws_tests::rename_into(&run.dir, "node-unschedulable.wasm", &bytes);
    assert_notice(
        &run.notice(2),
        "PluginLoaded",
        &[
            "NodeUnschedulable",
            "replaces NodeUnschedulable",
            "<built-in>",
        ],
    );
    assert_eq!(run.place("p2"), "node-v1");
}
