//! The example policy, LabelZone, written in Rust, Go, JavaScript, Python
//! and C (`plugins/examples/`), built from source by `cargo xtask examples`
//! into `<target-dir>/example-plugins/<language>.wasm`.
//!
//! Each language's component must: pass `kube-wasm-scheduler plugin check`
//! importing nothing but the host interface; place the pods of the shared
//! scenario (`languages/example-policy.yaml`, beside the default plugins)
//! exactly as the Rust one does and as worked out by hand
//! (`example-policy.expected`); refuse bad args with the Rust one's
//! message; and keep the fault contract (`languages/faults.yaml`): an
//! uncaught exception or panic is a fault of the call with its message
//! kept, and under `failurePolicy: Ignore` the plugin is left out for that
//! pod, Score included. They are built against `kws:scheduler@0.3.0`; the JavaScript
//! one as it was for 0.2.0 (`tests/fixtures/label-zone-0.2.0`, built into
//! `<target-dir>/test-plugins/`) must still do all of that too.

use kws_host::config::{Config, PluginSettings};
use kws_host::model::manifest;
use kws_host::plugin_dir::{PluginDir, PluginUpdate};
use kws_host::runtime::{GRANTED_IMPORTS, LoadedPlugin, Loader, PluginError, PluginPool};
use kws_host::simulate::{self, Report};
use kws_host::wit::ExtensionPoint;
use kws_tests::{component_dir, plugins, scheduler_binary, workspace};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

/// The LabelZone built against `kws:scheduler@0.2.0`.
const V0_2: &str = "javascript-0.2.0";

fn component_file(language: &str) -> PathBuf {
    if language == V0_2 {
        return component_dir("test-plugins").join("label-zone-0.2.0.wasm");
    }
    component_dir("example-plugins").join(format!("{language}.wasm"))
}

const LANGUAGES: [&str; 6] = ["rust", "go", "javascript", "python", "c", V0_2];

/// Each language's component, compiled once per test binary: hot-loaded,
/// by renaming it into a watched plugin directory as an author would drop
/// it in.
fn example(language: &str) -> Arc<LoadedPlugin> {
    static LOADED: [OnceLock<Arc<LoadedPlugin>>; LANGUAGES.len()] =
        [const { OnceLock::new() }; LANGUAGES.len()];
    let index = LANGUAGES
        .iter()
        .position(|l| *l == language)
        .expect("one of LANGUAGES");
    LOADED[index].get_or_init(|| hot_load(language)).clone()
}

fn hot_load(language: &str) -> Arc<LoadedPlugin> {
    let dir = std::env::temp_dir().join(format!("kws-languages-{language}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (mut watch, loaded, refused) = PluginDir::open(&dir, Loader::default()).unwrap();
    assert!(loaded.is_empty() && refused.is_empty());
    let (sender, updates) = std::sync::mpsc::channel();
    watch.follow(move |u| sender.send(u).is_ok()).unwrap();
    let bytes = std::fs::read(component_file(language))
        .unwrap_or_else(|e| panic!("{language}: {e} (built by `cargo xtask examples`)"));
    kws_tests::rename_into(&dir, &format!("{language}.wasm"), &bytes);
    let update = updates.recv_timeout(std::time::Duration::from_secs(300));
    let _ = std::fs::remove_dir_all(&dir);
    match update {
        Ok(PluginUpdate::Loaded(plugin)) => plugin,
        other => panic!("{language}: dropped into a watched directory: {other:?}"),
    }
}

/// The scenario through the simulate pipeline, with the default plugins
/// and one language's LabelZone.
fn simulate_scenario(language: &str) -> Report {
    let dir = workspace().join("tests/e2e/languages");
    let objects =
        manifest::read_file(&dir.join("example-policy.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let config = Config::from_file(&dir.join("example-policy.config.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut loaded = plugins().to_vec();
    loaded.push(example(language));
    let examples = component_dir("example-plugins").display().to_string();
    simulate::run(objects, &config, &loaded, &examples)
        .unwrap_or_else(|e| panic!("{language}: {e}"))
}

fn rust_report() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| simulate_scenario("rust"))
}

/// The message a component's `configure` refuses `args` with.
fn refusal(language: &str, args: &str) -> String {
    match PluginPool::new(
        example(language),
        args.to_string(),
        PluginSettings::default(),
        1,
    ) {
        Err(PluginError::Configure { detail, .. }) => detail,
        Err(other) => panic!("{language}: {args} failed otherwise: {other}"),
        Ok(_) => panic!("{language}: {args} was accepted"),
    }
}

fn check_language(language: &str) {
    // `plugin check` compiles the component in its own process: start it
    // first so it overlaps with the compilation in this one.
    let check = Command::new(scheduler_binary())
        .args(["plugin", "check"])
        .arg(component_file(language))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let plugin = example(language);
    assert_eq!(plugin.name(), "LabelZone", "{language}");
    let world = if language == V0_2 { "0.2.0" } else { "0.3.0" };
    assert_eq!(plugin.world_version(), world, "{language}");
    assert!(plugin.implements(ExtensionPoint::Filter), "{language}");
    assert!(plugin.implements(ExtensionPoint::Score), "{language}");
    assert!(
        !plugin.implements(ExtensionPoint::NormalizeScore),
        "{language}"
    );
    // Rust's wasm32-wasip2 build declares WASI imports it never calls (they
    // trap); every other language's build imports nothing but the host.
    let no_wasi = language != "rust";
    for import in &plugin.imports {
        assert!(
            GRANTED_IMPORTS.contains(&import.as_str()) || !no_wasi,
            "{language} imports {import}, which the host does not grant"
        );
    }

    let report = simulate_scenario(language);
    let expected =
        std::fs::read_to_string(workspace().join("tests/e2e/languages/example-policy.expected"))
            .unwrap();
    assert_eq!(
        report.to_text(),
        expected,
        "{language} versus the expectation"
    );
    assert_eq!(&report, rust_report(), "{language} versus Rust");

    // The 0.2.0 helper, kept as it was, put the plugin's name before its
    // refusals; the host names the plugin now.
    let refusal = |language: &str, args: &str| {
        let refused = refusal(language, args);
        match language {
            V0_2 => refused.replacen("LabelZone: ", "", 1),
            _ => refused,
        }
    };
    for args in [r#"{"sameZone": 150}"#, r#"{"noZone": -1}"#] {
        assert_eq!(
            refusal(language, args),
            refusal("rust", args),
            "{language}: {args}"
        );
    }
    let unknown = refusal(language, r#"{"sameZone": 90, "bogus": 1}"#);
    assert!(
        unknown.starts_with("invalid args: unknown field `bogus`"),
        "{language}: {unknown}"
    );
    // Every helper names the field of a type error; serde words the error
    // its own way.
    let wrong_type = refusal(language, r#"{"otherZone": "ten"}"#);
    if language == "rust" {
        assert!(
            wrong_type.starts_with("invalid args: otherZone: invalid type: string \"ten\""),
            "{wrong_type}"
        );
    } else {
        assert_eq!(
            wrong_type, "invalid args: otherZone: expected an integer",
            "{language}"
        );
    }

    let output = check.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{language}: plugin check failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("plugin: LabelZone 0.1.0"),
        "{language}: {text}"
    );
    assert!(
        !(no_wasi && text.contains("not granted")),
        "{language} has imports the host does not grant: {text}"
    );
}

/// `languages/faults.yaml` under one `failurePolicy`.
fn fault_scenario(language: &str, policy: &str) -> Report {
    let dir = workspace().join("tests/e2e/languages");
    let objects = manifest::read_file(&dir.join("faults.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let config = std::fs::read_to_string(dir.join("example-policy.config.yaml")).unwrap();
    let config = Config::from_yaml(
        "faults.config.yaml",
        &format!("{config}wasm:\n  plugins:\n  - name: LabelZone\n    failurePolicy: {policy}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut loaded = plugins().to_vec();
    loaded.push(example(language));
    simulate::run(objects, &config, &loaded, "languages").unwrap_or_else(|e| panic!("{e}"))
}

/// The fault contract: what `failing`'s uncaught error becomes under each
/// failure policy (see `languages/faults.yaml`).
fn check_faults(language: &str) {
    let failed = fault_scenario(language, "Fail");
    assert_eq!(
        failed.placements,
        [simulate::Placement {
            pod: "default/zoned".into(),
            node: "east".into()
        }],
        "{language}: {failed:?}"
    );
    let [failing] = &failed.unschedulable[..] else {
        panic!("{language}: {failed:?}");
    };
    assert!(
        failing.error,
        "{language}: a fault is an error: {failing:?}"
    );
    let message = &failing.message;
    assert!(
        message.starts_with("plugin LabelZone panicked in filter: ")
            && message.contains("told to fail"),
        "{language}: {message}"
    );

    let ignored = fault_scenario(language, "Ignore");
    assert!(ignored.unschedulable.is_empty(), "{language}: {ignored:?}");
    let node = |pod: &str| {
        ignored
            .placements
            .iter()
            .find(|p| p.pod == pod)
            .map(|p| p.node.as_str())
    };
    assert_eq!(node("default/zoned"), Some("east"), "{language}");
    assert_eq!(
        node("default/failing"),
        Some("west"),
        "{language}: LabelZone's score counted after its filter faulted"
    );
}

#[test]
fn rust() {
    check_language("rust");
}

#[test]
fn rust_faults() {
    check_faults("rust");
}

#[test]
fn go_faults() {
    check_faults("go");
}

#[test]
fn javascript_faults() {
    check_faults("javascript");
}

#[test]
fn python_faults() {
    check_faults("python");
}

#[test]
fn c_faults() {
    check_faults("c");
}

#[test]
fn go() {
    check_language("go");
}

#[test]
fn javascript() {
    check_language("javascript");
}

#[test]
fn python() {
    check_language("python");
}

#[test]
fn c() {
    check_language("c");
}

#[test]
fn javascript_built_against_0_2_0() {
    check_language(V0_2);
}
