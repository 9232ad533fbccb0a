//! The apiserver's validation of the objects the embedded cluster holds
//! (`pkg/apis/core/validation` and friends in Kubernetes v1.37), with its
//! field paths and messages: a manifest `kubectl create` would refuse is
//! refused here with the message the apiserver gives.
//!
//! Each function takes an object after the apiserver's defaulting (see
//! [`super::defaults`]) and returns every problem found, as the apiserver
//! reports them all at once.

mod meta;
mod names;
mod node;
mod pod;
mod resource;
mod resources;
mod scheduling;
mod storage;
mod workloads;

pub use names::{dns1123_label, dns1123_subdomain};
pub use node::{namespace, node};
pub use pod::pod;
pub use resource::{device_class, resource_claim, resource_slice};
pub use scheduling::{SYSTEM_PRIORITY_CLASSES, priority_class};
pub use storage::{
    csi_driver, csi_node, csi_storage_capacity, persistent_volume, persistent_volume_claim,
    storage_class, volume_attachment,
};
pub use workloads::{controller_selector, pod_disruption_budget, replication_controller, service};

use std::fmt;

/// One field-level complaint, printed as the apiserver prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: FieldErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required(String),
    /// `value` is printed as the apiserver prints it: quoted for strings,
    /// bare for numbers.
    Invalid {
        value: String,
        detail: String,
    },
    NotSupported {
        value: String,
        supported: &'static [&'static str],
    },
    Duplicate {
        value: String,
        detail: &'static str,
    },
    Forbidden(String),
    TooLong(String),
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.kind {
            FieldErrorKind::Required(detail) if detail.is_empty() => {
                write!(f, "{path}: Required value")
            }
            FieldErrorKind::Required(detail) => write!(f, "{path}: Required value: {detail}"),
            FieldErrorKind::Invalid { value, detail } => {
                write!(f, "{path}: Invalid value: {value}: {detail}")
            }
            FieldErrorKind::NotSupported { value, supported } => {
                let list: Vec<String> = supported.iter().map(|s| quote(s)).collect();
                write!(
                    f,
                    "{path}: Unsupported value: {}: supported values: {}",
                    quote(value),
                    list.join(", ")
                )
            }
            FieldErrorKind::Duplicate { value, detail: "" } => {
                write!(f, "{path}: Duplicate value: {value}")
            }
            FieldErrorKind::Duplicate { value, detail } => {
                write!(f, "{path}: Duplicate value: {value}: {detail}")
            }
            FieldErrorKind::Forbidden(detail) => write!(f, "{path}: Forbidden: {detail}"),
            FieldErrorKind::TooLong(detail) => write!(f, "{path}: Too long: {detail}"),
        }
    }
}

/// A string as Go's `%q` prints it: in double quotes, with control
/// characters escaped, so a value holding a newline cannot forge a line of
/// output.
pub fn quote(value: &str) -> String {
    format!("{value:?}")
}

/// `field.Invalid` with a string value.
pub(crate) fn invalid(
    path: impl Into<String>,
    value: &str,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Invalid {
            value: quote(value),
            detail: detail.into(),
        },
    }
}

/// `field.Invalid` with a value printed bare, as Go prints numbers and maps.
pub(crate) fn invalid_bare(
    path: impl Into<String>,
    value: impl fmt::Display,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Invalid {
            value: value.to_string(),
            detail: detail.into(),
        },
    }
}

pub(crate) fn required(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Required(detail.into()),
    }
}

pub(crate) fn forbidden(path: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Forbidden(detail.into()),
    }
}

pub(crate) fn not_supported(
    path: impl Into<String>,
    value: &str,
    supported: &'static [&'static str],
) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::NotSupported {
            value: value.to_string(),
            supported,
        },
    }
}

pub(crate) fn duplicate(path: impl Into<String>, value: &str) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Duplicate {
            value: quote(value),
            detail: "",
        },
    }
}

/// One `field.Invalid` per message of a format check (see [`names`]).
pub(crate) fn each_invalid(path: &str, value: &str, messages: Vec<String>) -> Vec<FieldError> {
    messages
        .into_iter()
        .map(|m| invalid(path, value, m))
        .collect()
}

/// The apiserver's `<Kind> "<name>" is invalid: ...` for a non-empty list.
pub fn report(kind: &str, name: Option<&str>, errors: &[FieldError]) -> Result<(), String> {
    let name = name.unwrap_or_default();
    match errors {
        [] => Ok(()),
        [one] => Err(format!("{kind} {} is invalid: {one}", quote(name))),
        many => {
            let list: Vec<String> = many.iter().map(ToString::to_string).collect();
            Err(format!(
                "{kind} {} is invalid: [{}]",
                quote(name),
                list.join(", ")
            ))
        }
    }
}
