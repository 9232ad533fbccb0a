//! PriorityClasses (`ValidatePriorityClass`).

use super::meta::{NameFormat, object_meta};
use super::{FieldError, forbidden, not_supported};
use k8s_openapi::api::scheduling::v1::PriorityClass;

/// The highest value a class not made by the system may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;

/// The classes every apiserver makes, with their values.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

const PREEMPTION_POLICIES: &[&str] = &["Never", "PreemptLowerPriority"];

pub fn priority_class(class: &PriorityClass) -> Vec<FieldError> {
    let mut errors = object_meta(&class.metadata, false, NameFormat::Subdomain);
    let name = class.metadata.name.as_deref().unwrap_or_default();
    let value = class.value.unwrap_or(0);
    if name.starts_with("system-") {
        let known = SYSTEM_PRIORITY_CLASSES
            .iter()
            .any(|(n, v)| *n == name && *v == value && class.global_default != Some(true));
        if !known {
            errors.push(forbidden(
                "metadata.name",
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {name} is not a known system priority class"),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errors.push(forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        ));
    }
    if let Some(policy) = class.preemption_policy.as_deref()
        && !PREEMPTION_POLICIES.contains(&policy)
    {
        errors.push(not_supported(
            "preemptionPolicy",
            policy,
            PREEMPTION_POLICIES,
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let class: PriorityClass = serde_yaml::from_str(yaml).unwrap();
        priority_class(&class)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn user_classes_stay_at_or_below_a_billion() {
        assert!(errors("metadata: {name: high}\nvalue: 1000000000").is_empty());
        assert_eq!(
            errors("metadata: {name: high}\nvalue: 1000000001"),
            ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        assert_eq!(errors("metadata: {name: system-mine}\nvalue: 1").len(), 1);
    }
}
