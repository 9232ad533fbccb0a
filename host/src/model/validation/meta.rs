//! `metadata` and label selectors: `ValidateObjectMeta`, `ValidateLabels`,
//! `ValidateAnnotations`, `ValidateOwnerReferences` and
//! `ValidateLabelSelector`.

use super::names::{self, qualified_name};
use super::{FieldError, FieldErrorKind, each_invalid, forbidden, invalid, required};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// Which format an object's name must have.
#[derive(Debug, Clone, Copy)]
pub enum NameFormat {
    /// Most objects: `IsDNS1123Subdomain`.
    Subdomain,
    /// Namespaces: `IsDNS1123Label`.
    Label,
}

impl NameFormat {
    pub fn check(self, value: &str) -> Vec<String> {
        match self {
            NameFormat::Subdomain => names::dns1123_subdomain(value),
            NameFormat::Label => names::dns1123_label(value),
        }
    }
}

/// The total size of an object's annotations, keys and values.
const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;

/// `ValidateObjectMeta` on create. The namespace of a namespaced object has
/// been defaulted; a cluster-scoped object's namespace is dropped by the
/// apiserver before validation, so it is not checked here.
pub fn object_meta(meta: &ObjectMeta, namespaced: bool, format: NameFormat) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match meta.name.as_deref() {
        None | Some("") => errors.push(required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(name) => errors.extend(each_invalid("metadata.name", name, format.check(name))),
    }
    if namespaced && let Some(namespace) = meta.namespace.as_deref() {
        errors.extend(each_invalid(
            "metadata.namespace",
            namespace,
            names::dns1123_label(namespace),
        ));
    }
    if let Some(generation) = meta.generation.filter(|g| *g < 0) {
        errors.push(super::invalid_bare(
            "metadata.generation",
            generation,
            "must be greater than or equal to 0",
        ));
    }
    errors.extend(labels("metadata.labels", meta.labels.as_ref()));
    errors.extend(annotations(meta.annotations.as_ref()));
    errors.extend(owner_references(meta));
    for finalizer in meta.finalizers.iter().flatten() {
        errors.extend(each_invalid(
            "metadata.finalizers",
            finalizer,
            qualified_name(finalizer),
        ));
    }
    for (i, finalizer) in meta.finalizers.iter().flatten().enumerate() {
        errors.extend(kube_finalizer(
            &format!("metadata.finalizers[{i}]"),
            finalizer,
        ));
    }
    errors
}

/// Finalizers Kubernetes itself defines, the only ones without a prefix.
const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

/// `validateKubeFinalizerName`: a finalizer without a `/` is a standard one.
pub fn kube_finalizer(path: &str, finalizer: &str) -> Option<FieldError> {
    (!finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer)).then(|| {
        invalid(
            path,
            finalizer,
            "name is neither a standard finalizer name nor is it fully qualified",
        )
    })
}

/// `ValidateLabels`: every key a qualified name, every value a label value;
/// both reported at the map's path.
pub fn labels(path: &str, labels: Option<&BTreeMap<String, String>>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        errors.extend(each_invalid(path, key, qualified_name(key)));
        errors.extend(each_invalid(path, value, names::label_value(value)));
    }
    errors
}

/// `ValidateAnnotations`: keys are qualified names in any case, and all of
/// them together at most 256 KiB.
fn annotations(annotations: Option<&BTreeMap<String, String>>) -> Vec<FieldError> {
    let path = "metadata.annotations";
    let mut errors = Vec::new();
    let mut size = 0;
    for (key, value) in annotations.into_iter().flatten() {
        errors.extend(each_invalid(path, key, qualified_name(&key.to_lowercase())));
        size += key.len() + value.len();
    }
    if size > ANNOTATIONS_SIZE_LIMIT {
        errors.push(FieldError {
            path: path.to_string(),
            kind: FieldErrorKind::TooLong(format!(
                "may not be more than {ANNOTATIONS_SIZE_LIMIT} bytes"
            )),
        });
    }
    errors
}

/// `ValidateOwnerReferences`: each reference names its apiVersion, kind,
/// name and uid, and at most one is the controller (PodTopologySpread's
/// default selector follows it).
fn owner_references(meta: &ObjectMeta) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut controller: Option<String> = None;
    for (i, owner) in meta.owner_references.iter().flatten().enumerate() {
        let path = format!("metadata.ownerReferences[{i}]");
        for (field, value) in [
            ("apiVersion", &owner.api_version),
            ("kind", &owner.kind),
            ("name", &owner.name),
            ("uid", &owner.uid),
        ] {
            if value.is_empty() {
                errors.push(required(format!("{path}.{field}"), "must not be empty"));
            }
        }
        let version = match owner.api_version.split('/').collect::<Vec<_>>().as_slice() {
            [version] | [_, version] => Some(*version),
            _ => None,
        };
        if !owner.api_version.is_empty() && version.is_none_or(str::is_empty) {
            errors.push(invalid(
                format!("{path}.apiVersion"),
                &owner.api_version,
                "must be <group>/<version> or <version>",
            ));
        }
        if owner.controller == Some(true) {
            let this = format!("{}/{}", owner.kind, owner.name);
            match &controller {
                Some(first) => errors.push(invalid(
                    "metadata.ownerReferences",
                    &this,
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"),
                )),
                None => controller = Some(this),
            }
        }
    }
    errors
}

/// `ValidateLabelSelector`: each requirement's operator and values, and
/// every key and value well formed.
pub fn label_selector_errors(path: &str, selector: &LabelSelector) -> Vec<FieldError> {
    let mut errors = labels(
        &format!("{path}.matchLabels"),
        selector.match_labels.as_ref(),
    );
    for (i, r) in selector.match_expressions.iter().flatten().enumerate() {
        let path = format!("{path}.matchExpressions[{i}]");
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
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
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
        for (v, value) in values.iter().enumerate() {
            errors.extend(each_invalid(
                &format!("{path}.values[{v}]"),
                value,
                names::label_value(value),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(yaml: &str) -> ObjectMeta {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn messages(errors: Vec<FieldError>) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn label_keys_and_values_are_checked_at_the_maps_path() {
        let errors = messages(object_meta(
            &meta("{name: a, labels: {'a b': x, ok: '-v'}}"),
            true,
            NameFormat::Subdomain,
        ));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with(
            "metadata.labels: Invalid value: \"a b\": name part must consist of alphanumeric characters"
        ));
        assert!(
            errors[1].starts_with("metadata.labels: Invalid value: \"-v\": a valid label must be")
        );
    }

    #[test]
    fn annotation_keys_ignore_case_but_not_syntax() {
        assert!(
            object_meta(
                &meta("{name: a, annotations: {Example.COM/Key: v}}"),
                true,
                NameFormat::Subdomain
            )
            .is_empty()
        );
        let errors = messages(object_meta(
            &meta("{name: a, annotations: {'a/b/c': v}}"),
            true,
            NameFormat::Subdomain,
        ));
        assert!(
            errors[0]
                .starts_with("metadata.annotations: Invalid value: \"a/b/c\": a valid label key")
        );
        let big = format!(
            "{{name: a, annotations: {{k: '{}'}}}}",
            "x".repeat(ANNOTATIONS_SIZE_LIMIT)
        );
        assert_eq!(
            messages(object_meta(&meta(&big), true, NameFormat::Subdomain)),
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn namespaces_are_dns_labels() {
        let errors = messages(object_meta(
            &meta("{name: a, namespace: team.a}"),
            true,
            NameFormat::Subdomain,
        ));
        assert_eq!(
            errors,
            ["metadata.namespace: Invalid value: \"team.a\": must not contain dots"]
        );
        assert!(
            object_meta(
                &meta("{name: a, namespace: team.a}"),
                false,
                NameFormat::Subdomain
            )
            .is_empty()
        );
    }

    #[test]
    fn finalizers_are_qualified_or_standard() {
        assert!(
            object_meta(
                &meta("{name: a, finalizers: [kubernetes, example.com/keep]}"),
                true,
                NameFormat::Subdomain
            )
            .is_empty()
        );
        assert_eq!(
            messages(object_meta(
                &meta("{name: a, finalizers: [keep]}"),
                true,
                NameFormat::Subdomain
            )),
            [
                "metadata.finalizers[0]: Invalid value: \"keep\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    #[test]
    fn a_long_name_is_refused_for_its_length() {
        let name = "a".repeat(300);
        assert_eq!(
            messages(object_meta(
                &meta(&format!("{{name: {name}}}")),
                true,
                NameFormat::Subdomain
            )),
            [format!(
                "metadata.name: Invalid value: \"{name}\": must be no more than 253 characters"
            )]
        );
    }
}
