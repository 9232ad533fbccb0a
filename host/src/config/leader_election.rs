//! The `leaderElection` section: component-base's defaulting and
//! validation, as kube-scheduler applies them at start.

use super::*;
use crate::model::validation::{dns1123_label, dns1123_subdomain};

/// client-go's `JitterFactor`: a replica waits up to 1.2 retry periods
/// between tries, so the renew deadline must leave room for one.
const JITTER_FACTOR: f64 = 1.2;

/// The longest duration accepted for each of the three: a Lease stores
/// its duration in whole seconds as an int32, and a day is already far
/// beyond any useful failover time.
const MAX_ELECTION_DURATION: (Duration, &str) = (Duration::from_secs(24 * 60 * 60), "24h");

/// The effective election, or None when `leaderElect` is false (then, as
/// upstream, nothing else in the section is checked).
pub(super) fn leader_election(
    cx: &Cx,
    file: Option<FileLeaderElection>,
) -> Result<Option<LeaderElection>> {
    let file = file.unwrap_or_default();
    if file.leader_elect == Some(false) {
        return Ok(None);
    }
    let defaults = LeaderElection::default();
    let duration = |field: &str, given: &Option<DurationText>, default: Duration| match given {
        None => Ok(default),
        Some(text) => bounded_duration(
            cx,
            &format!("leaderElection.{field}"),
            text,
            MAX_ELECTION_DURATION,
        ),
    };
    let lease_duration = duration(
        "leaseDuration",
        &file.lease_duration,
        defaults.lease_duration,
    )?;
    let renew_deadline = duration(
        "renewDeadline",
        &file.renew_deadline,
        defaults.renew_deadline,
    )?;
    let retry_period = duration("retryPeriod", &file.retry_period, defaults.retry_period)?;
    if lease_duration <= renew_deadline {
        return Err(cx.invalid(
            "leaderElection.leaseDuration",
            format!(
                "must be greater than `renewDeadline` ({renew_deadline:?}), got {lease_duration:?}"
            ),
        ));
    }
    if renew_deadline.as_secs_f64() <= retry_period.as_secs_f64() * JITTER_FACTOR {
        return Err(cx.invalid(
            "leaderElection.renewDeadline",
            format!(
                "must be greater than retryPeriod*JitterFactor ({retry_period:?} * {JITTER_FACTOR}), got {renew_deadline:?}"
            ),
        ));
    }
    match file.resource_lock.as_deref() {
        None | Some("") | Some("leases") => {}
        Some(other) => {
            return Err(cx.invalid(
                "leaderElection.resourceLock",
                format!("unsupported lock type `{other}`: only `leases` exists"),
            ));
        }
    }
    let name =
        |field: &str, given: Option<String>, default: String, check: fn(&str) -> Vec<String>| {
            let value = given.filter(|v| !v.is_empty()).unwrap_or(default);
            match check(&value).first() {
                Some(why) => Err(cx.invalid(
                    format!("leaderElection.{field}"),
                    format!("invalid value `{value}`: {why}"),
                )),
                None => Ok(value),
            }
        };
    Ok(Some(LeaderElection {
        lease_duration,
        renew_deadline,
        retry_period,
        resource_name: name(
            "resourceName",
            file.resource_name,
            defaults.resource_name,
            dns1123_subdomain,
        )?,
        resource_namespace: name(
            "resourceNamespace",
            file.resource_namespace,
            defaults.resource_namespace,
            dns1123_label,
        )?,
    }))
}
