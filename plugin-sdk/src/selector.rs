//! Label selectors, a pod's required node affinity and its tolerations,
//! evaluated as kube-scheduler evaluates them
//! (`k8s.io/apimachinery/pkg/labels`, `metav1.LabelSelectorAsSelector`,
//! `nodeaffinity.GetRequiredNodeAffinity`, `v1.Toleration.ToleratesTaint`).
//! Policies that look at other pods (spreading, pod affinity) share these.

use crate::{
    LabelSelector, Labels, Node, NodeSelectorTerm, Operator, Pod, Requirement, Taint, TaintEffect,
    Toleration, TolerationOperator, lookup,
};

/// A parsed label selector.
///
/// A missing selector selects nothing, an empty one everything:
///
/// ```
/// use kws_plugin_sdk::selector::Selector;
/// use kws_plugin_sdk::{LabelSelector, Operator, Requirement};
/// let labels = vec![("app".to_string(), "web".to_string())];
/// assert!(!Selector::parse(None).unwrap().matches(&labels));
/// let everything = LabelSelector { match_labels: vec![], match_expressions: vec![] };
/// assert!(Selector::parse(Some(&everything)).unwrap().matches(&labels));
/// let web = LabelSelector {
///     match_labels: vec![],
///     match_expressions: vec![Requirement { key: "app".into(), operator: Operator::In, values: vec!["web".into()] }],
/// };
/// assert!(Selector::parse(Some(&web)).unwrap().matches(&labels));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    /// `None`: matches nothing. `Some([])`: matches everything.
    requirements: Option<Vec<Requirement>>,
}

impl Selector {
    /// The selector that matches no labels.
    pub fn nothing() -> Selector {
        Selector { requirements: None }
    }

    /// Parses a selector as `metav1.LabelSelectorAsSelector` does; the error
    /// is the message kube-scheduler reports for an invalid requirement.
    pub fn parse(selector: Option<&LabelSelector>) -> Result<Selector, String> {
        let Some(selector) = selector else {
            return Ok(Selector::nothing());
        };
        let mut requirements: Vec<Requirement> = selector
            .match_labels
            .iter()
            .map(|(key, value)| Requirement {
                key: key.clone(),
                operator: Operator::In,
                values: vec![value.clone()],
            })
            .collect();
        for r in &selector.match_expressions {
            match r.operator {
                Operator::In | Operator::NotIn if r.values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: {:?}: for 'in', 'notin' operators, values set can't be empty",
                        r.values
                    ));
                }
                Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: {:?}: values set must be empty for exists and does not exist",
                        r.values
                    ));
                }
                Operator::Gt | Operator::Lt => {
                    return Err(format!(
                        "{:?} is not a valid label selector operator",
                        r.operator
                    ));
                }
                _ => requirements.push(r.clone()),
            }
        }
        Ok(Selector {
            requirements: Some(requirements),
        })
    }

    /// Adds `key in (value)` for each pair: how `matchLabelKeys` narrow a
    /// selector to the pod's own values. A selector that matches nothing
    /// stays so.
    pub fn with_labels(mut self, pairs: impl IntoIterator<Item = (String, String)>) -> Selector {
        if let Some(requirements) = &mut self.requirements {
            for (key, value) in pairs {
                requirements.push(Requirement {
                    key,
                    operator: Operator::In,
                    values: vec![value],
                });
            }
        }
        self
    }

    /// Whether the selector has no requirements at all (it matches
    /// everything), as `labels.Selector.Empty`.
    pub fn is_empty(&self) -> bool {
        self.requirements.as_ref().is_some_and(Vec::is_empty)
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        let Some(requirements) = &self.requirements else {
            return false;
        };
        requirements.iter().all(|r| {
            let value = lookup(labels, &r.key);
            let listed = |v: &str| r.values.iter().any(|x| x == v);
            match r.operator {
                Operator::In => value.is_some_and(listed),
                Operator::NotIn => value.is_none_or(|v| !listed(v)),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
                Operator::Gt | Operator::Lt => false,
            }
        })
    }
}

/// Whether the node satisfies the pod's `nodeSelector` and its required
/// node affinity (`nodeaffinity.GetRequiredNodeAffinity(pod).Match`): every
/// selector label, and any one of the required terms. A term with a
/// requirement kube-scheduler cannot parse does not match.
pub fn matches_required_node_affinity(pod: &Pod, node: &Node) -> bool {
    let selector = pod
        .node_selector
        .iter()
        .all(|(key, value)| lookup(&node.labels, key) == Some(value.as_str()));
    let required = pod.node_affinity.as_ref().and_then(|a| a.required.as_ref());
    selector && required.is_none_or(|terms| terms.iter().any(|t| term_matches(t, node)))
}

/// Whether every requirement of a node selector term holds for the node; a
/// term with no requirements, or one kube-scheduler cannot parse (an `In`
/// without values, a `Gt` whose bound is no integer, a field other than
/// `metadata.name`...), matches no node.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let empty = term.match_expressions.is_empty() && term.match_fields.is_empty();
    !empty
        && term
            .match_expressions
            .iter()
            .all(|r| node_label_matches(r, node))
        && term
            .match_fields
            .iter()
            .all(|r| node_field_matches(r, node))
}

fn node_label_matches(r: &Requirement, node: &Node) -> bool {
    let value = lookup(&node.labels, &r.key);
    let listed = |v: &str| r.values.iter().any(|x| x == v);
    match r.operator {
        Operator::In if !r.values.is_empty() => value.is_some_and(listed),
        Operator::NotIn if !r.values.is_empty() => value.is_none_or(|v| !listed(v)),
        Operator::Exists if r.values.is_empty() => value.is_some(),
        Operator::DoesNotExist if r.values.is_empty() => value.is_none(),
        Operator::Gt | Operator::Lt if r.values.len() == 1 => {
            let (Some(Ok(label)), Ok(bound)) =
                (value.map(str::parse::<i64>), r.values[0].parse::<i64>())
            else {
                return false;
            };
            if r.operator == Operator::Gt {
                label > bound
            } else {
                label < bound
            }
        }
        _ => false,
    }
}

fn node_field_matches(r: &Requirement, node: &Node) -> bool {
    if r.values.len() != 1 || !matches!(r.operator, Operator::In | Operator::NotIn) {
        return false;
    }
    let field = if r.key == "metadata.name" {
        node.name.as_str()
    } else {
        ""
    };
    (field == r.values[0]) == (r.operator == Operator::In)
}

/// Whether the node has a NoSchedule or NoExecute taint none of the pod's
/// tolerations tolerates (`FindMatchingUntoleratedTaint` with
/// `DoNotScheduleTaintsFilterFunc`).
pub fn has_untolerated_taint(pod: &Pod, node: &Node) -> bool {
    node.taints
        .iter()
        .filter(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute))
        .any(|t| !pod.tolerations.iter().any(|tol| tolerates(tol, t)))
}

/// `v1.Toleration.ToleratesTaint`: an empty effect matches every effect and
/// an empty key every key; Exists matches any value, Equal the same value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_ok = toleration.effect.is_none_or(|e| e == taint.effect);
    let key_ok = toleration.key.is_empty() || toleration.key == taint.key;
    let value_ok = match toleration.operator {
        TolerationOperator::Exists => true,
        TolerationOperator::Equal => toleration.value == taint.value,
    };
    effect_ok && key_ok && value_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod, requirement};
    use crate::{NodeAffinity, Operator::*};

    #[test]
    fn node_selectors_need_every_pair() {
        let n = node("n1").label("zone", "a").label("disk", "ssd").build();
        let selecting = |pairs: &[(&str, &str)]| {
            let mut p = pod("default", "p");
            for (key, value) in pairs {
                p = p.node_selector(key, value);
            }
            matches_required_node_affinity(&p.build(), &n)
        };
        assert!(selecting(&[]));
        assert!(selecting(&[("disk", "ssd"), ("zone", "a")]));
        assert!(!selecting(&[("disk", "ssd"), ("zone", "b")]));
        assert!(!selecting(&[("gpu", "")]));
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut l: Labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        l
    }

    fn selector(match_labels: &[(&str, &str)], expressions: Vec<Requirement>) -> Selector {
        Selector::parse(Some(&LabelSelector {
            match_labels: labels(match_labels),
            match_expressions: expressions,
        }))
        .unwrap()
    }

    #[test]
    fn operators_follow_apimachinery() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selector(&[("app", "web")], vec![]).matches(&l));
        assert!(!selector(&[("app", "db")], vec![]).matches(&l));
        assert!(selector(&[], vec![requirement("app", In, &["db", "web"])]).matches(&l));
        assert!(!selector(&[], vec![requirement("app", NotIn, &["web"])]).matches(&l));
        assert!(selector(&[], vec![requirement("zone", NotIn, &["a"])]).matches(&l));
        assert!(selector(&[], vec![requirement("tier", Exists, &[])]).matches(&l));
        assert!(!selector(&[], vec![requirement("tier", DoesNotExist, &[])]).matches(&l));
        assert!(selector(&[], vec![requirement("zone", DoesNotExist, &[])]).matches(&labels(&[])));
    }

    #[test]
    fn empty_and_missing_selectors_differ() {
        assert!(selector(&[], vec![]).is_empty());
        assert!(selector(&[], vec![]).matches(&labels(&[])));
        assert!(!Selector::nothing().is_empty());
        assert!(!Selector::nothing().matches(&labels(&[])));
        let narrowed = selector(&[], vec![]).with_labels([("app".into(), "web".into())]);
        assert!(!narrowed.is_empty());
        assert!(narrowed.matches(&labels(&[("app", "web")])));
        assert!(!narrowed.matches(&labels(&[("app", "db")])));
        let still_nothing = Selector::nothing().with_labels([("app".into(), "web".into())]);
        assert!(!still_nothing.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn invalid_requirements_are_refused() {
        for bad in [
            requirement("a", In, &[]),
            requirement("a", Exists, &["x"]),
            requirement("a", Gt, &["1"]),
        ] {
            let parsed = Selector::parse(Some(&LabelSelector {
                match_labels: vec![],
                match_expressions: vec![bad],
            }));
            assert!(parsed.is_err(), "{parsed:?}");
        }
    }

    #[test]
    fn required_node_affinity_ands_the_selector_with_any_term() {
        let n = node("n1").label("zone", "a").label("size", "5").build();
        let term = |r: Requirement| NodeSelectorTerm {
            match_expressions: vec![r],
            match_fields: vec![],
        };
        let with = |terms: Vec<NodeSelectorTerm>| {
            pod("d", "p")
                .node_affinity(NodeAffinity {
                    required: Some(terms),
                    preferred: vec![],
                })
                .build()
        };
        assert!(matches_required_node_affinity(&pod("d", "p").build(), &n));
        assert!(!matches_required_node_affinity(
            &pod("d", "p").node_selector("zone", "b").build(),
            &n
        ));
        assert!(matches_required_node_affinity(
            &with(vec![
                term(requirement("zone", In, &["b"])),
                term(requirement("size", Gt, &["4"]))
            ]),
            &n
        ));
        assert!(!matches_required_node_affinity(&with(vec![]), &n));
        assert!(!matches_required_node_affinity(
            &with(vec![term(requirement("size", Gt, &["x"]))]),
            &n
        ));
        let by_name = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![requirement("metadata.name", In, &["n1"])],
        };
        assert!(matches_required_node_affinity(&with(vec![by_name]), &n));
    }

    #[test]
    fn only_no_schedule_and_no_execute_taints_count() {
        let tainted = node("n1")
            .taint("a", "1", TaintEffect::PreferNoSchedule)
            .build();
        assert!(!has_untolerated_taint(&pod("d", "p").build(), &tainted));
        let tainted = node("n1").taint("a", "1", TaintEffect::NoExecute).build();
        assert!(has_untolerated_taint(&pod("d", "p").build(), &tainted));
        let tolerant = pod("d", "p")
            .toleration(Toleration {
                key: "a".into(),
                operator: TolerationOperator::Equal,
                value: "1".into(),
                effect: None,
                toleration_seconds: None,
            })
            .build();
        assert!(!has_untolerated_taint(&tolerant, &tainted));
    }
}
