//! Comparing our scheduler with kube-scheduler on one scenario: the
//! reference oracle (`tests/oracle`, kube-scheduler's own framework and
//! plugins) as a long-running process, our `explain`, and the comparison of
//! their JSON views.
//!
//! What must agree (see `docs/parity.md`): the set of nodes; the PreFilter
//! verdict; which nodes are feasible; for each rejected node, the plugin
//! that rejected it, its code and its reasons (as a set); for each feasible
//! node, the filter plugins that ran (a plugin that returned Skip at
//! PreFilter is listed by neither), the weighted total and what each score
//! plugin adds to it (one skipped at PreScore is listed by neither, and one
//! that scores 0 on every node counts as skipped); for a pod no node fits,
//! DefaultPreemption's message, node and victims.

use kws_host::config::Config;
use kws_host::explain;
use kws_host::model::manifest;
use kws_host::runtime::LoadedPlugin;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};

/// The oracle binary, built (seconds when Go's cache is warm) once per
/// test binary by `tests/oracle/build`, which prints its path.
pub fn oracle_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let script = crate::workspace().join("tests/oracle/build");
            let output = Command::new(&script)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
            assert!(
                output.status.success(),
                "{} failed: {}",
                script.display(),
                output.status
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// Where `tests/oracle/build` puts the binary: `$KWS_CACHE/bin/oracle`.
fn oracle_path() -> PathBuf {
    let cache = std::env::var_os("KWS_CACHE").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").expect("$HOME is set"))
                .join(".cache")
                .join("kws")
        },
        PathBuf::from,
    );
    cache.join("bin").join("oracle")
}

/// The oracle in `--batch` mode: requests go in as lines, answers come back
/// as lines, in order.
pub struct Oracle {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    pub fn start() -> Oracle {
        let binary = oracle_binary();
        let mut child = Command::new(&binary)
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Oracle {
            child,
            stdin,
            stdout,
        }
    }

    /// The request line for `pod` of the scenario in `file`, with only
    /// `plugins` of kube-scheduler's default profile.
    pub fn request(file: &Path, pod: &str, plugins: &[String]) -> String {
        json!({"cluster": file, "pod": pod, "plugins": plugins}).to_string()
    }

    /// Takes the request side, so a writer thread can feed many requests
    /// while answers are read here (neither pipe fills up and blocks).
    pub fn take_input(&mut self) -> ChildStdin {
        self.stdin.take().expect("the oracle's input is taken once")
    }

    /// Sends one request and waits for its answer.
    pub fn ask(&mut self, request: &str) -> Result<Value, String> {
        let stdin = self.stdin.as_mut().expect("the oracle's input was taken");
        writeln!(stdin, "{request}").map_err(|e| format!("writing to the oracle: {e}"))?;
        stdin
            .flush()
            .map_err(|e| format!("writing to the oracle: {e}"))?;
        self.answer()
    }

    /// The next answer: the oracle's explanation, or its error.
    pub fn answer(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let read = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading from the oracle: {e}"))?;
        if read == 0 {
            return Err("the oracle exited before answering".to_string());
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| format!("the oracle's answer is not JSON ({e}): {line}"))?;
        match value.get("error").and_then(Value::as_str) {
            Some(error) => Err(format!("oracle: {error}")),
            None => Ok(value),
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        // Closing its input ends the batch; it exits by itself.
        self.stdin.take();
        let _ = self.child.wait();
    }
}

/// The plugins of our default profile, filter and score, in order, and
/// DefaultPreemption when the profile has it: the ones to compare (the
/// oracle runs kube-scheduler's profile restricted to them, and
/// DefaultPreemption's dry run for a pod no node fits). Widens by itself as
/// plugins join the default profile.
pub fn compared_plugins() -> Vec<String> {
    let config = Config::default();
    let profile = &config.profiles[0];
    let mut names: Vec<String> = profile.filter.clone();
    for (name, _) in &profile.score {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if profile.other.iter().any(|p| p == PREEMPTION) {
        names.push(PREEMPTION.to_string());
    }
    names
}

/// The PostFilter plugin whose dry run is compared.
const PREEMPTION: &str = "DefaultPreemption";

/// Our explanation of `pod` in the scenario file, as JSON.
pub fn host_explain(
    file: &Path,
    pod: &str,
    plugins: &[Arc<LoadedPlugin>],
    plugin_dir: &str,
) -> Result<Value, String> {
    let objects = manifest::read_file(file).map_err(|e| e.to_string())?;
    let explanation = explain::explain(&objects, &Config::default(), plugins, plugin_dir, pod)
        .map_err(|e| e.to_string())?;
    serde_json::to_value(&explanation).map_err(|e| e.to_string())
}

/// Every disagreement between our explanation and the oracle's, one line
/// each; empty when they agree.
pub fn compare(host: &Value, oracle: &Value) -> Vec<String> {
    let mut differences = Vec::new();
    if host["preFilter"] != oracle["preFilter"] {
        differences.push(format!(
            "preFilter: ours {} kube-scheduler {}",
            host["preFilter"], oracle["preFilter"]
        ));
    }
    if host["preemption"] != oracle["preemption"] {
        differences.push(format!(
            "preemption: ours {} kube-scheduler {}",
            host["preemption"], oracle["preemption"]
        ));
    }
    if oracle["preFilter"]["code"] != "Success" {
        // No filter ran: kube-scheduler lists no per-node entries, we name
        // the PreFilter plugin on each node.
        return differences;
    }
    let nodes = |v: &Value| -> Vec<Value> { v["nodes"].as_array().cloned().unwrap_or_default() };
    let (ours, theirs) = (nodes(host), nodes(oracle));
    let (silent_ours, silent_theirs) = (silent_scorers(&ours), silent_scorers(&theirs));
    let names = |list: &[Value]| -> Vec<String> {
        list.iter()
            .map(|n| n["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    if names(&ours) != names(&theirs) {
        differences.push(format!(
            "nodes: ours {:?} kube-scheduler {:?}",
            names(&ours),
            names(&theirs)
        ));
        return differences;
    }
    for (a, b) in ours.iter().zip(&theirs) {
        let node = a["name"].as_str().unwrap_or_default();
        let (fa, fb) = (a["feasible"].as_bool(), b["feasible"].as_bool());
        if fa != fb {
            differences.push(format!(
                "{node}: feasible: ours {} kube-scheduler {}; ours {}, kube-scheduler {}",
                a["feasible"],
                b["feasible"],
                verdict(a),
                verdict(b)
            ));
            continue;
        }
        if fa == Some(false) {
            if rejection(a) != rejection(b) {
                differences.push(format!(
                    "{node}: rejected by ours {}, by kube-scheduler {}",
                    verdict(a),
                    verdict(b)
                ));
            }
        } else if filters_run(a) != filters_run(b) {
            differences.push(format!(
                "{node}: filters run: ours {:?} kube-scheduler {:?}",
                filters_run(a),
                filters_run(b)
            ));
        } else if a["total"] != b["total"]
            || contributions(a, &silent_ours) != contributions(b, &silent_theirs)
        {
            differences.push(format!(
                "{node}: total: ours {} ({}) kube-scheduler {} ({})",
                a["total"],
                scores(a),
                b["total"],
                scores(b)
            ));
        }
    }
    differences
}

/// What rejected a node: the last filter entry's plugin, code and reasons,
/// the reasons in sorted order. kube-scheduler's NodeResourcesFit lists the
/// extended resources a node lacks in Go map order, which changes from run
/// to run; the order is never shown to users (the failure message sorts
/// them), so it is not compared.
fn rejection(node: &Value) -> Option<(Value, Value, Vec<String>)> {
    let last = node["filters"].as_array()?.last()?;
    let mut reasons: Vec<String> = last["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    reasons.sort();
    Some((last["plugin"].clone(), last["code"].clone(), reasons))
}

/// The filter plugins that passed a feasible node, as a set: both sides
/// leave out a plugin that returned Skip at PreFilter, and each lists the
/// others in its own profile's order.
fn filters_run(node: &Value) -> BTreeSet<String> {
    node["filters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["plugin"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The score plugins that score 0 (raw and normalised) on every feasible
/// node. Such a plugin adds nothing to any total, so it cannot change a
/// placement, and it is compared as if it had returned Skip at PreScore:
/// kube-scheduler's VolumeBinding never skips with StorageCapacityScoring
/// on (v1.37's default) and scores 0 everywhere for a pod without claims,
/// where ours skips it and saves a Score call (see `docs/parity.md`).
fn silent_scorers(nodes: &[Value]) -> BTreeSet<String> {
    let mut listed = BTreeSet::new();
    let mut scoring = BTreeSet::new();
    for node in nodes
        .iter()
        .filter(|n| n["feasible"].as_bool() == Some(true))
    {
        for s in node["scores"].as_array().into_iter().flatten() {
            let plugin = s["plugin"].as_str().unwrap_or_default().to_string();
            if s["raw"].as_i64() != Some(0) || s["normalized"].as_i64() != Some(0) {
                scoring.insert(plugin.clone());
            }
            listed.insert(plugin);
        }
    }
    listed.difference(&scoring).cloned().collect()
}

/// What each score plugin adds to a node's total (normalised score times
/// weight), leaving out the `silent` ones. Both sides leave out a plugin
/// that returned Skip at PreScore, so a plugin listed on one side only is a
/// difference when it adds something to some node; equal totals made of
/// different parts are a difference too.
fn contributions(node: &Value, silent: &BTreeSet<String>) -> BTreeMap<String, i64> {
    node["scores"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !silent.contains(s["plugin"].as_str().unwrap_or_default()))
        .map(|s| {
            let part = s["normalized"].as_i64().unwrap_or(0) * s["weight"].as_i64().unwrap_or(0);
            (s["plugin"].as_str().unwrap_or_default().to_string(), part)
        })
        .collect()
}

/// A node's last filter entry: `Plugin Code [reasons]`, or `feasible`.
fn verdict(node: &Value) -> String {
    if node["feasible"].as_bool() == Some(true) {
        return "feasible".to_string();
    }
    match node["filters"].as_array().and_then(|f| f.last()) {
        Some(last) => format!(
            "{} {} {}",
            last["plugin"].as_str().unwrap_or_default(),
            last["code"].as_str().unwrap_or_default(),
            last["reasons"]
        ),
        None => "no filter entry".to_string(),
    }
}

/// `Plugin normalized(raw)xweight` for each score plugin of a node.
fn scores(node: &Value) -> String {
    node["scores"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| {
                    format!(
                        "{} {}({})x{}",
                        s["plugin"].as_str().unwrap_or_default(),
                        s["normalized"],
                        s["raw"],
                        s["weight"]
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The commands that replay one comparison by hand.
pub fn replay_commands(file: &Path, pod: &str, plugins: &[String]) -> String {
    format!(
        "  kube-wasm-scheduler explain --cluster {file} --pod {pod} --plugins <target-dir>/plugins\n  {oracle} --cluster {file} --pod {pod} --plugins {list}",
        file = file.display(),
        oracle = oracle_path().display(),
        list = plugins.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, filters: Value, feasible: bool, total: Value) -> Value {
        json!({"name": name, "filters": filters, "feasible": feasible, "scores": [], "total": total})
    }

    fn explanation(nodes: Vec<Value>) -> Value {
        json!({"pod": "default/p", "preFilter": {"code": "Success", "plugin": "", "reasons": []}, "nodes": nodes})
    }

    #[test]
    fn a_plugin_skipped_on_one_side_only_differs() {
        let affinity = json!([{"plugin": "NodeAffinity", "code": "Success", "reasons": []}]);
        let ours = explanation(vec![node("a", affinity.clone(), true, json!(300))]);
        let skipped = explanation(vec![node("a", json!([]), true, json!(300))]);
        let same = explanation(vec![node("a", affinity, true, json!(300))]);
        assert_eq!(compare(&ours, &skipped).len(), 1);
        assert!(compare(&ours, &same).is_empty());
    }

    #[test]
    fn the_order_of_filters_does_not_count() {
        let passed = |names: &[&str]| {
            Value::Array(
                names
                    .iter()
                    .map(|n| json!({"plugin": n, "code": "Success", "reasons": []}))
                    .collect(),
            )
        };
        let ours = explanation(vec![node("a", passed(&["A", "B"]), true, json!(0))]);
        let theirs = explanation(vec![node("a", passed(&["B", "A"]), true, json!(0))]);
        assert!(compare(&ours, &theirs).is_empty());
    }

    #[test]
    fn equal_totals_from_different_plugins_differ() {
        let scored = |parts: Value| {
            let mut n = node("a", json!([]), true, json!(200));
            n["scores"] = parts;
            explanation(vec![n])
        };
        let ours = scored(json!([
            {"plugin": "A", "raw": 1, "normalized": 100, "weight": 2},
            {"plugin": "B", "raw": 0, "normalized": 0, "weight": 1}
        ]));
        let same = scored(json!([
            {"plugin": "B", "raw": 0, "normalized": 0, "weight": 1},
            {"plugin": "A", "raw": 1, "normalized": 100, "weight": 2}
        ]));
        let shifted = scored(json!([
            {"plugin": "A", "raw": 1, "normalized": 0, "weight": 2},
            {"plugin": "B", "raw": 0, "normalized": 100, "weight": 2}
        ]));
        assert!(compare(&ours, &same).is_empty());
        assert_eq!(compare(&ours, &shifted).len(), 1);
    }

    /// Two feasible nodes `a` and `b` with the given score parts and totals.
    fn two_nodes(a: (Value, i64), b: (Value, i64)) -> Value {
        let scored = |name: &str, (parts, total): (Value, i64)| {
            let mut n = node(name, json!([]), true, json!(total));
            n["scores"] = parts;
            n
        };
        explanation(vec![scored("a", a), scored("b", b)])
    }

    #[test]
    fn a_plugin_scoring_zero_on_every_node_counts_as_skipped() {
        let a = |normalized: i64| json!({"plugin": "A", "raw": normalized, "normalized": normalized, "weight": 2});
        let zero = json!({"plugin": "VolumeBinding", "raw": 0, "normalized": 0, "weight": 1});
        let theirs = two_nodes(
            (json!([a(100), zero.clone()]), 200),
            (json!([a(50), zero]), 100),
        );
        let ours = two_nodes((json!([a(100)]), 200), (json!([a(50)]), 100));
        assert!(compare(&ours, &theirs).is_empty());
        assert!(compare(&theirs, &ours).is_empty());
    }

    #[test]
    fn a_plugin_skipped_on_one_side_that_scores_on_some_node_differs() {
        let a = |normalized: i64| json!({"plugin": "A", "raw": normalized, "normalized": normalized, "weight": 2});
        let b = |normalized: i64| json!({"plugin": "B", "raw": normalized, "normalized": normalized, "weight": 1});
        let ours = two_nodes((json!([a(100), b(0)]), 200), (json!([a(0), b(10)]), 10));
        let skipped = two_nodes((json!([a(100)]), 200), (json!([a(5)]), 10));
        let differences = compare(&ours, &skipped);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(
            differences[0].starts_with("a: total:"),
            "B adds 0 to a but not to b, so it is listed on a too: {differences:?}"
        );
    }

    #[test]
    fn the_order_of_reasons_does_not_count() {
        let reject = |reasons: Value| json!([{"plugin": "NodeResourcesFit", "code": "Unschedulable", "reasons": reasons}]);
        let ours = explanation(vec![node(
            "a",
            reject(json!(["Insufficient a", "Insufficient b"])),
            false,
            Value::Null,
        )]);
        let same = explanation(vec![node(
            "a",
            reject(json!(["Insufficient b", "Insufficient a"])),
            false,
            Value::Null,
        )]);
        let fewer = explanation(vec![node(
            "a",
            reject(json!(["Insufficient b"])),
            false,
            Value::Null,
        )]);
        assert!(compare(&ours, &same).is_empty());
        assert_eq!(compare(&ours, &fewer).len(), 1);
    }

    #[test]
    fn reasons_codes_feasibility_and_totals_are_compared() {
        let reject = |code: &str, reason: &str| json!([{"plugin": "NodeResourcesFit", "code": code, "reasons": [reason]}]);
        let ours = explanation(vec![
            node(
                "a",
                reject("Unschedulable", "Insufficient cpu"),
                false,
                Value::Null,
            ),
            node("b", json!([]), true, json!(10)),
            node("c", json!([]), true, json!(10)),
        ]);
        let theirs = explanation(vec![
            node(
                "a",
                reject("UnschedulableAndUnresolvable", "Insufficient cpu"),
                false,
                Value::Null,
            ),
            node("b", json!([]), true, json!(11)),
            node(
                "c",
                reject("Unschedulable", "Too many pods"),
                false,
                Value::Null,
            ),
        ]);
        assert_eq!(
            compare(&ours, &theirs),
            vec![
                "a: rejected by ours NodeResourcesFit Unschedulable [\"Insufficient cpu\"], by kube-scheduler NodeResourcesFit UnschedulableAndUnresolvable [\"Insufficient cpu\"]",
                "b: total: ours 10 () kube-scheduler 11 ()",
                "c: feasible: ours true kube-scheduler false; ours feasible, kube-scheduler NodeResourcesFit Unschedulable [\"Too many pods\"]",
            ]
        );
    }

    #[test]
    fn different_node_sets_are_one_difference() {
        let ours = explanation(vec![node("a", json!([]), true, json!(1))]);
        let theirs = explanation(vec![node("b", json!([]), true, json!(1))]);
        assert_eq!(compare(&ours, &theirs).len(), 1);
    }
}
