//! VolumeRestrictions: kube-scheduler v1.37's plugin
//! (`pkg/scheduler/framework/plugins/volumerestrictions`).
//!
//! - Disk conflicts: a pod may not share a node with another pod that
//!   mounts the same GCE persistent disk (unless both read only), AWS EBS
//!   volume, iSCSI target (unless both read only) or RBD image (an
//!   overlapping monitor, the same pool and image, unless both read only):
//!   "node(s) had no available disk".
//! - ReadWriteOncePod: a claim with that access mode already used by a pod
//!   on any node makes every node unschedulable for a second user.
//!
//! PreFilter skips pods with neither (most pods: their filter is never
//! called). The claims' users are counted by the host over every pod
//! (upstream's `IsPVCUsedByPods`), since no instance sees every pod.

use kws_plugin_sdk::host::volumes::{self, PodVolume, VolumeSource, WhatIfPods};
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NoArgs, NodeInfo,
    Plugin, Pod, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::collections::BTreeSet;

pub struct VolumeRestrictions;

pub const ERR_REASON_DISK_CONFLICT: &str = "node(s) had no available disk";
pub const ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT: &str = "node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod";

/// What PreFilter found (upstream's preFilterState), and the pod's
/// volumes that need the disk-conflict check.
#[derive(Clone, Debug, Default)]
struct PreFilterState {
    read_write_once_pod_claims: BTreeSet<String>,
    conflicting_claim_refs: i64,
    disks: Vec<PodVolume>,
    /// Preemption's what-if: the victims gone, for the disk check.
    what_if: WhatIfPods,
}

impl PreFilterState {
    fn update_with(&mut self, volumes: &[PodVolume], multiplier: i64) {
        let conflicts = volumes
            .iter()
            .filter(|v| {
                matches!(&v.source, VolumeSource::Claim(c) if self.read_write_once_pod_claims.contains(c))
            })
            .count() as i64;
        self.conflicting_claim_refs += multiplier * conflicts;
    }
}

fn needs_restrictions_check(volume: &PodVolume) -> bool {
    matches!(
        volume.source,
        VolumeSource::GcePersistentDisk(_)
            | VolumeSource::AwsElasticBlockStore(_)
            | VolumeSource::Rbd(_)
            | VolumeSource::Iscsi(_)
    )
}

/// Upstream's isVolumeConflict: does `volume` conflict with any of
/// `existing` (another pod's volumes)?
pub fn is_volume_conflict(volume: &PodVolume, existing: &[PodVolume]) -> bool {
    existing
        .iter()
        .any(|other| match (&volume.source, &other.source) {
            (VolumeSource::GcePersistentDisk(a), VolumeSource::GcePersistentDisk(b)) => {
                a.name == b.name && !(a.read_only && b.read_only)
            }
            (VolumeSource::AwsElasticBlockStore(a), VolumeSource::AwsElasticBlockStore(b)) => {
                a == b
            }
            (VolumeSource::Iscsi(a), VolumeSource::Iscsi(b)) => {
                a.name == b.name && !(a.read_only && b.read_only)
            }
            (VolumeSource::Rbd(a), VolumeSource::Rbd(b)) => {
                a.monitors.iter().any(|m| b.monitors.contains(m))
                    && a.pool == b.pool
                    && a.image == b.image
                    && !(a.read_only && b.read_only)
            }
            _ => false,
        })
}

fn not_found(name: &str) -> String {
    format!("persistentvolumeclaim {name:?} not found")
}

impl Plugin for VolumeRestrictions {
    const NAME: &'static str = "VolumeRestrictions";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::EnqueueExtensions,
    ];
    /// The host keeps the pods' volumes.
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(VolumeRestrictions)
    }

    fn pre_filter(&self, pod: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let pod_volumes = volumes::pod_volumes();
        if pod_volumes.is_empty() {
            return PreFilterResult::skip();
        }
        let mut claims = BTreeSet::new();
        for volume in &pod_volumes {
            let VolumeSource::Claim(name) = &volume.source else {
                continue;
            };
            let Some(claim) = volumes::claim(&pod.namespace, name) else {
                return PreFilterResult::rejected(Status::unresolvable(not_found(name)));
            };
            if claim.access_modes.iter().any(|m| m == "ReadWriteOncePod") {
                claims.insert(claim.name);
            }
        }
        let conflicting = claims
            .iter()
            .filter(|c| volumes::claim_users(&pod.namespace, c) > 0)
            .count() as i64;
        let disks: Vec<PodVolume> = pod_volumes
            .into_iter()
            .filter(needs_restrictions_check)
            .collect();
        if disks.is_empty() && conflicting == 0 {
            return PreFilterResult::skip();
        }
        state.write(PreFilterState {
            read_write_once_pod_claims: claims,
            conflicting_claim_refs: conflicting,
            disks,
            what_if: WhatIfPods::default(),
        });
        PreFilterResult::all()
    }

    fn add_pod(&self, state: &mut CycleState, _: &Pod, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read_mut::<PreFilterState>() else {
            return Status::error("cannot read \"PreFilterVolumeRestrictions\" from cycleState");
        };
        s.update_with(&volumes::volumes_of(&pod.uid), 1);
        s.what_if.add(node.id, &pod.namespace, &pod.uid);
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, _: &Pod, uid: &str, _: &NodeInfo) -> Status {
        let Some(s) = state.read_mut::<PreFilterState>() else {
            return Status::error("cannot read \"PreFilterVolumeRestrictions\" from cycleState");
        };
        s.update_with(&volumes::volumes_of(uid), -1);
        s.what_if.remove(uid);
        Status::success()
    }

    fn filter_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        let Some(s) = state.read::<PreFilterState>() else {
            let error =
                Status::error("cannot read \"PreFilterVolumeRestrictions\" from cycleState");
            return nodes.iter().map(|_| error.clone()).collect();
        };
        nodes
            .iter()
            .map(|node| {
                if !s.disks.is_empty() {
                    let placed = s.what_if.node_volumes(node.id);
                    let conflict = s
                        .disks
                        .iter()
                        .any(|d| placed.iter().any(|p| is_volume_conflict(d, &p.volumes)));
                    if conflict {
                        return Status::unschedulable(ERR_REASON_DISK_CONFLICT);
                    }
                }
                if s.conflicting_claim_refs > 0 {
                    return Status::unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT);
                }
                Status::success()
            })
            .collect()
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::Delete]).with_hint(),
            RegisteredEvent::on(EventResource::Node, &[ActionType::Add]),
            RegisteredEvent::on(EventResource::PersistentVolumeClaim, &[ActionType::Add])
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
        let pod_volumes = volumes::pod_volumes();
        let claims: BTreeSet<&str> = pod_volumes
            .iter()
            .filter_map(|v| match &v.source {
                VolumeSource::Claim(c) => Some(c.as_str()),
                _ => None,
            })
            .collect();
        let queue = match event.resource {
            EventResource::PersistentVolumeClaim => {
                let claim: serde_json::Value =
                    serde_json::from_str(new.ok_or("the event carries no claim")?)
                        .map_err(|e| e.to_string())?;
                claim["metadata"]["namespace"].as_str() == Some(pod.namespace.as_str())
                    && claim["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| claims.contains(n))
            }
            EventResource::AssignedPod => {
                let (namespace, _, deleted) =
                    volumes::of_pod_json(old.ok_or("the event carries no pod")?)?;
                namespace == pod.namespace
                    && (pod_volumes
                        .iter()
                        .filter(|v| needs_restrictions_check(v))
                        .any(|v| is_volume_conflict(v, &deleted))
                        || deleted.iter().any(|v| {
                            matches!(&v.source, VolumeSource::Claim(c) if claims.contains(c.as_str()))
                        }))
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

kws_plugin_sdk::export_plugin!(VolumeRestrictions);

#[cfg(test)]
mod tests;
