//! `--write`: puts one run's results into `BENCHMARKS.md` (the whole table, the goals),
//! `README.md` (the summary table) and `bench/chart.svg` (the chart of the span
//! workloads), each between its markers, so that the published figures all come from
//! the same run.

use std::fmt::Write as _;
use std::path::Path;

use crate::report::{fmt_num, fmt_share, Report, Row};

/// The rows of the summary (README) and the chart: workload, label, in this order.
const SUMMARY: &[(&str, &str)] = &[
    (
        "W1 burst",
        "W1 span + 3 attributes, burst of 1000 then drain (ns/span)",
    ),
    (
        "W1 sustained",
        "W1 sustained: one continuous loop, exporting alongside (ns/span)",
    ),
    ("W2 burst", "W2 root + 10 children, burst (ns/span)"),
    ("W2 sustained", "W2 sustained (ns/span)"),
    ("W3 burst", "W3 unsampled, burst (ns/span)"),
    ("W3b burst", "W3b tracing disabled, burst (ns/span)"),
    (
        "W4",
        "W4 extract + inject `traceparent`, user-facing APIs, each library's lightest carrier (ns)",
    ),
    (
        "W4 HashMap",
        "W4 the same through `HashMap<String, String>` on every side (ns)",
    ),
    (
        "W4 HeaderMap",
        "W4 the same through `http::HeaderMap` on every side (ns)",
    ),
    ("W5 protobuf", "W5 OTLP protobuf encoding (ns/span)"),
    ("W5 JSON", "W5 OTLP JSON encoding (ns/span)"),
    (
        "W6 2 threads",
        "W6 two threads, one shared tracer (spans/s)",
    ),
    (
        "W6 unsampled 2 threads",
        "W6 two threads starting unsampled spans (spans/s)",
    ),
    ("W7", "W7 spans/s delivered to a real collector"),
    ("W8", "W8 started on one thread, ended on another (ns/span)"),
    (
        "W9 span burst",
        "W9 a `tracing` span + event, exported, burst (ns/span)",
    ),
    ("W9 span sustained", "W9 sustained (ns/span)"),
];

/// The workloads in the chart (all in ns/span, lower is better).
const CHART: &[&str] = &[
    "W1 burst",
    "W1 sustained",
    "W2 burst",
    "W2 sustained",
    "W3 burst",
    "W8",
    "W9 span burst",
    "W9 span sustained",
];

/// The rows a summary line compares: picotrace's first row, the fastest opentelemetry
/// row (the SDK, or tracing-opentelemetry over it), fastrace's fastest row.
fn pick<'r>(report: &'r Report, workload: &str) -> [Option<&'r Row>; 3] {
    let rows = || report.rows().iter().filter(move |r| r.workload == workload);
    let best = |prefix: &[&str]| {
        rows()
            .filter(|r| prefix.iter().any(|p| r.library.starts_with(p)))
            .min_by(|a, b| {
                let (x, y) = (a.summary.median, b.summary.median);
                match a.better {
                    crate::report::Better::Lower => x.total_cmp(&y),
                    crate::report::Better::Higher => y.total_cmp(&x),
                }
            })
    };
    [
        rows().find(|r| r.library.starts_with("picotrace")),
        best(&["opentelemetry", "tracing-opentelemetry"]),
        best(&["fastrace"]),
    ]
}

/// The README's summary table.
pub fn summary_markdown(report: &Report) -> String {
    let mut out = String::from(
        "| workload (regime) | picotrace | opentelemetry-rust (fastest configuration) | fastrace |\n\
         | --- | ---: | ---: | ---: |\n",
    );
    for (workload, label) in SUMMARY {
        let [pico, otel, fast] = pick(report, workload);
        let Some(pico) = pico else { continue };
        let cell = |r: Option<&Row>| match r {
            None => "—".to_string(),
            Some(r) => {
                // The ratio in CPU of every thread too (burst rows: drains included).
                let mut cpu = report
                    .cpu_ratio(r)
                    .map_or(String::new(), |c| format!("; CPU {c:.1}x"));
                // A peer that lost spans says so beside its figure (found by review:
                // fastrace's sustained rows were compared without it).
                if let Some(share) = r.reached.filter(|&share| share < 1.0) {
                    cpu.push_str(&format!("; {} reached the sink", fmt_share(share)));
                }
                match report.ratio(r) {
                    Some(x) if x >= 1.0 => {
                        format!("{} ({:.1}x{cpu})", fmt_num(r.summary.median), x)
                    }
                    Some(x) => format!(
                        "{} ({:.2}x: {:.1}x faster than picotrace{cpu})",
                        fmt_num(r.summary.median),
                        x,
                        1.0 / x
                    ),
                    None => fmt_num(r.summary.median),
                }
            }
        };
        let lost = pico
            .reached
            .filter(|&share| share < 1.0)
            .map_or(String::new(), |share| {
                format!(" ({} reached the sink)", fmt_share(share))
            });
        let _ = writeln!(
            out,
            "| {label} | **{}**{lost} | {} | {} |",
            fmt_num(pico.summary.median),
            cell(otel),
            cell(fast)
        );
    }
    out.push_str(
        "\nMedians; in brackets how many times picotrace's figure is better, in wall time of \
         the producing thread, then in CPU time of every thread (export threads included; \
         burst rows: over the bursts and the untimed drains between them), and the share of the spans that reached the sink where some did not. \
         picotrace's column is its first row in BENCHMARKS.md (for W1-W3 and W6-W8 \
         the std adapter's `TracerProvider`).\n",
    );
    out
}

/// A horizontal bar chart (log scale, ns/span) of the span workloads: picotrace, the
/// fastest opentelemetry configuration and fastrace per workload.
pub fn chart_svg(report: &Report, title: &str) -> String {
    const LEFT: f64 = 190.0;
    const WIDTH: f64 = 560.0;
    const BAR: f64 = 11.0;
    const GROUP: f64 = 3.0 * BAR + 12.0;
    const TOP: f64 = 48.0;
    let colours = ["#1b7f3b", "#4a6fa5", "#c77c2a"];
    let names = ["picotrace", "opentelemetry-rust (fastest)", "fastrace"];
    let (lo, hi) = (1.0f64, 10_000.0f64);
    let x = |v: f64| LEFT + WIDTH * (v.clamp(lo, hi).log10() - lo.log10()) / (hi / lo).log10();
    let groups: Vec<_> = CHART
        .iter()
        .filter_map(|w| {
            let rows = pick(report, w);
            rows[0].map(|_| (*w, rows))
        })
        .collect();
    let height = TOP + groups.len() as f64 * GROUP + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">"#,
        w = LEFT + WIDTH + 90.0
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="18" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, name) in names.iter().enumerate() {
        let lx = LEFT + i as f64 * 190.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx}" y="28" width="10" height="10" fill="{}"/><text x="{}" y="37">{name}</text>"#,
            colours[i],
            lx + 14.0
        );
    }
    for decade in [1.0, 10.0, 100.0, 1000.0, 10_000.0] {
        let gx = x(decade);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx}" y1="{TOP}" x2="{gx}" y2="{}" stroke="#ddd"/><text x="{gx}" y="{}" text-anchor="middle">{} ns</text>"##,
            height - 28.0,
            height - 14.0,
            fmt_num(decade)
        );
    }
    for (g, (workload, rows)) in groups.iter().enumerate() {
        let gy = TOP + g as f64 * GROUP;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{workload}</text>"#,
            LEFT - 8.0,
            gy + 1.5 * BAR + 4.0
        );
        for (k, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            let v = row.summary.median;
            let y = gy + k as f64 * BAR;
            let _ = writeln!(
                svg,
                r#"<rect x="{LEFT}" y="{y}" width="{:.1}" height="{}" fill="{}"><title>{}: {} {}</title></rect><text x="{:.1}" y="{}">{}</text>"#,
                (x(v) - LEFT).max(1.0),
                BAR - 2.0,
                colours[k],
                escape(&row.library),
                fmt_num(v),
                row.unit,
                x(v) + 4.0,
                y + BAR - 3.0,
                fmt_num(v)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Replaces what lies between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` in
/// the file at `path` with `content`.
pub fn replace_between(path: &Path, marker: &str, content: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let updated = splice(&text, marker, content)
        .ok_or_else(|| format!("{}: no <!-- {marker}:start/end --> markers", path.display()))?;
    std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
}

fn splice(text: &str, marker: &str, content: &str) -> Option<String> {
    let start = format!("<!-- {marker}:start -->");
    let end = format!("<!-- {marker}:end -->");
    let a = text.find(&start)? + start.len();
    let b = a + text[a..].find(&end)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..a],
        content.trim_end(),
        &text[b..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::Summary;
    use crate::report::Better;

    fn row(workload: &str, library: &str, median: f64) -> Row {
        Row {
            workload: workload.into(),
            library: library.into(),
            summary: Summary {
                median,
                min: median,
                max: median,
            },
            unit: "ns/span",
            better: Better::Lower,
            allocs: None,
            cpu: None,
            reached: None,
            note: String::new(),
        }
    }

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let text = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n";
        assert_eq!(
            splice(text, "x", "new").unwrap(),
            "a\n<!-- x:start -->\nnew\n<!-- x:end -->\nb\n"
        );
        assert!(splice(text, "y", "new").is_none());
    }

    #[test]
    fn summary_compares_picotrace_with_the_fastest_of_each_peer() {
        let mut report = Report::default();
        report.push(row("W1 burst", "picotrace-std (x)", 50.0));
        report.push(row("W1 burst", "picotrace core (y)", 40.0));
        report.push(row("W1 burst", "opentelemetry_sdk (batch)", 300.0));
        report.push(row("W1 burst", "opentelemetry_sdk (simple)", 200.0));
        report.push(row("W1 burst", "fastrace (z)", 25.0));
        let md = summary_markdown(&report);
        let line = md.lines().find(|l| l.contains("W1 span")).unwrap();
        assert!(
            // Found by review: "0.50x: faster" in a column of how many times picotrace
            // is better read as picotrace being faster.
            line.contains("| **50.0** | 200 (4.0x) | 25.0 (0.50x: 2.0x faster than picotrace) |"),
            "{line}"
        );
        let svg = chart_svg(&report, "t");
        assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
    }
}
