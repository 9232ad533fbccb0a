//! An in-memory cluster for `simulate` and tests: it holds the objects of a
//! manifest file and answers binds and status updates the way the
//! apiserver does, including the watch events they cause.

use super::{Backend, BindError, ClusterEvent, EventSink, PluginNotice, PodRef, Preemption};
use crate::model::manifest::{Manifests, uuid_shaped};
use crate::resource_claims::{ClaimWriter, LocalWriter};
use crate::volumes::controller::Storage;
use crate::volumes::{VolumeObject, VolumeWriter};
use crate::workloads::Workload;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::resource::v1::{
    AllocationResult, DeviceClass, ResourceClaim, ResourceClaimConsumerReference, ResourceSlice,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An event the cluster recorded about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub pod: String,
    /// `Normal` or `Warning`.
    pub kind: &'static str,
    pub reason: String,
    pub message: String,
}

#[derive(Default)]
struct State {
    /// In creation order; no two share a uid.
    pods: Vec<Arc<core::Pod>>,
    /// Every pod uid this cluster has held: as on an apiserver, a uid is
    /// never given twice, not even after its pod is gone.
    uids: HashSet<String>,
    nodes: Vec<Arc<core::Node>>,
    namespaces: Vec<Arc<core::Namespace>>,
    workloads: Vec<Workload>,
    budgets: Vec<Arc<PodDisruptionBudget>>,
    device_classes: Vec<Arc<DeviceClass>>,
    resource_slices: Vec<Arc<ResourceSlice>>,
    resource_claims: Vec<Arc<ResourceClaim>>,
    /// PersistentVolumes, claims, StorageClasses, CSINodes and CSIDrivers,
    /// with the PersistentVolume controller's part played on each write.
    storage: Storage,
    events: Vec<RecordedEvent>,
    /// Binds answered so far.
    binds: usize,
    plugin_notices: Vec<PluginNotice>,
    sinks: Vec<EventSink>,
}

impl State {
    fn publish(&mut self, event: ClusterEvent) {
        self.sinks.retain(|sink| sink.send(event.clone()).is_ok());
    }

    /// Stores a pod under its uid, or under a fresh one when `fresh` (a
    /// create), when it has none or when the uid was already given;
    /// returns the pod as stored.
    fn add_pod(&mut self, mut pod: core::Pod, fresh: bool) -> Arc<core::Pod> {
        let meta = &mut pod.metadata;
        let given = meta.uid.take().filter(|u| !u.is_empty() && !fresh);
        let uid = match given {
            Some(uid) if !self.uids.contains(&uid) => uid,
            _ => {
                let namespace = meta.namespace.as_deref().unwrap_or_default();
                let name = meta.name.as_deref().unwrap_or_default();
                (0u64..)
                    .map(|n| uuid_shaped(&(self.uids.len(), n, namespace, name)))
                    .find(|uid| !self.uids.contains(uid))
                    .expect("an unused uid")
            }
        };
        self.uids.insert(uid.clone());
        meta.uid = Some(uid);
        let pod = Arc::new(pod);
        self.pods.push(pod.clone());
        pod
    }

    fn pod_index(&self, pod: &PodRef) -> Option<usize> {
        self.pods
            .iter()
            .position(|p| p.metadata.uid.as_deref() == Some(pod.uid.as_str()))
    }
}

/// The embedded cluster.
///
/// ```
/// use kws_host::backend::embedded::EmbeddedCluster;
/// use kws_host::model::manifest;
/// let objects = manifest::parse("inline", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")?;
/// let cluster = EmbeddedCluster::new(objects);
/// assert_eq!(cluster.nodes().len(), 1);
/// # Ok::<(), manifest::ManifestError>(())
/// ```
#[derive(Default)]
pub struct EmbeddedCluster {
    /// Shared with the [`VolumeWriter`] the scheduler's binding cycles
    /// write through and the [`ClaimWriter`] DynamicResources' PreBind
    /// writes through.
    state: Arc<Mutex<State>>,
}

impl EmbeddedCluster {
    /// A cluster holding `objects`. Pods keep their uids, except a pod with
    /// none or with one an earlier pod has: it gets a fresh one, so no two
    /// pods are ever taken for one (see [`EmbeddedCluster::create_pod`]).
    pub fn new(objects: Manifests) -> Self {
        let mut state = State {
            nodes: objects.nodes.into_iter().map(Arc::new).collect(),
            namespaces: objects.namespaces.into_iter().map(Arc::new).collect(),
            workloads: objects.workloads,
            budgets: objects.budgets.into_iter().map(Arc::new).collect(),
            device_classes: objects.device_classes.into_iter().map(Arc::new).collect(),
            resource_slices: objects.resource_slices.into_iter().map(Arc::new).collect(),
            resource_claims: objects.resource_claims.into_iter().map(Arc::new).collect(),
            storage: Storage::new(objects.storage),
            ..State::default()
        };
        for pod in objects.pods {
            state.add_pod(pod, false);
        }
        EmbeddedCluster {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The storage objects as they are now (claims bound, volumes
    /// provisioned).
    pub fn storage(&self) -> Vec<VolumeObject> {
        self.lock().storage.objects().cloned().collect()
    }

    /// The pods, in creation order.
    pub fn pods(&self) -> Vec<Arc<core::Pod>> {
        self.lock().pods.clone()
    }

    pub fn nodes(&self) -> Vec<Arc<core::Node>> {
        self.lock().nodes.clone()
    }

    /// How many pods this cluster has bound so far (what `simulate`'s
    /// progress counts).
    pub fn binds(&self) -> usize {
        self.lock().binds
    }

    /// The ResourceClaims, as DynamicResources' PreBind left them.
    pub fn resource_claims(&self) -> Vec<Arc<ResourceClaim>> {
        self.lock().resource_claims.clone()
    }

    pub fn events(&self) -> Vec<RecordedEvent> {
        self.lock().events.clone()
    }

    /// Every notice about plugins, in order.
    pub fn plugin_notices(&self) -> Vec<PluginNotice> {
        self.lock().plugin_notices.clone()
    }

    /// Adds or replaces a node (by name) and tells the watchers.
    pub fn apply_node(&self, node: core::Node) {
        let node = Arc::new(node);
        let mut state = self.lock();
        match state
            .nodes
            .iter()
            .position(|n| n.metadata.name == node.metadata.name)
        {
            Some(i) => state.nodes[i] = node.clone(),
            None => state.nodes.push(node.clone()),
        }
        state.publish(ClusterEvent::NodeApplied(node));
    }

    /// Creates a pod and tells the watchers; returns its uid. As the
    /// apiserver does, the pod gets a fresh uid, whatever `metadata.uid`
    /// it came with.
    pub fn create_pod(&self, pod: core::Pod) -> String {
        let mut state = self.lock();
        let pod = state.add_pod(pod, true);
        state.publish(ClusterEvent::PodApplied(pod.clone()));
        pod.metadata.uid.clone().unwrap_or_default()
    }

    /// Replaces a pod (matched by uid) and tells the watchers, as an update
    /// through the apiserver would (e.g. removing its scheduling gates).
    /// Returns false, changing nothing, when no pod has that uid.
    pub fn update_pod(&self, pod: core::Pod) -> bool {
        let mut state = self.lock();
        let Some(index) = state
            .pods
            .iter()
            .position(|p| p.metadata.uid.is_some() && p.metadata.uid == pod.metadata.uid)
        else {
            return false;
        };
        let pod = Arc::new(pod);
        state.pods[index] = pod.clone();
        state.publish(ClusterEvent::PodApplied(pod));
        true
    }

    /// Deletes a pod by uid and tells the watchers.
    pub fn delete_pod(&self, uid: &str) {
        let mut state = self.lock();
        if let Some(i) = state
            .pods
            .iter()
            .position(|p| p.metadata.uid.as_deref() == Some(uid))
        {
            let pod = state.pods.remove(i);
            state.publish(ClusterEvent::PodDeleted(pod));
        }
    }

    /// Sets (or clears) a pod's `status.nominatedNodeName` and publishes it.
    fn set_nomination(state: &mut State, pod: &PodRef, node: Option<&str>) {
        let Some(index) = state.pod_index(pod) else {
            return;
        };
        let mut updated = (*state.pods[index]).clone();
        updated
            .status
            .get_or_insert_with(Default::default)
            .nominated_node_name = node.map(str::to_string);
        let updated = Arc::new(updated);
        state.pods[index] = updated.clone();
        state.publish(ClusterEvent::PodApplied(updated));
    }

    /// Replaces a pod's condition of type PodScheduled and publishes it.
    fn set_scheduled_condition(
        state: &mut State,
        index: usize,
        status: &str,
        reason: &str,
        message: &str,
    ) {
        let mut pod = (*state.pods[index]).clone();
        let pod_status = pod.status.get_or_insert_with(Default::default);
        let conditions = pod_status.conditions.get_or_insert_with(Vec::new);
        conditions.retain(|c| c.type_ != "PodScheduled");
        conditions.push(core::PodCondition {
            type_: "PodScheduled".to_string(),
            status: status.to_string(),
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            message: (!message.is_empty()).then(|| message.to_string()),
            ..Default::default()
        });
        let pod = Arc::new(pod);
        state.pods[index] = pod.clone();
        state.publish(ClusterEvent::PodApplied(pod));
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// VolumeBinding's PreBind writes to the embedded cluster's objects, and
/// what the PersistentVolume controller does about them, told to the
/// watchers as the apiserver's watch would.
struct EmbeddedVolumeWriter(Arc<Mutex<State>>);

impl EmbeddedVolumeWriter {
    fn update(&self, object: VolumeObject) -> Result<VolumeObject, String> {
        let mut state = lock(&self.0);
        let changed = state.storage.update(object).map_err(|e| e.to_string())?;
        for object in &changed {
            state.publish(ClusterEvent::VolumeObjectApplied(object.clone()));
        }
        Ok(changed.into_iter().next().expect("the written object"))
    }
}

impl VolumeWriter for EmbeddedVolumeWriter {
    fn update_volume(
        &self,
        volume: &core::PersistentVolume,
    ) -> Result<core::PersistentVolume, String> {
        match self.update(VolumeObject::PersistentVolume(Arc::new(volume.clone())))? {
            VolumeObject::PersistentVolume(written) => Ok((*written).clone()),
            _ => unreachable!("an update returns the object of its kind"),
        }
    }

    fn update_claim(
        &self,
        claim: &core::PersistentVolumeClaim,
    ) -> Result<core::PersistentVolumeClaim, String> {
        match self.update(VolumeObject::Claim(Arc::new(claim.clone())))? {
            VolumeObject::Claim(written) => Ok((*written).clone()),
            _ => unreachable!("an update returns the object of its kind"),
        }
    }
}

impl Backend for EmbeddedCluster {
    fn volume_writer(&self) -> Option<Arc<dyn VolumeWriter>> {
        Some(Arc::new(EmbeddedVolumeWriter(self.state.clone())))
    }

    fn watch(&self, sink: EventSink) {
        let mut state = self.lock();
        for object in state.storage.objects() {
            let _ = sink.send(ClusterEvent::VolumeObjectApplied(object.clone()));
        }
        for namespace in &state.namespaces {
            let _ = sink.send(ClusterEvent::NamespaceApplied(namespace.clone()));
        }
        for workload in &state.workloads {
            let _ = sink.send(ClusterEvent::WorkloadApplied(workload.clone()));
        }
        for budget in &state.budgets {
            let _ = sink.send(ClusterEvent::BudgetApplied(budget.clone()));
        }
        for class in &state.device_classes {
            let _ = sink.send(ClusterEvent::DeviceClassApplied(class.clone()));
        }
        for slice in &state.resource_slices {
            let _ = sink.send(ClusterEvent::ResourceSliceApplied(slice.clone()));
        }
        for claim in &state.resource_claims {
            let _ = sink.send(ClusterEvent::ResourceClaimApplied(claim.clone()));
        }
        for node in &state.nodes {
            let _ = sink.send(ClusterEvent::NodeApplied(node.clone()));
        }
        for pod in &state.pods {
            let _ = sink.send(ClusterEvent::PodApplied(pod.clone()));
        }
        let _ = sink.send(ClusterEvent::Synced);
        state.sinks.push(sink);
    }

    async fn bind(&self, pod: &PodRef, node: &str) -> Result<(), BindError> {
        let mut state = self.lock();
        let index = state
            .pod_index(pod)
            .ok_or_else(|| BindError::NotFound(pod.to_string()))?;
        let current = &state.pods[index];
        if let Some(bound) = current.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            return Err(BindError::Conflict(format!(
                "Operation cannot be fulfilled on pods/binding \"{}\": pod {} is already assigned to node \"{bound}\"",
                pod.name, pod.name
            )));
        }
        let mut bound = (**current).clone();
        bound.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
        state.pods[index] = Arc::new(bound);
        state.binds += 1;
        Self::set_scheduled_condition(&mut state, index, "True", "", "");
        Ok(())
    }

    async fn report_scheduled(&self, pod: &PodRef, node: &str) {
        self.lock().events.push(RecordedEvent {
            pod: pod.to_string(),
            kind: "Normal",
            reason: "Scheduled".to_string(),
            message: format!("Successfully assigned {pod} to {node}"),
        });
    }

    async fn report_unschedulable(&self, pod: &PodRef, reason: &str, message: &str) {
        let mut state = self.lock();
        state.events.push(RecordedEvent {
            pod: pod.to_string(),
            kind: "Warning",
            reason: "FailedScheduling".to_string(),
            message: message.to_string(),
        });
        if let Some(index) = state.pod_index(pod) {
            Self::set_scheduled_condition(&mut state, index, "False", reason, message);
        }
    }

    async fn report_plugin(&self, notice: &PluginNotice) {
        self.lock().plugin_notices.push(notice.clone());
    }

    /// Victims go at once, as pods without a kubelet would after their
    /// grace period: deleted, with their `Preempted` event.
    async fn preempt(&self, preemption: &Preemption) {
        let mut state = self.lock();
        Self::set_nomination(&mut state, &preemption.preemptor, Some(&preemption.node));
        for pod in &preemption.displaced {
            Self::set_nomination(&mut state, pod, None);
        }
        for victim in &preemption.victims {
            let Some(index) = state.pod_index(victim) else {
                continue;
            };
            let pod = state.pods.remove(index);
            state.publish(ClusterEvent::PodDeleted(pod));
            state.events.push(RecordedEvent {
                pod: victim.to_string(),
                kind: "Normal",
                reason: "Preempted".to_string(),
                message: format!(
                    "Preempted by pod {} on node {}",
                    preemption.preemptor.uid, preemption.node
                ),
            });
        }
    }

    async fn clear_nomination(&self, pod: &PodRef) {
        Self::set_nomination(&mut self.lock(), pod, None);
    }

    fn claim_writer(&self) -> Option<Arc<dyn ClaimWriter>> {
        Some(Arc::new(EmbeddedClaimWriter {
            state: self.state.clone(),
        }))
    }
}

/// DynamicResources' PreBind on the embedded cluster: the claim is
/// written as the apiserver would write it (a new version), and the watch
/// reports it.
struct EmbeddedClaimWriter {
    state: Arc<Mutex<State>>,
}

impl EmbeddedClaimWriter {
    /// Stores what `change` makes of the claim as the cluster holds it,
    /// and reports it.
    fn update(
        &self,
        current: &ResourceClaim,
        change: impl FnOnce(&ResourceClaim) -> Result<ResourceClaim, String>,
    ) -> Result<ResourceClaim, String> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let index = state
            .resource_claims
            .iter()
            .position(|c| c.metadata.uid == current.metadata.uid)
            .ok_or_else(|| {
                format!(
                    "resourceclaims.resource.k8s.io {:?} not found",
                    current.metadata.name.as_deref().unwrap_or_default()
                )
            })?;
        let stored = state.resource_claims[index].clone();
        let written = Arc::new(change(&stored)?);
        state.resource_claims[index] = written.clone();
        state.publish(ClusterEvent::ResourceClaimApplied(written.clone()));
        Ok((*written).clone())
    }
}

impl ClaimWriter for EmbeddedClaimWriter {
    fn write(
        &self,
        current: &ResourceClaim,
        allocation: Option<&AllocationResult>,
        consumer: &ResourceClaimConsumerReference,
    ) -> Result<ResourceClaim, String> {
        self.update(current, |stored| {
            LocalWriter.write(stored, allocation, consumer)
        })
    }

    fn deallocate(&self, current: &ResourceClaim) -> Result<ResourceClaim, String> {
        self.update(current, |stored| LocalWriter.deallocate(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest;

    fn pod(name: &str, uid: Option<&str>) -> core::Pod {
        let mut pod = manifest::parse(
            "t.yaml",
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: c, image: i}}]}}\n"),
        )
        .unwrap()
        .pods
        .remove(0);
        pod.metadata.uid = uid.map(str::to_string);
        pod
    }

    fn uids(cluster: &EmbeddedCluster) -> Vec<String> {
        cluster
            .pods()
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn no_two_pods_share_a_uid() {
        let objects = Manifests {
            pods: vec![
                pod("a", Some("same")),
                pod("b", Some("same")),
                pod("c", None),
            ],
            ..Manifests::default()
        };
        let cluster = EmbeddedCluster::new(objects);
        let held = uids(&cluster);
        assert_eq!(held[0], "same", "a unique uid is kept");
        let distinct: HashSet<&String> = held.iter().collect();
        assert_eq!(distinct.len(), 3, "{held:?}");
        assert!(held.iter().all(|u| !u.is_empty()));

        // Created pods get a fresh uid, never one given before, even to a
        // pod since deleted.
        let created = cluster.create_pod(pod("d", Some("same")));
        assert!(!held.contains(&created));
        cluster.delete_pod(&created);
        let again = cluster.create_pod(pod("d", Some(created.as_str())));
        assert_ne!(again, created);
        assert_eq!(uids(&cluster).len(), 4);
    }
}
