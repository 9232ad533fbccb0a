//! Leader election on a `coordination.k8s.io` Lease, as client-go's
//! `leaderelection` package does it for kube-scheduler, so that replicas
//! of both schedulers behave alike in a cluster.
//!
//! Every replica tries to take the Lease every retry period. A Lease is
//! free when it names no holder, or when the replica has seen it unchanged
//! for its `leaseDurationSeconds` by its own clock (the holder's clock
//! never matters, so clock skew between nodes cannot hand the Lease to two
//! replicas). The holder renews it every retry period; when it has not
//! renewed for the renew deadline (shorter than the lease duration) it
//! stops scheduling before any other replica may take over. Updates carry
//! the `resourceVersion` last read, so two replicas racing for a free
//! Lease cannot both win. On shutdown the leader releases the Lease
//! (no holder, one second), so a standby takes over at its next try.
//!
//! ```no_run
//! use kws_host::config::LeaderElection;
//! use kws_host::leader_election::LeaderElector;
//! # async fn run(client: kube::Client) {
//! let (shutdown, stop) = tokio::sync::watch::channel(false);
//! let elector = LeaderElector::new(client, LeaderElection::default(), "node-a_1".into());
//! let leadership = elector.leadership();
//! // The scheduling loop asks `leadership.is_leading()` before each pod.
//! let ended = elector.run(stop).await;
//! # drop((shutdown, ended, leadership));
//! # }
//! ```

use crate::config::LeaderElection;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Whether this replica may schedule now: shared between the elector,
/// which records each renewal, and the scheduling loop, which asks before
/// each pod. The loop's answer comes from the clock, not from a flag the
/// elector would have to clear in time: a leader stalled past its renew
/// deadline (a paused process, a starved thread) finds itself not leading
/// the moment it runs again, before the elector has run at all.
pub struct Leadership {
    /// When the last successful renewal was sent; None when not leading.
    renewed: Mutex<Option<Instant>>,
    renew_deadline: Duration,
    /// Called with each change, for `leader_election_master_status`.
    on_change: Box<dyn Fn(bool) + Send + Sync>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("leading", &self.is_leading())
            .finish_non_exhaustive()
    }
}

impl Leadership {
    /// True while the last renewal is younger than the renew deadline.
    pub fn is_leading(&self) -> bool {
        self.renewed
            .lock()
            .expect("leadership lock")
            .is_some_and(|at| at.elapsed() < self.renew_deadline)
    }

    fn renewed_at(&self, at: Instant) {
        let was = self.renewed.lock().expect("leadership lock").replace(at);
        if was.is_none() {
            (self.on_change)(true);
        }
    }

    fn lost(&self) {
        if self
            .renewed
            .lock()
            .expect("leadership lock")
            .take()
            .is_some()
        {
            (self.on_change)(false);
        }
    }
}

/// Why [`LeaderElector::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was asked for; the Lease was released if it was held.
    Shutdown,
    /// The leader could not renew within the renew deadline, or found the
    /// Lease taken; it must stop scheduling (kube-scheduler exits).
    Lost,
}

/// The Lease as this replica last saw it, and when it first saw it so.
struct Observed {
    lease: Lease,
    at: Instant,
}

/// One replica's side of the election.
pub struct LeaderElector {
    leases: Api<Lease>,
    config: LeaderElection,
    identity: String,
    observed: Option<Observed>,
    leadership: Arc<Leadership>,
}

impl LeaderElector {
    /// An elector for `config`'s Lease, as `identity` (kube-scheduler's is
    /// the hostname and a random suffix, see [`identity`]).
    pub fn new(client: kube::Client, config: LeaderElection, identity: String) -> Self {
        Self::reporting(client, config, identity, |_| {})
    }

    /// [`LeaderElector::new`], calling `on_change` when this replica starts
    /// (true) or stops (false) leading.
    pub fn reporting(
        client: kube::Client,
        config: LeaderElection,
        identity: String,
        on_change: impl Fn(bool) + Send + Sync + 'static,
    ) -> Self {
        LeaderElector {
            leases: Api::namespaced(client, &config.resource_namespace),
            leadership: Arc::new(Leadership {
                renewed: Mutex::new(None),
                renew_deadline: config.renew_deadline,
                on_change: Box::new(on_change),
            }),
            config,
            identity,
            observed: None,
        }
    }

    /// What the scheduling loop asks.
    pub fn leadership(&self) -> Arc<Leadership> {
        self.leadership.clone()
    }

    /// Takes the Lease (trying every retry period), then renews it until
    /// leadership is lost or `shutdown` turns true; a held Lease is
    /// released on shutdown.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Ended {
        let lease = format!(
            "{}/{}",
            self.config.resource_namespace, self.config.resource_name
        );
        tracing::info!(%lease, identity = %self.identity, "attempting to acquire leader lease");
        let mut released = self.releases();
        loop {
            let sent = Instant::now();
            if self.try_acquire_or_renew().await {
                self.leadership.renewed_at(sent);
                break;
            }
            let period = jittered(self.config.retry_period);
            tokio::select! {
                stop = wait_or_shutdown(&mut shutdown, period) => if stop {
                    return Ended::Shutdown;
                },
                _ = released.next() => {}
            }
        }
        drop(released);
        tracing::info!(%lease, identity = %self.identity, "successfully acquired lease");
        let mut last_renewal = Instant::now();
        loop {
            if wait_or_shutdown(&mut shutdown, self.config.retry_period).await {
                self.release().await;
                return Ended::Shutdown;
            }
            let sent = Instant::now();
            let left = self
                .config
                .renew_deadline
                .saturating_sub(last_renewal.elapsed());
            let renewed = tokio::time::timeout(left, self.try_acquire_or_renew())
                .await
                .unwrap_or(false);
            if renewed {
                last_renewal = sent;
                self.leadership.renewed_at(sent);
            } else if last_renewal.elapsed() >= self.config.renew_deadline || !self.is_holder() {
                tracing::error!(%lease, identity = %self.identity, "failed to renew lease: leaderelection lost");
                self.leadership.lost();
                return Ended::Lost;
            }
        }
    }

    /// Yields each time the Lease is seen with no holder (released, or
    /// deleted), so that a standby tries at once instead of at its next
    /// retry: a release hands over in well under a retry period. The watch
    /// backs off and restarts after errors; the retry period still applies
    /// meanwhile.
    fn releases(&self) -> futures::stream::BoxStream<'static, ()> {
        let selector = format!("metadata.name={}", self.config.resource_name);
        watcher(
            self.leases.clone(),
            watcher::Config::default().fields(&selector),
        )
        .default_backoff()
        .filter_map(|event| {
            let free = match event {
                Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) => lease
                    .spec
                    .and_then(|s| s.holder_identity)
                    .is_none_or(|h| h.is_empty()),
                Ok(watcher::Event::Delete(_)) => true,
                _ => false,
            };
            std::future::ready(free.then_some(()))
        })
        .boxed()
    }

    /// client-go's `tryAcquireOrRenew`: true when this replica holds the
    /// Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> bool {
        let now = MicroTime(Timestamp::now());
        let mut spec = LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..LeaseSpec::default()
        };
        // The leader renews what it last wrote, without reading it first.
        if self.is_holder() && self.lease_valid() {
            let observed = &self.observed.as_ref().expect("a held lease").lease;
            let old = observed.spec.clone().unwrap_or_default();
            spec.acquire_time = old.acquire_time;
            spec.lease_transitions = old.lease_transitions;
            if self.update(observed.clone(), spec.clone()).await {
                return true;
            }
        }
        let current = match self.leases.get_opt(&self.config.resource_name).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %e, "error retrieving lease lock");
                return false;
            }
        };
        let Some(current) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.resource_name.clone()),
                    namespace: Some(self.config.resource_namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            return match self.leases.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created);
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "error initially creating lease lock");
                    false
                }
            };
        };
        self.observe(current.clone());
        let old = current.spec.clone().unwrap_or_default();
        let held_by_other = old
            .holder_identity
            .as_deref()
            .is_some_and(|h| !h.is_empty());
        if held_by_other && self.lease_valid() && !self.is_holder() {
            return false;
        }
        if self.is_holder() {
            spec.acquire_time = old.acquire_time;
            spec.lease_transitions = old.lease_transitions;
        } else {
            spec.lease_transitions = Some(old.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        self.update(current, spec).await
    }

    /// Writes `spec` over `lease` (its `resourceVersion` guards the write).
    async fn update(&mut self, mut lease: Lease, spec: LeaseSpec) -> bool {
        lease.spec = Some(spec);
        match self
            .leases
            .replace(&self.config.resource_name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(written);
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "failed to update lease");
                false
            }
        }
    }

    /// client-go's `release`: the Lease with no holder and a one-second
    /// duration, so the next replica to try takes it.
    async fn release(&mut self) {
        if !self.is_holder() {
            return;
        }
        self.leadership.lost();
        for _ in 0..2 {
            let current = match self.leases.get(&self.config.resource_name).await {
                Ok(current) => current,
                Err(e) => {
                    tracing::warn!(error = %e, "error retrieving lease lock to release it");
                    return;
                }
            };
            let now = MicroTime(Timestamp::now());
            let spec = LeaseSpec {
                holder_identity: Some(String::new()),
                lease_duration_seconds: Some(1),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: current.spec.as_ref().and_then(|s| s.lease_transitions),
                ..LeaseSpec::default()
            };
            if self.update(current, spec).await {
                tracing::info!(identity = %self.identity, "released the lease");
                return;
            }
        }
        tracing::warn!("failed to release the lease; it expires on its own");
    }

    /// Records `lease`; its clock restarts only when its spec changed.
    fn observe(&mut self, lease: Lease) {
        let at = match &self.observed {
            Some(old) if old.lease.spec == lease.spec => old.at,
            _ => Instant::now(),
        };
        self.observed = Some(Observed { lease, at });
    }

    fn is_holder(&self) -> bool {
        self.observed.as_ref().is_some_and(|o| {
            o.lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                == Some(self.identity.as_str())
        })
    }

    /// Whether the Lease as last seen has not yet run out by this
    /// replica's clock.
    fn lease_valid(&self) -> bool {
        self.observed.as_ref().is_some_and(|o| {
            let seconds = o
                .lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_duration_seconds)
                .unwrap_or(0);
            o.at.elapsed() < Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
        })
    }
}

/// kube-scheduler's identity: the hostname, `_`, and a random suffix, so
/// that a restarted replica is a new holder.
pub fn identity() -> String {
    use std::hash::BuildHasher;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let suffix = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    format!("{host}_{suffix:016x}")
}

/// `period` stretched by up to client-go's jitter factor (1.2), so that
/// standbys started together do not try in lockstep.
fn jittered(period: Duration) -> Duration {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    period.mul_f64(1.0 + 1.2 * (random % 1000) as f64 / 1000.0)
}

/// Sleeps for `period`; true (at once) if shutdown is asked for meanwhile.
async fn wait_or_shutdown(shutdown: &mut watch::Receiver<bool>, period: Duration) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(period) => *shutdown.borrow(),
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_ends_at_the_renew_deadline_by_the_clock() {
        let changes = Arc::new(Mutex::new(Vec::new()));
        let seen = changes.clone();
        let leadership = Leadership {
            renewed: Mutex::new(None),
            renew_deadline: Duration::from_millis(50),
            on_change: Box::new(move |leading| seen.lock().unwrap().push(leading)),
        };
        assert!(!leadership.is_leading());
        leadership.renewed_at(Instant::now());
        assert!(leadership.is_leading());
        leadership.renewed_at(Instant::now() - Duration::from_millis(60));
        assert!(
            !leadership.is_leading(),
            "a renewal older than the deadline"
        );
        leadership.lost();
        leadership.lost();
        assert_eq!(*changes.lock().unwrap(), [true, false]);
    }

    #[test]
    fn jitter_stays_within_client_gos_factor() {
        let period = Duration::from_secs(2);
        for _ in 0..100 {
            let waited = jittered(period);
            assert!(
                waited >= period && waited <= period.mul_f64(2.2),
                "{waited:?}"
            );
        }
    }

    #[test]
    fn identities_differ_per_start() {
        let (a, b) = (identity(), identity());
        assert_ne!(a, b);
        assert!(a.contains('_'), "{a}");
    }
}
