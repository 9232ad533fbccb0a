//! Each default plugin answers the same as a WebAssembly component, run by
//! the host's runtime, as natively, the same type driven by the SDK's
//! `Runner`.
//!
//! Both sides see one cluster of 48 nodes, built from manifests into the
//! host's cache: the component catches up through `PluginPool` as in the
//! scheduler, the native runner gets the same changes converted to the SDK's
//! types. For every pending pod and every node they must reject the same
//! nodes with the same statuses, give the same scores and the same
//! normalised scores (or the same error). Then the cluster changes (pods
//! leave and arrive, nodes are relabelled, cordoned, removed and added) and
//! the comparison runs again, on state both sides reached through the change
//! log rather than a full resync.

use k8s_openapi::api::core::v1 as core;
use kws_host::cache::{Cache, Catchup, Snapshot};
use kws_host::config::PluginSettings;
use kws_host::model::{convert, defaults, manifest};
use kws_host::runtime::{CallContext, LoadedPlugin, PluginError, PluginPool};
use kws_host::wit::{self, NodeId};
use kws_plugin_balanced_allocation::BalancedAllocation;
use kws_plugin_image_locality::ImageLocality;
use kws_plugin_inter_pod_affinity::InterPodAffinity;
use kws_plugin_node_affinity::NodeAffinity;
use kws_plugin_node_name::NodeName;
use kws_plugin_node_ports::NodePorts;
use kws_plugin_node_resources_fit::NodeResourcesFit;
use kws_plugin_node_unschedulable::NodeUnschedulable;
use kws_plugin_pod_topology_spread::PodTopologySpread;
use kws_plugin_sdk::{self as sdk, ExtensionPoint, Plugin, Runner};
use kws_plugin_taint_toleration::TaintToleration;
use kws_tests::plugins;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

// ---------------------------------------------------------------------------
// The cluster

/// Nodes `node-00` .. `node-47`.
const NODES: usize = 48;

/// A Node manifest named `node-NN` with the labels, taints and resources of
/// shape `shape`; shapes vary with the shape number's remainders, so that
/// every combination turns up somewhere.
fn node_yaml(name: usize, shape: usize) -> String {
    let i = shape;
    let mut labels = vec![
        format!("kubernetes.io/hostname: node-{name:02}"),
        format!(
            "topology.kubernetes.io/zone: zone-{}",
            ["a", "b", "c"][i % 3]
        ),
    ];
    match i % 4 {
        0 => labels.push("disktype: ssd".into()),
        1 => labels.push("disktype: hdd".into()),
        _ => {}
    }
    // A number for Gt and Lt, except a few nodes where it is not one or absent.
    if i % 11 == 5 {
        labels.push("example.com/cores: many".into());
    } else if i % 13 != 6 {
        labels.push(format!("example.com/cores: '{}'", (i % 8 + 1) * 2));
    }
    if i.is_multiple_of(6) {
        labels.push("gpu: 'true'".into());
    }
    if let Some(tier) = ["frontend", "backend", "batch"].get(i % 5) {
        labels.push(format!("tier: {tier}"));
    }
    if i.is_multiple_of(9) {
        labels.push("canary: ''".into());
    }
    let images = match i % 4 {
        3 => {
            "[{names: ['registry.example/app:v1', 'registry.example/app@sha256:0'], sizeBytes: 52428800}]"
        }
        1 => {
            "[{names: ['docker.io/library/nginx:1.27', 'nginx:1.27'], sizeBytes: 209715200},
              {names: ['registry.example/big:v2'], sizeBytes: 2147483648}]"
        }
        _ => "[]",
    };
    let taints: &[&str] = match i % 10 {
        1 => &["{key: dedicated, value: gpu, effect: NoSchedule}"],
        2 => &["{key: dedicated, value: infra, effect: NoExecute}"],
        3 => &["{key: spot, effect: PreferNoSchedule}"],
        4 => &[
            "{key: spot, effect: PreferNoSchedule}",
            "{key: team, value: ml, effect: PreferNoSchedule}",
        ],
        6 => &["{key: node.kubernetes.io/unschedulable, effect: NoSchedule}"],
        7 => &[
            "{key: dedicated, value: gpu, effect: PreferNoSchedule}",
            "{key: team, value: ai, effect: PreferNoSchedule}",
        ],
        8 => &[
            "{key: maintenance, effect: NoExecute}",
            "{key: spot, effect: PreferNoSchedule}",
        ],
        9 => &[
            "{key: dedicated, value: gpu, effect: NoSchedule}",
            "{key: dedicated, value: gpu, effect: PreferNoSchedule}",
            "{key: spot, effect: PreferNoSchedule}",
            "{key: team, value: ml, effect: PreferNoSchedule}",
        ],
        _ => &[],
    };
    let milli_cpu = [2000, 4000, 8000, 16000, 3500][i % 5];
    let memory_mi = [4096, 8192, 16384, 32768, 6000][i % 5];
    let mut extra = Vec::new();
    match i % 3 {
        0 => extra.push("ephemeral-storage: 50Gi".to_string()),
        1 => extra.push("ephemeral-storage: 10Gi".to_string()),
        _ => {}
    }
    if i.is_multiple_of(6) {
        extra.push(format!(
            "nvidia.com/gpu: '{}'",
            if i.is_multiple_of(12) { 4 } else { 2 }
        ));
    }
    if i % 5 == 1 {
        extra.push("example.com/foo: '3'".into());
    }
    if i % 8 == 2 {
        extra.push("hugepages-2Mi: 1Gi".into());
    }
    let extra = extra.join(", ");
    let pods = pod_slots(shape);
    let capacity = format!("{{cpu: {milli_cpu}m, memory: {memory_mi}Mi, pods: '{pods}', {extra}}}");
    // Odd shapes leave allocatable to default to capacity.
    let allocatable = match i % 2 {
        0 => format!(
            "\n  allocatable: {{cpu: {}m, memory: {}Mi, pods: '{pods}', {extra}}}",
            milli_cpu - 250,
            memory_mi - 512
        ),
        _ => String::new(),
    };
    format!(
        "---
apiVersion: v1
kind: Node
metadata:
  name: node-{name:02}
  labels: {{{labels}}}
  annotations: {{shape: '{shape}'}}
spec:
  unschedulable: {unschedulable}
  taints: [{taints}]
status:
  images: {images}
  capacity: {capacity}{allocatable}
",
        labels = labels.join(", "),
        unschedulable = i % 7 == 3,
        taints = taints.join(", "),
    )
}

fn pod_slots(shape: usize) -> usize {
    if shape % 9 == 4 { 3 } else { 110 }
}

/// How many pods are bound to a node of this shape: its every slot when it
/// has few.
fn bound_count(shape: usize) -> usize {
    match pod_slots(shape) {
        3 => 3,
        _ => shape % 4,
    }
}

/// The `j`th pod bound to `node-NN` (of shape `shape`). Beside their
/// requests they carry tolerations, pod affinity, spread constraints and
/// host ports, so that every record type crosses to both sides.
fn bound_pod_yaml(node: usize, shape: usize, j: usize) -> String {
    let spec = match j % 3 {
        0 => format!(
            "  tolerations: [{{key: dedicated, operator: Exists}}]
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {{matchLabels: {{app: app-0}}}}
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    nodeTaintsPolicy: Honor
    labelSelector: {{matchExpressions: [{{key: app, operator: In, values: [app-0]}}]}}
  containers:
  - name: c
    image: i
    resources: {{requests: {{cpu: {}m, memory: {}Mi, ephemeral-storage: 2Gi}}}}
",
            [300, 900, 1800][shape % 3],
            256 * (shape % 4 + 1)
        ),
        1 => format!(
            "  containers:
  - name: c
    image: i
    ports: [{{containerPort: 80, hostPort: 8080}}]
    resources: {{limits: {{{}}}}}
",
            if shape.is_multiple_of(6) {
                "nvidia.com/gpu: '1'"
            } else {
                ""
            }
        ),
        _ => "  initContainers:
  - {name: init, image: i, resources: {requests: {cpu: '2'}}}
  - {name: proxy, image: i, restartPolicy: Always, ports: [{containerPort: 9100, hostPort: 9100}]}
  containers: [{name: c, image: i, resources: {requests: {cpu: 1500m, memory: 2Gi}}}]
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: topology.kubernetes.io/zone
        labelSelector: {matchLabels: {avoid: app-2}}
        namespaceSelector: {matchLabels: {team: b}}
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app: app-0}}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 20
        podAffinityTerm:
          topologyKey: topology.kubernetes.io/zone
          labelSelector: {matchLabels: {app: app-1}}
"
        .to_string(),
    };
    format!(
        "---
apiVersion: v1
kind: Pod
metadata: {{name: bound-{node:02}-{j}, namespace: bound, labels: {{app: app-{j}}}}}
spec:
  nodeName: node-{node:02}
{spec}"
    )
}

fn parse(yaml: &str) -> manifest::Manifests {
    manifest::parse("components.yaml", yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Adds the namespaces, the nodes and the pods bound to them (by
/// `spec.nodeName`) to the cache.
fn add(cache: &mut Cache, yaml: &str) {
    let objects = parse(yaml);
    for namespace in &objects.namespaces {
        cache.set_namespace(namespace);
    }
    for node in objects.nodes {
        cache.set_node(Arc::new(node));
    }
    for pod in &objects.pods {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        cache.set_bound_pod(convert::pod(pod), node.expect("bound pods name their node"));
    }
}

/// The cluster both sides start from.
fn cluster() -> Cache {
    let mut yaml = String::from(
        "---
apiVersion: v1
kind: Namespace
metadata: {name: bound, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: pending, labels: {team: b}}
",
    );
    for i in 0..NODES {
        yaml += &node_yaml(i, i);
        for j in 0..bound_count(i) {
            yaml += &bound_pod_yaml(i, i, j);
        }
    }
    let mut cache = Cache::default();
    add(&mut cache, &yaml);
    cache
}

/// What happens to the cluster between the two comparisons.
fn churn(cache: &mut Cache) {
    // The first pod of node-01 .. node-11 goes away.
    for node in (1..12).filter(|&n| bound_count(n) > 0) {
        let pod = &parse(&bound_pod_yaml(node, node, 0)).pods[0];
        cache.remove_pod(&convert::pod(pod).uid);
    }
    // node-05 leaves; node-48 joins (and reuses its id); a pod arrives for
    // node-49 before its Node object does.
    cache.remove_node("node-05");
    let mut yaml = node_yaml(48, 9) + &bound_pod_yaml(48, 9, 1);
    yaml += &bound_pod_yaml(49, 6, 2);
    // node-10 takes other labels, taints and resources; node-20 is cordoned
    // and loses its taints; both get more pods.
    yaml += &node_yaml(10, 13);
    yaml += &node_yaml(20, 3);
    for j in 3..6 {
        yaml += &bound_pod_yaml(10, 13, j);
        yaml += &bound_pod_yaml(20, 3, j);
    }
    add(cache, &yaml);
    add(cache, &node_yaml(49, 6));
    // And the scheduler assumes a pod on node-12.
    let pod = &parse(&bound_pod_yaml(12, 12, 6)).pods[0];
    cache.assume(convert::pod(pod), "node-12").unwrap();
}

// ---------------------------------------------------------------------------
// Pending pods

/// A pod to schedule: the object (what `pod-json` serves the component) and
/// the record plugins get.
struct Pending {
    object: Arc<core::Pod>,
    record: wit::Pod,
}

/// Pods from `---`-separated documents that hold only `metadata` and
/// `spec`, in namespace `pending` unless they say otherwise; a pod that
/// lists no containers gets one, `c` of image `i` (most pods here differ
/// only in the rest of their spec).
/// Pending pods, one per document. A pod the apiserver would refuse (an
/// empty or contradictory node selector, a weight of 0) is kept, decoded and
/// defaulted without validation: the plugins must not trip on terms a real
/// cluster never sends them.
fn pending(docs: &str) -> Vec<Pending> {
    docs.split("\n---\n")
        .map(|doc| {
            let yaml = pod_manifest(doc);
            let pod = match manifest::parse("components.yaml", &yaml) {
                Ok(mut objects) => objects.pods.remove(0),
                Err(e) if e.message.contains(" is invalid: ") => {
                    let mut pod: core::Pod = serde_yaml::from_str(&yaml).unwrap();
                    defaults::pod(&mut pod);
                    // Distinct pods need distinct uids, which admission gives.
                    pod.metadata.uid = pod.metadata.name.clone();
                    pod
                }
                Err(e) => panic!("{e}\n{yaml}"),
            };
            Pending {
                record: convert::pod(&pod),
                object: Arc::new(pod),
            }
        })
        .collect()
}

/// A Pod manifest from a document of `metadata` and `spec`, with the
/// namespace and container `pending` gives when the document has none.
fn pod_manifest(doc: &str) -> String {
    use serde_yaml::{Mapping, Value};
    let mut pod: Mapping = serde_yaml::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
    for (field, default) in [
        ("metadata", "{namespace: pending}"),
        ("spec", "{containers: [{name: c, image: i}]}"),
    ] {
        let Value::Mapping(default) = serde_yaml::from_str(default).unwrap() else {
            unreachable!("a mapping");
        };
        let value = pod.entry(field.into()).or_insert(Value::Null);
        if value.is_null() {
            *value = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(given) = value else {
            panic!("{field} is not a mapping: {doc}");
        };
        for (key, value) in default {
            given.entry(key).or_insert(value);
        }
    }
    pod.insert("apiVersion".into(), "v1".into());
    pod.insert("kind".into(), "Pod".into());
    // As JSON, which YAML reads too: every string stays quoted, so that
    // `'yes'` is not read back as a boolean.
    serde_json::to_string(&pod).unwrap()
}

// ---------------------------------------------------------------------------
// The comparison

/// A host record as the SDK's type of the same WIT name, through JSON. Both
/// are generated from `wit/`, so the JSON must also come back unchanged:
/// nothing dropped or renamed on the way.
fn to_sdk<T: Serialize + ?Sized, U: Serialize + DeserializeOwned>(host: &T) -> U {
    let json = serde_json::to_value(host).expect("host records serialize");
    let sdk: U = serde_json::from_value(json.clone()).unwrap_or_else(|e| {
        panic!(
            "the host's {} does not read as the SDK's {}: {e}\n{json}",
            std::any::type_name::<T>(),
            std::any::type_name::<U>()
        )
    });
    let back = serde_json::to_value(&sdk).expect("SDK records serialize");
    assert_eq!(
        back,
        json,
        "the host's {} and the SDK's {} have different JSON shapes",
        std::any::type_name::<T>(),
        std::any::type_name::<U>()
    );
    sdk
}

/// The loaded component of a plugin, checked to implement what the native
/// type says it does.
fn component<P: Plugin>() -> Arc<LoadedPlugin> {
    let plugin = plugins()
        .iter()
        .find(|p| p.name() == P::NAME)
        .unwrap_or_else(|| panic!("no component named {}", P::NAME))
        .clone();
    let points: Vec<ExtensionPoint> = to_sdk(&plugin.metadata.extension_points);
    assert_eq!(
        points,
        P::EXTENSION_POINTS,
        "{}'s extension points",
        P::NAME
    );
    plugin
}

/// A component's Score or NormalizeScore answer in the native runner's
/// form: an error the plugin returned is its message; a fault (trap,
/// deadline) fails the test.
fn returned<T>(result: Result<T, PluginError>, context: &str) -> Result<T, String> {
    match result {
        Ok(value) => Ok(value),
        Err(PluginError::Failed { reason, .. }) => Err(reason),
        Err(e) => panic!("{context}: {e}"),
    }
}

/// What the comparisons came across, for each test to check that it
/// exercised what it meant to.
#[derive(Debug, Default)]
struct Seen {
    /// (pod, node) pairs compared, over both phases.
    pairs: usize,
    /// Each distinct rejection (`Code: reasons`) and how often it came.
    rejections: BTreeMap<String, usize>,
    scores: BTreeSet<i64>,
    normalized: BTreeSet<i64>,
    score_errors: BTreeSet<String>,
    /// Pods PreScore said Skip for.
    pre_score_skips: usize,
}

impl Seen {
    /// Asserts that each of `rejections` (`Code: reasons`) was seen.
    fn assert_rejected(&self, rejections: &[&str]) {
        for r in rejections {
            assert!(
                self.rejections.contains_key(*r),
                "never rejected with {r:?}; seen: {:#?}",
                self.rejections
            );
        }
    }
}

/// Runs every pod through plugin `P` as a component and natively, on the
/// cluster before and after [`churn`], with `args` as its `pluginConfig`.
fn compare<P: Plugin>(args: &str, pods: &[Pending]) -> Seen {
    let mut cache = cluster();
    let pool = PluginPool::new(component::<P>(), args.into(), PluginSettings::default(), 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut native = Runner::<P>::configured(args).unwrap_or_else(|e| panic!("{e}"));
    let Catchup::Full(changes) = cache.catchup(None) else {
        unreachable!("a runner that saw nothing gets the full state");
    };
    native.apply(to_sdk(&changes));

    same_usage(&native);
    let mut seen = Seen::default();
    let label = format!("{} with args `{args}`", P::NAME);
    let snapshot = cache.snapshot();
    check(
        &pool,
        &mut native,
        &cache,
        &snapshot,
        pods,
        &label,
        &mut seen,
    );

    let before = cache.seq();
    churn(&mut cache);
    match cache.catchup(Some(before)) {
        Catchup::Changes(changes) => native.apply(to_sdk(changes)),
        Catchup::Full(_) => unreachable!("the log holds every change since"),
    }
    let snapshot = cache.snapshot();
    assert_eq!(
        snapshot
            .nodes
            .iter()
            .find(|n| n.name == "node-48")
            .map(|n| n.id),
        Some(5),
        "node-48 reuses node-05's id"
    );
    same_usage(&native);
    let label = format!("{label}, after the cluster changed");
    check(
        &pool,
        &mut native,
        &cache,
        &snapshot,
        pods,
        &label,
        &mut seen,
    );
    assert_eq!(seen.pairs, pods.len() * (NODES + NODES + 1));
    seen
}

/// The usage the host's cache sent for each node is the one the SDK's
/// `testing::node_info` works out from the node's pods, so a plugin's unit
/// tests see the nodes the host sends (a plugin that reads no pods keeps
/// none, and is not asked).
fn same_usage<P: Plugin>(native: &Runner<P>) {
    if !P::READS_PODS {
        return;
    }
    let ports = |usage: &sdk::NodeUsage| {
        let mut ports: Vec<String> = usage.used_ports.iter().map(|p| format!("{p:?}")).collect();
        ports.sort();
        ports
    };
    for node in native.cluster().nodes() {
        let expected = sdk::testing::node_info(node.id, node.node.clone(), node.pods.clone()).usage;
        let name = &node.node.name;
        assert_eq!(
            node.usage.requested, expected.requested,
            "{name}: requested"
        );
        assert_eq!(
            node.usage.non_zero_requested, expected.non_zero_requested,
            "{name}: non-zero requested"
        );
        assert_eq!(node.usage.pod_count, expected.pod_count, "{name}: pods");
        assert_eq!(ports(&node.usage), ports(&expected), "{name}: host ports");
    }
}

/// One comparison of every pod over every node of `snapshot`.
fn check<P: Plugin>(
    pool: &PluginPool,
    native: &mut Runner<P>,
    cache: &Cache,
    snapshot: &Arc<Snapshot>,
    pods: &[Pending],
    label: &str,
    seen: &mut Seen,
) {
    let nodes: Vec<NodeId> = snapshot.nodes.iter().map(|n| n.id).collect();
    for pod in pods {
        let ctx = CallContext {
            cache: Some(cache),
            snapshot,
            pod: &pod.object,
            cycle: 0,
        };
        let record = &pod.record;
        let native_pod: sdk::Pod = to_sdk(record);
        let subject = format!("{label}: pod {}/{}", record.namespace, record.name);
        let at = |id: NodeId| {
            let node = snapshot.node(id).map_or("?", |n| n.name.as_str());
            format!("{subject}, node {node} (id {id})")
        };

        let mut filters = P::EXTENSION_POINTS.contains(&ExtensionPoint::Filter);
        if P::EXTENSION_POINTS.contains(&ExtensionPoint::PreFilter) {
            let component: sdk::PreFilterResult = to_sdk(
                &pool
                    .pre_filter(0, ctx, record)
                    .unwrap_or_else(|e| panic!("{subject}: {e}")),
            );
            let natively = native.pre_filter(0, &native_pod);
            assert_eq!(
                component, natively,
                "PreFilter: component (left) and native (right) disagree on {subject}"
            );
            let status = &natively.status;
            let code = format!("{:?}", status.code).replace("Code::", "");
            let key = format!("PreFilter {code}: {}", status.reasons.join(", "));
            *seen.rejections.entry(key).or_default() += 1;
            match status.code {
                sdk::Code::Success => {}
                sdk::Code::Skip => filters = false,
                // The pod is rejected: nothing else runs.
                _ => {
                    seen.pairs += nodes.len();
                    continue;
                }
            }
        }
        if !filters {
            // Filter does not run: every node passes.
            seen.pairs += nodes.len();
        } else {
            let component = by_node(
                to_sdk(
                    &pool
                        .filter(0, ctx, record, &nodes)
                        .unwrap_or_else(|e| panic!("{subject}: {e}")),
                ),
                &subject,
            );
            let natively = by_node(native.filter(0, &native_pod, &nodes), &subject);
            for &id in &nodes {
                assert_eq!(
                    component.get(&id),
                    natively.get(&id),
                    "Filter: component (left) and native (right) disagree on {} (None: the node passes)",
                    at(id)
                );
            }
            seen.pairs += nodes.len();
            for status in natively.values() {
                let code = format!("{:?}", status.code).replace("Code::", "");
                let key = format!("{code}: {}", status.reasons.join(", "));
                *seen.rejections.entry(key).or_default() += 1;
            }
        }

        if !P::EXTENSION_POINTS.contains(&ExtensionPoint::Score) {
            continue;
        }
        if P::EXTENSION_POINTS.contains(&ExtensionPoint::PreScore) {
            let component: sdk::Status = to_sdk(
                &pool
                    .pre_score(0, ctx, record, &nodes)
                    .unwrap_or_else(|e| panic!("{subject}: {e}")),
            );
            let natively = native.pre_score(0, &native_pod, &nodes);
            assert_eq!(
                component, natively,
                "PreScore: component (left) and native (right) disagree on {subject}"
            );
            match natively.code {
                sdk::Code::Success => {}
                sdk::Code::Skip => {
                    seen.pre_score_skips += 1;
                    continue;
                }
                _ => {
                    seen.score_errors.insert(natively.reasons.join(", "));
                    continue;
                }
            }
        }
        let component = returned(pool.score(0, ctx, record, &nodes), &subject);
        let natively = native.score(0, &native_pod, &nodes);
        same_scores("Score", &subject, &component, &natively, &nodes, at);
        let scores = match natively {
            Ok(scores) => scores,
            Err(error) => {
                seen.score_errors.insert(error);
                continue;
            }
        };
        seen.scores.extend(&scores);

        if !P::EXTENSION_POINTS.contains(&ExtensionPoint::NormalizeScore) {
            continue;
        }
        let component = returned(
            pool.normalize_score(0, ctx, record, &nodes, &scores),
            &subject,
        );
        let natively = native.normalize_scores(0, &native_pod, &nodes, scores);
        same_scores(
            "NormalizeScore",
            &subject,
            &component,
            &natively,
            &nodes,
            at,
        );
        seen.normalized.extend(natively.iter().flatten());
    }
}

/// Filter's answer by node; a node answered twice fails the test.
fn by_node(statuses: Vec<sdk::NodeStatus>, subject: &str) -> BTreeMap<NodeId, sdk::Status> {
    let count = statuses.len();
    let map: BTreeMap<_, _> = statuses.into_iter().map(|s| (s.node, s.status)).collect();
    assert_eq!(map.len(), count, "{subject}: two statuses for one node");
    map
}

fn same_scores(
    call: &str,
    subject: &str,
    component: &Result<Vec<i64>, String>,
    native: &Result<Vec<i64>, String>,
    nodes: &[NodeId],
    at: impl Fn(NodeId) -> String,
) {
    let (Ok(component), Ok(native)) = (component, native) else {
        assert_eq!(
            component, native,
            "{call}: component (left) and native (right) disagree on {subject}"
        );
        return;
    };
    assert_eq!(
        (component.len(), native.len()),
        (nodes.len(), nodes.len()),
        "{call}: one score per node, component and native, for {subject}"
    );
    for ((c, n), &id) in component.iter().zip(native).zip(nodes) {
        assert_eq!(
            c,
            n,
            "{call}: component (left) and native (right) disagree on {}",
            at(id)
        );
    }
}

// ---------------------------------------------------------------------------
// The plugins

#[test]
fn node_resources_fit() {
    let pods = pending(
        "
metadata: {name: no-requests}
---
metadata: {name: small}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: 100m, memory: 128Mi}}}]
---
metadata: {name: medium}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: 1500m, memory: 3Gi}}}]
---
metadata: {name: cpu-hungry}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: '12'}}}]
---
metadata: {name: memory-hungry}
spec:
  containers: [{name: c, image: i, resources: {requests: {memory: 20Gi}}}]
---
metadata: {name: too-big-everywhere}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: '64', memory: 128Gi, ephemeral-storage: 1Ti}}}]
---
metadata: {name: cpu-zero}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: '0', memory: 1Gi}}}]
---
metadata: {name: limits-only}
spec:
  containers: [{name: c, image: i, resources: {limits: {cpu: '1', memory: 1Gi}}}]
---
metadata: {name: several-containers}
spec:
  containers:
  - {name: a, image: i, resources: {requests: {cpu: 700m, memory: 1Gi}}}
  - {name: b, image: i, resources: {requests: {cpu: 900m}}}
  - {name: c, image: i}
---
metadata: {name: big-init}
spec:
  initContainers: [{name: init, image: i, resources: {requests: {cpu: '6', memory: 512Mi}}}]
  containers: [{name: c, image: i, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
---
metadata: {name: sidecar}
spec:
  initContainers:
  - {name: setup, image: i, resources: {requests: {cpu: '2'}}}
  - {name: proxy, image: i, restartPolicy: Always, resources: {requests: {cpu: 1500m, memory: 5Gi}}}
  - {name: migrate, image: i, resources: {requests: {cpu: '1', memory: 2Gi}}}
  containers: [{name: c, image: i, resources: {requests: {cpu: '1', memory: 1Gi}}}]
---
metadata: {name: overhead}
spec:
  overhead: {cpu: 250m, memory: 120Mi}
  containers: [{name: c, image: i, resources: {requests: {cpu: 3300m, memory: 2Gi}}}]
---
metadata: {name: one-gpu}
spec:
  containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: '1'}, requests: {cpu: 500m}}}]
---
metadata: {name: three-gpus}
spec:
  containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: '3', cpu: '2', memory: 4Gi}}}]
---
metadata: {name: gpus-in-init}
spec:
  initContainers: [{name: warm, image: i, resources: {limits: {nvidia.com/gpu: '2'}}}]
  containers: [{name: c, image: i, resources: {requests: {cpu: 200m}}}]
---
metadata: {name: foo-and-bar}
spec:
  containers: [{name: c, image: i, resources: {limits: {example.com/foo: '2', example.com/bar: '1'}}}]
---
metadata: {name: scratch-space}
spec:
  containers: [{name: c, image: i, resources: {requests: {ephemeral-storage: 20Gi, memory: 256Mi}}}]
---
metadata: {name: hugepages}
spec:
  containers: [{name: c, image: i, resources: {limits: {hugepages-2Mi: 512Mi, memory: 1Gi}, requests: {cpu: 250m}}}]
",
    );
    let least = compare::<NodeResourcesFit>("{}", &pods);
    least.assert_rejected(&[
        "Unschedulable: Too many pods",
        "Unschedulable: Insufficient cpu",
        "Unschedulable: Insufficient nvidia.com/gpu",
        "UnschedulableAndUnresolvable: Insufficient cpu",
        "UnschedulableAndUnresolvable: Insufficient memory",
        "UnschedulableAndUnresolvable: Insufficient cpu, Insufficient memory, Insufficient ephemeral-storage",
        "UnschedulableAndUnresolvable: Insufficient ephemeral-storage",
        "Unschedulable: Insufficient memory",
        "UnschedulableAndUnresolvable: Insufficient example.com/bar",
        "UnschedulableAndUnresolvable: Insufficient example.com/bar, Insufficient example.com/foo",
        "UnschedulableAndUnresolvable: Insufficient nvidia.com/gpu",
        "UnschedulableAndUnresolvable: Insufficient hugepages-2Mi",
    ]);
    assert!(least.scores.len() > 20, "{least:?}");

    let most = compare::<NodeResourcesFit>(
        r#"{"ignoredResourceGroups": ["example.com"],
            "scoringStrategy": {"type": "MostAllocated", "resources": [
              {"name": "cpu", "weight": 2}, {"name": "memory"},
              {"name": "nvidia.com/gpu", "weight": 5}, {"name": "ephemeral-storage", "weight": 1}]}}"#,
        &pods,
    );
    assert!(
        !most.rejections.keys().any(|r| r.contains("example.com")),
        "example.com resources are ignored: {most:?}"
    );
    assert!(most.scores.len() > 20, "{most:?}");

    let ratio = compare::<NodeResourcesFit>(
        r#"{"ignoredResources": ["example.com/bar"],
            "scoringStrategy": {"type": "RequestedToCapacityRatio",
              "resources": [{"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1},
                            {"name": "hugepages-2Mi", "weight": 2}],
              "requestedToCapacityRatio": {"shape": [
                {"utilization": 0, "score": 0}, {"utilization": 40, "score": 7},
                {"utilization": 100, "score": 3}]}}}"#,
        &pods,
    );
    ratio.assert_rejected(&["UnschedulableAndUnresolvable: Insufficient example.com/foo"]);
    assert!(ratio.scores.len() > 10, "{ratio:?}");
}

#[test]
fn node_affinity() {
    let pods = pending(
        "
metadata: {name: no-constraints}
---
metadata: {name: selector-zone}
spec:
  nodeSelector: {topology.kubernetes.io/zone: zone-a}
---
metadata: {name: selector-two-labels}
spec:
  nodeSelector: {topology.kubernetes.io/zone: zone-b, disktype: ssd}
---
metadata: {name: selector-empty-value}
spec:
  nodeSelector: {canary: ''}
---
metadata: {name: selector-missing-label}
spec:
  nodeSelector: {nowhere: 'yes'}
---
metadata: {name: in-and-not-in}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: topology.kubernetes.io/zone, operator: In, values: [zone-a, zone-c]}
          - {key: tier, operator: NotIn, values: [batch]}
---
metadata: {name: exists-and-does-not-exist}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: gpu, operator: Exists}
          - {key: disktype, operator: DoesNotExist}
---
metadata: {name: gt-and-lt}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: example.com/cores, operator: Gt, values: ['4']}
          - {key: example.com/cores, operator: Lt, values: ['14']}
---
metadata: {name: terms-ored}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: gpu, operator: Exists}]
        - matchExpressions:
          - {key: tier, operator: In, values: [frontend]}
          - {key: disktype, operator: In, values: [ssd]}
---
metadata: {name: selector-and-affinity}
spec:
  nodeSelector: {tier: backend}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: NotIn, values: [zone-b]}]
---
metadata: {name: node-names}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchFields: [{key: metadata.name, operator: In, values: [node-03]}]
        - matchFields: [{key: metadata.name, operator: NotIn, values: [node-04]}]
          matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [zone-b]}]
---
metadata: {name: node-names-conflict}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchFields:
          - {key: metadata.name, operator: In, values: [node-01, node-02]}
          - {key: metadata.name, operator: In, values: [node-03]}
---
metadata: {name: no-terms}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: []}
---
metadata: {name: empty-term-or-zone}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - {}
        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [zone-c]}]
---
metadata: {name: unparsable-terms}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: tier, operator: In, values: []}]
        - matchExpressions: [{key: example.com/cores, operator: Gt, values: [x]}]
        - matchFields: [{key: metadata.name, operator: Exists}]
        - matchFields: [{key: metadata.uid, operator: In, values: [node-07]}]
---
metadata: {name: preferred}
spec:
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 10, preference: {matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [zone-a]}]}}
      - {weight: 3, preference: {matchExpressions: [{key: disktype, operator: Exists}]}}
      - {weight: 7, preference: {matchExpressions: [{key: example.com/cores, operator: Gt, values: ['8']}]}}
      - {weight: 1, preference: {matchFields: [{key: metadata.name, operator: In, values: [node-05]}]}}
      - {weight: 0, preference: {matchExpressions: [{key: tier, operator: In, values: []}]}}
---
metadata: {name: preferred-and-required}
spec:
  nodeSelector: {gpu: 'true'}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: tier, operator: NotIn, values: [batch]}]
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 50, preference: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}
      - {weight: 20, preference: {matchExpressions: [{key: example.com/cores, operator: Lt, values: ['5']}]}}
      - {weight: 5, preference: {}}
---
metadata: {name: preferred-unparsable}
spec:
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 5, preference: {matchExpressions: [{key: tier, operator: Exists, values: [x]}]}}
",
    );
    let plain = compare::<NodeAffinity>("{}", &pods);
    plain.assert_rejected(&[
        "UnschedulableAndUnresolvable: node(s) didn't match Pod's node affinity/selector",
        "PreFilter UnschedulableAndUnresolvable: pod affinity terms conflict",
        "PreFilter Skip: ",
    ]);
    assert_eq!(plain.score_errors.len(), 1, "{plain:?}");
    assert!(plain.normalized.len() > 5, "{plain:?}");

    let added = compare::<NodeAffinity>(
        r#"{"addedAffinity": {
              "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "NotIn", "values": ["zone-c"]}]},
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-02"]}]}]},
              "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}},
                {"weight": 2, "preference": {"matchExpressions": [{"key": "example.com/cores", "operator": "Lt", "values": ["10"]}]}}]}}"#,
        &pods,
    );
    added.assert_rejected(&[
        "UnschedulableAndUnresolvable: node(s) didn't match scheduler-enforced node affinity",
        "UnschedulableAndUnresolvable: node(s) didn't match Pod's node affinity/selector",
    ]);
    assert!(added.normalized.len() > 5, "{added:?}");
}

#[test]
fn taint_toleration() {
    let pods = pending(
        "
metadata: {name: no-tolerations}
---
metadata: {name: gpu-equal}
spec:
  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]
---
metadata: {name: gpu-any-effect}
spec:
  tolerations: [{key: dedicated, value: gpu}]
---
metadata: {name: dedicated-exists-no-schedule}
spec:
  tolerations: [{key: dedicated, operator: Exists, effect: NoSchedule}]
---
metadata: {name: dedicated-exists}
spec:
  tolerations: [{key: dedicated, operator: Exists}]
---
metadata: {name: infra-no-execute}
spec:
  tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoExecute, tolerationSeconds: 60}]
---
metadata: {name: wrong-value}
spec:
  tolerations: [{key: dedicated, value: cpu, effect: NoSchedule}]
---
metadata: {name: wrong-effects}
spec:
  tolerations:
  - {key: dedicated, operator: Exists, effect: PreferNoSchedule}
  - {key: maintenance, operator: Exists, effect: NoSchedule}
---
metadata: {name: everything}
spec:
  tolerations: [{operator: Exists}]
---
metadata: {name: everything-preferred}
spec:
  tolerations: [{operator: Exists, effect: PreferNoSchedule}]
---
metadata: {name: every-no-schedule}
spec:
  tolerations: [{operator: Exists, effect: NoSchedule}]
---
metadata: {name: spot-preferred}
spec:
  tolerations: [{key: spot, operator: Exists, effect: PreferNoSchedule}]
---
metadata: {name: spot-empty-value}
spec:
  tolerations: [{key: spot, operator: Equal, effect: PreferNoSchedule}]
---
metadata: {name: team-ml}
spec:
  tolerations:
  - {key: team, value: ml, effect: PreferNoSchedule}
  - {key: dedicated, value: gpu}
---
metadata: {name: cordon-and-maintenance}
spec:
  tolerations:
  - {key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}
  - {key: maintenance, operator: Exists, effect: NoExecute}
---
metadata: {name: many}
spec:
  tolerations:
  - {key: dedicated, operator: Exists}
  - {key: maintenance, operator: Exists}
  - {key: node.kubernetes.io/unschedulable, operator: Exists}
  - {key: spot, operator: Exists, effect: PreferNoSchedule}
",
    );
    let seen = compare::<TaintToleration>("", &pods);
    seen.assert_rejected(&["UnschedulableAndUnresolvable: node(s) had untolerated taint(s)"]);
    assert_eq!(seen.scores, BTreeSet::from([0, 1, 2, 3]), "{seen:?}");
    assert!(seen.normalized.len() > 3, "{seen:?}");
}

#[test]
fn node_unschedulable() {
    let pods = pending(
        "
metadata: {name: no-tolerations}
---
metadata: {name: cordon-exists-no-schedule}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoSchedule}]
---
metadata: {name: cordon-exists}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists}]
---
metadata: {name: cordon-equal-empty}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, operator: Equal, effect: NoSchedule}]
---
metadata: {name: cordon-equal-true}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, value: 'true', effect: NoSchedule}]
---
metadata: {name: cordon-no-execute}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: NoExecute}]
---
metadata: {name: cordon-preferred}
spec:
  tolerations: [{key: node.kubernetes.io/unschedulable, operator: Exists, effect: PreferNoSchedule}]
---
metadata: {name: everything}
spec:
  tolerations: [{operator: Exists}]
---
metadata: {name: every-no-execute}
spec:
  tolerations: [{operator: Exists, effect: NoExecute}]
---
metadata: {name: every-no-schedule}
spec:
  tolerations: [{operator: Exists, effect: NoSchedule}]
---
metadata: {name: other-key}
spec:
  tolerations: [{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]
",
    );
    let seen = compare::<NodeUnschedulable>("{}", &pods);
    seen.assert_rejected(&["UnschedulableAndUnresolvable: node(s) were unschedulable"]);
}

#[test]
fn node_name() {
    // A pending pod has no `spec.nodeName`: the record carries the one a pod
    // would ask for. node-05 leaves and node-48 takes its id halfway.
    let names = [
        "", "node-00", "node-03", "node-17", "node-47", "node-05", "node-48", "node-99", "Node-01",
        "node-1", "node-01 ",
    ];
    let docs: Vec<String> = (0..names.len())
        .map(|i| format!("metadata: {{name: pinned-{i}}}"))
        .collect();
    let mut pods = pending(&docs.join("\n---\n"));
    for (pod, name) in pods.iter_mut().zip(names) {
        pod.record.node_name = name.to_string();
    }
    let seen = compare::<NodeName>("{}", &pods);
    seen.assert_rejected(&[
        "UnschedulableAndUnresolvable: node(s) didn't match the requested node name",
    ]);
}

#[test]
fn node_ports() {
    // Every third bound pod holds TCP 0.0.0.0:8080.
    let pods = pending(
        "
metadata: {name: no-ports}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]
---
metadata: {name: tcp-all}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80, hostPort: 8080}]}]
---
metadata: {name: tcp-specific}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80, hostPort: 8080, hostIP: 10.0.0.1}]}]
---
metadata: {name: udp}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80, hostPort: 8080, protocol: UDP}]}]
---
metadata: {name: sctp-other-port}
spec:
  containers: [{name: c, image: i, ports: [{containerPort: 80, hostPort: 9090, protocol: SCTP}]}]
---
metadata: {name: second-container}
spec:
  containers:
  - {name: a, image: i, ports: [{containerPort: 80, hostPort: 9000}]}
  - {name: b, image: i, ports: [{containerPort: 81, hostPort: 8080}]}
---
metadata: {name: sidecar}
spec:
  initContainers: [{name: s, image: i, restartPolicy: Always, ports: [{containerPort: 80, hostPort: 8080}]}]
---
metadata: {name: ordinary-init}
spec:
  initContainers: [{name: s, image: i, ports: [{containerPort: 80, hostPort: 8080}]}]
",
    );
    let seen = compare::<NodePorts>("{}", &pods);
    seen.assert_rejected(&[
        "PreFilter Skip: ",
        "Unschedulable: node(s) didn't have free ports for the requested pod ports",
    ]);
    // A pod with no host ports is skipped at PreFilter: every node passes.
    let rejected: usize = seen
        .rejections
        .iter()
        .filter(|(status, _)| !status.starts_with("PreFilter"))
        .map(|(_, count)| count)
        .sum();
    assert!(
        rejected < seen.pairs / 2,
        "most pods fit most nodes ({rejected} of {} rejected)",
        seen.pairs
    );
}

#[test]
fn balanced_allocation() {
    let pods = pending(
        "
metadata: {name: best-effort}
---
metadata: {name: cpu-only}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: 700m}}}]
---
metadata: {name: memory-only}
spec:
  containers: [{name: c, image: i, resources: {requests: {memory: 3Gi}}}]
---
metadata: {name: both}
spec:
  containers:
  - {name: a, image: i, resources: {requests: {cpu: 1500m, memory: 1Gi}}}
  - {name: b, image: i, resources: {requests: {cpu: 250m, memory: 5Gi}}}
---
metadata: {name: over-committing}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: '12', memory: 40Gi}}}]
---
metadata: {name: gpu-and-storage}
spec:
  containers: [{name: c, image: i, resources: {requests: {cpu: 100m, ephemeral-storage: 5Gi}, limits: {nvidia.com/gpu: '1'}}}]
---
metadata: {name: init-and-overhead}
spec:
  overhead: {cpu: 250m, memory: 120Mi}
  initContainers: [{name: init, image: i, resources: {requests: {cpu: '3', memory: 100Mi}}}]
  containers: [{name: c, image: i, resources: {requests: {cpu: 500m, memory: 2Gi}}}]
",
    );
    let seen = compare::<BalancedAllocation>("{}", &pods);
    assert_eq!(
        seen.pre_score_skips, 2,
        "best effort is skipped at PreScore"
    );
    assert!(seen.scores.len() >= 10, "varied scores: {:?}", seen.scores);
    let seen = compare::<BalancedAllocation>(
        r#"{"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"},
                          {"name": "nvidia.com/gpu", "weight": 1}]}"#,
        &pods,
    );
    assert!(seen.scores.len() >= 10, "varied scores: {:?}", seen.scores);
}

#[test]
fn image_locality() {
    // Nodes of shape 3 (mod 4) have registry.example/app:v1 (50Mi); shape 1
    // nginx:1.27 (200Mi, also as docker.io/library/nginx:1.27) and
    // registry.example/big:v2 (2Gi).
    let pods = pending(
        "
metadata: {name: app}
spec:
  containers: [{name: c, image: 'registry.example/app:v1'}]
---
metadata: {name: app-untagged}
spec:
  containers: [{name: c, image: registry.example/app}]
---
metadata: {name: app-digest}
spec:
  containers: [{name: c, image: 'registry.example/app@sha256:0'}]
---
metadata: {name: nginx-short-and-big}
spec:
  containers:
  - {name: a, image: 'nginx:1.27'}
  - {name: b, image: 'registry.example/big:v2'}
---
metadata: {name: init-big}
spec:
  initContainers: [{name: init, image: 'registry.example/big:v2'}]
  containers: [{name: c, image: 'docker.io/library/nginx:1.27'}]
---
metadata: {name: nothing-local}
spec:
  containers: [{name: c, image: 'nginx'}]
",
    );
    let seen = compare::<ImageLocality>("{}", &pods);
    assert!(seen.scores.contains(&0));
    assert!(
        seen.scores.iter().any(|s| *s > 0),
        "some node has some image: {:?}",
        seen.scores
    );
}

#[test]
fn pod_topology_spread() {
    let pods = pending(
        "
metadata: {namespace: bound, name: no-constraints, labels: {app: app-0}}
---
metadata: {namespace: bound, name: zone-hard, labels: {app: app-0}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: app-0}}}
---
metadata: {namespace: bound, name: host-hard-min-domains, labels: {app: app-1}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, minDomains: 60, labelSelector: {matchLabels: {app: app-1}}}
---
metadata: {namespace: bound, name: missing-key, labels: {app: app-0}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: disktype, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: app-0}}}
---
metadata: {namespace: bound, name: policies, labels: {app: app-0, tier: x}}
spec:
  nodeSelector: {tier: frontend}
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor, nodeAffinityPolicy: Ignore, matchLabelKeys: [tier], labelSelector: {matchExpressions: [{key: app, operator: Exists}]}}
---
metadata: {namespace: bound, name: soft-zone-and-host, labels: {app: app-0}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: app-0}}}
  - {maxSkew: 2, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchExpressions: [{key: app, operator: In, values: [app-0, app-1]}]}}
---
metadata: {namespace: bound, name: soft-missing-key, labels: {app: app-2}}
spec:
  topologySpreadConstraints:
  - {maxSkew: 1, topologyKey: tier, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: app-2}}}
",
    );
    let seen = compare::<PodTopologySpread>("{}", &pods);
    seen.assert_rejected(&[
        "PreFilter Skip: ",
        "Unschedulable: node(s) didn't match pod topology spread constraints",
        "UnschedulableAndUnresolvable: node(s) didn't match pod topology spread constraints (missing required label)",
    ]);
    assert!(seen.normalized.len() > 2, "{:?}", seen.normalized);
}

#[test]
fn inter_pod_affinity() {
    let pods = pending(
        "
metadata: {name: plain, labels: {app: app-9}}
---
metadata: {name: avoided, labels: {avoid: app-2}}
---
metadata: {name: near-app-1, labels: {app: app-9}}
spec:
  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: topology.kubernetes.io/zone
        labelSelector: {matchLabels: {app: app-1}}
        namespaces: [bound]
---
metadata: {name: first-of-group, labels: {group: g}}
spec:
  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: disktype
        labelSelector: {matchLabels: {group: g}}
---
metadata: {name: one-per-node, labels: {app: app-0}}
spec:
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app: app-0}}
        namespaceSelector: {matchLabels: {team: a}}
---
metadata: {name: preferences, labels: {app: app-0}}
spec:
  affinity:
    podAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 30
        podAffinityTerm:
          topologyKey: topology.kubernetes.io/zone
          labelSelector: {matchLabels: {app: app-1}}
          namespaceSelector: {}
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 50
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app: app-2}}
          namespaces: [bound]
",
    );
    let seen = compare::<InterPodAffinity>("{}", &pods);
    seen.assert_rejected(&[
        "PreFilter Skip: ",
        "UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules",
        "Unschedulable: node(s) didn't match pod anti-affinity rules",
        "Unschedulable: node(s) didn't satisfy existing pods anti-affinity rules",
    ]);
    assert!(seen.normalized.len() > 2, "{:?}", seen.normalized);
    compare::<InterPodAffinity>(
        r#"{"hardPodAffinityWeight": 5, "ignorePreferredTermsOfExistingPods": true}"#,
        &pods,
    );
}
