//! Node selectors as kube-scheduler evaluates them
//! (`k8s.io/component-helpers/scheduling/corev1/nodeaffinity` and the label
//! requirements of `k8s.io/apimachinery/pkg/labels`).
//!
//! - A list of terms matches a node when any term does; an empty list
//!   matches no node.
//! - A term matches when all its requirements do; a term with no
//!   requirements at all matches no node.
//! - `matchExpressions` look at the node's labels, `matchFields` at its
//!   fields, of which there is one: `metadata.name`.
//! - A requirement kube-scheduler cannot parse (see [`validate`]) fails its
//!   term. Only `addedAffinity` and preferred terms report the error; in
//!   required terms it just does not match, as upstream.
//!
//! Not checked: the syntax of label keys and values (qualified names). The
//! apiserver validates those in pods; kube-scheduler would also reject
//! malformed ones in `addedAffinity`.

use kws_plugin_sdk::selector::term_matches;
use kws_plugin_sdk::{Node, NodeSelectorTerm, Operator, PreferredSchedulingTerm, Requirement};

/// The one node field `matchFields` can select on; any other key reads as
/// the empty string.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// Whether any of the terms matches the node.
pub fn matches_any(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|term| term_matches(term, node))
}

/// The sum of the weights of the preferred terms that match the node.
pub fn preferred_score(terms: &[PreferredSchedulingTerm], node: &Node) -> i64 {
    terms
        .iter()
        .filter(|t| term_matches(&t.preference, node))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// Why kube-scheduler would refuse a label requirement: the sub-field and
/// the message.
fn expression_error(r: &Requirement) -> Option<(&'static str, &'static str)> {
    match r.operator {
        Operator::In | Operator::NotIn if r.values.is_empty() => Some((
            ".values",
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Operator::Exists | Operator::DoesNotExist if !r.values.is_empty() => Some((
            ".values",
            "values set must be empty for exists and does not exist",
        )),
        Operator::Gt | Operator::Lt if r.values.len() != 1 => Some((
            ".values",
            "for 'Gt', 'Lt' operators, exactly one value is required",
        )),
        Operator::Gt | Operator::Lt if r.values[0].parse::<i64>().is_err() => Some((
            ".values[0]",
            "for 'Gt', 'Lt' operators, the value must be an integer",
        )),
        _ => None,
    }
}

/// Why kube-scheduler would refuse a field requirement.
fn field_error(r: &Requirement) -> Option<(&'static str, &'static str)> {
    match r.operator {
        Operator::In | Operator::NotIn if r.values.len() != 1 => {
            Some((".values", "must have one element"))
        }
        Operator::In | Operator::NotIn => None,
        _ => Some((".operator", "supported values: \"In\", \"NotIn\"")),
    }
}

/// Checks terms the way kube-scheduler parses them, naming the first field
/// it would refuse (`path` names the list). Empty terms are not parsed.
pub fn validate(terms: &[NodeSelectorTerm], path: &str) -> Result<(), String> {
    for (i, term) in terms.iter().enumerate() {
        validate_term(term, &format!("{path}[{i}]"))?;
    }
    Ok(())
}

/// Checks preferred terms as kube-scheduler parses them: terms with weight
/// 0 are skipped.
pub fn validate_preferred(terms: &[PreferredSchedulingTerm], path: &str) -> Result<(), String> {
    for (i, term) in terms.iter().enumerate().filter(|(_, t)| t.weight != 0) {
        validate_term(&term.preference, &format!("{path}[{i}].preference"))?;
    }
    Ok(())
}

type Check = fn(&Requirement) -> Option<(&'static str, &'static str)>;

fn validate_term(term: &NodeSelectorTerm, path: &str) -> Result<(), String> {
    let lists: [(&str, &[Requirement], Check); 2] = [
        (
            "matchExpressions",
            &term.match_expressions,
            expression_error,
        ),
        ("matchFields", &term.match_fields, field_error),
    ];
    for (list, requirements, check) in lists {
        for (i, r) in requirements.iter().enumerate() {
            if let Some((field, message)) = check(r) {
                return Err(format!("{path}.{list}[{i}]{field}: {message}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kws_plugin_sdk::testing::{node, requirement};

    fn term(expressions: Vec<Requirement>, fields: Vec<Requirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: expressions,
            match_fields: fields,
        }
    }

    /// Evaluates one label requirement against a node with `labels`.
    fn label(r: Requirement, labels: &[(&str, &str)]) -> bool {
        let n = labels
            .iter()
            .fold(node("n1"), |n, (k, v)| n.label(k, v))
            .build();
        term_matches(&term(vec![r], vec![]), &n)
    }

    fn field(r: Requirement, node_name: &str) -> bool {
        term_matches(&term(vec![], vec![r]), &node(node_name).build())
    }

    #[test]
    fn in_needs_the_label_with_a_listed_value() {
        assert!(label(
            requirement("zone", Operator::In, &["a", "b"]),
            &[("zone", "b")]
        ));
        assert!(!label(
            requirement("zone", Operator::In, &["a", "b"]),
            &[("zone", "c")]
        ));
        assert!(!label(requirement("zone", Operator::In, &["a"]), &[]));
        assert!(
            !label(requirement("zone", Operator::In, &[]), &[("zone", "")]),
            "no values: invalid"
        );
    }

    #[test]
    fn not_in_holds_when_the_label_is_absent_or_unlisted() {
        assert!(label(requirement("zone", Operator::NotIn, &["a"]), &[]));
        assert!(label(
            requirement("zone", Operator::NotIn, &["a"]),
            &[("zone", "b")]
        ));
        assert!(!label(
            requirement("zone", Operator::NotIn, &["a", "b"]),
            &[("zone", "b")]
        ));
        assert!(
            !label(requirement("zone", Operator::NotIn, &[]), &[]),
            "no values: invalid"
        );
    }

    #[test]
    fn exists_and_does_not_exist_look_at_the_key_only() {
        assert!(label(
            requirement("gpu", Operator::Exists, &[]),
            &[("gpu", "")]
        ));
        assert!(!label(
            requirement("gpu", Operator::Exists, &[]),
            &[("zone", "a")]
        ));
        assert!(label(
            requirement("gpu", Operator::DoesNotExist, &[]),
            &[("zone", "a")]
        ));
        assert!(!label(
            requirement("gpu", Operator::DoesNotExist, &[]),
            &[("gpu", "x")]
        ));
        // With values they are invalid, and invalid requirements never match.
        assert!(!label(
            requirement("gpu", Operator::Exists, &["x"]),
            &[("gpu", "x")]
        ));
        assert!(!label(
            requirement("gpu", Operator::DoesNotExist, &["x"]),
            &[]
        ));
    }

    #[test]
    fn gt_and_lt_compare_integers_strictly() {
        assert!(label(
            requirement("cores", Operator::Gt, &["4"]),
            &[("cores", "8")]
        ));
        assert!(!label(
            requirement("cores", Operator::Gt, &["8"]),
            &[("cores", "8")]
        ));
        assert!(label(
            requirement("cores", Operator::Lt, &["8"]),
            &[("cores", "4")]
        ));
        assert!(!label(
            requirement("cores", Operator::Lt, &["4"]),
            &[("cores", "4")]
        ));
        assert!(label(
            requirement("t", Operator::Lt, &["-2"]),
            &[("t", "-3")]
        ));
        assert!(label(
            requirement("t", Operator::Gt, &["+1"]),
            &[("t", "007")]
        ));
    }

    #[test]
    fn gt_and_lt_never_match_what_does_not_parse() {
        assert!(
            !label(requirement("cores", Operator::Gt, &["4"]), &[]),
            "no label"
        );
        assert!(!label(
            requirement("cores", Operator::Gt, &["4"]),
            &[("cores", "eight")]
        ));
        assert!(!label(
            requirement("cores", Operator::Gt, &["4"]),
            &[("cores", "8.0")]
        ));
        assert!(!label(
            requirement("cores", Operator::Lt, &["four"]),
            &[("cores", "1")]
        ));
        assert!(!label(
            requirement("cores", Operator::Lt, &["4", "5"]),
            &[("cores", "1")]
        ));
        assert!(!label(
            requirement("cores", Operator::Lt, &[]),
            &[("cores", "1")]
        ));
        let too_big = "9223372036854775808"; // i64::MAX + 1: ParseInt fails too
        assert!(!label(
            requirement("cores", Operator::Gt, &["1"]),
            &[("cores", too_big)]
        ));
    }

    #[test]
    fn match_fields_select_on_the_node_name() {
        assert!(field(
            requirement(NODE_NAME_FIELD, Operator::In, &["n1"]),
            "n1"
        ));
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::In, &["n1"]),
            "n2"
        ));
        assert!(field(
            requirement(NODE_NAME_FIELD, Operator::NotIn, &["n1"]),
            "n2"
        ));
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::NotIn, &["n1"]),
            "n1"
        ));
        // Any other field reads as "".
        assert!(!field(
            requirement("metadata.uid", Operator::In, &["n1"]),
            "n1"
        ));
        assert!(field(
            requirement("metadata.uid", Operator::In, &[""]),
            "n1"
        ));
        assert!(field(
            requirement("metadata.uid", Operator::NotIn, &["n1"]),
            "n1"
        ));
    }

    #[test]
    fn match_fields_take_one_value_and_in_or_not_in() {
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::In, &["n1", "n2"]),
            "n1"
        ));
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::NotIn, &[]),
            "n1"
        ));
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::Exists, &[]),
            "n1"
        ));
        assert!(!field(
            requirement(NODE_NAME_FIELD, Operator::Gt, &["1"]),
            "n1"
        ));
    }

    #[test]
    fn requirements_are_anded_and_terms_ored() {
        let n = node("n1").label("zone", "a").label("disk", "ssd").build();
        let zone_a = requirement("zone", Operator::In, &["a"]);
        let hdd = requirement("disk", Operator::In, &["hdd"]);
        let named = requirement(NODE_NAME_FIELD, Operator::In, &["n1"]);
        assert!(term_matches(
            &term(vec![zone_a.clone()], vec![named.clone()]),
            &n
        ));
        assert!(!term_matches(
            &term(vec![zone_a.clone(), hdd.clone()], vec![]),
            &n
        ));
        assert!(!term_matches(
            &term(
                vec![zone_a.clone()],
                vec![requirement(NODE_NAME_FIELD, Operator::In, &["n2"])]
            ),
            &n
        ));
        let either = [term(vec![hdd.clone()], vec![]), term(vec![zone_a], vec![])];
        assert!(matches_any(&either, &n));
        assert!(!matches_any(&either[..1], &n));
    }

    #[test]
    fn empty_terms_and_empty_lists_match_nothing() {
        let n = node("n1").label("zone", "a").build();
        assert!(!term_matches(&term(vec![], vec![]), &n));
        assert!(!matches_any(&[], &n));
        assert!(!matches_any(&[term(vec![], vec![])], &n));
    }

    #[test]
    fn preferred_score_sums_the_matching_weights() {
        let n = node("n1").label("zone", "a").label("disk", "ssd").build();
        let pref = |weight, r| PreferredSchedulingTerm {
            weight,
            preference: term(vec![r], vec![]),
        };
        let terms = [
            pref(30, requirement("zone", Operator::In, &["a"])),
            pref(20, requirement("disk", Operator::Exists, &[])),
            pref(50, requirement("gpu", Operator::Exists, &[])),
        ];
        assert_eq!(preferred_score(&terms, &n), 30 + 20);
        assert_eq!(preferred_score(&[], &n), 0);
    }

    #[test]
    fn validation_names_the_refused_field() {
        let path = "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
        let ok = term(vec![requirement("zone", Operator::In, &["a"])], vec![]);
        let case = |t: NodeSelectorTerm| validate(&[ok.clone(), t], path).unwrap_err();
        assert_eq!(
            case(term(
                vec![
                    requirement("a", Operator::Exists, &[]),
                    requirement("b", Operator::In, &[])
                ],
                vec![]
            )),
            format!(
                "{path}[1].matchExpressions[1].values: for 'in', 'notin' operators, values set can't be empty"
            )
        );
        assert_eq!(
            case(term(
                vec![requirement("cores", Operator::Gt, &["x"])],
                vec![]
            )),
            format!(
                "{path}[1].matchExpressions[0].values[0]: for 'Gt', 'Lt' operators, the value must be an integer"
            )
        );
        assert_eq!(
            case(term(
                vec![],
                vec![requirement(NODE_NAME_FIELD, Operator::Exists, &[])]
            )),
            format!("{path}[1].matchFields[0].operator: supported values: \"In\", \"NotIn\"")
        );
        assert_eq!(
            case(term(
                vec![],
                vec![requirement(NODE_NAME_FIELD, Operator::In, &["a", "b"])]
            )),
            format!("{path}[1].matchFields[0].values: must have one element")
        );
        assert!(validate(&[ok, term(vec![], vec![])], path).is_ok());
    }

    #[test]
    fn preferred_validation_skips_zero_weights() {
        let bad = term(vec![requirement("gpu", Operator::Exists, &["x"])], vec![]);
        let pref = |weight| PreferredSchedulingTerm {
            weight,
            preference: bad.clone(),
        };
        assert!(validate_preferred(&[pref(0)], "p").is_ok());
        assert_eq!(
            validate_preferred(&[pref(0), pref(5)], "p").unwrap_err(),
            "p[1].preference.matchExpressions[0].values: values set must be empty for exists and does not exist"
        );
    }
}
