//! The `kube-wasm-scheduler` command.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use kws_host::config::Config;
use kws_host::model::manifest;
use kws_host::{runtime, simulate};
use std::path::{Path, PathBuf};

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
        /// Nodes, pods, namespaces and priority classes (multi-document YAML).
        #[arg(long)]
        cluster: PathBuf,
        /// A KubeSchedulerConfiguration-style file; default: one profile
        /// `kube-wasm-scheduler` with the default plugins.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The directory of plugin components (`*.wasm`).
        #[arg(long, env = "KWS_PLUGIN_DIR")]
        plugins: PathBuf,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Simulate {
            cluster,
            config,
            plugins,
            output,
        } => {
            let config = load_config(config.as_deref())?;
            let objects = manifest::read_file(&cluster)?;
            let plugins_found = load_plugins(&plugins)?;
            let report = simulate::run(
                objects,
                &config,
                &plugins_found,
                &plugins.display().to_string(),
            )?;
            match output {
                Output::Text => print!("{}", report.to_text()),
                Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
        }
    }
    Ok(())
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(path) => Ok(Config::from_file(path)?),
        None => Ok(Config::default()),
    }
}

/// Loads the plugin directory; a refused file is reported and skipped.
fn load_plugins(dir: &Path) -> Result<Vec<std::sync::Arc<runtime::LoadedPlugin>>> {
    let (plugins, refused) = runtime::load_dir(dir)
        .with_context(|| format!("loading plugins from {}", dir.display()))?;
    for error in &refused {
        tracing::warn!("plugin refused: {error}");
    }
    if plugins.is_empty() {
        bail!(
            "no plugin could be loaded from {} (build them with `cargo xtask plugins`)",
            dir.display()
        );
    }
    Ok(plugins)
}
