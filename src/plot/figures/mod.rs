//! The figures of a run: built first as plain data ([`Figure`]: panels, axes, lines, bands,
//! bars), then drawn by one generic routine on the SVG and PNG backends.

mod accuracy_vs_axis;
mod accuracy_vs_epoch;
mod accuracy_vs_time;
mod chart;
mod energy;

pub use accuracy_vs_axis::{accuracy_vs_axis, axis_file_name};
pub use accuracy_vs_epoch::accuracy_vs_epoch;
pub use accuracy_vs_time::accuracy_vs_time;
pub use chart::*;
pub use energy::energy;

use super::read::{GroupKey, Run, Stats};
use super::{Format, PlotError, MAX_COMBINATION_FIGURES};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// The figures

/// The `_axis=value` file-name suffix of a sweep value combination.
fn combination_suffix(run: &Run, combination: &[usize]) -> String {
    run.axes
        .iter()
        .zip(combination)
        .map(|(a, &i)| {
            format!(
                "_{}",
                sanitize(&format!("{}={}", a.short_name(), a.labels[i]))
            )
        })
        .collect()
}

fn with_combination(run: &Run, title: String, combination: &[usize]) -> String {
    let d = run.describe(combination);
    if d.is_empty() {
        title
    } else {
        format!("{title} ({})", d.join(", "))
    }
}

pub(crate) fn count_note(ns: impl IntoIterator<Item = usize>) -> String {
    let ns: Vec<usize> = ns.into_iter().collect();
    let (lo, hi) = (
        ns.iter().copied().min().unwrap_or(0),
        ns.iter().copied().max().unwrap_or(0),
    );
    if lo == hi {
        format!("n = {lo}")
    } else {
        format!("n = {lo}–{hi}")
    }
}

pub(crate) fn learner_legend(
    run: &Run,
    colours: &[RGBColor],
    learners: &[usize],
    sample: Sample,
) -> Vec<LegendEntry> {
    learners
        .iter()
        .map(|&l| LegendEntry {
            label: run.learners[l].clone(),
            colour: colours[l],
            sample,
        })
        .collect()
}

pub(crate) fn sorted_unique(v: impl IntoIterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = v.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// Every figure of a run, in order, and notes for the summary (figures skipped and why).
pub fn all_figures(run: &Run) -> (Vec<Figure>, Vec<String>) {
    let colours = learner_colours(&run.learners);
    let mut figs = Vec::new();
    let mut notes = Vec::new();
    let combos = run.combinations();
    let limit = MAX_COMBINATION_FIGURES;
    let streams_only = run.is_stream() && run.points.iter().all(|p| p.stream);
    if combos.len() > limit && !streams_only {
        notes.push(format!(
            "accuracy_vs_epoch and accuracy_vs_time are drawn for the first {limit} of {} sweep value combinations only.",
            combos.len()
        ));
    }
    figs.extend(
        combos
            .iter()
            .take(limit)
            .filter_map(|c| accuracy_vs_epoch(run, c, &colours)),
    );
    if run.is_stream() {
        let (stream_figs, stream_notes) = super::lifetime::stream_figures(run, &colours);
        figs.extend(stream_figs);
        notes.extend(stream_notes);
    }
    figs.extend((0..run.axes.len()).filter_map(|a| accuracy_vs_axis(run, a, &colours)));
    figs.extend(
        combos
            .iter()
            .take(limit)
            .filter_map(|c| accuracy_vs_time(run, c, &colours)),
    );
    match energy(run, &colours) {
        Some(f) => figs.push(f),
        None => notes.push("No energy figure: no point recorded a positive energy.".into()),
    }
    (figs, notes)
}

/// Writes `fig` into `out_dir` in each format; returns the files written.
pub fn save(fig: &Figure, out_dir: &Path, formats: &[Format]) -> Result<Vec<PathBuf>, PlotError> {
    register_fonts().map_err(|message| PlotError::Write {
        path: out_dir.to_path_buf(),
        message,
    })?;
    let size = fig.size();
    let mut written = Vec::new();
    for &f in formats {
        let path = out_dir.join(format!("{}.{}", fig.name, f.extension()));
        let result = match f {
            Format::Svg => {
                let root = SVGBackend::new(&path, size).into_drawing_area();
                fig.draw(&root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
            Format::Png => {
                let root = BitMapBackend::new(&path, size).into_drawing_area();
                fig.draw(&root)
                    .and_then(|_| root.present().map_err(|e| e.to_string()))
            }
        };
        result.map_err(|message| PlotError::Write {
            path: path.clone(),
            message,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Draws every figure of `run` into `out_dir`; returns the files written and notes for the
/// summary.
pub fn draw_all(
    run: &Run,
    out_dir: &Path,
    formats: &[Format],
) -> Result<(Vec<PathBuf>, Vec<String>), PlotError> {
    register_fonts().map_err(|message| PlotError::Write {
        path: out_dir.to_path_buf(),
        message,
    })?;
    let (figs, notes) = all_figures(run);
    let mut written = Vec::new();
    for f in &figs {
        written.extend(save(f, out_dir, formats)?);
    }
    Ok((written, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fonts_load() {
        register_fonts().unwrap();
        assert!(text_width("accuracy", 20, false) > 40);
    }

    #[test]
    fn nice_ticks_are_round() {
        let (t, step) = nice_ticks(0.0, 100.0, 6, 0.0);
        assert_eq!(step, 20.0);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let (t, _) = nice_ticks(0.5, 1.5, 8, 1.0);
        assert_eq!(t, vec![1.0]);
    }

    #[test]
    fn powers_read_well() {
        assert_eq!(fmt_power(1, -9, false), "10⁻⁹");
        assert_eq!(fmt_power(5, -9, false), "5·10⁻⁹");
        assert_eq!(fmt_power(1, -2, true), "0.01");
        assert_eq!(fmt_power(5, 3, true), "5000");
    }

    #[test]
    fn built_in_learners_keep_their_colour() {
        let a = learner_colours(&["fa".into(), "bp-digital".into()]);
        let b = learner_colours(&["sg".into(), "mine".into(), "fa".into()]);
        assert_eq!(a[0], b[2]);
        assert_ne!(b[1], b[0]);
        assert_ne!(b[1], b[2]);
    }
}
