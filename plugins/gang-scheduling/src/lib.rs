//! GangScheduling: kube-scheduler v1.37's plugin for KEP-4671's PodGroups
//! (`pkg/scheduler/framework/plugins/gangscheduling`), all or nothing for
//! the pods of a group whose policy is `gang` with `minCount`.
//!
//! As upstream, pod by pod:
//!
//! - PreEnqueue keeps a pod that names a group
//!   (`spec.schedulingGroup.podGroupName`) out of the queue until the
//!   PodGroup exists and, for a gang, until `minCount` of its pods do.
//! - Permit holds each reserved pod of a gang until `minCount` of them are
//!   reserved or bound; the pod that completes the quorum allows the others,
//!   and they are bound together. A pod that waits five minutes is
//!   rejected, and its room given back.
//! - Queueing hints: a pod of the same group added, the group added, or its
//!   `minCount` lowered, may let a held pod in.
//!
//! Upstream's v1.37 schedules a gang in one pod-group cycle, where a gang
//! whose remaining pods cannot reach `minCount` fails at once
//! (`PlacementFeasible`; its pods read "pod group is unschedulable,
//! minCount (8) cannot be satisfied: 6 scheduled, 1 remaining"). Here each pod has its own cycle, so PostFilter does that
//! check when a pod of a gang fits no node: if the pods of the group that
//! are scheduled or still to try cannot reach `minCount`, the gang cannot
//! complete now, and the pods waiting at Permit are rejected with that
//! message (naming the group) rather than holding their nodes for five
//! minutes. They are tried again after their backoff, as the failed pod is
//! once the cluster changes.

use kws_plugin_sdk::host::pod_groups::{PodGroup, SchedulingPolicy};
use kws_plugin_sdk::host::{self, pod_groups};
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NoArgs, NodeInfo,
    PermitResult, Plugin, Pod, PostFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::time::Duration;

/// How long the pods of a gang wait at Permit for the quorum
/// (upstream's `permitTimeoutDuration`).
pub const PERMIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

pub struct GangScheduling;

/// Upstream's PreEnqueue message while the group's `minCount` pods do not
/// all exist.
pub const WAITING_FOR_PODS: &str =
    "waiting for minCount pods from a gang to appear in scheduling queue";

/// Upstream's Permit message while the quorum is not reserved.
pub const WAITING_FOR_QUORUM: &str = "waiting for minCount pods from a gang to be scheduled";

fn min_count(group: &PodGroup) -> Option<u32> {
    match group.policy {
        Some(SchedulingPolicy::Gang(min)) => Some(u32::try_from(min).unwrap_or(0)),
        _ => None,
    }
}

/// `spec.schedulingGroup.podGroupName` and the namespace of a pod's JSON.
fn group_of_pod(json: &str) -> Option<(String, String)> {
    let pod: serde_json::Value = serde_json::from_str(json).ok()?;
    let name = pod
        .pointer("/spec/schedulingGroup/podGroupName")?
        .as_str()?;
    let namespace = pod.pointer("/metadata/namespace")?.as_str()?;
    Some((namespace.to_string(), name.to_string()))
}

/// The namespace, name and `gang.minCount` of a PodGroup's JSON.
fn pod_group(json: &str) -> Option<(String, String, Option<i64>)> {
    let group: serde_json::Value = serde_json::from_str(json).ok()?;
    let namespace = group.pointer("/metadata/namespace")?.as_str()?;
    let name = group.pointer("/metadata/name")?.as_str()?;
    let min = group
        .pointer("/spec/schedulingPolicy/gang/minCount")
        .and_then(|m| m.as_i64());
    Some((namespace.to_string(), name.to_string(), min))
}

fn same_group(group: &PodGroup, other: &(String, String)) -> bool {
    (&group.namespace, &group.name) == (&other.0, &other.1)
}

impl Plugin for GangScheduling {
    const NAME: &'static str = "GangScheduling";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreEnqueue,
        ExtensionPoint::PostFilter,
        ExtensionPoint::Permit,
        ExtensionPoint::EnqueueExtensions,
    ];
    /// The host counts the group's pods.
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(GangScheduling)
    }

    fn pre_enqueue(&self, _: &Pod) -> Status {
        let Some(group) = pod_groups::current() else {
            return Status::success();
        };
        if group.policy.is_none() {
            // The pod is unschedulable until its PodGroup object is created.
            return Status::unresolvable(format!(
                "waiting for pods's pod group {:?} to appear in scheduling queue",
                group.name
            ));
        }
        match min_count(&group) {
            Some(min) if group.all_pods < min => Status::unresolvable(WAITING_FOR_PODS),
            _ => Status::success(),
        }
    }

    fn post_filter(
        &self,
        _: &Pod,
        _: &Cluster,
        _: &[(&NodeInfo, &Status)],
        _: &mut CycleState,
    ) -> PostFilterResult {
        let Some(group) = pod_groups::current() else {
            return PostFilterResult::unschedulable(Vec::new());
        };
        let Some(min) = min_count(&group) else {
            return PostFilterResult::unschedulable(Vec::new());
        };
        let scheduled = group.scheduled_pods;
        // The group's other pods not on a node yet: this one fits nowhere.
        let remaining = group.all_pods.saturating_sub(scheduled + 1);
        if scheduled + remaining >= min {
            return PostFilterResult::unschedulable(Vec::new());
        }
        // Upstream's words for a gang that failed its cycle, with the
        // group's name.
        let message = format!(
            "pod group {:?} is unschedulable, minCount ({min}) cannot be satisfied: {scheduled} scheduled, {remaining} remaining",
            group.name
        );
        for uid in &group.assumed_pods {
            host::reject_waiting_pod(uid, &message);
        }
        PostFilterResult::unschedulable(vec![message])
    }

    fn permit(&self, _: &Pod, _: &NodeInfo, _: &mut CycleState) -> PermitResult {
        let Some(group) = pod_groups::current() else {
            return PermitResult::allow();
        };
        if group.policy.is_none() {
            return PermitResult {
                status: Status::error(format!(
                    "failed to get podGroup {}/{}: podgroup.scheduling.k8s.io {:?} not found",
                    group.namespace, group.name, group.name
                )),
                timeout_ms: 0,
            };
        }
        let Some(min) = min_count(&group) else {
            return PermitResult::allow();
        };
        if group.scheduled_pods < min {
            let mut wait = PermitResult::wait(PERMIT_TIMEOUT);
            wait.status.reasons = vec![WAITING_FOR_QUORUM.to_string()];
            return wait;
        }
        // The quorum is met: this pod goes, and so do the others waiting.
        for uid in &group.assumed_pods {
            host::allow_waiting_pod(uid);
        }
        PermitResult::allow()
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            // A pod (unscheduled or bound) added may complete a gang; the
            // group a pod names is immutable, so updates do not matter.
            RegisteredEvent::on(EventResource::UnscheduledPod, &[ActionType::Add]).with_hint(),
            RegisteredEvent::on(EventResource::AssignedPod, &[ActionType::Add]).with_hint(),
            // The group created, or its minCount lowered.
            RegisteredEvent::on(EventResource::PodGroup, &[ActionType::Add]).with_hint(),
            RegisteredEvent::on(EventResource::PodGroup, &[ActionType::Update]).with_hint(),
        ]
    }

    fn queueing_hint(
        &self,
        _: &Pod,
        _: &Cluster,
        event: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let Some(group) = pod_groups::current() else {
            return Ok(QueueingHint::Skip);
        };
        let new = new.ok_or("the event carries no object")?;
        let helps = match event.resource {
            EventResource::UnscheduledPod | EventResource::AssignedPod => {
                group_of_pod(new).is_some_and(|added| same_group(&group, &added))
            }
            EventResource::PodGroup => {
                let (namespace, name, min) = pod_group(new).ok_or("not a PodGroup")?;
                let same = same_group(&group, &(namespace, name));
                match (event.action, old.and_then(pod_group)) {
                    (ActionType::Update, Some((_, _, old_min))) => {
                        // Only a lower minCount of a gang may let pods in.
                        same && matches!((old_min, min), (Some(o), Some(n)) if n < o)
                    }
                    _ => same,
                }
            }
            _ => false,
        };
        Ok(if helps {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }
}

kws_plugin_sdk::export_plugin!(GangScheduling);

#[cfg(test)]
mod tests;
