//! kube-wasm-scheduler against a real kube-apiserver when things go wrong
//! around it: pods deleted under it, the apiserver restarting, a node
//! deleted between decision and bind, and the least privilege that
//! `deploy/rbac.yaml` grants.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};
use kws_host::config::Config;
use kws_tests::api::{
    ONE_NODE_OUT_OF_CPU, OURS, create, event_about, event_counts, events_for, eventually, node,
    node_name, occurrences, pod, unschedulable,
};
use kws_tests::cluster::{RunningScheduler, TestCluster, client_for, start_as_deployed};
use std::collections::HashMap;
use std::time::Duration;

/// Retries after a failure come within a second, so a pod stuck in a retry
/// loop shows it within the few seconds a test watches.
fn quick_retries() -> Config {
    Config {
        pod_initial_backoff: Duration::from_secs(1),
        pod_max_backoff: Duration::from_secs(1),
        ..Config::default()
    }
}

/// Deletes now, without a grace period (no kubelet runs to finish a
/// graceful deletion of a bound pod).
fn at_once() -> DeleteParams {
    DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    }
}

/// Occurrences of `reason` events about each of `names`.
async fn counts_for(events: &Api<Event>, reason: &str, names: &[&str]) -> Vec<usize> {
    let counts = event_counts(events, reason).await;
    names
        .iter()
        .map(|n| counts.get(*n).copied().unwrap_or(0))
        .collect()
}

/// Waits until `name` is bound and returns the node.
async fn bound(pods: &Api<Pod>, name: &str) -> String {
    kws_tests::api::bound(pods, name, Duration::from_secs(120)).await
}

/// Acceptance point 1, a pod deleted while it waits in the queue: no error
/// loop, and no FailedScheduling events keep appearing for it. Two ways to
/// be deleted: at once (`gone`), or marked deleted and kept by a finalizer
/// (`held`, as a Job's pod is until the job controller lets go of it), which
/// kube-scheduler never schedules and the apiserver refuses to bind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_deleted_while_queued_get_no_further_attempts() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("small", "1")).await;
    let scheduler = RunningScheduler::start(&cluster, quick_retries());

    // Neither fits on the only node.
    create(&pods, &pod("gone", OURS, "2")).await;
    let mut held = pod("held", OURS, "2");
    held.metadata.finalizers = Some(vec!["kws.test/hold".to_string()]);
    create(&pods, &held).await;
    let doomed = ["gone", "held"];
    eventually(
        "a FailedScheduling event for each",
        Duration::from_secs(60),
        || async {
            let counts = counts_for(&events, "FailedScheduling", &doomed).await;
            counts.iter().all(|&n| n > 0).then_some(())
        },
    )
    .await;

    pods.delete("gone", &DeleteParams::default()).await.unwrap();
    pods.delete("held", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("held").await.unwrap();
    assert!(
        terminating.metadata.deletion_timestamp.is_some(),
        "the finalizer keeps it, marked deleted"
    );

    // The scheduler goes on: a pod created after the deletions is bound
    // (and so the deletions, which the pod watch delivered first, are seen).
    create(&pods, &pod("after", OURS, "1")).await;
    assert_eq!(bound(&pods, "after").await, "small");

    // Reports sent before the deletions may still land; then nothing more,
    // however the cluster changes: a new node wakes every queued pod (and
    // the deleted ones would still not fit), then one where they would.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = counts_for(&events, "FailedScheduling", &doomed).await;
    create(&nodes, &node("small-2", "1")).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    create(&nodes, &node("big", "4")).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = counts_for(&events, "FailedScheduling", &doomed).await;
    assert_eq!(
        later, settled,
        "FailedScheduling events for {doomed:?} kept appearing after their deletion"
    );
    assert_eq!(
        node_name(&pods.get("held").await.unwrap()),
        None,
        "a pod marked deleted is not bound"
    );
    assert!(scheduler.is_running());
}

/// Acceptance point 1, pods deleted while their bind is in flight: each of
/// many pods is deleted right after it is created, so the deletion meets it
/// in the queue, in a cycle, during its bind or after. Afterwards every
/// surviving pod is bound once, no deleted pod caused a FailedScheduling
/// event (a bind that finds its pod gone is not a failure), and a new pod
/// is still bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_deleted_while_their_bind_is_in_flight_leave_no_trace() {
    const PODS: usize = 80;
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    for name in ["node-a", "node-b"] {
        create(&nodes, &node(name, "64")).await;
    }
    let scheduler = RunningScheduler::start(&cluster, quick_retries());

    let mut survivors = Vec::new();
    let mut deleted = Vec::new();
    for i in 0..PODS {
        let name = format!("churn-{i:02}");
        create(&pods, &pod(&name, OURS, "100m")).await;
        if i % 2 == 0 {
            pods.delete(&name, &at_once()).await.unwrap();
            deleted.push(name);
        } else {
            survivors.push(name);
        }
    }

    eventually(
        "every surviving pod to be bound",
        Duration::from_secs(120),
        || async {
            let all = pods.list(&ListParams::default()).await.ok()?.items;
            let bound = all.iter().filter(|p| node_name(p).is_some()).count();
            (bound == survivors.len()).then_some(())
        },
    )
    .await;
    let left: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    let mut expected = survivors.clone();
    expected.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, expected, "exactly the survivors remain");

    // The scheduler is healthy: a new pod is bound.
    create(&pods, &pod("after", OURS, "100m")).await;
    bound(&pods, "after").await;

    // Every survivor has its Scheduled event (recorded after the bind).
    let scheduled = eventually(
        "a Scheduled event for every survivor",
        Duration::from_secs(60),
        || async {
            let counts = event_counts(&events, "Scheduled").await;
            survivors
                .iter()
                .all(|s| counts.contains_key(s))
                .then_some(counts)
        },
    )
    .await;
    for name in &survivors {
        assert_eq!(scheduled[name], 1, "{name} was bound once");
    }
    // Let retries, if any, show up; there must be none.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let failed = event_counts(&events, "FailedScheduling").await;
    assert!(
        failed.is_empty(),
        "no pod failed scheduling, deleted or not: {failed:?}"
    );
    assert!(scheduler.is_running());
}

/// Acceptance point 2: the scheduler survives the apiserver restarting
/// mid-run (same etcd data). Pods created before the restart, right after it
/// is ready again and a few seconds later are all bound, each exactly once
/// (one Scheduled event, counting repeats), none lost; a pod that waited
/// through the restart for room is bound when a node arrives after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_rides_out_an_apiserver_restart_and_binds_every_pod_once() {
    const BATCH: usize = 15;
    let mut cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("node-a", "16")).await;
    let scheduler = RunningScheduler::start(&cluster, Config::default());

    let create_batch = |pods: Api<Pod>, batch: &'static str| async move {
        for i in 0..BATCH {
            create(&pods, &pod(&format!("{batch}-{i:02}"), OURS, "100m")).await;
        }
    };
    // Before: a batch that is bound (and its events recorded, so that a
    // bind cut off by the shutdown cannot leave a pod bound without its
    // event), and a pod too big for any node yet.
    create_batch(pods.clone(), "before").await;
    create(&pods, &pod("waiting", OURS, "20")).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(
        "the first batch bound and reported, the big pod refused",
        Duration::from_secs(120),
        || async {
            let scheduled = event_counts(&events, "Scheduled").await;
            let failed = event_counts(&events, "FailedScheduling").await;
            (scheduled.len() == BATCH && failed.contains_key("waiting")).then_some(())
        },
    )
    .await;

    tokio::task::block_in_place(|| cluster.restart());
    // A new client: the old one's connections died with the apiserver.
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    create_batch(pods.clone(), "right-after").await;
    create(&nodes, &node("node-big", "32")).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    create_batch(pods.clone(), "later").await;

    let all = eventually(
        "every pod to be bound",
        Duration::from_secs(180),
        || async {
            let all = pods.list(&ListParams::default()).await.ok()?.items;
            all.iter().all(|p| node_name(p).is_some()).then_some(all)
        },
    )
    .await;
    assert_eq!(all.len(), 3 * BATCH + 1, "no pod lost");
    assert_eq!(
        node_name(&pods.get("waiting").await.unwrap()).as_deref(),
        Some("node-big")
    );
    let scheduled = eventually(
        "a Scheduled event for every pod",
        Duration::from_secs(60),
        || async {
            let counts = event_counts(&events, "Scheduled").await;
            (counts.len() == all.len()).then_some(counts)
        },
    )
    .await;
    let twice: HashMap<&String, &usize> = scheduled.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "bound more than once: {twice:?}");
    assert!(scheduler.is_running());
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(status)) if status.code == 403)
}

/// Acceptance point 3: with RBAC on, a user in no group, bound to the
/// ClusterRole of `deploy/rbac.yaml` and nothing else, can run the
/// scheduler: it binds a pod and records Scheduled, and marks an
/// unschedulable pod PodScheduled=False with a FailedScheduling event (also
/// when the event repeats, which patches it). And the role grants no more
/// than that: reading a single pod or listing secrets is forbidden.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_rbac_role_is_enough_to_schedule_and_no_more() {
    let (_cluster, admin, kubeconfig) = start_as_deployed("kws-scheduler").await;
    let restricted: Client = client_for(&kubeconfig).await;
    let nodes: Api<Node> = Api::all(admin.clone());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), "default");
    let events: Api<Event> = Api::namespaced(admin.clone(), "default");
    create(&nodes, &node("node-1", "2")).await;
    let scheduler = RunningScheduler::start_with_kubeconfig(&kubeconfig, Config::default());

    create(&pods, &pod("fits", OURS, "100m")).await;
    create(&pods, &pod("too-big", OURS, "4")).await;
    assert_eq!(bound(&pods, "fits").await, "node-1"); // pods/binding: create
    event_about(&events, "fits", "Scheduled", Duration::from_secs(60)).await; // events: create
    let condition = unschedulable(&pods, "too-big", Duration::from_secs(60)).await; // pods/status: patch
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    // A bound pod leaving (an event NodeResourcesFit registered; a node's
    // label change is not one) sends the pod round again: the same event
    // repeats, which the recorder writes as a patch of the first.
    pods.delete("fits", &at_once()).await.unwrap();
    eventually(
        "the FailedScheduling event to repeat",
        Duration::from_secs(60),
        || async {
            events_for(&events, "too-big")
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("FailedScheduling") && occurrences(e) >= 2)
        },
    )
    .await; // events: patch
    assert!(scheduler.is_running());

    // Nothing beyond what the scheduler uses.
    let one_pod = Api::<Pod>::namespaced(restricted.clone(), "default")
        .get("fits")
        .await;
    assert!(forbidden(one_pod), "get pods is not granted");
    let other_lease = Api::<Lease>::namespaced(restricted.clone(), "kube-system")
        .get("kube-scheduler")
        .await;
    assert!(forbidden(other_lease), "only its own Lease is granted");
    let secrets = Api::<Secret>::all(restricted)
        .list(&ListParams::default())
        .await;
    assert!(forbidden(secrets), "list secrets is not granted");
}

/// Acceptance point 4: a node deleted after a pod was assumed on it, before
/// the bind reaches the apiserver. Like kube-scheduler, ours does not check
/// again at bind time, and the apiserver accepts a binding to a node that
/// does not exist: the pod ends bound to the deleted node, where the
/// cluster's pod garbage collector deletes it (and its controller makes a
/// new one). It is never lost from the scheduler's books either: it keeps
/// counting against that node's name, so when a node of that name comes
/// back the pod's request is still taken, and the scheduler goes on
/// placing other pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_assumed_on_a_node_deleted_before_its_bind_stays_accounted_for() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("doomed", "4")).await;
    let (scheduler, binds) = RunningScheduler::start_holding_binds(&cluster, Config::default());
    let next_bind = || {
        tokio::task::block_in_place(|| {
            binds
                .recv_timeout(Duration::from_secs(120))
                .expect("the scheduler decides a bind")
        })
    };

    create(&pods, &pod("stranded", OURS, "1")).await;
    let bind = next_bind();
    assert_eq!(
        (bind.pod.name.as_str(), bind.node.as_str()),
        ("stranded", "doomed")
    );
    // Assumed on `doomed`, bind not sent: now the node goes.
    nodes
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the node to be gone", Duration::from_secs(30), || async {
        nodes
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    bind.release();
    assert_eq!(bound(&pods, "stranded").await, "doomed");
    event_about(&events, "stranded", "Scheduled", Duration::from_secs(60)).await;

    // The node comes back (same name, same size): the stranded pod's cpu is
    // still counted there, so a pod needing all 4 cpus does not fit.
    create(&nodes, &node("doomed", "4")).await;
    create(&pods, &pod("whole-node", OURS, "4")).await;
    // (The condition, not the event: a repeated FailedScheduling event keeps
    // the note it was first recorded with, and the pod may have been tried
    // before the node was back.)
    eventually(
        "whole-node to be refused for lack of cpu",
        Duration::from_secs(60),
        || async {
            let pod = pods.get("whole-node").await.ok()?;
            pod.status?.conditions?.into_iter().find(|c| {
                c.type_ == "PodScheduled" && c.message.as_deref() == Some(ONE_NODE_OUT_OF_CPU)
            })
        },
    )
    .await;
    // And the scheduler goes on: with room elsewhere, it is placed there.
    create(&nodes, &node("fresh", "4")).await;
    let bind = next_bind();
    assert_eq!(
        (bind.pod.name.as_str(), bind.node.as_str()),
        ("whole-node", "fresh")
    );
    bind.release();
    assert_eq!(bound(&pods, "whole-node").await, "fresh");
    assert!(scheduler.is_running());
}

/// Regression (found by `foreign_pods_are_left_alone...` failing under
/// load): the scheduler must not place a pod before it has seen every pod
/// already bound. The pending pod is listed first (names sort before the
/// bound ones), so a scheduler deciding as soon as it hears of it would
/// put it on the node the bound pods fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pod_is_placed_before_the_bound_pods_are_all_known() {
    const BOUND: usize = 100;
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&nodes, &node("full", &BOUND.to_string())).await;
    for i in 0..BOUND {
        let mut theirs = pod(&format!("theirs-{i:02}"), "default-scheduler", "1");
        theirs.spec.as_mut().unwrap().node_name = Some("full".to_string());
        create(&pods, &theirs).await;
    }
    create(&pods, &pod("a-ours", OURS, "1")).await;

    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    let condition = eventually(
        "a-ours to be bound or refused",
        Duration::from_secs(60),
        || async {
            let pod = pods.get("a-ours").await.ok()?;
            if let Some(node) = node_name(&pod) {
                panic!("a-ours was bound to {node}, whose {BOUND} cpus were taken");
            }
            pod.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        },
    )
    .await;
    assert_eq!(condition.message.as_deref(), Some(ONE_NODE_OUT_OF_CPU));
}
