//! VolumeBinding: kube-scheduler v1.37's plugin
//! (`pkg/scheduler/framework/plugins/volumebinding`), with its volume
//! binder's logic (`binder.go`); the host keeps the assume cache and
//! writes the bindings.
//!
//! - PreFilter sorts the pod's claims into bound ones, unbound ones of a
//!   `WaitForFirstConsumer` class (bound here, to a node), and unbound
//!   ones of an `Immediate` class (left to the PersistentVolume
//!   controller: "pod has unbound immediate PersistentVolumeClaims").
//!   A pod without claims is skipped.
//! - Filter, per node: a bound claim's volume must reach the node ("node(s)
//!   didn't match PersistentVolume's node affinity"); each claim to bind
//!   gets the smallest available volume of its class that fits it and
//!   reaches the node, else its class must be able to provision one there
//!   ("node(s) didn't find available persistent volumes to bind"). When
//!   the class's provisioner is a CSIDriver with `storageCapacity: true`,
//!   a CSIStorageCapacity of the class whose `nodeTopology` selects the
//!   node must have room for the claim (its `maximumVolumeSize`, else its
//!   `capacity`): "node(s) did not have enough free storage".
//! - Score (StorageCapacityScoring, on in v1.37) rates the volumes chosen
//!   by their use of capacity, by the `shape` of the args; with no volume
//!   chosen, the claims to provision by their use of the capacity the
//!   node's CSIStorageCapacity reports.
//! - Reserve assumes the chosen volumes bound (their `claimRef`) and the
//!   claims to provision given the node (the
//!   `volume.kubernetes.io/selected-node` annotation), in the host's
//!   assume cache; Unreserve reverts that; PreBind has the host write them,
//!   and after the call the host waits, up to `bindTimeoutSeconds`, for
//!   the PersistentVolume controller to bind every claim (without holding
//!   this instance, which the scheduling loop may need meanwhile).

use kws_plugin_sdk::host::volumes::{
    self, Claim, PersistentVolume, StorageCapacity, StorageClass, VolumeSource,
};
use kws_plugin_sdk::quantity::Quantity;
use kws_plugin_sdk::selector::{Selector, term_matches};
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NodeInfo, Plugin,
    Pod, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

pub const ERR_REASON_BIND_CONFLICT: &str =
    "node(s) didn't find available persistent volumes to bind";
pub const ERR_REASON_NODE_CONFLICT: &str = "node(s) didn't match PersistentVolume's node affinity";
pub const ERR_REASON_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
pub const ERR_REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";

/// The provisioner name that means "no dynamic provisioning".
const NOT_SUPPORTED_PROVISIONER: &str = "kubernetes.io/no-provisioner";
/// Upstream's `config.MaxCustomPriorityScore`.
const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;

/// One point of the scoring function: utilization (0-100) to score (0-10).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UtilizationShapePoint {
    pub utilization: i32,
    pub score: i32,
}

/// `VolumeBindingArgs`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Args {
    #[serde(default = "default_bind_timeout")]
    pub bind_timeout_seconds: i64,
    #[serde(default)]
    pub shape: Vec<UtilizationShapePoint>,
}

fn default_bind_timeout() -> i64 {
    600
}

impl Default for Args {
    fn default() -> Self {
        Args {
            bind_timeout_seconds: default_bind_timeout(),
            shape: Vec::new(),
        }
    }
}

pub struct VolumeBinding {
    bind_timeout_seconds: u32,
    /// The scoring function's points, utilization to score (0-100).
    shape: Vec<(i64, i64)>,
}

/// What Filter chose for one node (upstream's PodVolumes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodVolumes {
    /// `(volume, claim)` pairs, with the claim's request and the
    /// volume's capacity and class, for Score.
    pub static_bindings: Vec<StaticBinding>,
    /// Claims to provision.
    pub dynamic_provisions: Vec<DynamicProvision>,
}

/// A claim to provision on the node (upstream's DynamicProvision).
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicProvision {
    pub claim: String,
    pub class: String,
    pub requested: i64,
    /// The `capacity` of the CSIStorageCapacity that had room for it
    /// (0 when that one gives only `maximumVolumeSize`); `None` when the
    /// class's driver does not report capacity, for Score.
    pub node_capacity: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StaticBinding {
    pub volume: String,
    pub claim: String,
    pub class: String,
    pub requested: i64,
    pub capacity: i64,
}

/// What PreFilter found (upstream's stateData with its PodVolumeClaims).
#[derive(Clone, Debug, Default)]
struct State {
    bound_claims: Vec<Claim>,
    unbound_delay_binding: Vec<Claim>,
    /// The volumes of each class of `unbound_delay_binding`.
    volumes_by_class: BTreeMap<String, Vec<PersistentVolume>>,
    classes: BTreeMap<String, Option<StorageClass>>,
    /// The CSIStorageCapacities of each class of `unbound_delay_binding`
    /// whose provisioner is a CSIDriver with `storageCapacity: true`;
    /// absent for classes whose capacity is not checked.
    capacities: BTreeMap<String, Vec<StorageCapacity>>,
    /// Filter's choice per node name (shared by the what-if copies of the
    /// cycle, as upstream's map behind a lock).
    by_node: Rc<RefCell<BTreeMap<String, PodVolumes>>>,
    /// Reserve found nothing left to bind.
    all_bound: bool,
}

/// Upstream's GetPersistentVolumeClaimClass (`""`: none).
fn claim_class(claim: &Claim) -> &str {
    claim.storage_class.as_deref().unwrap_or_default()
}

/// Upstream's isPVCFullyBound.
fn fully_bound(claim: &Claim) -> bool {
    !claim.volume_name.is_empty()
        && claim
            .annotations
            .iter()
            .any(|(k, _)| k == "pv.kubernetes.io/bind-completed")
}

fn annotation<'a>(claim: &'a Claim, key: &str) -> Option<&'a str> {
    claim
        .annotations
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Upstream's IsVolumeBoundToClaim.
fn bound_to(volume: &PersistentVolume, claim: &Claim) -> bool {
    volume.claim_ref.as_ref().is_some_and(|r| {
        r.name == claim.name
            && r.namespace == claim.namespace
            && (r.uid.is_empty() || r.uid == claim.uid)
    })
}

fn reaches(volume: &PersistentVolume, node: &NodeInfo) -> bool {
    volume
        .node_affinity
        .as_ref()
        .is_none_or(|terms| terms.iter().any(|t| term_matches(t, &node.node)))
}

/// Upstream's FindMatchingVolume for a node: the volume bound to the claim
/// already (if it reaches the node), else the smallest available one of
/// the claim's class that fits it and reaches the node.
fn find_matching<'a>(
    claim: &Claim,
    volumes: &'a [PersistentVolume],
    node: &NodeInfo,
    excluded: &BTreeSet<String>,
) -> Option<&'a PersistentVolume> {
    let selector = match &claim.selector {
        Some(s) => Some(Selector::parse(Some(s)).ok()?),
        None => None,
    };
    let mut smallest: Option<&PersistentVolume> = None;
    for volume in volumes {
        if excluded.contains(&volume.name) {
            continue;
        }
        if volume.claim_ref.is_some() && !bound_to(volume, claim) {
            continue;
        }
        if volume.capacity_bytes < claim.request_bytes
            || volume.volume_mode != claim.volume_mode
            || volume.deleting
        {
            continue;
        }
        let reachable = reaches(volume, node);
        if bound_to(volume, claim) {
            return reachable.then_some(volume);
        }
        if volume.phase != "Available"
            || selector
                .as_ref()
                .is_some_and(|s| !s.matches(&volume.labels))
            || volume.storage_class != claim_class(claim)
            || !reachable
            || !claim
                .access_modes
                .iter()
                .all(|m| volume.access_modes.contains(m))
        {
            continue;
        }
        if smallest.is_none_or(|s| s.capacity_bytes > volume.capacity_bytes) {
            smallest = Some(volume);
        }
    }
    smallest
}

/// Upstream's MatchTopologySelectorTerms: no terms match every node.
fn allowed_on(class: &StorageClass, node: &NodeInfo) -> bool {
    class.allowed_topologies.as_ref().is_none_or(|terms| {
        terms.iter().any(|t| {
            t.match_expressions.iter().all(|r| {
                node.label(&r.key)
                    .is_some_and(|v| r.values.iter().any(|x| x == v))
            })
        })
    })
}

/// Upstream's volumeLimit: the largest volume a CSIStorageCapacity can
/// take.
fn volume_limit(capacity: &StorageCapacity) -> Option<i64> {
    capacity
        .maximum_volume_size_bytes
        .or(capacity.capacity_bytes)
}

/// Upstream's nodeHasAccess: no topology reaches no node.
fn node_has_access(capacity: &StorageCapacity, node: &NodeInfo) -> bool {
    let Some(topology) = &capacity.node_topology else {
        return false;
    };
    Selector::parse(Some(topology)).is_ok_and(|s| s.matches(&node.node.labels))
}

/// Whether a class's CSI driver reports capacity (its CSIDriver's
/// `storageCapacity`); a provisioner with no CSIDriver does not.
fn reports_capacity(provisioner: &str) -> bool {
    volumes::csi_driver_json(provisioner)
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|d| d.pointer("/spec/storageCapacity")?.as_bool())
        .unwrap_or(false)
}

impl State {
    /// Upstream's hasEnoughCapacity: `Ok(None)` when there is nothing to
    /// check, `Ok(Some(capacity))` for the first CSIStorageCapacity (by
    /// namespace and name) of the class with room for the claim that the
    /// node reaches, `Err(())` when there is none.
    fn enough_capacity(
        &self,
        claim: &Claim,
        class: &str,
        node: &NodeInfo,
    ) -> Result<Option<&StorageCapacity>, ()> {
        // A claim the apiserver admitted always requests storage (> 0).
        if claim.request_bytes <= 0 {
            return Ok(None);
        }
        let Some(capacities) = self.capacities.get(class) else {
            return Ok(None);
        };
        capacities
            .iter()
            .find(|c| {
                volume_limit(c).is_some_and(|limit| limit >= claim.request_bytes)
                    && node_has_access(c, node)
            })
            .map(Some)
            .ok_or(())
    }

    /// Upstream's FindPodVolumes for one node: the bindings and provisions
    /// that would let the pod's claims reach it, or the reasons they can't.
    fn find_pod_volumes(&self, node: &NodeInfo) -> Result<PodVolumes, Status> {
        let mut result = PodVolumes::default();
        let mut reasons = Vec::new();
        let (mut bound_ok, mut bound_found, mut unbound_ok) = (true, true, true);
        let mut sufficient_storage = true;
        for claim in &self.bound_claims {
            match volumes::persistent_volume(&claim.volume_name) {
                None => {
                    bound_found = false;
                    break;
                }
                Some(volume) if !reaches(&volume, node) => {
                    bound_ok = false;
                    break;
                }
                Some(_) => {}
            }
        }
        if !self.unbound_delay_binding.is_empty() {
            (unbound_ok, sufficient_storage) = self.match_or_provision(node, &mut result)?;
        }
        if !bound_ok {
            reasons.push(ERR_REASON_NODE_CONFLICT.to_string());
        }
        if !unbound_ok {
            reasons.push(ERR_REASON_BIND_CONFLICT.to_string());
        }
        if !sufficient_storage {
            reasons.push(ERR_REASON_NOT_ENOUGH_SPACE.to_string());
        }
        if !bound_found {
            reasons.push(ERR_REASON_PV_NOT_EXIST.to_string());
        }
        if reasons.is_empty() {
            Ok(result)
        } else {
            Err(Status {
                code: kws_plugin_sdk::Code::UnschedulableAndUnresolvable,
                reasons,
            })
        }
    }

    /// The claims to bind on `node`: a volume each, or a class that can
    /// provision one there. Whether each claim can have one, and whether
    /// the storage to provision had room.
    fn match_or_provision(
        &self,
        node: &NodeInfo,
        result: &mut PodVolumes,
    ) -> Result<(bool, bool), Status> {
        let mut to_match = Vec::new();
        let mut to_provision = Vec::new();
        for claim in &self.unbound_delay_binding {
            match annotation(claim, "volume.kubernetes.io/selected-node") {
                Some(selected) if selected != node.name() => return Ok((false, true)),
                Some(_) => to_provision.push(claim),
                None => to_match.push(claim),
            }
        }
        let mut found = true;
        if !to_match.is_empty() {
            to_match.sort_by_key(|c| c.request_bytes);
            let mut chosen = BTreeSet::new();
            for claim in to_match {
                let empty = Vec::new();
                let candidates = self
                    .volumes_by_class
                    .get(claim_class(claim))
                    .unwrap_or(&empty);
                match find_matching(claim, candidates, node, &chosen) {
                    Some(volume) => {
                        chosen.insert(volume.name.clone());
                        result.static_bindings.push(StaticBinding {
                            volume: volume.name.clone(),
                            claim: claim.name.clone(),
                            class: volume.storage_class.clone(),
                            requested: claim.request_bytes,
                            capacity: volume.capacity_bytes,
                        });
                    }
                    None => {
                        found = false;
                        to_provision.push(claim);
                    }
                }
            }
        }
        if !to_provision.is_empty() {
            // Upstream's checkVolumeProvisions.
            for claim in to_provision {
                let class_name = claim_class(claim);
                if class_name.is_empty() {
                    return Err(Status::error(format!(
                        "no class for claim \"{}/{}\"",
                        claim.namespace, claim.name
                    )));
                }
                let Some(Some(class)) = self.classes.get(class_name) else {
                    return Err(Status::error(format!(
                        "failed to find storage class {class_name:?}"
                    )));
                };
                if class.provisioner.is_empty()
                    || class.provisioner == NOT_SUPPORTED_PROVISIONER
                    || !allowed_on(class, node)
                {
                    return Ok((false, true));
                }
                let Ok(capacity) = self.enough_capacity(claim, class_name, node) else {
                    result.dynamic_provisions.clear();
                    return Ok((true, false));
                };
                result.dynamic_provisions.push(DynamicProvision {
                    claim: claim.name.clone(),
                    class: class_name.to_string(),
                    requested: claim.request_bytes,
                    node_capacity: capacity.map(|c| c.capacity_bytes.unwrap_or(0)),
                });
            }
            // Claims that found no volume but can be provisioned: the node
            // fits (upstream's unboundVolumesSatisfied comes from the
            // provisioning check then).
            found = true;
        }
        Ok((found, true))
    }
}

/// Upstream's BuildBrokenLinearFunction over `shape`.
fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, &(utilization, score)) in shape.iter().enumerate() {
        if p <= utilization {
            if i == 0 {
                return score;
            }
            let (u0, s0) = shape[i - 1];
            return s0 + (score - s0) * (p - u0) / (utilization - u0);
        }
    }
    shape.last().map_or(0, |&(_, s)| s)
}

impl VolumeBinding {
    fn score_node(&self, volumes: &PodVolumes) -> i64 {
        // Requested and capacity by class: of the volumes chosen, else of
        // the claims to provision where the driver reports capacity (the
        // capacity is the node's, so it is set, not summed).
        let mut classes: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for binding in &volumes.static_bindings {
            let entry = classes.entry(binding.class.as_str()).or_default();
            entry.0 += binding.requested;
            entry.1 += binding.capacity;
        }
        if volumes.static_bindings.is_empty() {
            for provision in &volumes.dynamic_provisions {
                let Some(capacity) = provision.node_capacity else {
                    continue;
                };
                let entry = classes.entry(provision.class.as_str()).or_default();
                entry.0 += provision.requested;
                entry.1 = capacity;
            }
        }
        if classes.is_empty() {
            return 0;
        }
        let total: i64 = classes
            .values()
            .map(|&(requested, capacity)| {
                if capacity == 0 || requested > capacity {
                    broken_linear(&self.shape, 100)
                } else {
                    broken_linear(&self.shape, requested * 100 / capacity)
                }
            })
            .sum();
        (total as f64 / classes.len() as f64).round() as i64
    }
}

fn not_found(kind: &str, name: &str) -> String {
    format!("{kind} {name:?} not found")
}

impl Plugin for VolumeBinding {
    const NAME: &'static str = "VolumeBinding";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::PreScore,
        ExtensionPoint::Score,
        ExtensionPoint::Reserve,
        ExtensionPoint::PreBind,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = Args;

    fn new(args: Args) -> Result<Self, String> {
        let bind_timeout_seconds = u32::try_from(args.bind_timeout_seconds).map_err(|_| {
            "bindTimeoutSeconds: Invalid value: must be a non-negative integer".to_string()
        })?;
        let shape = if args.shape.is_empty() {
            vec![(0, MAX_CUSTOM_PRIORITY_SCORE), (100, 0)]
        } else {
            args.shape
                .iter()
                .map(|p| (i64::from(p.utilization), i64::from(p.score)))
                .collect()
        };
        Ok(VolumeBinding {
            bind_timeout_seconds,
            shape: shape
                .into_iter()
                .map(|(u, s)| {
                    (
                        u,
                        s * (kws_plugin_sdk::MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
                    )
                })
                .collect(),
        })
    }

    fn pre_filter(&self, pod: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let mut found = State::default();
        let mut has_claims = false;
        for volume in volumes::pod_volumes() {
            let (name, ephemeral) = match &volume.source {
                VolumeSource::Claim(name) => (name, false),
                VolumeSource::Ephemeral(name) => (name, true),
                _ => continue,
            };
            has_claims = true;
            let Some(claim) = volumes::claim(&pod.namespace, name) else {
                let message = if ephemeral {
                    format!(
                        "waiting for ephemeral volume controller to create the persistentvolumeclaim {name:?}"
                    )
                } else {
                    not_found("persistentvolumeclaim", name)
                };
                return PreFilterResult::rejected(Status::unresolvable(message));
            };
            if claim.phase == "Lost" {
                return PreFilterResult::rejected(Status::unresolvable(format!(
                    "persistentvolumeclaim {:?} bound to non-existent persistentvolume {:?}",
                    claim.name, claim.volume_name
                )));
            }
            if claim.deleting {
                return PreFilterResult::rejected(Status::unresolvable(format!(
                    "persistentvolumeclaim {:?} is being deleted",
                    claim.name
                )));
            }
            if fully_bound(&claim) {
                found.bound_claims.push(claim);
                continue;
            }
            // Upstream's IsDelayBindingMode.
            let class_name = claim_class(&claim).to_string();
            let class = (!class_name.is_empty())
                .then(|| volumes::storage_class(&class_name))
                .flatten();
            let delay = match &class {
                None => false,
                Some(c) => match c.volume_binding_mode.as_deref() {
                    None => {
                        return PreFilterResult::rejected(Status::error(format!(
                            "VolumeBindingMode not set for StorageClass {class_name:?}"
                        )));
                    }
                    Some(mode) => mode == "WaitForFirstConsumer",
                },
            };
            if !(delay && claim.volume_name.is_empty()) {
                return PreFilterResult::rejected(Status::unresolvable(UNBOUND_IMMEDIATE));
            }
            if let Some(c) = &class
                && !found.capacities.contains_key(&class_name)
                && !c.provisioner.is_empty()
                && reports_capacity(&c.provisioner)
            {
                found
                    .capacities
                    .insert(class_name.clone(), volumes::storage_capacities(&class_name));
            }
            found.classes.insert(class_name.clone(), class);
            found
                .volumes_by_class
                .entry(class_name.clone())
                .or_insert_with(|| volumes::volumes_of_class(&class_name));
            found.unbound_delay_binding.push(claim);
        }
        if !has_claims {
            return PreFilterResult::skip();
        }
        state.write(found);
        PreFilterResult::all()
    }

    fn filter_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        let Some(s) = state.read::<State>() else {
            let error = Status::error("reading \"VolumeBinding\" from cycle state: not found");
            return nodes.iter().map(|_| error.clone()).collect();
        };
        nodes
            .iter()
            .map(|node| match s.find_pod_volumes(node) {
                Ok(chosen) => {
                    s.by_node
                        .borrow_mut()
                        .insert(node.name().to_string(), chosen);
                    Status::success()
                }
                Err(status) => status,
            })
            .collect()
    }

    fn pre_score(&self, _: &Pod, _: &Cluster, _: &[&NodeInfo], state: &mut CycleState) -> Status {
        // A pod without claims would score 0 everywhere: skip it.
        match state.read::<State>() {
            Some(_) => Status::success(),
            None => Status::skip(),
        }
    }

    fn score_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Result<Vec<i64>, String> {
        let Some(s) = state.read::<State>() else {
            return Ok(vec![0; nodes.len()]);
        };
        let by_node = s.by_node.borrow();
        Ok(nodes
            .iter()
            .map(|node| by_node.get(node.name()).map_or(0, |v| self.score_node(v)))
            .collect())
    }

    fn reserve(&self, _: &Pod, node: &NodeInfo, state: &mut CycleState) -> Status {
        let Some(s) = state.read_mut::<State>() else {
            return Status::success();
        };
        let chosen = s.by_node.borrow().get(node.name()).cloned();
        let Some(chosen) = chosen else {
            s.all_bound = true;
            return Status::success();
        };
        let bindings: Vec<(String, String)> = chosen
            .static_bindings
            .iter()
            .map(|b| (b.volume.clone(), b.claim.clone()))
            .collect();
        let provisions: Vec<String> = chosen
            .dynamic_provisions
            .iter()
            .map(|p| p.claim.clone())
            .collect();
        match volumes::assume(node.name(), &bindings, &provisions) {
            Ok(all_bound) => {
                s.all_bound = all_bound;
                Status::success()
            }
            Err(error) => Status::error(error),
        }
    }

    fn unreserve(&self, _: &Pod, node: &NodeInfo, state: &mut CycleState) {
        let Some(s) = state.read::<State>() else {
            return;
        };
        if s.by_node.borrow().contains_key(node.name()) {
            volumes::revert();
        }
    }

    fn pre_bind(&self, _: &Pod, node: &NodeInfo, state: &CycleState) -> Status {
        let Some(s) = state.read::<State>() else {
            return Status::success();
        };
        if s.all_bound {
            return Status::success();
        }
        if !s.by_node.borrow().contains_key(node.name()) {
            return Status::error(format!("no pod volume found for node {:?}", node.name()));
        }
        match volumes::bind(self.bind_timeout_seconds) {
            Ok(()) => Status::success(),
            Err(error) => Status::error(error),
        }
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(
                EventResource::StorageClass,
                &[ActionType::Add, ActionType::Update],
            )
            .with_hint(),
            RegisteredEvent::on(
                EventResource::PersistentVolumeClaim,
                &[ActionType::Add, ActionType::Update],
            )
            .with_hint(),
            RegisteredEvent::on(
                EventResource::PersistentVolume,
                &[ActionType::Add, ActionType::Update],
            ),
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeLabel],
            ),
            RegisteredEvent::on(
                EventResource::CsiNode,
                &[ActionType::Add, ActionType::Update],
            )
            .with_hint(),
            RegisteredEvent::on(EventResource::CsiDriver, &[ActionType::Update]).with_hint(),
            RegisteredEvent::on(
                EventResource::CsiStorageCapacity,
                &[ActionType::Add, ActionType::Update],
            )
            .with_hint(),
        ]
    }

    fn queueing_hint(
        &self,
        pod: &Pod,
        _: &Cluster,
        event: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let parse = |json: &str| -> Result<serde_json::Value, String> {
            serde_json::from_str(json).map_err(|e| e.to_string())
        };
        let queue = match event.resource {
            EventResource::CsiNode => match old {
                None => true,
                Some(old) => {
                    let key = "/metadata/annotations/storage.alpha.kubernetes.io~1migrated-plugins";
                    let new = parse(new.ok_or("the event carries no CSINode")?)?;
                    parse(old)?.pointer(key) != new.pointer(key)
                }
            },
            EventResource::PersistentVolumeClaim => {
                let claim = parse(new.ok_or("the event carries no claim")?)?;
                let name = claim.pointer("/metadata/name").and_then(|n| n.as_str());
                claim
                    .pointer("/metadata/namespace")
                    .and_then(|n| n.as_str())
                    == Some(pod.namespace.as_str())
                    && volumes::pod_volumes().iter().any(|v| match &v.source {
                        VolumeSource::Claim(c) | VolumeSource::Ephemeral(c) => {
                            name == Some(c.as_str())
                        }
                        _ => false,
                    })
            }
            EventResource::StorageClass => match old {
                // An added class may be the one a claim of the pod waits for.
                None => true,
                // Of an update only a change of allowedTopologies matters.
                Some(old) => {
                    let new = parse(new.ok_or("the event carries no class")?)?;
                    parse(old)?.get("allowedTopologies") != new.get("allowedTopologies")
                }
            },
            // Upstream's isSchedulableAfterCSIStorageCapacityChange: a new
            // capacity, or a larger volume limit.
            EventResource::CsiStorageCapacity => match old {
                None => true,
                Some(old) => {
                    let new = parse(new.ok_or("the event carries no capacity")?)?;
                    let limit = |c: &serde_json::Value| {
                        c.get("maximumVolumeSize")
                            .or_else(|| c.get("capacity"))
                            .and_then(|q| q.as_str())
                            .map(|q| Quantity::parse(q).ok_or(format!("quantity {q:?}")))
                            .transpose()
                    };
                    match (limit(&parse(old)?)?, limit(&new)?) {
                        (_, None) => false,
                        (None, Some(_)) => true,
                        (Some(before), Some(after)) => after > before,
                    }
                }
            },
            // Upstream's isSchedulableAfterCSIDriverChange: an inline CSI
            // volume of the driver, whose storageCapacity got turned off.
            EventResource::CsiDriver => {
                let (old, new) = (
                    parse(old.ok_or("the event carries no old CSIDriver")?)?,
                    parse(new.ok_or("the event carries no CSIDriver")?)?,
                );
                let name = new.pointer("/metadata/name").and_then(|n| n.as_str());
                let on = |d: &serde_json::Value| {
                    d.pointer("/spec/storageCapacity").and_then(|c| c.as_bool()) == Some(true)
                };
                on(&old)
                    && !on(&new)
                    && volumes::pod_volumes().iter().any(|v| match &v.source {
                        VolumeSource::Csi(driver) => Some(driver.as_str()) == name,
                        _ => false,
                    })
            }
            _ => true,
        };
        Ok(if queue {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }
}

kws_plugin_sdk::export_plugin!(VolumeBinding);

#[cfg(test)]
mod tests;
