//! One pod's scheduling cycle (Filter over every node, then Score over the
//! feasible ones) under each design:
//!
//! - [`native`]: the policy called directly, through the SDK's `Runner`;
//! - [`Wasm::per_node`], design (a): one call per (pod, node) with the full
//!   pod, node and usage records;
//! - [`Wasm::per_pod`], design (b): one Filter and one Score call per pod,
//!   each with every candidate node in full;
//! - [`Wasm::resident`], design (c), the production `kws:scheduler` world:
//!   nodes live in the guest, kept current by [`Wasm::apply`], and a call
//!   carries the pod and node ids.
//!
//! Every design yields an [`Outcome`]; [`Outcome::to_sdk`] makes the
//! component's answers comparable with the native ones.

use kws_bench_guest::BenchPolicy;
use kws_plugin_sdk::{NodeId, Runner};
use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use wasmtime::component::{Component, Func, HasSelf, Linker, TypedFunc};
use wasmtime::error::Context;
use wasmtime::{Config, Engine, Error, Result, Store, bail};

/// Host bindings of the bench component's world: `kws:scheduler/plugin`
/// plus the `kws:bench` exports of designs (a) and (b).
pub mod wit {
    wasmtime::component::bindgen!({
        path: ["../wit", "wit"],
        world: "kws:bench/bench",
        additional_derives: [serde::Serialize, serde::Deserialize],
        imports: { "kws:scheduler/host.fail": trappable },
    });

    pub use exports::kws::bench::per_pod::Candidate;
    pub use kws::scheduler::types::{Change, Code, Node, NodeStatus, NodeUsage, PlacedPod, Pod};
}

use wit::{Candidate, Change, Code, NodeStatus, Pod};

/// What one pod's cycle yields: the nodes Filter rejected (with their
/// status), the others in id order, and their scores in the same order.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome<S> {
    /// What Filter returns: the nodes that failed, in the order asked.
    pub rejected: Vec<S>,
    /// The nodes that passed, in the order asked: what Score is asked about.
    pub feasible: Vec<NodeId>,
    /// One score per feasible node.
    pub scores: Vec<i64>,
}

impl Outcome<NodeStatus> {
    /// The same outcome in the SDK's types, to compare with [`native`].
    pub fn to_sdk(&self) -> Outcome<kws_plugin_sdk::NodeStatus> {
        Outcome {
            rejected: convert(&self.rejected),
            feasible: self.feasible.clone(),
            scores: self.scores.clone(),
        }
    }
}

/// Converts between the SDK's records and wasmtime's bindings of the same
/// WIT types (both derive serde with the same shape). Setup only: it goes
/// through JSON.
pub fn convert<T: Serialize, U: DeserializeOwned>(value: &T) -> U {
    serde_json::from_value(serde_json::to_value(value).expect("records serialize"))
        .expect("the SDK's and the host's records have the same shape")
}

/// The nodes of `ids` not in `rejected`; both are in the same order.
fn feasible(ids: &[NodeId], rejected: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut rejected = rejected.into_iter().peekable();
    ids.iter()
        .copied()
        .filter(|id| {
            let out = rejected.peek() == Some(id);
            if out {
                rejected.next();
            }
            !out
        })
        .collect()
}

/// The baseline: the policy compiled natively, over the same node table the
/// SDK keeps inside the component in design (c).
pub fn native(
    runner: &Runner<BenchPolicy>,
    pod: &kws_plugin_sdk::Pod,
    ids: &[NodeId],
) -> Result<Outcome<kws_plugin_sdk::NodeStatus>> {
    let rejected = runner.filter(0, pod, ids);
    let feasible = feasible(ids, rejected.iter().map(|s| s.node));
    let scores = runner.score(0, pod, &feasible).map_err(Error::msg)?;
    Ok(Outcome {
        rejected,
        feasible,
        scores,
    })
}

/// The `kws:scheduler/host` imports, implemented trivially: the policy
/// calls none of them.
pub struct HostState;

impl wit::kws::scheduler::types::Host for HostState {}

impl wit::kws::scheduler::host::Host for HostState {
    fn log(&mut self, _level: wit::kws::scheduler::host::Level, _message: String) {}

    fn fail(&mut self, message: String) -> wasmtime::Result<()> {
        Err(wasmtime::format_err!("the bench policy failed: {message}"))
    }

    fn pod_json(&mut self) -> String {
        "{}".to_string()
    }

    fn node_json(&mut self, _node: NodeId) -> Option<String> {
        None
    }

    fn waiting_pods(&mut self) -> Vec<wit::kws::scheduler::host::WaitingPod> {
        Vec::new()
    }

    fn allow_waiting_pod(&mut self, _uid: String) -> bool {
        false
    }

    fn reject_waiting_pod(&mut self, _uid: String, _message: String) -> bool {
        false
    }
}

/// The policy preempts nothing: no victims, no budgets.
impl wit::kws::scheduler::preemption::Host for HostState {
    fn potential_victims(&mut self, _node: NodeId) -> Vec<wit::kws::scheduler::preemption::Victim> {
        Vec::new()
    }

    fn nodes_with_victims(&mut self) -> Vec<NodeId> {
        Vec::new()
    }

    fn filter_without(
        &mut self,
        _node: NodeId,
        _removed: Vec<String>,
    ) -> wit::kws::scheduler::types::Status {
        wit::kws::scheduler::types::Status {
            code: wit::kws::scheduler::types::Code::Error,
            reasons: vec!["the bench host runs no filters".to_string()],
        }
    }

    fn pod_disruption_budgets(
        &mut self,
    ) -> Vec<wit::kws::scheduler::preemption::PodDisruptionBudget> {
        Vec::new()
    }

    fn preempt(&mut self, _node: NodeId, _victims: Vec<String>) -> Result<(), String> {
        Err("the bench host preempts nothing".to_string())
    }
}

use wit::kws::scheduler::volumes;

/// The bench's pods name no PodGroup.
impl wit::kws::scheduler::pod_groups::Host for HostState {
    fn current(&mut self) -> Option<wit::kws::scheduler::pod_groups::PodGroup> {
        None
    }
}

/// The bench's pods have no volumes, and there are none to look up.
impl wit::kws::scheduler::volumes::Host for HostState {
    fn pod_volumes(&mut self) -> Vec<volumes::PodVolume> {
        Vec::new()
    }
    fn node_volumes(&mut self, _: u32) -> Vec<volumes::PlacedVolumes> {
        Vec::new()
    }
    fn volumes_of(&mut self, _: String) -> Vec<volumes::PodVolume> {
        Vec::new()
    }
    fn get_claim(&mut self, _: String, _: String) -> Option<volumes::Claim> {
        None
    }
    fn claim_users(&mut self, _: String, _: String) -> u32 {
        0
    }
    fn get_persistent_volume(&mut self, _: String) -> Option<volumes::PersistentVolume> {
        None
    }
    fn volumes_of_class(&mut self, _: String) -> Vec<volumes::PersistentVolume> {
        Vec::new()
    }
    fn get_storage_class(&mut self, _: String) -> Option<volumes::StorageClass> {
        None
    }
    fn get_csi_node(&mut self, _: String) -> Option<volumes::CsiNode> {
        None
    }
    fn csi_driver_json(&mut self, _: String) -> Option<String> {
        None
    }
    fn volume_attachments(&mut self, _: String) -> Vec<volumes::VolumeAttachment> {
        Vec::new()
    }
    fn storage_capacities(&mut self, _: String) -> Vec<volumes::StorageCapacity> {
        Vec::new()
    }
    fn assume(
        &mut self,
        _: String,
        _: Vec<(String, String)>,
        _: Vec<String>,
    ) -> Result<bool, String> {
        Err("the bench binds no volumes".to_string())
    }
    fn revert(&mut self) {}
    fn bind(&mut self, _: u32) -> Result<(), String> {
        Err("the bench binds no volumes".to_string())
    }
}

/// The bench's pods claim no devices, and nothing is held or written.
impl wit::kws::scheduler::resource_claims::Host for HostState {
    fn pod_claims(
        &mut self,
    ) -> Result<Vec<wit::kws::scheduler::resource_claims::PodClaim>, String> {
        Ok(Vec::new())
    }

    fn device_classes(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn resource_slices(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn slices_generation(&mut self) -> u64 {
        0
    }

    fn allocated_devices(&mut self) -> Vec<wit::kws::scheduler::resource_claims::DeviceId> {
        Vec::new()
    }

    fn assume(&mut self, _claim_uid: String, _allocation: String) -> Result<(), String> {
        Err("the bench host holds no claims".to_string())
    }

    fn unassume(&mut self, _claim_uid: String) {}

    fn bind_claim(&mut self, _claim_uid: String) -> Result<(), String> {
        Err("the bench host holds no claims".to_string())
    }

    fn deallocate(&mut self, _claim_uid: String) -> Result<(), String> {
        Err("the bench host holds no claims".to_string())
    }
}

/// Design (b)'s calls take `list<candidate>` from borrowed candidates, so
/// that Score can be sent the feasible subset without cloning nodes.
type PerPodFilter<'a> = TypedFunc<(&'a Pod, &'a [&'a Candidate]), (Vec<NodeStatus>,)>;
type PerPodScore<'a> = TypedFunc<(&'a Pod, &'a [&'a Candidate]), (Result<Vec<i64>, String>,)>;

/// One configured instance of the bench component, with every design's
/// exports.
pub struct Wasm {
    store: Store<HostState>,
    bench: wit::Bench,
    per_pod_filter: Func,
    per_pod_score: Func,
}

impl Wasm {
    /// Compiles and instantiates the component at `path`, and configures
    /// its plugin.
    pub fn load(path: &Path) -> Result<Wasm> {
        let mut config = Config::new();
        // The host makes no component-model async calls; without the
        // concurrency state each call is cheaper.
        config.concurrency_support(false);
        let engine = Engine::new(&config)?;
        let component = Component::from_file(&engine, path)
            .with_context(|| format!("compiling {}", path.display()))?;
        let mut linker = Linker::new(&engine);
        wit::Bench::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        // WASI imports that Rust's std links in but the policy never calls.
        linker.define_unknown_imports_as_traps(&component)?;
        let mut store = Store::new(&engine, HostState);
        let instance = linker.instantiate(&mut store, &component)?;
        let bench = wit::Bench::new(&mut store, &instance)?;

        let per_pod = instance
            .get_export_index(&mut store, None, "kws:bench/per-pod@0.1.0")
            .context("the component exports no kws:bench/per-pod")?;
        let func = |store: &mut Store<HostState>, name| {
            let index = instance
                .get_export_index(&mut *store, Some(&per_pod), name)
                .with_context(|| format!("kws:bench/per-pod has no {name}"))?;
            instance
                .get_func(&mut *store, index)
                .with_context(|| format!("kws:bench/per-pod's {name} is not a function"))
        };
        let per_pod_filter = func(&mut store, "filter")?;
        let per_pod_score = func(&mut store, "score")?;
        // Type-check once here; the calls then skip the check.
        per_pod_filter.typed::<(&Pod, &[&Candidate]), (Vec<NodeStatus>,)>(&store)?;
        per_pod_score.typed::<(&Pod, &[&Candidate]), (Result<Vec<i64>, String>,)>(&store)?;

        let mut wasm = Wasm {
            store,
            bench,
            per_pod_filter,
            per_pod_score,
        };
        wasm.bench
            .kws_scheduler_lifecycle()
            .call_configure(&mut wasm.store, "{}")?
            .map_err(Error::msg)?;
        Ok(wasm)
    }

    /// Design (c)'s state update: `lifecycle.apply`.
    pub fn apply(&mut self, changes: &[Change]) -> Result<()> {
        self.bench
            .kws_scheduler_lifecycle()
            .call_apply(&mut self.store, changes)
    }

    /// Design (c): the pod once for the cycle, Filter over `ids`, then
    /// Score over the feasible ones, then the cycle's end; the nodes were
    /// sent beforehand with [`Wasm::apply`].
    pub fn resident(&mut self, pod: &Pod, ids: &[NodeId]) -> Result<Outcome<NodeStatus>> {
        const CYCLE: u64 = 1;
        let lifecycle = self.bench.kws_scheduler_lifecycle();
        lifecycle.call_cycle_start(&mut self.store, CYCLE, pod)?;
        let rejected =
            self.bench
                .kws_scheduler_filter()
                .call_filter(&mut self.store, CYCLE, ids)?;
        let feasible = feasible(ids, rejected.iter().map(|s| s.node));
        let scores = self
            .bench
            .kws_scheduler_score()
            .call_score(&mut self.store, CYCLE, &feasible)?
            .map_err(Error::msg)?;
        lifecycle.call_cycle_end(&mut self.store, CYCLE)?;
        Ok(Outcome {
            rejected,
            feasible,
            scores,
        })
    }

    /// Design (a): a Filter call per node, then a Score call per feasible
    /// node, each with the full pod, node and usage.
    pub fn per_node(&mut self, pod: &Pod, nodes: &[Candidate]) -> Result<Outcome<NodeStatus>> {
        let per_node = self.bench.kws_bench_per_node();
        let mut rejected = Vec::new();
        let mut feasible = Vec::new();
        for c in nodes {
            let status = per_node.call_filter(&mut self.store, pod, &c.node, &c.usage)?;
            if matches!(status.code, Code::Success | Code::Skip) {
                feasible.push(c.id);
            } else {
                rejected.push(NodeStatus { node: c.id, status });
            }
        }
        let scores = feasible
            .iter()
            .map(|&id| {
                let c = &nodes[id as usize];
                per_node
                    .call_score(&mut self.store, pod, &c.node, &c.usage)?
                    .map_err(Error::msg)
            })
            .collect::<Result<_>>()?;
        Ok(Outcome {
            rejected,
            feasible,
            scores,
        })
    }

    /// Design (b): one Filter call with every node, one Score call with the
    /// feasible ones, all in full. `nodes[i]` must have id `i`.
    pub fn per_pod(&mut self, pod: &Pod, nodes: &[Candidate]) -> Result<Outcome<NodeStatus>> {
        let all: Vec<&Candidate> = nodes.iter().collect();
        let ids: Vec<NodeId> = nodes.iter().map(|c| c.id).collect();
        // SAFETY: both signatures were type-checked in `load`.
        let filter: PerPodFilter = unsafe { TypedFunc::new_unchecked(self.per_pod_filter) };
        let (rejected,) = filter.call(&mut self.store, (pod, &all))?;
        let feasible = feasible(&ids, rejected.iter().map(|s| s.node));
        let subset: Vec<&Candidate> = feasible.iter().map(|&id| &nodes[id as usize]).collect();
        let score: PerPodScore = unsafe { TypedFunc::new_unchecked(self.per_pod_score) };
        let (scores,) = score.call(&mut self.store, (pod, &subset))?;
        Ok(Outcome {
            rejected,
            feasible,
            scores: scores.map_err(Error::msg)?,
        })
    }
}

/// Where `cargo xtask plugins` puts the bench component: under
/// `bench-components/` of `$CARGO_TARGET_DIR`, of the target directory
/// this executable was built in, or of `target/` in the workspace.
pub fn component_path() -> Result<PathBuf> {
    built_file("bench-components/kws-bench-guest.wasm")
}

/// A file `cargo xtask plugins` built, by its path under the target
/// directory (`plugins/node-name.wasm`).
pub fn built_file(relative: &str) -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kws-bench lives one level below the workspace root");
    let mut target_dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        target_dirs.push(workspace.join(dir));
    }
    // <target>/release/deps/<bench executable>
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
    {
        target_dirs.push(dir);
    }
    target_dirs.push(workspace.join("target"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    for path in target_dirs.iter().map(|d| d.join(relative)) {
        if !candidates.contains(&path) {
            candidates.push(path);
        }
    }
    match candidates.iter().find(|p| p.exists()) {
        Some(found) => Ok(found.clone()),
        None => bail!(
            "{relative} is missing; build it with `cargo xtask plugins` \
             (with the same CARGO_TARGET_DIR). Looked for:\n  {}",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::feasible;

    #[test]
    fn feasible_nodes_are_the_ids_not_rejected() {
        assert_eq!(feasible(&[0, 1, 2, 3, 4], [1, 4]), [0, 2, 3]);
        assert_eq!(feasible(&[7, 3], []), [7, 3]);
    }
}
