//! The fields of `resource.k8s.io/v1` objects the plugin reads, as the
//! apiserver serves them (JSON). What it does not read it passes through
//! untouched (opaque configs) or ignores.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeviceClass {
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: DeviceClassSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceClassSpec {
    #[serde(default)]
    pub selectors: Vec<DeviceSelector>,
    #[serde(default)]
    pub config: Vec<Json>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceSelector {
    pub cel: Option<CelSelector>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CelSelector {
    pub expression: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceSlice {
    pub metadata: Metadata,
    pub spec: ResourceSliceSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSliceSpec {
    pub driver: String,
    pub pool: ResourcePool,
    pub node_name: Option<String>,
    pub node_selector: Option<NodeSelector>,
    pub all_nodes: Option<bool>,
    pub per_device_node_selection: Option<bool>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePool {
    pub name: String,
    #[serde(default)]
    pub generation: i64,
    #[serde(default)]
    pub resource_slice_count: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Device {
    pub name: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, DeviceAttribute>,
    #[serde(default)]
    pub capacity: BTreeMap<String, DeviceCapacity>,
}

/// Exactly one of the fields is set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct DeviceAttribute {
    pub int: Option<i64>,
    pub bool: Option<bool>,
    pub string: Option<String>,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCapacity {
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl NodeSelector {
    /// Whether a node with this name and these labels matches: any term
    /// whose every requirement holds (an empty term matches nothing).
    pub fn matches(&self, name: &str, label: impl Fn(&str) -> Option<String>) -> bool {
        self.node_selector_terms.iter().any(|term| {
            (!term.match_expressions.is_empty() || !term.match_fields.is_empty())
                && term
                    .match_expressions
                    .iter()
                    .all(|r| r.holds(label(&r.key).as_deref()))
                && term
                    .match_fields
                    .iter()
                    .all(|r| r.holds((r.key == "metadata.name").then_some(name)))
        })
    }
}

impl NodeSelectorRequirement {
    fn holds(&self, value: Option<&str>) -> bool {
        match (self.operator.as_str(), value) {
            ("In", Some(v)) => self.values.iter().any(|x| x == v),
            ("In", None) => false,
            ("NotIn", Some(v)) => !self.values.iter().any(|x| x == v),
            ("NotIn", None) => true,
            ("Exists", v) => v.is_some(),
            ("DoesNotExist", v) => v.is_none(),
            ("Gt" | "Lt", Some(v)) => {
                match (
                    v.parse::<i64>(),
                    self.values.first().map(|x| x.parse::<i64>()),
                ) {
                    (Ok(v), Some(Ok(bound))) if self.operator == "Gt" => v > bound,
                    (Ok(v), Some(Ok(bound))) => v < bound,
                    _ => false,
                }
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResourceClaim {
    pub metadata: Metadata,
    pub spec: ResourceClaimSpec,
    #[serde(default)]
    pub status: ResourceClaimStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceClaimSpec {
    #[serde(default)]
    pub devices: DeviceClaim,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceClaim {
    #[serde(default)]
    pub requests: Vec<DeviceRequest>,
    #[serde(default)]
    pub constraints: Vec<DeviceConstraint>,
    #[serde(default)]
    pub config: Vec<ClaimConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRequest {
    pub name: String,
    pub exactly: Option<ExactDeviceRequest>,
    #[serde(default)]
    pub first_available: Vec<Json>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactDeviceRequest {
    #[serde(default)]
    pub device_class_name: String,
    #[serde(default)]
    pub selectors: Vec<DeviceSelector>,
    pub allocation_mode: Option<String>,
    pub count: Option<i64>,
    pub admin_access: Option<bool>,
    pub tolerations: Option<Json>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceConstraint {
    #[serde(default)]
    pub requests: Vec<String>,
    pub match_attribute: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClaimConfig {
    #[serde(default)]
    pub requests: Vec<String>,
    pub opaque: Option<Json>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceClaimStatus {
    pub allocation: Option<AllocationResult>,
    #[serde(default)]
    pub reserved_for: Vec<ConsumerReference>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConsumerReference {
    #[serde(default)]
    pub uid: String,
}

/// What the allocator decides for a claim, as `status.allocation` holds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationResult {
    pub devices: DeviceAllocationResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<NodeSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceAllocationResult {
    #[serde(default)]
    pub results: Vec<DeviceRequestAllocationResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<DeviceAllocationConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceRequestAllocationResult {
    pub request: String,
    pub driver: String,
    pub pool: String,
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_access: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Json>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceAllocationConfiguration {
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opaque: Option<Json>,
}
