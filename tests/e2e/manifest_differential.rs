//! The manifest reader against the real apiserver (v1.37.2): valid Pods,
//! Nodes, Namespaces and PriorityClasses mutated field by field (see
//! `kws_tests::manifest_mutations`) are each given to our reader and
//! created with `dryRun=All&fieldValidation=Strict` (what `kubectl create
//! --dry-run=server` sends), and both must accept or both refuse.
//!
//! `KWS_DIFFERENTIAL_MUTATIONS` sets how many random mutations run (2000 by
//! default) and `KWS_DIFFERENTIAL_SEED` their seed (18 by default); a
//! failure prints the seed and the mutation to replay it.
//!
//! YAML itself (a byte order mark, merge keys, `.nan`, numbers where
//! strings are expected) is compared with `kubectl create --dry-run=server`
//! on a few files, in [`yaml_files_are_read_as_kubectl_reads_them`].
//!
//! Where the two differ on purpose, the difference is listed in
//! [`EXCEPTIONS`] with its reason, and [`documented_exceptions_still_hold`]
//! checks that each still happens, so that a fix upstream or here shows.

use futures::StreamExt;
use kube::Client;
use kws_host::model::manifest;
use kws_tests::cluster::TestCluster;
use kws_tests::manifest_mutations::{self, Kind, Mutation, NAMESPACE};
use serde_json::{Value, json};
use std::time::Instant;

const DEFAULT_MUTATIONS: usize = 2000;
const DEFAULT_SEED: u64 = 18;
/// Dry runs in flight at once: enough to keep the apiserver busy, few
/// enough not to starve a shared machine.
const CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
enum Verdict {
    Accepted,
    Refused(String),
}

impl Verdict {
    fn accepted(&self) -> bool {
        matches!(self, Verdict::Accepted)
    }

    fn message(&self) -> &str {
        match self {
            Verdict::Accepted => "",
            Verdict::Refused(message) => message,
        }
    }
}

/// A known difference between the reader and the apiserver.
struct Exception {
    name: &'static str,
    reason: &'static str,
    /// Whether a disagreement (ours, the apiserver's) is this one.
    applies: fn(&Mutation, &Verdict, &Verdict) -> bool,
}

const EXCEPTIONS: &[Exception] = &[
    Exception {
        name: "namespace that does not exist",
        reason: "a cluster file need not declare the namespaces its pods use (the embedded cluster has them all); the apiserver's NamespaceLifecycle admission refuses a pod in a namespace it does not hold",
        applies: |m, ours, theirs| {
            m.kind == Kind::Pod
                && ours.accepted()
                && theirs.message().contains("namespaces \"")
                && theirs.message().contains("not found")
        },
    },
    Exception {
        name: "null map value or list item",
        reason: "the apiserver stores the zero value (\"\", 0) for a null in a map or list; the reader refuses it as a value of the wrong type (nobody writes `app: null` to mean an empty label)",
        applies: |_, ours, theirs| {
            theirs.accepted() && ours.message().contains("invalid type: null")
        },
    },
    Exception {
        name: "whole float for an integer",
        reason: "kubectl converts YAML to JSON through float64 and prints 8080.0 as 8080, so a cluster file may write a port as 8080.0; the reader does the same, while JSON sent to the apiserver as is keeps the fraction and is refused",
        applies: |_, ours, theirs| {
            ours.accepted() && theirs.message().contains("cannot unmarshal number")
        },
    },
];

/// Posts `object` as a dry-run create of `kind`.
async fn dry_run(client: &Client, kind: Kind, object: &Value) -> Verdict {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(NAMESPACE);
    let encoded: String = namespace
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!(
        "{}?dryRun=All&fieldValidation=Strict",
        kind.collection(&encoded)
    );
    let request = http::Request::post(url)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(object).unwrap())
        .unwrap();
    match client.request_text(request).await {
        Ok(_) => Verdict::Accepted,
        Err(kube::Error::Api(status)) => Verdict::Refused(status.message.clone()),
        Err(e) => panic!("dry run of {object} failed: {e}"),
    }
}

/// Our reader's verdict on `object` in a file after the prerequisites.
fn ours(object: &Value) -> Verdict {
    let mut documents: Vec<String> = manifest_mutations::prerequisites()
        .iter()
        .map(|(_, o)| o.to_string())
        .collect();
    documents.push(object.to_string());
    match manifest::parse("mutation", &documents.join("\n---\n")) {
        Ok(_) => Verdict::Accepted,
        Err(e) => Verdict::Refused(e.message),
    }
}

/// A cluster holding the prerequisites, and a client for it.
async fn cluster() -> (TestCluster, Client) {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    for (kind, object) in manifest_mutations::prerequisites() {
        let url = kind.collection(NAMESPACE);
        let request = http::Request::post(url)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&object).unwrap())
            .unwrap();
        client.request_text(request).await.unwrap();
    }
    (cluster, client)
}

/// Both verdicts of every mutation, in order.
async fn judge(client: &Client, mutations: &[Mutation]) -> Vec<(Verdict, Verdict)> {
    let theirs: Vec<Verdict> = futures::stream::iter(mutations)
        .map(|m| dry_run(client, m.kind, &m.object))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    mutations
        .iter()
        .map(|m| ours(&m.object))
        .zip(theirs)
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")))
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reader_accepts_exactly_what_the_apiserver_accepts() {
    let (_cluster, client) = cluster().await;
    let seed = env_number("KWS_DIFFERENTIAL_SEED", DEFAULT_SEED);
    let count = env_number("KWS_DIFFERENTIAL_MUTATIONS", DEFAULT_MUTATIONS as u64) as usize;
    let mut mutations = manifest_mutations::issue_cases();
    let issue_cases = mutations.len();
    for kind in [Kind::Pod, Kind::Node, Kind::Namespace, Kind::PriorityClass] {
        mutations.push(Mutation {
            kind,
            description: "the base object".to_string(),
            object: manifest_mutations::base(kind),
        });
    }
    mutations.extend(manifest_mutations::generate(seed, count));
    let started = Instant::now();
    let verdicts = judge(&client, &mutations).await;
    let elapsed = started.elapsed();

    let mut mismatches = Vec::new();
    let mut excepted = vec![0usize; EXCEPTIONS.len()];
    let mut accepted = 0;
    for (i, (m, (ours, theirs))) in mutations.iter().zip(&verdicts).enumerate() {
        accepted += usize::from(theirs.accepted());
        if ours.accepted() == theirs.accepted() {
            continue;
        }
        match EXCEPTIONS.iter().position(|e| (e.applies)(m, ours, theirs)) {
            Some(e) => excepted[e] += 1,
            None => mismatches.push(format!(
                "#{i} {:?} {}:\n  ours: {:?}\n  apiserver: {:?}\n  object: {}",
                m.kind, m.description, ours, theirs, m.object
            )),
        }
    }
    eprintln!(
        "{} objects ({issue_cases} from issue #18, {count} random from seed {seed}) judged in {:.1} s: the apiserver accepted {accepted}; documented exceptions: {}",
        mutations.len(),
        elapsed.as_secs_f64(),
        EXCEPTIONS
            .iter()
            .zip(&excepted)
            .map(|(e, n)| format!("{} {n}", e.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} objects judged differently (seed {seed}):\n{}",
        mismatches.len(),
        mutations.len(),
        mismatches
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The mutations exercise both answers, not just one.
    assert!(accepted * 10 > mutations.len() && accepted * 10 < mutations.len() * 9);
}

/// Each documented exception, shown on one object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_exceptions_still_hold() {
    let (_cluster, client) = cluster().await;
    let mut pod_in_other_namespace = manifest_mutations::base(Kind::Pod);
    pod_in_other_namespace["metadata"]["namespace"] = json!("elsewhere");
    let mut null_label = manifest_mutations::base(Kind::Pod);
    null_label["metadata"]["labels"]["app"] = Value::Null;
    let mut whole_float_port = manifest_mutations::base(Kind::Pod);
    whole_float_port["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(80.0);
    let cases = [
        (EXCEPTIONS[0].name, pod_in_other_namespace),
        (EXCEPTIONS[1].name, null_label),
        (EXCEPTIONS[2].name, whole_float_port),
    ];
    let mutations: Vec<Mutation> = cases
        .iter()
        .map(|(name, object)| Mutation {
            kind: Kind::Pod,
            description: name.to_string(),
            object: object.clone(),
        })
        .collect();
    let verdicts = judge(&client, &mutations).await;
    for ((exception, m), (ours, theirs)) in EXCEPTIONS.iter().zip(&mutations).zip(&verdicts) {
        assert!(
            ours.accepted() != theirs.accepted() && (exception.applies)(m, ours, theirs),
            "the exception \"{}\" ({}) no longer holds:\n  ours: {ours:?}\n  apiserver: {theirs:?}",
            exception.name,
            exception.reason
        );
    }
}

/// Files whose YAML, not their objects, is the question: each is read by
/// us and by `kubectl create --dry-run=server -f`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_files_are_read_as_kubectl_reads_them() {
    let (cluster, _client) = cluster().await;
    let pod = |spec: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: yaml-pod, namespace: {NAMESPACE}}}\nspec:\n  containers:\n  - name: c\n    image: i\n{spec}"
        )
    };
    let cases = [
        ("a byte order mark", format!("\u{feff}{}", pod(""))),
        (
            "merge keys",
            "apiVersion: v1\nkind: List\nitems:\n- &node\n  apiVersion: v1\n  kind: Node\n  metadata: {name: yaml-a}\n- <<: *node\n  metadata: {name: yaml-b}\n".to_string(),
        ),
        ("cpu .nan", pod("    resources: {requests: {cpu: .nan}}\n")),
        ("cpu 1e100 unquoted", pod("    resources: {requests: {cpu: 1e100}}\n")),
        ("a port written 80.0", pod("    ports: [{containerPort: 80.0}]\n")),
        ("a port written 80.5", pod("    ports: [{containerPort: 80.5}]\n")),
        ("a number as a label key", pod("").replace("namespace:", "labels: {1: x}, namespace:")),
        ("a number as a name", pod("").replace("name: c", "name: 1")),
        ("a List whose items is a map", "apiVersion: v1\nkind: List\nitems: {a: 1}\n".to_string()),
        ("only a comment", "# nothing\n".to_string()),
        ("a timestamp-like string", pod("  nodeSelector: {day: 2026-12-03}\n")),
        ("yes for a string", pod("  nodeSelector: {gpu: yes}\n")),
        ("on for a string", pod("  nodeSelector: {gpu: on}\n")),
        ("an octal number for a string", pod("  nodeSelector: {mode: 0755}\n")),
        ("quoted yes", pod("  nodeSelector: {gpu: 'yes'}\n")),
        ("a node named n", "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n".to_string()),
        ("y as a label key", pod("").replace("namespace:", "labels: {y: x}, namespace:")),
        ("a repeated key", pod("").replace("namespace:", "labels: {a: x, a: '-'}, namespace:")),
        ("a hex number for a string", pod("  nodeSelector: {id: 0x1F}\n")),
        ("underscores in a port", pod("    ports: [{containerPort: 8_080}]\n")),
    ];
    let dir = std::env::temp_dir().join(format!("kws-yaml-differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut mismatches = Vec::new();
    for (i, (name, text)) in cases.iter().enumerate() {
        let file = dir.join(format!("case-{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let output = cluster.kubectl(&[
            "create".as_ref(),
            "--dry-run=server".as_ref(),
            "-f".as_ref(),
            file.as_os_str(),
        ]);
        let kubectl = output.status.success();
        let ours = manifest::parse("case", text);
        if kubectl != ours.is_ok() {
            mismatches.push(format!(
                "{name}: kubectl {}: {}{}\n  ours: {ours:?}",
                if kubectl { "accepted" } else { "refused" },
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
