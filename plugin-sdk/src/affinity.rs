//! Pod affinity terms, parsed once.
//!
//! A policy that honours other pods' affinity (InterPodAffinity) looks at
//! every such pod for every pod it places. Parsing their terms each time
//! cost more than the rest of the work together, so the [`Cluster`] parses
//! a pod's terms when the pod joins a node and keeps them beside it
//! ([`NodeInfo::pods_with_affinity`]), as kube-scheduler's `PodInfo` does.
//!
//! ```
//! use kws_plugin_sdk::affinity::AffinityTerm;
//! use kws_plugin_sdk::testing::pod;
//! use kws_plugin_sdk::{LabelSelector, PodAffinityTerm};
//!
//! let owner = pod("shop", "web-0").build();
//! let term = PodAffinityTerm {
//!     label_selector: Some(LabelSelector {
//!         match_labels: vec![("app".into(), "db".into())],
//!         match_expressions: vec![],
//!     }),
//!     namespaces: vec![],
//!     namespace_selector: None,
//!     topology_key: "kubernetes.io/hostname".into(),
//!     match_label_keys: vec![],
//!     mismatch_label_keys: vec![],
//! };
//! let term = AffinityTerm::parse(&owner, &term, 0).unwrap();
//! // No namespaces and no namespace selector: the owner's namespace.
//! assert!(term.matches(&pod("shop", "db-0").label("app", "db").build(), &vec![]));
//! assert!(!term.matches(&pod("other", "db-0").label("app", "db").build(), &vec![]));
//! ```
//!
//! [`Cluster`]: crate::Cluster
//! [`NodeInfo::pods_with_affinity`]: crate::NodeInfo::pods_with_affinity

use crate::selector::Selector;
use crate::{Cluster, Labels, NodeInfo, Pod, PodAffinityTerm};

/// A pod affinity term with its selectors parsed and its namespaces
/// defaulted (kube-scheduler's `AffinityTerm`, with the weight of
/// `WeightedAffinityTerm`).
#[derive(Clone, Debug, PartialEq)]
pub struct AffinityTerm {
    /// The namespaces listed, or the owner's when the term lists none and
    /// has no namespace selector.
    pub namespaces: Vec<String>,
    pub namespace_selector: Selector,
    pub selector: Selector,
    pub topology_key: String,
    /// The preferred term's weight; 0 for required terms.
    pub weight: i64,
}

impl AffinityTerm {
    /// Parses one of `owner`'s terms; the error is the selector's.
    pub fn parse(owner: &Pod, term: &PodAffinityTerm, weight: i32) -> Result<Self, String> {
        let namespaces = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
            vec![owner.namespace.clone()]
        } else {
            term.namespaces.clone()
        };
        Ok(AffinityTerm {
            namespaces,
            namespace_selector: Selector::parse(term.namespace_selector.as_ref())?,
            selector: Selector::parse(term.label_selector.as_ref())?,
            topology_key: term.topology_key.clone(),
            weight: i64::from(weight),
        })
    }

    /// Whether `pod`, whose namespace has `namespace_labels`, matches.
    pub fn matches(&self, pod: &Pod, namespace_labels: &Labels) -> bool {
        (self.namespaces.contains(&pod.namespace)
            || self.namespace_selector.matches(namespace_labels))
            && self.selector.matches(&pod.labels)
    }

    /// Turns a non-empty namespace selector into the namespaces it selects
    /// now, as kube-scheduler does for the incoming pod's terms, so that
    /// matching needs no namespace labels.
    pub fn resolve_namespaces(&mut self, cluster: &Cluster) {
        if self.namespace_selector.is_empty() {
            return;
        }
        for (name, labels) in cluster.namespaces() {
            if self.namespace_selector.matches(labels) {
                self.namespaces.push(name.to_string());
            }
        }
        self.namespace_selector = Selector::nothing();
    }

    /// The node's domain for this term, its topology label as a key-value
    /// pair borrowed from the node; `None` when the node lacks the key.
    pub fn domain<'a>(&self, node: &'a NodeInfo) -> Option<(&'a str, &'a str)> {
        node.label_pair(&self.topology_key)
    }
}

/// Every affinity term of one pod, parsed (the terms of kube-scheduler's
/// `PodInfo`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AffinityTerms {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<AffinityTerm>,
    pub preferred_anti_affinity: Vec<AffinityTerm>,
}

impl AffinityTerms {
    /// The terms of a pod already placed. A kind of terms that does not
    /// parse is left empty, as kube-scheduler leaves it when the pod's
    /// `PodInfo` fails to build: such terms never match.
    pub fn of_placed(pod: &Pod) -> Self {
        AffinityTerms {
            required_affinity: required_affinity(pod).unwrap_or_default(),
            required_anti_affinity: required_anti_affinity(pod).unwrap_or_default(),
            preferred_affinity: preferred_affinity(pod).unwrap_or_default(),
            preferred_anti_affinity: preferred_anti_affinity(pod).unwrap_or_default(),
        }
    }
}

/// The pod's required pod affinity terms.
pub fn required_affinity(pod: &Pod) -> Result<Vec<AffinityTerm>, String> {
    let terms = pod.pod_affinity.iter().flat_map(|a| &a.required);
    terms.map(|t| AffinityTerm::parse(pod, t, 0)).collect()
}

/// The pod's required pod anti-affinity terms.
pub fn required_anti_affinity(pod: &Pod) -> Result<Vec<AffinityTerm>, String> {
    let terms = pod.pod_anti_affinity.iter().flat_map(|a| &a.required);
    terms.map(|t| AffinityTerm::parse(pod, t, 0)).collect()
}

/// The pod's preferred pod affinity terms, with their weights.
pub fn preferred_affinity(pod: &Pod) -> Result<Vec<AffinityTerm>, String> {
    let terms = pod.pod_affinity.iter().flat_map(|a| &a.preferred);
    terms
        .map(|t| AffinityTerm::parse(pod, &t.term, t.weight))
        .collect()
}

/// The pod's preferred pod anti-affinity terms, with their weights.
pub fn preferred_anti_affinity(pod: &Pod) -> Result<Vec<AffinityTerm>, String> {
    let terms = pod.pod_anti_affinity.iter().flat_map(|a| &a.preferred);
    terms
        .map(|t| AffinityTerm::parse(pod, &t.term, t.weight))
        .collect()
}

/// A pod on a node that has pod affinity or anti-affinity of any kind,
/// with its terms parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct PodWithAffinity {
    pub uid: String,
    pub terms: AffinityTerms,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod;
    use crate::{LabelSelector, Operator, PodAffinity, Requirement, WeightedPodAffinityTerm};

    fn term(selector: LabelSelector) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(selector),
            namespaces: vec![],
            namespace_selector: None,
            topology_key: "zone".into(),
            match_label_keys: vec![],
            mismatch_label_keys: vec![],
        }
    }

    #[test]
    fn a_kind_that_does_not_parse_is_dropped_alone() {
        let valid = LabelSelector {
            match_labels: vec![("app".into(), "db".into())],
            match_expressions: vec![],
        };
        let invalid = LabelSelector {
            match_labels: vec![],
            match_expressions: vec![Requirement {
                key: "app".into(),
                operator: Operator::In,
                values: vec![],
            }],
        };
        let placed = pod("d", "p")
            .pod_affinity(PodAffinity {
                required: vec![term(invalid.clone())],
                preferred: vec![WeightedPodAffinityTerm {
                    weight: 7,
                    term: term(valid.clone()),
                }],
            })
            .pod_anti_affinity(PodAffinity {
                required: vec![term(valid)],
                preferred: vec![],
            })
            .build();
        assert!(required_affinity(&placed).is_err());
        let terms = AffinityTerms::of_placed(&placed);
        assert!(terms.required_affinity.is_empty());
        assert_eq!(terms.preferred_affinity.len(), 1);
        assert_eq!(terms.preferred_affinity[0].weight, 7);
        assert_eq!(terms.required_anti_affinity.len(), 1);
        assert_eq!(terms.required_anti_affinity[0].namespaces, vec!["d"]);
    }
}
