use super::*;
use kws_plugin_sdk::host::volumes::{Claim, CsiSource, PersistentVolume, PlacedVolumes};
use kws_plugin_sdk::testing::{node, node_info, pod};
use kws_plugin_sdk::{Code, NodeId};

/// Node 0 (`n0`) has a CSINode allowing `limit` volumes of `csi.example`;
/// node 1 has none. Claims `c<N>` are bound to CSI volumes `v<N>`.
struct Host {
    pod: Vec<PodVolume>,
    on_node0: Vec<PodVolume>,
    limit: i32,
}

fn claim_volume(name: &str) -> PodVolume {
    PodVolume {
        name: name.into(),
        source: VolumeSource::Claim(name.into()),
    }
}

impl volumes::Volumes for Host {
    fn pod_volumes(&self) -> Vec<PodVolume> {
        self.pod.clone()
    }
    fn node_volumes(&self, node: NodeId) -> Vec<PlacedVolumes> {
        if node != 0 {
            return Vec::new();
        }
        vec![PlacedVolumes {
            uid: "other".into(),
            namespace: "default".into(),
            volumes: self.on_node0.clone(),
        }]
    }
    fn volumes_of(&self, uid: &str) -> Vec<PodVolume> {
        if uid == "other" {
            self.on_node0.clone()
        } else {
            Vec::new()
        }
    }
    fn claim(&self, namespace: &str, name: &str) -> Option<Claim> {
        (name != "missing").then(|| Claim {
            namespace: namespace.into(),
            name: name.into(),
            uid: String::new(),
            access_modes: vec!["ReadWriteOnce".into()],
            storage_class: None,
            volume_name: format!("v-{name}"),
            request_bytes: 0,
            selector: None,
            volume_mode: "Filesystem".into(),
            phase: "Bound".into(),
            annotations: Vec::new(),
            deleting: false,
        })
    }
    fn persistent_volume(&self, name: &str) -> Option<PersistentVolume> {
        Some(PersistentVolume {
            name: name.into(),
            labels: Vec::new(),
            annotations: Vec::new(),
            storage_class: String::new(),
            access_modes: Vec::new(),
            capacity_bytes: 0,
            volume_mode: "Filesystem".into(),
            node_affinity: None,
            claim_ref: None,
            phase: "Bound".into(),
            csi: Some(CsiSource {
                driver: "csi.example".into(),
                volume_handle: name.into(),
            }),
            in_tree: None,
            deleting: false,
        })
    }
    fn csi_node(&self, node: &str) -> Option<CsiNode> {
        (node == "n0").then(|| CsiNode {
            name: node.into(),
            drivers: vec![("csi.example".into(), Some(self.limit))],
            annotations: Vec::new(),
        })
    }
}

fn run(host: Host) -> (PreFilterResult, Vec<Status>) {
    volumes::install(Box::new(host));
    let pod = pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = NodeVolumeLimits.pre_filter(&pod, &Cluster::default(), &mut state);
    if pre.status.code != Code::Success {
        return (pre, Vec::new());
    }
    let nodes = [
        node_info(0, node("n0").build(), Vec::new()),
        node_info(1, node("n1").build(), Vec::new()),
    ];
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    (
        pre,
        NodeVolumeLimits.filter_all(&pod, &Cluster::default(), &refs, &state),
    )
}

#[test]
fn pods_without_claims_are_skipped() {
    let host = Host {
        pod: vec![PodVolume {
            name: "tmp".into(),
            source: VolumeSource::Other,
        }],
        on_node0: Vec::new(),
        limit: 0,
    };
    assert_eq!(run(host).0.status.code, Code::Skip);
}

#[test]
fn a_node_at_its_limit_refuses_a_new_volume_but_not_a_shared_one() {
    let full = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 1,
    };
    let (_, statuses) = run(full);
    assert_eq!(
        statuses[0],
        Status::unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED)
    );
    // Node 1 has no CSINode: no limit.
    assert_eq!(statuses[1], Status::success());
    let shared = Host {
        pod: vec![claim_volume("c1")],
        on_node0: vec![claim_volume("c1")],
        limit: 1,
    };
    assert!(run(shared).1.iter().all(|s| s.code == Code::Success));
    let room = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 2,
    };
    assert!(run(room).1.iter().all(|s| s.code == Code::Success));
}

#[test]
fn a_missing_claim_of_the_pod_is_unresolvable() {
    let host = Host {
        pod: vec![claim_volume("missing")],
        on_node0: Vec::new(),
        limit: 1,
    };
    let (_, statuses) = run(host);
    assert_eq!(statuses[0].code, Code::UnschedulableAndUnresolvable);
    assert_eq!(
        statuses[0].reasons,
        ["looking up PVC default/missing: persistentvolumeclaim \"missing\" not found"]
    );
}

#[test]
fn preemptions_what_if_counts_without_a_victims_volumes_and_with_an_added_pods() {
    volumes::install(Box::new(Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 1,
    }));
    let p = pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = NodeVolumeLimits.pre_filter(&p, &Cluster::default(), &mut state);
    assert_eq!(pre.status.code, Code::Success);
    let n0 = node_info(0, node("n0").build(), Vec::new());
    let filter = |state: &CycleState| {
        NodeVolumeLimits.filter_all(&p, &Cluster::default(), &[&n0], state)[0].clone()
    };
    let full = Status::unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED);
    assert_eq!(filter(&state), full);
    let mut what_if = state.clone();
    assert_eq!(
        NodeVolumeLimits.remove_pod(&mut what_if, &p, "other", &n0),
        Status::success()
    );
    assert_eq!(filter(&what_if), Status::success());
    let mut other = pod("default", "other").build();
    other.uid = "other".into();
    assert_eq!(
        NodeVolumeLimits.add_pod(&mut what_if, &p, &other, &n0),
        Status::success()
    );
    assert_eq!(filter(&what_if), full);
    assert_eq!(filter(&state), full);
}
