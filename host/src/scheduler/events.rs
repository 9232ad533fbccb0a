//! Which cluster events an update is, as kube-scheduler names them for
//! queueing hints: an update of a node or a pod is one event per kind of
//! change that matters to scheduling, and an update that changes none of
//! them is no event at all (a node's heartbeat moves no pod).

use crate::wit::{ActionType, ClusterEvent, EventResource, Pod};
use k8s_openapi::api::core::v1 as core;

/// An event's name as kube-scheduler labels it in its metrics (`NodeAdd`,
/// `AssignedPodDelete`, `NodeUpdateNodeLabel`, ...): the resource, then the
/// action.
pub fn label(event: ClusterEvent) -> String {
    let resource = match event.resource {
        EventResource::AssignedPod => "AssignedPod",
        EventResource::UnscheduledPod => "UnscheduledPod",
        EventResource::Node => "Node",
        EventResource::Namespace => "Namespace",
        EventResource::PersistentVolume => "PersistentVolume",
        EventResource::PersistentVolumeClaim => "PersistentVolumeClaim",
        EventResource::StorageClass => "storage.k8s.io/StorageClass",
        EventResource::CsiNode => "storage.k8s.io/CSINode",
        EventResource::CsiDriver => "storage.k8s.io/CSIDriver",
        EventResource::CsiStorageCapacity => "storage.k8s.io/CSIStorageCapacity",
        EventResource::VolumeAttachment => "storage.k8s.io/VolumeAttachment",
        EventResource::ResourceClaim => "resource.k8s.io/ResourceClaim",
        EventResource::ResourceSlice => "resource.k8s.io/ResourceSlice",
        EventResource::DeviceClass => "resource.k8s.io/DeviceClass",
        EventResource::PodGroup => "scheduling.k8s.io/PodGroup",
        EventResource::Wildcard => "*",
    };
    let action = match event.action {
        ActionType::Add => "Add",
        ActionType::Delete => "Delete",
        ActionType::UpdateNodeAllocatable => "UpdateNodeAllocatable",
        ActionType::UpdateNodeLabel => "UpdateNodeLabel",
        ActionType::UpdateNodeTaint => "UpdateNodeTaint",
        ActionType::UpdateNodeCondition => "UpdateNodeCondition",
        ActionType::UpdateNodeAnnotation => "UpdateNodeAnnotation",
        ActionType::UpdatePodLabel => "UpdatePodLabel",
        ActionType::UpdatePodScaleDown => "UpdatePodScaleDown",
        ActionType::UpdatePodToleration => "UpdatePodToleration",
        ActionType::UpdatePodSchedulingGatesElimination => "UpdatePodSchedulingGatesEliminated",
        ActionType::Update => "Update",
        ActionType::All => "All",
    };
    format!("{resource}{action}")
}

/// The kinds of change from `old` to `new` (kube-scheduler's
/// `NodeSchedulingPropertiesChange`). `spec.unschedulable` counts as a
/// taint change, as upstream, which sees it as the
/// `node.kubernetes.io/unschedulable` taint.
pub fn node_updates(old: &core::Node, new: &core::Node) -> Vec<ActionType> {
    let mut actions = Vec::new();
    let spec = |n: &core::Node| n.spec.clone().unwrap_or_default();
    let status = |n: &core::Node| n.status.clone().unwrap_or_default();
    let (old_spec, new_spec) = (spec(old), spec(new));
    let (old_status, new_status) = (status(old), status(new));
    if old_status.allocatable != new_status.allocatable {
        actions.push(ActionType::UpdateNodeAllocatable);
    }
    if old.metadata.labels != new.metadata.labels {
        actions.push(ActionType::UpdateNodeLabel);
    }
    if old_spec.taints != new_spec.taints || old_spec.unschedulable != new_spec.unschedulable {
        actions.push(ActionType::UpdateNodeTaint);
    }
    let conditions = |s: &core::NodeStatus| -> Vec<(String, String)> {
        s.conditions
            .iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect()
    };
    if conditions(&old_status) != conditions(&new_status) {
        actions.push(ActionType::UpdateNodeCondition);
    }
    if old.metadata.annotations != new.metadata.annotations {
        actions.push(ActionType::UpdateNodeAnnotation);
    }
    actions
}

/// The kinds of change of a bound pod from `old` to `new`: its labels, and
/// requests that shrank (kube-scheduler's `UpdatePodScaleDown`).
pub fn pod_updates(old: &Pod, new: &Pod) -> Vec<ActionType> {
    let mut actions = Vec::new();
    if old.labels != new.labels {
        actions.push(ActionType::UpdatePodLabel);
    }
    let (o, n) = (&old.requests, &new.requests);
    if n.milli_cpu < o.milli_cpu
        || n.memory < o.memory
        || n.ephemeral_storage < o.ephemeral_storage
        || n.scalar
            .iter()
            .any(|(k, v)| o.scalar.iter().any(|(ok, ov)| ok == k && v < ov))
    {
        actions.push(ActionType::UpdatePodScaleDown);
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(value: serde_json::Value) -> core::Node {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_node_update_is_one_event_per_kind_of_change() {
        let old = node(json!({
            "metadata": {"name": "n", "labels": {"zone": "a"}},
            "status": {"allocatable": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]},
        }));
        // A heartbeat: nothing scheduling reads changed.
        let mut heartbeat = old.clone();
        heartbeat.metadata.resource_version = Some("2".into());
        assert_eq!(node_updates(&old, &heartbeat), Vec::<ActionType>::new());

        let relabelled = node(json!({
            "metadata": {"name": "n", "labels": {"zone": "b"}},
            "spec": {"unschedulable": true},
            "status": {"allocatable": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "False"}]},
        }));
        assert_eq!(
            node_updates(&old, &relabelled),
            vec![
                ActionType::UpdateNodeAllocatable,
                ActionType::UpdateNodeLabel,
                ActionType::UpdateNodeTaint,
                ActionType::UpdateNodeCondition,
            ]
        );
    }
}
