//! Mutated manifests for the test of the manifest reader against the
//! apiserver (`e2e/manifest_differential.rs`): valid Pods, Nodes,
//! Namespaces and PriorityClasses that use the fields the reader checks,
//! changed one field at a time, from a seed: values of the wrong type,
//! numbers out of range, names and label keys and values of every shape,
//! removed and duplicated entries, unknown fields, and the cases of issue
//! #18.

use crate::rng::Rng;
use serde_json::{Map, Value, json};

/// The namespace the base pod is created in; the apiserver must hold it.
pub const NAMESPACE: &str = "diff-team";
/// The PriorityClass the base pod names; the apiserver must hold it.
pub const PRIORITY_CLASS: &str = "diff-priority";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Node,
    Namespace,
    PriorityClass,
}

impl Kind {
    /// The collection a create of this kind is posted to.
    pub fn collection(self, namespace: &str) -> String {
        match self {
            Kind::Pod => format!("/api/v1/namespaces/{namespace}/pods"),
            Kind::Node => "/api/v1/nodes".to_string(),
            Kind::Namespace => "/api/v1/namespaces".to_string(),
            Kind::PriorityClass => "/apis/scheduling.k8s.io/v1/priorityclasses".to_string(),
        }
    }
}

/// One object to create, and what was changed in the base to make it.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub kind: Kind,
    pub description: String,
    pub object: Value,
}

/// The objects the base objects need on the apiserver, created for real
/// before the dry runs (and given to the reader in the same file).
pub fn prerequisites() -> Vec<(Kind, Value)> {
    vec![
        (
            Kind::Namespace,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        ),
        (
            Kind::PriorityClass,
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                   "metadata": {"name": PRIORITY_CLASS}, "value": 1000}),
        ),
    ]
}

/// A valid object of `kind` that uses what the reader validates.
pub fn base(kind: Kind) -> Value {
    match kind {
        Kind::Pod => json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "diff-pod",
                "namespace": NAMESPACE,
                "labels": {"app": "web", "tier": "backend", "example.com/team": "a"},
                "annotations": {"example.com/note": "hello", "owner": "x"},
            },
            "spec": {
                "priorityClassName": PRIORITY_CLASS,
                "hostname": "web-0",
                "subdomain": "web",
                "serviceAccountName": "default",
                "restartPolicy": "Always",
                "dnsPolicy": "ClusterFirst",
                "activeDeadlineSeconds": 3600,
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "initContainers": [
                    {"name": "init", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}
                ],
                "containers": [
                    {
                        "name": "app",
                        "image": "nginx:1.27",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [
                            {"name": "http", "containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
                            {"containerPort": 9090}
                        ],
                        "resources": {
                            "requests": {"cpu": "250m", "memory": "64Mi", "example.com/gpu": "1"},
                            "limits": {"cpu": "500m", "memory": "128Mi", "example.com/gpu": "1"}
                        }
                    },
                    {
                        "name": "sidecar",
                        "image": "busybox",
                        "resources": {"limits": {"hugepages-2Mi": "4Mi", "memory": "64Mi"}}
                    }
                ],
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                            "matchExpressions": [
                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]},
                                {"key": "example.com/cores", "operator": "Gt", "values": ["2"]}
                            ],
                            "matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-9"]}]
                        }]},
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 50, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}
                        ]
                    },
                    "podAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [{
                            "labelSelector": {"matchLabels": {"app": "db"}},
                            "topologyKey": "topology.kubernetes.io/zone",
                            "namespaces": [NAMESPACE]
                        }]
                    },
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [{
                            "weight": 10,
                            "podAffinityTerm": {
                                "labelSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
                                "topologyKey": "kubernetes.io/hostname",
                                "matchLabelKeys": ["tier"]
                            }
                        }]
                    }
                },
                "topologySpreadConstraints": [{
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"app": "web"}},
                    "minDomains": 2,
                    "nodeAffinityPolicy": "Honor",
                    "nodeTaintsPolicy": "Ignore"
                }],
                "tolerations": [
                    {"key": "example.com/dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
                ],
                "schedulingGates": [{"name": "example.com/wait"}]
            }
        }),
        Kind::Node => json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "diff-node",
                "labels": {"kubernetes.io/hostname": "diff-node", "topology.kubernetes.io/zone": "a"},
                "annotations": {"example.com/rack": "r1"}
            },
            "spec": {
                "unschedulable": false,
                "taints": [
                    {"key": "example.com/dedicated", "value": "web", "effect": "NoSchedule"},
                    {"key": "example.com/maintenance", "effect": "PreferNoSchedule"}
                ]
            },
            "status": {
                "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "example.com/gpu": "2", "hugepages-2Mi": "0"},
                "allocatable": {"cpu": "3900m", "memory": "7Gi", "pods": "110", "example.com/gpu": "2"}
            }
        }),
        Kind::Namespace => json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "diff-ns", "labels": {"team": "a"}, "annotations": {"example.com/owner": "x"}},
            "spec": {"finalizers": ["kubernetes"]}
        }),
        Kind::PriorityClass => json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "diff-class", "labels": {"tier": "x"}},
            "value": 1000,
            "globalDefault": false,
            "description": "a class",
            "preemptionPolicy": "Never"
        }),
    }
}

/// Strings of every shape a name, key, value, quantity or enum may take.
fn strings() -> Vec<String> {
    let mut pool: Vec<String> = [
        "",
        " ",
        "ok",
        "a b",
        "UPPER",
        "Mixed-Case",
        "-lead",
        "trail-",
        "a.b",
        "a..b",
        "a_b",
        "a/b",
        "a/b/c",
        "/x",
        "x/",
        "example.com/ok",
        "Example.COM/ok",
        "example.com/a b",
        "-bad.com/x",
        "ünï",
        "with\nnewline",
        "tab\tx",
        "0",
        "1",
        "-1",
        "1.5",
        "500m",
        "1Gi",
        "1e100",
        "2Mi",
        " 1 ",
        "1 core",
        "abc",
        "In",
        "NotIn",
        "Exists",
        "DoesNotExist",
        "Gt",
        "Lt",
        "Near",
        "Equal",
        "NoSchedule",
        "NoExecute",
        "PreferNoSchedule",
        "NoScheduleNoAdmit",
        "DoNotSchedule",
        "ScheduleAnyway",
        "Honor",
        "Ignore",
        "TCP",
        "UDP",
        "SCTP",
        "HTTP",
        "Always",
        "Never",
        "OnFailure",
        "IfNotPresent",
        "PreemptLowerPriority",
        "ClusterFirst",
        "None",
        "kubernetes",
        "system-x",
        "metadata.name",
        "diff-team",
        "example.com/gpu",
        "hugepages-2Mi",
        "cpu",
        "pods",
        "requests.cpu",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [63, 64, 253, 254, 300] {
        pool.push("a".repeat(n));
    }
    pool.push(format!("{}/x", "a".repeat(254)));
    pool.push(format!("x/{}", "a".repeat(64)));
    pool
}

/// Numbers in and out of every range the reader checks (no whole floats:
/// see the documented exceptions).
const NUMBERS: &[i64] = &[
    -2_147_483_649,
    -1,
    0,
    1,
    2,
    10,
    100,
    101,
    65_535,
    65_536,
    1_000_000_000,
    1_000_000_001,
    2_000_000_000,
    2_147_483_647,
    2_147_483_648,
];

/// Values of each JSON type, for fields that expect another.
fn wrong_types() -> Vec<Value> {
    vec![
        json!(7),
        json!(-1),
        json!(1.5),
        json!(true),
        json!("7"),
        json!("true"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
        Value::Null,
    ]
}

/// A step of a path into an object.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn describe(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(k) if text.is_empty() => text.push_str(k),
            Step::Key(k) if k.contains('.') || k.contains('/') => text.push_str(&format!("[{k}]")),
            Step::Key(k) => text.push_str(&format!(".{k}")),
            Step::Index(i) => text.push_str(&format!("[{i}]")),
        }
    }
    text
}

/// Every path below the top (apiVersion and kind aside: a missing kind
/// is kubectl's refusal, not the apiserver's).
fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if prefix.is_empty() && (key == "apiVersion" || key == "kind") {
                    continue;
                }
                prefix.push(Step::Key(key.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// Removes the entry at `path` from its parent object or array.
fn remove(value: &mut Value, path: &[Step]) {
    let (last, parent) = path.split_last().expect("a path below the top");
    match (at(value, parent), last) {
        (Value::Object(map), Step::Key(k)) => {
            map.remove(k);
        }
        (Value::Array(items), Step::Index(i)) => {
            items.remove(*i);
        }
        _ => unreachable!("paths come from the value"),
    }
}

/// `count` mutations from `seed`, each of one base object in one place.
pub fn generate(seed: u64, count: usize) -> Vec<Mutation> {
    let mut rng = Rng(seed ^ 0x6d61_6e69_6665_7374);
    let strings = strings();
    let wrong = wrong_types();
    let kinds = [
        Kind::Pod,
        Kind::Pod,
        Kind::Pod,
        Kind::Pod,
        Kind::Node,
        Kind::Node,
        Kind::Namespace,
        Kind::PriorityClass,
    ];
    (0..count)
        .map(|_| {
            let kind = *rng.pick(&kinds);
            let mut object = base(kind);
            let mut description = String::new();
            // Now and then a field the base leaves out, valid, to be
            // mutated in turn.
            let options = optional_fields(kind);
            if rng.chance(30) {
                let (name, add) = rng.pick(&options);
                add(&mut object);
                description = format!("with {name}, ");
            }
            description += &mutate(&mut rng, &mut object, &strings, &wrong);
            Mutation {
                kind,
                description,
                object,
            }
        })
        .collect()
}

/// Fields the base objects leave out, each with a valid value.
type Addition = (&'static str, fn(&mut Value));

fn optional_fields(kind: Kind) -> Vec<Addition> {
    let owner: Addition = ("an owner", |o| {
        o["metadata"]["ownerReferences"] = json!([
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1", "controller": true}
        ]);
    });
    let finalizer: Addition = ("a finalizer", |o| {
        o["metadata"]["finalizers"] = json!(["example.com/keep"]);
    });
    let mut fields = vec![owner, finalizer];
    match kind {
        Kind::Pod => fields.extend([
            ("a node name", (|o: &mut Value| {
                o["spec"]["nodeName"] = json!("node-1");
                o["spec"].as_object_mut().unwrap().remove("schedulingGates");
            }) as fn(&mut Value)),
            ("a priority", |o| o["spec"]["priority"] = json!(1000)),
            ("a preemption policy", |o| {
                o["spec"]["preemptionPolicy"] = json!("PreemptLowerPriority");
            }),
            ("a host IP", |o| {
                o["spec"]["containers"][0]["ports"][0]["hostIP"] = json!("10.0.0.1");
            }),
            ("match label keys", |o| {
                o["spec"]["topologySpreadConstraints"][0]["matchLabelKeys"] = json!(["tier"]);
            }),
            ("mismatch label keys", |o| {
                o["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
                    ["mismatchLabelKeys"] = json!(["tier"]);
            }),
            ("a toleration for all", |o| {
                o["spec"]["tolerations"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"operator": "Exists"}));
            }),
            ("a namespace selector", |o| {
                o["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
                    ["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
            }),
        ]),
        Kind::Node => fields.push(("an extended resource", |o| {
            o["status"]["capacity"]["example.com/fpga"] = json!("1");
        })),
        Kind::Namespace | Kind::PriorityClass => {}
    }
    fields
}

/// Changes one place of `object`; says what it did.
fn mutate(rng: &mut Rng, object: &mut Value, strings: &[String], wrong: &[Value]) -> String {
    let mut all = Vec::new();
    paths(object, &mut Vec::new(), &mut all);
    let path = rng.pick(&all).clone();
    let name = describe(&path);
    let target = at(object, &path);
    match rng.range(0, 9) {
        0 => {
            remove(object, &path);
            format!("remove {name}")
        }
        1 => {
            let value = rng.pick(wrong).clone();
            let text = value.to_string();
            *target = value;
            format!("{name} = {text}")
        }
        _ => match target {
            Value::String(s) => {
                let new = match rng.range(0, 5) {
                    0 => format!("{s}{}", rng.pick(&["-", ".", "_", "/", " ", "\n", "A"])),
                    1 => format!("{}{s}", rng.pick(&["-", ".", "_", "/", " ", "A", "x/"])),
                    2 => s.to_uppercase(),
                    _ => rng.pick(strings).clone(),
                };
                let text = format!("{name} = {new:?}");
                *s = new;
                text
            }
            Value::Number(_) => {
                let n = *rng.pick(NUMBERS);
                *target = json!(n);
                format!("{name} = {n}")
            }
            Value::Bool(b) => {
                *b = !*b;
                format!("{name} = {b}")
            }
            Value::Object(map) => object_mutation(rng, map, &name, strings),
            Value::Array(items) => array_mutation(rng, items, &name, strings, wrong),
            Value::Null => "unchanged".to_string(),
        },
    }
}

fn object_mutation(
    rng: &mut Rng,
    map: &mut Map<String, Value>,
    name: &str,
    strings: &[String],
) -> String {
    match rng.range(0, 4) {
        0 => {
            map.insert("bogus".to_string(), json!(1));
            format!("{name}.bogus = 1 (unknown field)")
        }
        1 => {
            map.clear();
            format!("{name} = {{}}")
        }
        _ => {
            // As if a map of labels or resources: one more entry.
            let key = rng.pick(strings).clone();
            let value = rng.pick(strings).clone();
            let text = format!("{name}[{key:?}] = {value:?}");
            map.insert(key, json!(value));
            text
        }
    }
}

fn array_mutation(
    rng: &mut Rng,
    items: &mut Vec<Value>,
    name: &str,
    strings: &[String],
    wrong: &[Value],
) -> String {
    match rng.range(0, 4) {
        0 => {
            items.clear();
            format!("{name} = []")
        }
        1 if !items.is_empty() => {
            let i = rng.range(0, items.len() as i64 - 1) as usize;
            items.push(items[i].clone());
            format!("{name} += copy of [{i}]")
        }
        2 if !items.is_empty() => {
            // A copy with one change of its own.
            let i = rng.range(0, items.len() as i64 - 1) as usize;
            let mut copy = json!({"item": items[i].clone()});
            let inner = mutate(rng, &mut copy, strings, wrong);
            items.push(copy["item"].take());
            format!("{name} += copy of [{i}] with {inner}")
        }
        _ => {
            let value = json!(rng.pick(strings).clone());
            let text = format!("{name} += {value}");
            items.push(value);
            text
        }
    }
}

/// Sets `path` (keys, or indices written as numbers) in a copy of the base
/// of `kind`, creating objects on the way.
fn set(kind: Kind, edits: &[(&[&str], Value)]) -> Value {
    let mut object = base(kind);
    for (path, value) in edits {
        let mut target = &mut object;
        for key in *path {
            target = match key.parse::<usize>() {
                Ok(i) if target.is_array() => &mut target[i],
                _ => &mut target[*key],
            };
        }
        *target = value.clone();
    }
    object
}

/// The cases of issue #18 (defects 5 and 6) that JSON can carry.
pub fn issue_cases() -> Vec<Mutation> {
    let pod = |description: &str, edits: &[(&[&str], Value)]| Mutation {
        kind: Kind::Pod,
        description: description.to_string(),
        object: set(Kind::Pod, edits),
    };
    let of = |kind: Kind, description: &str, edits: &[(&[&str], Value)]| Mutation {
        kind,
        description: description.to_string(),
        object: set(kind, edits),
    };
    let resources = |r: Value| -> Vec<(&'static [&'static str], Value)> {
        vec![(&["spec", "containers", "0", "resources"], r)]
    };
    let required_terms: &[&str] = &[
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    ];
    let spread: &[&str] = &["spec", "topologySpreadConstraints", "0"];
    let spread_with = |field: &str, value: Value| {
        let mut constraint = base(Kind::Pod)["spec"]["topologySpreadConstraints"][0].clone();
        constraint[field] = value;
        constraint
    };
    let mut cases = vec![
        pod(
            "label key \"a b\"",
            &[(&["metadata", "labels"], json!({"a b": "x"}))],
        ),
        pod(
            "label value \"x y\"",
            &[(&["metadata", "labels"], json!({"app": "x y"}))],
        ),
        pod(
            "label key of 64 characters",
            &[(&["metadata", "labels"], json!({"a".repeat(64): "x"}))],
        ),
        pod(
            "annotation key \"-bad\"",
            &[(&["metadata", "annotations"], json!({"-bad": "x"}))],
        ),
        pod(
            "annotation key in upper case",
            &[(
                &["metadata", "annotations"],
                json!({"Example.COM/Key": "x"}),
            )],
        ),
        pod(
            "namespace \"Team_A\"",
            &[(&["metadata", "namespace"], json!("Team_A"))],
        ),
        of(
            Kind::Namespace,
            "namespace name \"team.a\"",
            &[(&["metadata", "name"], json!("team.a"))],
        ),
        of(
            Kind::Namespace,
            "namespace name of 64 characters",
            &[(&["metadata", "name"], json!("a".repeat(64)))],
        ),
        pod(
            "container name \"Nginx_1\"",
            &[(&["spec", "containers", "0", "name"], json!("Nginx_1"))],
        ),
        pod(
            "resource name holding a newline",
            &resources(json!({"requests": {"cpu\nweb -> node-1": "1"}})),
        ),
        pod(
            "resource name \"gpu\"",
            &resources(json!({"requests": {"gpu": "1"}})),
        ),
        pod(
            "extended resource without a limit",
            &resources(json!({"requests": {"example.com/gpu": "1"}})),
        ),
        pod(
            "extended resource request below its limit",
            &resources(
                json!({"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "2"}}),
            ),
        ),
        pod(
            "fraction of an extended resource",
            &resources(json!({"limits": {"example.com/gpu": "1500m"}})),
        ),
        pod(
            "hugepages request below its limit",
            &resources(
                json!({"requests": {"hugepages-2Mi": "2Mi", "memory": "1Gi"}, "limits": {"hugepages-2Mi": "4Mi", "memory": "1Gi"}}),
            ),
        ),
        pod(
            "hugepages not a whole page",
            &resources(json!({"limits": {"hugepages-2Mi": "3Mi", "memory": "1Gi"}})),
        ),
        pod(
            "hugepages without cpu or memory",
            &[(
                &["spec", "containers", "1", "resources"],
                json!({"limits": {"hugepages-2Mi": "4Mi"}}),
            )],
        ),
        pod(
            "node affinity operator \"Near\"",
            &[(
                required_terms,
                json!([{"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]),
            )],
        ),
        pod(
            "Gt with two values",
            &[(
                required_terms,
                json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["1", "2"]}]}]),
            )],
        ),
        pod(
            "Gt with an invalid value",
            &[(
                required_terms,
                json!([{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["x y"]}]}]),
            )],
        ),
        pod("empty nodeSelectorTerms", &[(required_terms, json!([]))]),
        pod(
            "preferred weight 0",
            &[(
                &[
                    "spec",
                    "affinity",
                    "nodeAffinity",
                    "preferredDuringSchedulingIgnoredDuringExecution",
                    "0",
                    "weight",
                ],
                json!(0),
            )],
        ),
        pod(
            "preferred weight 101",
            &[(
                &[
                    "spec",
                    "affinity",
                    "podAntiAffinity",
                    "preferredDuringSchedulingIgnoredDuringExecution",
                    "0",
                    "weight",
                ],
                json!(101),
            )],
        ),
        pod(
            "empty topologyKey",
            &[(
                &[
                    "spec",
                    "affinity",
                    "podAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution",
                    "0",
                    "topologyKey",
                ],
                json!(""),
            )],
        ),
        pod("maxSkew 0", &[(spread, spread_with("maxSkew", json!(0)))]),
        pod(
            "minDomains 0",
            &[(spread, spread_with("minDomains", json!(0)))],
        ),
        pod(
            "minDomains with ScheduleAnyway",
            &[(
                spread,
                spread_with("whenUnsatisfiable", json!("ScheduleAnyway")),
            )],
        ),
        pod(
            "whenUnsatisfiable \"Sometimes\"",
            &[(spread, spread_with("whenUnsatisfiable", json!("Sometimes")))],
        ),
        pod(
            "duplicate host ports",
            &[(
                &["spec", "containers", "1", "ports"],
                json!([{"containerPort": 81, "hostPort": 8080}]),
            )],
        ),
        of(
            Kind::Node,
            "duplicate taints",
            &[(
                &["spec", "taints"],
                json!([{"key": "k", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}]),
            )],
        ),
        pod(
            "nodeName \"Node_1\"",
            &[(&["spec", "nodeName"], json!("Node_1"))],
        ),
        pod(
            "nodeName with scheduling gates",
            &[(&["spec", "nodeName"], json!("node-1"))],
        ),
        pod(
            "duplicate scheduling gates",
            &[(
                &["spec", "schedulingGates"],
                json!([{"name": "example.com/wait"}, {"name": "example.com/wait"}]),
            )],
        ),
        of(
            Kind::PriorityClass,
            "PriorityClass value over 1e9",
            &[(&["value"], json!(1_000_000_001))],
        ),
        of(
            Kind::PriorityClass,
            "PriorityClass value 1e9",
            &[(&["value"], json!(1_000_000_000))],
        ),
        of(Kind::PriorityClass, "PriorityClass without a value", &[]),
        pod(
            "an integer for a container name",
            &[(&["spec", "containers", "0", "name"], json!(1))],
        ),
        pod(
            "a string for a port",
            &[(
                &["spec", "containers", "0", "ports", "0", "containerPort"],
                json!("80"),
            )],
        ),
        pod(
            "1e100 unquoted",
            &resources(json!({"requests": {"cpu": 1e100}})),
        ),
        pod(
            "1e100 quoted",
            &resources(json!({"requests": {"cpu": "1e100"}})),
        ),
        pod(
            "a name of 300 characters",
            &[(&["metadata", "name"], json!("a".repeat(300)))],
        ),
        of(
            Kind::Node,
            "a node name of 300 characters",
            &[(&["metadata", "name"], json!("a".repeat(300)))],
        ),
    ];
    if let Some(class) = cases
        .iter_mut()
        .find(|c| c.description == "PriorityClass without a value")
    {
        class.object.as_object_mut().unwrap().remove("value");
    }
    cases
}
