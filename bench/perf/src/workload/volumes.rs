//! The storage objects of SchedulingCSIPVs, as scheduler_perf's
//! `volumes/performance-config.yaml` makes them: every node has a CSINode
//! with room for 39 volumes of the EBS CSI driver, and every pod has a
//! claim already bound to a volume of its own (`pv-csi.yaml`, `pvc.yaml`,
//! bound by the test itself as `CreatePodWithPersistentVolume` does, so no
//! PV controller runs).

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::CSINode;
use serde_json::{Value, json};

/// The CSI driver of the volumes.
pub const DRIVER: &str = "ebs.csi.aws.com";

/// Volumes of [`DRIVER`] a node can attach (`nodeAllocatableStrategy`).
pub const ATTACHABLE: usize = 39;

/// The node's extra allocatable resource upstream sets beside the CSINode.
pub fn node_allocatable() -> (String, Value) {
    (
        format!("attachable-volumes-csi-{DRIVER}"),
        json!(ATTACHABLE.to_string()),
    )
}

/// The CSINode of `node`: the driver with its volume limit, and the
/// in-tree AWS plugin marked as migrated, as upstream's strategy writes it.
pub fn csi_node(node: &str) -> CSINode {
    serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSINode",
        "metadata": {
            "name": node,
            "annotations": {"storage.alpha.kubernetes.io/migrated-plugins": "kubernetes.io/aws-ebs"},
        },
        "spec": {"drivers": [{
            "name": DRIVER,
            "nodeID": node,
            "allocatable": {"count": ATTACHABLE},
        }]},
    }))
    .expect("a valid CSINode")
}

/// The claim of pod `pod`, `pvc-<pod>`, and its volume, `pv-<pod>`, bound
/// to each other both ways. The apiserver drops `status` on create: write
/// [`BOUND`] to each afterwards.
pub fn claim_and_volume(pod: &str) -> (PersistentVolumeClaim, PersistentVolume) {
    let (claim, volume) = names(pod);
    let claim_object = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim,
            "annotations": {"pv.kubernetes.io/bind-completed": "true"},
        },
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "resources": {"requests": {"storage": "1Gi"}},
            "volumeName": volume,
        },
    }))
    .expect("a valid PersistentVolumeClaim");
    let volume_object = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "capacity": {"storage": "1Gi"},
            "csi": {"driver": DRIVER, "volumeHandle": volume},
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": "default",
                "name": claim,
            },
        },
    }))
    .expect("a valid PersistentVolume");
    (claim_object, volume_object)
}

/// The status patch that marks a claim or a volume bound.
pub fn bound() -> Value {
    json!({"status": {"phase": "Bound"}})
}

/// The pod's volume: its claim.
pub fn pod_volume(pod: &str) -> Value {
    json!([{"name": "vol", "persistentVolumeClaim": {"claimName": names(pod).0}}])
}

fn names(pod: &str) -> (String, String) {
    (format!("pvc-{pod}"), format!("pv-{pod}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_and_volume_point_at_each_other() {
        let (claim, volume) = claim_and_volume("measured-7");
        assert_eq!(claim.metadata.name.as_deref(), Some("pvc-measured-7"));
        let spec = volume.spec.unwrap();
        assert_eq!(
            claim.spec.unwrap().volume_name.as_deref(),
            volume.metadata.name.as_deref()
        );
        let reference = spec.claim_ref.unwrap();
        assert_eq!(reference.name.as_deref(), Some("pvc-measured-7"));
        assert_eq!(reference.namespace.as_deref(), Some("default"));
        let csi = spec.csi.unwrap();
        assert_eq!(csi.driver, DRIVER);
        assert_eq!(csi.volume_handle, "pv-measured-7");
        assert_eq!(
            pod_volume("measured-7")[0]["persistentVolumeClaim"]["claimName"],
            "pvc-measured-7"
        );
    }

    #[test]
    fn csi_node_limits_the_driver() {
        let node = csi_node("node-3");
        let driver = &node.spec.drivers[0];
        assert_eq!(driver.name, DRIVER);
        assert_eq!(driver.node_id, "node-3");
        assert_eq!(
            driver.allocatable.as_ref().unwrap().count,
            Some(ATTACHABLE as i32)
        );
    }
}
