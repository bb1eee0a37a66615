//! `ff`: the Forward-Forward algorithm (Hinton 2022, arXiv 2212.13345), supervised version.
//!
//! There is no backward pass at all. Every hidden layer has its own logistic loss on its
//! *goodness* and is updated from what it sees locally (its normalised input x̂, its activity h,
//! its goodness G and whether the example is positive), with the chip's rank-1 pulse update.
//!
//! Conventions (all from Hinton's Matlab code unless said otherwise):
//!
//! * **Network.** For widths `n_0, n_1, …, n_H, C` the `H` hidden layers (ReLU, on the device)
//!   are the FF layers; the last layer (`n_H → C`, linear, on the device too) is the one-pass
//!   softmax head. The head reads the normalised activity of the *last* hidden layer only (with
//!   two hidden layers this is exactly Hinton's "all hidden layers but the first"; with more it is
//!   a subset of it — the network's last layer has width `n_H`, so a concatenation would need a
//!   second head outside the network). Only ReLU hidden layers are accepted.
//! * **Label embedding.** The first `C` input values are overwritten by a one-hot label of value
//!   [`FfConfig::label_value`] (3.0 by default; see its doc); the neutral label is `1/C` in each.
//! * **Length normalisation** ([`normalize`]): x̂ = x / (tiny + sqrt(mean_j x_j²)), tiny = e^−50,
//!   applied to the input image after the label is embedded and to every hidden layer's output
//!   before it is passed on, so a layer cannot read the goodness of the layer below.
//! * **Goodness** ([`goodness`]): G = Σ_j h_j² (sum of squares) against θ_l = θ_unit·n_l with
//!   θ_unit = [`FfConfig::theta_per_unit`] = 1 (Hinton: "sum of squares minus layer width",
//!   equivalently mean of squares against 1), temperature T = [`FfConfig::temperature`] = 1:
//!   p = σ((G − θ)/T). [`Measure::Mean`] uses G/n against θ_unit instead (T = n in effect).
//! * **Loss of layer l** for a batch of B positives and B negatives:
//!   L_l = mean_pos softplus(θ − G) + mean_neg softplus(G − θ). Its gradient with respect to the
//!   pre-activation a (ReLU) is −(1 − p)·2h/B for a positive and +p·2h/B for a negative, and the
//!   layer's update is `Layer::update(x̂, δ, lr)`: W ← W − lr·Σ_b δ_b x̂_bᵀ, b ← b − lr·Σ_b δ_b.
//!   Plain SGD: no momentum and no weight decay (the rescale-only property of a single step holds
//!   for plain SGD only). [`Learner::step`] returns the mean of L_l over the hidden layers.
//! * **Negatives** ([`Negatives`]): the same images with a wrong label, either uniform over the
//!   other classes ([`Negatives::Random`], as loeweX's port) or *hard* negatives
//!   ([`Negatives::Hard`], Hinton's code, the default): the head's softmax with the neutral label, true class
//!   masked, sampled. The draws come from the stream `(seed, [NEGATIVES_KEY, step])`.
//! * **Peer normalisation** (on by default with Hinton's λ = 0.03, decay 0.9, init 0.5): a running mean
//!   m_j ← decay·m_j + (1 − decay)·mean_pos(h_j) per unit, and λ(m_j − mean_k m_k)/B is added to
//!   every positive example's ∂L/∂a_j, not gated by the ReLU so that dead units can revive.
//!   (Hinton's code writes the ascent direction, λ(mean_k m_k − m_j); in the descent convention
//!   used here the sign flips: over-active units are pushed down.)
//! * **Head.** Trained every step with softmax cross-entropy on the normalised last-hidden-layer
//!   activity of a pass with the *neutral* label — the input it sees at inference (Hinton's and
//!   loeweX's choice; training it on the positive pass would let it read the embedded label).
//!   Its learning rate is `lr·`[`FfConfig::head_lr_factor`] (10 by default, Hinton's ratio).
//! * **Inference** ([`Inference`]): [`Ff::goodness_scores`] embeds each
//!   label in turn, runs the hidden layers and accumulates the goodness of all hidden layers but
//!   the first (which sees the label pixels; with a single hidden layer that one is used); it
//!   costs C forward passes. [`Ff::head_scores`] (the default of `scores`) is one pass with the
//!   neutral label through the hidden layers and the linear head.
//!
//! Digital work done on the layers' behalf (normalisation, goodness reductions, label embedding)
//! is counted on the layer concerned.

use super::{output_error, Learner, Options};
use crate::device::Device;
use crate::net::{Activation, Chip, NetSpec};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// Key of the random stream of the negative labels, `(seed, [NEGATIVES_KEY, step])`; distinct
/// from the tile purposes (1..=10) and the data order (100).
pub const NEGATIVES_KEY: u64 = 200;

/// The `tiny` of the length normalisation, e^−50 (Hinton's `ffnormrows`).
pub const TINY: f32 = 1.928_749_8e-22;

/// How negative labels are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Negatives {
    /// Uniformly among the wrong labels.
    Random,
    /// Sampled from the head's softmax with the neutral label, the true class masked (the
    /// default).
    #[default]
    Hard,
}

/// Which scores [`Learner::scores`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inference {
    /// Goodness accumulated over the hidden layers but the first, for every label
    /// ([`Ff::goodness_scores`]).
    Goodness,
    /// The one-pass linear softmax head with the neutral label ([`Ff::head_scores`]; the
    /// default).
    #[default]
    Head,
}

/// How a layer's goodness is measured from its activity h (n units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// G = Σ_j h_j² against θ = `theta_per_unit`·n (Hinton's code).
    #[default]
    Sum,
    /// G = Σ_j h_j² / n against θ = `theta_per_unit` (mpezeshki's port): the sum convention at
    /// temperature n, so the logistic loss saturates n times later.
    Mean,
}

/// Hyper-parameters of Forward-Forward. The defaults are Hinton's recipe (hard negatives, peer
/// normalisation, one-pass softmax read-out) without his momentum and weight decay, with a
/// stronger label (3 instead of 1): measured on full MNIST, 784-500-500-10, 10 epochs, batch 50,
/// lr 2e-3, ideal device, they give 97.94 % where the plain recipe (random negatives, no peer
/// normalisation, label 1, lr 1e-3) gives 96.66 % with the head and far less by goodness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FfConfig {
    /// θ_l = `theta_per_unit` · n_l for goodness G = Σ h², or `theta_per_unit` for the mean
    /// (default 1: θ = layer width, or 1 for the mean).
    pub theta_per_unit: f32,
    /// Goodness measure, sum or mean of squares (default sum).
    pub measure: Measure,
    /// Temperature T of the logistic: p = σ((G − θ)/T) (default 1).
    pub temperature: f32,
    /// Goodness inference also counts the first hidden layer, which sees the label pixels
    /// (default false, as Hinton's code).
    pub score_first_layer: bool,
    /// Negative labels (default hard).
    pub negatives: Negatives,
    /// Peer-normalisation strength λ (default 0.03, Hinton's; 0 = off). It keeps units alive
    /// at the larger learning rates.
    pub peer_lambda: f32,
    /// Decay of the peer-normalisation running means (default 0.9).
    pub peer_decay: f32,
    /// Initial peer-normalisation running means (default 0.5).
    pub peer_init: f32,
    /// Head learning rate = lr · `head_lr_factor` (default 10, Hinton's ratio of the softmax's
    /// ε_sup = 0.1 to the layers' ε = 0.01).
    pub head_lr_factor: f32,
    /// Scores returned by [`Learner::scores`] (default the one-pass head).
    pub inference: Inference,
    /// Value of the one-hot label pixel (default 3.0). With 1.0 (the largest pixel value) the
    /// label carries ~1 % of the normalised input's energy and its weights learn ~100× slower
    /// than the image's; 3.0 gives ~10 %.
    pub label_value: f32,
}

impl Default for FfConfig {
    fn default() -> FfConfig {
        FfConfig {
            theta_per_unit: 1.0,
            measure: Measure::Sum,
            temperature: 1.0,
            score_first_layer: false,
            negatives: Negatives::Hard,
            peer_lambda: 0.03,
            peer_decay: 0.9,
            peer_init: 0.5,
            head_lr_factor: 10.0,
            inference: Inference::Head,
            label_value: 3.0,
        }
    }
}

impl FfConfig {
    /// Checks that every value is in range; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(&str, f32, bool); 7] = [
            (
                "theta_per_unit",
                self.theta_per_unit,
                self.theta_per_unit > 0.0,
            ),
            ("temperature", self.temperature, self.temperature > 0.0),
            ("peer_lambda", self.peer_lambda, self.peer_lambda >= 0.0),
            (
                "peer_decay",
                self.peer_decay,
                (0.0..1.0).contains(&self.peer_decay),
            ),
            ("peer_init", self.peer_init, self.peer_init >= 0.0),
            (
                "head_lr_factor",
                self.head_lr_factor,
                self.head_lr_factor >= 0.0,
            ),
            ("label_value", self.label_value, self.label_value > 0.0),
        ];
        for (name, v, ok) in checks {
            if !(v.is_finite() && ok) {
                return Err(format!("ff: {name} = {v} is out of range"));
            }
        }
        Ok(())
    }
}

/// Forward-Forward.
#[derive(Debug, Clone)]
pub struct Ff {
    chip: Chip,
    config: FfConfig,
    classes: usize,
    seed: u64,
    steps: u64,
    peer_means: Vec<DVector<f32>>,
    last_positive_goodness: Vec<Vec<f32>>,
}

/// Length normalisation of every column: x̂ = x / (tiny + sqrt(mean_j x_j²)).
pub fn normalize(x: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = x.clone();
    let n = x.nrows().max(1) as f32;
    for mut col in out.column_iter_mut() {
        let ms = col.iter().map(|v| v * v).sum::<f32>() / n;
        let s = 1.0 / (TINY + ms.sqrt());
        col *= s;
    }
    out
}

/// Goodness G = Σ_j h_j² of every column of `h`, summed in row order.
pub fn goodness(h: &DMatrix<f32>) -> Vec<f32> {
    h.column_iter()
        .map(|c| c.iter().fold(0f32, |acc, v| acc + v * v))
        .collect()
}

/// `x` with its first `classes` values replaced by the label: one-hot of value `value` for
/// `Some(labels)` (one per column), the neutral label 1/`classes` in each for `None`.
pub fn embed_label(
    x: &DMatrix<f32>,
    labels: Option<&[usize]>,
    classes: usize,
    value: f32,
) -> DMatrix<f32> {
    assert!(
        x.nrows() >= classes,
        "the input has fewer values than classes"
    );
    let mut out = x.clone();
    for b in 0..x.ncols() {
        for c in 0..classes {
            out[(c, b)] = match labels {
                Some(l) => {
                    if l[b] == c {
                        value
                    } else {
                        0.0
                    }
                }
                None => 1.0 / classes as f32,
            };
        }
    }
    out
}

/// softplus(z) = ln(1 + e^z), stably.
fn softplus(z: f32) -> f32 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// σ(z), stably.
fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Ff {
    /// `spec` on `device` with the [`FfConfig`] of [`Options::ff`]. The hidden activation must
    /// be ReLU and the input must have at least as many values as there are classes.
    pub fn new(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        options: &Options,
    ) -> Result<Ff, String> {
        Ff::with_config(spec, device, seed, options, options.ff.clone())
    }

    /// `spec` on `device` with `config` (instead of [`Options::ff`]).
    pub fn with_config(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        _options: &Options,
        config: FfConfig,
    ) -> Result<Ff, String> {
        config.validate()?;
        let w = &spec.widths;
        if w.len() < 3 {
            return Err("ff needs at least one hidden layer".into());
        }
        if spec.activation != Activation::Relu {
            return Err(format!(
                "ff needs ReLU hidden layers (goodness is a sum of squared ReLU activities), not {:?}",
                spec.activation
            ));
        }
        let classes = w[w.len() - 1];
        if classes < 2 {
            return Err("ff needs at least two classes".into());
        }
        if w[0] < classes {
            return Err(format!(
                "ff embeds the label in the first {classes} inputs, but the input has {}",
                w[0]
            ));
        }
        let hidden = w.len() - 2;
        Ok(Ff {
            chip: Chip::new(spec, Some(device), seed),
            peer_means: (0..hidden)
                .map(|l| DVector::from_element(w[l + 1], config.peer_init))
                .collect(),
            config,
            classes,
            seed,
            steps: 0,
            last_positive_goodness: vec![Vec::new(); hidden],
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &FfConfig {
        &self.config
    }

    /// Number of hidden (FF) layers.
    pub fn hidden_layers(&self) -> usize {
        self.chip.net.layers.len() - 1
    }

    /// The goodness threshold θ_l of hidden layer `l`.
    pub fn theta(&self, l: usize) -> f32 {
        match self.config.measure {
            Measure::Sum => self.config.theta_per_unit * self.chip.net.layers[l].rows() as f32,
            Measure::Mean => self.config.theta_per_unit,
        }
    }

    /// The first hidden layer whose goodness counts at inference (1, or 0 with a single hidden
    /// layer).
    pub fn first_scored_layer(&self) -> usize {
        usize::from(self.hidden_layers() > 1 && !self.config.score_first_layer)
    }

    /// The goodness of every positive example at every hidden layer in the last training step
    /// (`[layer][example]`), as used for the loss.
    pub fn last_positive_goodness(&self) -> &[Vec<f32>] {
        &self.last_positive_goodness
    }

    /// The normalised network input: `x` with the label embedded (`None`: neutral), normalised.
    pub fn input(&mut self, x: &DMatrix<f32>, labels: Option<&[usize]>) -> DMatrix<f32> {
        let e = embed_label(x, labels, self.classes, self.config.label_value);
        let n = normalize(&e);
        self.chip.net.layers[0].count_digital_ops((self.classes * x.ncols() + 3 * x.len()) as u64);
        n
    }

    /// Runs the hidden layers on a normalised input; returns each hidden layer's activity h
    /// (not normalised).
    pub fn layer_activities(&mut self, x_hat: &DMatrix<f32>) -> Vec<DMatrix<f32>> {
        let h = self.hidden_layers();
        let mut out: Vec<DMatrix<f32>> = Vec::with_capacity(h);
        for l in 0..h {
            let f = if l == 0 {
                self.chip.net.layers[l].forward(x_hat)
            } else {
                let xn = self.normalized(l - 1, &out[l - 1]);
                self.chip.net.layers[l].forward(&xn)
            };
            out.push(f.h);
        }
        out
    }

    /// `normalize(h)` counted as digital work of layer `l`.
    fn normalized(&mut self, l: usize, h: &DMatrix<f32>) -> DMatrix<f32> {
        self.chip.net.layers[l].count_digital_ops(3 * h.len() as u64);
        normalize(h)
    }

    /// The goodness of every column of `h` under the configured measure, counted as digital
    /// work of layer `l`.
    fn goodness_of(&mut self, l: usize, h: &DMatrix<f32>) -> Vec<f32> {
        self.chip.net.layers[l].count_digital_ops(2 * h.len() as u64);
        let g = goodness(h);
        match self.config.measure {
            Measure::Sum => g,
            Measure::Mean => {
                let n = h.nrows().max(1) as f32;
                g.into_iter().map(|v| v / n).collect()
            }
        }
    }

    /// ∂G/∂h_j = `dg_scale`·h_j: 2 for the sum, 2/n for the mean.
    fn dg_scale(&self, l: usize) -> f32 {
        match self.config.measure {
            Measure::Sum => 2.0,
            Measure::Mean => 2.0 / self.chip.net.layers[l].rows() as f32,
        }
    }

    /// Goodness scores (classes × batch): for each label c, the goodness of `x` with label c
    /// embedded, accumulated (in layer order, starting from 0) over the hidden layers from
    /// [`Ff::first_scored_layer`] on. All labels go through the chip as one batch of
    /// classes·batch columns (column k = c·batch + b).
    pub fn goodness_scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let (c, b) = (self.classes, x.ncols());
        let mut stacked = DMatrix::zeros(x.nrows(), c * b);
        for k in 0..c {
            stacked.columns_mut(k * b, b).copy_from(x);
        }
        let labels: Vec<usize> = (0..c * b).map(|k| k / b).collect();
        let xin = self.input(&stacked, Some(&labels));
        let acts = self.layer_activities(&xin);
        let mut scores = DMatrix::zeros(c, b);
        let first = self.first_scored_layer();
        for (l, a) in acts.iter().enumerate().skip(first) {
            let g = self.goodness_of(l, a);
            for (k, gk) in g.iter().enumerate() {
                scores[(k / b, k % b)] += gk;
            }
        }
        scores
    }

    /// Head scores (classes × batch): one pass with the neutral label through the hidden
    /// layers, the last hidden layer's normalised activity into the linear head.
    pub fn head_scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        self.neutral_pass(x).1
    }

    /// The head's input and scores for `x` with the neutral label.
    fn neutral_pass(&mut self, x: &DMatrix<f32>) -> (DMatrix<f32>, DMatrix<f32>) {
        let xin = self.input(x, None);
        let acts = self.layer_activities(&xin);
        let h = self.hidden_layers();
        let head_in = self.normalized(h - 1, &acts[h - 1]);
        let z = self.chip.net.layers[h].forward(&head_in).h;
        (head_in, z)
    }

    /// Trains hidden layer `l` on normalised inputs `x_hat` whose first `n_pos` columns are
    /// positive and the rest negative; returns the layer's loss (mean over positives + mean over
    /// negatives), the normalised output to pass on (computed before the update) and the
    /// positives' goodness.
    fn train_layer(
        &mut self,
        l: usize,
        x_hat: &DMatrix<f32>,
        n_pos: usize,
        lr: f32,
    ) -> (f32, DMatrix<f32>, Vec<f32>) {
        let fwd = self.chip.net.layers[l].forward(x_hat);
        let g = self.goodness_of(l, &fwd.h);
        let theta = self.theta(l);
        let scale = self.dg_scale(l);
        let n = x_hat.ncols();
        let n_neg = n - n_pos;
        let (mut loss_pos, mut loss_neg) = (0f64, 0f64);
        let mut delta = DMatrix::zeros(fwd.h.nrows(), n);
        let t = self.config.temperature;
        for (b, &gb) in g.iter().enumerate() {
            let z = (gb - theta) / t;
            let p = sigmoid(z);
            // ∂L/∂G for this example, already divided by its group's size (and by T).
            let dg = if b < n_pos {
                loss_pos += softplus(-z) as f64;
                -(1.0 - p) / n_pos as f32 / t
            } else {
                loss_neg += softplus(z) as f64;
                p / n_neg as f32 / t
            };
            // ∂G/∂a = 2h (2h/n for the mean) for ReLU (h = 0 where a ≤ 0).
            for (d, &h) in delta.column_mut(b).iter_mut().zip(fwd.h.column(b).iter()) {
                *d = dg * scale * h;
            }
        }
        if self.config.peer_lambda > 0.0 && n_pos > 0 {
            let decay = self.config.peer_decay;
            let batch_mean = fwd.h.columns(0, n_pos).column_mean();
            let m = &mut self.peer_means[l];
            *m = &*m * decay + batch_mean * (1.0 - decay);
            let mbar = m.mean();
            let lambda = self.config.peer_lambda / n_pos as f32;
            for b in 0..n_pos {
                for (d, &mj) in delta.column_mut(b).iter_mut().zip(m.iter()) {
                    *d += lambda * (mj - mbar);
                }
            }
            self.chip.net.layers[l].count_digital_ops(3 * fwd.h.len() as u64);
        }
        self.chip.net.layers[l].count_digital_ops(4 * fwd.h.len() as u64);
        let out = self.normalized(l, &fwd.h);
        self.chip.net.layers[l].update(x_hat, &delta, lr);
        let loss = if n_pos > 0 {
            loss_pos / n_pos as f64
        } else {
            0.0
        } + if n_neg > 0 {
            loss_neg / n_neg as f64
        } else {
            0.0
        };
        let pos_g = g[..n_pos].to_vec();
        (loss as f32, out, pos_g)
    }

    /// One plain-SGD FF step of hidden layer `l` alone on normalised inputs `x_hat` (columns),
    /// all positive or all negative: δ = ∓(1−p or p)·2h / batch, `Layer::update(x_hat, δ, lr)`.
    /// Returns the layer's mean loss before the step. For tests of the local rule.
    pub fn layer_step(&mut self, l: usize, x_hat: &DMatrix<f32>, positive: bool, lr: f32) -> f32 {
        assert!(l < self.hidden_layers(), "layer {l} is not a hidden layer");
        let n_pos = if positive { x_hat.ncols() } else { 0 };
        self.train_layer(l, x_hat, n_pos, lr).0
    }

    /// Negative labels for `labels`, given the head's neutral-label scores `z` (hard negatives).
    fn negative_labels(&self, labels: &[usize], z: &DMatrix<f32>) -> Vec<usize> {
        let c = self.classes;
        let mut rng = crate::random::stream(self.seed, &[NEGATIVES_KEY, self.steps]);
        labels
            .iter()
            .enumerate()
            .map(|(b, &y)| match self.config.negatives {
                Negatives::Random => {
                    let r = rng.random_range(0..c - 1);
                    if r >= y {
                        r + 1
                    } else {
                        r
                    }
                }
                Negatives::Hard => {
                    let col = z.column(b);
                    let m = (0..c)
                        .filter(|&k| k != y)
                        .map(|k| col[k])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let w: Vec<f32> = (0..c)
                        .map(|k| if k == y { 0.0 } else { (col[k] - m).exp() })
                        .collect();
                    let total: f32 = w.iter().sum();
                    let mut u = rng.random::<f32>() * total;
                    let mut pick = if y == c - 1 { c - 2 } else { c - 1 };
                    for (k, &wk) in w.iter().enumerate() {
                        if wk > 0.0 && u < wk {
                            pick = k;
                            break;
                        }
                        u -= wk;
                    }
                    pick
                }
            })
            .collect()
    }
}

impl Learner for Ff {
    /// One FF step: a neutral-label pass (head training, hard negatives), then positives and
    /// negatives as one batch of 2·batch columns through the hidden layers, each layer updated
    /// from its own loss. Returns the mean over hidden layers of each layer's FF loss
    /// (mean softplus over positives + mean softplus over negatives), before the step.
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        assert_eq!(x.ncols(), labels.len(), "one label per sample");
        let b = x.ncols();
        let h = self.hidden_layers();
        let (head_in, z) = self.neutral_pass(x);
        let neg = self.negative_labels(labels, &z);
        let (_, e) = output_error(&mut self.chip.net, &z, labels);
        self.chip.net.layers[h].update(&head_in, &e, lr * self.config.head_lr_factor);

        let mut both = DMatrix::zeros(x.nrows(), 2 * b);
        both.columns_mut(0, b).copy_from(x);
        both.columns_mut(b, b).copy_from(x);
        let all_labels: Vec<usize> = labels.iter().chain(&neg).copied().collect();
        let mut input = self.input(&both, Some(&all_labels));
        let mut total = 0f64;
        for l in 0..h {
            let (loss, out, pos_g) = self.train_layer(l, &input, b, lr);
            total += loss as f64;
            self.last_positive_goodness[l] = pos_g;
            input = out;
        }
        self.steps += 1;
        (total / h as f64) as f32
    }

    fn scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        match self.config.inference {
            Inference::Goodness => self.goodness_scores(x),
            Inference::Head => self.head_scores(x),
        }
    }

    /// The hidden layers' activities with the neutral label (what the head sees).
    fn hidden_activities(&mut self, x: &DMatrix<f32>) -> Vec<DMatrix<f32>> {
        let x_hat = self.input(x, None);
        self.layer_activities(&x_hat)
    }

    fn chip(&self) -> &Chip {
        &self.chip
    }

    fn chip_mut(&mut self) -> &mut Chip {
        &mut self.chip
    }
}
