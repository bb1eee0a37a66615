//! One cell's physics: device files, pulse response models, drift, noise and failure.
//!
//! A [`Device`] is a checked device file: the parameters of one kind of cell and of the periphery
//! around its array. The models themselves live in [`response`] (what one pulse does),
//! [`drift`], [`noise`] and [`failure`]; the crossbar room builds arrays of such cells.

pub mod drift;
pub mod failure;
pub mod noise;
pub mod params;
pub mod plausible;
pub mod presets;
pub mod response;

use crate::config_file::{parse_toml, ConfigError};
pub use params::*;
use std::fmt;
use std::path::Path;

/// The resolved pulse-response model with its model-specific parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Exact floating-point update.
    Ideal,
    /// Constant step.
    ConstantStep,
    /// Linear step.
    LinearStep {
        /// Slope of the up step.
        gamma_up: f64,
        /// Slope of the down step.
        gamma_down: f64,
        /// Device-to-device spread of the slopes.
        gamma_dtod: f64,
        /// Multiplicative (true) or additive step noise.
        mult_noise: bool,
    },
    /// Soft bounds (linear step with γ = 1 against each cell's bounds).
    SoftBounds {
        /// Multiplicative (true) or additive step noise.
        mult_noise: bool,
    },
    /// Exponential step.
    ExpStep {
        /// a.
        a: f64,
        /// b.
        b: f64,
        /// A_up.
        a_up: f64,
        /// A_down.
        a_down: f64,
        /// γ_up.
        gamma_up: f64,
        /// γ_down.
        gamma_down: f64,
        /// Additive part of the step noise.
        std_add: f64,
        /// Weight-proportional part of the step noise.
        std_slope: f64,
    },
    /// Power step.
    PowStep {
        /// γ.
        gamma: f64,
        /// Device-to-device spread of γ.
        gamma_dtod: f64,
        /// Up/down asymmetry of γ.
        up_down: f64,
        /// Its device-to-device spread.
        up_down_dtod: f64,
    },
    /// Piecewise-interpolated step table.
    Piecewise {
        /// Relative up steps at the nodes.
        up: Vec<f64>,
        /// Relative down steps at the nodes.
        down: Vec<f64>,
    },
}

/// A checked device: every field in range, model-specific fields resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The resolved file (every optional field of the chosen model filled with its default).
    pub(crate) spec: DeviceFile,
    /// The response model with its parameters.
    pub(crate) shape: Shape,
}

/// Why a device could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceError {
    /// Neither a preset name nor an existing file.
    NotFound {
        /// What was asked for.
        name: String,
        /// The preset names.
        presets: Vec<String>,
    },
    /// The file exists but cannot be read.
    Io {
        /// Path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The file's contents are invalid (all problems found).
    Invalid(Vec<ConfigError>),
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::NotFound { name, presets } => write!(
                f,
                "{name}: no such device file, and not a preset (presets: {})",
                presets.join(", ")
            ),
            DeviceError::Io { path, message } => write!(f, "{path}: cannot read: {message}"),
            DeviceError::Invalid(errs) => {
                for (i, e) in errs.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for DeviceError {}

impl Device {
    /// Loads a preset by name, or a device file by path.
    pub fn load(name_or_path: &str) -> Result<Device, DeviceError> {
        let (src, file) = Device::source(name_or_path)?;
        Device::from_toml(&src, &file)
    }

    /// [`Device::load`], and the warnings about its unusual values (see
    /// [`DeviceFile::warnings`]), each located like an error.
    pub fn load_with_warnings(
        name_or_path: &str,
    ) -> Result<(Device, Vec<ConfigError>), DeviceError> {
        let (src, file) = Device::source(name_or_path)?;
        let device = Device::from_toml(&src, &file)?;
        let warnings = device.spec.warnings(&src, &file);
        Ok((device, warnings))
    }

    /// The TOML text of a preset (by name) or of a device file (by path), and the file name to
    /// give in errors.
    pub fn source(name_or_path: &str) -> Result<(String, String), DeviceError> {
        if let Some(src) = presets::source(name_or_path) {
            return Ok((src.to_string(), format!("devices/{name_or_path}.toml")));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(DeviceError::NotFound {
                name: name_or_path.to_string(),
                presets: presets::names().iter().map(|s| s.to_string()).collect(),
            });
        }
        let src = crate::config_file::read_text(path).map_err(|message| DeviceError::Io {
            path: name_or_path.to_string(),
            message,
        })?;
        Ok((src, name_or_path.to_string()))
    }

    /// Parses and checks a device file's contents; `file` names it in errors.
    pub fn from_toml(src: &str, file: &str) -> Result<Device, DeviceError> {
        let raw: DeviceFile = parse_toml(src, file).map_err(|e| DeviceError::Invalid(vec![e]))?;
        raw.validate(src, file).map_err(DeviceError::Invalid)
    }

    /// The ideal device: floating-point cells, perfect periphery.
    pub fn ideal() -> Device {
        Device::load("ideal").expect("the ideal preset is valid")
    }

    /// Weight magnitude that maps onto the full conductance range g_max − g_min.
    pub fn w_scale(&self) -> f64 {
        let r = &self.spec.response;
        if matches!(self.shape, Shape::Ideal) {
            return 1.0;
        }
        r.w_min.abs().max(r.w_max.abs())
    }

    /// Conductance (µS) of a cell holding weight magnitude `w` (for one-sided pairs, one cell's g).
    pub fn conductance_us(&self, w: f64) -> f64 {
        let c = &self.spec.conductance;
        c.g_min_us + (c.g_max_us - c.g_min_us) * (w.abs() / self.w_scale())
    }

    /// Number of distinguishable states, (w_max − w_min)/dw_min.
    pub fn states(&self) -> f64 {
        let r = &self.spec.response;
        (r.w_max - r.w_min) / r.dw_min
    }
}

/// Largest relative device-to-device or cycle-to-cycle spread of a step that still means
/// something (1000 %; measured devices are below 100 %).
pub const MAX_RELATIVE_SPREAD: f64 = 10.0;
/// Largest random failure rate, per cell per second (accelerated ageing in the shipped
/// experiments uses 3e-7).
pub const MAX_HAZARD_RATE_PER_S: f64 = 1.0;
/// Largest output noise, in units of a full-scale output (aihwkit's default is 0.06).
pub const MAX_OUT_NOISE: f64 = 100.0;

/// A number for a message: scientific notation when very large or small (`1e300`, not 300
/// digits).
fn short(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-3..1e6).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// Collects range errors with their field paths.
struct Checker<'a> {
    src: &'a str,
    file: &'a str,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, msg: String) {
        self.errors
            .push(ConfigError::at_field(self.src, self.file, path, msg));
    }
    fn finite(&mut self, path: &str, v: f64) -> bool {
        if v.is_finite() {
            true
        } else {
            self.fail(path, format!("must be a finite number, got {v}"));
            false
        }
    }
    fn non_negative(&mut self, path: &str, v: f64) {
        if self.finite(path, v) && v < 0.0 {
            self.fail(path, format!("must be ≥ 0, got {v}"));
        }
    }
    fn positive(&mut self, path: &str, v: f64) {
        if self.finite(path, v) && v <= 0.0 {
            self.fail(path, format!("must be > 0, got {v}"));
        }
    }
    /// Positive, `inf` allowed (meaning "never").
    fn positive_or_inf(&mut self, path: &str, v: f64) {
        if v.is_nan() || v <= 0.0 {
            self.fail(path, format!("must be > 0 (or inf), got {v}"));
        }
    }
    fn fraction(&mut self, path: &str, v: f64) {
        if self.finite(path, v) && !(0.0..=1.0).contains(&v) {
            self.fail(path, format!("must be a fraction in [0, 1], got {v}"));
        }
    }
    fn bits(&mut self, path: &str, b: Bits) {
        if let Bits::Finite(n) = b {
            if !(2..=16).contains(&n) {
                self.fail(
                    path,
                    format!("must be between 2 and 16 bits (or \"ideal\"), got {n}"),
                );
            }
        }
    }
}

impl Device {
    /// The resolved file (every optional field of the chosen model filled with its default).
    /// Read-only: a validated device cannot be edited into nonsense; [`Device::edited`] makes a
    /// changed copy and validates it again.
    ///
    /// ```compile_fail
    /// let mut d = mortalsim::device::Device::load("constant-step").unwrap();
    /// d.spec.response.dw_min = -1.0; // private field: does not compile
    /// ```
    pub fn spec(&self) -> &DeviceFile {
        &self.spec
    }

    /// The response model with its parameters.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// A copy with `edit` applied to its file, validated again: the only way to change a
    /// device after validation. The errors name the field (the file is `name`).
    pub fn edited(
        &self,
        name: &str,
        edit: impl FnOnce(&mut DeviceFile),
    ) -> Result<Device, Vec<ConfigError>> {
        let mut spec = self.spec.clone();
        edit(&mut spec);
        spec.validate("", name)
    }
}

impl DeviceFile {
    /// Checks every field once and resolves the model's optional parameters; all problems are
    /// reported, each with its file, line and field.
    pub fn validate(mut self, src: &str, file: &str) -> Result<Device, Vec<ConfigError>> {
        let mut c = Checker {
            src,
            file,
            errors: Vec::new(),
        };
        let shape = resolve_shape(&mut self.response, &mut c);
        let r = &self.response;
        if !matches!(shape, Shape::Ideal) {
            c.positive("response.dw_min", r.dw_min);
        }
        for (p, v) in [
            ("response.dw_min_dtod", r.dw_min_dtod),
            ("response.dw_min_std", r.dw_min_std),
            ("response.up_down_dtod", r.up_down_dtod),
            ("response.w_min_dtod", r.w_min_dtod),
            ("response.w_max_dtod", r.w_max_dtod),
            ("response.write_noise_std", r.write_noise_std),
            ("response.reset_dtod", r.reset_dtod),
            ("response.reset_std", r.reset_std),
        ] {
            c.non_negative(p, v);
        }
        if c.finite("response.up_down", r.up_down) && r.up_down.abs() >= 1.0 {
            c.fail(
                "response.up_down",
                format!(
                    "must be in (−1, 1) (steps Δw(1 ± β) must stay positive), got {}",
                    r.up_down
                ),
            );
        }
        // Physically meaningless values (as opposed to unusual ones) are errors.
        if self.name.trim().is_empty() {
            c.fail("name", "a device needs a name".to_string());
        }
        for (p, v) in [
            ("response.dw_min_dtod", r.dw_min_dtod),
            ("response.dw_min_std", r.dw_min_std),
            ("response.up_down_dtod", r.up_down_dtod),
        ] {
            if v.is_finite() && v > MAX_RELATIVE_SPREAD {
                c.fail(
                    p,
                    format!(
                        "a relative spread of {} (more than {MAX_RELATIVE_SPREAD}× the step) \
                         leaves nothing of the step",
                        short(v)
                    ),
                );
            }
        }
        if !matches!(shape, Shape::Ideal)
            && r.dw_min.is_finite()
            && r.dw_min > r.w_max - r.w_min
            && r.w_max > r.w_min
        {
            c.fail(
                "response.dw_min",
                format!(
                    "a step of {} is larger than the whole range [{}, {}]: not one state",
                    short(r.dw_min),
                    r.w_min,
                    r.w_max
                ),
            );
        }
        if c.finite("response.reset", r.reset)
            && r.one_sided
            && (r.reset < r.w_min || r.reset > r.w_max)
        {
            c.fail(
                "response.reset",
                format!(
                    "a one-sided cell resets within its range [{}, {}], got {}",
                    r.w_min, r.w_max, r.reset
                ),
            );
        }
        if c.finite("response.w_min", r.w_min)
            && c.finite("response.w_max", r.w_max)
            && r.w_min >= r.w_max
        {
            c.fail(
                "response.w_max",
                format!(
                    "w_max ({}) must be greater than w_min ({})",
                    r.w_max, r.w_min
                ),
            );
        }
        if r.one_sided && r.w_min < 0.0 {
            c.fail(
                "response.w_min",
                format!(
                    "a one-sided cell's conductance range starts at 0 or above, got {}",
                    r.w_min
                ),
            );
        }
        if !r.one_sided && (r.w_min > 0.0 || r.w_max < 0.0) {
            c.fail(
                "response.w_min",
                "a bidirectional cell's range [w_min, w_max] must contain 0".to_string(),
            );
        }

        let g = &self.conductance;
        c.non_negative("conductance.g_min_us", g.g_min_us);
        if c.finite("conductance.g_max_us", g.g_max_us) && g.g_max_us <= g.g_min_us {
            c.fail(
                "conductance.g_max_us",
                format!(
                    "g_max_us ({}) must be greater than g_min_us ({})",
                    g.g_max_us, g.g_min_us
                ),
            );
        }

        c.non_negative("read_noise.std", self.read_noise.std);
        c.positive("read_noise.t_read_s", self.read_noise.t_read_s);
        let p = &self.programming;
        c.non_negative("programming.std", p.std);
        c.non_negative("programming.verify_tolerance", p.verify_tolerance);
        if p.max_iterations == 0 {
            c.fail(
                "programming.max_iterations",
                "must be at least 1, got 0".into(),
            );
        }
        c.positive("drift.t0_s", self.drift.t0_s);
        c.non_negative("drift.nu_mean", self.drift.nu_mean);
        c.non_negative("drift.nu_std", self.drift.nu_std);
        c.positive_or_inf("leak.lifetime_s", self.leak.lifetime_s);
        c.non_negative("leak.lifetime_dtod", self.leak.lifetime_dtod);

        let fl = &self.failure;
        c.fraction("failure.stuck_at_min_fraction", fl.stuck_at_min_fraction);
        c.fraction("failure.stuck_at_max_fraction", fl.stuck_at_max_fraction);
        c.fraction(
            "failure.stuck_at_random_fraction",
            fl.stuck_at_random_fraction,
        );
        let stuck = [
            ("stuck_at_min_fraction", fl.stuck_at_min_fraction),
            ("stuck_at_max_fraction", fl.stuck_at_max_fraction),
            ("stuck_at_random_fraction", fl.stuck_at_random_fraction),
        ];
        let total: f64 = stuck.iter().map(|s| s.1).sum();
        // (A fraction outside [0, 1] is reported alone, above.)
        if total > 1.0 + 1e-12 && stuck.iter().all(|s| (0.0..=1.0).contains(&s.1)) {
            // Blame the largest fraction (one that is set: the defaults are 0), naming the ones
            // that add up.
            let set: Vec<_> = stuck.iter().filter(|s| s.1 > 0.0).collect();
            let largest = set
                .iter()
                .fold(set[0], |a, b| if b.1 > a.1 { b } else { a });
            let sum = set
                .iter()
                .map(|s| format!("{} ({})", s.0, s.1))
                .collect::<Vec<_>>()
                .join(" + ");
            c.fail(
                &format!("failure.{}", largest.0),
                format!("the stuck fractions {sum} add up to {total}, more than 1"),
            );
        }
        c.non_negative("failure.stuck_random_range", fl.stuck_random_range);
        // Stuck at a bound needs bounds: the ideal model's ±1e30 would make the weight ±1e30.
        let r = &self.response;
        if r.w_min.abs().max(r.w_max.abs()) > 1e6 {
            let at_bound = |s: FailedState| matches!(s, FailedState::Min | FailedState::Max);
            for (path, bad) in [
                (
                    "failure.stuck_at_min_fraction",
                    fl.stuck_at_min_fraction > 0.0,
                ),
                (
                    "failure.stuck_at_max_fraction",
                    fl.stuck_at_max_fraction > 0.0,
                ),
                ("failure.worn_out_state", at_bound(fl.worn_out_state)),
                ("failure.hazard_state", at_bound(fl.hazard_state)),
            ] {
                if bad {
                    c.fail(
                        path,
                        format!(
                            "a cell stuck at a bound needs finite bounds, but w_min, w_max = \
                             {}, {} (use stuck_at_random_fraction, or a pulsed model)",
                            r.w_min, r.w_max
                        ),
                    );
                }
            }
        }
        if fl.endurance_median_pulses.is_nan() || fl.endurance_median_pulses < 1.0 {
            c.fail(
                "failure.endurance_median_pulses",
                format!(
                    "must be ≥ 1 pulse (or inf), got {}",
                    fl.endurance_median_pulses
                ),
            );
        }
        c.non_negative("failure.endurance_log_std", fl.endurance_log_std);
        c.non_negative("failure.hazard_rate_per_s", fl.hazard_rate_per_s);
        if fl.hazard_rate_per_s > MAX_HAZARD_RATE_PER_S {
            c.fail(
                "failure.hazard_rate_per_s",
                format!(
                    "{} failures per cell per second: every cell would be dead within {} s",
                    short(fl.hazard_rate_per_s),
                    1.0 / MAX_HAZARD_RATE_PER_S
                ),
            );
        }

        let pe = &self.periphery;
        c.bits("periphery.dac_bits", pe.dac_bits);
        c.bits("periphery.adc_bits", pe.adc_bits);
        c.positive_or_inf("periphery.inp_bound", pe.inp_bound);
        c.positive_or_inf("periphery.out_bound", pe.out_bound);
        c.non_negative("periphery.out_noise", pe.out_noise);
        if pe.out_noise > MAX_OUT_NOISE {
            c.fail(
                "periphery.out_noise",
                format!(
                    "an output noise of {} (more than {MAX_OUT_NOISE}× a full-scale output) \
                     drowns every read",
                    short(pe.out_noise)
                ),
            );
        }
        c.positive("periphery.nm_thres", pe.nm_thres);
        if c.finite("periphery.max_bm_factor", pe.max_bm_factor) && pe.max_bm_factor < 1.0 {
            c.fail(
                "periphery.max_bm_factor",
                format!("must be ≥ 1, got {}", pe.max_bm_factor),
            );
        }
        c.positive("periphery.max_bm_res", pe.max_bm_res);
        if pe.max_tile_rows == 0 {
            c.fail(
                "periphery.max_tile_rows",
                "must be at least 1, got 0".into(),
            );
        }
        if pe.max_tile_cols == 0 {
            c.fail(
                "periphery.max_tile_cols",
                "must be at least 1, got 0".into(),
            );
        }
        if pe.spare_lines_per_tile > pe.max_tile_rows {
            c.fail(
                "periphery.spare_lines_per_tile",
                format!(
                    "must be at most max_tile_rows ({}), got {}",
                    pe.max_tile_rows, pe.spare_lines_per_tile
                ),
            );
        }
        let frac = pe.spare_remap_failed_fraction;
        if c.finite("periphery.spare_remap_failed_fraction", frac) && !(frac > 0.0 && frac <= 1.0) {
            c.fail(
                "periphery.spare_remap_failed_fraction",
                format!("must be a fraction in (0, 1], got {frac}"),
            );
        }
        let ro = &self.readout;
        if ro.reads == 0 {
            c.fail(
                "readout.reads",
                "must be at least 1 read per column, got 0".into(),
            );
        }
        if let Some(b) = ro.adc_bits {
            c.bits("readout.adc_bits", b);
        }
        if let Some(b) = ro.out_bound {
            c.positive_or_inf("readout.out_bound", b);
        }
        if c.finite("readout.integration_cycles", ro.integration_cycles)
            && ro.integration_cycles < 1.0
        {
            c.fail(
                "readout.integration_cycles",
                format!(
                    "must be ≥ 1 read cycle, got {}",
                    short(ro.integration_cycles)
                ),
            );
        }
        if !(1..=32).contains(&self.update.desired_bl) {
            c.fail(
                "update.desired_bl",
                format!("must be between 1 and 32, got {}", self.update.desired_bl),
            );
        }
        c.fraction("refresh.upper_threshold", self.refresh.upper_threshold);
        c.fraction("refresh.lower_threshold", self.refresh.lower_threshold);
        if self.refresh.every_updates > 0 && !r.one_sided {
            c.fail(
                "refresh.every_updates",
                "refresh applies to one-sided pairs only (set response.one_sided = true)".into(),
            );
        }
        let t = &self.timing;
        for (p, v) in [
            ("timing.read_s", t.read_s),
            ("timing.pulse_s", t.pulse_s),
            ("timing.program_pulse_s", t.program_pulse_s),
            ("timing.digital_op_s", t.digital_op_s),
        ] {
            c.non_negative(p, v);
        }
        let e = &self.energy;
        for (p, v) in [
            ("energy.read_cell_j", e.read_cell_j),
            ("energy.dac_step_j", e.dac_step_j),
            ("energy.adc_step_j", e.adc_step_j),
            ("energy.pulse_j", e.pulse_j),
            ("energy.program_pulse_j", e.program_pulse_j),
            ("energy.digital_op_j", e.digital_op_j),
        ] {
            c.non_negative(p, v);
        }
        if c.errors.is_empty() {
            Ok(Device { spec: self, shape })
        } else {
            Err(c.errors)
        }
    }
}

/// Fills the chosen model's optional parameters with their defaults and rejects those of other
/// models.
fn resolve_shape(r: &mut ResponseSection, c: &mut Checker<'_>) -> Shape {
    use ResponseModel as M;
    let model = r.model;
    let name = serde_json::to_value(model)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut reject = |present: bool, field: &str, owner: &str| {
        if present {
            c.fail(
                &format!("response.{field}"),
                format!("applies to model `{owner}` only, not to `{name}`"),
            );
        }
    };
    let lin = matches!(model, M::LinearStep);
    let soft = matches!(model, M::SoftBounds);
    reject(!lin && r.gamma_up.is_some(), "gamma_up", "linear-step");
    reject(!lin && r.gamma_down.is_some(), "gamma_down", "linear-step");
    reject(!lin && r.gamma_dtod.is_some(), "gamma_dtod", "linear-step");
    reject(
        !(lin || soft) && r.mult_noise.is_some(),
        "mult_noise",
        "linear-step or soft-bounds",
    );
    let es = matches!(model, M::ExpStep);
    for (present, f) in [
        (r.es_a.is_some(), "es_a"),
        (r.es_b.is_some(), "es_b"),
        (r.es_a_up.is_some(), "es_A_up"),
        (r.es_a_down.is_some(), "es_A_down"),
        (r.es_gamma_up.is_some(), "es_gamma_up"),
        (r.es_gamma_down.is_some(), "es_gamma_down"),
        (r.dw_min_std_add.is_some(), "dw_min_std_add"),
        (r.dw_min_std_slope.is_some(), "dw_min_std_slope"),
    ] {
        reject(!es && present, f, "exp-step");
    }
    let pw = matches!(model, M::PowStep);
    for (present, f) in [
        (r.pow_gamma.is_some(), "pow_gamma"),
        (r.pow_gamma_dtod.is_some(), "pow_gamma_dtod"),
        (r.pow_up_down.is_some(), "pow_up_down"),
        (r.pow_up_down_dtod.is_some(), "pow_up_down_dtod"),
    ] {
        reject(!pw && present, f, "pow-step");
    }
    let pwl = matches!(model, M::Piecewise);
    reject(
        !pwl && r.piecewise_up.is_some(),
        "piecewise_up",
        "piecewise",
    );
    reject(
        !pwl && r.piecewise_down.is_some(),
        "piecewise_down",
        "piecewise",
    );
    reject(
        !soft && r.reference_mean.is_some(),
        "reference_mean",
        "soft-bounds",
    );
    reject(
        !soft && r.reference_std.is_some(),
        "reference_std",
        "soft-bounds",
    );
    reject(
        !soft && r.subtract_symmetry_point.is_some(),
        "subtract_symmetry_point",
        "soft-bounds",
    );

    match model {
        M::Ideal => Shape::Ideal,
        M::ConstantStep => Shape::ConstantStep,
        M::LinearStep => {
            let s = Shape::LinearStep {
                gamma_up: *r.gamma_up.get_or_insert(0.0),
                gamma_down: *r.gamma_down.get_or_insert(0.0),
                gamma_dtod: *r.gamma_dtod.get_or_insert(0.05),
                mult_noise: *r.mult_noise.get_or_insert(true),
            };
            for (p, v) in [
                ("response.gamma_up", r.gamma_up),
                ("response.gamma_down", r.gamma_down),
                ("response.gamma_dtod", r.gamma_dtod),
            ] {
                c.non_negative(p, v.unwrap_or(0.0));
            }
            s
        }
        M::SoftBounds => {
            c.finite(
                "response.reference_mean",
                *r.reference_mean.get_or_insert(0.0),
            );
            c.non_negative(
                "response.reference_std",
                *r.reference_std.get_or_insert(0.0),
            );
            r.subtract_symmetry_point.get_or_insert(false);
            Shape::SoftBounds {
                mult_noise: *r.mult_noise.get_or_insert(true),
            }
        }
        M::ExpStep => {
            let s = Shape::ExpStep {
                a: *r.es_a.get_or_insert(0.244),
                b: *r.es_b.get_or_insert(0.2425),
                a_up: *r.es_a_up.get_or_insert(0.00081),
                a_down: *r.es_a_down.get_or_insert(0.36833),
                gamma_up: *r.es_gamma_up.get_or_insert(12.44625),
                gamma_down: *r.es_gamma_down.get_or_insert(12.78785),
                std_add: *r.dw_min_std_add.get_or_insert(0.0),
                std_slope: *r.dw_min_std_slope.get_or_insert(0.0),
            };
            for (p, v) in [
                ("response.es_a", r.es_a),
                ("response.es_b", r.es_b),
                ("response.es_A_up", r.es_a_up),
                ("response.es_A_down", r.es_a_down),
                ("response.es_gamma_up", r.es_gamma_up),
                ("response.es_gamma_down", r.es_gamma_down),
            ] {
                c.finite(p, v.unwrap_or(0.0));
            }
            c.non_negative("response.dw_min_std_add", r.dw_min_std_add.unwrap_or(0.0));
            c.non_negative(
                "response.dw_min_std_slope",
                r.dw_min_std_slope.unwrap_or(0.0),
            );
            s
        }
        M::PowStep => {
            let s = Shape::PowStep {
                gamma: *r.pow_gamma.get_or_insert(1.0),
                gamma_dtod: *r.pow_gamma_dtod.get_or_insert(0.1),
                up_down: *r.pow_up_down.get_or_insert(0.0),
                up_down_dtod: *r.pow_up_down_dtod.get_or_insert(0.0),
            };
            c.positive("response.pow_gamma", r.pow_gamma.unwrap_or(1.0));
            c.non_negative("response.pow_gamma_dtod", r.pow_gamma_dtod.unwrap_or(0.0));
            c.finite("response.pow_up_down", r.pow_up_down.unwrap_or(0.0));
            c.non_negative(
                "response.pow_up_down_dtod",
                r.pow_up_down_dtod.unwrap_or(0.0),
            );
            s
        }
        M::Piecewise => {
            let up = r.piecewise_up.get_or_insert_with(|| vec![1.0]).clone();
            let down = r.piecewise_down.get_or_insert_with(|| vec![1.0]).clone();
            for (p, v) in [
                ("response.piecewise_up", &up),
                ("response.piecewise_down", &down),
            ] {
                if v.is_empty() {
                    c.fail(p, "needs at least one node".into());
                } else if v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                    c.fail(p, "every node must be a finite number ≥ 0".into());
                }
            }
            if up.len() != down.len() {
                c.fail(
                    "response.piecewise_down",
                    format!("has {} nodes but piecewise_up has {}", down.len(), up.len()),
                );
            }
            Shape::Piecewise { up, down }
        }
    }
}
