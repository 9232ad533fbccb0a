//! The DRA objects of SchedulingWithResourceClaimTemplate, from
//! scheduler_perf's `dra/templates`: one ResourceSlice of ten simulated
//! GPUs per node (`resourceslice-basic-devices.yaml`), the DeviceClass
//! `test-class`, the ResourceClaimTemplate `test-claim-template` with one
//! request, and claims allocated directly (as its `allocResourceClaims`
//! does, without a pod) to set the cluster's initial utilisation.

use k8s_openapi::api::resource::v1::{
    DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice,
};
use serde_json::{Value, json};

/// The simulated driver.
pub const DRIVER: &str = "test-driver.cdi.k8s.io";

/// Devices per node (the template's `numDevices`).
pub const DEVICES_PER_NODE: usize = 10;

/// PCI roots the devices alternate over (`numPCIRoots`).
const PCI_ROOTS: usize = 2;

const CLASS: &str = "test-class";
const TEMPLATE: &str = "test-claim-template";

/// The slice of `node`, in a pool of its own named after the slice.
pub fn slice(i: usize, node: &str) -> ResourceSlice {
    let devices: Vec<Value> = (0..DEVICES_PER_NODE).map(device).collect();
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": pool(i)},
        "spec": {
            "pool": {"name": pool(i), "generation": 1, "resourceSliceCount": 1},
            "driver": DRIVER,
            "nodeName": node,
            "devices": devices,
        },
    }))
    .expect("a valid ResourceSlice")
}

/// Device `d` with the attributes of upstream's template (an Intel GPU's).
fn device(d: usize) -> Value {
    let root = d % PCI_ROOTS;
    json!({
        "name": format!("basic-device-{d}"),
        "attributes": {
            "driver": {"string": "xe"},
            "driverVersion": {"version": "1.2.3"},
            "resource.k8s.io/pciRoot": {"string": root.to_string()},
            "family": {"string": "Arc Pro B-Series"},
            "health": {"string": "Healthy"},
            "model": {"string": "B60"},
            "pciAddress": {"string": format!("0000:0{d}:00.0")},
            "pciId": {"string": "0xe211"},
            "pciRoot": {"string": format!("0{root}")},
            "resource.kubernetes.io/pciBusID": {"string": format!("0000:0{d}:00.0")},
            "resource.kubernetes.io/pciRoot": {"string": format!("pci0000:0{root}")},
            "sriov": {"bool": true},
            "type": {"string": "gpu"},
        },
        "capacity": {
            "memory": {"value": "24480Mi"},
            "millicores": {"value": "1k"},
        },
    })
}

fn pool(i: usize) -> String {
    format!("resourceslice-{i}")
}

pub fn device_class() -> DeviceClass {
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": CLASS},
        "spec": {"selectors": [{"cel": {"expression": format!("device.driver == \"{DRIVER}\"")}}]},
    }))
    .expect("a valid DeviceClass")
}

fn claim_spec() -> Value {
    json!({"devices": {"requests": [{
        "name": "req-0",
        "exactly": {"deviceClassName": CLASS},
    }]}})
}

pub fn claim_template() -> ResourceClaimTemplate {
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": TEMPLATE},
        "spec": {"spec": claim_spec()},
    }))
    .expect("a valid ResourceClaimTemplate")
}

/// Initial claim `i` (`init-claim-<i>`), to allocate with
/// [`allocation`]`(i, ..)` once created.
pub fn init_claim(i: usize) -> ResourceClaim {
    serde_json::from_value(json!({
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": format!("init-claim-{i}")},
        "spec": claim_spec(),
    }))
    .expect("a valid ResourceClaim")
}

/// The status patch that allocates initial claim `i` of a cluster of
/// `nodes`: nodes in turn, each node's devices in order, so the claims
/// spread evenly (upstream tries nodes in random order for each claim).
/// No `reservedFor` and no finalizer, as upstream: the resource claim
/// controller leaves such a claim allocated.
pub fn allocation(i: usize, nodes: &[String]) -> Value {
    let n = i % nodes.len();
    json!({"status": {"allocation": {
        "devices": {"results": [{
            "request": "req-0",
            "driver": DRIVER,
            "pool": pool(n),
            "device": format!("basic-device-{}", i / nodes.len()),
        }]},
        "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [{
            "key": "metadata.name",
            "operator": "In",
            "values": [nodes[n]],
        }]}]},
    }}})
}

/// What a pod adds: a claim from the template, used by its container.
pub fn pod_claims() -> (Value, Value) {
    (
        json!([{"name": "resource", "resourceClaimTemplateName": TEMPLATE}]),
        json!([{"name": "resource"}]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_publish_ten_devices_on_their_node() {
        let slice = slice(4, "node-4");
        assert_eq!(slice.spec.node_name.as_deref(), Some("node-4"));
        assert_eq!(slice.spec.pool.name, "resourceslice-4");
        let devices = slice.spec.devices.unwrap();
        assert_eq!(devices.len(), DEVICES_PER_NODE);
        assert_eq!(devices[3].name, "basic-device-3");
    }

    #[test]
    fn initial_claims_fill_nodes_in_turn_without_sharing_a_device() {
        let nodes: Vec<String> = (0..3).map(|i| format!("node-{i}")).collect();
        let mut taken = std::collections::HashSet::new();
        for i in 0..3 * DEVICES_PER_NODE {
            let result = &allocation(i, &nodes)["status"]["allocation"];
            let device = &result["devices"]["results"][0];
            let node =
                &result["nodeSelector"]["nodeSelectorTerms"][0]["matchFields"][0]["values"][0];
            assert_eq!(node, &json!(nodes[i % 3]));
            assert_eq!(device["pool"], json!(format!("resourceslice-{}", i % 3)));
            assert!(taken.insert((device["pool"].clone(), device["device"].clone())));
        }
        assert_eq!(
            allocation(29, &nodes)["status"]["allocation"]["devices"]["results"][0]["device"],
            "basic-device-9"
        );
    }

    #[test]
    fn the_template_asks_the_class_for_one_device() {
        let template = claim_template();
        let requests = template
            .spec
            .unwrap()
            .spec
            .unwrap()
            .devices
            .unwrap()
            .requests
            .unwrap();
        assert_eq!(requests.len(), 1);
        let exactly = requests[0].exactly.as_ref().unwrap();
        assert_eq!(
            exactly.device_class_name,
            device_class().metadata.name.unwrap()
        );
        let claim = init_claim(2);
        assert_eq!(claim.metadata.name.as_deref(), Some("init-claim-2"));
    }
}
