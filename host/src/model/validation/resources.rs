//! Resource names and quantities: `ValidateContainerResourceName`,
//! `ValidateResourceQuantityValue` and `validateResourceRequirements`.
//! Extended resources (`example.com/gpu`) and hugepages cannot be
//! overcommitted, so their requests must equal their limits; extended
//! resources are counted in whole units.

use super::names::qualified_name;
use super::{FieldError, each_invalid, forbidden, invalid, required};
use crate::model::quantity::Quantity;
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KubeQuantity;
use std::collections::BTreeMap;

const HUGEPAGES_PREFIX: &str = "hugepages-";

/// The resources whose amounts are whole numbers (`integerResources`).
const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

/// `standardResources`, which a name without a prefix must be one of.
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Names without a `/` are in the `kubernetes.io` namespace.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with(HUGEPAGES_PREFIX)
}

/// `IsExtendedResourceName`.
fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && qualified_name(&format!("requests.{name}")).is_empty()
}

/// `IsOvercommitAllowed`: native resources other than hugepages.
fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_hugepages(name)
}

/// `ValidateContainerResourceName`.
fn container_resource_name(path: &str, name: &str) -> Vec<FieldError> {
    let errors = each_invalid(path, name, qualified_name(name));
    if !errors.is_empty() {
        return errors;
    }
    if !name.contains('/') {
        let standard = STANDARD_RESOURCES.contains(&name)
            || is_hugepages(name)
            || name.starts_with("requests.hugepages-");
        if !standard {
            return vec![invalid(
                path,
                name,
                "must be a standard resource type or fully qualified",
            )];
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            return vec![invalid(
                path,
                name,
                "must be a standard resource for containers",
            )];
        }
    } else if !is_native(name) && !is_extended(name) {
        return vec![invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        )];
    }
    Vec::new()
}

/// A quantity as written, parsed, or the apiserver's complaint.
fn parse(path: &str, quantity: &KubeQuantity) -> Result<Quantity, FieldError> {
    Quantity::parse(&quantity.0).map_err(|e| invalid(path, &quantity.0, e.to_string()))
}

/// `ValidateResourceQuantityValue`: non-negative, and whole for the
/// resources counted in units.
fn quantity_value(path: &str, name: &str, quantity: &KubeQuantity) -> Vec<FieldError> {
    let q = match parse(path, quantity) {
        Ok(q) => q,
        Err(e) => return vec![e],
    };
    let mut errors = Vec::new();
    if q.is_negative() {
        errors.push(invalid(
            path,
            &quantity.0,
            "must be greater than or equal to 0",
        ));
    }
    if (INTEGER_RESOURCES.contains(&name) || is_extended(name)) && !q.is_whole() {
        errors.push(invalid(path, &quantity.0, "must be an integer"));
    }
    errors
}

/// A hugepages amount must be a whole number of pages.
fn hugepages_value(path: &str, name: &str, quantity: &KubeQuantity) -> Option<FieldError> {
    let amount = Quantity::parse(&quantity.0).ok()?;
    let page = Quantity::parse(&name[HUGEPAGES_PREFIX.len()..]).ok();
    let divisible = page.is_some_and(|page| {
        page.milli_value() > 0
            && page.milli_value() % 1000 == 0
            && amount.value() % page.value() == 0
    });
    (!divisible).then(|| {
        invalid(
            path,
            &quantity.0,
            format!("{} is not positive integer multiple of {name}", quantity.0),
        )
    })
}

/// `validateResourceRequirements` of a container at `path` (…`.resources`),
/// after requests were defaulted from limits.
pub fn requirements(path: &str, resources: &ResourceRequirements) -> Vec<FieldError> {
    let empty = BTreeMap::new();
    let limits = resources.limits.as_ref().unwrap_or(&empty);
    let requests = resources.requests.as_ref().unwrap_or(&empty);
    let mut errors = Vec::new();
    let mut cpu_or_memory = false;
    let mut hugepages = false;
    for (name, quantity) in limits {
        let field = format!("{path}.limits[{}]", name.escape_debug());
        errors.extend(container_resource_name(&field, name));
        errors.extend(quantity_value(&field, name, quantity));
        if is_hugepages(name) {
            hugepages = true;
            errors.extend(hugepages_value(&field, name, quantity));
        }
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    for (name, quantity) in requests {
        let field = format!("{path}.requests[{}]", name.escape_debug());
        errors.extend(container_resource_name(&field, name));
        errors.extend(quantity_value(&field, name, quantity));
        match limits.get(name) {
            Some(limit) => {
                let (Ok(r), Ok(l)) = (Quantity::parse(&quantity.0), Quantity::parse(&limit.0))
                else {
                    continue;
                };
                let order = r.cmp_exact(&l);
                if order.is_ne() && !overcommit_allowed(name) {
                    errors.push(invalid(
                        format!("{path}.requests"),
                        &quantity.0,
                        format!("must be equal to {name} limit of {}", limit.0),
                    ));
                } else if order.is_gt() {
                    errors.push(invalid(
                        format!("{path}.requests"),
                        &quantity.0,
                        format!("must be less than or equal to {name} limit of {}", limit.0),
                    ));
                }
            }
            None if !overcommit_allowed(name) => errors.push(required(
                format!("{path}.limits"),
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
        if is_hugepages(name) {
            hugepages = true;
            errors.extend(hugepages_value(&field, name, quantity));
        }
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    if hugepages && !cpu_or_memory {
        errors.push(forbidden(path, "HugePages require cpu or memory"));
    }
    errors
}

/// A pod's `overhead`: valid names and non-negative amounts.
pub fn overhead(path: &str, list: Option<&BTreeMap<String, KubeQuantity>>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (name, quantity) in list.into_iter().flatten() {
        let field = format!("{path}[{}]", name.escape_debug());
        let name_errors = each_invalid(&field, name, qualified_name(name));
        if name_errors.is_empty()
            && !name.contains('/')
            && !STANDARD_RESOURCES.contains(&name.as_str())
            && !is_hugepages(name)
        {
            errors.push(invalid(
                &field,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        errors.extend(name_errors);
        errors.extend(quantity_value(&field, name, quantity));
    }
    errors
}

/// A node's `status.capacity` or `status.allocatable`
/// (`ValidateNodeResources`): amounts only, at `status.capacity.<name>`.
pub fn node_list(path: &str, list: Option<&BTreeMap<String, KubeQuantity>>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (name, quantity) in list.into_iter().flatten() {
        errors.extend(quantity_value(
            &format!("{path}.{}", name.escape_debug()),
            name,
            quantity,
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Vec<String> {
        let resources: ResourceRequirements = serde_yaml::from_str(yaml).unwrap();
        requirements("r", &resources)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn extended_resources_need_equal_whole_limits() {
        assert!(check("{limits: {example.com/gpu: 2}, requests: {example.com/gpu: 2}}").is_empty());
        assert_eq!(
            check("{requests: {example.com/gpu: 1}}"),
            ["r.limits: Required value: Limit must be set for non overcommitable resources"]
        );
        assert_eq!(
            check("{limits: {example.com/gpu: 2}, requests: {example.com/gpu: 1}}"),
            ["r.requests: Invalid value: \"1\": must be equal to example.com/gpu limit of 2"]
        );
        assert_eq!(
            check("{limits: {example.com/gpu: 500m}, requests: {example.com/gpu: 500m}}"),
            [
                "r.limits[example.com/gpu]: Invalid value: \"500m\": must be an integer",
                "r.requests[example.com/gpu]: Invalid value: \"500m\": must be an integer"
            ]
        );
    }

    #[test]
    fn hugepages_are_whole_pages_beside_cpu_or_memory() {
        assert!(check("{limits: {hugepages-2Mi: 4Mi, memory: 1Gi}, requests: {hugepages-2Mi: 4Mi, memory: 1Gi}}").is_empty());
        assert_eq!(
            check("{limits: {hugepages-2Mi: 3Mi, memory: 1Gi}, requests: {hugepages-2Mi: 3Mi}}"),
            [
                "r.limits[hugepages-2Mi]: Invalid value: \"3Mi\": 3Mi is not positive integer multiple of hugepages-2Mi",
                "r.requests[hugepages-2Mi]: Invalid value: \"3Mi\": 3Mi is not positive integer multiple of hugepages-2Mi"
            ]
        );
        assert_eq!(
            check("{limits: {hugepages-2Mi: 4Mi}, requests: {hugepages-2Mi: 4Mi}}"),
            ["r: Forbidden: HugePages require cpu or memory"]
        );
    }

    #[test]
    fn resource_names_are_qualified_and_known() {
        let errors = check("{requests: {\"cpu\\nnode-1 <- pod\": 1}}");
        assert!(errors[0].starts_with("r.requests[cpu\\nnode-1 <- pod]: Invalid value: \"cpu\\nnode-1 <- pod\": name part must consist"), "{errors:?}");
        assert_eq!(
            check("{requests: {gpu: 1}}"),
            [
                "r.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified"
            ]
        );
        assert_eq!(
            check("{requests: {pods: 1}}"),
            [
                "r.requests[pods]: Invalid value: \"pods\": must be a standard resource for containers"
            ]
        );
    }
}
