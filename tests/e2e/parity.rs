//! Parity with kube-scheduler, proven against its own code: random
//! scenarios (`kws_tests::scenario`), the hand-written cases of
//! `tests/parity/cases` and the README's example go through our `explain`
//! and through the oracle (`tests/oracle`: kube-scheduler v1.37.2's
//! framework and default plugins), restricted to the plugins our default
//! profile has; the PreFilter verdict, feasible nodes, the reason for each
//! rejected node, the plugins that ran (Skip included) and each weighted
//! total must be the same.
//!
//! Crowded scenarios (`Shape::Crowded`: small full nodes, priorities,
//! PodDisruptionBudgets) compare DefaultPreemption's dry run as well: the
//! node it picks, its victims and its message. Storage scenarios
//! (`Shape::Storage`) add volumes and devices.
//!
//! `KWS_PARITY_SCENARIOS` sets how many scenarios (default 2000),
//! `KWS_PARITY_PREEMPTION_SCENARIOS` how many crowded ones (default 1000),
//! `KWS_PARITY_STORAGE_SCENARIOS` how many storage ones (default 2000),
//! `KWS_PARITY_SEED` the first seed (default 1). The scenarios are written
//! to `<target>/tmp/parity/`; a failure prints the commands that replay it.

use kws_tests::scenario::{self, Features, Shape};
use kws_tests::scenario_parity::{
    Oracle, compare, compared_plugins, host_explain, replay_commands,
};
use kws_tests::{component_dir, plugins, workspace};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const DEFAULT_SCENARIOS: u64 = 2000;
const DEFAULT_PREEMPTION_SCENARIOS: u64 = 1000;
const DEFAULT_STORAGE_SCENARIOS: u64 = 2000;
/// What storage scenarios hold: everything, volumes and devices.
const STORAGE_FEATURES: Features = Features::DEFAULT;
const DEFAULT_SEED: u64 = 1;
/// Threads running our side (the oracle is a process of its own).
const HOST_THREADS: usize = 2;
/// Disagreeing cases, and differences per case, printed in full; the rest
/// are counted.
const SHOWN: usize = 10;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

/// A fresh directory under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("parity")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// One comparison to make: a scenario file and a pending pod in it.
struct Case {
    file: PathBuf,
    pod: String,
}

/// The cases that disagree and their differences, and our explanations
/// (those that did not fail). The oracle answers in its own process while
/// our explanations run on [`HOST_THREADS`] threads.
fn differences(cases: &[Case]) -> (Vec<(&Case, Vec<String>)>, Vec<serde_json::Value>) {
    let compared = compared_plugins();
    let plugin_dir = component_dir("plugins").display().to_string();
    let mut oracle = Oracle::start();
    let mut input = oracle.take_input();
    let requests: Vec<String> = cases
        .iter()
        .map(|c| Oracle::request(&c.file, &c.pod, &compared))
        .collect();
    let next = AtomicUsize::new(0);
    let (theirs, ours) = std::thread::scope(|scope| {
        scope.spawn(move || {
            for request in requests {
                writeln!(input, "{request}").expect("the oracle takes requests");
            }
        });
        let answers = scope.spawn(|| {
            let started = Instant::now();
            let answers: Vec<_> = cases.iter().map(|_| oracle.answer()).collect();
            eprintln!(
                "oracle: {} answers in {:.1?}",
                answers.len(),
                started.elapsed()
            );
            answers
        });
        let workers: Vec<_> = (0..HOST_THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(case) = cases.get(i) else {
                            return done;
                        };
                        done.push((
                            i,
                            host_explain(&case.file, &case.pod, plugins(), &plugin_dir),
                        ));
                    }
                })
            })
            .collect();
        let mut ours: Vec<_> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("an explain worker panicked"))
            .collect();
        ours.sort_by_key(|(i, _)| *i);
        (answers.join().expect("the oracle reader panicked"), ours)
    });
    let mut failures = Vec::new();
    let mut explained = Vec::new();
    for ((case, theirs), (_, ours)) in cases.iter().zip(theirs).zip(ours) {
        let differences = match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                let differences = compare(&ours, &theirs);
                explained.push(ours);
                differences
            }
            (Err(e), _) => vec![format!("ours failed: {e}")],
            (_, Err(e)) => vec![format!("kube-scheduler failed: {e}")],
        };
        if !differences.is_empty() {
            failures.push((case, differences));
        }
    }
    (failures, explained)
}

/// Panics if any case disagrees: the differences of the first [`SHOWN`]
/// cases with the commands that replay them, and with `with_yaml` the first
/// failing scenario itself.
fn report(what: &str, total: usize, found: &[(&Case, Vec<String>)], with_yaml: bool) {
    let Some((first, _)) = found.first() else {
        return;
    };
    let compared = compared_plugins();
    let mut message = format!(
        "{} of {total} {what} disagree with kube-scheduler:\n\n",
        found.len()
    );
    for (case, differences) in found.iter().take(SHOWN) {
        let mut lines = differences[..differences.len().min(SHOWN)].join("\n  ");
        if differences.len() > SHOWN {
            lines.push_str(&format!("\n  ... and {} more", differences.len() - SHOWN));
        }
        message.push_str(&format!(
            "{} pod {}:\n  {lines}\nreplay:\n{}\n\n",
            case.file.display(),
            case.pod,
            replay_commands(&case.file, &case.pod, &compared)
        ));
    }
    if found.len() > SHOWN {
        message.push_str(&format!("... and {} more\n", found.len() - SHOWN));
    }
    if with_yaml {
        let yaml = std::fs::read_to_string(&first.file).unwrap_or_default();
        message.push_str(&format!(
            "\nthe first scenario, {}:\n{yaml}",
            first.file.display()
        ));
    }
    panic!("{message}");
}

/// Writes the scenarios of seeds `first..first + count` into `dir`.
fn generated_cases(dir: &Path, first: u64, count: u64, shape: Shape) -> Vec<Case> {
    generated_cases_with(dir, first, count, shape, Features::DEFAULT)
}

fn generated_cases_with(
    dir: &Path,
    first: u64,
    count: u64,
    shape: Shape,
    features: Features,
) -> Vec<Case> {
    (first..first + count)
        .map(|seed| {
            let scenario = scenario::generate_shaped(seed, features, shape);
            let file = dir.join(format!("seed-{seed}.yaml"));
            std::fs::write(&file, &scenario.yaml)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            Case {
                file,
                pod: scenario.pod,
            }
        })
        .collect()
}

#[test]
fn generated_scenarios_match_kube_scheduler() {
    let count = env_number("KWS_PARITY_SCENARIOS", DEFAULT_SCENARIOS);
    let first = env_number("KWS_PARITY_SEED", DEFAULT_SEED);
    let started = Instant::now();
    let cases = generated_cases(&scratch("generated"), first, count, Shape::Spread);
    let (found, _) = differences(&cases);
    eprintln!(
        "{count} generated scenarios (seeds {first}..{}) compared in {:.1?}",
        first + count,
        started.elapsed()
    );
    report("generated scenarios", cases.len(), &found, true);
}

/// Crowded clusters where the incoming pod, of higher priority than most
/// bound pods, seldom fits: kube-scheduler's DefaultPreemption (its own
/// Evaluator, dry run only) and ours pick the same node and the same
/// victims, with the same message, on every one. About two in five
/// preempt and as many find no candidate (the rest fit somewhere).
#[test]
fn generated_preemption_scenarios_match_kube_scheduler() {
    let count = env_number(
        "KWS_PARITY_PREEMPTION_SCENARIOS",
        DEFAULT_PREEMPTION_SCENARIOS,
    );
    let first = env_number("KWS_PARITY_SEED", DEFAULT_SEED);
    let started = Instant::now();
    let cases = generated_cases(&scratch("preemption"), first, count, Shape::Crowded);
    let (found, explained) = differences(&cases);
    eprintln!(
        "{count} crowded scenarios (seeds {first}..{}) compared in {:.1?}",
        first + count,
        started.elapsed()
    );
    report("crowded scenarios", cases.len(), &found, true);
    // What was compared: how many scenarios preempted, and how many
    // reached the dry run without a candidate.
    let (mut preempting, mut unhelpful) = (0, 0);
    for ours in &explained {
        match ours["preemption"]["node"].as_str() {
            Some("") => unhelpful += 1,
            Some(_) => preempting += 1,
            None => {}
        }
    }
    eprintln!(
        "of {count} crowded scenarios, {preempting} preempt and {unhelpful} find no candidate"
    );
    assert!(
        preempting * 3 >= cases.len() && unhelpful * 10 >= cases.len(),
        "of {} crowded scenarios only {preempting} preempt and {unhelpful} find no candidate: the generator no longer makes preemption choose",
        cases.len()
    );
}

/// Storage scenarios ([`Shape::Storage`]): volumes and devices for the
/// volume plugins and DynamicResources, beside the placement plugins.
#[test]
fn generated_storage_scenarios_match_kube_scheduler() {
    let count = env_number("KWS_PARITY_STORAGE_SCENARIOS", DEFAULT_STORAGE_SCENARIOS);
    let first = env_number("KWS_PARITY_SEED", DEFAULT_SEED);
    let started = Instant::now();
    let cases = generated_cases_with(
        &scratch("storage"),
        first,
        count,
        Shape::Storage,
        STORAGE_FEATURES,
    );
    let (found, _) = differences(&cases);
    eprintln!(
        "{count} storage scenarios (seeds {first}..{}) compared in {:.1?}",
        first + count,
        started.elapsed()
    );
    report("storage scenarios", cases.len(), &found, true);
}

/// Every pending pod of every `tests/parity/cases/*.yaml`, and of the
/// README's example cluster.
#[test]
fn hand_written_cases_match_kube_scheduler() {
    let dir = workspace().join("tests/parity/cases");
    let mut files = vec![workspace().join("examples/cluster.yaml")];
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        files.push(entry.unwrap().path());
    }
    let mut cases = Vec::new();
    for file in files {
        if file.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let objects = kws_host::model::manifest::read_file(&file).unwrap_or_else(|e| panic!("{e}"));
        for pod in &objects.pods {
            let spec = pod.spec.as_ref();
            if spec
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(str::is_empty)
            {
                cases.push(Case {
                    file: file.clone(),
                    pod: format!(
                        "{}/{}",
                        pod.metadata.namespace.as_deref().unwrap_or("default"),
                        pod.metadata.name.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
    }
    assert!(
        cases.len() >= 5,
        "only {} cases in {}",
        cases.len(),
        dir.display()
    );
    let (found, _) = differences(&cases);
    report("hand-written cases", cases.len(), &found, false);
}

/// `explain` on the README's example: the numbers the README shows.
#[test]
fn explain_reports_every_node_of_the_example() {
    let objects = kws_host::model::manifest::read_file(&workspace().join("examples/cluster.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = component_dir("plugins").display().to_string();
    let config = kws_host::config::Config::default();
    let web = kws_host::explain::explain(&objects, &config, plugins(), &dir, "default/web")
        .unwrap_or_else(|e| panic!("{e}"));
    let text = web.to_text();
    assert!(
        text.contains("node-b  TaintToleration: node(s) had untolerated taint(s)"),
        "{text}"
    );
    assert!(
        text.contains("node-c  NodeUnschedulable: node(s) were unschedulable"),
        "{text}"
    );
    // The totals grow as score plugins join the default profile; the
    // winner stays (kube-scheduler's full profile picks node-a too).
    assert!(text.contains("\ngoes to node-a (total "), "{text}");
    let too_big = kws_host::explain::explain(&objects, &config, plugins(), &dir, "default/too-big")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        too_big.to_text().ends_with("unschedulable: 0/4 nodes are available: 1 node(s) had untolerated taint(s), 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.\n"),
        "{}",
        too_big.to_text()
    );
    let bound = kws_host::explain::explain(&objects, &config, plugins(), &dir, "default/nowhere");
    assert!(bound.is_err_and(|e| e.to_string().contains("no pod default/nowhere")),);
}

/// How many generated scenarios the real apiserver checks (server-side dry
/// run of every object).
const APISERVER_SCENARIOS: u64 = 100;

/// Creates a namespaced object with `dryRun=All`, in the namespace it names
/// (`default` when none).
async fn dry_run_create<K>(client: &kube::Client, object: serde_json::Value) -> kube::Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let typed: K = serde_json::from_value(object).expect("generated objects decode");
    let dry_run = kube::api::PostParams {
        dry_run: true,
        ..kube::api::PostParams::default()
    };
    kube::Api::<K>::namespaced(client.clone(), &namespace)
        .create(&dry_run, &typed)
        .await
        .map(drop)
}

/// [`dry_run_create`] for a cluster-scoped kind.
async fn dry_run_create_cluster<K>(
    client: &kube::Client,
    object: serde_json::Value,
) -> kube::Result<()>
where
    K: kube::Resource<Scope = k8s_openapi::ClusterResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let typed: K = serde_json::from_value(object).expect("generated objects decode");
    let dry_run = kube::api::PostParams {
        dry_run: true,
        ..kube::api::PostParams::default()
    };
    kube::Api::<K>::all(client.clone())
        .create(&dry_run, &typed)
        .await
        .map(drop)
}

/// Creates a ResourceClaim for real, under a name of its own (claims of
/// different seeds share names), then writes the generated status with
/// `dryRun=All`. A create drops the status, and the allocated claims of the
/// storage scenarios carry one (the allocation and `reservedFor` the
/// scheduler would have written), which the apiserver validates only on
/// the status subresource.
async fn create_claim_with_status(
    client: &kube::Client,
    mut object: serde_json::Value,
    seed: u64,
) -> kube::Result<()> {
    use k8s_openapi::api::resource::v1::{ResourceClaim, ResourceClaimStatus};
    let status: ResourceClaimStatus =
        serde_json::from_value(object["status"].take()).expect("generated statuses decode");
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = format!(
        "{}-seed-{seed}",
        object["metadata"]["name"].as_str().unwrap_or_default()
    );
    object["metadata"]["name"] = serde_json::Value::String(name.clone());
    let claim: ResourceClaim = serde_json::from_value(object).expect("generated objects decode");
    let api = kube::Api::<ResourceClaim>::namespaced(client.clone(), &namespace);
    let mut created = api
        .create(&kube::api::PostParams::default(), &claim)
        .await?;
    created.status = Some(status);
    let dry_run = kube::api::PostParams {
        dry_run: true,
        ..kube::api::PostParams::default()
    };
    api.replace_status(&name, &dry_run, &created)
        .await
        .map(drop)
}

/// The generator's objects are ones a real kube-apiserver (v1.37.2, from
/// the test cluster) accepts: every object of the first scenarios, spread,
/// crowded and storage, is created with `dryRun=All`, which runs defaulting,
/// admission and validation without storing anything; a ResourceClaim with
/// a status is created and its status written (dry run) as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_scenarios_are_accepted_by_the_apiserver() {
    use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
    use k8s_openapi::api::core::v1::{
        Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController,
        Service,
    };
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceSlice};
    use k8s_openapi::api::scheduling::v1::PriorityClass;
    use k8s_openapi::api::storage::v1::{
        CSIDriver, CSINode, CSIStorageCapacity, StorageClass, VolumeAttachment,
    };
    use kube::Api;
    use kube::api::PostParams;
    let cluster = kws_tests::cluster::TestCluster::start();
    let client = cluster.client().await;
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut namespaces_made = std::collections::HashSet::new();
    let mut classes_made = std::collections::HashSet::new();
    let mut refused = Vec::new();
    let mut checked = 0;
    let mut claim_statuses = 0;
    let seeds = DEFAULT_SEED..DEFAULT_SEED + APISERVER_SCENARIOS;
    let shaped = seeds
        .clone()
        .map(|seed| (seed, Shape::Spread))
        .chain(seeds.clone().map(|seed| (seed, Shape::Crowded)))
        .chain(seeds.map(|seed| (seed, Shape::Storage)));
    for (seed, shape) in shaped {
        let scenario = scenario::generate_shaped(seed, Features::DEFAULT, shape);
        for document in serde_yaml::Deserializer::from_str(&scenario.yaml) {
            let object: serde_json::Value =
                serde::Deserialize::deserialize(document).expect("generated YAML parses");
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let result = match object["kind"].as_str() {
                Some("Namespace") => {
                    // Pods need their namespace to exist: create it for real once.
                    if name == "default" || !namespaces_made.insert(name.clone()) {
                        continue;
                    }
                    let namespace: Namespace = serde_json::from_value(object).unwrap();
                    Api::<Namespace>::all(client.clone())
                        .create(&PostParams::default(), &namespace)
                        .await
                        .map(drop)
                }
                Some("PriorityClass") => {
                    // Pods name them: create each for real once.
                    if !classes_made.insert(name.clone()) {
                        continue;
                    }
                    let class: PriorityClass = serde_json::from_value(object).unwrap();
                    Api::<PriorityClass>::all(client.clone())
                        .create(&PostParams::default(), &class)
                        .await
                        .map(drop)
                }
                Some("PodDisruptionBudget") => {
                    dry_run_create::<PodDisruptionBudget>(&client, object).await
                }
                Some("Node") => {
                    let node: Node = serde_json::from_value(object).unwrap();
                    Api::<Node>::all(client.clone())
                        .create(&dry_run, &node)
                        .await
                        .map(drop)
                }
                Some("Pod") => dry_run_create::<Pod>(&client, object).await,
                Some("Service") => dry_run_create::<Service>(&client, object).await,
                Some("ReplicationController") => {
                    dry_run_create::<ReplicationController>(&client, object).await
                }
                Some("ReplicaSet") => dry_run_create::<ReplicaSet>(&client, object).await,
                Some("StatefulSet") => dry_run_create::<StatefulSet>(&client, object).await,
                Some("StorageClass") => {
                    dry_run_create_cluster::<StorageClass>(&client, object).await
                }
                Some("PersistentVolume") => {
                    dry_run_create_cluster::<PersistentVolume>(&client, object).await
                }
                Some("PersistentVolumeClaim") => {
                    dry_run_create::<PersistentVolumeClaim>(&client, object).await
                }
                Some("CSINode") => dry_run_create_cluster::<CSINode>(&client, object).await,
                Some("CSIDriver") => dry_run_create_cluster::<CSIDriver>(&client, object).await,
                Some("VolumeAttachment") => {
                    dry_run_create_cluster::<VolumeAttachment>(&client, object).await
                }
                Some("CSIStorageCapacity") => {
                    dry_run_create::<CSIStorageCapacity>(&client, object).await
                }
                Some("DeviceClass") => dry_run_create_cluster::<DeviceClass>(&client, object).await,
                Some("ResourceSlice") => {
                    dry_run_create_cluster::<ResourceSlice>(&client, object).await
                }
                Some("ResourceClaim") if !object["status"].is_null() => {
                    claim_statuses += 1;
                    create_claim_with_status(&client, object, seed).await
                }
                Some("ResourceClaim") => dry_run_create::<ResourceClaim>(&client, object).await,
                other => panic!("seed {seed}: unexpected kind {other:?}"),
            };
            checked += 1;
            if let Err(error) = result {
                refused.push(format!("seed {seed} ({shape:?}): {name}: {error}"));
            }
        }
    }
    assert!(
        refused.is_empty(),
        "the apiserver refused {} of {checked} generated objects:\n{}",
        refused.len(),
        refused.join("\n")
    );
    assert!(
        claim_statuses > 0,
        "no generated ResourceClaim had a status: the allocated claims' statuses went unchecked"
    );
}
