//! Dynamic resource allocation's objects (`resource.k8s.io/v1`), as
//! `pkg/apis/resource/validation` checks the fields the scheduler reads:
//! DeviceClass selectors, a ResourceSlice's driver, pool, node choice and
//! device names, a ResourceClaim's requests. (CEL expressions are checked
//! for presence only: the apiserver compiles them, here the
//! DynamicResources plugin does when it allocates, and refuses the claim
//! then.)

use super::meta::{NameFormat, object_meta};
use super::names::{dns1123_label, dns1123_subdomain};
use super::{FieldError, duplicate, each_invalid, invalid, invalid_bare, not_supported, required};
use k8s_openapi::api::resource::v1::{
    DeviceClass, DeviceRequest, DeviceSelector, ResourceClaim, ResourceSlice,
};
use std::collections::HashSet;

const ALLOCATION_MODES: &[&str] = &["All", "ExactCount"];

fn selectors(path: &str, selectors: Option<&Vec<DeviceSelector>>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, selector) in selectors.into_iter().flatten().enumerate() {
        match &selector.cel {
            None => errors.push(required(format!("{path}[{i}].cel"), "")),
            Some(cel) if cel.expression.trim().is_empty() => {
                errors.push(required(format!("{path}[{i}].cel.expression"), ""));
            }
            Some(_) => {}
        }
    }
    errors
}

/// A DeviceClass: its name and selectors.
pub fn device_class(class: &DeviceClass) -> Vec<FieldError> {
    let mut errors = object_meta(&class.metadata, false, NameFormat::Subdomain);
    errors.extend(selectors(
        "spec.selectors",
        class.spec.as_ref().and_then(|s| s.selectors.as_ref()),
    ));
    errors
}

/// A ResourceSlice: driver, pool, exactly one node choice, device names.
pub fn resource_slice(slice: &ResourceSlice) -> Vec<FieldError> {
    let mut errors = object_meta(&slice.metadata, false, NameFormat::Subdomain);
    let spec = &slice.spec;
    if spec.driver.is_empty() {
        errors.push(required("spec.driver", ""));
    } else {
        errors.extend(each_invalid(
            "spec.driver",
            &spec.driver,
            dns1123_subdomain(&spec.driver.to_lowercase()),
        ));
    }
    if spec.pool.name.is_empty() {
        errors.push(required("spec.pool.name", ""));
    }
    if spec.pool.resource_slice_count <= 0 {
        errors.push(invalid_bare(
            "spec.pool.resourceSliceCount",
            spec.pool.resource_slice_count,
            "must be greater than zero",
        ));
    }
    if spec.pool.generation < 0 {
        errors.push(invalid_bare(
            "spec.pool.generation",
            spec.pool.generation,
            "must be greater than or equal to zero",
        ));
    }
    let mut set = Vec::new();
    if let Some(name) = &spec.node_name {
        if name.is_empty() {
            errors.push(invalid(
                "spec.nodeName",
                name,
                "must be either unset or set to a non-empty string",
            ));
        } else {
            set.push("`nodeName`");
        }
    }
    if let Some(selector) = &spec.node_selector {
        set.push("`nodeSelector`");
        if selector.node_selector_terms.len() != 1 {
            errors.push(invalid_bare(
                "spec.nodeSelector.nodeSelectorTerms",
                "[...]",
                "must have exactly one node selector term",
            ));
        }
    }
    for (field, value) in [
        ("allNodes", spec.all_nodes),
        ("perDeviceNodeSelection", spec.per_device_node_selection),
    ] {
        match value {
            Some(true) => set.push(if field == "allNodes" {
                "`allNodes`"
            } else {
                "`perDeviceNodeSelection`"
            }),
            Some(false) => errors.push(invalid_bare(
                format!("spec.{field}"),
                false,
                "must be either unset or set to true",
            )),
            None => {}
        }
    }
    const ONE_OF: &str = "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required";
    match set.len() {
        0 => errors.push(required("spec", ONE_OF)),
        1 => {}
        _ => errors.push(invalid(
            "spec",
            &format!("{{{}}}", set.join(", ")),
            format!("{ONE_OF}, but multiple fields are set"),
        )),
    }
    let mut names = HashSet::new();
    for (i, device) in spec.devices.iter().flatten().enumerate() {
        let path = format!("spec.devices[{i}].name");
        if device.name.is_empty() {
            errors.push(required(path, ""));
            continue;
        }
        errors.extend(each_invalid(
            &path,
            &device.name,
            dns1123_label(&device.name),
        ));
        if !names.insert(device.name.as_str()) {
            errors.push(duplicate(format!("spec.devices[{i}]"), &device.name));
        }
    }
    errors
}

fn request(path: &str, request: &DeviceRequest) -> Vec<FieldError> {
    let mut errors = each_invalid(
        &format!("{path}.name"),
        &request.name,
        dns1123_label(&request.name),
    );
    let first_available = request
        .first_available
        .as_ref()
        .is_some_and(|f| !f.is_empty());
    match (&request.exactly, first_available) {
        (None, false) => errors.push(required(
            path,
            "exactly one of `exactly` or `firstAvailable` is required",
        )),
        (Some(_), true) => errors.push(invalid_bare(
            path,
            "null",
            "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set",
        )),
        (None, true) => {}
        (Some(exactly), false) => {
            let path = format!("{path}.exactly");
            let class = &exactly.device_class_name;
            if class.is_empty() {
                errors.push(required(format!("{path}.deviceClassName"), ""));
            } else {
                errors.extend(each_invalid(
                    &format!("{path}.deviceClassName"),
                    class,
                    dns1123_subdomain(class),
                ));
            }
            errors.extend(selectors(
                &format!("{path}.selectors"),
                exactly.selectors.as_ref(),
            ));
            let count = exactly.count.unwrap_or(0);
            match exactly.allocation_mode.as_deref().unwrap_or_default() {
                "All" if count != 0 => errors.push(invalid_bare(
                    format!("{path}.count"),
                    count,
                    "must not be specified when allocationMode is 'All'",
                )),
                "ExactCount" if count <= 0 => errors.push(invalid_bare(
                    format!("{path}.count"),
                    count,
                    "must be greater than zero",
                )),
                "All" | "ExactCount" => {}
                other => errors.push(not_supported(
                    format!("{path}.allocationMode"),
                    other,
                    ALLOCATION_MODES,
                )),
            }
        }
    }
    errors
}

/// A ResourceClaim: its requests (after the defaults of
/// [`crate::model::defaults::resource_claim`]).
pub fn resource_claim(claim: &ResourceClaim) -> Vec<FieldError> {
    let mut errors = object_meta(&claim.metadata, true, NameFormat::Subdomain);
    let requests = claim
        .spec
        .as_ref()
        .and_then(|s| s.devices.as_ref())
        .and_then(|d| d.requests.as_ref());
    let mut names = HashSet::new();
    for (i, r) in requests.into_iter().flatten().enumerate() {
        let path = format!("spec.devices.requests[{i}]");
        errors.extend(request(&path, r));
        if !names.insert(r.name.as_str()) {
            errors.push(duplicate(path, &r.name));
        }
    }
    errors
}
