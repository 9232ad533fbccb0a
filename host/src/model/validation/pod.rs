//! `ValidatePodCreate` for the parts of a pod the scheduler reads or that a
//! cluster file commonly holds: containers, ports and resources, node
//! selection and affinity, topology spread, tolerations, scheduling gates
//! and the names a pod refers to.

use super::meta::{NameFormat, label_selector_errors, labels, object_meta};
use super::names::{dns1123_label, dns1123_subdomain, label_value, port_name, qualified_name};
use super::resources;
use super::{
    FieldError, duplicate, each_invalid, forbidden, invalid, invalid_bare, not_supported, required,
};
use k8s_openapi::api::core::v1::{
    Affinity, Container, NodeSelector, NodeSelectorTerm, Pod, PodAffinityTerm, PodSpec, Toleration,
    TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::HashSet;

pub const TAINT_EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const RESTART_POLICIES: &[&str] = &["Always", "Never", "OnFailure"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["FallbackToLogsOnError", "File"];
const PREEMPTION_POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];
const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];
const SPREAD_ACTIONS: &[&str] = &["DoNotSchedule", "ScheduleAnyway"];
const INCLUSION_POLICIES: &[&str] = &["Honor", "Ignore"];
const NODE_SELECTOR_OPERATORS: &[&str] = &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"];

/// A pod after defaulting, as `ValidatePodCreate` checks it.
pub fn pod(pod: &Pod) -> Vec<FieldError> {
    let mut errors = object_meta(&pod.metadata, true, NameFormat::Subdomain);
    let Some(spec) = &pod.spec else {
        errors.push(required("spec.containers", ""));
        return errors;
    };
    errors.extend(pod_spec(spec));
    errors
}

fn pod_spec(spec: &PodSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(containers(spec));
    if !spec
        .ephemeral_containers
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        errors.push(forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    for (path, value, supported) in [
        ("spec.restartPolicy", &spec.restart_policy, RESTART_POLICIES),
        ("spec.dnsPolicy", &spec.dns_policy, DNS_POLICIES),
        (
            "spec.preemptionPolicy",
            &spec.preemption_policy,
            PREEMPTION_POLICIES,
        ),
    ] {
        errors.extend(one_of_defaulted(path, value.as_deref(), supported));
    }
    if spec.dns_policy.as_deref() == Some("None") {
        match &spec.dns_config {
            None => errors.push(required(
                "spec.dnsConfig",
                "must provide `dnsConfig` when `dnsPolicy` is None",
            )),
            Some(config) if config.nameservers.as_deref().unwrap_or_default().is_empty() => errors
                .push(required(
                    "spec.dnsConfig.nameservers",
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )),
            Some(_) => {}
        }
    }
    errors.extend(labels("spec.nodeSelector", spec.node_selector.as_ref()));
    if let Some(affinity) = &spec.affinity {
        errors.extend(affinity_errors(affinity));
    }
    let mut gates = HashSet::new();
    for (i, gate) in spec.scheduling_gates.iter().flatten().enumerate() {
        let path = format!("spec.schedulingGates[{i}]");
        errors.extend(each_invalid(&path, &gate.name, qualified_name(&gate.name)));
        if !gates.insert(gate.name.as_str()) {
            errors.push(duplicate(path, &gate.name));
        }
    }
    errors.extend(topology_spread(
        spec.topology_spread_constraints
            .as_deref()
            .unwrap_or_default(),
    ));
    for (path, value, format) in [
        (
            "spec.nodeName",
            &spec.node_name,
            dns1123_subdomain as fn(&str) -> Vec<String>,
        ),
        (
            "spec.serviceAccountName",
            &spec.service_account_name,
            dns1123_subdomain,
        ),
        (
            "spec.priorityClassName",
            &spec.priority_class_name,
            dns1123_subdomain,
        ),
        ("spec.hostname", &spec.hostname, dns1123_label),
        ("spec.subdomain", &spec.subdomain, dns1123_label),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            errors.extend(each_invalid(path, value, format(value)));
        }
    }
    if let Some(seconds) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&seconds)
    {
        errors.push(invalid_bare(
            "spec.activeDeadlineSeconds",
            seconds,
            format!("must be between 1 and {}, inclusive", i32::MAX),
        ));
    }
    for (i, toleration) in spec.tolerations.iter().flatten().enumerate() {
        errors.extend(toleration_errors(
            &format!("spec.tolerations[{i}]"),
            toleration,
        ));
    }
    errors.extend(resources::overhead("spec.overhead", spec.overhead.as_ref()));
    if !spec.node_name.as_deref().unwrap_or_default().is_empty()
        && !spec
            .scheduling_gates
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        errors.push(forbidden(
            "spec.nodeName",
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errors
}

/// `value`, when set, is one of `supported`.
fn one_of(
    path: &str,
    value: Option<&str>,
    supported: &'static [&'static str],
) -> Option<FieldError> {
    value
        .filter(|v| !supported.contains(v))
        .map(|v| not_supported(path, v, supported))
}

/// [`one_of`] for a field the apiserver defaults when it is empty.
fn one_of_defaulted(
    path: &str,
    value: Option<&str>,
    supported: &'static [&'static str],
) -> Option<FieldError> {
    one_of(path, value.filter(|v| !v.is_empty()), supported)
}

/// Init and regular containers: names unique across both, images, ports
/// (host ports unique within each list) and resources.
fn containers(spec: &PodSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if spec.containers.is_empty() {
        errors.push(required("spec.containers", ""));
    }
    let mut names = HashSet::new();
    let groups = [
        (
            "spec.initContainers",
            spec.init_containers.as_deref().unwrap_or_default(),
        ),
        ("spec.containers", spec.containers.as_slice()),
    ];
    for (group, list) in groups {
        let mut host_ports = HashSet::new();
        for (i, container) in list.iter().enumerate() {
            let path = format!("{group}[{i}]");
            errors.extend(container_errors(&path, container));
            if !container.name.is_empty() && !names.insert(container.name.as_str()) {
                errors.push(duplicate(format!("{path}.name"), &container.name));
            }
            for (p, port) in container.ports.iter().flatten().enumerate() {
                let host_port = port.host_port.unwrap_or(0);
                if host_port == 0 {
                    continue;
                }
                let key = format!(
                    "{}/{}/{host_port}",
                    port.protocol.as_deref().unwrap_or_default(),
                    port.host_ip.as_deref().unwrap_or_default()
                );
                if !host_ports.insert(key.clone()) {
                    errors.push(duplicate(format!("{path}.ports[{p}].hostPort"), &key));
                }
                if spec.host_network == Some(true)
                    && group == "spec.containers"
                    && host_port != port.container_port
                {
                    errors.push(invalid_bare(
                        format!("{path}.ports[{p}].hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errors
}

fn container_errors(path: &str, container: &Container) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name_path = format!("{path}.name");
    if container.name.is_empty() {
        errors.push(required(&name_path, ""));
    } else {
        errors.extend(each_invalid(
            &name_path,
            &container.name,
            dns1123_label(&container.name),
        ));
    }
    let image = container.image.as_deref().unwrap_or_default();
    if image.is_empty() {
        errors.push(required(format!("{path}.image"), ""));
    } else if image.trim() != image {
        errors.push(invalid(
            format!("{path}.image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    errors.extend(one_of_defaulted(
        &format!("{path}.terminationMessagePolicy"),
        container.termination_message_policy.as_deref(),
        TERMINATION_MESSAGE_POLICIES,
    ));
    errors.extend(one_of_defaulted(
        &format!("{path}.imagePullPolicy"),
        container.image_pull_policy.as_deref(),
        PULL_POLICIES,
    ));
    let mut port_names = HashSet::new();
    for (p, port) in container.ports.iter().flatten().enumerate() {
        let port_path = format!("{path}.ports[{p}]");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let messages = port_name(name);
            if !messages.is_empty() {
                errors.extend(each_invalid(&format!("{port_path}.name"), name, messages));
            } else if !port_names.insert(name) {
                errors.push(duplicate(format!("{port_path}.name"), name));
            }
        }
        if port.container_port == 0 {
            errors.push(required(format!("{port_path}.containerPort"), ""));
        } else if !(1..=65535).contains(&port.container_port) {
            errors.push(invalid_bare(
                format!("{port_path}.containerPort"),
                port.container_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(host_port) = port
            .host_port
            .filter(|p| *p != 0 && !(1..=65535).contains(p))
        {
            errors.push(invalid_bare(
                format!("{port_path}.hostPort"),
                host_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        errors.extend(one_of(
            &format!("{port_path}.protocol"),
            Some(port.protocol.as_deref().unwrap_or_default()),
            PROTOCOLS,
        ));
    }
    if let Some(resources) = &container.resources {
        errors.extend(resources::requirements(
            &format!("{path}.resources"),
            resources,
        ));
    }
    errors
}

fn affinity_errors(affinity: &Affinity) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(node) = &affinity.node_affinity {
        let path = "spec.affinity.nodeAffinity";
        if let Some(selector) = &node.required_during_scheduling_ignored_during_execution {
            errors.extend(node_selector(
                &format!("{path}.requiredDuringSchedulingIgnoredDuringExecution"),
                selector,
            ));
        }
        for (i, term) in node
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let term_path = format!("{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
            errors.extend(weight(&term_path, term.weight));
            // Preferred terms may hold any value: they can still match.
            errors.extend(node_selector_term(
                &format!("{term_path}.preference"),
                &term.preference,
                true,
            ));
        }
    }
    let pod_affinities = [
        (
            "spec.affinity.podAffinity",
            affinity.pod_affinity.as_ref().map(|a| {
                (
                    &a.required_during_scheduling_ignored_during_execution,
                    &a.preferred_during_scheduling_ignored_during_execution,
                )
            }),
        ),
        (
            "spec.affinity.podAntiAffinity",
            affinity.pod_anti_affinity.as_ref().map(|a| {
                (
                    &a.required_during_scheduling_ignored_during_execution,
                    &a.preferred_during_scheduling_ignored_during_execution,
                )
            }),
        ),
    ];
    for (path, terms) in pod_affinities {
        let Some((required_terms, preferred_terms)) = terms else {
            continue;
        };
        for (i, term) in required_terms.iter().flatten().enumerate() {
            errors.extend(pod_affinity_term(
                &format!("{path}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"),
                term,
            ));
        }
        for (
            i,
            WeightedPodAffinityTerm {
                weight: w,
                pod_affinity_term: term,
            },
        ) in preferred_terms.iter().flatten().enumerate()
        {
            let term_path = format!("{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
            errors.extend(weight(&term_path, *w));
            errors.extend(pod_affinity_term(
                &format!("{term_path}.podAffinityTerm"),
                term,
            ));
        }
    }
    errors
}

fn weight(path: &str, weight: i32) -> Option<FieldError> {
    (!(1..=100).contains(&weight)).then(|| {
        invalid_bare(
            format!("{path}.weight"),
            weight,
            "must be in the range 1-100",
        )
    })
}

/// `ValidateNodeSelector`: at least one term.
fn node_selector(path: &str, selector: &NodeSelector) -> Vec<FieldError> {
    let terms_path = format!("{path}.nodeSelectorTerms");
    if selector.node_selector_terms.is_empty() {
        return vec![required(
            terms_path,
            "must have at least one node selector term",
        )];
    }
    selector
        .node_selector_terms
        .iter()
        .enumerate()
        .flat_map(|(i, term)| node_selector_term(&format!("{terms_path}[{i}]"), term, false))
        .collect()
}

/// `ValidateNodeSelectorTerm`: each expression's operator, values and
/// key; fields may only select `metadata.name` with one node name.
fn node_selector_term(path: &str, term: &NodeSelectorTerm, any_value: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (j, r) in term.match_expressions.iter().flatten().enumerate() {
        let path = format!("{path}.matchExpressions[{j}]");
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errors.push(required(
                format!("{path}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errors.push(forbidden(
                format!("{path}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "Gt" | "Lt" if values.len() != 1 => errors.push(required(
                format!("{path}.values"),
                "must be specified single value when `operator` is 'Lt' or 'Gt'",
            )),
            op if NODE_SELECTOR_OPERATORS.contains(&op) => {}
            other => errors.push(invalid(
                format!("{path}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        errors.extend(each_invalid(
            &format!("{path}.key"),
            &r.key,
            qualified_name(&r.key),
        ));
        if !any_value {
            for (v, value) in values.iter().enumerate() {
                errors.extend(each_invalid(
                    &format!("{path}.values[{v}]"),
                    value,
                    label_value(value),
                ));
            }
        }
    }
    for (j, r) in term.match_fields.iter().flatten().enumerate() {
        let path = format!("{path}.matchFields[{j}]");
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.len() != 1 => errors.push(required(
                format!("{path}.values"),
                "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
            )),
            "In" | "NotIn" => {}
            other => errors.push(invalid(
                format!("{path}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        if r.key == "metadata.name" {
            for (v, value) in values.iter().enumerate() {
                errors.extend(each_invalid(
                    &format!("{path}.values[{v}]"),
                    value,
                    dns1123_subdomain(value),
                ));
            }
        } else {
            errors.push(invalid(
                format!("{path}.key"),
                &r.key,
                "not a valid field selector key",
            ));
        }
    }
    errors
}

/// `validatePodAffinityTerm`: the selectors, namespaces and a topology key.
fn pod_affinity_term(path: &str, term: &PodAffinityTerm) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(selector) = &term.label_selector {
        errors.extend(label_selector_errors(
            &format!("{path}.labelSelector"),
            selector,
        ));
    }
    if let Some(selector) = &term.namespace_selector {
        errors.extend(label_selector_errors(
            &format!("{path}.namespaceSelector"),
            selector,
        ));
    }
    for name in term.namespaces.iter().flatten() {
        errors.extend(each_invalid(
            &format!("{path}.namespace"),
            name,
            dns1123_label(name),
        ));
    }
    errors.extend(label_keys(
        path,
        term.match_label_keys.as_deref().unwrap_or_default(),
        term.mismatch_label_keys.as_deref().unwrap_or_default(),
        term.label_selector.as_ref(),
    ));
    let key_path = format!("{path}.topologyKey");
    if term.topology_key.is_empty() {
        errors.push(required(&key_path, "can not be empty"));
    }
    errors.extend(each_invalid(
        &key_path,
        &term.topology_key,
        qualified_name(&term.topology_key),
    ));
    errors
}

/// `ValidateMatchLabelKeysAndMismatchLabelKeys`, on the selector after the
/// keys were merged into it.
fn label_keys(
    path: &str,
    match_keys: &[String],
    mismatch_keys: &[String],
    selector: Option<&LabelSelector>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (field, keys) in [
        ("matchLabelKeys", match_keys),
        ("mismatchLabelKeys", mismatch_keys),
    ] {
        if keys.is_empty() {
            continue;
        }
        if selector.is_none() {
            errors.push(forbidden(
                format!("{path}.{field}"),
                "must not be specified when labelSelector is not set",
            ));
            continue;
        }
        for (i, key) in keys.iter().enumerate() {
            errors.extend(each_invalid(
                &format!("{path}.{field}[{i}]"),
                key,
                qualified_name(key),
            ));
        }
    }
    if let Some(selector) = selector {
        let mut seen: HashSet<&str> = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, _)| k.as_str())
            .collect();
        for r in selector.match_expressions.iter().flatten() {
            if let Some(i) = match_keys.iter().position(|k| *k == r.key)
                && seen.contains(r.key.as_str())
            {
                errors.push(invalid(
                    format!("{path}[{i}]"),
                    &r.key,
                    "exists in both matchLabelKeys and labelSelector",
                ));
            }
            seen.insert(&r.key);
        }
    }
    for (i, key) in match_keys.iter().enumerate() {
        if mismatch_keys.contains(key) {
            errors.push(invalid(
                format!("{path}.matchLabelKeys[{i}]"),
                key,
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    errors
}

/// `validateTopologySpreadConstraints`.
fn topology_spread(constraints: &[TopologySpreadConstraint]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let path = format!("spec.topologySpreadConstraints[{i}]");
        if c.max_skew <= 0 {
            errors.push(invalid_bare(
                format!("{path}.maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errors.push(required(format!("{path}.topologyKey"), "can not be empty"));
        }
        if !SPREAD_ACTIONS.contains(&c.when_unsatisfiable.as_str()) {
            errors.push(not_supported(
                format!("{path}.whenUnsatisfiable"),
                &c.when_unsatisfiable,
                SPREAD_ACTIONS,
            ));
        }
        if constraints[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        }) {
            errors.push(duplicate(
                format!("{path}.{{topologyKey, whenUnsatisfiable}}"),
                &format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(min) = c.min_domains {
            if min <= 0 {
                errors.push(invalid_bare(
                    format!("{path}.minDomains"),
                    min,
                    "must be greater than zero",
                ));
            }
            if c.when_unsatisfiable != "DoNotSchedule" {
                errors.push(invalid_bare(
                    format!("{path}.minDomains"),
                    min,
                    format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}",
                        c.when_unsatisfiable
                    ),
                ));
            }
        }
        errors.extend(one_of(
            &format!("{path}.nodeAffinityPolicy"),
            c.node_affinity_policy.as_deref(),
            INCLUSION_POLICIES,
        ));
        errors.extend(one_of(
            &format!("{path}.nodeTaintsPolicy"),
            c.node_taints_policy.as_deref(),
            INCLUSION_POLICIES,
        ));
        errors.extend(label_keys(
            &path,
            c.match_label_keys.as_deref().unwrap_or_default(),
            &[],
            c.label_selector.as_ref(),
        ));
        if let Some(selector) = &c.label_selector {
            errors.extend(label_selector_errors(
                &format!("{path}.labelSelector"),
                selector,
            ));
        }
    }
    errors
}

/// `ValidateTolerations` (the `Lt`/`Gt` operators are behind a feature
/// gate that is off in v1.37).
fn toleration_errors(path: &str, toleration: &Toleration) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let key = toleration.key.as_deref().unwrap_or_default();
    let operator = toleration.operator.as_deref().unwrap_or_default();
    let value = toleration.value.as_deref().unwrap_or_default();
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !key.is_empty() {
        errors.extend(each_invalid(
            &format!("{path}.key"),
            key,
            qualified_name(key),
        ));
    }
    if key.is_empty() && operator != "Exists" {
        errors.push(invalid(
            format!("{path}.operator"),
            operator,
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    if toleration.toleration_seconds.is_some() && effect != "NoExecute" {
        errors.push(invalid(
            format!("{path}.effect"),
            effect,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    match operator {
        "Equal" | "" => {
            let messages = label_value(value);
            if !messages.is_empty() {
                errors.push(invalid(
                    format!("{path}.operator"),
                    value,
                    messages.join(";"),
                ));
            }
        }
        "Exists" => {
            if !value.is_empty() {
                errors.push(invalid(
                    format!("{path}.operator"),
                    value,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        other => errors.push(not_supported(
            format!("{path}.operator"),
            other,
            TOLERATION_OPERATORS,
        )),
    }
    if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
        errors.push(not_supported(
            format!("{path}.effect"),
            effect,
            TAINT_EFFECTS,
        ));
    }
    errors
}
