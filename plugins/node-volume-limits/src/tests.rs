use super::*;
use kws_plugin_sdk::host::volumes::{
    Claim, CsiSource, PersistentVolume, PlacedVolumes, VolumeAttachment,
};
use kws_plugin_sdk::testing::{node, node_info, pod};
use kws_plugin_sdk::{Code, NodeId};

/// Node 0 (`n0`) has a CSINode allowing `limit` volumes of `csi.example`;
/// node 1 has none. Claims `c<N>` are bound to CSI volumes `v-c<N>`;
/// volume `gone` does not exist, volumes named `nfs-*` are not CSI.
/// `attachments` are node 0's VolumeAttachments.
#[derive(Default)]
struct Host {
    pod: Vec<PodVolume>,
    on_node0: Vec<PodVolume>,
    limit: i32,
    attachments: Vec<VolumeAttachment>,
}

fn attachment(attacher: &str, volume: Option<&str>) -> VolumeAttachment {
    VolumeAttachment {
        name: format!("va-{}", volume.unwrap_or("inline")),
        attacher: attacher.into(),
        persistent_volume_name: volume.map(Into::into),
    }
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
        if name == "gone" {
            return None;
        }
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
            csi: (!name.starts_with("nfs-")).then(|| CsiSource {
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
    fn volume_attachments(&self, node: &str) -> Vec<VolumeAttachment> {
        if node == "n0" {
            self.attachments.clone()
        } else {
            Vec::new()
        }
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
        attachments: Vec::new(),
    };
    assert_eq!(run(host).0.status.code, Code::Skip);
}

#[test]
fn a_node_at_its_limit_refuses_a_new_volume_but_not_a_shared_one() {
    let full = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 1,
        attachments: Vec::new(),
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
        attachments: Vec::new(),
    };
    assert!(run(shared).1.iter().all(|s| s.code == Code::Success));
    let room = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 2,
        attachments: Vec::new(),
    };
    assert!(run(room).1.iter().all(|s| s.code == Code::Success));
}

#[test]
fn a_missing_claim_of_the_pod_is_unresolvable() {
    let host = Host {
        pod: vec![claim_volume("missing")],
        on_node0: Vec::new(),
        limit: 1,
        attachments: Vec::new(),
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
        attachments: Vec::new(),
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

#[test]
fn volumes_attached_to_the_node_count_against_its_limit() {
    let attached = |attachments| Host {
        pod: vec![claim_volume("c2")],
        limit: 1,
        attachments,
        ..Host::default()
    };
    let (_, statuses) = run(attached(vec![attachment("csi.example", Some("v-c9"))]));
    assert_eq!(
        statuses[0],
        Status::unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED)
    );
    assert_eq!(statuses[1], Status::success());
    // Not counted: no attacher, an inline volume, a volume gone, one not
    // CSI.
    let ignored = vec![
        attachment("", Some("v-c9")),
        attachment("csi.example", None),
        attachment("csi.example", Some("gone")),
        attachment("csi.example", Some("nfs-1")),
    ];
    assert!(
        run(attached(ignored))
            .1
            .iter()
            .all(|s| s.code == Code::Success)
    );
    // Two attachments of one volume take one slot.
    let twice = Host {
        limit: 2,
        ..attached(vec![
            attachment("csi.example", Some("v-c9")),
            VolumeAttachment {
                name: "again".into(),
                ..attachment("csi.example", Some("v-c9"))
            },
        ])
    };
    assert!(run(twice).1.iter().all(|s| s.code == Code::Success));
}

#[test]
fn a_volume_both_attached_and_used_by_a_pod_on_the_node_counts_once() {
    let host = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 2,
        attachments: vec![attachment("csi.example", Some("v-c1"))],
    };
    assert!(run(host).1.iter().all(|s| s.code == Code::Success));
    let other = Host {
        pod: vec![claim_volume("c2")],
        on_node0: vec![claim_volume("c1")],
        limit: 2,
        attachments: vec![attachment("csi.example", Some("v-c3"))],
    };
    assert_eq!(
        run(other).1[0],
        Status::unschedulable(ERR_REASON_MAX_VOLUME_COUNT_EXCEEDED)
    );
}

#[test]
fn a_deleted_attachment_requeues_pods_with_claims_or_an_inline_volume_of_its_driver() {
    let hint = |pod_volumes: Vec<PodVolume>, attacher: &str| {
        volumes::install(Box::new(Host {
            pod: pod_volumes,
            ..Host::default()
        }));
        let deleted = serde_json::json!({"metadata": {"name": "va"},
            "spec": {"attacher": attacher, "nodeName": "n0",
                "source": {"persistentVolumeName": "v"}}})
        .to_string();
        NodeVolumeLimits
            .queueing_hint(
                &pod("default", "p").build(),
                &Cluster::default(),
                &ClusterEvent {
                    resource: EventResource::VolumeAttachment,
                    action: ActionType::Delete,
                },
                Some(&deleted),
                None,
            )
            .unwrap()
    };
    assert_eq!(
        hint(vec![claim_volume("c1")], "csi.example"),
        QueueingHint::Queue
    );
    let pd = PodVolume {
        name: "pd".into(),
        source: VolumeSource::GcePersistentDisk(volumes::Disk {
            name: "disk".into(),
            read_only: false,
        }),
    };
    assert_eq!(
        hint(vec![pd.clone()], "pd.csi.storage.gke.io"),
        QueueingHint::Queue
    );
    assert_eq!(hint(vec![pd], "csi.example"), QueueingHint::Skip);
    let ephemeral = PodVolume {
        name: "scratch".into(),
        source: VolumeSource::Ephemeral("p-scratch".into()),
    };
    assert_eq!(hint(vec![ephemeral], "csi.example"), QueueingHint::Skip);
}
