//! One run: a fresh test cluster, the workload's nodes, the contender, the
//! init pods (placed by the contender, not measured), then the measured
//! pods, created as fast as the client can while every second records how
//! many are bound.
//!
//! With [`RunSpec::backlog`], the contender is stopped once the init pods
//! are placed, every measured pod is created, and the contender starts
//! again: the seconds are counted from its first measured bind. On two
//! cores creating pods takes about as much of the apiserver as binding
//! them, so with pods created during the run both schedulers only keep
//! pace with the creation; a backlog measures how fast each drains a
//! queue.

use crate::RunError;
use crate::contender::{ClientLimits, Contender, OursSetup, Running};
use crate::measure::{self, BoundCounter, Histogram};
use crate::workload::{Role, Size, Workload};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use kube::api::{Api, PostParams};
use kws_tests::cluster::TestCluster;
use std::time::{Duration, Instant};

/// How many creates the driver keeps in flight.
const CREATORS: usize = 16;

/// A run gives up when no measured pod got bound for this long.
const STALL: Duration = Duration::from_secs(120);

const ATTEMPT: &str = "scheduler_scheduling_attempt_duration_seconds";
const ALGORITHM: &str = "scheduler_scheduling_algorithm_duration_seconds";

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub workload: Workload,
    pub size: Size,
    pub contender: Contender,
    pub limits: ClientLimits,
    pub ours: OursSetup,
    /// Create the measured pods while the contender is stopped.
    pub backlog: bool,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub contender: Contender,
    /// Measured pods bound in each second from the first create (the first
    /// bind, for a backlog).
    pub samples: Vec<f64>,
    /// From the first measured create (the first bind, for a backlog) to
    /// the last measured bind.
    pub to_last_bind: Duration,
    /// How long creating the measured pods took.
    pub creating: Duration,
    /// Attempts that placed a measured pod (`result="scheduled"`).
    pub attempts: Option<Histogram>,
    pub algorithm: Option<Histogram>,
    /// Peak resident memory of the contender's process.
    pub peak_rss: Option<u64>,
    /// CPU time the contender's process used per measured pod, from the
    /// start of the measured phase (its start, for a backlog, so reading
    /// the cluster is in it) to the last bind.
    pub cpu_per_pod: Option<Duration>,
}

/// Runs `spec` on a cluster of its own.
pub async fn run(spec: &RunSpec) -> Result<RunResult, RunError> {
    spec.workload.check(spec.size).map_err(RunError::Workload)?;
    let cluster = tokio::task::block_in_place(TestCluster::start);
    let client = cluster.client().await;
    let nodes = create_nodes(&client, spec).await?;
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for class in spec.workload.priority_classes() {
        classes.create(&PostParams::default(), &class).await?;
    }
    let scheduler = spec.contender.scheduler_name();
    let mut running = Running::start(
        spec.contender,
        &cluster,
        &spec.ours,
        spec.limits,
        nodes.clone(),
        client.clone(),
    )?;

    let init = BoundCounter::start(client.clone(), "role=init");
    let init_pods = (0..spec.size.init_pods)
        .map(|i| {
            spec.workload
                .pod(&format!("init-{i}"), Role::Init, scheduler)
        })
        .collect();
    create_pods(&client, init_pods).await?;
    wait_bound(&init, spec.size.init_pods, &mut running, "init").await?;

    let measured = BoundCounter::start(client.clone(), "role=measured");
    create_pod_groups(&client, spec).await?;
    let pods = measured_pods(spec, scheduler);
    let (before, cpu_before, started, creating) = if spec.backlog {
        drop(running);
        let creation = Instant::now();
        create_pods(&client, pods).await?;
        let creating = creation.elapsed();
        running = Running::start(
            spec.contender,
            &cluster,
            &spec.ours,
            spec.limits,
            nodes,
            client.clone(),
        )?;
        // A new process: its histograms and CPU time start at zero.
        let before = running.metrics_url().map(|_| String::new());
        let cpu_before = running.pid().map(|_| Duration::ZERO);
        wait_bound(&measured, 1, &mut running, "measured").await?;
        let done = tokio::spawn(async move { Ok::<_, RunError>(creating) });
        (before, cpu_before, Instant::now(), done)
    } else {
        let before = scrape(&running).await?;
        let cpu_before = running.pid().and_then(measure::cpu_time);
        let started = Instant::now();
        let client = client.clone();
        let creating = tokio::spawn(async move {
            create_pods(&client, pods).await?;
            Ok::<_, RunError>(started.elapsed())
        });
        (before, cpu_before, started, creating)
    };
    let mut samples = Vec::new();
    let mut last = measured.bound();
    let mut last_progress = Instant::now();
    let target = spec.size.measured_pods;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::from_std(started + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    let to_last_bind = loop {
        tokio::select! {
            _ = tick.tick() => {
                let bound = measured.bound();
                samples.push((bound - last) as f64);
                if bound > last {
                    last_progress = Instant::now();
                }
                last = bound;
                running.check_alive()?;
                if last_progress.elapsed() > STALL {
                    return Err(RunError::Stalled { bound, expected: target, phase: "measured" });
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {
                let bound = measured.bound();
                if bound == target {
                    let elapsed = started.elapsed();
                    let partial = elapsed.as_secs_f64() - samples.len() as f64;
                    if partial > 0.05 {
                        // The last, partial second as a rate.
                        samples.push((bound - last) as f64 / partial);
                    }
                    break elapsed;
                }
            }
        }
    };
    let cpu = running.pid().and_then(measure::cpu_time);
    let creating = creating
        .await
        .map_err(|e| RunError::Contender(format!("the pod creator panicked: {e}")))??;
    let after = scrape(&running).await?;
    let latency = |name| {
        before.as_ref().zip(after.as_ref()).map(|(b, a)| {
            let filter = if name == ATTEMPT {
                "result=\"scheduled\""
            } else {
                ""
            };
            Histogram::parse(a, name, filter).since(&Histogram::parse(b, name, filter))
        })
    };
    Ok(RunResult {
        contender: spec.contender,
        samples,
        to_last_bind,
        creating,
        attempts: latency(ATTEMPT),
        algorithm: latency(ALGORITHM),
        peak_rss: running.pid().and_then(measure::peak_rss),
        cpu_per_pod: cpu
            .zip(cpu_before)
            .map(|(after, before)| (after - before) / target as u32),
    })
}

/// Measured pods, with the churn's unschedulable ones interleaved.
fn measured_pods(spec: &RunSpec, scheduler: &str) -> Vec<Pod> {
    let churn = spec.workload.unschedulable_pods(spec.size);
    let every = spec
        .size
        .measured_pods
        .checked_div(churn)
        .unwrap_or(usize::MAX);
    let mut pods = Vec::new();
    let mut unschedulable = 0;
    for i in 0..spec.size.measured_pods {
        let mut pod = spec
            .workload
            .pod(&format!("measured-{i}"), Role::Measured, scheduler);
        spec.workload.join_gang(&mut pod, i);
        pods.push(pod);
        if (i + 1) % every == 0 && unschedulable < churn {
            let name = format!("unschedulable-{unschedulable}");
            pods.push(spec.workload.pod(&name, Role::Unschedulable, scheduler));
            unschedulable += 1;
        }
    }
    pods
}

async fn create_nodes(client: &kube::Client, spec: &RunSpec) -> Result<Vec<String>, RunError> {
    let api: Api<Node> = Api::all(client.clone());
    let nodes: Vec<Node> = (0..spec.size.nodes)
        .map(|i| spec.workload.node(i))
        .collect();
    let names = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    futures::stream::iter(nodes)
        .map(|node| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &node).await }
        })
        .buffer_unordered(CREATORS)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(names)
}

/// The workload's PodGroups, before the pods that name them.
async fn create_pod_groups(client: &kube::Client, spec: &RunSpec) -> Result<(), RunError> {
    let api: Api<PodGroup> = Api::default_namespaced(client.clone());
    futures::stream::iter(spec.workload.pod_groups(spec.size))
        .map(|group| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &group).await }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

async fn create_pods(client: &kube::Client, pods: Vec<Pod>) -> Result<(), RunError> {
    let api: Api<Pod> = Api::default_namespaced(client.clone());
    futures::stream::iter(pods)
        .map(|pod| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &pod).await }
        })
        .buffered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

async fn wait_bound(
    counter: &BoundCounter,
    expected: usize,
    running: &mut Running,
    phase: &'static str,
) -> Result<(), RunError> {
    let mut last = 0;
    let mut last_progress = Instant::now();
    while counter.bound() < expected {
        running.check_alive()?;
        let bound = counter.bound();
        if bound > last {
            last = bound;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            return Err(RunError::Stalled {
                bound,
                expected,
                phase,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The contender's metrics; it may still be starting its endpoint, so a
/// failure is retried for a while.
async fn scrape(running: &Running) -> Result<Option<String>, RunError> {
    let Some(url) = running.metrics_url() else {
        return Ok(None);
    };
    let mut tries = 0;
    loop {
        match measure::scrape(&url) {
            Ok(text) => return Ok(Some(text)),
            Err(error) if tries == 60 => return Err(error),
            Err(_) => tries += 1,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
