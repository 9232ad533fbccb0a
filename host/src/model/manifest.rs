//! Reading Kubernetes manifests the way `kubectl create -f` and the
//! apiserver would: YAML converted to JSON as kubectl converts it
//! ([`super::yaml`]), strict
//! decoding (unknown fields are errors), the apiserver's defaulting
//! ([`super::defaults`]), its validation ([`super::validation`]) and its
//! admission (priority, default toleration seconds, the default storage
//! class: [`super::default_storage_class`]), so that the embedded
//! cluster and a real one see the same objects and refuse the same ones
//! with the same messages. Services, ReplicationControllers, ReplicaSets
//! and StatefulSets are read for their selectors (PodTopologySpread's
//! default spreading, see [`crate::workloads`]).

use super::validation::{self, SYSTEM_PRIORITY_CLASSES};
use super::{default_storage_class, defaults, yaml};
use crate::volumes::VolumeObject;
use crate::workloads::Workload;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service,
    Toleration,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceSlice};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::{
    CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The objects of a manifest file, defaulted as the apiserver stores them.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub namespaces: Vec<Namespace>,
    pub priority_classes: Vec<PriorityClass>,
    /// Services, ReplicationControllers, ReplicaSets and StatefulSets.
    pub workloads: Vec<Workload>,
    /// What preemption counts violations against: the status
    /// (`disruptionsAllowed`) is read as the file gives it, there being no
    /// disruption controller to compute it.
    pub budgets: Vec<PodDisruptionBudget>,
    /// Dynamic resource allocation's objects (`resource.k8s.io/v1`). A
    /// claim's status (its allocation and the pods it is reserved for) is
    /// read as the file gives it, as a snapshot of a cluster has it; no
    /// resource claim controller generates claims from templates here, so
    /// pods name their claims by `resourceClaimName` (or the file gives the
    /// pod's `status.resourceClaimStatuses`).
    pub device_classes: Vec<DeviceClass>,
    pub resource_slices: Vec<ResourceSlice>,
    pub resource_claims: Vec<ResourceClaim>,
    /// PersistentVolumes, PersistentVolumeClaims, StorageClasses, CSINodes,
    /// CSIDrivers, VolumeAttachments and CSIStorageCapacities, for the
    /// volume plugins.
    pub storage: Vec<VolumeObject>,
}

/// A manifest the apiserver would refuse, located by file and document.
#[derive(Debug)]
pub struct ManifestError {
    pub source_name: String,
    /// 1-based position of the YAML document in the file; 0 when the
    /// problem is the file as a whole.
    pub document: usize,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            0 => write!(f, "{}: {}", self.source_name, self.message),
            n => write!(f, "{}: document {n}: {}", self.source_name, self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// Reads a multi-document YAML file of Nodes, Pods, Namespaces,
/// PriorityClasses, Services, ReplicationControllers, ReplicaSets,
/// StatefulSets, PodDisruptionBudgets, PersistentVolumes,
/// PersistentVolumeClaims, StorageClasses, CSINodes, CSIDrivers,
/// VolumeAttachments, CSIStorageCapacities, DeviceClasses, ResourceSlices and ResourceClaims (also inside
/// `kind: List`).
///
/// ```no_run
/// let objects = kws_host::model::manifest::read_file("examples/cluster.yaml".as_ref())?;
/// println!("{} nodes, {} pods", objects.nodes.len(), objects.pods.len());
/// # Ok::<(), kws_host::model::manifest::ManifestError>(())
/// ```
///
/// The file may be a regular file or a pipe (`<(kubectl get ...)`), of at
/// most [`MAX_CLUSTER_FILE_BYTES`](crate::files::MAX_CLUSTER_FILE_BYTES);
/// a device or a larger file is refused.
pub fn read_file(path: &Path) -> Result<Manifests, ManifestError> {
    use crate::files::{self, Kind, MAX_CLUSTER_FILE_BYTES};
    let source_name = path.display().to_string();
    let text = files::read_to_string(
        path,
        Kind::RegularOrPipe,
        MAX_CLUSTER_FILE_BYTES,
        "a cluster file",
    )
    .map_err(|e| ManifestError {
        source_name: source_name.clone(),
        document: 0,
        message: match e {
            files::ReadError::Io(e) => format!("cannot read the file: {e}"),
            refused => refused.to_string(),
        },
    })?;
    parse(&source_name, &text)
}

/// Objects decoded, defaulted and validated one by one, each with the
/// number of its document, waiting for the checks across the file.
#[derive(Default)]
struct Decoded {
    objects: Manifests,
    /// The document of each node and each pod of `objects`, which are
    /// checked across the file once all are read.
    node_documents: Vec<usize>,
    pod_documents: Vec<usize>,
    /// Objects added so far.
    count: usize,
}

/// How many objects of each sort [`Decoded`] held at some point, to go
/// back to.
#[derive(Clone, Copy)]
struct Mark {
    lens: [usize; 10],
    count: usize,
}

/// A list of [`Manifests`], whatever it holds.
trait List {
    fn len(&self) -> usize;
    fn truncate(&mut self, len: usize);
}

impl<T> List for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

impl Manifests {
    /// Every list. Destructured whole, so that a list added to
    /// [`Manifests`] must be added here too.
    fn lists(&mut self) -> [&mut dyn List; 10] {
        let Manifests {
            nodes,
            pods,
            namespaces,
            priority_classes,
            workloads,
            budgets,
            device_classes,
            resource_slices,
            resource_claims,
            storage,
        } = self;
        [
            nodes,
            pods,
            namespaces,
            priority_classes,
            workloads,
            budgets,
            device_classes,
            resource_slices,
            resource_claims,
            storage,
        ]
    }
}

impl Decoded {
    fn mark(&mut self) -> Mark {
        Mark {
            lens: self.objects.lists().map(|list| list.len()),
            count: self.count,
        }
    }

    fn back_to(&mut self, mark: Mark) {
        for (list, len) in self.objects.lists().into_iter().zip(mark.lens) {
            list.truncate(len);
        }
        self.node_documents.truncate(self.objects.nodes.len());
        self.pod_documents.truncate(self.objects.pods.len());
        self.count = mark.count;
    }
}

/// The items of a document read one by one before its end says whether it
/// is a List: where [`Decoded`] stood before them, and whether all were
/// added.
struct ListItems {
    before: Mark,
    added: bool,
}

/// Whether a document whose `items` were read one by one is a List, and
/// had one `items` only.
fn is_list(value: &serde_json::Value, items_read: usize) -> bool {
    items_read == 1
        && value["apiVersion"] == "v1"
        && value["kind"] == "List"
        && value["items"].as_array().is_some_and(Vec::is_empty)
}

/// Parses manifests from text; `source_name` names it in errors. Text with
/// no object at all is refused, as `kubectl create` refuses it.
///
/// Each document is decoded as soon as it is read, and each item of a
/// `kind: List` as soon as the item is, so that the YAML of a large file is
/// never held whole beside its objects.
pub fn parse(source_name: &str, text: &str) -> Result<Manifests, ManifestError> {
    // kubectl reads files that start with a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let error = |document: usize, message: String| ManifestError {
        source_name: source_name.to_string(),
        document,
        message,
    };
    let mut decoded = Decoded::default();
    let mut list: Option<ListItems> = None;
    let mut failed: Option<ManifestError> = None;
    let read = yaml::read(text, |part| match part {
        yaml::Part::Item {
            document, value, ..
        } => {
            let items = list.get_or_insert_with(|| ListItems {
                before: decoded.mark(),
                added: true,
            });
            if items.added {
                items.added = value
                    .and_then(|json| add_object(json, document, &mut decoded))
                    .is_ok();
            }
            true
        }
        yaml::Part::Document {
            document,
            value,
            items_read,
        } => {
            let items = list.take();
            let added = if items_read == 0 {
                add_document(value, document, &mut decoded)
            } else if items.as_ref().is_none_or(|i| i.added) && is_list(&value, items_read) {
                Ok(())
            } else {
                // Not a List after all, or an item was refused: the
                // document read whole gives the apiserver's answer.
                if let Some(items) = items {
                    decoded.back_to(items.before);
                }
                match yaml::document(text, document) {
                    Ok(value) => add_document(value, document, &mut decoded),
                    Err(e) => Err(e.message),
                }
            };
            match added {
                Ok(()) => true,
                Err(message) => {
                    failed = Some(error(document, message));
                    false
                }
            }
        }
    });
    if let Some(failed) = failed {
        return Err(failed);
    }
    read.map_err(|e| error(e.document, e.message))?;
    if decoded.count == 0 {
        return Err(ManifestError {
            source_name: source_name.to_string(),
            document: 0,
            message: "no objects passed to create".to_string(),
        });
    }
    let Decoded {
        mut objects,
        node_documents,
        pod_documents,
        ..
    } = decoded;
    let at = |number: usize, message: String| ManifestError {
        source_name: source_name.to_string(),
        document: number,
        message,
    };
    let mut seen_nodes = HashSet::new();
    for (node, &number) in objects.nodes.iter().zip(&node_documents) {
        let name = node.metadata.name.as_deref().unwrap_or_default();
        if !seen_nodes.insert(name) {
            return Err(at(number, already_exists("nodes", &Some(name.to_string()))));
        }
    }
    default_storage_class::admit_claims(&mut objects.storage);
    let classes = priority_classes(&objects.priority_classes);
    let mut seen_pods = HashSet::new();
    for (pod, &number) in objects.pods.iter_mut().zip(&pod_documents) {
        admit_pod(pod, &classes).map_err(|m| at(number, m))?;
        let key = (pod.metadata.namespace.clone(), pod.metadata.name.clone());
        if !seen_pods.insert(key) {
            return Err(at(
                number,
                format!(
                    "pods \"{}\" already exists",
                    pod.metadata.name.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    Ok(objects)
}

/// Pushes `item`, growing `vec` by an eighth rather than doubling it: a
/// Pod is about 2.5 KiB before anything it points to, and doubling would
/// leave up to half the room of 20 000 of them unused.
fn push_compact<T>(vec: &mut Vec<T>, item: T) {
    if vec.len() == vec.capacity() {
        vec.reserve_exact((vec.len() / 8).max(16));
    }
    vec.push(item);
}

/// [`add_object`] for a whole document, which may be empty.
fn add_document(
    json: serde_json::Value,
    number: usize,
    decoded: &mut Decoded,
) -> Result<(), String> {
    if json.is_null() {
        return Ok(());
    }
    add_object(json, number, decoded)
}

/// Decodes one object strictly (unknown fields are errors, as with
/// `kubectl create --validate=strict`), applies the apiserver's defaults and
/// validates it.
fn add_object(json: serde_json::Value, number: usize, decoded: &mut Decoded) -> Result<(), String> {
    let api_version = json["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = json["kind"].as_str().unwrap_or_default().to_string();
    let objects = &mut decoded.objects;
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "List") => {
            let items: Vec<serde_json::Value> = match json.get("items") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(items) => decode_value(items.clone(), "List", "items")?,
            };
            for item in items {
                add_object(item, number, decoded)?;
            }
            return Ok(());
        }
        ("v1", "Node") => {
            let mut node: Node = decode(json, &kind)?;
            defaults::meta(&mut node.metadata);
            defaults::node(&mut node);
            validation::report(
                &kind,
                node.metadata.name.as_deref(),
                &validation::node(&node),
            )?;
            push_compact(&mut decoded.objects.nodes, node);
            decoded.node_documents.push(number);
        }
        ("v1", "Pod") => {
            let mut pod: Pod = decode(json, &kind)?;
            defaults::meta(&mut pod.metadata);
            defaults::pod(&mut pod);
            validation::report(&kind, pod.metadata.name.as_deref(), &validation::pod(&pod))?;
            push_compact(&mut decoded.objects.pods, pod);
            decoded.pod_documents.push(number);
        }
        ("v1", "Namespace") => {
            let mut namespace: Namespace = decode(json, &kind)?;
            defaults::meta(&mut namespace.metadata);
            let errors = validation::namespace(&namespace);
            validation::report(&kind, namespace.metadata.name.as_deref(), &errors)?;
            let name = &namespace.metadata.name;
            if objects.namespaces.iter().any(|n| n.metadata.name == *name) {
                return Err(already_exists("namespaces", name));
            }
            objects.namespaces.push(namespace);
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let mut class: PriorityClass = decode(json, &kind)?;
            defaults::meta(&mut class.metadata);
            let errors = validation::priority_class(&class);
            validation::report(&kind, class.metadata.name.as_deref(), &errors)?;
            let name = &class.metadata.name;
            if objects
                .priority_classes
                .iter()
                .any(|c| c.metadata.name == *name)
            {
                return Err(already_exists("priorityclasses.scheduling.k8s.io", name));
            }
            if class.global_default == Some(true)
                && let Some(other) = objects
                    .priority_classes
                    .iter()
                    .find(|c| c.global_default == Some(true))
            {
                return Err(format!(
                    "PriorityClass {} is already marked as default. Only one default can exist",
                    other.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            objects.priority_classes.push(class);
        }
        ("v1", "Service") => {
            let mut service: Service = decode(json, &kind)?;
            defaults::meta(&mut service.metadata);
            defaults::namespace(&mut service.metadata);
            let errors = validation::service(&service);
            validation::report(&kind, service.metadata.name.as_deref(), &errors)?;
            objects.workloads.push(Workload::Service(Arc::new(service)));
        }
        ("v1", "ReplicationController") => {
            let mut rc: ReplicationController = decode(json, &kind)?;
            defaults::meta(&mut rc.metadata);
            defaults::replication_controller(&mut rc);
            let errors = validation::replication_controller(&rc);
            validation::report(&kind, rc.metadata.name.as_deref(), &errors)?;
            objects
                .workloads
                .push(Workload::ReplicationController(Arc::new(rc)));
        }
        ("apps/v1", "ReplicaSet" | "StatefulSet") => {
            // The spec and its selector are required: say so before
            // decoding, which would only report a missing field.
            let name = json["metadata"]["name"].as_str().map(str::to_string);
            if json["spec"]["selector"].is_null() {
                let errors = [validation::required("spec.selector", "")];
                validation::report(&kind, name.as_deref(), &errors)?;
            }
            let workload = if kind == "ReplicaSet" {
                let mut rs: ReplicaSet = decode(json, &kind)?;
                defaults::meta(&mut rs.metadata);
                defaults::namespace(&mut rs.metadata);
                let template = rs.spec.template.as_ref().and_then(|t| t.metadata.as_ref());
                let errors = validation::controller_selector(
                    &rs.metadata,
                    &rs.spec.selector,
                    template.and_then(|m| m.labels.as_ref()),
                    "deployment",
                );
                validation::report(&kind, rs.metadata.name.as_deref(), &errors)?;
                Workload::ReplicaSet(Arc::new(rs))
            } else {
                let mut ss: StatefulSet = decode(json, &kind)?;
                defaults::meta(&mut ss.metadata);
                defaults::namespace(&mut ss.metadata);
                let errors = validation::controller_selector(
                    &ss.metadata,
                    &ss.spec.selector,
                    ss.spec
                        .template
                        .metadata
                        .as_ref()
                        .and_then(|m| m.labels.as_ref()),
                    "statefulset",
                );
                validation::report(&kind, ss.metadata.name.as_deref(), &errors)?;
                Workload::StatefulSet(Arc::new(ss))
            };
            objects.workloads.push(workload);
        }
        ("policy/v1", "PodDisruptionBudget") => {
            let mut budget: PodDisruptionBudget = decode(json, &kind)?;
            defaults::meta(&mut budget.metadata);
            defaults::namespace(&mut budget.metadata);
            let errors = validation::pod_disruption_budget(&budget);
            validation::report(&kind, budget.metadata.name.as_deref(), &errors)?;
            if budget.metadata.uid.as_deref().is_none_or(str::is_empty) {
                let namespace = budget.metadata.namespace.as_deref().unwrap_or_default();
                let name = budget.metadata.name.as_deref().unwrap_or_default();
                budget.metadata.uid = Some(uuid_shaped(&("PodDisruptionBudget", namespace, name)));
            }
            objects.budgets.push(budget);
        }
        ("resource.k8s.io/v1", "DeviceClass") => {
            let mut class: DeviceClass = decode(json, &kind)?;
            defaults::meta(&mut class.metadata);
            let errors = validation::device_class(&class);
            validation::report(&kind, class.metadata.name.as_deref(), &errors)?;
            if objects
                .device_classes
                .iter()
                .any(|c| c.metadata.name == class.metadata.name)
            {
                return Err(already_exists(
                    "deviceclasses.resource.k8s.io",
                    &class.metadata.name,
                ));
            }
            class.metadata.uid = Some(uuid_shaped(&("DeviceClass", &class.metadata.name)));
            objects.device_classes.push(class);
        }
        ("resource.k8s.io/v1", "ResourceSlice") => {
            let mut slice: ResourceSlice = decode(json, &kind)?;
            defaults::meta(&mut slice.metadata);
            let errors = validation::resource_slice(&slice);
            validation::report(&kind, slice.metadata.name.as_deref(), &errors)?;
            if objects
                .resource_slices
                .iter()
                .any(|s| s.metadata.name == slice.metadata.name)
            {
                return Err(already_exists(
                    "resourceslices.resource.k8s.io",
                    &slice.metadata.name,
                ));
            }
            slice.metadata.uid = Some(uuid_shaped(&("ResourceSlice", &slice.metadata.name)));
            objects.resource_slices.push(slice);
        }
        ("resource.k8s.io/v1", "ResourceClaim") => {
            let mut claim: ResourceClaim = decode(json, &kind)?;
            defaults::meta(&mut claim.metadata);
            defaults::resource_claim(&mut claim);
            let errors = validation::resource_claim(&claim);
            validation::report(&kind, claim.metadata.name.as_deref(), &errors)?;
            let key = (
                claim.metadata.namespace.clone(),
                claim.metadata.name.clone(),
            );
            if objects
                .resource_claims
                .iter()
                .any(|c| (c.metadata.namespace.clone(), c.metadata.name.clone()) == key)
            {
                return Err(already_exists(
                    "resourceclaims.resource.k8s.io",
                    &claim.metadata.name,
                ));
            }
            claim.metadata.uid = Some(uuid_shaped(&("ResourceClaim", &key)));
            claim.metadata.resource_version = Some("1".to_string());
            objects.resource_claims.push(claim);
        }
        ("v1", "PersistentVolume") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "persistentvolumes",
                namespaced: false,
            },
            |pv: &mut PersistentVolume| {
                let spec = pv.spec.get_or_insert_default();
                spec.persistent_volume_reclaim_policy
                    .get_or_insert_with(|| "Retain".to_string());
                spec.volume_mode
                    .get_or_insert_with(|| "Filesystem".to_string());
            },
            validation::persistent_volume,
            VolumeObject::PersistentVolume,
        )?,
        ("v1", "PersistentVolumeClaim") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "persistentvolumeclaims",
                namespaced: true,
            },
            |claim: &mut PersistentVolumeClaim| {
                claim
                    .spec
                    .get_or_insert_default()
                    .volume_mode
                    .get_or_insert_with(|| "Filesystem".to_string());
            },
            validation::persistent_volume_claim,
            VolumeObject::Claim,
        )?,
        ("storage.k8s.io/v1", "StorageClass") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "storageclasses.storage.k8s.io",
                namespaced: false,
            },
            |class: &mut StorageClass| {
                class
                    .volume_binding_mode
                    .get_or_insert_with(|| "Immediate".to_string());
                class
                    .reclaim_policy
                    .get_or_insert_with(|| "Delete".to_string());
            },
            validation::storage_class,
            VolumeObject::StorageClass,
        )?,
        ("storage.k8s.io/v1", "CSINode") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "csinodes.storage.k8s.io",
                namespaced: false,
            },
            |_: &mut CSINode| {},
            validation::csi_node,
            VolumeObject::CsiNode,
        )?,
        ("storage.k8s.io/v1", "CSIDriver") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "csidrivers.storage.k8s.io",
                namespaced: false,
            },
            |_: &mut CSIDriver| {},
            validation::csi_driver,
            VolumeObject::CsiDriver,
        )?,
        ("storage.k8s.io/v1", "VolumeAttachment") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "volumeattachments.storage.k8s.io",
                namespaced: false,
            },
            |_: &mut VolumeAttachment| {},
            validation::volume_attachment,
            VolumeObject::VolumeAttachment,
        )?,
        ("storage.k8s.io/v1", "CSIStorageCapacity") => add_storage_object(
            objects,
            json,
            Storage {
                kind: &kind,
                resource: "csistoragecapacities.storage.k8s.io",
                namespaced: true,
            },
            |_: &mut CSIStorageCapacity| {},
            validation::csi_storage_capacity,
            VolumeObject::StorageCapacity,
        )?,
        ("", _) => return Err("apiVersion not set".to_string()),
        (_, "") => return Err("kind not set".to_string()),
        _ => {
            return Err(format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\" (the embedded cluster holds Nodes, Pods, Namespaces, PriorityClasses, Services, ReplicationControllers, ReplicaSets, StatefulSets, PodDisruptionBudgets, PersistentVolumes, PersistentVolumeClaims, StorageClasses, CSINodes, CSIDrivers, VolumeAttachments, CSIStorageCapacities, DeviceClasses, ResourceSlices and ResourceClaims)"
            ));
        }
    }
    decoded.count += 1;
    Ok(())
}

/// Where a storage kind is stored: its kind, its resource (for "already
/// exists") and whether it lives in a namespace.
struct Storage<'a> {
    kind: &'a str,
    resource: &'static str,
    namespaced: bool,
}

/// Reads one storage object as the apiserver creates it: decoded, its
/// metadata defaulted and then the kind's own fields (`default`), validated,
/// and added once under its name (or `namespace/name`).
fn add_storage_object<T>(
    objects: &mut Manifests,
    json: serde_json::Value,
    storage: Storage<'_>,
    default: impl FnOnce(&mut T),
    validate: impl FnOnce(&T) -> Vec<validation::FieldError>,
    wrap: impl FnOnce(Arc<T>) -> VolumeObject,
) -> Result<(), String>
where
    T: serde::de::DeserializeOwned
        + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
{
    let mut object: T = decode(json, storage.kind)?;
    let meta = object.metadata_mut();
    defaults::meta(meta);
    if storage.namespaced {
        defaults::namespace(meta);
    }
    default(&mut object);
    let meta = object.metadata();
    validation::report(storage.kind, meta.name.as_deref(), &validate(&object))?;
    let name = meta.name.as_deref().unwrap_or_default();
    let key = if storage.namespaced {
        format!("{}/{name}", meta.namespace.as_deref().unwrap_or_default())
    } else {
        name.to_string()
    };
    add_storage(objects, wrap(Arc::new(object)), storage.resource, &key)
}

/// Adds a storage object, refusing a second one of the same `key` (its
/// name, or `namespace/name`) as the apiserver does.
fn add_storage(
    objects: &mut Manifests,
    object: VolumeObject,
    resource: &str,
    key: &str,
) -> Result<(), String> {
    let same = |o: &VolumeObject| {
        std::mem::discriminant(o) == std::mem::discriminant(&object) && storage_key(o) == key
    };
    if objects.storage.iter().any(same) {
        let name = key.rsplit('/').next().map(str::to_string);
        return Err(already_exists(resource, &name));
    }
    objects.storage.push(object);
    Ok(())
}

/// A storage object's name, or `namespace/name` for a claim.
fn storage_key(object: &VolumeObject) -> String {
    let meta = match object {
        VolumeObject::PersistentVolume(o) => &o.metadata,
        VolumeObject::Claim(o) => {
            return format!(
                "{}/{}",
                o.metadata.namespace.as_deref().unwrap_or_default(),
                o.metadata.name.as_deref().unwrap_or_default()
            );
        }
        VolumeObject::StorageClass(o) => &o.metadata,
        VolumeObject::CsiNode(o) => &o.metadata,
        VolumeObject::CsiDriver(o) => &o.metadata,
        VolumeObject::VolumeAttachment(o) => &o.metadata,
        VolumeObject::StorageCapacity(o) => {
            return format!(
                "{}/{}",
                o.metadata.namespace.as_deref().unwrap_or_default(),
                o.metadata.name.as_deref().unwrap_or_default()
            );
        }
    };
    meta.name.clone().unwrap_or_default()
}

/// The apiserver's refusal of a second object of one name.
fn already_exists(resource: &str, name: &Option<String>) -> String {
    format!(
        "{resource} \"{}\" already exists",
        name.as_deref().unwrap_or_default()
    )
}

/// Decodes an object of `kind` strictly, naming the field of a value of
/// the wrong type and every field the type does not have.
fn decode<T: serde::de::DeserializeOwned>(
    json: serde_json::Value,
    kind: &str,
) -> Result<T, String> {
    decode_value(json, kind, "")
}

/// [`decode`] for the part at `at` of an object of `kind`.
fn decode_value<T: serde::de::DeserializeOwned>(
    json: serde_json::Value,
    kind: &str,
    at: &str,
) -> Result<T, String> {
    let join = |path: String| match (at.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => at.to_string(),
        (false, false) => format!("{at}.{path}"),
    };
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| {
        unknown.push(join(field_path(&path.to_string())));
    };
    let ignored = serde_ignored::Deserializer::new(json, &mut on_unknown);
    let object: T = serde_path_to_error::deserialize(ignored).map_err(|e| {
        let path = join(field_path(&e.path().to_string()));
        let at = if path.is_empty() || path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        format!(
            "{kind} in version \"v1\" cannot be handled as a {kind}: {at}{}",
            e.inner()
        )
    })?;
    // apiVersion and kind are read by the type itself, not ignored.
    if let Some(field) = unknown.first() {
        return Err(format!("strict decoding error: unknown field \"{field}\""));
    }
    Ok(object)
}

/// `spec.?.containers.?.0.image` (serde_ignored's form, `?` for options) or
/// `spec.containers[0].image` (serde_path_to_error's) as
/// `spec.containers[0].image`.
fn field_path(raw: &str) -> String {
    let mut path = String::new();
    for segment in raw.split('.').filter(|s| *s != "?" && !s.is_empty()) {
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            path.push_str(&format!("[{segment}]"));
        } else {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
    }
    path
}

/// A PriorityClass as admission applies it: its value and preemption
/// policy (defaulted to `PreemptLowerPriority`).
#[derive(Clone)]
struct Class {
    name: String,
    value: i32,
    preemption_policy: String,
}

/// The PriorityClasses by name, the system ones included, and the global
/// default.
struct PriorityClasses {
    by_name: HashMap<String, Class>,
    global_default: Option<Class>,
}

const DEFAULT_PREEMPTION_POLICY: &str = "PreemptLowerPriority";

fn priority_classes(classes: &[PriorityClass]) -> PriorityClasses {
    let mut by_name: HashMap<String, Class> = SYSTEM_PRIORITY_CLASSES
        .iter()
        .map(|(n, v)| {
            let class = Class {
                name: n.to_string(),
                value: *v,
                preemption_policy: DEFAULT_PREEMPTION_POLICY.to_string(),
            };
            (n.to_string(), class)
        })
        .collect();
    let mut global_default = None;
    for class in classes {
        let entry = Class {
            name: class.metadata.name.clone().unwrap_or_default(),
            value: class.value.unwrap_or(0),
            preemption_policy: class
                .preemption_policy
                .clone()
                .unwrap_or_else(|| DEFAULT_PREEMPTION_POLICY.to_string()),
        };
        if class.global_default == Some(true) {
            global_default = Some(entry.clone());
        }
        by_name.insert(entry.name.clone(), entry);
    }
    PriorityClasses {
        by_name,
        global_default,
    }
}

/// Keys of the taints the DefaultTolerationSeconds admission plugin adds
/// tolerations for.
const DEFAULT_TOLERATED_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// The apiserver's admission of a pod: its uid, its priority and
/// preemption policy from its class (Priority) and the default tolerations
/// (DefaultTolerationSeconds).
fn admit_pod(pod: &mut Pod, classes: &PriorityClasses) -> Result<(), String> {
    let meta = &mut pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let pod_name = meta.name.clone().unwrap_or_default();
    // The uid is the apiserver's to give, a fresh one on every create: one
    // set in the file (a copy of `kubectl get -o yaml`, shared by every copy)
    // is replaced, so two pods never share one.
    meta.uid = Some(stable_uid(&namespace, &pod_name));
    let spec = pod.spec.get_or_insert_with(Default::default);
    let named = spec
        .priority_class_name
        .as_deref()
        .filter(|n| !n.is_empty());
    let class = match named {
        Some(name) => Some(classes.by_name.get(name).ok_or_else(|| {
            format!("pods \"{pod_name}\" is forbidden: no PriorityClass with name {name} was found")
        })?),
        None => classes.global_default.as_ref(),
    };
    let priority = class.map_or(0, |c| c.value);
    if let Some(given) = spec.priority.filter(|given| *given != priority) {
        return Err(format!(
            "pods \"{pod_name}\" is forbidden: the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        ));
    }
    spec.priority = Some(priority);
    if let Some(class) = class {
        spec.priority_class_name = Some(class.name.clone());
        let computed = &class.preemption_policy;
        if let Some(given) = spec
            .preemption_policy
            .as_ref()
            .filter(|given| *given != computed)
        {
            return Err(format!(
                "pods \"{pod_name}\" is forbidden: the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {computed} from the given PriorityClass name"
            ));
        }
        spec.preemption_policy = Some(computed.clone());
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for key in DEFAULT_TOLERATED_TAINTS {
        let covered = tolerations.iter().any(|t| {
            let effect = t.effect.as_deref().unwrap_or_default();
            (effect.is_empty() || effect == "NoExecute")
                && (t.key.as_deref() == Some(key)
                    || (t.key.as_deref().unwrap_or_default().is_empty()
                        && t.operator.as_deref() == Some("Exists")))
        });
        if !covered {
            tolerations.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
    Ok(())
}

/// A UUID-shaped uid derived from the pod's name, so that simulations are
/// reproducible; distinct for distinct pods of a file, whose names are.
fn stable_uid(namespace: &str, name: &str) -> String {
    uuid_shaped(&(namespace, name))
}

/// A UUID-shaped string hashed from `seed`: the same seed, the same uid.
pub(crate) fn uuid_shaped(seed: &impl std::hash::Hash) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut words = [0u64; 2];
    for (half, word) in words.iter_mut().enumerate() {
        let mut hasher = DefaultHasher::new();
        (half, seed).hash(&mut hasher);
        *word = hasher.finish();
    }
    let hex = format!("{:016x}{:016x}", words[0], words[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn parse_ok(text: &str) -> Manifests {
        parse("test.yaml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        parse("test.yaml", text).unwrap_err().to_string()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n";

    #[test]
    fn pods_get_the_apiservers_defaults() {
        let objects = parse_ok(POD);
        let pod = &objects.pods[0];
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(spec.priority, Some(0));
        let tolerations = spec.tolerations.as_ref().unwrap();
        assert_eq!(tolerations.len(), 2, "DefaultTolerationSeconds adds two");
        assert_eq!(tolerations[0].toleration_seconds, Some(300));
        assert!(pod.metadata.uid.as_ref().is_some_and(|u| u.len() == 36));
    }

    #[test]
    fn pod_disruption_budgets_are_read_with_their_status_and_checked() {
        let budget = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {app: db}}\n  minAvailable: 1\nstatus: {disruptionsAllowed: 2, currentHealthy: 3, desiredHealthy: 1, expectedPods: 3}\n";
        let objects = parse_ok(budget);
        let read = &objects.budgets[0];
        assert_eq!(read.metadata.namespace.as_deref(), Some("default"));
        assert!(read.metadata.uid.as_ref().is_some_and(|u| u.len() == 36));
        assert_eq!(read.status.as_ref().unwrap().disruptions_allowed, Some(2));
        assert!(
            parse_err(&budget.replace("minAvailable: 1", "minAvailable: 1\n  maxUnavailable: 1"))
                .contains("minAvailable and maxUnavailable cannot be both set"),
        );
        assert_eq!(
            parse_err(&budget.replace("minAvailable: 1", "maxUnavailable: 150%")),
            "test.yaml: document 1: PodDisruptionBudget \"db\" is invalid: spec.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
    }

    #[test]
    fn dra_objects_are_defaulted_and_checked_as_the_apiserver_does() {
        let claim = "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: gpu}\nspec:\n  devices:\n    requests:\n    - {name: gpu, exactly: {deviceClassName: gpu.example.com}}\nstatus: {reservedFor: [{resource: pods, name: p, uid: u}]}\n";
        let objects = parse_ok(claim);
        let claim = &objects.resource_claims[0];
        assert_eq!(claim.metadata.namespace.as_deref(), Some("default"));
        let status = claim.status.as_ref().expect("the status as written");
        assert_eq!(status.reserved_for.as_ref().unwrap()[0].name, "p");
        let exactly = claim
            .spec
            .as_ref()
            .unwrap()
            .devices
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()[0]
            .exactly
            .clone()
            .unwrap();
        assert_eq!(exactly.allocation_mode.as_deref(), Some("ExactCount"));
        assert_eq!(exactly.count, Some(1));
        assert_eq!(
            parse_err(
                "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata: {name: c}\nspec:\n  devices:\n    requests:\n    - {name: gpu, exactly: {deviceClassName: g, allocationMode: Some}}\n    - {name: gpu}\n"
            ),
            "test.yaml: document 1: ResourceClaim \"c\" is invalid: [spec.devices.requests[0].exactly.allocationMode: Unsupported value: \"Some\": supported values: \"All\", \"ExactCount\", spec.devices.requests[1]: Required value: exactly one of `exactly` or `firstAvailable` is required, spec.devices.requests[1]: Duplicate value: \"gpu\"]"
        );
        assert_eq!(
            parse_err(
                "apiVersion: resource.k8s.io/v1\nkind: ResourceSlice\nmetadata: {name: s}\nspec:\n  driver: gpu.example.com\n  pool: {name: p, resourceSliceCount: 1}\n  devices: [{name: gpu-0}, {name: gpu-0}]\n"
            ),
            "test.yaml: document 1: ResourceSlice \"s\" is invalid: [spec: Required value: exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, spec.devices[1]: Duplicate value: \"gpu-0\"]"
        );
        assert_eq!(
            parse_err(
                "apiVersion: resource.k8s.io/v1\nkind: DeviceClass\nmetadata: {name: g}\nspec:\n  selectors: [{}]\n"
            ),
            "test.yaml: document 1: DeviceClass \"g\" is invalid: spec.selectors[0].cel: Required value"
        );
    }

    #[test]
    fn uids_given_in_the_file_are_replaced_as_on_create() {
        // Copies of one `kubectl get -o yaml` output share its uid.
        let copy = |name: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, uid: 0d4f1a52-6e3c-4b59-9c4e-3f1e2d7a8b90}}\nspec: {{containers: [{{name: c, image: i}}]}}\n"
            )
        };
        let objects = parse_ok(&[copy("a"), copy("b"), copy("c")].join("---\n"));
        let uids: HashSet<&str> = objects
            .pods
            .iter()
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        assert_eq!(uids.len(), 3, "{uids:?}");
        assert!(!uids.contains("0d4f1a52-6e3c-4b59-9c4e-3f1e2d7a8b90"));
        assert_eq!(
            parse_ok(&copy("a")).pods[0].metadata.uid,
            objects.pods[0].metadata.uid,
            "the same pod gets the same uid in every run"
        );
    }

    #[test]
    fn match_label_keys_are_merged_into_selectors_as_on_create() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: api, labels: {tier: backend, track: canary}}\nspec:\n  containers: [{name: c, image: i}]\n  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {matchLabels: {app: web}}\n        matchLabelKeys: [tier, missing]\n        mismatchLabelKeys: [track]\n        topologyKey: zone\n      - topologyKey: zone\n    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 5\n        podAffinityTerm:\n          labelSelector: {}\n          matchLabelKeys: [tier]\n          topologyKey: zone\n  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}, matchLabelKeys: [track]}\n",
        );
        let spec = objects.pods[0].spec.as_ref().unwrap();
        let expressions = |selector: &LabelSelector| -> Vec<(String, String, Vec<String>)> {
            selector
                .match_expressions
                .iter()
                .flatten()
                .map(|r| {
                    (
                        r.key.clone(),
                        r.operator.clone(),
                        r.values.clone().unwrap_or_default(),
                    )
                })
                .collect()
        };
        let triple =
            |k: &str, op: &str, v: &str| (k.to_string(), op.to_string(), vec![v.to_string()]);
        let affinity = spec.affinity.as_ref().unwrap();
        let required = affinity
            .pod_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap();
        assert_eq!(
            expressions(required[0].label_selector.as_ref().unwrap()),
            [
                triple("tier", "In", "backend"),
                triple("track", "NotIn", "canary")
            ],
            "keys the pod has no label for add nothing"
        );
        assert_eq!(
            required[0].match_label_keys.as_deref(),
            Some(&["tier".to_string(), "missing".to_string()][..]),
            "the keys stay in the spec"
        );
        assert!(
            required[1].label_selector.is_none(),
            "a term without a selector selects nothing and stays so"
        );
        assert!(
            parse_err(&POD.replace(
                "spec:\n",
                "spec:\n  affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{matchLabelKeys: [tier], topologyKey: zone}]}}\n"
            ))
            .ends_with("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys: Forbidden: must not be specified when labelSelector is not set"),
            "keys without a selector are refused"
        );
        let preferred = &affinity
            .pod_anti_affinity
            .as_ref()
            .unwrap()
            .preferred_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()[0];
        assert_eq!(
            expressions(preferred.pod_affinity_term.label_selector.as_ref().unwrap()),
            [triple("tier", "In", "backend")]
        );
        let spread = &spec.topology_spread_constraints.as_ref().unwrap()[0];
        assert_eq!(
            expressions(spread.label_selector.as_ref().unwrap()),
            [triple("track", "In", "canary")]
        );
    }

    #[test]
    fn requests_default_to_limits_and_ports_to_tcp() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers:\n  - name: c\n    image: i\n    ports: [{containerPort: 80}]\n    resources:\n      limits: {cpu: 500m, memory: 1Gi}\n      requests: {memory: 512Mi}\n",
        );
        let c = &objects.pods[0].spec.as_ref().unwrap().containers[0];
        let requests = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
        assert_eq!(requests["cpu"].0, "500m");
        assert_eq!(requests["memory"].0, "512Mi");
        let port = &c.ports.as_ref().unwrap()[0];
        assert_eq!(port.protocol.as_deref(), Some("TCP"));
        assert_eq!(
            port.host_port,
            Some(80),
            "hostNetwork pods take their container ports"
        );
    }

    #[test]
    fn priority_comes_from_priority_classes() {
        let objects = parse_ok(&format!(
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: high}}\nvalue: 1000\n---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: normal}}\nvalue: 10\nglobalDefault: true\n---\n{POD}---\n{}",
            POD.replace("name: web}", "name: urgent}\n")
                .replace("spec:\n", "spec:\n  priorityClassName: high\n")
        ));
        let priorities: Vec<_> = objects
            .pods
            .iter()
            .map(|p| p.spec.as_ref().unwrap().priority)
            .collect();
        assert_eq!(priorities, [Some(10), Some(1000)]);
        let missing = parse_err(&POD.replace("spec:\n", "spec:\n  priorityClassName: nope\n"));
        assert_eq!(
            missing,
            "test.yaml: document 1: pods \"web\" is forbidden: no PriorityClass with name nope was found"
        );
    }

    #[test]
    fn the_preemption_policy_comes_from_the_class() {
        let class = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: polite}\nvalue: 5\npreemptionPolicy: Never\n";
        let pod = POD.replace("spec:\n", "spec:\n  priorityClassName: polite\n");
        let objects = parse_ok(&format!("{class}---\n{pod}"));
        let spec = objects.pods[0].spec.as_ref().unwrap();
        assert_eq!(spec.preemption_policy.as_deref(), Some("Never"));
        let insistent = POD.replace(
            "spec:\n",
            "spec:\n  priorityClassName: system-node-critical\n  preemptionPolicy: Never\n",
        );
        assert_eq!(
            parse_err(&insistent),
            "test.yaml: document 1: pods \"web\" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name"
        );
    }

    #[test]
    fn allocatable_defaults_to_capacity() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  capacity: {cpu: '4', memory: 8Gi, pods: '110'}\n",
        );
        let status = objects.nodes[0].status.as_ref().unwrap();
        assert_eq!(status.allocatable, status.capacity);
    }

    #[test]
    fn errors_name_the_document_and_field() {
        let bad_cpu = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {cpu: 1 core}}\n",
        );
        assert_eq!(
            parse_err(&format!("{POD}---\n{}", bad_cpu.replace("web", "api"))),
            "test.yaml: document 2: Pod \"api\" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: \"1 core\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            parse_err(&POD.replace("    image: nginx\n", "")),
            "test.yaml: document 1: Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(
            parse_err(&POD.replace("image: nginx", "image: nginx\n    resourcez: {}")),
            "test.yaml: document 1: strict decoding error: unknown field \"spec.containers[0].resourcez\""
        );
        assert!(
            parse_err(&POD.replace("name: web", "name: Web"))
                .contains("metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain")
        );
        assert_eq!(
            parse_err("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"),
            "test.yaml: document 1: no matches for kind \"Deployment\" in version \"apps/v1\" (the embedded cluster holds Nodes, Pods, Namespaces, PriorityClasses, Services, ReplicationControllers, ReplicaSets, StatefulSets, PodDisruptionBudgets, PersistentVolumes, PersistentVolumeClaims, StorageClasses, CSINodes, CSIDrivers, VolumeAttachments, CSIStorageCapacities, DeviceClasses, ResourceSlices and ResourceClaims)"
        );
        assert_eq!(
            parse_err(&format!("{POD}---\n{POD}")),
            "test.yaml: document 2: pods \"web\" already exists"
        );
        let over_limit = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {cpu: '2'}, limits: {cpu: '1'}}\n",
        );
        assert!(parse_err(&over_limit).ends_with("spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"));
        let two = POD
            .replace("    image: nginx\n", "")
            .replace("name: nginx", "name: ''");
        assert_eq!(
            parse_err(&two),
            "test.yaml: document 1: Pod \"web\" is invalid: [spec.containers[0].name: Required value, spec.containers[0].image: Required value]"
        );
    }

    #[test]
    fn taints_and_tolerations_are_checked() {
        let node = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec:\n  taints: [{key: k, effect: Sometimes}]\n";
        assert!(parse_err(node).ends_with("metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoExecute\", \"NoSchedule\", \"PreferNoSchedule\""));
        let pod = POD.replace(
            "spec:\n",
            "spec:\n  tolerations: [{key: k, operator: Exists, value: v}]\n",
        );
        assert!(parse_err(&pod).ends_with("spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"));
    }

    #[test]
    fn lists_and_empty_documents_are_read() {
        let objects = parse_ok(&format!(
            "---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {{name: a}}\n- apiVersion: v1\n  kind: Node\n  metadata: {{name: b}}\n---\n{POD}"
        ));
        assert_eq!(objects.nodes.len(), 2);
        assert_eq!(objects.pods.len(), 1);
    }

    /// The answer for `text` when every document is read whole, as
    /// `parse` did before it read a List's items one by one.
    fn parse_whole(text: &str) -> Result<usize, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut decoded = Decoded::default();
        for (index, document) in yaml::documents(text).into_iter().enumerate() {
            let json = document.map_err(|e| format!("document {}: {}", e.document, e.message))?;
            add_document(json, index + 1, &mut decoded)
                .map_err(|m| format!("document {}: {m}", index + 1))?;
        }
        match decoded.count {
            0 => Err("no objects passed to create".to_string()),
            count => Ok(count),
        }
    }

    #[test]
    fn lists_read_item_by_item_answer_as_when_read_whole() {
        let node =
            |name: &str| format!("- apiVersion: v1\n  kind: Node\n  metadata: {{name: {name}}}\n");
        let cases = [
            // A List, its kind after its items as kubectl prints it.
            format!(
                "apiVersion: v1\nitems:\n{}{}kind: List\n",
                node("a"),
                node("b")
            ),
            // A refused item: the List's whole answer.
            format!(
                "apiVersion: v1\nitems:\n{}- {{apiVersion: v1, kind: Node, metadata: {{name: b}}, bad: 1}}\nkind: List\n",
                node("a")
            ),
            format!(
                "apiVersion: v1\nitems:\n{}- {{kind: Node, x: .nan}}\nkind: List\n",
                node("a")
            ),
            // A refused item after items of every other sort: none of
            // them is added twice when the List is read again whole.
            format!(
                "apiVersion: v1\nitems:\n{}{}{}{}- {{kind: Node, x: .nan}}\nkind: List\n",
                node("a"),
                "- {apiVersion: resource.k8s.io/v1, kind: DeviceClass, metadata: {name: gpu}}\n",
                "- {apiVersion: v1, kind: PersistentVolume, metadata: {name: pv}, spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /d}}}\n",
                "- {apiVersion: v1, kind: Namespace, metadata: {name: team}}\n",
            ),
            // Not a List after all, though its items were read.
            format!("apiVersion: v1\nkind: Pod\nitems:\n{}", node("a")),
            format!("apiVersion: v2\nitems:\n{}kind: List\n", node("a")),
            // The last of two `items` is the one that counts.
            format!(
                "apiVersion: v1\nkind: List\nitems:\n{}items: []\n",
                node("a")
            ),
            format!(
                "apiVersion: v1\nkind: List\nitems:\n{}items: ~\n",
                node("a")
            ),
            format!(
                "apiVersion: v1\nkind: List\nitems: []\nitems:\n{}",
                node("a")
            ),
            // Items as a merge key's source are read whole.
            format!(
                "base: &b\n  items:\n  {}\napiVersion: v1\nkind: List\n<<: *b\n",
                node("a").trim_end().replace('\n', "\n  ")
            ),
        ];
        for text in cases {
            let streamed = parse("test.yaml", &text)
                .map(|o| o.nodes.len() + o.pods.len())
                .map_err(|e| e.to_string().replace("test.yaml: ", ""));
            assert_eq!(streamed, parse_whole(&text), "{text}");
        }
        assert_eq!(
            parse_err(&format!("apiVersion: v1\nkind: Pod\nitems:\n{}", node("a"))),
            "test.yaml: document 1: strict decoding error: unknown field \"items\""
        );
    }

    const RS: &str = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: i}]}\n";

    #[test]
    fn services_and_controllers_are_read_into_their_namespace() {
        let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: old, namespace: team}\nspec:\n  template:\n    metadata: {labels: {app: old}}\n    spec: {containers: [{name: c, image: i}]}\n";
        let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n";
        let objects = parse_ok(&format!("{RS}---\n{rc}---\n{service}"));
        assert_eq!(objects.workloads.len(), 3);
        let Workload::ReplicationController(rc) = &objects.workloads[1] else {
            panic!("{:?}", objects.workloads[1]);
        };
        // The selector defaults to the template's labels, as on create.
        let selector = rc.spec.as_ref().and_then(|s| s.selector.clone());
        assert_eq!(
            selector,
            Some([("app".to_string(), "old".to_string())].into())
        );
        assert_eq!(rc.metadata.namespace.as_deref(), Some("team"));
        let Workload::Service(service) = &objects.workloads[2] else {
            panic!("{:?}", objects.workloads[2]);
        };
        assert_eq!(service.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn malformed_selectors_are_refused_naming_object_and_field() {
        assert_eq!(
            parse_err(&RS.replace("  selector: {matchLabels: {app: web}}\n", "")),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector: Required value"
        );
        assert_eq!(
            parse_err(&RS.replace(
                "{matchLabels: {app: web}}",
                "{matchExpressions: [{key: app, operator: In}]}"
            )),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
        );
        assert_eq!(
            parse_err(&RS.replace("{matchLabels: {app: web}}", "{}")),
            "test.yaml: document 1: ReplicaSet \"web\" is invalid: spec.selector: Invalid value: \"{}\": empty selector is invalid for deployment"
        );
        assert!(
            parse_err(&RS.replace("{matchLabels: {app: web}}", "{matchLabels: {app: db}}"))
                .ends_with("spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"),
        );
        let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: -web}, ports: [{port: 80}]}\n";
        assert!(
            parse_err(service).starts_with(
                "test.yaml: document 1: Service \"web\" is invalid: spec.selector: Invalid value: \"-web\": a valid label must be"
            ),
            "{}",
            parse_err(service)
        );
        let no_ports =
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n";
        assert_eq!(
            parse_err(no_ports),
            "test.yaml: document 1: Service \"web\" is invalid: spec.ports: Required value"
        );
        let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: old}\nspec: {selector: {app: old}}\n";
        assert_eq!(
            parse_err(rc),
            "test.yaml: document 1: ReplicationController \"old\" is invalid: spec.template: Required value"
        );
    }

    #[test]
    fn owner_references_given_twice_are_kept_once() {
        let owned = POD.replace(
            "metadata: {name: web}",
            "metadata:\n  name: web\n  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: a, uid: u1, controller: true}\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: a, uid: u1, controller: true}",
        );
        let objects = parse_ok(&owned);
        assert_eq!(
            objects.pods[0]
                .metadata
                .owner_references
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_pod_has_at_most_one_controller() {
        let owned = POD.replace(
            "metadata: {name: web}",
            "metadata:\n  name: web\n  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: a, uid: u1, controller: true}\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: b, uid: '', controller: true}",
        );
        assert_eq!(
            parse_err(&owned),
            "test.yaml: document 1: Pod \"web\" is invalid: [metadata.ownerReferences[1].uid: Required value: must not be empty, metadata.ownerReferences: Invalid value: \"ReplicaSet/b\": Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b]"
        );
    }

    /// The pod `POD` with `extra` added to its spec.
    fn pod_with(extra: &str) -> String {
        POD.replace("spec:\n", &format!("spec:\n{extra}"))
    }

    /// The one field error of a refused pod, without the object's name.
    fn pod_error(extra: &str) -> String {
        let error = parse_err(&pod_with(extra));
        error
            .strip_prefix("test.yaml: document 1: Pod \"web\" is invalid: ")
            .unwrap_or(&error)
            .to_string()
    }

    #[test]
    fn invalid_label_and_annotation_keys_and_values_are_refused() {
        let labelled = |meta: &str| POD.replace("metadata: {name: web}", meta);
        assert!(
            parse_err(&labelled("metadata: {name: web, labels: {'a b': x}}")).contains(
                "Pod \"web\" is invalid: metadata.labels: Invalid value: \"a b\": name part must consist of alphanumeric characters"
            )
        );
        assert!(
            parse_err(&labelled("metadata: {name: web, labels: {app: 'x y'}}")).contains(
                "metadata.labels: Invalid value: \"x y\": a valid label must be an empty string"
            )
        );
        assert!(
            parse_err(&labelled("metadata: {name: web, annotations: {'-bad': x}}"))
                .contains("metadata.annotations: Invalid value: \"-bad\": name part must consist")
        );
        let node =
            "apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {'example.com/': x}}\n";
        assert!(parse_err(node).contains(
            "metadata.labels: Invalid value: \"example.com/\": name part must be non-empty"
        ));
        assert!(
            pod_error("  nodeSelector: {zone: 'a/b'}\n")
                .starts_with("spec.nodeSelector: Invalid value: \"a/b\"")
        );
    }

    #[test]
    fn invalid_namespace_names_are_refused() {
        let in_namespace = POD.replace("{name: web}", "{name: web, namespace: Team_A}");
        assert!(
            parse_err(&in_namespace).contains(
                "metadata.namespace: Invalid value: \"Team_A\": a lowercase RFC 1123 label"
            )
        );
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a}\n";
        assert_eq!(
            parse_err(namespace),
            "test.yaml: document 1: Namespace \"team.a\" is invalid: metadata.name: Invalid value: \"team.a\": must not contain dots"
        );
    }

    #[test]
    fn container_and_resource_names_are_checked() {
        assert!(
            parse_err(&POD.replace("name: nginx", "name: Nginx_1")).contains(
                "spec.containers[0].name: Invalid value: \"Nginx_1\": a lowercase RFC 1123 label"
            )
        );
        // A resource name holding a newline would print as a line of its own.
        let forged = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {\"cpu\\nweb -> node-1\": 1}}\n",
        );
        let error = parse_err(&forged);
        assert!(!error.contains('\n'), "{error}");
        assert!(error.contains("spec.containers[0].resources.requests[cpu\\nweb -> node-1]: Invalid value: \"cpu\\nweb -> node-1\": name part must consist"), "{error}");
    }

    #[test]
    fn extended_resources_and_hugepages_need_equal_whole_limits() {
        let with = |resources: &str| {
            POD.replace(
                "image: nginx\n",
                &format!("image: nginx\n    resources: {resources}\n"),
            )
        };
        assert!(parse_err(&with("{requests: {example.com/gpu: 1}}")).ends_with(
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"
        ));
        assert!(parse_err(&with("{limits: {example.com/gpu: 1500m}}")).contains(
            "spec.containers[0].resources.limits[example.com/gpu]: Invalid value: \"1500m\": must be an integer"
        ));
        assert!(parse_err(&with("{limits: {hugepages-2Mi: 2Mi}, requests: {hugepages-2Mi: 1Mi}}")).contains(
            "spec.containers[0].resources.requests: Invalid value: \"1Mi\": must be equal to hugepages-2Mi limit of 2Mi"
        ));
        let ok = parse_ok(&with(
            "{limits: {example.com/gpu: 2, hugepages-2Mi: 4Mi, memory: 1Gi}}",
        ));
        assert_eq!(ok.pods.len(), 1, "limits alone are copied to requests");
    }

    #[test]
    fn node_affinity_operators_values_and_terms_are_checked() {
        let required = |terms: &str| {
            format!(
                "  affinity: {{nodeAffinity: {{requiredDuringSchedulingIgnoredDuringExecution: {{nodeSelectorTerms: {terms}}}}}}}\n"
            )
        };
        let path = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
        assert_eq!(
            pod_error(&required("[]")),
            format!("{path}: Required value: must have at least one node selector term")
        );
        assert_eq!(
            pod_error(&required(
                "[{matchExpressions: [{key: zone, operator: Near, values: [a]}]}]"
            )),
            format!(
                "{path}[0].matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
            )
        );
        assert_eq!(
            pod_error(&required(
                "[{matchExpressions: [{key: cores, operator: Gt, values: ['1', '2']}]}]"
            )),
            format!(
                "{path}[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'"
            )
        );
        assert!(
            pod_error(&required(
                "[{matchExpressions: [{key: cores, operator: Gt, values: ['x y']}]}]"
            ))
            .starts_with(&format!(
                "{path}[0].matchExpressions[0].values[0]: Invalid value: \"x y\""
            ))
        );
    }

    #[test]
    fn preferred_weights_are_between_1_and_100() {
        assert_eq!(
            pod_error(
                "  affinity: {nodeAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 0, preference: {}}]}}\n"
            ),
            "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"
        );
        assert_eq!(
            pod_error(
                "  affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 101, podAffinityTerm: {topologyKey: zone}}]}}\n"
            ),
            "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100"
        );
    }

    #[test]
    fn topology_keys_and_spread_constraints_are_in_range() {
        assert!(
            pod_error("  affinity: {podAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {}, topologyKey: ''}]}}\n")
                .starts_with("[spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty, ")
        );
        let spread = |c: &str| pod_error(&format!("  topologySpreadConstraints: [{c}]\n"));
        assert_eq!(
            spread("{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}"),
            "spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero"
        );
        assert_eq!(
            spread(
                "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, minDomains: 0}"
            ),
            "spec.topologySpreadConstraints[0].minDomains: Invalid value: 0: must be greater than zero"
        );
        assert_eq!(
            spread(
                "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, minDomains: 2}"
            ),
            "spec.topologySpreadConstraints[0].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"
        );
        assert_eq!(
            spread("{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Sometimes}"),
            "spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: \"Sometimes\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\""
        );
        assert_eq!(
            spread("{maxSkew: 1, topologyKey: '', whenUnsatisfiable: DoNotSchedule}"),
            "spec.topologySpreadConstraints[0].topologyKey: Required value: can not be empty"
        );
        let twice = "{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}";
        assert_eq!(
            spread(&format!("{twice}, {twice}")),
            "spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}: Duplicate value: \"{zone, DoNotSchedule}\""
        );
    }

    #[test]
    fn duplicate_host_ports_taints_and_gates_are_refused() {
        let ports = POD.replace(
            "image: nginx\n",
            "image: nginx\n    ports: [{containerPort: 80, hostPort: 8080}]\n  - name: two\n    image: i\n    ports: [{containerPort: 81, hostPort: 8080}]\n",
        );
        assert!(
            parse_err(&ports)
                .ends_with("spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\"")
        );
        let node = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {taints: [{key: k, effect: NoSchedule}, {key: k, value: v, effect: NoSchedule}]}\n";
        assert_eq!(
            parse_err(node),
            "test.yaml: document 1: Node \"n1\" is invalid: metadata.taints[1]: Duplicate value: k=v:NoSchedule: taints must be unique by key and effect pair"
        );
        assert_eq!(
            pod_error("  schedulingGates: [{name: example.com/wait}, {name: example.com/wait}]\n"),
            "spec.schedulingGates[1]: Duplicate value: \"example.com/wait\""
        );
    }

    #[test]
    fn node_names_are_dns_subdomains() {
        assert!(pod_error("  nodeName: Node_1\n").starts_with(
            "spec.nodeName: Invalid value: \"Node_1\": a lowercase RFC 1123 subdomain"
        ));
        assert_eq!(
            pod_error("  nodeName: n1\n  schedulingGates: [{name: wait}]\n"),
            "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
        );
    }

    #[test]
    fn priority_class_values_stop_at_a_billion() {
        let class = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: top}\nvalue: 1000000001\n";
        assert_eq!(
            parse_err(class),
            "test.yaml: document 1: PriorityClass \"top\" is invalid: value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        );
        let default = |name: &str| {
            format!(
                "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {{name: {name}}}\nvalue: 1\nglobalDefault: true\n"
            )
        };
        assert_eq!(
            parse_err(&format!("{}---\n{}", default("a"), default("b"))),
            "test.yaml: document 2: PriorityClass a is already marked as default. Only one default can exist"
        );
    }

    #[test]
    fn a_list_whose_items_is_not_a_list_is_refused() {
        assert_eq!(
            parse_err("apiVersion: v1\nkind: List\nitems: {a: 1}\n"),
            "test.yaml: document 1: List in version \"v1\" cannot be handled as a List: items: invalid type: map, expected a sequence"
        );
    }

    #[test]
    fn decode_errors_name_the_field() {
        assert_eq!(
            parse_err(&POD.replace("name: nginx", "name: 1")),
            "test.yaml: document 1: Pod in version \"v1\" cannot be handled as a Pod: spec.containers[0].name: invalid type: integer `1`, expected a string"
        );
        assert_eq!(
            parse_err(&POD.replace(
                "image: nginx",
                "image: nginx\n    ports: [{containerPort: '80'}]"
            )),
            "test.yaml: document 1: Pod in version \"v1\" cannot be handled as a Pod: spec.containers[0].ports[0].containerPort: invalid type: string \"80\", expected i32"
        );
    }

    #[test]
    fn nan_and_infinity_are_refused_where_they_are() {
        let nan = POD.replace(
            "image: nginx\n",
            "image: nginx\n    resources: {requests: {cpu: .nan}}\n",
        );
        assert_eq!(
            parse_err(&nan),
            "test.yaml: document 1: error converting YAML to JSON: json: unsupported value: NaN (at spec.containers[0].resources.requests.cpu)"
        );
    }

    #[test]
    fn huge_quantities_are_read_quoted_or_not() {
        for cpu in ["1e100", "'1e100'"] {
            let pod = POD.replace(
                "image: nginx\n",
                &format!("image: nginx\n    resources: {{requests: {{cpu: {cpu}}}}}\n"),
            );
            assert_eq!(parse_ok(&pod).pods.len(), 1, "{cpu}");
        }
    }

    #[test]
    fn a_long_name_is_refused_for_its_length() {
        let name = "a".repeat(300);
        assert_eq!(
            parse_err(&POD.replace("name: web", &format!("name: {name}"))),
            format!(
                "test.yaml: document 1: Pod \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": must be no more than 253 characters"
            )
        );
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(parse_ok(&format!("\u{feff}{POD}")).pods.len(), 1);
    }

    #[test]
    fn merge_keys_are_applied() {
        let objects = parse_ok(
            "apiVersion: v1\nkind: List\nitems:\n- &node\n  apiVersion: v1\n  kind: Node\n  metadata: {name: a}\n- <<: *node\n  metadata: {name: b}\n",
        );
        let names: Vec<_> = objects
            .nodes
            .iter()
            .map(|n| n.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn duplicate_node_names_name_their_document() {
        let node = "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n";
        assert_eq!(
            parse_err(&format!("{node}---\n{POD}---\n{node}")),
            "test.yaml: document 3: nodes \"n1\" already exists"
        );
    }

    #[test]
    fn namespaces_and_priority_classes_are_created_once() {
        let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n";
        assert_eq!(
            parse_err(&format!("{namespace}---\n{namespace}")),
            "test.yaml: document 2: namespaces \"team\" already exists"
        );
        let class = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1\n";
        assert_eq!(
            parse_err(&format!("{class}---\n{class}")),
            "test.yaml: document 2: priorityclasses.scheduling.k8s.io \"high\" already exists"
        );
    }

    #[test]
    fn a_file_without_objects_is_refused() {
        for empty in [
            "",
            "---\n",
            "# nothing\n",
            "apiVersion: v1\nkind: List\nitems: []\n",
        ] {
            assert_eq!(
                parse_err(empty),
                "test.yaml: no objects passed to create",
                "{empty:?}"
            );
        }
    }

    /// Properties over arbitrary and mutated files: the reader answers
    /// every input with objects or an error naming the file, never a
    /// panic, and reading a List in parts answers as reading it whole.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        const SAMPLES: [&str; 4] = [
            POD,
            "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: a\n    labels: {zone: z1}\n  status:\n    capacity: {cpu: \"4\", memory: 8Gi}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: team}\n  spec:\n    containers: [{name: c, image: i, resources: {requests: {cpu: 500m}}}]\nkind: List\n",
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n---\nbase: &b {cpu: 1}\napiVersion: v1\nkind: Node\nmetadata: {name: n, labels: {<<: *b, x: 'y'}}\nspec:\n  taints: [{key: k, effect: NoSchedule}]\n",
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: i}]}\n",
        ];

        /// Characters that matter to YAML, and some that do not.
        const PIECES: &[&str] = &[
            ":", "-", " ", "\n", "{", "}", "[", "]", ",", "'", "\"", "&a", "*a", "!!", "#", "|",
            ">", "---\n", "<<", "~", ".nan", "1e400", "0x", "9", "Gi", "é", "\t", "%", "@",
            "items", "List", "kind: ", "\u{feff}",
        ];

        /// A change at a fraction of the text: a piece put in or over, or
        /// some characters taken out.
        fn edit() -> impl Strategy<Value = (f64, usize, prop::sample::Index)> {
            (0.0..1.0f64, 0..3usize, any::<prop::sample::Index>())
        }

        fn mutate(base: &str, edits: &[(f64, usize, prop::sample::Index)]) -> String {
            let mut chars: Vec<char> = base.chars().collect();
            for (at, kind, piece) in edits {
                let at = ((chars.len() as f64) * at) as usize;
                let piece: Vec<char> = piece.get(PIECES).chars().collect();
                match kind {
                    0 => {
                        chars.splice(at..at, piece);
                    }
                    1 => {
                        let end = (at + piece.len()).min(chars.len());
                        chars.splice(at..end, piece);
                    }
                    _ => {
                        let end = (at + 1 + piece.len()).min(chars.len());
                        chars.drain(at..end);
                    }
                }
            }
            chars.into_iter().collect()
        }

        fn answers(text: &str) {
            if let Err(e) = parse("p.yaml", text) {
                let message = e.to_string();
                assert!(message.starts_with("p.yaml: "), "{message}");
                assert!(!e.message.trim().is_empty(), "{text:?}");
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
                answers(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn mutated_manifests_are_read_or_refused(
                sample in 0..SAMPLES.len(),
                edits in prop::collection::vec(edit(), 1..6),
            ) {
                let text = mutate(SAMPLES[sample], &edits);
                answers(&text);
                // Reading in parts answers as reading whole; only the
                // checks across the file (names, admission) may refuse
                // what reading whole accepted.
                let streamed = parse("test.yaml", &text)
                    .map(|o| o.nodes.len() + o.pods.len() + o.namespaces.len() + o.priority_classes.len() + o.workloads.len())
                    .map_err(|e| e.to_string().replace("test.yaml: ", ""));
                match parse_whole(&text) {
                    Err(whole) => prop_assert_eq!(streamed, Err(whole), "{:?}", text),
                    Ok(count) => {
                        if let Ok(streamed) = streamed {
                            prop_assert_eq!(streamed, count, "{:?}", text);
                        }
                    }
                }
            }
        }
    }
}
