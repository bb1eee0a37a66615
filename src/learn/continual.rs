//! Continual-learning mechanisms for any learner: continual backprop (utility-based unit
//! replacement), L2, shrink-and-perturb, and utility propagation (backbone and fringe).
//!
//! [`Continual`] wraps any [`Learner`] and acts on the network it trains
//! ([`Learner::network`]: hidden layers `0..n−1`, the output layer — or Forward-Forward's softmax
//! head — last), after every step of the inner rule, through what the chip offers: forward reads
//! (one-hot reads of the next layer's weights, counted), programming (write-and-verify, counted)
//! and the digital bias. It never reads a transpose.
//!
//! # Continual backprop (Dohare et al., Nature 632:768, 2024; reference notes §6.1)
//!
//! For every hidden unit i of layer l, after every step (η = [`ContinualConfig::decay`]):
//!
//! * age_i ← age_i + 1;
//! * running mean activation f_i ← η f_i + (1 − η)·mean_b h_ib, bias-corrected
//!   f̂_i = f_i/(1 − η^age_i);
//! * utility u_i ← η u_i + (1 − η) y_i, bias-corrected û_i = u_i/(1 − η^age_i), with
//!   - [`UtilityKind::Contribution`] (Nature eq. 1): y_i = mean_b|h_ib| · Σ_k|w_out,ki|;
//!   - [`UtilityKind::AdaptableContribution`] (arXiv 2306.13812; the configs the paper's code
//!     ships): y_i = mean_b|h_ib − f̂_i| · mean_k|w_out,ki| / max(mean_j|w_in,ij|, 1e-12), with
//!     f̂_i the estimate *before* this step (the chip streams h once, so the centre must be known
//!     when h passes; `gnt.py` folds the current batch into f̂ first — a difference of order 1 − η);
//! * generate-and-test: with E the units of age > m ([`ContinualConfig::maturity`]), the
//!   accumulator a ← a + ρ·|E| (ρ = [`ContinualConfig::replacement_rate`]; nothing happens while E
//!   is empty), r = ⌊a⌋, a ← a − r (`accumulate = true` in `gnt.py`), and the r units of E with
//!   the smallest û are replaced — units on failed cells first
//!   ([`ContinualConfig::prefer_failed_units`]), ties by index;
//! * replacing unit i: its incoming weights are programmed to a fresh draw from the initial
//!   distribution (the network's [`crate::net::WeightInit`], by default
//!   U(−1/√fan_in, 1/√fan_in); stream `(seed, [CONTINUAL, 0, l, k])` for the k-th replacement
//!   in layer l), its bias set to 0; the
//!   next layer's bias is corrected by b_{l+1} ← b_{l+1} + W_{l+1}[:, i]·f̂_i (W_{l+1}[:, i] from
//!   one one-hot read, [`Layer::input_column`]), then its outgoing weights W_{l+1}[:, i] are
//!   programmed to 0; age, u, f are reset to 0. With outgoing weights zero a new unit has
//!   utility 0, and the maturity threshold protects it until age > m. Replacing a unit whose
//!   activity is constant (h ≡ f̂, e.g. a dead ReLU) leaves the network's output unchanged; in
//!   general the output moves by −W_out(h − f̂). (Forward-Forward is an exception: its layers read
//!   their own goodness and a length-normalised input, so a new unit changes them.)
//!
//! On the chip |w_out| is known only through one-hot reads: analog layers are read out every
//! [`ContinualConfig::readout_every`] steps (counted) and the sums come from that readout
//! (patched with what was programmed at each replacement); digital layers are read exactly
//! every step.
//!
//! # L2 and shrink-and-perturb (Dohare et al. 2024, the "L2" and "Shrink and Perturb"
//! baselines; Ash & Adams, NeurIPS 2020)
//!
//! The chip cannot multiply all its weights at once, so both act every
//! [`ContinualConfig::decay_every`] steps on every layer through a readout and a re-programming
//! (counted): with P = Π_t (1 − lr_t·λ) over the steps since the last application
//! (λ = [`ContinualConfig::l2`]; P = 1 when λ = 0) and (s, σ) of
//! [`ContinualConfig::shrink_perturb`] ((1, 0) when off), W ← s·P·Ŵ + σ·N(0, 1) and
//! b ← s·P·b + σ·N(0, 1), Ŵ the readout (noise from `(seed, [CONTINUAL, 1, application, l])`).
//! To match a per-step shrink-and-perturb (weight decay λ', noise σ' per step) applied every K
//! steps, use s = (1 − lr·λ')^K and σ = σ'·√K.
//!
//! # Utility propagation
//!
//! See [`super::utility`]: every [`UtilityPropagationConfig::every`] steps, utility flows back
//! from the outputs along L_e = |w_ij|·ā_j (ā_j the bias-corrected running mean |h_j| of hidden
//! unit j, decay η; the network's inputs use |w| alone), the backbone fraction of every hidden
//! layer is reported by [`Learner::continual_stats`], and backbone units' step size is scaled
//! by [`UtilityPropagationConfig::protect_backbone_lr_factor`] through
//! [`UnitProbe`] on the layer.

use super::utility::{self, UtilityPropagationConfig};
use super::Learner;
use crate::net::{Chip, Layer, Network};
use crate::random::{derive, normal, purpose, stream};
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// How continual backprop measures a hidden unit's utility (Dohare et al. 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UtilityKind {
    /// Contribution utility, Nature eq. 1: y_i = mean_b|h_ib|·Σ_k|w_out,ki| (the default).
    #[default]
    Contribution,
    /// Adaptable contribution (arXiv 2306.13812; the repository's shipped configs):
    /// y_i = mean_b|h_ib − f̂_i|·mean_k|w_out,ki| / mean_j|w_in,ij|.
    AdaptableContribution,
}

/// Shrink-and-perturb (Ash & Adams 2020), applied every [`ContinualConfig::decay_every`] steps:
/// W ← `shrink`·W + `noise_std`·N(0, 1), the same for the bias.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShrinkPerturb {
    /// Factor s ∈ [0, 1] applied to every weight and bias.
    pub shrink: f32,
    /// Standard deviation σ ≥ 0 of the Gaussian noise added to every weight and bias.
    pub noise_std: f32,
}

/// Continual-learning settings of a learner (the `continual` table of a learner's options;
/// every field has its default, and the defaults switch everything off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContinualConfig {
    /// Continual backprop's replacement rate ρ ∈ [0, 1]: expected replacements per step per
    /// mature unit (default 0 = off; Dohare et al. use 1e-4 … 1e-6 online, 3e-4 on ImageNet).
    pub replacement_rate: f64,
    /// Maturity threshold m: only units of age > m steps can be replaced (default 100, the
    /// paper's).
    pub maturity: u64,
    /// Decay η ∈ [0, 1) of the running utility and mean activation (default 0.99, the
    /// paper's).
    pub decay: f64,
    /// Utility measure (default contribution, Nature eq. 1).
    pub utility: UtilityKind,
    /// Steps between two readouts of an analog layer's weights, from which Σ|w_out| (and
    /// mean|w_in|, and utility propagation's |w|) are known (default 100; ≥ 1). Digital layers
    /// are read exactly every step.
    pub readout_every: usize,
    /// Replace units on failed cells first, whatever their utility (default true).
    pub prefer_failed_units: bool,
    /// A unit is "on failed cells" when at least this fraction of the devices holding its
    /// incoming weights have failed (default 0.5; in (0, 1]).
    pub failed_unit_fraction: f64,
    /// L2 weight decay λ ≥ 0 per step, applied as Π(1 − lr·λ) every `decay_every` steps
    /// (default 0 = off).
    pub l2: f32,
    /// Shrink-and-perturb, applied every `decay_every` steps (default none).
    pub shrink_perturb: Option<ShrinkPerturb>,
    /// Steps between two applications of L2 and shrink-and-perturb (default 100; ≥ 1).
    pub decay_every: usize,
    /// Utility propagation (default off).
    pub utility_propagation: UtilityPropagationConfig,
}

impl Default for ContinualConfig {
    fn default() -> ContinualConfig {
        ContinualConfig {
            replacement_rate: 0.0,
            maturity: 100,
            decay: 0.99,
            utility: UtilityKind::Contribution,
            readout_every: 100,
            prefer_failed_units: true,
            failed_unit_fraction: 0.5,
            l2: 0.0,
            shrink_perturb: None,
            decay_every: 100,
            utility_propagation: UtilityPropagationConfig::default(),
        }
    }
}

impl ContinualConfig {
    /// Whether any mechanism is on (replacement, L2, shrink-and-perturb or utility
    /// propagation); when none is, [`super::build`] returns the plain learner.
    pub fn is_active(&self) -> bool {
        self.replacement_rate > 0.0
            || self.l2 > 0.0
            || self.shrink_perturb.is_some()
            || self.utility_propagation.enabled
    }

    /// Whether this is the default configuration (not written into resolved configs, so that
    /// existing config hashes stay as they were).
    pub fn is_default(&self) -> bool {
        *self == ContinualConfig::default()
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |field: &str, v: String, want: &str| {
            Err(format!("continual.{field} = {v} is out of range ({want})"))
        };
        let rho = self.replacement_rate;
        if !(rho.is_finite() && (0.0..=1.0).contains(&rho)) {
            return bad("replacement_rate", rho.to_string(), "0 ≤ ρ ≤ 1");
        }
        let eta = self.decay;
        if !(eta.is_finite() && (0.0..1.0).contains(&eta)) {
            return bad("decay", eta.to_string(), "0 ≤ η < 1");
        }
        if self.readout_every == 0 {
            return bad("readout_every", "0".into(), "≥ 1");
        }
        let f = self.failed_unit_fraction;
        if !(f.is_finite() && f > 0.0 && f <= 1.0) {
            return bad("failed_unit_fraction", f.to_string(), "0 < f ≤ 1");
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("l2", self.l2.to_string(), "λ ≥ 0");
        }
        if let Some(sp) = &self.shrink_perturb {
            if !(sp.shrink.is_finite() && (0.0..=1.0).contains(&sp.shrink)) {
                return bad("shrink_perturb.shrink", sp.shrink.to_string(), "0 ≤ s ≤ 1");
            }
            if !(sp.noise_std.is_finite() && sp.noise_std >= 0.0) {
                return bad(
                    "shrink_perturb.noise_std",
                    sp.noise_std.to_string(),
                    "σ ≥ 0",
                );
            }
        }
        if self.decay_every == 0 {
            return bad("decay_every", "0".into(), "≥ 1");
        }
        self.utility_propagation.validate()
    }
}

/// What the continual mechanisms did ([`Learner::continual_stats`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContinualStats {
    /// Units replaced by continual backprop, all hidden layers.
    pub replacements: u64,
    /// Units replaced per hidden layer, input side first.
    pub replacements_per_layer: Vec<u64>,
    /// Fraction of backbone units per hidden layer at the latest utility propagation
    /// (U_j > threshold/n; see [`super::utility`]); None when utility propagation is off or has
    /// not run yet.
    pub backbone_fraction: Option<Vec<f64>>,
}

/// Per-unit state of one hidden layer.
#[derive(Debug, Clone)]
struct Units {
    age: Vec<u64>,
    /// Running utility u (not bias-corrected).
    util: Vec<f64>,
    /// Running mean activation f (not bias-corrected).
    mean_h: Vec<f64>,
    /// Running mean |h| (not bias-corrected), for utility propagation.
    mean_abs_h: Vec<f64>,
    /// Fractional replacements carried over (`accumulate = true`).
    accumulated: f64,
    replacements: u64,
}

impl Units {
    fn new(n: usize) -> Units {
        Units {
            age: vec![0; n],
            util: vec![0.0; n],
            mean_h: vec![0.0; n],
            mean_abs_h: vec![0.0; n],
            accumulated: 0.0,
            replacements: 0,
        }
    }
}

/// Everything the wrapper keeps besides the inner learner.
#[derive(Debug, Clone)]
struct State {
    config: ContinualConfig,
    seed: u64,
    steps: u64,
    units: Vec<Units>,
    /// Known weights of each layer (latest readout, patched by programming); None when not
    /// needed or not read yet.
    known: Vec<Option<DMatrix<f32>>>,
    /// Per hidden layer: Σ_k|W_{l+1}[k, i]| (contribution) or its mean (adaptable).
    out_mag: Vec<DVector<f64>>,
    /// Per hidden layer: mean_j|W_l[i, j]| (adaptable contribution only).
    in_mag: Vec<DVector<f64>>,
    /// Π(1 − lr·λ) since the last L2 application.
    l2_factor: f64,
    decay_applications: u64,
    backbone_fraction: Option<Vec<f64>>,
    unit_utilities: Option<Vec<DVector<f64>>>,
    /// Per-unit step-size scales set by backbone protection.
    lr_scales: Option<Vec<DVector<f32>>>,
}

/// A learner wrapped with continual-learning mechanisms (see the module documentation). It
/// delegates everything to the inner learner (same name, scores; counters and energy include
/// the mechanisms' reads, programming and digital work, since they act on the inner learner's
/// layers) and acts after every step.
pub struct Continual {
    inner: Box<dyn Learner>,
    state: State,
}

/// A layer's mean activity over the forward passes since recording started or was last taken
/// ([`UnitProbe::record`], [`UnitProbe::take`]): per unit i, over the `samples` columns h_{·b}
/// that went through the layer's forward pass, mean_h_i = Σ_b h_ib / samples,
/// mean_abs_h_i = Σ_b |h_ib| / samples and mean_abs_dev_i = Σ_b |h_ib − c_i| / samples (c the
/// probe's centre, 0 without one, so then mean_abs_dev = mean_abs_h). These are the per-unit
/// statistics continual backprop's utilities use (Dohare et al., Nature 632:768, 2024, eq. 1 and
/// the adaptable contribution of arXiv 2306.13812).
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Mean activation per unit.
    pub mean_h: DVector<f32>,
    /// Mean absolute activation per unit.
    pub mean_abs_h: DVector<f32>,
    /// Mean absolute deviation from the centre per unit.
    pub mean_abs_dev: DVector<f32>,
    /// Samples (batch columns) accumulated.
    pub samples: usize,
}

/// Running sums behind [`Activity`].
#[derive(Debug, Clone)]
struct ActivitySums {
    sum_h: Vec<f64>,
    sum_abs_h: Vec<f64>,
    sum_abs_dev: Vec<f64>,
    samples: usize,
}

impl ActivitySums {
    fn new(rows: usize) -> ActivitySums {
        ActivitySums {
            sum_h: vec![0.0; rows],
            sum_abs_h: vec![0.0; rows],
            sum_abs_dev: vec![0.0; rows],
            samples: 0,
        }
    }
}

/// The continual mechanisms' probe on a hidden layer ([`Layer::attach_probe`]): the activity
/// sums behind the units' utilities while recording, and utility propagation's per-unit
/// step-size scale s, which every update of the layer applies as δ_i ← s_i·δ_i (unit i's
/// incoming weights and bias move by s_i times the rule's step; Sutton's protected backbone).
/// Recording costs 3 digital operations per activation (3 more with a centre), the scale one
/// per element of δ, all counted on the layer.
#[derive(Debug, Clone, Default)]
pub struct UnitProbe {
    sums: Option<ActivitySums>,
    /// Reference c of the recorded mean |h − c| (the adaptable contribution's f̂); None = 0.
    pub center: Option<DVector<f32>>,
    /// The per-unit step-size scale; None = 1 for every unit.
    pub lr_scale: Option<DVector<f32>>,
}

impl UnitProbe {
    /// The layer's probe, attached (empty) if it had none.
    ///
    /// # Panics
    /// If the layer carries a probe of another type.
    pub fn on(layer: &mut Layer) -> &mut UnitProbe {
        let ours = layer
            .probe()
            .is_some_and(|p| (p as &dyn std::any::Any).is::<UnitProbe>());
        if !ours {
            layer.attach_probe(Some(Box::new(UnitProbe::default())));
        }
        let probe = layer.probe_mut().expect("attached");
        (probe as &mut dyn std::any::Any)
            .downcast_mut::<UnitProbe>()
            .expect("a UnitProbe")
    }

    /// Switches recording on (from empty sums for `rows` units) or off (discarding them).
    pub fn record(&mut self, rows: usize, on: bool) {
        self.sums = on.then(|| ActivitySums::new(rows));
    }

    /// The mean activity since recording started or was last taken, restarting the sums; None
    /// when recording is off. Taking costs 3 digital operations per unit, which the caller
    /// counts on the layer.
    pub fn take(&mut self) -> Option<Activity> {
        let acc = self.sums.as_mut()?;
        let n = acc.samples.max(1) as f64;
        let mean = |v: &[f64]| DVector::from_iterator(v.len(), v.iter().map(|s| (s / n) as f32));
        let mean_h = mean(&acc.sum_h);
        let mean_abs_h = mean(&acc.sum_abs_h);
        let mean_abs_dev = if self.center.is_some() {
            mean(&acc.sum_abs_dev)
        } else {
            mean_abs_h.clone()
        };
        let out = Activity {
            mean_h,
            mean_abs_h,
            mean_abs_dev,
            samples: acc.samples,
        };
        *acc = ActivitySums::new(acc.sum_h.len());
        Some(out)
    }
}

impl crate::net::layer::Probe for UnitProbe {
    fn observe(&mut self, h: &DMatrix<f32>) -> u64 {
        let Some(acc) = &mut self.sums else {
            return 0;
        };
        let rows = h.nrows();
        for col in h.as_slice().chunks_exact(rows.max(1)) {
            for (i, &v) in col.iter().enumerate() {
                acc.sum_h[i] += v as f64;
                acc.sum_abs_h[i] += v.abs() as f64;
            }
        }
        // Σh and Σ|h|: two additions and an absolute value per element.
        let mut ops = 3 * h.len() as u64;
        if let Some(c) = &self.center {
            for col in h.as_slice().chunks_exact(rows.max(1)) {
                for (i, &v) in col.iter().enumerate() {
                    acc.sum_abs_dev[i] += (v - c[i]).abs() as f64;
                }
            }
            ops += 3 * h.len() as u64;
        }
        acc.samples += h.ncols();
        ops
    }

    fn scale(&self, delta: &DMatrix<f32>) -> Option<(DMatrix<f32>, u64)> {
        let s = self.lr_scale.as_ref()?;
        let mut d = delta.clone();
        for mut col in d.column_iter_mut() {
            col.component_mul_assign(s);
        }
        let ops = d.len() as u64;
        Some((d, ops))
    }

    fn clone_probe(&self) -> Box<dyn crate::net::layer::Probe> {
        Box::new(self.clone())
    }
}

impl Continual {
    /// The per-unit step-size scale utility propagation gives hidden layer `l` (None until it
    /// protects the backbone).
    pub fn lr_scale(&self, l: usize) -> Option<&DVector<f32>> {
        self.state.lr_scales.as_ref().map(|s| &s[l])
    }

    /// Wraps `inner` with `config` (validated); randomness (re-initialised units,
    /// shrink-and-perturb noise) derives from `seed` with purpose `CONTINUAL`.
    pub fn new(
        mut inner: Box<dyn Learner>,
        config: ContinualConfig,
        seed: u64,
    ) -> Result<Continual, String> {
        config.validate()?;
        let net = inner.network();
        let n = net.layers.len();
        if n < 2 && (config.replacement_rate > 0.0 || config.utility_propagation.enabled) {
            return Err(
                "continual: unit replacement and utility propagation need a hidden layer".into(),
            );
        }
        let hidden = n.saturating_sub(1);
        let widths: Vec<usize> = net.layers.iter().map(Layer::rows).collect();
        let state = State {
            units: (0..hidden).map(|l| Units::new(widths[l])).collect(),
            known: vec![None; n],
            out_mag: (0..hidden).map(|l| DVector::zeros(widths[l])).collect(),
            in_mag: (0..hidden).map(|l| DVector::zeros(widths[l])).collect(),
            config,
            seed,
            steps: 0,
            l2_factor: 1.0,
            decay_applications: 0,
            backbone_fraction: None,
            unit_utilities: None,
            lr_scales: None,
        };
        Ok(Continual { inner, state })
    }

    /// The settings.
    pub fn config(&self) -> &ContinualConfig {
        &self.state.config
    }

    /// The wrapped learner.
    pub fn inner(&mut self) -> &mut dyn Learner {
        &mut *self.inner
    }

    /// Ages (steps since creation or replacement) of hidden layer `l`'s units.
    pub fn ages(&self, l: usize) -> &[u64] {
        &self.state.units[l].age
    }

    /// Bias-corrected utilities û_i = u_i/(1 − η^age_i) of hidden layer `l`'s units (0 at age
    /// 0).
    pub fn utilities(&self, l: usize) -> Vec<f64> {
        let u = &self.state.units[l];
        u.util
            .iter()
            .zip(&u.age)
            .map(|(&v, &a)| self.state.corrected(v, a))
            .collect()
    }

    /// Bias-corrected running mean activations f̂_i = f_i/(1 − η^age_i) of hidden layer `l`'s
    /// units.
    pub fn mean_activations(&self, l: usize) -> Vec<f64> {
        let u = &self.state.units[l];
        u.mean_h
            .iter()
            .zip(&u.age)
            .map(|(&v, &a)| self.state.corrected(v, a))
            .collect()
    }

    /// Unit utilities of every hidden layer at the latest utility propagation (each layer sums
    /// to 1), if it has run.
    pub fn unit_utilities(&self) -> Option<&[DVector<f64>]> {
        self.state.unit_utilities.as_deref()
    }

    /// Replaces unit `i` of hidden layer `l` now, as generate-and-test does (re-initialised
    /// incoming weights, bias 0, next layer's bias corrected by W_out[:, i]·f̂_i, outgoing weights
    /// programmed to 0, state reset); counted as a replacement.
    pub fn replace_unit(&mut self, l: usize, i: usize) {
        let net = self.inner.network();
        assert!(l + 1 < net.layers.len(), "layer {l} is not a hidden layer");
        assert!(i < net.layers[l].rows(), "unit {i} out of range");
        self.state.replace(net, l, i);
        self.state.recompute_mags(net, l);
        self.state.recompute_mags(net, l + 1);
    }
}

impl State {
    fn eta(&self) -> f64 {
        self.config.decay
    }

    /// v/(1 − η^age), 0 at age 0.
    fn corrected(&self, v: f64, age: u64) -> f64 {
        if age == 0 {
            return 0.0;
        }
        let c = 1.0 - self.eta().powi(age.min(i32::MAX as u64) as i32);
        if c > 0.0 {
            v / c
        } else {
            v
        }
    }

    fn adaptable(&self) -> bool {
        self.config.utility == UtilityKind::AdaptableContribution
    }

    /// Whether units are tracked (activity recorded, utilities kept).
    fn tracks_units(&self) -> bool {
        self.config.replacement_rate > 0.0 || self.config.utility_propagation.enabled
    }

    /// Whether layer `l`'s weights must be known.
    fn needs_weights(&self, l: usize, n: usize) -> bool {
        self.tracks_units() && (l >= 1 || (self.adaptable() && l + 1 < n))
    }

    /// Before the inner step: recording on for every hidden layer (centred on f̂ for the
    /// adaptable contribution).
    fn before_step(&mut self, net: &mut Network) {
        if !self.tracks_units() {
            return;
        }
        for l in 0..self.units.len() {
            let layer = &mut net.layers[l];
            let rows = layer.rows();
            UnitProbe::on(layer).record(rows, true);
            if self.adaptable() {
                let u = &self.units[l];
                let c = DVector::from_iterator(
                    u.age.len(),
                    u.mean_h
                        .iter()
                        .zip(&u.age)
                        .map(|(&v, &a)| self.corrected(v, a) as f32),
                );
                layer.count_digital_ops(2 * c.len() as u64);
                UnitProbe::on(layer).center = Some(c);
            }
        }
    }

    /// Undoes [`State::before_step`] when the inner rule did not step: the activity sums
    /// recorded since are discarded.
    fn cancel_step(&mut self, net: &mut Network) {
        if !self.tracks_units() {
            return;
        }
        for l in 0..self.units.len() {
            let layer = &mut net.layers[l];
            let rows = layer.rows();
            UnitProbe::on(layer).record(rows, false);
        }
    }

    fn after_step(&mut self, net: &mut Network, lr: f32) {
        self.steps += 1;
        if self.tracks_units() {
            let acts: Vec<_> = (0..self.units.len())
                .map(|l| {
                    let layer = &mut net.layers[l];
                    let probe = UnitProbe::on(layer);
                    let a = probe.take();
                    probe.record(0, false);
                    probe.center = None;
                    let ops = a.as_ref().map_or(0, |a| 3 * a.mean_h.len() as u64);
                    layer.count_digital_ops(ops);
                    a
                })
                .collect();
            self.refresh_weights(net);
            for (l, act) in acts.iter().enumerate() {
                self.observe(net, l, act.as_ref());
            }
            if self.config.replacement_rate > 0.0 {
                for l in 0..self.units.len() {
                    self.generate_and_test(net, l);
                }
            }
            let up = &self.config.utility_propagation;
            if up.enabled && self.steps.is_multiple_of(up.every as u64) {
                self.propagate_utility(net);
            }
        }
        if self.config.l2 > 0.0 {
            self.l2_factor *= 1.0 - lr as f64 * self.config.l2 as f64;
        }
        if (self.config.l2 > 0.0 || self.config.shrink_perturb.is_some())
            && self.steps.is_multiple_of(self.config.decay_every as u64)
        {
            self.apply_decay(net);
        }
    }

    /// Reads out the layers whose weights are needed: analog ones every `readout_every` steps
    /// (the first step included), digital ones every step.
    fn refresh_weights(&mut self, net: &mut Network) {
        let n = net.layers.len();
        let due = (self.steps - 1).is_multiple_of(self.config.readout_every as u64);
        for l in 0..n {
            if !self.needs_weights(l, n) {
                continue;
            }
            let layer = &mut net.layers[l];
            if let Some(w) = layer.digital_weights() {
                self.known[l] = Some(w.clone());
            } else if due || self.known[l].is_none() {
                self.known[l] = Some(layer.readout());
            } else {
                continue;
            }
            self.recompute_mags(net, l);
        }
    }

    /// Recomputes the magnitudes derived from layer `l`'s known weights (counted on layer `l`).
    fn recompute_mags(&mut self, net: &mut Network, l: usize) {
        let Some(w) = &self.known[l] else {
            return;
        };
        let hidden = self.units.len();
        let mut ops = 0u64;
        if l >= 1 && l - 1 < hidden {
            let mean = self.adaptable();
            let rows = w.nrows() as f64;
            self.out_mag[l - 1] = DVector::from_iterator(
                w.ncols(),
                w.column_iter().map(|c| {
                    let s: f64 = c.iter().map(|v| v.abs() as f64).sum();
                    if mean {
                        s / rows
                    } else {
                        s
                    }
                }),
            );
            ops += 2 * w.len() as u64;
        }
        if l < hidden && self.adaptable() {
            let cols = w.ncols().max(1) as f64;
            self.in_mag[l] = DVector::from_iterator(
                w.nrows(),
                w.row_iter()
                    .map(|r| r.iter().map(|v| v.abs() as f64).sum::<f64>() / cols),
            );
            ops += 2 * w.len() as u64;
        }
        net.layers[l].count_digital_ops(ops);
    }

    /// Ages, running means and utilities of hidden layer `l` after a step with activity `act`.
    fn observe(&mut self, net: &mut Network, l: usize, act: Option<&Activity>) {
        let eta = self.eta();
        let adaptable = self.adaptable();
        let n = self.units[l].age.len();
        let u = &mut self.units[l];
        for a in &mut u.age {
            *a += 1;
        }
        let Some(act) = act.filter(|a| a.samples > 0) else {
            return;
        };
        for i in 0..n {
            u.mean_h[i] = eta * u.mean_h[i] + (1.0 - eta) * act.mean_h[i] as f64;
            u.mean_abs_h[i] = eta * u.mean_abs_h[i] + (1.0 - eta) * act.mean_abs_h[i] as f64;
            let y = if adaptable {
                act.mean_abs_dev[i] as f64 * self.out_mag[l][i] / self.in_mag[l][i].max(1e-12)
            } else {
                act.mean_abs_h[i] as f64 * self.out_mag[l][i]
            };
            u.util[i] = eta * u.util[i] + (1.0 - eta) * y;
        }
        net.layers[l].count_digital_ops(10 * n as u64);
    }

    /// Continual backprop's generate-and-test on hidden layer `l`.
    fn generate_and_test(&mut self, net: &mut Network, l: usize) {
        let m = self.config.maturity;
        let mut eligible: Vec<usize> = (0..self.units[l].age.len())
            .filter(|&i| self.units[l].age[i] > m)
            .collect();
        if eligible.is_empty() {
            return;
        }
        let u = &mut self.units[l];
        u.accumulated += self.config.replacement_rate * eligible.len() as f64;
        let r = (u.accumulated.floor() as usize).min(eligible.len());
        u.accumulated -= r as f64;
        if r == 0 {
            return;
        }
        let uhat = {
            let u = &self.units[l];
            u.util
                .iter()
                .zip(&u.age)
                .map(|(&v, &a)| self.corrected(v, a))
                .collect::<Vec<f64>>()
        };
        let failed: Vec<bool> = if self.config.prefer_failed_units && net.layers[l].is_analog() {
            let per_unit = net.layers[l].devices_per_unit().max(1) as f64;
            net.layers[l]
                .failed_devices_per_unit()
                .into_iter()
                .map(|f| f as f64 / per_unit >= self.config.failed_unit_fraction)
                .collect()
        } else {
            vec![false; uhat.len()]
        };
        eligible.sort_by(|&a, &b| {
            failed[b]
                .cmp(&failed[a])
                .then(uhat[a].total_cmp(&uhat[b]))
                .then(a.cmp(&b))
        });
        net.layers[l].count_digital_ops((eligible.len() * 2) as u64);
        for &i in &eligible[..r] {
            self.replace(net, l, i);
        }
        self.recompute_mags(net, l);
        self.recompute_mags(net, l + 1);
    }

    /// Replaces unit `i` of hidden layer `l` (see the module documentation).
    fn replace(&mut self, net: &mut Network, l: usize, i: usize) {
        let k = self.units[l].replacements;
        let fan_in = net.layers[l].cols();
        let (w, _) = net.weight_init().draw(
            1,
            fan_in,
            net.layers[l].activation(),
            derive(self.seed, &[purpose::CONTINUAL, 0, l as u64, k]),
        );
        net.layers[l].program_unit(i, w.as_slice(), 0.0);
        let fhat = {
            let u = &self.units[l];
            self.corrected(u.mean_h[i], u.age[i])
        };
        let next = &mut net.layers[l + 1];
        if fhat != 0.0 {
            let col = next.input_column(i) * fhat as f32;
            next.count_digital_ops(col.len() as u64);
            next.add_to_bias(&col);
        }
        next.program_input(i, 0.0);
        if let Some(known) = &mut self.known[l] {
            known.row_mut(i).copy_from_slice(w.as_slice());
        }
        if let Some(known) = &mut self.known[l + 1] {
            known.column_mut(i).fill(0.0);
        }
        let u = &mut self.units[l];
        u.age[i] = 0;
        u.util[i] = 0.0;
        u.mean_h[i] = 0.0;
        u.mean_abs_h[i] = 0.0;
        u.replacements += 1;
        if let Some(scales) = &mut self.lr_scales {
            if scales[l][i] != 1.0 {
                scales[l][i] = 1.0;
                UnitProbe::on(&mut net.layers[l]).lr_scale = Some(scales[l].clone());
            }
        }
    }

    /// Utility propagation over the known weights of layers 1..n, with the hidden units'
    /// bias-corrected mean |h| as activity; sets the backbone fraction and, when protecting,
    /// the per-unit step-size scales.
    fn propagate_utility(&mut self, net: &mut Network) {
        let n = net.layers.len();
        let hidden = self.units.len();
        let weights: Vec<DMatrix<f32>> = (1..n)
            .map(|l| self.known[l].clone().expect("weights known"))
            .collect();
        let activity: Vec<Option<DVector<f32>>> = (0..hidden)
            .map(|l| {
                let u = &self.units[l];
                Some(DVector::from_iterator(
                    u.age.len(),
                    u.mean_abs_h
                        .iter()
                        .zip(&u.age)
                        .map(|(&v, &a)| self.corrected(v, a) as f32),
                ))
            })
            .collect();
        let prop = utility::propagate(&weights, &activity);
        for (layer, w) in net.layers[1..].iter_mut().zip(&weights) {
            layer.count_digital_ops(4 * w.len() as u64);
        }
        let up = &self.config.utility_propagation;
        let mut fractions = Vec::with_capacity(hidden);
        let protect = up.protect_backbone_lr_factor != 1.0;
        let mut scales = Vec::with_capacity(hidden);
        for l in 0..hidden {
            let bb = utility::backbone(&prop.units[l], up.backbone_threshold);
            fractions.push(bb.iter().filter(|&&b| b).count() as f64 / bb.len().max(1) as f64);
            if protect {
                let s = DVector::from_iterator(
                    bb.len(),
                    bb.iter().map(|&b| {
                        if b {
                            up.protect_backbone_lr_factor
                        } else {
                            1.0
                        }
                    }),
                );
                UnitProbe::on(&mut net.layers[l]).lr_scale = Some(s.clone());
                scales.push(s);
            }
        }
        if protect {
            self.lr_scales = Some(scales);
        }
        self.backbone_fraction = Some(fractions);
        self.unit_utilities = Some(prop.units[..hidden].to_vec());
    }

    /// L2 and shrink-and-perturb on every layer: readout, W ← s·P·Ŵ + σ·N(0, 1), program; the
    /// bias likewise.
    fn apply_decay(&mut self, net: &mut Network) {
        let (s, sigma) = self
            .config
            .shrink_perturb
            .map_or((1.0, 0.0), |sp| (sp.shrink as f64, sp.noise_std));
        let f = (s * self.l2_factor) as f32;
        let app = self.decay_applications;
        for (l, layer) in net.layers.iter_mut().enumerate() {
            let mut rng = stream(self.seed, &[purpose::CONTINUAL, 1, app, l as u64]);
            let mut w = layer.readout() * f;
            let mut db = layer.bias() * (f - 1.0);
            if sigma > 0.0 {
                for v in w.iter_mut() {
                    *v += sigma * normal(&mut rng);
                }
                for v in db.iter_mut() {
                    *v += sigma * normal(&mut rng);
                }
            }
            layer.program(&w);
            layer.add_to_bias(&db);
            layer.count_digital_ops(2 * (w.len() + db.len()) as u64);
            if self.known[l].is_some() {
                self.known[l] = Some(w);
            }
        }
        for l in 0..net.layers.len() {
            self.recompute_mags(net, l);
        }
        self.l2_factor = 1.0;
        self.decay_applications += 1;
    }
}

impl Learner for Continual {
    /// The inner learner's step, with activity recorded on the hidden layers during it, then
    /// the mechanisms (see the module documentation). Returns the inner step's loss.
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        self.state.before_step(self.inner.network());
        let loss = self.inner.step(x, labels, lr);
        self.state.after_step(self.inner.network(), lr);
        loss
    }

    /// As [`Continual::step`], with the inner learner's regression step; an inner rule without
    /// a regression head gives its error and nothing is recorded.
    fn step_regression(
        &mut self,
        x: &DMatrix<f32>,
        y: &DMatrix<f32>,
        lr: f32,
    ) -> Result<f32, String> {
        self.state.before_step(self.inner.network());
        match self.inner.step_regression(x, y, lr) {
            Ok(loss) => {
                self.state.after_step(self.inner.network(), lr);
                Ok(loss)
            }
            Err(e) => {
                self.state.cancel_step(self.inner.network());
                Err(e)
            }
        }
    }

    fn scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        self.inner.scores(x)
    }

    fn hidden_activities(&mut self, x: &DMatrix<f32>) -> Vec<DMatrix<f32>> {
        self.inner.hidden_activities(x)
    }

    fn chip(&self) -> &Chip {
        self.inner.chip()
    }

    fn chip_mut(&mut self) -> &mut Chip {
        self.inner.chip_mut()
    }

    fn continual_stats(&self) -> Option<ContinualStats> {
        let per: Vec<u64> = self.state.units.iter().map(|u| u.replacements).collect();
        Some(ContinualStats {
            replacements: per.iter().sum(),
            replacements_per_layer: per,
            backbone_fraction: self.state.backbone_fraction.clone(),
        })
    }
}
