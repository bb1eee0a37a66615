//! A layer: a weight matrix held on analog crossbar tiles or as a digital float matrix, a digital
//! bias, and an activation.
//!
//! What a learner may do with an analog layer is what the chip can do: read forward
//! ([`Layer::forward`]), apply a rank-1 pulse update ([`Layer::update`]), program, read out, and
//! let time pass. There is no transposed read. The true weights are reachable only through
//! `Layer::privileged_transposed_product` (Wᵀ·δ), which is crate-private and reserved for the
//! `bp-oracle` reference (counted as impossible on this hardware).

use super::momentum::{Momentum, Velocity};
use super::scheme::SchemeState;
use super::Activation;
use crate::crossbar::{Counters, Crossbar, OracleKey, TileView};
use crate::device::Device;
use crate::kernel::{par_gemm, par_matmul};
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
    /// A rule's probe: it sees the forward passes and may scale the updates
    /// ([`Layer::attach_probe`]); None = none.
    probe: Option<Box<dyn Probe>>,
    /// Momentum buffers of the weights and the bias ([`Layer::set_momentum`]); None = plain SGD.
    velocity: Option<LayerVelocity>,
    /// The update scheme's state ([`Layer::set_scheme`]); None = the plain pulsed update.
    scheme: Option<Box<SchemeState>>,
    /// Vector reads of update-scheme transfers (also in the crossbar's reads).
    transfer_reads: u64,
    /// Digital operations on update-scheme buffers (also in `digital_ops`).
    buffer_ops: u64,
    /// Simulator-only diagnostics of refresh and drift compensation (all off: the chip).
    diagnostics: Diagnostics,
}

/// Simulator-only diagnostics of the countermeasures that read the weights out (refresh,
/// global drift compensation), to separate the causes of what a refresh costs. None is a chip
/// feature; all are off by default (the chip as it is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Refresh and drift compensation take the true weights (privileged reads, counted as
    /// `oracle_reads`, impossible on this hardware) instead of one-hot readouts: no readout
    /// noise.
    pub exact_readouts: bool,
    /// A refresh leaves the drift clock and drift exponent of every re-programmed device as they
    /// were ([`crate::crossbar::Tile::set_keep_drift_clocks`]): no restarted drift.
    pub keep_drift_clocks: bool,
}

/// The digital velocity buffers of one layer.
#[derive(Debug, Clone)]
struct LayerVelocity {
    weights: Velocity,
    bias: Velocity,
}

/// What a rule attaches to a layer to watch its forward passes and shape its updates
/// ([`Layer::attach_probe`]), so that a mechanism's per-unit state stays with the mechanism.
pub trait Probe: std::fmt::Debug + Send + Sync + std::any::Any {
    /// Sees the activations h (units × batch) of a forward pass; returns the digital operations
    /// it spent (counted on the layer).
    fn observe(&mut self, h: &DMatrix<f32>) -> u64;
    /// The teaching signal δ (units × batch) to apply instead of `delta`, with the digital
    /// operations spent; None leaves δ as it is.
    fn scale(&self, delta: &DMatrix<f32>) -> Option<(DMatrix<f32>, u64)>;
    /// A boxed copy (layers are cloned with their probe).
    fn clone_probe(&self) -> Box<dyn Probe>;
}

impl Clone for Box<dyn Probe> {
    fn clone(&self) -> Box<dyn Probe> {
        self.clone_probe()
    }
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

/// How a network's weights are first drawn, and how continual backprop redraws a replaced
/// unit's incoming weights ("the initial distribution").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightInit {
    /// PyTorch's `nn.Linear` default, [`torch_default_init`]: W, b ~ U(−1/√fan_in, 1/√fan_in)
    /// (the default).
    #[default]
    TorchDefault,
    /// Kaiming-uniform in fan-in mode (He et al. 2015; `torch.nn.init.kaiming_uniform_` with
    /// the layer's activation as nonlinearity): W ~ U(−g·√(3/fan_in), g·√(3/fan_in)) with gain
    /// g = √2 for ReLU, 5/3 for tanh, 1 for sigmoid and the linear output; biases 0. Dohare et
    /// al.'s learners (`lop/nets/ffnn.py`; `lop/algos/gnt.py` redraws from it).
    KaimingUniform,
}

impl WeightInit {
    /// Parses `torch-default` or `kaiming-uniform`.
    pub fn parse(name: &str) -> Option<WeightInit> {
        match name {
            "torch-default" => Some(WeightInit::TorchDefault),
            "kaiming-uniform" => Some(WeightInit::KaimingUniform),
            _ => None,
        }
    }

    /// The initial weights and biases of a `rows` × `cols` layer whose output goes through
    /// `activation`, from `random::stream(seed, [INIT])`.
    pub fn draw(
        self,
        rows: usize,
        cols: usize,
        activation: Activation,
        seed: u64,
    ) -> (DMatrix<f32>, DVector<f32>) {
        match self {
            WeightInit::TorchDefault => torch_default_init(rows, cols, seed),
            WeightInit::KaimingUniform => {
                let gain = match activation {
                    Activation::Relu => std::f32::consts::SQRT_2,
                    Activation::Tanh => 5.0 / 3.0,
                    Activation::Sigmoid | Activation::Identity => 1.0,
                };
                let bound = gain * (3.0 / cols as f32).sqrt();
                let mut rng = stream(seed, &[crate::random::purpose::INIT]);
                let w = DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-bound..bound));
                (w, DVector::zeros(rows))
            }
        }
    }
}

impl Layer {
    /// A layer of `rows` outputs × `cols` inputs. With a device its weights are fabricated on
    /// tiles of that device and programmed (write-and-verify, counted) to `w`; without one they
    /// are a float matrix equal to `w`. Crate-private: a rule gets its arrays from a
    /// [`super::Chip`], so that every array ages on the chip's clock and is on its bill.
    ///
    /// ```compile_fail
    /// use mortalsim::net::{Activation, Layer};
    /// let w = nalgebra::DMatrix::zeros(2, 2);
    /// // An array off the chip would not age: does not compile.
    /// let l = Layer::new(None, &w, nalgebra::DVector::zeros(2), Activation::Identity, 1);
    /// ```
    pub(crate) fn new(
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
            probe: None,
            velocity: None,
            scheme: None,
            transfer_reads: 0,
            buffer_ops: 0,
            diagnostics: Diagnostics::default(),
        }
    }

    /// A fixed matrix `w` (no bias, linear), such as a feedback matrix. On a device it is stored
    /// scaled so that its largest entry uses half of the device's nominal weight range, and its
    /// reads are scaled back by a digital gain: a small fixed matrix would otherwise sit below the
    /// periphery's output noise and ADC step, as no chip designer would map it.
    pub(crate) fn fixed(device: Option<&Device>, w: &DMatrix<f32>, seed: u64) -> Layer {
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

    /// The digital gain applied to reads (1 unless the array is a fixed matrix mapped onto the
    /// device's range, [`super::Chip::allocate_fixed`]).
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

    /// The device of the layer's tiles (None for a digital layer).
    pub fn device(&self) -> Option<&Device> {
        match &self.weights {
            Weights::Analog(x) => Some(x.device()),
            Weights::Digital(_) => None,
        }
    }

    /// Whether the weights are on a chip.
    pub fn is_analog(&self) -> bool {
        matches!(self.weights, Weights::Analog(_))
    }

    /// The product W·x of a batch without the bias (cols × batch → rows × batch): one forward
    /// read on the chip (digital gain and drift compensation applied), or a float product.
    pub fn read(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let y = self.read_main(x);
        match self.scheme.as_mut().and_then(|s| s.fast_read(x)) {
            Some(fast) => y + fast,
            None => y,
        }
    }

    /// The read of the main array alone (C under a transfer scheme).
    fn read_main(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let scale = self.gain * self.drift_scale;
        match &mut self.weights {
            Weights::Analog(xbar) if scale != 1.0 => {
                self.digital_ops += (x.ncols() * self.bias.len()) as u64;
                xbar.read(x) * scale
            }
            Weights::Analog(xbar) => xbar.read(x),
            Weights::Digital(w) => {
                self.digital_ops += (2 * w.len() * x.ncols()) as u64;
                par_matmul(w, x)
            }
        }
    }

    /// The pre-activations W·x + b of a batch (cols × batch → rows × batch): one forward read
    /// on the chip, or a float product.
    pub fn preactivation(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut a = self.read(x);
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
        if let Some(p) = &mut self.probe {
            self.digital_ops += p.observe(&h);
        }
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
    ///
    /// With a probe that scales the teaching signal ([`Probe::scale`]; e.g. a per-unit step size
    /// δ_i ← s_i·δ_i) the scaled signal is applied.
    ///
    /// With an update scheme ([`super::Chip::set_update_scheme`]) the weights' step goes through
    /// the scheme (mixed precision, Tiki-Taka, TTv2, chopped TTv2, AGAD; [`super::scheme`]): every
    /// rule's update reaches the cells here, and only here.
    ///
    /// With momentum ([`Layer::set_momentum`]) the gradient G = Σ_b δ_b x_bᵀ is formed in digital
    /// and folded into the velocity v, and the step is W ← W − lr·v: on the chip a full-matrix
    /// write, one update cycle per input line ([`Crossbar::pulse_write`]), instead of one rank-1
    /// cycle per sample.
    pub fn update(&mut self, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        let scaled;
        let delta = match self.probe.as_ref().and_then(|p| p.scale(delta)) {
            Some((d, ops)) => {
                self.digital_ops += ops;
                scaled = d;
                &scaled
            }
            None => delta,
        };
        if self.velocity.is_some() {
            self.momentum_update(x, delta, lr);
            return;
        }
        match (&mut self.weights, self.scheme.as_mut()) {
            (Weights::Analog(xbar), Some(scheme)) => {
                let mut ops = 0;
                scheme.update(xbar, x, delta, lr / self.gain, &mut ops);
                self.count_buffer_ops(ops);
            }
            // The stored weights are W/g: their update is ΔW/g.
            (Weights::Analog(xbar), None) => xbar.pulse_update(x, delta, lr / self.gain),
            (Weights::Digital(w), _) => {
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

    /// The bare rank-1 pulse update of the weights, W ← W − lr·Σ_b d_b x_bᵀ (`x`: cols × batch,
    /// `d`: rows × batch), with no bias, momentum or per-unit scale: how a transposed copy
    /// follows its forward layer's pulses.
    pub fn pulse_weights(&mut self, x: &DMatrix<f32>, d: &DMatrix<f32>, lr: f32) {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.pulse_update(x, d, lr / self.gain),
            Weights::Digital(w) => {
                par_gemm(w, -lr, d, &x.transpose(), 1.0);
                self.digital_ops += (2 * w.len() * x.ncols()) as u64;
            }
        }
    }

    /// The full-matrix change W ← W − lr·V of the weights alone (`v`: rows × cols): on the chip
    /// one update cycle per input line ([`Crossbar::pulse_write`]), in digital a float update.
    pub fn write_weights(&mut self, v: &DMatrix<f32>, lr: f32) {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.pulse_write(v, lr / self.gain),
            Weights::Digital(w) => {
                *w -= v * lr;
                self.digital_ops += 2 * w.len() as u64;
            }
        }
    }

    /// Moves the layer's clock forward to the chip's time `t_s` (see `Chip::sync_clock`), and
    /// its update scheme's fast array's.
    pub(crate) fn sync_clock(&mut self, t_s: f64) {
        if let Weights::Analog(xbar) = &mut self.weights {
            xbar.sync_to(t_s);
        }
        if let Some(fast) = self.scheme_fast_mut() {
            fast.sync_clock(t_s);
        }
    }

    /// Installs the update scheme `scheme` (None: the plain pulsed update). Crate-private: the
    /// chip installs it on its forward layers ([`super::Chip::set_update_scheme`]), so that the
    /// scheme's arrays are the chip's.
    pub(crate) fn set_scheme(&mut self, scheme: Option<SchemeState>) {
        self.scheme = scheme.map(Box::new);
    }

    /// The update scheme's fast array A, if the layer has one (a tile of role
    /// [`super::Role::Transfer`]).
    pub fn scheme_fast(&self) -> Option<&Layer> {
        self.scheme.as_ref().and_then(|s| s.fast())
    }

    fn scheme_fast_mut(&mut self) -> Option<&mut Layer> {
        self.scheme.as_mut().and_then(|s| s.fast_mut())
    }

    /// The update scheme's transfer events so far: vector pairs pulsed into the main array by
    /// transfers (0 without a scheme).
    pub fn scheme_transfer_events(&self) -> u64 {
        self.scheme.as_ref().map_or(0, |s| s.transfer_events())
    }

    /// The update scheme's signed transfer pulses so far (up − down, asked of the main array by
    /// thresholded transfers: `ttv2`, `c-ttv2`, `mixed-precision`; 0 otherwise).
    pub fn scheme_net_pulses(&self) -> i64 {
        self.scheme.as_ref().map_or(0, |s| s.net_pulses())
    }

    /// The update scheme's resolved parameters, if one is installed.
    pub fn scheme_params(&self) -> Option<&super::scheme::Resolved> {
        self.scheme.as_ref().map(|s| s.params())
    }

    /// Reads with the one-hot inputs `e` (cols × n) for an update scheme's transfer: forward
    /// reads (gain and drift compensation applied), counted as reads and as transfer reads.
    pub(crate) fn transfer_read(&mut self, e: &DMatrix<f32>) -> DMatrix<f32> {
        self.transfer_reads += e.ncols() as u64;
        self.read_main(e)
    }

    /// Sends one pulse up (`up`) or down to every cell of the layer's tiles (one slot in which
    /// every line fires, counted); nothing on a digital layer.
    pub(crate) fn pulse_all(&mut self, up: bool) {
        if let Weights::Analog(xbar) = &mut self.weights {
            xbar.pulse_all(up);
        }
    }

    /// Counts `n` digital operations on an update scheme's buffers (in `digital_ops` and in
    /// `buffer_ops`).
    pub(crate) fn count_buffer_ops(&mut self, n: u64) {
        self.digital_ops += n;
        self.buffer_ops += n;
    }

    /// The step of [`Layer::update`] with momentum.
    fn momentum_update(&mut self, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        let vel = self.velocity.as_mut().expect("momentum is on");
        let rows = self.bias.len();
        let gb = DMatrix::from_iterator(rows, 1, delta.row_iter().map(|r| r.sum()));
        let len = rows * x.nrows();
        self.digital_ops +=
            (2 * len * x.ncols() + delta.len()) as u64 + Velocity::fold_ops(len + rows);
        let v = vel.weights.fold_product(delta, x);
        match &mut self.weights {
            // The stored weights are W/g: their change is −lr·v/g.
            Weights::Analog(xbar) => xbar.pulse_write(v, lr / self.gain),
            Weights::Digital(w) => {
                for (wi, vi) in w.as_mut_slice().iter_mut().zip(v.as_slice()) {
                    *wi -= lr * vi;
                }
                self.digital_ops += 2 * w.len() as u64;
            }
        }
        let vb = vel.bias.fold(gb);
        for (b, v) in self.bias.iter_mut().zip(vb.as_slice()) {
            *b -= lr * v;
        }
        self.digital_ops += 2 * rows as u64;
    }

    /// Whether the layer has momentum ([`Layer::set_momentum`]).
    pub fn has_momentum(&self) -> bool {
        self.velocity.is_some()
    }

    /// The weights' velocity under momentum (digital memory of the periphery, rows × cols), once
    /// a step has been taken; None without momentum. `bp-mirror`'s transposed copies write its
    /// transpose.
    pub fn velocity(&self) -> Option<&DMatrix<f32>> {
        self.velocity.as_ref().and_then(|v| v.weights.get())
    }

    /// Gives the layer SGD momentum (see [`super::momentum`]): digital velocity buffers for the
    /// weights and the bias, starting empty. μ = 0 switches momentum off (plain SGD, no buffer).
    pub fn set_momentum(&mut self, momentum: Momentum) {
        self.velocity = (!momentum.is_off()).then(|| LayerVelocity {
            weights: Velocity::new(momentum),
            bias: Velocity::new(momentum),
        });
    }

    /// Attaches `probe` to the layer (None detaches it): it sees every forward pass's
    /// activations and may scale the teaching signal of every update, and counts its digital
    /// work on the layer. The state of a continual-learning mechanism lives in its probe, not in
    /// the layer (see `learn::continual::UnitProbe`). Without a probe, forward passes, updates
    /// and counters are exactly as if the feature did not exist.
    pub fn attach_probe(&mut self, probe: Option<Box<dyn Probe>>) {
        self.probe = probe;
    }

    /// The attached probe, if any (downcast it with `as &mut dyn Any`).
    pub fn probe_mut(&mut self) -> Option<&mut (dyn Probe + 'static)> {
        self.probe.as_deref_mut()
    }

    /// The attached probe, read-only.
    pub fn probe(&self) -> Option<&(dyn Probe + 'static)> {
        self.probe.as_deref()
    }

    /// Writes unit `i`'s incoming weights W[i, :] = `weights` (write-and-verify of row i's cells
    /// on the chip, counted; a copy in digital) and its bias b_i = `bias`. With momentum, the unit's
    /// velocity restarts at 0.
    /// Under an update scheme the main array C is written; the fast array and the buffer keep
    /// their contents (with the default γ = 0 they do not enter the weights).
    pub fn program_unit(&mut self, i: usize, weights: &[f32], bias: f32) {
        assert!(i < self.rows(), "program_unit: unit {i} out of range");
        assert_eq!(
            weights.len(),
            self.cols(),
            "program_unit: one weight per input"
        );
        let gain = self.gain;
        match &mut self.weights {
            Weights::Analog(xbar) => {
                let cells: Vec<(usize, usize)> = (0..weights.len()).map(|j| (i, j)).collect();
                let targets: Vec<f32> = weights.iter().map(|w| w / gain).collect();
                xbar.program(&cells, &targets);
            }
            Weights::Digital(w) => {
                for (j, &v) in weights.iter().enumerate() {
                    w[(i, j)] = v;
                }
            }
        }
        self.bias[i] = bias;
        if let Some(vel) = &mut self.velocity {
            vel.weights.reset_row(i);
            vel.bias.reset_row(i);
        }
    }

    /// Writes input `j`'s weights W[:, j] = `value` for every unit (write-and-verify of column
    /// j's cells on the chip, counted): e.g. `value` = 0 silences a replaced unit of the
    /// previous layer. With momentum, the column's velocity restarts at 0.
    pub fn program_input(&mut self, j: usize, value: f32) {
        assert!(j < self.cols(), "program_input: input {j} out of range");
        let gain = self.gain;
        match &mut self.weights {
            Weights::Analog(xbar) => {
                let cells: Vec<(usize, usize)> = (0..xbar.rows()).map(|r| (r, j)).collect();
                let targets = vec![value / gain; cells.len()];
                xbar.program(&cells, &targets);
            }
            Weights::Digital(w) => w.column_mut(j).fill(value),
        }
        if let Some(vel) = &mut self.velocity {
            vel.weights.reset_column(j);
        }
    }

    /// The weights W[:, j] of input `j` as the chip can know them: one forward read of the
    /// one-hot input e_j (noisy, counted), without the bias; the column itself in digital.
    pub fn input_column(&mut self, j: usize) -> DVector<f32> {
        assert!(j < self.cols(), "input_column: input {j} out of range");
        if self
            .scheme
            .as_ref()
            .is_some_and(|s| s.params().gamma != 0.0)
        {
            let mut e = DMatrix::zeros(self.cols(), 1);
            e[(j, 0)] = 1.0;
            let y = self.read(&e);
            return DVector::from_column_slice(y.as_slice());
        }
        let scale = self.gain * self.drift_scale;
        match &mut self.weights {
            Weights::Analog(xbar) => {
                let mut e = DMatrix::zeros(xbar.cols(), 1);
                e[(j, 0)] = 1.0;
                let y = xbar.read(&e);
                let mut v = DVector::from_column_slice(y.as_slice());
                if scale != 1.0 {
                    self.digital_ops += v.len() as u64;
                    v *= scale;
                }
                v
            }
            Weights::Digital(w) => w.column(j).into_owned(),
        }
    }

    /// b ← b + `delta` (digital, counted).
    pub fn add_to_bias(&mut self, delta: &DVector<f32>) {
        assert_eq!(
            delta.len(),
            self.bias.len(),
            "add_to_bias: one value per unit"
        );
        self.bias += delta;
        self.digital_ops += delta.len() as u64;
    }

    /// Failed devices among each unit's incoming cells (row i of the layer's tiles), from the
    /// tiles' device states (simulator introspection, as a chip's failure map); all 0 for
    /// digital layers. Divide by [`Layer::devices_per_unit`] for a fraction.
    pub fn failed_devices_per_unit(&self) -> Vec<usize> {
        match &self.weights {
            Weights::Analog(xbar) => xbar.failed_devices_per_row(),
            Weights::Digital(_) => vec![0; self.rows()],
        }
    }

    /// Mean |w| of the true weights (gain applied): a summary for the experimenter's metrics,
    /// not an operation of the chip, and no weight matrix leaves the layer.
    pub fn mean_abs_weight(&self) -> f64 {
        let w = self.inspect_weights();
        w.iter().map(|v| v.abs() as f64).sum::<f64>() / w.len().max(1) as f64
    }

    /// The weights as the simulator knows them (gain applied), without counting anything:
    /// crate-private introspection (metrics, tests of the crate); rules use `readout`.
    pub(crate) fn inspect_weights(&self) -> DMatrix<f32> {
        let w = match &self.weights {
            Weights::Analog(xbar) => xbar.inspect_weights() * self.gain,
            Weights::Digital(w) => w.clone(),
        };
        match self
            .scheme
            .as_ref()
            .and_then(|s| s.fast_share(s.fast()?.inspect_weights()))
        {
            Some(a) => w + a,
            None => w,
        }
    }

    /// Devices holding one unit's incoming weights (inputs × devices per cell; 0 in digital).
    pub fn devices_per_unit(&self) -> usize {
        match &self.weights {
            Weights::Analog(xbar) => {
                xbar.cols() * xbar.tiles().first().map_or(0, |t| t.devices_per_cell())
            }
            Weights::Digital(_) => 0,
        }
    }

    /// The weights as the learner may know them: a one-hot readout on the chip (noisy, counted),
    /// the matrix itself in digital.
    pub fn readout(&mut self) -> DMatrix<f32> {
        let w = match &mut self.weights {
            Weights::Analog(xbar) => xbar.readout() * self.gain,
            Weights::Digital(w) => w.clone(),
        };
        let fast = match self.scheme.as_mut() {
            Some(s) if s.params().gamma != 0.0 => {
                let a = s.fast_mut().map(|f| f.readout());
                a.and_then(|a| s.fast_share(a))
            }
            _ => None,
        };
        match fast {
            Some(a) => {
                self.digital_ops += 2 * a.len() as u64;
                w + a
            }
            None => w,
        }
    }

    /// Re-programs the weights to `w` (write-and-verify on the chip).
    ///
    /// Under an update scheme the main array C is programmed to `w` and the fast array A to 0,
    /// the scheme's buffer cleared (as aihwkit sets a compound's weights).
    pub fn program(&mut self, w: &DMatrix<f32>) {
        match &mut self.weights {
            Weights::Analog(xbar) => xbar.program_all(&(w / self.gain)),
            Weights::Digital(m) => m.copy_from(w),
        }
        if let Some(s) = self.scheme.as_mut() {
            s.reset();
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

    /// `Wᵀ·δ` (inputs × batch) for the true weights W of this layer, for the `bp-oracle`
    /// reference only: on an analog layer counted as transpose-capable reads this hardware
    /// cannot do, and bit-identical to the true weights' `tr_mul(δ)`.
    pub(crate) fn privileged_transposed_product(
        &mut self,
        key: &OracleKey,
        delta: &DMatrix<f32>,
    ) -> DMatrix<f32> {
        let g = match &mut self.weights {
            Weights::Analog(xbar) => xbar.privileged_transposed_product(key, delta, self.gain),
            Weights::Digital(w) => crate::kernel::par_tr_matmul(w, delta),
        };
        // W = C + γ·A·diag(c): Wᵀδ = Cᵀδ + γ·diag(c)·Aᵀδ.
        let fast = match self.scheme.as_mut() {
            Some(s) if s.params().gamma != 0.0 => {
                // γ·diag(c)·(A − R)ᵀδ.
                let a = s
                    .fast_mut()
                    .map(|f| f.privileged_transposed_product(key, delta));
                a.map(|a| match s.reference() {
                    Some(r) => a - r.tr_mul(delta),
                    None => a,
                })
                .and_then(|a| s.fast_share_of_product(a.transpose()))
                .map(|a| a.transpose())
            }
            _ => None,
        };
        match fast {
            Some(a) => g + a,
            None => g,
        }
    }

    /// Heap memory held by the weights (tiles or float matrix) and the bias, bytes: simulator
    /// memory, for `mortalsim bench` (momentum buffers are not counted; an update scheme's fast
    /// array is).
    pub fn heap_bytes(&self) -> usize {
        let w = match &self.weights {
            Weights::Analog(xbar) => xbar.heap_bytes(),
            Weights::Digital(w) => w.len() * 4,
        };
        w + self.bias.len() * 4 + self.scheme_fast().map_or(0, Layer::heap_bytes)
    }

    /// Counts `n` digital operations done on this layer's behalf (a backward product, a
    /// normalisation, a rule's own bookkeeping): they join the layer's counters, its energy and
    /// its role's share of the chip's. A rule counts every digital operation it does.
    pub fn count_digital_ops(&mut self, n: u64) {
        self.digital_ops += n;
    }

    /// The bias.
    pub fn bias(&self) -> &DVector<f32> {
        &self.bias
    }

    /// Sets the bias to `b` exactly (digital memory, one operation per unit, counted).
    pub fn set_bias(&mut self, b: &DVector<f32>) {
        assert_eq!(b.len(), self.bias.len(), "set_bias: one value per unit");
        self.bias.copy_from(b);
        self.digital_ops += b.len() as u64;
    }

    /// Global drift compensation, step 1 (aihwkit's `GlobalDriftCompensation`): reads the
    /// array with one-hot inputs (the identity, one read per input) and keeps the mean |y| as
    /// the reference. Call it right after programming or training. No-op on digital layers.
    pub fn calibrate_drift_reference(&mut self) {
        self.drift_reference = self.one_hot_mean_abs();
        if let Some(fast) = self.scheme_fast_mut() {
            fast.calibrate_drift_reference();
        }
    }

    /// Global drift compensation, step 2: reads the one-hot inputs again and sets the digital
    /// factor α = reference / now (now clamped ≥ 1e-4 of the reference) by which every later
    /// read is multiplied; `false` switches compensation off (α = 1). Returns α.
    pub fn compensate_drift(&mut self, on: bool) -> f32 {
        if let Some(fast) = self.scheme_fast_mut() {
            fast.compensate_drift(on);
        }
        self.drift_scale = 1.0;
        if on {
            if let (Some(reference), Some(now)) = (self.drift_reference, self.one_hot_mean_abs()) {
                self.drift_scale = (reference / now.max(1e-4 * reference)) as f32;
            }
        }
        self.drift_scale
    }

    /// Mean |y| over the reads of the identity (one-hot reads of the readout, one per input), or
    /// None on digital layers.
    fn one_hot_mean_abs(&mut self) -> Option<f64> {
        let Weights::Analog(xbar) = &mut self.weights else {
            return None;
        };
        let y = if self.diagnostics.exact_readouts {
            xbar.privileged_true_weights(&OracleKey::new())
        } else {
            xbar.read_one_hot(&DMatrix::identity(xbar.cols(), xbar.cols()))
        };
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

    /// Read-only views of the layer's physical tiles, row-block major (empty for a digital
    /// layer): shapes, failures, clocks and per-tile counts, never weights (see [`TileView`]).
    pub fn tiles(&self) -> Vec<TileView<'_>> {
        match &self.weights {
            Weights::Analog(xbar) => xbar.tiles().iter().map(TileView::new).collect(),
            Weights::Digital(_) => Vec::new(),
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
        if let Some(fast) = self.scheme_fast_mut() {
            fast.advance(dt_s);
        }
    }

    /// Physical operation counts, including the digital work of the layer.
    pub fn counters(&self) -> Counters {
        let mut c = match &self.weights {
            Weights::Analog(x) => x.counters(),
            Weights::Digital(_) => Counters::default(),
        };
        c.digital_ops += self.digital_ops;
        c.transfer_reads += self.transfer_reads;
        c.buffer_ops += self.buffer_ops;
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

    /// Sets the simulator-only diagnostics of the layer's countermeasures ([`Diagnostics`]);
    /// the default (all off) is the chip.
    pub fn set_diagnostics(&mut self, d: Diagnostics) {
        if let Some(fast) = self.scheme_fast_mut() {
            fast.set_diagnostics(d);
        }
        self.diagnostics = d;
    }

    /// Refresh of drifted cells: re-programs the layer's weights to what they should be and
    /// restarts the drift clock of every programmed cell. No-op on digital layers.
    ///
    /// With R the readout of the stored weights (one-hot reads through the device's
    /// `[readout]`: repeated, in the periphery's readout mode; noisy, quantised, counted), or
    /// the true weights under the `exact_readouts` diagnostic, and α = ref / max(mean|R|,
    /// 1e-4·ref) the global drift-compensation factor measured now against the layer's drift reference ref (the same measurement as
    /// [`Layer::compensate_drift`]: mean |y| over the one-hot reads; α = 1 when no reference
    /// was taken), every cell is written (write-and-verify, counted) to W = α·R. Afterwards
    /// the drift reference, if one was taken, is re-taken (one-hot reads, counted), and the
    /// compensation factor is reset to α = 1: the new reference is today's weights, so α
    /// re-measured now is 1. For a uniform power-law drift G = G_prog·((t − t_prog + t₀)/t₀)^(−ν)
    /// this restores the programmed weights up to read and programming error (readout error
    /// measured in the README's drift-training section: it dominates with the stock readout). Only the global factor is undone:
    /// with a per-cell spread of ν (or the PCM model's ν per conductance), each cell keeps its
    /// own deviation from the mean drift, read into R and written back.
    pub fn refresh(&mut self) {
        if let Some(fast) = self.scheme_fast_mut() {
            fast.refresh();
        }
        let Weights::Analog(xbar) = &mut self.weights else {
            return;
        };
        let r = if self.diagnostics.exact_readouts {
            xbar.privileged_true_weights(&OracleKey::new())
        } else {
            xbar.readout()
        };
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
        let keep = self.diagnostics.keep_drift_clocks;
        xbar.set_keep_drift_clocks(keep);
        xbar.program_all(&(r * alpha));
        xbar.set_keep_drift_clocks(false);
        if self.drift_reference.is_some() {
            self.calibrate_drift_reference();
        }
        self.drift_scale = 1.0;
    }
}
