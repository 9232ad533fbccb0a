//! Services, ReplicationControllers, ReplicaSets and StatefulSets, read for
//! their selectors (PodTopologySpread's default spreading), and
//! PodDisruptionBudgets (preemption): their names, labels and selectors are
//! checked as the apiserver checks them.

use super::meta::{NameFormat, label_selector_errors, labels, object_meta};
use super::{FieldError, invalid, invalid_bare, quote, required};
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// A Service's metadata and selector; `spec.ports` is required unless the
/// Service is headless or an ExternalName, as the apiserver checks.
pub fn service(service: &Service) -> Vec<FieldError> {
    let mut errors = object_meta(&service.metadata, true, NameFormat::Subdomain);
    let spec = service.spec.as_ref();
    let headless = spec.and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    let external = spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName");
    if spec
        .and_then(|s| s.ports.as_ref())
        .is_none_or(Vec::is_empty)
        && !headless
        && !external
    {
        errors.push(required("spec.ports", ""));
    }
    errors.extend(labels(
        "spec.selector",
        spec.and_then(|s| s.selector.as_ref()),
    ));
    errors
}

/// A ReplicationController (after defaulting) needs a selector and a
/// template whose labels it selects.
pub fn replication_controller(rc: &ReplicationController) -> Vec<FieldError> {
    let mut errors = object_meta(&rc.metadata, true, NameFormat::Subdomain);
    let spec = rc.spec.as_ref();
    let selector = spec
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty());
    let Some(selector) = selector else {
        errors.push(required("spec.selector", ""));
        return errors;
    };
    errors.extend(labels("spec.selector", Some(selector)));
    match spec.and_then(|s| s.template.as_ref()) {
        None => errors.push(required("spec.template", "")),
        Some(template) => {
            let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
            let selected = selector
                .iter()
                .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if !selected {
                errors.push(not_selected(labels.cloned().unwrap_or_default()));
            }
        }
    }
    errors
}

/// The template's labels printed as Go prints a map (`%#v`).
fn not_selected(labels: BTreeMap<String, String>) -> FieldError {
    let entries: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect();
    invalid_bare(
        "spec.template.metadata.labels",
        format!("map[string]string{{{}}}", entries.join(", ")),
        "`selector` does not match template `labels`",
    )
}

/// The metadata and selector of a ReplicaSet or StatefulSet (`what` names
/// the kind in upstream's message, which says `deployment` for
/// ReplicaSets): a valid, non-empty label selector that selects the
/// template's labels.
pub fn controller_selector(
    meta: &ObjectMeta,
    selector: &LabelSelector,
    template_labels: Option<&BTreeMap<String, String>>,
    what: &str,
) -> Vec<FieldError> {
    let mut errors = object_meta(meta, true, NameFormat::Subdomain);
    let selector_errors = label_selector_errors("spec.selector", selector);
    if !selector_errors.is_empty() {
        errors.extend(selector_errors);
        return errors;
    }
    let labels = selector.match_labels.iter().flatten();
    let expressions = selector.match_expressions.iter().flatten();
    if labels.clone().next().is_none() && expressions.clone().next().is_none() {
        errors.push(invalid(
            "spec.selector",
            "{}",
            format!("empty selector is invalid for {what}"),
        ));
        return errors;
    }
    let empty = BTreeMap::new();
    let template = template_labels.unwrap_or(&empty);
    let selected = labels.clone().all(|(k, v)| template.get(k) == Some(v))
        && expressions.clone().all(|r| {
            let value = template.get(&r.key);
            let listed = |v: &String| r.values.iter().flatten().any(|x| x == v);
            match r.operator.as_str() {
                "In" => value.is_some_and(listed),
                "NotIn" => value.is_none_or(|v| !listed(v)),
                "Exists" => value.is_some(),
                _ => value.is_none(),
            }
        });
    if !selected {
        errors.push(not_selected(template.clone()));
    }
    errors
}

/// A PodDisruptionBudget's metadata, selector and bounds, as
/// `ValidatePodDisruptionBudgetSpec` checks them: not both `minAvailable`
/// and `maxUnavailable`, each a non-negative number or a percentage of at
/// most 100%. (The apiserver prints the whole spec as the value of the
/// first error; it is left out here.)
pub fn pod_disruption_budget(budget: &PodDisruptionBudget) -> Vec<FieldError> {
    let mut errors = object_meta(&budget.metadata, true, NameFormat::Subdomain);
    let Some(spec) = budget.spec.as_ref() else {
        return errors;
    };
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        errors.push(invalid_bare(
            "spec",
            "{...}",
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (path, bound) in [
        ("spec.minAvailable", &spec.min_available),
        ("spec.maxUnavailable", &spec.max_unavailable),
    ] {
        match bound {
            Some(IntOrString::Int(n)) if *n < 0 => errors.push(invalid_bare(
                path,
                n.to_string(),
                "must be greater than or equal to 0",
            )),
            Some(IntOrString::String(s)) => {
                let percent = s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok());
                match percent {
                    None => errors.push(invalid(
                        path,
                        s,
                        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                    )),
                    Some(p) if p > 100 => {
                        errors.push(invalid(path, s, "must not be greater than 100%"))
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    if let Some(selector) = &spec.selector {
        errors.extend(label_selector_errors("spec.selector", selector));
    }
    errors
}
