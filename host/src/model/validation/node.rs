//! Nodes (`ValidateNode`) and Namespaces (`ValidateNamespace`): the
//! cluster-scoped objects a pod is placed on and in.

use super::meta::{NameFormat, kube_finalizer, object_meta};
use super::names::{label_value, qualified_name};
use super::pod::TAINT_EFFECTS;
use super::resources;
use super::{FieldError, FieldErrorKind, each_invalid, invalid, not_supported, required};
use k8s_openapi::api::core::v1::{Namespace, Node};
use std::collections::HashSet;

/// A node's name, labels, taints and resource amounts.
pub fn node(node: &Node) -> Vec<FieldError> {
    let mut errors = object_meta(&node.metadata, false, NameFormat::Subdomain);
    let mut seen = HashSet::new();
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref());
    for (i, taint) in taints.unwrap_or_default().iter().enumerate() {
        // Upstream reports taints under `metadata`, not `spec`.
        let path = format!("metadata.taints[{i}]");
        errors.extend(each_invalid(
            &format!("{path}.key"),
            &taint.key,
            qualified_name(&taint.key),
        ));
        let value = taint.value.as_deref().unwrap_or_default();
        let messages = label_value(value);
        if !messages.is_empty() {
            errors.push(invalid(format!("{path}.value"), value, messages.join(";")));
        }
        if taint.effect.is_empty() {
            errors.push(required(format!("{path}.effect"), ""));
        } else if !TAINT_EFFECTS.contains(&taint.effect.as_str()) {
            errors.push(not_supported(
                format!("{path}.effect"),
                &taint.effect,
                TAINT_EFFECTS,
            ));
        }
        if !seen.insert((taint.key.as_str(), taint.effect.as_str())) {
            errors.push(FieldError {
                path,
                kind: FieldErrorKind::Duplicate {
                    value: format!("{}={}:{}", taint.key, value, taint.effect),
                    detail: "taints must be unique by key and effect pair",
                },
            });
        }
    }
    if let Some(status) = &node.status {
        errors.extend(resources::node_list(
            "status.capacity",
            status.capacity.as_ref(),
        ));
        errors.extend(resources::node_list(
            "status.allocatable",
            status.allocatable.as_ref(),
        ));
    }
    errors
}

/// A namespace's name (a DNS label) and finalizers.
pub fn namespace(namespace: &Namespace) -> Vec<FieldError> {
    let mut errors = object_meta(&namespace.metadata, false, NameFormat::Label);
    let finalizers = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_deref());
    for finalizer in finalizers.unwrap_or_default() {
        let path = "spec.finalizers";
        let messages = qualified_name(finalizer);
        if !messages.is_empty() {
            errors.extend(each_invalid(path, finalizer, messages));
        } else {
            errors.extend(kube_finalizer(path, finalizer));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_errors(yaml: &str) -> Vec<String> {
        let node: Node = serde_yaml::from_str(yaml).unwrap();
        super::node(&node).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn taints_are_unique_by_key_and_effect() {
        let errors = node_errors(
            "metadata: {name: n}\nspec: {taints: [{key: a, effect: NoSchedule}, {key: a, value: v, effect: NoSchedule}, {key: a, effect: NoExecute}]}",
        );
        assert_eq!(
            errors,
            [
                "metadata.taints[1]: Duplicate value: a=v:NoSchedule: taints must be unique by key and effect pair"
            ]
        );
    }

    #[test]
    fn taint_keys_values_and_effects_are_checked() {
        let errors = node_errors(
            "metadata: {name: n}\nspec: {taints: [{key: 'a b', value: '-', effect: ''}]}",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("metadata.taints[0].key: Invalid value: \"a b\""));
        assert!(errors[1].starts_with("metadata.taints[0].value: Invalid value: \"-\""));
        assert_eq!(errors[2], "metadata.taints[0].effect: Required value");
    }

    #[test]
    fn whole_units_of_pods_and_extended_resources() {
        assert_eq!(
            node_errors("metadata: {name: n}\nstatus: {capacity: {pods: 1500m, cpu: 1500m}}"),
            ["status.capacity.pods: Invalid value: \"1500m\": must be an integer"]
        );
    }
}
