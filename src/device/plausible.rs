//! Plausible ranges of device fields: a value outside its range is valid (it means something
//! physically) but unusual, and is reported as a warning; physically meaningless values are
//! errors of [`super::DeviceFile::validate`]. The README's field table quotes these ranges
//! (a test keeps them in step).

use super::{DeviceFile, ResponseModel};
use crate::config_file::ConfigError;

/// A field's plausible range, both ends included, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plausible {
    /// Dotted field path (`response.dw_min`).
    pub field: &'static str,
    /// Smallest plausible value.
    pub low: f64,
    /// Largest plausible value (`f64::INFINITY`: no upper end).
    pub high: f64,
    /// What the range rests on, for the warning.
    pub why: &'static str,
}

/// The plausible range [`low`, `high`] of `field`, resting on `why`: the tables' shorthand
/// (here and in `experiment::plausible`).
pub(crate) const fn p(field: &'static str, low: f64, high: f64, why: &'static str) -> Plausible {
    Plausible {
        field,
        low,
        high,
        why,
    }
}

/// Device fields whose unusual values are warned about. Fields of the `ideal` model's response
/// (steps and bounds that it does not use) are not checked on `ideal` devices.
pub const DEVICE_RANGES: &[Plausible] = &[
    p(
        "response.dw_min",
        1e-5,
        0.5,
        "about 4 to 200,000 states on a ±1 range",
    ),
    p(
        "response.dw_min_dtod",
        0.0,
        1.0,
        "measured spreads are below 100 %",
    ),
    p(
        "response.dw_min_std",
        0.0,
        5.0,
        "measured cycle-to-cycle noise is below 5 steps (reram-sb: 3.75)",
    ),
    p(
        "response.up_down",
        -0.5,
        0.5,
        "an up step 3× the down step is already extreme",
    ),
    p(
        "response.up_down_dtod",
        0.0,
        1.0,
        "measured spreads are below 100 %",
    ),
    p(
        "response.w_min",
        -10.0,
        10.0,
        "weights are in normalised units, of order 1",
    ),
    p(
        "response.w_max",
        -10.0,
        10.0,
        "weights are in normalised units, of order 1",
    ),
    p(
        "response.w_min_dtod",
        0.0,
        1.0,
        "measured spreads are below 100 %",
    ),
    p(
        "response.w_max_dtod",
        0.0,
        1.0,
        "measured spreads are below 100 %",
    ),
    p("response.write_noise_std", 0.0, 100.0, "in units of dw_min"),
    p("response.reset_dtod", 0.0, 1.0, "in weight units"),
    p("response.reset_std", 0.0, 1.0, "in weight units"),
    p(
        "read_noise.std",
        0.0,
        0.5,
        "half the weight range per read leaves little to read",
    ),
    p(
        "programming.std",
        0.0,
        5.0,
        "µS, on a 25 µS range (PCM: 0.26–1.2)",
    ),
    p("drift.t0_s", 1e-6, 1e3, "PCM: 20 s"),
    p("drift.nu_mean", 0.0, 0.5, "PCM: 0.03–0.1"),
    p("drift.nu_std", 0.0, 0.5, "PCM: up to 0.1"),
    p(
        "leak.lifetime_s",
        1e-6,
        f64::INFINITY,
        "capacitors: seconds",
    ),
    p(
        "failure.stuck_at_min_fraction",
        0.0,
        0.5,
        "measured arrays: up to 14 % stuck",
    ),
    p(
        "failure.stuck_at_max_fraction",
        0.0,
        0.5,
        "measured arrays: up to 14 % stuck",
    ),
    p(
        "failure.stuck_at_random_fraction",
        0.0,
        0.5,
        "measured arrays: up to 14 % stuck",
    ),
    p(
        "failure.endurance_median_pulses",
        1e3,
        f64::INFINITY,
        "ReRAM 1e6–1e12, PCM 1e6–1e9",
    ),
    p(
        "failure.hazard_rate_per_s",
        0.0,
        1e-3,
        "half the cells dead within 12 minutes",
    ),
    p(
        "periphery.inp_bound",
        0.01,
        100.0,
        "inputs are scaled to about ±1",
    ),
    p("periphery.out_bound", 0.1, 1e4, "aihwkit: 12–20"),
    p(
        "periphery.out_noise",
        0.0,
        1.0,
        "of a full-scale output; aihwkit: 0.06",
    ),
    p(
        "periphery.max_tile_rows",
        8.0,
        8192.0,
        "fabricated arrays: 64–4096 lines",
    ),
    p(
        "periphery.max_tile_cols",
        8.0,
        8192.0,
        "fabricated arrays: 64–4096 lines",
    ),
    p(
        "readout.reads",
        1.0,
        1024.0,
        "each read costs a full read; aihwkit's read_weights uses 10",
    ),
    p(
        "readout.out_bound",
        0.1,
        1e4,
        "a one-hot read's output is one weight",
    ),
    p(
        "readout.integration_cycles",
        1.0,
        1e4,
        "1e4 cycles of 80 ns are 0.8 ms per column",
    ),
    p("timing.read_s", 1e-10, 1e-3, "RPU spec: 80 ns"),
    p("timing.pulse_s", 1e-12, 1e-3, "RPU spec: 1 ns"),
    p(
        "timing.program_pulse_s",
        1e-9,
        1.0,
        "write-verify iterations: µs",
    ),
    p("timing.digital_op_s", 1e-12, 1e-3, "about 1 ns"),
    p("energy.read_cell_j", 0.0, 1e-9, "NeuroSim: 10 fJ"),
    p("energy.dac_step_j", 0.0, 1e-9, "about 1 fJ"),
    p("energy.adc_step_j", 0.0, 1e-9, "about 10 fJ"),
    p("energy.pulse_j", 0.0, 1e-9, "about 3.3 pJ"),
    p("energy.program_pulse_j", 0.0, 1e-9, "about 3.3 pJ"),
    p("energy.digital_op_j", 0.0, 1e-9, "about 4.6 pJ"),
];

/// The number at dotted `path` of a serialised value, if there is one (a field that is unset,
/// infinite or not a number has none).
pub(crate) fn number_at(value: &serde_json::Value, path: &str) -> Option<f64> {
    path.split('.')
        .try_fold(value, |v, key| v.get(key))
        .and_then(serde_json::Value::as_f64)
}

impl Plausible {
    /// The range in words, as the warnings and the README give it: `1e-5 to 0.5`, `1000 to ∞`.
    pub fn range_text(&self) -> String {
        format!("{} to {}", number(self.low), number(self.high))
    }
}

/// A number for people: scientific notation when very large or small.
fn number(v: f64) -> String {
    if v.is_infinite() {
        "∞".into()
    } else if v != 0.0 && !(1e-3..1e4).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The warning for `value` of `range`, or `None` when it is plausible.
pub(crate) fn outside(range: &Plausible, value: f64) -> Option<String> {
    if value >= range.low && value <= range.high {
        return None;
    }
    Some(format!(
        "{} is unusual (plausible: {}; {}); it is used as given",
        number(value),
        range.range_text(),
        range.why
    ))
}

impl DeviceFile {
    /// The unusual values of this (valid) device file: one located warning per field outside
    /// its plausible range ([`DEVICE_RANGES`]). `src` and `file` locate them, as for errors.
    pub fn warnings(&self, src: &str, file: &str) -> Vec<ConfigError> {
        let Ok(value) = serde_json::to_value(self) else {
            return Vec::new();
        };
        let ideal = matches!(self.response.model, ResponseModel::Ideal);
        DEVICE_RANGES
            .iter()
            .filter(|r| {
                !(ideal
                    && matches!(
                        r.field,
                        "response.dw_min" | "response.w_min" | "response.w_max"
                    ))
            })
            .filter_map(|r| {
                let v = number_at(&value, r.field)?;
                outside(r, v).map(|m| ConfigError::at_field(src, file, r.field, m))
            })
            .collect()
    }
}
