//! The storage objects of the embedded cluster (`simulate`, `explain`),
//! with the part of kube-controller-manager's PersistentVolume controller
//! that scheduling waits for, done at once on each write:
//!
//! - a volume whose `claimRef` names an unbound claim (VolumeBinding's
//!   PreBind, or a cluster file) binds it: the claim gets the volume's name,
//!   the `pv.kubernetes.io/bind-completed` annotation and phase `Bound`,
//!   the volume phase `Bound`;
//! - a claim given a node (`volume.kubernetes.io/selected-node`) whose
//!   StorageClass has a provisioner other than
//!   `kubernetes.io/no-provisioner` is provisioned: a volume
//!   `pvc-<claim uid>` of the claim's class, size and access modes,
//!   reachable from that node only (node affinity on `metadata.name`),
//!   bound to it.
//!
//! A volume with no `claimRef` is `Available`. Claims of Immediate classes
//! are not matched to volumes: a cluster file binds them itself
//! (`spec.volumeName` and the volume's `claimRef`).

use super::{BIND_COMPLETED, BOUND_BY_CONTROLLER, SELECTED_NODE, VolumeObject, assume};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The provisioner of classes whose volumes are made by hand.
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

#[derive(Debug, Default)]
pub struct Storage {
    /// Every object by kind and key (`name`, or `namespace/name`).
    objects: BTreeMap<(u8, String), VolumeObject>,
    /// The last resource version given.
    version: u64,
}

fn kind_and_key(object: &VolumeObject) -> (u8, String) {
    let (kind, meta) = match object {
        VolumeObject::PersistentVolume(o) => (0, &o.metadata),
        VolumeObject::Claim(o) => (1, &o.metadata),
        VolumeObject::StorageClass(o) => (2, &o.metadata),
        VolumeObject::CsiNode(o) => (3, &o.metadata),
        VolumeObject::CsiDriver(o) => (4, &o.metadata),
        VolumeObject::VolumeAttachment(o) => (5, &o.metadata),
        VolumeObject::StorageCapacity(o) => (6, &o.metadata),
    };
    let name = meta.name.clone().unwrap_or_default();
    match &meta.namespace {
        Some(namespace) if kind == 1 || kind == 6 => (kind, format!("{namespace}/{name}")),
        _ => (kind, name),
    }
}

fn meta_of(object: &mut VolumeObject) -> &mut ObjectMeta {
    match object {
        VolumeObject::PersistentVolume(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::Claim(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::StorageClass(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::CsiNode(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::CsiDriver(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::VolumeAttachment(o) => &mut Arc::make_mut(o).metadata,
        VolumeObject::StorageCapacity(o) => &mut Arc::make_mut(o).metadata,
    }
}

/// Why a write was refused, in the apiserver's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("{resource} {name:?} not found")]
    NotFound {
        resource: &'static str,
        name: String,
    },
    #[error(
        "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        resource: &'static str,
        name: String,
    },
}

impl Storage {
    /// The objects of a cluster file, with the controller's work done.
    pub fn new(objects: Vec<VolumeObject>) -> Storage {
        let mut storage = Storage::default();
        for object in objects {
            storage.store(object);
        }
        let volumes: Vec<_> = storage.of_kind(0).collect();
        for volume in volumes {
            storage.sync_volume(volume);
        }
        storage
    }

    /// Every object, volumes first.
    pub fn objects(&self) -> impl Iterator<Item = &VolumeObject> {
        self.objects.values()
    }

    fn of_kind(&self, kind: u8) -> impl Iterator<Item = VolumeObject> + '_ {
        self.objects
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|(_, o)| o.clone())
    }

    /// Stores an object under the next resource version.
    fn store(&mut self, mut object: VolumeObject) -> VolumeObject {
        self.version += 1;
        meta_of(&mut object).resource_version = Some(self.version.to_string());
        self.objects.insert(kind_and_key(&object), object.clone());
        object
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<Arc<core::PersistentVolumeClaim>> {
        match self.objects.get(&(1, format!("{namespace}/{name}"))) {
            Some(VolumeObject::Claim(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// An update with the object's resource version as precondition, as
    /// the apiserver does it; then the controller's reaction. Returns
    /// every object changed, the written one first.
    pub fn update(&mut self, object: VolumeObject) -> Result<Vec<VolumeObject>, WriteError> {
        let key = kind_and_key(&object);
        let resource = match key.0 {
            0 => "persistentvolumes",
            1 => "persistentvolumeclaims",
            _ => "objects",
        };
        let name = key.1.rsplit('/').next().unwrap_or_default().to_string();
        let stored = self.objects.get(&key).ok_or_else(|| WriteError::NotFound {
            resource,
            name: name.clone(),
        })?;
        let version = |o: &VolumeObject| match o {
            VolumeObject::PersistentVolume(o) => assume::version(&o.metadata),
            VolumeObject::Claim(o) => assume::version(&o.metadata),
            _ => 0,
        };
        if version(stored) != version(&object) {
            return Err(WriteError::Conflict { resource, name });
        }
        let written = self.store(object);
        let mut changed = vec![written.clone()];
        match written {
            VolumeObject::PersistentVolume(_) => changed.extend(self.sync_volume(written)),
            VolumeObject::Claim(claim) => changed.extend(self.provision(&claim)),
            _ => {}
        }
        Ok(changed)
    }

    /// The controller's syncVolume: a volume bound to an unbound claim
    /// binds the claim; phases follow. Returns what changed.
    fn sync_volume(&mut self, volume: VolumeObject) -> Vec<VolumeObject> {
        let VolumeObject::PersistentVolume(pv) = volume else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.clone());
        let phase = match &claim_ref {
            None => "Available",
            Some(r) => {
                let namespace = r.namespace.as_deref().unwrap_or_default();
                let name = r.name.as_deref().unwrap_or_default();
                match self.claim(namespace, name) {
                    Some(claim) => {
                        if let Some(bound) = bind_claim(&claim, &pv) {
                            changed.push(self.store(VolumeObject::Claim(Arc::new(bound))));
                        }
                        "Bound"
                    }
                    None => "Released",
                }
            }
        };
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some(phase) {
            let mut updated = (*pv).clone();
            updated.status.get_or_insert_default().phase = Some(phase.to_string());
            changed.push(self.store(VolumeObject::PersistentVolume(Arc::new(updated))));
        }
        changed
    }

    /// A claim given a node, of a class with a provisioner: a volume made
    /// for it there, and bound.
    fn provision(&mut self, claim: &Arc<core::PersistentVolumeClaim>) -> Vec<VolumeObject> {
        let annotations = claim.metadata.annotations.as_ref();
        let Some(node) = annotations.and_then(|a| a.get(SELECTED_NODE)).cloned() else {
            return Vec::new();
        };
        let spec = claim.spec.clone().unwrap_or_default();
        if spec.volume_name.as_deref().is_some_and(|v| !v.is_empty()) {
            return Vec::new();
        }
        let class_name = spec.storage_class_name.clone().unwrap_or_default();
        let provisioner = match self.objects.get(&(2, class_name.clone())) {
            Some(VolumeObject::StorageClass(c)) => c.provisioner.clone(),
            _ => return Vec::new(),
        };
        if provisioner == NO_PROVISIONER {
            return Vec::new();
        }
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        let name = format!("pvc-{uid}");
        let volume = core::PersistentVolume {
            metadata: ObjectMeta {
                name: Some(name),
                annotations: Some(BTreeMap::from([(
                    "pv.kubernetes.io/provisioned-by".to_string(),
                    provisioner,
                )])),
                ..ObjectMeta::default()
            },
            spec: Some(core::PersistentVolumeSpec {
                access_modes: spec.access_modes.clone(),
                capacity: spec.resources.as_ref().and_then(|r| r.requests.clone()),
                storage_class_name: Some(class_name),
                volume_mode: spec.volume_mode.clone(),
                persistent_volume_reclaim_policy: Some("Delete".to_string()),
                claim_ref: Some(core::ObjectReference {
                    kind: Some("PersistentVolumeClaim".to_string()),
                    api_version: Some("v1".to_string()),
                    namespace: claim.metadata.namespace.clone(),
                    name: claim.metadata.name.clone(),
                    uid: Some(uid),
                    ..Default::default()
                }),
                node_affinity: Some(core::VolumeNodeAffinity {
                    required: Some(core::NodeSelector {
                        node_selector_terms: vec![core::NodeSelectorTerm {
                            match_fields: Some(vec![core::NodeSelectorRequirement {
                                key: "metadata.name".to_string(),
                                operator: "In".to_string(),
                                values: Some(vec![node]),
                            }]),
                            match_expressions: None,
                        }],
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        };
        let volume = self.store(VolumeObject::PersistentVolume(Arc::new(volume)));
        let mut changed = vec![volume.clone()];
        changed.extend(self.sync_volume(volume));
        changed
    }
}

/// The claim bound to `volume` when it is not yet.
fn bind_claim(
    claim: &core::PersistentVolumeClaim,
    volume: &core::PersistentVolume,
) -> Option<core::PersistentVolumeClaim> {
    let name = volume.metadata.name.clone();
    let bound = claim.spec.as_ref().and_then(|s| s.volume_name.clone()) == name
        && claim
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(BIND_COMPLETED));
    if bound {
        return None;
    }
    let mut claim = claim.clone();
    let annotations = claim.metadata.annotations.get_or_insert_default();
    annotations.insert(BIND_COMPLETED.to_string(), "yes".to_string());
    annotations.insert(BOUND_BY_CONTROLLER.to_string(), "yes".to_string());
    let spec = claim.spec.get_or_insert_default();
    spec.volume_name = name;
    let status = claim.status.get_or_insert_default();
    status.phase = Some("Bound".to_string());
    status.access_modes = volume.spec.as_ref().and_then(|s| s.access_modes.clone());
    status.capacity = volume.spec.as_ref().and_then(|s| s.capacity.clone());
    Some(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_value(json).unwrap()
    }

    fn claim_of(changed: &[VolumeObject], name: &str) -> Arc<core::PersistentVolumeClaim> {
        // The last version changed: the controller's, after the write.
        changed
            .iter()
            .rev()
            .find_map(|o| match o {
                VolumeObject::Claim(c) if c.metadata.name.as_deref() == Some(name) => {
                    Some(c.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("claim {name} not changed: {changed:?}"))
    }

    #[test]
    fn a_claim_ref_written_binds_the_claim_and_a_selected_node_provisions() {
        let pv: core::PersistentVolume = object(serde_json::json!({
            "metadata": {"name": "pv"},
            "spec": {"capacity": {"storage": "1Gi"}, "storageClassName": "local"}}));
        let data: core::PersistentVolumeClaim = object(serde_json::json!({
            "metadata": {"name": "data", "namespace": "default", "uid": "u1"},
            "spec": {"storageClassName": "local"}}));
        let fresh: core::PersistentVolumeClaim = object(serde_json::json!({
            "metadata": {"name": "fresh", "namespace": "default", "uid": "u2"},
            "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "2Gi"}}}}));
        let fast: k8s_openapi::api::storage::v1::StorageClass = object(serde_json::json!({
            "metadata": {"name": "fast"}, "provisioner": "fast.example.com",
            "volumeBindingMode": "WaitForFirstConsumer"}));
        let mut storage = Storage::new(vec![
            VolumeObject::PersistentVolume(Arc::new(pv)),
            VolumeObject::Claim(Arc::new(data)),
            VolumeObject::Claim(Arc::new(fresh)),
            VolumeObject::StorageClass(Arc::new(fast)),
        ]);
        let Some(VolumeObject::PersistentVolume(stored)) = storage
            .objects()
            .find(|o| matches!(o, VolumeObject::PersistentVolume(_)))
            .cloned()
        else {
            panic!("no volume");
        };
        assert_eq!(
            stored.status.as_ref().unwrap().phase.as_deref(),
            Some("Available")
        );
        // A write from an older version is refused, as the apiserver does.
        let mut stale = (*stored).clone();
        stale.metadata.resource_version = Some("0".to_string());
        assert!(matches!(
            storage.update(VolumeObject::PersistentVolume(Arc::new(stale))),
            Err(WriteError::Conflict { .. })
        ));
        let mut bound = (*stored).clone();
        bound.spec.as_mut().unwrap().claim_ref = Some(core::ObjectReference {
            namespace: Some("default".to_string()),
            name: Some("data".to_string()),
            uid: Some("u1".to_string()),
            ..Default::default()
        });
        let changed = storage
            .update(VolumeObject::PersistentVolume(Arc::new(bound)))
            .unwrap();
        let data = claim_of(&changed, "data");
        assert_eq!(
            data.spec.as_ref().unwrap().volume_name.as_deref(),
            Some("pv")
        );
        assert_eq!(
            data.status.as_ref().unwrap().phase.as_deref(),
            Some("Bound")
        );
        assert!(super::super::fully_bound(&data));

        let Some(VolumeObject::Claim(fresh)) = storage
            .objects()
            .find(|o| matches!(o, VolumeObject::Claim(c) if c.metadata.name.as_deref() == Some("fresh")))
            .cloned()
        else {
            panic!("no claim");
        };
        let mut selected = (*fresh).clone();
        selected
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(SELECTED_NODE.to_string(), "n1".to_string());
        let changed = storage
            .update(VolumeObject::Claim(Arc::new(selected)))
            .unwrap();
        let fresh = claim_of(&changed, "fresh");
        assert_eq!(
            fresh.spec.as_ref().unwrap().volume_name.as_deref(),
            Some("pvc-u2")
        );
        let made = changed
            .iter()
            .find_map(|o| match o {
                VolumeObject::PersistentVolume(v) => Some(v.clone()),
                _ => None,
            })
            .unwrap();
        let term = &made
            .spec
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required
            .as_ref()
            .unwrap()
            .node_selector_terms[0];
        assert_eq!(
            term.match_fields.as_ref().unwrap()[0].values.as_deref(),
            Some(&["n1".to_string()][..])
        );
    }
}
