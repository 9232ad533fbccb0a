use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

fn meta(name: &str, namespace: Option<&str>, version: u64) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        uid: Some(format!("uid-{name}")),
        resource_version: Some(version.to_string()),
        ..ObjectMeta::default()
    }
}

fn volume(name: &str, version: u64) -> VolumeObject {
    VolumeObject::PersistentVolume(Arc::new(core::PersistentVolume {
        metadata: meta(name, None, version),
        spec: Some(core::PersistentVolumeSpec {
            storage_class_name: Some("local".to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

fn claim(name: &str, version: u64, bound_to: Option<&str>) -> VolumeObject {
    let mut metadata = meta(name, Some("default"), version);
    if bound_to.is_some() {
        metadata.annotations = Some(BTreeMap::from([(
            BIND_COMPLETED.to_string(),
            "yes".to_string(),
        )]));
    }
    VolumeObject::Claim(Arc::new(core::PersistentVolumeClaim {
        metadata,
        spec: Some(core::PersistentVolumeClaimSpec {
            storage_class_name: Some("local".to_string()),
            volume_name: bound_to.map(str::to_string),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

fn pod(uid: &str, claims: &[&str]) -> core::Pod {
    core::Pod {
        metadata: ObjectMeta {
            name: Some(uid.to_string()),
            namespace: Some("default".to_string()),
            uid: Some(uid.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(core::PodSpec {
            volumes: Some(
                claims
                    .iter()
                    .map(|c| core::Volume {
                        name: c.to_string(),
                        persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                            claim_name: c.to_string(),
                            read_only: None,
                        }),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Stores what it is given with the next resource version, as an
/// apiserver's update does.
struct Writer;

impl VolumeWriter for Writer {
    fn update_volume(
        &self,
        volume: &core::PersistentVolume,
    ) -> Result<core::PersistentVolume, String> {
        let mut written = volume.clone();
        written.metadata.resource_version =
            Some((assume::version(&volume.metadata) + 1).to_string());
        Ok(written)
    }
    fn update_claim(
        &self,
        claim: &core::PersistentVolumeClaim,
    ) -> Result<core::PersistentVolumeClaim, String> {
        let mut written = claim.clone();
        written.metadata.resource_version =
            Some((assume::version(&claim.metadata) + 1).to_string());
        Ok(written)
    }
}

#[test]
fn claim_users_and_node_volumes_follow_the_pods() {
    let volumes = Volumes::default();
    volumes.set_pod("a", "n1", &pod("a", &["data"]));
    volumes.set_pod("b", "n1", &pod("b", &["data", "logs"]));
    volumes.set_pod("c", "n2", &pod("c", &[]));
    assert_eq!(volumes.claim_users("default", "data"), 2);
    assert_eq!(volumes.node_volumes("n1").len(), 2);
    assert!(volumes.node_volumes("n2").is_empty());
    volumes.remove_pod("a");
    assert_eq!(volumes.claim_users("default", "data"), 1);
    // Moved to another node (a bind seen after an assumption elsewhere).
    volumes.set_pod("b", "n3", &pod("b", &["data"]));
    assert!(volumes.node_volumes("n1").is_empty());
    assert_eq!(volumes.claim_users("default", "logs"), 0);
    assert_eq!(volumes.volumes_of("b").len(), 1);
}

#[test]
fn assumed_bindings_are_seen_until_reverted() {
    let volumes = Volumes::default();
    volumes.apply(&volume("pv", 1));
    volumes.apply(&claim("data", 1, None));
    volumes.apply(&claim("fresh", 1, None));
    let bindings = [("pv".to_string(), "data".to_string())];
    let all_bound = volumes
        .assume(
            "pod",
            "default",
            "n1",
            &bindings,
            &["fresh".to_string()],
            Vec::new(),
        )
        .unwrap();
    assert!(!all_bound);
    let pv = volumes.persistent_volume("pv").unwrap();
    assert_eq!(pv.claim_ref.unwrap().name, "data");
    let fresh = volumes.claim("default", "fresh").unwrap();
    assert!(
        fresh
            .annotations
            .contains(&(SELECTED_NODE.to_string(), "n1".to_string()))
    );
    // The informer resending what it had does not undo the assumption.
    assert!(matches!(volumes.apply(&volume("pv", 1)), Applied::Stale));
    volumes.revert("pod");
    assert!(volumes.persistent_volume("pv").unwrap().claim_ref.is_none());
    assert!(
        volumes
            .claim("default", "fresh")
            .unwrap()
            .annotations
            .is_empty()
    );
}

#[test]
fn a_failed_assumption_leaves_nothing_assumed() {
    let volumes = Volumes::default();
    volumes.apply(&volume("pv", 1));
    volumes.apply(&claim("data", 1, None));
    let bindings = [
        ("pv".to_string(), "data".to_string()),
        ("gone".to_string(), "data".to_string()),
    ];
    let error = volumes
        .assume("pod", "default", "n1", &bindings, &[], Vec::new())
        .unwrap_err();
    assert_eq!(error.to_string(), "PersistentVolume \"gone\" not found");
    assert!(volumes.persistent_volume("pv").unwrap().claim_ref.is_none());
}

#[test]
fn bind_writes_and_waits_for_the_controller() {
    let volumes = Arc::new(Volumes::default());
    volumes.set_writer(Arc::new(Writer));
    volumes.apply(&volume("pv", 1));
    volumes.apply(&claim("data", 1, None));
    let bindings = [("pv".to_string(), "data".to_string())];
    volumes
        .assume(
            "pod",
            "default",
            "n1",
            &bindings,
            &[],
            vec!["data".to_string()],
        )
        .unwrap();
    // Nobody binds the claim: the wait ends at the timeout.
    assert_eq!(volumes.bind("pod", Duration::ZERO), Ok(()));
    assert_eq!(volumes.wait_for_bindings("pod"), Err(BindError::Timeout));
    let written = volumes.persistent_volume("pv").unwrap();
    assert_eq!(written.claim_ref.unwrap().name, "data");
    // The PersistentVolume controller binds the claim while PreBind waits.
    volumes
        .assume(
            "pod",
            "default",
            "n1",
            &bindings,
            &[],
            vec!["data".to_string()],
        )
        .unwrap();
    let controller = {
        let volumes = volumes.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            volumes.apply(&claim("data", 5, Some("pv")));
        })
    };
    assert_eq!(volumes.bind("pod", Duration::from_secs(10)), Ok(()));
    assert_eq!(volumes.wait_for_bindings("pod"), Ok(()));
    // Done: nothing is left to wait for.
    assert_eq!(volumes.wait_for_bindings("pod"), Ok(()));
    controller.join().unwrap();
    // Done: nothing is left to wait for.
    assert_eq!(volumes.wait_for_bindings("pod"), Ok(()));
}

fn attachment(name: &str, node: &str, volume: &str) -> VolumeObject {
    VolumeObject::VolumeAttachment(Arc::new(storage::VolumeAttachment {
        metadata: meta(name, None, 1),
        spec: storage::VolumeAttachmentSpec {
            attacher: "csi.example".to_string(),
            node_name: node.to_string(),
            source: storage::VolumeAttachmentSource {
                persistent_volume_name: Some(volume.to_string()),
                ..Default::default()
            },
        },
        status: None,
    }))
}

#[test]
fn attachments_are_found_by_their_node_as_they_move_and_go() {
    let store = Volumes::default();
    let names = |node: &str| -> Vec<String> {
        store
            .volume_attachments(node)
            .into_iter()
            .map(|a| {
                format!(
                    "{}:{}",
                    a.name,
                    a.persistent_volume_name.unwrap_or_default()
                )
            })
            .collect()
    };
    assert!(matches!(
        store.apply(&attachment("va-1", "n1", "pv-1")),
        Applied::Added
    ));
    store.apply(&attachment("va-2", "n1", "pv-2"));
    assert_eq!(names("n1"), ["va-1:pv-1", "va-2:pv-2"]);
    // An update naming another node moves it there.
    assert!(matches!(
        store.apply(&attachment("va-2", "n2", "pv-2")),
        Applied::Updated(_)
    ));
    assert_eq!(names("n1"), ["va-1:pv-1"]);
    assert_eq!(names("n2"), ["va-2:pv-2"]);
    store.delete(&attachment("va-1", "n1", "pv-1"));
    assert!(names("n1").is_empty());
}

#[test]
fn capacities_are_found_by_their_class_in_namespace_and_name_order() {
    let capacity = |namespace: &str, name: &str, class: &str, size: &str| {
        VolumeObject::StorageCapacity(Arc::new(storage::CSIStorageCapacity {
            metadata: meta(name, Some(namespace), 1),
            storage_class_name: class.to_string(),
            capacity: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                size.to_string(),
            )),
            ..Default::default()
        }))
    };
    let store = Volumes::default();
    store.apply(&capacity("kube-system", "b", "fast", "1Gi"));
    store.apply(&capacity("default", "z", "fast", "2Gi"));
    store.apply(&capacity("kube-system", "a", "slow", "3Gi"));
    let found: Vec<(String, Option<i64>)> = store
        .storage_capacities("fast")
        .into_iter()
        .map(|c| (format!("{}/{}", c.namespace, c.name), c.capacity_bytes))
        .collect();
    assert_eq!(
        found,
        [
            ("default/z".to_string(), Some(2 << 30)),
            ("kube-system/b".to_string(), Some(1 << 30)),
        ]
    );
    store.delete(&capacity("default", "z", "fast", "2Gi"));
    assert_eq!(store.storage_capacities("fast").len(), 1);
}
