//! The device file: one kind of cell and its periphery, as serde structs with documented defaults.
//!
//! A file is parsed into [`DeviceFile`] (every field optional with a default; unknown fields are
//! rejected), then checked once by [`DeviceFile::validate`] into a [`Device`](super::Device), whose fields are
//! known to be in range. Units are in the field names: `_us` microsiemens, `_s` seconds, `_j`
//! joules, `_pulses` pulse counts; weights are in normalised weight units as in aihwkit.

use serde::{Deserialize, Serialize};

/// Number of quantisation levels of a converter, or `"ideal"` for an unquantised one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Bits {
    /// Finite resolution, 2 to 16 bits: the converter's step is `2·bound / (2^bits − 2)`, i.e.
    /// 2^bits − 1 levels over [−bound, bound] (aihwkit's convention: `inp_res = 1/(2^7 − 2)` of
    /// the range 2·bound, so 7 bits give 127 levels).
    Finite(u32),
    /// No quantisation (the word `"ideal"` in the file).
    Ideal(IdealWord),
}

impl<'de> Deserialize<'de> for Bits {
    /// A whole number of bits or the word `ideal`; anything else is an error saying so (an
    /// untagged enum would only say that no variant matched).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bits, D::Error> {
        struct V;
        const EXPECTED: &str = "a whole number of bits (2 to 16) or \"ideal\"";
        impl serde::de::Visitor<'_> for V {
            type Value = Bits;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Bits, E> {
                u32::try_from(v)
                    .map(Bits::Finite)
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, got {v}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Bits, E> {
                u32::try_from(v)
                    .map(Bits::Finite)
                    .map_err(|_| E::custom(format!("expected {EXPECTED}, got {v}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Bits, E> {
                Err(E::custom(format!("expected {EXPECTED}, got {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bits, E> {
                match v {
                    "ideal" => Ok(Bits::Ideal(IdealWord::Ideal)),
                    _ => Err(E::custom(format!("expected {EXPECTED}, got \"{v}\""))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The literal word `ideal`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdealWord {
    /// `"ideal"`.
    Ideal,
}

impl Bits {
    /// Quantisation step relative to the full range 2·bound, or `None` when ideal.
    pub fn relative_step(self) -> Option<f32> {
        match self {
            Bits::Finite(b) => Some(1.0 / ((2f64.powi(b as i32) - 2.0) as f32)),
            Bits::Ideal(_) => None,
        }
    }
}

/// The pulse response ("update once") model of a cell, after aihwkit's pulsed devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseModel {
    /// Floating-point update, no bounds, no noise: the exact reference.
    Ideal,
    /// w ← clip(w + d·Δw_d(1 + σ_c2c ξ)).
    ConstantStep,
    /// w ← w + d·Δw_d(γ_d w + 1)(1 + σξ) (multiplicative noise) or (γ_d w + 1 + σξ) (additive).
    LinearStep,
    /// Linear step with γ = 1 against each cell's own bounds: the step shrinks to 0 at the bound.
    SoftBounds,
    /// Exponential step (Gong et al. 2018 fit): y = 1 − A_d·exp(±γ_d z), z = 2a·w/(b_max − b_min) + b.
    ExpStep,
    /// Power step (Fusi & Abbott 2007): up Δw⁺ω^γ⁺, down Δw⁻(1 − ω)^γ⁻, ω = (b_max − w)/(b_max − b_min).
    PowStep,
    /// Step sizes interpolated linearly from a table of nodes spanning [b_min, b_max].
    Piecewise,
}

/// What a failed cell becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailedState {
    /// Frozen at the value it had when it failed.
    Current,
    /// Stuck at its minimum conductance (lower weight bound).
    Min,
    /// Stuck at its maximum conductance (upper weight bound).
    Max,
    /// Stuck at a random value in ±`stuck_random_range`.
    Random,
}

/// Per-read weight noise model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadNoiseModel {
    /// No read noise.
    None,
    /// Each cell adds N(0, std²) weight units per read (aihwkit's ADDITIVE_CONSTANT: y_i += std·‖x‖·ξ).
    Constant,
    /// Each cell adds N(0, (std·|w|)²) per read.
    Relative,
    /// PCM 1/f noise growing with time since programming (Nandakumar et al. 2019, aihwkit):
    /// σ = |w|·Q_s·√(ln((t + t_read)/(2 t_read))), Q_s = min(0.0088/(g/g_max)^0.65, 0.2).
    Pcm,
}

/// Programming (write-and-verify) noise model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgramNoiseModel {
    /// Exact programming.
    None,
    /// N(0, std²) weight units per programming pulse.
    Constant,
    /// N(0, (std·|target|)²) per programming pulse.
    Relative,
    /// PCM polynomial (aihwkit PCMLikeNoiseModel): σ = c₀ + c₁ ĝ + c₂ ĝ² µS at g_max = 25 µS,
    /// ĝ = g_T/g_max, c = [0.26348, 1.9650, −1.1731], rescaled by g_max/25.
    Pcm,
}

/// Conductance drift model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftModel {
    /// No drift.
    None,
    /// G = G_prog·((t − t_prog + t₀)/t₀)^(−ν), ν = |nu_mean + nu_std ξ| drawn per cell.
    PowerLaw,
    /// Power law with ν drawn at each programming from the PCM statistics of aihwkit:
    /// μ_ν = clip(−0.0155 ln ĝ + 0.0244, 0.049, 0.1), σ_ν = clip(−0.0125 ln ĝ − 0.0059, 0.008, 0.045).
    Pcm,
}

/// How inputs are scaled before the DAC (aihwkit's noise management).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseManagement {
    /// No scaling.
    None,
    /// Divide each input vector by its largest magnitude (aihwkit ABS_MAX).
    AbsMax,
    /// Divide by the constant `nm_thres`.
    Constant,
}

/// What happens when an output saturates the ADC (aihwkit's bound management).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoundManagement {
    /// Saturated outputs stay clipped.
    None,
    /// Re-read a saturated vector with its input halved, until it fits (aihwkit ITERATIVE).
    Iterative,
}

/// How weight updates are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PulseType {
    /// Stochastic compressed pulse trains; cells change where row and column pulses coincide.
    StochasticCompressed,
    /// Exact floating-point rank-1 update (still clipped at the cell's bounds).
    None,
}

macro_rules! defaults {
    ($($name:ident : $t:ty = $v:expr;)*) => { $(fn $name() -> $t { $v })* };
}

defaults! {
    d_dw_min: f64 = 0.001;
    d_dtod: f64 = 0.3;
    d_up_down_dtod: f64 = 0.01;
    d_w_min: f64 = -0.6;
    d_w_max: f64 = 0.6;
    d_reset_std: f64 = 0.01;
    d_stuck_range: f64 = 0.1;
    d_inf: f64 = f64::INFINITY;
    d_g_min: f64 = 0.0;
    d_g_max: f64 = 25.0;
    d_t0: f64 = 20.0;
    d_nu_mean: f64 = 0.05;
    d_max_iter: u32 = 10;
    d_dac: Bits = Bits::Finite(7);
    d_adc: Bits = Bits::Finite(9);
    d_one: f64 = 1.0;
    d_out_bound: f64 = 12.0;
    d_out_noise: f64 = 0.06;
    d_max_bm: f64 = 1000.0;
    d_max_bm_res: f64 = 0.25;
    d_tile: usize = 512;
    d_spare_frac: f64 = 0.05;
    d_bl: u32 = 31;
    d_true: bool = true;
    d_upper: f64 = 0.75;
    d_lower: f64 = 0.25;
    d_read_s: f64 = 80e-9;
    d_pulse_s: f64 = 1e-9;
    d_program_s: f64 = 1e-6;
    d_digital_s: f64 = 1e-9;
    d_read_cell_j: f64 = 1.0e-14;
    d_dac_step_j: f64 = 1.0e-15;
    d_adc_step_j: f64 = 1.0e-14;
    d_pulse_j: f64 = 3.3e-12;
    d_program_j: f64 = 3.3e-12;
    d_digital_j: f64 = 4.6e-12;
    d_readout_reads: u32 = 1;
    d_nm: NoiseManagement = NoiseManagement::AbsMax;
    d_bm: BoundManagement = BoundManagement::Iterative;
    d_pulse_type: PulseType = PulseType::StochasticCompressed;
    d_failed: FailedState = FailedState::Current;
    d_rn: ReadNoiseModel = ReadNoiseModel::None;
    d_pn: ProgramNoiseModel = ProgramNoiseModel::None;
    d_drift: DriftModel = DriftModel::None;
    d_model: ResponseModel = ResponseModel::ConstantStep;
}

/// A device file as written: every field has a default (documented in `devices show` and the
/// README), unknown fields are errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    /// Short name (the preset name for presets).
    pub name: String,
    /// One line saying what the device is.
    #[serde(default)]
    pub description: String,
    /// Where the numbers come from (paper, code, measured data).
    #[serde(default)]
    pub source: String,
    /// Pulse response of a cell.
    #[serde(default)]
    pub response: ResponseSection,
    /// Mapping of weights onto conductances.
    #[serde(default)]
    pub conductance: ConductanceSection,
    /// Per-read weight noise.
    #[serde(default)]
    pub read_noise: ReadNoiseSection,
    /// Write-and-verify programming.
    #[serde(default)]
    pub programming: ProgrammingSection,
    /// Conductance drift after programming.
    #[serde(default)]
    pub drift: DriftSection,
    /// Leak (decay toward the reset value), e.g. capacitor charge loss.
    #[serde(default)]
    pub leak: LeakSection,
    /// Fabrication faults, endurance and random failures.
    #[serde(default)]
    pub failure: FailureSection,
    /// DAC, ADC, output noise, noise and bound management, tile size.
    #[serde(default)]
    pub periphery: PeripherySection,
    /// How the chip reads its own weights out (repeated one-hot reads, the periphery's readout
    /// mode). Left out of the serialised file while it is the default, so that a device without
    /// it keeps its fingerprint (run directories made before the section existed resume).
    #[serde(default, skip_serializing_if = "ReadoutSection::is_default")]
    pub readout: ReadoutSection,
    /// The pulse update.
    #[serde(default)]
    pub update: UpdateSection,
    /// Refresh of one-sided pairs (aihwkit OneSidedUnitCell).
    #[serde(default)]
    pub refresh: RefreshSection,
    /// Simulated seconds per operation (the clock and the latency).
    #[serde(default)]
    pub timing: TimingSection,
    /// Energy per operation.
    #[serde(default)]
    pub energy: EnergySection,
}

/// `[response]`: the pulse response model and its device-to-device and cycle-to-cycle variation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSection {
    /// Response model.
    #[serde(default = "d_model")]
    pub model: ResponseModel,
    /// Nominal step per coincidence, weight units.
    #[serde(default = "d_dw_min")]
    pub dw_min: f64,
    /// Device-to-device spread of the step, relative.
    #[serde(default = "d_dtod")]
    pub dw_min_dtod: f64,
    /// Draw the step log-normally instead of normally.
    #[serde(default)]
    pub dw_min_dtod_log_normal: bool,
    /// Cycle-to-cycle step noise, relative to the step.
    #[serde(default = "d_dtod")]
    pub dw_min_std: f64,
    /// Up/down asymmetry β: up step Δw(1 + β), down step Δw(1 − β).
    #[serde(default)]
    pub up_down: f64,
    /// Device-to-device spread of β.
    #[serde(default = "d_up_down_dtod")]
    pub up_down_dtod: f64,
    /// Lower weight bound (nominal).
    #[serde(default = "d_w_min")]
    pub w_min: f64,
    /// Upper weight bound (nominal).
    #[serde(default = "d_w_max")]
    pub w_max: f64,
    /// Device-to-device spread of the lower bound, relative.
    #[serde(default = "d_dtod")]
    pub w_min_dtod: f64,
    /// Device-to-device spread of the upper bound, relative.
    #[serde(default = "d_dtod")]
    pub w_max_dtod: f64,
    /// Write noise on the apparent weight, re-drawn whenever the cell is written, in units of dw_min.
    #[serde(default)]
    pub write_noise_std: f64,
    /// A weight is a pair of uni-directional cells (w = g⁺ − g⁻, each only moves up), as PCM.
    #[serde(default)]
    pub one_sided: bool,
    /// Reset value of a cell (one-sided pairs reset to it), weight units.
    #[serde(default)]
    pub reset: f64,
    /// Device-to-device spread of the reset value, weight units.
    #[serde(default)]
    pub reset_dtod: f64,
    /// Cycle-to-cycle spread of each reset, weight units.
    #[serde(default = "d_reset_std")]
    pub reset_std: f64,
    /// linear-step: slope of the up step (0 = constant step).
    pub gamma_up: Option<f64>,
    /// linear-step: slope of the down step.
    pub gamma_down: Option<f64>,
    /// linear-step: device-to-device spread of the slopes.
    pub gamma_dtod: Option<f64>,
    /// linear-step / soft-bounds: noise multiplies the step (true) or adds to it (false).
    pub mult_noise: Option<bool>,
    /// exp-step: a.
    pub es_a: Option<f64>,
    /// exp-step: b.
    pub es_b: Option<f64>,
    /// exp-step: A_up.
    #[serde(rename = "es_A_up")]
    pub es_a_up: Option<f64>,
    /// exp-step: A_down.
    #[serde(rename = "es_A_down")]
    pub es_a_down: Option<f64>,
    /// exp-step: γ_up.
    pub es_gamma_up: Option<f64>,
    /// exp-step: γ_down.
    pub es_gamma_down: Option<f64>,
    /// exp-step: additive part of the step noise, σ = dw_min_std(|Δw| + add + slope|w|).
    pub dw_min_std_add: Option<f64>,
    /// exp-step: weight-proportional part of the step noise.
    pub dw_min_std_slope: Option<f64>,
    /// pow-step: exponent γ.
    pub pow_gamma: Option<f64>,
    /// pow-step: device-to-device spread of γ, relative.
    pub pow_gamma_dtod: Option<f64>,
    /// pow-step: up/down asymmetry of γ.
    pub pow_up_down: Option<f64>,
    /// pow-step: device-to-device spread of the γ asymmetry.
    pub pow_up_down_dtod: Option<f64>,
    /// piecewise: relative up-step sizes at equally spaced nodes over [b_min, b_max].
    pub piecewise_up: Option<Vec<f64>>,
    /// piecewise: relative down-step sizes at the same nodes.
    pub piecewise_down: Option<Vec<f64>>,
    /// soft-bounds: mean of a reference conductance subtracted at read, weight units.
    pub reference_mean: Option<f64>,
    /// soft-bounds: device-to-device spread of the reference, weight units.
    pub reference_std: Option<f64>,
    /// soft-bounds: subtract each cell's symmetry point (where up and down steps are equal).
    pub subtract_symmetry_point: Option<bool>,
}

/// `[conductance]`: the mapping of weights onto conductances.
///
/// A bidirectional cell's weight is read differentially against a reference at weight 0; a
/// one-sided pair is read as G⁺ − G⁻. Either way a weight magnitude |w| = max(|w_min|, |w_max|)
/// corresponds to g_max − g_min above g_min: G = g_min + (g_max − g_min)·|w|/w_scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConductanceSection {
    /// Lowest conductance of a cell, µS.
    #[serde(default = "d_g_min")]
    pub g_min_us: f64,
    /// Highest conductance of a cell, µS (PCM noise and drift statistics are stated against it).
    #[serde(default = "d_g_max")]
    pub g_max_us: f64,
}

/// `[read_noise]`: noise added to every read, re-drawn at each read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadNoiseSection {
    /// Model.
    #[serde(default = "d_rn")]
    pub model: ReadNoiseModel,
    /// Standard deviation: weight units (constant) or fraction of |w| (relative).
    #[serde(default)]
    pub std: f64,
    /// PCM: read duration t_read, seconds (aihwkit: 250 ns).
    #[serde(default = "d_t_read")]
    pub t_read_s: f64,
}
fn d_t_read() -> f64 {
    250e-9
}

/// `[programming]`: write-and-verify of chosen cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammingSection {
    /// Noise of one programming pulse.
    #[serde(default = "d_pn")]
    pub noise: ProgramNoiseModel,
    /// Standard deviation: weight units (constant) or fraction of |target| (relative).
    #[serde(default)]
    pub std: f64,
    /// Verify tolerance, weight units: programming stops once |w − target| ≤ tolerance.
    #[serde(default)]
    pub verify_tolerance: f64,
    /// Most write-verify iterations per cell.
    #[serde(default = "d_max_iter")]
    pub max_iterations: u32,
}

/// `[drift]`: power-law drift from each cell's last programming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSection {
    /// Model.
    #[serde(default = "d_drift")]
    pub model: DriftModel,
    /// Reference time t₀, seconds (aihwkit PCM: 20 s).
    #[serde(default = "d_t0")]
    pub t0_s: f64,
    /// Mean drift exponent ν (power-law).
    #[serde(default = "d_nu_mean")]
    pub nu_mean: f64,
    /// Device-to-device spread of ν (power-law).
    #[serde(default)]
    pub nu_std: f64,
}

/// `[leak]`: w ← reset + (w − reset)·exp(−Δt/τ), τ per cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakSection {
    /// Lifetime τ, seconds (`inf` = no leak).
    #[serde(default = "d_inf")]
    pub lifetime_s: f64,
    /// Device-to-device spread of τ, relative.
    #[serde(default)]
    pub lifetime_dtod: f64,
}

/// `[failure]`: cells that are stuck from fabrication, wear out, or fail at random.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureSection {
    /// Fraction of cells stuck at their minimum conductance from fabrication.
    #[serde(default)]
    pub stuck_at_min_fraction: f64,
    /// Fraction stuck at their maximum conductance.
    #[serde(default)]
    pub stuck_at_max_fraction: f64,
    /// Fraction stuck at a random value (aihwkit's corrupt devices).
    #[serde(default)]
    pub stuck_at_random_fraction: f64,
    /// Random stuck values are uniform in ±this range (clipped to the bounds), weight units.
    #[serde(default = "d_stuck_range")]
    pub stuck_random_range: f64,
    /// Median number of pulses a cell survives (`inf` = no wear-out).
    #[serde(default = "d_inf")]
    pub endurance_median_pulses: f64,
    /// Spread of ln(endurance): endurance = median·exp(σ ξ), log-normal.
    #[serde(default)]
    pub endurance_log_std: f64,
    /// What a worn-out cell becomes.
    #[serde(default = "d_failed")]
    pub worn_out_state: FailedState,
    /// Rate of random failure of each cell, per simulated second.
    #[serde(default)]
    pub hazard_rate_per_s: f64,
    /// What a randomly failed cell becomes.
    #[serde(default = "d_failed")]
    pub hazard_state: FailedState,
}

/// `[periphery]`: the forward read chain (aihwkit IOParameters defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeripherySection {
    /// Perfect periphery: no DAC/ADC, no bounds, no output noise (overrides the rest).
    #[serde(default)]
    pub perfect: bool,
    /// DAC resolution (bits, or "ideal").
    #[serde(default = "d_dac")]
    pub dac_bits: Bits,
    /// Input bound after noise management.
    #[serde(default = "d_one")]
    pub inp_bound: f64,
    /// ADC resolution (bits, or "ideal").
    #[serde(default = "d_adc")]
    pub adc_bits: Bits,
    /// Output bound (ADC range), in units of a fully-on input on a unit weight.
    #[serde(default = "d_out_bound")]
    pub out_bound: f64,
    /// Additive Gaussian noise at each output before the ADC.
    #[serde(default = "d_out_noise")]
    pub out_noise: f64,
    /// Noise management.
    #[serde(default = "d_nm")]
    pub noise_management: NoiseManagement,
    /// Scale used by constant noise management.
    #[serde(default = "d_one")]
    pub nm_thres: f64,
    /// Bound management.
    #[serde(default = "d_bm")]
    pub bound_management: BoundManagement,
    /// Largest input reduction bound management may apply.
    #[serde(default = "d_max_bm")]
    pub max_bm_factor: f64,
    /// Bound management also stops once the reduction exceeds `max_bm_res` divided by the DAC's
    /// relative step 1/(2^dac_bits − 2)·2, so inputs keep a few DAC levels (aihwkit: 0.25, i.e. a
    /// reduction of at most ≈ 16 with a 7-bit DAC).
    #[serde(default = "d_max_bm_res")]
    pub max_bm_res: f64,
    /// Most rows (outputs) of one physical tile; larger layers split over tiles.
    #[serde(default = "d_tile")]
    pub max_tile_rows: usize,
    /// Most columns (inputs) of one physical tile.
    #[serde(default = "d_tile")]
    pub max_tile_cols: usize,
    /// Spare output lines per tile (the "spare columns"; in this layout a tile's rows
    /// are its output lines, one unit each), at most `max_tile_rows`. Default 0: no spares, and
    /// every result is as without this field. Each tile of a layer gets this many extra physical
    /// lines beyond its `max_tile_rows`-bounded share of the layer; a unit whose line has failed
    /// is remapped onto a free spare of its tile row-block (costed: one-hot reads of the old
    /// line and write-and-verify of the spare), and the old line is retired.
    #[serde(default)]
    pub spare_lines_per_tile: usize,
    /// A mapped line is remapped onto a spare when at least this fraction of its devices has
    /// failed, in (0, 1] (default 0.05). On a chip the controller knows this from its fault map,
    /// built from write-verify failures (a cell that does not reach its target) and pulse
    /// counting; the simulator reads the cells' status for it.
    #[serde(default = "d_spare_frac")]
    pub spare_remap_failed_fraction: f64,
}

/// `[readout]`: how the chip reads its own weights out — the one-hot forward reads behind a
/// refresh, a transposed copy, a spare-line copy, continual backprop's |w|, L2 and
/// shrink-and-perturb, global drift compensation's reference reads and the readout before a
/// deployment. Every column is read `reads` times and the reads are averaged, through the
/// periphery in a readout mode with its own ADC (`adc_bits`, `out_bound`) and integration time
/// (`integration_cycles`). The defaults are today's periphery: one read, the forward settings,
/// bit for bit the reads of a device without this section.
///
/// Precedents in aihwkit 1.1.0: `TileWithPeriphery.read_weights(over_sampling = 10)` estimates
/// the weights from 10 × inputs forward reads (least squares, `simulator/tiles/periphery.py`),
/// and the transfer compounds read with their own `transfer_forward: IOParameters`
/// (`simulator/configs/compounds.py`), i.e. a readout mode of the periphery.
///
/// Physics (documented choices): averaging n reads divides the variance of everything drawn
/// per read — output noise and per-read cell read noise — by n (for PCM's 1/f read noise an
/// optimistic bound: its slow part does not average out) and dithers the ADC step; each read is
/// a full read (DAC, array, ADC; counted and priced as one). Integrating k read cycles collects
/// k times the signal charge against √k times the white output noise, so the output noise
/// falls to `out_noise`/√k, while the cells' read noise is left as it is (its 1/f part does not
/// average over a longer window); one conversion of k cycles takes k × `timing.read_s` and
/// k × the array's read energy, its ADC conversion priced at the readout's `adc_bits`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadoutSection {
    /// One-hot reads of each column, averaged (≥ 1; default 1).
    #[serde(default = "d_readout_reads")]
    pub reads: u32,
    /// ADC resolution of a readout (bits, or "ideal"); default: `periphery.adc_bits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adc_bits: Option<Bits>,
    /// Output bound (ADC range) of a readout, weight units for a one-hot input; default:
    /// `periphery.out_bound`. A one-hot input's output is one weight, so a bound of a few weight
    /// units loses nothing and makes the ADC step finer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_bound: Option<f64>,
    /// Integration time of one readout conversion, in read cycles (`timing.read_s`), ≥ 1
    /// (default 1): output noise `out_noise`/√k, time and array read energy × k.
    #[serde(default = "d_one")]
    pub integration_cycles: f64,
}

impl ReadoutSection {
    /// Whether every field is at its default (today's readout).
    pub fn is_default(&self) -> bool {
        *self == ReadoutSection::default()
    }
}

/// `[update]`: the stochastic pulse update (aihwkit UpdateParameters defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSection {
    /// How updates are applied.
    #[serde(default = "d_pulse_type")]
    pub pulse_type: PulseType,
    /// Pulse train length BL (1..=32).
    #[serde(default = "d_bl")]
    pub desired_bl: u32,
    /// Update management: balance row and column probabilities by √(x_max/d_max) (always on
    /// when bit-length management is, as in aihwkit).
    #[serde(default = "d_true")]
    pub update_management: bool,
    /// Bit-length management: shorten BL to ⌈lr·x_max·d_max/dw_min⌉ when that is smaller.
    #[serde(default = "d_true")]
    pub update_bl_management: bool,
}

/// `[refresh]`: one-sided pairs are reset and re-programmed when a cell nears saturation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSection {
    /// Check every this many pulse updates (0 = never).
    #[serde(default)]
    pub every_updates: u64,
    /// Refresh a pair when one of its cells exceeds this fraction of its upper bound.
    #[serde(default = "d_upper")]
    pub upper_threshold: f64,
    /// ... and the weight's magnitude is below this fraction of the upper bound.
    #[serde(default = "d_lower")]
    pub lower_threshold: f64,
}

/// `[timing]`: simulated seconds per operation. They advance the tile's clock (so drift, leak and
/// hazards act during learning) and give the latency per sample. Defaults: Gokmen & Vlasov 2016
/// RPU spec (80 ns read cycle, 1 ns pulses); 1 µs per write-verify iteration; 1 GHz digital logic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSection {
    /// One vector read (DAC, array, ADC), seconds.
    #[serde(default = "d_read_s")]
    pub read_s: f64,
    /// One pulse slot of an update (an update of one vector pair takes BL slots), seconds.
    #[serde(default = "d_pulse_s")]
    pub pulse_s: f64,
    /// One write-verify iteration of programming, seconds.
    #[serde(default = "d_program_s")]
    pub program_pulse_s: f64,
    /// One digital arithmetic operation, seconds.
    #[serde(default = "d_digital_s")]
    pub digital_op_s: f64,
}

/// `[energy]`: joules per operation. Defaults of the order NeuroSim uses: read 0.5 V for 10 ns on
/// ~4 µS (NeuroSim V2.1 Param.cpp) ≈ 10 fJ per cell; write 4 V for 50 ns on 4 µS ≈ 3.3 pJ per
/// pulse; converters scale with 2^bits from a Walden figure of merit (ADC 10 fJ/step, DAC 1
/// fJ/step, Murmann ADC survey); digital 32-bit float multiply-add 4.6 pJ (Horowitz, ISSCC 2014).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergySection {
    /// One cell taking part in one vector read, J.
    #[serde(default = "d_read_cell_j")]
    pub read_cell_j: f64,
    /// DAC energy per conversion step (× 2^bits per conversion), J.
    #[serde(default = "d_dac_step_j")]
    pub dac_step_j: f64,
    /// ADC energy per conversion step (× 2^bits per conversion), J.
    #[serde(default = "d_adc_step_j")]
    pub adc_step_j: f64,
    /// One update pulse at one cell (a coincidence), J.
    #[serde(default = "d_pulse_j")]
    pub pulse_j: f64,
    /// One write-verify iteration at one cell, J.
    #[serde(default = "d_program_j")]
    pub program_pulse_j: f64,
    /// One digital arithmetic operation, J.
    #[serde(default = "d_digital_j")]
    pub digital_op_j: f64,
}

/// A section's default is what an empty section deserialises to, so the `#[serde(default)]`
/// attributes are the single source of every default.
macro_rules! default_from_empty_section {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                toml::from_str("").expect("every field of a section has a default")
            }
        }
    )*};
}

default_from_empty_section!(
    ResponseSection,
    ConductanceSection,
    ReadNoiseSection,
    ProgrammingSection,
    DriftSection,
    LeakSection,
    FailureSection,
    PeripherySection,
    ReadoutSection,
    UpdateSection,
    RefreshSection,
    TimingSection,
    EnergySection
);
