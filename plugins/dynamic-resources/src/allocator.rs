//! Allocates devices to claims on one node, as the stable allocator of
//! `k8s.io/dynamic-resource-allocation/structured` does: the node's
//! resource pools (its own slices, `allNodes` slices and slices whose
//! `nodeSelector` matches it; of each pool only the newest generation), the
//! devices no claim holds, each request's DeviceClass selectors and its own
//! (CEL), `ExactCount` and `All` modes, and `matchAttribute` constraints,
//! searched with backtracking so that one claim's choice never blocks
//! another's when a different choice would fit both.

use crate::api::{
    AllocationResult, Device, DeviceAllocationConfiguration, DeviceAttribute, DeviceClass,
    DeviceRequestAllocationResult, DeviceSelector, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ResourceClaim, ResourceSlice,
};
use crate::cel::{self, Expr, Value};
use kws_plugin_sdk::quantity::Quantity;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A device as `driver/pool/device`.
pub type DeviceId = (String, String, String);

/// What allocation needs for one cycle: built once in PreFilter, asked per
/// node in Filter and again in Reserve with the devices taken since.
#[derive(Debug, Clone, Default)]
pub struct Allocator {
    catalog: Rc<Catalog>,
    allocated: BTreeSet<DeviceId>,
}

/// Every DeviceClass and ResourceSlice, parsed and indexed by node: they
/// change far less often than pods come, so one catalog serves every
/// cycle until the host says one changed.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Each class with its selectors compiled.
    classes: BTreeMap<String, (DeviceClass, Vec<Result<Expr, cel::Error>>)>,
    /// Sorted by name, the order pools and devices are tried in.
    slices: Vec<ResourceSlice>,
    /// The slices of each `spec.nodeName` (indexes into `slices`, sorted).
    by_node: BTreeMap<String, Vec<usize>>,
    /// The `allNodes` slices and those with a `nodeSelector`.
    shared: Vec<usize>,
    /// Where each slice's devices start in a numbering of every device.
    device_offsets: Vec<usize>,
    devices: usize,
    /// Per class, by device number: whether its selectors accept the
    /// device, worked out the first time it is asked. It depends on neither
    /// node nor claim, and evaluating CEL for every device of every node
    /// was most of Filter's work.
    class_matches: RefCell<BTreeMap<String, ClassMatches>>,
}

/// By device number: a class's selectors' answer, once asked.
type ClassMatches = Vec<Option<Result<bool, String>>>;

impl Catalog {
    pub fn new(classes: impl IntoIterator<Item = DeviceClass>, slices: Vec<ResourceSlice>) -> Self {
        let mut slices = slices;
        slices.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let mut by_node: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut shared = Vec::new();
        for (i, slice) in slices.iter().enumerate() {
            let spec = &slice.spec;
            if let Some(name) = &spec.node_name {
                by_node.entry(name.clone()).or_default().push(i);
            } else if spec.all_nodes == Some(true) || spec.node_selector.is_some() {
                shared.push(i);
            }
            // Per-device node selection (partitionable devices) is not
            // supported here: such a slice offers nothing.
        }
        let mut devices = 0;
        let device_offsets = slices
            .iter()
            .map(|slice| {
                let offset = devices;
                devices += slice.spec.devices.len();
                offset
            })
            .collect();
        Catalog {
            classes: classes
                .into_iter()
                .map(|c| {
                    let selectors = compile(&c.spec.selectors);
                    (c.metadata.name.clone(), (c, selectors))
                })
                .collect(),
            slices,
            by_node,
            shared,
            device_offsets,
            devices,
            class_matches: RefCell::default(),
        }
    }

    /// Whether the selectors of `class` accept device `device` of slice
    /// `slice`, as [`selectors_match`] answers, evaluated once per device.
    fn class_accepts(
        &self,
        class: &str,
        selectors: &[Result<Expr, cel::Error>],
        (slice, device): (usize, usize),
        candidate: Candidate<'_>,
    ) -> Result<bool, String> {
        if selectors.is_empty() {
            return Ok(true);
        }
        let number = self.device_offsets[slice] + device;
        if let Some(Some(known)) = self
            .class_matches
            .borrow()
            .get(class)
            .map(|matches| matches[number].clone())
        {
            return known;
        }
        let result = selectors_match(&format!("class {class}"), selectors, candidate);
        self.class_matches
            .borrow_mut()
            .entry(class.to_string())
            .or_insert_with(|| vec![None; self.devices])[number] = Some(result.clone());
        result
    }

    pub fn has_class(&self, name: &str) -> bool {
        self.classes.contains_key(name)
    }

    /// The slices on `node`, in name order.
    fn on_node<'a>(
        &'a self,
        node: &NodeView<'_>,
    ) -> impl Iterator<Item = (usize, &'a ResourceSlice)> {
        let mut indexes: Vec<usize> = self
            .by_node
            .get(node.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .copied()
            .chain(self.shared.iter().copied().filter(|&i| {
                let spec = &self.slices[i].spec;
                spec.all_nodes == Some(true)
                    || spec
                        .node_selector
                        .as_ref()
                        .is_some_and(|selector| selector.matches(node.name, node.label))
            }))
            .collect();
        indexes.sort_unstable();
        indexes.into_iter().map(|i| (i, &self.slices[i]))
    }
}

/// The node allocation is asked about.
pub struct NodeView<'a> {
    pub name: &'a str,
    pub label: &'a dyn Fn(&str) -> Option<String>,
}

/// A resource pool as the node sees it.
struct Pool<'a> {
    driver: &'a str,
    name: &'a str,
    /// The slices of the newest generation, with their numbers in the
    /// catalog.
    slices: Vec<(usize, &'a ResourceSlice)>,
    incomplete: bool,
    invalid: bool,
}

/// A device that may serve a request.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    slice: &'a ResourceSlice,
    device: &'a Device,
}

impl Candidate<'_> {
    fn id(&self) -> DeviceId {
        (
            self.slice.spec.driver.clone(),
            self.slice.spec.pool.name.clone(),
            self.device.name.clone(),
        )
    }
}

/// One device to pick: the `nth` of a request of a claim.
struct Slot {
    claim: usize,
    request: usize,
    /// Where the request's candidates start for this pick: after the
    /// previous pick of the same request, so that picks are combinations.
    follows_previous: bool,
}

fn id_string((driver, pool, device): &DeviceId) -> String {
    format!("{driver}/{pool}/{device}")
}

fn claim_key(claim: &ResourceClaim) -> String {
    format!("{}/{}", claim.metadata.namespace, claim.metadata.name)
}

/// Splits an attribute's qualified name into domain and name; the driver
/// is the domain of an unqualified one.
fn qualified<'a>(name: &'a str, driver: &'a str) -> (&'a str, &'a str) {
    name.rsplit_once('/').unwrap_or((driver, name))
}

fn attribute_value(attribute: &DeviceAttribute) -> Value {
    if let Some(i) = attribute.int {
        Value::Int(i)
    } else if let Some(b) = attribute.bool {
        Value::Bool(b)
    } else if let Some(s) = &attribute.string {
        Value::String(s.clone())
    } else if let Some(v) = &attribute.version {
        cel::Version::parse(v).map_or(Value::Null, Value::Version)
    } else {
        Value::Null
    }
}

/// The CEL variable `device` for a device of `driver`.
fn device_variable(driver: &str, device: &Device) -> Value {
    let mut attributes: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (name, attribute) in &device.attributes {
        let (domain, id) = qualified(name, driver);
        attributes
            .entry(domain.to_string())
            .or_default()
            .insert(id.to_string(), attribute_value(attribute));
    }
    let mut capacity: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (name, amount) in &device.capacity {
        let (domain, id) = qualified(name, driver);
        if let Some(q) = Quantity::parse(&amount.value) {
            capacity
                .entry(domain.to_string())
                .or_default()
                .insert(id.to_string(), Value::Quantity(q));
        }
    }
    let domains = |m: BTreeMap<String, BTreeMap<String, Value>>| {
        Value::Domains(m.into_iter().map(|(k, v)| (k, Value::Map(v))).collect())
    };
    Value::Map(BTreeMap::from([
        ("driver".to_string(), Value::String(driver.to_string())),
        ("allowMultipleAllocations".to_string(), Value::Bool(false)),
        ("attributes".to_string(), domains(attributes)),
        ("capacity".to_string(), domains(capacity)),
    ]))
}

/// Whether every selector accepts the device; errors as upstream words
/// them (`owner` is `class NAME` or `claim NS/NAME`).
fn selectors_match(
    owner: &str,
    selectors: &[Result<Expr, cel::Error>],
    candidate: Candidate<'_>,
) -> Result<bool, String> {
    let mut variables = BTreeMap::new();
    for (i, compiled) in selectors.iter().enumerate() {
        let expr = compiled
            .as_ref()
            .map_err(|e| format!("{owner}: selector #{i}: CEL compile error: {e}"))?;
        if variables.is_empty() {
            variables.insert(
                "device",
                device_variable(&candidate.slice.spec.driver, candidate.device),
            );
        }
        match cel::evaluate(expr, &variables) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => return Ok(false),
            Ok(other) => {
                return Err(format!(
                    "{owner}: selector #{i} on device {}: CEL runtime error: expression must evaluate to bool, got {other:?}",
                    id_string(&candidate.id())
                ));
            }
            Err(e) => {
                return Err(format!(
                    "{owner}: selector #{i} on device {}: CEL runtime error: {e}",
                    id_string(&candidate.id())
                ));
            }
        }
    }
    Ok(true)
}

fn compile(selectors: &[DeviceSelector]) -> Vec<Result<Expr, cel::Error>> {
    selectors
        .iter()
        .map(|s| match &s.cel {
            Some(c) => cel::compile(&c.expression),
            None => Err(cel::Error(
                "CEL expression empty (unsupported selector type?)".to_string(),
            )),
        })
        .collect()
}

/// What a request of a claim asks for, worked out before the search.
struct RequestData<'a> {
    name: &'a str,
    class: &'a DeviceClass,
    candidates: Vec<Candidate<'a>>,
    /// How many devices: the count, or every candidate (`All`).
    count: usize,
    /// `All`: at least one device is needed.
    all: bool,
    admin_access: Option<bool>,
    tolerations: Option<serde_json::Value>,
}

impl Allocator {
    pub fn new(
        classes: impl IntoIterator<Item = DeviceClass>,
        slices: Vec<ResourceSlice>,
        allocated: BTreeSet<DeviceId>,
    ) -> Allocator {
        Allocator::with_catalog(Rc::new(Catalog::new(classes, slices)), allocated)
    }

    pub fn with_catalog(catalog: Rc<Catalog>, allocated: BTreeSet<DeviceId>) -> Allocator {
        Allocator { catalog, allocated }
    }

    /// The devices taken now, for an allocation again later in the cycle.
    pub fn set_allocated(&mut self, allocated: BTreeSet<DeviceId>) {
        self.allocated = allocated;
    }

    pub fn has_class(&self, name: &str) -> bool {
        self.catalog.has_class(name)
    }

    /// The node's pools, sorted by driver and pool name.
    fn pools(&self, node: &NodeView<'_>) -> Vec<Pool<'_>> {
        let mut by_id: BTreeMap<(&str, &str), Vec<(usize, &ResourceSlice)>> = BTreeMap::new();
        for (i, slice) in self.catalog.on_node(node) {
            let spec = &slice.spec;
            by_id
                .entry((spec.driver.as_str(), spec.pool.name.as_str()))
                .or_default()
                .push((i, slice));
        }
        by_id
            .into_iter()
            .map(|((driver, name), slices)| {
                let newest = slices
                    .iter()
                    .map(|(_, s)| s.spec.pool.generation)
                    .max()
                    .unwrap_or(0);
                let slices: Vec<(usize, &ResourceSlice)> = slices
                    .into_iter()
                    .filter(|(_, s)| s.spec.pool.generation == newest)
                    .collect();
                let incomplete = i64::try_from(slices.len()).unwrap_or(i64::MAX)
                    != slices[0].1.spec.pool.resource_slice_count;
                let mut names = BTreeSet::new();
                let invalid = !slices
                    .iter()
                    .flat_map(|(_, s)| &s.spec.devices)
                    .all(|d| names.insert(d.name.as_str()));
                Pool {
                    driver,
                    name,
                    slices,
                    incomplete,
                    invalid,
                }
            })
            .collect()
    }

    /// Allocates every claim of `claims` on `node`: one result per claim,
    /// in order; `Ok(None)` when they do not all fit (upstream's "cannot
    /// allocate all claims"); `Err` for a claim or class that cannot be
    /// evaluated (a broken selector), or (`Err` of
    /// [`AllocateError::Unschedulable`]) for invalid pools on the node.
    pub fn allocate(
        &self,
        node: &NodeView<'_>,
        claims: &[&ResourceClaim],
    ) -> Result<Option<Vec<AllocationResult>>, AllocateError> {
        let pools = self.pools(node);
        let mut requests: Vec<Vec<RequestData<'_>>> = Vec::with_capacity(claims.len());
        for claim in claims {
            let mut data = Vec::new();
            for request in &claim.spec.devices.requests {
                data.push(self.request_data(claim, request, &pools)?);
            }
            requests.push(data);
        }
        let mut slots = Vec::new();
        for (c, claim_requests) in requests.iter().enumerate() {
            for (r, request) in claim_requests.iter().enumerate() {
                for n in 0..request.count {
                    slots.push(Slot {
                        claim: c,
                        request: r,
                        follows_previous: n > 0,
                    });
                }
            }
        }
        let mut search = Search {
            allocator: self,
            claims,
            requests: &requests,
            slots: &slots,
            picked: Vec::with_capacity(slots.len()),
        };
        // `All` with no device to give cannot succeed.
        let nothing_for_all = requests
            .iter()
            .flatten()
            .any(|r| r.all && r.candidates.is_empty());
        if nothing_for_all || !search.step(0) {
            if pools.iter().any(|p| p.invalid) {
                return Err(AllocateError::Unschedulable(
                    "invalid resource pools were encountered".to_string(),
                ));
            }
            return Ok(None);
        }
        let picked = search.picked;
        let mut results: Vec<AllocationResult> =
            claims.iter().map(|_| AllocationResult::default()).collect();
        for (slot, (_, candidate)) in slots.iter().zip(&picked) {
            let request = &requests[slot.claim][slot.request];
            let (driver, pool, device) = candidate.id();
            results[slot.claim]
                .devices
                .results
                .push(DeviceRequestAllocationResult {
                    request: request.name.to_string(),
                    driver,
                    pool,
                    device,
                    admin_access: request.admin_access,
                    tolerations: request.tolerations.clone(),
                });
        }
        for (c, result) in results.iter_mut().enumerate() {
            result.devices.config = configs(claims[c], &requests[c]);
            let devices: Vec<Candidate<'_>> = slots
                .iter()
                .zip(&picked)
                .filter(|(s, _)| s.claim == c)
                .map(|(_, (_, candidate))| *candidate)
                .collect();
            result.node_selector = node_selector(node.name, &devices);
        }
        Ok(Some(results))
    }

    fn request_data<'a>(
        &'a self,
        claim: &ResourceClaim,
        request: &'a crate::api::DeviceRequest,
        pools: &[Pool<'a>],
    ) -> Result<RequestData<'a>, AllocateError> {
        let key = claim_key(claim);
        let name = request.name.as_str();
        let Some(exactly) = &request.exactly else {
            return Err(AllocateError::Failed(
                if request.first_available.is_empty() {
                    format!(
                        "claim {key}, request {name}: missing device class name (unsupported request type?)"
                    )
                } else {
                    format!(
                        "claim {key}, request {name}: has subrequests, which this scheduler does not allocate (DRAPrioritizedList)"
                    )
                },
            ));
        };
        if exactly.device_class_name.is_empty() {
            return Err(AllocateError::Failed(format!(
                "claim {key}, request {name}: missing device class name (unsupported request type?)"
            )));
        }
        let (class, class_selectors) = self.catalog.classes.get(&exactly.device_class_name).ok_or_else(|| {
            AllocateError::Failed(format!(
                "claim {key}, request {name}: could not retrieve device class {}: deviceclass.resource.k8s.io {:?} not found",
                exactly.device_class_name, exactly.device_class_name
            ))
        })?;
        let request_selectors = compile(&exactly.selectors);
        let claim_owner = format!("claim {key}");
        let all = exactly.allocation_mode.as_deref() == Some("All");
        let mut candidates = Vec::new();
        for pool in pools {
            if all && pool.incomplete {
                return Err(AllocateError::Failed(format!(
                    "claim {key}, request {name}: asks for all devices, but resource pool {}/{} is currently being updated",
                    pool.driver, pool.name
                )));
            }
            if pool.invalid && all {
                return Err(AllocateError::Failed(format!(
                    "claim {key}, request {name}: asks for all devices, but resource pool {}/{} is currently invalid",
                    pool.driver, pool.name
                )));
            }
            // Devices are not taken from a pool being updated or invalid,
            // though others may serve.
            if pool.invalid || pool.incomplete {
                continue;
            }
            for &(slice_number, slice) in &pool.slices {
                for (device_number, device) in slice.spec.devices.iter().enumerate() {
                    let candidate = Candidate { slice, device };
                    if self
                        .catalog
                        .class_accepts(
                            &class.metadata.name,
                            class_selectors,
                            (slice_number, device_number),
                            candidate,
                        )
                        .map_err(AllocateError::Failed)?
                        && selectors_match(&claim_owner, &request_selectors, candidate)
                            .map_err(AllocateError::Failed)?
                    {
                        candidates.push(candidate);
                    }
                }
            }
        }
        let count = if all {
            candidates.len()
        } else {
            match exactly.allocation_mode.as_deref() {
                None | Some("ExactCount") => {}
                Some(other) => {
                    return Err(AllocateError::Failed(format!(
                        "claim {key}, request {name}: unsupported count mode {other}"
                    )));
                }
            }
            usize::try_from(exactly.count.unwrap_or(1)).unwrap_or(usize::MAX)
        };
        Ok(RequestData {
            name,
            class,
            candidates,
            count,
            all,
            admin_access: exactly.admin_access.filter(|a| *a),
            tolerations: exactly.tolerations.clone(),
        })
    }
}

/// Why allocation failed on a node other than "does not fit".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocateError {
    /// Not on this node, perhaps on another (upstream's
    /// `ErrFailedAllocationOnNode`).
    Unschedulable(String),
    /// The claim or a class cannot be evaluated: scheduling the pod fails.
    Failed(String),
}

/// The backtracking search over the slots.
struct Search<'s, 'a> {
    allocator: &'a Allocator,
    claims: &'s [&'s ResourceClaim],
    requests: &'s [Vec<RequestData<'a>>],
    slots: &'s [Slot],
    /// Per filled slot: the candidate's index in its request and the
    /// candidate.
    picked: Vec<(usize, Candidate<'a>)>,
}

impl Search<'_, '_> {
    fn step(&mut self, slot_index: usize) -> bool {
        let Some(slot) = self.slots.get(slot_index) else {
            return true;
        };
        let request = &self.requests[slot.claim][slot.request];
        let start = if slot.follows_previous {
            self.picked.last().map_or(0, |(i, _)| i + 1)
        } else {
            0
        };
        for (index, candidate) in request.candidates.iter().enumerate().skip(start) {
            let id = candidate.id();
            // Admin access may share a device with anyone.
            if request.admin_access != Some(true) && self.allocator.allocated.contains(&id) {
                continue;
            }
            if self.picked.iter().any(|(_, p)| p.id() == id) {
                continue;
            }
            if !self.constraints_hold(slot, *candidate) {
                continue;
            }
            self.picked.push((index, *candidate));
            if self.step(slot_index + 1) {
                return true;
            }
            self.picked.pop();
        }
        false
    }

    /// `matchAttribute`: every device the constraint covers (its requests,
    /// or all of the claim's) has the attribute, with one value.
    fn constraints_hold(&self, slot: &Slot, candidate: Candidate<'_>) -> bool {
        let claim = self.claims[slot.claim];
        let request_name = &claim.spec.devices.requests[slot.request].name;
        claim.spec.devices.constraints.iter().all(|constraint| {
            let Some(attribute) = &constraint.match_attribute else {
                return true;
            };
            if !constraint.requests.is_empty() && !constraint.requests.contains(request_name) {
                return true;
            }
            let value = |c: Candidate<'_>| {
                let (domain, id) = qualified(attribute, "");
                c.device
                    .attributes
                    .iter()
                    .find(|(name, _)| qualified(name, &c.slice.spec.driver) == (domain, id))
                    .map(|(_, v)| v.clone())
            };
            let Some(mine) = value(candidate) else {
                return false;
            };
            self.slots
                .iter()
                .zip(&self.picked)
                .filter(|(s, _)| {
                    s.claim == slot.claim
                        && (constraint.requests.is_empty()
                            || constraint
                                .requests
                                .contains(&claim.spec.devices.requests[s.request].name))
                })
                .all(|(_, (_, other))| value(*other).as_ref() == Some(&mine))
        })
    }
}

/// The configs of an allocation: each class's once (`FromClass`), then the
/// claim's that apply to its requests (`FromClaim`).
fn configs(
    claim: &ResourceClaim,
    requests: &[RequestData<'_>],
) -> Vec<DeviceAllocationConfiguration> {
    let mut configs: Vec<DeviceAllocationConfiguration> = Vec::new();
    // Where each class's configs are, to add a later request of the class.
    let mut class_configs: BTreeMap<&str, std::ops::Range<usize>> = BTreeMap::new();
    for request in requests {
        let class = request.class.metadata.name.as_str();
        if let Some(range) = class_configs.get(class) {
            for config in &mut configs[range.clone()] {
                config.requests.push(request.name.to_string());
            }
            continue;
        }
        let start = configs.len();
        for config in &request.class.spec.config {
            configs.push(DeviceAllocationConfiguration {
                source: "FromClass".to_string(),
                requests: vec![request.name.to_string()],
                opaque: config.get("opaque").cloned(),
            });
        }
        class_configs.insert(class, start..configs.len());
    }
    for config in &claim.spec.devices.config {
        if config.requests.is_empty()
            || requests
                .iter()
                .any(|r| config.requests.iter().any(|n| n == r.name))
        {
            configs.push(DeviceAllocationConfiguration {
                source: "FromClaim".to_string(),
                requests: config.requests.clone(),
                opaque: config.opaque.clone(),
            });
        }
    }
    configs
}

/// Where the allocated devices can be used, as upstream's
/// `createNodeSelector`: the node by name when a device comes from a slice
/// of that node; else the slice's own selector; nothing for devices
/// available everywhere.
fn node_selector(node: &str, devices: &[Candidate<'_>]) -> Option<NodeSelector> {
    if devices.iter().any(|d| d.slice.spec.node_name.is_some()) {
        return Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Vec::new(),
                match_fields: vec![NodeSelectorRequirement {
                    key: "metadata.name".to_string(),
                    operator: "In".to_string(),
                    values: vec![node.to_string()],
                }],
            }],
        });
    }
    devices
        .iter()
        .find_map(|d| d.slice.spec.node_selector.clone())
}

impl AllocationResult {
    /// The devices it holds.
    pub fn device_ids(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.devices
            .results
            .iter()
            .map(|r| (r.driver.clone(), r.pool.clone(), r.device.clone()))
    }
}

#[cfg(test)]
mod tests;
