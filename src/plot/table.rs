//! `summary.md`: the final test accuracies (one table per sweep value combination) and the
//! energies of a run as markdown tables.

use super::read::{FinalAccuracy, GroupKey, Run, Stats};
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
    let finals = run.final_accuracy();
    let cell = |l: usize, d: usize, sweep: Vec<usize>| {
        accuracy_cell(finals.get(&GroupKey {
            learner: l,
            device: d,
            sweep,
        }))
    };
    match run.axes.len() {
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
