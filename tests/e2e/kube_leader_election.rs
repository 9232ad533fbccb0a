//! `kube-wasm-scheduler run` replicas electing a leader on a real
//! apiserver, with the built-in plugins, the credentials `deploy/rbac.yaml`
//! grants and the default `leaderElection` (15s lease, 10s renew deadline,
//! 2s retry):
//! only the leader schedules; when it is killed with SIGKILL a standby
//! takes over within leaseDuration + renewDeadline; on SIGTERM the leader
//! hands over in under 3 s; a leader stalled past its renew deadline
//! exits when it runs again; and across the handovers every pod is bound
//! exactly once and none is left pending.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kws_tests::api::{OURS, event_counts, eventually, node, node_name, pod};
use kws_tests::cluster::start_as_deployed;
use kws_tests::scheduler_binary;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PODS: usize = 2000;

/// kube-scheduler's defaults, which the replicas run with.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// The scheduler's cap on binds in flight: the most pods a killed leader
/// can have bound without having recorded their Scheduled event yet.
const MAX_BINDS_IN_FLIGHT: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_and_every_pod_is_bound_once() {
    let (_cluster, admin, kubeconfig) = start_as_deployed("kws-replica").await;
    let nodes: Api<Node> = Api::all(admin.clone());
    for i in 0..25 {
        nodes
            .create(&PostParams::default(), &node(&format!("node-{i}"), "8"))
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("kws-leader-election-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-system");

    let a = Replica::start(&kubeconfig, &dir, "a");
    let a_id = a.identity().await;
    eventually("replica a to lead", Duration::from_secs(300), || async {
        (holder(&leases).await.as_deref() == Some(a_id.as_str())).then_some(())
    })
    .await;
    let mut b = Replica::start(&kubeconfig, &dir, "b");
    let b_id = b.identity().await;

    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let placements = record_placements(admin.clone());
    let creating = tokio::spawn(create_pods(pods.clone(), 0..PODS));
    eventually(
        "a quarter of the pods bound",
        Duration::from_secs(300),
        || async { (bound_count(&pods).await >= PODS / 4).then_some(()) },
    )
    .await;
    assert_eq!(holder(&leases).await.as_deref(), Some(a_id.as_str()));
    assert!(b.is_running(), "{}", b.log());
    a.signal("KILL");
    let killed = Instant::now();
    eventually(
        "replica b to take over",
        LEASE_DURATION + RENEW_DEADLINE + Duration::from_secs(10),
        || async { (holder(&leases).await.as_deref() == Some(b_id.as_str())).then_some(()) },
    )
    .await;
    let takeover = killed.elapsed();
    assert!(
        takeover <= LEASE_DURATION + RENEW_DEADLINE,
        "took over after {takeover:?}"
    );
    creating.await.unwrap();
    eventually("every pod bound", Duration::from_secs(300), || async {
        (bound_count(&pods).await == PODS).then_some(())
    })
    .await;

    // A graceful handover: the leader releases the Lease on SIGTERM.
    let mut c = Replica::start(&kubeconfig, &dir, "c");
    let c_id = c.identity().await;
    // c is a standby once it has tried the Lease and found it held.
    eventually(
        "replica c to stand by",
        Duration::from_secs(300),
        || async { c.log().contains("attempting to acquire").then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(holder(&leases).await.as_deref(), Some(b_id.as_str()));
    b.signal("TERM");
    let terminated = Instant::now();
    eventually(
        "replica c to take over",
        Duration::from_secs(30),
        || async { (holder(&leases).await.as_deref() == Some(c_id.as_str())).then_some(()) },
    )
    .await;
    let handover = terminated.elapsed();
    assert!(
        handover < Duration::from_secs(3),
        "handed over in {handover:?}"
    );
    let exited = Instant::now();
    let status = loop {
        if let Some(status) = b.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            exited.elapsed() < Duration::from_secs(30),
            "replica b did not exit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}: {}", b.log());
    create_pods(pods.clone(), PODS..PODS + 50).await;
    eventually(
        "the new leader to bind",
        Duration::from_secs(60),
        || async { (bound_count(&pods).await == PODS + 50).then_some(()) },
    )
    .await;

    // A leader that stalls past its renew deadline (stopped here) finds
    // the Lease taken when it runs again, and exits without scheduling.
    let mut d = Replica::start(&kubeconfig, &dir, "d");
    let d_id = d.identity().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.signal("STOP");
    eventually(
        "replica d to take over from the stalled leader",
        LEASE_DURATION + RENEW_DEADLINE + Duration::from_secs(10),
        || async { (holder(&leases).await.as_deref() == Some(d_id.as_str())).then_some(()) },
    )
    .await;
    c.signal("CONT");
    let resumed = Instant::now();
    let status = loop {
        if let Some(status) = c.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            resumed.elapsed() < RENEW_DEADLINE,
            "the stalled leader did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    assert!(c.log().contains("leaderelection lost"), "{}", c.log());
    create_pods(pods.clone(), PODS + 50..PODS + 60).await;
    eventually(
        "the last leader to bind",
        Duration::from_secs(60),
        || async { (bound_count(&pods).await == PODS + 60).then_some(()) },
    )
    .await;

    // Every pod on one node, ever; one Scheduled event each, except that
    // a pod whose bind went through just before SIGKILL may lack it.
    let placements = placements.lock().unwrap().clone();
    let moved: Vec<_> = placements.iter().filter(|(_, n)| n.len() > 1).collect();
    assert!(moved.is_empty(), "bound to two nodes: {moved:?}");
    assert_eq!(placements.len(), PODS + 60);
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    let scheduled = event_counts(&events, "Scheduled").await;
    let twice: Vec<_> = scheduled.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "Scheduled twice: {twice:?}");
    let missing = placements
        .keys()
        .filter(|p| !scheduled.contains_key(*p))
        .count();
    assert!(
        missing <= MAX_BINDS_IN_FLIGHT,
        "{missing} pods without a Scheduled event"
    );
    assert!(d.is_running(), "{}", d.log());
    println!("SIGKILL takeover {takeover:?}, SIGTERM handover {handover:?}, {missing} events lost");
}

/// The holder the Lease names now.
async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("kube-wasm-scheduler")
        .await
        .ok()??
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn bound_count(pods: &Api<Pod>) -> usize {
    let list = pods.list(&ListParams::default()).await.unwrap();
    list.items.iter().filter(|p| node_name(p).is_some()).count()
}

/// Creates `pod-<i>` for each `i`, sixteen requests at a time.
async fn create_pods(pods: Api<Pod>, range: std::ops::Range<usize>) {
    futures::stream::iter(range)
        .map(|i| {
            let pods = pods.clone();
            async move {
                pods.create(
                    &PostParams::default(),
                    &pod(&format!("pod-{i}"), OURS, "10m"),
                )
                .await
                .map(drop)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
}

/// Every node each pod was ever seen on, from a watch.
fn record_placements(client: Client) -> Arc<Mutex<HashMap<String, BTreeSet<String>>>> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client, "default");
        let mut stream = watcher(pods, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(pod)) = stream.next().await {
            if let (Some(name), Some(node)) = (pod.metadata.name.clone(), node_name(&pod)) {
                let mut seen = record.lock().unwrap();
                seen.entry(name).or_insert_with(BTreeSet::new).insert(node);
            }
        }
    });
    seen
}

/// One `kube-wasm-scheduler run` process; killed when dropped.
struct Replica(Child, PathBuf);

impl Replica {
    fn start(kubeconfig: &Path, dir: &Path, name: &str) -> Replica {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(scheduler_binary())
            .arg("run")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            // The built-in plugins, and ConfigMaps as deploy/ runs it.
            .env_remove("KWS_PLUGIN_DIR")
            .args(["--plugin-configmaps", "kube-system"])
            .arg("--compile-cache")
            .arg(dir.join(format!("{name}-cache")))
            .env("RUST_LOG", "kws_host=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Replica(child, log)
    }

    /// The identity it elects under, from its log.
    async fn identity(&self) -> String {
        eventually(
            "the replica's identity",
            Duration::from_secs(300),
            || async {
                let log = self.log();
                let line = log.lines().find(|l| l.contains("attempting to acquire"))?;
                let id = line.split_once("identity=")?.1.split_whitespace().next()?;
                Some(id.to_string())
            },
        )
        .await
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.0.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
