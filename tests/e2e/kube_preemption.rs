//! Preemption (DefaultPreemption, the default profile's PostFilter)
//! against a real kube-apiserver: a high-priority pod that fits nowhere
//! evicts the fewest, least important pods and is bound where they were; a
//! PodDisruptionBudget steers the choice to the node it allows;
//! `preemptionPolicy: Never` evicts nothing; and the same cluster gives the
//! same node and victims as the real kube-scheduler.
//!
//! The test cluster runs no kubelet, so a deleted pod that is bound stays
//! terminating for its grace period: the tests see the victims with their
//! `DisruptionTarget` condition and then delete them for good, as the
//! kubelet would once their containers stopped.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kws_host::config::Config;
use kws_tests::api::{OURS, events_for, eventually, node, node_name};
use kws_tests::cluster::{
    ClusterOptions, RunningScheduler, TestCluster, TokenUser, UpstreamOptions, UpstreamScheduler,
    grant_deploy_role,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// The priority classes the tests use: name, value, whether it never
/// preempts.
const CLASSES: [(&str, i32, bool); 5] = [
    ("low", 10, false),
    ("mid", 20, false),
    ("upper", 30, false),
    ("high", 1000, false),
    ("high-never", 1000, true),
];

async fn priority_classes(client: &kube::Client) {
    let api: Api<PriorityClass> = Api::all(client.clone());
    for (name, value, never) in CLASSES {
        let class: PriorityClass = serde_json::from_value(json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "preemptionPolicy": if never { "Never" } else { "PreemptLowerPriority" },
        }))
        .unwrap();
        api.create(&PostParams::default(), &class).await.unwrap();
    }
}

/// A pod already running on `node` (bound at creation, as if another
/// scheduler had placed it), of priority class `class`, labelled
/// `app: <name without its digits>`.
fn running(name: &str, node: &str, class: &str, cpu: &str) -> Pod {
    let app = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    let mut pod = pending(name, "", class, cpu);
    pod.metadata.labels = Some([("app".to_string(), app.to_string())].into());
    let spec = pod.spec.as_mut().expect("a pod spec");
    spec.scheduler_name = None;
    spec.node_name = Some(node.to_string());
    pod
}

/// A pending pod for `scheduler` of priority class `class`.
fn pending(name: &str, scheduler: &str, class: &str, cpu: &str) -> Pod {
    let mut pod = kws_tests::api::pod(name, scheduler, cpu);
    pod.spec.as_mut().expect("a pod spec").priority_class_name = Some(class.to_string());
    pod
}

/// A budget that allows no disruption of the pods labelled `app`. (No
/// disruption controller runs here, so its status says 0 disruptions
/// allowed whatever its spec: what preemption counts.)
fn budget(app: &str) -> PodDisruptionBudget {
    serde_json::from_value(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": format!("{app}-budget"), "namespace": "default"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": app}}},
    }))
    .unwrap()
}

/// A cluster of `nodes` (name, cores) with the priority classes, the
/// `running` pods (name, node, class, cpu), each started a second after the
/// one before (victims are ranked by start time), and `budgets` (apps).
async fn cluster(
    nodes: &[(&str, &str)],
    pods: &[(&str, &str, &str, &str)],
    budgets: &[&str],
) -> (TestCluster, Api<Pod>, Api<Event>) {
    cluster_with(ClusterOptions::default(), nodes, pods, budgets).await
}

/// [`cluster`], started with `options`.
async fn cluster_with(
    options: ClusterOptions,
    nodes: &[(&str, &str)],
    pods: &[(&str, &str, &str, &str)],
    budgets: &[&str],
) -> (TestCluster, Api<Pod>, Api<Event>) {
    let cluster = TestCluster::start_with(options);
    let client = cluster.client().await;
    priority_classes(&client).await;
    let node_api: Api<Node> = Api::all(client.clone());
    for (name, cpu) in nodes {
        node_api
            .create(&PostParams::default(), &node(name, cpu))
            .await
            .unwrap();
    }
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (i, (name, node, class, cpu)) in pods.iter().enumerate() {
        pod_api
            .create(&PostParams::default(), &running(name, node, class, cpu))
            .await
            .unwrap();
        let started = format!("2026-01-01T00:00:{:02}Z", i + 1);
        let status = json!({"status": {"phase": "Running", "startTime": started}});
        pod_api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap();
    }
    let budget_api: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    for app in budgets {
        budget_api
            .create(&PostParams::default(), &budget(app))
            .await
            .unwrap();
    }
    (cluster, pod_api, Api::namespaced(client, "default"))
}

/// The pods being deleted (the victims, while no kubelet finishes them).
async fn terminating(pods: &Api<Pod>) -> BTreeSet<String> {
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
        .filter_map(|p| p.metadata.name)
        .collect()
}

/// What the kubelet would do once the victims' containers stopped.
async fn finish_terminating(pods: &Api<Pod>) {
    for name in terminating(pods).await {
        let _ = pods
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
    }
}

/// The preemptor's nominated node, once it has one.
async fn nominated(pods: &Api<Pod>, name: &str) -> String {
    eventually(
        &format!("{name} to be nominated"),
        Duration::from_secs(30),
        || async {
            pods.get(name)
                .await
                .ok()?
                .status?
                .nominated_node_name
                .filter(|n| !n.is_empty())
        },
    )
    .await
}

/// Waits for the preemption of `preemptor` to start and settle: its
/// nominated node and the pods being deleted.
async fn preemption(pods: &Api<Pod>, preemptor: &str) -> (String, BTreeSet<String>) {
    let node = nominated(pods, preemptor).await;
    let victims = eventually("victims to be deleted", Duration::from_secs(30), || async {
        let victims = terminating(pods).await;
        (!victims.is_empty()).then_some(victims)
    })
    .await;
    // Every victim's delete is in flight at once; let the last land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = terminating(pods).await;
    assert!(settled.is_superset(&victims));
    (node, settled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_pod_preempts_the_least_it_needs_and_is_bound_there() {
    // node-1 holds two pods of priority 10, node-2 one of priority 20: the
    // victim is on node-1, and only one of its pods goes (the one started
    // later; the other is reprieved).
    let (_cluster, pods, events) = cluster(
        &[("node-1", "2"), ("node-2", "2")],
        &[
            ("low-1", "node-1", "low", "1"),
            ("low-2", "node-1", "low", "1"),
            ("mid-1", "node-2", "mid", "2"),
        ],
        &[],
    )
    .await;
    let _scheduler = RunningScheduler::start(&_cluster, Config::default());
    pods.create(
        &PostParams::default(),
        &pending("urgent", OURS, "high", "1"),
    )
    .await
    .unwrap();

    let (node, victims) = preemption(&pods, "urgent").await;
    assert_eq!(node, "node-1");
    assert_eq!(victims, BTreeSet::from(["low-2".to_string()]));
    let victim = pods.get("low-2").await.unwrap();
    let condition = victim
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("the victim carries the DisruptionTarget condition");
    assert_eq!(condition.status, "True");
    assert_eq!(condition.reason.as_deref(), Some("PreemptionByScheduler"));
    assert_eq!(
        condition.message.as_deref(),
        Some("kube-wasm-scheduler: preempting to accommodate a higher priority pod")
    );
    let uid = pods.get("urgent").await.unwrap().metadata.uid.unwrap();
    let preempted = events_for(&events, "low-2")
        .await
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Preempted"))
        .expect("a Preempted event on the victim");
    assert_eq!(
        preempted.note.as_deref(),
        Some(format!("Preempted by pod {uid} on node node-1").as_str())
    );
    // Later attempts (while the victim terminates) have notes of their
    // own; the one that preempted says so.
    let notes: Vec<String> = events_for(&events, "urgent")
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes.iter().any(|n| n
            == "0/2 nodes are available: 2 Insufficient cpu. preemption: found a potential placement for pod on node node-1, preempting 1 victims"),
        "{notes:?}"
    );
    // While its victim terminates the pod waits (it would not preempt
    // again); once the victim is gone it is bound where it was nominated.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(node_name(&pods.get("urgent").await.unwrap()), None);
    assert_eq!(terminating(&pods).await, victims, "nothing else is evicted");
    finish_terminating(&pods).await;
    let bound = eventually("urgent to be bound", Duration::from_secs(30), || async {
        node_name(&pods.get("urgent").await.ok()?)
    })
    .await;
    assert_eq!(bound, "node-1");
    assert!(pods.get("low-1").await.is_ok(), "the reprieved pod stays");
    assert!(pods.get("mid-1").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disruption_budget_steers_preemption_to_the_node_it_allows() {
    // Without the budget node-1's pod (priority 10) would be the victim;
    // the budget forbids it, so node-2's (priority 20) goes instead. The
    // scheduler runs with the role of deploy/rbac.yaml and nothing else:
    // it is enough to watch budgets and carry out a preemption.
    let user = TokenUser {
        token: "kws-scheduler-token".to_string(),
        name: "kws-scheduler".to_string(),
        groups: Vec::new(),
    };
    let options = ClusterOptions {
        authorization: Some("RBAC".to_string()),
        users: vec![user.clone()],
        ..ClusterOptions::default()
    };
    let (cluster, pods, _events) = cluster_with(
        options,
        &[("node-1", "2"), ("node-2", "2")],
        &[
            ("guarded-1", "node-1", "low", "2"),
            ("free-1", "node-2", "mid", "2"),
        ],
        &["guarded"],
    )
    .await;
    let kubeconfig = cluster.kubeconfig_for(&user);
    grant_deploy_role(&cluster.client().await, &user, &kubeconfig).await;
    let _scheduler = RunningScheduler::start_with_kubeconfig(&kubeconfig, Config::default());
    pods.create(
        &PostParams::default(),
        &pending("urgent", OURS, "high", "2"),
    )
    .await
    .unwrap();
    let (node, victims) = preemption(&pods, "urgent").await;
    assert_eq!(node, "node-2");
    assert_eq!(victims, BTreeSet::from(["free-1".to_string()]));
    finish_terminating(&pods).await;
    let bound = eventually("urgent to be bound", Duration::from_secs(30), || async {
        node_name(&pods.get("urgent").await.ok()?)
    })
    .await;
    assert_eq!(bound, "node-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preemption_policy_never_evicts_nothing() {
    let (_cluster, pods, events) =
        cluster(&[("node-1", "2")], &[("low-1", "node-1", "low", "2")], &[]).await;
    let _scheduler = RunningScheduler::start(&_cluster, Config::default());
    pods.create(
        &PostParams::default(),
        &pending("polite", OURS, "high-never", "1"),
    )
    .await
    .unwrap();
    let note = eventually(
        "polite's FailedScheduling event",
        Duration::from_secs(30),
        || async {
            events_for(&events, "polite")
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedScheduling"))?
                .note
        },
    )
    .await;
    assert_eq!(
        note,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(terminating(&pods).await.is_empty());
    let polite = pods.get("polite").await.unwrap();
    assert_eq!(node_name(&polite), None);
    assert_eq!(
        polite.status.and_then(|s| s.nominated_node_name),
        None,
        "a pod that may not preempt is nominated nowhere"
    );
}

/// The parity scenario: three nodes of 4 cores, and a pod of 3 cores.
/// node-1 would lose `upper-1` (priority 30) and `low-2` (`low-1` is
/// reprieved), node-2 `mid-1` (20) and `low-3`, node-3 `guarded-1`, whom a
/// budget protects: the budget rules node-3 out first, then the lower
/// highest victim priority picks node-2.
const PARITY_NODES: [(&str, &str); 3] = [("node-1", "4"), ("node-2", "4"), ("node-3", "4")];
const PARITY_PODS: [(&str, &str, &str, &str); 6] = [
    ("low-1", "node-1", "low", "1"),
    ("low-2", "node-1", "low", "1"),
    ("upper-1", "node-1", "upper", "2"),
    ("low-3", "node-2", "low", "2"),
    ("mid-1", "node-2", "mid", "2"),
    ("guarded-1", "node-3", "low", "4"),
];

async fn parity_run(scheduler: &str) -> (String, BTreeSet<String>) {
    let (cluster, pods, _events) = cluster(&PARITY_NODES, &PARITY_PODS, &["guarded"]).await;
    let ours = scheduler == OURS;
    let _ours = ours.then(|| RunningScheduler::start(&cluster, Config::default()));
    let _theirs = (!ours).then(|| UpstreamScheduler::start(&cluster, &UpstreamOptions::default()));
    pods.create(
        &PostParams::default(),
        &pending("urgent", scheduler, "high", "3"),
    )
    .await
    .unwrap();
    preemption(&pods, "urgent").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_scheduler_chooses_the_same_node_and_victims() {
    let theirs = parity_run("default-scheduler").await;
    let ours = parity_run(OURS).await;
    assert_eq!(ours, theirs);
    assert_eq!(
        ours,
        (
            "node-2".to_string(),
            BTreeSet::from(["low-3".to_string(), "mid-1".to_string()])
        )
    );
}
