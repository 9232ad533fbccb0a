//! The storage side of the cluster, as kube-scheduler's volume plugins
//! (VolumeRestrictions, NodeVolumeLimits, VolumeZone, VolumeBinding) see
//! it: PersistentVolumes and PersistentVolumeClaims behind an assume cache
//! (upstream's volumebinding AssumeCache), StorageClasses, CSINodes,
//! CSIDrivers, VolumeAttachments (by node, for NodeVolumeLimits) and
//! CSIStorageCapacities (for VolumeBinding's capacity check) from the
//! informers, and the volumes of the pods on each node
//! (bound or assumed), which the [`Cache`](crate::cache::Cache) keeps
//! up to date.
//!
//! The host keeps all of it, since no plugin instance sees every pod and
//! an assumption made in one cycle's Reserve must hold for every later
//! cycle, on every instance, until the binding is written or undone. The
//! plugins reach it through the `volumes` import ([`crate::wit::volumes`]).
//!
//! VolumeBinding's PreBind writes go through a [`VolumeWriter`]: the
//! apiserver's (backend `kube`), or the embedded cluster's, which also
//! plays the PersistentVolume controller (see
//! [`embedded`](crate::backend::embedded)).

pub mod assume;
pub mod controller;
pub mod records;

use crate::wit::EventResource;
use crate::wit::volumes::{
    Claim, CsiNode, PersistentVolume, PlacedVolumes, PodVolume, StorageCapacity, StorageClass,
    VolumeAttachment, VolumeSource,
};
use assume::{AssumeCache, AssumeError};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The annotation VolumeBinding sets on a claim to provision: the node
/// the provisioner is to make the volume reachable from.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Set by the PersistentVolume controller once a claim's binding is
/// complete.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on a PersistentVolume whose `claimRef` the controller (or the
/// scheduler, as upstream's binder does) filled in.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";

/// How often PreBind looks whether the claims are bound (upstream polls
/// every second).
const BIND_POLL: Duration = Duration::from_millis(100);

/// One storage object from a watch or a cluster file.
#[derive(Debug, Clone)]
pub enum VolumeObject {
    PersistentVolume(Arc<core::PersistentVolume>),
    Claim(Arc<core::PersistentVolumeClaim>),
    StorageClass(Arc<storage::StorageClass>),
    CsiNode(Arc<storage::CSINode>),
    CsiDriver(Arc<storage::CSIDriver>),
    VolumeAttachment(Arc<storage::VolumeAttachment>),
    StorageCapacity(Arc<storage::CSIStorageCapacity>),
}

impl VolumeObject {
    /// The resource a cluster event about the object is about.
    pub fn resource(&self) -> EventResource {
        match self {
            VolumeObject::PersistentVolume(_) => EventResource::PersistentVolume,
            VolumeObject::Claim(_) => EventResource::PersistentVolumeClaim,
            VolumeObject::StorageClass(_) => EventResource::StorageClass,
            VolumeObject::CsiNode(_) => EventResource::CsiNode,
            VolumeObject::CsiDriver(_) => EventResource::CsiDriver,
            VolumeObject::VolumeAttachment(_) => EventResource::VolumeAttachment,
            VolumeObject::StorageCapacity(_) => EventResource::CsiStorageCapacity,
        }
    }

    /// The object as the apiserver's JSON (what queueing hints read).
    pub fn json(&self) -> Option<String> {
        match self {
            VolumeObject::PersistentVolume(o) => serde_json::to_string(&**o),
            VolumeObject::Claim(o) => serde_json::to_string(&**o),
            VolumeObject::StorageClass(o) => serde_json::to_string(&**o),
            VolumeObject::CsiNode(o) => serde_json::to_string(&**o),
            VolumeObject::CsiDriver(o) => serde_json::to_string(&**o),
            VolumeObject::VolumeAttachment(o) => serde_json::to_string(&**o),
            VolumeObject::StorageCapacity(o) => serde_json::to_string(&**o),
        }
        .ok()
    }
}

/// What an informer's add or update did.
#[derive(Debug, Clone)]
pub enum Applied {
    Added,
    /// Replaced this (latest) version.
    Updated(VolumeObject),
    /// Not newer than what is stored (an assumed version the informer has
    /// not caught up with yet): nothing changed, no event.
    Stale,
}

/// Writes VolumeBinding's PreBind updates: blocking calls, made from the
/// binding cycle's thread. Each returns the object as stored, with its
/// new `resourceVersion`.
pub trait VolumeWriter: Send + Sync {
    fn update_volume(
        &self,
        volume: &core::PersistentVolume,
    ) -> Result<core::PersistentVolume, String>;
    fn update_claim(
        &self,
        claim: &core::PersistentVolumeClaim,
    ) -> Result<core::PersistentVolumeClaim, String>;
}

/// What one pod's Reserve assumed, to write at PreBind or revert.
#[derive(Debug, Clone, Default)]
struct Assumed {
    /// PersistentVolumes given a `claimRef`, by name.
    volumes: Vec<String>,
    /// Claims given the selected-node annotation, by `namespace/name`.
    claims: Vec<String>,
    /// Every claim of the pod to wait for, by `namespace/name`.
    waits: Vec<String>,
    /// Set once PreBind wrote the bindings: how long to wait for them.
    wait: Option<Duration>,
}

/// A pod on a node with volumes.
#[derive(Debug, Clone)]
struct PlacedPod {
    node: String,
    namespace: String,
    volumes: Vec<PodVolume>,
}

struct State {
    volumes: AssumeCache<core::PersistentVolume>,
    claims: AssumeCache<core::PersistentVolumeClaim>,
    classes: BTreeMap<String, Arc<storage::StorageClass>>,
    csi_nodes: BTreeMap<String, Arc<storage::CSINode>>,
    csi_drivers: BTreeMap<String, Arc<storage::CSIDriver>>,
    /// VolumeAttachments by name, and their names by `spec.nodeName`
    /// (upstream's `va.spec.nodename` index).
    attachments: BTreeMap<String, Arc<storage::VolumeAttachment>>,
    attachments_by_node: HashMap<String, BTreeSet<String>>,
    /// CSIStorageCapacities by `namespace/name`.
    capacities: BTreeMap<String, Arc<storage::CSIStorageCapacity>>,
    /// Pods with volumes, bound or assumed, by uid.
    pods: HashMap<String, PlacedPod>,
    /// The uids of `pods` by node.
    by_node: HashMap<String, BTreeSet<String>>,
    /// How many of `pods` use each claim (`namespace/name`).
    claim_users: HashMap<String, u32>,
    /// VolumeBinding's assumptions by pod uid.
    assumed: HashMap<String, Assumed>,
}

impl Default for State {
    fn default() -> Self {
        State {
            volumes: AssumeCache::new("PersistentVolume", |o| assume::version(&o.metadata)),
            claims: AssumeCache::new("PersistentVolumeClaim", |o| assume::version(&o.metadata)),
            classes: BTreeMap::new(),
            csi_nodes: BTreeMap::new(),
            csi_drivers: BTreeMap::new(),
            attachments: BTreeMap::new(),
            attachments_by_node: HashMap::new(),
            capacities: BTreeMap::new(),
            pods: HashMap::new(),
            by_node: HashMap::new(),
            claim_users: HashMap::new(),
            assumed: HashMap::new(),
        }
    }
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn namespaced_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    key(
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

fn claim_key(claim: &core::PersistentVolumeClaim) -> String {
    key(
        claim.metadata.namespace.as_deref().unwrap_or_default(),
        claim.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Why VolumeBinding's PreBind failed (the pod is unreserved and retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("binding volumes: {0}")]
    Write(String),
    #[error("binding volumes: {0}")]
    Check(String),
    #[error("binding volumes: context deadline exceeded")]
    Timeout,
}

/// The storage objects and pod volumes; shared by the scheduling loop
/// (which applies the informers' events) and the plugin instances.
#[derive(Default)]
pub struct Volumes {
    state: Mutex<State>,
    writer: OnceLock<Arc<dyn VolumeWriter>>,
}

impl std::fmt::Debug for Volumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Volumes")
    }
}

impl Volumes {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where PreBind's writes go; the first writer set stays.
    pub fn set_writer(&self, writer: Arc<dyn VolumeWriter>) {
        let _ = self.writer.set(writer);
    }

    /// An informer's add or update, and what it did.
    pub fn apply(&self, object: &VolumeObject) -> Applied {
        let mut state = self.lock();
        let old = match object {
            VolumeObject::PersistentVolume(pv) => {
                let (old, applied) = state.volumes.apply(name_of(&pv.metadata), pv.clone());
                if !applied {
                    return Applied::Stale;
                }
                old.map(VolumeObject::PersistentVolume)
            }
            VolumeObject::Claim(pvc) => {
                let (old, applied) = state.claims.apply(claim_key(pvc), pvc.clone());
                if !applied {
                    return Applied::Stale;
                }
                old.map(VolumeObject::Claim)
            }
            VolumeObject::StorageClass(o) => state
                .classes
                .insert(name_of(&o.metadata), o.clone())
                .map(VolumeObject::StorageClass),
            VolumeObject::CsiNode(o) => state
                .csi_nodes
                .insert(name_of(&o.metadata), o.clone())
                .map(VolumeObject::CsiNode),
            VolumeObject::CsiDriver(o) => state
                .csi_drivers
                .insert(name_of(&o.metadata), o.clone())
                .map(VolumeObject::CsiDriver),
            VolumeObject::VolumeAttachment(o) => {
                let old = remove_attachment(&mut state, &name_of(&o.metadata));
                let name = name_of(&o.metadata);
                state
                    .attachments_by_node
                    .entry(o.spec.node_name.clone())
                    .or_default()
                    .insert(name.clone());
                state.attachments.insert(name, o.clone());
                old.map(VolumeObject::VolumeAttachment)
            }
            VolumeObject::StorageCapacity(o) => state
                .capacities
                .insert(namespaced_key(&o.metadata), o.clone())
                .map(VolumeObject::StorageCapacity),
        };
        match old {
            Some(old) => Applied::Updated(old),
            None => Applied::Added,
        }
    }

    /// An informer's delete.
    pub fn delete(&self, object: &VolumeObject) {
        let mut state = self.lock();
        match object {
            VolumeObject::PersistentVolume(pv) => {
                state.volumes.delete(&name_of(&pv.metadata));
            }
            VolumeObject::Claim(pvc) => {
                state.claims.delete(&claim_key(pvc));
            }
            VolumeObject::StorageClass(o) => {
                state.classes.remove(&name_of(&o.metadata));
            }
            VolumeObject::CsiNode(o) => {
                state.csi_nodes.remove(&name_of(&o.metadata));
            }
            VolumeObject::CsiDriver(o) => {
                state.csi_drivers.remove(&name_of(&o.metadata));
            }
            VolumeObject::VolumeAttachment(o) => {
                remove_attachment(&mut state, &name_of(&o.metadata));
            }
            VolumeObject::StorageCapacity(o) => {
                state.capacities.remove(&namespaced_key(&o.metadata));
            }
        }
    }

    /// A pod is on `node` (bound or assumed): its volumes count there.
    /// Pods without volumes cost nothing.
    pub fn set_pod(&self, uid: &str, node: &str, pod: &core::Pod) {
        let has_volumes = pod
            .spec
            .as_ref()
            .is_some_and(|s| s.volumes.as_ref().is_some_and(|v| !v.is_empty()));
        let mut state = self.lock();
        if !has_volumes && !state.pods.contains_key(uid) {
            return;
        }
        remove_pod(&mut state, uid);
        if !has_volumes {
            return;
        }
        let placed = PlacedPod {
            node: node.to_string(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            volumes: records::pod_volumes(pod),
        };
        for claim in claims_of(&placed.volumes) {
            *state
                .claim_users
                .entry(key(&placed.namespace, claim))
                .or_default() += 1;
        }
        state
            .by_node
            .entry(placed.node.clone())
            .or_default()
            .insert(uid.to_string());
        state.pods.insert(uid.to_string(), placed);
    }

    /// A pod left its node (deleted, finished, or its assumption forgotten).
    pub fn remove_pod(&self, uid: &str) {
        let mut state = self.lock();
        if state.pods.contains_key(uid) {
            remove_pod(&mut state, uid);
        }
    }

    /// The volumes of each pod with any on `node`.
    pub fn node_volumes(&self, node: &str) -> Vec<PlacedVolumes> {
        let state = self.lock();
        state
            .by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|uid| {
                state.pods.get(uid).map(|p| PlacedVolumes {
                    uid: uid.clone(),
                    namespace: p.namespace.clone(),
                    volumes: p.volumes.clone(),
                })
            })
            .collect()
    }

    /// The volumes of a pod the index holds (one placed on a node).
    pub fn volumes_of(&self, uid: &str) -> Vec<PodVolume> {
        self.lock()
            .pods
            .get(uid)
            .map(|p| p.volumes.clone())
            .unwrap_or_default()
    }

    pub fn claim_users(&self, namespace: &str, name: &str) -> u32 {
        self.lock()
            .claim_users
            .get(&key(namespace, name))
            .copied()
            .unwrap_or(0)
    }

    pub fn claim(&self, namespace: &str, name: &str) -> Option<Claim> {
        self.lock()
            .claims
            .get(&key(namespace, name))
            .map(|c| records::claim(c))
    }

    pub fn persistent_volume(&self, name: &str) -> Option<PersistentVolume> {
        self.lock()
            .volumes
            .get(name)
            .map(|v| records::persistent_volume(v))
    }

    pub fn volumes_of_class(&self, class: &str) -> Vec<PersistentVolume> {
        self.lock()
            .volumes
            .latest()
            .filter(|(_, v)| records::volume_class(v) == class)
            .map(|(_, v)| records::persistent_volume(v))
            .collect()
    }

    pub fn storage_class(&self, name: &str) -> Option<StorageClass> {
        self.lock()
            .classes
            .get(name)
            .map(|c| records::storage_class(c))
    }

    pub fn csi_node(&self, node: &str) -> Option<CsiNode> {
        self.lock()
            .csi_nodes
            .get(node)
            .map(|c| records::csi_node(c))
    }

    pub fn csi_driver_json(&self, name: &str) -> Option<String> {
        let state = self.lock();
        serde_json::to_string(&**state.csi_drivers.get(name)?).ok()
    }

    /// The VolumeAttachments whose `spec.nodeName` is `node`, by name.
    pub fn volume_attachments(&self, node: &str) -> Vec<VolumeAttachment> {
        let state = self.lock();
        state
            .attachments_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|name| state.attachments.get(name))
            .map(|a| records::volume_attachment(a))
            .collect()
    }

    /// The CSIStorageCapacities of storage class `class`, by namespace and
    /// name.
    pub fn storage_capacities(&self, class: &str) -> Vec<StorageCapacity> {
        self.lock()
            .capacities
            .values()
            .filter(|c| c.storage_class_name == class)
            .map(|c| records::storage_capacity(c))
            .collect()
    }

    /// VolumeBinding's Reserve for the pod `uid` of `namespace` on `node`:
    /// assumes each volume of `bindings` bound to its claim, and each claim
    /// of `provisions` given the node. True when nothing is left to bind.
    /// All or nothing: on an error, nothing stays assumed.
    pub fn assume(
        &self,
        uid: &str,
        namespace: &str,
        node: &str,
        bindings: &[(String, String)],
        provisions: &[String],
        waits: Vec<String>,
    ) -> Result<bool, AssumeError> {
        let mut state = self.lock();
        revert(&mut state, uid);
        let mut assumed = Assumed {
            waits: waits.iter().map(|c| key(namespace, c)).collect(),
            ..Assumed::default()
        };
        let result = assume_all(
            &mut state,
            &mut assumed,
            namespace,
            node,
            bindings,
            provisions,
        );
        let all_bound = assumed.volumes.is_empty() && assumed.claims.is_empty();
        state.assumed.insert(uid.to_string(), assumed);
        match result {
            Ok(()) => Ok(all_bound),
            Err(error) => {
                revert(&mut state, uid);
                Err(error)
            }
        }
    }

    /// Unreserve: the informer's versions count again.
    pub fn revert(&self, uid: &str) {
        revert(&mut self.lock(), uid);
    }

    /// PreBind (upstream's BindPodVolumes, first half): writes what Reserve
    /// assumed for pod `uid`. The wait for the PersistentVolume controller
    /// ([`Volumes::wait_for_bindings`]) comes after the plugin's call, so
    /// that the plugin instance is not held while the cluster works.
    pub fn bind(&self, uid: &str, timeout: Duration) -> Result<(), BindError> {
        let Some(assumed) = self.lock().assumed.get(uid).cloned() else {
            return Ok(());
        };
        let writer = self
            .writer
            .get()
            .ok_or_else(|| BindError::Write("no cluster to write to".to_string()))?
            .clone();
        for name in &assumed.volumes {
            let Some(volume) = self.lock().volumes.get(name).cloned() else {
                return Err(BindError::Write(format!(
                    "PersistentVolume {name:?} not found"
                )));
            };
            let written = writer.update_volume(&volume).map_err(BindError::Write)?;
            // Our write, as the informer will report it.
            self.lock().volumes.apply(name.clone(), Arc::new(written));
        }
        for claim_key in &assumed.claims {
            let Some(claim) = self.lock().claims.get(claim_key).cloned() else {
                return Err(BindError::Write(format!(
                    "PersistentVolumeClaim {claim_key:?} not found"
                )));
            };
            let written = writer.update_claim(&claim).map_err(BindError::Write)?;
            self.lock()
                .claims
                .apply(claim_key.clone(), Arc::new(written));
        }
        if let Some(entry) = self.lock().assumed.get_mut(uid) {
            entry.wait = Some(timeout);
        }
        Ok(())
    }

    /// PreBind's second half, run by the host after the plugin's call:
    /// when [`Volumes::bind`] wrote bindings for pod `uid`, waits up to the
    /// timeout it was given for every claim of the pod to be bound. The
    /// informers' events (applied by the scheduling loop) tell when.
    pub fn wait_for_bindings(&self, uid: &str) -> Result<(), BindError> {
        let Some(assumed) = self.lock().assumed.get(uid).cloned() else {
            return Ok(());
        };
        let Some(timeout) = assumed.wait else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        loop {
            if self.bound(&assumed)? {
                self.lock().assumed.remove(uid);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(BindError::Timeout);
            }
            std::thread::sleep(BIND_POLL);
        }
    }

    /// Upstream's checkBindings: every claim of the pod fully bound (a
    /// volume named and the controller's bind-completed annotation), to a
    /// volume whose `claimRef` still names it; an error once the binding
    /// can no longer happen.
    fn bound(&self, assumed: &Assumed) -> Result<bool, BindError> {
        let state = self.lock();
        for name in &assumed.volumes {
            let Some(volume) = state.volumes.api(name) else {
                return Err(BindError::Check(format!(
                    "failed to check binding: PersistentVolume {name:?} not found"
                )));
            };
            if volume
                .spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .is_none()
            {
                return Err(BindError::Check(format!(
                    "ClaimRef got reset for pv {name:?}"
                )));
            }
        }
        for claim_key in &assumed.claims {
            let Some(claim) = state.claims.api(claim_key) else {
                return Err(BindError::Check(format!(
                    "failed to check provisioning pvc: PersistentVolumeClaim {claim_key:?} not found"
                )));
            };
            let annotations = claim.metadata.annotations.as_ref();
            if annotations.and_then(|a| a.get(SELECTED_NODE)).is_none() {
                let name = claim.metadata.name.as_deref().unwrap_or_default();
                return Err(BindError::Check(format!(
                    "selectedNode annotation reset for PVC {name:?}"
                )));
            }
        }
        Ok(assumed
            .waits
            .iter()
            .all(|claim_key| state.claims.api(claim_key).is_some_and(|c| fully_bound(c))))
    }
}

/// A claim with a volume and the controller's bind-completed annotation
/// (upstream's isPVCFullyBound).
pub fn fully_bound(claim: &core::PersistentVolumeClaim) -> bool {
    claim
        .spec
        .as_ref()
        .is_some_and(|s| s.volume_name.as_deref().is_some_and(|v| !v.is_empty()))
        && claim
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(BIND_COMPLETED))
}

fn claims_of(volumes: &[PodVolume]) -> impl Iterator<Item = &str> {
    volumes.iter().filter_map(|v| match &v.source {
        VolumeSource::Claim(name) => Some(name.as_str()),
        _ => None,
    })
}

/// Drops a VolumeAttachment and its place in the node index.
fn remove_attachment(state: &mut State, name: &str) -> Option<Arc<storage::VolumeAttachment>> {
    let old = state.attachments.remove(name)?;
    if let Some(names) = state.attachments_by_node.get_mut(&old.spec.node_name) {
        names.remove(name);
        if names.is_empty() {
            state.attachments_by_node.remove(&old.spec.node_name);
        }
    }
    Some(old)
}

fn remove_pod(state: &mut State, uid: &str) {
    let Some(placed) = state.pods.remove(uid) else {
        return;
    };
    for claim in claims_of(&placed.volumes) {
        let k = key(&placed.namespace, claim);
        if let Some(count) = state.claim_users.get_mut(&k) {
            *count -= 1;
            if *count == 0 {
                state.claim_users.remove(&k);
            }
        }
    }
    if let Some(uids) = state.by_node.get_mut(&placed.node) {
        uids.remove(uid);
        if uids.is_empty() {
            state.by_node.remove(&placed.node);
        }
    }
}

fn assume_all(
    state: &mut State,
    assumed: &mut Assumed,
    namespace: &str,
    node: &str,
    bindings: &[(String, String)],
    provisions: &[String],
) -> Result<(), AssumeError> {
    for (volume_name, claim_name) in bindings {
        let claim = state
            .claims
            .get(&key(namespace, claim_name))
            .cloned()
            .ok_or_else(|| AssumeError::NotFound {
                kind: "PersistentVolumeClaim",
                name: key(namespace, claim_name),
            })?;
        let volume =
            state
                .volumes
                .get(volume_name)
                .cloned()
                .ok_or_else(|| AssumeError::NotFound {
                    kind: "PersistentVolume",
                    name: volume_name.clone(),
                })?;
        // Upstream's GetBindVolumeToClaim: nothing to do for a volume
        // already bound to the claim.
        let claim_uid = claim.metadata.uid.clone().unwrap_or_default();
        let bound = volume
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .is_some_and(|r| {
                r.namespace.as_deref() == Some(namespace)
                    && r.name.as_deref() == Some(claim_name.as_str())
                    && r.uid.as_deref().unwrap_or_default() == claim_uid
            });
        if bound {
            continue;
        }
        let mut copy = (*volume).clone();
        copy.metadata
            .annotations
            .get_or_insert_default()
            .insert(BOUND_BY_CONTROLLER.to_string(), "yes".to_string());
        copy.spec.get_or_insert_default().claim_ref = Some(core::ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("PersistentVolumeClaim".to_string()),
            namespace: Some(namespace.to_string()),
            name: Some(claim_name.clone()),
            uid: Some(claim_uid),
            resource_version: claim.metadata.resource_version.clone(),
            ..Default::default()
        });
        state.volumes.assume(volume_name, Arc::new(copy))?;
        assumed.volumes.push(volume_name.clone());
    }
    for claim_name in provisions {
        let k = key(namespace, claim_name);
        let claim = state
            .claims
            .get(&k)
            .cloned()
            .ok_or_else(|| AssumeError::NotFound {
                kind: "PersistentVolumeClaim",
                name: k.clone(),
            })?;
        let annotations = claim.metadata.annotations.as_ref();
        if annotations
            .and_then(|a| a.get(SELECTED_NODE))
            .map(String::as_str)
            == Some(node)
        {
            continue;
        }
        let mut copy = (*claim).clone();
        copy.metadata
            .annotations
            .get_or_insert_default()
            .insert(SELECTED_NODE.to_string(), node.to_string());
        state.claims.assume(&k, Arc::new(copy))?;
        assumed.claims.push(k);
    }
    Ok(())
}

fn revert(state: &mut State, uid: &str) {
    if let Some(assumed) = state.assumed.remove(uid) {
        for name in &assumed.volumes {
            state.volumes.restore(name);
        }
        for k in &assumed.claims {
            state.claims.restore(k);
        }
    }
}

#[cfg(test)]
mod tests;
