//! Warnings about an experiment's unusual values: valid, but outside the range where they are
//! plausible (the README's field tables quote these ranges). Each device of the experiment is
//! checked too ([`crate::device::DeviceFile::warnings`]), as resolved for each point, so an
//! unusual sweep value is reported once, with the device it applies to.

use super::Experiment;
use crate::device::plausible::{outside, p, Plausible};

/// Experiment settings whose unusual values are warned about (as resolved for each point:
/// `train.*` after per-learner overrides and sweeps; `network.hidden` for each width).
pub const EXPERIMENT_RANGES: &[Plausible] = &[
    p(
        "train.lr",
        1e-6,
        1.0,
        "the built-in rules learn at 1e-3 to 0.1",
    ),
    p(
        "train.batch",
        1.0,
        4096.0,
        "a pulsed update sums the batch in one step",
    ),
    p("train.epochs", 1.0, 1000.0, "MNIST needs 10"),
    p(
        "network.hidden",
        1.0,
        8192.0,
        "a layer wider than two fabricated arrays of 4096 lines",
    ),
];

/// The warnings of `exp`, each once, as `FILE: field `PATH`: message` (points of one device
/// label share a device's warnings; a sweep that makes a value unusual names its point).
pub fn warnings(exp: &Experiment) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !out.contains(&w) {
            out.push(w);
        }
    };
    for point in &exp.points {
        for w in point.device.spec.warnings("", &exp.file) {
            push(format!(
                "{}: device `{}`: field `{}`: {}",
                exp.file,
                point.device_label,
                w.field.unwrap_or_default(),
                w.message
            ));
        }
        let Ok(settings) = serde_json::to_value(&point.settings) else {
            continue;
        };
        for range in EXPERIMENT_RANGES {
            let values: Vec<f64> = match settings
                .pointer(&format!("/{}", range.field.replace('.', "/")))
            {
                Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_f64()).collect(),
                Some(v) => v.as_f64().into_iter().collect(),
                None => Vec::new(),
            };
            for v in values {
                if let Some(m) = outside(range, v) {
                    push(format!(
                        "{}: field `{}` of learner `{}`: {m}",
                        exp.file, range.field, point.learner
                    ));
                }
            }
        }
    }
    out
}
