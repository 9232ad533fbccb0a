//! NodeVolumeLimits: kube-scheduler v1.37's CSI volume limits plugin
//! (`pkg/scheduler/framework/plugins/nodevolumelimits`).
//!
//! A node's CSINode gives, per CSI driver, how many volumes it can attach
//! (`allocatable.count`). A pod whose new volumes, added to the unique
//! volumes the pods on the node already use, would pass a driver's count
//! is refused: "node(s) exceed max volume count". A volume is counted by
//! driver and handle: a bound claim's PersistentVolume (CSI, or in-tree
//! migrated to CSI), an unbound claim's StorageClass provisioner, an
//! inline in-tree volume migrated to CSI. The volumes a VolumeAttachment
//! attaches to the node count too (a CSI PersistentVolume, by the
//! attachment's attacher), even when no pod there uses them any more (a
//! detach in progress still takes the slot), but a volume an existing pod
//! uses is counted once. With VolumeLimitScaling (beta, on in v1.37), a
//! driver whose CSIDriver sets `preventPodSchedulingIfMissing` must be on
//! the node's CSINode.
//!
//! PreFilter skips pods with no claim, ephemeral or migratable inline
//! volume: most pods never reach the filter.

use kws_plugin_sdk::host::volumes::{self, CsiNode, PodVolume, VolumeSource, WhatIfPods};
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NoArgs, NodeInfo,
    Plugin, Pod, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::collections::BTreeMap;

pub struct NodeVolumeLimits;

pub const ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED: &str = "node(s) exceed max volume count";

/// Upstream's stand-in handle prefix for a volume not provisioned yet
/// (random per scheduler there; any fixed text counts the same).
const UNBOUND_PREFIX: &str = "kws-unbound";

/// The in-tree plugins CSI migration covers (upstream's isCSIMigrationOn
/// is true for these on a node with a CSINode), with their CSI drivers.
fn migrated_driver(plugin: &str) -> Option<&'static str> {
    Some(match plugin {
        "kubernetes.io/aws-ebs" => "ebs.csi.aws.com",
        "kubernetes.io/portworx-volume" => "pxd.portworx.com",
        "kubernetes.io/gce-pd" => "pd.csi.storage.gke.io",
        "kubernetes.io/azure-disk" => "disk.csi.azure.com",
        "kubernetes.io/cinder" => "cinder.csi.openstack.org",
        _ => return None,
    })
}

/// The CSI driver CSI migration gives an inline in-tree volume.
fn inline_driver(volume: &PodVolume) -> Option<&'static str> {
    match volume.source {
        VolumeSource::GcePersistentDisk(_) => Some("pd.csi.storage.gke.io"),
        VolumeSource::AwsElasticBlockStore(_) => Some("ebs.csi.aws.com"),
        _ => None,
    }
}

fn is_inline_migratable(volume: &PodVolume) -> bool {
    inline_driver(volume).is_some()
}

/// The pod's volumes, kept by PreFilter for Filter, and the pods a
/// what-if cycle (preemption's dry run) counts as gone or added.
#[derive(Clone, Debug)]
struct PreFilterState {
    volumes: Vec<PodVolume>,
    what_if: WhatIfPods,
}

/// `driver/handle` of each attachable volume of a pod, with its driver
/// (upstream's filterAttachableVolumes). `Err` only for the pod being
/// scheduled (`new_pod`): a claim it names that does not exist.
fn attachable(
    namespace: &str,
    pod_volumes: &[PodVolume],
    csi_node: Option<&CsiNode>,
    new_pod: bool,
    result: &mut BTreeMap<String, String>,
) -> Result<(), Status> {
    for volume in pod_volumes {
        let claim_name = match &volume.source {
            VolumeSource::Claim(name) | VolumeSource::Ephemeral(name) => name,
            VolumeSource::GcePersistentDisk(disk) => {
                if csi_node.is_some() {
                    let driver = "pd.csi.storage.gke.io";
                    let handle =
                        format!("projects/UNSPECIFIED/zones/UNSPECIFIED/disks/{}", disk.name);
                    result.insert(format!("{driver}/{handle}"), driver.to_string());
                }
                continue;
            }
            VolumeSource::AwsElasticBlockStore(id) => {
                if csi_node.is_some() {
                    let driver = "ebs.csi.aws.com";
                    let handle = id.rsplit('/').next().unwrap_or(id);
                    result.insert(format!("{driver}/{handle}"), driver.to_string());
                }
                continue;
            }
            _ => continue,
        };
        if claim_name.is_empty() {
            return Err(Status::error("PersistentVolumeClaim had no name"));
        }
        let Some(claim) = volumes::claim(namespace, claim_name) else {
            if new_pod {
                return Err(Status::unresolvable(format!(
                    "looking up PVC {namespace}/{claim_name}: persistentvolumeclaim {claim_name:?} not found"
                )));
            }
            continue;
        };
        let (driver, handle) = driver_info(csi_node, &claim);
        if driver.is_empty() || handle.is_empty() {
            continue;
        }
        result.insert(format!("{driver}/{handle}"), driver);
    }
    Ok(())
}

/// Upstream's getCSIDriverInfo: the driver and handle of a claim's
/// volume, or of the volume its class would provision.
fn driver_info(csi_node: Option<&CsiNode>, claim: &volumes::Claim) -> (String, String) {
    if !claim.volume_name.is_empty()
        && let Some(pv) = volumes::persistent_volume(&claim.volume_name)
    {
        if let Some(csi) = pv.csi {
            return (csi.driver, csi.volume_handle);
        }
        return match (&pv.in_tree, csi_node) {
            (Some((plugin, id)), Some(_)) => match migrated_driver(plugin) {
                Some(driver) => (driver.to_string(), id.clone()),
                None => (String::new(), String::new()),
            },
            _ => (String::new(), String::new()),
        };
    }
    from_storage_class(csi_node, claim)
}

fn from_storage_class(csi_node: Option<&CsiNode>, claim: &volumes::Claim) -> (String, String) {
    let class = claim.storage_class.as_deref().unwrap_or_default();
    if class.is_empty() {
        return (String::new(), String::new());
    }
    let Some(class) = volumes::storage_class(class) else {
        return (String::new(), String::new());
    };
    let handle = format!("{UNBOUND_PREFIX}-{}/{}", claim.namespace, claim.name);
    if let Some(driver) = migrated_driver(&class.provisioner) {
        return match csi_node {
            Some(_) => (driver.to_string(), handle),
            None => (String::new(), String::new()),
        };
    }
    (class.provisioner, handle)
}

/// Upstream's getNodeVolumeAttachmentInfo: `driver/handle` of each CSI
/// PersistentVolume a VolumeAttachment attaches to `node`, with its
/// attacher. Attachments without an attacher or a PersistentVolume, of a
/// volume gone or not CSI, are not counted.
fn attached_by_attachments(node: &str) -> BTreeMap<String, String> {
    let mut result = BTreeMap::new();
    for attachment in volumes::volume_attachments(node) {
        if attachment.attacher.is_empty() {
            continue;
        }
        let Some(pv_name) = &attachment.persistent_volume_name else {
            continue;
        };
        let Some(csi) = volumes::persistent_volume(pv_name).and_then(|pv| pv.csi) else {
            continue;
        };
        result.insert(
            format!("{}/{}", attachment.attacher, csi.volume_handle),
            attachment.attacher,
        );
    }
    result
}

/// With VolumeLimitScaling: a driver that asks for it must be on the node.
fn driver_installed(driver: &str, csi_node: Option<&CsiNode>) -> bool {
    let Some(json) = volumes::csi_driver_json(driver) else {
        return true;
    };
    let prevent = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .and_then(|d| d.pointer("/spec/preventPodSchedulingIfMissing")?.as_bool())
        .unwrap_or(false);
    !prevent || csi_node.is_some_and(|n| n.drivers.iter().any(|(name, _)| name == driver))
}

impl NodeVolumeLimits {
    fn filter_node(
        &self,
        pod: &Pod,
        pod_volumes: &[PodVolume],
        what_if: &WhatIfPods,
        node: &NodeInfo,
    ) -> Status {
        let csi_node = volumes::csi_node(node.name());
        let mut new_volumes = BTreeMap::new();
        if let Err(status) = attachable(
            &pod.namespace,
            pod_volumes,
            csi_node.as_ref(),
            true,
            &mut new_volumes,
        ) {
            return status;
        }
        if new_volumes.is_empty() {
            return Status::success();
        }
        for driver in new_volumes.values() {
            if !driver_installed(driver, csi_node.as_ref()) {
                return Status::unschedulable(format!(
                    "{driver} CSI driver is not installed on the node"
                ));
            }
        }
        let limits: BTreeMap<&str, i64> = csi_node
            .iter()
            .flat_map(|n| &n.drivers)
            .filter_map(|(name, count)| count.map(|c| (name.as_str(), i64::from(c))))
            .collect();
        if limits.is_empty() {
            return Status::success();
        }
        let mut attached = BTreeMap::new();
        for placed in what_if.node_volumes(node.id) {
            // Existing pods' missing claims are skipped, never an error.
            let _ = attachable(
                &placed.namespace,
                &placed.volumes,
                csi_node.as_ref(),
                false,
                &mut attached,
            );
        }
        let mut attached_count: BTreeMap<String, i64> = BTreeMap::new();
        for (unique, driver) in &attached {
            new_volumes.remove(unique);
            *attached_count.entry(driver.clone()).or_default() += 1;
        }
        for (unique, driver) in attached_by_attachments(node.name()) {
            // A volume an existing pod uses is counted once.
            if !attached.contains_key(&unique) {
                *attached_count.entry(driver).or_default() += 1;
            }
        }
        let mut new_count: BTreeMap<&str, i64> = BTreeMap::new();
        for driver in new_volumes.values() {
            *new_count.entry(driver.as_str()).or_default() += 1;
        }
        for (driver, count) in new_count {
            if let Some(limit) = limits.get(driver) {
                let current = attached_count.get(driver).copied().unwrap_or(0);
                if current + count > *limit {
                    return Status::unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED);
                }
            }
        }
        Status::success()
    }
}

impl Plugin for NodeVolumeLimits {
    const NAME: &'static str = "NodeVolumeLimits";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::EnqueueExtensions,
    ];
    /// The host keeps the pods' volumes.
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(NodeVolumeLimits)
    }

    fn pre_filter(&self, _: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let pod_volumes = volumes::pod_volumes();
        let counted = pod_volumes.iter().any(|v| {
            matches!(
                v.source,
                VolumeSource::Claim(_) | VolumeSource::Ephemeral(_)
            ) || is_inline_migratable(v)
        });
        if !counted {
            return PreFilterResult::skip();
        }
        state.write(PreFilterState {
            volumes: pod_volumes,
            what_if: WhatIfPods::default(),
        });
        PreFilterResult::all()
    }

    /// Upstream's CSILimits has no AddPod or RemovePod: its Filter reads
    /// the what-if copy of the node's pods. Ours reads the host's index,
    /// so the what-if's pods are kept here for Filter to leave out or add.
    fn add_pod(&self, state: &mut CycleState, _: &Pod, pod: &Pod, node: &NodeInfo) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.what_if.add(node.id, &pod.namespace, &pod.uid);
        }
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, _: &Pod, uid: &str, _: &NodeInfo) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>() {
            s.what_if.remove(uid);
        }
        Status::success()
    }

    fn filter_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        let (pod_volumes, what_if) = match state.read::<PreFilterState>() {
            Some(s) => (s.volumes.clone(), s.what_if.clone()),
            None => (volumes::pod_volumes(), WhatIfPods::default()),
        };
        nodes
            .iter()
            .map(|node| {
                if pod_volumes.is_empty() {
                    Status::success()
                } else {
                    self.filter_node(pod, &pod_volumes, &what_if, node)
                }
            })
            .collect()
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::CsiNode, &[ActionType::Add]),
            RegisteredEvent::on(EventResource::CsiNode, &[ActionType::Update]).with_hint(),
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::Delete]).with_hint(),
            RegisteredEvent::on(EventResource::PersistentVolumeClaim, &[ActionType::Add])
                .with_hint(),
            RegisteredEvent::on(EventResource::VolumeAttachment, &[ActionType::Delete]).with_hint(),
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
        let parse = |json: Option<&str>| -> Result<serde_json::Value, String> {
            serde_json::from_str(json.ok_or("the event carries no object")?)
                .map_err(|e| e.to_string())
        };
        let queue = match event.resource {
            EventResource::CsiNode => {
                let limits = |node: &serde_json::Value| -> BTreeMap<String, i64> {
                    node.pointer("/spec/drivers")
                        .and_then(|d| d.as_array())
                        .into_iter()
                        .flatten()
                        .map(|d| {
                            let name = d["name"].as_str().unwrap_or_default().to_string();
                            (
                                name,
                                d.pointer("/allocatable/count")
                                    .and_then(|c| c.as_i64())
                                    .unwrap_or(0),
                            )
                        })
                        .collect()
                };
                let (before, after) = (limits(&parse(old)?), limits(&parse(new)?));
                after
                    .iter()
                    .any(|(name, count)| *count > before.get(name).copied().unwrap_or(0))
            }
            EventResource::AssignedPod => {
                let deleted = parse(old)?;
                let (_, _, volumes) = volumes::of_pod_json(old.unwrap_or_default())?;
                let placed = deleted
                    .pointer("/spec/nodeName")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| !n.is_empty())
                    || deleted
                        .pointer("/status/nominatedNodeName")
                        .and_then(|n| n.as_str())
                        .is_some_and(|n| !n.is_empty());
                placed
                    && volumes.iter().any(|v| {
                        matches!(
                            v.source,
                            VolumeSource::Claim(_) | VolumeSource::Ephemeral(_)
                        ) || is_inline_migratable(v)
                    })
            }
            EventResource::PersistentVolumeClaim => {
                let claim = parse(new)?;
                claim
                    .pointer("/metadata/namespace")
                    .and_then(|n| n.as_str())
                    == Some(pod.namespace.as_str())
                    && volumes::pod_volumes().iter().any(|v| match &v.source {
                        VolumeSource::Claim(name) | VolumeSource::Ephemeral(name) => {
                            claim.pointer("/metadata/name").and_then(|n| n.as_str())
                                == Some(name.as_str())
                        }
                        _ => false,
                    })
            }
            // Upstream's isSchedulableAfterVolumeAttachmentDeleted: a pod
            // with a claim may have waited for the slot; an inline volume
            // only for its own driver's.
            EventResource::VolumeAttachment => {
                let deleted = parse(old)?;
                let attacher = deleted
                    .pointer("/spec/attacher")
                    .and_then(|a| a.as_str())
                    .unwrap_or_default();
                volumes::pod_volumes().iter().any(|v| {
                    matches!(v.source, VolumeSource::Claim(_)) || inline_driver(v) == Some(attacher)
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

kws_plugin_sdk::export_plugin!(NodeVolumeLimits);

#[cfg(test)]
mod tests;
