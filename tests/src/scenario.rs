//! Random but valid scheduling scenarios for the parity test: nodes with
//! labels, zones, taints, resources and images, pods already bound to them,
//! namespaces with labels, and one pending pod, `incoming`, with requests,
//! selectors, node affinity, pod affinity and anti-affinity, tolerations,
//! host ports and topology spread constraints; and Services, ReplicaSets,
//! StatefulSets and ReplicationControllers selecting or owning some pods
//! (PodTopologySpread's default constraints take their selector from
//! them); and for preemption, PriorityClasses the pods name, start times,
//! PodDisruptionBudgets, and crowded clusters ([`Shape::Crowded`]) where
//! the incoming pod only fits once pods of lower priority go.
//!
//! A scenario is a function of its seed, so a failure is replayed from its
//! number alone, and is written as the multi-document YAML that `simulate`,
//! `explain` and the oracle read. Every object is one the apiserver accepts
//! (names, label values, quantities, operators with or without values,
//! `containerPort` beside each `hostPort`, `minDomains` only with
//! `DoNotSchedule`).
//!
//! Values come from small pools on purpose: collisions (the same port, the
//! same label, a node just full) are where schedulers disagree.

use crate::rng::Rng;
use serde_json::{Value, json};

/// What the generator puts in scenarios: one switch per feature, so a
/// feature whose plugin is missing or known to differ can be left out in
/// one line (see `docs/parity.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Node taints and pod tolerations (TaintToleration).
    pub taints: bool,
    /// `spec.unschedulable` nodes (NodeUnschedulable).
    pub unschedulable_nodes: bool,
    /// `nodeSelector` and required/preferred node affinity (NodeAffinity).
    pub node_affinity: bool,
    /// Container and init-container requests, limits and extended
    /// resources (NodeResourcesFit, BalancedAllocation). No pod overhead:
    /// the apiserver only accepts it from a RuntimeClass, which scenarios
    /// do not hold (`tests/parity/cases/resources.yaml` has one).
    pub resources: bool,
    /// `hostPort`s on the incoming and the bound pods (NodePorts).
    pub host_ports: bool,
    /// Topology spread constraints on the incoming pod (PodTopologySpread).
    pub spread: bool,
    /// Pod affinity and anti-affinity, on the incoming pod and on bound
    /// pods (InterPodAffinity), with `namespaces` and `namespaceSelector`.
    pub pod_affinity: bool,
    /// Images on nodes and in containers (ImageLocality).
    pub images: bool,
    /// Services selecting pods, and ReplicaSets, StatefulSets and
    /// ReplicationControllers controlling them (PodTopologySpread's
    /// default constraints for pods without constraints of their own).
    pub workloads: bool,
    /// PriorityClasses named by the bound and the incoming pods (some
    /// `preemptionPolicy: Never`), start times on bound pods, and
    /// PodDisruptionBudgets selecting them (DefaultPreemption).
    pub preemption: bool,
    /// In [`Shape::Storage`]: StorageClasses, PVs, claims, CSINodes,
    /// CSIDrivers and inline disks (VolumeRestrictions, NodeVolumeLimits,
    /// VolumeZone, VolumeBinding).
    pub volumes: bool,
    /// In [`Shape::Storage`]: DeviceClasses, ResourceSlices and
    /// ResourceClaims (DynamicResources).
    pub devices: bool,
}

impl Features {
    /// Everything, except what `docs/parity.md` lists as a known difference.
    pub const DEFAULT: Features = Features {
        taints: true,
        unschedulable_nodes: true,
        node_affinity: true,
        resources: true,
        host_ports: true,
        spread: true,
        pod_affinity: true,
        images: true,
        workloads: true,
        preemption: true,
        volumes: true,
        devices: true,
    };
}

/// How a scenario's cluster is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 1 to 200 nodes, most of them few, loosely filled: where placements
    /// differ.
    Spread,
    /// 1 to 12 small nodes with two to five pods each, every container
    /// requesting resources: the incoming pod seldom fits without
    /// evicting some, so preemption has to choose.
    Crowded,
    /// 1 to 8 nodes with volumes and devices ([`crate::storage_scenario`]):
    /// local and zonal PVs, claims bound, to bind and to provision, attach
    /// limits, ReadWriteOncePod claims and shared disks, device slices and
    /// claims of one to three devices, some with CEL selectors.
    Storage,
}

/// A generated scenario: its YAML and the pod to explain.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// `namespace/name` of the pending pod.
    pub pod: String,
    pub yaml: String,
}

/// The pod every scenario explains.
pub const INCOMING: &str = "incoming";

const ZONES: &[&str] = &["zone-a", "zone-b", "zone-c"];
const NAMESPACES: &[(&str, &[(&str, &str)])] = &[
    ("default", &[]),
    ("team-a", &[("team", "a"), ("env", "prod")]),
    ("team-b", &[("team", "b"), ("env", "dev")]),
];
const APPS: &[&str] = &["web", "db", "cache", "batch"];
const TIERS: &[&str] = &["frontend", "backend"];
const IMAGES: &[(&str, i64)] = &[
    ("registry.example/web:1.0", 300 << 20),
    ("registry.example/db:15", 900 << 20),
    ("registry.example/cache:7", 40 << 20),
    ("registry.example/batch:2", 1500 << 20),
    ("registry.example/tiny:1", 5 << 20),
];
const TOPOLOGY_KEYS: &[&str] = &[
    "topology.kubernetes.io/zone",
    "kubernetes.io/hostname",
    "topology.kubernetes.io/region",
];
const HOST_PORTS: &[i64] = &[80, 443, 8080, 9000];
const HOST_IPS: &[&str] = &["", "0.0.0.0", "10.0.0.1", "10.0.0.2"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];

/// The scenario of `seed` with `features`, [`Shape::Spread`].
pub fn generate(seed: u64, features: Features) -> Scenario {
    generate_shaped(seed, features, Shape::Spread)
}

/// The scenario of `seed` with `features` and `shape`.
pub fn generate_shaped(seed: u64, features: Features, shape: Shape) -> Scenario {
    let crowded = shape == Shape::Crowded;
    let mut g = Generator {
        rng: Rng(seed ^ 0x6b77_735f_7061_7269),
        features,
        crowded,
        storage: shape == Shape::Storage,
        nodes: Vec::new(),
    };
    let storage = g.storage;
    let node_count = if crowded {
        g.rng.range(1, 12)
    } else if storage {
        g.rng.range(1, 8)
    } else {
        match g.rng.range(0, 99) {
            0..=64 => g.rng.range(1, 10),
            65..=94 => g.rng.range(11, 50),
            _ => g.rng.range(51, 200),
        }
    } as usize;
    let mut objects: Vec<Value> = NAMESPACES
        .iter()
        .map(|(name, labels)| {
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": name, "labels": labels_json(labels)}})
        })
        .collect();
    for i in 0..node_count {
        let node = g.node(i);
        objects.push(node);
    }
    let bound = if crowded {
        g.rng.range(3 * node_count as i64, 6 * node_count as i64)
    } else {
        g.rng.range(0, 3 * node_count as i64 / 2)
    } as usize;
    for i in 0..bound {
        let node = g.rng.range(0, node_count as i64 - 1) as usize;
        let pod = g.pod(&format!("bound-{i}"), Some(&g.nodes[node].clone()));
        objects.push(pod);
    }
    let incoming = g.pod(INCOMING, None);
    let namespace = incoming["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    objects.push(incoming);
    if features.workloads {
        // From a generator of their own, so that the rest of a seed's
        // scenario stays what it was before workloads existed.
        let mut rng = Rng(seed ^ 0x776f_726b_6c6f_6164);
        if rng.chance(60) {
            let workloads = workloads(&mut rng, &mut objects);
            objects.extend(workloads);
        }
    }
    if storage {
        let mut rng = Rng(seed ^ 0x766f_6c75_6d65_7300);
        crate::storage_scenario::add(&mut rng, &mut objects, features);
    }
    if features.preemption {
        // A generator of its own here too: the placements of a seed stay
        // what they were before priorities existed.
        let mut rng = Rng(seed ^ 0x7072_6565_6d70_7400);
        if crowded || rng.chance(30) {
            priorities(&mut rng, &mut objects, crowded);
        }
    }
    let mut yaml = format!(
        "# Generated parity scenario, seed {seed}: {node_count} nodes, {bound} bound pods, pending pod {namespace}/{INCOMING}.\n"
    );
    for object in &objects {
        yaml.push_str("---\n");
        if storage {
            // As JSON, which is YAML too: serde_yaml writes the PV
            // controller's `bind-completed: "yes"` unquoted, which YAML 1.1
            // readers (Go's, kubectl's) take for a boolean.
            yaml.push_str(&serde_json::to_string(object).expect("JSON values serialise"));
            yaml.push('\n');
        } else {
            yaml.push_str(&serde_yaml::to_string(object).expect("JSON values serialise as YAML"));
        }
    }
    Scenario {
        seed,
        pod: format!("{namespace}/{INCOMING}"),
        yaml,
    }
}

/// The controller kinds PodTopologySpread's default selector follows:
/// (apiVersion, kind, name suffix).
const CONTROLLERS: &[(&str, &str, &str)] = &[
    ("apps/v1", "ReplicaSet", "rs"),
    ("apps/v1", "StatefulSet", "sts"),
    ("v1", "ReplicationController", "rc"),
];

/// Services and controllers for the pods among `objects`: some pods get a
/// controller (an owner reference with `controller: true`, sometimes to an
/// object that does not exist), every controller named gets an object
/// (keyed by namespace, kind and the pod's `app`), and a few Services
/// select pods by `app` and `tier`, one of them often the incoming pod.
fn workloads(rng: &mut Rng, objects: &mut [Value]) -> Vec<Value> {
    let mut controllers: Vec<(String, usize, String)> = Vec::new();
    let mut services: Vec<(String, serde_json::Map<String, Value>)> = Vec::new();
    for object in objects.iter_mut().filter(|o| o["kind"] == "Pod") {
        let incoming = object["metadata"]["name"] == INCOMING;
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let labels = object["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if incoming && !labels.is_empty() && rng.chance(50) {
            let selector: serde_json::Map<String, Value> = labels
                .iter()
                .filter(|_| rng.chance(70))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !selector.is_empty() {
                services.push((namespace.clone(), selector));
            }
        }
        if !rng.chance(if incoming { 50 } else { 30 }) {
            continue;
        }
        let kind = rng.range(0, CONTROLLERS.len() as i64 - 1) as usize;
        let (api_version, kind_name, suffix) = CONTROLLERS[kind];
        let app = labels.get("app").and_then(Value::as_str).unwrap_or("other");
        let name = format!("{app}-{suffix}");
        let reference = json!({"apiVersion": api_version, "kind": kind_name, "name": name,
                               "uid": format!("{namespace}-{name}"), "controller": true});
        object["metadata"]["ownerReferences"] = json!([reference]);
        // A controller that is gone: the pod keeps its reference.
        if !rng.chance(8) && !controllers.contains(&(namespace.clone(), kind, app.to_string())) {
            controllers.push((namespace, kind, app.to_string()));
        }
    }
    for _ in 0..rng.range(0, 2) {
        let mut selector = serde_json::Map::new();
        if rng.chance(80) {
            selector.insert("app".into(), json!(rng.pick(APPS)));
        }
        if rng.chance(40) {
            selector.insert("tier".into(), json!(rng.pick(TIERS)));
        }
        services.push((rng.pick(NAMESPACES).0.to_string(), selector));
    }
    let mut made = Vec::new();
    for (i, (namespace, selector)) in services.into_iter().enumerate() {
        let mut spec = json!({"ports": [{"port": 80}]});
        // A Service without selector selects nothing.
        if !selector.is_empty() || rng.chance(50) {
            spec["selector"] = Value::Object(selector);
        }
        made.push(json!({"apiVersion": "v1", "kind": "Service",
                         "metadata": {"name": format!("svc-{i}"), "namespace": namespace},
                         "spec": spec}));
    }
    for (namespace, kind, app) in controllers {
        let (api_version, kind_name, suffix) = CONTROLLERS[kind];
        // Every selector below selects these labels, as the apiserver
        // requires of a controller's template.
        let template = json!({"metadata": {"labels": {"app": app, "tier": "frontend"}},
                              "spec": {"containers": [{"name": "c", "image": "registry.example/tiny:1"}]}});
        let mut spec = json!({"template": template});
        if kind_name == "ReplicationController" {
            // Without a selector, the template's labels become it.
            if rng.chance(70) {
                spec["selector"] = json!({"app": app});
            }
        } else {
            spec["selector"] = match rng.range(0, 3) {
                0 => json!({"matchLabels": {"app": app}}),
                1 => json!({"matchLabels": {"app": app},
                            "matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
                2 => json!({"matchExpressions": [
                    {"key": "app", "operator": "In", "values": [app, "other"]}]}),
                _ => json!({"matchLabels": {"app": app},
                            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["backend"]}]}),
            };
            if kind_name == "StatefulSet" {
                spec["serviceName"] = json!(app);
            }
        }
        made.push(json!({"apiVersion": api_version, "kind": kind_name,
                         "metadata": {"name": format!("{app}-{suffix}"), "namespace": namespace},
                         "spec": spec}));
    }
    made
}

/// The PriorityClasses of preemption scenarios: (name, value, whether
/// its pods may preempt). The Priority admission plugin copies the policy
/// into the pod, and refuses a pod that sets it otherwise.
const PRIORITY_CLASSES: &[(&str, i64, bool)] = &[
    ("negative", -10, true),
    ("low", 10, true),
    ("medium", 100, true),
    ("high", 1000, true),
    ("high-never", 1000, false),
];

/// Priorities, start times and budgets for the pods among `objects`: the
/// PriorityClasses go first, every bound pod names one (or none, priority
/// 0) and gets a start time of its own (so that no two nodes tie on
/// preemption's last criterion, the latest start; upstream breaks that tie
/// by Go map order), the incoming pod names one (often `high`; sometimes
/// `high-never`, whose pods do not preempt), and up to three PodDisruptionBudgets select
/// pods by `app` and `tier`, with a status saying how many disruptions
/// they allow.
fn priorities(rng: &mut Rng, objects: &mut Vec<Value>, crowded: bool) {
    let classes = PRIORITY_CLASSES.iter().map(|(name, value, preempts)| {
        let mut class = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                               "metadata": {"name": name}, "value": value});
        if !preempts {
            class["preemptionPolicy"] = json!("Never");
        }
        class
    });
    objects.splice(0..0, classes);
    let mut started = 0;
    for pod in objects.iter_mut().filter(|o| o["kind"] == "Pod") {
        let incoming = pod["metadata"]["name"] == INCOMING;
        let class = if incoming {
            match rng.range(0, 19) {
                0..=14 => Some("high"),
                15..=18 => Some("medium"),
                _ => None,
            }
        } else {
            match rng.range(0, 19) {
                0..=4 => None,
                5..=6 => Some("negative"),
                7..=12 => Some("low"),
                13..=17 => Some("medium"),
                _ => Some("high"),
            }
        };
        let class = match class {
            Some("high") if incoming && rng.chance(if crowded { 8 } else { 20 }) => {
                Some("high-never")
            }
            class => class,
        };
        if let Some(class) = class {
            pod["spec"]["priorityClassName"] = json!(class);
        }
        if incoming {
            continue;
        }
        // Seconds apart, in creation order, never equal.
        started += 1 + rng.range(0, 600);
        let (h, m, s) = (started / 3600, started / 60 % 60, started % 60);
        let start_time = format!("2026-01-01T{h:02}:{m:02}:{s:02}Z");
        match pod.get_mut("status") {
            Some(status) => status["startTime"] = json!(start_time),
            None => pod["status"] = json!({"startTime": start_time}),
        }
    }
    for i in 0..rng.range(0, 3) {
        let mut labels = serde_json::Map::new();
        labels.insert("app".into(), json!(rng.pick(APPS)));
        if rng.chance(30) {
            labels.insert("tier".into(), json!(rng.pick(TIERS)));
        }
        let bound = match rng.range(0, 3) {
            0 => ("minAvailable", json!(rng.range(0, 2))),
            1 => ("minAvailable", json!("50%")),
            2 => ("maxUnavailable", json!(rng.range(0, 1))),
            _ => ("maxUnavailable", json!("30%")),
        };
        let mut spec = json!({"selector": {"matchLabels": labels}});
        spec[bound.0] = bound.1;
        let allowed = rng.range(0, 2);
        objects.push(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": format!("budget-{i}"), "namespace": rng.pick(NAMESPACES).0},
            "spec": spec,
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 2,
                       "desiredHealthy": 2 - allowed.min(2), "expectedPods": 2},
        }));
    }
}

struct Generator {
    rng: Rng,
    features: Features,
    /// [`Shape::Crowded`]: small nodes, every container requesting.
    crowded: bool,
    /// [`Shape::Storage`]: the incoming pod's other constraints are rarer.
    storage: bool,
    /// Names of the nodes made so far.
    nodes: Vec<String>,
}

fn labels_json(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

impl Generator {
    fn node(&mut self, index: usize) -> Value {
        let rng = &mut self.rng;
        let name = format!("node-{index:03}");
        self.nodes.push(name.clone());
        let mut labels = serde_json::Map::new();
        labels.insert("kubernetes.io/hostname".into(), json!(name));
        if rng.chance(85) {
            let zone = rng.pick(ZONES);
            labels.insert("topology.kubernetes.io/zone".into(), json!(zone));
            labels.insert(
                "topology.kubernetes.io/region".into(),
                json!(if *zone == "zone-c" { "east" } else { "west" }),
            );
        }
        if rng.chance(60) {
            labels.insert("disktype".into(), json!(rng.pick(&["ssd", "hdd"])));
        }
        if rng.chance(50) {
            labels.insert("generation".into(), json!(rng.range(1, 5).to_string()));
        }
        if rng.chance(20) {
            labels.insert("gpu".into(), json!("true"));
        }
        let mut spec = serde_json::Map::new();
        if self.features.unschedulable_nodes && rng.chance(8) {
            spec.insert("unschedulable".into(), json!(true));
        }
        if self.features.taints {
            let pool = [
                json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
                json!({"key": "spot", "value": "true", "effect": "PreferNoSchedule"}),
                json!({"key": "maintenance", "effect": "NoExecute"}),
                json!({"key": "team", "value": "a", "effect": "NoSchedule"}),
                json!({"key": "noisy", "effect": "PreferNoSchedule"}),
            ];
            // Fewer in storage scenarios, where volumes and devices decide.
            let percent = if self.storage { 3 } else { 8 };
            let mut taints: Vec<Value> = rng.subset(&pool, percent).into_iter().cloned().collect();
            if spec.contains_key("unschedulable") && rng.chance(50) {
                // What the node lifecycle controller adds to a cordoned node.
                taints.push(
                    json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}),
                );
            }
            if !taints.is_empty() {
                spec.insert("taints".into(), json!(taints));
            }
        }
        let cpu = if self.crowded {
            *rng.pick(&["1", "2", "2", "3500m"])
        } else if self.storage {
            *rng.pick(&["4", "8", "16"])
        } else {
            *rng.pick(&["1", "2", "4", "8", "16", "3500m"])
        };
        let memory = if self.storage {
            *rng.pick(&["8Gi", "16Gi", "32Gi"])
        } else {
            *rng.pick(&["2Gi", "4Gi", "8Gi", "16Gi", "7500Mi"])
        };
        let pods = if self.storage {
            "110"
        } else {
            *rng.pick(&["110", "110", "110", "8", "3"])
        };
        let mut capacity = json!({"cpu": cpu, "memory": memory, "pods": pods});
        if rng.chance(30) {
            capacity["ephemeral-storage"] = json!(rng.pick(&["10Gi", "100Gi"]));
        }
        if labels.contains_key("gpu") {
            capacity["nvidia.com/gpu"] = json!(rng.range(1, 4).to_string());
        }
        if rng.chance(10) {
            capacity["example.com/dongle"] = json!(rng.range(1, 2).to_string());
        }
        let mut status = json!({"capacity": capacity.clone()});
        if rng.chance(50) {
            let mut allocatable = capacity;
            allocatable["cpu"] = if self.storage {
                json!(rng.pick(&["3800m", "7"]))
            } else {
                json!(rng.pick(&["900m", "1900m", "3800m", "7"]))
            };
            status["allocatable"] = allocatable;
        }
        if self.features.images {
            let images: Vec<Value> = rng
                .subset(IMAGES, 35)
                .into_iter()
                .map(|(image, size)| json!({"names": [image], "sizeBytes": size}))
                .collect();
            if !images.is_empty() {
                status["images"] = json!(images);
            }
        }
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "labels": labels},
               "spec": spec, "status": status})
    }

    /// A pod: bound to `node`, or pending (the incoming pod).
    fn pod(&mut self, name: &str, node: Option<&String>) -> Value {
        let incoming = node.is_none();
        let namespace = self.rng.pick(NAMESPACES).0;
        let mut labels = serde_json::Map::new();
        if self.rng.chance(85) {
            labels.insert("app".into(), json!(self.rng.pick(APPS)));
        }
        if self.rng.chance(50) {
            labels.insert("tier".into(), json!(self.rng.pick(TIERS)));
        }
        // A crowded cluster's incoming pod has one container, so that it
        // seldom asks more than a whole node; a storage scenario's too.
        let count = if incoming && (self.crowded || self.storage) {
            1
        } else {
            self.rng.range(1, 3)
        };
        let containers: Vec<Value> = (0..count)
            .map(|i| self.container(&format!("c{i}"), i == 0))
            .collect();
        let mut spec = json!({"schedulerName": "kube-wasm-scheduler", "containers": containers});
        if let Some(node) = node {
            spec["nodeName"] = json!(node);
        }
        if self.features.resources && self.rng.chance(15) {
            spec["initContainers"] = json!([self.container("init", false)]);
        }
        // A crowded cluster's incoming pod has constraints half as often:
        // with them it is more often kept off every node for good, where
        // preemption cannot help.
        if incoming {
            // A storage scenario's incoming pod has constraints a quarter
            // as often: its volumes and devices are what is compared.
            let skip =
                (self.crowded && self.rng.chance(50)) || (self.storage && self.rng.chance(75));
            if !skip {
                self.constraints(&mut spec, &labels);
            }
        } else if self.features.pod_affinity && self.rng.chance(15) {
            // Bound pods' anti-affinity (and affinity) count against the
            // incoming pod.
            let mut affinity = serde_json::Map::new();
            let kind = if self.rng.chance(70) {
                "podAntiAffinity"
            } else {
                "podAffinity"
            };
            affinity.insert(kind.into(), self.pod_affinity());
            spec["affinity"] = Value::Object(affinity);
        }
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                             "metadata": {"name": name, "namespace": namespace, "labels": labels},
                             "spec": spec});
        if !incoming && self.rng.chance(5) {
            // A finished pod no longer counts on its node.
            pod["status"] = json!({"phase": self.rng.pick(&["Succeeded", "Failed"])});
        }
        pod
    }

    fn container(&mut self, name: &str, first: bool) -> Value {
        let rng = &mut self.rng;
        let image = if self.features.images {
            rng.pick(IMAGES).0
        } else {
            "registry.example/tiny:1"
        };
        let mut container = json!({"name": name, "image": image});
        if self.features.resources && (self.crowded || rng.chance(80)) {
            let mut requests = serde_json::Map::new();
            if rng.chance(85) {
                requests.insert(
                    "cpu".into(),
                    json!(rng.pick(&["50m", "100m", "250m", "500m", "1", "1500m", "3"])),
                );
            }
            if rng.chance(80) {
                requests.insert(
                    "memory".into(),
                    json!(rng.pick(&["64Mi", "128Mi", "512Mi", "1Gi", "3Gi", "6Gi"])),
                );
            }
            if rng.chance(10) {
                requests.insert("ephemeral-storage".into(), json!("1Gi"));
            }
            if rng.chance(8) {
                requests.insert("nvidia.com/gpu".into(), json!(rng.range(1, 2).to_string()));
            }
            if rng.chance(4) {
                requests.insert("example.com/dongle".into(), json!("1"));
            }
            // Extended resources cannot be overcommitted: the apiserver
            // wants their limits equal to their requests.
            let extended: serde_json::Map<String, Value> = requests
                .iter()
                .filter(|(name, _)| name.contains('/'))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            if rng.chance(25) {
                // Limits only: the apiserver copies them into requests.
                container["resources"] = json!({"limits": requests});
            } else if !extended.is_empty() {
                container["resources"] = json!({"requests": requests, "limits": extended});
            } else if !requests.is_empty() {
                container["resources"] = json!({"requests": requests});
            }
        }
        if self.features.host_ports && first && rng.chance(25) {
            let ports: Vec<Value> = (0..rng.range(1, 2))
                .map(|_| {
                    let host_port = *rng.pick(HOST_PORTS);
                    let mut port = json!({"containerPort": 8000 + host_port,
                                          "hostPort": host_port,
                                          "protocol": rng.pick(PROTOCOLS)});
                    let ip = *rng.pick(HOST_IPS);
                    if !ip.is_empty() {
                        port["hostIP"] = json!(ip);
                    }
                    port
                })
                .collect();
            // The apiserver refuses two identical (port, protocol, IP) entries.
            let mut seen = std::collections::HashSet::new();
            let ports: Vec<Value> = ports
                .into_iter()
                .filter(|p| seen.insert((p["hostPort"].clone(), p["protocol"].clone())))
                .collect();
            container["ports"] = json!(ports);
        }
        container
    }

    /// The incoming pod's placement constraints.
    fn constraints(&mut self, spec: &mut Value, labels: &serde_json::Map<String, Value>) {
        let f = self.features;
        if f.node_affinity && self.rng.chance(20) {
            let mut selector = serde_json::Map::new();
            selector.insert("disktype".into(), json!(self.rng.pick(&["ssd", "hdd"])));
            spec["nodeSelector"] = Value::Object(selector);
        }
        let mut affinity = serde_json::Map::new();
        if f.node_affinity && self.rng.chance(35) {
            let mut node_affinity = serde_json::Map::new();
            if self.rng.chance(60) {
                let terms: Vec<Value> = (0..self.rng.range(1, 2))
                    .map(|_| self.node_selector_term())
                    .collect();
                node_affinity.insert(
                    "requiredDuringSchedulingIgnoredDuringExecution".into(),
                    json!({"nodeSelectorTerms": terms}),
                );
            }
            if self.rng.chance(60) {
                let preferred: Vec<Value> = (0..self.rng.range(1, 3))
                    .map(|_| json!({"weight": self.rng.range(1, 100), "preference": self.node_selector_term()}))
                    .collect();
                node_affinity.insert(
                    "preferredDuringSchedulingIgnoredDuringExecution".into(),
                    json!(preferred),
                );
            }
            if !node_affinity.is_empty() {
                affinity.insert("nodeAffinity".into(), Value::Object(node_affinity));
            }
        }
        if f.pod_affinity && self.rng.chance(25) {
            affinity.insert("podAffinity".into(), self.pod_affinity());
        }
        if f.pod_affinity && self.rng.chance(25) {
            affinity.insert("podAntiAffinity".into(), self.pod_affinity());
        }
        if !affinity.is_empty() {
            spec["affinity"] = Value::Object(affinity);
        }
        if f.taints && self.rng.chance(45) {
            let pool = [
                json!({"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}),
                json!({"key": "spot", "operator": "Exists"}),
                json!({"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}),
                json!({"key": "team", "operator": "Equal", "value": "b"}),
                json!({"key": "noisy", "operator": "Exists", "effect": "PreferNoSchedule"}),
                json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}),
                json!({"operator": "Exists", "effect": "NoSchedule"}),
            ];
            let tolerations: Vec<Value> = self.rng.subset(&pool, 30).into_iter().cloned().collect();
            spec["tolerations"] = json!(tolerations);
        }
        if f.spread && self.rng.chance(35) {
            let constraints: Vec<Value> = (0..self.rng.range(1, 2))
                .map(|_| self.spread_constraint(labels))
                .collect();
            // The apiserver refuses two constraints with the same key and
            // whenUnsatisfiable.
            let mut seen = std::collections::HashSet::new();
            let constraints: Vec<Value> = constraints
                .into_iter()
                .filter(|c| seen.insert((c["topologyKey"].clone(), c["whenUnsatisfiable"].clone())))
                .collect();
            spec["topologySpreadConstraints"] = json!(constraints);
        }
    }

    fn node_selector_term(&mut self) -> Value {
        let rng = &mut self.rng;
        let mut expressions = Vec::new();
        for _ in 0..rng.range(1, 2) {
            let expression = match rng.range(0, 6) {
                0 => {
                    json!({"key": "disktype", "operator": "In", "values": [rng.pick(&["ssd", "hdd"])]})
                }
                1 => json!({"key": "topology.kubernetes.io/zone", "operator": "In",
                            "values": rng.subset(ZONES, 50)}),
                2 => json!({"key": "topology.kubernetes.io/zone", "operator": "NotIn",
                            "values": [rng.pick(ZONES)]}),
                3 => json!({"key": "gpu", "operator": "Exists"}),
                4 => json!({"key": "gpu", "operator": "DoesNotExist"}),
                5 => {
                    json!({"key": "generation", "operator": "Gt", "values": [rng.range(0, 4).to_string()]})
                }
                _ => {
                    json!({"key": "generation", "operator": "Lt", "values": [rng.range(2, 6).to_string()]})
                }
            };
            // `In` needs at least one value.
            if expression["values"]
                .as_array()
                .is_some_and(|v| v.is_empty())
            {
                continue;
            }
            expressions.push(expression);
        }
        let mut term = json!({"matchExpressions": expressions});
        // Pinning node names narrows the nodes at PreFilter; two pins in
        // one term may leave no name at all.
        if !self.nodes.is_empty() && rng.chance(20) {
            let mut pins = vec![json!({"key": "metadata.name", "operator": "In",
                                       "values": [rng.pick(&self.nodes).clone()]})];
            if rng.chance(25) {
                pins.push(json!({"key": "metadata.name", "operator": "In",
                                 "values": [rng.pick(&self.nodes).clone()]}));
            }
            term["matchFields"] = json!(pins);
        }
        term
    }

    fn label_selector(&mut self) -> Value {
        let rng = &mut self.rng;
        match rng.range(0, 3) {
            0 => json!({"matchLabels": {"app": rng.pick(APPS)}}),
            1 => json!({"matchExpressions": [{"key": "app", "operator": "In",
                                              "values": [rng.pick(APPS), rng.pick(APPS)]}]}),
            2 => json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            _ => json!({"matchLabels": {"tier": rng.pick(TIERS)},
                        "matchExpressions": [{"key": "app", "operator": "NotIn", "values": [rng.pick(APPS)]}]}),
        }
    }

    fn affinity_term(&mut self) -> Value {
        let mut term = json!({"labelSelector": self.label_selector(),
                              "topologyKey": self.rng.pick(TOPOLOGY_KEYS)});
        match self.rng.range(0, 4) {
            0 => term["namespaces"] = json!([self.rng.pick(NAMESPACES).0]),
            1 => {
                term["namespaceSelector"] =
                    json!({"matchLabels": {"env": self.rng.pick(&["prod", "dev"])}})
            }
            2 => term["namespaceSelector"] = json!({}),
            _ => {}
        }
        // The apiserver merges `key In/NotIn (the pod's value)` into the
        // selector; a key the selector already uses is refused.
        let selector = term["labelSelector"].to_string();
        if !selector.contains("\"tier\"") && self.rng.chance(20) {
            term["matchLabelKeys"] = json!(["tier"]);
        } else if !selector.contains("\"app\"") && self.rng.chance(20) {
            term["mismatchLabelKeys"] = json!(["app"]);
        }
        term
    }

    /// A `podAffinity` or `podAntiAffinity` body.
    fn pod_affinity(&mut self) -> Value {
        let mut body = serde_json::Map::new();
        if self.rng.chance(60) {
            let terms: Vec<Value> = (0..self.rng.range(1, 2))
                .map(|_| self.affinity_term())
                .collect();
            body.insert(
                "requiredDuringSchedulingIgnoredDuringExecution".into(),
                json!(terms),
            );
        }
        if body.is_empty() || self.rng.chance(50) {
            let terms: Vec<Value> = (0..self.rng.range(1, 2))
                .map(|_| json!({"weight": self.rng.range(1, 100), "podAffinityTerm": self.affinity_term()}))
                .collect();
            body.insert(
                "preferredDuringSchedulingIgnoredDuringExecution".into(),
                json!(terms),
            );
        }
        Value::Object(body)
    }

    fn spread_constraint(&mut self, labels: &serde_json::Map<String, Value>) -> Value {
        let hard = self.rng.chance(55);
        let mut constraint = json!({
            "maxSkew": self.rng.range(1, 3),
            "topologyKey": self.rng.pick(TOPOLOGY_KEYS),
            "whenUnsatisfiable": if hard { "DoNotSchedule" } else { "ScheduleAnyway" },
            "labelSelector": self.label_selector(),
        });
        if hard && self.rng.chance(25) {
            constraint["minDomains"] = json!(self.rng.range(1, 4));
        }
        if self.rng.chance(20) {
            constraint["nodeAffinityPolicy"] = json!(self.rng.pick(&["Honor", "Ignore"]));
        }
        if self.rng.chance(20) {
            constraint["nodeTaintsPolicy"] = json!(self.rng.pick(&["Honor", "Ignore"]));
        }
        // matchLabelKeys must be labels the pod has and keys the selector
        // does not use.
        if labels.contains_key("tier") && self.rng.chance(25) {
            let selector = constraint["labelSelector"].to_string();
            if !selector.contains("\"tier\"") {
                constraint["matchLabelKeys"] = json!(["tier"]);
            }
        }
        constraint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_scenario() {
        let a = generate(42, Features::DEFAULT);
        let b = generate(42, Features::DEFAULT);
        assert_eq!(a.yaml, b.yaml);
        assert_ne!(a.yaml, generate(43, Features::DEFAULT).yaml);
    }

    #[test]
    fn node_counts_cover_one_to_two_hundred() {
        let counts: Vec<usize> = (0..400)
            .map(|seed| {
                generate(seed, Features::DEFAULT)
                    .yaml
                    .matches("kind: Node\n")
                    .count()
            })
            .collect();
        assert_eq!(counts.iter().min(), Some(&1));
        assert!(counts.iter().all(|c| (1..=200).contains(c)));
        assert!(
            counts.iter().any(|c| *c > 100),
            "no large cluster in 400 seeds"
        );
    }

    #[test]
    fn every_feature_appears_and_its_switch_removes_it() {
        let all: String = (0..300)
            .map(|seed| generate(seed, Features::DEFAULT).yaml)
            .collect();
        for field in [
            "hostPort:",
            "topologySpreadConstraints:",
            "podAffinity:",
            "podAntiAffinity:",
            "namespaceSelector:",
            "tolerations:",
            "taints:",
            "nodeSelector:",
            "preferredDuringSchedulingIgnoredDuringExecution:",
            "minDomains:",
            "matchLabelKeys:",
            "mismatchLabelKeys:",
            "nodeAffinityPolicy:",
            "unschedulable: true",
            "node.kubernetes.io/unschedulable",
            "phase: Succeeded",
            "initContainers:",
            "limits:",
            "images:",
            "nvidia.com/gpu",
            "kind: Service",
            "kind: ReplicaSet",
            "kind: StatefulSet",
            "kind: ReplicationController",
            "ownerReferences:",
            "kind: PriorityClass",
            "priorityClassName: high",
            "priorityClassName: high-never",
            "startTime:",
            "kind: PodDisruptionBudget",
            "maxUnavailable:",
        ] {
            assert!(all.contains(field), "{field} never generated");
        }
        let without = Features {
            host_ports: false,
            spread: false,
            pod_affinity: false,
            workloads: false,
            preemption: false,
            ..Features::DEFAULT
        };
        let none: String = (0..300).map(|seed| generate(seed, without).yaml).collect();
        for field in [
            "hostPort:",
            "topologySpreadConstraints:",
            "podAffinity:",
            "podAntiAffinity:",
            "kind: Service",
            "ownerReferences:",
            "priorityClassName:",
            "kind: PodDisruptionBudget",
        ] {
            assert!(
                !none.contains(field),
                "{field} generated while switched off"
            );
        }
    }

    #[test]
    fn some_incoming_pods_get_default_spreading() {
        let mut applies = 0;
        for seed in 0..300 {
            let scenario = generate(seed, Features::DEFAULT);
            let objects = kws_host::model::manifest::parse("s", &scenario.yaml).unwrap();
            let mut workloads = kws_host::workloads::Workloads::default();
            objects
                .workloads
                .iter()
                .for_each(|w| workloads.apply(w.clone()));
            let incoming = objects
                .pods
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(INCOMING))
                .unwrap();
            let own = incoming
                .spec
                .as_ref()
                .and_then(|s| s.topology_spread_constraints.as_ref())
                .is_some_and(|c| !c.is_empty());
            if !own && workloads.default_spread_selector(incoming).is_some() {
                applies += 1;
            }
        }
        assert!(
            applies >= 30,
            "default spreading applies in {applies} of 300 scenarios"
        );
    }

    #[test]
    fn priorities_leave_the_rest_of_a_scenario_as_it_was() {
        let without = Features {
            preemption: false,
            ..Features::DEFAULT
        };
        for seed in 0..50 {
            let plain = generate(seed, without).yaml;
            let with = generate(seed, Features::DEFAULT).yaml;
            let pods = |yaml: &str| yaml.matches("kind: Pod\n").count();
            let nodes = |yaml: &str| yaml.matches("kind: Node\n").count();
            assert_eq!((pods(&plain), nodes(&plain)), (pods(&with), nodes(&with)));
        }
    }

    #[test]
    fn crowded_clusters_are_small_and_full() {
        for seed in 0..100 {
            let scenario = generate_shaped(seed, Features::DEFAULT, Shape::Crowded);
            let objects = kws_host::model::manifest::parse(&format!("seed {seed}"), &scenario.yaml)
                .unwrap_or_else(|e| panic!("{e}\n{}", scenario.yaml));
            assert!((1..=12).contains(&objects.nodes.len()));
            assert!(objects.pods.len() > 2 * objects.nodes.len());
            assert_eq!(objects.priority_classes.len(), PRIORITY_CLASSES.len());
        }
    }

    #[test]
    fn scenarios_are_valid_manifests() {
        for seed in 0..300 {
            let scenario = generate(seed, Features::DEFAULT);
            let objects = kws_host::model::manifest::parse(&format!("seed {seed}"), &scenario.yaml)
                .unwrap_or_else(|e| panic!("{e}\n{}", scenario.yaml));
            assert!(
                objects
                    .pods
                    .iter()
                    .any(|p| p.metadata.name.as_deref() == Some(INCOMING))
            );
        }
    }
}
