//! Figures: what a scenario measured, the targets they are held to, the references they are read
//! against, and how a suite of runs is summarised (median per figure), printed and saved.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{Run, ms};

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// A stable dotted name, e.g. `commands.saturation.per_s`.
    pub key: String,
    /// What it is, for people.
    pub label: String,
    pub unit: Unit,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerSecond,
    Millis,
    MiB,
    Seconds,
    Count,
    Ratio,
}

impl Unit {
    fn suffix(self) -> &'static str {
        match self {
            Unit::PerSecond => "/s",
            Unit::Millis => " ms",
            Unit::MiB => " MiB",
            Unit::Seconds => " s",
            Unit::Count | Unit::Ratio => "",
        }
    }
}

/// The median and the 99th percentile, the latencies every scenario reports.
pub const P50_P99: [(&str, f64); 2] = [("p50", 0.50), ("p99", 0.99)];

impl Figure {
    pub fn new(key: impl Into<String>, label: impl Into<String>, unit: Unit, value: f64) -> Figure {
        Figure {
            key: key.into(),
            label: label.into(),
            unit,
            value,
        }
    }

    /// The `quantiles` (named, as in [`P50_P99`]) of a histogram of microseconds: figures
    /// `{key}.{name}_ms` labelled `{label} {name}`.
    pub fn latencies<'a>(
        key: &'a str,
        label: &'a str,
        histogram: &'a Histogram<u64>,
        quantiles: &'a [(&str, f64)],
    ) -> impl Iterator<Item = Figure> + 'a {
        quantiles.iter().map(move |(name, quantile)| {
            Figure::new(
                format!("{key}.{name}_ms"),
                format!("{label} {name}"),
                Unit::Millis,
                ms(histogram.value_at_quantile(*quantile)),
            )
        })
    }

    /// What a closed-loop run at saturation shows: answers per second, p50 and p99, failures.
    pub fn of_run(key: &str, label: &str, run: &Run) -> Vec<Figure> {
        let per_second = Figure::new(
            format!("{key}.per_s"),
            label,
            Unit::PerSecond,
            run.ok_per_second(),
        );
        let label_colon = format!("{label}:");
        let latencies = Figure::latencies(key, &label_colon, &run.latency, &P50_P99);
        std::iter::once(per_second)
            .chain(latencies)
            .chain([Figure::failed(key, label, run.failed as f64)])
            .collect()
    }

    /// `{key}.failed`: the requests that got no valid answer (a scenario's run is only as good
    /// as this is small).
    pub fn failed(key: &str, label: &str, failed: f64) -> Figure {
        Figure::new(
            format!("{key}.failed"),
            format!("{label}: failed requests"),
            Unit::Count,
            failed,
        )
    }
}

/// A target from the benchmark issue: at least or at most a value.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtLeast(bound) => value >= bound,
            Target::AtMost(bound) => value <= bound,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::AtLeast(bound) => format!("≥ {}", number(bound)),
            Target::AtMost(bound) => format!("≤ {}", number(bound)),
        }
    }
}

/// Figures that have a target (keys as the scenarios emit them).
pub const TARGETS: &[(&str, Target)] = &[
    ("commands.saturation.per_s", Target::AtLeast(3000.0)),
    ("commands.at_1000.p50_ms", Target::AtMost(3.0)),
    ("commands.at_1000.p99_ms", Target::AtMost(10.0)),
    (
        "commands.at_1000.projection_lag_p99_ms",
        Target::AtMost(50.0),
    ),
    ("hot.refusals.per_s", Target::AtLeast(2000.0)),
    ("hot.rounds_not_exact", Target::AtMost(0.0)),
    ("reads.hit.per_s", Target::AtLeast(60_000.0)),
    ("reads.hit_at_30000.p99_ms", Target::AtMost(3.0)),
    ("reads.miss.p99_ms", Target::AtMost(10.0)),
    ("products.search_uncached.p99_ms", Target::AtMost(20.0)),
    ("products.search_cached.p99_ms", Target::AtMost(3.0)),
    ("products.stats_summary.p99_ms", Target::AtMost(50.0)),
    ("replay.events.per_s", Target::AtLeast(100_000.0)),
    ("memory.command-api.peak_mib", Target::AtMost(100.0)),
    ("memory.projector.peak_mib", Target::AtMost(100.0)),
    ("memory.query-api.peak_mib", Target::AtMost(100.0)),
    ("memory.replay.peak_mib", Target::AtMost(100.0)),
];

/// Figures read as a ratio of a reference measured in the same run: (figure, reference, the
/// bound on the ratio if the issue sets one).
pub const RATIOS: &[(&str, &str, Option<Target>)] = &[
    (
        "commands.saturation.per_s",
        "reference.pgbench.tps",
        Some(Target::AtLeast(0.5)),
    ),
    (
        "reads.hit.per_s",
        "reference.http_memory.per_s",
        Some(Target::AtLeast(0.6)),
    ),
    ("reads.hit.per_s", "reference.http_redis.per_s", None),
    ("reads.miss.per_s", "reference.http_redis.per_s", None),
    ("mix.per_s", "reference.http_memory.per_s", None),
    (
        "commands.at_1000.p50_ms",
        "reference.pgbench_at_1000.p50_ms",
        None,
    ),
    (
        "commands.at_1000.p99_ms",
        "reference.pgbench_at_1000.p99_ms",
        None,
    ),
    (
        "reads.hit_at_30000.p99_ms",
        "reference.http_memory_at_30000.p99_ms",
        None,
    ),
    (
        "products.pool_at_1000.p99_ms",
        "products.single_at_1000.p99_ms",
        Some(Target::AtMost(1.5)),
    ),
];

/// Every run's figures, summarised.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub figures: Vec<Summarised>,
    pub ratios: Vec<RatioLine>,
}

#[derive(Debug, Serialize)]
pub struct Summarised {
    pub key: String,
    pub label: String,
    pub unit: Unit,
    pub runs: Vec<f64>,
    pub median: f64,
    pub target: Option<Target>,
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct RatioLine {
    pub figure: String,
    pub reference: String,
    pub ratio: f64,
    pub bound: Option<Target>,
    pub met: Option<bool>,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if !sorted.len().is_multiple_of(2) {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Groups the figures of all runs by key (in first-seen order) and takes medians; with `judge`,
/// holds them to their targets (a quick smoke run is not a measurement, so it is not judged).
pub fn summarise(all: &[Figure], judge: bool) -> Summary {
    let mut order: Vec<&str> = Vec::new();
    let mut grouped: BTreeMap<&str, Vec<&Figure>> = BTreeMap::new();
    for figure in all {
        let list = grouped.entry(&figure.key).or_default();
        if list.is_empty() {
            order.push(&figure.key);
        }
        list.push(figure);
    }
    let figures: Vec<Summarised> = order
        .iter()
        .map(|key| {
            let list = &grouped[key];
            let runs: Vec<f64> = list.iter().map(|f| f.value).collect();
            let median = median(&runs);
            let target = TARGETS
                .iter()
                .find(|(k, _)| judge && k == key)
                .map(|(_, t)| *t);
            Summarised {
                key: (*key).to_owned(),
                label: list[0].label.clone(),
                unit: list[0].unit,
                runs,
                median,
                target,
                met: target.map(|t| t.met(median)),
            }
        })
        .collect();
    let lookup = |key: &str| figures.iter().find(|f| f.key == key).map(|f| f.median);
    let ratios = RATIOS
        .iter()
        .filter_map(|(figure, reference, bound)| {
            let ratio = lookup(figure)? / lookup(reference)?;
            let bound = bound.filter(|_| judge);
            Some(RatioLine {
                figure: (*figure).to_owned(),
                reference: (*reference).to_owned(),
                ratio,
                bound,
                met: bound.map(|bound| bound.met(ratio)),
            })
        })
        .collect();
    Summary { figures, ratios }
}

/// A number for a table: thousands separated, two decimals below 100.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "–".into();
    }
    if value.abs() < 100.0 && value.fract() != 0.0 {
        return format!("{value:.2}");
    }
    let rounded = value.round() as i64;
    let digits = rounded.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if rounded < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// The summary as a Markdown table (it pastes into BENCHMARKS.md as is).
pub fn table(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| figure | median | runs | target | |");
    let _ = writeln!(out, "|---|---:|---|---|---|");
    for f in &summary.figures {
        let runs: Vec<String> = f.runs.iter().map(|v| number(*v)).collect();
        let verdict = match f.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "",
        };
        let _ = writeln!(
            out,
            "| {} (`{}`) | {}{} | {} | {} | {} |",
            f.label,
            f.key,
            number(f.median),
            f.unit.suffix(),
            runs.join(" · "),
            f.target.map(Target::describe).unwrap_or_default(),
            verdict
        );
    }
    if !summary.ratios.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "| ours | reference (same run) | ratio | target | |");
        let _ = writeln!(out, "|---|---|---:|---|---|");
        for r in &summary.ratios {
            let verdict = match r.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {:.2} × | {} | {} |",
                r.figure,
                r.reference,
                r.ratio,
                r.bound
                    .map(|b| format!("{} ×", b.describe()))
                    .unwrap_or_default(),
                verdict
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value_and_of_an_even_count_the_mean_of_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0);
    }

    #[test]
    fn numbers_are_grouped_by_thousands_and_small_ones_keep_two_decimals() {
        assert_eq!(number(1_552.4), "1,552");
        assert_eq!(number(1_000_999.0), "1,000,999");
        assert_eq!(number(2.694), "2.69");
        assert_eq!(number(20.0), "20");
        assert_eq!(number(f64::NAN), "–");
    }

    #[test]
    fn a_summary_takes_medians_checks_targets_and_computes_ratios_to_the_references() {
        let figure = |key: &str, value| Figure::new(key, key, Unit::PerSecond, value);
        let summary = summarise(
            &[
                figure("commands.saturation.per_s", 1_000.0),
                figure("reference.pgbench.tps", 1_600.0),
                figure("commands.saturation.per_s", 1_400.0),
                figure("reference.pgbench.tps", 2_000.0),
                figure("commands.saturation.per_s", 1_200.0),
                figure("reference.pgbench.tps", 1_500.0),
            ],
            true,
        );
        let commands = &summary.figures[0];
        assert_eq!(commands.key, "commands.saturation.per_s");
        assert_eq!(commands.median, 1_200.0);
        assert_eq!(commands.met, Some(false));
        let ratio = &summary.ratios[0];
        assert_eq!(ratio.reference, "reference.pgbench.tps");
        assert!((ratio.ratio - 0.75).abs() < 1e-9);
        assert_eq!(ratio.met, Some(true));
    }

    #[test]
    fn a_summary_that_is_not_judged_has_no_targets() {
        let summary = summarise(
            &[Figure::new("reads.hit.per_s", "x", Unit::PerSecond, 10.0)],
            false,
        );
        assert!(summary.figures[0].target.is_none());
        assert!(summary.figures[0].met.is_none());
    }
}
