//! `simulate` end to end: each `clusters/NAME.yaml` (with `NAME.config.yaml`
//! when present) must produce exactly `clusters/NAME.expected`, the
//! placements worked out by hand from kube-scheduler's rules (each file's
//! comments say why).

use kws_host::config::Config;
use kws_host::model::manifest;
use kws_host::simulate;
use kws_tests::{component_dir, plugins, workspace};
use std::path::Path;

fn simulate_file(cluster: &Path, config: Option<&Path>) -> simulate::Report {
    let objects = manifest::read_file(cluster).unwrap_or_else(|e| panic!("{e}"));
    let config = config.map_or_else(Config::default, |c| {
        Config::from_file(c).unwrap_or_else(|e| panic!("{e}"))
    });
    let dir = component_dir("plugins").display().to_string();
    simulate::run(objects, &config, plugins(), &dir).unwrap_or_else(|e| panic!("{e}"))
}

fn check(name: &str, cluster: &Path) {
    let clusters = workspace().join("tests/e2e/clusters");
    let config = clusters.join(format!("{name}.config.yaml"));
    let report = simulate_file(cluster, config.exists().then_some(config.as_path()));
    let expected = std::fs::read_to_string(clusters.join(format!("{name}.expected")))
        .unwrap_or_else(|e| panic!("{name}.expected: {e}"));
    assert_eq!(
        report.to_text(),
        expected,
        "simulate {} disagrees with {name}.expected",
        cluster.display()
    );
}

#[test]
fn every_cluster_file_places_pods_as_expected() {
    let clusters = workspace().join("tests/e2e/clusters");
    let mut checked = 0;
    for entry in std::fs::read_dir(&clusters).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(name) = file.strip_suffix(".yaml") else {
            continue;
        };
        if name.ends_with(".config") {
            continue;
        }
        check(name, &path);
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} cluster files found in {}",
        clusters.display()
    );
}

#[test]
fn the_readme_example_places_pods_as_expected() {
    check("example", &workspace().join("examples/cluster.yaml"));
}

#[test]
fn json_output_has_the_documented_shape() {
    let report = simulate_file(&workspace().join("tests/e2e/clusters/priority.yaml"), None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["placements"][0],
        serde_json::json!({"pod": "default/critical", "node": "only"})
    );
    assert_eq!(
        json["unschedulable"][0],
        serde_json::json!({"pod": "default/default-class", "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.", "error": false})
    );
}

#[test]
fn simulation_is_repeatable() {
    // Ties between equally good nodes are broken by a seeded generator.
    let cluster = workspace().join("tests/e2e/clusters/ties.yaml");
    let first = simulate_file(&cluster, None);
    assert_eq!(first.placements.len(), 6);
    let nodes: std::collections::BTreeSet<_> =
        first.placements.iter().map(|p| p.node.clone()).collect();
    assert_eq!(
        nodes.len(),
        3,
        "least-allocated spreads equal pods over equal nodes: {first:?}"
    );
    for _ in 0..3 {
        assert_eq!(simulate_file(&cluster, None), first);
    }
}

#[test]
fn a_missing_default_plugin_is_left_out_but_other_plugins_are_required() {
    let cluster = workspace().join("tests/e2e/clusters/host-ports.yaml");
    let objects = manifest::read_file(&cluster).unwrap_or_else(|e| panic!("{e}"));
    let without_node_ports: Vec<_> = plugins()
        .iter()
        .filter(|p| p.name() != "NodePorts")
        .cloned()
        .collect();
    let report = simulate::run(
        objects.clone(),
        &Config::default(),
        &without_node_ports,
        "the test's directory",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.unschedulable.is_empty() && report.placements.len() == 5,
        "without NodePorts no port conflicts are seen: {report:?}"
    );

    let config = Config::from_yaml(
        "custom.yaml",
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n\
         profiles: [{plugins: {filter: {enabled: [{name: MyFilter}]}}}]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let error = simulate::run(objects, &config, plugins(), "the test's directory").unwrap_err();
    assert_eq!(
        error.to_string(),
        "profile kube-wasm-scheduler: plugin MyFilter is enabled but no plugin of that name \
         was loaded from the test's directory"
    );
}

/// 300 nodes in three zones (some tainted, some cordoned, some with a GPU
/// label) and pods that most filters have something to say about, some
/// fitting nowhere: large enough that the framework deals the plugins out
/// to the workers.
fn crowded_cluster() -> String {
    let mut text = String::new();
    for i in 0..300 {
        let zone = ["a", "b", "c"][i % 3];
        let gpu = if i % 10 == 0 {
            "\n    gpu: \"true\""
        } else {
            ""
        };
        let taints = if i % 7 == 0 {
            "\n  taints: [{key: dedicated, value: batch, effect: NoSchedule}]"
        } else {
            ""
        };
        let cordoned = if i % 50 == 1 {
            "\n  unschedulable: true"
        } else {
            ""
        };
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-{i}\n  labels:\n    kubernetes.io/hostname: node-{i}\n    topology.kubernetes.io/zone: zone-{zone}{gpu}\nspec:{taints}{cordoned}\nstatus:\n  allocatable: {{cpu: \"2\", memory: 4Gi, pods: \"110\"}}\n"
        ));
    }
    for i in 0..90 {
        let (labels, spec) = match i % 6 {
            0 => ("app: web", "nodeSelector: {gpu: \"true\"}".to_string()),
            1 => (
                "app: db",
                "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: db}}, topologyKey: kubernetes.io/hostname}]}}".to_string(),
            ),
            2 => (
                "app: spread",
                "topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}]".to_string(),
            ),
            3 => (
                "app: batch",
                "tolerations: [{key: dedicated, operator: Equal, value: batch, effect: NoSchedule}]".to_string(),
            ),
            4 => ("app: huge", String::new()),
            _ => ("app: plain", String::new()),
        };
        let cpu = if i % 6 == 4 { "3" } else { "500m" };
        let ports = if i % 5 == 0 {
            ", ports: [{containerPort: 80, hostPort: 8080}]"
        } else {
            ""
        };
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-{i}\n  namespace: default\n  labels: {{{labels}}}\nspec:\n  schedulerName: kube-wasm-scheduler\n  {spec}\n  containers: [{{name: c, image: pause, resources: {{requests: {{cpu: {cpu}, memory: 100Mi}}}}{ports}}}]\n"
        ));
    }
    text
}

#[test]
fn one_worker_and_two_decide_alike() {
    let objects = manifest::parse("crowded", &crowded_cluster()).unwrap_or_else(|e| panic!("{e}"));
    let dir = component_dir("plugins").display().to_string();
    let report = |parallelism| {
        let config = Config {
            parallelism,
            ..Config::default()
        };
        simulate::run(objects.clone(), &config, plugins(), &dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_text()
    };
    let one = report(1);
    let two = report(2);
    assert_eq!(one, two, "one worker and two placed the pods differently");
    let placed = one.lines().filter(|l| l.contains(" -> ")).count();
    let unschedulable = one.lines().filter(|l| l.contains("unschedulable:")).count();
    assert!(
        placed > 60 && unschedulable > 0,
        "the cluster should place most pods and refuse some:\n{one}"
    );
}

#[test]
fn a_large_simulation_reports_its_progress() {
    let pending = simulate::PROGRESS_FROM_PODS + 200;
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}, labels: {{zone: z{}}}}}\nstatus: {{allocatable: {{cpu: \"64\", memory: 256Gi, pods: \"110\"}}}}\n",
            i % 3
        ));
    }
    for i in 0..pending {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: pod-{i}, labels: {{app: a{}}}}}\nspec:\n  schedulerName: kube-wasm-scheduler\n  containers: [{{name: c, image: pause, resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}}}]\n",
            i % 7
        ));
    }
    let objects = manifest::parse("large", &text).unwrap_or_else(|e| panic!("{e}"));
    let dir = component_dir("plugins").display().to_string();
    let mut reports = Vec::new();
    let report = simulate::run_with_progress(objects, &Config::default(), plugins(), &dir, |p| {
        reports.push(p.clone())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.placements.len(), pending);
    assert!(
        reports.len() >= 10,
        "a report after each tenth of the pods: {reports:?}"
    );
    let last = reports.last().unwrap();
    assert!(
        last.done && last.placed == pending && last.pending == pending,
        "{last:?}"
    );
    assert!(
        reports[..reports.len() - 1].iter().all(|p| !p.done),
        "{reports:?}"
    );
    assert!(
        reports.windows(2).all(|w| w[0].placed <= w[1].placed),
        "{reports:?}"
    );
    let line = last.to_string();
    assert!(
        line.starts_with(&format!("placed {pending}/{pending} pods ("))
            && line.ends_with(" ms per pod)"),
        "{line}"
    );
    // A small simulation prints nothing.
    let first_five = text[..text.find("name: pod-5,").unwrap()]
        .rsplit_once("---")
        .unwrap()
        .0;
    let small = manifest::parse("small", first_five).unwrap_or_else(|e| panic!("{e}"));
    let mut silent = true;
    simulate::run_with_progress(small, &Config::default(), plugins(), &dir, |_| {
        silent = false
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        silent,
        "fewer than {} pending pods report nothing",
        simulate::PROGRESS_FROM_PODS
    );
}
