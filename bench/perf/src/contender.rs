//! Who places the pods: our scheduler, the real kube-scheduler, or the
//! ceiling (a client that binds every pod round-robin without deciding,
//! so the run shows what the apiserver itself can take).

use crate::RunError;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kws_host::backend::PodRef;
use kws_host::backend::kube::binding;
use kws_tests::cluster::{TestCluster, UpstreamOptions, UpstreamScheduler};
use std::fmt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Contender {
    /// kube-wasm-scheduler (`run`, default profile, every plugin in WASM).
    Ours,
    /// kube-scheduler of the same Kubernetes version, default profile.
    KubeScheduler,
    /// No decision: bind each pod to the next node in turn.
    Ceiling,
}

impl fmt::Display for Contender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Contender::Ours => "kube-wasm-scheduler",
            Contender::KubeScheduler => "kube-scheduler",
            Contender::Ceiling => "ceiling",
        })
    }
}

impl Contender {
    /// The `schedulerName` of the pods it places.
    pub fn scheduler_name(self) -> &'static str {
        match self {
            Contender::Ours => "kube-wasm-scheduler",
            Contender::KubeScheduler => "default-scheduler",
            Contender::Ceiling => "ceiling",
        }
    }
}

/// What starting our scheduler needs.
#[derive(Debug, Clone)]
pub struct OursSetup {
    /// The `kube-wasm-scheduler` binary (a release build for figures that
    /// mean anything).
    pub binary: PathBuf,
    /// The plugin components (`cargo xtask plugins`).
    pub plugins: PathBuf,
    /// Compile cache, so that a run does not time plugin compilation.
    pub compile_cache: PathBuf,
}

/// The same client limits for every contender.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    pub qps: f64,
    pub burst: u32,
}

/// A started contender; stopped when dropped.
pub enum Running {
    Ours {
        child: Child,
        metrics_port: u16,
    },
    KubeScheduler {
        scheduler: UpstreamScheduler,
        metrics_port: u16,
    },
    Ceiling {
        task: tokio::task::JoinHandle<()>,
        bound: Arc<AtomicUsize>,
    },
}

impl Running {
    pub fn start(
        contender: Contender,
        cluster: &TestCluster,
        ours: &OursSetup,
        limits: ClientLimits,
        nodes: Vec<String>,
        client: kube::Client,
    ) -> Result<Running, RunError> {
        match contender {
            Contender::Ours => {
                let metrics_port = free_port()?;
                let child = Command::new(&ours.binary)
                    .arg("run")
                    .arg("--kubeconfig")
                    .arg(&cluster.kubeconfig)
                    .arg("--plugins")
                    .arg(&ours.plugins)
                    .arg("--compile-cache")
                    .arg(&ours.compile_cache)
                    .arg("--kube-api-qps")
                    .arg(limits.qps.to_string())
                    .arg("--kube-api-burst")
                    .arg(limits.burst.to_string())
                    .arg("--metrics-address")
                    .arg(format!("127.0.0.1:{metrics_port}"))
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .map_err(|e| {
                        RunError::Contender(format!("cannot run {}: {e}", ours.binary.display()))
                    })?;
                Ok(Running::Ours {
                    child,
                    metrics_port,
                })
            }
            Contender::KubeScheduler => {
                let metrics_port = free_port()?;
                let options = UpstreamOptions {
                    scheduler_name: contender.scheduler_name().into(),
                    qps: limits.qps,
                    burst: limits.burst,
                    metrics_port: Some(metrics_port),
                };
                Ok(Running::KubeScheduler {
                    scheduler: UpstreamScheduler::start(cluster, &options),
                    metrics_port,
                })
            }
            Contender::Ceiling => {
                let bound = Arc::new(AtomicUsize::new(0));
                let task = tokio::spawn(bind_round_robin(client, nodes, bound.clone()));
                Ok(Running::Ceiling { task, bound })
            }
        }
    }

    /// The process to measure, if the contender is one.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Running::Ours { child, .. } => Some(child.id()),
            Running::KubeScheduler { scheduler, .. } => Some(scheduler.pid()),
            Running::Ceiling { .. } => None,
        }
    }

    /// Where its `/metrics` are, as a URL curl understands.
    pub fn metrics_url(&self) -> Option<String> {
        match self {
            Running::Ours { metrics_port, .. } => {
                Some(format!("http://127.0.0.1:{metrics_port}/metrics"))
            }
            Running::KubeScheduler { metrics_port, .. } => {
                Some(format!("https://127.0.0.1:{metrics_port}/metrics"))
            }
            Running::Ceiling { .. } => None,
        }
    }

    /// An error if the contender is gone (crashed, or refused to start).
    pub fn check_alive(&mut self) -> Result<(), RunError> {
        let exited = match self {
            Running::Ours { child, .. } => child.try_wait().ok().flatten().map(|s| s.to_string()),
            Running::KubeScheduler { scheduler, .. } => (!scheduler.is_running()).then(|| {
                let log = scheduler.log();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            }),
            Running::Ceiling { task, bound } => task.is_finished().then(|| {
                format!(
                    "the binder stopped after {} binds",
                    bound.load(Ordering::Relaxed)
                )
            }),
        };
        match exited {
            Some(how) => Err(RunError::Contender(how)),
            None => Ok(()),
        }
    }
}

/// SIGTERM, so that the scheduler releases its Lease and the next one
/// started on the cluster (a backlog run restarts it) leads at once
/// instead of waiting for the Lease to run out; SIGKILL if it has not
/// exited within 10 s.
fn stop_gracefully(child: &mut Child) {
    let termed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while termed && Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Running {
    fn drop(&mut self) {
        match self {
            Running::Ours { child, .. } => stop_gracefully(child),
            Running::KubeScheduler { .. } => {}
            Running::Ceiling { task, .. } => task.abort(),
        }
    }
}

/// How many binds the ceiling keeps in flight: enough to keep the apiserver
/// busy on two cores without queueing in the client.
const CEILING_CONCURRENCY: usize = 16;

/// The ceiling: every unbound `ceiling` pod goes to the next node in turn,
/// except those labelled unschedulable (they fit nowhere by design).
async fn bind_round_robin(client: kube::Client, nodes: Vec<String>, bound: Arc<AtomicUsize>) {
    let pods: Api<Pod> = Api::default_namespaced(client);
    let config = watcher::Config::default()
        .fields("spec.schedulerName=ceiling,spec.nodeName=")
        .labels("role!=unschedulable");
    let next = AtomicUsize::new(0);
    watcher(pods.clone(), config)
        .filter_map(|event| async move {
            match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => Some(pod),
                _ => None,
            }
        })
        .for_each_concurrent(CEILING_CONCURRENCY, |pod| {
            let node = &nodes[next.fetch_add(1, Ordering::Relaxed) % nodes.len()];
            let (pods, bound) = (&pods, &bound);
            async move {
                let target = PodRef::of(&pod);
                let binding = binding(&target, node);
                let result: Result<serde_json::Value, _> = pods
                    .create_subresource("binding", &target.name, &PostParams::default(), &binding)
                    .await;
                if result.is_ok() {
                    bound.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .await;
}

/// A free loopback port for a metrics endpoint.
fn free_port() -> Result<u16, RunError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| RunError::Contender(format!("no free port: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| RunError::Contender(format!("no free port: {e}")))?
        .port();
    Ok(port)
}
