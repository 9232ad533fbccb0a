//! The apiserver's defaulting on create, applied before validation as the
//! apiserver applies it: the namespace, scheduler name, requests from
//! limits, port protocols and host ports, `matchLabelKeys` merged into
//! selectors, a ReplicationController's selector from its template, and a
//! node's allocatable from its capacity. Admission (priority, default
//! tolerations) needs the whole file and is in [`super::manifest`].

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, ReplicationController};
use k8s_openapi::api::resource::v1::ResourceClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use std::collections::BTreeMap;

/// The scheduler a pod gets when it names none.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// What the apiserver does to every object's metadata on create: owner
/// references given twice (the same reference, word for word) are kept
/// once.
pub fn meta(meta: &mut ObjectMeta) {
    if let Some(owners) = &mut meta.owner_references {
        let mut kept = Vec::with_capacity(owners.len());
        for owner in owners.drain(..) {
            if !kept.contains(&owner) {
                kept.push(owner);
            }
        }
        *owners = kept;
    }
}

/// Objects without a namespace are created in `default`.
pub fn namespace(meta: &mut ObjectMeta) {
    if meta.namespace.as_deref().unwrap_or_default().is_empty() {
        meta.namespace = Some("default".to_string());
    }
}

/// A ResourceClaim's defaults (`SetDefaults_ExactDeviceRequest`): a
/// request's `allocationMode` is `ExactCount`, and such a request's
/// `count` 1.
pub fn resource_claim(claim: &mut ResourceClaim) {
    namespace(&mut claim.metadata);
    let requests = claim
        .spec
        .as_mut()
        .and_then(|s| s.devices.as_mut())
        .and_then(|d| d.requests.as_mut());
    for exactly in requests
        .into_iter()
        .flatten()
        .filter_map(|r| r.exactly.as_mut())
    {
        let mode = exactly
            .allocation_mode
            .get_or_insert_with(|| "ExactCount".to_string());
        if mode == "ExactCount" && exactly.count.unwrap_or(0) == 0 {
            exactly.count = Some(1);
        }
    }
}

/// The ReplicationController defaulting: a missing or empty selector (and
/// missing labels) take the template's labels.
pub fn replication_controller(rc: &mut ReplicationController) {
    namespace(&mut rc.metadata);
    let Some(spec) = &mut rc.spec else {
        return;
    };
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) && !template_labels.is_empty() {
        spec.selector = Some(template_labels.clone());
    }
    if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) && !template_labels.is_empty() {
        rc.metadata.labels = Some(template_labels);
    }
}

/// A pod's defaults: namespace, scheduler name, requests from limits, TCP
/// ports (host ports from container ports on the host network), and the
/// create-time merge of label keys.
pub fn pod(pod: &mut Pod) {
    namespace(&mut pod.metadata);
    let spec = pod.spec.get_or_insert_with(Default::default);
    if spec
        .scheduler_name
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        spec.scheduler_name = Some(DEFAULT_SCHEDULER_NAME.to_string());
    }
    let host_network = spec.host_network == Some(true);
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for container in containers {
        if let Some(resources) = &mut container.resources
            && let Some(limits) = &resources.limits
        {
            let requests = resources.requests.get_or_insert_with(BTreeMap::new);
            for (name, limit) in limits {
                requests
                    .entry(name.clone())
                    .or_insert_with(|| limit.clone());
            }
        }
        for port in container.ports.iter_mut().flatten() {
            if port.protocol.as_deref().unwrap_or_default().is_empty() {
                port.protocol = Some("TCP".to_string());
            }
            if host_network && port.host_port.unwrap_or(0) == 0 {
                port.host_port = Some(port.container_port);
            }
        }
    }
    merge_label_keys(pod);
}

/// The pod strategy's create-time merge (features MatchLabelKeysInPodAffinity
/// and MatchLabelKeysInPodTopologySpreadSelectorMerge, both on in v1.37):
/// for each key of a pod affinity term's `matchLabelKeys`
/// (`mismatchLabelKeys`) that the pod has a label for, `key In (value)`
/// (`NotIn`) is appended to the term's label selector; likewise
/// `matchLabelKeys` of spread constraints. kube-scheduler's InterPodAffinity
/// reads only the merged selector, so a pod that skipped this would be
/// placed as if the keys were not there. A missing selector stays missing
/// (it selects nothing either way). The keys stay in the spec, as on the
/// apiserver.
fn merge_label_keys(pod: &mut Pod) {
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let append = |selector: &mut LabelSelector, keys: &Option<Vec<String>>, operator: &str| {
        for key in keys.iter().flatten() {
            if let Some(value) = labels.get(key) {
                selector
                    .match_expressions
                    .get_or_insert_with(Vec::new)
                    .push(LabelSelectorRequirement {
                        key: key.clone(),
                        operator: operator.to_string(),
                        values: Some(vec![value.clone()]),
                    });
            }
        }
    };
    let merge_term = |term: &mut PodAffinityTerm| {
        if let Some(selector) = &mut term.label_selector {
            append(selector, &term.match_label_keys, "In");
            append(selector, &term.mismatch_label_keys, "NotIn");
        }
    };
    let Some(spec) = &mut pod.spec else {
        return;
    };
    if let Some(affinity) = &mut spec.affinity {
        let affinity_terms = affinity.pod_affinity.iter_mut().flat_map(|a| {
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .chain(
                    a.preferred_during_scheduling_ignored_during_execution
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.pod_affinity_term),
                )
        });
        let anti_affinity_terms = affinity.pod_anti_affinity.iter_mut().flat_map(|a| {
            a.required_during_scheduling_ignored_during_execution
                .iter_mut()
                .flatten()
                .chain(
                    a.preferred_during_scheduling_ignored_during_execution
                        .iter_mut()
                        .flatten()
                        .map(|w| &mut w.pod_affinity_term),
                )
        });
        affinity_terms
            .chain(anti_affinity_terms)
            .for_each(merge_term);
    }
    for constraint in spec.topology_spread_constraints.iter_mut().flatten() {
        if let Some(selector) = &mut constraint.label_selector {
            append(selector, &constraint.match_label_keys, "In");
        }
    }
}

/// A node's allocatable defaults to its capacity.
pub fn node(node: &mut Node) {
    if let Some(status) = &mut node.status
        && status.allocatable.is_none()
    {
        status.allocatable = status.capacity.clone();
    }
}
