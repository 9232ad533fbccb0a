//! The volume plugins (VolumeRestrictions, NodeVolumeLimits, VolumeBinding,
//! VolumeZone) on the real apiserver, with the test cluster's
//! kube-controller-manager binding claims as in a real cluster: static
//! local volumes bind on their node (and a volume added lets a pending pod
//! in), a WaitForFirstConsumer claim is given
//! the chosen node, a CSINode's limit sends a pod elsewhere (counting the
//! volumes VolumeAttachments attach), a claim to provision goes where a
//! CSIStorageCapacity has room for it, and a ReadWriteOncePod claim has
//! one user.

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{OURS, events_for, eventually, node, node_name};
use kws_tests::cluster::{
    ClusterOptions, RunningScheduler, TestCluster, TokenUser, grant_deploy_role,
};
use serde_json::{Value, json};
use std::time::Duration;

/// The controllers and the scheduler act within seconds; this leaves room
/// for a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

struct Cluster {
    cluster: TestCluster,
    nodes: Api<Node>,
    pvs: Api<PersistentVolume>,
    claims: Api<PersistentVolumeClaim>,
    pods: Api<Pod>,
    events: Api<Event>,
    client: kube::Client,
}

/// A cluster with its controller-manager and `nodes`, each labelled with
/// its hostname.
async fn cluster(nodes: &[&str]) -> Cluster {
    with_options(
        nodes,
        ClusterOptions {
            controller_manager: true,
            ..ClusterOptions::default()
        },
    )
    .await
}

async fn with_options(nodes: &[&str], options: ClusterOptions) -> Cluster {
    let cluster = TestCluster::start_with(options);
    let client = cluster.client().await;
    let c = Cluster {
        nodes: Api::all(client.clone()),
        pvs: Api::all(client.clone()),
        claims: Api::namespaced(client.clone(), "default"),
        pods: Api::namespaced(client.clone(), "default"),
        events: Api::namespaced(client.clone(), "default"),
        client,
        cluster,
    };
    for name in nodes {
        let mut n = node(name, "4");
        n.metadata.labels = Some([("kubernetes.io/hostname".to_string(), name.to_string())].into());
        c.nodes.create(&PostParams::default(), &n).await.unwrap();
    }
    c
}

async fn create<K>(api: &Api<K>, object: Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap()
}

/// A pod for our scheduler mounting `claim`, with more `spec` fields.
fn pod(name: &str, claim: &str, spec: Value) -> Value {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedulerName": OURS,
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    });
    pod["spec"]
        .as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    pod
}

fn claim(name: &str, class: &str, modes: &[&str], selector: Value) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "accessModes": modes,
            "storageClassName": class,
            "resources": {"requests": {"storage": "1Gi"}},
            "selector": selector,
        },
    })
}

/// A local volume on `host`, of class `local`, labelled `app`.
fn local_volume(name: &str, host: &str, app: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "local",
            "persistentVolumeReclaimPolicy": "Retain",
            "local": {"path": format!("/mnt/{name}")},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [host]},
            ]}]}},
        },
    })
}

async fn bound_node(pods: &Api<Pod>, name: &str) -> String {
    eventually(&format!("pod {name} to be bound"), WAIT, || async {
        pods.get(name).await.ok().and_then(|p| node_name(&p))
    })
    .await
}

async fn failed_scheduling(events: &Api<Event>, name: &str) -> String {
    eventually(
        &format!("a FailedScheduling event for {name}"),
        WAIT,
        || async {
            events_for(events, name)
                .await
                .into_iter()
                .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
                .find_map(|e| e.note)
        },
    )
    .await
}

async fn claim_bound_to(claims: &Api<PersistentVolumeClaim>, name: &str) -> String {
    eventually(&format!("claim {name} to be Bound"), WAIT, || async {
        let claim = claims.get(name).await.ok()?;
        let phase = claim.status.as_ref()?.phase.clone()?;
        (phase == "Bound").then(|| claim.spec?.volume_name)?
    })
    .await
}

/// Local volumes on two of three nodes, `pv-db` (on node-2) the only one
/// labelled `app: db`; claims `db-0` and `db-1` select it. The pod of
/// `db-0` lands on node-2 and its claim ends Bound to `pv-db`.
async fn bind_the_database_volume(c: &Cluster) {
    let classes: Api<StorageClass> = Api::all(c.client.clone());
    create(
        &classes,
        json!({"metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
               "volumeBindingMode": "WaitForFirstConsumer"}),
    )
    .await;
    create(&c.pvs, local_volume("pv-db", "node-2", "db")).await;
    create(&c.pvs, local_volume("pv-web", "node-3", "web")).await;
    let db = json!({"matchLabels": {"app": "db"}});
    create(
        &c.claims,
        claim("db-0", "local", &["ReadWriteOnce"], db.clone()),
    )
    .await;
    create(&c.claims, claim("db-1", "local", &["ReadWriteOnce"], db)).await;
    create(&c.pods, pod("db-0", "db-0", json!({}))).await;
    assert_eq!(bound_node(&c.pods, "db-0").await, "node-2");
    assert_eq!(claim_bound_to(&c.claims, "db-0").await, "pv-db");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_local_volumes_bind_on_their_node_and_a_taken_one_leaves_the_pod_pending() {
    let c = cluster(&["node-1", "node-2", "node-3"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    bind_the_database_volume(&c).await;

    // The second database's only volume is taken.
    create(&c.pods, pod("db-1", "db-1", json!({}))).await;
    let note = failed_scheduling(&c.events, "db-1").await;
    assert!(
        note.starts_with(
            "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind."
        ),
        "{note}"
    );
    let pending = c.pods.get("db-1").await.unwrap();
    assert_eq!(node_name(&pending), None);

    // A database volume added on node-1: the PersistentVolume event moves
    // the pod back, and it binds there.
    create(&c.pvs, local_volume("pv-db-2", "node-1", "db")).await;
    assert_eq!(bound_node(&c.pods, "db-1").await, "node-1");
    assert_eq!(claim_bound_to(&c.claims, "db-1").await, "pv-db-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_first_consumer_claim_is_given_the_chosen_node() {
    let c = cluster(&["node-1", "node-2", "node-3"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    provision_for_the_chosen_node(&c).await;
}

/// Both bindings with RBAC on and the scheduler holding only what
/// `deploy/rbac.yaml` grants: the storage kinds are listed and watched,
/// and PreBind's updates of a volume and of a claim are allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_role_grants_what_volume_binding_does() {
    let user = TokenUser {
        token: "volumes-token".to_string(),
        name: "volumes".to_string(),
        groups: Vec::new(),
    };
    let c = with_options(
        &["node-1", "node-2", "node-3"],
        ClusterOptions {
            controller_manager: true,
            authorization: Some("RBAC".to_string()),
            users: vec![user.clone()],
        },
    )
    .await;
    let kubeconfig = c.cluster.kubeconfig_for(&user);
    grant_deploy_role(&c.client, &user, &kubeconfig).await;
    let _scheduler = RunningScheduler::start_with_kubeconfig(&kubeconfig, Config::default());
    // PreBind updates a PersistentVolume's claimRef here, a claim's
    // annotation below.
    bind_the_database_volume(&c).await;
    provision_for_the_chosen_node(&c).await;
    // The role lets it list and watch VolumeAttachments and
    // CSIStorageCapacities: without them node-1 would look free and no
    // node would have room.
    attachment_fills_node_1(&c).await;
    provision_where_capacity_has_room(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_attachment_filling_a_nodes_csi_limit_sends_the_pod_elsewhere() {
    let c = cluster(&["node-1", "node-2", "node-3"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    attachment_fills_node_1(&c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_to_provision_goes_where_a_storage_capacity_has_room() {
    let c = cluster(&["node-1", "node-2", "node-3"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    provision_where_capacity_has_room(&c).await;
}

/// Node affinity that prefers node-1.
fn prefer_node_1() -> Value {
    json!({"affinity": {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "preference": {
            "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}}]}}})
}

/// CSINodes let `csi.example` attach 1 volume on node-1, 8 on node-2 and
/// none on node-3; a VolumeAttachment still attaches volume `old` (no pod
/// uses it) to node-1. A pod that prefers node-1 goes to node-2; one that
/// must be on node-1 waits until the attachment is deleted (NodeVolumeLimits'
/// VolumeAttachment Delete hint moves it), then binds there.
async fn attachment_fills_node_1(c: &Cluster) {
    let csi_nodes: Api<CSINode> = Api::all(c.client.clone());
    for (node, count) in [("node-1", 1), ("node-2", 8), ("node-3", 0)] {
        create(
            &csi_nodes,
            json!({"metadata": {"name": node},
                   "spec": {"drivers": [{"name": "csi.example", "nodeID": node,
                                          "allocatable": {"count": count}}]}}),
        )
        .await;
    }
    bound_csi_claim(c, "old", &["ReadWriteOnce"]).await;
    bound_csi_claim(c, "attached-1", &["ReadWriteOnce"]).await;
    bound_csi_claim(c, "attached-2", &["ReadWriteOnce"]).await;
    let attachments: Api<VolumeAttachment> = Api::all(c.client.clone());
    create(
        &attachments,
        json!({"metadata": {"name": "va-old"},
               "spec": {"attacher": "csi.example", "nodeName": "node-1",
                        "source": {"persistentVolumeName": "old"}}}),
    )
    .await;
    create(&c.pods, pod("attached-1", "attached-1", prefer_node_1())).await;
    assert_eq!(bound_node(&c.pods, "attached-1").await, "node-2");

    let on_node_1 = json!({"nodeSelector": {"kubernetes.io/hostname": "node-1"}});
    create(&c.pods, pod("attached-2", "attached-2", on_node_1)).await;
    let note = failed_scheduling(&c.events, "attached-2").await;
    assert!(
        note.starts_with("0/3 nodes are available: ")
            && note.contains("1 node(s) exceed max volume count"),
        "{note}"
    );
    attachments
        .delete("va-old", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(bound_node(&c.pods, "attached-2").await, "node-1");
}

/// A claim of `size` of class `pool`.
fn pool_claim(name: &str, size: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "pool",
            "resources": {"requests": {"storage": size}},
        },
    })
}

/// A CSIStorageCapacity of class `pool` for the node `host`.
fn pool_capacity(host: &str, capacity: &str) -> Value {
    json!({
        "metadata": {"name": format!("pool-{host}"), "namespace": "default"},
        "storageClassName": "pool",
        "nodeTopology": {"matchLabels": {"kubernetes.io/hostname": host}},
        "capacity": capacity,
    })
}

/// The node VolumeBinding's PreBind selects for a claim to provision.
async fn selected_node(c: &Cluster, claim: &str) -> String {
    eventually(
        &format!("the selected-node annotation of {claim}"),
        WAIT,
        || async {
            let claim = c.claims.get(claim).await.ok()?;
            claim
                .metadata
                .annotations?
                .get("volume.kubernetes.io/selected-node")
                .cloned()
        },
    )
    .await
}

/// Class `pool` (WaitForFirstConsumer) provisions through
/// `pool.example`, a CSIDriver with `storageCapacity: true`, which reports
/// 512Mi on node-1, 10Gi on node-2 and nothing on node-3. A 1Gi claim
/// whose pod prefers node-1 is provisioned on node-2; a 20Gi one fits no
/// node ("did not have enough free storage") until a capacity for node-3
/// appears (VolumeBinding's CSIStorageCapacity Add hint moves the pod).
async fn provision_where_capacity_has_room(c: &Cluster) {
    let drivers: Api<CSIDriver> = Api::all(c.client.clone());
    create(
        &drivers,
        json!({"metadata": {"name": "pool.example"}, "spec": {"storageCapacity": true}}),
    )
    .await;
    let classes: Api<StorageClass> = Api::all(c.client.clone());
    create(
        &classes,
        json!({"metadata": {"name": "pool"}, "provisioner": "pool.example",
               "volumeBindingMode": "WaitForFirstConsumer"}),
    )
    .await;
    let capacities: Api<CSIStorageCapacity> = Api::namespaced(c.client.clone(), "default");
    create(&capacities, pool_capacity("node-1", "512Mi")).await;
    create(&capacities, pool_capacity("node-2", "10Gi")).await;

    create(&c.claims, pool_claim("pool-small", "1Gi")).await;
    create(&c.pods, pod("pool-small", "pool-small", prefer_node_1())).await;
    assert_eq!(selected_node(c, "pool-small").await, "node-2");

    create(&c.claims, pool_claim("pool-big", "20Gi")).await;
    create(&c.pods, pod("pool-big", "pool-big", json!({}))).await;
    let note = failed_scheduling(&c.events, "pool-big").await;
    assert!(
        note.starts_with("0/3 nodes are available: 3 node(s) did not have enough free storage."),
        "{note}"
    );
    create(&capacities, pool_capacity("node-3", "50Gi")).await;
    assert_eq!(selected_node(c, "pool-big").await, "node-3");
}

/// A claim of a WaitForFirstConsumer class allowed on node-3 only: the
/// scheduler (already running) writes the selected node; the test then
/// provisions a volume there, and the pod binds there.
async fn provision_for_the_chosen_node(c: &Cluster) {
    let classes: Api<StorageClass> = Api::all(c.client.clone());
    create(
        &classes,
        json!({"metadata": {"name": "fast"}, "provisioner": "fast.example.com",
               "volumeBindingMode": "WaitForFirstConsumer",
               "allowedTopologies": [{"matchLabelExpressions": [
                   {"key": "kubernetes.io/hostname", "values": ["node-3"]}]}]}),
    )
    .await;
    let scratch = create(
        &c.claims,
        claim("scratch", "fast", &["ReadWriteOnce"], Value::Null),
    )
    .await;
    create(&c.pods, pod("writer", "scratch", json!({}))).await;

    // The scheduler's PreBind names the node; it waits for the volume.
    let selected = eventually("the selected-node annotation", WAIT, || async {
        let claim = c.claims.get("scratch").await.ok()?;
        claim
            .metadata
            .annotations?
            .get("volume.kubernetes.io/selected-node")
            .cloned()
    })
    .await;
    assert_eq!(selected, "node-3", "the class allows only node-3");
    assert_eq!(node_name(&c.pods.get("writer").await.unwrap()), None);

    // The test provisions: a volume on that node, bound to the claim.
    create(
        &c.pvs,
        json!({
            "metadata": {"name": "pv-scratch"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast",
                "persistentVolumeReclaimPolicy": "Delete",
                "csi": {"driver": "fast.example.com", "volumeHandle": "scratch-1"},
                "claimRef": {"namespace": "default", "name": "scratch",
                             "uid": scratch.metadata.uid.clone().unwrap()},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [selected.clone()]},
                ]}]}},
            },
        }),
    )
    .await;
    assert_eq!(claim_bound_to(&c.claims, "scratch").await, "pv-scratch");
    assert_eq!(bound_node(&c.pods, "writer").await, selected);
}

/// A CSI volume of driver `csi.example`, bound by the PV controller to a
/// claim of the same name (class `csi`, which has no StorageClass: bound
/// Immediately).
async fn bound_csi_claim(c: &Cluster, name: &str, modes: &[&str]) {
    create(
        &c.pvs,
        json!({
            "metadata": {"name": name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": modes,
                "storageClassName": "csi",
                "persistentVolumeReclaimPolicy": "Retain",
                "csi": {"driver": "csi.example", "volumeHandle": name},
            },
        }),
    )
    .await;
    create(&c.claims, claim(name, "csi", modes, Value::Null)).await;
    assert_eq!(claim_bound_to(&c.claims, name).await, name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_over_a_nodes_csi_limit_goes_elsewhere() {
    let c = cluster(&["node-1", "node-2"]).await;
    let csi_nodes: Api<CSINode> = Api::all(c.client.clone());
    for (node, count) in [("node-1", 1), ("node-2", 8)] {
        create(
            &csi_nodes,
            json!({"metadata": {"name": node},
                   "spec": {"drivers": [{"name": "csi.example", "nodeID": node,
                                          "allocatable": {"count": count}}]}}),
        )
        .await;
    }
    bound_csi_claim(&c, "vol-1", &["ReadWriteOnce"]).await;
    bound_csi_claim(&c, "vol-2", &["ReadWriteOnce"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    // Both pods would rather be on node-1, which attaches one volume.
    create(&c.pods, pod("first", "vol-1", prefer_node_1())).await;
    assert_eq!(bound_node(&c.pods, "first").await, "node-1");
    create(&c.pods, pod("second", "vol-2", prefer_node_1())).await;
    assert_eq!(bound_node(&c.pods, "second").await, "node-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_write_once_pod_claim_has_one_user() {
    let c = cluster(&["node-1", "node-2"]).await;
    bound_csi_claim(&c, "solo", &["ReadWriteOncePod"]).await;
    let _scheduler = RunningScheduler::start(&c.cluster, Config::default());
    create(&c.pods, pod("user-1", "solo", json!({}))).await;
    bound_node(&c.pods, "user-1").await;
    create(&c.pods, pod("user-2", "solo", json!({}))).await;
    let note = failed_scheduling(&c.events, "user-2").await;
    assert!(
        note.starts_with("0/2 nodes are available: 2 node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod."),
        "{note}"
    );
    assert_eq!(node_name(&c.pods.get("user-2").await.unwrap()), None);
}
