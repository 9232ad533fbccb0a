use super::*;
use kws_plugin_sdk::Code;
use kws_plugin_sdk::host::volumes::{ClaimRef, PodVolume};
use kws_plugin_sdk::testing::{node, node_info, requirement};
use kws_plugin_sdk::{ClusterEvent, LabelSelector, NodeSelectorTerm, Operator};
use std::cell::RefCell as Cell;

/// One `assume` call: the node, the bindings, the claims to provision.
type Assumed = (String, Vec<(String, String)>, Vec<String>);

/// A cluster's storage for one test, and what the plugin asked of it.
#[derive(Default)]
struct Host {
    claims: Vec<Claim>,
    volumes: Vec<PersistentVolume>,
    classes: Vec<StorageClass>,
    /// CSIDrivers as JSON, by name.
    drivers: Vec<(String, String)>,
    capacities: Vec<StorageCapacity>,
    /// The pod's volumes besides one per claim.
    inline: Vec<PodVolume>,
    assumed: Rc<Cell<Vec<Assumed>>>,
}

impl volumes::Volumes for Host {
    fn pod_volumes(&self) -> Vec<PodVolume> {
        self.claims
            .iter()
            .map(|c| PodVolume {
                name: c.name.clone(),
                source: VolumeSource::Claim(c.name.clone()),
            })
            .chain(self.inline.iter().cloned())
            .collect()
    }
    fn claim(&self, _: &str, name: &str) -> Option<Claim> {
        self.claims.iter().find(|c| c.name == name).cloned()
    }
    fn persistent_volume(&self, name: &str) -> Option<PersistentVolume> {
        self.volumes.iter().find(|v| v.name == name).cloned()
    }
    fn volumes_of_class(&self, class: &str) -> Vec<PersistentVolume> {
        self.volumes
            .iter()
            .filter(|v| v.storage_class == class)
            .cloned()
            .collect()
    }
    fn storage_class(&self, name: &str) -> Option<StorageClass> {
        self.classes.iter().find(|c| c.name == name).cloned()
    }
    fn csi_driver_json(&self, name: &str) -> Option<String> {
        self.drivers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, json)| json.clone())
    }
    fn storage_capacities(&self, class: &str) -> Vec<StorageCapacity> {
        self.capacities
            .iter()
            .filter(|c| c.storage_class == class)
            .cloned()
            .collect()
    }
    fn assume(
        &self,
        node: &str,
        bindings: &[(String, String)],
        provisions: &[String],
    ) -> Result<bool, String> {
        self.assumed
            .borrow_mut()
            .push((node.to_string(), bindings.to_vec(), provisions.to_vec()));
        Ok(bindings.is_empty() && provisions.is_empty())
    }
}

fn claim(name: &str, class: &str, request: i64) -> Claim {
    Claim {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        access_modes: vec!["ReadWriteOnce".into()],
        storage_class: Some(class.into()),
        volume_name: String::new(),
        request_bytes: request,
        selector: None,
        volume_mode: "Filesystem".into(),
        phase: "Pending".into(),
        annotations: Vec::new(),
        deleting: false,
    }
}

/// A local volume of `class` reachable from the node named `host`.
fn local(name: &str, class: &str, capacity: i64, host: &str) -> PersistentVolume {
    PersistentVolume {
        name: name.into(),
        labels: Vec::new(),
        annotations: Vec::new(),
        storage_class: class.into(),
        access_modes: vec!["ReadWriteOnce".into()],
        capacity_bytes: capacity,
        volume_mode: "Filesystem".into(),
        node_affinity: Some(vec![NodeSelectorTerm {
            match_expressions: vec![requirement("kubernetes.io/hostname", Operator::In, &[host])],
            match_fields: Vec::new(),
        }]),
        claim_ref: None,
        phase: "Available".into(),
        csi: None,
        in_tree: None,
        deleting: false,
    }
}

fn class(name: &str, mode: &str, provisioner: &str) -> StorageClass {
    StorageClass {
        name: name.into(),
        provisioner: provisioner.into(),
        volume_binding_mode: Some(mode.into()),
        allowed_topologies: None,
    }
}

fn nodes() -> Vec<NodeInfo> {
    ["n0", "n1", "n2"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            node_info(
                i as u32,
                node(n).label("kubernetes.io/hostname", n).build(),
                Vec::new(),
            )
        })
        .collect()
}

fn plugin() -> VolumeBinding {
    VolumeBinding::new(Args::default()).unwrap()
}

/// PreFilter and Filter on n0..n2; the cycle state for later points.
fn filter(host: Host) -> (PreFilterResult, Vec<Status>, CycleState) {
    volumes::install(Box::new(host));
    let pod = kws_plugin_sdk::testing::pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = plugin().pre_filter(&pod, &Cluster::default(), &mut state);
    if pre.status.code != Code::Success {
        return (pre, Vec::new(), state);
    }
    let nodes = nodes();
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    let statuses = plugin().filter_all(&pod, &Cluster::default(), &refs, &state);
    (pre, statuses, state)
}

#[test]
fn pods_without_claims_are_skipped() {
    assert_eq!(filter(Host::default()).0.status.code, Code::Skip);
}

#[test]
fn an_unbound_immediate_claim_is_unresolvable() {
    let host = Host {
        claims: vec![claim("data", "fast", 1)],
        classes: vec![class("fast", "Immediate", "csi.example")],
        ..Host::default()
    };
    let (pre, _, _) = filter(host);
    assert_eq!(pre.status, Status::unresolvable(UNBOUND_IMMEDIATE));
}

#[test]
fn static_local_volumes_bind_where_they_are_and_the_smallest_fitting_is_chosen() {
    let host = Host {
        claims: vec![claim("data", "local", 10)],
        volumes: vec![
            local("big", "local", 100, "n0"),
            local("small", "local", 20, "n0"),
            local("tiny", "local", 5, "n1"),
        ],
        classes: vec![class(
            "local",
            "WaitForFirstConsumer",
            NOT_SUPPORTED_PROVISIONER,
        )],
        ..Host::default()
    };
    let assumed = host.assumed.clone();
    let (_, statuses, mut state) = filter(host);
    assert_eq!(statuses[0], Status::success());
    for s in &statuses[1..] {
        assert_eq!(s.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(s.reasons, [ERR_REASON_BIND_CONFLICT]);
    }
    let pod = kws_plugin_sdk::testing::pod("default", "p").build();
    let n0 = &nodes()[0];
    assert_eq!(plugin().reserve(&pod, n0, &mut state), Status::success());
    assert_eq!(
        *assumed.borrow(),
        [(
            "n0".to_string(),
            vec![("small".to_string(), "data".to_string())],
            Vec::new()
        )]
    );
    // Score: 10 of 20 used, on the default shape (0% -> 100, 100% -> 0).
    let refs = [n0];
    assert_eq!(
        plugin().score_all(&pod, &Cluster::default(), &refs, &state),
        Ok(vec![50])
    );
}

#[test]
fn a_bound_claims_volume_must_reach_the_node() {
    let mut bound = claim("data", "local", 1);
    bound.volume_name = "pv".into();
    bound.annotations = vec![("pv.kubernetes.io/bind-completed".into(), "yes".into())];
    let mut pv = local("pv", "local", 1, "n1");
    pv.claim_ref = Some(ClaimRef {
        namespace: "default".into(),
        name: "data".into(),
        uid: "uid-data".into(),
    });
    let host = Host {
        claims: vec![bound],
        volumes: vec![pv],
        ..Host::default()
    };
    let (_, statuses, _) = filter(host);
    assert_eq!(statuses[1], Status::success());
    assert_eq!(statuses[0].reasons, [ERR_REASON_NODE_CONFLICT]);
}

#[test]
fn wait_for_first_consumer_claims_are_provisioned_where_the_class_allows() {
    let mut zoned = class("zoned", "WaitForFirstConsumer", "csi.example");
    zoned.allowed_topologies = Some(vec![NodeSelectorTerm {
        match_expressions: vec![requirement("kubernetes.io/hostname", Operator::In, &["n2"])],
        match_fields: Vec::new(),
    }]);
    let host = Host {
        claims: vec![claim("data", "zoned", 1)],
        classes: vec![zoned],
        ..Host::default()
    };
    let assumed = host.assumed.clone();
    let (_, statuses, mut state) = filter(host);
    assert_eq!(statuses[2], Status::success());
    assert_eq!(statuses[0].reasons, [ERR_REASON_BIND_CONFLICT]);
    let pod = kws_plugin_sdk::testing::pod("default", "p").build();
    assert_eq!(
        plugin().reserve(&pod, &nodes()[2], &mut state),
        Status::success()
    );
    assert_eq!(assumed.borrow()[0].2, ["data"]);
}

#[test]
fn a_claim_selected_for_another_node_fits_only_there() {
    let mut selected = claim("data", "fast", 1);
    selected.annotations = vec![("volume.kubernetes.io/selected-node".into(), "n1".into())];
    let host = Host {
        claims: vec![selected],
        classes: vec![class("fast", "WaitForFirstConsumer", "csi.example")],
        ..Host::default()
    };
    let (_, statuses, _) = filter(host);
    assert_eq!(statuses[1], Status::success());
    assert_eq!(statuses[0].reasons, [ERR_REASON_BIND_CONFLICT]);
}

#[test]
fn the_score_follows_the_shape() {
    let shape = [(0, 100), (100, 0)];
    assert_eq!(broken_linear(&shape, 0), 100);
    assert_eq!(broken_linear(&shape, 25), 75);
    assert_eq!(broken_linear(&shape, 100), 0);
    assert!(
        VolumeBinding::new(Args {
            bind_timeout_seconds: -1,
            shape: Vec::new()
        })
        .is_err()
    );
}

/// A CSIDriver named `name` with `storageCapacity` as given.
fn driver(name: &str, storage_capacity: bool) -> (String, String) {
    let json = serde_json::json!({"metadata": {"name": name},
        "spec": {"storageCapacity": storage_capacity}});
    (name.to_string(), json.to_string())
}

/// A CSIStorageCapacity of `class` for the node named `host`.
fn capacity(
    name: &str,
    class: &str,
    host: &str,
    capacity: Option<i64>,
    maximum: Option<i64>,
) -> StorageCapacity {
    StorageCapacity {
        namespace: "kube-system".into(),
        name: name.into(),
        storage_class: class.into(),
        node_topology: Some(LabelSelector {
            match_labels: vec![("kubernetes.io/hostname".into(), host.into())],
            match_expressions: Vec::new(),
        }),
        capacity_bytes: capacity,
        maximum_volume_size_bytes: maximum,
    }
}

#[test]
fn a_driver_that_reports_capacity_provisions_only_where_a_capacity_has_room() {
    let host = || Host {
        claims: vec![claim("data", "fast", 10)],
        classes: vec![class("fast", "WaitForFirstConsumer", "csi.example")],
        drivers: vec![driver("csi.example", true)],
        capacities: vec![
            // Room on n0; too small on n1 (its maximum volume size counts,
            // not its capacity); none for n2.
            capacity("n0", "fast", "n0", Some(100), None),
            capacity("n1", "fast", "n1", Some(100), Some(5)),
            capacity("other-class", "slow", "n2", Some(100), None),
        ],
        ..Host::default()
    };
    let (_, statuses, _) = filter(host());
    assert_eq!(statuses[0], Status::success());
    for status in &statuses[1..] {
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, [ERR_REASON_NOT_ENOUGH_SPACE]);
    }
    // A capacity without a topology reaches no node.
    let mut no_topology = host();
    no_topology.capacities[0].node_topology = None;
    assert_eq!(
        filter(no_topology).1[0].reasons,
        [ERR_REASON_NOT_ENOUGH_SPACE]
    );
    // Not checked when the driver does not report capacity, or has no
    // CSIDriver.
    let mut off = host();
    off.drivers = vec![driver("csi.example", false)];
    assert!(filter(off).1.iter().all(|s| s.code == Code::Success));
    let mut absent = host();
    absent.drivers.clear();
    assert!(filter(absent).1.iter().all(|s| s.code == Code::Success));
}

#[test]
fn claims_to_provision_score_by_the_capacity_of_their_node() {
    let host = Host {
        claims: vec![claim("data", "fast", 25)],
        classes: vec![class("fast", "WaitForFirstConsumer", "csi.example")],
        drivers: vec![driver("csi.example", true)],
        capacities: vec![
            capacity("n0", "fast", "n0", Some(100), None),
            capacity("n1", "fast", "n1", Some(50), None),
        ],
        ..Host::default()
    };
    let (_, statuses, mut state) = filter(host);
    assert!(statuses[..2].iter().all(|s| s.code == Code::Success));
    let pod = kws_plugin_sdk::testing::pod("default", "p").build();
    let nodes = nodes();
    assert_eq!(
        plugin().pre_score(&pod, &Cluster::default(), &[], &mut state),
        Status::success()
    );
    let scores = plugin()
        .score_all(&pod, &Cluster::default(), &[&nodes[0], &nodes[1]], &state)
        .unwrap();
    // The default shape: 100 at no use, 0 at full; 25% and 50% used.
    assert_eq!(scores, [75, 50]);
}

#[test]
fn capacity_and_driver_events_requeue_only_when_they_may_make_room() {
    let hint_for = |inline: Vec<PodVolume>,
                    resource,
                    old: Option<serde_json::Value>,
                    new: serde_json::Value| {
        volumes::install(Box::new(Host {
            inline,
            ..Host::default()
        }));
        let old = old.map(|o| o.to_string());
        plugin()
            .queueing_hint(
                &kws_plugin_sdk::testing::pod("default", "p").build(),
                &Cluster::default(),
                &ClusterEvent {
                    resource,
                    action: ActionType::Update,
                },
                old.as_deref(),
                Some(&new.to_string()),
            )
            .unwrap()
    };
    let hint = |resource, old, new| hint_for(Vec::new(), resource, old, new);
    let cap =
        |capacity: &str| serde_json::json!({"storageClassName": "fast", "capacity": capacity});
    let resource = EventResource::CsiStorageCapacity;
    assert_eq!(hint(resource, None, cap("1Gi")), QueueingHint::Queue);
    assert_eq!(
        hint(resource, Some(cap("1Gi")), cap("2Gi")),
        QueueingHint::Queue
    );
    assert_eq!(
        hint(resource, Some(cap("2Gi")), cap("1Gi")),
        QueueingHint::Skip
    );
    // The maximum volume size is the limit when set.
    let capped = serde_json::json!({"storageClassName": "fast", "capacity": "5Gi",
        "maximumVolumeSize": "1Gi"});
    assert_eq!(
        hint(resource, Some(capped), cap("2Gi")),
        QueueingHint::Queue
    );
    // A CSIDriver update matters only to an inline CSI volume of the
    // driver whose capacity tracking was turned off.
    let on =
        serde_json::json!({"metadata": {"name": "csi.example"}, "spec": {"storageCapacity": true}});
    let off = serde_json::json!({"metadata": {"name": "csi.example"}, "spec": {"storageCapacity": false}});
    let inline = vec![PodVolume {
        name: "scratch".into(),
        source: VolumeSource::Csi("csi.example".into()),
    }];
    let driver = EventResource::CsiDriver;
    assert_eq!(
        hint(driver, Some(on.clone()), off.clone()),
        QueueingHint::Skip
    );
    assert_eq!(
        hint_for(inline.clone(), driver, Some(on.clone()), off.clone()),
        QueueingHint::Queue
    );
    assert_eq!(hint_for(inline, driver, Some(off), on), QueueingHint::Skip);
}
