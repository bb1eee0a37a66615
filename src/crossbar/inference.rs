//! An inference array: a weight matrix programmed once onto a pair of devices per weight and
//! then left to age, as aihwkit's `InferenceTile` with its statistical noise model does it
//! (`src/aihwkit/simulator/tiles/inference.py`: `program_weights`, `drift_weights`;
//! `src/aihwkit/inference/noise/pcm.py`: `PCMLikeNoiseModel`;
//! `src/aihwkit/inference/converter/conductance.py`: `SinglePairConductanceConverter`).
//!
//! 1. **Conductances.** The stored matrix W̃ is mapped onto a pair (G⁺, G⁻) per weight with
//!    s = (g_max − g_min)/max(max|W̃|, 1e-7) µS per weight unit (the array's largest weight at
//!    g_max): G_T⁺ = clamp(s·w, 0, g_max) + g_min, G_T⁻ = clamp(−s·w, 0, g_max) + g_min.
//! 2. **Programming**, open loop, once per device (one counted programming pulse each):
//!    G_P = max(G_T + σ_prog(G_T)·ξ, 0) with the device's programming noise in µS
//!    ([`noise::program_std_us`]; for `pcm` aihwkit's polynomial). The drift exponent ν of each
//!    device is drawn from its target conductance ([`drift::draw_nu`]).
//! 3. **Ageing** to t seconds after programming: G_D = G_P·((t + t₀)/t₀)^(−ν) (t > 0), then, for a
//!    `pcm` read-noise model read [`ReadNoiseTiming::PerInferenceTime`] (aihwkit's choice), one
//!    draw of the accumulated 1/f noise G = max(G_D + |G_D|·Q_s·√(ln((t + t₀ + t_read)/
//!    (2 t_read)))·ξ, 0) with Q_s from G_P ([`noise::pcm_read_noise_relative`]), which every read
//!    at that time then sees; [`ReadNoiseTiming::PerRead`] instead draws that noise anew at every
//!    read, as mortalsim's own PCM tiles do (σ per device from G_D). Any other read-noise model
//!    of the device acts per read, as in a tile.
//! 4. **Weights** W = W̃ + ((G⁺ − G_T⁺) − (G⁻ − G_T⁻))/s: aihwkit's (G⁺ − G⁻)/s written as the
//!    deviation from the target, so that a device without noise or drift gives W̃ to the bit.
//! 5. **Reads** go through the device's periphery ([`super::periphery::Io`]: noise management,
//!    DAC, product, output noise, ADC, bound management); with perfect periphery and no per-read
//!    noise the network computes the read as the float product of a digital layer, bit for bit
//!    (`InferenceArray::exact_weights`).
//!
//! Unlike a [`super::Tile`] the array has no cell-level state (no pulses, failures or
//! write-and-verify): the statistical model of aihwkit, where each inference time is a fresh
//! draw of the read noise on top of programmed conductances and exponents that stay fixed.

use super::cost::Counters;
use super::periphery::{Io, Scratch};
use crate::device::{drift, noise, Device, DriftModel, ReadNoiseModel};
use crate::random::{normal, purpose, stream};
use nalgebra::DMatrix;

/// When the PCM 1/f read noise of an inference array is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadNoiseTiming {
    /// Once per inference time, the same for every read at that time (aihwkit's
    /// `PCMLikeNoiseModel`, the default).
    PerInferenceTime,
    /// Anew at every read, as mortalsim's PCM tiles draw it.
    PerRead,
}

/// Smallest array maximum the conductance mapping divides by (aihwkit's `_ZERO_CLIP`).
const ZERO_CLIP: f32 = 1e-7;

/// Stream key of the programming noise (the array's own streams: `purpose::READ` for reads).
const STREAM_PROGRAMMING: u64 = 0;
/// Stream key of the draws made at an inference time (the read noise drawn once per time).
const STREAM_AGEING: u64 = 1;

/// A programmed inference array (see the module documentation).
#[derive(Debug, Clone)]
pub struct InferenceArray {
    dev: Device,
    io: Io,
    timing: ReadNoiseTiming,
    rows: usize,
    cols: usize,
    seed: u64,
    /// µS per weight unit.
    s: f64,
    /// W̃, row-major.
    target: Vec<f32>,
    /// Target, programmed conductances and drift exponents of the + and − devices, row-major.
    g_target: [Vec<f32>; 2],
    g_prog: [Vec<f32>; 2],
    nu: [Vec<f32>; 2],
    /// Conductances now (drifted, with the read noise of this inference time if drawn so).
    g_now: [Vec<f32>; 2],
    /// Apparent weights now (row-major) and as a column-major matrix for the exact product.
    weights: Vec<f32>,
    weights_cm: DMatrix<f32>,
    /// Per-read variance of each weight (weight units²); empty without per-read noise.
    read_var: Vec<f32>,
    /// Seconds since programming.
    age_s: f64,
    /// Operations so far (each read or ageing step draws from its own stream).
    ops: u64,
    counters: Counters,
    scratch: Scratch,
}

impl InferenceArray {
    /// Programs `w` (rows × cols, the stored weights W̃) onto `dev` with the read noise drawn
    /// `timing`; `seed` keys every random draw of this array.
    pub fn program(dev: &Device, w: &DMatrix<f32>, timing: ReadNoiseTiming, seed: u64) -> Self {
        let (rows, cols) = w.shape();
        let mut io_dev = dev.clone();
        let pcm_once = dev.spec.read_noise.model == ReadNoiseModel::Pcm
            && timing == ReadNoiseTiming::PerInferenceTime;
        if pcm_once {
            io_dev.spec.read_noise.model = ReadNoiseModel::None;
        }
        let io = Io::new(&io_dev);
        let c = &dev.spec.conductance;
        let amax = w.amax().max(ZERO_CLIP) as f64;
        let s = (c.g_max_us - c.g_min_us) / amax;
        let target: Vec<f32> = (0..rows * cols).map(|k| w[(k / cols, k % cols)]).collect();
        let mut rng = stream(seed, &[STREAM_PROGRAMMING]);
        let mut g_target = [vec![0f32; rows * cols], vec![0f32; rows * cols]];
        let mut g_prog = g_target.clone();
        let mut nu = g_target.clone();
        for (k, &t) in target.iter().enumerate() {
            for (side, sign) in [(0usize, 1.0f64), (1, -1.0)] {
                let gt = (sign * s * t as f64).clamp(0.0, c.g_max_us) + c.g_min_us;
                let sigma = noise::program_std_us(dev, gt, s);
                let gp = if sigma > 0.0 {
                    (gt + sigma * normal(&mut rng) as f64).max(0.0)
                } else {
                    gt
                };
                g_target[side][k] = gt as f32;
                g_prog[side][k] = gp as f32;
                nu[side][k] = match dev.spec.drift.model {
                    DriftModel::None => 0.0,
                    DriftModel::PowerLaw => drift::draw_nu(dev, None, &mut rng).unwrap_or(0.0),
                    DriftModel::Pcm => {
                        drift::draw_nu(dev, Some(gt / c.g_max_us), &mut rng).unwrap_or(0.0)
                    }
                };
            }
        }
        let counters = Counters {
            programming_pulses: 2 * (rows * cols) as u64,
            ..Counters::default()
        };
        let mut a = InferenceArray {
            dev: dev.clone(),
            io,
            timing,
            rows,
            cols,
            seed,
            s,
            target,
            g_target,
            g_prog: g_prog.clone(),
            nu,
            g_now: g_prog.clone(),
            weights: Vec::new(),
            weights_cm: DMatrix::zeros(rows, cols),
            read_var: Vec::new(),
            age_s: 0.0,
            ops: 0,
            counters,
            scratch: Scratch::default(),
        };
        // Right after programming: the programmed conductances, no drift and no accumulated
        // noise yet (aihwkit's `program_weights` sets the tile to them).
        a.set_conductances(&g_prog);
        a.refresh_read_var(&g_prog);
        a
    }

    /// Outputs.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// µS per weight unit of the conductance mapping.
    pub fn us_per_weight(&self) -> f64 {
        self.s
    }

    /// Seconds since programming.
    pub fn age_s(&self) -> f64 {
        self.age_s
    }

    /// Operations counted so far (programming pulses, reads, conversions, digital work).
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Conductances (µS) of the + and − devices now, row-major, without the per-read noise:
    /// simulator introspection for tests and figures, not an operation of the chip.
    pub fn conductances_us(&self) -> &[Vec<f32>; 2] {
        &self.g_now
    }

    /// Target conductances (µS) of the + and − devices, row-major.
    pub fn target_conductances_us(&self) -> &[Vec<f32>; 2] {
        &self.g_target
    }

    /// Programmed conductances (µS) of the + and − devices, row-major.
    pub fn programmed_conductances_us(&self) -> &[Vec<f32>; 2] {
        &self.g_prog
    }

    /// The conductances at `t_s` seconds after programming: drifted, and with the accumulated
    /// 1/f noise of one inference time when the noise is drawn once per inference time.
    fn conductances_at(&self, t_s: f64) -> [Vec<f32>; 2] {
        let t0 = self.dev.spec.drift.t0_s;
        let g_max = self.dev.spec.conductance.g_max_us;
        let t_read = self.dev.spec.read_noise.t_read_s;
        let noisy = self.dev.spec.read_noise.model == ReadNoiseModel::Pcm
            && self.timing == ReadNoiseTiming::PerInferenceTime;
        let mut rng = stream(self.seed, &[STREAM_AGEING, self.ops]);
        let mut out = self.g_prog.clone();
        for (side, gs) in out.iter_mut().enumerate() {
            for (k, g) in gs.iter_mut().enumerate() {
                let gp = self.g_prog[side][k] as f64;
                let nu = self.nu[side][k];
                let mut gd = gp * drift::factor(t_s, t0, nu) as f64;
                if noisy {
                    let sig = noise::pcm_read_noise_relative(gp / g_max, t_s + t0, t_read);
                    gd = (gd + gd.abs() * sig * normal(&mut rng) as f64).max(0.0);
                }
                *g = gd as f32;
            }
        }
        out
    }

    /// Ages the array to `t_s` seconds after programming (any time, earlier or later: each
    /// call is a fresh draw of the accumulated read noise on the fixed programmed conductances
    /// and exponents, as aihwkit's `drift_weights(t_inference)`).
    pub fn age_to(&mut self, t_s: f64) {
        self.ops += 1;
        self.age_s = t_s.max(0.0);
        let g = self.conductances_at(self.age_s);
        self.set_conductances(&g);
        self.refresh_read_var(&g);
        self.g_now = g;
    }

    fn set_conductances(&mut self, g: &[Vec<f32>; 2]) {
        let s = self.s;
        self.weights = (0..self.rows * self.cols)
            .map(|k| {
                let dev_p = g[0][k] as f64 - self.g_target[0][k] as f64;
                let dev_m = g[1][k] as f64 - self.g_target[1][k] as f64;
                let d = dev_p - dev_m;
                if d == 0.0 {
                    self.target[k]
                } else {
                    (self.target[k] as f64 + d / s) as f32
                }
            })
            .collect();
        let cols = self.cols;
        let w = &self.weights;
        self.weights_cm = DMatrix::from_fn(self.rows, cols, |i, j| w[i * cols + j]);
    }

    /// Per-read variances: mortalsim's PCM read noise (per device, from the drifted
    /// conductance) when it is drawn per read, the device's `relative` model, else none.
    fn refresh_read_var(&mut self, g: &[Vec<f32>; 2]) {
        let r = &self.dev.spec.read_noise;
        self.read_var = match (r.model, self.timing) {
            (ReadNoiseModel::Pcm, ReadNoiseTiming::PerRead) => {
                let t = self.age_s + self.dev.spec.drift.t0_s;
                let g_max = self.dev.spec.conductance.g_max_us;
                (0..self.rows * self.cols)
                    .map(|k| {
                        let var: f64 = (0..2)
                            .map(|side| {
                                let gd = g[side][k] as f64;
                                let sig = noise::pcm_read_noise_relative(gd / g_max, t, r.t_read_s)
                                    * gd.abs()
                                    / self.s;
                                sig * sig
                            })
                            .sum();
                        var as f32
                    })
                    .collect()
            }
            (ReadNoiseModel::Relative, _) => self
                .weights
                .iter()
                .map(|w| {
                    let s = r.std as f32 * w.abs();
                    s * s
                })
                .collect(),
            _ => Vec::new(),
        };
    }

    /// Whether a read is the exact float product (perfect periphery, no per-read noise).
    pub fn is_exact(&self) -> bool {
        let constant_noise = self.dev.spec.read_noise.model == ReadNoiseModel::Constant
            && self.dev.spec.read_noise.std > 0.0;
        self.dev.spec.periphery.perfect && self.read_var.is_empty() && !constant_noise
    }

    /// With perfect periphery and no per-read noise, the weights whose float product is the
    /// read (the caller computes it with the same kernel as a digital layer and counts it with
    /// [`InferenceArray::count_exact_reads`]); None otherwise.
    pub(crate) fn exact_weights(&self) -> Option<&DMatrix<f32>> {
        self.is_exact().then_some(&self.weights_cm)
    }

    /// Counts `n` vector reads done as exact float products.
    pub(crate) fn count_exact_reads(&mut self, n: usize) {
        self.ops += 1;
        self.counters.reads += n as u64;
        self.counters.cells_read += (n * self.rows * self.cols) as u64;
    }

    /// Forward read of a batch (`x`: cols × batch) → rows × batch, through the periphery
    /// (counted: one vector read per input vector and re-read).
    pub fn read(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        assert_eq!(x.nrows(), self.cols, "read: input has the wrong width");
        self.ops += 1;
        let mut rng = stream(self.seed, &[purpose::READ, self.ops]);
        let (y, stats) = self.io.read(
            &mut self.scratch,
            &self.weights,
            &self.read_var,
            self.rows,
            self.cols,
            x,
            &mut rng,
        );
        self.counters
            .count_read(&stats, self.rows, self.cols, self.rows);
        y
    }

    /// Counts `n` digital operations done beside the array (gains, compensation).
    pub fn count_digital_ops(&mut self, n: u64) {
        self.counters.digital_ops += n;
    }
}
