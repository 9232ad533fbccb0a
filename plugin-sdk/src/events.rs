//! Registrations for queueing hints: the cluster events a plugin declares
//! at EnqueueExtensions.

use crate::{ActionType, EventResource, RegisteredEvent};

impl RegisteredEvent {
    /// Any of `actions` on `resource` may make a pod this plugin rejected
    /// schedulable; each such event moves it back to the queue.
    ///
    /// ```
    /// use kws_plugin_sdk::{ActionType, EventResource, RegisteredEvent};
    ///
    /// let nodes = RegisteredEvent::on(
    ///     EventResource::Node,
    ///     &[ActionType::Add, ActionType::UpdateNodeLabel],
    /// );
    /// assert!(!nodes.has_hint);
    /// assert!(nodes.with_hint().has_hint);
    /// ```
    pub fn on(resource: EventResource, actions: &[ActionType]) -> Self {
        RegisteredEvent {
            resource,
            actions: actions.to_vec(),
            has_hint: false,
        }
    }

    /// The host asks [`Plugin::queueing_hint`](crate::Plugin::queueing_hint)
    /// before it moves a pod for such an event.
    pub fn with_hint(self) -> Self {
        RegisteredEvent {
            has_hint: true,
            ..self
        }
    }
}
