//! Benchmarks of kube-wasm-scheduler design choices; results and how to
//! run them are in `BENCHMARKS.md` at the workspace root.
//!
//! The data-passing benchmark (`benches/data_passing.rs`) places one pod
//! among thousands of nodes through the same policy
//! ([`kws_bench_guest::BenchPolicy`]) four ways: natively, and inside the
//! component `kws-bench-guest` under the three data-passing designs of the
//! issue. This library holds what the bench and its checks share: the
//! [`cluster`] data and the per-pod cycle of each design ([`designs`]).
//!
//! The plugins benchmark (`benches/plugins.rs`) runs each default plugin
//! as a component through the host's runtime and as the same crate
//! compiled natively, on the same cluster as Kubernetes objects with
//! running pods ([`kube`]).

pub mod cluster;
pub mod designs;
pub mod kube;

pub use cluster::Cluster;
pub use designs::{Outcome, Wasm};
