//! A layer: a weight matrix held on analog crossbar tiles or as a digital float matrix, a digital
//! bias, and an activation.
//!
//! What a learner may do with an analog layer is what the chip can do: read forward
//! ([`Layer::forward`]), apply a rank-1 pulse update ([`Layer::update`]), program, read out, and
//! let time pass. There is no transposed read. The true weights are reachable only through
//! `Layer::privileged_true_weights`, which is crate-private and reserved for the `bp-oracle`
//! reference (counted as impossible on this hardware).

use super::Activation;
use crate::crossbar::{Counters, Crossbar};
use crate::device::Device;
use crate::random::stream;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;

/// Where a layer's weights live.
#[derive(Debug, Clone)]
pub enum Weights {
    /// On physical tiles of a device.
    Analog(Crossbar),
    /// A float matrix (rows × cols): the digital reference.
    Digital(DMatrix<f32>),
}

/// The result of a forward pass through one layer for a batch.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Pre-activations a = W·x + b (rows × batch).
    pub a: DMatrix<f32>,
    /// Activations h = f(a) (rows × batch).
    pub h: DMatrix<f32>,
}

/// One layer of a network.
#[derive(Debug, Clone)]
pub struct Layer {
    weights: Weights,
    bias: DVector<f32>,
    activation: Activation,
    digital_ops: u64,
    /// Digital gain g applied to every read: the layer's weights are g × the stored ones.
    gain: f32,
    /// Global drift compensation: mean |y| of one-hot reads taken as the reference.
    drift_reference: Option<f64>,
    /// Digital factor applied to the reads to undo drift (1 when compensation is off).
    drift_scale: f32,
}

/// `a · b` with the output's columns split into two fixed halves computed in parallel: both
/// cores for digital products, and the same bits whatever the thread count (the split does not
/// depend on it).
pub fn par_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    par_gemm(&mut out, 1.0, a, b, 0.0);
    out
}

/// `aᵀ · b` without forming aᵀ, with the output's columns split into two fixed halves computed in
/// parallel (see [`par_matmul`]).
pub fn par_tr_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let n = b.ncols();
    if n < 16 || a.len() < 4096 {
        return a.tr_mul(b);
    }
    let half = n / 2;
    let (left, right) = rayon::join(
        || a.tr_mul(&b.columns(0, half)),
        || a.tr_mul(&b.columns(half, n - half)),
    );
    let mut out = DMatrix::zeros(a.ncols(), n);
    out.columns_mut(0, half).copy_from(&left);
    out.columns_mut(half, n - half).copy_from(&right);
    out
}

/// `c ← alpha·a·b + beta·c` in place, with c's columns split into two fixed halves computed in
/// parallel (see [`par_matmul`]).
pub fn par_gemm(c: &mut DMatrix<f32>, alpha: f32, a: &DMatrix<f32>, b: &DMatrix<f32>, beta: f32) {
    let (rows, n) = (c.nrows(), c.ncols());
    if n < 16 || a.len() < 4096 {
        c.gemm(alpha, a, b, beta);
        return;
    }
    let half = n / 2;
    let (left, right) = c.as_mut_slice().split_at_mut(rows * half);
    rayon::join(
        || {
            let mut l = nalgebra::DMatrixViewMut::from_slice(left, rows, half);
            l.gemm(alpha, a, &b.columns(0, half), beta);
        },
        || {
            let mut r = nalgebra::DMatrixViewMut::from_slice(right, rows, n - half);
            r.gemm(alpha, a, &b.columns(half, n - half), beta);
        },
    );
}

/// The initial weights of a `rows` × `cols` layer as PyTorch's `nn.Linear` draws them (the
/// references' default): W, b ~ U(−1/√cols, 1/√cols).
pub fn torch_default_init(rows: usize, cols: usize, seed: u64) -> (DMatrix<f32>, DVector<f32>) {
    let bound = 1.0 / (cols as f32).sqrt();
    let mut rng = stream(seed, &[crate::random::purpose::INIT]);
    let w = DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-bound..bound));
    let b = DVector::from_fn(rows, |_, _| rng.random_range(-bound..bound));
    (w, b)
}

impl Layer {
    /// A layer of `rows` outputs × `cols` inputs. With a device its weights are fabricated on
    /// tiles of that device and programmed (write-and-verify, counted) to `w`; without one they
    /// are a float matrix equal to `w`.
    pub fn new(
        device: Option<&Device>,
        w: &DMatrix<f32>,
        bias: DVector<f32>,
        activation: Activation,
        seed: u64,
    ) -> Layer {
        let weights = match device {
            Some(dev) => {
                let mut xbar = Crossbar::new(dev, w.nrows(), w.ncols(), seed);
                xbar.program_all(w);
                Weights::Analog(xbar)
            }
            None => Weights::Digital(w.clone()),
        };
        Layer {
            weights,
            bias,
            activation,
            digital_ops: 0,
            gain: 1.0,
            drift_reference: None,
            drift_scale: 1.0,
        }
    }

    /// A fixed matrix `w` (no bias, linear), such as a feedback matrix. On a device it is stored
    /// scaled so that its largest entry uses half of the device's nominal weight range, and its
    /// reads are scaled back by a digital gain: a small fixed matrix would otherwise sit below the
    /// periphery's output noise and ADC step, as no chip designer would map it.
    pub fn fixed(device: Option<&Device>, w: &DMatrix<f32>, seed: u64) -> Layer {
        let max = w.amax();
        let range = device
            .filter(|d| !matches!(d.shape, crate::device::Shape::Ideal))
            .map(|d| d.spec.response.w_min.abs().min(d.spec.response.w_max.abs()) as f32);
        let gain = match range {
            Some(r) if max > 0.0 && r > 0.0 => max / (0.5 * r),
            _ => 1.0,
        };
        let mut layer = Layer::new(
            device,
            &(w / gain),
            DVector::zeros(w.nrows()),
            Activation::Identity,
            seed,
        );
        layer.gain = gain;
        layer
    }

    /// The digital gain applied to reads (1 unless the layer was made by [`Layer::fixed`]).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Outputs.
    pub fn rows(&self) -> usize {
        self.bias.len()
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        match &self.weights {
            Weights::Analog(x) => x.cols(),
            Weights::Digital(w) => w.ncols(),
        }
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the weights are on a chip.
    pub fn is_analog(&self) -> bool {
        matches!(self.weights, Weights::Analog(_))
    }

    /// The pre-activations W·x + b of a batch (cols × batch → rows × batch): one forward read
    /// on the chip, or a float product.
    pub fn preactivation(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let scale = self.gain * self.drift_scale;
        let mut a = match &mut self.weights {
            Weights::Analog(xbar) if scale != 1.0 => {
                self.digital_ops += (x.ncols() * self.bias.len()) as u64;
                xbar.read(x) * scale
            }
            Weights::Analog(xbar) => xbar.read(x),
            Weights::Digital(w) => {
                self.digital_ops += (2 * w.len() * x.ncols()) as u64;
                par_matmul(w, x)
            }
        };
        let rows = self.bias.len();
        for col in a.as_mut_slice().chunks_exact_mut(rows) {
            for (v, b) in col.iter_mut().zip(self.bias.iter()) {
                *v += b;
            }
        }
        self.digital_ops += a.len() as u64;
        a
    }

    /// Forward pass of a batch: pre-activations and activations.
    pub fn forward(&mut self, x: &DMatrix<f32>) -> Forward {
        let a = self.preactivation(x);
        let act = self.activation;
        let h = a.map(|v| act.apply(v));
        self.digital_ops += a.len() as u64;
        Forward { a, h }
    }

    /// The teaching signal through this layer's activation: δ = g ⊙ f′(a).
    pub fn gate(&mut self, g: &DMatrix<f32>, fwd: &Forward) -> DMatrix<f32> {
        let act = self.activation;
        self.digital_ops += g.len() as u64;
        let mut out = g.clone();
        for ((o, a), h) in out
            .as_mut_slice()
            .iter_mut()
            .zip(fwd.a.as_slice())
            .zip(fwd.h.as_slice())
        {
            *o *= act.derivative(*a, *h);
        }
        out
    }

    /// The rank-1 update W ← W − lr·Σ_b δ_b x_bᵀ, b ← b − lr·Σ_b δ_b: a pulse update on the chip,
    /// a float update in digital; the bias is digital either way.
    pub fn update(&mut self, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        match &mut self.weights {
            // The stored weights are W/g: their update is ΔW/g.
            Weights::Analog(xbar) => xbar.pulse_update(x, delta, lr / self.gain),
            Weights::Digital(w) => {
                par_gemm(w, -lr, delta, &x.transpose(), 1.0);
                self.digital_ops += (2 * w.len() * x.ncols()) as u64;
            }
        }
        let rows = self.bias.len();
        let mut sum = vec![0f32; rows];
        for col in delta.as_slice().chunks_exact(rows) {
            for (s, d) in sum.iter_mut().zip(col) {
                *s += d;
            }
        }
        for (b, s) in self.bias.iter_mut().zip(sum) {
            *b -= lr * s;
        }
        self.digital_ops += delta.len() as u64;
    }

    /// The weights as the learner may know them: a one-hot readout on the chip (noisy, counted),
    /// the matrix itself in digital.
    pub fn readout(&mut self) -> DMatrix<f32> {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.readout() * self.gain,
            Weights::Digital(w) => w.clone(),
        }
    }

    /// Re-programs the weights to `w` (write-and-verify on the chip).
    pub fn program(&mut self, w: &DMatrix<f32>) {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.program_all(&(w / self.gain)),
            Weights::Digital(m) => m.copy_from(w),
        }
    }

    /// The digital weight matrix, for layers that are digital (None for analog layers, whose
    /// weights the learner cannot see).
    pub fn digital_weights(&self) -> Option<&DMatrix<f32>> {
        match &self.weights {
            Weights::Digital(w) => Some(w),
            Weights::Analog(_) => None,
        }
    }

    /// The true weights of an analog layer, for the `bp-oracle` reference only: counted as
    /// transpose-capable reads that this hardware cannot do.
    pub(crate) fn privileged_true_weights(&mut self) -> DMatrix<f32> {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.privileged_true_weights() * self.gain,
            Weights::Digital(w) => w.clone(),
        }
    }

    /// Counts `n` digital operations done on this layer's behalf (e.g. a backward product).
    pub(crate) fn count_digital_ops(&mut self, n: u64) {
        self.digital_ops += n;
    }

    /// The bias.
    pub fn bias(&self) -> &DVector<f32> {
        &self.bias
    }

    /// Global drift compensation, step 1 (aihwkit's `GlobalDriftCompensation`): reads the
    /// array with one-hot inputs (the identity, one read per input) and keeps the mean |y| as
    /// the reference. Call it right after programming or training. No-op on digital layers.
    pub fn calibrate_drift_reference(&mut self) {
        self.drift_reference = self.one_hot_mean_abs();
    }

    /// Global drift compensation, step 2: reads the one-hot inputs again and sets the digital
    /// factor α = reference / now (now clamped ≥ 1e-4 of the reference) by which every later
    /// read is multiplied; `false` switches compensation off (α = 1). Returns α.
    pub fn compensate_drift(&mut self, on: bool) -> f32 {
        self.drift_scale = 1.0;
        if on {
            if let (Some(reference), Some(now)) = (self.drift_reference, self.one_hot_mean_abs()) {
                self.drift_scale = (reference / now.max(1e-4 * reference)) as f32;
            }
        }
        self.drift_scale
    }

    /// Mean |y| over the reads of the identity (one read per input), or None on digital layers.
    fn one_hot_mean_abs(&mut self) -> Option<f64> {
        let Weights::Analog(xbar) = &mut self.weights else {
            return None;
        };
        let y = xbar.read(&DMatrix::identity(xbar.cols(), xbar.cols()));
        self.digital_ops += 2 * y.len() as u64;
        Some(y.iter().map(|v| v.abs() as f64).sum::<f64>() / y.len().max(1) as f64)
    }

    /// Simulated time of the layer's tiles, seconds (0 for digital layers).
    pub fn now_s(&self) -> f64 {
        match &self.weights {
            Weights::Analog(xbar) => xbar.now_s(),
            Weights::Digital(_) => 0.0,
        }
    }

    /// Failed devices and all devices of the layer's tiles ((0, 0) for digital layers).
    pub fn failed_devices(&self) -> (usize, usize) {
        match &self.weights {
            Weights::Analog(xbar) => xbar.failed_devices(),
            Weights::Digital(_) => (0, 0),
        }
    }

    /// Lets `dt_s` seconds pass on the chip.
    pub fn advance(&mut self, dt_s: f64) {
        if let Weights::Analog(xbar) = &mut self.weights {
            xbar.advance(dt_s);
        }
    }

    /// Physical operation counts, including the digital work of the layer.
    pub fn counters(&self) -> Counters {
        let mut c = match &self.weights {
            Weights::Analog(x) => x.counters(),
            Weights::Digital(_) => Counters::default(),
        };
        c.digital_ops += self.digital_ops;
        c
    }

    /// Energy of the layer's operations, joules (digital work priced with `pricing`'s table).
    pub fn energy_j(&self, pricing: &Device) -> f64 {
        match &self.weights {
            Weights::Analog(x) => self.counters().energy(x.device()).total_j(),
            Weights::Digital(_) => self.counters().energy(pricing).total_j(),
        }
    }

    /// Spare lines of the layer's tiles, (used, total) in lines that span the layer's inputs
    /// (see [`Crossbar::spare_lines`]); (0, 0) for digital layers and devices without spares.
    pub fn spare_lines(&self) -> (usize, usize) {
        match &self.weights {
            Weights::Analog(xbar) => xbar.spare_lines(),
            Weights::Digital(_) => (0, 0),
        }
    }

    /// Refresh of drifted cells: re-programs the layer's weights to what they should be and
    /// restarts the drift clock of every programmed cell. No-op on digital layers.
    ///
    /// With R the readout of the stored weights (one-hot forward reads: noisy, quantised,
    /// counted) and α = ref / max(mean|R|, 1e-4·ref) the global drift-compensation factor
    /// measured now against the layer's drift reference ref (the same measurement as
    /// [`Layer::compensate_drift`]: mean |y| over the one-hot reads; α = 1 when no reference
    /// was taken), every cell is written (write-and-verify, counted) to W = α·R. Afterwards
    /// the drift reference, if one was taken, is re-taken (one-hot reads, counted), and the
    /// compensation factor is reset to α = 1: the new reference is today's weights, so α
    /// re-measured now is 1. For a uniform power-law drift G = G_prog·((t − t_prog + t₀)/t₀)^(−ν) this restores the
    /// programmed weights up to read and programming error. Only the global factor is undone:
    /// with a per-cell spread of ν (or the PCM model's ν per conductance), each cell keeps its
    /// own deviation from the mean drift, read into R and written back.
    pub fn refresh(&mut self) {
        let Weights::Analog(xbar) = &mut self.weights else {
            return;
        };
        let r = xbar.readout();
        let n = r.len().max(1);
        let alpha = match self.drift_reference {
            Some(reference) => {
                let now = r.iter().map(|v| v.abs() as f64).sum::<f64>() / n as f64;
                (reference / now.max(1e-4 * reference)) as f32
            }
            None => 1.0,
        };
        // Mean |R| (2 per weight) and the scaling by α (1 per weight).
        self.digital_ops += 3 * r.len() as u64;
        xbar.program_all(&(r * alpha));
        if self.drift_reference.is_some() {
            self.calibrate_drift_reference();
        }
        self.drift_scale = 1.0;
    }
}
