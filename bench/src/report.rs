//! The side-by-side table: one row per (workload, library), picotrace first in each
//! group, and picotrace's ratio against every peer row.

use crate::harness::Summary;

/// Whether a smaller or a larger figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Times (ns/span).
    Lower,
    /// Rates (spans/s, MB/s).
    Higher,
}

/// One measured row.
#[derive(Clone, Debug)]
pub struct Row {
    /// Workload id, e.g. `W1`.
    pub workload: String,
    /// Library and its configuration, e.g. `opentelemetry_sdk (simple)`.
    pub library: String,
    /// The figure over repetitions.
    pub summary: Summary,
    /// Unit of the figure.
    pub unit: &'static str,
    /// Which way is better.
    pub better: Better,
    /// Heap allocations per span (or per operation), when counted.
    pub allocs: Option<f64>,
    /// CPU time of every thread of the process per span (background export threads and
    /// the drains included), in ns: sustained rows, and burst rows of workloads that
    /// export spans.
    pub cpu: Option<f64>,
    /// Sustained regime: the share of produced spans that reached the sink.
    pub reached: Option<f64>,
    /// Anything else worth saying in the row (scaling, drops, bytes).
    pub note: String,
}

impl Row {
    /// Whether the row is compared with picotrace's: not a floor that exports nothing
    /// (tracing's registry alone), nor a throughput of outputs of different sizes (W5's
    /// MB/s: picotrace's requests are smaller; found by review, the ratio read as one
    /// of efficiency).
    fn compared(&self) -> bool {
        !self.library.contains("Registry alone") && self.unit != "MB/s"
    }
}

/// A share of spans as a percentage, rounded down where any were lost (found by
/// review: 99.96 % printed as 100.0 %).
pub fn fmt_share(share: f64) -> String {
    // In tenths of a percent, rounded down; the small nudge keeps a share that is
    // exactly a tenth (0.29) from printing a tenth less through the float's error.
    let mut tenths = (share * 1000.0 + 1e-6).floor();
    if share < 1.0 {
        tenths = tenths.min(999.0);
    }
    format!("{:.1} %", tenths / 10.0)
}

/// Rows in print order.
#[derive(Default, Debug)]
pub struct Report {
    rows: Vec<Row>,
    /// A peer's row compared with a picotrace row other than its workload's first: the
    /// one with the same configuration (`(peer label, picotrace label)`).
    pairs: Vec<(String, String)>,
}

impl Report {
    /// Adds a row; `picotrace` rows must come first in their workload group.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  {:<6} {:<44} {:>12} {}",
            row.workload,
            row.library,
            fmt_num(row.summary.median),
            row.unit
        );
        self.rows.push(row);
    }

    /// Returns the rows.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Compares the peer rows labelled `peer` with the picotrace rows labelled `pico`
    /// of the same workload (like with like: W9's tracing-opentelemetry at its defaults
    /// against picotrace's layer with the same attributes; found by review, every W9
    /// ratio was taken against picotrace's fields-only row).
    pub fn pair(&mut self, peer: &str, pico: &str) {
        self.pairs.push((peer.to_owned(), pico.to_owned()));
    }

    /// Returns the picotrace row `row` is compared with: the paired one, else the
    /// workload group's first.
    fn baseline(&self, row: &Row) -> Option<&Row> {
        let paired = self
            .pairs
            .iter()
            .find(|(peer, _)| *peer == row.library)
            .map(|(_, pico)| pico.as_str());
        self.rows.iter().find(|r| {
            r.workload == row.workload
                && r.library.starts_with("picotrace")
                && paired.is_none_or(|pico| r.library == pico)
        })
    }

    /// Returns picotrace's advantage over `row`: > 1 means picotrace is better by that
    /// factor.
    pub fn ratio(&self, row: &Row) -> Option<f64> {
        let base = self.baseline(row)?;
        if std::ptr::eq(base, row) || row.library.starts_with("picotrace") || !row.compared() {
            return None;
        }
        Some(match row.better {
            Better::Lower => row.summary.median / base.summary.median,
            Better::Higher => base.summary.median / row.summary.median,
        })
    }

    /// picotrace's advantage over `row` in CPU time of every thread per span (background
    /// export threads included; in the burst regime the drains too), where both have
    /// it: the wall-time ratio leaves out work done off the producing thread.
    pub fn cpu_ratio(&self, row: &Row) -> Option<f64> {
        let base = self.baseline(row)?;
        if std::ptr::eq(base, row) || row.library.starts_with("picotrace") || !row.compared() {
            return None;
        }
        Some(row.cpu? / base.cpu?)
    }

    /// Renders the table as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| workload | library (configuration) | median | min | max | unit | allocations per span (W4: per round trip) | CPU ns/span, all threads | reached the sink | picotrace vs this | notes |\n",
        );
        out.push_str(
            "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |\n",
        );
        for row in &self.rows {
            let mut ratio = match self.ratio(row) {
                Some(r) if r >= 1.0 => format!("**{}x** better", fmt_ratio(r)),
                Some(r) => format!("{}x (worse)", fmt_ratio(r)),
                None => "—".to_string(),
            };
            if let Some(r) = self.cpu_ratio(row) {
                ratio.push_str(&format!("; CPU {}x", fmt_ratio(r)));
            }
            let allocs = row.allocs.map_or("—".to_string(), |a| {
                if a == 0.0 {
                    "0".to_string()
                } else {
                    format!("{a:.2}")
                }
            });
            let cpu = row.cpu.map_or("—".to_string(), fmt_num);
            let reached = row.reached.map_or("—".to_string(), fmt_share);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                row.workload,
                row.library,
                fmt_num(row.summary.median),
                fmt_num(row.summary.min),
                fmt_num(row.summary.max),
                row.unit,
                allocs,
                cpu,
                reached,
                ratio,
                row.note
            ));
        }
        out
    }
}

/// Formats a figure with 3 significant digits and thousands separators for big ones.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    if x >= 10_000.0 {
        let s = format!("{:.0}", x);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Formats a ratio: whole above 10, one decimal below.
pub fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_share;

    #[test]
    fn shares_round_down_where_spans_were_lost() {
        assert_eq!(fmt_share(1.0), "100.0 %");
        assert_eq!(fmt_share(0.9996), "99.9 %");
        assert_eq!(fmt_share(0.29), "29.0 %");
        assert_eq!(fmt_share(0.2049), "20.4 %");
        assert_eq!(fmt_share(0.0), "0.0 %");
    }
}
