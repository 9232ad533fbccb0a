//! What the host offers a plugin: its log, and the full JSON of the objects
//! for fields the typed records lack.
//!
//! Natively (unit tests, benchmarks) there is no host: logs go to `tracing`
//! with target `kws_plugin`, and there is no apiserver JSON to return.

pub use crate::bindings::kws::scheduler::host::Level;
use crate::{NodeId, WaitingPod};

/// Writes to the host's log; the host tags it with the plugin's name.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::kws::scheduler::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    match level {
        Level::Trace => tracing::trace!(target: "kws_plugin", "{message}"),
        Level::Debug => tracing::debug!(target: "kws_plugin", "{message}"),
        Level::Info => tracing::info!(target: "kws_plugin", "{message}"),
        Level::Warn => tracing::warn!(target: "kws_plugin", "{message}"),
        Level::Error => tracing::error!(target: "kws_plugin", "{message}"),
    }
}

/// Ends the call in progress as a fault of this plugin, with `message` as
/// the error the host reports (the pod's event, the log): for a state the
/// plugin cannot go on from. `failurePolicy` then decides for the pod.
/// A `panic!` does the same with its message and location. Natively it
/// panics with `message`.
pub fn fail(message: &str) -> ! {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::kws::scheduler::host::fail(message);
        // The host traps the call; it never comes back here.
        std::process::abort()
    }
    #[cfg(not(target_arch = "wasm32"))]
    panic!("{message}")
}

/// Turns every panic of the component into [`fail`] with the panic's
/// message and location (without it the message would go to WASI stderr,
/// which the host does not grant, and the host would see a bare trap).
/// [`export_plugin!`](crate::export_plugin) calls it before `metadata` and
/// `configure`, the first calls an instance gets; natively it does
/// nothing, so tests keep the default hook.
pub fn report_panics() {
    #[cfg(target_arch = "wasm32")]
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                let message = info
                    .payload_as_str()
                    .unwrap_or("panic with a non-text payload");
                match info.location() {
                    Some(at) => fail(&format!("{message} (at {}:{})", at.file(), at.line())),
                    None => fail(message),
                }
            }))
        });
    }
}

pub fn debug(message: &str) {
    log(Level::Debug, message)
}

pub fn info(message: &str) {
    log(Level::Info, message)
}

pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// The pod being scheduled, as the apiserver's JSON. `None` natively.
pub fn pod_json() -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return Some(crate::bindings::kws::scheduler::host::pod_json());
    #[cfg(not(target_arch = "wasm32"))]
    None
}

/// A node's full JSON object. `None` for an unknown id, and natively.
pub fn node_json(node: NodeId) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::node_json(node);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = node;
        None
    }
}

/// The pods of this plugin's profile held at permit. Empty natively.
pub fn waiting_pods() -> Vec<WaitingPod> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::waiting_pods();
    #[cfg(not(target_arch = "wasm32"))]
    Vec::new()
}

/// Allows a pod this plugin held at permit; false when no such pod waits
/// (and natively).
pub fn allow_waiting_pod(uid: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::allow_waiting_pod(uid);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = uid;
        false
    }
}

/// Rejects a pod held at permit: it is unreserved and requeued with
/// `message`; false when no such pod waits (and natively).
pub fn reject_waiting_pod(uid: &str, message: &str) -> bool {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::kws::scheduler::host::reject_waiting_pod(uid, message);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (uid, message);
        false
    }
}

/// The `preemption` interface: what a PostFilter plugin that preempts
/// (kube-scheduler's DefaultPreemption) asks of the host during its
/// `post-filter` call. Natively (unit tests) it goes to a [`Preemption`]
/// installed with [`preemption::install`]; without one there are no
/// victims and no budgets, and what-if filters fail.
pub mod preemption {
    pub use crate::bindings::kws::scheduler::preemption::{PodDisruptionBudget, Victim};
    use crate::{NodeId, Status};

    /// A native stand-in for the host, for unit tests of a preemption
    /// plugin.
    pub trait Preemption {
        fn potential_victims(&self, node: NodeId) -> Vec<Victim>;
        fn nodes_with_victims(&self) -> Vec<NodeId>;
        fn filter_without(&self, node: NodeId, removed: &[String]) -> Status;
        fn pod_disruption_budgets(&self) -> Vec<PodDisruptionBudget>;
        fn preempt(&self, node: NodeId, victims: &[String]) -> Result<(), String>;
    }

    #[cfg(not(target_arch = "wasm32"))]
    std::thread_local! {
        static NATIVE: std::cell::RefCell<Option<Box<dyn Preemption>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Installs the native stand-in for this thread (replacing any).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn install(host: Box<dyn Preemption>) {
        NATIVE.with_borrow_mut(|native| *native = Some(host));
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn native<T>(f: impl FnOnce(&dyn Preemption) -> T) -> Option<T> {
        NATIVE.with_borrow(|native| native.as_deref().map(f))
    }

    /// The pods on `node` that the pod being scheduled may preempt.
    pub fn potential_victims(node: NodeId) -> Vec<Victim> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::preemption::potential_victims(node);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.potential_victims(node)).unwrap_or_default()
    }

    /// The nodes rejected as `unschedulable` that have a potential victim.
    pub fn nodes_with_victims() -> Vec<NodeId> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::preemption::nodes_with_victims();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.nodes_with_victims()).unwrap_or_default()
    }

    /// The profile's filters on `node` with the pods `removed` gone.
    pub fn filter_without(node: NodeId, removed: &[String]) -> Status {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::preemption::filter_without(node, removed);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.filter_without(node, removed))
            .unwrap_or_else(|| Status::error("no host to run filters natively"))
    }

    /// Every PodDisruptionBudget in the cluster.
    pub fn pod_disruption_budgets() -> Vec<PodDisruptionBudget> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::preemption::pod_disruption_budgets();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.pod_disruption_budgets()).unwrap_or_default()
    }

    /// Tells the host to evict `victims` (uids) to make room on `node`.
    pub fn preempt(node: NodeId, victims: &[String]) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::preemption::preempt(node, victims);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.preempt(node, victims))
            .unwrap_or_else(|| Err("no host to preempt natively".to_string()))
    }
}

/// The `pod-groups` interface: the PodGroup (KEP-4671) of the pod of the
/// call in progress, with its members counted by the host. Natively (unit
/// tests) it answers what [`pod_groups::install`] set for the thread.
pub mod pod_groups {
    pub use crate::bindings::kws::scheduler::pod_groups::{PodGroup, SchedulingPolicy};

    #[cfg(not(target_arch = "wasm32"))]
    std::thread_local! {
        static NATIVE: std::cell::RefCell<Option<PodGroup>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Sets what [`current`] answers natively on this thread.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn install(group: Option<PodGroup>) {
        NATIVE.with_borrow_mut(|native| *native = group);
    }

    /// The group of the pod of the call in progress; `None` when it names
    /// none.
    pub fn current() -> Option<PodGroup> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::pod_groups::current();
        #[cfg(not(target_arch = "wasm32"))]
        NATIVE.with_borrow(|native| native.clone())
    }
}

/// The `volumes` interface: the storage objects the host watches, the
/// volumes of the pods, and VolumeBinding's assume cache (see
/// `wit/scheduler.wit`). Natively (unit tests) it goes to a [`Volumes`]
/// installed with [`volumes::install`]; without one there are no volumes
/// and nothing to look up.
///
/// [`Volumes`]: volumes::Volumes
pub mod volumes {
    use crate::NodeId;
    pub use crate::bindings::kws::scheduler::volumes::{
        Claim, ClaimRef, CsiNode, CsiSource, Disk, PersistentVolume, PlacedVolumes, PodVolume,
        RbdImage, StorageCapacity, StorageClass, VolumeAttachment, VolumeSource,
    };

    /// A native stand-in for the host, for unit tests of volume plugins.
    /// Every method answers "nothing" unless the test says otherwise.
    pub trait Volumes {
        fn pod_volumes(&self) -> Vec<PodVolume> {
            Vec::new()
        }
        fn node_volumes(&self, _node: NodeId) -> Vec<PlacedVolumes> {
            Vec::new()
        }
        fn volumes_of(&self, _uid: &str) -> Vec<PodVolume> {
            Vec::new()
        }
        fn claim(&self, _namespace: &str, _name: &str) -> Option<Claim> {
            None
        }
        fn claim_users(&self, _namespace: &str, _name: &str) -> u32 {
            0
        }
        fn persistent_volume(&self, _name: &str) -> Option<PersistentVolume> {
            None
        }
        fn volumes_of_class(&self, _class: &str) -> Vec<PersistentVolume> {
            Vec::new()
        }
        fn storage_class(&self, _name: &str) -> Option<StorageClass> {
            None
        }
        fn csi_node(&self, _node: &str) -> Option<CsiNode> {
            None
        }
        fn csi_driver_json(&self, _name: &str) -> Option<String> {
            None
        }
        fn volume_attachments(&self, _node: &str) -> Vec<VolumeAttachment> {
            Vec::new()
        }
        fn storage_capacities(&self, _class: &str) -> Vec<StorageCapacity> {
            Vec::new()
        }
        fn assume(
            &self,
            _node: &str,
            _bindings: &[(String, String)],
            _provisions: &[String],
        ) -> Result<bool, String> {
            Err("no host to assume natively".to_string())
        }
        fn revert(&self) {}
        fn bind(&self, _timeout_seconds: u32) -> Result<(), String> {
            Err("no host to bind natively".to_string())
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    std::thread_local! {
        static NATIVE: std::cell::RefCell<Option<Box<dyn Volumes>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Installs the native stand-in for this thread (replacing any).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn install(host: Box<dyn Volumes>) {
        NATIVE.with_borrow_mut(|native| *native = Some(host));
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn native<T: Default>(f: impl FnOnce(&dyn Volumes) -> T) -> T {
        NATIVE.with_borrow(|native| native.as_deref().map(f).unwrap_or_default())
    }

    #[cfg(target_arch = "wasm32")]
    use crate::bindings::kws::scheduler::volumes as wit;

    /// The volumes of the pod of the call in progress.
    pub fn pod_volumes() -> Vec<PodVolume> {
        #[cfg(target_arch = "wasm32")]
        return wit::pod_volumes();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.pod_volumes())
    }

    /// The volumes of each pod with any on `node` (bound or assumed).
    pub fn node_volumes(node: NodeId) -> Vec<PlacedVolumes> {
        #[cfg(target_arch = "wasm32")]
        return wit::node_volumes(node);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.node_volumes(node))
    }

    /// The volumes of a placed pod, by uid.
    pub fn volumes_of(uid: &str) -> Vec<PodVolume> {
        #[cfg(target_arch = "wasm32")]
        return wit::volumes_of(uid);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.volumes_of(uid))
    }

    /// The pods a what-if cycle (preemption's dry run) counts as gone
    /// from, or placed on, a node, for a plugin that reads the pods'
    /// volumes through [`node_volumes`] rather than from its copy of the
    /// node: upstream's filters read the what-if copy of the NodeInfo,
    /// whose pods the host's index does not know of. Kept in the cycle
    /// state by `remove_pod` and `add_pod`.
    #[derive(Clone, Debug, Default)]
    pub struct WhatIfPods {
        removed: std::collections::BTreeSet<String>,
        added: Vec<(NodeId, PlacedVolumes)>,
    }

    impl WhatIfPods {
        /// The pod with `uid` counts as gone.
        pub fn remove(&mut self, uid: &str) {
            self.added.retain(|(_, placed)| placed.uid != uid);
            self.removed.insert(uid.to_string());
        }

        /// The pod with `uid` counts as placed on `node`, with the volumes
        /// the host holds for it ([`volumes_of`]).
        pub fn add(&mut self, node: NodeId, namespace: &str, uid: &str) {
            self.removed.remove(uid);
            let volumes = volumes_of(uid);
            if !volumes.is_empty() {
                self.added.push((
                    node,
                    PlacedVolumes {
                        uid: uid.to_string(),
                        namespace: namespace.to_string(),
                        volumes,
                    },
                ));
            }
        }

        /// [`node_volumes`] of `node` without the pods removed, with the
        /// pods added there.
        pub fn node_volumes(&self, node: NodeId) -> Vec<PlacedVolumes> {
            let mut placed = node_volumes(node);
            if !self.removed.is_empty() {
                placed.retain(|p| !self.removed.contains(&p.uid));
            }
            placed.extend(
                self.added
                    .iter()
                    .filter(|(on, _)| *on == node)
                    .map(|(_, p)| p.clone()),
            );
            placed
        }
    }

    /// A PersistentVolumeClaim (its latest version, assumed or not).
    pub fn claim(namespace: &str, name: &str) -> Option<Claim> {
        #[cfg(target_arch = "wasm32")]
        return wit::get_claim(namespace, name);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.claim(namespace, name))
    }

    /// How many placed pods use the claim.
    pub fn claim_users(namespace: &str, name: &str) -> u32 {
        #[cfg(target_arch = "wasm32")]
        return wit::claim_users(namespace, name);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.claim_users(namespace, name))
    }

    pub fn persistent_volume(name: &str) -> Option<PersistentVolume> {
        #[cfg(target_arch = "wasm32")]
        return wit::get_persistent_volume(name);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.persistent_volume(name))
    }

    /// The PersistentVolumes of a storage class (`""`: of none).
    pub fn volumes_of_class(class: &str) -> Vec<PersistentVolume> {
        #[cfg(target_arch = "wasm32")]
        return wit::volumes_of_class(class);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.volumes_of_class(class))
    }

    pub fn storage_class(name: &str) -> Option<StorageClass> {
        #[cfg(target_arch = "wasm32")]
        return wit::get_storage_class(name);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.storage_class(name))
    }

    /// The CSINode of the node named `node`.
    pub fn csi_node(node: &str) -> Option<CsiNode> {
        #[cfg(target_arch = "wasm32")]
        return wit::get_csi_node(node);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.csi_node(node))
    }

    pub fn csi_driver_json(name: &str) -> Option<String> {
        #[cfg(target_arch = "wasm32")]
        return wit::csi_driver_json(name);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.csi_driver_json(name))
    }

    /// The VolumeAttachments of the node named `node` (NodeVolumeLimits
    /// counts the CSI volumes attached there).
    pub fn volume_attachments(node: &str) -> Vec<VolumeAttachment> {
        #[cfg(target_arch = "wasm32")]
        return wit::volume_attachments(node);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.volume_attachments(node))
    }

    /// The CSIStorageCapacities of a storage class (VolumeBinding's
    /// capacity check for dynamic provisioning).
    pub fn storage_capacities(class: &str) -> Vec<StorageCapacity> {
        #[cfg(target_arch = "wasm32")]
        return wit::storage_capacities(class);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.storage_capacities(class))
    }

    /// VolumeBinding's Reserve: assume the bindings and provisions for the
    /// pod on `node`; true when nothing is left to bind.
    pub fn assume(
        node: &str,
        bindings: &[(String, String)],
        provisions: &[String],
    ) -> Result<bool, String> {
        #[cfg(target_arch = "wasm32")]
        return wit::assume(node, bindings, provisions);
        #[cfg(not(target_arch = "wasm32"))]
        NATIVE.with_borrow(|native| match native.as_deref() {
            Some(h) => h.assume(node, bindings, provisions),
            None => Err("no host to assume natively".to_string()),
        })
    }

    /// Unreserve: drop what [`assume`] assumed for the pod.
    pub fn revert() {
        #[cfg(target_arch = "wasm32")]
        wit::revert();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.revert())
    }

    /// The namespace, name and volumes of a pod's JSON (the objects
    /// queueing hints get), as the host's `pod-volumes` tells them apart.
    pub fn of_pod_json(json: &str) -> Result<(String, String, Vec<PodVolume>), String> {
        let pod: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let text = |v: &serde_json::Value, at: &str| {
            v.pointer(at)
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let read_only = |v: &serde_json::Value| v["readOnly"].as_bool().unwrap_or(false);
        let name = text(&pod, "/metadata/name");
        let volumes = pod
            .pointer("/spec/volumes")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .map(|v| {
                let volume = text(v, "/name");
                let source = if let Some(claim) = v.get("persistentVolumeClaim") {
                    VolumeSource::Claim(text(claim, "/claimName"))
                } else if v.get("ephemeral").is_some() {
                    VolumeSource::Ephemeral(format!("{name}-{volume}"))
                } else if let Some(pd) = v.get("gcePersistentDisk") {
                    VolumeSource::GcePersistentDisk(Disk {
                        name: text(pd, "/pdName"),
                        read_only: read_only(pd),
                    })
                } else if let Some(ebs) = v.get("awsElasticBlockStore") {
                    VolumeSource::AwsElasticBlockStore(text(ebs, "/volumeID"))
                } else if let Some(iscsi) = v.get("iscsi") {
                    VolumeSource::Iscsi(Disk {
                        name: text(iscsi, "/iqn"),
                        read_only: read_only(iscsi),
                    })
                } else if let Some(rbd) = v.get("rbd") {
                    VolumeSource::Rbd(RbdImage {
                        monitors: rbd["monitors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|m| m.as_str().map(str::to_string))
                            .collect(),
                        pool: rbd["pool"].as_str().unwrap_or("rbd").to_string(),
                        image: text(rbd, "/image"),
                        read_only: read_only(rbd),
                    })
                } else if let Some(csi) = v.get("csi") {
                    VolumeSource::Csi(text(csi, "/driver"))
                } else {
                    VolumeSource::Other
                };
                PodVolume {
                    name: volume,
                    source,
                }
            })
            .collect();
        Ok((text(&pod, "/metadata/namespace"), name, volumes))
    }

    /// PreBind: the host writes the bindings [`assume`] assumed; once the
    /// plugin's `pre_bind` returns success, it waits (up to
    /// `timeout_seconds`) for the PersistentVolume controller to bind them.
    pub fn bind(timeout_seconds: u32) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return wit::bind(timeout_seconds);
        #[cfg(not(target_arch = "wasm32"))]
        NATIVE.with_borrow(|native| match native.as_deref() {
            Some(h) => h.bind(timeout_seconds),
            None => Err("no host to bind natively".to_string()),
        })
    }
}

/// The `resource-claims` interface: dynamic resource allocation's objects
/// and the allocations the host holds in flight (kube-scheduler's DRA
/// manager). Natively (unit tests) it goes to a [`ResourceClaims`]
/// installed with [`resource_claims::install`]; without one the pod has
/// no claims and the cluster no classes or slices.
pub mod resource_claims {
    pub use crate::bindings::kws::scheduler::resource_claims::{DeviceId, PodClaim};

    /// A native stand-in for the host, for unit tests of a DRA plugin.
    pub trait ResourceClaims {
        fn pod_claims(&self) -> Result<Vec<PodClaim>, String>;
        fn device_classes(&self) -> Vec<String>;
        fn resource_slices(&self) -> Vec<String>;
        /// A stand-in that does not count its changes answers a new number
        /// at every call, so that a plugin never keeps a stale copy.
        fn slices_generation(&self) -> u64 {
            static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        }
        fn allocated_devices(&self) -> Vec<DeviceId>;
        fn assume(&self, claim_uid: &str, allocation: &str) -> Result<(), String>;
        fn unassume(&self, claim_uid: &str);
        fn bind_claim(&self, claim_uid: &str) -> Result<(), String>;
        fn deallocate(&self, claim_uid: &str) -> Result<(), String>;
    }

    #[cfg(not(target_arch = "wasm32"))]
    std::thread_local! {
        static NATIVE: std::cell::RefCell<Option<std::rc::Rc<dyn ResourceClaims>>> =
            const { std::cell::RefCell::new(None) };
    }

    /// Installs the native stand-in for this thread (replacing any).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn install(host: std::rc::Rc<dyn ResourceClaims>) {
        NATIVE.with_borrow_mut(|native| *native = Some(host));
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn native<T>(f: impl FnOnce(&dyn ResourceClaims) -> T) -> Option<T> {
        let host = NATIVE.with_borrow(|native| native.clone());
        host.map(|h| f(&*h))
    }

    /// The claims of the pod of the call, or why one cannot be used yet.
    pub fn pod_claims() -> Result<Vec<PodClaim>, String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::pod_claims();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.pod_claims()).unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Every DeviceClass (JSON).
    pub fn device_classes() -> Vec<String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::device_classes();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.device_classes()).unwrap_or_default()
    }

    /// Every ResourceSlice (JSON).
    pub fn resource_slices() -> Vec<String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::resource_slices();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.resource_slices()).unwrap_or_default()
    }

    /// Changes whenever a DeviceClass or ResourceSlice does: what
    /// [`device_classes`] and [`resource_slices`] returned can be kept
    /// while it stays the same. Read it before them.
    pub fn slices_generation() -> u64 {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::slices_generation();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.slices_generation()).unwrap_or_default()
    }

    /// Every device allocated or in flight.
    pub fn allocated_devices() -> Vec<DeviceId> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::allocated_devices();
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.allocated_devices()).unwrap_or_default()
    }

    /// Holds `allocation` (JSON) for the claim with this uid.
    pub fn assume(claim_uid: &str, allocation: &str) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::assume(claim_uid, allocation);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.assume(claim_uid, allocation))
            .unwrap_or_else(|| Err("no host holds claims natively".to_string()))
    }

    /// Drops what [`assume`] held for the claim.
    pub fn unassume(claim_uid: &str) {
        #[cfg(target_arch = "wasm32")]
        crate::bindings::kws::scheduler::resource_claims::unassume(claim_uid);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.unassume(claim_uid));
    }

    /// Writes the claim's allocation and reserves it for the pod.
    pub fn bind_claim(claim_uid: &str) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::bind_claim(claim_uid);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.bind_claim(claim_uid))
            .unwrap_or_else(|| Err("no host writes claims natively".to_string()))
    }

    /// Clears the claim's allocation and reservations.
    pub fn deallocate(claim_uid: &str) -> Result<(), String> {
        #[cfg(target_arch = "wasm32")]
        return crate::bindings::kws::scheduler::resource_claims::deallocate(claim_uid);
        #[cfg(not(target_arch = "wasm32"))]
        native(|h| h.deallocate(claim_uid))
            .unwrap_or_else(|| Err("no host writes claims natively".to_string()))
    }
}
