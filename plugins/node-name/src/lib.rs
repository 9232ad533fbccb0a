//! NodeName: a pod whose `spec.nodeName` is set fits only the node of that
//! name, as kube-scheduler's plugin of the same name (v1.37). Pods without
//! one fit every node.

use kws_plugin_sdk::{
    ActionType, EventResource, ExtensionPoint, NoArgs, NodeInfo, Plugin, Pod, RegisteredEvent,
    Status,
};

/// The reason kube-scheduler reports.
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl Plugin for NodeName {
    const NAME: &'static str = "NodeName";
    const EXTENSION_POINTS: &'static [ExtensionPoint] =
        &[ExtensionPoint::Filter, ExtensionPoint::EnqueueExtensions];
    const READS_PODS: bool = false;
    type Args = NoArgs;

    /// The cluster events that may make a pod it rejected fit, as
    /// kube-scheduler's plugin registers them.
    fn events_to_register(&self) -> Vec<RegisteredEvent> {
        vec![RegisteredEvent::on(EventResource::Node, &[ActionType::Add])]
    }

    fn new(_: NoArgs) -> Result<Self, String> {
        Ok(NodeName)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        if pod.node_name.is_empty() || pod.node_name == node.name() {
            return Status::success();
        }
        Status::unresolvable(ERR_REASON)
    }
}

kws_plugin_sdk::export_plugin!(NodeName);

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Change, Code, Runner};

    fn verdict(pod: &Pod, node_name: &str) -> Status {
        NodeName.filter(pod, &node_info(0, node(node_name).build(), vec![]))
    }

    #[test]
    fn pods_without_a_node_name_fit_every_node() {
        assert!(verdict(&pod("d", "p").build(), "n1").passes());
    }

    #[test]
    fn a_node_name_admits_only_that_node() {
        let p = pod("d", "p").node_name("n1").build();
        assert!(verdict(&p, "n1").passes());
        let status = verdict(&p, "n2");
        assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(
            status.reasons,
            ["node(s) didn't match the requested node name"]
        );
        assert!(!verdict(&p, "n10").passes(), "names are compared whole");
    }

    #[test]
    fn runs_through_the_runner() {
        let mut runner = Runner::<NodeName>::configured("{}").unwrap();
        runner.apply(vec![
            Change::NodeSet((0, node("n0").build())),
            Change::NodeSet((1, node("n1").build())),
        ]);
        let rejected = runner.filter(0, &pod("d", "p").node_name("n1").build(), &[0, 1]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].node, 0);
        let Err(e) = Runner::<NodeName>::configured(r#"{"nodeName": "n1"}"#) else {
            panic!("args accepted");
        };
        assert!(
            e.starts_with("invalid args: unknown field `nodeName`"),
            "{e}"
        );
    }
}
