//! Data passing across the WASM boundary: the cost of placing one pod among
//! 5000 nodes through the same Filter+Score policy natively and under the
//! three designs of the issue (see `kws_bench::designs`). Results and the
//! conclusion drawn from them are in BENCHMARKS.md.
//!
//! Run with `cargo xtask plugins && cargo bench -p kws-bench --bench
//! data_passing`.

use criterion::{BatchSize, Criterion, SamplingMode, criterion_group, criterion_main};
use kws_bench::Cluster;
use kws_bench::designs::{self, Wasm, component_path, convert, native, wit};
use kws_bench_guest::BenchPolicy;
use kws_plugin_sdk::{NodeId, Runner};
use std::hint::black_box;
use std::time::Duration;

/// The cluster size of the issue.
const NODES: usize = 5000;

fn data_passing(c: &mut Criterion) {
    let cluster = Cluster::generate(NODES);
    let ids: Vec<NodeId> = (0..NODES as NodeId).collect();

    // The native baseline keeps the same node table the SDK keeps in the
    // guest.
    let mut runner = Runner::<BenchPolicy>::configured("{}").expect("configure natively");
    runner.apply(
        ids.iter()
            .map(|&id| kws_plugin_sdk::Change::NodeSet((id, cluster.nodes[id as usize].clone())))
            .chain(ids.iter().map(|&id| {
                kws_plugin_sdk::Change::UsageSet((id, cluster.usages[id as usize].clone()))
            }))
            .collect(),
    );

    // The host's copy in wasmtime's types: (a) and (b) send it every call,
    // (c) once.
    let mut wasm = match component_path().and_then(|path| Wasm::load(&path)) {
        Ok(wasm) => wasm,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    };
    let pod: wit::Pod = convert(&cluster.pod);
    let nodes: Vec<wit::Node> = convert(&cluster.nodes);
    let usages: Vec<wit::NodeUsage> = convert(&cluster.usages);
    let candidates: Vec<wit::Candidate> = ids
        .iter()
        .map(|&id| wit::Candidate {
            id,
            node: nodes[id as usize].clone(),
            usage: usages[id as usize].clone(),
        })
        .collect();
    let initial_load: Vec<wit::Change> = ids
        .iter()
        .map(|&id| wit::Change::NodeSet((id, nodes[id as usize].clone())))
        .chain(
            ids.iter()
                .map(|&id| wit::Change::UsageSet((id, usages[id as usize].clone()))),
        )
        .collect();
    wasm.apply(&initial_load).expect("initial load");

    // Every design must give the native answer, or its time means nothing.
    let expected = native(&runner, &cluster.pod, &ids).expect("native cycle");
    let check = |name: &str, outcome: designs::Outcome<wit::NodeStatus>| {
        assert_eq!(outcome.to_sdk(), expected, "{name} disagrees with native");
    };
    check("c_resident", wasm.resident(&pod, &ids).unwrap());
    check("b_per_pod_batch", wasm.per_pod(&pod, &candidates).unwrap());
    check("a_per_node_call", wasm.per_node(&pod, &candidates).unwrap());
    eprintln!(
        "{NODES} nodes: {} feasible, {} rejected; all designs agree with native",
        expected.feasible.len(),
        expected.rejected.len()
    );

    let mut cycle = c.benchmark_group("pod_cycle");
    cycle.sample_size(20);
    cycle.warm_up_time(Duration::from_millis(500));
    cycle.measurement_time(Duration::from_secs(8));
    cycle.sampling_mode(SamplingMode::Flat);
    cycle.bench_function("native", |b| {
        b.iter(|| native(&runner, black_box(&cluster.pod), &ids).unwrap())
    });
    cycle.bench_function("a_per_node_call", |b| {
        b.iter(|| wasm.per_node(black_box(&pod), &candidates).unwrap())
    });
    cycle.bench_function("b_per_pod_batch", |b| {
        b.iter(|| wasm.per_pod(black_box(&pod), &candidates).unwrap())
    });
    cycle.bench_function("c_resident", |b| {
        b.iter(|| wasm.resident(black_box(&pod), &ids).unwrap())
    });
    cycle.finish();

    // What a bind costs to propagate: the new usage of the node and the pod
    // now on it. Each node gets its own bound pod, replaced when the node
    // comes round again, so the node table stays the same size. Building
    // the changes is outside the measurement.
    let bound = |node: NodeId| {
        let mut pod = cluster.pod.clone();
        pod.uid = format!("bound-{node}");
        pod.node_name = cluster.nodes[node as usize].name.clone();
        pod
    };
    let mut state = c.benchmark_group("state");
    state.sample_size(20);
    state.warm_up_time(Duration::from_millis(500));
    state.measurement_time(Duration::from_secs(4));
    let mut next = 0;
    state.bench_function("native_delta", |b| {
        b.iter_batched(
            || {
                let node = next % NODES as NodeId;
                next += 1;
                vec![
                    kws_plugin_sdk::Change::UsageSet((node, cluster.usages[node as usize].clone())),
                    kws_plugin_sdk::Change::PodAdded(kws_plugin_sdk::PlacedPod {
                        node,
                        pod: bound(node),
                    }),
                ]
            },
            |changes| runner.apply(changes),
            BatchSize::SmallInput,
        )
    });
    let mut next = 0;
    state.bench_function("c_delta", |b| {
        b.iter_batched_ref(
            || {
                let node = next % NODES as NodeId;
                next += 1;
                vec![
                    wit::Change::UsageSet((node, usages[node as usize].clone())),
                    wit::Change::PodAdded(wit::PlacedPod {
                        node,
                        pod: convert(&bound(node)),
                    }),
                ]
            },
            |changes| wasm.apply(changes).unwrap(),
            BatchSize::SmallInput,
        )
    });
    state.sampling_mode(SamplingMode::Flat);
    state.bench_function("c_initial_load", |b| {
        b.iter(|| wasm.apply(black_box(&initial_load)).unwrap())
    });
    state.finish();

    // The deltas and reloads left the guest's table as it was.
    check(
        "c_resident after the deltas",
        wasm.resident(&pod, &ids).unwrap(),
    );
}

criterion_group!(benches, data_passing);
criterion_main!(benches);
