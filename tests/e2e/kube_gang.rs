//! Gang scheduling (KEP-4671) against a real kube-apiserver serving
//! `scheduling.k8s.io/v1beta1` PodGroups: the default GangScheduling
//! plugin binds the pods of a gang all together or not at all.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::scheduling::v1beta1::PodGroup;
use kube::Api;
use kube::api::PostParams;
use kws_host::config::Config;
use kws_tests::api::{OURS, events_for, eventually, node, node_name, pod};
use kws_tests::cluster::{RunningScheduler, TestCluster};
use std::time::{Duration, Instant};

/// A PodGroup whose pods bind only when `min_count` of them can.
fn gang(name: &str, min_count: i32) -> PodGroup {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}},
    }))
    .unwrap()
}

/// A pod of group `group` asking for half a core.
fn member(name: &str, group: &str) -> Pod {
    let mut pod = pod(name, OURS, "500m");
    let spec = pod.spec.as_mut().unwrap();
    spec.scheduling_group =
        Some(serde_json::from_value(serde_json::json!({"podGroupName": group})).unwrap());
    pod
}

async fn bound(pods: &Api<Pod>, names: &[String]) -> usize {
    let mut count = 0;
    for name in names {
        if pods
            .get(name)
            .await
            .ok()
            .and_then(|p| node_name(&p))
            .is_some()
        {
            count += 1;
        }
    }
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gang_that_cannot_fit_binds_none_until_room_appears() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let groups: Api<PodGroup> = Api::namespaced(client.clone(), "default");
    let events: Api<Event> = Api::namespaced(client, "default");
    // Room for 6 of the 8 pods of half a core.
    nodes
        .create(&PostParams::default(), &node("node-1", "3"))
        .await
        .unwrap();
    groups
        .create(&PostParams::default(), &gang("gang", 8))
        .await
        .unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("gang-{i}")).collect();
    for name in &names {
        pods.create(&PostParams::default(), &member(name, "gang"))
            .await
            .unwrap();
    }
    let _scheduler = RunningScheduler::start(&cluster, Config::default());

    // Every pod is told why, by name of its group: the six that were
    // reserved and rejected, and those that fit nowhere.
    let failed = eventually(
        "every pod of the gang to have a FailedScheduling event naming it",
        Duration::from_secs(60),
        || async {
            let mut notes = Vec::new();
            for name in &names {
                let note = events_for(&events, name)
                    .await
                    .into_iter()
                    .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
                    .filter_map(|e| e.note)
                    .find(|note| note.contains("pod group \"gang\""))?;
                notes.push(note);
            }
            Some(notes)
        },
    )
    .await;
    assert!(
        failed
            .iter()
            .any(|n| n.contains("minCount (8) cannot be satisfied")),
        "{failed:?}"
    );
    assert_eq!(
        bound(&pods, &names).await,
        0,
        "no pod of the gang binds alone"
    );

    // Room for the other two: the whole gang binds.
    nodes
        .create(&PostParams::default(), &node("node-2", "4"))
        .await
        .unwrap();
    let added = Instant::now();
    eventually(
        "all 8 pods of the gang to be bound within 10 s of the node",
        Duration::from_secs(10),
        || async { (bound(&pods, &names).await == names.len()).then_some(()) },
    )
    .await;
    eprintln!(
        "the gang was bound {:?} after the node was added",
        added.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gang_arriving_over_seconds_binds_only_once_complete() {
    let cluster = TestCluster::start();
    let client = cluster.client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let groups: Api<PodGroup> = Api::namespaced(client, "default");
    nodes
        .create(&PostParams::default(), &node("node-1", "8"))
        .await
        .unwrap();
    let _scheduler = RunningScheduler::start(&cluster, Config::default());
    let names: Vec<String> = (0..4).map(|i| format!("late-{i}")).collect();
    // The first pod comes before its group exists: it waits for both.
    pods.create(&PostParams::default(), &member(&names[0], "late"))
        .await
        .unwrap();
    groups
        .create(&PostParams::default(), &gang("late", 4))
        .await
        .unwrap();
    for name in &names[1..3] {
        tokio::time::sleep(Duration::from_secs(1)).await;
        pods.create(&PostParams::default(), &member(name, "late"))
            .await
            .unwrap();
    }
    // Three of four, with time to bind had anything let them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bound(&pods, &names).await,
        0,
        "an incomplete gang binds nothing"
    );

    pods.create(&PostParams::default(), &member(&names[3], "late"))
        .await
        .unwrap();
    eventually(
        "the complete gang to be bound",
        Duration::from_secs(10),
        || async { (bound(&pods, &names).await == names.len()).then_some(()) },
    )
    .await;
}
