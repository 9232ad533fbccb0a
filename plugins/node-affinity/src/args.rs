//! `NodeAffinityArgs` in kube-scheduler's JSON shape (`kubescheduler.config.k8s.io/v1`),
//! turned into the SDK's node selector types.
//!
//! Missing fields take Go's zero values, as when kube-scheduler decodes the
//! args; unknown fields are refused.

use crate::selector;
use kws_plugin_sdk::{NodeSelectorTerm, Operator, PreferredSchedulingTerm, Requirement};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinityArgs {
    /// Applied to every pod on top of its own node affinity.
    #[serde(default)]
    pub added_affinity: Option<AddedAffinity>,
}

/// A `v1.NodeAffinity`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddedAffinity {
    #[serde(default)]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelectorJson>,
    #[serde(default)]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredTermJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorJson {
    #[serde(default)]
    pub node_selector_terms: Vec<TermJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferredTermJson {
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub preference: TermJson,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TermJson {
    #[serde(default)]
    pub match_expressions: Vec<RequirementJson>,
    #[serde(default)]
    pub match_fields: Vec<RequirementJson>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementJson {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub values: Vec<String>,
}

const REQUIRED: &str =
    "addedAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms";
const PREFERRED: &str = "addedAffinity.preferredDuringSchedulingIgnoredDuringExecution";

/// The added affinity, checked as kube-scheduler checks it:
/// `(required terms if set, preferred terms)`.
pub type Added = (Option<Vec<NodeSelectorTerm>>, Vec<PreferredSchedulingTerm>);

impl NodeAffinityArgs {
    pub fn into_added(self) -> Result<Added, String> {
        let added = self.added_affinity.unwrap_or_default();
        let required = added
            .required_during_scheduling_ignored_during_execution
            .map(|ns| terms(ns.node_selector_terms, REQUIRED))
            .transpose()?;
        let preferred = added
            .preferred_during_scheduling_ignored_during_execution
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(PreferredSchedulingTerm {
                    weight: t.weight,
                    preference: term(t.preference, &format!("{PREFERRED}[{i}].preference"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if let Some(required) = &required {
            selector::validate(required, REQUIRED)?;
        }
        selector::validate_preferred(&preferred, PREFERRED)?;
        Ok((required, preferred))
    }
}

fn terms(terms: Vec<TermJson>, path: &str) -> Result<Vec<NodeSelectorTerm>, String> {
    let path = |i| format!("{path}[{i}]");
    terms
        .into_iter()
        .enumerate()
        .map(|(i, t)| term(t, &path(i)))
        .collect()
}

fn term(t: TermJson, path: &str) -> Result<NodeSelectorTerm, String> {
    let requirements = |list: Vec<RequirementJson>, name: &str| {
        list.into_iter()
            .enumerate()
            .map(|(i, r)| requirement(r, &format!("{path}.{name}[{i}]")))
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(NodeSelectorTerm {
        match_expressions: requirements(t.match_expressions, "matchExpressions")?,
        match_fields: requirements(t.match_fields, "matchFields")?,
    })
}

fn requirement(r: RequirementJson, path: &str) -> Result<Requirement, String> {
    let operator = match r.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        "Gt" => Operator::Gt,
        "Lt" => Operator::Lt,
        other => {
            return Err(format!(
                "{path}.operator: unsupported value {other:?}: supported values: \
                 \"DoesNotExist\", \"Exists\", \"Gt\", \"In\", \"Lt\", \"NotIn\""
            ));
        }
    };
    Ok(Requirement {
        key: r.key,
        operator,
        values: r.values,
    })
}
