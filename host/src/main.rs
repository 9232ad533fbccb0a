//! The `kube-wasm-scheduler` command.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kws_host::backend::kube::{KubeCluster, RateLimit};
use kws_host::config::{Config, LeaderElection};
use kws_host::framework::Framework;
use kws_host::leader_election::{self, Ended, LeaderElector};
use kws_host::model::manifest;
use kws_host::plugin_configmaps::{self, PluginConfigMaps};
use kws_host::plugin_dir::PluginDir;
use kws_host::queue::QueueTimings;
use kws_host::scheduler::Scheduler;
use kws_host::{
    builtin_plugins, explain, metrics, plugin_build, plugin_template, plugin_test, runtime,
    simulate,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A Kubernetes scheduler whose placement policies are WebAssembly components.
#[derive(Parser)]
#[command(name = "kube-wasm-scheduler", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Schedule the pending pods of a manifest file on an in-memory cluster
    /// and print where each one goes.
    Simulate {
        #[command(flatten)]
        offline: Offline,
    },
    /// Explain where one pending pod would go and why: every node's verdict
    /// from each filter plugin, and each score plugin's score.
    Explain {
        /// The pending pod, `namespace/name`.
        #[arg(long)]
        pod: String,
        #[command(flatten)]
        offline: Offline,
    },
    /// Work with plugin components.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Schedule the pods of a real cluster whose `schedulerName` has a
    /// profile, until stopped.
    Run(RunArgs),
}

/// What `run` needs: where the cluster is, how to talk to it, where the
/// plugins come from.
#[derive(clap::Args)]
struct RunArgs {
    /// Default: the in-cluster service account, else $KUBECONFIG or
    /// ~/.kube/config.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// A KubeSchedulerConfiguration-style file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A directory of plugin components (`*.wasm`), watched: a file
    /// added, replaced or removed is swapped in, or refused, while the
    /// scheduler runs. A plugin replaces the built-in one of its name,
    /// which serves again when the file goes. Default: the built-in
    /// plugins only.
    #[arg(long, env = "KWS_PLUGIN_DIR")]
    plugins: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    /// Requests per second to the apiserver (binds, events, status):
    /// a number > 0.
    #[arg(long, default_value_t = 50.0, value_parser = requests_per_second)]
    kube_api_qps: f64,
    /// Requests allowed in a burst above the rate.
    #[arg(long, default_value_t = 100)]
    kube_api_burst: u32,
    /// Seconds to wait at startup for the apiserver to answer (1 to
    /// 3600); the first lists of the watched objects get as long before
    /// a warning says they are late.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    connect_timeout: u64,
    /// Serve `/metrics` (kube-scheduler's metrics under its names, and
    /// the plugin runtime's), `/healthz`, `/livez` and `/readyz` (503
    /// until the plugins are loaded and the informers' first lists are
    /// in) over plain HTTP on this address, e.g. `0.0.0.0:10251`. Off
    /// when not given.
    #[arg(long)]
    metrics_address: Option<std::net::SocketAddr>,
    /// Also take plugins from the ConfigMaps of this namespace labelled
    /// `kube-wasm-scheduler/plugins`, watched: each `binaryData` key ending
    /// in `.wasm` is a component, swapped in when the ConfigMap changes.
    #[arg(long, value_name = "NAMESPACE")]
    plugin_configmaps: Option<String>,
}

/// What `simulate` and `explain` run on: a cluster file, no apiserver.
#[derive(clap::Args)]
struct Offline {
    /// Nodes, pods, namespaces, priority classes, the Services and
    /// controllers default spreading reads, PodDisruptionBudgets, the
    /// storage objects (PersistentVolumes, PersistentVolumeClaims,
    /// StorageClasses, CSINodes, CSIDrivers, VolumeAttachments,
    /// CSIStorageCapacities), and DeviceClasses,
    /// ResourceSlices and ResourceClaims (multi-document YAML).
    #[arg(long)]
    cluster: PathBuf,
    /// A KubeSchedulerConfiguration-style file; default: one profile
    /// `kube-wasm-scheduler` with the default plugins. A pod's
    /// `schedulerName` picks its profile.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A directory of plugin components (`*.wasm`); each replaces the
    /// built-in plugin of its name, if there is one. Default: the built-in
    /// plugins only.
    #[arg(long, env = "KWS_PLUGIN_DIR")]
    plugins: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    cache: CacheArgs,
}

impl Offline {
    fn load(&self) -> Result<(Config, manifest::Manifests, Vec<Arc<runtime::LoadedPlugin>>)> {
        let config = load_config(self.config.as_deref())?;
        let objects = manifest::read_file(&self.cluster)?;
        let loader = self.cache.loader();
        let builtin = builtin_plugins::load(&loader)?;
        let chosen = match &self.plugins {
            Some(dir) => {
                let loaded = loader
                    .load_dir(dir)
                    .with_context(|| format!("loading plugins from {}", dir.display()))?;
                usable_plugins(dir, loaded)
            }
            None => Vec::new(),
        };
        Ok((config, objects, builtin_plugins::overlay(&builtin, chosen)))
    }

    fn plugin_dir(&self) -> String {
        let dir = self.plugins.iter().map(|dir| dir.display().to_string());
        builtin_plugins::describe_sources(&dir.collect::<Vec<_>>())
    }
}

#[derive(clap::Args)]
struct CacheArgs {
    /// Where compiled plugins are kept between runs (keyed by file digest
    /// and wasmtime build). Default: $XDG_CACHE_HOME/kube-wasm-scheduler,
    /// else ~/.cache/kube-wasm-scheduler; none if that cannot be created.
    #[arg(long, env = "KWS_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
}

impl CacheArgs {
    /// A loader through the compile cache, or without one (logged) when
    /// the directory is unusable: a missing cache costs time, not pods.
    fn loader(&self) -> runtime::Loader {
        let dir = self.compile_cache.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("kube-wasm-scheduler"))
        });
        let cache = dir.and_then(|dir| match runtime::CompileCache::open(&dir) {
            Ok(cache) => Some(cache),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "no compile cache");
                None
            }
        });
        runtime::Loader::new(cache)
    }
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Check that a file is a plugin this scheduler can load, and print
    /// what it is: name, version, digest, extension points, imports and
    /// exports.
    Check { file: PathBuf },
    /// Start a plugin folder from a template: a policy with Filter and
    /// Score, its args, a unit test where the language's test runner can
    /// run it, a scenario with its expected placements, a .gitignore.
    New {
        #[arg(long, value_enum)]
        lang: Lang,
        /// The plugin's name, e.g. LabelZone.
        name: String,
        /// Default: the name in kebab case (label-zone), here.
        dir: Option<PathBuf>,
    },
    /// Build a plugin folder into a component, in its language, with
    /// pinned tools fetched into $KWS_CACHE (default
    /// ~/.cache/kube-wasm-scheduler); print its path, size and digest.
    Build {
        #[command(flatten)]
        build: BuildArgs,
        /// Also drop the component into this (watched) plugin directory,
        /// written under a temporary name and renamed.
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
    },
    /// Run a plugin (a folder, built first, or a component file) with the
    /// default profile on a scenario, and compare where the pods go with
    /// the expected placements.
    Test {
        #[command(flatten)]
        build: BuildArgs,
        /// Nodes and pods (multi-document YAML), as for `simulate`.
        #[arg(long)]
        cluster: PathBuf,
        /// The expected placements: `simulate`'s text report. Without it,
        /// the placements are printed.
        #[arg(long)]
        expect: Option<PathBuf>,
        /// A KubeSchedulerConfiguration-style file; default: the default
        /// profile with the plugin at each point it implements (Score
        /// weight 1).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// The languages `plugin new` writes.
#[derive(Clone, Copy, ValueEnum)]
enum Lang {
    Rust,
    Go,
    Javascript,
    Python,
    C,
}

impl From<Lang> for plugin_build::Language {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::Rust => plugin_build::Language::Rust,
            Lang::Go => plugin_build::Language::Go,
            Lang::Javascript => plugin_build::Language::JavaScript,
            Lang::Python => plugin_build::Language::Python,
            Lang::C => plugin_build::Language::C,
        }
    }
}

/// Which plugin folder, and where its build goes.
#[derive(clap::Args)]
struct BuildArgs {
    /// A plugin folder (`plugin test` also takes a component file).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where the component and the intermediate files go. Default:
    /// `<DIR>/target/kws`.
    #[arg(long)]
    target_dir: Option<PathBuf>,
}

impl BuildArgs {
    /// Builds the folder; the component is `<target-dir>/<folder name>.wasm`.
    fn build(&self) -> Result<plugin_build::Built> {
        let folder = plugin_build::Folder::open(&self.dir, &plugin_build::default_cache_dir())?;
        let target = self
            .target_dir
            .clone()
            .unwrap_or_else(|| folder.source.join("target/kws"));
        let out = target.join(format!("{}.wasm", folder.name()));
        let built = folder.build_into(&out, &target.join("build"))?;
        if built.rebuilt {
            eprintln!("built {} ({})", folder.name(), folder.language.name());
        } else {
            eprintln!("{} is up to date", folder.name());
        }
        Ok(built)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Colour codes in the logs only when stderr is a terminal and `NO_COLOR`
/// is unset or empty (<https://no-color.org>): logs written to a file or a
/// pipe stay plain text.
fn colour_logs() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour_logs())
        .init();
    match Cli::parse().command {
        Command::Simulate { offline } => {
            let (config, objects, plugins) = offline.load()?;
            let report = simulate::run_with_progress(
                objects,
                &config,
                &plugins,
                &offline.plugin_dir(),
                |progress| eprintln!("{progress}"),
            )?;
            match offline.output {
                Output::Text => print!("{}", report.to_text()),
                Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
        }
        Command::Explain { pod, offline } => {
            let (config, objects, plugins) = offline.load()?;
            let explanation =
                explain::explain(&objects, &config, &plugins, &offline.plugin_dir(), &pod)?;
            match offline.output {
                Output::Text => print!("{}", explanation.to_text()),
                Output::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
            }
        }
        Command::Plugin { command } => plugin(command)?,
        Command::Run(args) => run_in_cluster(args)?,
    }
    Ok(())
}

fn plugin(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::Check { file } => {
            print!("{}", describe(&runtime::LoadedPlugin::load(&file)?))
        }
        PluginCommand::New { lang, name, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(plugin_template::package_name(&name)));
            let files = plugin_template::write(&name, lang.into(), &dir)?;
            println!("{}", dir.display());
            for file in files {
                println!("  {}", file.display());
            }
            eprintln!(
                "next: cd {} && kube-wasm-scheduler plugin build && kube-wasm-scheduler plugin test . --cluster scenario.yaml --expect expected.txt",
                dir.display()
            );
        }
        PluginCommand::Build { build, into } => {
            let built = build.build()?;
            println!(
                "{}\nsize: {} bytes\nsha256: {}",
                built.file.display(),
                built.size_bytes,
                built.sha256
            );
            if let Some(into) = into {
                let name = built
                    .file
                    .file_name()
                    .context("a component has a file name")?;
                let dropped = into.join(name);
                plugin_build::write_atomically(&dropped, &std::fs::read(&built.file)?)?;
                println!("into: {}", dropped.display());
            }
        }
        PluginCommand::Test {
            build,
            cluster,
            expect,
            config,
            cache,
        } => {
            let file = if build.dir.is_file() {
                build.dir.clone()
            } else {
                build.build()?.file
            };
            let loader = cache.loader();
            let plugin = Arc::new(loader.load(&file)?);
            let config = match config {
                Some(file) => Config::from_file(&file)?,
                None => plugin_test::default_config_with(&plugin),
            };
            let plugins = builtin_plugins::overlay(&builtin_plugins::load(&loader)?, vec![plugin]);
            let objects = manifest::read_file(&cluster)?;
            let sources = builtin_plugins::describe_sources(&[file.display().to_string()]);
            let got = simulate::run(objects, &config, &plugins, &sources)?.to_text();
            let Some(expect) = expect else {
                print!("{got}");
                return Ok(());
            };
            let expected = std::fs::read_to_string(&expect)
                .with_context(|| format!("reading {}", expect.display()))?;
            match plugin_test::diff(&expected, &got) {
                None => println!(
                    "ok: {} pods placed as {} expects",
                    got.lines().count(),
                    expect.display()
                ),
                Some(diff) => {
                    print!("{diff}");
                    bail!(
                        "the placements differ from {} (- expected, + got)",
                        expect.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// `run`: serves metrics, connects, loads the plugins (built in, from the
/// directory, from ConfigMaps), then schedules until stopped.
fn run_in_cluster(args: RunArgs) -> Result<()> {
    let config = load_config(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Served from the start: /livez answers while the plugins load and the
    // informers list, /readyz says 503 until both are done.
    let metrics = Arc::new(metrics::Metrics::default());
    if let Some(address) = args.metrics_address {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(address))
            .with_context(|| format!("serving metrics on {address}"))?;
        tracing::info!(%address, "serving /metrics, /healthz, /livez and /readyz");
        runtime.spawn(metrics::serve(listener, metrics.clone()));
    }
    let loader = args.cache.loader();
    let builtin = builtin_plugins::load(&loader)?;
    let mut sources = Vec::new();
    let mut found = Vec::new();
    let mut plugin_dir = None;
    if let Some(dir) = &args.plugins {
        let (watched, loaded, refused) = PluginDir::open(dir, loader.clone())
            .with_context(|| format!("watching plugins in {}", dir.display()))?;
        found.extend(
            loaded
                .into_iter()
                .map(Ok)
                .chain(refused.into_iter().map(Err)),
        );
        sources.push(dir.display().to_string());
        plugin_dir = Some(watched);
    }
    let connect = || {
        let limit = RateLimit {
            qps: args.kube_api_qps,
            burst: args.kube_api_burst,
        };
        let timeout = Duration::from_secs(args.connect_timeout);
        runtime.block_on(KubeCluster::connect_within(
            args.kubeconfig.as_deref(),
            limit,
            timeout,
        ))
    };
    // Plugins from ConfigMaps are listed before the profiles are built (a
    // profile may name one); without them, the plugins are ready before
    // the apiserver answers.
    let mut connected = None;
    let mut configmaps = None;
    if let Some(namespace) = &args.plugin_configmaps {
        let cluster = connect()?;
        let listed = PluginConfigMaps::list(cluster.client(), namespace, loader);
        let (watched, loaded, refused) = runtime
            .block_on(listed)
            .with_context(|| format!("listing the plugin ConfigMaps of namespace {namespace}"))?;
        found.extend(
            loaded
                .into_iter()
                .map(Ok)
                .chain(refused.into_iter().map(Err)),
        );
        sources.push(format!(
            "the ConfigMaps of {namespace} labelled {}",
            plugin_configmaps::LABEL
        ));
        configmaps = Some(watched);
        connected = Some(cluster);
    }
    let (chosen, refused) = runtime::first_of_each_name(found);
    for error in &refused {
        tracing::warn!("plugin refused: {error}");
        metrics.plugin_refused(&metrics::file_label(&error.file));
    }
    let plugins = builtin_plugins::overlay(&builtin, chosen);
    let framework = Framework::new(
        &config,
        &plugins,
        &builtin_plugins::describe_sources(&sources),
    )?;
    for plugin in &plugins {
        metrics.plugin_loaded(plugin.name(), false);
    }
    metrics.set_plugins_loaded();
    let cluster = match connected {
        Some(cluster) => cluster,
        None => connect()?,
    };
    let client = cluster.client();
    tracing::info!(profiles = config.profiles.len(), "scheduling");
    let scheduler = Scheduler::new(
        framework,
        Arc::new(cluster),
        runtime.handle().clone(),
        QueueTimings::from_config(&config),
    )
    .serving(&plugins)
    .falling_back_to(&builtin)
    .with_metrics(metrics);
    if let Some(plugin_dir) = &mut plugin_dir {
        plugin_dir.follow(scheduler.plugin_updates())?;
    }
    if let Some(configmaps) = configmaps {
        configmaps.follow(runtime.handle(), scheduler.plugin_updates());
    }
    serve(scheduler, config.leader_election.clone(), client, &runtime)
}

/// How long a replica that stops waits for its binds and reports in
/// flight, so that the replica taking over does not race them; they take
/// milliseconds, and the handover must stay well under the retry period.
const IN_FLIGHT_AT_SHUTDOWN: Duration = Duration::from_secs(1);

/// Schedules until SIGTERM or SIGINT, then lets the binds in flight finish
/// and releases the Lease; with leader election, only while this replica
/// holds the Lease. Losing the Lease is an error, as kube-scheduler exits
/// then: a restarted replica comes back as a standby.
fn serve(
    mut scheduler: Scheduler<KubeCluster>,
    election: Option<LeaderElection>,
    client: kube::Client,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let stop = scheduler.stop_flag();
    runtime.spawn(stop_on_signal(stop.clone()));
    let (shutdown, shutdown_asked) = tokio::sync::watch::channel(false);
    let mut elector = None;
    if let Some(election) = election {
        let metrics = scheduler.metrics();
        let lease = election.resource_name.clone();
        metrics.set_leader(&lease, false);
        let identity = leader_election::identity();
        let candidate = LeaderElector::reporting(client, election, identity, move |leading| {
            metrics.set_leader(&lease, leading)
        });
        scheduler = scheduler.led_by(candidate.leadership());
        let stop = stop.clone();
        elector = Some(runtime.spawn(async move {
            let ended = candidate.run(shutdown_asked).await;
            stop.store(true, Ordering::Relaxed);
            ended
        }));
    }
    scheduler.run();
    scheduler.finish_in_flight(IN_FLIGHT_AT_SHUTDOWN);
    // Ignored when the elector has already returned (the Lease was lost).
    let _ = shutdown.send(true);
    if let Some(elector) = elector
        && runtime.block_on(elector)? == Ended::Lost
    {
        bail!("leaderelection lost");
    }
    Ok(())
}

/// Sets `stop` at the first SIGTERM or SIGINT.
async fn stop_on_signal(stop: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot catch SIGTERM: stopping kills binds in flight");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("shutting down");
    stop.store(true, Ordering::Relaxed);
}

/// `--kube-api-qps`: a finite number > 0.
fn requests_per_second(text: &str) -> Result<f64, String> {
    let qps: f64 = text
        .trim()
        .parse()
        .map_err(|e| format!("not a number: {e}"))?;
    RateLimit::check_qps(qps)
}

/// `plugin check`'s report.
fn describe(plugin: &runtime::LoadedPlugin) -> String {
    let points: Vec<&str> = plugin
        .metadata
        .extension_points
        .iter()
        .map(|p| runtime::point_name(*p))
        .collect();
    let mut text = format!(
        "file: {}\nplugin: {} {}\nworld: kws:scheduler/plugin@{}\nsha256: {}\nsize: {} bytes\nextension points: {}\nimports:\n",
        plugin.file.display(),
        plugin.metadata.name,
        plugin.metadata.version,
        plugin.world_version(),
        plugin.digest,
        plugin.size_bytes,
        points.join(", ")
    );
    for import in &plugin.imports {
        let access = if runtime::GRANTED_IMPORTS.contains(&import.as_str()) {
            "granted"
        } else {
            "not granted: traps if called"
        };
        text.push_str(&format!("  {import} ({access})\n"));
    }
    text.push_str("exports:\n");
    for export in &plugin.exports {
        text.push_str(&format!("  {export}\n"));
    }
    text
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(path) => Ok(Config::from_file(path)?),
        None => Ok(Config::default()),
    }
}

/// The plugins a directory gave; a refused file is reported and skipped.
/// An empty directory is no error: the built-in plugins serve, and a
/// watched directory may get its plugins later.
fn usable_plugins(
    dir: &Path,
    (plugins, refused): (Vec<Arc<runtime::LoadedPlugin>>, Vec<runtime::LoadError>),
) -> Vec<Arc<runtime::LoadedPlugin>> {
    for error in &refused {
        tracing::warn!("plugin refused: {error}");
    }
    if plugins.is_empty() {
        tracing::info!(dir = %dir.display(), "no plugin in the directory; the built-in plugins serve");
    }
    plugins
}
