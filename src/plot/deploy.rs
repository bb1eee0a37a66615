//! The deployment figure of a run (`deploy_summary.csv`, written when the experiment has a
//! `[deploy]` section): test accuracy on the inference chip against the time since
//! programming (log scale), one panel per trained network (learner, where it was trained,
//! sweep values), one colour per inference device, solid without and dashed with global drift
//! compensation, error bars ±1 s.d. over seeds × programmed copies, and the trained network's
//! own accuracy as a broad grey line.

use super::figures::{
    accuracy_axis, compensation_legend, compensation_style, layout, learner_colours, AxisSpec,
    Figure, Item, LegendEntry, Marker, Panel, Sample, Stroke,
};
use plotters::style::RGBColor;
use std::path::Path;

/// One row of `deploy_summary.csv`.
struct Row {
    setting: String,
    device: String,
    time_s: f64,
    compensated: bool,
    mean: f64,
    sd: f64,
    n: usize,
    trained: f64,
}

fn read_rows(dir: &Path) -> Option<Vec<Row>> {
    let mut r = csv::Reader::from_path(dir.join("deploy_summary.csv")).ok()?;
    let head: Vec<String> = r.headers().ok()?.iter().map(String::from).collect();
    let col = |name: &str| head.iter().position(|h| h == name);
    let (dd, t, c, m, s, n, ta) = (
        col("deploy_device")?,
        col("time_s")?,
        col("compensated")?,
        col("test_accuracy_mean")?,
        col("test_accuracy_sd")?,
        col("n")?,
        col("trained_accuracy_mean")?,
    );
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.ok()?;
        // Setting: learner, trained_on and the sweep columns (everything before deploy_device).
        let setting = (0..dd)
            .map(|i| rec.get(i).unwrap_or(""))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(" · ");
        rows.push(Row {
            setting,
            device: rec.get(dd)?.to_string(),
            time_s: rec.get(t)?.parse().ok()?,
            compensated: rec.get(c)? == "true",
            mean: rec.get(m)?.parse().ok()?,
            sd: rec.get(s)?.parse().ok()?,
            n: rec.get(n)?.parse().ok()?,
            trained: rec.get(ta)?.parse().unwrap_or(f64::NAN),
        });
    }
    (!rows.is_empty()).then_some(rows)
}

fn unique(v: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The deployment figure of the run in `dir`, or None when it deployed nothing.
pub fn deployment_figure(dir: &Path, experiment: &str) -> Option<Figure> {
    let rows = read_rows(dir)?;
    let settings = unique(rows.iter().map(|r| r.setting.clone()));
    let devices = unique(rows.iter().map(|r| r.device.clone()));
    let colours: Vec<RGBColor> = learner_colours(&devices);
    // Times on a log axis; t = 0 drawn one decade left of the smallest positive time.
    let min_pos = rows
        .iter()
        .map(|r| r.time_s)
        .filter(|&t| t > 0.0)
        .fold(f64::INFINITY, f64::min);
    let min_pos = if min_pos.is_finite() { min_pos } else { 1.0 };
    let zero_at = min_pos.log10().floor() - 1.0;
    let tpos = |t: f64| if t > 0.0 { t.log10() } else { zero_at };
    let lo = rows
        .iter()
        .map(|r| tpos(r.time_s))
        .fold(f64::INFINITY, f64::min)
        - 0.4;
    let hi = rows
        .iter()
        .map(|r| tpos(r.time_s))
        .fold(f64::NEG_INFINITY, f64::max)
        + 0.4;
    let mut ticks: Vec<(f64, String)> = [
        (1.0, "1 s"),
        (60.0, "1 min"),
        (3600.0, "1 h"),
        (86_400.0, "1 d"),
        (30.0 * 86_400.0, "1 mo"),
        (31_536_000.0, "1 y"),
        (315_360_000.0, "10 y"),
    ]
    .iter()
    .map(|&(t, l)| (f64::log10(t), l.to_string()))
    .filter(|(p, _)| *p >= lo && *p <= hi)
    .collect();
    if rows.iter().any(|r| r.time_s <= 0.0) {
        ticks.insert(0, (zero_at, "0".into()));
    }
    let x = AxisSpec {
        lo,
        hi,
        ticks,
        minor: Vec::new(),
        desc: "time since programming (log scale)".into(),
        grid: true,
    };
    let y = accuracy_axis(
        rows.iter()
            .flat_map(|r| {
                [
                    100.0 * (r.mean - r.sd),
                    100.0 * (r.mean + r.sd),
                    100.0 * r.trained,
                ]
            })
            .filter(|v| v.is_finite()),
        "test accuracy (%)",
    );
    let k_total = 2.0 * devices.len() as f64;
    // Long settings (a sweep over a table of options) are numbered in the titles and written
    // in full in the notes, so that the titles of neighbouring panels never overlap.
    const TITLE_CHARS: usize = 40;
    let mut notes = Vec::new();
    let panels: Vec<Panel> = settings
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let title = if s.chars().count() > TITLE_CHARS {
                notes.push(format!("({}) trained: {s}", k + 1));
                let short: String = s.chars().take(TITLE_CHARS).collect();
                format!("({}) {short}…", k + 1)
            } else {
                format!("trained: {s}")
            };
            let mut items = Vec::new();
            let trained = rows
                .iter()
                .find(|r| &r.setting == s)
                .map(|r| r.trained)
                .unwrap_or(f64::NAN);
            if trained.is_finite() {
                items.push(Item::Line {
                    colour: RGBColor(120, 120, 120),
                    points: vec![(lo, 100.0 * trained), (hi, 100.0 * trained)],
                    stroke: Stroke::Broad,
                    marker: Marker::None,
                });
            }
            for (d, dev) in devices.iter().enumerate() {
                for comp in [false, true] {
                    let mut pts: Vec<&Row> = rows
                        .iter()
                        .filter(|r| &r.setting == s && &r.device == dev && r.compensated == comp)
                        .collect();
                    if pts.is_empty() {
                        continue;
                    }
                    pts.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
                    let off = ((2 * d + comp as usize) as f64 - (k_total - 1.0) / 2.0) * 0.04;
                    for r in &pts {
                        if r.sd > 0.0 {
                            items.push(Item::ErrorBar {
                                colour: colours[d],
                                x: tpos(r.time_s) + off,
                                lo: 100.0 * (r.mean - r.sd),
                                hi: 100.0 * (r.mean + r.sd),
                            });
                        }
                    }
                    items.push(Item::Line {
                        colour: colours[d],
                        points: pts
                            .iter()
                            .map(|r| (tpos(r.time_s) + off, 100.0 * r.mean))
                            .collect(),
                        stroke: compensation_style(comp).0,
                        marker: compensation_style(comp).1,
                    });
                }
            }
            Panel {
                title,
                x: x.clone(),
                y: y.clone(),
                items,
                secondary: None,
            }
        })
        .collect();
    let mut legend: Vec<LegendEntry> = devices
        .iter()
        .zip(&colours)
        .map(|(d, &c)| LegendEntry {
            label: format!("deployed on {d}"),
            colour: c,
            sample: Sample::Patch { alpha: 1.0 },
        })
        .collect();
    legend.extend(compensation_legend(
        true,
        rows.iter().any(|r| r.compensated),
    ));
    legend.push(LegendEntry {
        label: "trained network (before deployment)".into(),
        colour: RGBColor(120, 120, 120),
        sample: Sample::Line {
            stroke: Stroke::Broad,
            marker: Marker::None,
        },
    });
    let ns = unique(rows.iter().map(|r| r.n.to_string()));
    let (cols, panel_size) = layout(panels.len());
    Some(Figure {
        name: "deployment".into(),
        title: format!("Deployed on inference chips: test accuracy as the chip ages — {experiment}"),
        legend,
        notes: std::iter::once(format!(
            "Mean over seeds × programmed copies ({} per point), error bars ±1 standard deviation; points slightly offset in time so the bars do not overlap.",
            ns.join(", ")
        ))
        .chain(notes)
        .collect(),
        panels,
        cols,
        panel_size,
    })
}
