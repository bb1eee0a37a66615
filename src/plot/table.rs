//! `summary.md`: the final test accuracies (one table per sweep value combination), for stream
//! runs the lifetime tables (accuracy after tasks 1, 10 and the last, per learner and value of
//! the first sweep axis), and the energies of a run as markdown tables.

use super::lifetime::PanelKey;
use super::read::{FinalAccuracy, GroupKey, Run, Stats, Status};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One accuracy cell: `97.12 ± 0.31 % (n = 2)`, with `diverged k/n` when seeds diverged and
/// `—` when the group has no point.
pub fn accuracy_cell(f: Option<&FinalAccuracy>) -> String {
    let Some(f) = f else {
        return "—".into();
    };
    let mut cell = match f.accuracy {
        Some(s) => format!(
            "{:.2} ± {:.2} % (n = {})",
            100.0 * s.mean,
            100.0 * s.std,
            s.n
        ),
        None => String::new(),
    };
    let mut flag = |what: &str, k: usize| {
        if k > 0 {
            if !cell.is_empty() {
                cell.push_str("; ");
            }
            let _ = write!(cell, "{what} {k}/{}", f.points);
        }
    };
    flag("diverged", f.diverged);
    flag("unfinished", f.other);
    if cell.is_empty() {
        cell.push('—');
    }
    cell
}

fn energy_cell(s: Option<Stats>) -> String {
    match s {
        // A spread below 1e-9 of the mean is rounding noise: written 0.
        Some(s) if s.std <= 1e-9 * s.mean.abs() => format!("{:.3e} ± 0 J (n = {})", s.mean, s.n),
        Some(s) => format!("{:.3e} ± {:.2e} J (n = {})", s.mean, s.std, s.n),
        None => "—".into(),
    }
}

fn header(out: &mut String, run: &Run) {
    out.push_str("| learner |");
    for d in &run.devices {
        let _ = write!(out, " {} |", escape(d));
    }
    out.push_str("\n|---|");
    for _ in &run.devices {
        out.push_str("---|");
    }
    out.push('\n');
}

/// `mean ± s.d.` of `s` (values × `scale`) with `decimals`, and ` (n = k)` when fewer than
/// `seeds` replicates count; `—` when none does.
fn stats_cell(s: Option<Stats>, scale: f64, decimals: usize, seeds: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) => {
            let mut c = format!(
                "{:.decimals$} ± {:.decimals$}",
                scale * s.mean,
                scale * s.std
            );
            if s.n < seeds {
                let _ = write!(c, " (n = {})", s.n);
            }
            c
        }
    }
}

/// Statistics over seeds of the values at `task`.
fn at_task(seeds: Option<&BTreeMap<String, BTreeMap<u32, f64>>>, task: u32) -> Option<Stats> {
    Stats::of(seeds?.values().filter_map(|t| t.get(&task).copied()))
}

/// The lifetime tables of a stream run: one per device (and value combination of the sweep
/// axes after the first), rows learner × value of the first axis, columns the accuracy on the
/// current task after tasks 1, 10 and the last (%), the mean accuracy over all tasks (%), the
/// accuracy on the first task at the end (%), the failed cells at the end (%) and the units
/// replaced by the end. Every number comes from the per-task rows of `metrics.csv`, mean ±
/// sample standard deviation over the seeds that reached that task. A regression stream
/// ([`Run::stream_is_regression`]) has the online squared error in place of the accuracy and no
/// first-task column.
pub fn lifetime_tables(run: &Run) -> String {
    let mut out = String::new();
    let metric = |name: &'static str| run.per_seed_task(move |m| m == name);
    let regression = run.stream_is_regression();
    let (acc, scale, digits, unit, what) = if regression {
        (
            metric("train_loss"),
            1.0,
            3,
            "",
            "Online squared error (mean over the task's examples, each before its step)",
        )
    } else {
        (
            metric("test_accuracy"),
            100.0,
            2,
            " (%)",
            "Accuracy on the current task",
        )
    };
    let first = metric("first_task_accuracy");
    let failed = metric("failed_fraction");
    let replaced = metric("replacements");
    let mut keys: Vec<PanelKey> = run.stream_groups.iter().map(PanelKey::of).collect();
    keys.sort();
    keys.dedup();
    let axis = run.axes.first();
    for key in &keys {
        let groups: Vec<&GroupKey> = run
            .stream_groups
            .iter()
            .filter(|k| PanelKey::of(k) == *key)
            .collect();
        let last = groups
            .iter()
            .filter_map(|k| acc.get(*k))
            .flat_map(|seeds| seeds.values().filter_map(|t| t.keys().next_back().copied()))
            .max()
            .unwrap_or(0);
        let mut tasks: Vec<u32> = [1, 10, last].into_iter().filter(|&t| t <= last).collect();
        tasks.dedup();
        let _ = writeln!(out, "\n## Lifetime on {}\n", escape(&key.title(run)));
        let _ = writeln!(
            out,
            "{what} after tasks {}; mean over the {last} tasks; {}failed cells and units replaced after task {last}. Mean ± standard deviation over seeds; (n = k) when fewer seeds reached the task.\n",
            tasks
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if regression {
                ""
            } else {
                "accuracy on the first task, "
            }
        );
        out.push_str("| learner |");
        if let Some(a) = axis {
            let _ = write!(
                out,
                " {} |",
                escape(a.label.as_deref().unwrap_or(a.short_name()))
            );
        }
        out.push_str(" seeds |");
        for t in &tasks {
            let _ = write!(out, " task {t}{unit} |");
        }
        let _ = write!(out, " mean over tasks{unit} |");
        if !regression {
            out.push_str(" first task at end (%) |");
        }
        out.push_str(" failed cells at end (%) | replaced at end |\n|---|");
        let columns = usize::from(axis.is_some()) + 1 + tasks.len() + 3 + usize::from(!regression);
        out.push_str(&"---|".repeat(columns));
        out.push('\n');
        for k in groups {
            let points: Vec<_> = run
                .points
                .iter()
                .filter(|p| p.learner == k.learner && p.device == k.device && p.sweep == k.sweep)
                .collect();
            let seeds = acc.get(k).map_or(0, |s| s.len()).max(points.len());
            let _ = write!(out, "| {} |", escape(&run.learners[k.learner]));
            if let (Some(a), Some(&v)) = (axis, k.sweep.first()) {
                let _ = write!(out, " {} |", escape(&a.labels[v]));
            }
            let diverged = points
                .iter()
                .filter(|p| p.status == Status::Diverged)
                .count();
            let other = points.iter().filter(|p| p.status == Status::Failed).count();
            let mut flags = Vec::new();
            if diverged > 0 {
                flags.push(format!("{diverged} diverged"));
            }
            if other > 0 {
                flags.push(format!("{other} unfinished"));
            }
            if flags.is_empty() {
                let _ = write!(out, " {seeds} |");
            } else {
                let _ = write!(out, " {seeds} ({}) |", flags.join(", "));
            }
            for &t in &tasks {
                let _ = write!(
                    out,
                    " {} |",
                    stats_cell(at_task(acc.get(k), t), scale, digits, seeds)
                );
            }
            // Mean over tasks: seeds that reached the last task with every accuracy finite.
            let means = acc.get(k).into_iter().flat_map(|s| s.values()).map(|t| {
                let complete =
                    t.keys().next_back() == Some(&last) && t.values().all(|v| v.is_finite());
                if complete {
                    t.values().sum::<f64>() / t.len() as f64
                } else {
                    f64::NAN
                }
            });
            let _ = write!(
                out,
                " {} |",
                stats_cell(Stats::of(means), scale, digits, seeds)
            );
            if !regression {
                let _ = write!(
                    out,
                    " {} |",
                    stats_cell(at_task(first.get(k), last), 100.0, 2, seeds)
                );
            }
            let _ = write!(
                out,
                " {} |",
                stats_cell(at_task(failed.get(k), last), 100.0, 2, seeds)
            );
            let _ = writeln!(
                out,
                " {} |",
                stats_cell(at_task(replaced.get(k), last), 1.0, 1, seeds)
            );
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The whole `summary.md` of a run; `notes` (figures skipped and why) are listed at the end.
pub fn summary_markdown(run: &Run, notes: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", run.experiment);
    let _ = writeln!(
        out,
        "Run `{}` (status: {}); {} points, {} learners × {} devices.",
        run.dir.display(),
        run.status,
        run.points.len(),
        run.learners.len(),
        run.devices.len()
    );
    if !run.axes.is_empty() {
        let axes: Vec<String> = run
            .axes
            .iter()
            .map(|a| format!("`{}` ∈ {{{}}}", a.path, a.labels.join(", ")))
            .collect();
        let _ = writeln!(out, "Sweep: {}.", axes.join(" × "));
    }
    out.push_str(
        "\nCells: mean ± sample standard deviation over seeds, n = seeds that finished; \
         diverged seeds are counted, not averaged.\n",
    );
    if run.is_stream() {
        out.push_str(&lifetime_tables(run));
    }
    let finals = run.final_accuracy();
    let cell = |l: usize, d: usize, sweep: Vec<usize>| {
        accuracy_cell(finals.get(&GroupKey {
            learner: l,
            device: d,
            sweep,
        }))
    };
    // A run of stream points only has its final accuracies in the lifetime tables.
    let axes = if run.points.iter().all(|p| p.stream) && run.is_stream() {
        usize::MAX
    } else {
        run.axes.len()
    };
    match axes {
        usize::MAX => {}
        // learner × device.
        0 => {
            out.push_str("\n## Final test accuracy\n\n");
            header(&mut out, run);
            for (l, name) in run.learners.iter().enumerate() {
                let _ = write!(out, "| {} |", escape(name));
                for d in 0..run.devices.len() {
                    let _ = write!(out, " {} |", cell(l, d, Vec::new()));
                }
                out.push('\n');
            }
        }
        // Per device: learner × sweep value.
        1 => {
            let axis = &run.axes[0];
            for (d, device) in run.devices.iter().enumerate() {
                let _ = writeln!(out, "\n## Final test accuracy on {}\n", escape(device));
                let _ = write!(out, "| learner \\ {} |", escape(axis.short_name()));
                for v in &axis.labels {
                    let _ = write!(out, " {} |", escape(v));
                }
                let _ = writeln!(out, "\n|---|{}", "---|".repeat(axis.labels.len()));
                for (l, name) in run.learners.iter().enumerate() {
                    let _ = write!(out, "| {} |", escape(name));
                    for v in 0..axis.labels.len() {
                        let _ = write!(out, " {} |", cell(l, d, vec![v]));
                    }
                    out.push('\n');
                }
            }
        }
        // Per learner and device: first axis (rows) × second axis (columns).
        _ => {
            let (a, b) = (&run.axes[0], &run.axes[1]);
            for (d, device) in run.devices.iter().enumerate() {
                for (l, name) in run.learners.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "\n## Final test accuracy of {} on {}\n",
                        escape(name),
                        escape(device)
                    );
                    let _ = write!(
                        out,
                        "| {} \\ {} |",
                        escape(a.short_name()),
                        escape(b.short_name())
                    );
                    for v in &b.labels {
                        let _ = write!(out, " {} |", escape(v));
                    }
                    let _ = writeln!(out, "\n|---|{}", "---|".repeat(b.labels.len()));
                    for (i, va) in a.labels.iter().enumerate() {
                        let _ = write!(out, "| {} |", escape(va));
                        for j in 0..b.labels.len() {
                            let mut sweep = vec![i, j];
                            sweep.extend(std::iter::repeat_n(0, run.axes.len() - 2));
                            let _ = write!(out, " {} |", cell(l, d, sweep));
                        }
                        out.push('\n');
                    }
                }
            }
        }
    }
    let energy = run.energy();
    let sweep_note = if run.axes.is_empty() {
        ""
    } else {
        " and sweep values"
    };
    for (title, which) in [
        ("Energy per training sample", 0),
        ("Energy per inference", 1),
    ] {
        let _ = writeln!(
            out,
            "\n## {title}\n\nMean ± standard deviation over seeds{sweep_note}; — when zero or not recorded.\n"
        );
        header(&mut out, run);
        for (l, name) in run.learners.iter().enumerate() {
            let _ = write!(out, "| {} |", escape(name));
            for d in 0..run.devices.len() {
                let s = energy
                    .get(&(l, d))
                    .and_then(|v| if which == 0 { v.0 } else { v.1 });
                let _ = write!(out, " {} |", energy_cell(s));
            }
            out.push('\n');
        }
    }
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}
