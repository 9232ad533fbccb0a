//! Constructors for the [`Status`] a Filter returns.

use crate::{Code, Status};

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

    /// Success and Skip both let the node through.
    pub fn passes(&self) -> bool {
        matches!(self.code, Code::Success | Code::Skip)
    }
}
