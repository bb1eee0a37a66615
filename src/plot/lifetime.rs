//! The figures of stream runs (continual learning on an ageing chip): points that learn a
//! stream of tasks, with one `metrics.csv` row per task (`epoch` = the 1-based task, `time_s` =
//! the chip's age).
//!
//! Every figure maps a group the same way: colour = learner, line style = value of the first
//! sweep axis (solid, dashed, dotted), one panel per device and value combination of the other
//! sweep axes ([`PanelKey`]).

use super::figures::{
    accuracy_axis, count_axis, count_note, has_spread, layout, linear_axis, padded, sanitize,
    sorted_unique, AxisSpec, Figure, Item, LegendEntry, Marker, Panel, Sample, Secondary, Stroke,
};
use super::read::{is_layer_metric, GroupKey, Run, Stats};
use super::MAX_COMBINATION_FIGURES;
use plotters::style::RGBColor;
use std::collections::BTreeMap;

/// Per-task statistics over seeds, per group.
type Curves = BTreeMap<GroupKey, Vec<(u32, Stats)>>;

/// Grey of the failed-cell curve and its axis.
const FAILED_GREY: RGBColor = RGBColor(120, 120, 120);
/// Grey of the line-style legend samples.
const STYLE_GREY: RGBColor = RGBColor(70, 70, 70);

/// The panel a stream group is drawn in: its device and its values of the sweep axes after
/// the first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PanelKey {
    /// Index into [`Run::devices`].
    pub device: usize,
    /// Indices into the values of axes 2, 3, … (empty with fewer than two axes).
    pub rest: Vec<usize>,
}

impl PanelKey {
    /// The panel of group `k`.
    pub fn of(k: &GroupKey) -> PanelKey {
        PanelKey {
            device: k.device,
            rest: k.sweep.iter().skip(1).copied().collect(),
        }
    }

    /// `device · axis = value …`, for a panel title.
    pub fn title(&self, run: &Run) -> String {
        let mut t = run.devices[self.device].clone();
        for (a, &v) in run.axes.iter().skip(1).zip(&self.rest) {
            t.push_str(&format!(" · {} = {}", axis_name(run, a), a.labels[v]));
        }
        t
    }

    /// `_device_axis=value…`, for a file name.
    fn suffix(&self, run: &Run) -> String {
        let mut t = format!("_{}", sanitize(&run.devices[self.device]));
        for (a, &v) in run.axes.iter().skip(1).zip(&self.rest) {
            t.push_str(&format!(
                "_{}",
                sanitize(&format!("{}={}", a.short_name(), a.labels[v]))
            ));
        }
        t
    }
}

/// The name of sweep axis `a` in legends and titles: the manifest's label, else the last
/// segment of its path.
fn axis_name<'a>(_run: &Run, a: &'a super::read::SweepAxis) -> &'a str {
    a.label.as_deref().unwrap_or_else(|| a.short_name())
}

/// `replacement_rate = 0.0001`: the legend label of value `v` of the first sweep axis.
pub fn style_label(run: &Run, v: usize) -> Option<String> {
    let a = run.axes.first()?;
    Some(format!("{} = {}", axis_name(run, a), a.labels.get(v)?))
}

/// The line style of a group: from its value of the first sweep axis (solid, dashed, dotted,
/// then the same with square markers).
pub fn style_of(k: &GroupKey) -> (Stroke, Marker) {
    let v = k.sweep.first().copied().unwrap_or(0);
    let stroke = Stroke::ALL[v % Stroke::ALL.len()];
    let marker = if v >= Stroke::ALL.len() {
        Marker::Square
    } else {
        Marker::None
    };
    (stroke, marker)
}

/// The panels of the stream groups, in order; at most [`MAX_COMBINATION_FIGURES`] (a note
/// says when some are left out).
pub fn panel_keys(run: &Run, notes: &mut Vec<String>) -> Vec<PanelKey> {
    let mut keys: Vec<PanelKey> = run.stream_groups.iter().map(PanelKey::of).collect();
    keys.sort();
    keys.dedup();
    if keys.len() > MAX_COMBINATION_FIGURES {
        notes.push(format!(
            "Stream figures drawn for the first {MAX_COMBINATION_FIGURES} of {} device and sweep value combinations only.",
            keys.len()
        ));
        keys.truncate(MAX_COMBINATION_FIGURES);
    }
    keys
}

/// The task axis over the tasks present.
fn task_axis<'a>(tasks: impl IntoIterator<Item = &'a u32>) -> AxisSpec {
    let (mut lo, mut hi) = (u32::MAX, 0);
    for &t in tasks {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    if lo > hi {
        (lo, hi) = (1, 1);
    }
    count_axis(lo, hi, 0.03, "task")
}

/// Legend: learners by colour, values of the first axis by line style.
fn legend(run: &Run, colours: &[RGBColor], groups: &[&GroupKey]) -> Vec<LegendEntry> {
    let learners = sorted_unique(groups.iter().map(|k| k.learner));
    let mut out: Vec<LegendEntry> = learners
        .iter()
        .map(|&l| LegendEntry {
            label: run.learners[l].clone(),
            colour: colours[l],
            sample: Sample::Patch { alpha: 1.0 },
        })
        .collect();
    let values = sorted_unique(groups.iter().filter_map(|k| k.sweep.first().copied()));
    if !values.is_empty() {
        for &v in &values {
            let probe = GroupKey {
                learner: 0,
                device: 0,
                sweep: vec![v],
            };
            let (stroke, marker) = style_of(&probe);
            if let Some(label) = style_label(run, v) {
                out.push(LegendEntry {
                    label,
                    colour: STYLE_GREY,
                    sample: Sample::Line { stroke, marker },
                });
            }
        }
    }
    out
}

/// One line per group of the panel (mean over seeds), under a ±1 s.d. band when `bands`;
/// values are multiplied by `scale`.
fn curve_items(
    curves: &Curves,
    panel: &PanelKey,
    colours: &[RGBColor],
    scale: f64,
    bands: bool,
) -> Vec<Item> {
    let mine: Vec<(&GroupKey, &Vec<(u32, Stats)>)> = curves
        .iter()
        .filter(|(k, _)| PanelKey::of(k) == *panel)
        .collect();
    let mut items = Vec::new();
    if bands {
        for (k, c) in &mine {
            if c.iter().any(|(_, s)| has_spread(s)) {
                let pt = |t: u32, v: f64| (t as f64, scale * v);
                items.push(Item::Band {
                    colour: colours[k.learner],
                    upper: c.iter().map(|(t, s)| pt(*t, s.mean + s.std)).collect(),
                    lower: c.iter().map(|(t, s)| pt(*t, s.mean - s.std)).collect(),
                });
            }
        }
    }
    for (k, c) in &mine {
        let (stroke, marker) = style_of(k);
        items.push(Item::Line {
            colour: colours[k.learner],
            points: c.iter().map(|(t, s)| (*t as f64, scale * s.mean)).collect(),
            stroke,
            marker: if c.len() == 1 { Marker::Circle } else { marker },
        });
    }
    items
}

/// The mean failed-cell fraction (percent) per task over every point of each panel (all its
/// learners, first-axis values and seeds).
fn failed_per_panel(run: &Run) -> BTreeMap<PanelKey, Vec<(u32, Stats)>> {
    let mut acc: BTreeMap<PanelKey, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    for (k, seeds) in run.per_seed_task(|m| m == "failed_fraction") {
        let by = acc.entry(PanelKey::of(&k)).or_default();
        for tasks in seeds.values() {
            for (&t, &v) in tasks {
                by.entry(t).or_default().push(100.0 * v);
            }
        }
    }
    acc.into_iter()
        .map(|(k, by)| {
            let v = by
                .into_iter()
                .filter_map(|(t, vals)| Stats::of(vals).map(|s| (t, s)))
                .collect();
            (k, v)
        })
        .collect()
}

/// What an accuracy figure against the task shows.
struct AccuracySpec {
    metric: &'static str,
    name: &'static str,
    title: &'static str,
    desc: &'static str,
    /// Whether the failed-cell fraction goes on a right-hand axis.
    failed: bool,
    /// Whether the metric is a fraction drawn in percent (accuracies); otherwise it is drawn
    /// as it is on an axis fitted to it (the online squared error).
    percent: bool,
}

/// Accuracy-like curves against the task: one panel per key of `keys`, bands of ±1 s.d.; with
/// `failed`, the failed-cell fraction of each panel in grey on a right-hand axis.
fn accuracy_figure(
    run: &Run,
    colours: &[RGBColor],
    keys: &[PanelKey],
    spec: AccuracySpec,
) -> Option<Figure> {
    let AccuracySpec {
        metric,
        name,
        title,
        desc,
        failed,
        percent,
    } = spec;
    let scale = if percent { 100.0 } else { 1.0 };
    let curves = run.per_task(|m| m == metric);
    if curves.is_empty() {
        return None;
    }
    let curves: Curves = curves
        .into_iter()
        .filter(|(k, _)| keys.contains(&PanelKey::of(k)))
        .collect();
    let x = task_axis(curves.values().flatten().map(|(t, _)| t));
    let spread = curves
        .values()
        .flatten()
        .flat_map(|(_, s)| [scale * (s.mean - s.std), scale * (s.mean + s.std)]);
    let y = if percent {
        accuracy_axis(spread, desc)
    } else {
        value_axis(spread.collect(), 0.05, f64::INFINITY, desc)
    };
    let failed_curves = if failed {
        failed_per_panel(run)
    } else {
        BTreeMap::new()
    };
    let secondary_axis = {
        let values: Vec<f64> = failed_curves
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .flat_map(|(_, c)| c.iter().map(|(_, s)| s.mean))
            .collect();
        (!values.is_empty()).then(|| {
            let (lo, hi) = padded(values.into_iter().chain([0.0]), 0.1, 1.0, 0.0, 100.0);
            let mut a = linear_axis(lo, hi, 6, 0.0, "failed cells (%)".into());
            a.grid = false;
            a
        })
    };
    let mut panels = Vec::new();
    for key in keys {
        let items = curve_items(&curves, key, colours, scale, true);
        if items.is_empty() {
            continue;
        }
        let secondary = match (&secondary_axis, failed_curves.get(key)) {
            (Some(axis), Some(c)) => Some(Secondary {
                axis: axis.clone(),
                colour: FAILED_GREY,
                items: vec![Item::Line {
                    colour: FAILED_GREY,
                    points: c.iter().map(|(t, s)| (*t as f64, s.mean)).collect(),
                    stroke: Stroke::Broad,
                    marker: Marker::None,
                }],
            }),
            _ => None,
        };
        panels.push(Panel {
            title: key.title(run),
            x: x.clone(),
            y: y.clone(),
            items,
            secondary,
        });
    }
    if panels.is_empty() {
        return None;
    }
    let groups: Vec<&GroupKey> = curves.keys().collect();
    let mut legend = legend(run, colours, &groups);
    let n = count_note(curves.values().flatten().map(|(_, s)| s.n));
    let any_band = panels
        .iter()
        .any(|p| p.items.iter().any(|i| matches!(i, Item::Band { .. })));
    let mut notes = vec![if any_band {
        format!("Lines: mean over seeds ({n} per task); shaded: ±1 standard deviation over seeds.")
    } else {
        format!("Lines: mean over seeds ({n} per task).")
    }];
    if any_band {
        legend.push(LegendEntry {
            label: "±1 s.d. over seeds".into(),
            colour: RGBColor(90, 90, 90),
            sample: Sample::Patch { alpha: 0.25 },
        });
    }
    if panels.iter().any(|p| p.secondary.is_some()) {
        legend.push(LegendEntry {
            label: "failed cells (right axis)".into(),
            colour: FAILED_GREY,
            sample: Sample::Line {
                stroke: Stroke::Broad,
                marker: Marker::None,
            },
        });
        let over = match run.axes.first() {
            Some(a) => format!("learners, {} values and seeds", axis_name(run, a)),
            None => "learners and seeds".into(),
        };
        notes.push(format!(
            "Grey, right axis: fraction of the chip's cells failed (every role), mean over the panel's {over}."
        ));
    }
    let (cols, mut panel_size) = layout(panels.len());
    if cols > 1 && panels.iter().any(|p| p.secondary.is_some()) {
        // Room for the right-hand axis between neighbouring panels.
        panel_size.0 += 100;
    }
    Some(Figure {
        name: name.into(),
        title: format!("{title} — {}", run.experiment),
        legend,
        notes,
        panels,
        cols,
        panel_size,
    })
}

/// `lifetime`: accuracy on the task just learned, per task, with the failed-cell fraction on a
/// right-hand axis; one panel per key of `keys`.
pub fn lifetime(run: &Run, colours: &[RGBColor], keys: &[PanelKey]) -> Option<Figure> {
    accuracy_figure(
        run,
        colours,
        keys,
        AccuracySpec {
            metric: "test_accuracy",
            name: "lifetime",
            title: "Accuracy on the current task over the lifetime",
            desc: "accuracy on the current task (%)",
            failed: true,
            percent: true,
        },
    )
}

/// `first_task`: accuracy on the first task over the lifetime (forgetting or transfer); one
/// panel per key of `keys`.
pub fn first_task(run: &Run, colours: &[RGBColor], keys: &[PanelKey]) -> Option<Figure> {
    accuracy_figure(
        run,
        colours,
        keys,
        AccuracySpec {
            metric: "first_task_accuracy",
            name: "first_task",
            title: "Accuracy on the first task over the lifetime",
            desc: "accuracy on the first task (%)",
            failed: false,
            percent: true,
        },
    )
}

/// `online_error`: the online squared error of a regression stream per task (the mean over the
/// task's examples, each measured before its step: Dohare et al.'s measure), with the failed-cell
/// fraction on a right-hand axis; one panel per key of `keys`.
pub fn online_error(run: &Run, colours: &[RGBColor], keys: &[PanelKey]) -> Option<Figure> {
    accuracy_figure(
        run,
        colours,
        keys,
        AccuracySpec {
            metric: "train_loss",
            name: "online_error",
            title: "Online squared error over the lifetime",
            desc: "online squared error per task",
            failed: true,
            percent: false,
        },
    )
}

/// A vertical axis for `values`, at most `ceil`: a small margin below the lowest value (even
/// below 0, so that a curve at 0 stays off the axis line) and, when no value is negative, no
/// negative tick.
fn value_axis(values: Vec<f64>, min_span: f64, ceil: f64, desc: &str) -> AxisSpec {
    let non_negative = values.iter().all(|v| !v.is_finite() || *v >= 0.0);
    let (lo, hi) = padded(values, 0.08, min_span, f64::NEG_INFINITY, ceil);
    let mut axis = linear_axis(lo, hi, 6, 0.0, desc.into());
    if non_negative {
        axis.ticks.retain(|t| t.0 >= 0.0);
    }
    axis
}

/// One plasticity panel: which metrics it averages, its title, axis label, scale, and the
/// smallest span of its vertical axis.
struct Measure {
    select: fn(&str) -> bool,
    title: &'static str,
    desc: &'static str,
    scale: f64,
    min_span: f64,
    ceil: f64,
}

const MEASURES: [Measure; 6] = [
    Measure {
        select: |m| is_layer_metric(m, "dead_fraction"),
        title: "Dead units",
        desc: "dead units (%)",
        scale: 100.0,
        min_span: 1.0,
        ceil: 100.0,
    },
    Measure {
        select: |m| is_layer_metric(m, "stable_rank"),
        title: "Stable rank",
        desc: "stable rank",
        scale: 1.0,
        min_span: 1.0,
        ceil: f64::INFINITY,
    },
    Measure {
        select: |m| is_layer_metric(m, "mean_abs_weight"),
        title: "Weight magnitude",
        desc: "mean |w|",
        scale: 1.0,
        min_span: 0.0,
        ceil: f64::INFINITY,
    },
    Measure {
        select: |m| m == "failed_fraction",
        title: "Failed cells",
        desc: "failed cells (%)",
        scale: 100.0,
        min_span: 1.0,
        ceil: 100.0,
    },
    Measure {
        select: |m| m == "replacements",
        title: "Continual backprop",
        desc: "units replaced (cumulative)",
        scale: 1.0,
        min_span: 1.0,
        ceil: f64::INFINITY,
    },
    Measure {
        select: |m| is_layer_metric(m, "backbone_fraction"),
        title: "Backbone (utility propagation)",
        desc: "backbone units (%)",
        scale: 100.0,
        min_span: 1.0,
        ceil: 100.0,
    },
];

/// `plasticity`: a grid of panels against the task (dead units and stable rank averaged over
/// the hidden layers, mean |w| over all layers, failed cells, replacements, backbone fraction
/// when recorded), mean over seeds; one figure per key of `keys` (`plasticity` alone when
/// there is one, else `plasticity_<device>[_<axis>=<value>…]`).
pub fn plasticity(run: &Run, colours: &[RGBColor], keys: &[PanelKey]) -> Vec<Figure> {
    let measures: Vec<(&Measure, Curves)> = MEASURES
        .iter()
        .map(|m| (m, run.per_task(m.select)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if measures.is_empty() {
        return Vec::new();
    }
    let mut figs = Vec::new();
    for key in keys {
        let mut panels = Vec::new();
        let mut groups: Vec<&GroupKey> = Vec::new();
        let mut ns = Vec::new();
        for (m, curves) in &measures {
            let mine: Curves = curves
                .iter()
                .filter(|(k, _)| PanelKey::of(k) == *key)
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect();
            if mine.is_empty() {
                continue;
            }
            groups.extend(curves.keys().filter(|k| PanelKey::of(k) == *key));
            ns.extend(mine.values().flatten().map(|(_, s)| s.n));
            let values: Vec<f64> = mine
                .values()
                .flatten()
                .map(|(_, s)| m.scale * s.mean)
                .collect();
            let hi_abs = values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let min_span = if m.min_span > 0.0 {
                m.min_span
            } else {
                (0.05 * hi_abs).max(1e-9)
            };
            let y = value_axis(values, min_span, m.ceil, m.desc);
            panels.push(Panel {
                title: m.title.into(),
                x: task_axis(mine.values().flatten().map(|(t, _)| t)),
                y,
                items: curve_items(&mine, key, colours, m.scale, false),
                secondary: None,
            });
        }
        if panels.is_empty() {
            continue;
        }
        groups.sort();
        groups.dedup();
        let legend = legend(run, colours, &groups);
        let n = count_note(ns);
        let mut note = format!("Lines: mean over seeds ({n} per task).");
        for (title, what) in [
            ("Dead units", " Dead units: mean over the hidden layers."),
            ("Stable rank", " Stable rank: mean over the hidden layers."),
            ("Weight magnitude", " Mean |w|: mean over all layers."),
            (
                "Backbone (utility propagation)",
                " Backbone: units whose propagated utility is above the threshold, mean over the hidden layers.",
            ),
        ] {
            if panels.iter().any(|p| p.title == title) {
                note.push_str(what);
            }
        }
        let notes = vec![note];
        let (cols, panel_size) = layout(panels.len());
        let title = if keys.len() > 1 {
            format!(
                "Plasticity over the lifetime — {} ({})",
                run.experiment,
                key.title(run)
            )
        } else {
            format!("Plasticity over the lifetime — {}", run.experiment)
        };
        figs.push(Figure {
            name: if keys.len() > 1 {
                format!("plasticity{}", key.suffix(run))
            } else {
                "plasticity".into()
            },
            title,
            legend,
            notes,
            panels,
            cols,
            panel_size,
        });
    }
    figs
}

/// The figures of a run's stream points, in order (`lifetime`, `first_task` — or `online_error`
/// for a regression stream — then `plasticity…`),
/// and notes for the summary.
pub fn stream_figures(run: &Run, colours: &[RGBColor]) -> (Vec<Figure>, Vec<String>) {
    let mut notes = Vec::new();
    let keys = panel_keys(run, &mut notes);
    let mut figs = Vec::new();
    if run.stream_is_regression() {
        figs.extend(online_error(run, colours, &keys));
    } else {
        figs.extend(lifetime(run, colours, &keys));
        figs.extend(first_task(run, colours, &keys));
    }
    figs.extend(plasticity(run, colours, &keys));
    (figs, notes)
}
