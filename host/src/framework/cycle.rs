//! A scheduled pod's cycle after the choice of its node: Reserve (and
//! Unreserve when a later step fails), Permit, and the binding cycle
//! (PreBind, Bind, PostBind), as in kube-scheduler's `schedule_one.go`.
//!
//! A [`Cycle`] holds the plugin versions that were serving when its pod
//! was scheduled, so a hot swap in between never strands the pod: its
//! cycle finishes on the versions it started with. The binding cycle runs
//! off the scheduling loop ([`Cycle::bind`] is called on a blocking
//! thread); its calls do not bring the instances up to date with the
//! cache, which only the loop may read.

use crate::cache::{Cache, Snapshot};
use crate::config::FailurePolicy;
use crate::metrics::Metrics;
use crate::runtime::{CallContext, PluginError, PluginPool};
use crate::wit::{Code, NodeId, Pod, Status};
use k8s_openapi::api::core::v1 as core;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a pod may wait at Permit, as kube-scheduler's `maxTimeout`.
pub const MAX_PERMIT_WAIT: Duration = Duration::from_secs(15 * 60);

/// A plugin serving one of a cycle's later points.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) pool: Arc<PluginPool>,
    /// The instance that has the cycle's state.
    pub(crate) instance: usize,
    pub(crate) policy: FailurePolicy,
}

impl Member {
    fn name(&self) -> &str {
        self.pool.name()
    }
}

/// A scheduled pod's cycle, from its node's choice to its end.
pub struct Cycle {
    pub id: u64,
    /// The profile's `schedulerName`.
    pub profile: String,
    /// The chosen node.
    pub node: String,
    pub(crate) node_id: NodeId,
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) reserve: Vec<Member>,
    pub(crate) permit: Vec<Member>,
    pub(crate) pre_bind: Vec<Member>,
    pub(crate) bind: Vec<Member>,
    pub(crate) post_bind: Vec<Member>,
    /// Every plugin of the profile, as the cycle started: each is told
    /// when the cycle ends (only instances sent the pod are called).
    pub(crate) every: Vec<Member>,
    /// Where each point's and each plugin call's duration goes.
    pub(crate) metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Cycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cycle")
            .field("id", &self.id)
            .field("node", &self.node)
            .finish()
    }
}

/// How a plugin step ended when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// A plugin rejected the pod (an unschedulable status): the pod waits
    /// for a cluster change, with kube-scheduler's message.
    Rejected(String),
    /// A plugin failed: the pod is retried after backoff.
    Failed(String),
}

/// What Permit decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitOutcome {
    Allowed,
    /// Hold the pod until these plugins allow it, at most `timeout`.
    Wait {
        pending: BTreeSet<String>,
        timeout: Duration,
    },
    Rejected(StepError),
}

impl Cycle {
    fn ctx<'a>(&'a self, cache: Option<&'a Cache>, object: &'a Arc<core::Pod>) -> CallContext<'a> {
        CallContext {
            cache,
            snapshot: &self.snapshot,
            pod: object,
            cycle: self.id,
        }
    }

    /// Records that the `members` of `point` ran since `started`, ending
    /// with `status`; nothing for a point no plugin serves (the host's own
    /// binding is not a Bind plugin).
    fn observe(
        &self,
        point: &'static str,
        members: &[Member],
        status: &'static str,
        started: Instant,
    ) {
        if !members.is_empty() {
            self.metrics
                .observe_extension_point(&self.profile, point, status, started.elapsed());
        }
    }

    /// One call of `member` at `point`, timed.
    fn call<R>(
        &self,
        member: &Member,
        point: &'static str,
        status: impl FnOnce(&R) -> &'static str,
        call: impl FnOnce() -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        super::timed_call(&self.metrics, member.name(), point, status, call)
    }

    /// Whether the binding cycle calls any plugin.
    pub fn has_binding_plugins(&self) -> bool {
        !(self.pre_bind.is_empty() && self.bind.is_empty() && self.post_bind.is_empty())
    }

    /// Whether any PostBind plugin runs.
    pub fn has_post_bind(&self) -> bool {
        !self.post_bind.is_empty()
    }

    /// Reserve, in profile order. On the first failure every reserve
    /// plugin is unreserved (in reverse order) and the error returned.
    pub fn reserve(
        &self,
        cache: &Cache,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<(), StepError> {
        let started = Instant::now();
        let result = self.reserve_plugins(cache, object, pod);
        self.observe("Reserve", &self.reserve, step_label(&result), started);
        result
    }

    fn reserve_plugins(
        &self,
        cache: &Cache,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<(), StepError> {
        let ctx = self.ctx(Some(cache), object);
        for member in &self.reserve {
            let call = || member.pool.reserve(member.instance, ctx, pod, self.node_id);
            let status = match self.call(member, "Reserve", |s| super::code_name(s.code), call) {
                Ok(status) => status,
                Err(error) => match fault(ctx, "reserve", member, error) {
                    None => continue,
                    Some(error) => {
                        self.unreserve(Some(cache), object, pod);
                        return Err(error);
                    }
                },
            };
            if status.code != Code::Success {
                self.unreserve(Some(cache), object, pod);
                return Err(step_error("Reserve", member.name(), &status));
            }
        }
        Ok(())
    }

    /// Unreserve: every reserve plugin, in reverse order. Faults are
    /// logged: there is nothing left to undo them with.
    pub fn unreserve(&self, cache: Option<&Cache>, object: &Arc<core::Pod>, pod: &Pod) {
        let started = Instant::now();
        let ctx = self.ctx(cache, object);
        for member in self.reserve.iter().rev() {
            let call = || {
                member
                    .pool
                    .unreserve(member.instance, ctx, pod, self.node_id)
            };
            if let Err(error) = self.call(member, "Unreserve", |_| "Success", call) {
                tracing::warn!(plugin = member.name(), %error, "unreserve failed");
            }
        }
        // What a plugin had the host hold for the pod and could not give
        // back itself (its instance faulted and lost the cycle's state).
        if let Some(member) = self.reserve.first() {
            member.pool.release_holds(object);
        }
        self.observe("Unreserve", &self.reserve, "Success", started);
    }

    /// Permit, in profile order: a rejection ends it at once; otherwise the
    /// pod waits for every plugin that said wait, at most for the shortest
    /// of their timeouts.
    pub fn permit(&self, cache: &Cache, object: &Arc<core::Pod>, pod: &Pod) -> PermitOutcome {
        let started = Instant::now();
        let outcome = self.permit_plugins(cache, object, pod);
        let status = match &outcome {
            PermitOutcome::Allowed => "Success",
            PermitOutcome::Wait { .. } => "Wait",
            PermitOutcome::Rejected(StepError::Rejected(_)) => "Unschedulable",
            PermitOutcome::Rejected(StepError::Failed(_)) => "Error",
        };
        self.observe("Permit", &self.permit, status, started);
        outcome
    }

    fn permit_plugins(&self, cache: &Cache, object: &Arc<core::Pod>, pod: &Pod) -> PermitOutcome {
        let ctx = self.ctx(Some(cache), object);
        let mut pending = BTreeSet::new();
        let mut timeout = MAX_PERMIT_WAIT;
        for member in &self.permit {
            let call = || member.pool.permit(member.instance, ctx, pod, self.node_id);
            let timed = self.call(member, "Permit", |r| super::code_name(r.status.code), call);
            let result = match timed {
                Ok(result) => result,
                Err(error) => match fault(ctx, "permit", member, error) {
                    None => continue,
                    Some(error) => return PermitOutcome::Rejected(error),
                },
            };
            match result.status.code {
                Code::Success | Code::Skip => {}
                Code::Wait => {
                    pending.insert(member.name().to_string());
                    timeout = timeout.min(Duration::from_millis(result.timeout_ms));
                }
                _ => {
                    return PermitOutcome::Rejected(step_error(
                        "Permit",
                        member.name(),
                        &result.status,
                    ));
                }
            }
        }
        if pending.is_empty() {
            PermitOutcome::Allowed
        } else {
            PermitOutcome::Wait { pending, timeout }
        }
    }

    /// The binding cycle's plugins before the Binding is written: PreBind,
    /// then Bind until one takes the pod. Returns the Bind plugin that took
    /// it (`None`: the host's binder, kube-scheduler's DefaultBinder).
    pub fn bind(&self, object: &Arc<core::Pod>, pod: &Pod) -> Result<Option<String>, StepError> {
        let started = Instant::now();
        let pre_bound = self.pre_bind_plugins(object, pod);
        self.observe("PreBind", &self.pre_bind, step_label(&pre_bound), started);
        pre_bound?;
        let started = Instant::now();
        let bound = self.bind_plugins(object, pod);
        self.observe("Bind", &self.bind, step_label(&bound), started);
        bound
    }

    fn pre_bind_plugins(&self, object: &Arc<core::Pod>, pod: &Pod) -> Result<(), StepError> {
        let ctx = self.ctx(None, object);
        for member in &self.pre_bind {
            let call = || {
                member
                    .pool
                    .pre_bind(member.instance, ctx, pod, self.node_id)
            };
            let status = match self.call(member, "PreBind", |s| super::code_name(s.code), call) {
                Ok(status) => status,
                Err(error) => match fault(ctx, "pre-bind", member, error) {
                    None => continue,
                    Some(error) => return Err(error),
                },
            };
            if !matches!(status.code, Code::Success | Code::Skip) {
                return Err(step_error("PreBind", member.name(), &status));
            }
            // VolumeBinding's wait for the PersistentVolume controller,
            // after its call: the instance is not held meanwhile.
            if let Some(volumes) = &self.snapshot.volumes {
                let uid = object.metadata.uid.as_deref().unwrap_or_default();
                volumes.wait_for_bindings(uid).map_err(|error| {
                    StepError::Failed(format!(
                        "running PreBind plugin {:?}: {error}",
                        member.name()
                    ))
                })?;
            }
        }
        Ok(())
    }

    fn bind_plugins(
        &self,
        object: &Arc<core::Pod>,
        pod: &Pod,
    ) -> Result<Option<String>, StepError> {
        let ctx = self.ctx(None, object);
        for member in &self.bind {
            let call = || member.pool.bind(member.instance, ctx, pod, self.node_id);
            let status = match self.call(member, "Bind", |s| super::code_name(s.code), call) {
                Ok(status) => status,
                Err(error) => match fault(ctx, "bind", member, error) {
                    None => continue,
                    Some(error) => return Err(error),
                },
            };
            match status.code {
                Code::Skip => continue,
                Code::Success => return Ok(Some(member.name().to_string())),
                _ => return Err(step_error("Bind", member.name(), &status)),
            }
        }
        Ok(None)
    }

    /// PostBind: informational; faults are logged.
    pub fn post_bind(&self, object: &Arc<core::Pod>, pod: &Pod) {
        let started = Instant::now();
        let ctx = self.ctx(None, object);
        for member in &self.post_bind {
            let call = || {
                member
                    .pool
                    .post_bind(member.instance, ctx, pod, self.node_id)
            };
            if let Err(error) = self.call(member, "PostBind", |_| "Success", call) {
                tracing::warn!(plugin = member.name(), %error, "post-bind failed");
            }
        }
        self.observe("PostBind", &self.post_bind, "Success", started);
    }

    /// The cycle is over: every instance that may keep state for it is
    /// told so.
    pub fn end(&self) {
        for member in &self.every {
            if let Err(error) = member.pool.cycle_end(member.instance, self.id) {
                tracing::warn!(plugin = member.name(), %error, "cycle-end failed");
            }
        }
    }
}

/// kube-scheduler's status label for a step's result.
fn step_label<T>(result: &Result<T, StepError>) -> &'static str {
    match result {
        Ok(_) => "Success",
        Err(StepError::Rejected(_)) => "Unschedulable",
        Err(StepError::Failed(_)) => "Error",
    }
}

/// A fault at a later point: `None` when the plugin's `failurePolicy` is
/// `Ignore` (logged, the plugin is left out), else the error.
fn fault(
    ctx: CallContext<'_>,
    point: &str,
    member: &Member,
    error: PluginError,
) -> Option<StepError> {
    if member.policy == FailurePolicy::Ignore {
        super::log_ignored(ctx, point, &error);
        return None;
    }
    Some(StepError::Failed(error.to_string()))
}

/// An answer other than success at `point`: unschedulable codes reject
/// the pod (kube-scheduler's `0/1 nodes are available` for Reserve and
/// Permit), others fail it (`running Reserve plugin "X": ...`).
fn step_error(point: &str, plugin: &str, status: &Status) -> StepError {
    let reasons = status.reasons.join(", ");
    match status.code {
        Code::Unschedulable | Code::UnschedulableAndUnresolvable | Code::Pending => {
            StepError::Rejected(format!("0/1 nodes are available: {reasons}."))
        }
        _ => StepError::Failed(format!("running {point} plugin {plugin:?}: {reasons}")),
    }
}
