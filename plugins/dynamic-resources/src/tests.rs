use super::*;
use kws_plugin_sdk::Code;
use kws_plugin_sdk::host::resource_claims::{DeviceId, PodClaim};
use kws_plugin_sdk::testing::{node, node_info, pod};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The host's DRA store as the plugin sees it: classes, slices, the pod's
/// claims, and the allocations held in flight by uid.
struct Host {
    classes: Vec<String>,
    slices: RefCell<Vec<String>>,
    /// Bumped by a test that changes `slices`.
    generation: Cell<u64>,
    slice_fetches: Cell<usize>,
    claims: Result<Vec<(String, serde_json::Value)>, String>,
    in_flight: RefCell<BTreeMap<String, String>>,
    bound: RefCell<Vec<String>>,
    deallocated: RefCell<Vec<String>>,
}

impl resource_claims::ResourceClaims for Host {
    fn pod_claims(&self) -> Result<Vec<PodClaim>, String> {
        let claims = self.claims.clone()?;
        Ok(claims
            .into_iter()
            .map(|(name, claim)| PodClaim {
                in_flight: self
                    .in_flight
                    .borrow()
                    .get(claim["metadata"]["uid"].as_str().unwrap())
                    .cloned(),
                name,
                claim: claim.to_string(),
            })
            .collect())
    }
    fn device_classes(&self) -> Vec<String> {
        self.classes.clone()
    }
    fn resource_slices(&self) -> Vec<String> {
        self.slice_fetches.set(self.slice_fetches.get() + 1);
        self.slices.borrow().clone()
    }
    fn slices_generation(&self) -> u64 {
        self.generation.get()
    }
    fn allocated_devices(&self) -> Vec<DeviceId> {
        self.in_flight
            .borrow()
            .values()
            .flat_map(|a| {
                let a: AllocationResult = serde_json::from_str(a).unwrap();
                a.device_ids().collect::<Vec<_>>()
            })
            .map(|(driver, pool, device)| DeviceId {
                driver,
                pool,
                device,
            })
            .collect()
    }
    fn assume(&self, uid: &str, allocation: &str) -> Result<(), String> {
        self.in_flight
            .borrow_mut()
            .insert(uid.to_string(), allocation.to_string());
        Ok(())
    }
    fn unassume(&self, uid: &str) {
        self.in_flight.borrow_mut().remove(uid);
    }
    fn bind_claim(&self, uid: &str) -> Result<(), String> {
        self.bound.borrow_mut().push(uid.to_string());
        Ok(())
    }
    fn deallocate(&self, uid: &str) -> Result<(), String> {
        self.deallocated.borrow_mut().push(uid.to_string());
        Ok(())
    }
}

fn slice(node: &str, devices: usize) -> String {
    let devices: Vec<_> = (0..devices)
        .map(|i| json!({"name": format!("gpu-{i}")}))
        .collect();
    json!({
        "metadata": {"name": format!("{node}-gpus")},
        "spec": {"driver": "gpu.example.com", "nodeName": node,
                 "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                 "devices": devices}
    })
    .to_string()
}

fn claim(uid: &str) -> serde_json::Value {
    json!({
        "metadata": {"namespace": "default", "name": format!("claim-{uid}"), "uid": uid},
        "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu", "count": 1}}]}}
    })
}

fn host(claims: Result<Vec<(String, serde_json::Value)>, String>) -> Rc<Host> {
    let host = Rc::new(Host {
        classes: vec![
            json!({"metadata": {"name": "gpu"},
            "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.example.com'"}}]}})
            .to_string(),
        ],
        slices: RefCell::new(vec![slice("node-1", 1), slice("node-2", 1)]),
        generation: Cell::new(1),
        slice_fetches: Cell::new(0),
        claims,
        in_flight: RefCell::default(),
        bound: RefCell::default(),
        deallocated: RefCell::default(),
    });
    resource_claims::install(host.clone());
    host
}

fn nodes() -> Vec<NodeInfo> {
    vec![
        node_info(0, node("node-1").build(), Vec::new()),
        node_info(1, node("node-2").build(), Vec::new()),
    ]
}

#[test]
fn a_pod_waits_for_its_claims_and_one_without_claims_is_skipped() {
    host(Err(
        "pod \"default/p\": ResourceClaim not created yet".to_string()
    ));
    let p = pod("default", "p").build();
    let status = DynamicResources::default().pre_enqueue(&p);
    assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
    assert_eq!(
        status.reasons,
        ["pod \"default/p\": ResourceClaim not created yet"]
    );
    host(Ok(Vec::new()));
    assert_eq!(
        DynamicResources::default().pre_enqueue(&p),
        Status::success()
    );
    let result =
        DynamicResources::default().pre_filter(&p, &Cluster::default(), &mut CycleState::default());
    assert_eq!(result, PreFilterResult::skip());
}

#[test]
fn a_device_assumed_by_one_cycle_is_not_offered_to_the_next() {
    let host = host(Ok(vec![("gpu".to_string(), claim("a"))]));
    let (p, nodes) = (pod("default", "p").build(), nodes());
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    let mut first = CycleState::default();
    assert_eq!(
        DynamicResources::default().pre_filter(&p, &Cluster::default(), &mut first),
        PreFilterResult::all()
    );
    let statuses = DynamicResources::default().filter_all(&p, &Cluster::default(), &refs, &first);
    assert!(statuses.iter().all(Status::passes));
    assert_eq!(
        DynamicResources::default().reserve(&p, &nodes[0], &mut first),
        Status::success()
    );
    let held: AllocationResult = serde_json::from_str(&host.in_flight.borrow()["a"]).unwrap();
    assert_eq!(held.devices.results[0].pool, "node-1");

    // Another pod's claim: node-1's only device is held.
    let host = self::host(Ok(vec![("gpu".to_string(), claim("b"))]));
    host.in_flight
        .borrow_mut()
        .insert("a".to_string(), serde_json::to_string(&held).unwrap());
    let mut second = CycleState::default();
    DynamicResources::default().pre_filter(&p, &Cluster::default(), &mut second);
    let statuses = DynamicResources::default().filter_all(&p, &Cluster::default(), &refs, &second);
    assert_eq!(statuses[0], Status::unresolvable(CANNOT_ALLOCATE));
    assert!(statuses[1].passes());

    // Unreserve gives the device back; PreBind writes the claim.
    DynamicResources::default().unreserve(&p, &nodes[0], &mut first);
    assert!(!host.in_flight.borrow().contains_key("a"));
    assert_eq!(
        DynamicResources::default().reserve(&p, &nodes[0], &mut second),
        Status::success()
    );
    assert_eq!(
        DynamicResources::default().pre_bind(&p, &nodes[0], &second),
        Status::success()
    );
    assert_eq!(*host.bound.borrow(), ["b"]);
}

#[test]
fn allocated_claims_keep_the_pod_on_their_node_and_missing_classes_stop_it() {
    let mut allocated = claim("a");
    allocated["status"] = json!({"allocation": {
        "devices": {"results": [{"request": "gpu", "driver": "gpu.example.com", "pool": "node-2", "device": "gpu-0"}]},
        "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]}
    }});
    host(Ok(vec![("gpu".to_string(), allocated)]));
    let (p, nodes) = (pod("default", "p").build(), nodes());
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    let mut state = CycleState::default();
    DynamicResources::default().pre_filter(&p, &Cluster::default(), &mut state);
    let statuses = DynamicResources::default().filter_all(&p, &Cluster::default(), &refs, &state);
    assert_eq!(statuses[0], Status::unresolvable(NOT_AVAILABLE));
    assert!(statuses[1].passes());
    // Had node-2 turned the pod away too, PostFilter frees the idle claim.
    let idle = self::host(Ok(vec![("gpu".to_string(), {
        let mut c = claim("a");
        c["status"] = json!({"allocation": {"devices": {"results": []},
            "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]}}});
        c
    })]));
    let full = Status::unschedulable("Insufficient cpu");
    let result = DynamicResources::default().post_filter(
        &p,
        &Cluster::default(),
        &[(&nodes[0], &statuses[0]), (&nodes[1], &full)],
        &mut state,
    );
    assert_eq!(
        result,
        PostFilterResult::unschedulable(vec![DEALLOCATED.to_string()])
    );
    assert_eq!(*idle.deallocated.borrow(), ["a"]);

    let mut unknown = claim("b");
    unknown["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] = json!("fpga");
    host(Ok(vec![("fpga".to_string(), unknown)]));
    let result =
        DynamicResources::default().pre_filter(&p, &Cluster::default(), &mut CycleState::default());
    assert_eq!(
        result,
        PreFilterResult::rejected(Status::unresolvable(
            "request gpu: device class fpga does not exist"
        ))
    );
}

#[test]
fn a_claim_being_allocated_by_another_pod_makes_the_pod_wait() {
    let host = host(Ok(vec![("gpu".to_string(), claim("a"))]));
    host.in_flight.borrow_mut().insert(
        "a".to_string(),
        json!({"devices": {"results": []}}).to_string(),
    );
    let result = DynamicResources::default().pre_filter(
        &pod("default", "p").build(),
        &Cluster::default(),
        &mut CycleState::default(),
    );
    assert_eq!(
        result,
        PreFilterResult::rejected(Status::unresolvable(
            "resource claim default/claim-a is in the process of being allocated"
        ))
    );
}

#[test]
fn claim_events_queue_the_pod_when_they_may_help() {
    host(Ok(vec![("gpu".to_string(), claim("a"))]));
    let mine = claim("a").to_string();
    let other = claim("z").to_string();
    let mut allocated = claim("z");
    allocated["status"] = json!({"allocation": {"devices": {"results": []}}});
    let allocated = allocated.to_string();
    // Its own claim created; another's deallocated; another's created.
    assert_eq!(claim_hint(None, Some(&mine)), Ok(QueueingHint::Queue));
    assert_eq!(
        claim_hint(Some(&allocated), Some(&other)),
        Ok(QueueingHint::Queue)
    );
    assert_eq!(claim_hint(None, Some(&other)), Ok(QueueingHint::Skip));
    // Its own claim changed, but not its status.
    assert_eq!(claim_hint(Some(&mine), Some(&mine)), Ok(QueueingHint::Skip));
    // A claim deleted with or without devices.
    assert_eq!(claim_hint(Some(&allocated), None), Ok(QueueingHint::Queue));
    assert_eq!(claim_hint(Some(&other), None), Ok(QueueingHint::Skip));
}

#[test]
fn slices_are_fetched_again_only_when_their_generation_changes() {
    let host = host(Ok(vec![("gpu".to_string(), claim("a"))]));
    let plugin = DynamicResources::default();
    let p = pod("default", "p").build();
    let mut nodes = nodes();
    nodes.push(node_info(2, node("node-3").build(), Vec::new()));
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    let cycle = || {
        let mut state = CycleState::default();
        assert_eq!(
            plugin.pre_filter(&p, &Cluster::default(), &mut state),
            PreFilterResult::all()
        );
        let statuses = plugin.filter_all(&p, &Cluster::default(), &refs, &state);
        assert_eq!(plugin.reserve(&p, &nodes[0], &mut state), Status::success());
        plugin.unreserve(&p, &nodes[0], &mut state);
        statuses
    };
    assert_eq!(cycle()[2], Status::unresolvable(CANNOT_ALLOCATE));
    assert_eq!(cycle()[2], Status::unresolvable(CANNOT_ALLOCATE));
    assert_eq!(host.slice_fetches.get(), 1);

    // node-3 publishes a slice: the next cycle sees it.
    host.slices.borrow_mut().push(slice("node-3", 1));
    host.generation.set(2);
    assert!(cycle()[2].passes());
    assert_eq!(host.slice_fetches.get(), 2);
}
