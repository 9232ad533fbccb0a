//! The storage objects as the `volumes` interface hands them to plugins:
//! only the fields the volume plugins read.

use crate::model::convert::{label_selector, node_selector_term};
use crate::model::quantity::Quantity;
use crate::wit::volumes::Claim;
use crate::wit::volumes::{
    ClaimRef, CsiNode, CsiSource, Disk, PersistentVolume, PodVolume, RbdImage, StorageCapacity,
    StorageClass, VolumeAttachment, VolumeSource,
};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use std::collections::BTreeMap;

/// The beta annotation older objects name their class with, which
/// upstream's `GetPersistentVolumeClaimClass` still reads.
const BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

fn pairs(map: Option<&BTreeMap<String, String>>) -> Vec<(String, String)> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn storage_bytes(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> i64 {
    list.and_then(|l| l.get("storage"))
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map(|q| q.value())
        .unwrap_or(0)
}

/// A pod's volumes, as the volume plugins tell them apart.
pub fn pod_volumes(pod: &core::Pod) -> Vec<PodVolume> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .map(|v| PodVolume {
            name: v.name.clone(),
            source: source(pod_name, v),
        })
        .collect()
}

fn source(pod_name: &str, v: &core::Volume) -> VolumeSource {
    if let Some(claim) = &v.persistent_volume_claim {
        VolumeSource::Claim(claim.claim_name.clone())
    } else if v.ephemeral.is_some() {
        // The ephemeral volume controller's name for the claim.
        VolumeSource::Ephemeral(format!("{pod_name}-{}", v.name))
    } else if let Some(pd) = &v.gce_persistent_disk {
        VolumeSource::GcePersistentDisk(Disk {
            name: pd.pd_name.clone(),
            read_only: pd.read_only.unwrap_or(false),
        })
    } else if let Some(ebs) = &v.aws_elastic_block_store {
        VolumeSource::AwsElasticBlockStore(ebs.volume_id.clone())
    } else if let Some(iscsi) = &v.iscsi {
        VolumeSource::Iscsi(Disk {
            name: iscsi.iqn.clone(),
            read_only: iscsi.read_only.unwrap_or(false),
        })
    } else if let Some(rbd) = &v.rbd {
        VolumeSource::Rbd(RbdImage {
            monitors: rbd.monitors.clone(),
            pool: rbd.pool.clone().unwrap_or_else(|| "rbd".to_string()),
            image: rbd.image.clone(),
            read_only: rbd.read_only.unwrap_or(false),
        })
    } else if let Some(csi) = &v.csi {
        VolumeSource::Csi(csi.driver.clone())
    } else {
        VolumeSource::Other
    }
}

pub fn claim(pvc: &core::PersistentVolumeClaim) -> Claim {
    let spec = pvc.spec.as_ref();
    let annotations = pvc.metadata.annotations.as_ref();
    Claim {
        namespace: pvc.metadata.namespace.clone().unwrap_or_default(),
        name: pvc.metadata.name.clone().unwrap_or_default(),
        uid: pvc.metadata.uid.clone().unwrap_or_default(),
        access_modes: spec
            .and_then(|s| s.access_modes.clone())
            .unwrap_or_default(),
        storage_class: annotations
            .and_then(|a| a.get(BETA_CLASS))
            .cloned()
            .or_else(|| spec.and_then(|s| s.storage_class_name.clone())),
        volume_name: spec.and_then(|s| s.volume_name.clone()).unwrap_or_default(),
        request_bytes: storage_bytes(
            spec.and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref()),
        ),
        selector: spec.and_then(|s| s.selector.as_ref()).map(label_selector),
        volume_mode: spec
            .and_then(|s| s.volume_mode.clone())
            .unwrap_or_else(|| "Filesystem".to_string()),
        phase: pvc
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
        annotations: pairs(annotations),
        deleting: pvc.metadata.deletion_timestamp.is_some(),
    }
}

/// A PersistentVolume's class, as upstream's `GetPersistentVolumeClass`:
/// the beta annotation, else `spec.storageClassName`.
pub fn volume_class(pv: &core::PersistentVolume) -> String {
    pv.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_CLASS).cloned())
        .or_else(|| pv.spec.as_ref().and_then(|s| s.storage_class_name.clone()))
        .unwrap_or_default()
}

/// The in-tree plugins whose volumes CSI migration turns into a CSI
/// driver's, with the volume's id.
fn in_tree(spec: &core::PersistentVolumeSpec) -> Option<(String, String)> {
    let (plugin, id) = if let Some(pd) = &spec.gce_persistent_disk {
        ("kubernetes.io/gce-pd", pd.pd_name.clone())
    } else if let Some(ebs) = &spec.aws_elastic_block_store {
        ("kubernetes.io/aws-ebs", ebs.volume_id.clone())
    } else if let Some(disk) = &spec.azure_disk {
        ("kubernetes.io/azure-disk", disk.disk_uri.clone())
    } else if let Some(cinder) = &spec.cinder {
        ("kubernetes.io/cinder", cinder.volume_id.clone())
    } else if let Some(vsphere) = &spec.vsphere_volume {
        ("kubernetes.io/vsphere-volume", vsphere.volume_path.clone())
    } else if let Some(portworx) = &spec.portworx_volume {
        ("kubernetes.io/portworx-volume", portworx.volume_id.clone())
    } else {
        return None;
    };
    Some((plugin.to_string(), id))
}

pub fn persistent_volume(pv: &core::PersistentVolume) -> PersistentVolume {
    let spec = pv.spec.as_ref();
    PersistentVolume {
        name: pv.metadata.name.clone().unwrap_or_default(),
        labels: pairs(pv.metadata.labels.as_ref()),
        annotations: pairs(pv.metadata.annotations.as_ref()),
        storage_class: volume_class(pv),
        access_modes: spec
            .and_then(|s| s.access_modes.clone())
            .unwrap_or_default(),
        capacity_bytes: storage_bytes(spec.and_then(|s| s.capacity.as_ref())),
        volume_mode: spec
            .and_then(|s| s.volume_mode.clone())
            .unwrap_or_else(|| "Filesystem".to_string()),
        node_affinity: spec
            .and_then(|s| s.node_affinity.as_ref())
            .and_then(|a| a.required.as_ref())
            .map(|r| {
                r.node_selector_terms
                    .iter()
                    .map(node_selector_term)
                    .collect()
            }),
        claim_ref: spec.and_then(|s| s.claim_ref.as_ref()).map(|r| ClaimRef {
            namespace: r.namespace.clone().unwrap_or_default(),
            name: r.name.clone().unwrap_or_default(),
            uid: r.uid.clone().unwrap_or_default(),
        }),
        phase: pv
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default(),
        csi: spec.and_then(|s| s.csi.as_ref()).map(|c| CsiSource {
            driver: c.driver.clone(),
            volume_handle: c.volume_handle.clone(),
        }),
        in_tree: spec.and_then(in_tree),
        deleting: pv.metadata.deletion_timestamp.is_some(),
    }
}

pub fn storage_class(class: &storage::StorageClass) -> StorageClass {
    let topologies: Vec<_> = class
        .allowed_topologies
        .iter()
        .flatten()
        .map(|t| crate::wit::NodeSelectorTerm {
            match_expressions: t
                .match_label_expressions
                .iter()
                .flatten()
                .map(|r| crate::wit::Requirement {
                    key: r.key.clone(),
                    operator: crate::wit::Operator::In,
                    values: r.values.clone(),
                })
                .collect(),
            match_fields: Vec::new(),
        })
        .collect();
    StorageClass {
        name: class.metadata.name.clone().unwrap_or_default(),
        provisioner: class.provisioner.clone(),
        volume_binding_mode: class.volume_binding_mode.clone(),
        allowed_topologies: (!topologies.is_empty()).then_some(topologies),
    }
}

pub fn csi_node(node: &storage::CSINode) -> CsiNode {
    CsiNode {
        name: node.metadata.name.clone().unwrap_or_default(),
        drivers: node
            .spec
            .drivers
            .iter()
            .map(|d| (d.name.clone(), d.allocatable.as_ref().and_then(|a| a.count)))
            .collect(),
        annotations: pairs(node.metadata.annotations.as_ref()),
    }
}

pub fn volume_attachment(attachment: &storage::VolumeAttachment) -> VolumeAttachment {
    VolumeAttachment {
        name: attachment.metadata.name.clone().unwrap_or_default(),
        attacher: attachment.spec.attacher.clone(),
        persistent_volume_name: attachment.spec.source.persistent_volume_name.clone(),
    }
}

fn bytes(
    quantity: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> Option<i64> {
    quantity
        .and_then(|q| Quantity::parse(&q.0).ok())
        .map(|q| q.value())
}

pub fn storage_capacity(capacity: &storage::CSIStorageCapacity) -> StorageCapacity {
    StorageCapacity {
        namespace: capacity.metadata.namespace.clone().unwrap_or_default(),
        name: capacity.metadata.name.clone().unwrap_or_default(),
        storage_class: capacity.storage_class_name.clone(),
        node_topology: capacity.node_topology.as_ref().map(label_selector),
        capacity_bytes: bytes(capacity.capacity.as_ref()),
        maximum_volume_size_bytes: bytes(capacity.maximum_volume_size.as_ref()),
    }
}
