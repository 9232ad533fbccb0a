//! Where pods and nodes come from and where decisions go: a cluster behind
//! a small trait, so the same scheduling pipeline runs against the embedded
//! in-memory cluster (`simulate`) and a real apiserver.

pub mod embedded;
pub mod kube;

use crate::resource_claims::ClaimWriter;
use crate::volumes::{VolumeObject, VolumeWriter};
use crate::workloads::Workload;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceSlice};
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use std::future::Future;
use std::sync::Arc;

/// A change in the cluster, as an informer reports it.
#[derive(Debug, Clone)]
pub enum ClusterEvent {
    /// A pod was added or changed.
    PodApplied(Arc<core::Pod>),
    PodDeleted(Arc<core::Pod>),
    /// A node was added or changed.
    NodeApplied(Arc<core::Node>),
    NodeDeleted(Arc<core::Node>),
    /// A namespace was added or changed (its labels matter to pod
    /// affinity's `namespaceSelector`).
    NamespaceApplied(Arc<core::Namespace>),
    NamespaceDeleted(Arc<core::Namespace>),
    /// A Service, ReplicationController, ReplicaSet or StatefulSet was
    /// added or changed (PodTopologySpread's default selector is deduced
    /// from them).
    WorkloadApplied(Workload),
    WorkloadDeleted(Workload),
    /// A PodDisruptionBudget was added or changed (preemption counts the
    /// disruptions it allows).
    BudgetApplied(Arc<PodDisruptionBudget>),
    BudgetDeleted(Arc<PodDisruptionBudget>),
    /// A PodGroup (`scheduling.k8s.io/v1beta1`) was added or changed: gang
    /// scheduling counts its pods against its `minCount`.
    PodGroupApplied(Arc<PodGroup>),
    PodGroupDeleted(Arc<PodGroup>),
    /// A storage object (PersistentVolume, PersistentVolumeClaim,
    /// StorageClass, CSINode, CSIDriver) was added or changed: the volume
    /// plugins read them.
    VolumeObjectApplied(VolumeObject),
    VolumeObjectDeleted(VolumeObject),
    /// Dynamic resource allocation (`resource.k8s.io/v1`): a DeviceClass,
    /// ResourceSlice or ResourceClaim was added or changed, or deleted.
    DeviceClassApplied(Arc<DeviceClass>),
    DeviceClassDeleted(Arc<DeviceClass>),
    ResourceSliceApplied(Arc<ResourceSlice>),
    ResourceSliceDeleted(Arc<ResourceSlice>),
    ResourceClaimApplied(Arc<ResourceClaim>),
    ResourceClaimDeleted(Arc<ResourceClaim>),
    /// Every node, pod, namespace and workload that existed when the watch started has been
    /// reported: the scheduler's view is complete enough to decide on.
    Synced,
}

/// The pod a decision is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    pub fn of(pod: &core::Pod) -> PodRef {
        PodRef {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why a bind did not happen.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BindError {
    /// The pod is gone: nothing to retry.
    #[error("pod {0} no longer exists")]
    NotFound(String),
    /// The pod is already bound (by us earlier, or by someone else): the
    /// informer will report where; nothing to retry.
    #[error("{0}")]
    Conflict(String),
    /// Anything else: the pod is retried after backoff.
    #[error("{0}")]
    Failed(String),
}

/// Sends cluster events to whoever watches the cluster (the scheduler's
/// input), without the backends knowing who that is.
#[derive(Clone)]
pub struct EventSink(Arc<dyn Fn(ClusterEvent) -> bool + Send + Sync>);

/// The watcher is gone: stop sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl EventSink {
    /// `deliver` hands an event on; false once nobody listens.
    pub fn new(deliver: impl Fn(ClusterEvent) -> bool + Send + Sync + 'static) -> Self {
        EventSink(Arc::new(deliver))
    }

    /// Fails once the watcher has stopped listening.
    pub fn send(&self, event: ClusterEvent) -> Result<(), Stopped> {
        if (self.0)(event) {
            Ok(())
        } else {
            Err(Stopped)
        }
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

/// Something operators should see about the plugins themselves (a version
/// swapped in, a file refused, a plugin quarantined): an Event regarding
/// the scheduler, beside the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginNotice {
    pub warning: bool,
    /// `PluginLoaded`, `PluginRefused`, `PluginUnloaded`, `PluginQuarantined`.
    pub reason: &'static str,
    pub message: String,
}

/// A preemption to carry out (upstream's `prepareCandidate`): the
/// preemptor is nominated to `node`, the pods of lower priority nominated
/// there lose their nomination, and each victim is evicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preemption {
    pub preemptor: PodRef,
    /// The preemptor's `schedulerName`, which the victims' condition names.
    pub scheduler_name: String,
    pub node: String,
    pub victims: Vec<PodRef>,
    /// Lower-priority pods nominated to `node` until now.
    pub displaced: Vec<PodRef>,
}

/// A cluster the scheduler can watch and act on.
pub trait Backend: Send + Sync + 'static {
    /// Starts reporting the cluster: first every existing node and pod as
    /// applied, then [`ClusterEvent::Synced`] once, then each change, into
    /// `sink`.
    fn watch(&self, sink: EventSink);

    /// Binds the pod to the node (the `binding` subresource).
    fn bind(&self, pod: &PodRef, node: &str) -> impl Future<Output = Result<(), BindError>> + Send;

    /// Records that the pod was bound: a `Scheduled` event.
    fn report_scheduled(&self, pod: &PodRef, node: &str) -> impl Future<Output = ()> + Send;

    /// Records that the pod could not be scheduled: a `FailedScheduling`
    /// warning event and the `PodScheduled=False` condition with `reason`
    /// (`Unschedulable`, or `SchedulerError` when a plugin failed).
    fn report_unschedulable(
        &self,
        pod: &PodRef,
        reason: &str,
        message: &str,
    ) -> impl Future<Output = ()> + Send;

    /// Records a notice about the plugins.
    fn report_plugin(&self, notice: &PluginNotice) -> impl Future<Output = ()> + Send;

    /// Carries out a preemption: sets the preemptor's
    /// `status.nominatedNodeName`, clears that of the displaced pods, and
    /// for each victim adds the `DisruptionTarget` condition (reason
    /// `PreemptionByScheduler`), deletes it (its uid as precondition) and
    /// records a `Preempted` event on it, as kube-scheduler does.
    fn preempt(&self, preemption: &Preemption) -> impl Future<Output = ()> + Send;

    /// Clears a pod's `status.nominatedNodeName` (preemption found no
    /// room for it).
    fn clear_nomination(&self, pod: &PodRef) -> impl Future<Output = ()> + Send;

    /// Where VolumeBinding's PreBind writes go (PersistentVolumes'
    /// `claimRef`, claims' selected node); `None`: this cluster takes no
    /// such writes, and a pod that needs them fails its PreBind.
    fn volume_writer(&self) -> Option<Arc<dyn VolumeWriter>> {
        None
    }

    /// Where DynamicResources' PreBind writes a claim's allocation and
    /// reservation; `None`: onto the scheduler's own copy of the claim
    /// (the embedded cluster, whose copy is the only one).
    fn claim_writer(&self) -> Option<Arc<dyn ClaimWriter>> {
        None
    }
}
