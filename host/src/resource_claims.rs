//! Dynamic resource allocation's objects (`resource.k8s.io/v1`, structured
//! parameters) and the allocations in flight, for the DynamicResources
//! plugin: kube-scheduler's DRA manager (its assume cache of claims and its
//! map of in-flight allocations) lives here, in the host, because plugin
//! instances are pooled and the binding cycle runs off the scheduling loop:
//! a device assumed in one instance's Reserve must be seen as taken by every
//! other instance's next PreFilter, and the PreBind that writes it may run
//! while the next pod's cycle allocates.
//!
//! The host writes a claim's `status.allocation` and `status.reservedFor`
//! on the plugin's behalf ([`ResourceClaims::bind_claim`]) through a
//! [`ClaimWriter`]: the apiserver, or (in `simulate`) this store itself.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::resource::v1::{
    AllocationResult, DeviceClass, ResourceClaim, ResourceClaimConsumerReference, ResourceSlice,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// The finalizer a claim gets before its allocation is written, so it is
/// not deleted while allocated (`resourceapi.Finalizer`).
pub const FINALIZER: &str = "resource.kubernetes.io/delete-protection";

/// A device as allocation results name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId {
    pub driver: String,
    pub pool: String,
    pub device: String,
}

/// A claim as last seen or written, with its JSON (sent to plugins as is)
/// and the devices its allocation holds.
struct StoredClaim {
    claim: Arc<ResourceClaim>,
    json: Arc<str>,
    devices: Vec<DeviceId>,
    /// The copy the watch last reported: the old object of the next
    /// event's queueing hints, even when the host's own write replaced
    /// `claim` in between (as an informer's old object is its own).
    watched: Arc<ResourceClaim>,
}

impl StoredClaim {
    fn new(claim: Arc<ResourceClaim>, watched: Arc<ResourceClaim>) -> StoredClaim {
        let json = serde_json::to_string(&*claim).unwrap_or_default().into();
        let devices = claim
            .status
            .as_ref()
            .and_then(|s| s.allocation.as_ref())
            .map(allocated_devices)
            .unwrap_or_default();
        StoredClaim {
            claim,
            json,
            devices,
            watched,
        }
    }
}

/// An allocation assumed in Reserve and not yet written: upstream's
/// in-flight allocation.
struct InFlight {
    allocation: AllocationResult,
    json: String,
    devices: Vec<DeviceId>,
    /// The uid of the pod whose cycle assumed it.
    pod: String,
}

/// The devices an allocation takes; results with admin access take none
/// (they may share a device, as upstream's `foreachAllocatedDevice`).
fn allocated_devices(allocation: &AllocationResult) -> Vec<DeviceId> {
    allocation
        .devices
        .as_ref()
        .and_then(|d| d.results.as_ref())
        .into_iter()
        .flatten()
        .filter(|r| r.admin_access != Some(true))
        .map(|r| DeviceId {
            driver: r.driver.clone(),
            pool: r.pool.clone(),
            device: r.device.clone(),
        })
        .collect()
}

#[derive(Default)]
struct State {
    classes: BTreeMap<String, Arc<str>>,
    slices: BTreeMap<String, Arc<str>>,
    /// By `namespace/name`.
    claims: HashMap<String, StoredClaim>,
    /// Claim uid to `namespace/name`.
    by_uid: HashMap<String, String>,
    /// By claim uid.
    in_flight: HashMap<String, InFlight>,
    /// Changes with every class or slice change (0: none seen yet).
    slices_generation: u64,
}

/// Where every store's next slices generation comes from: one counter for
/// the process, so that two stores never show a plugin instance the same
/// number for different contents.
static SLICES_GENERATIONS: AtomicU64 = AtomicU64::new(1);

impl State {
    fn slices_changed(&mut self) {
        self.slices_generation = SLICES_GENERATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// One of the pod's claims, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PodClaim {
    /// The entry's name in `spec.resourceClaims`.
    pub name: String,
    pub claim: Arc<str>,
    /// The allocation held in flight for it (JSON).
    pub in_flight: Option<String>,
}

/// Writes a claim's status for PreBind: the apiserver (`run`) or the
/// embedded cluster (`simulate`, where [`ResourceClaims`] itself is the
/// cluster's copy and nothing else is written).
pub trait ClaimWriter: Send + Sync {
    /// Adds `consumer` to the claim's `status.reservedFor` and, with
    /// `allocation`, writes it as `status.allocation` (with the
    /// [`FINALIZER`] first); returns the claim as stored. `current` is the
    /// claim as last seen.
    fn write(
        &self,
        current: &ResourceClaim,
        allocation: Option<&AllocationResult>,
        consumer: &ResourceClaimConsumerReference,
    ) -> Result<ResourceClaim, String>;

    /// Clears the claim's allocation, reservations and device statuses;
    /// returns the claim as stored.
    fn deallocate(&self, current: &ResourceClaim) -> Result<ResourceClaim, String>;
}

/// The embedded cluster's writer: the claim changes in memory only.
pub struct LocalWriter;

impl ClaimWriter for LocalWriter {
    fn write(
        &self,
        current: &ResourceClaim,
        allocation: Option<&AllocationResult>,
        consumer: &ResourceClaimConsumerReference,
    ) -> Result<ResourceClaim, String> {
        Ok(next_version(with_binding(current, allocation, consumer)?))
    }

    fn deallocate(&self, current: &ResourceClaim) -> Result<ResourceClaim, String> {
        Ok(next_version(deallocated(current)))
    }
}

/// As the apiserver would: every write is a new version.
fn next_version(mut claim: ResourceClaim) -> ResourceClaim {
    claim.metadata.resource_version = Some((version(&claim) + 1).to_string());
    claim
}

/// `claim` with no allocation, reservation or device status (upstream's
/// PostFilter deallocation).
pub fn deallocated(claim: &ResourceClaim) -> ResourceClaim {
    let mut claim = claim.clone();
    if let Some(status) = claim.status.as_mut() {
        status.allocation = None;
        status.reserved_for = None;
        status.devices = None;
    }
    claim
}

/// `claim` with `allocation` written (and the finalizer added) and
/// `consumer` reserved, refused as upstream's PreBind refuses when the
/// claim changed under it.
pub fn with_binding(
    claim: &ResourceClaim,
    allocation: Option<&AllocationResult>,
    consumer: &ResourceClaimConsumerReference,
) -> Result<ResourceClaim, String> {
    let key = claim_key(claim);
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(format!("claim {key} got deleted in the meantime"));
    }
    let mut claim = claim.clone();
    let status = claim.status.get_or_insert_with(Default::default);
    if let Some(allocation) = allocation {
        if status.allocation.is_some() {
            return Err(format!(
                "claim {key} got allocated elsewhere in the meantime"
            ));
        }
        status.allocation = Some(allocation.clone());
        let finalizers = claim.metadata.finalizers.get_or_insert_with(Vec::new);
        if !finalizers.iter().any(|f| f == FINALIZER) {
            finalizers.push(FINALIZER.to_string());
        }
    }
    let status = claim.status.get_or_insert_with(Default::default);
    let reserved = status.reserved_for.get_or_insert_with(Vec::new);
    if !reserved.iter().any(|r| r.uid == consumer.uid) {
        reserved.push(consumer.clone());
    }
    Ok(claim)
}

/// `namespace/name` of a namespaced object's metadata.
fn claim_key(claim: &ResourceClaim) -> String {
    format!(
        "{}/{}",
        claim.metadata.namespace.as_deref().unwrap_or_default(),
        claim.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The numeric `resourceVersion` of a claim, to tell an older copy from a
/// newer (the apiserver's versions grow with each write; a copy without one
/// counts as oldest).
fn version(claim: &ResourceClaim) -> u64 {
    claim
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The DRA objects and in-flight allocations, shared by the scheduling
/// loop (which applies the watch's changes), every plugin instance and the
/// binding cycle.
pub struct ResourceClaims {
    state: Mutex<State>,
    writer: RwLock<Arc<dyn ClaimWriter>>,
}

impl Default for ResourceClaims {
    fn default() -> Self {
        ResourceClaims {
            state: Mutex::default(),
            writer: RwLock::new(Arc::new(LocalWriter)),
        }
    }
}

impl std::fmt::Debug for ResourceClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("ResourceClaims")
            .field("classes", &state.classes.len())
            .field("slices", &state.slices.len())
            .field("claims", &state.claims.len())
            .field("in_flight", &state.in_flight.len())
            .finish()
    }
}

impl ResourceClaims {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where PreBind writes go from now on.
    pub fn set_writer(&self, writer: Arc<dyn ClaimWriter>) {
        *self.writer.write().unwrap_or_else(PoisonError::into_inner) = writer;
    }

    pub fn set_class(&self, class: &DeviceClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        let json = serde_json::to_string(class).unwrap_or_default();
        let mut state = self.lock();
        state.classes.insert(name, json.into());
        state.slices_changed();
    }

    pub fn remove_class(&self, class: &DeviceClass) {
        let mut state = self.lock();
        state
            .classes
            .remove(class.metadata.name.as_deref().unwrap_or_default());
        state.slices_changed();
    }

    pub fn set_slice(&self, slice: &ResourceSlice) {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let json = serde_json::to_string(slice).unwrap_or_default();
        let mut state = self.lock();
        state.slices.insert(name, json.into());
        state.slices_changed();
    }

    pub fn remove_slice(&self, slice: &ResourceSlice) {
        let mut state = self.lock();
        state
            .slices
            .remove(slice.metadata.name.as_deref().unwrap_or_default());
        state.slices_changed();
    }

    /// A claim as the watch reports it; returns the copy it replaces (for
    /// the queueing hints' old object). A copy older than the one the host
    /// wrote itself is ignored, as upstream's assume cache ignores it, so
    /// an allocation just written is not forgotten while the watch lags.
    pub fn set_claim(&self, claim: Arc<ResourceClaim>) -> Option<Arc<ResourceClaim>> {
        let key = claim_key(&claim);
        let uid = claim.metadata.uid.clone().unwrap_or_default();
        let mut state = self.lock();
        if let Some(stored) = state.claims.get_mut(&key)
            && stored.claim.metadata.uid == claim.metadata.uid
            && version(&stored.claim) > version(&claim)
        {
            return Some(std::mem::replace(&mut stored.watched, claim));
        }
        state.by_uid.insert(uid, key.clone());
        state
            .claims
            .insert(key, StoredClaim::new(claim.clone(), claim))
            .map(|old| old.watched)
    }

    pub fn remove_claim(&self, claim: &ResourceClaim) {
        let key = claim_key(claim);
        let mut state = self.lock();
        if let Some(stored) = state.claims.remove(&key) {
            let uid = stored.claim.metadata.uid.clone().unwrap_or_default();
            state.by_uid.remove(&uid);
            state.in_flight.remove(&uid);
        }
    }

    /// The claims of `pod`, resolved as upstream's
    /// `foreachPodResourceClaim`: an `Err` with its reason when one is
    /// missing, being deleted or, when generated from a template, not
    /// owned by the pod.
    pub fn pod_claims(&self, pod: &core::Pod) -> Result<Vec<PodClaim>, String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
        let entries = pod
            .spec
            .as_ref()
            .and_then(|s| s.resource_claims.as_deref())
            .unwrap_or_default();
        let statuses = pod
            .status
            .as_ref()
            .and_then(|s| s.resource_claim_statuses.as_deref())
            .unwrap_or_default();
        let state = self.lock();
        let mut claims = Vec::with_capacity(entries.len());
        for entry in entries {
            let (name, generated) = match (
                &entry.resource_claim_name,
                &entry.resource_claim_template_name,
            ) {
                (Some(name), _) => (name.clone(), false),
                (None, Some(_)) => {
                    match statuses.iter().find(|s| s.name == entry.name) {
                        Some(status) => match &status.resource_claim_name {
                            Some(name) => (name.clone(), true),
                            // The template generated no claim: not needed.
                            None => continue,
                        },
                        None => {
                            return Err(format!(
                                "pod \"{namespace}/{pod_name}\": ResourceClaim not created yet"
                            ));
                        }
                    }
                }
                (None, None) => {
                    return Err(format!(
                        "pod \"{namespace}/{pod_name}\", spec.resourceClaim {:?}: none of the supported fields are set",
                        entry.name
                    ));
                }
            };
            let key = format!("{namespace}/{name}");
            let Some(stored) = state.claims.get(&key) else {
                return Err(format!("could not find ResourceClaim {key:?}"));
            };
            if stored.claim.metadata.deletion_timestamp.is_some() {
                return Err(format!("resourceclaim {name:?} is being deleted"));
            }
            if generated && !owned_by(&stored.claim, pod) {
                return Err(format!(
                    "ResourceClaim {key} was not created for Pod {namespace}/{pod_name} (Pod is not owner)"
                ));
            }
            let uid = stored.claim.metadata.uid.as_deref().unwrap_or_default();
            claims.push(PodClaim {
                name: entry.name.clone(),
                claim: stored.json.clone(),
                in_flight: state.in_flight.get(uid).map(|f| f.json.clone()),
            });
        }
        Ok(claims)
    }

    /// Every DeviceClass (JSON).
    pub fn classes(&self) -> Vec<String> {
        self.lock()
            .classes
            .values()
            .map(|c| c.to_string())
            .collect()
    }

    /// Every ResourceSlice (JSON).
    pub fn slices(&self) -> Vec<String> {
        self.lock().slices.values().map(|s| s.to_string()).collect()
    }

    /// Changes whenever a class or slice does (0 while there were none).
    pub fn slices_generation(&self) -> u64 {
        self.lock().slices_generation
    }

    /// Every device allocated by a claim or in flight, sorted.
    pub fn allocated_devices(&self) -> Vec<DeviceId> {
        let state = self.lock();
        let mut devices: Vec<DeviceId> = state
            .claims
            .values()
            .flat_map(|c| c.devices.iter().cloned())
            .chain(
                state
                    .in_flight
                    .values()
                    .flat_map(|f| f.devices.iter().cloned()),
            )
            .collect();
        devices.sort();
        devices.dedup();
        devices
    }

    /// Reserve: holds `allocation` for the claim `uid` for `pod` (a uid).
    /// Refused when the claim is unknown, allocated or held already, or a
    /// device of the allocation is taken: a device is never given twice.
    pub fn assume(&self, uid: &str, allocation: &str, pod: &str) -> Result<(), String> {
        let parsed: AllocationResult = serde_json::from_str(allocation)
            .map_err(|e| format!("allocation of claim {uid} is not an AllocationResult: {e}"))?;
        let devices = allocated_devices(&parsed);
        let mut state = self.lock();
        let key = state
            .by_uid
            .get(uid)
            .ok_or_else(|| format!("claim with uid {uid} is unknown"))?;
        let stored = &state.claims[key];
        if stored
            .claim
            .status
            .as_ref()
            .is_some_and(|s| s.allocation.is_some())
        {
            return Err(format!("claim {key} is allocated already"));
        }
        if state.in_flight.contains_key(uid) {
            return Err(format!("claim {key} is in the process of being allocated"));
        }
        let taken: HashSet<&DeviceId> = state
            .claims
            .values()
            .flat_map(|c| &c.devices)
            .chain(state.in_flight.values().flat_map(|f| &f.devices))
            .collect();
        if let Some(device) = devices.iter().find(|d| taken.contains(d)) {
            return Err(format!(
                "device {}/{}/{} is allocated already",
                device.driver, device.pool, device.device
            ));
        }
        state.in_flight.insert(
            uid.to_string(),
            InFlight {
                allocation: parsed,
                json: allocation.to_string(),
                devices,
                pod: pod.to_string(),
            },
        );
        Ok(())
    }

    /// Unreserve: drops what `pod` holds for the claim `uid`.
    pub fn unassume(&self, uid: &str, pod: &str) {
        let mut state = self.lock();
        if state.in_flight.get(uid).is_some_and(|f| f.pod == pod) {
            state.in_flight.remove(uid);
        }
    }

    /// Drops whatever `pod` (a uid) holds in flight: the host's own undo
    /// of a Reserve, for a plugin that cannot give it back.
    pub fn release_pod(&self, pod: &str) {
        self.lock().in_flight.retain(|_, held| held.pod != pod);
    }

    /// PreBind: writes the allocation `pod` holds for the claim `uid` (if
    /// any) and reserves the claim for the pod, then keeps the claim as
    /// written and drops the hold. The write runs without the lock held.
    pub fn bind_claim(&self, uid: &str, pod: &core::Pod) -> Result<(), String> {
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        let (current, allocation) = {
            let state = self.lock();
            let key = state
                .by_uid
                .get(uid)
                .ok_or_else(|| format!("claim with uid {uid} is unknown"))?;
            let current = state.claims[key].claim.clone();
            let allocation = state
                .in_flight
                .get(uid)
                .filter(|f| f.pod == pod_uid)
                .map(|f| f.allocation.clone());
            (current, allocation)
        };
        let consumer = ResourceClaimConsumerReference {
            api_group: None,
            resource: "pods".to_string(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod_uid.clone(),
        };
        let writer = self
            .writer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let written = writer.write(&current, allocation.as_ref(), &consumer)?;
        let mut state = self.lock();
        if state.in_flight.get(uid).is_some_and(|f| f.pod == pod_uid) {
            state.in_flight.remove(uid);
        }
        let key = claim_key(&written);
        let watched = match state.claims.get(&key) {
            Some(stored) if version(&stored.claim) > version(&written) => return Ok(()),
            Some(stored) => stored.watched.clone(),
            None => current,
        };
        state.by_uid.insert(uid.to_string(), key.clone());
        state
            .claims
            .insert(key, StoredClaim::new(Arc::new(written), watched));
        Ok(())
    }
}

impl ResourceClaims {
    /// PostFilter: deallocates the claim `uid` (see [`ClaimWriter::deallocate`])
    /// and keeps it as written. Refused for a claim reserved for a pod
    /// other than `pod` (a uid).
    pub fn deallocate(&self, uid: &str, pod: &str) -> Result<(), String> {
        let current = {
            let state = self.lock();
            let key = state
                .by_uid
                .get(uid)
                .ok_or_else(|| format!("claim with uid {uid} is unknown"))?;
            state.claims[key].claim.clone()
        };
        let reserved = current
            .status
            .as_ref()
            .and_then(|s| s.reserved_for.as_deref())
            .unwrap_or_default();
        if reserved.iter().any(|r| r.uid != pod) {
            return Err(format!("claim {} is in use", claim_key(&current)));
        }
        let writer = self
            .writer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let written = writer.deallocate(&current)?;
        let mut state = self.lock();
        let key = claim_key(&written);
        if let Some(stored) = state.claims.get(&key)
            && version(&stored.claim) <= version(&written)
        {
            let watched = stored.watched.clone();
            state
                .claims
                .insert(key, StoredClaim::new(Arc::new(written), watched));
        }
        Ok(())
    }
}

/// Whether `pod` is the claim's controlling owner (a claim generated for
/// it from a template).
fn owned_by(claim: &ResourceClaim, pod: &core::Pod) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == pod.metadata.uid.as_ref())
}

#[cfg(test)]
mod tests;
