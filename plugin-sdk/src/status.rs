//! Constructors for the [`Status`] a Filter returns.

use crate::{Code, PermitResult, PostFilterResult, PreFilterResult, Status};
use std::time::Duration;

impl Status {
    /// The node passes.
    pub fn success() -> Self {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
        }
    }

    /// The node does not fit now but may once the cluster changes (for
    /// example `Insufficient cpu`).
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Status {
            code: Code::Unschedulable,
            reasons: vec![reason.into()],
        }
    }

    /// The node will not fit until the pod or the node spec changes (for
    /// example a node selector that does not match).
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Status {
            code: Code::UnschedulableAndUnresolvable,
            reasons: vec![reason.into()],
        }
    }

    /// The plugin could not decide; the pod is retried later.
    pub fn error(reason: impl Into<String>) -> Self {
        Status {
            code: Code::Error,
            reasons: vec![reason.into()],
        }
    }

    /// The plugin has nothing to say about this pod.
    pub fn skip() -> Self {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
        }
    }

    /// Unschedulable for several reasons at once (each is counted in the
    /// pod's failure message).
    pub fn unschedulable_for(reasons: Vec<String>) -> Self {
        Status {
            code: Code::Unschedulable,
            reasons,
        }
    }

    /// Pre-enqueue: the pod is not ready to be scheduled yet.
    pub fn pending(reason: impl Into<String>) -> Self {
        Status {
            code: Code::Pending,
            reasons: vec![reason.into()],
        }
    }

    /// Success and Skip both let the node through.
    pub fn passes(&self) -> bool {
        matches!(self.code, Code::Success | Code::Skip)
    }
}

impl PreFilterResult {
    /// Every node may pass; filter runs.
    pub fn all() -> Self {
        PreFilterResult {
            status: Status::success(),
            node_names: None,
        }
    }

    /// Only these nodes can pass; filter runs on them.
    pub fn only(node_names: Vec<String>) -> Self {
        PreFilterResult {
            status: Status::success(),
            node_names: Some(node_names),
        }
    }

    /// Nothing to check for this pod: filter is not called this cycle.
    pub fn skip() -> Self {
        PreFilterResult {
            status: Status::skip(),
            node_names: None,
        }
    }

    /// No node can pass, for this reason (an unschedulable `status`), or
    /// the plugin failed (an error `status`).
    pub fn rejected(status: Status) -> Self {
        PreFilterResult {
            status,
            node_names: None,
        }
    }
}

impl PostFilterResult {
    /// The pod may fit on `node` once what the plugin started is done.
    pub fn nominate(node: impl Into<String>) -> Self {
        PostFilterResult {
            status: Status::success(),
            nominated_node: Some(node.into()),
        }
    }

    /// The plugin could not help; `reasons` join the failure message.
    pub fn unschedulable(reasons: Vec<String>) -> Self {
        PostFilterResult {
            status: Status::unschedulable_for(reasons),
            nominated_node: None,
        }
    }
}

impl PermitResult {
    pub fn allow() -> Self {
        PermitResult {
            status: Status::success(),
            timeout_ms: 0,
        }
    }

    /// Holds the pod, reserved, for at most `timeout`.
    pub fn wait(timeout: Duration) -> Self {
        PermitResult {
            status: Status {
                code: Code::Wait,
                reasons: Vec::new(),
            },
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub fn reject(reason: impl Into<String>) -> Self {
        PermitResult {
            status: Status::unschedulable(reason),
            timeout_ms: 0,
        }
    }
}
