//! The `kube-wasm-scheduler` command's exits and messages for bad input.

use std::path::PathBuf;
use std::process::Command;

fn scheduler() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kube-wasm-scheduler"))
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir()
        .join(format!("kws-cli-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The built plugin components: `$KWS_PLUGIN_DIR`, else `<target-dir>/plugins`.
fn plugin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KWS_PLUGIN_DIR") {
        return dir.into();
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_kube-wasm-scheduler"));
    exe.ancestors()
        .map(|d| d.join("plugins"))
        .find(|d| d.is_dir())
        .expect("built plugins: run `cargo xtask plugins` first")
}

/// The README's example cluster.
const EXAMPLE_CLUSTER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/cluster.yaml");

/// A kubeconfig file `name` whose one cluster is `cluster` (a YAML flow
/// mapping with the server), with a token.
fn kubeconfig(name: &str, cluster: &str) -> PathBuf {
    scratch(
        name,
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {cluster}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
}

/// A sparse file `name` of `len` bytes: size without disk.
fn sparse(name: &str, len: u64) -> PathBuf {
    let path = scratch(name, "");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len)
        .unwrap();
    path
}

/// A `KubeSchedulerConfiguration` file `name` with `body` after its header.
fn config_file(name: &str, body: &str) -> PathBuf {
    scratch(
        name,
        &format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n{body}"
        ),
    )
}

/// Runs `simulate` on `cluster` with no plugin directory, expecting it to
/// fail; returns (stdout, stderr).
fn simulate_refused(cluster: &std::path::Path) -> (String, String) {
    let output = scheduler()
        .arg("simulate")
        .arg("--cluster")
        .arg(cluster)
        .args(["--plugins", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    (
        String::from_utf8_lossy(&output.stdout).to_string(),
        stderr_of(&output),
    )
}

/// `simulate` with the configuration file `config` and no cluster file
/// (which fails the run once the configuration has loaded).
fn simulate_with_config(config: &std::path::Path) -> Command {
    let mut command = scheduler();
    command
        .args([
            "simulate",
            "--cluster",
            "/nonexistent.yaml",
            "--plugins",
            "/nonexistent",
            "--config",
        ])
        .arg(config);
    command
}

#[test]
fn run_exits_with_a_clear_message_when_the_cluster_cannot_be_reached() {
    // Nothing listens on port 1 of loopback.
    let kubeconfig = kubeconfig(
        "unreachable.kubeconfig",
        "{server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}",
    );
    let output = scheduler()
        .args(["run", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--plugins")
        .arg(plugin_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the cluster at https://127.0.0.1:1/"),
        "{stderr}"
    );
}

/// The README's first output block: what `simulate` prints for
/// `examples/cluster.yaml`.
fn readme_output() -> String {
    let readme = include_str!("../../README.md");
    let block = readme
        .split("```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README shows simulate's output in a text block");
    block.to_string()
}

/// `simulate` on the README's example with the built-in plugins and, when
/// given, a plugin directory; checks it prints the README's output.
fn simulate_prints_the_readme_output(plugins: Option<&std::path::Path>) {
    let mut command = scheduler();
    command
        .args(["simulate", "--cluster"])
        .arg(EXAMPLE_CLUSTER)
        .env_remove("KWS_PLUGIN_DIR");
    if let Some(dir) = plugins {
        command.arg("--plugins").arg(dir);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), readme_output());
}

#[test]
fn simulate_with_no_plugin_directory_prints_the_readme_output() {
    simulate_prints_the_readme_output(None);
}

#[test]
fn an_empty_plugin_directory_leaves_the_built_in_plugins_serving() {
    let empty = scratch("empty-plugins/.keep", "");
    simulate_prints_the_readme_output(empty.parent());
}

#[test]
fn simulate_names_the_file_and_document_of_a_bad_manifest() {
    let cluster = scratch(
        "bad-cluster.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: i, resources: {requests: {cpu: lots}}}]\n",
    );
    let (_, stderr) = simulate_refused(&cluster);
    assert!(
        stderr.contains("bad-cluster.yaml: document 2: Pod \"web\" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: \"lots\""),
        "{stderr}"
    );
}

#[test]
fn a_resource_name_holding_a_newline_is_refused_not_printed() {
    // Printed as is, the name would forge a placement line.
    let cluster = scratch(
        "newline-resource.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: i, resources: {requests: {\"cpu\\ndefault/evil -> n1\": '1'}}}]\n",
    );
    let (stdout, stderr) = simulate_refused(&cluster);
    assert!(!stdout.contains(" -> "), "{stdout}");
    assert!(
        stderr.contains("newline-resource.yaml: document 2: Pod \"web\" is invalid: [spec.containers[0].resources.requests[cpu\\ndefault/evil -> n1]: Invalid value: \"cpu\\ndefault/evil -> n1\""),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("default/evil")),
        "{stderr}"
    );
}

#[test]
fn an_empty_cluster_file_is_refused_as_having_no_objects() {
    let cluster = scratch("empty-cluster.yaml", "# nothing yet\n");
    let (_, stderr) = simulate_refused(&cluster);
    assert!(
        stderr.contains("empty-cluster.yaml: no objects passed to create"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_with_an_upper_case_extension_is_named_in_a_warning() {
    let dir = scratch("upper-case-plugins/.keep", "");
    let dir = dir.parent().unwrap();
    let source = std::fs::read_dir(plugin_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .expect("a built plugin");
    std::fs::copy(&source, dir.join("Policy.WASM")).unwrap();
    let output = scheduler()
        .args(["simulate", "--cluster", EXAMPLE_CLUSTER, "--plugins"])
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Policy.WASM") && stderr.contains("`.wasm`, in lower case"),
        "{stderr}"
    );
}

#[test]
fn a_bad_config_file_is_refused_naming_the_field() {
    let config = config_file(
        "bad-config.yaml",
        "profiles:\n- schedulerName: x\n  plugins:\n    filtre: {}\n",
    );
    let output = simulate_with_config(&config).output().unwrap();
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("bad-config.yaml"), "{stderr}");
    assert!(stderr.contains("filtre"), "{stderr}");
}

/// Runs `plugin check` on a file; returns (success, stdout + stderr).
fn check(file: &std::path::Path) -> (bool, String) {
    let output = scheduler()
        .args(["plugin", "check"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn plugin_check_describes_a_good_plugin() {
    let (ok, text) = check(&plugin_dir().join("node-affinity.wasm"));
    assert!(ok, "{text}");
    assert!(text.contains("plugin: NodeAffinity 0.1.0"), "{text}");
    assert!(text.contains("world: kws:scheduler/plugin@0.3.0"), "{text}");
    assert!(
        text.contains(
            "extension points: pre-filter, filter, pre-score, score, normalize-score, enqueue-extensions"
        ),
        "{text}"
    );
    assert!(
        text.contains("kws:scheduler/types@0.3.0 (granted)"),
        "{text}"
    );
    assert!(
        text.contains("wasi:cli/environment@0.2.6 (not granted: traps if called)"),
        "{text}"
    );
    assert!(text.contains("  kws:scheduler/filter@0.3.0\n"), "{text}");
    let digest = text
        .lines()
        .find_map(|l| l.strip_prefix("sha256: "))
        .expect("a digest line");
    assert_eq!(digest.len(), 64);
}

#[test]
fn plugin_check_refuses_bad_files_with_the_reason() {
    let good = std::fs::read(plugin_dir().join("node-name.wasm")).unwrap();
    let cases = [
        (
            "not-wasm.wasm",
            b"#!/bin/sh\necho hello\n".to_vec(),
            "not a WebAssembly file",
        ),
        (
            "truncated.wasm",
            good[..good.len() / 2].to_vec(),
            "not a valid component",
        ),
        (
            "core-module.wasm",
            b"\0asm\x01\0\0\0".to_vec(),
            "a core WebAssembly module, not a component",
        ),
    ];
    for (name, bytes, expected) in cases {
        let file = scratch(name, "");
        std::fs::write(&file, bytes).unwrap();
        let (ok, text) = check(&file);
        assert!(!ok, "{name} was accepted");
        assert!(
            text.contains(&format!("{}: {expected}", file.display())),
            "{name}: {text}"
        );
    }
    let future = plugin_dir()
        .parent()
        .unwrap()
        .join("test-plugins/wrong-world.wasm");
    let (ok, text) = check(&future);
    assert!(!ok);
    assert!(
        text.contains(
            "does not implement the kws:scheduler/plugin world: it exports no \
             kws:scheduler/lifecycle@0.3.0 (nor @0.2.0, which this host also serves)"
        ),
        "{text}"
    );
    let reads_files = future.with_file_name("reads-files.wasm");
    let (ok, text) = check(&reads_files);
    assert!(!ok);
    assert!(
        text.contains("reads-files.wasm: imports wasi:filesystem/")
            && text.contains(": plugins get no filesystem"),
        "{text}"
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    // `clientConnection` is accepted but ignored with a warning, logged while
    // the configuration loads (before the missing cluster file fails the run).
    let config = config_file("warning-config.yaml", "clientConnection: {qps: 50}\n");
    let output = simulate_with_config(&config)
        .env("RUST_LOG", "warn")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("clientConnection"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}

/// How long a command that must not hang may take: only a hang outlasts
/// it. Generous, since a debug build compiles the built-in plugins when it
/// starts, which takes tens of seconds on a loaded machine with a cold
/// compile cache.
const HANG: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs a command to its end, or kills it after `patience`: a hang is a
/// failure with the command's name, not a stuck test run.
fn finish_within(command: &mut Command, patience: std::time::Duration) -> std::process::Output {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > patience {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{command:?} still ran after {patience:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn pods_copied_with_one_uid_are_placed_as_distinct_pods() {
    // Three copies of one `kubectl get -o yaml` output: the same uid.
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Node\nmetadata: {name: small}\nstatus: {capacity: {cpu: '1', memory: 1Gi, pods: '10'}}\n",
    );
    for name in ["a", "b", "c"] {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default, uid: 6b1f3c1e-52a9-4b8e-a1c2-0d9e8f7a6b5c}}\nspec:\n  schedulerName: kube-wasm-scheduler\n  containers: [{{name: c, image: i, resources: {{requests: {{cpu: '1'}}}}}}]\n"
        ));
    }
    let cluster = scratch("shared-uid.yaml", &yaml);
    let output = scheduler()
        .arg("simulate")
        .arg("--cluster")
        .arg(&cluster)
        .arg("--plugins")
        .arg(plugin_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let placed: Vec<&str> = stdout.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(placed, ["default/a -> small"], "{stdout}");
    for pod in ["default/b", "default/c"] {
        assert!(
            stdout.contains(&format!(
                "{pod} unschedulable: 0/1 nodes are available: 1 Insufficient cpu"
            )),
            "{stdout}"
        );
    }
}

fn mkfifo(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

#[test]
fn a_fifo_or_device_named_wasm_is_refused_without_waiting() {
    let patience = HANG;
    let fifo = scratch("fifo-plugins/x.wasm", "");
    mkfifo(&fifo);
    let output = finish_within(scheduler().args(["plugin", "check"]).arg(&fifo), patience);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains(&format!("{}: not a regular file (a FIFO)", fifo.display())),
        "{}",
        stderr_of(&output)
    );
    let output = finish_within(
        scheduler()
            .args(["simulate", "--cluster"])
            .arg(EXAMPLE_CLUSTER)
            .arg("--plugins")
            .arg(fifo.parent().unwrap()),
        patience,
    );
    // Refused with a warning; the built-in plugins serve.
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("not a regular file (a FIFO)"),
        "{}",
        stderr_of(&output)
    );

    let zero = scratch("zero-plugins/zero.wasm", "");
    std::fs::remove_file(&zero).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let output = finish_within(scheduler().args(["plugin", "check"]).arg(&zero), patience);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains(&format!(
            "{}: not a regular file (a character device)",
            zero.display()
        )),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_plugin_file_over_the_size_limit_is_refused_unread() {
    let big = sparse("big-plugins/big.wasm", 200 << 20);
    let output = finish_within(scheduler().args(["plugin", "check"]).arg(&big), HANG);
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains(&format!(
            "{}: a plugin file may be at most 64 MiB; this one is 209715200 bytes",
            big.display()
        )),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn cluster_and_config_files_are_read_within_a_bound() {
    let patience = HANG;
    let simulate = |cluster: &std::path::Path, config: Option<&std::path::Path>| {
        let mut command = scheduler();
        command
            .arg("simulate")
            .arg("--cluster")
            .arg(cluster)
            .args(["--plugins", "/nonexistent"]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let output = finish_within(&mut command, patience);
        assert!(!output.status.success());
        stderr_of(&output)
    };
    let zero = std::path::Path::new("/dev/zero");
    assert!(
        simulate(zero, None).contains("/dev/zero: not a regular file (a character device)"),
        "{}",
        simulate(zero, None)
    );
    let huge = sparse("huge-cluster.yaml", 300 << 20);
    let stderr = simulate(&huge, None);
    assert!(
        stderr.contains("a cluster file may be at most 256 MiB; this one is 314572800 bytes"),
        "{stderr}"
    );
    let cluster = scratch(
        "small-cluster.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n",
    );
    let stderr = simulate(&cluster, Some(zero));
    assert!(
        stderr.contains("/dev/zero: not a regular file (a character device)"),
        "{stderr}"
    );
}

#[test]
fn an_out_of_range_backoff_is_refused_naming_the_field() {
    let config = config_file(
        "huge-backoff.yaml",
        "podInitialBackoffSeconds: 9223372036854775807\npodMaxBackoffSeconds: 9223372036854775807\n",
    );
    let output = scheduler()
        .args(["simulate", "--cluster"])
        .arg(EXAMPLE_CLUSTER)
        .args(["--plugins", "/nonexistent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains(
            "podInitialBackoffSeconds: must be at most 86400 (one day), got 9223372036854775807"
        ),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn an_absurd_api_rate_is_refused_naming_the_flag() {
    for qps in ["0", "-1", "NaN", "inf"] {
        let output = scheduler()
            .args(["run", "--plugins", "/nonexistent"])
            .arg(format!("--kube-api-qps={qps}"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("--kube-api-qps") && stderr.contains("must be a finite number"),
            "{qps}: {stderr}"
        );
    }
}

#[test]
fn run_gives_up_on_an_apiserver_that_never_answers() {
    // Accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(8) {
            open.push(stream);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let kubeconfig = kubeconfig(
        "silent.kubeconfig",
        &format!("{{server: 'http://127.0.0.1:{port}'}}"),
    );
    let output = finish_within(
        scheduler()
            .args(["run", "--connect-timeout", "2", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--plugins")
            .arg(plugin_dir()),
        std::time::Duration::from_secs(60),
    );
    assert!(!output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!(
            "cannot reach the cluster at http://127.0.0.1:{port}/: no answer to GET /version within 2s"
        )),
        "{stderr}"
    );
    drop(held);
}
