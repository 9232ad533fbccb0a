//! `kws-perf`: runs workloads side by side and prints the ratio table;
//! `cargo xtask perf` builds what it needs and calls it.

use anyhow::{Context, Result, bail};
use clap::Parser;
use kws_perf::contender::{ClientLimits, Contender, OursSetup};
use kws_perf::report;
use kws_perf::run::{RunSpec, run};
use kws_perf::workload::{Size, Workload};
use std::path::PathBuf;

/// The same workload on a fresh test cluster for each contender, then the
/// side-by-side table (markdown) on stdout, and the table and a throughput
/// plot (SVG) per workload in `--out`.
#[derive(Parser)]
#[command(name = "kws-perf")]
struct Cli {
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Workload::SchedulingBasic])]
    workload: Vec<Workload>,
    /// NODES/INIT_PODS/MEASURED_PODS.
    #[arg(long, default_value = "1000/1000/5000")]
    size: Size,
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Contender::Ours, Contender::KubeScheduler, Contender::Ceiling])]
    contender: Vec<Contender>,
    /// Client requests per second for every contender: high enough that
    /// no client rate limit decides the result.
    #[arg(long, default_value_t = 5000.0)]
    qps: f64,
    #[arg(long, default_value_t = 5000)]
    burst: u32,
    /// The kube-wasm-scheduler binary.
    #[arg(long)]
    scheduler: PathBuf,
    /// Its plugin components.
    #[arg(long)]
    plugins: PathBuf,
    #[arg(long)]
    compile_cache: PathBuf,
    /// Create the measured pods while the contender is stopped, then time
    /// how fast it drains them (from its first bind), rather than how it
    /// keeps pace with pods created during the run.
    #[arg(long)]
    backlog: bool,
    /// Where each workload's table and plot go.
    #[arg(long)]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let ours = OursSetup {
        binary: cli.scheduler.clone(),
        plugins: cli.plugins.clone(),
        compile_cache: cli.compile_cache.clone(),
    };
    if cli.contender.contains(&Contender::Ours) && !cli.scheduler.is_file() {
        bail!("--scheduler {}: no such file", cli.scheduler.display());
    }
    std::fs::create_dir_all(&cli.out).with_context(|| format!("{}", cli.out.display()))?;
    let limits = ClientLimits {
        qps: cli.qps,
        burst: cli.burst,
    };
    for workload in &cli.workload {
        let mut results = Vec::new();
        for contender in &cli.contender {
            let spec = RunSpec {
                workload: *workload,
                size: cli.size,
                contender: *contender,
                limits,
                ours: ours.clone(),
                backlog: cli.backlog,
            };
            eprintln!("kws-perf: {workload} {} with {contender}", cli.size);
            let result = run(&spec)
                .await
                .with_context(|| format!("{workload} {} with {contender}", cli.size))?;
            results.push(result);
        }
        let mode = if cli.backlog {
            ", measured pods created before the contender starts"
        } else {
            ""
        };
        let title = format!(
            "{workload}, {} nodes / {} init pods / {} measured pods{mode} (client qps {} burst {})",
            cli.size.nodes, cli.size.init_pods, cli.size.measured_pods, cli.qps, cli.burst
        );
        let table = report::table(&results);
        println!("### {title}\n\n{table}");
        let backlog = if cli.backlog { "-backlog" } else { "" };
        let stem = format!("{workload}-{}{backlog}", cli.size.nodes);
        let table_file = cli.out.join(format!("{stem}.md"));
        std::fs::write(&table_file, format!("### {title}\n\n{table}"))
            .with_context(|| format!("{}", table_file.display()))?;
        let plot_file = cli.out.join(format!("{stem}.svg"));
        std::fs::write(&plot_file, report::plot(&title, &results))
            .with_context(|| format!("{}", plot_file.display()))?;
    }
    Ok(())
}
