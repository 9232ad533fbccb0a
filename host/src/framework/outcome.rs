//! What a cycle ends with: the outcome, kube-scheduler's failure
//! message built from each rejected node's status (`FitError`), and the
//! per-node report `explain` prints.

use super::*;

/// How one pod's scheduling cycle ended.
#[derive(Debug)]
pub enum Outcome {
    /// The pod goes to `cycle.node`; Reserve, Permit and the binding cycle
    /// follow through `cycle`.
    Scheduled(Box<Cycle>),
    /// No node fits.
    Unschedulable(Box<Diagnosis>),
    /// A plugin failed; the pod is retried after backoff.
    Failed(String),
}

/// Why no node fits: each rejected node's status and the plugin that
/// rejected it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagnosis {
    pub total_nodes: usize,
    pub rejected: Vec<Rejection>,
    /// A PreFilter plugin rejected the pod for every node: its message
    /// stands in for the per-node reasons.
    pub pre_filter: Option<String>,
    /// The PreFilter plugin that did.
    pub pre_filter_plugin: Option<String>,
    /// What PostFilter said (kube-scheduler's `preemption: ...` part).
    pub post_filter: Option<String>,
    /// The node PostFilter nominated, if any; `Some("")` clears the pod's
    /// nomination (upstream's ModeOverride with an empty node).
    pub nominated_node: Option<String>,
    /// The pods preemption evicts to make room on the nominated node.
    pub victims: Vec<crate::backend::PodRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub node: String,
    pub plugin: String,
    pub status: Status,
}

impl Diagnosis {
    /// The plugins that rejected the pod (kube-scheduler's
    /// UnschedulablePlugins): the events they registered for may help it.
    /// A node PreFilter left out names every plugin that narrowed the
    /// nodes, joined by commas.
    pub fn plugins(&self) -> Vec<String> {
        let mut plugins: Vec<String> = self
            .rejected
            .iter()
            .flat_map(|r| r.plugin.split(',').map(str::to_string))
            .chain(self.pre_filter_plugin.clone())
            .collect();
        plugins.sort();
        plugins.dedup();
        plugins
    }

    /// kube-scheduler's message: `0/3 nodes are available: 1 Insufficient
    /// cpu, 2 node(s) didn't match Pod's node affinity/selector.` Each reason
    /// is counted once per node that gave it; entries are sorted as text.
    ///
    /// ```
    /// use kws_host::framework::{Diagnosis, Rejection};
    /// use kws_host::wit::{Code, Status};
    /// let reject = |node: &str, reason: &str| Rejection {
    ///     node: node.into(),
    ///     plugin: "P".into(),
    ///     status: Status { code: Code::Unschedulable, reasons: vec![reason.into()] },
    /// };
    /// let d = Diagnosis {
    ///     total_nodes: 3,
    ///     rejected: vec![reject("a", "Insufficient cpu"), reject("b", "Too many pods"), reject("c", "Insufficient cpu")],
    ///     ..Diagnosis::default()
    /// };
    /// assert_eq!(d.message(), "0/3 nodes are available: 1 Too many pods, 2 Insufficient cpu.");
    /// ```
    ///
    /// When PreFilter rejected the pod its message replaces the per-node
    /// reasons, and PostFilter's message follows, as upstream's FitError.
    pub fn message(&self) -> String {
        if self.total_nodes == 0 {
            return "no nodes available to schedule pods".to_string();
        }
        let mut message = format!("0/{} nodes are available:", self.total_nodes);
        match &self.pre_filter {
            Some(pre_filter) => message.push_str(&format!(" {pre_filter}.")),
            None => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for rejection in &self.rejected {
                    for reason in &rejection.status.reasons {
                        *counts.entry(reason).or_default() += 1;
                    }
                }
                let mut reasons: Vec<String> = counts
                    .into_iter()
                    .map(|(reason, count)| format!("{count} {reason}"))
                    .collect();
                reasons.sort();
                message.push_str(&format!(" {}.", reasons.join(", ")));
            }
        }
        // As upstream's FitError, PostFilter's message ends as the plugin
        // wrote it (`preemption: 0/3 nodes are available: ...` ends with
        // its own period).
        if let Some(post_filter) = &self.post_filter {
            message.push_str(&format!(" {post_filter}"));
        }
        message
    }
}

/// What PostFilter said when no node fit, for `explain`: its message
/// (kube-scheduler's `preemption: ...`), the node it would nominate and
/// the pods it would evict there (`explain` evicts nothing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preempted {
    pub message: String,
    pub nominated_node: Option<String>,
    pub victims: Vec<crate::backend::PodRef>,
}

impl Preempted {
    /// PostFilter's part of a diagnosis, if it said anything.
    pub fn of(diagnosis: Diagnosis) -> Option<Preempted> {
        Some(Preempted {
            message: diagnosis.post_filter?,
            nominated_node: diagnosis.nominated_node.filter(|n| !n.is_empty()),
            victims: diagnosis.victims,
        })
    }
}

/// One cycle on every node with every plugin's answer, for `explain`.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleReport {
    /// What PostFilter said when no node fits.
    pub preemption: Option<Preempted>,
    /// A PreFilter plugin that rejected the pod for every node, and its
    /// status (no filter ran then).
    pub pre_filter: Option<(String, Status)>,
    /// The profile's filter plugins, in the order they run.
    pub filters: Vec<String>,
    /// Filter plugins that did not run for the pod: Skip at PreFilter (or
    /// left out after a fault under `failurePolicy: Ignore`).
    pub skipped_filters: Vec<String>,
    /// The PreFilter plugins that narrowed the nodes (joined by commas),
    /// which a node they left out is reported as rejected by.
    pub narrowed_by: Option<String>,
    /// Every node of the snapshot, in snapshot order.
    pub nodes: Vec<NodeReport>,
}

/// The position [`NodeReport::rejected`] gives a node PreFilter ruled
/// out: before every filter plugin.
pub const PRE_FILTER: usize = usize::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub node: String,
    /// The first filter plugin (index into [`CycleReport::filters`]) that
    /// did not pass the node, and its status; `None` if the node is
    /// feasible. The plugins before it passed it.
    pub rejected: Option<(usize, Status)>,
    /// Feasible nodes only: each score plugin in profile order.
    pub scores: Vec<PluginScore>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PluginScore {
    pub plugin: String,
    pub raw: i64,
    /// After NormalizeScore; the raw score when the plugin has none.
    pub normalized: i64,
    pub weight: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    fn rejection(node: &str, code: Code, reasons: &[&str]) -> Rejection {
        Rejection {
            node: node.into(),
            plugin: "P".into(),
            status: Status {
                code,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            },
        }
    }
    #[test]
    fn failure_messages_match_kube_scheduler() {
        let d = Diagnosis {
            total_nodes: 3,
            rejected: vec![
                rejection(
                    "a",
                    Code::Unschedulable,
                    &["Insufficient cpu", "Insufficient memory"],
                ),
                rejection(
                    "b",
                    Code::UnschedulableAndUnresolvable,
                    &["node(s) had untolerated taint(s)"],
                ),
                rejection(
                    "c",
                    Code::UnschedulableAndUnresolvable,
                    &["node(s) had untolerated taint(s)"],
                ),
            ],
            ..Diagnosis::default()
        };
        assert_eq!(
            d.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 2 node(s) had untolerated taint(s)."
        );
        assert_eq!(
            Diagnosis::default().message(),
            "no nodes available to schedule pods"
        );
        // PostFilter's message follows as the plugin wrote it, as in
        // kube-scheduler's FitError (no period added).
        let preempted = Diagnosis {
            total_nodes: 1,
            rejected: vec![rejection("a", Code::Unschedulable, &["Insufficient cpu"])],
            post_filter: Some(
                "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
                    .into(),
            ),
            ..Diagnosis::default()
        };
        assert_eq!(
            preempted.message(),
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
    }
}
