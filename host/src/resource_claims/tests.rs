use super::*;
use serde_json::json;

fn claim(name: &str, uid: &str, version: u64) -> Arc<ResourceClaim> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": name, "uid": uid,
                         "resourceVersion": version.to_string()},
            "spec": {"devices": {"requests": [
                {"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}}]}}
        }))
        .unwrap(),
    )
}

fn pod(claims: serde_json::Value, statuses: serde_json::Value) -> core::Pod {
    serde_json::from_value(json!({
        "metadata": {"namespace": "default", "name": "p", "uid": "pod-uid"},
        "spec": {"containers": [], "resourceClaims": claims},
        "status": {"resourceClaimStatuses": statuses}
    }))
    .unwrap()
}

fn allocation(devices: &[&str]) -> String {
    let results: Vec<_> = devices
        .iter()
        .map(|d| json!({"request": "gpu", "driver": "gpu.example.com", "pool": "node-1", "device": d}))
        .collect();
    json!({"devices": {"results": results}}).to_string()
}

#[test]
fn pod_claims_are_resolved_by_name_or_through_the_generated_claim() {
    let claims = ResourceClaims::default();
    claims.set_claim(claim("named", "c1", 1));
    let mut generated = (*claim("p-gpu-abcde", "c2", 1)).clone();
    generated.metadata.owner_references = Some(vec![
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "pod-uid", "controller": true
        }))
        .unwrap(),
    ]);
    claims.set_claim(Arc::new(generated));
    let entries = json!([
        {"name": "a", "resourceClaimName": "named"},
        {"name": "b", "resourceClaimTemplateName": "t"}
    ]);
    let resolved = claims
        .pod_claims(&pod(
            entries.clone(),
            json!([{"name": "b", "resourceClaimName": "p-gpu-abcde"}]),
        ))
        .unwrap();
    assert_eq!(
        resolved.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    // Before the resource claim controller names the generated claim.
    assert_eq!(
        claims
            .pod_claims(&pod(entries.clone(), json!([])))
            .unwrap_err(),
        "pod \"default/p\": ResourceClaim not created yet"
    );
    // A template that generated no claim: nothing to allocate for it.
    let none = claims
        .pod_claims(&pod(entries, json!([{"name": "b"}])))
        .unwrap();
    assert_eq!(none.len(), 1);
    assert_eq!(
        claims
            .pod_claims(&pod(
                json!([{"name": "a", "resourceClaimName": "missing"}]),
                json!([])
            ))
            .unwrap_err(),
        "could not find ResourceClaim \"default/missing\""
    );
}

#[test]
fn a_generated_claim_not_owned_by_the_pod_is_refused() {
    let claims = ResourceClaims::default();
    claims.set_claim(claim("other", "c1", 1));
    let error = claims
        .pod_claims(&pod(
            json!([{"name": "b", "resourceClaimTemplateName": "t"}]),
            json!([{"name": "b", "resourceClaimName": "other"}]),
        ))
        .unwrap_err();
    assert_eq!(
        error,
        "ResourceClaim default/other was not created for Pod default/p (Pod is not owner)"
    );
}

#[test]
fn a_device_is_never_assumed_twice() {
    let claims = ResourceClaims::default();
    claims.set_claim(claim("one", "c1", 1));
    claims.set_claim(claim("two", "c2", 1));
    claims
        .assume("c1", &allocation(&["gpu-0"]), "pod-a")
        .unwrap();
    assert_eq!(claims.allocated_devices().len(), 1);
    let error = claims
        .assume("c2", &allocation(&["gpu-0"]), "pod-b")
        .unwrap_err();
    assert_eq!(
        error,
        "device gpu.example.com/node-1/gpu-0 is allocated already"
    );
    // Another pod's unreserve leaves the hold alone; the holder's drops it.
    claims.unassume("c1", "pod-b");
    assert_eq!(claims.allocated_devices().len(), 1);
    claims.unassume("c1", "pod-a");
    assert!(claims.allocated_devices().is_empty());
    claims
        .assume("c2", &allocation(&["gpu-0"]), "pod-b")
        .unwrap();
}

#[test]
fn bind_writes_the_allocation_and_a_lagging_watch_does_not_undo_it() {
    let claims = ResourceClaims::default();
    claims.set_claim(claim("one", "c1", 5));
    claims
        .assume("c1", &allocation(&["gpu-1"]), "pod-uid")
        .unwrap();
    let pod = pod(
        json!([{"name": "a", "resourceClaimName": "one"}]),
        json!([]),
    );
    claims.bind_claim("c1", &pod).unwrap();
    let resolved = claims.pod_claims(&pod).unwrap();
    assert_eq!(resolved[0].in_flight, None);
    let written: ResourceClaim = serde_json::from_str(&resolved[0].claim).unwrap();
    let status = written.status.unwrap();
    assert_eq!(status.reserved_for.unwrap()[0].uid, "pod-uid");
    assert!(status.allocation.is_some());
    assert_eq!(written.metadata.finalizers.unwrap(), [FINALIZER]);
    // The watch still reports the claim as created: the written copy stays.
    claims.set_claim(claim("one", "c1", 5));
    assert_eq!(claims.allocated_devices().len(), 1);
    // The watch's copy of the write: its old object is the watch's last,
    // unallocated, so hints see the allocation appear.
    let reported = claims.set_claim(Arc::new(written_copy(&claims, &pod)));
    assert!(reported.unwrap().status.is_none());
    // A second pod sharing the claim is only reserved.
    let mut other = pod.clone();
    other.metadata.uid = Some("pod-2".to_string());
    claims.bind_claim("c1", &other).unwrap();
    let shared: ResourceClaim =
        serde_json::from_str(&claims.pod_claims(&pod).unwrap()[0].claim).unwrap();
    assert_eq!(shared.status.unwrap().reserved_for.unwrap().len(), 2);
}

/// The claim as the host last wrote it.
fn written_copy(claims: &ResourceClaims, pod: &core::Pod) -> ResourceClaim {
    serde_json::from_str(&claims.pod_claims(pod).unwrap()[0].claim).unwrap()
}

#[test]
fn binding_a_claim_allocated_meanwhile_is_refused() {
    let mut allocated = (*claim("one", "c1", 1)).clone();
    allocated.status = Some(serde_json::from_value(json!({
        "allocation": serde_json::from_str::<serde_json::Value>(&allocation(&["gpu-2"])).unwrap()
    })).unwrap());
    let consumer = ResourceClaimConsumerReference {
        api_group: None,
        resource: "pods".to_string(),
        name: "p".to_string(),
        uid: "u".to_string(),
    };
    let wanted: AllocationResult = serde_json::from_str(&allocation(&["gpu-3"])).unwrap();
    assert_eq!(
        with_binding(&allocated, Some(&wanted), &consumer).unwrap_err(),
        "claim default/one got allocated elsewhere in the meantime"
    );
}

#[test]
fn deallocation_frees_the_devices_of_a_claim_no_other_pod_uses() {
    let claims = ResourceClaims::default();
    claims.set_claim(claim("one", "c1", 1));
    claims
        .assume("c1", &allocation(&["gpu-0"]), "pod-uid")
        .unwrap();
    let p = pod(
        json!([{"name": "a", "resourceClaimName": "one"}]),
        json!([]),
    );
    claims.bind_claim("c1", &p).unwrap();
    assert_eq!(
        claims.deallocate("c1", "another-pod").unwrap_err(),
        "claim default/one is in use"
    );
    assert_eq!(claims.allocated_devices().len(), 1);
    claims.deallocate("c1", "pod-uid").unwrap();
    assert!(claims.allocated_devices().is_empty());
    let status = written_copy(&claims, &p).status.unwrap();
    assert!(status.allocation.is_none() && status.reserved_for.is_none());
}

/// The generation a plugin keeps its parsed slices by changes with every
/// class or slice change and with nothing else, and two stores never share
/// one once changed.
#[test]
fn the_slices_generation_changes_with_classes_and_slices_only() {
    let claims = ResourceClaims::default();
    assert_eq!(claims.slices_generation(), 0);
    let slice: ResourceSlice = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "node-1-gpus"},
        "spec": {"driver": "gpu.example.com", "nodeName": "node-1",
                 "pool": {"name": "node-1", "generation": 1, "resourceSliceCount": 1}}
    }))
    .unwrap();
    let class: DeviceClass = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "gpu"}, "spec": {}
    }))
    .unwrap();
    claims.set_slice(&slice);
    let added = claims.slices_generation();
    assert_ne!(added, 0);
    claims.set_claim(claim("a", "uid-a", 1));
    assert_eq!(claims.slices_generation(), added);
    claims.set_class(&class);
    let classed = claims.slices_generation();
    assert_ne!(classed, added);
    claims.remove_slice(&slice);
    assert_ne!(claims.slices_generation(), classed);
    claims.remove_class(&class);

    let other = ResourceClaims::default();
    other.set_slice(&slice);
    assert_ne!(other.slices_generation(), claims.slices_generation());
    assert_ne!(other.slices_generation(), added);
}
