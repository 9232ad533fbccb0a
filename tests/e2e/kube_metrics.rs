//! `kube-wasm-scheduler run --metrics-address` against a real apiserver:
//! `/readyz` answers 503 until the plugins are loaded and the informers'
//! first lists are in, then 200; `/metrics`, read with a strict
//! text-format parser ([`kws_tests::prom_text`]), has each of
//! kube-scheduler's metrics with its type and labels, and counts what the
//! test did.
//!
//! So that the moment before the first lists is there to observe, however
//! fast the machine, the scheduler reaches the apiserver through a proxy
//! the test holds closed: the scheduler serves its endpoints and loads its
//! plugins, then waits for the apiserver's first answer, until the test
//! opens the proxy.

use k8s_openapi::api::core::v1::{Node, Pod, PodSchedulingGate};
use kube::Api;
use kube::api::PostParams;
use kws_tests::api::{OURS, eventually, node, node_name, pod};
use kws_tests::cluster::TestCluster;
use kws_tests::prom_text::{self, Scrape};
use kws_tests::scheduler_binary;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_the_first_lists_and_metrics_count_what_happened() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["node-1", "node-2"] {
        nodes
            .create(&PostParams::default(), &node(name, "4"))
            .await
            .unwrap();
    }

    let dir = std::env::temp_dir().join(format!("kws-kube-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The default plugins, and a file that is not a component: refused.
    let plugin_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    for entry in std::fs::read_dir(kws_tests::component_dir("plugins")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "wasm") {
            std::fs::copy(&path, plugin_dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(plugin_dir.join("broken.wasm"), b"not a component").unwrap();

    let (proxy, open) = gated_proxy(apiserver(&cluster.kubeconfig)).await;
    let kubeconfig = dir.join("kubeconfig");
    write_kubeconfig(&cluster.kubeconfig, &kubeconfig, proxy);
    let metrics_address = free_port();
    let log = dir.join("scheduler.log");
    let mut scheduler = Scheduler(
        Command::new(scheduler_binary())
            .arg("run")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--plugins")
            .arg(&plugin_dir)
            .arg("--compile-cache")
            .arg(dir.join("compile-cache"))
            .args(["--connect-timeout", "600"])
            .arg("--metrics-address")
            .arg(metrics_address.to_string())
            .env("RUST_LOG", "kws_host=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    );

    // Live as soon as it serves; not ready while the apiserver is out of
    // reach, even once its plugins are loaded.
    eventually("/livez to answer 200", Duration::from_secs(120), || async {
        get(metrics_address, "/livez")
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    let (status, body) = get(metrics_address, "/readyz").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("[-]informer-sync"), "{body}");
    let body = eventually(
        "the plugins to load while the apiserver is held",
        Duration::from_secs(300),
        || async {
            let (status, body) = get(metrics_address, "/readyz").await?;
            assert_eq!(status, 503, "not ready before the first lists: {body}");
            body.contains("[+]plugins ok").then_some(body)
        },
    )
    .await;
    assert!(body.contains("[-]informer-sync"), "{body}");
    let (status, _) = get(metrics_address, "/healthz").await.unwrap();
    assert_eq!(status, 200);

    open.send(true).unwrap();
    eventually(
        "/readyz to answer 200",
        Duration::from_secs(120),
        || async {
            get(metrics_address, "/readyz")
                .await
                .filter(|(status, _)| *status == 200)
        },
    )
    .await;
    assert!(scheduler.is_running(), "{}", scheduler.log());

    // Five pods that fit (8 cores for 5), then two that fit nowhere and
    // one held by a scheduling gate.
    for i in 0..5 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("fits-{i}"), OURS, "1"),
        )
        .await
        .unwrap();
    }
    for i in 0..5 {
        eventually(
            "the fitting pods to be bound",
            Duration::from_secs(60),
            || {
                let pods = pods.clone();
                async move { node_name(&pods.get(&format!("fits-{i}")).await.ok()?) }
            },
        )
        .await;
    }
    for i in 0..2 {
        pods.create(
            &PostParams::default(),
            &pod(&format!("too-big-{i}"), OURS, "16"),
        )
        .await
        .unwrap();
    }
    let mut gated = pod("gated", OURS, "1");
    gated.spec.as_mut().unwrap().scheduling_gates = Some(vec![PodSchedulingGate {
        name: "example.com/hold".into(),
    }]);
    pods.create(&PostParams::default(), &gated).await.unwrap();

    let scrape = eventually(
        "the metrics to count 5 scheduled and 2 unschedulable attempts, 1 gated pod and memory",
        Duration::from_secs(60),
        || async {
            let (status, body) = get(metrics_address, "/metrics").await?;
            assert_eq!(status, 200, "{body}");
            let scrape = prom_text::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
            let attempts = |result| {
                scrape.sum(
                    "scheduler_schedule_attempts_total",
                    &[("result", result), ("profile", OURS)],
                )
            };
            let gated = scrape.value("scheduler_pending_pods", &[("queue", "gated")]);
            // Refreshed each second by the loop.
            let memory = scrape.value(
                "kws_plugin_instance_memory_bytes",
                &[("profile", OURS), ("plugin", "NodeResourcesFit")],
            );
            (attempts("scheduled") == 5.0
                && attempts("unschedulable") == 2.0
                && gated == Some(1.0)
                && memory.is_some_and(|bytes| bytes > 0.0))
            .then_some(scrape)
        },
    )
    .await;
    check_families(&scrape);
    check_counts(&scrape);
    assert!(scheduler.is_running(), "{}", scheduler.log());
    // Kept, with the scheduler's log, when the test fails.
    drop(scheduler);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each of kube-scheduler's metrics the issue names, and the runtime's,
/// with its type and label names.
fn check_families(scrape: &Scrape) {
    for (name, kind, labels) in [
        (
            "scheduler_schedule_attempts_total",
            "counter",
            &["profile", "result"][..],
        ),
        ("scheduler_pending_pods", "gauge", &["queue"]),
        (
            "scheduler_queue_incoming_pods_total",
            "counter",
            &["event", "queue"],
        ),
        (
            "scheduler_scheduling_attempt_duration_seconds",
            "histogram",
            &["profile", "result"],
        ),
        (
            "scheduler_scheduling_algorithm_duration_seconds",
            "histogram",
            &[],
        ),
        (
            "scheduler_framework_extension_point_duration_seconds",
            "histogram",
            &["extension_point", "profile", "status"],
        ),
        (
            "scheduler_plugin_execution_duration_seconds",
            "histogram",
            &["extension_point", "plugin", "status"],
        ),
        (
            "scheduler_pod_scheduling_sli_duration_seconds",
            "histogram",
            &["attempts"],
        ),
        ("scheduler_pod_scheduling_attempts", "histogram", &[]),
        ("scheduler_preemption_attempts_total", "counter", &[]),
        ("scheduler_preemption_victims", "histogram", &[]),
        ("leader_election_master_status", "gauge", &["name"]),
        ("kws_plugin_loads_total", "counter", &["plugin"]),
        ("kws_plugin_refusals_total", "counter", &["plugin"]),
        (
            "kws_plugin_instance_memory_bytes",
            "gauge",
            &["plugin", "profile"],
        ),
    ] {
        let family = scrape
            .family(name)
            .unwrap_or_else(|| panic!("{name} is missing from {:?}", scrape.families.keys()));
        assert_eq!(family.kind, kind, "{name}");
        assert_eq!(
            family.label_names(),
            labels.iter().map(|l| l.to_string()).collect(),
            "{name}'s labels"
        );
    }
}

/// What the test did: 5 pods bound on their first attempt, 2 found no node
/// once and wait unschedulable (DefaultPreemption tried for each, and found
/// no victim), 1 gated; the default plugins loaded once each and the broken
/// file refused.
fn check_counts(scrape: &Scrape) {
    let value = |name: &str, labels: &[(&str, &str)]| {
        scrape
            .value(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?}"))
    };
    let attempts = "scheduler_schedule_attempts_total";
    assert_eq!(scrape.sum(attempts, &[("result", "error")]), 0.0);
    assert_eq!(
        value(
            "scheduler_scheduling_attempt_duration_seconds_count",
            &[("result", "scheduled"), ("profile", OURS)]
        ),
        5.0
    );
    assert_eq!(
        value(
            "scheduler_scheduling_attempt_duration_seconds_count",
            &[("result", "unschedulable"), ("profile", OURS)]
        ),
        2.0
    );
    assert_eq!(
        value("scheduler_scheduling_algorithm_duration_seconds_count", &[]),
        7.0
    );
    assert_eq!(
        value(
            "scheduler_pod_scheduling_sli_duration_seconds_count",
            &[("attempts", "1")]
        ),
        5.0
    );
    assert_eq!(
        scrape.sum("scheduler_pod_scheduling_sli_duration_seconds_count", &[]),
        5.0
    );
    assert_eq!(value("scheduler_pod_scheduling_attempts_count", &[]), 5.0);
    for (queue, pods) in [
        ("active", 0.0),
        ("backoff", 0.0),
        ("unschedulable", 2.0),
        ("gated", 1.0),
    ] {
        assert_eq!(
            value("scheduler_pending_pods", &[("queue", queue)]),
            pods,
            "{queue}"
        );
    }
    let incoming = "scheduler_queue_incoming_pods_total";
    assert_eq!(
        value(
            incoming,
            &[("queue", "active"), ("event", "UnscheduledPodAdd")]
        ),
        7.0
    );
    assert_eq!(
        value(
            incoming,
            &[
                ("queue", "unschedulable"),
                ("event", "ScheduleAttemptFailure")
            ]
        ),
        2.0
    );
    let point = "scheduler_framework_extension_point_duration_seconds_count";
    assert_eq!(
        scrape.sum(
            point,
            &[("extension_point", "PreFilter"), ("profile", OURS)]
        ),
        7.0
    );
    assert_eq!(
        value(
            point,
            &[
                ("extension_point", "Filter"),
                ("status", "Unschedulable"),
                ("profile", OURS)
            ]
        ),
        2.0
    );
    assert_eq!(
        value(
            point,
            &[
                ("extension_point", "Filter"),
                ("status", "Success"),
                ("profile", OURS)
            ]
        ),
        5.0
    );
    assert!(
        scrape.sum(
            "scheduler_plugin_execution_duration_seconds_count",
            &[
                ("plugin", "NodeResourcesFit"),
                ("extension_point", "Filter")
            ]
        ) >= 7.0
    );
    assert_eq!(value("scheduler_preemption_attempts_total", &[]), 2.0);
    assert_eq!(value("scheduler_preemption_victims_count", &[]), 0.0);
    assert_eq!(
        value("leader_election_master_status", &[("name", OURS)]),
        1.0
    );
    assert_eq!(
        value("kws_plugin_loads_total", &[("plugin", "NodeResourcesFit")]),
        1.0
    );
    assert_eq!(
        value("kws_plugin_refusals_total", &[("plugin", "broken")]),
        1.0
    );
    assert!(
        value(
            "kws_plugin_instance_memory_bytes",
            &[("profile", OURS), ("plugin", "NodeResourcesFit")]
        ) > 0.0
    );
}

/// The `kube-wasm-scheduler` process; killed when dropped.
struct Scheduler(Child, PathBuf);

impl Scheduler {
    fn is_running(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking() {
            eprintln!("scheduler log:\n{}", self.log());
        }
    }
}

/// A loopback port nothing listens on (now).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The apiserver's address in a kubeconfig (`https://127.0.0.1:PORT`).
fn apiserver(kubeconfig: &Path) -> SocketAddr {
    let config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(kubeconfig).unwrap()).unwrap();
    let server = config["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("a server in the kubeconfig");
    server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{server}: {e}"))
}

/// `from` with every cluster's server at `proxy` (the apiserver's
/// certificate names 127.0.0.1, so TLS passes through unchanged).
fn write_kubeconfig(from: &Path, to: &Path, proxy: SocketAddr) {
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(from).unwrap()).unwrap();
    for cluster in config["clusters"].as_sequence_mut().unwrap() {
        cluster["cluster"]["server"] = format!("https://{proxy}").into();
    }
    std::fs::write(to, serde_yaml::to_string(&config).unwrap()).unwrap();
}

/// A TCP proxy to `upstream` that holds every connection, unanswered,
/// until `true` is sent on the returned channel.
async fn gated_proxy(upstream: SocketAddr) -> (SocketAddr, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (open, is_open) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut is_open = is_open.clone();
            tokio::spawn(async move {
                if is_open.wait_for(|open| *open).await.is_err() {
                    return;
                }
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (address, open)
}

/// `GET path` over plain HTTP: the status and the body, or `None` if
/// nothing answers.
async fn get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .ok()?
    .ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
