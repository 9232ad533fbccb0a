//! `explain`: why a pod would land on a node, or on none. One scheduling
//! cycle of the real framework over every node of a cluster file, with each
//! filter plugin's verdict and each score plugin's raw, normalised and
//! weighted score per node.
//!
//! The JSON form is shared with the reference oracle in `tests/oracle`
//! (kube-scheduler's own plugins), which is how `tests/e2e/parity.rs`
//! compares the two schedulers.

use crate::config::Config;
use crate::framework::{
    CycleReport, Diagnosis, Framework, FrameworkError, PRE_FILTER, PluginScore, Preempted,
    Rejection, code_name,
};
use crate::model::manifest::Manifests;
use crate::runtime::LoadedPlugin;
use crate::simulate::Embedded;
use crate::wit::{Code, Status};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;

/// Why a pod could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(transparent)]
    Framework(#[from] FrameworkError),
    #[error("no pod {pod} in the cluster file (pods are named namespace/name)")]
    NoSuchPod { pod: String },
    #[error("pod {pod} is already bound to node {node}: explain takes a pending pod")]
    Bound { pod: String, node: String },
    #[error("explaining {pod}: {message}")]
    Cycle { pod: String, message: String },
}

/// Every node's verdict for one pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// `namespace/name`.
    pub pod: String,
    /// The profile that ran: the pod's `schedulerName`, or the first
    /// profile when none has that name.
    #[serde(skip)]
    pub profile: String,
    /// The pod's scheduling gates: while any is left the scheduler does not
    /// try the pod at all, whatever the nodes say.
    #[serde(skip)]
    pub scheduling_gates: Vec<String>,
    /// PreFilter's verdict: Success, or the plugin that rejected the pod
    /// for every node.
    pub pre_filter: PreFilterVerdict,
    /// Sorted by node name.
    pub nodes: Vec<NodeExplanation>,
    /// What PostFilter (preemption) said when no node fits: what the
    /// scheduler would do, not done here. In the JSON as the reference
    /// oracle prints DefaultPreemption's dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption: Option<PreemptionVerdict>,
}

/// PostFilter's answer for a pod no node fits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreemptionVerdict {
    /// The `preemption: ...` part of the failure message.
    pub message: String,
    /// The node the pod would be nominated to; empty when none.
    pub node: String,
    /// The pods that would be evicted, `namespace/name`, sorted.
    pub victims: Vec<String>,
}

impl From<&Preempted> for PreemptionVerdict {
    fn from(preempted: &Preempted) -> Self {
        let mut victims: Vec<String> = preempted.victims.iter().map(ToString::to_string).collect();
        victims.sort();
        PreemptionVerdict {
            message: preempted.message.clone(),
            node: preempted.nominated_node.clone().unwrap_or_default(),
            victims,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreFilterVerdict {
    pub code: &'static str,
    pub plugin: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeExplanation {
    pub name: String,
    /// Filter plugins in profile order up to and including the first that
    /// did not pass the node.
    pub filters: Vec<FilterVerdict>,
    pub feasible: bool,
    /// Feasible nodes only.
    pub scores: Vec<PluginScore>,
    /// Sum of normalised score times weight; `None` for rejected nodes.
    pub total: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterVerdict {
    pub plugin: String,
    /// kube-scheduler's `framework.Code` name.
    pub code: &'static str,
    pub reasons: Vec<String>,
}

/// Explains the pending pod `pod_ref` (`namespace/name`, or `name` in
/// `default`) of `objects`: the cluster as the file describes it, every
/// node considered.
///
/// ```no_run
/// use kws_host::{config::Config, explain, model::manifest, runtime};
/// let objects = manifest::read_file("examples/cluster.yaml".as_ref())?;
/// let (plugins, _refused) = runtime::load_dir("target/plugins".as_ref())?;
/// let e = explain::explain(&objects, &Config::default(), &plugins, "target/plugins", "default/web")?;
/// print!("{}", e.to_text());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn explain(
    objects: &Manifests,
    config: &Config,
    plugins: &[Arc<LoadedPlugin>],
    plugin_dir: &str,
    pod_ref: &str,
) -> Result<Explanation, ExplainError> {
    let (namespace, name) = pod_ref.split_once('/').unwrap_or(("default", pod_ref));
    let object = objects
        .pods
        .iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| ExplainError::NoSuchPod {
            pod: format!("{namespace}/{name}"),
        })?;
    let pod_name = format!("{namespace}/{name}");
    if let Some(node) = bound_node(object) {
        return Err(ExplainError::Bound {
            pod: pod_name,
            node: node.to_string(),
        });
    }
    let framework = Framework::new(config, plugins, plugin_dir)?;
    let mut embedded = Embedded::start(objects.clone(), config, framework);
    embedded.scheduler.sync();
    // The embedded cluster gives every pod a fresh uid, as on create.
    let watched = embedded
        .cluster
        .pods()
        .into_iter()
        .find(|p| {
            p.metadata.namespace.as_deref() == Some(namespace)
                && p.metadata.name.as_deref() == Some(name)
        })
        .ok_or_else(|| ExplainError::NoSuchPod {
            pod: pod_name.clone(),
        })?;
    let (profile, record, report) =
        embedded
            .scheduler
            .explain(&watched)
            .map_err(|message| ExplainError::Cycle {
                pod: pod_name.clone(),
                message,
            })?;
    Ok(Explanation {
        pod: pod_name,
        profile,
        scheduling_gates: record.scheduling_gates.clone(),
        pre_filter: match &report.pre_filter {
            Some((plugin, status)) => PreFilterVerdict {
                code: code_name(status.code),
                plugin: plugin.clone(),
                reasons: status.reasons.clone(),
            },
            None => PreFilterVerdict {
                code: code_name(Code::Success),
                plugin: String::new(),
                reasons: Vec::new(),
            },
        },
        preemption: report.preemption.as_ref().map(PreemptionVerdict::from),
        nodes: nodes(report),
    })
}

fn bound_node(pod: &k8s_openapi::api::core::v1::Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

fn nodes(report: CycleReport) -> Vec<NodeExplanation> {
    let mut nodes: Vec<NodeExplanation> = report
        .nodes
        .into_iter()
        .map(|node| {
            let passed = node.rejected.as_ref().map_or(report.filters.len(), |r| {
                // A node PreFilter left out ran no filter.
                if r.0 == PRE_FILTER { 0 } else { r.0 }
            });
            let mut filters: Vec<FilterVerdict> = report.filters[..passed]
                .iter()
                .filter(|plugin| !report.skipped_filters.contains(plugin))
                .map(|plugin| FilterVerdict {
                    plugin: plugin.clone(),
                    code: code_name(Code::Success),
                    reasons: Vec::new(),
                })
                .collect();
            if let Some((index, status)) = &node.rejected {
                filters.push(FilterVerdict {
                    plugin: report
                        .filters
                        .get(*index)
                        .cloned()
                        .or_else(|| report.narrowed_by.clone())
                        .or_else(|| report.pre_filter.as_ref().map(|(p, _)| p.clone()))
                        .unwrap_or_default(),
                    code: code_name(status.code),
                    reasons: status.reasons.clone(),
                });
            }
            let feasible = node.rejected.is_none();
            NodeExplanation {
                name: node.node,
                filters,
                feasible,
                total: feasible.then(|| node.scores.iter().map(|s| s.normalized * s.weight).sum()),
                scores: node.scores,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

impl Explanation {
    /// The nodes with the highest total (the scheduler picks one of them at
    /// random), or kube-scheduler's failure message when none is feasible.
    pub fn verdict(&self) -> String {
        let best = self.nodes.iter().filter_map(|n| n.total).max();
        let Some(best) = best else {
            let diagnosis = Diagnosis {
                total_nodes: self.nodes.len(),
                rejected: self
                    .nodes
                    .iter()
                    .filter_map(|n| {
                        let last = n.filters.last()?;
                        Some(Rejection {
                            node: n.name.clone(),
                            plugin: last.plugin.clone(),
                            status: Status {
                                code: Code::Unschedulable,
                                reasons: last.reasons.clone(),
                            },
                        })
                    })
                    .collect(),
                pre_filter: (self.pre_filter.code != code_name(Code::Success))
                    .then(|| self.pre_filter.reasons.join(", ")),
                post_filter: self.preemption.as_ref().map(|p| p.message.clone()),
                ..Diagnosis::default()
            };
            let mut verdict = format!("unschedulable: {}", diagnosis.message());
            if let Some(preempted) = &self.preemption
                && !preempted.victims.is_empty()
            {
                let _ = write!(
                    verdict,
                    "
would preempt: {}",
                    preempted.victims.join(", ")
                );
            }
            return verdict;
        };
        let winners: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.total == Some(best))
            .map(|n| n.name.as_str())
            .collect();
        match winners.as_slice() {
            [one] => format!("goes to {one} (total {best})"),
            many => format!(
                "goes to one of {} (tied at total {best}, chosen at random)",
                many.join(", ")
            ),
        }
    }

    /// One row per node: the verdict (or the plugin that rejected it, with
    /// its reasons), each plugin's normalised score times its weight (raw
    /// score in brackets when normalisation changed it), and the total.
    pub fn to_text(&self) -> String {
        let mut rows = vec![[
            "NODE".to_string(),
            "FILTER".to_string(),
            "SCORES (normalized x weight)".to_string(),
            "TOTAL".to_string(),
        ]];
        for node in &self.nodes {
            let filter = match (node.feasible, node.filters.last()) {
                (true, _) => "fits".to_string(),
                (false, Some(last)) => format!("{}: {}", last.plugin, last.reasons.join(", ")),
                (false, None) => "-".to_string(),
            };
            let scores: Vec<String> = node
                .scores
                .iter()
                .map(|s| {
                    let raw = if s.raw == s.normalized {
                        String::new()
                    } else {
                        format!(" (raw {})", s.raw)
                    };
                    format!("{} {}x{}{raw}", s.plugin, s.normalized, s.weight)
                })
                .collect();
            rows.push([
                node.name.clone(),
                filter,
                scores.join(", "),
                node.total.map_or("-".to_string(), |t| t.to_string()),
            ]);
        }
        let widths: Vec<usize> = (0..4)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut text = format!("pod {} (profile {})\n", self.pod, self.profile);
        if self.pre_filter.code != code_name(Code::Success) {
            let _ = writeln!(
                text,
                "PreFilter {}: {}: {}",
                self.pre_filter.plugin,
                self.pre_filter.code,
                self.pre_filter.reasons.join(", ")
            );
        }
        for row in &rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
                }
            }
            let _ = writeln!(text, "{}", line.trim_end());
        }
        let _ = writeln!(text, "{}", self.verdict());
        if !self.scheduling_gates.is_empty() {
            let _ = writeln!(
                text,
                "but the pod is not tried until its scheduling gates are removed: {}",
                self.scheduling_gates.join(", ")
            );
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::NodeReport;

    fn score(plugin: &str, raw: i64, normalized: i64, weight: i64) -> PluginScore {
        PluginScore {
            plugin: plugin.into(),
            raw,
            normalized,
            weight,
        }
    }

    fn report() -> CycleReport {
        CycleReport {
            preemption: None,
            pre_filter: None,
            filters: vec!["A".into(), "B".into(), "C".into()],
            skipped_filters: Vec::new(),
            narrowed_by: None,
            nodes: vec![
                NodeReport {
                    node: "z".into(),
                    rejected: None,
                    scores: vec![score("S", 3, 100, 2), score("T", 7, 7, 1)],
                },
                NodeReport {
                    node: "m".into(),
                    rejected: Some((
                        1,
                        Status {
                            code: Code::UnschedulableAndUnresolvable,
                            reasons: vec!["no".into()],
                        },
                    )),
                    scores: Vec::new(),
                },
                NodeReport {
                    node: "a".into(),
                    rejected: None,
                    scores: vec![score("S", 0, 0, 2), score("T", 207, 100, 1)],
                },
            ],
        }
    }

    fn explanation(report: CycleReport) -> Explanation {
        Explanation {
            pod: "default/p".into(),
            profile: "kube-wasm-scheduler".into(),
            scheduling_gates: Vec::new(),
            pre_filter: PreFilterVerdict {
                code: "Success",
                plugin: String::new(),
                reasons: Vec::new(),
            },
            preemption: report.preemption.as_ref().map(PreemptionVerdict::from),
            nodes: nodes(report),
        }
    }

    #[test]
    fn nodes_are_sorted_with_the_filters_up_to_the_rejecting_one() {
        let e = explanation(report());
        let names: Vec<&str> = e.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "m", "z"]);
        let m = &e.nodes[1];
        assert!(!m.feasible);
        assert_eq!(m.total, None);
        let filters: Vec<(&str, &str)> = m
            .filters
            .iter()
            .map(|f| (f.plugin.as_str(), f.code))
            .collect();
        assert_eq!(
            filters,
            [("A", "Success"), ("B", "UnschedulableAndUnresolvable")]
        );
        assert_eq!(e.nodes[2].filters.len(), 3);
        assert_eq!(e.nodes[2].total, Some(207));
        assert_eq!(e.nodes[0].total, Some(100));
    }

    #[test]
    fn skipped_filters_are_left_out_and_narrowed_nodes_name_the_plugins() {
        let mut r = report();
        r.skipped_filters = vec!["A".into()];
        r.narrowed_by = Some("N1,N2".into());
        r.nodes[1].rejected = Some((
            PRE_FILTER,
            Status {
                code: Code::UnschedulableAndUnresolvable,
                reasons: vec!["node(s) didn't satisfy plugin(s) [N1 N2]".into()],
            },
        ));
        let e = explanation(r);
        let listed = |n: &NodeExplanation| -> Vec<String> {
            n.filters.iter().map(|f| f.plugin.clone()).collect()
        };
        assert_eq!(listed(&e.nodes[0]), ["B", "C"], "A skipped at PreFilter");
        assert_eq!(listed(&e.nodes[1]), ["N1,N2"]);
        assert_eq!(e.nodes[1].filters[0].code, "UnschedulableAndUnresolvable");
    }

    #[test]
    fn scheduling_gates_are_named() {
        let mut e = explanation(report());
        e.scheduling_gates = vec!["example.com/quota".into()];
        assert!(e.to_text().ends_with(
            "goes to z (total 207)\nbut the pod is not tried until its scheduling gates are removed: example.com/quota\n"
        ));
    }

    #[test]
    fn the_verdict_names_the_winner_the_ties_or_why_nothing_fits() {
        let e = explanation(report());
        assert_eq!(e.verdict(), "goes to z (total 207)");
        assert!(
            e.to_text().contains("z     fits    S 100x2 (raw 3), T 7x1"),
            "{}",
            e.to_text()
        );

        let mut tie = report();
        tie.nodes[2].scores = vec![score("S", 100, 100, 2), score("T", 7, 7, 1)];
        assert_eq!(
            explanation(tie).verdict(),
            "goes to one of a, z (tied at total 207, chosen at random)"
        );

        let mut none = report();
        for node in &mut none.nodes {
            node.rejected = Some((
                0,
                Status {
                    code: Code::Unschedulable,
                    reasons: vec!["Insufficient cpu".into()],
                },
            ));
            node.scores.clear();
        }
        assert_eq!(
            explanation(none.clone()).verdict(),
            "unschedulable: 0/3 nodes are available: 3 Insufficient cpu."
        );
        // Preemption's say, and the pods it would evict.
        none.preemption = Some(Preempted {
            message:
                "preemption: found a potential placement for pod on node a, preempting 1 victims"
                    .into(),
            nominated_node: Some("a".into()),
            victims: vec![crate::backend::PodRef {
                namespace: "default".into(),
                name: "low".into(),
                uid: "u".into(),
            }],
        });
        assert_eq!(
            explanation(none).verdict(),
            "unschedulable: 0/3 nodes are available: 3 Insufficient cpu. preemption: found a potential placement for pod on node a, preempting 1 victims\nwould preempt: default/low"
        );
    }
}
