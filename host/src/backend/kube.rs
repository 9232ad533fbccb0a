//! A real cluster through the Kubernetes API (kube-rs): watchers feed the
//! scheduler, binds go to the pod's `binding` subresource, decisions become
//! events and the `PodScheduled` condition, as kube-scheduler writes them.

use super::{Backend, BindError, ClusterEvent, EventSink, PluginNotice, PodRef, Preemption};
use crate::resource_claims::{self, ClaimWriter};
use crate::volumes::{VolumeObject, VolumeWriter};
use crate::workloads::Workload;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Binding, Namespace, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
    ReplicationController, Service,
};
use k8s_openapi::api::events::v1 as events;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::resource::v1::{
    AllocationResult, DeviceClass, ResourceClaim, ResourceClaimConsumerReference, ResourceSlice,
};
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Config, Resource};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The kinds [`KubeCluster`] watches: namespaces, nodes, pods,
/// PodDisruptionBudgets, PodGroups, services, replication controllers,
/// replica sets and stateful sets, the seven storage kinds the volume
/// plugins read (PersistentVolumes, PersistentVolumeClaims,
/// StorageClasses, CSINodes, CSIDrivers, VolumeAttachments,
/// CSIStorageCapacities), and DeviceClasses, ResourceSlices and
/// ResourceClaims.
const WATCHED_KINDS: usize = 19;

/// Where dynamic resource allocation's objects are served (GA in v1.34).
const DRA_API: &str = "resource.k8s.io/v1";

/// Where PodGroups are served (KEP-4671; kube-scheduler's GenericWorkload
/// feature): an apiserver serves it only when told to
/// (`--runtime-config=scheduling.k8s.io/v1beta1=true`).
const POD_GROUP_API: &str = "scheduling.k8s.io/v1beta1";

/// The controller name our events carry.
pub const REPORTING_CONTROLLER: &str = "kube-wasm-scheduler";

/// How long [`KubeCluster::connect`] waits for the apiserver to answer, and
/// how long the first lists may take before a warning says so: an address
/// that accepts connections and never answers costs an error, not silence.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one request (a bind, an event, a status patch) waits for the
/// apiserver's answer before it counts as failed: kube-rs sets no read
/// timeout, and a bind stuck on a dead connection would hold one of the
/// loop's bind slots for ever.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the cluster could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the kubeconfig {path}: {detail}")]
    Kubeconfig { path: String, detail: String },
    #[error(
        "cannot find cluster credentials (in-cluster service account, $KUBECONFIG or ~/.kube/config): {0}"
    )]
    Infer(String),
    #[error("cannot reach the cluster at {url}: {detail}")]
    Unreachable { url: String, detail: String },
}

/// Client-side rate limit on the requests the scheduler makes (binds,
/// events, status patches), as kube-scheduler's `--kube-api-qps` and
/// `--kube-api-burst`. Watches are not limited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second: finite and > 0 (see [`RateLimit::check_qps`]).
    pub qps: f64,
    pub burst: u32,
}

impl RateLimit {
    /// Refuses a rate that is not a finite number > 0 (0 would mean one
    /// request and then none ever again; NaN and infinity mean nothing).
    ///
    /// ```
    /// use kws_host::backend::kube::RateLimit;
    /// assert_eq!(RateLimit::check_qps(0.5), Ok(0.5));
    /// assert!(RateLimit::check_qps(0.0).is_err());
    /// assert!(RateLimit::check_qps(f64::NAN).is_err());
    /// ```
    pub fn check_qps(qps: f64) -> Result<f64, String> {
        if qps.is_finite() && qps > 0.0 {
            Ok(qps)
        } else {
            Err(format!(
                "must be a finite number of requests per second > 0, got {qps}"
            ))
        }
    }
}

/// The longest a request waits for the rate limit: what a rate too small
/// to represent (one given to the library unchecked) comes down to.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60 * 60);

/// How long to wait to owe `deficit` tokens no more at `qps` tokens a
/// second; at most [`MAX_RATE_WAIT`], whatever the numbers.
fn rate_wait(deficit: f64, qps: f64) -> Duration {
    Duration::try_from_secs_f64(deficit / qps.max(f64::MIN_POSITIVE))
        .map_or(MAX_RATE_WAIT, |wait| wait.min(MAX_RATE_WAIT))
}

impl Default for RateLimit {
    /// kube-scheduler's defaults.
    fn default() -> Self {
        RateLimit {
            qps: 50.0,
            burst: 100,
        }
    }
}

/// A token bucket.
struct Limiter {
    limit: RateLimit,
    state: tokio::sync::Mutex<(f64, Instant)>,
}

impl Limiter {
    fn new(limit: RateLimit) -> Self {
        Limiter {
            limit,
            state: tokio::sync::Mutex::new((f64::from(limit.burst), Instant::now())),
        }
    }

    async fn acquire(&self) {
        let wait = {
            let mut state = self.state.lock().await;
            let (tokens, last) = &mut *state;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.limit.qps)
                .min(f64::from(self.limit.burst.max(1)));
            *last = now;
            *tokens -= 1.0;
            if *tokens >= 0.0 {
                return;
            }
            rate_wait(-*tokens, self.limit.qps)
        };
        tokio::time::sleep(wait).await;
    }
}

/// A connected cluster.
pub struct KubeCluster {
    client: Client,
    recorder: Recorder,
    limiter: Arc<Limiter>,
    runtime: Handle,
    /// The apiserver's address, for messages.
    url: String,
    /// See [`DEFAULT_CONNECT_TIMEOUT`].
    connect_timeout: Duration,
    /// See [`DEFAULT_REQUEST_TIMEOUT`].
    request_timeout: Duration,
    /// The scheduler's own Pod (`POD_NAMESPACE`, `POD_NAME`, `POD_UID` from
    /// the downward API): what plugin notices are recorded about. Outside a
    /// pod they are only logged.
    own_pod: Option<ObjectReference>,
}

impl KubeCluster {
    /// Connects with `kubeconfig` if given, else as kube-rs infers it (the
    /// in-cluster service account, `$KUBECONFIG`, `~/.kube/config`), and
    /// checks that the apiserver answers within [`DEFAULT_CONNECT_TIMEOUT`].
    pub async fn connect(
        kubeconfig: Option<&Path>,
        limit: RateLimit,
    ) -> Result<KubeCluster, ConnectError> {
        Self::connect_within(kubeconfig, limit, DEFAULT_CONNECT_TIMEOUT).await
    }

    /// [`KubeCluster::connect`], waiting at most `timeout` for the
    /// apiserver's answer; the first lists of the watch get as long before
    /// a warning names the address.
    pub async fn connect_within(
        kubeconfig: Option<&Path>,
        limit: RateLimit,
        timeout: Duration,
    ) -> Result<KubeCluster, ConnectError> {
        let config = match kubeconfig {
            Some(path) => {
                let fail = |detail: String| ConnectError::Kubeconfig {
                    path: path.display().to_string(),
                    detail,
                };
                let file = read_kubeconfig(path).map_err(fail)?;
                Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                    .await
                    .map_err(|e| fail(e.to_string()))?
            }
            None => Config::infer()
                .await
                .map_err(|e| ConnectError::Infer(e.to_string()))?,
        };
        let url = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| ConnectError::Unreachable {
            url: url.clone(),
            detail: e.to_string(),
        })?;
        match tokio::time::timeout(timeout, client.apiserver_version()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(ConnectError::Unreachable {
                    url,
                    detail: e.to_string(),
                });
            }
            Err(_) => {
                return Err(ConnectError::Unreachable {
                    url,
                    detail: format!("no answer to GET /version within {timeout:?}"),
                });
            }
        }
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let own_pod = match (env("POD_NAMESPACE"), env("POD_NAME")) {
            (Some(namespace), Some(name)) => Some(ObjectReference {
                api_version: Some("v1".to_string()),
                kind: Some("Pod".to_string()),
                namespace: Some(namespace),
                name: Some(name),
                uid: env("POD_UID"),
                ..Default::default()
            }),
            _ => None,
        };
        Ok(KubeCluster {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            limiter: Arc::new(Limiter::new(limit)),
            runtime: Handle::current(),
            url,
            connect_timeout: timeout,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            own_pod,
        })
    }

    /// The connection, for what talks to the apiserver beside the
    /// backend's watches and writes (the leader election), unpaced by the
    /// backend's rate limit as kube-scheduler's election client is.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Sets how long each request waits for its answer (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: Duration) -> KubeCluster {
        self.request_timeout = timeout;
        self
    }

    /// The request's result, or a message when the apiserver did not
    /// answer within the request timeout.
    async fn within_deadline<T, E: std::fmt::Display>(
        &self,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<Result<T, E>, String> {
        tokio::time::timeout(self.request_timeout, request)
            .await
            .map_err(|_| {
                format!(
                    "no answer from {} within {:?}",
                    self.url, self.request_timeout
                )
            })
    }

    fn pods(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn record(
        &self,
        pod: &PodRef,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.record_related(pod, None, type_, reason, action, note)
            .await;
    }

    /// An event about `pod`, with `related` as its second object (the
    /// preemptor of a `Preempted` event).
    async fn record_related(
        &self,
        pod: &PodRef,
        related: Option<&PodRef>,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.limiter.acquire().await;
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: action.to_string(),
            secondary: related.map(pod_reference),
        };
        let reference = pod_reference(pod);
        match self
            .within_deadline(self.recorder.publish(&event, &reference))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(pod = %pod, %error, reason, "event not recorded"),
            Err(error) => tracing::warn!(pod = %pod, %error, reason, "event not recorded"),
        }
    }
}

/// The reference an event gives a pod.
fn pod_reference(pod: &PodRef) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Pod".to_string()),
        namespace: Some(pod.namespace.clone()),
        name: Some(pod.name.clone()),
        uid: Some(pod.uid.clone()),
        ..Default::default()
    }
}

impl KubeCluster {
    /// Sets (or with `None` clears) a pod's `status.nominatedNodeName`.
    async fn set_nomination(&self, pod: &PodRef, node: Option<&str>) {
        self.limiter.acquire().await;
        let patch = serde_json::json!({ "status": { "nominatedNodeName": node } });
        let patched = self
            .within_deadline(self.pods(&pod.namespace).patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            ))
            .await;
        let error = match patched {
            Ok(Ok(_)) => return,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error,
        };
        tracing::info!(pod = %pod, %error, "nominatedNodeName not updated");
    }

    /// Evicts one victim as kube-scheduler's PreemptPod: the
    /// `DisruptionTarget` condition, a delete with its uid as
    /// precondition (a pod of the same name created since is spared), and
    /// a `Preempted` event. A victim already gone is left alone.
    async fn evict(&self, preemption: &Preemption, victim: &PodRef) {
        let pods = self.pods(&victim.namespace);
        let condition = serde_json::json!({
            "status": {
                "conditions": [{
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "PreemptionByScheduler",
                    "message": format!(
                        "{}: preempting to accommodate a higher priority pod",
                        preemption.scheduler_name
                    ),
                    "lastTransitionTime": jiff::Timestamp::now().to_string(),
                }]
            }
        });
        self.limiter.acquire().await;
        let patched = self
            .within_deadline(pods.patch_status(
                &victim.name,
                &PatchParams::default(),
                &Patch::Strategic(&condition),
            ))
            .await;
        match patched {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => {
                tracing::info!(victim = %victim, "victim already deleted");
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(victim = %victim, %error, "DisruptionTarget condition not added; victim not deleted");
                return;
            }
            Err(error) => {
                tracing::warn!(victim = %victim, %error, "DisruptionTarget condition not added; victim not deleted");
                return;
            }
        }
        self.limiter.acquire().await;
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(victim.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let deleted = self
            .within_deadline(pods.delete(&victim.name, &params))
            .await;
        match deleted {
            Ok(Ok(_)) => {}
            Ok(Err(kube::Error::Api(status))) if status.code == 404 || status.code == 409 => {
                tracing::info!(victim = %victim, "victim already deleted");
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(victim = %victim, %error, "victim not deleted");
                return;
            }
            Err(error) => {
                tracing::warn!(victim = %victim, %error, "victim not deleted");
                return;
            }
        }
        tracing::info!(preemptor = %preemption.preemptor, victim = %victim, node = preemption.node, "preempted");
        let note = format!(
            "Preempted by pod {} on node {}",
            preemption.preemptor.uid, preemption.node
        );
        self.record_related(
            victim,
            Some(&preemption.preemptor),
            EventType::Normal,
            "Preempted",
            "Preempting",
            note,
        )
        .await;
    }
}

/// Follows one kind of object and reports every change into `sink`.
///
/// The watcher lists, then watches; when a watch expires (410 Gone) it lists
/// again. Objects missing from a new list were deleted while nobody
/// watched: they are reported deleted, so no pod is lost or kept twice.
///
/// After its first list it counts `unsynced` down; the follower that
/// brings it to zero reports [`ClusterEvent::Synced`], so the scheduler
/// decides nothing before it has seen every node and every bound pod (as
/// kube-scheduler waits for its informers' caches).
async fn follow<K, F>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    sink: EventSink,
    unsynced: Arc<AtomicUsize>,
    event: F,
) where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    F: Fn(Arc<K>, bool) -> ClusterEvent,
{
    let mut known: HashMap<String, Arc<K>> = HashMap::new();
    let mut relisted: Option<HashMap<String, Arc<K>>> = None;
    let mut listed_once = false;
    let uid = |object: &K| object.meta().uid.clone().unwrap_or_default();
    let mut stream = watcher(api, config).boxed();
    while let Some(next) = stream.next().await {
        let reported = match next {
            Ok(watcher::Event::Init) => {
                relisted = Some(HashMap::new());
                Ok(())
            }
            Ok(watcher::Event::InitApply(object)) => {
                let object = Arc::new(object);
                if let Some(seen) = relisted.as_mut() {
                    seen.insert(uid(&object), object.clone());
                }
                known.insert(uid(&object), object.clone());
                sink.send(event(object, false))
            }
            Ok(watcher::Event::InitDone) => {
                let seen = relisted.take().unwrap_or_default();
                let gone: Vec<Arc<K>> = known
                    .iter()
                    .filter(|(uid, _)| !seen.contains_key(*uid))
                    .map(|(_, o)| o.clone())
                    .collect();
                known = seen;
                let reported = gone.into_iter().try_for_each(|o| sink.send(event(o, true)));
                if !std::mem::replace(&mut listed_once, true)
                    && unsynced.fetch_sub(1, Ordering::AcqRel) == 1
                {
                    let _ = sink.send(ClusterEvent::Synced);
                }
                reported
            }
            Ok(watcher::Event::Apply(object)) => {
                let object = Arc::new(object);
                known.insert(uid(&object), object.clone());
                sink.send(event(object, false))
            }
            Ok(watcher::Event::Delete(object)) => {
                known.remove(&uid(&object));
                sink.send(event(Arc::new(object), true))
            }
            Err(error) => {
                tracing::warn!(%error, kind, "watch failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        };
        if reported.is_err() {
            return; // the scheduler has stopped
        }
    }
}

/// Follows PodGroups where the apiserver serves them; where it does not,
/// there are none (every group a pod names is missing), and the kind counts
/// as listed at once. Whether they are served is asked once: an apiserver
/// restarted with the API turned on needs the scheduler restarted too.
async fn follow_pod_groups(client: Client, sink: EventSink, unsynced: Arc<AtomicUsize>) {
    const NOT_SERVED: &str = "the cluster does not serve scheduling.k8s.io/v1beta1 PodGroups; gang scheduling sees no groups";
    loop {
        let served = match client.list_api_group_resources(POD_GROUP_API).await {
            Ok(list) if list.resources.iter().any(|r| r.name == "podgroups") => {
                // A role from before gang scheduling may not grant them:
                // schedule without groups rather than not at all.
                let groups: Api<PodGroup> = Api::all(client.clone());
                match groups.list_metadata(&ListParams::default().limit(1)).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        tracing::warn!(
                            "the scheduler may not list PodGroups (see deploy/rbac.yaml); gang scheduling sees no groups"
                        );
                        Ok(false)
                    }
                    Err(error) => Err(error),
                }
            }
            Ok(_) => {
                tracing::info!(NOT_SERVED);
                Ok(false)
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                tracing::info!(NOT_SERVED);
                Ok(false)
            }
            Err(error) => Err(error),
        };
        match served {
            Ok(true) => break,
            Ok(false) => {
                if unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = sink.send(ClusterEvent::Synced);
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot tell whether PodGroups are served; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let groups: Api<PodGroup> = Api::all(client);
    follow(
        "podgroups",
        groups,
        watcher::Config::default(),
        sink,
        unsynced,
        |group, deleted| {
            if deleted {
                ClusterEvent::PodGroupDeleted(group)
            } else {
                ClusterEvent::PodGroupApplied(group)
            }
        },
    )
    .await
}

/// Follows one storage kind for the volume plugins, where the scheduler
/// may list it; where it may not (a role from before the volume plugins,
/// see deploy/rbac.yaml) or the kind is not served, there are none of it
/// and the kind counts as listed at once, as [`follow_pod_groups`].
async fn follow_storage<K>(
    client: Client,
    kind: &'static str,
    sink: EventSink,
    unsynced: Arc<AtomicUsize>,
    wrap: fn(Arc<K>) -> VolumeObject,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = Api::all(client);
    loop {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => break,
            Err(kube::Error::Api(status)) if status.code == 403 || status.code == 404 => {
                tracing::warn!(
                    kind,
                    "the scheduler may not list {kind} (see deploy/rbac.yaml); the volume plugins see none"
                );
                if unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = sink.send(ClusterEvent::Synced);
                }
                return;
            }
            Err(error) => {
                tracing::warn!(%error, kind, "cannot list; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    follow(
        kind,
        api,
        watcher::Config::default(),
        sink,
        unsynced,
        move |object, deleted| {
            if deleted {
                ClusterEvent::VolumeObjectDeleted(wrap(object))
            } else {
                ClusterEvent::VolumeObjectApplied(wrap(object))
            }
        },
    )
    .await
}

/// VolumeBinding's PreBind writes on the apiserver: updates (not
/// patches) of the objects assumed, as upstream's binder, so that a
/// change made since the assumption fails with a conflict.
struct KubeVolumeWriter {
    client: Client,
    runtime: Handle,
    request_timeout: Duration,
}

impl KubeVolumeWriter {
    fn replace<K>(&self, object: &K) -> Result<K, String>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
    {
        let meta = object.meta();
        let api: Api<K> = Api::namespaced(
            self.client.clone(),
            meta.namespace.as_deref().unwrap_or_default(),
        );
        let name = meta.name.clone().unwrap_or_default();
        self.run(async move { api.replace(&name, &PostParams::default(), object).await })
    }

    fn run<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, String> {
        // Called from the binding cycle's blocking thread, not a runtime
        // worker: blocking on the runtime is allowed there.
        self.runtime.block_on(async {
            match tokio::time::timeout(self.request_timeout, request).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err("the apiserver did not answer in time".to_string()),
            }
        })
    }
}

impl VolumeWriter for KubeVolumeWriter {
    fn update_volume(&self, volume: &PersistentVolume) -> Result<PersistentVolume, String> {
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.run(async move { api.replace(&name, &PostParams::default(), volume).await })
    }

    fn update_claim(&self, claim: &PersistentVolumeClaim) -> Result<PersistentVolumeClaim, String> {
        self.replace(claim)
    }
}

/// Whether the apiserver serves `resource.k8s.io/v1` `plural` and the
/// scheduler may list it: where it does not (an older cluster, or a role
/// from before DRA), DynamicResources sees no such objects rather than the
/// scheduler not scheduling at all. Asked once, retried while the
/// apiserver cannot tell.
async fn dra_served<K>(client: &Client, plural: &str) -> bool
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    loop {
        let served = match client.list_api_group_resources(DRA_API).await {
            Ok(list) if list.resources.iter().any(|r| r.name == plural) => {
                let api: Api<K> = Api::all(client.clone());
                match api.list_metadata(&ListParams::default().limit(1)).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(status)) if status.code == 403 => {
                        tracing::warn!(
                            "the scheduler may not list {plural} (see deploy/rbac.yaml); dynamic resource allocation sees none"
                        );
                        Ok(false)
                    }
                    Err(error) => Err(error),
                }
            }
            Ok(_) => Ok(false),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(error) => Err(error),
        };
        match served {
            Ok(true) => return true,
            Ok(false) => {
                tracing::info!(
                    "the cluster does not serve {DRA_API} {plural}; dynamic resource allocation sees none"
                );
                return false;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot tell whether {plural} are served; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Counts a kind that is not followed as listed.
fn listed_nothing(sink: &EventSink, unsynced: &AtomicUsize) {
    if unsynced.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _ = sink.send(ClusterEvent::Synced);
    }
}

/// Follows one DRA kind (DeviceClasses, ResourceSlices, ResourceClaims)
/// where it is served; `applied` and `deleted` make its events.
async fn follow_dra<K>(
    client: Client,
    plural: &'static str,
    sink: EventSink,
    unsynced: Arc<AtomicUsize>,
    applied: fn(Arc<K>) -> ClusterEvent,
    deleted: fn(Arc<K>) -> ClusterEvent,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    if !dra_served::<K>(&client, plural).await {
        return listed_nothing(&sink, &unsynced);
    }
    let api: Api<K> = Api::all(client);
    follow(
        plural,
        api,
        watcher::Config::default(),
        sink,
        unsynced,
        move |object, gone| {
            if gone {
                deleted(object)
            } else {
                applied(object)
            }
        },
    )
    .await
}

/// DynamicResources' PreBind writes through the apiserver, as upstream's
/// `bindClaim`: the finalizer in a normal update, then the allocation and
/// the reservation in a status update; on a conflict the claim is read
/// again and the write retried.
struct KubeClaimWriter {
    client: Client,
    limiter: Arc<Limiter>,
    runtime: Handle,
    request_timeout: Duration,
}

/// Upstream's `retry.DefaultRetry`: five tries.
const CLAIM_WRITE_TRIES: usize = 5;

impl KubeClaimWriter {
    async fn write_async(
        &self,
        current: &ResourceClaim,
        allocation: Option<&AllocationResult>,
        consumer: &ResourceClaimConsumerReference,
    ) -> Result<ResourceClaim, String> {
        let namespace = current.metadata.namespace.as_deref().unwrap_or_default();
        let name = current.metadata.name.as_deref().unwrap_or_default();
        let key = format!("{namespace}/{name}");
        let api: Api<ResourceClaim> = Api::namespaced(self.client.clone(), namespace);
        let params = PostParams::default();
        let mut claim = current.clone();
        for attempt in 0..CLAIM_WRITE_TRIES {
            if attempt > 0 {
                self.limiter.acquire().await;
                claim = self.answer(api.get(name)).await.map_err(|e| {
                    format!("get updated claim {key} after conflict: {}", reason(e))
                })?;
            }
            let mut updated = resource_claims::with_binding(&claim, allocation, consumer)?;
            if allocation.is_some() && updated.metadata.finalizers != claim.metadata.finalizers {
                // The finalizer first, in a normal update (the status is
                // not written by it).
                let mut with_finalizer = claim.clone();
                with_finalizer.metadata.finalizers = updated.metadata.finalizers.clone();
                self.limiter.acquire().await;
                match self
                    .answer(api.replace(name, &params, &with_finalizer))
                    .await
                {
                    Ok(stored) => {
                        updated.metadata = stored.metadata;
                    }
                    Err(kube::Error::Api(status)) if status.code == 409 => continue,
                    Err(error) => {
                        return Err(format!("add finalizer to claim {key}: {}", reason(error)));
                    }
                }
            }
            self.limiter.acquire().await;
            match self
                .answer(api.replace_status(name, &params, &updated))
                .await
            {
                Ok(stored) => return Ok(stored),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(error) if allocation.is_some() => {
                    return Err(format!(
                        "add allocation and reservation to claim {key}: {}",
                        reason(error)
                    ));
                }
                Err(error) => {
                    return Err(format!("add reservation to claim {key}: {}", reason(error)));
                }
            }
        }
        Err(format!(
            "claim {key}: still conflicting after {CLAIM_WRITE_TRIES} tries"
        ))
    }

    async fn deallocate_async(&self, current: &ResourceClaim) -> Result<ResourceClaim, String> {
        let namespace = current.metadata.namespace.as_deref().unwrap_or_default();
        let name = current.metadata.name.as_deref().unwrap_or_default();
        let api: Api<ResourceClaim> = Api::namespaced(self.client.clone(), namespace);
        self.limiter.acquire().await;
        let cleared = resource_claims::deallocated(current);
        self.answer(api.replace_status(name, &PostParams::default(), &cleared))
            .await
            .map_err(reason)
    }

    /// A request's answer, or a timeout as an error of its own.
    async fn answer<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        match tokio::time::timeout(self.request_timeout, request).await {
            Ok(answer) => answer,
            Err(_) => Err(kube::Error::Service(
                format!("no answer within {:?}", self.request_timeout).into(),
            )),
        }
    }
}

/// What the apiserver said, as Go's `err.Error()` reads (kube-rs adds
/// the whole status to its message).
fn reason(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    }
}

impl ClaimWriter for KubeClaimWriter {
    /// Called from a plugin call in the binding cycle, on a blocking
    /// thread: waits there for the apiserver.
    fn write(
        &self,
        current: &ResourceClaim,
        allocation: Option<&AllocationResult>,
        consumer: &ResourceClaimConsumerReference,
    ) -> Result<ResourceClaim, String> {
        self.runtime
            .block_on(self.write_async(current, allocation, consumer))
    }

    /// Upstream's PostFilter deallocation: one status update, with the
    /// claim's version as seen (a conflict is an error, and the pod tries
    /// again).
    fn deallocate(&self, current: &ResourceClaim) -> Result<ResourceClaim, String> {
        self.runtime.block_on(self.deallocate_async(current))
    }
}

/// Reads a kubeconfig as kube-rs does (relative file paths in it resolved
/// against its directory), refusing a device, a directory or a file larger
/// than [`MAX_CONFIG_FILE_BYTES`](crate::files::MAX_CONFIG_FILE_BYTES)
/// before it is read. A pipe is read whole within that bound.
fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, String> {
    use crate::files::{self, Kind, MAX_CONFIG_FILE_BYTES};
    let what = "a kubeconfig";
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.is_file() {
        if meta.len() > MAX_CONFIG_FILE_BYTES {
            return Err(files::ReadError::TooLarge {
                what,
                limit: MAX_CONFIG_FILE_BYTES,
                size: Some(meta.len()),
            }
            .to_string());
        }
        return Kubeconfig::read_from(path).map_err(|e| e.to_string());
    }
    let text = files::read_to_string(path, Kind::RegularOrPipe, MAX_CONFIG_FILE_BYTES, what)
        .map_err(|e| e.to_string())?;
    Kubeconfig::from_yaml(&text).map_err(|e| e.to_string())
}

impl KubeCluster {
    /// Follows the storage kinds the volume plugins read.
    fn follow_storage(&self, sink: &EventSink, unsynced: &Arc<AtomicUsize>) {
        let (client, runtime) = (&self.client, &self.runtime);
        runtime.spawn(follow_storage::<PersistentVolume>(
            client.clone(),
            "persistentvolumes",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::PersistentVolume,
        ));
        runtime.spawn(follow_storage::<PersistentVolumeClaim>(
            client.clone(),
            "persistentvolumeclaims",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::Claim,
        ));
        runtime.spawn(follow_storage::<StorageClass>(
            client.clone(),
            "storageclasses",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::StorageClass,
        ));
        runtime.spawn(follow_storage::<CSINode>(
            client.clone(),
            "csinodes",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::CsiNode,
        ));
        runtime.spawn(follow_storage::<CSIDriver>(
            client.clone(),
            "csidrivers",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::CsiDriver,
        ));
        runtime.spawn(follow_storage::<VolumeAttachment>(
            client.clone(),
            "volumeattachments",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::VolumeAttachment,
        ));
        runtime.spawn(follow_storage::<CSIStorageCapacity>(
            client.clone(),
            "csistoragecapacities",
            sink.clone(),
            unsynced.clone(),
            VolumeObject::StorageCapacity,
        ));
    }

    /// Follows every object of one workload kind, in all namespaces.
    fn follow_workloads<K>(
        &self,
        kind: &'static str,
        sink: &EventSink,
        unsynced: &Arc<AtomicUsize>,
        wrap: fn(Arc<K>) -> Workload,
    ) where
        K: Resource<DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let api: Api<K> = Api::all(self.client.clone());
        self.runtime.spawn(follow(
            kind,
            api,
            watcher::Config::default(),
            sink.clone(),
            unsynced.clone(),
            move |object, deleted| {
                if deleted {
                    ClusterEvent::WorkloadDeleted(wrap(object))
                } else {
                    ClusterEvent::WorkloadApplied(wrap(object))
                }
            },
        ));
    }
}

impl Backend for KubeCluster {
    fn volume_writer(&self) -> Option<Arc<dyn VolumeWriter>> {
        Some(Arc::new(KubeVolumeWriter {
            client: self.client.clone(),
            runtime: self.runtime.clone(),
            request_timeout: self.request_timeout,
        }))
    }

    fn watch(&self, sink: EventSink) {
        // Namespaces, nodes, pods, PodDisruptionBudgets, PodGroups, the
        // four workload kinds, the five storage kinds and DRA's three.
        let unsynced = Arc::new(AtomicUsize::new(WATCHED_KINDS));
        // Nothing is scheduled before every kind is listed: say so when
        // that takes long, rather than wait in silence.
        let (waiting, url, patience) = (unsynced.clone(), self.url.clone(), self.connect_timeout);
        self.runtime.spawn(async move {
            tokio::time::sleep(patience).await;
            let left = waiting.load(Ordering::Acquire);
            if left > 0 {
                tracing::warn!(
                    "the cluster at {url} has not listed {left} of the {WATCHED_KINDS} watched kinds within {patience:?}; nothing is scheduled until it does"
                );
            }
        });
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        self.runtime.spawn(follow(
            "namespaces",
            namespaces,
            watcher::Config::default(),
            sink.clone(),
            unsynced.clone(),
            |namespace, deleted| {
                if deleted {
                    ClusterEvent::NamespaceDeleted(namespace)
                } else {
                    ClusterEvent::NamespaceApplied(namespace)
                }
            },
        ));
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node_sink = sink.clone();
        self.runtime.spawn(follow(
            "nodes",
            nodes,
            watcher::Config::default(),
            node_sink,
            unsynced.clone(),
            |node, deleted| {
                if deleted {
                    ClusterEvent::NodeDeleted(node)
                } else {
                    ClusterEvent::NodeApplied(node)
                }
            },
        ));
        // PodTopologySpread's default selector is deduced from these, as
        // kube-scheduler's plugin reads them from its listers.
        self.follow_workloads::<Service>("services", &sink, &unsynced, Workload::Service);
        self.follow_workloads::<ReplicationController>(
            "replicationcontrollers",
            &sink,
            &unsynced,
            Workload::ReplicationController,
        );
        self.follow_workloads::<ReplicaSet>("replicasets", &sink, &unsynced, Workload::ReplicaSet);
        self.follow_workloads::<StatefulSet>(
            "statefulsets",
            &sink,
            &unsynced,
            Workload::StatefulSet,
        );
        let budgets: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        self.runtime.spawn(follow(
            "poddisruptionbudgets",
            budgets,
            watcher::Config::default(),
            sink.clone(),
            unsynced.clone(),
            |budget, deleted| {
                if deleted {
                    ClusterEvent::BudgetDeleted(budget)
                } else {
                    ClusterEvent::BudgetApplied(budget)
                }
            },
        ));
        self.runtime.spawn(follow_pod_groups(
            self.client.clone(),
            sink.clone(),
            unsynced.clone(),
        ));
        self.follow_storage(&sink, &unsynced);
        self.runtime.spawn(follow_dra::<DeviceClass>(
            self.client.clone(),
            "deviceclasses",
            sink.clone(),
            unsynced.clone(),
            ClusterEvent::DeviceClassApplied,
            ClusterEvent::DeviceClassDeleted,
        ));
        self.runtime.spawn(follow_dra::<ResourceSlice>(
            self.client.clone(),
            "resourceslices",
            sink.clone(),
            unsynced.clone(),
            ClusterEvent::ResourceSliceApplied,
            ClusterEvent::ResourceSliceDeleted,
        ));
        self.runtime.spawn(follow_dra::<ResourceClaim>(
            self.client.clone(),
            "resourceclaims",
            sink.clone(),
            unsynced.clone(),
            ClusterEvent::ResourceClaimApplied,
            ClusterEvent::ResourceClaimDeleted,
        ));
        // As kube-scheduler: finished pods take no resources and need no
        // scheduling.
        let pods: Api<Pod> = Api::all(self.client.clone());
        let config =
            watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed");
        self.runtime.spawn(follow(
            "pods",
            pods,
            config,
            sink,
            unsynced,
            |pod, deleted| {
                if deleted {
                    ClusterEvent::PodDeleted(pod)
                } else {
                    ClusterEvent::PodApplied(pod)
                }
            },
        ));
    }

    async fn bind(&self, pod: &PodRef, node: &str) -> Result<(), BindError> {
        self.limiter.acquire().await;
        let binding = binding(pod, node);
        let (pods, params) = (self.pods(&pod.namespace), PostParams::default());
        let request = pods
            .create_subresource::<_, serde_json::Value>("binding", &pod.name, &params, &binding);
        // Unanswered, the bind may still have happened: the retry then
        // gets a conflict, and the informer reports the pod bound.
        let result = self
            .within_deadline(request)
            .await
            .map_err(BindError::Failed)?;
        match result {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => {
                Err(BindError::NotFound(pod.to_string()))
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(BindError::Conflict(status.message.clone()))
            }
            Err(error) => Err(BindError::Failed(error.to_string())),
        }
    }

    async fn report_scheduled(&self, pod: &PodRef, node: &str) {
        let note = format!("Successfully assigned {pod} to {node}");
        self.record(pod, EventType::Normal, "Scheduled", "Binding", note)
            .await;
    }

    /// Created directly rather than through kube-runtime's `Recorder`,
    /// which would fold a notice about one plugin into an earlier one
    /// about another (it matches events without their note).
    async fn report_plugin(&self, notice: &PluginNotice) {
        let Some(regarding) = &self.own_pod else {
            return;
        };
        let namespace = regarding.namespace.clone().unwrap_or_default();
        let event = events::Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{REPORTING_CONTROLLER}-plugin-")),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(jiff::Timestamp::now())),
            type_: Some(if notice.warning { "Warning" } else { "Normal" }.to_string()),
            reason: Some(notice.reason.to_string()),
            action: Some("PluginUpdate".to_string()),
            note: Some(notice.message.clone()),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(REPORTING_CONTROLLER.to_string()),
            reporting_instance: regarding.name.clone(),
            ..Default::default()
        };
        self.limiter.acquire().await;
        let api: Api<events::Event> = Api::namespaced(self.client.clone(), &namespace);
        let created = self
            .within_deadline(api.create(&PostParams::default(), &event))
            .await;
        let error = match created {
            Ok(Ok(_)) => return,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error,
        };
        tracing::warn!(%error, reason = notice.reason, "plugin event not recorded");
    }

    async fn preempt(&self, preemption: &Preemption) {
        self.set_nomination(&preemption.preemptor, Some(&preemption.node))
            .await;
        let displaced = preemption
            .displaced
            .iter()
            .map(|pod| self.set_nomination(pod, None));
        futures::future::join_all(displaced).await;
        let evictions = preemption
            .victims
            .iter()
            .map(|victim| self.evict(preemption, victim));
        futures::future::join_all(evictions).await;
    }

    async fn clear_nomination(&self, pod: &PodRef) {
        self.set_nomination(pod, None).await;
    }

    fn claim_writer(&self) -> Option<Arc<dyn ClaimWriter>> {
        Some(Arc::new(KubeClaimWriter {
            client: self.client.clone(),
            limiter: self.limiter.clone(),
            runtime: self.runtime.clone(),
            request_timeout: self.request_timeout,
        }))
    }

    async fn report_unschedulable(&self, pod: &PodRef, reason: &str, message: &str) {
        self.record(
            pod,
            EventType::Warning,
            "FailedScheduling",
            "Scheduling",
            message.to_string(),
        )
        .await;
        self.limiter.acquire().await;
        // Conditions merge by type in a strategic merge patch, as
        // kube-scheduler's status update does.
        let patch = serde_json::json!({
            "status": {
                "conditions": [{
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": reason,
                    "message": message,
                    "lastProbeTime": null,
                    "lastTransitionTime": jiff::Timestamp::now().to_string(),
                }]
            }
        });
        let pods = self.pods(&pod.namespace);
        let patched = self
            .within_deadline(pods.patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            ))
            .await;
        let error = match patched {
            Ok(Ok(_)) => return,
            Ok(Err(error)) => error.to_string(),
            Err(error) => error,
        };
        tracing::info!(pod = %pod, %error, "PodScheduled condition not updated");
    }
}
/// The `pods/binding` object that puts `pod` on `node`; the uid makes the
/// apiserver refuse it if the pod was replaced by one of the same name.
pub fn binding(pod: &PodRef, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(pod.name.clone()),
            namespace: Some(pod.namespace.clone()),
            uid: Some(pod.uid.clone()),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".to_string()),
            api_version: Some("v1".to_string()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_rates_wait_a_bounded_time_without_panicking() {
        assert_eq!(rate_wait(1.0, 50.0), Duration::from_millis(20));
        for qps in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY, 1e-300] {
            assert_eq!(rate_wait(1.0, qps), MAX_RATE_WAIT, "{qps}");
        }
        assert_eq!(rate_wait(1.0, f64::INFINITY), Duration::ZERO);
        for qps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            assert!(RateLimit::check_qps(qps).is_err(), "{qps}");
        }
    }

    /// An apiserver that answers `GET /version` and then nothing else;
    /// its kubeconfig.
    fn stalling_apiserver(name: &str) -> std::path::PathBuf {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut request = Vec::new();
                    let mut byte = [0u8; 1];
                    while stream.read(&mut byte).unwrap_or(0) == 1 {
                        request.push(byte[0]);
                        if !request.ends_with(b"\r\n\r\n") {
                            continue;
                        }
                        if !request.starts_with(b"GET /version") {
                            std::thread::park(); // never answers
                        }
                        let body = r#"{"major":"1","minor":"37","gitVersion":"v1.37.2","gitCommit":"x","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.25","compiler":"gc","platform":"linux/amd64"}"#;
                        let response = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(response.as_bytes());
                        request.clear();
                    }
                });
            }
        });
        let path =
            std::env::temp_dir().join(format!("kws-{name}-{}.kubeconfig", std::process::id()));
        std::fs::write(
            &path,
            format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'http://{address}'}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"),
        )
        .unwrap();
        path
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unanswered_bind_fails_after_the_request_timeout() {
        let kubeconfig = stalling_apiserver("stalling");
        let cluster = KubeCluster::connect(Some(&kubeconfig), RateLimit::default())
            .await
            .unwrap()
            .with_request_timeout(Duration::from_millis(300));
        let pod = PodRef {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u".into(),
        };
        let bound = tokio::time::timeout(Duration::from_secs(10), cluster.bind(&pod, "n1"))
            .await
            .expect("the bind gives up by itself");
        let Err(BindError::Failed(message)) = bound else {
            panic!("{bound:?}");
        };
        assert!(message.contains("within 300ms"), "{message}");
        let reported = tokio::time::timeout(
            Duration::from_secs(10),
            cluster.report_unschedulable(&pod, "Unschedulable", "no"),
        )
        .await;
        assert!(reported.is_ok(), "the event and the patch give up too");
        let _ = std::fs::remove_file(kubeconfig);
    }

    #[test]
    fn a_kubeconfig_that_is_a_device_or_too_large_is_refused_unread() {
        let error = read_kubeconfig("/dev/zero".as_ref()).unwrap_err();
        assert_eq!(error, "not a regular file (a character device)");
    }
}
