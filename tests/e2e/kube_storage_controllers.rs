//! The test cluster's kube-controller-manager (`ClusterOptions::
//! controller_manager`) on the real apiserver: the controllers that volume
//! binding and DRA scheduling rely on do their part, with no scheduler
//! running. The PV binder binds an Immediate claim to a matching PV; the
//! resource claim controller makes a pod's claim from its
//! ResourceClaimTemplate, and deallocates a claim once its pod is gone.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceClaimTemplate};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kws_tests::api::eventually;
use kws_tests::cluster::{ClusterOptions, TestCluster};
use serde_json::json;
use std::time::{Duration, Instant};

/// The controllers act within a second; this leaves room for a loaded
/// machine.
const WAIT: Duration = Duration::from_secs(60);

fn with_controller_manager() -> TestCluster {
    let started = Instant::now();
    let cluster = TestCluster::start_with(ClusterOptions {
        controller_manager: true,
        ..ClusterOptions::default()
    });
    tracing::info!(elapsed = ?started.elapsed(), "cluster and controller-manager up");
    cluster
}

/// A pending pod no scheduler picks up (no scheduler runs in these tests).
fn pod(name: &str, extra_spec: serde_json::Value) -> Pod {
    let mut spec = json!({
        "schedulerName": "nobody",
        "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}],
    });
    spec.as_object_mut()
        .unwrap()
        .extend(extra_spec.as_object().unwrap().clone());
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pv_controller_binds_an_immediate_claim_to_a_matching_volume() {
    let cluster = with_controller_manager();
    let client = cluster.client().await;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    // Two volumes of the claim's class: only the one large enough matches.
    for (name, size) in [("small", "1Gi"), ("large", "10Gi")] {
        let pv = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "manual",
                "persistentVolumeReclaimPolicy": "Retain",
                "local": {"path": format!("/mnt/{name}")},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]},
                ]}]}},
            },
        }))
        .unwrap();
        pvs.create(&PostParams::default(), &pv).await.unwrap();
    }
    // No StorageClass object: a class name with none behind it binds
    // Immediately, as upstream's PV controller does.
    let claim = serde_json::from_value(json!({
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "manual",
            "resources": {"requests": {"storage": "5Gi"}},
        },
    }))
    .unwrap();
    let created = Instant::now();
    claims.create(&PostParams::default(), &claim).await.unwrap();

    let bound = eventually("the claim to be Bound", WAIT, || async {
        let claim = claims.get("data").await.ok()?;
        let phase = claim.status.as_ref()?.phase.clone()?;
        (phase == "Bound").then_some(claim)
    })
    .await;
    tracing::info!(elapsed = ?created.elapsed(), "claim bound");
    let spec = bound.spec.unwrap();
    assert_eq!(
        spec.volume_name.as_deref(),
        Some("large"),
        "{}",
        cluster.controller_manager_log()
    );
    let annotations = bound.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("pv.kubernetes.io/bind-completed")
            .map(String::as_str),
        Some("yes")
    );
    let pv = eventually("the volume to be Bound", WAIT, || async {
        let pv = pvs.get("large").await.ok()?;
        (pv.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(pv)
    })
    .await;
    let claim_ref = pv.spec.unwrap().claim_ref.unwrap();
    assert_eq!(claim_ref.name.as_deref(), Some("data"));
    assert_eq!(claim_ref.namespace.as_deref(), Some("default"));
    assert_eq!(claim_ref.uid, bound.metadata.uid);
    let small = pvs.get("small").await.unwrap();
    assert_eq!(
        small.status.unwrap().phase.as_deref(),
        Some("Available"),
        "the volume too small for the claim stays free"
    );

    // The PVC protection controller lets a deleted claim go (its finalizer
    // is put there by the apiserver's admission), and the binder releases
    // the volume.
    claims
        .delete("data", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the claim to be gone", WAIT, || async {
        claims
            .get_opt("data")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the volume to be Released", WAIT, || async {
        let pv = pvs.get("large").await.ok()?;
        (pv.status?.phase.as_deref() == Some("Released")).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_claim_controller_makes_a_pods_claim_from_its_template() {
    let cluster = with_controller_manager();
    let client = cluster.client().await;
    let classes: Api<DeviceClass> = Api::all(client.clone());
    let templates: Api<ResourceClaimTemplate> = Api::namespaced(client.clone(), "default");
    let claims: Api<ResourceClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let class = serde_json::from_value(json!({
        "metadata": {"name": "gpu.example.com"},
        "spec": {"selectors": [{"cel": {"expression": "device.driver == \"gpu.example.com\""}}]},
    }))
    .unwrap();
    classes
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    let template = serde_json::from_value(json!({
        "metadata": {"name": "one-gpu"},
        "spec": {"spec": {"devices": {"requests": [
            {"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}},
        ]}}},
    }))
    .unwrap();
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let created = Instant::now();
    pods.create(
        &PostParams::default(),
        &pod(
            "trainer",
            json!({"resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}]}),
        ),
    )
    .await
    .unwrap();

    let claim_name = eventually("the pod's claim status", WAIT, || async {
        let pod = pods.get("trainer").await.ok()?;
        let statuses = pod.status?.resource_claim_statuses?;
        let status = statuses.into_iter().find(|s| s.name == "gpu")?;
        status.resource_claim_name
    })
    .await;
    tracing::info!(elapsed = ?created.elapsed(), claim = %claim_name, "claim generated");
    let pod = pods.get("trainer").await.unwrap();
    let claim = claims.get(&claim_name).await.unwrap_or_else(|e| {
        panic!(
            "the generated claim {claim_name}: {e}\n{}",
            cluster.controller_manager_log()
        )
    });
    assert!(claim_name.starts_with("trainer-gpu-"), "{claim_name}");
    let owner = &claim.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("Pod", "trainer", Some(true))
    );
    assert_eq!(Some(&owner.uid), pod.metadata.uid.as_ref());
    assert_eq!(
        claim
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("resource.kubernetes.io/pod-claim-name"))
            .map(String::as_str),
        Some("gpu")
    );
    let requests = &claim
        .spec
        .as_ref()
        .unwrap()
        .devices
        .as_ref()
        .unwrap()
        .requests;
    assert_eq!(
        requests.as_ref().unwrap()[0]
            .exactly
            .as_ref()
            .unwrap()
            .device_class_name,
        "gpu.example.com"
    );
    let all = claims.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(all.len(), 1, "exactly one claim for the pod's one entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_resource_claim_controller_deallocates_a_claim_whose_pod_is_gone() {
    let cluster = with_controller_manager();
    let client = cluster.client().await;
    let claims: Api<ResourceClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claim = serde_json::from_value(json!({
        "metadata": {"name": "shared-gpu"},
        "spec": {"devices": {"requests": [
            {"name": "gpu", "exactly": {"deviceClassName": "gpu.example.com"}},
        ]}},
    }))
    .unwrap();
    claims.create(&PostParams::default(), &claim).await.unwrap();
    let user = pods
        .create(
            &PostParams::default(),
            &pod(
                "user",
                json!({"resourceClaims": [{"name": "gpu", "resourceClaimName": "shared-gpu"}]}),
            ),
        )
        .await
        .unwrap();
    // What a scheduler's DynamicResources PreBind writes: the finalizer
    // first, then the allocation and the pod as the consumer.
    claims
        .patch(
            "shared-gpu",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["resource.kubernetes.io/delete-protection"]}}),
            ),
        )
        .await
        .unwrap();
    let status = json!({"status": {
        "allocation": {"devices": {"results": [
            {"request": "gpu", "driver": "gpu.example.com", "pool": "node-1", "device": "gpu-0"},
        ]}},
        "reservedFor": [{"resource": "pods", "name": "user", "uid": user.metadata.uid.unwrap()}],
    }});
    claims
        .patch_status("shared-gpu", &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
    // Allocated and in use: the controller leaves it alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let claim = claims.get("shared-gpu").await.unwrap();
    let status = claim.status.unwrap();
    assert!(status.allocation.is_some());
    assert_eq!(status.reserved_for.map(|r| r.len()), Some(1));

    let deleted = Instant::now();
    pods.delete("user", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let claim = eventually("the claim to be deallocated", WAIT, || async {
        let claim = claims.get("shared-gpu").await.ok()?;
        let status = claim.status.clone().unwrap_or_default();
        (status.allocation.is_none() && status.reserved_for.unwrap_or_default().is_empty())
            .then_some(claim)
    })
    .await;
    tracing::info!(elapsed = ?deleted.elapsed(), "claim deallocated");
    assert!(
        claim.metadata.finalizers.unwrap_or_default().is_empty(),
        "the controller's finalizer goes with the allocation"
    );
}
