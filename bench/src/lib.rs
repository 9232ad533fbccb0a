//! Benchmarks of kube-wasm-scheduler design choices; results and how to
//! run them are in `BENCHMARKS.md` at the workspace root.
//!
//! The data-passing benchmark (`benches/data_passing.rs`) places one pod
//! among thousands of nodes through the same policy
//! ([`kws_bench_guest::BenchPolicy`]) four ways: natively, and inside the
//! component `kws-bench-guest` under the three data-passing designs of the
//! issue. This library holds what the bench and its checks share: the
//! [`cluster`] data and the per-pod cycle of each design ([`designs`]).

pub mod cluster;
pub mod designs;

pub use cluster::Cluster;
pub use designs::{Outcome, Wasm};
