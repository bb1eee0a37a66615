//! The `accuracy_vs_axis` figure: Final test accuracy against a sweep axis.

use super::*;

/// Final test accuracy against the values of sweep axis `a`: one panel per device (and per
/// value of the other axis, when there are two), one line per learner with ±1 s.d. error bars;
/// × marks a value where every seed diverged.
pub fn accuracy_vs_axis(run: &Run, a: usize, colours: &[RGBColor]) -> Option<Figure> {
    let axis = run.axes.get(a)?;
    let finals = run.final_accuracy();
    if finals.is_empty() {
        return None;
    }
    let other = if run.axes.len() == 2 {
        Some(1 - a)
    } else {
        None
    };
    let desc = match &axis.label {
        Some(l) => l.clone(),
        None => format!("{}{}", axis.path, unit_of(&axis.path)),
    };
    let (pos, x) = sweep_x(axis, desc);
    let span = x.hi - x.lo;
    let learners = sorted_unique(finals.keys().map(|k| k.learner));
    let devices = sorted_unique(finals.keys().map(|k| k.device));
    let dodge = |l: usize| {
        let i = learners.iter().position(|&x| x == l).unwrap_or(0) as f64;
        (i - (learners.len() as f64 - 1.0) / 2.0) * 0.005 * span
    };
    let mut values: Vec<f64> = finals
        .values()
        .filter_map(|f| f.accuracy)
        .flat_map(|s| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)])
        .collect();
    let any_all_diverged = finals
        .values()
        .any(|f| f.accuracy.is_none() && f.diverged > 0);
    if values.is_empty() {
        values.push(0.0);
    }
    // Stream points end with the accuracy on their last task.
    let streams = finals.keys().all(|k| run.stream_groups.contains(k));
    let mut y = accuracy_axis(
        values,
        if streams {
            "accuracy on the last task (%)"
        } else {
            "final test accuracy (%)"
        },
    );
    if any_all_diverged {
        // Room under the data for the × marks.
        let lo = (y.lo - 0.12 * (y.hi - y.lo)).max(0.0);
        y = linear_axis(lo, y.hi, 6, 0.0, y.desc);
    }
    let cross_y = y.lo + 0.04 * (y.hi - y.lo);
    let others: Vec<Option<usize>> = match other {
        Some(o) => sorted_unique(finals.keys().map(|k| k.sweep[o]))
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };
    let mut panels = Vec::new();
    for &d in &devices {
        for &ov in &others {
            let in_panel =
                |k: &GroupKey| k.device == d && ov.is_none_or(|v| k.sweep[other.unwrap()] == v);
            let mut items = Vec::new();
            for &l in &learners {
                let colour = colours[l];
                let mut pts = Vec::new();
                for (k, f) in finals.iter().filter(|(k, _)| k.learner == l && in_panel(k)) {
                    let px = pos[k.sweep[a]] + dodge(l);
                    match f.accuracy {
                        Some(s) => {
                            pts.push((px, 100.0 * s.mean));
                            if has_spread(&s) {
                                items.push(Item::ErrorBar {
                                    colour,
                                    x: px,
                                    lo: 100.0 * (s.mean - s.std),
                                    hi: 100.0 * (s.mean + s.std),
                                });
                            }
                        }
                        None if f.diverged > 0 => items.push(Item::Cross {
                            colour,
                            at: (px, cross_y),
                        }),
                        None => {}
                    }
                }
                pts.sort_by(|p, q| p.0.total_cmp(&q.0));
                if !pts.is_empty() {
                    items.push(Item::Line {
                        colour,
                        points: pts,
                        stroke: Stroke::Solid,
                        marker: Marker::Circle,
                    });
                }
            }
            if items.is_empty() {
                continue;
            }
            let title = match (ov, other) {
                (Some(v), Some(o)) => format!(
                    "{} · {} = {}",
                    run.devices[d],
                    run.axes[o].short_name(),
                    run.axes[o].labels[v]
                ),
                _ => run.devices[d].clone(),
            };
            panels.push(Panel {
                title,
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            });
        }
    }
    if panels.is_empty() {
        return None;
    }
    let mut legend = learner_legend(
        run,
        colours,
        &learners,
        Sample::Line {
            stroke: Stroke::Solid,
            marker: Marker::Circle,
        },
    );
    let n = count_note(finals.values().filter_map(|f| f.accuracy.map(|s| s.n)));
    let mut notes = vec![format!(
        "Mean over seeds ({n} per point), error bars ±1 standard deviation; diverged seeds are left out of the mean."
    )];
    if any_all_diverged {
        legend.push(LegendEntry {
            label: "every seed diverged".into(),
            colour: RGBColor(60, 60, 60),
            sample: Sample::Cross,
        });
    }
    if axis.numbers.is_some() && x.ticks.first().is_some_and(|t| t.1 == "0") {
        notes.push(
            "Log scale; the value 0 is drawn one decade below the smallest positive value.".into(),
        );
    }
    let (cols, panel_size) = match other {
        Some(_) if others.len() <= 6 && panels.len() == devices.len() * others.len() => (
            others.len().max(1),
            if others.len() == 1 {
                (1200, 700)
            } else {
                (600, 480)
            },
        ),
        _ => layout(panels.len()),
    };
    let short = axis_file_name(run, a);
    Some(Figure {
        name: format!("accuracy_vs_{short}"),
        title: format!(
            "{} vs {} — {}",
            if streams {
                "Accuracy on the last task"
            } else {
                "Final test accuracy"
            },
            axis.short_name(),
            run.experiment
        ),
        legend,
        notes,
        panels,
        cols,
        panel_size,
    })
}

/// The name used in `accuracy_vs_<name>`: the last path segment, or the whole path when that
/// would collide with another axis or another figure.
pub fn axis_file_name(run: &Run, a: usize) -> String {
    let short = run.axes[a].short_name();
    let clash = run
        .axes
        .iter()
        .enumerate()
        .any(|(i, o)| i != a && o.short_name() == short)
        || matches!(short, "epoch" | "time");
    sanitize(if clash { &run.axes[a].path } else { short })
}
