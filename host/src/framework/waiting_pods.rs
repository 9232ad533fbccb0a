//! Pods held at Permit (kube-scheduler's waiting pods map): reserved on a
//! node, waiting until every permit plugin that said `wait` allows them,
//! one rejects them, or their timeout passes.
//!
//! Plugins allow and reject through the host interface during their own
//! calls (a gang's last member allows the others from its permit call),
//! possibly on a worker thread; the scheduling loop collects the decided
//! pods after each cycle and when a timeout is due.

use crate::wit;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// What became of a waiting pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    /// Every plugin that held it allowed it: its binding cycle may start.
    Allowed,
    /// A plugin rejected it (`plugin`, its message), or the timeout passed
    /// (kube-scheduler's message names the plugins still pending).
    Rejected { plugin: String, message: String },
}

#[derive(Debug)]
struct Waiting {
    record: wit::WaitingPod,
    profile: String,
    pending: BTreeSet<String>,
    since: Instant,
    deadline: Instant,
    verdict: Option<Decision>,
}

/// The pods waiting at permit, shared by the loop and every plugin
/// instance of every profile.
#[derive(Debug, Default)]
pub struct WaitingPods {
    pods: Mutex<HashMap<String, Waiting>>,
}

impl WaitingPods {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds a pod from `since` until the `pending` plugins allow it or
    /// `deadline`.
    pub fn add(
        &self,
        profile: &str,
        record: wit::WaitingPod,
        pending: BTreeSet<String>,
        since: Instant,
        deadline: Instant,
    ) {
        let uid = record.uid.clone();
        self.lock().insert(
            uid,
            Waiting {
                record,
                profile: profile.to_string(),
                pending,
                since,
                deadline,
                verdict: None,
            },
        );
    }

    /// The pods still waiting, as plugins see them.
    pub fn list(&self) -> Vec<wit::WaitingPod> {
        let mut pods: Vec<wit::WaitingPod> = self
            .lock()
            .values()
            .filter(|w| w.verdict.is_none())
            .map(|w| wit::WaitingPod {
                pending_plugins: w.pending.iter().cloned().collect(),
                ..w.record.clone()
            })
            .collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods
    }

    /// `plugin` allows the pod; false when no pod with that uid waits.
    pub fn allow(&self, uid: &str, plugin: &str) -> bool {
        let mut pods = self.lock();
        let Some(waiting) = pods.get_mut(uid).filter(|w| w.verdict.is_none()) else {
            return false;
        };
        waiting.pending.remove(plugin);
        if waiting.pending.is_empty() {
            waiting.verdict = Some(Decision::Allowed);
        }
        true
    }

    /// `plugin` rejects the pod; false when no pod with that uid waits.
    pub fn reject(&self, uid: &str, plugin: &str, message: String) -> bool {
        let mut pods = self.lock();
        let Some(waiting) = pods.get_mut(uid).filter(|w| w.verdict.is_none()) else {
            return false;
        };
        waiting.verdict = Some(Decision::Rejected {
            plugin: plugin.to_string(),
            message,
        });
        true
    }

    /// Takes out the pods with a verdict, and those whose timeout passed
    /// by `now` (rejected as kube-scheduler words it: `rejected due to
    /// timeout after waiting 10s at plugin Gang`), with their profile.
    pub fn take_decided(&self, now: Instant) -> Vec<(String, String, Decision)> {
        let mut pods = self.lock();
        let decided: Vec<String> = pods
            .iter()
            .filter(|(_, w)| w.verdict.is_some() || w.deadline <= now)
            .map(|(uid, _)| uid.clone())
            .collect();
        decided
            .into_iter()
            .filter_map(|uid| {
                let waiting = pods.remove(&uid)?;
                let verdict = waiting.verdict.unwrap_or_else(|| {
                    let plugin = waiting.pending.iter().next().cloned().unwrap_or_default();
                    let waited = waiting.deadline.saturating_duration_since(waiting.since);
                    Decision::Rejected {
                        message: format!(
                            "rejected due to timeout after waiting {waited:?} at plugin {plugin}"
                        ),
                        plugin,
                    }
                });
                Some((uid, waiting.profile, verdict))
            })
            .collect()
    }

    /// When the next timeout is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lock()
            .values()
            .filter(|w| w.verdict.is_none())
            .map(|w| w.deadline)
            .min()
    }

    /// Whether any decision is waiting to be collected.
    pub fn has_verdicts(&self) -> bool {
        self.lock().values().any(|w| w.verdict.is_some())
    }

    /// Forgets a pod (deleted while it waited).
    pub fn remove(&self, uid: &str) -> bool {
        self.lock().remove(uid).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(uid: &str) -> wit::WaitingPod {
        wit::WaitingPod {
            namespace: "default".into(),
            name: uid.into(),
            uid: uid.into(),
            node: "n1".into(),
            pending_plugins: Vec::new(),
        }
    }

    #[test]
    fn a_pod_is_allowed_once_every_plugin_that_held_it_allows_it() {
        let now = Instant::now();
        let pods = WaitingPods::default();
        let plugins = BTreeSet::from(["A".to_string(), "B".to_string()]);
        pods.add(
            "p",
            record("u1"),
            plugins,
            now,
            now + Duration::from_secs(10),
        );
        assert!(pods.allow("u1", "A"));
        assert!(pods.take_decided(now).is_empty());
        assert_eq!(pods.list()[0].pending_plugins, vec!["B".to_string()]);
        assert!(pods.allow("u1", "B"));
        assert_eq!(
            pods.take_decided(now),
            vec![("u1".into(), "p".into(), Decision::Allowed)]
        );
        assert!(!pods.allow("u1", "B"), "gone once collected");
    }

    #[test]
    fn a_rejection_or_the_timeout_ends_the_wait() {
        let now = Instant::now();
        let pods = WaitingPods::default();
        let gang = BTreeSet::from(["Gang".to_string()]);
        pods.add(
            "p",
            record("u1"),
            gang.clone(),
            now,
            now + Duration::from_secs(10),
        );
        pods.add("p", record("u2"), gang, now, now + Duration::from_secs(1));
        assert!(pods.reject("u1", "Gang", "group incomplete".into()));
        let mut decided = pods.take_decided(now + Duration::from_secs(2));
        decided.sort();
        assert_eq!(
            decided,
            vec![
                (
                    "u1".into(),
                    "p".into(),
                    Decision::Rejected {
                        plugin: "Gang".into(),
                        message: "group incomplete".into()
                    }
                ),
                (
                    "u2".into(),
                    "p".into(),
                    Decision::Rejected {
                        plugin: "Gang".into(),
                        message: "rejected due to timeout after waiting 1s at plugin Gang".into()
                    }
                ),
            ]
        );
        assert!(pods.is_empty());
    }
}
