use super::*;
use serde_json::json;

fn slice(node: &str, generation: i64, devices: serde_json::Value) -> ResourceSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{node}-gpu-{generation}")},
        "spec": {"driver": "gpu.example.com", "nodeName": node,
                 "pool": {"name": node, "generation": generation, "resourceSliceCount": 1},
                 "devices": devices}
    }))
    .unwrap()
}

/// Four GPUs: two of model a100 (40Gi), two h100 (80Gi); the index is
/// `numa` 0 or 1 alternately.
fn gpus() -> serde_json::Value {
    json!([0, 1, 2, 3].map(|i| json!({
        "name": format!("gpu-{i}"),
        "attributes": {"model": {"string": if i < 2 { "a100" } else { "h100" }},
                       "gpu.example.com/numa": {"int": i % 2}},
        "capacity": {"memory": {"value": if i < 2 { "40Gi" } else { "80Gi" }}}
    })))
}

fn class(name: &str, expression: &str) -> DeviceClass {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selectors": [{"cel": {"expression": expression}}]}
    }))
    .unwrap()
}

fn claim(name: &str, requests: serde_json::Value, constraints: serde_json::Value) -> ResourceClaim {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": name, "uid": name},
        "spec": {"devices": {"requests": requests, "constraints": constraints}}
    }))
    .unwrap()
}

fn one(class: &str, selector: Option<&str>, count: i64) -> serde_json::Value {
    let selectors: Vec<_> = selector
        .into_iter()
        .map(|s| json!({"cel": {"expression": s}}))
        .collect();
    json!({"name": "gpu", "exactly": {"deviceClassName": class, "selectors": selectors,
                                      "allocationMode": "ExactCount", "count": count}})
}

fn allocator(allocated: &[&str]) -> Allocator {
    Allocator::new(
        [class("gpu", "device.driver == 'gpu.example.com'")],
        vec![slice("node-1", 1, gpus()), slice("node-2", 1, gpus())],
        allocated
            .iter()
            .map(|d| {
                (
                    "gpu.example.com".to_string(),
                    "node-1".to_string(),
                    d.to_string(),
                )
            })
            .collect(),
    )
}

fn on<'a>(name: &'a str, label: &'a dyn Fn(&str) -> Option<String>) -> NodeView<'a> {
    NodeView { name, label }
}

fn devices(results: &[AllocationResult]) -> Vec<Vec<String>> {
    results
        .iter()
        .map(|r| r.devices.results.iter().map(|d| d.device.clone()).collect())
        .collect()
}

#[test]
fn allocates_free_devices_of_the_node_only() {
    let no_labels = |_: &str| None;
    let claims = [
        claim("a", json!([one("gpu", None, 1)]), json!([])),
        claim("b", json!([one("gpu", None, 2)]), json!([])),
    ];
    let refs: Vec<&ResourceClaim> = claims.iter().collect();
    let results = allocator(&["gpu-0"])
        .allocate(&on("node-1", &no_labels), &refs)
        .unwrap()
        .unwrap();
    assert_eq!(devices(&results), [vec!["gpu-1"], vec!["gpu-2", "gpu-3"]]);
    assert_eq!(results[0].devices.results[0].pool, "node-1");
    let selector = results[0].node_selector.as_ref().unwrap();
    assert!(selector.matches("node-1", no_labels));
    assert!(!selector.matches("node-2", no_labels));
    // Four devices taken: nothing is left for a fourth on node-1.
    let full = allocator(&["gpu-0", "gpu-1", "gpu-2", "gpu-3"]);
    assert_eq!(
        full.allocate(&on("node-1", &no_labels), &refs[..1]),
        Ok(None)
    );
    assert!(
        full.allocate(&on("node-2", &no_labels), &refs[..1])
            .unwrap()
            .is_some()
    );
    assert_eq!(
        full.allocate(&on("node-3", &no_labels), &refs[..1]),
        Ok(None)
    );
}

#[test]
fn cel_selectors_of_class_and_request_and_all_mode() {
    let no_labels = |_: &str| None;
    let big = claim(
        "big",
        json!([one(
            "gpu",
            Some("device.capacity['gpu.example.com'].memory.compareTo(quantity('64Gi')) >= 0"),
            2
        )]),
        json!([]),
    );
    let results = allocator(&[])
        .allocate(&on("node-1", &no_labels), &[&big])
        .unwrap()
        .unwrap();
    assert_eq!(devices(&results), [vec!["gpu-2", "gpu-3"]]);
    let too_many = claim(
        "many",
        json!([one(
            "gpu",
            Some("device.attributes['gpu.example.com'].model == 'h100'"),
            3
        )]),
        json!([]),
    );
    assert_eq!(
        allocator(&[]).allocate(&on("node-1", &no_labels), &[&too_many]),
        Ok(None)
    );
    let all = claim(
        "all",
        json!([{"name": "gpu", "exactly": {"deviceClassName": "gpu", "allocationMode": "All",
                "selectors": [{"cel": {"expression": "device.attributes['gpu.example.com'].model == 'a100'"}}]}}]),
        json!([]),
    );
    let results = allocator(&[])
        .allocate(&on("node-1", &no_labels), &[&all])
        .unwrap()
        .unwrap();
    assert_eq!(devices(&results), [vec!["gpu-0", "gpu-1"]]);
    // All of them, so one taken means none.
    assert_eq!(
        allocator(&["gpu-1"]).allocate(&on("node-1", &no_labels), &[&all]),
        Ok(None)
    );
}

#[test]
fn match_attribute_backtracks_to_devices_that_agree() {
    let no_labels = |_: &str| None;
    // gpu-0 is taken: the first free pair with one numa is gpu-1 and gpu-3.
    let pair = claim(
        "pair",
        json!([one("gpu", None, 2)]),
        json!([{"matchAttribute": "gpu.example.com/numa"}]),
    );
    let results = allocator(&["gpu-0"])
        .allocate(&on("node-1", &no_labels), &[&pair])
        .unwrap()
        .unwrap();
    assert_eq!(devices(&results), [vec!["gpu-1", "gpu-3"]]);
}

#[test]
fn broken_selectors_fail_with_upstream_words() {
    let no_labels = |_: &str| None;
    let broken = Allocator::new(
        [class(
            "gpu",
            "device.attributes['gpu.example.com'].missing == 1",
        )],
        vec![slice("node-1", 1, gpus())],
        BTreeSet::new(),
    );
    let c = claim("a", json!([one("gpu", None, 1)]), json!([]));
    assert_eq!(
        broken.allocate(&on("node-1", &no_labels), &[&c]),
        Err(AllocateError::Failed(
            "class gpu: selector #0 on device gpu.example.com/node-1/gpu-0: CEL runtime error: no such key: missing"
                .to_string()
        ))
    );
    let syntax = claim(
        "b",
        json!([one("gpu", Some("device.driver =="), 1)]),
        json!([]),
    );
    let Err(AllocateError::Failed(message)) =
        allocator(&[]).allocate(&on("node-1", &no_labels), &[&syntax])
    else {
        panic!("a selector that does not compile fails the claim");
    };
    assert!(
        message.starts_with("claim default/b: selector #0: CEL compile error: "),
        "{message}"
    );
}

#[test]
fn only_the_newest_generation_of_a_pool_counts_and_shared_slices_reach_selected_nodes() {
    let label = |key: &str| (key == "zone").then(|| "a".to_string());
    let old = slice("node-1", 1, gpus());
    let new = slice("node-1", 2, json!([{"name": "gpu-9"}]));
    let shared: ResourceSlice = serde_json::from_value(json!({
        "metadata": {"name": "zone-a"},
        "spec": {"driver": "net.example.com", "pool": {"name": "zone-a", "generation": 1, "resourceSliceCount": 1},
                 "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
                 "devices": [{"name": "nic-0"}]}
    }))
    .unwrap();
    let allocator = Allocator::new(
        [
            class("gpu", "device.driver == 'gpu.example.com'"),
            class("nic", "device.driver == 'net.example.com'"),
        ],
        vec![old, new, shared],
        BTreeSet::new(),
    );
    let c = claim(
        "a",
        json!([one("gpu", None, 1), {"name": "nic", "exactly": {"deviceClassName": "nic"}}]),
        json!([]),
    );
    let results = allocator
        .allocate(&on("node-1", &label), &[&c])
        .unwrap()
        .unwrap();
    assert_eq!(devices(&results), [vec!["gpu-9", "nic-0"]]);
    let no_zone = |_: &str| None;
    assert_eq!(allocator.allocate(&on("node-1", &no_zone), &[&c]), Ok(None));
}

#[test]
fn devices_of_a_pool_being_updated_are_not_given() {
    let no_labels = |_: &str| None;
    let mut incomplete = slice("node-1", 1, gpus());
    incomplete.spec.pool.resource_slice_count = 2;
    let allocator = Allocator::new(
        [class("gpu", "device.driver == 'gpu.example.com'")],
        vec![incomplete],
        BTreeSet::new(),
    );
    let c = claim("a", json!([one("gpu", None, 1)]), json!([]));
    assert_eq!(
        allocator.allocate(&on("node-1", &no_labels), &[&c]),
        Ok(None)
    );
}
