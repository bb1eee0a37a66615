//! Learning rules: one trait, one file per rule.
//!
//! Every rule ends in the rank-1 update ΔW_l = −η δ_l h_{l−1}ᵀ, applied by [`Layer::update`]
//! (a pulse update on the chip; with [`Options::momentum`] a momentum step, written column by
//! column; with [`Options::update`] an update scheme such as Tiki-Taka, [`crate::net::scheme`]);
//! rules differ in how the teaching signal δ_l is produced:
//!
//! | rule | δ_l of hidden layer l | needs |
//! | --- | --- | --- |
//! | [`bp_digital`] | (W_{l+1}ᵀ δ_{l+1}) ⊙ f′(a_l), float32, no device | the ceiling |
//! | [`bp_oracle`] | the same through the true conductances | a transpose the chip lacks (counted) |
//! | [`fa`] | (B_{l+1} δ_{l+1}) ⊙ f′(a_l), B fixed random on its own tile | forward reads only |
//! | [`dfa`] | (B_l e) ⊙ f′(a_l), e the output error | forward reads only, layers in parallel |
//! | [`dtp`] | (h_l − ĥ_l) ⊙ f′(a_l)/B, ĥ_l propagated down through learned inverses | forward reads only, inverse tiles |
//!
//! Continual-learning mechanisms that wrap any of them are in [`continual`] (continual backprop,
//! L2, shrink-and-perturb) and [`utility`] (utility propagation, backbone and fringe).
//!
//! The output error is e = ∂L/∂z of the head's loss averaged over the batch, so a batch update
//! equals a step on the mean loss (as PyTorch's default reduction). Two heads on the linear
//! output layer ([`Targets`]): softmax cross-entropy against class labels ([`Learner::step`]),
//! and squared error against real-valued targets ([`Learner::step_regression`], for regression
//! streams such as Dohare et al.'s slowly-changing regression).

pub mod bp_digital;
pub mod bp_mirror;
pub mod bp_oracle;
pub mod continual;
pub mod dfa;
pub mod dtp;
pub mod fa;
pub mod ff;
pub mod hwa;
pub mod registry;
pub mod sg;
pub mod utility;

use crate::crossbar::Counters;
use crate::device::Device;
use crate::net::{Chip, Forward, Layer, Momentum, NetSpec, Network, Role, TileId, UpdateScheme};
use nalgebra::DMatrix;

/// A learning rule training one network. All learners share the network description, the seed
/// scheme and the data order, so that a comparison differs only in the rule.
pub trait Learner {
    /// One step on a batch (`x`: inputs × batch) with learning rate `lr`; returns the mean
    /// cross-entropy loss of the batch before the step.
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32;
    /// One step on a batch toward real-valued targets `y` (outputs × batch) under the
    /// squared-error head ([`squared_error`]; the output layer is linear); returns the mean
    /// squared error of the batch before the step. A rule without a regression head (the
    /// default; Forward-Forward, whose goodness needs classes) returns an error and does not
    /// step.
    fn step_regression(
        &mut self,
        x: &DMatrix<f32>,
        y: &DMatrix<f32>,
        lr: f32,
    ) -> Result<f32, String> {
        let _ = (x, y, lr);
        Err("this learning rule has no regression head (it needs class labels)".into())
    }
    /// Class scores of a batch (classes × batch), for inference: by default the network's
    /// output scores.
    fn scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        self.network().scores(x)
    }
    /// The hidden layers' activities for a batch (one hidden × batch matrix per hidden layer), as
    /// the representation the rule learns: by default the network's forward pass. For plasticity
    /// metrics (dead units, rank); a forward read on the chip, counted.
    fn hidden_activities(&mut self, x: &DMatrix<f32>) -> Vec<DMatrix<f32>> {
        let mut fwd = self.network().forward(x);
        fwd.pop();
        fwd.into_iter().map(|f| f.h).collect()
    }
    /// The chip the rule runs on: its network and every other array it allocated.
    fn chip(&self) -> &Chip;
    /// The chip, for its operations.
    fn chip_mut(&mut self) -> &mut Chip;
    /// Physical and digital operations so far, on every array of the chip.
    fn counters(&self) -> Counters {
        self.chip().counters()
    }
    /// Energy of those operations, joules.
    fn energy_j(&self) -> f64 {
        self.chip().energy_j()
    }
    /// The trained network (the chip's forward arrays).
    fn network(&mut self) -> &mut Network {
        self.chip_mut().network_mut()
    }
    /// What the continual-learning mechanisms did (replacements, backbone fractions), for a
    /// learner wrapped by [`continual::Continual`]; None otherwise (the default).
    fn continual_stats(&self) -> Option<continual::ContinualStats> {
        None
    }
}

/// Options shared by the learners (the `options` table of an experiment file's `[learner.NAME]`;
/// every field has its default).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Options {
    /// Keep feedback matrices digital instead of on tiles of the device (default false).
    pub feedback_digital: bool,
    /// Use these feedback matrices instead of random ones (FA: B_{l+1}, n_l × n_{l+1}, for each
    /// hidden layer l; DFA: B_l, n_l × n_out). For experiments and tests; not in files.
    #[serde(skip)]
    pub feedback: Option<Vec<DMatrix<f32>>>,
    /// `bp-mirror` and `sg`: steps between two re-programmings of each transposed copy from a
    /// readout of its forward layer; `None` = 100 ([`bp_mirror::DEFAULT_MIRROR_REFRESH_EVERY`]),
    /// `Some(0)` = never.
    pub mirror_refresh_every: Option<usize>,
    /// `sg`: learning rate of the synthetic-gradient modules relative to the run's; `None` = 0.3
    /// ([`sg::DEFAULT_SG_LR_FACTOR`]).
    pub sg_lr_factor: Option<f32>,
    /// `fa`, `dfa` and `sg`: strength λ of an activity penalty (λ/2)·mean_b ‖h_l‖² on every hidden
    /// layer, whose gradient λ·h_l/batch joins the teaching signal before the activation's
    /// derivative (default 0 = off; [`add_activity_penalty`]). On chips with abs-max noise
    /// management the output's signal-to-noise ratio does not grow with the hidden activity, so
    /// the feedback's push on the activity never stops and it grows until the output layer's
    /// step diverges; the penalty bounds it. Not written out when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub activity_l2: f32,
    /// SGD momentum μ ∈ [0, 1) of every trained matrix (the network's layers, given by [`build`],
    /// and `sg`'s modules; the transposed copies of `bp-mirror` and `sg` write their forward
    /// layer's velocity transposed), as `torch.optim.SGD` (default 0 = plain SGD;
    /// see [`crate::net::momentum`]). On tiles each step becomes a full-matrix write, one update
    /// cycle per input line, counted. Not written out when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub momentum: f32,
    /// Dampening τ ∈ [0, 1] of the momentum: v ← μ·v + (1 − τ)·g (default 0; Hinton's FF code
    /// smooths with μ = τ = 0.9). Not written out when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub dampening: f32,
    /// `ff`: Forward-Forward's hyper-parameters (default [`ff::FfConfig::default`]).
    pub ff: ff::FfConfig,
    /// Continual-learning mechanisms for any learner (default
    /// [`continual::ContinualConfig::default`]: all off). Not written out when default, so
    /// resolved configs and their hashes are as without it.
    #[serde(skip_serializing_if = "continual::ContinualConfig::is_default")]
    pub continual: continual::ContinualConfig,
    /// A registered rule's own options (`[learner.NAME.options.rule]`), read by its constructor
    /// (see [`registry`]); the built-in rules take none (default empty, not written out).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub rule: toml::Table,
    /// `bp-digital`: hardware-aware training (default [`hwa::HwaConfig::default`]: off; not
    /// written out when default).
    #[serde(skip_serializing_if = "hwa::HwaConfig::is_default")]
    pub hwa: hwa::HwaConfig,
    /// The update scheme of the network's layers ([`crate::net::scheme`]; default `sgd`, the
    /// plain pulsed update), installed by [`build`] on every rule alike. Set from `[train]
    /// update` and `[train.scheme]` of an experiment file or `--update`; not an `options` key.
    #[serde(skip)]
    pub update: UpdateScheme,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

impl Options {
    /// Checks the options every learner shares: [`Options::activity_l2`] finite and ≥ 0, the
    /// momentum's ranges, and the continual mechanisms. The error is (field, message), the field
    /// as written in an `options` table.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !(self.activity_l2.is_finite() && self.activity_l2 >= 0.0) {
            return Err((
                "activity_l2".into(),
                format!(
                    "activity_l2 = {}: must be a finite number ≥ 0",
                    self.activity_l2
                ),
            ));
        }
        self.momentum()
            .validate()
            .map_err(|(f, m)| (f.to_string(), m))?;
        self.hwa.validate()?;
        self.continual
            .validate()
            .map_err(|m| ("continual".to_string(), m))
    }

    /// The momentum of [`Options::momentum`] and [`Options::dampening`].
    pub fn momentum(&self) -> Momentum {
        Momentum {
            momentum: self.momentum,
            dampening: self.dampening,
        }
    }
}

/// Adds the gradient of the activity penalty (λ/2)·mean_b ‖h‖², λ·h/batch, to the teaching
/// signal `g` of a hidden layer whose activities are `h` (counted as digital work on `layer`).
/// Nothing happens for λ = 0.
pub fn add_activity_penalty(
    g: &mut DMatrix<f32>,
    h: &DMatrix<f32>,
    lambda: f32,
    layer: &mut Layer,
) {
    if lambda == 0.0 {
        return;
    }
    let k = lambda / h.ncols() as f32;
    for (gv, hv) in g.as_mut_slice().iter_mut().zip(h.as_slice()) {
        *gv += k * hv;
    }
    layer.count_digital_ops(2 * h.len() as u64);
}

/// Builds learner `name` (an entry of the [`registry`]) for `spec` on `device`, everything
/// random derived from `seed`. When [`Options::continual`] switches a mechanism on
/// ([`continual::ContinualConfig::is_active`]), the learner comes wrapped in a
/// [`continual::Continual`]; otherwise it is the plain learner. The options are validated
/// either way. The network's layers get [`Options::momentum`] here; rules that train matrices
/// of their own give them theirs. A bad option of a rule's own is named
/// `rule.FIELD` in the error.
pub fn build(
    name: &str,
    spec: &NetSpec,
    device: &Device,
    seed: u64,
    options: &Options,
) -> Result<Box<dyn Learner>, String> {
    build_located(name, spec, device, seed, options).map_err(|(field, m)| {
        if field.is_empty() {
            m
        } else {
            format!("{field}: {m}")
        }
    })
}

/// Checks the options that only some rules take: hardware-aware training ([`Options::hwa`])
/// trains digital weights, so only `bp-digital` takes it. `Err((field, message))`.
pub fn check_rule_options(name: &str, options: &Options) -> Result<(), (String, String)> {
    if name != "bp-digital" && !options.hwa.is_default() {
        return Err((
            "hwa".into(),
            format!(
                "hardware-aware training trains digital weights: it is for bp-digital, not {name}"
            ),
        ));
    }
    Ok(())
}

/// As [`build`], the error as (field of the options, message): the field is empty when the
/// problem is not one option's, `rule.FIELD` for a rule's own option.
pub fn build_located(
    name: &str,
    spec: &NetSpec,
    device: &Device,
    seed: u64,
    options: &Options,
) -> Result<Box<dyn Learner>, (String, String)> {
    let entry = registry::lookup(name).map_err(|m| (String::new(), m))?;
    options.validate()?;
    // Every rule's extra arrays together stay within 2× the network (mirrors plus modules).
    crate::memory::check(
        &format!("the network {:?} with its rule's arrays", spec.widths),
        crate::memory::network_bytes(&spec.widths, 3),
    )
    .map_err(|m| (String::new(), m))?;
    (entry.check)(&options.rule).map_err(|(f, m)| (format!("rule.{f}"), m))?;
    spec.check_layers()
        .map_err(|m| ("layer_devices".to_string(), m))?;
    check_rule_options(name, options)?;
    let args = registry::BuildArgs {
        spec,
        device,
        seed,
        options,
    };
    let mut plain = (entry.build)(&args).map_err(|(f, m)| {
        let f = if f.is_empty() { f } else { format!("rule.{f}") };
        (f, m)
    })?;
    plain.network().set_momentum(options.momentum());
    // The update scheme: how every rule's x·δᵀ reaches the forward layers' cells.
    plain
        .chip_mut()
        .set_update_scheme(&options.update, seed)
        .map_err(|(f, m)| match f.as_str() {
            "" => ("update".to_string(), m),
            _ => (format!("scheme.{f}"), m),
        })?;
    if options.continual.is_active() {
        Ok(Box::new(
            continual::Continual::new(plain, options.continual.clone(), seed)
                .map_err(|m| ("continual".to_string(), m))?,
        ))
    } else {
        Ok(plain)
    }
}

/// What a batch teaches: the targets of the network's head.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// Class labels, one per sample: the softmax cross-entropy head.
    Classes(&'a [usize]),
    /// Real-valued targets, outputs × batch: the squared-error head on the linear output.
    Values(&'a DMatrix<f32>),
}

impl<'a> From<&'a [usize]> for Targets<'a> {
    fn from(labels: &'a [usize]) -> Self {
        Targets::Classes(labels)
    }
}

impl<'a> From<&'a Vec<usize>> for Targets<'a> {
    fn from(labels: &'a Vec<usize>) -> Self {
        Targets::Classes(labels)
    }
}

impl<'a> From<&'a DMatrix<f32>> for Targets<'a> {
    fn from(y: &'a DMatrix<f32>) -> Self {
        Targets::Values(y)
    }
}

impl Targets<'_> {
    /// Samples in the batch.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(l) => l.len(),
            Targets::Values(y) => y.ncols(),
        }
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets as a `outputs` × batch matrix: one-hot columns of the labels, or the values
    /// themselves (what a rule conditions on, e.g. synthetic gradients' modules).
    pub fn as_matrix(&self, outputs: usize) -> DMatrix<f32> {
        match self {
            Targets::Classes(labels) => {
                let mut m = DMatrix::zeros(outputs, labels.len());
                for (b, &y) in labels.iter().enumerate() {
                    m[(y, b)] = 1.0;
                }
                m
            }
            Targets::Values(y) => (*y).clone(),
        }
    }
}

/// The head's loss of the network's output scores `z` and its error e = ∂L/∂z
/// ([`softmax_cross_entropy`] for class labels, [`squared_error`] for values), its digital work
/// counted on the output layer: per score 5 operations for the softmax (the maximum, an
/// exponential, a sum, a log-probability and the error), 3 for the squared error (a difference,
/// a square and a sum, the error a scaled difference). Every rule forms its output error with
/// it.
pub fn output_error<'a>(
    net: &mut Network,
    z: &DMatrix<f32>,
    targets: impl Into<Targets<'a>>,
) -> (f32, DMatrix<f32>) {
    let (out, ops) = match targets.into() {
        Targets::Classes(labels) => (softmax_cross_entropy(z, labels), 5),
        Targets::Values(y) => (squared_error(z, y), 3),
    };
    if let Some(last) = net.layers.last_mut() {
        last.count_digital_ops(ops * z.len() as u64);
    }
    out
}

/// Checks regression targets `y` against the network and the batch `x`: one row per output,
/// one column per sample, every value finite. The error says what is wrong.
pub fn check_regression_targets(
    net: &Network,
    x: &DMatrix<f32>,
    y: &DMatrix<f32>,
) -> Result<(), String> {
    let outputs = net.layers.last().map_or(0, Layer::rows);
    if y.shape() != (outputs, x.ncols()) {
        return Err(format!(
            "regression targets are {}×{}, the network has {outputs} outputs and the batch {} samples",
            y.nrows(),
            y.ncols(),
            x.ncols()
        ));
    }
    if let Some(v) = y.iter().find(|v| !v.is_finite()) {
        return Err(format!("a regression target of {v} is not finite"));
    }
    Ok(())
}

/// Mean squared error of outputs `z` against targets `y` (both outputs × batch), averaged over
/// every element as PyTorch's `F.mse_loss` (Dohare et al.'s regression learner), and its
/// gradient e = 2(z − y)/(outputs·batch).
///
/// # Panics
/// If the shapes differ.
pub fn squared_error(z: &DMatrix<f32>, y: &DMatrix<f32>) -> (f32, DMatrix<f32>) {
    assert_eq!(z.shape(), y.shape(), "one target per output and sample");
    let n = z.len().max(1) as f32;
    let d = z - y;
    let loss = d.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / f64::from(n);
    (loss as f32, d * (2.0 / n))
}

/// Mean softmax cross-entropy of scores `z` (classes × batch) against `labels`, and its
/// gradient e = (softmax(z) − onehot)/batch.
pub fn softmax_cross_entropy(z: &DMatrix<f32>, labels: &[usize]) -> (f32, DMatrix<f32>) {
    assert_eq!(z.ncols(), labels.len(), "one label per sample");
    let batch = z.ncols() as f32;
    let mut e = DMatrix::zeros(z.nrows(), z.ncols());
    let mut loss = 0f64;
    for (b, &y) in labels.iter().enumerate() {
        let col = z.column(b);
        let m = col.max();
        let sum: f32 = col.iter().map(|v| (v - m).exp()).sum();
        let log_sum = m + sum.ln();
        loss += (log_sum - col[y]) as f64;
        for i in 0..z.nrows() {
            let p = (col[i] - log_sum).exp();
            e[(i, b)] = (p - if i == y { 1.0 } else { 0.0 }) / batch;
        }
    }
    ((loss / batch as f64) as f32, e)
}

/// The class with the highest score, per sample.
pub fn predictions(scores: &DMatrix<f32>) -> Vec<usize> {
    scores.column_iter().map(|c| c.argmax().0).collect()
}

/// Chains teaching signals backwards from the output error: δ_L = e and
/// δ_l = g_l ⊙ f′(a_l) with g_l = `backward`(net, l, δ_{l+1}) — Wᵀδ for backprop, Bδ for feedback
/// alignment, a mirror's read for bp-mirror.
pub fn chain_deltas(
    net: &mut Network,
    fwd: &[Forward],
    e: DMatrix<f32>,
    mut backward: impl FnMut(&mut Network, usize, &DMatrix<f32>) -> DMatrix<f32>,
) -> Vec<DMatrix<f32>> {
    let n = net.layers.len();
    let mut deltas = vec![DMatrix::zeros(0, 0); n];
    deltas[n - 1] = e;
    for l in (0..n - 1).rev() {
        let g = backward(net, l, &deltas[l + 1]);
        deltas[l] = net.layers[l].gate(&g, &fwd[l]);
    }
    deltas
}

/// Backpropagates the output error `e` through `net`: g_l = W_{l+1}ᵀ δ_{l+1}, where
/// `transposed_product`(layer, δ) supplies Wᵀδ of a layer (the learner decides how it may know
/// W). The product is digital work (a transposed read the chip cannot do) and is counted here.
pub fn backprop_deltas(
    net: &mut Network,
    fwd: &[Forward],
    e: DMatrix<f32>,
    mut transposed_product: impl FnMut(&mut Layer, &DMatrix<f32>) -> DMatrix<f32>,
) -> Vec<DMatrix<f32>> {
    chain_deltas(net, fwd, e, |net, l, delta| {
        let layer = &mut net.layers[l + 1];
        layer.count_digital_ops((2 * layer.rows() * layer.cols() * delta.ncols()) as u64);
        transposed_product(layer, delta)
    })
}

/// Applies ΔW_l = −lr δ_l h_{l−1}ᵀ to every layer (h_0 = x), after all δ were computed.
pub fn apply_updates(
    net: &mut Network,
    x: &DMatrix<f32>,
    fwd: &[Forward],
    deltas: &[DMatrix<f32>],
    lr: f32,
) {
    for l in 0..net.layers.len() {
        let input = if l == 0 { x } else { &fwd[l - 1].h };
        net.layers[l].update(input, &deltas[l], lr);
    }
}

/// Fixed random feedback matrices of the given shapes, U(−1/√rows, 1/√rows) like a forward
/// layer's transpose, or those of [`Options::feedback`], allocated on `chip` as
/// [`Role::Feedback`] arrays (mapped onto the device's range by [`Layer::fixed`]), digital when
/// [`Options::feedback_digital`] says so.
pub(crate) fn feedback_layers(
    chip: &mut Chip,
    shapes: &[(usize, usize)],
    seed: u64,
    options: &Options,
) -> Result<Vec<TileId>, String> {
    use crate::random::{derive, purpose};
    let given = options.feedback.as_ref();
    if let Some(g) = given {
        if g.len() != shapes.len() {
            return Err(format!(
                "{} feedback matrices given, {} needed",
                g.len(),
                shapes.len()
            ));
        }
        for (m, &(r, c)) in g.iter().zip(shapes) {
            if m.shape() != (r, c) {
                return Err(format!(
                    "feedback matrix is {:?}, needs ({r}, {c})",
                    m.shape()
                ));
            }
        }
    }
    Ok(shapes
        .iter()
        .enumerate()
        .map(|(k, &(rows, cols))| {
            let b = match given {
                Some(g) => g[k].clone(),
                None => {
                    let (w, _) = crate::net::torch_default_init(
                        cols,
                        rows,
                        derive(seed, &[purpose::FEEDBACK, k as u64]),
                    );
                    w.transpose()
                }
            };
            chip.allocate_fixed(
                Role::Feedback,
                &b,
                derive(seed, &[purpose::FEEDBACK, k as u64, 1]),
                options.feedback_digital,
            )
        })
        .collect())
}
