//! The binding cycle happens off the scheduling loop: the next pod's cycle
//! starts while the previous pod's PreBind, Bind and PostBind plugins and
//! its Binding are in flight. The loop learns the result through its input
//! channel.

use crate::backend::{Backend, BindError, PluginNotice, PodRef, Preemption};
use crate::framework::{Cycle, StepError};
use crate::queue::QueuedPod;
use crate::scheduler::Input;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The result of a bind, sent back to the scheduling loop.
#[derive(Debug)]
pub struct BindOutcome {
    pub pod: QueuedPod,
    pub node: String,
    /// The pod's cycle, to unreserve on failure and to end.
    pub cycle: Box<Cycle>,
    pub result: Result<(), BindError>,
    /// The pod's scheduling attempt: from the moment the loop took it from
    /// the queue to the bind's answer (the `Scheduled` event, recorded
    /// after, is not part of it, as in kube-scheduler).
    pub attempt: Duration,
}

/// Runs binds and status reports as tasks on a tokio runtime.
pub struct Binder<B: Backend> {
    backend: Arc<B>,
    runtime: Handle,
    results: Sender<Input>,
}

impl<B: Backend> Binder<B> {
    pub fn new(backend: Arc<B>, runtime: Handle, results: Sender<Input>) -> Self {
        Binder {
            backend,
            runtime,
            results,
        }
    }

    /// The binding cycle of `pod` on its cycle's node: PreBind and Bind
    /// plugins (on a blocking thread: plugin calls are synchronous), the
    /// Binding, the `Scheduled` event and PostBind; then reports back with
    /// [`Input::Bound`].
    pub fn bind(&self, pod: QueuedPod, cycle: Box<Cycle>, attempt_started: Instant) {
        let backend = self.backend.clone();
        let results = self.results.clone();
        self.runtime.spawn(async move {
            let target = PodRef::of(&pod.object);
            let node = cycle.node.clone();
            let (pod, cycle, plugins) = if cycle.has_binding_plugins() {
                tokio::task::spawn_blocking(move || {
                    let answer = cycle.bind(&pod.object, &pod.record);
                    (pod, cycle, answer)
                })
                .await
                .expect("a binding cycle's plugin calls do not panic")
            } else {
                (pod, cycle, Ok(None))
            };
            let result = match plugins {
                Ok(taken_by) => {
                    if let Some(plugin) = taken_by {
                        tracing::debug!(pod = %target, node, plugin, "bind plugin took the pod");
                    }
                    backend.bind(&target, &node).await
                }
                Err(StepError::Rejected(message) | StepError::Failed(message)) => {
                    Err(BindError::Failed(message))
                }
            };
            let attempt = attempt_started.elapsed();
            if result.is_ok() {
                backend.report_scheduled(&target, &node).await;
            }
            let (pod, cycle) = if result.is_ok() && cycle.has_post_bind() {
                tokio::task::spawn_blocking(move || {
                    cycle.post_bind(&pod.object, &pod.record);
                    (pod, cycle)
                })
                .await
                .expect("post-bind calls do not panic")
            } else {
                (pod, cycle)
            };
            let _ = results.send(Input::Bound(Box::new(BindOutcome {
                pod,
                node,
                cycle,
                result,
                attempt,
            })));
        });
    }

    /// Records a failed attempt on the pod (event and condition), then
    /// reports back with [`Input::Reported`].
    pub fn report_unschedulable(&self, pod: PodRef, reason: &'static str, message: String) {
        let backend = self.backend.clone();
        let results = self.results.clone();
        self.runtime.spawn(async move {
            backend.report_unschedulable(&pod, reason, &message).await;
            let _ = results.send(Input::Reported);
        });
    }

    /// Carries out a preemption off the scheduling loop (upstream's
    /// asynchronous preemption), then reports back with
    /// [`Input::Reported`]; the victims' deletions reach the loop through
    /// the watch, and let the preemptor back into the queue.
    pub fn preempt(&self, preemption: Preemption) {
        let backend = self.backend.clone();
        let results = self.results.clone();
        self.runtime.spawn(async move {
            backend.preempt(&preemption).await;
            let _ = results.send(Input::Reported);
        });
    }

    /// Clears a pod's nomination, then reports back with
    /// [`Input::Reported`].
    pub fn clear_nomination(&self, pod: PodRef) {
        let backend = self.backend.clone();
        let results = self.results.clone();
        self.runtime.spawn(async move {
            backend.clear_nomination(&pod).await;
            let _ = results.send(Input::Reported);
        });
    }

    /// Records a notice about the plugins, then reports back with
    /// [`Input::Reported`].
    pub fn report_plugin(&self, notice: PluginNotice) {
        let backend = self.backend.clone();
        let results = self.results.clone();
        self.runtime.spawn(async move {
            backend.report_plugin(&notice).await;
            let _ = results.send(Input::Reported);
        });
    }
}
