//! The scheduling queue: which pending pod to try next.
//!
//! As in kube-scheduler, a pod is in one of three places:
//! - **active**: ready to be tried, highest priority first, then the pod
//!   that arrived first;
//! - **backoff**: failed recently and waits `1s × 2^(attempts-1)` (at most
//!   10 s) before it becomes active again;
//! - **unschedulable**: no node fits; it waits until the cluster changes
//!   (a node is added or updated, a pod is deleted) and then goes through
//!   backoff, or until it has waited 5 minutes.
//!
//! A popped pod is *in flight* until the cycle reports back. Updates and
//! deletions of queued pods apply wherever the pod is.
//!
//! Time is passed in, never read, so the rules are tested without sleeping.

use crate::metrics::{QueueMetrics, QueueName, events};
use crate::wit::Pod;
use k8s_openapi::api::core::v1 as core;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timings of the queue, kube-scheduler's defaults in [`Default`].
#[derive(Debug, Clone, Copy)]
pub struct QueueTimings {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a pod stays unschedulable with no cluster event before it is
    /// tried again anyway.
    pub max_unschedulable: Duration,
}

impl Default for QueueTimings {
    fn default() -> Self {
        QueueTimings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(5 * 60),
        }
    }
}

impl QueueTimings {
    /// The backoff of a configuration (`podInitialBackoffSeconds`,
    /// `podMaxBackoffSeconds`), with kube-scheduler's other timings.
    pub fn from_config(config: &crate::config::Config) -> Self {
        QueueTimings {
            initial_backoff: config.pod_initial_backoff,
            max_backoff: config.pod_max_backoff,
            ..QueueTimings::default()
        }
    }
}

/// A pod waiting to be scheduled.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub object: Arc<core::Pod>,
    pub record: Pod,
    /// Scheduling attempts so far, including the one in flight.
    pub attempts: u32,
    /// Why the last attempt failed, and whether on an error.
    pub last_failure: Option<Failure>,
    /// The plugins that rejected the pod in its last attempt: only the
    /// cluster events they registered for move it (all when empty).
    pub unschedulable_plugins: Vec<String>,
    /// Arrival order, for the tie between equal priorities.
    arrival: u64,
    /// When its first attempt began: the start of kube-scheduler's pod
    /// scheduling SLI.
    pub first_attempt: Option<Instant>,
}

impl QueuedPod {
    pub fn uid(&self) -> &str {
        &self.record.uid
    }
}

/// How a scheduling attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No node fits; wait for the cluster to change.
    Unschedulable(String),
    /// Something broke (a plugin fault, a failed bind); retry after backoff.
    Error(String),
}

impl Failure {
    /// kube-scheduler's message for the attempt.
    pub fn message(&self) -> &str {
        match self {
            Failure::Unschedulable(m) | Failure::Error(m) => m,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    InFlight,
}

impl Place {
    /// The queue this place counts in (none while in flight).
    fn queue(self) -> Option<QueueName> {
        match self {
            Place::Active => Some(QueueName::Active),
            Place::Backoff(_) => Some(QueueName::Backoff),
            Place::Unschedulable(_) => Some(QueueName::Unschedulable),
            Place::InFlight => None,
        }
    }
}

#[derive(Debug)]
struct Entry {
    pod: QueuedPod,
    place: Place,
    /// Bumped whenever the pod re-enters the active heap, so older heap
    /// entries for it are skipped.
    version: u64,
    /// A cluster event or an update arrived while the pod was in flight:
    /// an unschedulable verdict may already be stale.
    moved_while_in_flight: bool,
    /// A change in the cluster moved the pod since its last attempt: it is
    /// owed another (see [`SchedulingQueue::is_settled`]).
    owed: bool,
}

/// What moved unschedulable pods on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A change in the cluster (an informer event, an update of the pod):
    /// the pods it moves are owed an attempt.
    Cluster,
    /// The scheduler undoing its own work (an unreserve, a plugin loaded):
    /// worth a retry, but owed none, or pods that undo each other (a gang
    /// timing out at Permit) would take turns for ever.
    Scheduler,
}

/// An active-heap entry: higher priority first, then earlier arrival.
#[derive(Debug, PartialEq, Eq)]
struct Ready {
    priority: i32,
    arrival: Reverse<u64>,
    uid: String,
    version: u64,
}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.priority, self.arrival).cmp(&(other.priority, other.arrival))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    timings: QueueTimings,
    entries: HashMap<String, Entry>,
    active: BinaryHeap<Ready>,
    arrivals: u64,
    versions: u64,
    metrics: QueueMetrics,
}

impl SchedulingQueue {
    pub fn new(timings: QueueTimings) -> Self {
        SchedulingQueue {
            timings,
            ..Default::default()
        }
    }

    /// Counts the pods by place and each one taken in into `metrics`
    /// (`scheduler_pending_pods`, `scheduler_queue_incoming_pods_total`).
    /// Set it while the queue is empty.
    pub fn set_metrics(&mut self, metrics: QueueMetrics) {
        self.metrics = metrics;
    }

    /// Adds a pending pod, or updates the queued one with the same uid. An
    /// update to an unschedulable pod may make it fit, so it moves on.
    pub fn add(&mut self, object: Arc<core::Pod>, record: Pod, now: Instant) {
        let uid = record.uid.clone();
        if let Some(entry) = self.entries.get_mut(&uid) {
            entry.pod.object = object;
            if entry.pod.record == record {
                // Only status or metadata the scheduler ignores changed
                // (for example our own PodScheduled condition).
                return;
            }
            entry.pod.record = record;
            match entry.place {
                Place::InFlight => {
                    entry.moved_while_in_flight = true;
                    entry.owed = true;
                }
                Place::Unschedulable(_) => {
                    entry.owed = true;
                    self.leave_unschedulable(&uid, now, events::POD_UPDATE);
                }
                Place::Active => self.push_active(&uid, events::POD_UPDATE),
                Place::Backoff(_) => {}
            }
            return;
        }
        self.arrivals += 1;
        let pod = QueuedPod {
            object,
            record,
            attempts: 0,
            last_failure: None,
            unschedulable_plugins: Vec::new(),
            arrival: self.arrivals,
            first_attempt: None,
        };
        self.entries.insert(
            uid.clone(),
            Entry {
                pod,
                place: Place::InFlight,
                version: 0,
                moved_while_in_flight: false,
                owed: false,
            },
        );
        self.push_active(&uid, events::POD_ADD);
    }

    /// Forgets a pod (deleted, or bound by someone else).
    pub fn delete(&mut self, uid: &str) {
        self.remove(uid);
    }

    fn remove(&mut self, uid: &str) {
        if let Some(entry) = self.entries.remove(uid) {
            self.metrics.moved(entry.place.queue(), None, "");
        }
    }

    /// The next pod to try, after moving pods whose backoff or
    /// unschedulable wait is over into active.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        while let Some(ready) = self.active.pop() {
            let Some(entry) = self.entries.get_mut(&ready.uid) else {
                continue;
            };
            if entry.place != Place::Active || entry.version != ready.version {
                continue;
            }
            entry.place = Place::InFlight;
            entry.moved_while_in_flight = false;
            entry.owed = false;
            entry.pod.attempts += 1;
            entry.pod.first_attempt.get_or_insert(now);
            self.metrics.moved(Some(QueueName::Active), None, "");
            return Some(entry.pod.clone());
        }
        None
    }

    /// The pod was placed (or dropped): it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.remove(uid);
    }

    /// Puts an in-flight pod back after a failed attempt.
    pub fn requeue(&mut self, uid: &str, failure: Failure, now: Instant) {
        let timings = self.timings;
        let Some(entry) = self.entries.get_mut(uid) else {
            return;
        };
        if entry.place != Place::InFlight {
            return;
        }
        let backoff_until = after(now, backoff(timings, entry.pod.attempts));
        entry.place = match &failure {
            Failure::Unschedulable(_) if !entry.moved_while_in_flight => Place::Unschedulable(now),
            _ => Place::Backoff(backoff_until),
        };
        entry.pod.last_failure = Some(failure);
        self.metrics
            .moved(None, entry.place.queue(), events::ATTEMPT_FAILURE);
    }

    /// Records which plugins rejected an in-flight pod, before it is
    /// requeued as unschedulable.
    pub fn set_unschedulable_plugins(&mut self, uid: &str, plugins: Vec<String>) {
        if let Some(entry) = self.entries.get_mut(uid) {
            entry.pod.unschedulable_plugins = plugins;
        }
    }

    /// The cluster changed in a way that may let unschedulable pods fit
    /// (`event`, kube-scheduler's name for it, e.g. `AssignedPodDelete`):
    /// they move to backoff (or straight to active if it is over).
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant, event: &str, cause: Cause) {
        self.move_to_active_or_backoff_if(now, event, cause, |_| true);
    }

    /// [`SchedulingQueue::move_all_to_active_or_backoff`] for the
    /// unschedulable pods `moves` says the change may help (kube-scheduler's
    /// queueing hints). A pod in flight is marked as moved whatever it says:
    /// its verdict may be stale.
    pub fn move_to_active_or_backoff_if(
        &mut self,
        now: Instant,
        event: &str,
        cause: Cause,
        mut moves: impl FnMut(&QueuedPod) -> bool,
    ) {
        let owed = cause == Cause::Cluster;
        let waiting: Vec<String> = self
            .entries
            .iter_mut()
            .filter_map(|(uid, entry)| match entry.place {
                Place::Unschedulable(_) if moves(&entry.pod) => {
                    entry.owed |= owed;
                    Some(uid.clone())
                }
                Place::InFlight => {
                    entry.moved_while_in_flight = true;
                    entry.owed |= owed;
                    None
                }
                _ => None,
            })
            .collect();
        for uid in waiting {
            self.leave_unschedulable(&uid, now, event);
        }
    }

    /// When the next backoff or unschedulable wait ends, if any.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let max_wait = self.timings.max_unschedulable;
        self.entries
            .values()
            .filter_map(|e| match e.place {
                Place::Backoff(until) => Some(until),
                Place::Unschedulable(since) => Some(after(since, max_wait)),
                _ => None,
            })
            .min()
    }

    /// Every pod has had its attempt since the cluster last changed in a
    /// way that may help it: none is active or in flight, and none that a
    /// [`Cause::Cluster`] moved waits out its backoff (it is owed an
    /// attempt). The rest wait for a cluster change, or back off after an
    /// error or the scheduler's own undoing.
    pub fn is_settled(&self) -> bool {
        self.entries.values().all(|e| match e.place {
            Place::Unschedulable(_) => true,
            Place::Backoff(_) => !e.owed,
            Place::Active | Place::InFlight => false,
        })
    }

    /// The pods waiting for their backoff to end.
    pub fn in_backoff(&self) -> impl Iterator<Item = &QueuedPod> {
        self.entries
            .values()
            .filter(|e| matches!(e.place, Place::Backoff(_)))
            .map(|e| &e.pod)
    }

    /// The pods waiting for the cluster to change, with why they did not fit.
    pub fn unschedulable(&self) -> impl Iterator<Item = &QueuedPod> {
        self.entries
            .values()
            .filter(|e| matches!(e.place, Place::Unschedulable(_)))
            .map(|e| &e.pod)
    }

    /// A queued pod by uid, wherever it is.
    pub fn get(&self, uid: &str) -> Option<&QueuedPod> {
        self.entries.get(uid).map(|e| &e.pod)
    }

    /// Puts back a pod that had left the queue (its bind failed): it backs
    /// off before the next attempt.
    pub fn readd_after_error(&mut self, pod: QueuedPod, message: String, now: Instant) {
        let uid = pod.uid().to_string();
        let until = after(now, backoff(self.timings, pod.attempts));
        self.remove(&uid);
        self.metrics
            .moved(None, Some(QueueName::Backoff), events::ATTEMPT_FAILURE);
        self.entries.insert(
            uid,
            Entry {
                pod: QueuedPod {
                    last_failure: Some(Failure::Error(message)),
                    ..pod
                },
                place: Place::Backoff(until),
                version: 0,
                moved_while_in_flight: false,
                owed: false,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn flush(&mut self, now: Instant) {
        let max_wait = self.timings.max_unschedulable;
        let due: Vec<(String, &'static str)> = self
            .entries
            .iter()
            .filter_map(|(uid, e)| {
                match e.place {
                    Place::Backoff(until) if until <= now => Some(events::BACKOFF_COMPLETE),
                    Place::Unschedulable(since) if after(since, max_wait) <= now => {
                        Some(events::UNSCHEDULABLE_TIMEOUT)
                    }
                    _ => None,
                }
                .map(|event| (uid.clone(), event))
            })
            .collect();
        for (uid, event) in due {
            self.push_active(&uid, event);
        }
    }

    fn leave_unschedulable(&mut self, uid: &str, now: Instant, event: &str) {
        let timings = self.timings;
        let Some(entry) = self.entries.get_mut(uid) else {
            return;
        };
        let Place::Unschedulable(since) = entry.place else {
            return;
        };
        let until = after(since, backoff(timings, entry.pod.attempts));
        if until > now {
            entry.place = Place::Backoff(until);
            self.metrics.moved(
                Some(QueueName::Unschedulable),
                Some(QueueName::Backoff),
                event,
            );
        } else {
            self.push_active(uid, event);
        }
    }

    /// Makes a pod active (again), because of `event`.
    fn push_active(&mut self, uid: &str, event: &str) {
        let Some(entry) = self.entries.get_mut(uid) else {
            return;
        };
        self.metrics
            .moved(entry.place.queue(), Some(QueueName::Active), event);
        self.versions += 1;
        entry.place = Place::Active;
        entry.version = self.versions;
        self.active.push(Ready {
            priority: entry.pod.record.priority,
            arrival: Reverse(entry.pod.arrival),
            uid: uid.to_string(),
            version: entry.version,
        });
    }
}

/// `at + wait`, or the latest instant the clock can hold: timings too long
/// to add (a [`QueueTimings`] built by hand; a configuration file cannot
/// ask for more than a day) wait as long as they can, never panic.
fn after(at: Instant, mut wait: Duration) -> Instant {
    loop {
        if let Some(until) = at.checked_add(wait) {
            return until;
        }
        wait /= 2;
    }
}

/// kube-scheduler's backoff: the initial duration, doubled for each further
/// attempt, capped.
fn backoff(timings: QueueTimings, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    timings
        .initial_backoff
        .saturating_mul(1 << doublings)
        .min(timings.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{convert, manifest};

    fn pod(name: &str, priority: i32) -> (Arc<core::Pod>, Pod) {
        let mut object = manifest::parse(
            "t.yaml",
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: c, image: i}}]}}\n"),
        )
        .unwrap()
        .pods
        .remove(0);
        object.spec.as_mut().unwrap().priority = Some(priority);
        let record = convert::pod(&object);
        (Arc::new(object), record)
    }

    fn add(queue: &mut SchedulingQueue, name: &str, priority: i32, now: Instant) -> String {
        let (object, record) = pod(name, priority);
        let uid = record.uid.clone();
        queue.add(object, record, now);
        uid
    }

    fn pop_name(queue: &mut SchedulingQueue, now: Instant) -> Option<String> {
        queue.pop(now).map(|p| p.record.name)
    }

    #[test]
    fn timings_too_long_for_the_clock_saturate() {
        let t0 = Instant::now();
        let forever = Duration::MAX;
        let mut queue = SchedulingQueue::new(QueueTimings {
            initial_backoff: forever,
            max_backoff: forever,
            max_unschedulable: forever,
        });
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.requeue(p.uid(), Failure::Error("x".into()), t0);
        assert!(queue.next_wakeup().is_some_and(|t| t > t0));
        assert!(queue.pop(t0 + Duration::from_secs(86400 * 365)).is_none());
        let p = queue.get(&p.record.uid).unwrap().clone();
        queue.readd_after_error(p.clone(), "bind failed".into(), t0);
        add(&mut queue, "q", 0, t0);
        let q = queue.pop(t0).unwrap();
        queue.requeue(q.uid(), Failure::Unschedulable("no".into()), t0);
        queue.move_all_to_active_or_backoff(t0, "NodeAdd", Cause::Cluster);
        assert!(queue.next_wakeup().is_some());
    }

    #[test]
    fn pending_pods_and_incoming_ones_are_counted_by_queue_and_event() {
        use crate::metrics::Metrics;
        let t0 = Instant::now();
        let metrics = Metrics::default();
        let mut queue = SchedulingQueue::new(QueueTimings::default());
        queue.set_metrics(metrics.queue());
        let pending = |queue: QueueName| metrics.queue().pending(queue);
        let a = add(&mut queue, "a", 0, t0);
        let b = add(&mut queue, "b", 0, t0);
        let c = add(&mut queue, "c", 0, t0);
        assert_eq!(pending(QueueName::Active), 3);
        let p = queue.pop(t0).unwrap();
        assert_eq!(p.first_attempt, Some(t0));
        assert_eq!(pending(QueueName::Active), 2);
        queue.requeue(p.uid(), Failure::Unschedulable("no".into()), t0);
        assert_eq!(pending(QueueName::Unschedulable), 1);
        let q = queue.pop(t0).unwrap();
        queue.requeue(q.uid(), Failure::Error("broke".into()), t0);
        assert_eq!(pending(QueueName::Backoff), 1);
        // The unschedulable pod's backoff (1 s) is not over yet.
        queue.move_all_to_active_or_backoff(
            t0 + Duration::from_millis(10),
            "NodeAdd",
            Cause::Cluster,
        );
        assert_eq!(pending(QueueName::Unschedulable), 0);
        assert_eq!(pending(QueueName::Backoff), 2);
        // Both backoffs end; the pop takes one of the three active pods.
        assert!(queue.pop(t0 + Duration::from_secs(2)).is_some());
        assert_eq!(pending(QueueName::Backoff), 0);
        assert_eq!(pending(QueueName::Active), 2);
        for uid in [&a, &b, &c] {
            queue.delete(uid);
        }
        for queue in [
            QueueName::Active,
            QueueName::Backoff,
            QueueName::Unschedulable,
        ] {
            assert_eq!(pending(queue), 0, "{queue:?}");
        }
        let text = metrics.render();
        for line in [
            "scheduler_queue_incoming_pods_total{queue=\"active\",event=\"UnscheduledPodAdd\"} 3\n",
            "scheduler_queue_incoming_pods_total{queue=\"unschedulable\",event=\"ScheduleAttemptFailure\"} 1\n",
            "scheduler_queue_incoming_pods_total{queue=\"backoff\",event=\"ScheduleAttemptFailure\"} 1\n",
            "scheduler_queue_incoming_pods_total{queue=\"backoff\",event=\"NodeAdd\"} 1\n",
            "scheduler_queue_incoming_pods_total{queue=\"active\",event=\"BackoffComplete\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn higher_priority_first_then_arrival() {
        let now = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "low-1", 0, now);
        add(&mut queue, "high", 100, now);
        add(&mut queue, "low-2", 0, now);
        add(&mut queue, "negative", -5, now);
        let order: Vec<_> = std::iter::from_fn(|| pop_name(&mut queue, now)).collect();
        assert_eq!(order, ["high", "low-1", "low-2", "negative"]);
    }

    #[test]
    fn errors_back_off_doubling_to_the_cap() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::new(QueueTimings::default());
        let uid = add(&mut queue, "p", 0, t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let p = queue.pop(now).expect("the pod is ready");
            queue.requeue(p.uid(), Failure::Error("bind failed".into()), now);
            let ready_at = queue.next_wakeup().unwrap();
            assert!(
                queue.pop(ready_at - Duration::from_millis(1)).is_none(),
                "still backing off"
            );
            waits.push((ready_at - now).as_secs());
            now = ready_at;
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(queue.pop(now).unwrap().uid(), uid);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_cluster_event() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.requeue(
            p.uid(),
            Failure::Unschedulable("0/1 nodes are available".into()),
            t0,
        );
        assert!(queue.is_settled());
        assert_eq!(queue.unschedulable().count(), 1);
        let later = t0 + Duration::from_secs(30);
        assert!(queue.pop(later).is_none(), "no event, no retry");
        assert_eq!(
            queue.unschedulable().next().unwrap().last_failure,
            Some(Failure::Unschedulable("0/1 nodes are available".into()))
        );

        queue.move_all_to_active_or_backoff(later, "NodeAdd", Cause::Cluster);
        assert_eq!(queue.unschedulable().count(), 0);
        assert_eq!(pop_name(&mut queue, later).as_deref(), Some("p"));
    }

    #[test]
    fn a_pod_moved_by_an_event_is_owed_an_attempt() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "moved", 0, t0);
        add(&mut queue, "failed", 0, t0);
        let moved = queue.pop(t0).unwrap();
        let failed = queue.pop(t0).unwrap();
        queue.requeue(moved.uid(), Failure::Unschedulable("no".into()), t0);
        queue.requeue(failed.uid(), Failure::Error("bind refused".into()), t0);
        assert!(queue.is_settled(), "an error's backoff is not waited for");

        queue.move_all_to_active_or_backoff(
            t0 + Duration::from_millis(100),
            "NodeAdd",
            Cause::Cluster,
        );
        assert_eq!(queue.in_backoff().count(), 2);
        assert!(
            !queue.is_settled(),
            "the moved pod waits out its backoff for its next attempt"
        );
        let next = queue.pop(t0 + Duration::from_secs(1)).unwrap();
        queue.requeue(next.uid(), Failure::Unschedulable("no".into()), t0);
        let next = queue.pop(t0 + Duration::from_secs(1)).unwrap();
        queue.requeue(next.uid(), Failure::Unschedulable("no".into()), t0);
        assert!(queue.is_settled());
    }

    #[test]
    fn the_schedulers_own_undoing_owes_no_attempt() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.requeue(p.uid(), Failure::Unschedulable("no".into()), t0);
        queue.move_all_to_active_or_backoff(t0, "AssignedPodDelete", Cause::Scheduler);
        assert_eq!(queue.in_backoff().count(), 1);
        assert!(
            queue.is_settled(),
            "retried after its backoff, but not waited for"
        );
        assert!(queue.pop(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn an_event_during_backoff_keeps_the_backoff() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.requeue(p.uid(), Failure::Unschedulable("no".into()), t0);
        queue.move_all_to_active_or_backoff(
            t0 + Duration::from_millis(100),
            "NodeAdd",
            Cause::Cluster,
        );
        assert!(queue.pop(t0 + Duration::from_millis(500)).is_none());
        assert!(queue.pop(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn unschedulable_pods_are_retried_after_five_minutes_anyway() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.requeue(p.uid(), Failure::Unschedulable("no".into()), t0);
        assert_eq!(queue.next_wakeup(), Some(t0 + Duration::from_secs(300)));
        assert!(queue.pop(t0 + Duration::from_secs(299)).is_none());
        assert!(queue.pop(t0 + Duration::from_secs(300)).is_some());
    }

    #[test]
    fn an_event_while_in_flight_skips_the_unschedulable_wait() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.move_all_to_active_or_backoff(t0, "NodeAdd", Cause::Cluster);
        queue.requeue(p.uid(), Failure::Unschedulable("no".into()), t0);
        assert_eq!(
            queue.unschedulable().count(),
            0,
            "the verdict may be stale: it backs off instead"
        );
        assert!(queue.pop(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn updates_and_deletes_apply_where_the_pod_is() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "a", 0, t0);
        let b = add(&mut queue, "b", 0, t0);
        // b's priority is raised while it waits: it now goes first.
        let (object, mut record) = pod("b", 0);
        record.priority = 10;
        queue.add(object, record, t0);
        assert_eq!(queue.len(), 2);
        assert_eq!(pop_name(&mut queue, t0).as_deref(), Some("b"));
        queue.requeue(&b, Failure::Unschedulable("no".into()), t0);
        // An update that changes nothing the scheduler reads (our own status
        // condition, say) leaves it waiting...
        let (object, record) = pod("b", 10);
        queue.add(object, record, t0 + Duration::from_secs(2));
        assert_eq!(queue.unschedulable().count(), 1);
        // ...a real change to an unschedulable pod makes it eligible again.
        let (object, record) = pod("b", 20);
        queue.add(object, record, t0 + Duration::from_secs(2));
        let c = add(&mut queue, "c", 50, t0);
        queue.delete(&c);
        let rest: Vec<_> =
            std::iter::from_fn(|| pop_name(&mut queue, t0 + Duration::from_secs(2))).collect();
        assert_eq!(rest, ["b", "a"]);
    }

    #[test]
    fn a_deleted_in_flight_pod_is_not_requeued() {
        let t0 = Instant::now();
        let mut queue = SchedulingQueue::default();
        add(&mut queue, "p", 0, t0);
        let p = queue.pop(t0).unwrap();
        queue.delete(p.uid());
        queue.requeue(p.uid(), Failure::Error("x".into()), t0);
        assert!(queue.is_empty());
    }
}
