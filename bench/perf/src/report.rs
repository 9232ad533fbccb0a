//! Turning runs into figures: scheduler_perf's throughput summary (the
//! average and percentiles of the per-second samples), a side-by-side
//! table with ratios, and a plot of throughput over time.

use crate::contender::Contender;
use crate::run::RunResult;
use std::fmt::Write as _;

/// scheduler_perf's throughput summary, pods/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throughput {
    pub average: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Throughput {
    /// From per-second samples, as scheduler_perf computes it: the mean
    /// and the nearest-rank percentiles of the sorted samples.
    pub fn of(samples: &[f64]) -> Throughput {
        if samples.is_empty() {
            return Throughput {
                average: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
            };
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1]
        };
        Throughput {
            average: samples.iter().sum::<f64>() / samples.len() as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
        }
    }
}

/// A markdown table: one column per contender, and the ratio of ours to
/// kube-scheduler's where both ran (higher is better for throughput, lower
/// for latency and memory).
pub fn table(results: &[RunResult]) -> String {
    let find = |c: Contender| results.iter().find(|r| r.contender == c);
    let mut out = String::from("| |");
    for r in results {
        let _ = write!(out, " {} |", r.contender);
    }
    let both = find(Contender::Ours).zip(find(Contender::KubeScheduler));
    if both.is_some() {
        out.push_str(" ours / kube-scheduler |");
    }
    out.push_str("\n|---|");
    for _ in results {
        out.push_str("---|");
    }
    if both.is_some() {
        out.push_str("---|");
    }
    out.push('\n');

    type Row = (
        &'static str,
        fn(&RunResult) -> Option<f64>,
        fn(f64) -> String,
    );
    let pods_s = |v: f64| format!("{v:.1}");
    let ms = |v: f64| format!("{:.1} ms", v * 1000.0);
    let rows: [Row; 12] = [
        (
            "throughput Average (pods/s)",
            |r| Some(Throughput::of(&r.samples).average),
            pods_s,
        ),
        (
            "throughput Perc50 (pods/s)",
            |r| Some(Throughput::of(&r.samples).p50),
            pods_s,
        ),
        (
            "throughput Perc90 (pods/s)",
            |r| Some(Throughput::of(&r.samples).p90),
            pods_s,
        ),
        (
            "throughput Perc99 (pods/s)",
            |r| Some(Throughput::of(&r.samples).p99),
            pods_s,
        ),
        (
            "to the last bind",
            |r| Some(r.to_last_bind.as_secs_f64()),
            |v| format!("{v:.1} s"),
        ),
        (
            "creating the measured pods",
            |r| Some(r.creating.as_secs_f64()),
            |v| format!("{v:.1} s"),
        ),
        ("attempt p50", |r| r.attempts.as_ref()?.quantile(0.5), ms),
        ("attempt p90", |r| r.attempts.as_ref()?.quantile(0.9), ms),
        ("attempt p99", |r| r.attempts.as_ref()?.quantile(0.99), ms),
        ("algorithm p50", |r| r.algorithm.as_ref()?.quantile(0.5), ms),
        (
            "CPU per measured pod",
            |r| r.cpu_per_pod.map(|d| d.as_secs_f64()),
            ms,
        ),
        (
            "peak RSS",
            |r| r.peak_rss.map(|b| b as f64),
            |v| format!("{:.0} MiB", v / (1 << 20) as f64),
        ),
    ];
    for (name, value, show) in rows {
        let _ = write!(out, "| {name} |");
        for r in results {
            let _ = write!(out, " {} |", value(r).map_or("-".into(), show));
        }
        if let Some((ours, theirs)) = both {
            let ratio = value(ours).zip(value(theirs)).filter(|(_, t)| *t > 0.0);
            let _ = write!(
                out,
                " {} |",
                ratio.map_or("-".into(), |(o, t)| format!("{:.2}x", o / t))
            );
        }
        out.push('\n');
    }
    out
}

/// Throughput over time, one line per contender, as a standalone SVG.
pub fn plot(title: &str, results: &[RunResult]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 360.0;
    const LEFT: f64 = 60.0;
    const BOTTOM: f64 = 40.0;
    const TOP: f64 = 30.0;
    const RIGHT: f64 = 180.0;
    let colors = ["#1f77b4", "#d62728", "#7f7f7f"];
    let seconds = results
        .iter()
        .map(|r| r.samples.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let peak = results
        .iter()
        .flat_map(|r| r.samples.iter().copied())
        .fold(1.0, f64::max);
    let top = nice_ceiling(peak);
    let x = |s: f64| LEFT + s / seconds * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - v / top * (H - BOTTOM - TOP);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"14\">{}</text>\n",
        escape(title)
    );
    for i in 0..=4 {
        let v = top * i as f64 / 4.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    let step = nice_ceiling(seconds / 6.0).max(1.0);
    let mut s = 0.0;
    while s <= seconds {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{s:.0}</text>",
            x(s),
            H - BOTTOM + 16.0
        );
        s += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">seconds since the first measured pod was created</text>\n\
         <text x=\"14\" y=\"{:.1}\" transform=\"rotate(-90 14 {:.1})\" text-anchor=\"middle\">pods bound per second</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 6.0,
        H / 2.0,
        H / 2.0
    );
    for (i, r) in results.iter().enumerate() {
        let color = colors[i % colors.len()];
        let points: Vec<String> = r
            .samples
            .iter()
            .enumerate()
            .map(|(s, v)| format!("{:.1},{:.1}", x(s as f64 + 1.0), y(*v)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{:.1},{:.1} {}\"/>\n\
             <rect x=\"{}\" y=\"{}\" width=\"14\" height=\"3\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{} ({:.0} pods/s avg)</text>",
            x(0.0),
            y(0.0),
            points.join(" "),
            W - RIGHT + 12.0,
            TOP + 20.0 * i as f64,
            W - RIGHT + 30.0,
            TOP + 4.0 + 20.0 * i as f64,
            r.contender,
            Throughput::of(&r.samples).average
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.max(1e-9).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(contender: Contender, samples: Vec<f64>) -> RunResult {
        RunResult {
            contender,
            samples,
            to_last_bind: Duration::from_secs(3),
            creating: Duration::from_secs(2),
            attempts: None,
            algorithm: None,
            peak_rss: (contender != Contender::Ceiling).then_some(64 << 20),
            cpu_per_pod: match contender {
                Contender::Ours => Some(Duration::from_micros(1500)),
                Contender::KubeScheduler => Some(Duration::from_millis(2)),
                Contender::Ceiling => None,
            },
        }
    }

    #[test]
    fn throughput_is_summarised_as_scheduler_perf_does() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let t = Throughput::of(&samples);
        assert_eq!(t.average, 50.5);
        assert_eq!((t.p50, t.p90, t.p99), (50.0, 90.0, 99.0));
        assert_eq!(Throughput::of(&[]).average, 0.0);
    }

    #[test]
    fn the_table_puts_contenders_side_by_side_with_the_ratio() {
        let results = [
            result(Contender::Ours, vec![300.0, 300.0]),
            result(Contender::KubeScheduler, vec![200.0, 200.0]),
            result(Contender::Ceiling, vec![500.0]),
        ];
        let table = table(&results);
        assert!(
            table.contains("| throughput Average (pods/s) | 300.0 | 200.0 | 500.0 | 1.50x |"),
            "{table}"
        );
        assert!(table.contains("| attempt p50 | - | - | - | - |"), "{table}");
        assert!(
            table.contains("| peak RSS | 64 MiB | 64 MiB | - | 1.00x |"),
            "{table}"
        );
        assert!(
            table.contains("| CPU per measured pod | 1.5 ms | 2.0 ms | - | 0.75x |"),
            "{table}"
        );
    }

    #[test]
    fn the_plot_has_a_line_and_a_legend_per_contender() {
        let svg = plot("a <b>", &[result(Contender::Ours, vec![10.0, 30.0])]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("kube-wasm-scheduler (20 pods/s avg)"));
        assert!(svg.contains("a &lt;b&gt;"));
        assert_eq!(nice_ceiling(340.0), 500.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }
}
