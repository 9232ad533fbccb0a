use super::*;
use kws_plugin_sdk::host::volumes::{Claim, Disk, PlacedVolumes};
use kws_plugin_sdk::testing::{node, node_info, pod};
use kws_plugin_sdk::{Code, NodeId};

/// The host's answers for one test.
#[derive(Default)]
struct Host {
    pod: Vec<PodVolume>,
    /// Volumes of the pods on node 0.
    on_node: Vec<PodVolume>,
    claims: Vec<Claim>,
    users: u32,
}

impl volumes::Volumes for Host {
    fn pod_volumes(&self) -> Vec<PodVolume> {
        self.pod.clone()
    }
    fn node_volumes(&self, node: NodeId) -> Vec<PlacedVolumes> {
        if node != 0 || self.on_node.is_empty() {
            return Vec::new();
        }
        vec![PlacedVolumes {
            uid: "other".into(),
            namespace: "default".into(),
            volumes: self.on_node.clone(),
        }]
    }
    fn volumes_of(&self, uid: &str) -> Vec<PodVolume> {
        if uid == "other" {
            self.on_node.clone()
        } else {
            Vec::new()
        }
    }
    fn claim(&self, _: &str, name: &str) -> Option<Claim> {
        self.claims.iter().find(|c| c.name == name).cloned()
    }
    fn claim_users(&self, _: &str, _: &str) -> u32 {
        self.users
    }
}

fn volume(source: VolumeSource) -> PodVolume {
    PodVolume {
        name: "v".into(),
        source,
    }
}

fn pd(name: &str, read_only: bool) -> PodVolume {
    volume(VolumeSource::GcePersistentDisk(Disk {
        name: name.into(),
        read_only,
    }))
}

fn claim(name: &str, mode: &str) -> Claim {
    Claim {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
        access_modes: vec![mode.into()],
        storage_class: None,
        volume_name: String::new(),
        request_bytes: 0,
        selector: None,
        volume_mode: "Filesystem".into(),
        phase: "Bound".into(),
        annotations: Vec::new(),
        deleting: false,
    }
}

/// PreFilter, then Filter on nodes 0 and 1 unless PreFilter ended it.
fn run(host: Host) -> (PreFilterResult, Vec<Status>) {
    volumes::install(Box::new(host));
    let pod = pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = VolumeRestrictions.pre_filter(&pod, &Cluster::default(), &mut state);
    if pre.status.code != Code::Success {
        return (pre, Vec::new());
    }
    let nodes = [
        node_info(0, node("n0").build(), Vec::new()),
        node_info(1, node("n1").build(), Vec::new()),
    ];
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    let statuses = VolumeRestrictions.filter_all(&pod, &Cluster::default(), &refs, &state);
    (pre, statuses)
}

#[test]
fn pods_without_volumes_or_restricted_ones_are_skipped() {
    assert_eq!(run(Host::default()).0.status.code, Code::Skip);
    let host = Host {
        pod: vec![volume(VolumeSource::Claim("data".into()))],
        claims: vec![claim("data", "ReadWriteOnce")],
        users: 1,
        ..Host::default()
    };
    assert_eq!(run(host).0.status.code, Code::Skip);
}

#[test]
fn a_missing_claim_is_unresolvable() {
    let host = Host {
        pod: vec![volume(VolumeSource::Claim("gone".into()))],
        ..Host::default()
    };
    let (pre, _) = run(host);
    assert_eq!(pre.status.code, Code::UnschedulableAndUnresolvable);
    assert_eq!(
        pre.status.reasons,
        ["persistentvolumeclaim \"gone\" not found"]
    );
}

#[test]
fn the_same_disk_conflicts_unless_both_read_only() {
    let host = Host {
        pod: vec![pd("disk", false)],
        on_node: vec![pd("disk", true)],
        ..Host::default()
    };
    let (_, statuses) = run(host);
    assert_eq!(statuses[0], Status::unschedulable(ERR_REASON_DISK_CONFLICT));
    assert_eq!(statuses[1], Status::success());
    let host = Host {
        pod: vec![pd("disk", true)],
        on_node: vec![pd("disk", true)],
        ..Host::default()
    };
    assert!(run(host).1.iter().all(|s| s.code == Code::Success));
}

#[test]
fn rbd_images_conflict_on_an_overlapping_monitor() {
    let rbd = |monitors: &[&str]| {
        volume(VolumeSource::Rbd(volumes::RbdImage {
            monitors: monitors.iter().map(|m| m.to_string()).collect(),
            pool: "rbd".into(),
            image: "img".into(),
            read_only: false,
        }))
    };
    assert!(is_volume_conflict(&rbd(&["a", "b"]), &[rbd(&["b", "c"])]));
    assert!(!is_volume_conflict(&rbd(&["a"]), &[rbd(&["c"])]));
}

#[test]
fn a_read_write_once_pod_claim_in_use_rejects_every_node() {
    let host = Host {
        pod: vec![volume(VolumeSource::Claim("data".into()))],
        claims: vec![claim("data", "ReadWriteOncePod")],
        users: 1,
        ..Host::default()
    };
    let (_, statuses) = run(host);
    assert!(
        statuses
            .iter()
            .all(|s| *s == Status::unschedulable(ERR_REASON_READ_WRITE_ONCE_POD_CONFLICT))
    );
    let unused = Host {
        pod: vec![volume(VolumeSource::Claim("data".into()))],
        claims: vec![claim("data", "ReadWriteOncePod")],
        users: 0,
        ..Host::default()
    };
    assert_eq!(run(unused).0.status.code, Code::Skip);
}

#[test]
fn hints_queue_for_the_pods_claim_or_a_freed_disk() {
    volumes::install(Box::new(Host {
        pod: vec![
            volume(VolumeSource::Claim("data".into())),
            pd("disk", false),
        ],
        ..Host::default()
    }));
    let pod = pod("default", "p").build();
    let hint = |resource, old: Option<&str>, new: Option<&str>| {
        let event = ClusterEvent {
            resource,
            action: ActionType::Add,
        };
        VolumeRestrictions
            .queueing_hint(&pod, &Cluster::default(), &event, old, new)
            .unwrap()
    };
    let claim = r#"{"metadata":{"namespace":"default","name":"data"}}"#;
    let other = r#"{"metadata":{"namespace":"default","name":"other"}}"#;
    assert_eq!(
        hint(EventResource::PersistentVolumeClaim, None, Some(claim)),
        QueueingHint::Queue
    );
    assert_eq!(
        hint(EventResource::PersistentVolumeClaim, None, Some(other)),
        QueueingHint::Skip
    );
    let with_disk = r#"{"metadata":{"namespace":"default","name":"q"},"spec":{"volumes":[{"name":"v","gcePersistentDisk":{"pdName":"disk"}}]}}"#;
    let without = r#"{"metadata":{"namespace":"default","name":"q"},"spec":{"volumes":[{"name":"v","emptyDir":{}}]}}"#;
    assert_eq!(
        hint(EventResource::AssignedPod, Some(with_disk), None),
        QueueingHint::Queue
    );
    assert_eq!(
        hint(EventResource::AssignedPod, Some(without), None),
        QueueingHint::Skip
    );
}

#[test]
fn preemptions_what_if_sees_a_victims_disk_gone_and_an_added_pods_disk() {
    volumes::install(Box::new(Host {
        pod: vec![pd("disk", false)],
        on_node: vec![pd("disk", false)],
        ..Host::default()
    }));
    let p = pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = VolumeRestrictions.pre_filter(&p, &Cluster::default(), &mut state);
    assert_eq!(pre.status.code, Code::Success);
    let n0 = node_info(0, node("n0").build(), Vec::new());
    let filter = |state: &CycleState| {
        VolumeRestrictions.filter_all(&p, &Cluster::default(), &[&n0], state)[0].clone()
    };
    assert_eq!(
        filter(&state),
        Status::unschedulable(ERR_REASON_DISK_CONFLICT)
    );
    let mut what_if = state.clone();
    assert_eq!(
        VolumeRestrictions.remove_pod(&mut what_if, &p, "other", &n0),
        Status::success()
    );
    assert_eq!(filter(&what_if), Status::success());
    let mut other = pod("default", "other").build();
    other.uid = "other".into();
    assert_eq!(
        VolumeRestrictions.add_pod(&mut what_if, &p, &other, &n0),
        Status::success()
    );
    assert_eq!(
        filter(&what_if),
        Status::unschedulable(ERR_REASON_DISK_CONFLICT)
    );
    // The cycle's own state is untouched.
    assert_eq!(
        filter(&state),
        Status::unschedulable(ERR_REASON_DISK_CONFLICT)
    );
}
