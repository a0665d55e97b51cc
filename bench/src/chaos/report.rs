//! The run's table (Markdown, so it can go into RELIABILITY.md as printed) and its verdict.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::api::{Answer, RetryCounts};
use super::faults::{Fault, Injected};
use super::ledger::{Kind, Ledger};
use super::verify::{Failures, Findings};

pub struct Report {
    short: bool,
    seed: u64,
    own_postgres: bool,
    injected: Vec<Injected>,
    acked: BTreeMap<&'static str, usize>,
    refused: BTreeMap<String, usize>,
    replays: u64,
    replay_mismatches: Failures,
    own_reads: u64,
    own_read_violations: Failures,
    reads: u64,
    read_hits: u64,
    connection_errors: u64,
    unavailable: u64,
    in_flight: u64,
    unexpected: BTreeMap<u16, u64>,
    findings: Findings,
    forged: u64,
    load_seconds: f64,
    total_seconds: f64,
}

impl Report {
    #[expect(clippy::too_many_arguments, reason = "one call, at the end of the run")]
    pub fn new(
        short: bool,
        seed: u64,
        own_postgres: bool,
        injected: Vec<Injected>,
        ledger: &Ledger,
        retries: &RetryCounts,
        findings: Findings,
        forged: u64,
        load_seconds: f64,
        total_seconds: f64,
    ) -> Report {
        let mut acked = BTreeMap::new();
        let mut refused = BTreeMap::new();
        for command in &ledger.commands {
            match command.answer {
                Answer::Acked { .. } => *acked.entry(command.kind.label()).or_default() += 1,
                Answer::Refused { ref code, .. } => *refused.entry(code.clone()).or_default() += 1,
                Answer::GaveUp { .. } => {}
            }
        }
        let failures = |cases: &[String]| Failures {
            count: cases.len(),
            examples: cases.iter().take(20).cloned().collect(),
        };
        Report {
            short,
            seed,
            own_postgres,
            injected,
            acked,
            refused,
            replays: ledger.replays,
            replay_mismatches: failures(&ledger.replay_mismatches),
            own_reads: ledger.own_reads,
            own_read_violations: failures(&ledger.own_read_violations),
            reads: ledger.reads,
            read_hits: ledger.read_hits,
            connection_errors: retries.connection_errors.load(Ordering::Relaxed),
            unavailable: retries.unavailable.load(Ordering::Relaxed),
            in_flight: retries.in_flight.load(Ordering::Relaxed),
            unexpected: retries
                .unexpected
                .lock()
                .map(|u| u.clone())
                .unwrap_or_default(),
            findings,
            forged,
            load_seconds,
            total_seconds,
        }
    }

    fn failpoint_aborts(&self) -> usize {
        self.injected
            .iter()
            .filter(|i| i.fault == Fault::ProjectorFailpoint && i.problem.is_none())
            .count()
    }

    /// Services that died without being killed, or did not come back.
    fn fault_problems(&self) -> Vec<String> {
        self.injected
            .iter()
            .filter_map(|i| {
                i.problem
                    .as_ref()
                    .map(|p| format!("{:.1} s {:?}: {p}", i.at, i.fault))
            })
            .collect()
    }

    /// Every failure, named; empty when the engine passed.
    pub fn failures(&self) -> Vec<String> {
        let f = &self.findings;
        let mut failures = Vec::new();
        let mut check = |name: &str, count: usize| {
            if count > 0 {
                failures.push(format!("{name}: {count}"));
            }
        };
        check("acknowledged commands lost", f.lost.count);
        check("commands applied twice", f.duplicated.count);
        check("refused commands applied", f.phantom.count);
        check("commands without a settling answer", f.unsettled.count);
        check(
            "idempotent replays answered differently",
            self.replay_mismatches.count,
        );
        check(
            "query-api answers differing from the store",
            f.query_mismatches.count,
        );
        check("events missing from JetStream", f.stream_missing.count);
        check("events twice in JetStream", f.stream_duplicated.count);
        check("unknown messages in JetStream", f.stream_foreign.count);
        check(
            "JetStream messages out of order",
            f.stream_out_of_order.count,
        );
        check(
            "double-booked units in the guard",
            f.double_booked_guard as usize,
        );
        check(
            "double-booked units in read.busy",
            f.double_booked_read as usize,
        );
        check("units past capacity", f.beyond_capacity as usize);
        check(
            "guard rows differing from read.busy",
            f.guard_read_differences as usize,
        );
        check("drift (replay --verify)", f.drift.unwrap_or(1));
        check("stale cached answers", f.cache.mismatches.count);
        check(
            "own writes not seen with min_position",
            self.own_read_violations.count,
        );
        check(
            "fault injections that went wrong",
            self.fault_problems().len(),
        );
        if self.failpoint_aborts() == 0 {
            failures.push("the projector never died at the failpoint".to_owned());
        }
        failures
    }

    /// The examples behind each failure, and the replay's own report when it drifted.
    pub fn details(&self) -> Vec<String> {
        let f = &self.findings;
        let mut lines = Vec::new();
        let lists: Vec<(&str, &Failures)> = vec![
            ("lost", &f.lost),
            ("duplicated", &f.duplicated),
            ("refused but applied", &f.phantom),
            ("unsettled", &f.unsettled),
            ("idempotent replay", &self.replay_mismatches),
            ("query side", &f.query_mismatches),
            ("JetStream missing", &f.stream_missing),
            ("JetStream duplicated", &f.stream_duplicated),
            ("JetStream unknown", &f.stream_foreign),
            ("JetStream order", &f.stream_out_of_order),
            ("stale cache", &f.cache.mismatches),
            ("read-your-writes", &self.own_read_violations),
        ];
        for (name, list) in lists {
            for example in &list.examples {
                lines.push(format!("{name}: {example}"));
            }
        }
        for problem in self.fault_problems() {
            lines.push(format!("fault: {problem}"));
        }
        if f.drift != Some(0) {
            lines.push(format!("replay --verify said:\n{}", f.replay_output));
        }
        lines
    }

    /// The faults in the order they came, with what each did and how long recovery took.
    pub fn timeline(&self) -> String {
        let mut out = String::from(
            "| at (s) | fault | detail | ready again (s) | problem |\n|---:|---|---|---:|---|\n",
        );
        for i in &self.injected {
            let _ = writeln!(
                out,
                "| {:.1} | {} | {} | {} | {} |",
                i.at,
                i.fault.label(self.own_postgres),
                i.detail,
                i.recovered_in
                    .map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64())),
                i.problem.as_deref().unwrap_or("")
            );
        }
        out
    }

    pub fn table(&self) -> String {
        let f = &self.findings;
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut row = |what: &str, value: String| rows.push((what.to_owned(), value));
        row(
            "**faults injected**",
            format!(
                "**{}** in {:.0} s of load",
                self.injected.len(),
                self.load_seconds
            ),
        );
        for fault in Fault::ALL.into_iter().chain([Fault::Storm]) {
            let of_kind: Vec<&Injected> =
                self.injected.iter().filter(|i| i.fault == fault).collect();
            if fault == Fault::Storm && of_kind.is_empty() {
                continue;
            }
            let mut value = of_kind.len().to_string();
            if fault == Fault::Forge {
                value = format!("{value} ({} messages)", self.forged);
            }
            if fault == Fault::ProjectorFailpoint {
                value = format!("{value} ({} aborted there)", self.failpoint_aborts());
            }
            if let Some(slowest) = of_kind.iter().filter_map(|i| i.recovered_in).max() {
                value = format!(
                    "{value}, all ready again within {:.1} s",
                    slowest.as_secs_f64()
                );
            }
            row(&format!("  {}", fault.label(self.own_postgres)), value);
        }
        let acked: usize = self.acked.values().sum();
        row("**commands acknowledged**", format!("**{acked}**"));
        for kind in [
            Kind::CreateResource,
            Kind::Place { hold: false },
            Kind::Place { hold: true },
            Kind::Confirm,
            Kind::Approve,
            Kind::Decline,
            Kind::Cancel,
        ] {
            let label = kind.label();
            row(
                &format!("  {label}"),
                self.acked.get(label).copied().unwrap_or(0).to_string(),
            );
        }
        row(
            "commands refused, by code",
            format!(
                "{} ({})",
                self.refused.values().sum::<usize>(),
                self.refused
                    .iter()
                    .map(|(code, n)| format!("{code} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        row(
            "retries (connection errors / 5xx and 429 / key in flight)",
            format!(
                "{} / {} / {}",
                self.connection_errors, self.unavailable, self.in_flight
            ),
        );
        if !self.unexpected.is_empty() {
            row(
                "  answers outside the contract, by status (retried)",
                format!("{:?}", self.unexpected),
            );
        }
        row("events in the store", f.events.to_string());
        row(
            "**lost** (acknowledged, not in the store)",
            format!("**{}**", f.lost.count),
        );
        row(
            "**duplicated** (a command applied twice)",
            format!("**{}**", f.duplicated.count),
        );
        row("refused but applied", f.phantom.count.to_string());
        row(
            "commands without a settling answer",
            f.unsettled.count.to_string(),
        );
        row(
            "idempotent replays answered differently",
            format!("{} of {}", self.replay_mismatches.count, self.replays),
        );
        row(
            "bookings as query-api answers them ≠ store",
            format!("{} of {}", f.query_mismatches.count, f.bookings_read),
        );
        row(
            "JetStream: missing / twice / unknown / out of order",
            format!(
                "{} / {} / {} / {} ({} messages, {} forged set aside)",
                f.stream_missing.count,
                f.stream_duplicated.count,
                f.stream_foreign.count,
                f.stream_out_of_order.count,
                f.stream_messages,
                f.forged_found
            ),
        );
        row(
            "**double-booked** units: guard / read.busy / past capacity",
            format!(
                "**{} / {} / {}**",
                f.double_booked_guard, f.double_booked_read, f.beyond_capacity
            ),
        );
        row(
            "guard rows ≠ read.busy rows",
            f.guard_read_differences.to_string(),
        );
        row(
            "**drift** (projector replay --verify)",
            format!(
                "**{}**",
                f.drift.map_or("did not run".to_owned(), |d| d.to_string())
            ),
        );
        row(
            "**cache mismatches** (cached vs fresh availability)",
            format!(
                "**{}** of {} compared ({} survivor hits, {} Redis hits)",
                f.cache.mismatches.count, f.cache.compared, f.cache.hits, f.cache.redis_hits
            ),
        );
        row(
            "own writes not seen with min_position",
            format!("{} of {}", self.own_read_violations.count, self.own_reads),
        );
        row(
            "availability reads during the run (cache hits)",
            format!("{} ({})", self.reads, self.read_hits),
        );
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chaos {} run at {}, seed {}, Postgres: {}, {:.0} s in all\n",
            if self.short { "--short" } else { "full" },
            crate::commit().unwrap_or_else(|| "an unknown commit".to_owned()),
            self.seed,
            if self.own_postgres {
                "own cluster"
            } else {
                "database on the shared server"
            },
            self.total_seconds
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        for (what, value) in rows {
            let _ = writeln!(out, "| {what} | {value} |");
        }
        out
    }
}
