//! NodeUnschedulable: keeps pods off nodes marked `spec.unschedulable`
//! (cordoned), unless the pod tolerates the `node.kubernetes.io/unschedulable`
//! taint with effect NoSchedule, as kube-scheduler's plugin of the same name.

use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, EventResource, ExtensionPoint, NoArgs, NodeInfo, Plugin,
    Pod, QueueingHint, RegisteredEvent, Status, TaintEffect, TolerationOperator, objects,
};

/// The taint kube-scheduler checks tolerations against for cordoned nodes.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// The reason kube-scheduler reports.
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";

pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    const NAME: &'static str = "NodeUnschedulable";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::Filter, ExtensionPoint::EnqueueExtensions];
    const READS_PODS: bool = false;
    type Args = NoArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![
            RegisteredEvent::on(
                EventResource::Node,
                &[ActionType::Add, ActionType::UpdateNodeTaint],
            )
            .with_hint(),
            RegisteredEvent::on(
                EventResource::UnscheduledPod,
                &[ActionType::UpdatePodToleration],
            ),
        ]
    }

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(NodeUnschedulable)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if !node.node.unschedulable || tolerates_unschedulable(pod) {
            return Status::success();
        }
        Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
    }

    /// Upstream's: a node added schedulable, or one uncordoned.
    fn queueing_hint(
        &self,
        _: &Pod,
        _: &Cluster,
        _: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let Some((old, new)) = objects::node_change(old, new)? else {
            return Ok(QueueingHint::Skip);
        };
        Ok(match (old.map(|n| n.unschedulable), new.unschedulable) {
            (None | Some(true), false) => QueueingHint::Queue,
            _ => QueueingHint::Skip,
        })
    }
}

/// Whether one of the pod's tolerations matches the taint
/// `node.kubernetes.io/unschedulable:NoSchedule` (with an empty value).
fn tolerates_unschedulable(pod: &Pod) -> bool {
    pod.tolerations.iter().any(|t| {
        let effect_ok = t.effect.is_none_or(|e| e == TaintEffect::NoSchedule);
        let key_ok = t.key.is_empty() && t.operator == TolerationOperator::Exists
            || t.key == TAINT_NODE_UNSCHEDULABLE;
        let value_ok = match t.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => t.value.is_empty(),
        };
        effect_ok && key_ok && value_ok
    })
}

kws_plugin_sdk::export_plugin!(NodeUnschedulable);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Code, Runner, Toleration};

    fn toleration(
        key: &str,
        operator: TolerationOperator,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator,
            value: String::new(),
            effect,
            toleration_seconds: None,
        }
    }

    fn verdict(p: &Pod, unschedulable: bool) -> Status {
        let mut n = node("n1");
        if unschedulable {
            n = n.unschedulable();
        }
        NodeUnschedulable.filter(p, &node_info(0, n.build(), vec![]))
    }

    #[test]
    fn schedulable_nodes_pass() {
        assert!(verdict(&pod("default", "p").build(), false).passes());
    }

    #[test]
    fn cordoned_nodes_reject_with_kube_reason() {
        let status = verdict(&pod("default", "p").build(), true);
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(status.reasons, ["node(s) were unschedulable"]);
    }

    #[test]
    fn the_unschedulable_toleration_lets_a_pod_through() {
        let key = toleration(
            TAINT_NODE_UNSCHEDULABLE,
            TolerationOperator::Exists,
            Some(TaintEffect::NoSchedule),
        );
        assert!(verdict(&pod("d", "p").toleration(key).build(), true).passes());
        let everything = toleration("", TolerationOperator::Exists, None);
        assert!(verdict(&pod("d", "p").toleration(everything).build(), true).passes());
    }

    #[test]
    fn other_tolerations_do_not() {
        let wrong_effect = toleration(
            TAINT_NODE_UNSCHEDULABLE,
            TolerationOperator::Exists,
            Some(TaintEffect::NoExecute),
        );
        assert!(!verdict(&pod("d", "p").toleration(wrong_effect).build(), true).passes());
        let other_key = toleration("dedicated", TolerationOperator::Exists, None);
        assert!(!verdict(&pod("d", "p").toleration(other_key).build(), true).passes());
    }

    #[test]
    fn runs_through_the_runner() {
        let runner = Runner::<NodeUnschedulable>::configured("{}").unwrap();
        assert!(Runner::<NodeUnschedulable>::configured(r#"{"x":1}"#).is_err());
        assert!(runner.filter(0, &pod("d", "p").build(), &[]).is_empty());
    }

    fn node_event(action: ActionType) -> ClusterEvent {
        ClusterEvent {
            resource: EventResource::Node,
            action,
        }
    }

    #[test]
    fn hints_queue_for_a_schedulable_node_added_or_uncordoned() {
        let p = NodeUnschedulable;
        let cordoned = r#"{"metadata": {"name": "n"}, "spec": {"unschedulable": true}}"#;
        let open = r#"{"metadata": {"name": "n"}, "spec": {}}"#;
        let hint = |old: Option<&str>, new: &str, action| {
            let incoming = pod("default", "p").build();
            p.queueing_hint(
                &incoming,
                &Cluster::default(),
                &node_event(action),
                old,
                Some(new),
            )
            .unwrap()
        };
        assert_eq!(hint(None, open, ActionType::Add), QueueingHint::Queue);
        assert_eq!(hint(None, cordoned, ActionType::Add), QueueingHint::Skip);
        let update = ActionType::UpdateNodeTaint;
        assert_eq!(hint(Some(cordoned), open, update), QueueingHint::Queue);
        assert_eq!(hint(Some(open), cordoned, update), QueueingHint::Skip);
        assert_eq!(hint(Some(open), open, update), QueueingHint::Skip);
    }
}
