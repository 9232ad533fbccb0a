//! Dynamic resource allocation (`resource.k8s.io/v1`, structured
//! parameters) on a real kube-apiserver with the resource claim controller
//! running (the test cluster's kube-controller-manager): ResourceSlices
//! publish four devices on each of two nodes, and nine pods each get a
//! claim for one device from a ResourceClaimTemplate. Eight are bound, each
//! claim allocated a device of its pod's node and none twice; the ninth is
//! unschedulable with upstream's message; once a bound pod is deleted and
//! the controller frees its claim's device, the ninth is bound. Our
//! scheduler runs with the role of `deploy/rbac.yaml`; kube-scheduler
//! v1.37.2 runs the same scenario, with the same outcome.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::resource::v1::{
    DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice,
};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{OURS, events_for, eventually, node, node_name, pod};
use kws_tests::cluster::{
    ClusterOptions, RunningScheduler, TestCluster, TokenUser, UpstreamOptions, UpstreamScheduler,
    grant_deploy_role,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const DRIVER: &str = "gpu.example.com";
const WAIT: Duration = Duration::from_secs(60);

/// Four devices of `DRIVER` on `node`, in a pool named after it.
fn slice(node: &str) -> ResourceSlice {
    let devices: Vec<_> = (0..4)
        .map(|i| {
            json!({
                "name": format!("gpu-{i}"),
                "attributes": {"model": {"string": "a100"}, "index": {"int": i}},
                "capacity": {"memory": {"value": "40Gi"}},
            })
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("{node}-gpus")},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
            "devices": devices,
        },
    }))
    .unwrap()
}

/// A pod of `scheduler` with one claim from the `one-gpu` template.
fn gpu_pod(name: &str, scheduler: &str) -> Pod {
    let mut pod = pod(name, scheduler, "100m");
    pod.spec.as_mut().unwrap().resource_claims = Some(vec![
        serde_json::from_value(json!({"name": "gpu", "resourceClaimTemplateName": "one-gpu"}))
            .unwrap(),
    ]);
    pod
}

/// Where each bound pod went and which device its claim got.
#[derive(Debug, PartialEq)]
struct Placement {
    node: String,
    /// `driver/pool/device` of the claim's allocation.
    device: String,
    /// The claim's `status.reservedFor` names the pod.
    reserved: bool,
}

/// The bound pods' placements, by pod name.
async fn placements(pods: &Api<Pod>, claims: &Api<ResourceClaim>) -> BTreeMap<String, Placement> {
    let mut placements = BTreeMap::new();
    for pod in pods.list(&Default::default()).await.unwrap().items {
        let Some(node) = node_name(&pod) else {
            continue;
        };
        let name = pod.metadata.name.clone().unwrap();
        let claim_name = pod
            .status
            .as_ref()
            .and_then(|s| s.resource_claim_statuses.as_ref())
            .and_then(|s| s.first())
            .and_then(|s| s.resource_claim_name.clone())
            .expect("a bound pod's claim was generated");
        let claim = claims.get(&claim_name).await.unwrap();
        let status = claim.status.unwrap_or_default();
        let result = &status
            .allocation
            .and_then(|a| a.devices)
            .and_then(|d| d.results)
            .expect("a bound pod's claim is allocated")[0];
        let reserved = status
            .reserved_for
            .unwrap_or_default()
            .iter()
            .any(|r| Some(&r.uid) == pod.metadata.uid.as_ref());
        placements.insert(
            name,
            Placement {
                node,
                device: format!("{}/{}/{}", result.driver, result.pool, result.device),
                reserved,
            },
        );
    }
    placements
}

/// What a scheduler made of the scenario: the placements of the eight,
/// the ninth's FailedScheduling note, and the ninth's node once a pod was
/// deleted.
struct Outcome {
    placements: BTreeMap<String, Placement>,
    failure: String,
    freed_node: String,
    ninth_node: String,
}

async fn nine_pods_for_eight_devices(scheduler: &str) -> Outcome {
    // With RUST_LOG set, our scheduler's log shows each cycle.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let user = TokenUser {
        token: "dra-scheduler-token".to_string(),
        name: "dra-scheduler".to_string(),
        groups: Vec::new(),
    };
    let cluster = TestCluster::start_with(ClusterOptions {
        authorization: Some("RBAC".to_string()),
        users: vec![user.clone()],
        controller_manager: true,
    });
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<ResourceClaim> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let params = PostParams::default();
    for name in ["node-1", "node-2"] {
        nodes.create(&params, &node(name, "8")).await.unwrap();
        Api::<ResourceSlice>::all(client.clone())
            .create(&params, &slice(name))
            .await
            .unwrap();
    }
    let class: DeviceClass = serde_json::from_value(json!({
        "metadata": {"name": DRIVER},
        "spec": {"selectors": [{"cel": {"expression": format!("device.driver == {DRIVER:?}")}}]},
    }))
    .unwrap();
    Api::<DeviceClass>::all(client.clone())
        .create(&params, &class)
        .await
        .unwrap();
    // One device with at least 32Gi, chosen by a CEL selector of the claim.
    let template: ResourceClaimTemplate = serde_json::from_value(json!({
        "metadata": {"name": "one-gpu"},
        "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
            "deviceClassName": DRIVER,
            "selectors": [{"cel": {"expression":
                format!("device.capacity[{DRIVER:?}].memory.compareTo(quantity('32Gi')) >= 0")}}],
        }}]}}},
    }))
    .unwrap();
    Api::<ResourceClaimTemplate>::namespaced(client.clone(), "default")
        .create(&params, &template)
        .await
        .unwrap();

    let (_ours, _upstream) = if scheduler == OURS {
        let kubeconfig = cluster.kubeconfig_for(&user);
        grant_deploy_role(&client, &user, &kubeconfig).await;
        (
            Some(RunningScheduler::start_with_kubeconfig(
                &kubeconfig,
                Config::default(),
            )),
            None,
        )
    } else {
        let options = UpstreamOptions {
            scheduler_name: scheduler.to_string(),
            ..UpstreamOptions::default()
        };
        (None, Some(UpstreamScheduler::start(&cluster, &options)))
    };
    let names: Vec<String> = (1..=9).map(|i| format!("pod-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        pods.create(&params, &gpu_pod(name, scheduler))
            .await
            .unwrap();
    }

    let (ninth, failure) = eventually(
        "eight pods bound and the ninth's FailedScheduling event",
        WAIT,
        || async {
            let mut unbound = Vec::new();
            for name in &names {
                if node_name(&pods.get(name).await.ok()?).is_none() {
                    unbound.push(name.clone());
                }
            }
            let [ninth] = <[String; 1]>::try_from(unbound).ok()?;
            let note = events_for(&events, &ninth)
                .await
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
                .find_map(|e| e.note)?;
            Some((ninth, note))
        },
    )
    .await;
    tracing::info!(scheduler, elapsed = ?started.elapsed(), "eight bound");
    let placements = placements(&pods, &claims).await;

    // A bound pod goes; the resource claim controller frees its device.
    let (gone, freed) = placements.iter().next().unwrap();
    let freed_node = freed.node.clone();
    pods.delete(gone, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let deleted = Instant::now();
    let ninth_node = eventually("the ninth pod to be bound", WAIT, || async {
        node_name(&pods.get(&ninth).await.ok()?)
    })
    .await;
    tracing::info!(scheduler, elapsed = ?deleted.elapsed(), "ninth bound after a delete");
    let after = placements_of(&pods, &claims, &ninth).await;
    assert!(after.reserved, "{after:?}");
    assert_eq!(after.node, ninth_node);
    assert!(after.device.starts_with(&format!("{DRIVER}/{ninth_node}/")));
    Outcome {
        placements,
        failure,
        freed_node,
        ninth_node,
    }
}

async fn placements_of(pods: &Api<Pod>, claims: &Api<ResourceClaim>, name: &str) -> Placement {
    placements(pods, claims)
        .await
        .remove(name)
        .expect("the pod is bound")
}

/// Upstream's FailedScheduling note for the ninth pod: no node can hold
/// its claim, and preemption cannot help (DynamicResources' filter says
/// UnschedulableAndUnresolvable).
const NINTH_FAILURE: &str = "0/2 nodes are available: 2 cannot allocate all claims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.";

fn check(outcome: &Outcome) {
    let placements = &outcome.placements;
    assert_eq!(placements.len(), 8, "{placements:?}");
    let devices: BTreeSet<&str> = placements.values().map(|p| p.device.as_str()).collect();
    assert_eq!(devices.len(), 8, "no device given twice: {placements:?}");
    for (pod, placement) in placements {
        assert!(
            placement
                .device
                .starts_with(&format!("{DRIVER}/{}/", placement.node)),
            "{pod}'s device is on its node: {placement:?}"
        );
        assert!(placement.reserved, "{pod}'s claim is reserved for it");
    }
    let per_node: BTreeSet<usize> = ["node-1", "node-2"]
        .iter()
        .map(|n| placements.values().filter(|p| p.node == *n).count())
        .collect();
    assert_eq!(per_node, BTreeSet::from([4]));
    assert_eq!(outcome.failure, NINTH_FAILURE);
    assert_eq!(outcome.ninth_node, outcome.freed_node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_devices_go_to_eight_pods_and_a_freed_one_to_the_ninth() {
    check(&nine_pods_for_eight_devices(OURS).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_scheduler_does_the_same() {
    check(&nine_pods_for_eight_devices("default-scheduler").await);
}
