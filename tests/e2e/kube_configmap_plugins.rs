//! Plugins delivered through the cluster, on a real apiserver: a
//! `kube-wasm-scheduler run` with no plugin directory (the default plugins
//! are built in) and the credentials `deploy/rbac.yaml` grants takes the
//! `Lane` filter from a ConfigMap of kube-system labelled
//! `kube-wasm-scheduler/plugins`. Editing the ConfigMap swaps the version
//! that places pods, a bad version is refused while the serving one
//! stays, and deleting the ConfigMap unloads the plugin: all without
//! touching the scheduler's filesystem.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kws_tests::api::{LANE_PROFILE, OURS, eventually, lane_node, node_name, pod};
use kws_tests::cluster::start_as_deployed;
use kws_tests::{component_dir, scheduler_binary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn lane(version: u32) -> Vec<u8> {
    std::fs::read(component_dir("test-plugins").join(format!("lane-v{version}.wasm"))).unwrap()
}

/// The ConfigMap `lane` holding `bytes` as `lane.wasm`.
fn lane_configmap(bytes: Vec<u8>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some("lane".to_string()),
            namespace: Some("kube-system".to_string()),
            labels: Some(BTreeMap::from([(
                "kube-wasm-scheduler/plugins".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([(
            "lane.wasm".to_string(),
            ByteString(bytes),
        )])),
        ..Default::default()
    }
}

/// The scheduler binary, killed when dropped; its log in a file.
struct Scheduler(Child, PathBuf);

impl Scheduler {
    fn start(kubeconfig: &Path, dir: &Path) -> Scheduler {
        let config = dir.join("config.yaml");
        std::fs::write(&config, LANE_PROFILE).unwrap();
        let log = dir.join("scheduler.log");
        let child = Command::new(scheduler_binary())
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--config")
            .arg(&config)
            .args(["--plugin-configmaps", "kube-system"])
            .arg("--compile-cache")
            .arg(dir.join("cache"))
            .env_remove("KWS_PLUGIN_DIR")
            .env("RUST_LOG", "kws_host=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Scheduler(child, log)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }

    /// Waits for a log line holding every one of `parts`.
    async fn logged(&self, parts: &[&str]) {
        eventually(
            &format!("a log line with {parts:?}"),
            Duration::from_secs(120),
            || async {
                let log = self.log();
                log.lines()
                    .any(|line| parts.iter().all(|part| line.contains(part)))
                    .then_some(())
            },
        )
        .await;
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates `names` and returns the lane of the node each was bound to.
async fn place(pods: &Api<Pod>, nodes: &Api<Node>, names: &[String]) -> Vec<String> {
    for name in names {
        pods.create(&PostParams::default(), &pod(name, OURS, "10m"))
            .await
            .unwrap();
    }
    let bound = eventually("the pods to be bound", Duration::from_secs(120), || async {
        let mut bound = Vec::new();
        for name in names {
            bound.push(node_name(&pods.get(name).await.ok()?)?);
        }
        Some(bound)
    })
    .await;
    let mut lanes = Vec::new();
    for node in bound {
        let labels = nodes.get(&node).await.unwrap().metadata.labels.unwrap();
        lanes.push(labels["lane"].clone());
    }
    lanes
}

fn names(prefix: &str) -> Vec<String> {
    (0..5).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_swaps_the_plugin_on_a_running_scheduler() {
    let (_cluster, admin, kubeconfig) = start_as_deployed("kws-configmap").await;
    let nodes: Api<Node> = Api::all(admin.clone());
    for lane in ["v1", "v2"] {
        for i in 0..3 {
            let node = lane_node(&format!("{lane}-node-{i}"), lane);
            nodes.create(&PostParams::default(), &node).await.unwrap();
        }
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(admin.clone(), "kube-system");
    configmaps
        .create(&PostParams::default(), &lane_configmap(lane(1)))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("kws-configmap-plugins-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scheduler = Scheduler::start(&kubeconfig, &dir);
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");

    // Listed at startup: v1 places the first pods.
    assert_eq!(place(&pods, &nodes, &names("a")).await, ["v1"; 5]);

    // A new version in the ConfigMap serves from the next cycles on.
    configmaps
        .replace("lane", &PostParams::default(), &lane_configmap(lane(2)))
        .await
        .unwrap();
    scheduler
        .logged(&[
            "PluginLoaded",
            "Lane 2.0.0",
            "configmap:kube-system/lane/lane.wasm",
            "replaces Lane 1.0.0",
        ])
        .await;
    assert_eq!(place(&pods, &nodes, &names("b")).await, ["v2"; 5]);

    // A truncated component is refused and v2 keeps placing pods.
    let v1 = lane(1);
    configmaps
        .replace(
            "lane",
            &PostParams::default(),
            &lane_configmap(v1[..v1.len() / 3].to_vec()),
        )
        .await
        .unwrap();
    scheduler
        .logged(&[
            "PluginRefused",
            "configmap:kube-system/lane/lane.wasm",
            "Lane keeps serving its previous version",
        ])
        .await;
    assert_eq!(place(&pods, &nodes, &names("c")).await, ["v2"; 5]);

    // Deleted: the plugin is unloaded.
    configmaps
        .delete("lane", &DeleteParams::default())
        .await
        .unwrap();
    scheduler
        .logged(&["PluginUnloaded", "Lane 2.0.0", "was removed"])
        .await;

    // Every pod was bound once, and the scheduler never stopped.
    let all = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all.iter().filter(|p| node_name(p).is_some()).count(), 15);
    let mut scheduler = scheduler;
    assert!(
        matches!(scheduler.0.try_wait(), Ok(None)),
        "{}",
        scheduler.log()
    );
}
