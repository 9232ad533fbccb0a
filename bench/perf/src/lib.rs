//! A load driver in the style of kube-scheduler's `scheduler_perf`: the
//! same [`workload`] runs on a fresh real test cluster (etcd and
//! kube-apiserver from `tests/cluster`) once per [`contender`]: our
//! scheduler, the real kube-scheduler, and a binder that decides nothing
//! (the ceiling). A [`run`] samples every second how many measured pods are
//! bound and reads scheduling latency from each scheduler's `/metrics` and
//! peak memory from `/proc` ([`measure`]); [`report`] prints the
//! side-by-side table and plots throughput over time.
//!
//! `cargo xtask perf` builds everything in release mode and runs it; see
//! `BENCHMARKS.md`.
//!
//! ```no_run
//! use kws_perf::contender::{ClientLimits, Contender, OursSetup};
//! use kws_perf::run::{RunSpec, run};
//! use kws_perf::workload::Workload;
//!
//! # async fn example() -> Result<(), kws_perf::RunError> {
//! let spec = RunSpec {
//!     workload: Workload::SchedulingBasic,
//!     size: "500/100/1000".parse().unwrap(),
//!     contender: Contender::KubeScheduler,
//!     limits: ClientLimits { qps: 5000.0, burst: 5000 },
//!     ours: OursSetup {
//!         binary: "target/release/kube-wasm-scheduler".into(),
//!         plugins: "target/plugins".into(),
//!         compile_cache: "/tmp/kws-compiled".into(),
//!     },
//!     backlog: false,
//! };
//! let result = run(&spec).await?;
//! println!("{}", kws_perf::report::table(&[result]));
//! # Ok(())
//! # }
//! ```

pub mod contender;
pub mod measure;
pub mod report;
pub mod run;
pub mod workload;

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the cluster refused a request: {0}")]
    Kube(#[from] kube::Error),
    #[error("the contender stopped: {0}")]
    Contender(String),
    #[error("no {phase} pod was bound for 2 minutes: {bound} of {expected} bound")]
    Stalled {
        bound: usize,
        expected: usize,
        phase: &'static str,
    },
    #[error("reading metrics: {0}")]
    Metrics(String),
    #[error("{0}")]
    Workload(String),
}
