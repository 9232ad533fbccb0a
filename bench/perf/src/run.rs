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
use crate::workload::{Role, Size, Workload, dra, volumes};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::resource::v1::{
    DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice,
};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use k8s_openapi::api::storage::v1::CSINode;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kws_tests::cluster::{ClusterOptions, TestCluster};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
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
    let options = ClusterOptions {
        controller_manager: spec.workload.needs_controller_manager(),
        ..ClusterOptions::default()
    };
    let cluster = tokio::task::block_in_place(|| TestCluster::start_with(options));
    let client = cluster.client().await;
    let nodes = create_nodes(&client, spec).await?;
    create_node_objects(&client, spec, &nodes).await?;
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
    let init_count = spec.workload.init_pods(spec.size);
    let init_pods: Vec<Pod> = (0..init_count)
        .map(|i| {
            spec.workload
                .pod(&format!("init-{i}"), Role::Init, scheduler)
        })
        .collect();
    create_volumes(&client, spec.workload, &init_pods).await?;
    create_pods(&client, init_pods).await?;
    wait_bound(&init, init_count, &mut running, "init").await?;

    let measured = BoundCounter::start(client.clone(), "role=measured");
    create_pod_groups(&client, spec).await?;
    let pods = measured_pods(spec, scheduler);
    // Before the clock starts: upstream creates each pod's claim and
    // volume just before the pod, which on two cores would time the
    // apiserver's writes more than the scheduler.
    create_volumes(&client, spec.workload, &pods).await?;
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

/// What the workload adds to the nodes: CSINodes for the volume limits,
/// the DRA driver's ResourceSlices, DeviceClass and claim template, and
/// the initially allocated claims.
async fn create_node_objects(
    client: &kube::Client,
    spec: &RunSpec,
    nodes: &[String],
) -> Result<(), RunError> {
    match spec.workload {
        Workload::SchedulingCsiPvs => {
            let csi_nodes = nodes.iter().map(|n| volumes::csi_node(n)).collect();
            create_all(Api::<CSINode>::all(client.clone()), csi_nodes).await?;
        }
        Workload::SchedulingWithResourceClaimTemplate => {
            let slices = nodes.iter().enumerate();
            let slices = slices.map(|(i, n)| dra::slice(i, n)).collect();
            create_all(Api::<ResourceSlice>::all(client.clone()), slices).await?;
            let classes = Api::<DeviceClass>::all(client.clone());
            create_all(classes, vec![dra::device_class()]).await?;
            let templates = Api::<ResourceClaimTemplate>::default_namespaced(client.clone());
            create_all(templates, vec![dra::claim_template()]).await?;
            let claims = Api::<ResourceClaim>::default_namespaced(client.clone());
            let count = spec.workload.init_claims(spec.size);
            create_all(claims.clone(), (0..count).map(dra::init_claim).collect()).await?;
            futures::stream::iter(0..count)
                .map(|i| {
                    let claims = &claims;
                    let patch = Patch::Merge(dra::allocation(i, nodes));
                    let name = format!("init-claim-{i}");
                    async move {
                        claims
                            .patch_status(&name, &PatchParams::default(), &patch)
                            .await
                    }
                })
                .buffer_unordered(CREATORS)
                .try_for_each(|_| async { Ok(()) })
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Each pod's claim and volume, bound to each other (SchedulingCSIPVs).
async fn create_volumes(
    client: &kube::Client,
    workload: Workload,
    pods: &[Pod],
) -> Result<(), RunError> {
    if workload != Workload::SchedulingCsiPvs {
        return Ok(());
    }
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let volumes_api: Api<PersistentVolume> = Api::all(client.clone());
    let bound = Patch::Merge(volumes::bound());
    futures::stream::iter(pods.iter().filter_map(|p| p.metadata.name.clone()))
        .map(|pod| {
            let (claims, volumes_api, bound) = (&claims, &volumes_api, &bound);
            async move {
                // The claim first: the volume's claimRef names it.
                let (claim, volume) = volumes::claim_and_volume(&pod);
                let params = PatchParams::default();
                let claim = claims.create(&PostParams::default(), &claim).await?;
                let name = claim.metadata.name.unwrap_or_default();
                claims.patch_status(&name, &params, bound).await?;
                let volume = volumes_api.create(&PostParams::default(), &volume).await?;
                let name = volume.metadata.name.unwrap_or_default();
                volumes_api.patch_status(&name, &params, bound).await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
}

/// Creates `objects` with [`CREATORS`] requests in flight.
async fn create_all<K>(api: Api<K>, objects: Vec<K>) -> Result<(), RunError>
where
    K: kube::Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    futures::stream::iter(objects)
        .map(|object| {
            let api = api.clone();
            async move { api.create(&PostParams::default(), &object).await }
        })
        .buffer_unordered(CREATORS)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(())
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
