//! VolumeZone: kube-scheduler v1.37's plugin
//! (`pkg/scheduler/framework/plugins/volumezone`).
//!
//! A bound claim's PersistentVolume labelled with a zone or region
//! (`topology.kubernetes.io/zone`, `.../region`, or their
//! `failure-domain.beta` forms; `a__b` lists several) may only be used
//! from a node in one of them: "node(s) had no available volume zone".
//! Nodes without any of those labels pass. Claims of a
//! `WaitForFirstConsumer` class not bound yet are left to VolumeBinding.
//!
//! PreFilter skips pods with no such volume.

use kws_plugin_sdk::host::volumes::{self, VolumeSource};
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NoArgs, NodeInfo,
    Plugin, Pod, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::collections::BTreeSet;

pub struct VolumeZone;

pub const ERR_REASON_CONFLICT: &str = "node(s) had no available volume zone";

const BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
const BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";
const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
const TOPOLOGY_LABELS: [&str; 4] = [BETA_ZONE, BETA_REGION, ZONE, REGION];

fn to_ga_label(label: &str) -> &str {
    match label {
        BETA_REGION => REGION,
        BETA_ZONE => ZONE,
        other => other,
    }
}

/// One topology label of one of the pod's volumes.
#[derive(Clone, Debug, PartialEq)]
struct PvTopology {
    key: String,
    values: BTreeSet<String>,
}

#[derive(Clone, Debug)]
struct PodPvTopologies(Vec<PvTopology>);

/// Upstream's LabelZonesToSet: `a__b` names zones `a` and `b`; a value with
/// an empty zone is not read.
fn zones(value: &str) -> Option<BTreeSet<String>> {
    let set: BTreeSet<String> = value.split("__").map(str::to_string).collect();
    (!set.iter().any(String::is_empty)).then_some(set)
}

/// The topologies a PersistentVolume's labels name.
fn topologies(labels: &[(String, String)]) -> Vec<PvTopology> {
    TOPOLOGY_LABELS
        .iter()
        .filter_map(|key| {
            let value = kws_plugin_sdk::lookup(labels, key)?;
            Some(PvTopology {
                key: key.to_string(),
                values: zones(value)?,
            })
        })
        .collect()
}

/// Upstream's getPVbyPod: the topologies of the pod's bound claims.
fn pod_topologies(pod: &Pod) -> Result<Vec<PvTopology>, Status> {
    let mut result = Vec::new();
    for volume in volumes::pod_volumes() {
        let VolumeSource::Claim(name) = &volume.source else {
            continue;
        };
        if name.is_empty() {
            return Err(Status::unresolvable("PersistentVolumeClaim had no name"));
        }
        let Some(claim) = volumes::claim(&pod.namespace, name) else {
            return Err(Status::unresolvable(format!(
                "persistentvolumeclaim {name:?} not found"
            )));
        };
        if claim.volume_name.is_empty() {
            let class = claim.storage_class.unwrap_or_default();
            if class.is_empty() {
                return Err(Status::unresolvable(
                    "PersistentVolumeClaim had no pv name and storageClass name",
                ));
            }
            let Some(sc) = volumes::storage_class(&class) else {
                return Err(Status::unresolvable(format!(
                    "storageclass.storage.k8s.io {class:?} not found"
                )));
            };
            match sc.volume_binding_mode.as_deref() {
                None => {
                    return Err(Status::unresolvable(format!(
                        "VolumeBindingMode not set for StorageClass {class:?}"
                    )));
                }
                Some("WaitForFirstConsumer") => continue,
                Some(_) => return Err(Status::unresolvable("PersistentVolume had no name")),
            }
        }
        let Some(pv) = volumes::persistent_volume(&claim.volume_name) else {
            return Err(Status::unresolvable(format!(
                "persistentvolume {:?} not found",
                claim.volume_name
            )));
        };
        result.extend(topologies(&pv.labels));
    }
    Ok(result)
}

fn labels_of(json: &serde_json::Value) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = json
        .pointer("/metadata/labels")
        .and_then(|l| l.as_object())
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    labels.sort();
    labels
}

impl Plugin for VolumeZone {
    const NAME: &'static str = "VolumeZone";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::EnqueueExtensions,
    ];
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(VolumeZone)
    }

    fn pre_filter(&self, pod: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        match pod_topologies(pod) {
            Err(status) => PreFilterResult::rejected(status),
            Ok(t) if t.is_empty() => PreFilterResult::skip(),
            Ok(t) => {
                state.write(PodPvTopologies(t));
                PreFilterResult::all()
            }
        }
    }

    fn filter_all(
        &self,
        pod: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        let topologies = match state.read::<PodPvTopologies>() {
            Some(t) => t.0.clone(),
            None => match pod_topologies(pod) {
                Ok(t) => t,
                Err(status) => return nodes.iter().map(|_| status.clone()).collect(),
            },
        };
        nodes
            .iter()
            .map(|node| {
                if !TOPOLOGY_LABELS.iter().any(|l| node.label(l).is_some()) {
                    return Status::success();
                }
                let fits = topologies.iter().all(|t| {
                    node.label(&t.key)
                        .or_else(|| node.label(to_ga_label(&t.key)))
                        .is_some_and(|v| t.values.contains(v))
                });
                if fits {
                    Status::success()
                } else {
                    Status::unresolvable(ERR_REASON_CONFLICT)
                }
            })
            .collect()
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(EventResource::StorageClass, &[ActionType::Add]).with_hint(),
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeLabel],
            ),
            RegisteredEvent::on(
                EventResource::PersistentVolumeClaim,
                &[ActionType::Add, ActionType::Update],
            )
            .with_hint(),
            RegisteredEvent::on(
                EventResource::PersistentVolume,
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
        let new = parse(new.ok_or("the event carries no object")?)?;
        let queue = match event.resource {
            EventResource::StorageClass => {
                new["volumeBindingMode"].as_str() == Some("WaitForFirstConsumer")
            }
            EventResource::PersistentVolumeClaim => {
                new.pointer("/metadata/namespace").and_then(|n| n.as_str())
                    == Some(pod.namespace.as_str())
                    && volumes::pod_volumes().iter().any(|v| {
                        matches!(&v.source, VolumeSource::Claim(c)
                            if new.pointer("/metadata/name").and_then(|n| n.as_str()) == Some(c.as_str()))
                    })
            }
            EventResource::PersistentVolume => match old {
                None => true,
                Some(old) => {
                    topologies(&labels_of(&parse(old)?)) != topologies(&labels_of(&new))
                }
            },
            _ => true,
        };
        Ok(if queue {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }
}

kws_plugin_sdk::export_plugin!(VolumeZone);

#[cfg(test)]
mod tests;
