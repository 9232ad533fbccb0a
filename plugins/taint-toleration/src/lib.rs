//! TaintToleration: keeps pods off nodes whose taints they do not tolerate,
//! as kube-scheduler's plugin of the same name (v1.37).
//!
//! Filter: a node with a NoSchedule or NoExecute taint that none of the
//! pod's tolerations tolerates does not fit, and will not until the pod or
//! the node changes. The reason does not name the taint (since v1.35 the
//! pod's status no longer shows taint keys and values); the host's debug log
//! does.
//!
//! Score: the number of the node's PreferNoSchedule taints the pod does not
//! tolerate, normalised with kube-scheduler's DefaultNormalizeScore
//! reversed, so nodes with the fewest such taints score 100.

use kws_plugin_sdk::selector::tolerates;
use kws_plugin_sdk::{
    ActionType, Cluster, ClusterEvent, EventResource, ExtensionPoint, NoArgs, Node, NodeInfo,
    Plugin, Pod, QueueingHint, RegisteredEvent, Status, Taint, TaintEffect,
    default_normalize_score, host, objects,
};

/// The reason kube-scheduler reports for an untolerated taint.
pub const ERR_REASON_UNTOLERATED: &str = "node(s) had untolerated taint(s)";

pub struct TaintToleration;

impl Plugin for TaintToleration {
    const NAME: &'static str = "TaintToleration";
    const EXTENSION_POINTS: &'static [ExtensionPoint] = &[
        ExtensionPoint::Filter,
        ExtensionPoint::Score,
        ExtensionPoint::NormalizeScore,
        ExtensionPoint::EnqueueExtensions,
    ];
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
        Ok(TaintToleration)
    }

    fn filter(&self, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(taint) = untolerated(pod, &node.node) else {
            return Status::success();
        };
        host::debug(&format!(
            "node {} had untolerated taint {}={}:{:?} for pod {}/{}",
            node.name(),
            taint.key,
            taint.value,
            taint.effect,
            pod.namespace,
            pod.name
        ));
        Status::unresolvable(ERR_REASON_UNTOLERATED)
    }

    fn score(&self, pod: &Pod, node: &NodeInfo) -> Result<i64, String> {
        // Only the tolerations that can apply to PreferNoSchedule, as upstream.
        let tolerated = |taint: &Taint| {
            pod.tolerations
                .iter()
                .filter(|t| t.effect.is_none_or(|e| e == TaintEffect::PreferNoSchedule))
                .any(|t| tolerates(t, taint))
        };
        let intolerable = node
            .node
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::PreferNoSchedule && !tolerated(t))
            .count();
        Ok(intolerable as i64)
    }

    fn normalize_scores(&self, _pod: &Pod, scores: &mut [i64]) -> Result<(), String> {
        default_normalize_score(scores, true);
        Ok(())
    }

    /// Upstream's: the node's taints kept the pod off before the change
    /// (or it is new) and no longer do.
    fn queueing_hint(
        &self,
        pod: &Pod,
        _: &Cluster,
        _: &ClusterEvent,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<QueueingHint, String> {
        let Some((old, new)) = objects::node_change(old, new)? else {
            return Ok(QueueingHint::Skip);
        };
        let was_untolerated = old.is_none_or(|old| untolerated(pod, &old).is_some());
        Ok(if was_untolerated && untolerated(pod, &new).is_none() {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        })
    }
}

/// The node's first NoSchedule or NoExecute taint none of the pod's
/// tolerations tolerates.
fn untolerated<'a>(pod: &Pod, node: &'a Node) -> Option<&'a Taint> {
    node.taints
        .iter()
        .filter(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute))
        .find(|t| !pod.tolerations.iter().any(|tol| tolerates(tol, t)))
}

kws_plugin_sdk::export_plugin!(TaintToleration);

#[cfg(test)]
mod tests {
    use super::*;
    use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
    use TolerationOperator::{Equal, Exists};
    use kws_plugin_sdk::testing::{node, node_info, pod};
    use kws_plugin_sdk::{Change, Code, Node, Runner, Toleration, TolerationOperator};

    fn toleration(
        key: &str,
        operator: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.into(),
            operator,
            value: value.into(),
            effect,
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn with(tolerations: &[Toleration]) -> Pod {
        tolerations
            .iter()
            .cloned()
            .fold(pod("d", "p"), |p, t| p.toleration(t))
            .build()
    }

    fn tainted(taints: &[Taint]) -> Node {
        taints
            .iter()
            .fold(node("n1"), |n, t| n.taint(&t.key, &t.value, t.effect))
            .build()
    }

    fn verdict(pod: &Pod, n: Node) -> Status {
        TaintToleration.filter(pod, &node_info(0, n, vec![]))
    }

    #[test]
    fn untainted_nodes_fit() {
        assert_eq!(verdict(&with(&[]), node("n1").build()), Status::success());
    }

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_reject_with_kube_reason() {
        for effect in [NoSchedule, NoExecute] {
            let status = verdict(&with(&[]), tainted(&[taint("dedicated", "gpu", effect)]));
            assert_eq!(status.code, Code::UnschedulableAndUnresolvable);
            assert_eq!(status.reasons, ["node(s) had untolerated taint(s)"]);
        }
    }

    #[test]
    fn prefer_no_schedule_taints_do_not_filter() {
        let n = tainted(&[taint("dedicated", "gpu", PreferNoSchedule)]);
        assert!(verdict(&with(&[]), n).passes());
    }

    #[test]
    fn every_repelling_taint_must_be_tolerated() {
        let n = || tainted(&[taint("a", "1", NoSchedule), taint("b", "2", NoExecute)]);
        let a = toleration("a", Exists, "", None);
        let b = toleration("b", Equal, "2", Some(NoExecute));
        assert!(!verdict(&with(std::slice::from_ref(&a)), n()).passes());
        assert!(!verdict(&with(std::slice::from_ref(&b)), n()).passes());
        assert!(verdict(&with(&[a, b]), n()).passes());
    }

    #[test]
    fn equal_compares_values_and_exists_ignores_them() {
        let t = taint("dedicated", "gpu", NoSchedule);
        assert!(tolerates(&toleration("dedicated", Equal, "gpu", None), &t));
        assert!(!tolerates(&toleration("dedicated", Equal, "cpu", None), &t));
        assert!(!tolerates(&toleration("dedicated", Equal, "", None), &t));
        assert!(tolerates(&toleration("dedicated", Exists, "", None), &t));
        assert!(tolerates(
            &toleration("dedicated", Equal, "", None),
            &taint("dedicated", "", NoSchedule)
        ));
    }

    #[test]
    fn keys_must_match_unless_the_toleration_has_none() {
        let t = taint("dedicated", "gpu", NoSchedule);
        assert!(!tolerates(&toleration("other", Exists, "", None), &t));
        // Empty key with Exists: every taint.
        let everything = toleration("", Exists, "", None);
        for effect in [NoSchedule, PreferNoSchedule, NoExecute] {
            assert!(tolerates(&everything, &taint("any", "thing", effect)));
        }
        // Empty key with Equal (the apiserver refuses it): any key, same value.
        assert!(tolerates(&toleration("", Equal, "gpu", None), &t));
        assert!(!tolerates(&toleration("", Equal, "cpu", None), &t));
    }

    #[test]
    fn an_effect_must_match_unless_the_toleration_has_none() {
        let t = taint("dedicated", "gpu", NoExecute);
        assert!(tolerates(&toleration("dedicated", Exists, "", None), &t));
        assert!(tolerates(
            &toleration("dedicated", Exists, "", Some(NoExecute)),
            &t
        ));
        assert!(!tolerates(
            &toleration("dedicated", Exists, "", Some(NoSchedule)),
            &t
        ));
        assert!(!tolerates(
            &toleration("dedicated", Exists, "", Some(PreferNoSchedule)),
            &t
        ));
    }

    fn score(pod: &Pod, n: Node) -> i64 {
        TaintToleration
            .score(pod, &node_info(0, n, vec![]))
            .unwrap()
    }

    #[test]
    fn score_counts_intolerable_prefer_no_schedule_taints() {
        let n = || {
            tainted(&[
                taint("a", "1", PreferNoSchedule),
                taint("b", "2", PreferNoSchedule),
                taint("c", "3", NoSchedule),
            ])
        };
        assert_eq!(
            score(&with(&[]), n()),
            2,
            "NoSchedule taints are not counted"
        );
        assert_eq!(score(&with(&[toleration("a", Exists, "", None)]), n()), 1);
        let both = [
            toleration("a", Equal, "1", Some(PreferNoSchedule)),
            toleration("b", Exists, "", None),
        ];
        assert_eq!(score(&with(&both), n()), 0);
        assert_eq!(
            score(&with(&[toleration("b", Equal, "other", None)]), n()),
            2
        );
        // A toleration for another effect does not count.
        assert_eq!(
            score(&with(&[toleration("a", Exists, "", Some(NoSchedule))]), n()),
            2
        );
        assert_eq!(score(&with(&[toleration("", Exists, "", None)]), n()), 0);
    }

    fn normalized(scores: &[i64]) -> Vec<i64> {
        let mut scores = scores.to_vec();
        TaintToleration
            .normalize_scores(&pod("d", "p").build(), &mut scores)
            .unwrap();
        scores
    }

    #[test]
    fn normalize_reverses_so_fewer_taints_score_higher() {
        // max 2: 100 - 100*0/2 = 100, 100 - 100*1/2 = 50, 100 - 100*2/2 = 0
        assert_eq!(normalized(&[0, 1, 2]), [100, 50, 0]);
        // max 3: 100 - 100*1/3 = 100 - 33 = 67, 100 - 100*2/3 = 100 - 66 = 34
        assert_eq!(normalized(&[1, 2, 3]), [67, 34, 0]);
        // max 0: every node gets 100
        assert_eq!(normalized(&[0, 0, 0]), [100, 100, 100]);
    }

    #[test]
    fn not_reversed_the_helper_scales_up() {
        let mut scores = [1, 3];
        default_normalize_score(&mut scores, false);
        assert_eq!(scores, [33, 100]); // 100*1/3 = 33, 100*3/3 = 100
    }

    #[test]
    fn takes_no_args() {
        assert!(Runner::<TaintToleration>::configured("{}").is_ok());
        let Err(e) = Runner::<TaintToleration>::configured(r#"{"weight": 3}"#) else {
            panic!("args accepted");
        };
        assert!(e.starts_with("invalid args: unknown field `weight`"), "{e}");
    }

    #[test]
    fn runs_through_the_runner() {
        let mut runner = Runner::<TaintToleration>::configured("{}").unwrap();
        runner.apply(vec![
            Change::NodeSet((0, node("n0").build())),
            Change::NodeSet((1, tainted(&[taint("gpu", "", NoSchedule)]))),
            Change::NodeSet((2, tainted(&[taint("spot", "", PreferNoSchedule)]))),
        ]);
        let p = with(&[]);
        let rejected = runner.filter(0, &p, &[0, 1, 2]);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].node, 1);
        let scores = runner.score(0, &p, &[0, 2]).unwrap();
        assert_eq!(scores, [0, 1]);
        assert_eq!(
            runner.normalize_scores(0, &p, &[0, 2], scores).unwrap(),
            [100, 0]
        );
    }

    fn node_event(action: ActionType) -> ClusterEvent {
        ClusterEvent {
            resource: EventResource::Node,
            action,
        }
    }

    #[test]
    fn hints_queue_when_the_taints_stop_keeping_the_pod_off() {
        let tainted = r#"{"metadata": {"name": "n"}, "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]}}"#;
        let soft = r#"{"metadata": {"name": "n"}, "spec": {"taints": [{"key": "gpu", "effect": "PreferNoSchedule"}]}}"#;
        let hint = |incoming: &Pod, old: Option<&str>, new: &str| {
            TaintToleration
                .queueing_hint(
                    incoming,
                    &Cluster::default(),
                    &node_event(ActionType::UpdateNodeTaint),
                    old,
                    Some(new),
                )
                .unwrap()
        };
        let plain = pod("default", "p").build();
        assert_eq!(hint(&plain, None, soft), QueueingHint::Queue);
        assert_eq!(hint(&plain, None, tainted), QueueingHint::Skip);
        assert_eq!(hint(&plain, Some(tainted), soft), QueueingHint::Queue);
        assert_eq!(hint(&plain, Some(soft), tainted), QueueingHint::Skip);
        let tolerant = with(&[toleration("gpu", Exists, "", Some(NoSchedule))]);
        assert_eq!(
            hint(&tolerant, Some(tainted), tainted),
            QueueingHint::Skip,
            "the taints never kept it off"
        );
    }
}
