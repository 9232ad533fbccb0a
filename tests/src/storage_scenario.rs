//! Volumes and devices for the parity scenarios of
//! [`Shape::Storage`](crate::scenario::Shape::Storage): what the volume
//! plugins (VolumeRestrictions, NodeVolumeLimits, VolumeZone,
//! VolumeBinding) and DynamicResources decide on.
//!
//! Volumes: StorageClasses (a `local` one with no provisioner, CSI ones
//! with `WaitForFirstConsumer`, sometimes limited by `allowedTopologies`,
//! and an `Immediate` one; sometimes one is the default class), a CSIDriver
//! or two, CSINodes with per-driver attach limits, local PVs with node
//! affinity, zonal CSI PVs (zone labels, sometimes node affinity), claims
//! bound to them as the PV controller leaves them (`spec.volumeName`, the
//! `pv.kubernetes.io/bind-completed` annotation, the PV's `claimRef`, both
//! phases `Bound`), ReadWriteOncePod claims in use, and inline GCE disks;
//! VolumeAttachments of CSI volumes on some nodes (NodeVolumeLimits counts
//! them), and, when the CSI driver reports capacity, CSIStorageCapacities
//! of the `zonal` class per zone or node (VolumeBinding checks them).
//! Devices: DeviceClasses selecting a driver by CEL, ResourceSlices with a
//! few devices per node (attributes and a capacity), claims allocated to
//! bound pods (a device of their node, `reservedFor` the pod), and claims of
//! the incoming pod asking for one to three devices, sometimes all, some
//! with CEL selectors, or sharing a bound pod's claim.
//!
//! Values come from small pools, so that claims compete for the same
//! volumes and devices and limits are reached.

use crate::rng::Rng;
use crate::scenario::{Features, INCOMING};
use serde_json::{Value, json};

const EBS: &str = "ebs.csi.example.com";
const NFS: &str = "nfs.csi.example.com";
const GPU: &str = "gpu.example.com";
const FPGA: &str = "fpga.example.com";
const PV_SIZES: &[&str] = &["1Gi", "5Gi", "10Gi", "100Gi"];
const CLAIM_SIZES: &[&str] = &["1Gi", "2Gi", "5Gi", "20Gi"];
const DISKS: &[&str] = &["disk-1", "disk-2"];
const MODELS: &[&str] = &["a100", "h100"];

/// A node as far as volumes and devices care.
struct Node {
    name: String,
    zone: Option<String>,
}

/// A claim that exists and is bound, which the incoming pod may use too.
struct BoundClaim {
    namespace: String,
    name: String,
}

/// Adds volumes and devices (as `features.volumes` and `features.devices`
/// say) to the nodes and pods among `objects`.
pub fn add(rng: &mut Rng, objects: &mut Vec<Value>, features: Features) {
    let nodes: Vec<Node> = objects
        .iter()
        .filter(|o| o["kind"] == "Node")
        .map(|o| Node {
            name: o["metadata"]["name"].as_str().unwrap().to_string(),
            zone: o["metadata"]["labels"]["topology.kubernetes.io/zone"]
                .as_str()
                .map(str::to_string),
        })
        .collect();
    let mut added = Vec::new();
    if features.volumes {
        Volumes {
            rng: &mut *rng,
            nodes: &nodes,
            out: &mut added,
            free_local: Vec::new(),
            bound: Vec::new(),
        }
        .add(objects);
    }
    if features.devices {
        Devices {
            rng: &mut *rng,
            nodes: &nodes,
            out: &mut added,
            allocated: Vec::new(),
        }
        .add(objects);
    }
    objects.extend(added);
}

fn namespace(pod: &Value) -> String {
    pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string()
}

fn is_incoming(pod: &Value) -> bool {
    pod["metadata"]["name"] == INCOMING
}

/// The pods among `objects` that hold their node: bound and not finished.
fn running(pod: &Value) -> bool {
    pod["kind"] == "Pod"
        && pod["spec"]["nodeName"].is_string()
        && !matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
}

fn push_entry(pod: &mut Value, field: &str, entry: Value) {
    let spec = pod["spec"].as_object_mut().unwrap();
    spec.entry(field)
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .unwrap()
        .push(entry);
}

struct Volumes<'a> {
    rng: &'a mut Rng,
    nodes: &'a [Node],
    out: &'a mut Vec<Value>,
    /// Available local PVs: (name, node, capacity, access mode).
    free_local: Vec<(String, String, &'static str, &'static str)>,
    bound: Vec<BoundClaim>,
}

impl Volumes<'_> {
    fn add(&mut self, objects: &mut [Value]) {
        let default_class = self
            .rng
            .chance(15)
            .then(|| *self.rng.pick(&["local", "zonal", "fast"]));
        self.classes(default_class);
        self.drivers_and_csi_nodes();
        for node in self.nodes {
            for i in 0..self.rng.range(0, 2) {
                let name = format!("local-{}-{i}", node.name);
                let size = *self.rng.pick(PV_SIZES);
                let mode = if self.rng.chance(10) {
                    "ReadWriteOncePod"
                } else {
                    "ReadWriteOnce"
                };
                self.free_local.push((name, node.name.clone(), size, mode));
            }
        }
        for pod in objects.iter_mut().filter(|p| running(p)) {
            if self.rng.chance(35) {
                for k in 0..self.rng.range(1, 2) {
                    self.bound_pod_volume(pod, k);
                }
            }
        }
        for i in 0..self.rng.range(0, 3) {
            self.free_zonal_pv(i);
        }
        // What is left of the local PVs is free.
        for (name, node, size, mode) in std::mem::take(&mut self.free_local) {
            let pv = local_pv(&name, &node, size, mode, None);
            self.out.push(pv);
        }
        if let Some(incoming) = objects.iter_mut().find(|p| is_incoming(p))
            && self.rng.chance(85)
        {
            for k in 0..self.rng.range(1, 3) {
                self.incoming_volume(incoming, k, default_class);
            }
        }
        // Drawn from a generator of their own, so that every other object
        // of a seed's scenario stays as it was before they were added.
        let mut extra = Rng(self.rng.0 ^ 0x7f4a_7c15_0a77_ac4e);
        self.attachments(&mut extra);
        self.capacities(&mut extra);
    }

    /// VolumeAttachments on about a third of the nodes: of a CSI volume
    /// (in use there, elsewhere or not at all), now and then of one that
    /// does not exist or by another attacher.
    fn attachments(&mut self, rng: &mut Rng) {
        let volumes: Vec<String> = self
            .out
            .iter()
            .filter(|o| o["kind"] == "PersistentVolume" && o["spec"]["csi"].is_object())
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        for node in self.nodes {
            if volumes.is_empty() || !rng.chance(35) {
                continue;
            }
            for i in 0..rng.range(1, 2) {
                let volume = if rng.chance(10) {
                    "gone".to_string()
                } else {
                    rng.pick(&volumes).clone()
                };
                let attacher = if rng.chance(10) { NFS } else { EBS };
                self.out.push(
                    json!({"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
                    "metadata": {"name": format!("va-{}-{i}", node.name)},
                    "spec": {"attacher": attacher, "nodeName": node.name,
                             "source": {"persistentVolumeName": volume}}}),
                );
            }
        }
    }

    /// In about half the scenarios the CSI driver of `zonal` reports
    /// capacity (`storageCapacity: true`), with CSIStorageCapacities for
    /// some zones or nodes, of sizes around the claims'.
    fn capacities(&mut self, rng: &mut Rng) {
        if !rng.chance(50) {
            return;
        }
        if let Some(driver) = self
            .out
            .iter_mut()
            .find(|o| o["kind"] == "CSIDriver" && o["metadata"]["name"] == EBS)
        {
            driver["spec"]["storageCapacity"] = json!(true);
        }
        let mut topologies: Vec<(String, Value)> = ["zone-a", "zone-b", "zone-c"]
            .iter()
            .map(|z| {
                (
                    z.to_string(),
                    json!({"matchLabels": {"topology.kubernetes.io/zone": z}}),
                )
            })
            .collect();
        for node in self.nodes {
            topologies.push((
                node.name.clone(),
                json!({"matchLabels": {"kubernetes.io/hostname": node.name}}),
            ));
        }
        for (name, topology) in topologies {
            if !rng.chance(40) {
                continue;
            }
            let mut capacity = json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity",
                "metadata": {"name": format!("zonal-{name}"), "namespace": "default"},
                "storageClassName": "zonal", "nodeTopology": topology,
                "capacity": rng.pick(&["1Gi", "4Gi", "10Gi", "50Gi"])});
            if rng.chance(25) {
                capacity["maximumVolumeSize"] = json!(rng.pick(&["1Gi", "5Gi"]));
            }
            self.out.push(capacity);
        }
    }

    fn classes(&mut self, default_class: Option<&str>) {
        let mut zonal = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "zonal"}, "provisioner": EBS,
            "volumeBindingMode": "WaitForFirstConsumer"});
        if self.rng.chance(40) {
            let zones: Vec<&str> = self
                .rng
                .subset(&["zone-a", "zone-b", "zone-c"], 50)
                .into_iter()
                .copied()
                .collect();
            if !zones.is_empty() {
                zonal["allowedTopologies"] = json!([{"matchLabelExpressions": [
                    {"key": "topology.kubernetes.io/zone", "values": zones}]}]);
            }
        }
        let mut classes = vec![
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
                   "volumeBindingMode": "WaitForFirstConsumer"}),
            zonal,
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "fast"}, "provisioner": EBS,
                   "volumeBindingMode": "Immediate"}),
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                   "metadata": {"name": "shared"}, "provisioner": NFS,
                   "volumeBindingMode": "WaitForFirstConsumer"}),
        ];
        for class in &mut classes {
            if Some(class["metadata"]["name"].as_str().unwrap()) == default_class {
                class["metadata"]["annotations"] =
                    json!({"storageclass.kubernetes.io/is-default-class": "true"});
            }
        }
        self.out.extend(classes);
    }

    fn drivers_and_csi_nodes(&mut self) {
        self.out.push(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
                             "metadata": {"name": EBS}, "spec": {}}),
        );
        if self.rng.chance(50) {
            // Nothing to attach: NodeVolumeLimits does not count it.
            self.out.push(
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
                                 "metadata": {"name": NFS}, "spec": {"attachRequired": false}}),
            );
        }
        for node in self.nodes {
            if !self.rng.chance(75) {
                continue;
            }
            let mut ebs = json!({"name": EBS, "nodeID": node.name});
            if self.rng.chance(80) {
                ebs["allocatable"] = json!({"count": self.rng.range(1, 4)});
            }
            let mut drivers = vec![ebs];
            if self.rng.chance(30) {
                drivers.push(json!({"name": NFS, "nodeID": node.name,
                                    "allocatable": {"count": self.rng.range(1, 2)}}));
            }
            self.out
                .push(json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
                                 "metadata": {"name": node.name}, "spec": {"drivers": drivers}}));
        }
    }

    /// A volume of a pod bound to a node, consistent with that node.
    fn bound_pod_volume(&mut self, pod: &mut Value, k: i64) {
        let node_name = pod["spec"]["nodeName"].as_str().unwrap().to_string();
        let ns = namespace(pod);
        let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let claim = format!("{pod_name}-data-{k}");
        let local = self
            .free_local
            .iter()
            .position(|(_, n, _, _)| *n == node_name);
        match self.rng.range(0, 9) {
            0..=2 if local.is_some() => {
                let (pv, node, size, mode) = self.free_local.remove(local.unwrap());
                self.out
                    .push(local_pv(&pv, &node, size, mode, Some((&ns, &claim))));
                self.out
                    .push(bound_claim(&ns, &claim, "local", size, mode, &pv));
            }
            0..=6 => {
                let node = self.nodes.iter().find(|n| n.name == node_name).unwrap();
                let zone = node.zone.clone().filter(|_| self.rng.chance(70));
                let mode = if self.rng.chance(15) {
                    "ReadWriteOncePod"
                } else {
                    "ReadWriteOnce"
                };
                let pv = format!("pv-{ns}-{claim}");
                let size = *self.rng.pick(PV_SIZES);
                let affinity = self.rng.chance(50);
                self.out.push(csi_pv(
                    &pv,
                    EBS,
                    "fast",
                    size,
                    mode,
                    zone.as_deref(),
                    affinity,
                    Some((&ns, &claim)),
                ));
                self.out
                    .push(bound_claim(&ns, &claim, "fast", size, mode, &pv));
            }
            _ => {
                let disk = json!({"pdName": self.rng.pick(DISKS), "readOnly": self.rng.chance(30)});
                push_entry(
                    pod,
                    "volumes",
                    json!({"name": format!("disk-{k}"), "gcePersistentDisk": disk}),
                );
                return;
            }
        }
        push_entry(
            pod,
            "volumes",
            json!({"name": format!("data-{k}"),
                                          "persistentVolumeClaim": {"claimName": claim}}),
        );
        self.bound.push(BoundClaim {
            namespace: ns,
            name: claim,
        });
    }

    fn free_zonal_pv(&mut self, i: i64) {
        let zone = *self.rng.pick(&["zone-a", "zone-b", "zone-c"]);
        let size = *self.rng.pick(PV_SIZES);
        let affinity = self.rng.chance(60);
        let pv = csi_pv(
            &format!("zonal-{i}"),
            EBS,
            "zonal",
            size,
            "ReadWriteOnce",
            Some(zone),
            affinity,
            None,
        );
        self.out.push(pv);
    }

    /// One volume of the incoming pod: mostly claims the scheduler has to
    /// bind or provision, sometimes one in use elsewhere, now and then one
    /// that cannot be scheduled at all.
    fn incoming_volume(&mut self, pod: &mut Value, k: i64, default_class: Option<&str>) {
        let ns = namespace(pod);
        let claim = format!("{INCOMING}-data-{k}");
        let size = *self.rng.pick(CLAIM_SIZES);
        let unbound = |class: Option<&str>, mode: &str| {
            let mut spec =
                json!({"accessModes": [mode], "resources": {"requests": {"storage": size}}});
            if let Some(class) = class {
                spec["storageClassName"] = json!(class);
            }
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": claim, "namespace": ns}, "spec": spec})
        };
        let name = match self.rng.range(0, 99) {
            0..=31 | 95..=99 => {
                let mode = if self.rng.chance(10) {
                    "ReadWriteOncePod"
                } else {
                    "ReadWriteOnce"
                };
                self.out.push(unbound(Some("local"), mode));
                claim.clone()
            }
            32..=49 => {
                self.out.push(unbound(Some("zonal"), "ReadWriteOnce"));
                claim.clone()
            }
            50..=54 => {
                self.out.push(unbound(Some("shared"), "ReadWriteMany"));
                claim.clone()
            }
            55..=66 => match self.bound.iter().find(|b| b.namespace == ns) {
                Some(b) => b.name.clone(),
                None => return,
            },
            67..=81 => {
                // Bound to a zonal volume, which VolumeZone (by its label)
                // or VolumeBinding (by its node affinity) keeps to a zone.
                let zone = self.rng.pick(&["zone-a", "zone-b", "zone-c"]).to_string();
                let pv = format!("pv-{ns}-{claim}");
                let psize = *self.rng.pick(PV_SIZES);
                let affinity = self.rng.chance(30);
                self.out.push(csi_pv(
                    &pv,
                    EBS,
                    "fast",
                    psize,
                    "ReadWriteOnce",
                    Some(&zone),
                    affinity,
                    Some((&ns, &claim)),
                ));
                self.out.push(bound_claim(
                    &ns,
                    &claim,
                    "fast",
                    psize,
                    "ReadWriteOnce",
                    &pv,
                ));
                claim.clone()
            }
            82..=84 if default_class.is_some() => {
                self.out.push(unbound(None, "ReadWriteOnce"));
                claim.clone()
            }
            82..=89 => {
                let disk = json!({"pdName": self.rng.pick(DISKS), "readOnly": self.rng.chance(30)});
                push_entry(
                    pod,
                    "volumes",
                    json!({"name": format!("disk-{k}"), "gcePersistentDisk": disk}),
                );
                return;
            }
            90..=92 => {
                // Immediate, not bound yet by the PV controller.
                self.out.push(unbound(Some("fast"), "ReadWriteOnce"));
                claim.clone()
            }
            _ => format!("{INCOMING}-missing-{k}"),
        };
        let already = pod["spec"]["volumes"].as_array().is_some_and(|v| {
            v.iter()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == name.as_str())
        });
        if !already {
            push_entry(
                pod,
                "volumes",
                json!({"name": format!("data-{k}"),
                                              "persistentVolumeClaim": {"claimName": name}}),
            );
        }
    }
}

/// A local PV on `node`, free (`Available`) or bound to `claim`.
fn local_pv(name: &str, node: &str, size: &str, mode: &str, claim: Option<(&str, &str)>) -> Value {
    let mut pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": [mode],
                 "storageClassName": "local", "local": {"path": format!("/mnt/{name}")},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
        "status": {"phase": "Available"}});
    bind_pv(&mut pv, claim);
    pv
}

/// A CSI PV of `driver`, in `zone` (its label, and with `affinity` its
/// node affinity too), free or bound to `claim`.
#[allow(clippy::too_many_arguments)]
fn csi_pv(
    name: &str,
    driver: &str,
    class: &str,
    size: &str,
    mode: &str,
    zone: Option<&str>,
    affinity: bool,
    claim: Option<(&str, &str)>,
) -> Value {
    let mut pv = json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": [mode], "storageClassName": class,
                 "csi": {"driver": driver, "volumeHandle": format!("vol-{name}")}},
        "status": {"phase": "Available"}});
    if let Some(zone) = zone {
        pv["metadata"]["labels"] = json!({"topology.kubernetes.io/zone": zone});
        if affinity {
            pv["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}]}});
        }
    }
    bind_pv(&mut pv, claim);
    pv
}

/// What the PV controller writes on a PV it binds.
fn bind_pv(pv: &mut Value, claim: Option<(&str, &str)>) {
    if let Some((ns, name)) = claim {
        pv["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                        "namespace": ns, "name": name, "uid": format!("{ns}/{name}")});
        pv["status"]["phase"] = json!("Bound");
    }
}

/// A claim bound to `pv`, as the PV controller leaves it.
fn bound_claim(ns: &str, name: &str, class: &str, size: &str, mode: &str, pv: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": ns, "uid": format!("{ns}/{name}"),
                        "annotations": {"pv.kubernetes.io/bind-completed": "yes",
                                        "pv.kubernetes.io/bound-by-controller": "yes"}},
           "spec": {"accessModes": [mode], "storageClassName": class,
                    "resources": {"requests": {"storage": size}}, "volumeName": pv},
           "status": {"phase": "Bound", "accessModes": [mode], "capacity": {"storage": size}}})
}

struct Devices<'a> {
    rng: &'a mut Rng,
    nodes: &'a [Node],
    out: &'a mut Vec<Value>,
    /// Claims allocated to bound pods: (namespace, name).
    allocated: Vec<(String, String)>,
}

impl Devices<'_> {
    fn add(&mut self, objects: &mut [Value]) {
        for driver in [GPU, FPGA] {
            self.out.push(json!({"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                "metadata": {"name": driver},
                "spec": {"selectors": [{"cel": {"expression": format!("device.driver == \"{driver}\"")}}]}}));
        }
        // The free devices of each node: (node, driver, device).
        let mut free: Vec<(String, &str, String)> = Vec::new();
        for node in self.nodes {
            if self.rng.chance(65) {
                let devices: Vec<Value> = (0..self.rng.range(1, 4))
                    .map(|i| {
                        free.push((node.name.clone(), GPU, format!("gpu-{i}")));
                        json!({"name": format!("gpu-{i}"),
                               "attributes": {"model": {"string": self.rng.pick(MODELS)},
                                              "index": {"int": i}},
                               "capacity": {"memory": {"value": self.rng.pick(&["40Gi", "80Gi"])}}})
                    })
                    .collect();
                self.out.push(slice(&node.name, GPU, devices));
            }
            if self.rng.chance(20) {
                let devices: Vec<Value> = (0..self.rng.range(1, 2))
                    .map(|i| {
                        free.push((node.name.clone(), FPGA, format!("fpga-{i}")));
                        json!({"name": format!("fpga-{i}")})
                    })
                    .collect();
                self.out.push(slice(&node.name, FPGA, devices));
            }
        }
        for pod in objects.iter_mut().filter(|p| running(p)) {
            let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
            let Some(at) = free.iter().position(|(n, _, _)| *n == node) else {
                continue;
            };
            if !self.rng.chance(40) {
                continue;
            }
            let (_, driver, device) = free.remove(at);
            self.allocated_claim(pod, &node, driver, &device);
        }
        if let Some(incoming) = objects.iter_mut().find(|p| is_incoming(p))
            && self.rng.chance(60)
        {
            for k in 0..self.rng.range(1, 2) {
                self.incoming_claim(incoming, k);
            }
        }
    }

    /// A claim of a bound pod, allocated a device of its node by an
    /// earlier scheduling cycle and reserved for the pod.
    fn allocated_claim(&mut self, pod: &mut Value, node: &str, driver: &str, device: &str) {
        let ns = namespace(pod);
        let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let name = format!("{pod_name}-{driver}").replace('.', "-");
        self.out.push(json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": ns,
                         "finalizers": ["resource.kubernetes.io/delete-protection"]},
            "spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": driver}}]}},
            "status": {
                "allocation": {
                    "devices": {"results": [{"request": "dev", "driver": driver, "pool": node, "device": device}]},
                    "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                        {"key": "metadata.name", "operator": "In", "values": [node]}]}]},
                },
                "reservedFor": [{"resource": "pods", "name": pod_name, "uid": format!("{ns}/{pod_name}")}],
            }}));
        push_entry(
            pod,
            "resourceClaims",
            json!({"name": "dev", "resourceClaimName": name}),
        );
        self.allocated.push((ns, name));
    }

    fn incoming_claim(&mut self, pod: &mut Value, k: i64) {
        let ns = namespace(pod);
        let entry = format!("dev-{k}");
        if self.rng.chance(12) {
            // Share a bound pod's allocated claim of the same namespace.
            if let Some((_, name)) = self.allocated.iter().find(|(n, _)| *n == ns) {
                let name = name.clone();
                let taken = pod["spec"]["resourceClaims"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["resourceClaimName"] == name.as_str()));
                if !taken {
                    push_entry(
                        pod,
                        "resourceClaims",
                        json!({"name": entry, "resourceClaimName": name}),
                    );
                }
                return;
            }
        }
        let driver = if self.rng.chance(80) { GPU } else { FPGA };
        let mut exactly = json!({"deviceClassName": driver});
        match self.rng.range(0, 99) {
            0..=59 => {}
            60..=89 => {
                exactly["allocationMode"] = json!("ExactCount");
                exactly["count"] = json!(self.rng.range(1, 3));
            }
            _ => exactly["allocationMode"] = json!("All"),
        }
        if driver == GPU && self.rng.chance(35) {
            let expression = if self.rng.chance(60) {
                format!(
                    "device.attributes[\"{GPU}\"].model == \"{}\"",
                    self.rng.pick(MODELS)
                )
            } else {
                format!("device.capacity[\"{GPU}\"].memory.compareTo(quantity(\"50Gi\")) >= 0")
            };
            exactly["selectors"] = json!([{"cel": {"expression": expression}}]);
        }
        let name = format!("{INCOMING}-{entry}");
        self.out.push(
            json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"devices": {"requests": [{"name": "dev", "exactly": exactly}]}}}),
        );
        push_entry(
            pod,
            "resourceClaims",
            json!({"name": entry, "resourceClaimName": name}),
        );
    }
}

/// The one ResourceSlice of `driver`'s pool on `node`.
fn slice(node: &str, driver: &str, devices: Vec<Value>) -> Value {
    json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice",
           "metadata": {"name": format!("{node}-{driver}").replace('.', "-")},
           "spec": {"driver": driver, "nodeName": node,
                    "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                    "devices": devices}})
}
