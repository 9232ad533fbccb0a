//! PersistentVolumes, PersistentVolumeClaims (`ValidatePersistentVolume`,
//! `ValidatePersistentVolumeClaim`), StorageClasses, CSINodes,
//! CSIDrivers, VolumeAttachments and CSIStorageCapacities
//! (`pkg/apis/storage/validation`): the checks on the fields the volume
//! plugins read, with the apiserver's messages and paths.

use super::meta::{NameFormat, label_selector_errors, object_meta};
use super::names::dns1123_subdomain;
use super::{
    FieldError, FieldErrorKind, each_invalid, forbidden, invalid, invalid_bare, not_supported,
    required,
};
use crate::model::quantity::Quantity;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];
const RECLAIM_POLICIES: &[&str] = &["Delete", "Recycle", "Retain"];
const BINDING_MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];

fn access_modes(path: &str, modes: Option<&Vec<String>>, empty: &str) -> Vec<FieldError> {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    let mut errors = Vec::new();
    if modes.is_empty() {
        errors.push(required(path, empty));
    }
    for mode in modes {
        if !ACCESS_MODES.contains(&mode.as_str()) {
            errors.push(not_supported(path, mode, ACCESS_MODES));
        }
    }
    if modes.len() > 1 && modes.iter().any(|m| m == "ReadWriteOncePod") {
        errors.push(forbidden(
            path,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errors
}

fn volume_mode(path: &str, mode: Option<&String>) -> Option<FieldError> {
    let mode = mode?;
    (!VOLUME_MODES.contains(&mode.as_str())).then(|| not_supported(path, mode, VOLUME_MODES))
}

fn storage_quantity(
    path: &str,
    value: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Option<FieldError> {
    match Quantity::parse(&value.0) {
        Err(_) => Some(invalid_bare(
            path,
            &value.0,
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        )),
        Ok(q) if q.is_negative() => Some(invalid_bare(
            path,
            &value.0,
            "must be greater than or equal to 0",
        )),
        Ok(_) => None,
    }
}

pub fn persistent_volume(pv: &PersistentVolume) -> Vec<FieldError> {
    let mut errors = object_meta(&pv.metadata, false, NameFormat::Subdomain);
    let Some(spec) = pv.spec.as_ref() else {
        errors.push(required("spec.accessModes", ""));
        errors.push(required("spec.capacity", ""));
        return errors;
    };
    errors.extend(access_modes(
        "spec.accessModes",
        spec.access_modes.as_ref(),
        "",
    ));
    match spec.capacity.as_ref().filter(|c| !c.is_empty()) {
        None => errors.push(required("spec.capacity", "")),
        Some(capacity) => {
            if capacity.len() != 1 || !capacity.contains_key("storage") {
                let keys: Vec<&str> = capacity.keys().map(String::as_str).collect();
                errors.push(not_supported(
                    "spec.capacity",
                    &format!("map[{}]", keys.join(" ")),
                    &["storage"],
                ));
            }
            if let Some(storage) = capacity.get("storage") {
                errors.extend(storage_quantity("spec.capacity[storage]", storage));
            }
        }
    }
    if let Some(policy) = spec.persistent_volume_reclaim_policy.as_deref()
        && !RECLAIM_POLICIES.contains(&policy)
    {
        errors.push(not_supported(
            "spec.persistentVolumeReclaimPolicy",
            policy,
            RECLAIM_POLICIES,
        ));
    }
    let sources = [
        spec.host_path.is_some(),
        spec.local.is_some(),
        spec.csi.is_some(),
        spec.nfs.is_some(),
        spec.gce_persistent_disk.is_some(),
        spec.aws_elastic_block_store.is_some(),
        spec.iscsi.is_some(),
        spec.rbd.is_some(),
        spec.fc.is_some(),
        spec.azure_disk.is_some(),
        spec.azure_file.is_some(),
        spec.cinder.is_some(),
        spec.cephfs.is_some(),
        spec.flex_volume.is_some(),
        spec.glusterfs.is_some(),
        spec.vsphere_volume.is_some(),
        spec.portworx_volume.is_some(),
        spec.quobyte.is_some(),
        spec.scale_io.is_some(),
        spec.storageos.is_some(),
        spec.photon_persistent_disk.is_some(),
        spec.flocker.is_some(),
    ];
    match sources.iter().filter(|s| **s).count() {
        0 => errors.push(required("spec", "must specify a volume type")),
        1 => {}
        _ => errors.push(forbidden("spec", "may not specify more than 1 volume type")),
    }
    if let Some(csi) = &spec.csi {
        if csi.driver.is_empty() {
            errors.push(required("spec.csi.driver", ""));
        }
        if csi.volume_handle.is_empty() {
            errors.push(required("spec.csi.volumeHandle", ""));
        }
    }
    if spec.local.is_some() && spec.node_affinity.is_none() {
        errors.push(required(
            "spec.nodeAffinity",
            "Local volume requires node affinity",
        ));
    }
    if let Some(affinity) = &spec.node_affinity {
        match &affinity.required {
            None => errors.push(required(
                "spec.nodeAffinity.required",
                "must specify required node constraints",
            )),
            Some(selector) if selector.node_selector_terms.is_empty() => errors.push(required(
                "spec.nodeAffinity.required.nodeSelectorTerms",
                "must have at least one node selector term",
            )),
            Some(_) => {}
        }
    }
    errors.extend(volume_mode("spec.volumeMode", spec.volume_mode.as_ref()));
    errors
}

pub fn persistent_volume_claim(claim: &PersistentVolumeClaim) -> Vec<FieldError> {
    let mut errors = object_meta(&claim.metadata, true, NameFormat::Subdomain);
    let spec = claim.spec.clone().unwrap_or_default();
    errors.extend(access_modes(
        "spec.accessModes",
        spec.access_modes.as_ref(),
        "at least 1 access mode is required",
    ));
    match spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
    {
        None => errors.push(required("spec.resources[storage]", "")),
        Some(storage) => errors.extend(storage_quantity("spec.resources[storage]", storage)),
    }
    errors.extend(volume_mode("spec.volumeMode", spec.volume_mode.as_ref()));
    errors
}

pub fn storage_class(class: &StorageClass) -> Vec<FieldError> {
    let mut errors = object_meta(&class.metadata, false, NameFormat::Subdomain);
    if class.provisioner.is_empty() {
        errors.push(required("provisioner", ""));
    }
    if let Some(policy) = class.reclaim_policy.as_deref()
        && !["Delete", "Retain"].contains(&policy)
    {
        errors.push(not_supported(
            "reclaimPolicy",
            policy,
            &["Delete", "Retain"],
        ));
    }
    match class.volume_binding_mode.as_deref() {
        None => errors.push(required("volumeBindingMode", "")),
        Some(mode) if !BINDING_MODES.contains(&mode) => {
            errors.push(not_supported("volumeBindingMode", mode, BINDING_MODES))
        }
        Some(_) => {}
    }
    errors
}

pub fn csi_node(node: &CSINode) -> Vec<FieldError> {
    let mut errors = object_meta(&node.metadata, false, NameFormat::Subdomain);
    for (i, driver) in node.spec.drivers.iter().enumerate() {
        if driver.name.is_empty() {
            errors.push(required(format!("spec.drivers[{i}].name"), ""));
        }
        if driver.node_id.is_empty() {
            errors.push(required(format!("spec.drivers[{i}].nodeID"), ""));
        }
        if let Some(count) = driver.allocatable.as_ref().and_then(|a| a.count)
            && count < 0
        {
            errors.push(invalid_bare(
                format!("spec.drivers[{i}].allocatable.count"),
                count,
                "must be greater than or equal to 0",
            ));
        }
    }
    errors
}

pub fn csi_driver(driver: &CSIDriver) -> Vec<FieldError> {
    object_meta(&driver.metadata, false, NameFormat::Subdomain)
}

/// `ValidateCSIDriverName`: required, at most 63 characters, a DNS
/// subdomain once lowercased.
fn csi_driver_name(path: &str, name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return vec![required(path, "")];
    }
    let mut errors = Vec::new();
    if name.len() > 63 {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooLong("may not be more than 63 characters".to_string()),
        });
    }
    errors.extend(each_invalid(
        path,
        name,
        dns1123_subdomain(&name.to_lowercase()),
    ));
    errors
}

/// `ValidateVolumeAttachment`: exactly one source, the node and volume
/// names, the attacher (last: the apiserver checks it declaratively and
/// lists its errors after the others). An inline volume's spec is not
/// checked further: no plugin reads it (upstream's NodeVolumeLimits
/// counts only attachments of PersistentVolumes).
pub fn volume_attachment(attachment: &VolumeAttachment) -> Vec<FieldError> {
    let mut errors = object_meta(&attachment.metadata, false, NameFormat::Subdomain);
    let spec = &attachment.spec;
    let exactly_one = "must specify exactly one of inlineVolumeSpec and persistentVolumeName";
    match (
        &spec.source.inline_volume_spec,
        &spec.source.persistent_volume_name,
    ) {
        (None, None) => errors.push(required("spec.source", exactly_one)),
        (Some(_), Some(_)) => errors.push(forbidden("spec.source", exactly_one)),
        (None, Some(name)) if name.is_empty() => errors.push(required(
            "spec.source.persistentVolumeName",
            "must specify non empty persistentVolumeName",
        )),
        _ => {}
    }
    errors.extend(each_invalid(
        "spec.nodeName",
        &spec.node_name,
        dns1123_subdomain(&spec.node_name),
    ));
    if let Some(name) = &spec.source.persistent_volume_name {
        errors.extend(each_invalid(
            "spec.source.persistentVolumeName",
            name,
            dns1123_subdomain(name),
        ));
    }
    errors.extend(csi_driver_name("spec.attacher", &spec.attacher));
    errors
}

/// `ValidateCSIStorageCapacity`: the node topology a valid selector, the
/// class name a DNS subdomain, the capacity not negative.
pub fn csi_storage_capacity(capacity: &CSIStorageCapacity) -> Vec<FieldError> {
    let mut errors = object_meta(&capacity.metadata, true, NameFormat::Subdomain);
    if let Some(topology) = &capacity.node_topology {
        errors.extend(label_selector_errors("nodeTopology", topology));
    }
    errors.extend(each_invalid(
        "storageClassName",
        &capacity.storage_class_name,
        dns1123_subdomain(&capacity.storage_class_name),
    ));
    for (path, quantity) in [
        ("capacity", &capacity.capacity),
        ("maximumVolumeSize", &capacity.maximum_volume_size),
    ] {
        let Some(quantity) = quantity else { continue };
        match Quantity::parse(&quantity.0) {
            Err(_) => errors.extend(storage_quantity(path, quantity)),
            // Upstream checks only `capacity` for a negative value.
            Ok(q) if q.is_negative() && path == "capacity" => errors.push(invalid(
                path,
                &quantity.0,
                "must be greater than or equal to 0",
            )),
            Ok(_) => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors<T: serde::de::DeserializeOwned>(
        json: serde_json::Value,
        check: fn(&T) -> Vec<FieldError>,
    ) -> Vec<String> {
        check(&serde_json::from_value(json).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn volumes_need_modes_capacity_and_one_source() {
        let json = serde_json::json!({"metadata": {"name": "pv"}, "spec": {
            "accessModes": ["ReadWriteOncePod", "ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
            "hostPath": {"path": "/a"}, "nfs": {"server": "s", "path": "/b"}}});
        assert_eq!(
            errors(json, persistent_volume),
            [
                "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
                "spec: Forbidden: may not specify more than 1 volume type",
            ]
        );
        let json =
            serde_json::json!({"metadata": {"name": "pv"}, "spec": {"local": {"path": "/a"}}});
        assert_eq!(
            errors(json, persistent_volume),
            [
                "spec.accessModes: Required value",
                "spec.capacity: Required value",
                "spec.nodeAffinity: Required value: Local volume requires node affinity",
            ]
        );
    }

    #[test]
    fn claims_need_a_mode_and_a_size() {
        let json =
            serde_json::json!({"metadata": {"name": "c", "namespace": "default"}, "spec": {}});
        assert_eq!(
            errors(json, persistent_volume_claim),
            [
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
    }

    #[test]
    fn attachments_need_an_attacher_one_source_and_a_node() {
        let json = serde_json::json!({"metadata": {"name": "va"}, "spec": {
            "attacher": "", "nodeName": "Node_1", "source": {}}});
        assert_eq!(
            errors(json, volume_attachment),
            [
                "spec.source: Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName",
                "spec.nodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "spec.attacher: Required value",
            ]
        );
        let json = serde_json::json!({"metadata": {"name": "va"}, "spec": {
            "attacher": "CSI.Example.com", "nodeName": "n1",
            "source": {"persistentVolumeName": "pv-1"}}});
        assert_eq!(errors(json, volume_attachment), Vec::<String>::new());
    }

    #[test]
    fn capacities_need_a_class_and_a_selector_that_parses() {
        let json = serde_json::json!({"metadata": {"name": "cap", "namespace": "default"},
            "storageClassName": "",
            "nodeTopology": {"matchExpressions": [{"key": "zone", "operator": "Near"}]},
            "capacity": "-1Gi"});
        assert_eq!(
            errors(json, csi_storage_capacity),
            [
                "nodeTopology.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator",
                "storageClassName: Invalid value: \"\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "capacity: Invalid value: \"-1Gi\": must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn classes_need_a_provisioner_and_a_known_binding_mode() {
        let json = serde_json::json!({"metadata": {"name": "c"}, "provisioner": "", "volumeBindingMode": "Later"});
        assert_eq!(
            errors(json, storage_class),
            [
                "provisioner: Required value",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
    }
}
