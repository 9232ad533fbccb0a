use super::*;
use kws_plugin_sdk::Code;
use kws_plugin_sdk::testing::{node, node_info, pod};

fn gang(min: i32, all: u32, assumed: &[&str], bound: u32) -> Option<PodGroup> {
    Some(PodGroup {
        namespace: "default".into(),
        name: "gang".into(),
        policy: Some(SchedulingPolicy::Gang(min)),
        all_pods: all,
        scheduled_pods: assumed.len() as u32 + bound,
        assumed_pods: assumed.iter().map(|s| s.to_string()).collect(),
    })
}

fn permit(group: Option<PodGroup>) -> PermitResult {
    pod_groups::install(group);
    let pod = pod("default", "p").build();
    let node = node_info(0, node("n").build(), Vec::new());
    GangScheduling.permit(&pod, &node, &mut CycleState::default())
}

fn post_filter(group: Option<PodGroup>) -> PostFilterResult {
    pod_groups::install(group);
    let pod = pod("default", "p").build();
    GangScheduling.post_filter(&pod, &Cluster::default(), &[], &mut CycleState::default())
}

fn pre_enqueue(group: Option<PodGroup>) -> Status {
    pod_groups::install(group);
    GangScheduling.pre_enqueue(&pod("default", "p").build())
}

#[test]
fn pods_outside_a_group_pass_every_point() {
    assert_eq!(pre_enqueue(None), Status::success());
    assert_eq!(permit(None), PermitResult::allow());
    assert!(post_filter(None).status.reasons.is_empty());
}

#[test]
fn pre_enqueue_waits_for_the_group_and_its_min_count() {
    let missing = PodGroup {
        policy: None,
        ..gang(3, 3, &[], 0).unwrap()
    };
    let status = pre_enqueue(Some(missing));
    assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
    assert_eq!(
        status.reasons,
        ["waiting for pods's pod group \"gang\" to appear in scheduling queue"]
    );
    assert_eq!(pre_enqueue(gang(3, 2, &[], 0)).reasons, [WAITING_FOR_PODS]);
    assert_eq!(pre_enqueue(gang(3, 3, &[], 0)), Status::success());
    let basic = PodGroup {
        policy: Some(SchedulingPolicy::Basic),
        ..gang(3, 1, &[], 0).unwrap()
    };
    assert_eq!(pre_enqueue(Some(basic)), Status::success());
}

#[test]
fn permit_waits_until_min_count_are_scheduled() {
    // The pod of the call is assumed, so it counts.
    let result = permit(gang(3, 3, &["a", "p"], 0));
    assert_eq!(result.status.code, Code::Wait);
    assert_eq!(result.status.reasons, [WAITING_FOR_QUORUM]);
    assert_eq!(result.timeout_ms, 300_000);
    // Bound pods count too.
    assert_eq!(permit(gang(3, 3, &["a", "p"], 1)), PermitResult::allow());
}

#[test]
fn post_filter_rejects_the_gang_only_when_min_count_is_out_of_reach() {
    // 8 pods, 6 reserved, this one fits nowhere: 6 + 1 < 8.
    let assumed = ["a", "b", "c", "d", "e", "f"];
    let result = post_filter(gang(8, 8, &assumed, 0));
    assert_eq!(result.status.code, Code::Unschedulable);
    assert_eq!(
        result.status.reasons,
        [
            "pod group \"gang\" is unschedulable, minCount (8) cannot be satisfied: 6 scheduled, 1 remaining"
        ]
    );
    // 10 pods for a minCount of 8: the others may still make it.
    assert!(
        post_filter(gang(8, 10, &assumed, 0))
            .status
            .reasons
            .is_empty()
    );
}

#[test]
fn hints_queue_only_for_the_pods_own_group() {
    pod_groups::install(gang(2, 1, &[], 0));
    let pod = pod("default", "p").build();
    let hint = |resource, action, old: Option<&str>, new: &str| {
        GangScheduling
            .queueing_hint(
                &pod,
                &Cluster::default(),
                &ClusterEvent { resource, action },
                old,
                Some(new),
            )
            .unwrap()
    };
    let member = |group: &str| {
        format!(
            r#"{{"metadata":{{"namespace":"default"}},"spec":{{"schedulingGroup":{{"podGroupName":"{group}"}}}}}}"#
        )
    };
    let added = EventResource::UnscheduledPod;
    assert_eq!(
        hint(added, ActionType::Add, None, &member("gang")),
        QueueingHint::Queue
    );
    assert_eq!(
        hint(added, ActionType::Add, None, &member("other")),
        QueueingHint::Skip
    );
    let group = |min: i64| {
        format!(
            r#"{{"metadata":{{"namespace":"default","name":"gang"}},"spec":{{"schedulingPolicy":{{"gang":{{"minCount":{min}}}}}}}}}"#
        )
    };
    let groups = EventResource::PodGroup;
    assert_eq!(
        hint(groups, ActionType::Add, None, &group(2)),
        QueueingHint::Queue
    );
    let update =
        |old: i64, new: i64| hint(groups, ActionType::Update, Some(&group(old)), &group(new));
    assert_eq!(update(3, 2), QueueingHint::Queue);
    assert_eq!(update(2, 3), QueueingHint::Skip);
}
