//! The `accuracy_vs_epoch` figure: Test accuracy per epoch.

use super::*;

/// Test accuracy per epoch for one sweep value combination: one panel per device, one line
/// per learner (mean over seeds) with a ±1 s.d. band. Stream groups (per task, not per epoch)
/// are left out: the `lifetime` figure shows them.
pub fn accuracy_vs_epoch(run: &Run, combination: &[usize], colours: &[RGBColor]) -> Option<Figure> {
    let curves: BTreeMap<GroupKey, Vec<(u32, Stats)>> = run
        .per_epoch("test_accuracy")
        .into_iter()
        .filter(|(k, _)| k.sweep == combination && !run.stream_groups.contains(k))
        .collect();
    if curves.is_empty() {
        return None;
    }
    let devices = sorted_unique(curves.keys().map(|k| k.device));
    let learners = sorted_unique(curves.keys().map(|k| k.learner));
    let max_epoch = curves
        .values()
        .flatten()
        .map(|(e, _)| *e)
        .max()
        .unwrap_or(1);
    let min_epoch = curves
        .values()
        .flatten()
        .map(|(e, _)| *e)
        .min()
        .unwrap_or(1);
    let x = count_axis(min_epoch, max_epoch, 0.04, "epoch");
    // Markers on every epoch while they stay apart.
    let marker = if max_epoch - min_epoch < 16 {
        Marker::Circle
    } else {
        Marker::None
    };
    let y = accuracy_axis(
        curves
            .values()
            .flatten()
            .flat_map(|(_, s)| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)]),
        "test accuracy (%)",
    );
    let any_band = curves
        .values()
        .flatten()
        .any(|(_, s)| s.n > 1 && has_spread(s));
    let panels = devices
        .iter()
        .map(|&d| {
            let mut items = Vec::new();
            for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                let colour = colours[k.learner];
                let pt = |e: u32, v: f64| (e as f64, 100.0 * v);
                if c.iter().any(|(_, s)| has_spread(s)) {
                    items.push(Item::Band {
                        colour,
                        upper: c.iter().map(|(e, s)| pt(*e, s.mean + s.std)).collect(),
                        lower: c.iter().map(|(e, s)| pt(*e, s.mean - s.std)).collect(),
                    });
                }
            }
            for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                items.push(Item::Line {
                    colour: colours[k.learner],
                    points: c.iter().map(|(e, s)| (*e as f64, 100.0 * s.mean)).collect(),
                    stroke: Stroke::Solid,
                    marker: if c.len() == 1 { Marker::Circle } else { marker },
                });
            }
            Panel {
                title: run.devices[d].clone(),
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            }
        })
        .collect::<Vec<_>>();
    let mut legend = learner_legend(
        run,
        colours,
        &learners,
        Sample::Line {
            stroke: Stroke::Solid,
            marker,
        },
    );
    let n = count_note(curves.values().flatten().map(|(_, s)| s.n));
    let mut note = format!("Lines: mean over seeds ({n} per point)");
    if any_band {
        legend.push(LegendEntry {
            label: "±1 s.d. over seeds".into(),
            colour: RGBColor(90, 90, 90),
            sample: Sample::Patch { alpha: 0.25 },
        });
        note.push_str("; shaded: ±1 standard deviation over seeds");
    }
    note.push('.');
    let (cols, panel_size) = layout(panels.len());
    Some(Figure {
        name: format!("accuracy_vs_epoch{}", combination_suffix(run, combination)),
        title: with_combination(
            run,
            format!("Test accuracy per epoch — {}", run.experiment),
            combination,
        ),
        legend,
        notes: vec![note],
        panels,
        cols,
        panel_size,
    })
}
