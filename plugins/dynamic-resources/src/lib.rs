//! DynamicResources: kube-scheduler v1.37's plugin for dynamic resource
//! allocation with structured parameters (`resource.k8s.io/v1`,
//! `pkg/scheduler/framework/plugins/dynamicresources`).
//!
//! As upstream, pod by pod:
//!
//! - PreEnqueue keeps a pod out of the queue while one of its
//!   ResourceClaims does not exist (a claim from a template the resource
//!   claim controller has not generated yet, or a named claim not
//!   created), is being deleted, or is not the pod's own.
//! - PreFilter gathers the pod's claims: an allocated one limits the pod to
//!   the nodes of its allocation; for the others every request's
//!   DeviceClass must exist, and the allocator is set up once for the cycle
//!   from every ResourceSlice and the devices already allocated or in
//!   flight (the host keeps those, across plugin instances and binding
//!   cycles). The classes and slices are parsed once and kept across
//!   cycles until the host's slices generation changes.
//! - Filter allocates the unallocated claims on each node
//!   ([`allocator`]: DeviceClass and request CEL selectors, `ExactCount`
//!   and `All`, `matchAttribute`); "cannot allocate all claims" when they
//!   do not all fit.
//! - Reserve allocates again on the chosen node, with the devices taken
//!   since PreFilter, and has the host hold each allocation in flight: a
//!   device the host already holds for another claim is refused, so no
//!   device is ever given twice. Unreserve drops the holds.
//! - PostFilter deallocates an allocated claim whose devices are on nodes
//!   that turned the pod away, when no other pod uses it.
//! - PreBind has the host write each claim's `status.allocation` and add
//!   the pod to `status.reservedFor`.
//! - Queueing hints: a claim of the pod created or changed, any claim
//!   deallocated, a DeviceClass or ResourceSlice added or changed, a node
//!   added or relabelled.
//!
//! - Score: 0 on every node (upstream ranks only `firstAvailable`
//!   subrequests).
//!
//! Not done here (see docs/parity.md): requests with `firstAvailable`
//! (DRAPrioritizedList; such a claim is refused as upstream does with the
//! feature off),
//! partitionable devices and per-device node selection, consumable
//! capacity, device taints, binding conditions, extended resources backed
//! by DRA.

pub mod allocator;
pub mod api;
pub mod cel;

use allocator::{AllocateError, Allocator, Catalog, DeviceId, NodeView};
use api::{AllocationResult, DeviceClass, ResourceClaim, ResourceSlice};
use kws_plugin_sdk::host::resource_claims;
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, CycleState, EventResource, ExtensionPoint, NoArgs, NodeInfo,
    Plugin, Pod, PostFilterResult, PreFilterResult, QueueingHint, RegisteredEvent, Status,
};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

#[derive(Default)]
pub struct DynamicResources {
    /// The catalog of the host's slices generation it was fetched at,
    /// kept across cycles: 500 slices of ten devices cost more to copy
    /// and parse than the rest of the plugin's work for a pod.
    catalog: RefCell<Option<(u64, Rc<Catalog>)>>,
}

impl DynamicResources {
    /// The allocator with every class and slice and the devices taken now.
    fn allocator(&self) -> Result<Allocator, String> {
        let generation = resource_claims::slices_generation();
        let kept = self
            .catalog
            .borrow()
            .as_ref()
            .filter(|(kept, _)| *kept == generation)
            .map(|(_, catalog)| Rc::clone(catalog));
        let catalog = match kept {
            Some(catalog) => catalog,
            None => {
                let catalog = Rc::new(fetch_catalog()?);
                *self.catalog.borrow_mut() = Some((generation, Rc::clone(&catalog)));
                catalog
            }
        };
        Ok(Allocator::with_catalog(catalog, allocated_devices()))
    }
}

/// Filter's reason when the node cannot hold every claim.
pub const CANNOT_ALLOCATE: &str = "cannot allocate all claims";

/// Filter's reason when an allocated claim's devices are not on the node.
pub const NOT_AVAILABLE: &str = "resourceclaim not available on the node";

/// PostFilter's reason once it deallocated a claim.
pub const DEALLOCATED: &str = "deallocation of ResourceClaim completed";

/// One of the pod's claims, as PreFilter found it.
#[derive(Debug, Clone)]
struct Claim {
    claim: ResourceClaim,
    /// The host holds an allocation for it in flight.
    in_flight: bool,
}

impl Claim {
    fn key(&self) -> String {
        format!(
            "{}/{}",
            self.claim.metadata.namespace, self.claim.metadata.name
        )
    }

    fn allocation(&self) -> Option<&AllocationResult> {
        self.claim.status.allocation.as_ref()
    }
}

/// What PreFilter works out for the cycle.
#[derive(Debug, Clone)]
struct CycleClaims {
    claims: Vec<Claim>,
    /// Set when some claim needs allocating.
    allocator: Option<Allocator>,
    /// The uids of the claims whose allocation Reserve had the host hold.
    assumed: Vec<String>,
}

/// The claims to allocate: those not allocated yet.
fn to_allocate(claims: &[Claim]) -> Vec<&ResourceClaim> {
    claims
        .iter()
        .filter(|c| c.allocation().is_none())
        .map(|c| &c.claim)
        .collect()
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| format!("{what}: {e}"))
}

/// The pod's claims from the host, parsed.
fn pod_claims() -> Result<Result<Vec<Claim>, String>, String> {
    let claims = match resource_claims::pod_claims() {
        Ok(claims) => claims,
        Err(reason) => return Ok(Err(reason)),
    };
    claims
        .into_iter()
        .map(|c| {
            Ok(Claim {
                claim: parse("ResourceClaim", &c.claim)?,
                in_flight: c.in_flight.is_some(),
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Ok)
}

/// Every class and slice from the host, parsed.
fn fetch_catalog() -> Result<Catalog, String> {
    let classes = resource_claims::device_classes()
        .iter()
        .map(|c| parse::<DeviceClass>("DeviceClass", c))
        .collect::<Result<Vec<_>, _>>()?;
    let slices = resource_claims::resource_slices()
        .iter()
        .map(|s| parse::<ResourceSlice>("ResourceSlice", s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Catalog::new(classes, slices))
}

/// Every device allocated or in flight now.
fn allocated_devices() -> BTreeSet<DeviceId> {
    resource_claims::allocated_devices()
        .into_iter()
        .map(|d| (d.driver, d.pool, d.device))
        .collect()
}

fn view(node: &NodeInfo) -> impl Fn(&str) -> Option<String> + '_ {
    |key| node.label(key).map(str::to_string)
}

/// Filter for one node.
fn filter_node(state: &CycleClaims, node: &NodeInfo) -> Status {
    let label = view(node);
    let node_view = NodeView {
        name: node.name(),
        label: &label,
    };
    // As upstream: the allocation is tried first, and an allocated claim
    // elsewhere is reported only when it succeeds.
    let unavailable = state.claims.iter().any(|claim| {
        claim
            .allocation()
            .and_then(|a| a.node_selector.as_ref())
            .is_some_and(|selector| !selector.matches(node.name(), &label))
    });
    if let Some(allocator) = &state.allocator {
        match allocator.allocate(&node_view, &to_allocate(&state.claims)) {
            Ok(Some(_)) => {}
            Ok(None) => return Status::unresolvable(CANNOT_ALLOCATE),
            Err(AllocateError::Unschedulable(reason)) => return Status::unresolvable(reason),
            Err(AllocateError::Failed(reason)) => return Status::error(reason),
        }
    }
    if unavailable {
        return Status::unresolvable(NOT_AVAILABLE);
    }
    Status::success()
}

impl Plugin for DynamicResources {
    const NAME: &'static str = "DynamicResources";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::PreEnqueue,
        ExtensionPoint::PreFilter,
        ExtensionPoint::Filter,
        ExtensionPoint::PostFilter,
        ExtensionPoint::Score,
        ExtensionPoint::Reserve,
        ExtensionPoint::PreBind,
        ExtensionPoint::EnqueueExtensions,
    ];
    /// Devices, not pods, are what it counts; the host keeps them.
    const READS_PODS: bool = false;
    type Args = NoArgs;

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(DynamicResources::default())
    }

    fn pre_enqueue(&self, _: &Pod) -> Status {
        match resource_claims::pod_claims() {
            Ok(_) => Status::success(),
            Err(reason) => Status::unresolvable(reason),
        }
    }

    fn pre_filter(&self, _: &Pod, _: &Cluster, state: &mut CycleState) -> PreFilterResult {
        let claims = match pod_claims() {
            Ok(Ok(claims)) => claims,
            Ok(Err(reason)) => return PreFilterResult::rejected(Status::unresolvable(reason)),
            Err(error) => return PreFilterResult::rejected(Status::error(error)),
        };
        if claims.is_empty() {
            return PreFilterResult::skip();
        }
        let mut needs_allocator = false;
        for claim in &claims {
            if claim.allocation().is_some() {
                continue;
            }
            needs_allocator = true;
            // Allocation in flight (another pod's Reserve, not written
            // yet): better wait for it.
            if claim.in_flight {
                return PreFilterResult::rejected(Status::unresolvable(format!(
                    "resource claim {} is in the process of being allocated",
                    claim.key()
                )));
            }
        }
        let allocator = if needs_allocator {
            let allocator = match self.allocator() {
                Ok(allocator) => allocator,
                Err(error) => return PreFilterResult::rejected(Status::error(error)),
            };
            for claim in claims.iter().filter(|c| c.allocation().is_none()) {
                for request in &claim.claim.spec.devices.requests {
                    let status = match &request.exactly {
                        Some(exactly) if exactly.device_class_name.is_empty() => {
                            Some(Status::error(format!(
                                "request {}: unsupported request type",
                                request.name
                            )))
                        }
                        Some(exactly) if !allocator.has_class(&exactly.device_class_name) => {
                            Some(Status::unresolvable(format!(
                                "request {}: device class {} does not exist",
                                request.name, exactly.device_class_name
                            )))
                        }
                        Some(_) => None,
                        None if !request.first_available.is_empty() => {
                            Some(Status::unresolvable(format!(
                                "resource claim {}, request {}: has subrequests, but the DRAPrioritizedList feature is disabled",
                                claim.key(),
                                request.name
                            )))
                        }
                        None => Some(Status::unresolvable(format!(
                            "resource claim {}, request {}: unknown request type",
                            claim.key(),
                            request.name
                        ))),
                    };
                    if let Some(status) = status {
                        return PreFilterResult::rejected(status);
                    }
                }
            }
            Some(allocator)
        } else {
            None
        };
        state.write(CycleClaims {
            claims,
            allocator,
            assumed: Vec::new(),
        });
        PreFilterResult::all()
    }

    fn filter_all(
        &self,
        _: &Pod,
        _: &Cluster,
        nodes: &[&NodeInfo],
        state: &CycleState,
    ) -> Vec<Status> {
        let Some(state) = state.read::<CycleClaims>() else {
            return nodes.iter().map(|_| Status::success()).collect();
        };
        nodes.iter().map(|node| filter_node(state, node)).collect()
    }

    /// Upstream's deallocation: a claim allocated on nodes that turned the
    /// pod away, and used by no other pod, is deallocated so that it can
    /// be allocated again where the pod fits (one per attempt).
    fn post_filter(
        &self,
        pod: &Pod,
        _: &Cluster,
        rejected: &[(&NodeInfo, &Status)],
        state: &mut CycleState,
    ) -> PostFilterResult {
        let Some(cycle) = state.read::<CycleClaims>() else {
            return PostFilterResult::unschedulable(Vec::new());
        };
        let unavailable = cycle.claims.iter().filter(|c| {
            c.allocation()
                .and_then(|a| a.node_selector.as_ref())
                .is_some_and(|selector| {
                    rejected.iter().any(|(node, _)| {
                        let label = view(node);
                        !selector.matches(node.name(), &label)
                    })
                })
        });
        for claim in unavailable {
            let reserved = &claim.claim.status.reserved_for;
            if reserved.iter().all(|r| r.uid == pod.uid) {
                return match resource_claims::deallocate(&claim.claim.metadata.uid) {
                    Ok(()) => PostFilterResult::unschedulable(vec![DEALLOCATED.to_string()]),
                    Err(reason) => PostFilterResult {
                        status: Status::error(reason),
                        nominated_node: None,
                    },
                };
            }
        }
        PostFilterResult::unschedulable(Vec::new())
    }

    /// Upstream scores only the subrequest a `firstAvailable` request got
    /// (the earlier, the higher); such requests are refused here, so every
    /// node scores 0, as upstream's Score answers for other pods.
    fn score(&self, _: &Pod, _: &NodeInfo) -> Result<i64, String> {
        Ok(0)
    }

    fn reserve(&self, _: &Pod, node: &NodeInfo, state: &mut CycleState) -> Status {
        let Some(cycle) = state.read_mut::<CycleClaims>() else {
            return Status::success();
        };
        let CycleClaims {
            claims,
            allocator,
            assumed,
        } = cycle;
        // Again on the chosen node, with PreFilter's classes and slices
        // and what other cycles took since.
        let Some(allocator) = allocator else {
            return Status::success();
        };
        allocator.set_allocated(allocated_devices());
        let label = view(node);
        let node_view = NodeView {
            name: node.name(),
            label: &label,
        };
        let to_allocate = to_allocate(claims);
        let results = match allocator.allocate(&node_view, &to_allocate) {
            Ok(Some(results)) => results,
            Ok(None) => return Status::unschedulable(CANNOT_ALLOCATE),
            Err(AllocateError::Unschedulable(reason)) => return Status::unschedulable(reason),
            Err(AllocateError::Failed(reason)) => return Status::error(reason),
        };
        let uids: Vec<String> = to_allocate.iter().map(|c| c.metadata.uid.clone()).collect();
        for (uid, result) in uids.into_iter().zip(results) {
            let json = match serde_json::to_string(&result) {
                Ok(json) => json,
                Err(error) => return Status::error(error.to_string()),
            };
            if let Err(reason) = resource_claims::assume(&uid, &json) {
                return Status::error(format!(
                    "internal error, couldn't signal allocation for claim {uid}: {reason}"
                ));
            }
            assumed.push(uid);
        }
        Status::success()
    }

    fn unreserve(&self, _: &Pod, _: &NodeInfo, state: &mut CycleState) {
        if let Some(cycle) = state.read_mut::<CycleClaims>() {
            for uid in cycle.assumed.drain(..) {
                resource_claims::unassume(&uid);
            }
        }
    }

    fn pre_bind(&self, pod: &Pod, _: &NodeInfo, state: &CycleState) -> Status {
        let Some(cycle) = state.read::<CycleClaims>() else {
            return Status::skip();
        };
        for claim in &cycle.claims {
            // Already reserved for the pod: nothing to write.
            if claim
                .claim
                .status
                .reserved_for
                .iter()
                .any(|r| r.uid == pod.uid)
            {
                continue;
            }
            if let Err(reason) = resource_claims::bind_claim(&claim.claim.metadata.uid) {
                return Status::error(reason);
            }
        }
        Status::success()
    }

    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            // A resource might depend on node labels for topology filtering.
            RegisteredEvent::on(
                EventResource::Node,
                &[
                    ActionType::Add,
                    ActionType::UpdateNodeLabel,
                    ActionType::UpdateNodeAllocatable,
                ],
            ),
            // Allocation is tracked in ResourceClaims.
            RegisteredEvent::on(
                EventResource::ResourceClaim,
                &[ActionType::Add, ActionType::Update, ActionType::Delete],
            )
            .with_hint(),
            // A pod might be waiting for a class to get created or
            // modified, or for devices a new slice offers.
            RegisteredEvent::on(
                EventResource::DeviceClass,
                &[ActionType::Add, ActionType::Update],
            ),
            RegisteredEvent::on(
                EventResource::ResourceSlice,
                &[ActionType::Add, ActionType::Update],
            ),
        ]
    }

    fn queueing_hint(
        &self,
        _: &Pod,
        _: &Cluster,
        event: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        if event.resource != EventResource::ResourceClaim {
            return Ok(QueueingHint::Queue);
        }
        claim_hint(old, new)
    }
}

/// Upstream's `isSchedulableAfterClaimChange`.
fn claim_hint(old: Option<&str>, new: Option<&str>) -> Result<QueueingHint, String> {
    let old: Option<ResourceClaim> = old.map(|o| parse("ResourceClaim", o)).transpose()?;
    let Some(new) = new else {
        // Deleted: only a claim that held devices frees any.
        return Ok(match old.and_then(|o| o.status.allocation) {
            Some(_) => QueueingHint::Queue,
            None => QueueingHint::Skip,
        });
    };
    let new: ResourceClaim = parse("ResourceClaim", new)?;
    let Ok(claims) = resource_claims::pod_claims() else {
        // The pod is still missing a claim: not this one, or it would
        // resolve now.
        return Ok(QueueingHint::Skip);
    };
    let uses: BTreeSet<String> = claims
        .iter()
        .filter_map(|c| parse::<ResourceClaim>("ResourceClaim", &c.claim).ok())
        .map(|c| c.metadata.uid)
        .collect();
    let deallocated = old
        .as_ref()
        .is_some_and(|o| o.status.allocation.is_some() && new.status.allocation.is_none());
    if deallocated {
        return Ok(QueueingHint::Queue);
    }
    if !uses.contains(&new.metadata.uid) {
        return Ok(QueueingHint::Skip);
    }
    let Some(old) = old else {
        return Ok(QueueingHint::Queue);
    };
    let changed = old.status.allocation != new.status.allocation
        || old.status.reserved_for.iter().map(|r| &r.uid).ne(new
            .status
            .reserved_for
            .iter()
            .map(|r| &r.uid));
    Ok(if changed {
        QueueingHint::Queue
    } else {
        QueueingHint::Skip
    })
}

kws_plugin_sdk::export_plugin!(DynamicResources);

#[cfg(test)]
mod tests;
