//! An in-memory cluster for `simulate` and tests: it holds the objects of a
//! manifest file and answers binds and status updates the way the
//! apiserver does, including the watch events they cause.

use super::{Backend, BindError, ClusterEvent, EventSink, PluginNotice, PodRef};
use crate::model::manifest::Manifests;
use crate::workloads::Workload;
use k8s_openapi::api::core::v1 as core;
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
    /// In creation order.
    pods: Vec<Arc<core::Pod>>,
    nodes: Vec<Arc<core::Node>>,
    namespaces: Vec<Arc<core::Namespace>>,
    workloads: Vec<Workload>,
    events: Vec<RecordedEvent>,
    plugin_notices: Vec<PluginNotice>,
    sinks: Vec<EventSink>,
}

impl State {
    fn publish(&mut self, event: ClusterEvent) {
        self.sinks.retain(|sink| sink.send(event.clone()).is_ok());
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
    state: Mutex<State>,
}

impl EmbeddedCluster {
    pub fn new(objects: Manifests) -> Self {
        EmbeddedCluster {
            state: Mutex::new(State {
                pods: objects.pods.into_iter().map(Arc::new).collect(),
                nodes: objects.nodes.into_iter().map(Arc::new).collect(),
                namespaces: objects.namespaces.into_iter().map(Arc::new).collect(),
                workloads: objects.workloads,
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pods, in creation order.
    pub fn pods(&self) -> Vec<Arc<core::Pod>> {
        self.lock().pods.clone()
    }

    pub fn nodes(&self) -> Vec<Arc<core::Node>> {
        self.lock().nodes.clone()
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

    /// Adds a pod and tells the watchers.
    pub fn create_pod(&self, pod: core::Pod) {
        let pod = Arc::new(pod);
        let mut state = self.lock();
        state.pods.push(pod.clone());
        state.publish(ClusterEvent::PodApplied(pod));
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

impl Backend for EmbeddedCluster {
    fn watch(&self, sink: EventSink) {
        let mut state = self.lock();
        for namespace in &state.namespaces {
            let _ = sink.send(ClusterEvent::NamespaceApplied(namespace.clone()));
        }
        for workload in &state.workloads {
            let _ = sink.send(ClusterEvent::WorkloadApplied(workload.clone()));
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
}
