//! The `energy` figure: Energy per training sample and per inference.

use super::*;

/// Energy per training sample and per inference: two panels (log scale), bars by learner
/// grouped by device. Learners with zero or no recorded energy on a device get no bar (a note
/// says which).
pub fn energy(run: &Run, colours: &[RGBColor]) -> Option<Figure> {
    let e = run.energy();
    let train_all: Vec<Stats> = e.values().filter_map(|v| v.0).collect();
    let infer_all: Vec<Stats> = e.values().filter_map(|v| v.1).collect();
    if train_all.is_empty() && infer_all.is_empty() {
        return None;
    }
    let learners = sorted_unique(e.keys().map(|k| k.0));
    let devices = sorted_unique(e.keys().map(|k| k.1));
    let slot = 0.8 / learners.len() as f64;
    let label_w = devices
        .iter()
        .map(|&d| text_width(&run.devices[d], TICK_PX, false))
        .max()
        .unwrap_or(0);
    let group_px = (learners.len() as i32 * 34).max(label_w + 24);
    let panel_w = (devices.len() as i32 * group_px + 200).max(600) as u32;
    // (learner, device, panel) without a bar.
    let mut missing: Vec<(usize, usize, &str)> = Vec::new();
    let mut empty_panels: Vec<&str> = Vec::new();
    let mut panels = Vec::new();
    for (which, title, desc) in [
        (0, "Training", "energy per training sample (J)"),
        (1, "Inference", "energy per inference (J)"),
    ] {
        let get = |v: &(Option<Stats>, Option<Stats>)| if which == 0 { v.0 } else { v.1 };
        let stats: Vec<Stats> = e.values().filter_map(get).collect();
        if stats.is_empty() {
            empty_panels.push(title);
            continue;
        }
        let lo_v = stats
            .iter()
            .map(|s| {
                if s.mean - s.std > 0.0 {
                    s.mean - s.std
                } else {
                    s.mean
                }
            })
            .fold(f64::INFINITY, f64::min);
        let hi_v = stats.iter().map(|s| s.mean + s.std).fold(0.0, f64::max);
        let lo = lo_v.log10() - 0.35;
        let hi = hi_v.log10() + 0.25;
        let (lo, hi) = if hi - lo < 1.0 {
            let mid = (lo + hi) / 2.0;
            (mid - 0.5, mid + 0.5)
        } else {
            (lo, hi)
        };
        let y = log_axis(lo, hi, desc.into());
        let x = AxisSpec {
            lo: -0.5,
            hi: devices.len() as f64 - 0.5,
            ticks: devices
                .iter()
                .enumerate()
                .map(|(i, &d)| (i as f64, run.devices[d].clone()))
                .collect(),
            minor: Vec::new(),
            desc: "device".into(),
            grid: false,
        };
        let mut items = Vec::new();
        for (gi, &d) in devices.iter().enumerate() {
            for (li, &l) in learners.iter().enumerate() {
                let Some(v) = e.get(&(l, d)) else { continue };
                let x0 = gi as f64 - 0.4 + li as f64 * slot;
                match get(v) {
                    Some(s) => {
                        items.push(Item::Bar {
                            colour: colours[l],
                            x: (x0 + 0.08 * slot, x0 + 0.92 * slot),
                            y: (lo, s.mean.log10()),
                        });
                        if has_spread(&s) {
                            let low = if s.mean - s.std > 0.0 {
                                (s.mean - s.std).log10()
                            } else {
                                lo
                            };
                            items.push(Item::ErrorBar {
                                colour: RGBColor(30, 30, 30),
                                x: x0 + slot / 2.0,
                                lo: low,
                                hi: (s.mean + s.std).log10(),
                            });
                        }
                    }
                    None => missing.push((l, d, title)),
                }
            }
        }
        panels.push(Panel {
            title: title.into(),
            x,
            y,
            items,
            secondary: None,
        });
    }
    let mut legend = learner_legend(run, colours, &learners, Sample::Patch { alpha: 1.0 });
    let n = count_note(train_all.iter().chain(&infer_all).map(|s| s.n));
    let over = if run.axes.is_empty() {
        "seeds"
    } else {
        "seeds and sweep values"
    };
    let mut notes = vec![format!(
        "Bars: mean over {over} ({n}), error bars ±1 standard deviation; log scale."
    )];
    for title in &empty_panels {
        notes.push(format!("{title}: no energy recorded by any learner."));
    }
    // Name each learner without a bar once: on every device, or where.
    let mut parts = Vec::new();
    for (entry, &l) in legend.iter_mut().zip(&learners) {
        let mine: Vec<&(usize, usize, &str)> = missing.iter().filter(|m| m.0 == l).collect();
        if mine.is_empty() {
            continue;
        }
        let devices_of_l = e.keys().filter(|k| k.0 == l).count();
        if mine.len() == devices_of_l * panels.len() {
            entry.label.push_str(" (no bar)");
            parts.push(format!("{} (every device)", run.learners[l]));
        } else {
            let places: Vec<String> = mine
                .iter()
                .map(|m| format!("{}, {}", run.devices[m.1], m.2.to_lowercase()))
                .collect();
            parts.push(format!("{} ({})", run.learners[l], places.join("; ")));
        }
    }
    if !parts.is_empty() {
        notes.push(format!(
            "No bar where the energy is zero or not recorded (a log scale cannot show 0): {}.",
            parts.join(", ")
        ));
    }
    let cols = panels.len();
    Some(Figure {
        name: "energy".into(),
        title: format!("Energy per sample — {}", run.experiment),
        legend,
        notes,
        panels,
        cols,
        panel_size: (panel_w, 560),
    })
}
