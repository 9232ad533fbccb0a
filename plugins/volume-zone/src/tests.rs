use super::*;
use kws_plugin_sdk::Code;
use kws_plugin_sdk::host::volumes::{Claim, PersistentVolume, PodVolume};
use kws_plugin_sdk::testing::{node, node_info, pod};

/// The pod mounts claim `data`, bound to volume `pv` with `labels`.
struct Host {
    labels: Vec<(String, String)>,
}

impl volumes::Volumes for Host {
    fn pod_volumes(&self) -> Vec<PodVolume> {
        vec![PodVolume {
            name: "data".into(),
            source: VolumeSource::Claim("data".into()),
        }]
    }
    fn claim(&self, namespace: &str, name: &str) -> Option<Claim> {
        Some(Claim {
            namespace: namespace.into(),
            name: name.into(),
            uid: String::new(),
            access_modes: Vec::new(),
            storage_class: None,
            volume_name: "pv".into(),
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
            labels: self.labels.clone(),
            annotations: Vec::new(),
            storage_class: String::new(),
            access_modes: Vec::new(),
            capacity_bytes: 0,
            volume_mode: "Filesystem".into(),
            node_affinity: None,
            claim_ref: None,
            phase: "Bound".into(),
            csi: None,
            in_tree: None,
            deleting: false,
        })
    }
}

fn filter(labels: &[(&str, &str)], zone_of_node: Option<(&str, &str)>) -> (Code, Vec<Status>) {
    volumes::install(Box::new(Host {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }));
    let pod = pod("default", "p").build();
    let mut state = CycleState::default();
    let pre = VolumeZone.pre_filter(&pod, &Cluster::default(), &mut state);
    let mut builder = node("n0");
    if let Some((k, v)) = zone_of_node {
        builder = builder.label(k, v);
    }
    let nodes = [node_info(0, builder.build(), Vec::new())];
    let refs: Vec<&NodeInfo> = nodes.iter().collect();
    (
        pre.status.code,
        VolumeZone.filter_all(&pod, &Cluster::default(), &refs, &state),
    )
}

#[test]
fn volumes_without_zones_are_skipped() {
    assert_eq!(filter(&[], Some((ZONE, "a"))).0, Code::Skip);
}

#[test]
fn a_volume_zone_must_match_the_nodes() {
    let (code, statuses) = filter(&[(ZONE, "a__b")], Some((ZONE, "b")));
    assert_eq!(code, Code::Success);
    assert_eq!(statuses[0], Status::success());
    let (_, statuses) = filter(&[(ZONE, "a")], Some((ZONE, "c")));
    assert_eq!(statuses[0], Status::unresolvable(ERR_REASON_CONFLICT));
    // A beta label on the volume matches the GA label of the node.
    let (_, statuses) = filter(&[(BETA_ZONE, "a")], Some((ZONE, "a")));
    assert_eq!(statuses[0], Status::success());
    // A node with no topology label at all passes.
    let (_, statuses) = filter(&[(ZONE, "a")], None);
    assert_eq!(statuses[0], Status::success());
}
