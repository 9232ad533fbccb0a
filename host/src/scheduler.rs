//! The scheduling loop: one thread that owns the cache and the queue, takes
//! cluster events and bind results from one input channel, and schedules
//! one pod at a time.
//!
//! Following a pod: an informer event puts a pending pod whose
//! `schedulerName` has a profile into the [`queue`](crate::queue); the loop
//! pops the highest-priority pod, runs its profile's
//! [`framework`](crate::framework) cycle against the
//! [`cache`](crate::cache), assumes it on the chosen node and hands it to
//! the [`binder`](crate::binder). Between the two, the cycle's Reserve and
//! Permit plugins run; a pod a Permit plugin makes wait stays reserved on
//! its node, outside the queue's active pods, until it is allowed (its
//! binding starts), rejected or timed out (it is unreserved and requeued).
//! The bind's result comes back as an input: a failure unreserves it,
//! forgets the assumption and requeues the pod; a success is confirmed when
//! the informer reports the pod bound. Either way the cycle then ends.
//!
//! A cluster event moves an unschedulable pod back to the queue only when
//! a plugin that rejected it registered for the event and its queueing
//! hint (if it has one) says the event may help ([`events`] names the
//! events).
//!
//! New plugin versions from the [`plugin_dir`](crate::plugin_dir) arrive on
//! the same input, so they are swapped in between two cycles.

use crate::backend::BindError;
use crate::backend::{Backend, ClusterEvent, EventSink, PluginNotice, PodRef, Preemption};
use crate::binder::{BindOutcome, Binder};
use crate::builtin_plugins::is_builtin;
use crate::cache::Cache;
use crate::framework::{
    Cycle, CycleReport, Decision, Diagnosis, Framework, Outcome, PermitOutcome, PreparedSwap,
    StepError,
};
use crate::leader_election::Leadership;
use crate::metrics::{AttemptResult, Metrics, QueueName};
use crate::model::convert;
use crate::plugin_dir::PluginUpdate;
use crate::queue::{Cause, Failure, QueueTimings, QueuedPod, SchedulingQueue};
use crate::runtime::LoadedPlugin;
use crate::volumes::{Applied, VolumeObject};
use crate::wit::{ActionType, EventResource, Pod};
use crate::workloads::Workloads;
use k8s_openapi::api::core::v1 as core;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// Everything that reaches the scheduling loop.
#[derive(Debug)]
pub enum Input {
    Cluster(ClusterEvent),
    Bound(Box<BindOutcome>),
    /// A status report finished.
    Reported,
    /// The plugin directory changed.
    Plugin(PluginUpdate),
    /// A new version's instances have the cluster (see
    /// [`Scheduler::on_plugin_update`]): it can serve.
    Warmed(Box<Warmed>),
}

/// A version being warmed: its file, the generation that serves when it
/// is warm, and its flag to stop warming.
struct Warming {
    file: PathBuf,
    generation: u64,
    superseded: Arc<AtomicBool>,
}

impl Drop for Warming {
    /// A warming no longer wanted stops before its next instance.
    fn drop(&mut self) {
        self.superseded.store(true, Ordering::Relaxed);
    }
}

/// A version warmed off the scheduling loop, ready to be installed.
pub struct Warmed {
    /// Which load of its plugin this is: only the newest is installed.
    generation: u64,
    swap: PreparedSwap,
}

impl std::fmt::Debug for Warmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmed")
            .field("plugin", &self.swap.plugin().name())
            .field("generation", &self.generation)
            .finish()
    }
}

/// kube-scheduler's condition message for a pod held back by its gates.
pub const SCHEDULING_GATED_MESSAGE: &str =
    "Scheduling is blocked due to non-empty scheduling gates";

/// How long the loop sleeps at most when nothing is due, so it notices a
/// closed input promptly.
const IDLE_WAIT: Duration = Duration::from_millis(200);

/// How many binds may be in flight before the loop waits for one to finish
/// before it takes the next pod. Without a cap, a loop faster than the
/// apiserver assumes pods far ahead of their binds: every bind then waits
/// behind all the others (the attempt latency grows with the backlog), and
/// the more pods are assumed, the more a failing apiserver makes the cache
/// forget at once. 16 binds in flight keep this machine's apiserver at its
/// ceiling (see BENCHMARKS.md).
const MAX_BINDS_IN_FLIGHT: usize = 32;

/// How often the loop refreshes `kws_plugin_instance_memory_bytes`.
const MEMORY_REFRESH: Duration = Duration::from_secs(1);

/// kube-scheduler's event for a reservation given back (a failed bind, a
/// rejection after Reserve): room freed as if an assigned pod went.
const ASSIGNED_POD_DELETE: &str = "AssignedPodDelete";

pub mod events;

pub struct Scheduler<B: Backend> {
    framework: Framework,
    cache: Cache,
    /// What PodTopologySpread's default selector is deduced from.
    workloads: Workloads,
    queue: SchedulingQueue,
    binder: Binder<B>,
    inputs: Receiver<Input>,
    /// Binds and reports started and not yet reported back.
    tasks_in_flight: usize,
    /// The binds among them.
    binds_in_flight: usize,
    /// Pods held back by scheduling gates, by uid.
    gated: std::collections::HashMap<String, Arc<core::Pod>>,
    /// Pods a PreEnqueue plugin keeps out of the queue, by uid, with why.
    held: HashMap<String, (Arc<core::Pod>, String)>,
    /// Pods reserved on their node and waiting at Permit, by uid.
    permitting: HashMap<String, Permitting>,
    /// The backend has reported everything that existed when the watch
    /// started; no pod is scheduled before (it could land on a node whose
    /// pods are not all known yet).
    synced: bool,
    /// The loaded version of each plugin, by name (each knows its file).
    plugins: HashMap<String, Arc<LoadedPlugin>>,
    /// The built-in plugins by name: one serves again when the plugin that
    /// replaced it is removed.
    builtin: HashMap<String, Arc<LoadedPlugin>>,
    /// Versions being warmed, by plugin name. A newer load or the file's
    /// removal supersedes the warming one, which stops and is dropped.
    warming: HashMap<String, Warming>,
    /// The last generation given to a load.
    generations: u64,
    inputs_sender: Sender<Input>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    /// When `kws_plugin_instance_memory_bytes` was last refreshed.
    memory_refreshed: Option<Instant>,
    /// With leader election, whether this replica may schedule now; a
    /// standby takes in every event (its cache stays warm) and pops no pod.
    leadership: Option<Arc<Leadership>>,
}

impl<B: Backend> Scheduler<B> {
    /// A scheduler for the profiles of `framework`, watching `backend`.
    /// Binds and reports run on `runtime`.
    pub fn new(
        framework: Framework,
        backend: Arc<B>,
        runtime: tokio::runtime::Handle,
        timings: QueueTimings,
    ) -> Self {
        if let Some(writer) = backend.claim_writer() {
            framework.resource_claims().set_writer(writer);
        }
        let (sender, inputs): (Sender<Input>, Receiver<Input>) = channel();
        let events = sender.clone();
        backend.watch(EventSink::new(move |event| {
            events.send(Input::Cluster(event)).is_ok()
        }));
        let cache = Cache::default();
        if let Some(writer) = backend.volume_writer() {
            cache.volumes().set_writer(writer);
        }
        Scheduler {
            framework,
            cache,
            workloads: Workloads::default(),
            queue: SchedulingQueue::new(timings),
            binder: Binder::new(backend, runtime, sender.clone()),
            inputs,
            tasks_in_flight: 0,
            binds_in_flight: 0,
            gated: Default::default(),
            held: HashMap::new(),
            permitting: HashMap::new(),
            synced: false,
            plugins: HashMap::new(),
            builtin: HashMap::new(),
            warming: HashMap::new(),
            generations: 0,
            inputs_sender: sender,
            stop: Arc::default(),
            metrics: Arc::default(),
            memory_refreshed: None,
            leadership: None,
        }
        .with_metrics(Arc::default())
    }

    /// Records into `metrics` (shared with
    /// [`metrics::serve`](crate::metrics::serve), which may have served
    /// since before the scheduler existed): set it before [`Scheduler::run`].
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.queue.set_metrics(metrics.queue());
        self.framework.set_metrics(metrics.clone());
        self.metrics = metrics;
        self
    }

    /// Schedules only while `leadership` says this replica leads.
    pub fn led_by(mut self, leadership: Arc<Leadership>) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Records which files serve the plugins the framework started with, so
    /// later [`PluginUpdate`]s about those files replace them.
    pub fn serving(mut self, plugins: &[Arc<LoadedPlugin>]) -> Self {
        for plugin in plugins {
            self.plugins
                .insert(plugin.name().to_string(), plugin.clone());
        }
        self
    }

    /// The built-in plugins: a file or ConfigMap may replace one of the
    /// same plugin name, and it serves again when that goes.
    pub fn falling_back_to(mut self, builtin: &[Arc<LoadedPlugin>]) -> Self {
        for plugin in builtin {
            self.builtin
                .insert(plugin.name().to_string(), plugin.clone());
        }
        self
    }

    /// Where to send plugin directory changes (for
    /// [`PluginDir::follow`](crate::plugin_dir::PluginDir::follow)); false
    /// once the scheduler is gone.
    pub fn plugin_updates(&self) -> impl Fn(PluginUpdate) -> bool + Send + 'static {
        let sender = self.inputs_sender.clone();
        move |update| sender.send(Input::Plugin(update)).is_ok()
    }

    /// What the scheduler counts, for [`metrics::serve`](crate::metrics::serve).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Set it to make [`Scheduler::run`] return after the cycle in progress.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Schedules until every pending pod has had its attempt and every bind
    /// and report has finished: what `simulate` needs. Pods that failed stay
    /// queued (see [`Scheduler::waiting`]); a pod that preempted is tried
    /// again once its backoff ends (its victims are gone by then).
    pub fn run_until_settled(&mut self) {
        self.run_until_settled_with(|| {});
    }

    /// [`Scheduler::run_until_settled`], calling `after_cycle` after each
    /// scheduling cycle (`simulate`'s progress).
    pub fn run_until_settled_with(&mut self, mut after_cycle: impl FnMut()) {
        loop {
            self.drain_inputs();
            if let Some(pod) = self.pop() {
                self.schedule_one(pod);
                after_cycle();
                continue;
            }
            if self.synced
                && self.tasks_in_flight == 0
                && self.permitting.is_empty()
                && self.queue.is_settled()
                && !self.preemptor_backing_off()
            {
                return;
            }
            if !self.wait_for_input() {
                return;
            }
        }
    }

    /// Whether a pod that preempted waits for its backoff to end: its
    /// victims are gone and its next attempt is the one that places it, so
    /// a run until settled waits for it.
    fn preemptor_backing_off(&self) -> bool {
        self.queue
            .in_backoff()
            .any(|pod| self.cache.nomination(pod.uid()).is_some())
    }

    /// Takes in what the backend reports until it has listed everything
    /// that existed when the watch started, scheduling nothing: the view
    /// [`Scheduler::explain`] questions.
    pub fn sync(&mut self) {
        while !self.synced {
            match self.inputs.recv() {
                Ok(input) => self.handle(input),
                Err(_) => return,
            }
        }
    }

    /// One cycle of `object`'s profile (or the first profile when none has
    /// its `schedulerName`) over every node of the cluster as this
    /// scheduler sees it, choosing nothing: what `explain` prints. The
    /// profile's name and the pod's record come with the report.
    pub fn explain(&mut self, object: &core::Pod) -> Result<(String, Pod, CycleReport), String> {
        let mut record = convert::pod(object);
        record.default_spread_selector = self.workloads.default_spread_selector(object);
        let snapshot = self.cache.snapshot();
        let profile = self
            .framework
            .profile(&record.scheduler_name)
            .or_else(|| self.framework.profiles().first())
            .ok_or("the configuration has no profile")?;
        let report = profile.explain(&self.cache, &snapshot, &Arc::new(object.clone()), &record)?;
        Ok((profile.scheduler_name.clone(), record, report))
    }

    /// Schedules until the input channel closes or the
    /// [`stop flag`](Scheduler::stop_flag) is set.
    pub fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            self.drain_inputs();
            self.refresh_memory();
            if let Some(pod) = self.pop() {
                self.schedule_one(pod);
                continue;
            }
            if !self.wait_for_input() {
                return;
            }
        }
    }

    /// Each plugin's peak instance memory into the metrics, at most once
    /// per [`MEMORY_REFRESH`].
    fn refresh_memory(&mut self) {
        if self
            .memory_refreshed
            .is_some_and(|at| at.elapsed() < MEMORY_REFRESH)
        {
            return;
        }
        self.memory_refreshed = Some(Instant::now());
        for profile in self.framework.profiles() {
            for (plugin, peak) in profile.plugin_memory() {
                if let Some(bytes) = peak {
                    self.metrics
                        .set_plugin_memory(&profile.scheduler_name, plugin, bytes);
                }
            }
        }
    }

    /// The next pod to try, once the cluster has been seen whole, while
    /// this replica leads and while fewer than [`MAX_BINDS_IN_FLIGHT`]
    /// binds are in flight.
    fn pop(&mut self) -> Option<QueuedPod> {
        if !self.synced || !self.leading() || self.binds_full() {
            return None;
        }
        self.queue.pop(Instant::now())
    }

    /// The pod with this uid if it is still waiting, with why its last
    /// attempt failed.
    pub fn waiting(&self, uid: &str) -> Option<Waiting> {
        if let Some(pod) = self.queue.get(uid) {
            return Some(Waiting {
                reason: pod
                    .last_failure
                    .as_ref()
                    .map(|f| f.message().to_string())
                    .unwrap_or_default(),
                error: matches!(pod.last_failure, Some(Failure::Error(_))),
            });
        }
        if let Some((_, reason)) = self.held.get(uid) {
            return Some(Waiting {
                reason: reason.clone(),
                error: false,
            });
        }
        self.gated.get(uid).map(|_| Waiting {
            reason: SCHEDULING_GATED_MESSAGE.to_string(),
            error: false,
        })
    }

    fn leading(&self) -> bool {
        self.leadership.as_ref().is_none_or(|l| l.is_leading())
    }

    /// Takes in inputs until every bind and report in flight has come
    /// back, for at most `within`: what a leader does after its loop
    /// stopped and before it gives up the Lease, so that its successor
    /// does not race its binds and no Scheduled event is left unwritten.
    pub fn finish_in_flight(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.tasks_in_flight > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.inputs.recv_timeout(left) {
                Ok(input) => self.handle(input),
                Err(_) => return,
            }
        }
    }

    fn binds_full(&self) -> bool {
        self.binds_in_flight >= MAX_BINDS_IN_FLIGHT
    }

    /// Blocks until an input arrives or something in the queue is due.
    /// False when the input channel is closed.
    fn wait_for_input(&mut self) -> bool {
        let now = Instant::now();
        // With the binds full only a bind's result lets the loop go on; a
        // standby looks again after the idle wait.
        let due = self
            .queue
            .next_wakeup()
            .filter(|_| self.leading() && !self.binds_full());
        let due = match (due, self.framework.waiting_pods().next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wait = due.map_or(IDLE_WAIT, |at| {
            at.saturating_duration_since(now).min(IDLE_WAIT)
        });
        let alive = match self.inputs.recv_timeout(wait) {
            Ok(input) => {
                self.handle(input);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        self.collect_permits(Instant::now());
        alive
    }

    /// Binds the waiting pods that every Permit plugin allowed, and
    /// requeues the ones rejected or timed out.
    fn collect_permits(&mut self, now: Instant) {
        if self.permitting.is_empty() {
            return;
        }
        for (uid, _profile, decision) in self.framework.waiting_pods().take_decided(now) {
            let Some(Permitting {
                pod,
                cycle,
                started,
            }) = self.permitting.remove(&uid)
            else {
                continue;
            };
            match decision {
                Decision::Allowed => {
                    self.queue.done(&uid);
                    self.start_binding(pod, cycle, started);
                }
                Decision::Rejected { plugin, message } => {
                    tracing::info!(pod = %PodRef::of(&pod.object), plugin, %message, "rejected at permit");
                    self.undo(&pod, &cycle);
                    self.fail(&pod, StepError::Rejected(message), started, now);
                }
            }
        }
    }

    /// Gives back what a cycle reserved and assumed, and ends it.
    fn undo(&mut self, pod: &QueuedPod, cycle: &Cycle) {
        cycle.unreserve(Some(&self.cache), &pod.object, &pod.record);
        let _ = self.cache.forget(pod.uid());
        cycle.end();
    }

    /// A pod whose Reserve, Permit or binding plugins said no: requeued as
    /// unschedulable or after an error, with an event.
    fn fail(&mut self, pod: &QueuedPod, error: StepError, started: Instant, now: Instant) {
        let scheduler_name = pod.record.scheduler_name.clone();
        let took = started.elapsed();
        match error {
            StepError::Rejected(message) => {
                self.metrics
                    .observe_attempt(&scheduler_name, AttemptResult::Unschedulable, took);
                self.queue
                    .requeue(pod.uid(), Failure::Unschedulable(message.clone()), now);
                self.report(pod, "Unschedulable", message);
            }
            StepError::Failed(message) => {
                self.metrics
                    .observe_attempt(&scheduler_name, AttemptResult::Error, took);
                self.queue
                    .requeue(pod.uid(), Failure::Error(message.clone()), now);
                self.report(pod, "SchedulerError", message);
            }
        }
        // What it reserved is free again for the pods that wait. As in
        // kube-scheduler, not for the pod itself: its own unreserve is no
        // news to it, and would only send it round again.
        let uid = pod.uid();
        self.queue.move_to_active_or_backoff_if(
            now,
            ASSIGNED_POD_DELETE,
            Cause::Scheduler,
            |other| other.uid() != uid,
        );
    }

    /// Hands a pod whose cycle is through Permit to the binder.
    fn start_binding(&mut self, pod: QueuedPod, cycle: Box<Cycle>, started: Instant) {
        self.tasks_in_flight += 1;
        self.binds_in_flight += 1;
        self.binder.bind(pod, cycle, started);
    }

    fn drain_inputs(&mut self) {
        while let Ok(input) = self.inputs.try_recv() {
            self.handle(input);
        }
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Cluster(event) => self.on_cluster_event(event, now),
            Input::Bound(outcome) => {
                self.tasks_in_flight -= 1;
                self.binds_in_flight -= 1;
                self.on_bound(*outcome, now);
            }
            Input::Reported => self.tasks_in_flight -= 1,
            Input::Plugin(update) => self.on_plugin_update(update),
            Input::Warmed(warmed) => self.on_plugin_warmed(*warmed, now),
        }
    }

    /// Warms a new version (to be swapped in when warm), refuses one or
    /// unloads a plugin; each outcome is logged and reported with the
    /// plugin's name, version, digest and file.
    fn on_plugin_update(&mut self, update: PluginUpdate) {
        match update {
            PluginUpdate::Loaded(plugin) => {
                let name = plugin.name().to_string();
                let described = describe(&plugin);
                let taken = |file: &Path| file != plugin.file && !is_builtin(file);
                let other = (self.plugins.get(&name).map(|p| p.file.as_path()))
                    .filter(|file| taken(file))
                    .or_else(|| {
                        let warming = self.warming.get(&name).map(|w| w.file.as_path());
                        warming.filter(|file| taken(file))
                    });
                if let Some(other) = other {
                    let message = format!(
                        "{described} refused: plugin {name} is already served by {}",
                        other.display()
                    );
                    self.metrics.plugin_refused(&name);
                    self.notice(true, "PluginRefused", message);
                    return;
                }
                match self.framework.prepare(&plugin) {
                    Ok(swap) => self.warm(swap),
                    Err(error) => {
                        self.metrics.plugin_refused(&name);
                        let message = format!("{described} refused: {error}");
                        self.notice(true, "PluginRefused", message);
                    }
                }
            }
            PluginUpdate::Refused(error) => {
                let served = self.served_from(&error.file);
                self.metrics.plugin_refused(
                    &served
                        .clone()
                        .unwrap_or_else(|| crate::metrics::file_label(&error.file)),
                );
                let serving = match served {
                    Some(name) => format!("; {name} keeps serving its previous version"),
                    None => String::new(),
                };
                self.notice(true, "PluginRefused", format!("{error}{serving}"));
            }
            PluginUpdate::Removed(file) => {
                self.warming.retain(|_, warming| warming.file != file);
                if let Some(name) = self.served_from(&file) {
                    let gone = self
                        .plugins
                        .get(&name)
                        .map_or_else(|| name.clone(), |p| describe(p));
                    let outcome = self.retire(&name);
                    let message =
                        format!("{gone} unloaded: {} was removed; {outcome}", file.display());
                    self.notice(true, "PluginUnloaded", message);
                }
            }
        }
    }

    /// Gives a prepared version the whole cluster on a thread of its own
    /// while the version it replaces keeps serving; it is installed when
    /// warm ([`Input::Warmed`]). Warming on the scheduling loop instead
    /// cost every worker's first call of the new version the whole cluster,
    /// and pods placed while versions swapped came out 0.80x as fast.
    fn warm(&mut self, swap: PreparedSwap) {
        self.generations += 1;
        let generation = self.generations;
        let superseded = Arc::new(AtomicBool::new(false));
        let name = swap.plugin().name().to_string();
        let warming = Warming {
            file: swap.plugin().file.clone(),
            generation,
            superseded: superseded.clone(),
        };
        self.warming.insert(name.clone(), warming);
        let (state, seq) = self.cache.state();
        let sender = self.inputs_sender.clone();
        let warming = std::thread::Builder::new()
            .name(format!("warm-{name}"))
            .spawn(move || {
                swap.warm(&state, seq, &superseded);
                let _ = sender.send(Input::Warmed(Box::new(Warmed { generation, swap })));
            });
        if let Err(error) = warming {
            tracing::warn!(%error, "cannot start a thread to warm a plugin version");
        }
    }

    /// Installs a warmed version, unless a newer load of its plugin or the
    /// removal of its file came since; each outcome is logged and reported
    /// with the plugin's name, version, digest and file.
    fn on_plugin_warmed(&mut self, warmed: Warmed, now: Instant) {
        let Warmed { generation, swap } = warmed;
        let plugin = swap.plugin().clone();
        let name = plugin.name().to_string();
        if self.warming.get(&name).map(|w| w.generation) != Some(generation) {
            return;
        }
        self.warming.remove(&name);
        let described = describe(&plugin);
        let previous = self.plugins.get(&name).map(|p| describe(p));
        let profiles = self.framework.install(swap);
        let replaced_other_name = self.served_from(&plugin.file).filter(|old| *old != name);
        if let Some(old) = replaced_other_name {
            self.retire(&old);
        }
        let loaded = format!(
            "{described} serving {profiles} profile(s), {} in {:?}",
            match plugin.origin {
                crate::runtime::Origin::Cached => "from the compile cache",
                crate::runtime::Origin::Compiled => "compiled",
            },
            plugin.load_time
        );
        self.metrics.plugin_loaded(&name, previous.is_some());
        let message = match previous {
            Some(previous) => format!("{loaded}; replaces {previous}"),
            None => loaded,
        };
        self.plugins.insert(name, plugin);
        self.notice(false, "PluginLoaded", message);
        // A plugin that was missing or quarantined may now place pods that
        // waited for it.
        self.queue.move_all_to_active_or_backoff(
            now,
            crate::metrics::events::PLUGIN_LOADED,
            Cause::Scheduler,
        );
    }

    /// Stops serving the plugin `name` from its file: the built-in plugin of
    /// that name serves again, or the profiles run without it. Says which.
    fn retire(&mut self, name: &str) -> String {
        self.plugins.remove(name);
        if let Some(builtin) = self.builtin.get(name).cloned() {
            match self.framework.swap(&builtin) {
                Ok(profiles) => {
                    self.metrics.plugin_loaded(name, true);
                    self.plugins.insert(name.to_string(), builtin.clone());
                    return format!(
                        "the built-in {} serves {profiles} profile(s) again",
                        describe(&builtin)
                    );
                }
                Err(error) => {
                    tracing::warn!(plugin = name, %error, "the built-in plugin cannot serve")
                }
            }
        }
        self.metrics.plugin_unloaded(name);
        let profiles = self.framework.unload(name);
        format!("{profiles} profile(s) ran it")
    }

    /// The name of the plugin `file` serves, if it serves one.
    fn served_from(&self, file: &Path) -> Option<String> {
        self.plugins
            .values()
            .find(|p| p.file == file)
            .map(|p| p.name().to_string())
    }

    fn notice(&mut self, warning: bool, reason: &'static str, message: String) {
        if warning {
            tracing::warn!(reason, "{message}");
        } else {
            tracing::info!(reason, "{message}");
        }
        self.tasks_in_flight += 1;
        self.binder.report_plugin(PluginNotice {
            warning,
            reason,
            message,
        });
    }

    fn on_cluster_event(&mut self, event: ClusterEvent, now: Instant) {
        let retry = !self.held.is_empty()
            && matches!(
                event,
                ClusterEvent::NodeApplied(_)
                    | ClusterEvent::NodeDeleted(_)
                    | ClusterEvent::PodApplied(_)
                    | ClusterEvent::PodDeleted(_)
                    | ClusterEvent::NamespaceApplied(_)
                    | ClusterEvent::PodGroupApplied(_)
                    | ClusterEvent::ResourceClaimApplied(_)
            );
        self.on_cluster_event_inner(event, now);
        if retry {
            self.retry_held(now);
        }
        self.metrics
            .set_pending(QueueName::Gated, self.gated.len() + self.held.len());
    }

    fn on_cluster_event_inner(&mut self, event: ClusterEvent, now: Instant) {
        match event {
            ClusterEvent::NodeApplied(node) => {
                let name = node.metadata.name.as_deref().unwrap_or_default();
                let old = self.cache.node_object(name).cloned();
                self.cache.set_node(node.clone());
                let actions = match &old {
                    None => vec![ActionType::Add],
                    Some(old) => events::node_updates(old, &node),
                };
                for action in actions {
                    self.move_for(
                        EventResource::Node,
                        action,
                        &|| json(old.as_deref()),
                        &|| json(Some(&*node)),
                        now,
                    );
                }
            }
            ClusterEvent::NodeDeleted(node) => {
                self.cache
                    .remove_node(node.metadata.name.as_deref().unwrap_or_default());
                self.move_for(
                    EventResource::Node,
                    ActionType::Delete,
                    &|| json(Some(&*node)),
                    &|| None,
                    now,
                );
            }
            ClusterEvent::NamespaceApplied(namespace) => {
                let name = namespace.metadata.name.as_deref().unwrap_or_default();
                let action = if self.cache.has_namespace(name) {
                    ActionType::Update
                } else {
                    ActionType::Add
                };
                self.cache.set_namespace(&namespace);
                self.move_for(
                    EventResource::Namespace,
                    action,
                    &|| None,
                    &|| json(Some(&*namespace)),
                    now,
                );
            }
            ClusterEvent::NamespaceDeleted(namespace) => {
                self.cache
                    .remove_namespace(namespace.metadata.name.as_deref().unwrap_or_default());
            }
            ClusterEvent::PodApplied(pod) => self.on_pod_applied(pod, now),
            ClusterEvent::PodDeleted(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                self.cache.pod_groups_mut().remove_pod(&uid);
                if let Some(Permitting { pod, cycle, .. }) = self.permitting.remove(&uid) {
                    self.framework.waiting_pods().remove(&uid);
                    cycle.unreserve(Some(&self.cache), &pod.object, &pod.record);
                    cycle.end();
                }
                self.queue.delete(&uid);
                self.gated.remove(&uid);
                self.held.remove(&uid);
                self.cache.clear_nomination(&uid);
                if self.cache.pod_node(&uid).is_some() {
                    self.cache.remove_pod(&uid);
                    self.move_for(
                        EventResource::AssignedPod,
                        ActionType::Delete,
                        &|| json(Some(&*pod)),
                        &|| None,
                        now,
                    );
                }
            }
            // As kube-scheduler, no pod is retried for these: no plugin
            // registers for their events.
            ClusterEvent::WorkloadApplied(workload) => self.workloads.apply(workload),
            ClusterEvent::WorkloadDeleted(workload) => self.workloads.delete(&workload),
            // As kube-scheduler, no pod is retried for these either: they
            // only weigh in when preemption next runs.
            ClusterEvent::BudgetApplied(budget) => {
                let uid = budget.metadata.uid.as_deref().unwrap_or_default();
                self.cache
                    .set_budget(uid, convert::pod_disruption_budget(&budget));
            }
            ClusterEvent::BudgetDeleted(budget) => {
                self.cache
                    .remove_budget(budget.metadata.uid.as_deref().unwrap_or_default());
            }
            ClusterEvent::PodGroupApplied(group) => {
                let old = self.cache.pod_groups_mut().set_group(group.clone());
                let action = if old.is_some() {
                    ActionType::Update
                } else {
                    ActionType::Add
                };
                self.move_for(
                    EventResource::PodGroup,
                    action,
                    &|| json(old.as_deref()),
                    &|| json(Some(&*group)),
                    now,
                );
            }
            ClusterEvent::PodGroupDeleted(group) => {
                self.cache.pod_groups_mut().remove_group(&group);
            }
            ClusterEvent::VolumeObjectApplied(object) => {
                let old = match self.cache.volumes().apply(&object) {
                    Applied::Added => None,
                    Applied::Updated(old) => Some(old),
                    // The informer has not caught up with our own binding
                    // yet: nothing happened.
                    Applied::Stale => return,
                };
                let action = if old.is_some() {
                    ActionType::Update
                } else {
                    ActionType::Add
                };
                self.move_for(
                    object.resource(),
                    action,
                    &|| old.as_ref().and_then(VolumeObject::json),
                    &|| object.json(),
                    now,
                );
            }
            ClusterEvent::VolumeObjectDeleted(object) => {
                self.cache.volumes().delete(&object);
                self.move_for(
                    object.resource(),
                    ActionType::Delete,
                    &|| object.json(),
                    &|| None,
                    now,
                );
            }
            ClusterEvent::DeviceClassApplied(class) => {
                self.framework.resource_claims().set_class(&class);
                // Upstream registers add and update alike, with no hint.
                self.move_for(
                    EventResource::DeviceClass,
                    ActionType::Add,
                    &|| None,
                    &|| json(Some(&*class)),
                    now,
                );
            }
            ClusterEvent::DeviceClassDeleted(class) => {
                self.framework.resource_claims().remove_class(&class);
            }
            ClusterEvent::ResourceSliceApplied(slice) => {
                self.framework.resource_claims().set_slice(&slice);
                self.move_for(
                    EventResource::ResourceSlice,
                    ActionType::Add,
                    &|| None,
                    &|| json(Some(&*slice)),
                    now,
                );
            }
            ClusterEvent::ResourceSliceDeleted(slice) => {
                self.framework.resource_claims().remove_slice(&slice);
            }
            ClusterEvent::ResourceClaimApplied(claim) => {
                let old = self.framework.resource_claims().set_claim(claim.clone());
                let action = if old.is_some() {
                    ActionType::Update
                } else {
                    ActionType::Add
                };
                self.move_for(
                    EventResource::ResourceClaim,
                    action,
                    &|| json(old.as_deref()),
                    &|| json(Some(&*claim)),
                    now,
                );
            }
            ClusterEvent::ResourceClaimDeleted(claim) => {
                self.framework.resource_claims().remove_claim(&claim);
                self.move_for(
                    EventResource::ResourceClaim,
                    ActionType::Delete,
                    &|| json(Some(&*claim)),
                    &|| None,
                    now,
                );
            }
            ClusterEvent::Synced => {
                self.synced = true;
                self.metrics.set_synced();
            }
        }
    }

    fn on_pod_applied(&mut self, pod: Arc<core::Pod>, now: Instant) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let spec = pod.spec.as_ref();
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            // A finished pod no longer takes resources.
            self.queue.delete(&uid);
            self.cache.remove_pod(&uid);
            self.cache.pod_groups_mut().remove_pod(&uid);
            return;
        }
        self.cache.pod_groups_mut().set_pod(&pod);
        if let Some(node) = spec
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            self.queue.delete(&uid);
            self.gated.remove(&uid);
            self.held.remove(&uid);
            let record = convert::pod(&pod);
            // Our own pod, assumed until now, is new to the cluster's view
            // as it is to kube-scheduler's informer: an add.
            let old = (!self.cache.is_assumed(&uid))
                .then(|| self.cache.pod_record(&uid).cloned())
                .flatten();
            let actions = match &old {
                None => vec![ActionType::Add],
                Some(old) => events::pod_updates(old, &record),
            };
            self.cache.clear_nomination(&uid);
            self.cache.set_bound_pod(record, node);
            self.cache.set_pod_object(pod.clone());
            for action in actions {
                self.move_for(
                    EventResource::AssignedPod,
                    action,
                    &|| None,
                    &|| json(Some(&*pod)),
                    now,
                );
            }
            return;
        }
        if pod.metadata.deletion_timestamp.is_some() {
            // Deleted, kept by a finalizer: as kube-scheduler, never try it
            // (the apiserver would refuse the bind; failures would only
            // add events to a pod on its way out).
            self.queue.delete(&uid);
            self.gated.remove(&uid);
            return;
        }
        let scheduler_name = spec
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or_default();
        if !self.framework.handles(scheduler_name) || self.cache.pod_node(&uid).is_some() {
            // Another scheduler's pod, or ours assumed and being bound.
            return;
        }
        if spec.is_some_and(|s| s.scheduling_gates.as_ref().is_some_and(|g| !g.is_empty())) {
            self.queue.delete(&uid);
            self.gated.insert(uid, pod);
            return;
        }
        self.gated.remove(&uid);
        let record = convert::pod(&pod);
        // A pod nominated earlier (by us before a restart, or by another
        // scheduler) counts on its node, as upstream's nominator.
        let nominated = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .unwrap_or_default();
        self.cache.nominate(record.clone(), nominated);
        self.enqueue(pod, record, now);
    }

    /// Puts a pod into the queue, unless a PreEnqueue plugin of its profile
    /// keeps it out (then it is held until a cluster event lets it in).
    fn enqueue(&mut self, pod: Arc<core::Pod>, record: crate::wit::Pod, now: Instant) {
        let uid = record.uid.clone();
        if let Some(profile) = self
            .framework
            .profile(&record.scheduler_name)
            .filter(|p| p.has_pre_enqueue())
        {
            // PreEnqueue is about the pod, not a node: no snapshot to take
            // (rebuilding one after every bind costs the nodes per pod).
            let no_nodes = Arc::new(crate::cache::Snapshot::default());
            if let Err(reason) = profile.pre_enqueue(&self.cache, &no_nodes, &pod, &record) {
                self.queue.delete(&uid);
                self.held.insert(uid, (pod, reason));
                return;
            }
        }
        self.held.remove(&uid);
        self.queue.add(pod, record, now);
    }

    /// Moves the unschedulable pods a cluster event may help, as the
    /// queueing hints of the plugins that rejected them say.
    fn move_for(
        &mut self,
        resource: EventResource,
        action: ActionType,
        old: &dyn Fn() -> Option<String>,
        new: &dyn Fn() -> Option<String>,
        now: Instant,
    ) {
        let event = crate::wit::ClusterEvent { resource, action };
        let label = events::label(event);
        // Only unschedulable pods are asked about, and while there are none
        // (as when a cluster is first listed, one event per object) no
        // snapshot is taken: rebuilding it after every node event would
        // cost the nodes squared.
        let snapshot = self
            .queue
            .unschedulable()
            .next()
            .is_some()
            .then(|| self.cache.snapshot());
        let (framework, cache) = (&self.framework, &self.cache);
        self.queue
            .move_to_active_or_backoff_if(now, &label, Cause::Cluster, |pod| {
                let Some(snapshot) = &snapshot else {
                    return false;
                };
                framework
                    .profile(&pod.record.scheduler_name)
                    .is_none_or(|p| p.queueing_hint(cache, snapshot, pod, event, old, new))
            });
    }

    /// Asks PreEnqueue again about the pods it held: the cluster changed.
    fn retry_held(&mut self, now: Instant) {
        let held: Vec<Arc<core::Pod>> = self.held.values().map(|(p, _)| p.clone()).collect();
        for pod in held {
            let record = convert::pod(&pod);
            self.enqueue(pod, record, now);
        }
    }

    fn on_bound(&mut self, outcome: BindOutcome, now: Instant) {
        let BindOutcome {
            pod,
            node,
            cycle,
            result,
            attempt,
        } = outcome;
        let target = PodRef::of(&pod.object);
        let result_label = if result.is_ok() {
            AttemptResult::Scheduled
        } else {
            AttemptResult::Error
        };
        self.metrics
            .observe_attempt(&pod.record.scheduler_name, result_label, attempt);
        match result {
            Ok(()) => {
                tracing::debug!(pod = %target, node, "bound");
                if let Some(first) = pod.first_attempt {
                    self.metrics.observe_bound(pod.attempts, first.elapsed());
                }
                cycle.end();
            }
            Err(error) => {
                // The assumption was wrong: give its resources back.
                self.undo(&pod, &cycle);
                self.queue.move_all_to_active_or_backoff(
                    now,
                    ASSIGNED_POD_DELETE,
                    Cause::Scheduler,
                );
                match error {
                    BindError::NotFound(_) | BindError::Conflict(_) => {
                        tracing::info!(pod = %target, node, %error, "bind not needed");
                    }
                    BindError::Failed(message) => {
                        tracing::info!(pod = %target, node, %message, "bind failed; retrying after backoff");
                        let message = format!("binding rejected: {message}");
                        self.report(&pod, "SchedulerError", message.clone());
                        self.queue.readd_after_error(pod, message, now);
                    }
                }
            }
        }
    }

    /// One scheduling cycle.
    fn schedule_one(&mut self, mut pod: QueuedPod) {
        let started = Instant::now();
        let target = PodRef::of(&pod.object);
        // Deduced afresh each cycle, as upstream's PreFilter and PreScore do
        // from the listers.
        pod.record.default_spread_selector = self.workloads.default_spread_selector(&pod.object);
        let _span = tracing::debug_span!("cycle", pod = %target, attempt = pod.attempts).entered();
        let scheduler_name = pod.record.scheduler_name.clone();
        let Some(profile) = self.framework.profile_mut(&scheduler_name) else {
            self.queue.done(pod.uid());
            return;
        };
        let snapshot = self.cache.snapshot();
        let outcome = profile.schedule(&self.cache, &snapshot, &pod.object, &pod.record);
        self.metrics.observe_algorithm(started.elapsed());
        if let Outcome::Scheduled(cycle) = &outcome {
            tracing::debug!(pod = %target, node = cycle.node, plugins = profile.versions(), "scheduled");
        }
        let now = Instant::now();
        for message in self.framework.take_quarantine_notices() {
            self.notice(true, "PluginQuarantined", message);
        }
        match outcome {
            Outcome::Scheduled(cycle) => self.reserve_and_permit(pod, cycle, started, now),
            Outcome::Unschedulable(diagnosis) => {
                let message = diagnosis.message();
                tracing::info!(pod = %target, %message, "unschedulable");
                self.nominate(&pod, &diagnosis);
                let took = started.elapsed();
                self.metrics
                    .observe_attempt(&scheduler_name, AttemptResult::Unschedulable, took);
                self.queue
                    .set_unschedulable_plugins(pod.uid(), diagnosis.plugins());
                self.queue
                    .requeue(pod.uid(), Failure::Unschedulable(message.clone()), now);
                self.report(&pod, "Unschedulable", message);
            }
            Outcome::Failed(message) => {
                tracing::info!(pod = %target, %message, "scheduling failed; retrying after backoff");
                let took = started.elapsed();
                self.metrics
                    .observe_attempt(&scheduler_name, AttemptResult::Error, took);
                self.queue
                    .requeue(pod.uid(), Failure::Error(message.clone()), now);
                self.report(&pod, "SchedulerError", message);
            }
        }
        self.collect_permits(now);
    }

    /// Assume, Reserve and Permit: the pod holds its node from here on,
    /// until its binding fails or it is rejected.
    fn reserve_and_permit(
        &mut self,
        pod: QueuedPod,
        cycle: Box<Cycle>,
        started: Instant,
        now: Instant,
    ) {
        let target = PodRef::of(&pod.object);
        if let Err(error) = self.cache.assume(pod.record.clone(), &cycle.node) {
            tracing::warn!(pod = %target, %error, "not assumed");
            self.queue.done(pod.uid());
            cycle.end();
            return;
        }
        self.cache.set_pod_object(pod.object.clone());
        // Assumed where it goes, it no longer needs the nomination.
        self.cache.clear_nomination(pod.uid());
        if let Err(error) = cycle.reserve(&self.cache, &pod.object, &pod.record) {
            let _ = self.cache.forget(pod.uid());
            cycle.end();
            self.fail(&pod, error, started, now);
            return;
        }
        match cycle.permit(&self.cache, &pod.object, &pod.record) {
            PermitOutcome::Allowed => {
                self.queue.done(pod.uid());
                self.start_binding(pod, cycle, started);
            }
            PermitOutcome::Wait { pending, timeout } => {
                tracing::debug!(pod = %target, node = cycle.node, ?pending, ?timeout, "waiting at permit");
                self.framework.waiting_pods().add(
                    &cycle.profile,
                    crate::wit::WaitingPod {
                        namespace: pod.record.namespace.clone(),
                        name: pod.record.name.clone(),
                        uid: pod.record.uid.clone(),
                        node: cycle.node.clone(),
                        pending_plugins: Vec::new(),
                    },
                    pending,
                    now,
                    now + timeout,
                );
                self.permitting.insert(
                    pod.uid().to_string(),
                    Permitting {
                        pod,
                        cycle,
                        started,
                    },
                );
            }
            PermitOutcome::Rejected(error) => {
                self.undo(&pod, &cycle);
                self.fail(&pod, error, started, now);
            }
        }
    }

    /// What PostFilter decided about the pod's nomination: a node it may
    /// go to once its victims are gone (the preemption is carried out off
    /// the loop, and the nominator counts the pod there meanwhile), or
    /// `Some("")` to clear an earlier nomination.
    fn nominate(&mut self, pod: &QueuedPod, diagnosis: &Diagnosis) {
        let Some(node) = &diagnosis.nominated_node else {
            return;
        };
        let target = PodRef::of(&pod.object);
        if node.is_empty() {
            let had = self.cache.clear_nomination(pod.uid()).is_some()
                || pod
                    .object
                    .status
                    .as_ref()
                    .and_then(|s| s.nominated_node_name.as_deref())
                    .is_some_and(|n| !n.is_empty());
            if had {
                self.tasks_in_flight += 1;
                self.binder.clear_nomination(target);
            }
            return;
        }
        tracing::info!(pod = %target, node, victims = diagnosis.victims.len(), "preempting");
        let displaced: Vec<PodRef> = self
            .cache
            .nominated_to(node)
            .filter(|n| n.priority < pod.record.priority && n.uid != pod.record.uid)
            .map(|n| PodRef {
                namespace: n.namespace.clone(),
                name: n.name.clone(),
                uid: n.uid.clone(),
            })
            .collect();
        for displaced in &displaced {
            self.cache.clear_nomination(&displaced.uid);
        }
        self.cache.nominate(pod.record.clone(), node);
        self.metrics.observe_preemption(diagnosis.victims.len());
        // As upstream, a victim already being deleted gets no API call.
        let victims = diagnosis
            .victims
            .iter()
            .filter(|v| {
                !self
                    .cache
                    .pod_record(&v.uid)
                    .is_some_and(|record| record.terminating)
            })
            .cloned()
            .collect();
        self.tasks_in_flight += 1;
        self.binder.preempt(Preemption {
            preemptor: target,
            scheduler_name: pod.record.scheduler_name.clone(),
            node: node.clone(),
            victims,
            displaced,
        });
    }

    fn report(&mut self, pod: &QueuedPod, reason: &'static str, message: String) {
        self.tasks_in_flight += 1;
        self.binder
            .report_unschedulable(PodRef::of(&pod.object), reason, message);
    }
}

/// An object as the JSON the apiserver serves, for queueing hints.
fn json<T: serde::Serialize>(object: Option<&T>) -> Option<String> {
    serde_json::to_string(object?).ok()
}

/// `Name 1.2.0 (sha256 ab12..., file /plugins/x.wasm)`.
fn describe(plugin: &LoadedPlugin) -> String {
    format!(
        "{} {} (sha256 {}, {})",
        plugin.name(),
        plugin.metadata.version,
        plugin.digest,
        plugin.file.display()
    )
}

/// A pod reserved on its node and held at Permit.
struct Permitting {
    pod: QueuedPod,
    cycle: Box<Cycle>,
    started: Instant,
}

/// A pod still waiting after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Why its last attempt failed (kube-scheduler's message).
    pub reason: String,
    /// Whether it failed on an error (a plugin fault, a failed bind): the
    /// scheduler broke, as opposed to finding no node for the pod.
    pub error: bool,
}
