//! What a plugin instance may call: the `kws:scheduler/host` interface, and
//! nothing else. Per-store state lives here.

use super::Limits;
use crate::cache::Snapshot;
use crate::framework::WaitingPods;
use crate::resource_claims::ResourceClaims;
use crate::wit::{self, Level, PodDisruptionBudget, Victim, volumes};
use k8s_openapi::api::core::v1 as core;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// What a guest's `host.fail` call traps with: its message, which the pool
/// finds under the trap to report the fault as the plugin put it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GuestFailure(pub String);

/// The state of one plugin instance's store.
pub struct HostState {
    /// The plugin's name, to tag its log lines.
    pub plugin: Arc<str>,
    pub memory: MemoryCap,
    pub call_timeout: Duration,
    /// The pod of the call in progress (for `pod-json`).
    pub pod: Option<Arc<core::Pod>>,
    /// The cycle's nodes (for `node-json`).
    pub snapshot: Option<Arc<Snapshot>>,
    /// The pods of the plugin's profile held at permit.
    pub waiting: Option<Arc<WaitingPods>>,
    /// What `pod-groups.current` answers: the group of the pod of the call
    /// in progress, counted from the cache when the call began.
    pub pod_group: Option<wit::PodGroup>,
    /// What the `volumes` imports answer from: the cycle's snapshot's
    /// storage objects and pod volumes (`None`: there are none).
    pub volumes: Option<Arc<crate::volumes::Volumes>>,
    /// What the `resource-claims` imports answer from and write to.
    pub resource_claims: Option<Arc<ResourceClaims>>,
    /// What the `preemption` imports answer from: set for the length of a
    /// post-filter call only.
    pub preemption: Option<Box<dyn PreemptionHost>>,
    /// Time the call in progress spent in host calls that run other
    /// plugins, not yet added to its deadline (see `new_store`).
    pub host_time: Duration,
}

/// The host side of the `preemption` interface, for one post-filter call
/// (the framework's what-if filters, the cluster's PodDisruptionBudgets,
/// and the choice the plugin makes).
pub trait PreemptionHost: Send {
    /// The pods of `node` that the pod being scheduled may preempt.
    fn potential_victims(&self, node: wit::NodeId) -> Vec<Victim>;
    /// The nodes that have a potential victim.
    fn nodes_with_victims(&self) -> Vec<wit::NodeId>;
    /// The profile's filters on `node` without the pods `removed`.
    fn filter_without(&mut self, node: wit::NodeId, removed: &[String]) -> wit::Status;
    fn pod_disruption_budgets(&self) -> Vec<PodDisruptionBudget>;
    /// Records the plugin's choice; an error for anything not a potential
    /// victim of `node`.
    fn preempt(&mut self, node: wit::NodeId, victims: Vec<String>) -> Result<(), String>;
    /// Back to the concrete type after the call, to read the choice.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

impl HostState {
    pub fn new(plugin: Arc<str>, limits: Limits) -> HostState {
        HostState {
            plugin,
            memory: MemoryCap {
                limit_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                peak_bytes: 0,
            },
            call_timeout: limits.call_timeout,
            pod: None,
            snapshot: None,
            waiting: None,
            pod_group: None,
            volumes: None,
            resource_claims: None,
            preemption: None,
            host_time: Duration::ZERO,
        }
    }

    fn log(&self, level: Level, message: &str) {
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn pod_json(&self) -> String {
        self.pod
            .as_ref()
            .and_then(|p| serde_json::to_string(&**p).ok())
            .unwrap_or_default()
    }

    fn node_json(&self, node: wit::NodeId) -> Option<String> {
        let snapshot = self.snapshot.as_ref()?;
        serde_json::to_string(&*snapshot.node(node)?.object).ok()
    }
}

impl wit::kws::scheduler::types::Host for HostState {}

impl wit::kws::scheduler::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        HostState::log(self, level, &message)
    }

    fn fail(&mut self, message: String) -> wasmtime::Result<()> {
        Err(wasmtime::Error::new(GuestFailure(message)))
    }

    fn pod_json(&mut self) -> String {
        HostState::pod_json(self)
    }

    fn node_json(&mut self, node: wit::NodeId) -> Option<String> {
        HostState::node_json(self, node)
    }

    fn waiting_pods(&mut self) -> Vec<wit::WaitingPod> {
        self.waiting.as_ref().map(|w| w.list()).unwrap_or_default()
    }

    fn allow_waiting_pod(&mut self, uid: String) -> bool {
        let plugin = self.plugin.clone();
        self.waiting
            .as_ref()
            .is_some_and(|w| w.allow(&uid, &plugin))
    }

    fn reject_waiting_pod(&mut self, uid: String, message: String) -> bool {
        let plugin = self.plugin.clone();
        self.waiting
            .as_ref()
            .is_some_and(|w| w.reject(&uid, &plugin, message))
    }
}

/// Outside a post-filter call there is nothing to preempt: no victims, a
/// what-if filter that fails, no budgets, no choice to record.
impl wit::kws::scheduler::preemption::Host for HostState {
    fn potential_victims(&mut self, node: wit::NodeId) -> Vec<Victim> {
        self.preemption
            .as_ref()
            .map(|p| p.potential_victims(node))
            .unwrap_or_default()
    }

    fn nodes_with_victims(&mut self) -> Vec<wit::NodeId> {
        self.preemption
            .as_ref()
            .map(|p| p.nodes_with_victims())
            .unwrap_or_default()
    }

    fn filter_without(&mut self, node: wit::NodeId, removed: Vec<String>) -> wit::Status {
        match self.preemption.as_mut() {
            Some(p) => {
                let started = std::time::Instant::now();
                let status = p.filter_without(node, &removed);
                self.host_time += started.elapsed();
                status
            }
            None => wit::Status {
                code: wit::Code::Error,
                reasons: vec![NOT_IN_POST_FILTER.to_string()],
            },
        }
    }

    fn pod_disruption_budgets(&mut self) -> Vec<PodDisruptionBudget> {
        self.preemption
            .as_ref()
            .map(|p| p.pod_disruption_budgets())
            .unwrap_or_default()
    }

    fn preempt(&mut self, node: wit::NodeId, victims: Vec<String>) -> Result<(), String> {
        match self.preemption.as_mut() {
            Some(p) => p.preempt(node, victims),
            None => Err(NOT_IN_POST_FILTER.to_string()),
        }
    }
}

impl wit::kws::scheduler::pod_groups::Host for HostState {
    fn current(&mut self) -> Option<wit::PodGroup> {
        self.pod_group.clone()
    }
}

/// The `volumes` interface: lookups in the host's storage objects, and
/// VolumeBinding's assume, revert and bind for the pod of the call.
impl wit::kws::scheduler::volumes::Host for HostState {
    fn pod_volumes(&mut self) -> Vec<volumes::PodVolume> {
        self.pod
            .as_ref()
            .map(|p| crate::volumes::records::pod_volumes(p))
            .unwrap_or_default()
    }

    fn node_volumes(&mut self, node: wit::NodeId) -> Vec<volumes::PlacedVolumes> {
        let (Some(store), Some(snapshot)) = (&self.volumes, &self.snapshot) else {
            return Vec::new();
        };
        snapshot
            .node(node)
            .map(|n| store.node_volumes(&n.name))
            .unwrap_or_default()
    }

    fn volumes_of(&mut self, uid: String) -> Vec<volumes::PodVolume> {
        self.volumes
            .as_ref()
            .map(|v| v.volumes_of(&uid))
            .unwrap_or_default()
    }

    fn get_claim(&mut self, namespace: String, name: String) -> Option<volumes::Claim> {
        self.volumes.as_ref()?.claim(&namespace, &name)
    }

    fn claim_users(&mut self, namespace: String, name: String) -> u32 {
        self.volumes
            .as_ref()
            .map(|v| v.claim_users(&namespace, &name))
            .unwrap_or(0)
    }

    fn get_persistent_volume(&mut self, name: String) -> Option<volumes::PersistentVolume> {
        self.volumes.as_ref()?.persistent_volume(&name)
    }

    fn volumes_of_class(&mut self, class: String) -> Vec<volumes::PersistentVolume> {
        self.volumes
            .as_ref()
            .map(|v| v.volumes_of_class(&class))
            .unwrap_or_default()
    }

    fn get_storage_class(&mut self, name: String) -> Option<volumes::StorageClass> {
        self.volumes.as_ref()?.storage_class(&name)
    }

    fn get_csi_node(&mut self, node: String) -> Option<volumes::CsiNode> {
        self.volumes.as_ref()?.csi_node(&node)
    }

    fn csi_driver_json(&mut self, name: String) -> Option<String> {
        self.volumes.as_ref()?.csi_driver_json(&name)
    }

    fn volume_attachments(&mut self, node: String) -> Vec<volumes::VolumeAttachment> {
        self.volumes
            .as_ref()
            .map(|v| v.volume_attachments(&node))
            .unwrap_or_default()
    }

    fn storage_capacities(&mut self, class: String) -> Vec<volumes::StorageCapacity> {
        self.volumes
            .as_ref()
            .map(|v| v.storage_capacities(&class))
            .unwrap_or_default()
    }

    fn assume(
        &mut self,
        node: String,
        bindings: Vec<(String, String)>,
        provisions: Vec<String>,
    ) -> Result<bool, String> {
        let (Some(store), Some(pod)) = (&self.volumes, &self.pod) else {
            return Err("the host keeps no volumes".to_string());
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let waits = crate::volumes::records::pod_volumes(pod)
            .into_iter()
            .filter_map(|v| match v.source {
                volumes::VolumeSource::Claim(name) | volumes::VolumeSource::Ephemeral(name) => {
                    Some(name)
                }
                _ => None,
            })
            .collect();
        store
            .assume(uid, namespace, &node, &bindings, &provisions, waits)
            .map_err(|e| e.to_string())
    }

    fn revert(&mut self) {
        if let (Some(store), Some(pod)) = (&self.volumes, &self.pod) {
            store.revert(pod.metadata.uid.as_deref().unwrap_or_default());
        }
    }

    fn bind(&mut self, timeout_seconds: u32) -> Result<(), String> {
        let (Some(store), Some(pod)) = (&self.volumes, &self.pod) else {
            return Err("the host keeps no volumes".to_string());
        };
        let started = std::time::Instant::now();
        let result = store.bind(
            pod.metadata.uid.as_deref().unwrap_or_default(),
            Duration::from_secs(timeout_seconds.into()),
        );
        // The apiserver's time, not the plugin's.
        self.host_time += started.elapsed();
        result.map_err(|e| e.to_string())
    }
}

/// Without the host's DRA store (a plugin run outside a scheduler) there
/// are no claims, classes or slices, and nothing can be held or written.
impl wit::kws::scheduler::resource_claims::Host for HostState {
    fn pod_claims(&mut self) -> Result<Vec<wit::PodClaim>, String> {
        let (Some(claims), Some(pod)) = (&self.resource_claims, &self.pod) else {
            return Ok(Vec::new());
        };
        Ok(claims
            .pod_claims(pod)?
            .into_iter()
            .map(|c| wit::PodClaim {
                name: c.name,
                claim: c.claim.to_string(),
                in_flight: c.in_flight,
            })
            .collect())
    }

    fn device_classes(&mut self) -> Vec<String> {
        self.resource_claims
            .as_ref()
            .map(|c| c.classes())
            .unwrap_or_default()
    }

    fn resource_slices(&mut self) -> Vec<String> {
        self.resource_claims
            .as_ref()
            .map(|c| c.slices())
            .unwrap_or_default()
    }

    fn slices_generation(&mut self) -> u64 {
        self.resource_claims
            .as_ref()
            .map_or(0, |c| c.slices_generation())
    }

    fn allocated_devices(&mut self) -> Vec<wit::DeviceId> {
        self.resource_claims
            .as_ref()
            .map(|c| c.allocated_devices())
            .unwrap_or_default()
            .into_iter()
            .map(|d| wit::DeviceId {
                driver: d.driver,
                pool: d.pool,
                device: d.device,
            })
            .collect()
    }

    fn assume(&mut self, claim_uid: String, allocation: String) -> Result<(), String> {
        let (Some(claims), Some(pod)) = (&self.resource_claims, &self.pod) else {
            return Err(NO_CLAIMS.to_string());
        };
        let pod = pod.metadata.uid.as_deref().unwrap_or_default();
        claims.assume(&claim_uid, &allocation, pod)
    }

    fn unassume(&mut self, claim_uid: String) {
        if let (Some(claims), Some(pod)) = (&self.resource_claims, &self.pod) {
            claims.unassume(&claim_uid, pod.metadata.uid.as_deref().unwrap_or_default());
        }
    }

    /// The write waits on the apiserver: that time is given back to the
    /// call's deadline, as a what-if filter's is.
    fn bind_claim(&mut self, claim_uid: String) -> Result<(), String> {
        let (Some(claims), Some(pod)) = (&self.resource_claims, &self.pod) else {
            return Err(NO_CLAIMS.to_string());
        };
        let started = std::time::Instant::now();
        let written = claims.bind_claim(&claim_uid, pod);
        self.host_time += started.elapsed();
        written
    }

    fn deallocate(&mut self, claim_uid: String) -> Result<(), String> {
        let (Some(claims), Some(pod)) = (&self.resource_claims, &self.pod) else {
            return Err(NO_CLAIMS.to_string());
        };
        let started = std::time::Instant::now();
        let written =
            claims.deallocate(&claim_uid, pod.metadata.uid.as_deref().unwrap_or_default());
        self.host_time += started.elapsed();
        written
    }
}

const NO_CLAIMS: &str = "this host keeps no resource claims";

const NOT_IN_POST_FILTER: &str = "preemption is only possible during a post-filter call";

impl wit::v0_2::types::Host for HostState {}

impl wit::v0_2::kws::scheduler::host::Host for HostState {
    fn log(&mut self, level: wit::v0_2::kws::scheduler::host::Level, message: String) {
        use wit::v0_2::kws::scheduler::host::Level as Old;
        let level = match level {
            Old::Trace => Level::Trace,
            Old::Debug => Level::Debug,
            Old::Info => Level::Info,
            Old::Warn => Level::Warn,
            Old::Error => Level::Error,
        };
        HostState::log(self, level, &message)
    }

    fn pod_json(&mut self) -> String {
        HostState::pod_json(self)
    }

    fn node_json(&mut self, node: wit::NodeId) -> Option<String> {
        HostState::node_json(self, node)
    }
}

/// Caps an instance's linear memory. Growing past the cap traps with
/// [`MemoryLimitHit`], so the host can tell this fault from others.
pub struct MemoryCap {
    pub limit_bytes: usize,
    /// The largest size the instance's memory has grown to.
    pub peak_bytes: usize,
}

/// The trap a [`MemoryCap`] raises.
#[derive(Debug, thiserror::Error)]
#[error("memory would grow to {desired} bytes, past the limit of {limit} bytes")]
pub struct MemoryLimitHit {
    pub desired: usize,
    pub limit: usize,
}

/// Table elements an instance may have: generous for real code, a bound
/// for runaway growth.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit_bytes {
            return Err(wasmtime::Error::new(MemoryLimitHit {
                desired,
                limit: self.limit_bytes,
            }));
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
