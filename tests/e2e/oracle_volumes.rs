//! The oracle (`tests/oracle`) against answers derived by hand from
//! kube-scheduler v1.37.2's code, for the volume plugins (VolumeRestrictions,
//! NodeVolumeLimits, VolumeBinding, VolumeZone) and DynamicResources on
//! `tests/parity/oracle-cases/volumes-and-devices.yaml`: before our plugins
//! are compared with the oracle, the oracle itself must be right, i.e. its
//! listers, assume caches and DRA manager must see the scenario's objects
//! as kube-scheduler's informers would.
//!
//! The cluster: node-a (zone-a, CSINode limit 1 for ebs.csi.example.com,
//! already used by a pod's volume; devices gpu-0 a100 and gpu-1 h100),
//! node-b (zone-b, limit 2; its one device, an h100, allocated to claim
//! `taken` of a bound pod; a pod holds the ReadWriteOncePod claim) and
//! node-c (zone-a, limit 2, no devices; a pod uses GCE disk `disk-1`).

use kws_tests::scenario_parity::Oracle;
use kws_tests::workspace;
use serde_json::Value;

/// kube-scheduler's default profile's filter and score plugins, without
/// DefaultPreemption (its dry run is compared elsewhere).
const PLUGINS: &[&str] = &[
    "NodeName",
    "NodeUnschedulable",
    "TaintToleration",
    "NodeAffinity",
    "NodePorts",
    "NodeResourcesFit",
    "VolumeRestrictions",
    "NodeVolumeLimits",
    "VolumeBinding",
    "VolumeZone",
    "PodTopologySpread",
    "InterPodAffinity",
    "DynamicResources",
    "NodeResourcesBalancedAllocation",
    "ImageLocality",
];

const UNRESOLVABLE: &str = "UnschedulableAndUnresolvable";
const BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
const MAX_VOLUMES: &str = "node(s) exceed max volume count";
const NO_ALLOCATION: &str = "cannot allocate all claims";

/// What a node must get: feasible, or rejected by a plugin with a code and
/// one reason.
#[derive(Debug, PartialEq)]
enum Verdict {
    Feasible,
    Rejected(String, String, String),
}

fn rejected(plugin: &str, code: &str, reason: &str) -> Verdict {
    Verdict::Rejected(plugin.into(), code.into(), reason.into())
}

fn verdicts(answer: &Value) -> Vec<(String, Verdict)> {
    answer["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            let name = node["name"].as_str().unwrap().to_string();
            if node["feasible"] == true {
                return (name, Verdict::Feasible);
            }
            let last = node["filters"].as_array().unwrap().last().unwrap();
            let reasons: Vec<&str> = last["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            (
                name,
                Verdict::Rejected(
                    last["plugin"].as_str().unwrap().into(),
                    last["code"].as_str().unwrap().into(),
                    reasons.join("; "),
                ),
            )
        })
        .collect()
}

fn ask(oracle: &mut Oracle, pod: &str) -> Value {
    let file = workspace().join("tests/parity/oracle-cases/volumes-and-devices.yaml");
    let plugins: Vec<String> = PLUGINS.iter().map(|p| p.to_string()).collect();
    oracle
        .ask(&Oracle::request(&file, &format!("default/{pod}"), &plugins))
        .unwrap_or_else(|e| panic!("{pod}: {e}"))
}

fn expect_nodes(oracle: &mut Oracle, pod: &str, a: Verdict, b: Verdict, c: Verdict) -> Value {
    let answer = ask(oracle, pod);
    assert_eq!(answer["preFilter"]["code"], "Success", "{pod}: {answer}");
    let want = vec![
        ("node-a".into(), a),
        ("node-b".into(), b),
        ("node-c".into(), c),
    ];
    assert_eq!(verdicts(&answer), want, "{pod}");
    answer
}

fn expect_prefilter(oracle: &mut Oracle, pod: &str, plugin: &str, code: &str, reason: &str) {
    let answer = ask(oracle, pod);
    let pre = &answer["preFilter"];
    assert_eq!(
        (&pre["plugin"], &pre["code"], &pre["reasons"]),
        (
            &Value::from(plugin),
            &Value::from(code),
            &Value::from(vec![reason])
        ),
        "{pod}"
    );
}

/// The points a plugin adds on a node (normalised score times weight).
fn contribution(answer: &Value, node: &str, plugin: &str) -> Option<i64> {
    let node = answer["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == node)?;
    let score = node["scores"]
        .as_array()?
        .iter()
        .find(|s| s["plugin"] == plugin)?;
    Some(score["normalized"].as_i64()? * score["weight"].as_i64()?)
}

#[test]
fn the_oracle_answers_volume_cases_as_derived_by_hand() {
    use Verdict::Feasible;
    let mut oracle = Oracle::start();
    // VolumeBinding: the claim's class has no provisioner, and the one
    // Available PV large enough is local to node-a (FindMatchingVolume).
    let local = expect_nodes(
        &mut oracle,
        "wants-local",
        Feasible,
        rejected("VolumeBinding", UNRESOLVABLE, BIND_CONFLICT),
        rejected("VolumeBinding", UNRESOLVABLE, BIND_CONFLICT),
    );
    // Its Score (StorageCapacityScoring, beta and on in v1.37): 5Gi of a
    // 10Gi volume is 50% used, which the default shape (0% -> 0,
    // 100% -> 10, times 10) scores 50, weight 1.
    assert_eq!(contribution(&local, "node-a", "VolumeBinding"), Some(50));
    // A bound claim: its PV's node affinity (checkBoundClaims).
    expect_nodes(
        &mut oracle,
        "wants-bound-local",
        Feasible,
        rejected(
            "VolumeBinding",
            UNRESOLVABLE,
            "node(s) didn't match PersistentVolume's node affinity",
        ),
        rejected(
            "VolumeBinding",
            UNRESOLVABLE,
            "node(s) didn't match PersistentVolume's node affinity",
        ),
    );
    // WaitForFirstConsumer with a CSI provisioner whose class allows
    // zone-a only: node-b fails the class's allowedTopologies; node-a is
    // first rejected by NodeVolumeLimits, which counts an unbound claim
    // under its class's provisioner (1 in use + 1 > 1).
    expect_nodes(
        &mut oracle,
        "wants-provisioned",
        rejected("NodeVolumeLimits", "Unschedulable", MAX_VOLUMES),
        rejected("VolumeBinding", UNRESOLVABLE, BIND_CONFLICT),
        Feasible,
    );
    // A bound zonal volume (zone-b label): VolumeZone rejects the zone-a
    // nodes; on node-a NodeVolumeLimits, which runs first, already did.
    expect_nodes(
        &mut oracle,
        "wants-zonal",
        rejected("NodeVolumeLimits", "Unschedulable", MAX_VOLUMES),
        Feasible,
        rejected(
            "VolumeZone",
            UNRESOLVABLE,
            "node(s) had no available volume zone",
        ),
    );
    // NodeVolumeLimits alone: node-a's one CSI attachment is taken.
    expect_nodes(
        &mut oracle,
        "over-limit",
        rejected("NodeVolumeLimits", "Unschedulable", MAX_VOLUMES),
        Feasible,
        Feasible,
    );
    // VolumeRestrictions: a ReadWriteOncePod claim another pod uses makes
    // every node Unschedulable (preemption could free it).
    let rwop = "node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod";
    expect_nodes(
        &mut oracle,
        "second-rwop-user",
        rejected("VolumeRestrictions", "Unschedulable", rwop),
        rejected("VolumeRestrictions", "Unschedulable", rwop),
        rejected("VolumeRestrictions", "Unschedulable", rwop),
    );
    // VolumeRestrictions' disk conflict: the same GCE disk read-write.
    expect_nodes(
        &mut oracle,
        "same-disk",
        Feasible,
        Feasible,
        rejected(
            "VolumeRestrictions",
            "Unschedulable",
            "node(s) had no available disk",
        ),
    );
    expect_prefilter(
        &mut oracle,
        "immediate-unbound",
        "VolumeBinding",
        UNRESOLVABLE,
        "pod has unbound immediate PersistentVolumeClaims",
    );
    // VolumeRestrictions' PreFilter runs before VolumeBinding's.
    expect_prefilter(
        &mut oracle,
        "missing-claim",
        "VolumeRestrictions",
        UNRESOLVABLE,
        "persistentvolumeclaim \"nowhere\" not found",
    );
}

#[test]
fn the_oracle_answers_dra_cases_as_derived_by_hand() {
    use Verdict::Feasible;
    let mut oracle = Oracle::start();
    // One device of the class: node-b's only one is allocated to `taken`,
    // node-c publishes none.
    expect_nodes(
        &mut oracle,
        "wants-gpu",
        Feasible,
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
    );
    // A CEL selector for an h100: node-a's gpu-1; node-b's is taken.
    expect_nodes(
        &mut oracle,
        "wants-h100",
        Feasible,
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
    );
    // Three devices: no node has that many free.
    expect_nodes(
        &mut oracle,
        "wants-three",
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
        rejected("DynamicResources", UNRESOLVABLE, NO_ALLOCATION),
    );
    // An allocated claim shared with its pod: only where its allocation's
    // node selector points.
    let elsewhere = "resourceclaim not available on the node";
    expect_nodes(
        &mut oracle,
        "shares-taken",
        rejected("DynamicResources", UNRESOLVABLE, elsewhere),
        Feasible,
        rejected("DynamicResources", UNRESOLVABLE, elsewhere),
    );
}

/// The generator's storage scenarios are ones kube-scheduler reads (the
/// oracle decodes strictly and defaults as the apiserver does), and each of
/// the five plugins decides something in them: rejects a node, or fails
/// the pod at PreFilter, in some scenarios, while in others a node fits.
#[test]
fn generated_storage_scenarios_reach_each_volume_plugin_and_dynamic_resources() {
    use kws_tests::scenario::{Features, Shape, generate_shaped};
    const COUNT: u64 = 400;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle-storage");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plugins: Vec<String> = PLUGINS.iter().map(|p| p.to_string()).collect();
    let mut oracle = Oracle::start();
    let mut deciding = std::collections::BTreeMap::<String, usize>::new();
    let mut placed = 0;
    for seed in 0..COUNT {
        let scenario = generate_shaped(seed, Features::DEFAULT, Shape::Storage);
        let file = dir.join(format!("seed-{seed}.yaml"));
        std::fs::write(&file, &scenario.yaml).unwrap();
        let answer = oracle
            .ask(&Oracle::request(&file, &scenario.pod, &plugins))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", scenario.yaml));
        let mut here = std::collections::BTreeSet::new();
        if answer["preFilter"]["code"] != "Success" {
            // No node was filtered.
            here.insert(answer["preFilter"]["plugin"].as_str().unwrap().to_string());
            *deciding.entry(here.pop_first().unwrap()).or_default() += 1;
            continue;
        }
        for (_, verdict) in verdicts(&answer) {
            match verdict {
                Verdict::Feasible => {}
                Verdict::Rejected(plugin, _, _) => {
                    here.insert(plugin);
                }
            }
        }
        if answer["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["feasible"] == true)
        {
            placed += 1;
        }
        for plugin in here {
            *deciding.entry(plugin).or_default() += 1;
        }
    }
    eprintln!(
        "of {COUNT} storage scenarios, {placed} place the pod; deciding plugins: {deciding:?}"
    );
    for plugin in [
        "VolumeRestrictions",
        "NodeVolumeLimits",
        "VolumeBinding",
        "VolumeZone",
        "DynamicResources",
    ] {
        let count = deciding.get(plugin).copied().unwrap_or(0);
        assert!(
            count * 50 >= COUNT as usize,
            "{plugin} decides in only {count} of {COUNT} storage scenarios: {deciding:?}"
        );
    }
    // About a third place the pod (132 of 400 when written): volumes and
    // devices on 1 to 8 nodes often fit nowhere.
    assert!(
        placed * 4 >= COUNT as usize,
        "only {placed} of {COUNT} storage scenarios place the pod"
    );
}
