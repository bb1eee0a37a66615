//! The `accuracy_vs_time` figure: Test accuracy against the time after training (drift).

use super::*;

/// Test accuracy against the time after training (drift), for one sweep value combination:
/// one panel per device, one colour per learner, solid without and dashed with global drift
/// compensation, ±1 s.d. error bars.
pub fn accuracy_vs_time(run: &Run, combination: &[usize], colours: &[RGBColor]) -> Option<Figure> {
    let pick = |metric: &str| -> BTreeMap<GroupKey, Vec<(f64, Stats)>> {
        run.per_time(metric)
            .into_iter()
            .filter(|(k, _)| k.sweep == combination)
            .collect()
    };
    let plain = pick("drift_test_accuracy");
    let comp = pick("drift_test_accuracy_compensated");
    if plain.is_empty() && comp.is_empty() {
        return None;
    }
    let all = || plain.values().chain(comp.values()).flatten();
    let min_pos = all()
        .map(|(t, _)| *t)
        .filter(|&t| t > 0.0)
        .fold(f64::INFINITY, f64::min);
    let min_pos = if min_pos.is_finite() { min_pos } else { 1.0 };
    let zero_at = min_pos.log10().floor() - 1.0;
    let tpos = |t: f64| if t > 0.0 { t.log10() } else { zero_at };
    let has_zero = all().any(|(t, _)| *t <= 0.0);
    let lo = all().map(|(t, _)| tpos(*t)).fold(f64::INFINITY, f64::min) - 0.3;
    let hi = all()
        .map(|(t, _)| tpos(*t))
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.3;
    let devices = sorted_unique(plain.keys().chain(comp.keys()).map(|k| k.device));
    let learners = sorted_unique(plain.keys().chain(comp.keys()).map(|k| k.learner));
    let (cols, panel_size) = layout(devices.len());
    let plot_w = panel_size.0 as f64 - 150.0;
    let mut x = time_axis(lo, hi, plot_w, "time after training (s, log scale)".into());
    if has_zero {
        x.ticks.retain(|t| t.0 > zero_at + 0.5);
        x.ticks.insert(0, (zero_at, "0".into()));
    }
    let y = accuracy_axis(
        all().flat_map(|(_, s)| [100.0 * (s.mean - s.std), 100.0 * (s.mean + s.std)]),
        "test accuracy (%)",
    );
    let k_total = 2.0 * learners.len() as f64;
    let dodge = |l: usize, compensated: bool| {
        let i = learners.iter().position(|&x| x == l).unwrap_or(0) as f64 * 2.0
            + if compensated { 1.0 } else { 0.0 };
        (i - (k_total - 1.0) / 2.0) * 0.02
    };
    let panels = devices
        .iter()
        .map(|&d| {
            let mut items = Vec::new();
            for (curves, compensated) in [(&plain, false), (&comp, true)] {
                for (k, c) in curves.iter().filter(|(k, _)| k.device == d) {
                    let colour = colours[k.learner];
                    let off = dodge(k.learner, compensated);
                    for (t, s) in c.iter().filter(|(_, s)| has_spread(s)) {
                        items.push(Item::ErrorBar {
                            colour,
                            x: tpos(*t) + off,
                            lo: 100.0 * (s.mean - s.std),
                            hi: 100.0 * (s.mean + s.std),
                        });
                    }
                    items.push(Item::Line {
                        colour,
                        points: c
                            .iter()
                            .map(|(t, s)| (tpos(*t) + off, 100.0 * s.mean))
                            .collect(),
                        stroke: compensation_style(compensated).0,
                        marker: compensation_style(compensated).1,
                    });
                }
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
    let mut legend = learner_legend(run, colours, &learners, Sample::Patch { alpha: 1.0 });
    legend.extend(compensation_legend(!plain.is_empty(), !comp.is_empty()));
    let n = count_note(all().map(|(_, s)| s.n));
    Some(Figure {
        name: format!("accuracy_vs_time{}", combination_suffix(run, combination)),
        title: with_combination(
            run,
            format!("Test accuracy after training (drift) — {}", run.experiment),
            combination,
        ),
        legend,
        notes: vec![format!(
            "Mean over seeds ({n} per point), error bars ±1 standard deviation; points slightly offset in time so the bars do not overlap."
        )],
        panels,
        cols,
        panel_size,
    })
}
