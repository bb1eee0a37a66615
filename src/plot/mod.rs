//! Figures and a summary table of a run directory (`mortalsim plot RUN_DIR`), drawn from its
//! files alone: `manifest.json`, `summary.csv` and `metrics.csv`.
//!
//! [`plot_run`] writes, into the output directory:
//!
//! - `accuracy_vs_epoch`: test accuracy per epoch, mean ± standard deviation over seeds, one
//!   line per learner, one panel per device (one figure per sweep value combination, at most
//!   [`MAX_COMBINATION_FIGURES`]);
//! - `accuracy_vs_<axis>` (runs with sweep axes): final test accuracy against each axis' values;
//! - `accuracy_vs_time` (runs with drift evaluations): test accuracy against the time after
//!   training, with and without global drift compensation;
//! - `energy`: energy per training sample and per inference, by learner and device;
//! - `summary.md`: the final accuracies and energies as markdown tables.
//!
//! Stream runs (continual learning: points that learn a stream of tasks, detected by the
//! `first_task_accuracy` column of `summary.csv` or metric rows so named; see [`lifetime`])
//! get, instead of `accuracy_vs_epoch` for their stream points:
//!
//! - `lifetime`: accuracy on the current task against the task (mean ± s.d. over seeds),
//!   colour per learner, line style per value of the first sweep axis, one panel per device
//!   (and value of the other axes), the failed-cell fraction on a right-hand axis;
//! - `first_task`: accuracy on the first task over the lifetime, same mapping;
//! - `plasticity` (or `plasticity_<device>[_<axis>=<value>…]`, one per panel): dead units,
//!   stable rank, mean |w|, failed cells, replacements and (when recorded) backbone fraction;
//! - in `summary.md`, per device, learner × first-axis value: accuracy after tasks 1, 10 and
//!   the last, mean over tasks, first-task accuracy, failed cells and replacements at the end.
//!
//! Each figure is written in every requested [`Format`]. Learners keep one colour in every
//! figure (Okabe–Ito palette, fixed for the built-in learners). Text is drawn with the DejaVu
//! Sans font embedded in the binary (`assets/fonts/`), so no system font library is needed.
//! Seeds are replicates: statistics are over the points that differ only in their seed.

pub mod deploy;
pub mod figures;
pub mod lifetime;
pub mod read;
pub mod table;

pub use read::{Run, Stats};

use std::path::{Path, PathBuf};

/// At most this many sweep value combinations get their own per-epoch and drift figures; the
/// others are skipped (and `summary.md` says so).
pub const MAX_COMBINATION_FIGURES: usize = 12;

/// Why a run could not be plotted. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// A file of the run directory does not exist.
    #[error("{}: no such file (a run directory holds manifest.json, summary.csv and metrics.csv)", .path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("{}: cannot read: {message}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A file does not follow the run directory format.
    #[error("{}{}: {message}", .path.display(), .line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// An output file could not be written.
    #[error("{}: cannot write: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl PlotError {
    /// Whether the error lies in the user's input (the run directory) rather than in writing
    /// the output.
    pub fn is_input(&self) -> bool {
        !matches!(self, PlotError::Write { .. })
    }
}

/// An output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Scalable vector graphics (text kept as text).
    Svg,
    /// Portable network graphics (rasterised, 1200 px wide or more).
    Png,
}

impl Format {
    /// Both formats.
    pub const ALL: [Format; 2] = [Format::Svg, Format::Png];

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "svg" => Ok(Format::Svg),
            "png" => Ok(Format::Png),
            other => Err(format!("unknown format `{other}`: expected svg or png")),
        }
    }
}

/// Reads the run directory `run_dir` and writes its figures (in each of `formats`) and
/// `summary.md` into `out_dir` (created if needed). Returns the files written, in order.
pub fn plot_run(
    run_dir: &Path,
    out_dir: &Path,
    formats: &[Format],
) -> Result<Vec<PathBuf>, PlotError> {
    let run = Run::read(run_dir)?;
    if run.points.is_empty() {
        return Err(PlotError::Malformed {
            path: run_dir.join("summary.csv"),
            line: None,
            message: "no points (no rows after the header)".into(),
        });
    }
    let mut fmts: Vec<Format> = Vec::new();
    for f in formats {
        if !fmts.contains(f) {
            fmts.push(*f);
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| PlotError::Write {
        path: out_dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let (mut written, notes) = figures::draw_all(&run, out_dir, &fmts)?;
    // Deployment (`[deploy]`): its figure and table.
    if let Some(fig) = deploy::deployment_figure(run_dir, &run.experiment) {
        written.extend(figures::save(&fig, out_dir, &fmts)?);
    }
    if let Ok(md) = std::fs::read_to_string(run_dir.join("deploy.md")) {
        let p = out_dir.join("deploy.md");
        std::fs::write(&p, md).map_err(|e| PlotError::Write {
            path: p.clone(),
            message: e.to_string(),
        })?;
        written.push(p);
    }
    let md_path = out_dir.join("summary.md");
    std::fs::write(&md_path, table::summary_markdown(&run, &notes)).map_err(|e| {
        PlotError::Write {
            path: md_path.clone(),
            message: e.to_string(),
        }
    })?;
    written.push(md_path);
    Ok(written)
}
