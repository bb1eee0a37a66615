//! `mortalsim run` and `mortalsim merge`: argument handling and the progress display.

use super::{input, set_threads, InputError};
use crate::experiment::run::Progress;
use crate::experiment::rundir;
use crate::experiment::{run, Experiment, RunSettings, Shard};
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The experiment file (e.g. experiments/quickstart.toml).
    file: PathBuf,
    /// Run directory [default: runs/NAME, or runs/NAME/shard-K-of-N with --shard].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run every N-th point from the K-th (1-based) [default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT when set, else all].
    #[arg(long)]
    shard: Option<String>,
    /// Recompute points that are already finished, also into a directory that holds another
    /// experiment's run.
    #[arg(long)]
    force: bool,
    /// When another run holds the directory, wait for it to finish instead of refusing.
    #[arg(long)]
    wait: bool,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar and no summary table.
    #[arg(long)]
    quiet: bool,
    /// Print the points (index, id, shard ownership) and exit without running.
    #[arg(long)]
    list: bool,
}

/// Arguments of `merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Run directories of the shards.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// The merged run directory.
    #[arg(long)]
    out: PathBuf,
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// `mortalsim run`.
pub fn run_command(args: RunArgs) -> Result<i32> {
    set_threads(args.threads)?;
    let exp = Experiment::load(&args.file).map_err(|errs| {
        InputError(
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let shard = match &args.shard {
        Some(s) => Shard::parse(s).map_err(input)?,
        None => Shard::from_slurm(|k| std::env::var(k).ok())
            .map_err(input)?
            .unwrap_or(Shard::ALL),
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let base = PathBuf::from("runs").join(&exp.name);
        if shard.count > 1 {
            base.join(format!("shard-{}-of-{}", shard.index, shard.count))
        } else {
            base
        }
    });
    let owned = exp.points.iter().filter(|p| shard.owns(p.index)).count();
    // Unusual (but valid) values: said, never fatal, also with --quiet.
    for w in crate::experiment::plausible::warnings(&exp) {
        eprintln!("warning: {w}");
    }
    if args.list {
        for p in &exp.points {
            let mark = if shard.owns(p.index) {
                ""
            } else {
                "  (other shard)"
            };
            out!("{:>5} {}{mark}", p.index, p.id);
        }
        out!(
            "{} points; shard {shard} runs {owned}; run directory {}",
            exp.points.len(),
            out.display()
        );
        return Ok(0);
    }
    if !args.quiet {
        let assignments = exp
            .resolved
            .sweep
            .iter()
            .find(|a| a.path == crate::experiment::file::LAYER_DEVICES_PATH)
            .map_or(String::new(), |a| {
                format!(" × {} layer assignments", a.values.len())
            });
        eprintln!(
            "{}: {} points ({} learners × {} devices{assignments} × {} sweep values × {} seeds), shard {shard} runs {owned} · {}",
            exp.name,
            exp.points.len(),
            exp.resolved.learners.len(),
            exp.resolved.devices.len(),
            exp.axes.iter().map(|a| a.2.len()).product::<usize>(),
            exp.resolved.seeds.len(),
            out.display()
        );
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        // Draws only on a terminal: under a batch system stderr stays clean (see log.txt).
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} epochs · ETA {eta} · {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    };
    // Lines about points go above the bar on a terminal, and to stderr as they are otherwise.
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    let points_done = AtomicUsize::new(0);
    let points_todo = AtomicUsize::new(0);
    let settings = RunSettings {
        out: out.clone(),
        shard,
        force: args.force,
        command_line: command_line(),
        wait: args.wait,
    };
    let outcome = run(&exp, &settings, &|p| match p {
        Progress::Plan {
            to_run,
            skipped,
            epochs,
        } => {
            bar.set_length(epochs as u64);
            points_todo.store(to_run, Relaxed);
            if skipped > 0 && !args.quiet {
                say(format!(
                    "{skipped} points already finished (skipped; --force recomputes them)"
                ));
            }
            bar.set_message(format!("points 0/{to_run}"));
        }
        Progress::Epoch { point, report } => {
            bar.inc(1);
            bar.set_message(format!(
                "points {}/{} · {} epoch {} {:.2} %",
                points_done.load(Relaxed),
                points_todo.load(Relaxed),
                point.id,
                report.epoch,
                100.0 * report.test_accuracy
            ));
        }
        Progress::Task { point, report } => {
            bar.inc(1);
            bar.set_message(format!(
                "points {}/{} · {} task {} {:.2} % · {:.1} % cells failed",
                points_done.load(Relaxed),
                points_todo.load(Relaxed),
                point.id,
                report.task,
                100.0 * report.accuracy,
                100.0 * report.failed_fraction
            ));
        }
        Progress::Warning { message } => say(format!("warning: {message}")),
        Progress::Finished { point, record } => {
            let n = points_done.fetch_add(1, Relaxed) + 1;
            // A point that stopped early (diverged) leaves its remaining stages undone.
            let done = record.epochs.len().max(record.tasks.len());
            bar.inc(point.stages().saturating_sub(done) as u64);
            if !args.quiet {
                let acc = record
                    .final_accuracy()
                    .map_or("-".to_string(), |a| format!("{:.2} %", 100.0 * a));
                say(format!(
                    "[{n}/{}] {:<48} {:<8} test accuracy {acc}",
                    points_todo.load(Relaxed),
                    record.id,
                    record.status
                ));
            }
        }
    });
    bar.finish_and_clear();
    let outcome = outcome.map_err(|e| match e {
        crate::experiment::run::RunError::Data(d) => InputError(d.to_string()).into(),
        e => anyhow::Error::from(e),
    })?;
    if !args.quiet {
        eprintln!(
            "{} points run, {} skipped, {} diverged, {} failed · {}",
            outcome.ran,
            outcome.skipped,
            outcome.diverged.len(),
            outcome.failed.len(),
            outcome.dir.display()
        );
        for (id, why) in &outcome.failed {
            eprintln!("failed: {id}: {why}");
        }
        if shard.count > 1 {
            eprintln!(
                "shard {shard} done; join the shards with `mortalsim merge {}/shard-* --out {}`",
                PathBuf::from("runs").join(&exp.name).display(),
                PathBuf::from("runs").join(&exp.name).display()
            );
        }
    }
    if shard.count == 1 {
        // The figures and the summary table of the run (a shard's come after `merge`).
        let plots = outcome.dir.join("plots");
        let files = crate::plot::plot_run(&outcome.dir, &plots, &crate::plot::Format::ALL)
            .map_err(anyhow::Error::new)?;
        if !args.quiet {
            eprintln!(
                "{} figures and the summary in {}",
                files.len(),
                plots.display()
            );
            if let Ok(md) = std::fs::read_to_string(plots.join("summary.md")) {
                // The accuracy tables; the energy tables stay in the file.
                let end = md.find("\n## Energy").unwrap_or(md.len());
                out!("{}", md[..end].trim_end());
            }
        }
    }
    Ok(if outcome.failed.is_empty() { 0 } else { 1 })
}

/// `mortalsim merge`.
pub fn merge_command(args: MergeArgs) -> Result<i32> {
    for d in &args.dirs {
        if !d.join("manifest.json").is_file() {
            return Err(input(format!(
                "{}: not a run directory (no manifest.json)",
                d.display()
            )));
        }
    }
    let report = rundir::merge(&args.dirs, &args.out, &command_line())
        .map_err(|e| InputError(e.to_string()))?;
    eprintln!(
        "merged {} points from {} directories into {}",
        report.points,
        args.dirs.len(),
        args.out.display()
    );
    if !report.missing.is_empty() {
        eprintln!("{} points missing:", report.missing.len());
        for id in &report.missing {
            eprintln!("  {id}");
        }
        return Ok(1);
    }
    Ok(0)
}
