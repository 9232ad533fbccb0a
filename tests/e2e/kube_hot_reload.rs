//! The swap load test on a real apiserver: pods are created while the
//! `Lane` plugin is swapped between its two versions every 200 ms (by
//! rename), with a bad file written in place mid-run. Every pod must be
//! bound exactly once, to a node its placing version allows, and the
//! scheduler must run throughout. Plugin notices become Events about the
//! scheduler's own pod.
//!
//! `KWS_SWAP_PODS` sets the pod count (default 2000).

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{LANE_PROFILE, OURS, event_counts, eventually, lane_node, node_name, pod};
use kws_tests::cluster::{RunningScheduler, TestCluster};
use kws_tests::component_dir;
use kws_tests::placements::placements;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NODES_PER_LANE: usize = 10;
const SWAP_EVERY: Duration = Duration::from_millis(200);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_pods_while_the_plugin_is_swapped_every_200ms() {
    let total: usize = std::env::var("KWS_SWAP_PODS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    placements();
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    for lane in ["v1", "v2"] {
        for i in 0..NODES_PER_LANE {
            let node = lane_node(&format!("{lane}-node-{i}"), lane);
            nodes.create(&PostParams::default(), &node).await.unwrap();
        }
    }

    let work = std::env::temp_dir().join(format!("kws-kube-swap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let dir = work.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(component_dir("plugins")).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let versions = [1, 2].map(|v| {
        std::fs::read(component_dir("test-plugins").join(format!("lane-v{v}.wasm"))).unwrap()
    });
    std::fs::write(dir.join("lane.wasm"), &versions[0]).unwrap();
    let config = Config::from_yaml("swap.yaml", LANE_PROFILE).unwrap();
    // Plugin notices are Events about this (stand-in) scheduler pod.
    // SAFETY: set before the scheduler's thread starts, read there once.
    unsafe {
        std::env::set_var("POD_NAMESPACE", "default");
        std::env::set_var("POD_NAME", "kube-wasm-scheduler-under-test");
    }
    let scheduler =
        RunningScheduler::start_watching(&cluster, config, &dir, &work.join("compiled"));

    // The swapper: v1, v2, v1, ... every 200 ms; halfway, a bad file
    // written in place instead of one swap.
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (stop, created, dir) = (stop.clone(), created.clone(), dir.clone());
        std::thread::spawn(move || {
            let mut swaps = 0usize;
            let mut bad_written = false;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(SWAP_EVERY);
                if !bad_written && created.load(Ordering::Relaxed) >= total / 2 {
                    std::fs::write(dir.join("lane.wasm"), b"half a plugin, or none at all")
                        .unwrap();
                    bad_written = true;
                    // Left in place past the watcher's longest wait (500 ms)
                    // before the next swap, so it is read even when the
                    // machine is busy.
                    std::thread::sleep(SWAP_EVERY * 5);
                    continue;
                }
                swaps += 1;
                kws_tests::rename_into(&dir, "lane.wasm", &versions[swaps % 2]);
            }
            swaps
        })
    };

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    futures::stream::iter(0..total)
        .map(|i| {
            let (pods, created) = (pods.clone(), created.clone());
            async move {
                pods.create(
                    &PostParams::default(),
                    &pod(&format!("swap-{i}"), OURS, "10m"),
                )
                .await
                .unwrap();
                created.fetch_add(1, Ordering::Relaxed);
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let bound: HashMap<String, String> = eventually(
        "every pod to be bound",
        Duration::from_secs(600),
        || async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let bound: HashMap<String, String> = list
                .items
                .iter()
                .filter_map(|p| Some((p.metadata.name.clone()?, node_name(p)?)))
                .collect();
            (bound.len() == total).then_some(bound)
        },
    )
    .await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(scheduler.is_running(), "the scheduler ran throughout");

    // Each pod on a node of the lane of the version that placed it.
    let logged = placements();
    let mut by_version = [0usize; 2];
    for (name, node) in &bound {
        let placed: Vec<_> = logged
            .iter()
            .filter(|p| p.pod == format!("default/{name}") && p.node == *node)
            .collect();
        assert_eq!(placed.len(), 1, "{name} on {node}: {placed:?}");
        let version = if placed[0].plugins.contains("Lane 1.0.0") {
            1
        } else {
            2
        };
        assert!(
            placed[0].plugins.contains(&format!("Lane {version}.0.0")),
            "{placed:?}"
        );
        assert!(
            node.starts_with(&format!("v{version}-")),
            "{name} placed by Lane {version}.0.0 on {node}"
        );
        by_version[version - 1] += 1;
    }
    assert!(
        by_version.iter().all(|n| *n > 0),
        "both versions placed pods: {by_version:?}"
    );

    // Bound once: one Scheduled event per pod, no second bind attempted.
    let events: Api<Event> = Api::namespaced(client, "default");
    let scheduled = eventually(
        "a Scheduled event per pod",
        Duration::from_secs(120),
        || async {
            let counts = event_counts(&events, "Scheduled").await;
            (counts.len() == total).then_some(counts)
        },
    )
    .await;
    assert!(scheduled.values().all(|n| *n == 1), "{scheduled:?}");
    assert_eq!(logged.len(), total, "one placement per pod");

    // The swaps and the refusal are on record about the scheduler's pod.
    let notices = event_counts(&events, "PluginLoaded").await;
    let refused = event_counts(&events, "PluginRefused").await;
    let under_test = "kube-wasm-scheduler-under-test";
    assert!(
        notices.get(under_test).is_some_and(|n| *n > 0),
        "{notices:?}"
    );
    assert!(
        refused.get(under_test).is_some_and(|n| *n >= 1),
        "{refused:?}"
    );
    eprintln!(
        "{total} pods bound in {elapsed:?} ({:.0} pods/s) across {swaps} swaps; placed by v1: {}, v2: {}",
        total as f64 / elapsed.as_secs_f64(),
        by_version[0],
        by_version[1]
    );
    let _ = std::fs::remove_dir_all(work);
}
