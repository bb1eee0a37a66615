//! The training loop of one run: epochs over a seeded order of the training set, evaluation on
//! the test set after each epoch, with wall-clock speed and simulated energy per sample.

use crate::data::{shuffled_order, Dataset};
use crate::learn::{predictions, softmax_cross_entropy, Learner};
use crate::net::Chip;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per update.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// Seed of the data order (the learner has its own).
    pub seed: u64,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Simulated seconds the chip idles per training sample, after each step (drift, leak and
    /// random failures act meanwhile): the rate at which data arrives, the same for every batch
    /// size; 0 = steps follow each other as fast as the chip runs them.
    pub idle_s_per_sample: f64,
    /// What the chip's controller does against ageing while it learns.
    pub countermeasures: Countermeasures,
}

impl Default for TrainConfig {
    /// One epoch at batch 32 and lr 0.05 (the recommended settings of most rules; take a
    /// rule's own from its registry entry), seed 1, constant schedule, no idle time, no
    /// countermeasures.
    fn default() -> Self {
        TrainConfig {
            epochs: 1,
            batch: 32,
            lr: 0.05,
            seed: 1,
            schedule: Schedule::Constant,
            idle_s_per_sample: 0.0,
            countermeasures: Countermeasures::default(),
        }
    }
}

/// Countermeasures against ageing while the chip learns (`[countermeasures]` of an experiment
/// file; all off by default). They act on every array of the chip: the network's layers and a
/// learner's feedback matrices, mirrors and synthetic-gradient modules alike.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Countermeasures {
    /// Global drift compensation (aihwkit's `GlobalDriftCompensation`) during training: the
    /// one-hot reference is read after the initial programming and after every refresh, and
    /// the digital factor α = reference / now is re-estimated every `compensate_every_steps`
    /// steps and before every evaluation. Learning changes the weights too, and the factor
    /// cannot tell that from drift: it is a global, not a per-cell, correction (default false).
    pub drift_compensation: bool,
    /// Steps between two re-estimations of the compensation factor (0, the default: only
    /// before evaluations).
    pub compensate_every_steps: usize,
    /// Simulated seconds between two refreshes: every analog layer re-programmed from its
    /// readout times the compensation factor (`Layer::refresh`), which restarts the cells'
    /// drift clocks (default ∞: never).
    pub refresh_every_s: f64,
    /// Simulator-only diagnostic of refresh and drift compensation, not a chip feature, to
    /// separate the causes of what a refresh costs (default `none`: the chip; not written out
    /// then). See [`Diagnostic`].
    #[serde(skip_serializing_if = "Diagnostic::is_none")]
    pub diagnostic: Diagnostic,
}

/// A simulator-only diagnostic of the countermeasures that read the weights out
/// (`countermeasures.diagnostic`); none is a chip feature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Diagnostic {
    /// The chip as it is.
    #[default]
    #[serde(rename = "none")]
    None,
    /// Refresh and drift compensation take the true weights (privileged reads, counted as
    /// `oracle_reads`) instead of one-hot readouts: no readout noise.
    #[serde(rename = "exact-readouts")]
    ExactReadouts,
    /// A refresh leaves every re-programmed device's drift clock and drift exponent as they
    /// were: no restarted drift.
    #[serde(rename = "kept-drift-clocks")]
    KeptDriftClocks,
    /// Both: neither readout noise nor restarted drift.
    #[serde(rename = "exact-readouts+kept-drift-clocks")]
    ExactReadoutsKeptDriftClocks,
}

impl Diagnostic {
    /// Whether this is the chip as it is.
    pub fn is_none(&self) -> bool {
        *self == Diagnostic::None
    }

    /// The layers' diagnostics.
    pub fn layers(self) -> crate::net::Diagnostics {
        use Diagnostic::*;
        crate::net::Diagnostics {
            exact_readouts: matches!(self, ExactReadouts | ExactReadoutsKeptDriftClocks),
            keep_drift_clocks: matches!(self, KeptDriftClocks | ExactReadoutsKeptDriftClocks),
        }
    }
}

impl Default for Countermeasures {
    fn default() -> Self {
        Countermeasures {
            drift_compensation: false,
            compensate_every_steps: 0,
            refresh_every_s: f64::INFINITY,
            diagnostic: Diagnostic::None,
        }
    }
}

impl Countermeasures {
    /// Range checks: (field, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.refresh_every_s.is_nan() || self.refresh_every_s <= 0.0 {
            return Err((
                "countermeasures.refresh_every_s",
                "must be a positive number of seconds (inf: never)".into(),
            ));
        }
        Ok(())
    }
}

/// Keeps the chip's clock and applies the countermeasures around the steps of a run.
pub(crate) struct Caretaker {
    idle_s_per_sample: f64,
    cm: Countermeasures,
    steps: usize,
    last_refresh_s: f64,
}

impl Caretaker {
    /// Starts caring for `learner`'s chip: takes the drift reference if compensation is on.
    pub(crate) fn start(
        learner: &mut dyn Learner,
        idle_s_per_sample: f64,
        cm: Countermeasures,
    ) -> Caretaker {
        let chip = learner.chip_mut();
        if !cm.diagnostic.is_none() {
            chip.set_diagnostics(cm.diagnostic.layers());
        }
        if cm.drift_compensation {
            chip.calibrate_drift_reference();
        }
        Caretaker {
            idle_s_per_sample,
            cm,
            steps: 0,
            last_refresh_s: chip.now_s(),
        }
    }

    /// After a training step on `samples` samples: every tile's clock is brought to the chip's
    /// time, idle time passes on every tile, then a refresh or a compensation when due.
    pub(crate) fn after_step(&mut self, learner: &mut dyn Learner, samples: usize) {
        self.steps += 1;
        let chip = learner.chip_mut();
        if self.idle_s_per_sample > 0.0 {
            // Brings every tile to the chip's time first.
            chip.advance(self.idle_s_per_sample * samples as f64);
        } else {
            chip.sync_clock();
        }
        if chip.now_s() - self.last_refresh_s >= self.cm.refresh_every_s {
            chip.refresh();
            self.last_refresh_s = chip.now_s();
        }
        let every = self.cm.compensate_every_steps;
        if self.cm.drift_compensation && every > 0 && self.steps.is_multiple_of(every) {
            chip.compensate_drift(true);
        }
    }

    /// Before an evaluation: the compensation factor is re-estimated.
    pub(crate) fn before_evaluation(&mut self, learner: &mut dyn Learner) {
        if self.cm.drift_compensation {
            learner.chip_mut().compensate_drift(true);
        }
    }
}

/// What a pass of training steps gave.
pub(crate) struct Pass {
    /// Sum of the batches' losses (before each step).
    pub loss_sum: f64,
    /// Batches stepped with a finite loss.
    pub batches: usize,
    /// Samples stepped on, the diverging batch included.
    pub samples: usize,
    /// Whether a loss was not finite (the pass stopped there).
    pub diverged: bool,
    /// The loss of the pass's first batch (None for an empty pass).
    pub first_loss: Option<f64>,
    /// The largest finite batch loss of the pass.
    pub max_loss: f64,
}

impl Pass {
    /// Mean loss over the batches with a finite loss (0 for none).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.batches.max(1) as f64
    }
}

/// Steps `learner` through the samples `order` of `data` in batches of `batch`, their pixels
/// permuted by `perm`, with the learning rate `lr()` gives for each step in turn; the chip's
/// caretaker acts after each step. Stops at the first non-finite loss.
pub(crate) fn pass(
    learner: &mut dyn Learner,
    data: &Dataset,
    order: &[usize],
    batch: usize,
    perm: Option<&[u32]>,
    care: &mut Caretaker,
    mut lr: impl FnMut() -> f32,
) -> Pass {
    let mut chunks = order.chunks(batch.max(1));
    let stepped: Result<Pass, String> = pass_steps(learner, care, |learner| {
        let chunk = chunks.next()?;
        let b = data.batch_permuted(chunk, perm);
        Some(Ok((chunk.len(), learner.step(&b.inputs, &b.labels, lr()))))
    });
    stepped.expect("classification steps do not fail")
}

/// The loop of every training pass: `step` makes one step of `learner` on the next batch and
/// returns its samples and loss (None: the pass is over; an error stops the pass and is
/// returned); the caretaker acts after each step; the pass stops at the first non-finite loss.
pub(crate) fn pass_steps<E>(
    learner: &mut dyn Learner,
    care: &mut Caretaker,
    mut step: impl FnMut(&mut dyn Learner) -> Option<Result<(usize, f32), E>>,
) -> Result<Pass, E> {
    let mut p = Pass {
        loss_sum: 0.0,
        batches: 0,
        samples: 0,
        diverged: false,
        first_loss: None,
        max_loss: f64::NEG_INFINITY,
    };
    while let Some(stepped) = step(&mut *learner) {
        let (samples, loss) = stepped?;
        p.samples += samples;
        if !loss.is_finite() {
            p.diverged = true;
            break;
        }
        p.loss_sum += loss as f64;
        p.batches += 1;
        p.first_loss.get_or_insert(loss as f64);
        p.max_loss = p.max_loss.max(loss as f64);
        care.after_step(learner, samples);
    }
    Ok(p)
}

/// Physical pulses spent so far by `learner`'s tiles: update coincidences and programming
/// pulses.
pub fn pulses_spent(learner: &dyn Learner) -> u64 {
    let c = learner.counters();
    c.coincidences + c.programming_pulses
}

/// Learning-rate schedule over the run's steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// lr at every step (the default).
    #[default]
    Constant,
    /// Cosine annealing without restarts (Loshchilov & Hutter, ICLR 2017):
    /// lr_t = lr · ½(1 + cos(π t / T)) for step t of T.
    Cosine,
    /// Constant for the first half of the run, then a linear decay to 0, as the learning-rate
    /// gain of Hinton's Forward-Forward code (2022): lr_t = lr for t < T/2, else lr·2(T − t)/T.
    Cooldown,
    /// Step decay, as `torch.optim.lr_scheduler.StepLR` (aihwkit's MNIST example: ×0.5 every
    /// 10 epochs): lr_t = lr·factor^⌊epoch/every_epochs⌋ with epoch the 0-based epoch of step
    /// t. Written `schedule = { step-decay = { every_epochs = 10, factor = 0.5 } }`.
    #[serde(rename_all = "snake_case")]
    StepDecay {
        /// Epochs between two decays (≥ 1).
        every_epochs: usize,
        /// Factor of each decay (in (0, 1]).
        factor: f32,
    },
}

impl Schedule {
    /// The learning rate of step `t` (0-based) of `total`.
    pub fn lr(self, lr: f32, t: usize, total: usize) -> f32 {
        let x = t as f64 / total.max(1) as f64;
        let gain = match self {
            Schedule::Constant => return lr,
            Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * x).cos()),
            Schedule::Cooldown => (2.0 * (1.0 - x)).min(1.0),
            // Without the epoch count: see `lr_in_epochs`.
            Schedule::StepDecay { .. } => return lr,
        };
        (lr as f64 * gain) as f32
    }

    /// The learning rate of step `t` (0-based) of `total` steps spread evenly over `epochs`
    /// epochs: [`Schedule::lr`], and the step decay of [`Schedule::StepDecay`].
    pub fn lr_in_epochs(self, lr: f32, t: usize, total: usize, epochs: usize) -> f32 {
        match self {
            Schedule::StepDecay {
                every_epochs,
                factor,
            } => {
                let per_epoch = total.div_ceil(epochs.max(1)).max(1);
                let epoch = t / per_epoch;
                let k = (epoch / every_epochs.max(1)) as i32;
                (lr as f64 * (factor as f64).powi(k)) as f32
            }
            s => s.lr(lr, t, total),
        }
    }

    /// Range checks of a step decay: (field, message).
    pub fn validate(self) -> Result<(), (&'static str, String)> {
        if let Schedule::StepDecay {
            every_epochs,
            factor,
        } = self
        {
            if every_epochs == 0 {
                return Err((
                    "train.schedule",
                    "step-decay every_epochs must be at least 1".into(),
                ));
            }
            if !(factor > 0.0 && factor <= 1.0) {
                return Err((
                    "train.schedule",
                    "step-decay factor must be in (0, 1]".into(),
                ));
            }
        }
        Ok(())
    }

    /// Parses a schedule's kebab-case name (`constant`, `cosine`, `cooldown`), as experiment
    /// files spell it.
    pub fn parse(s: &str) -> Option<Schedule> {
        use serde::de::value::{Error, StrDeserializer};
        Schedule::deserialize(StrDeserializer::<Error>::new(s)).ok()
    }
}

/// Reads a number that JSON stored as `null` (how serde_json writes NaN and ±∞) as NaN.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// What one epoch gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (before each step).
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Test loss after the epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    /// Test accuracy after the epoch, fraction.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch's training (evaluation excluded).
    #[serde(deserialize_with = "nan_if_null")]
    pub train_seconds: f64,
    /// Training samples per wall-clock second during the epoch (evaluation excluded).
    #[serde(deserialize_with = "nan_if_null")]
    pub samples_per_s: f64,
    /// Simulated energy per training sample during the epoch, joules.
    #[serde(deserialize_with = "nan_if_null")]
    pub energy_per_sample_j: f64,
    /// Simulated energy per test inference, joules.
    #[serde(deserialize_with = "nan_if_null")]
    pub energy_per_inference_j: f64,
    /// Simulated age of the network's chip at the end of the epoch's evaluation, seconds (the
    /// clock every read, pulse and programming advances; 0 for digital networks).
    #[serde(deserialize_with = "nan_if_null")]
    pub sim_time_s: f64,
    /// Simulated chip time per training sample during the epoch, seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub sim_seconds_per_sample: f64,
    /// Fraction of the chip's devices (every role) that have failed at the end of the epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub failed_fraction: f64,
    /// Pulses spent since fabrication by all the learner's tiles (update coincidences and
    /// programming pulses), at the end of the epoch.
    #[serde(default)]
    pub pulses: u64,
    /// The same per role of the chip's arrays (forward, feedback, mirror, module), at the end
    /// of the epoch.
    #[serde(default)]
    pub roles: Vec<RoleReport>,
    /// Whether training diverged (a non-finite loss).
    pub diverged: bool,
}

/// Failures, pulses and energy of one role of a chip's arrays (see [`crate::net::Role`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleReport {
    /// The role's name: `forward`, `feedback`, `mirror` or `module`.
    pub role: String,
    /// Fraction of the role's devices that have failed (0 for digital arrays).
    #[serde(deserialize_with = "nan_if_null")]
    pub failed_fraction: f64,
    /// Pulses spent by the role's arrays since fabrication (coincidences and programming).
    pub pulses: u64,
    /// Energy of the role's operations since fabrication, joules.
    #[serde(deserialize_with = "nan_if_null")]
    pub energy_j: f64,
}

impl RoleReport {
    /// One report per role that has arrays on `chip`, in [`crate::net::Role::ALL`] order.
    pub fn of(chip: &Chip) -> Vec<RoleReport> {
        chip.failed_by_role()
            .into_iter()
            .map(|(role, failed)| {
                let c = chip.counters_of(role);
                RoleReport {
                    role: role.name().to_string(),
                    failed_fraction: failed.fraction(),
                    pulses: c.coincidences + c.programming_pulses,
                    energy_j: chip.energy_of_j(role),
                }
            })
            .collect()
    }
}

/// What a whole run gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainReport {
    /// Per epoch.
    pub epochs: Vec<EpochReport>,
}

/// Mean loss and accuracy of `learner` on `data`, in batches of 1000.
pub fn evaluate(learner: &mut dyn Learner, data: &Dataset) -> (f64, f64) {
    let idx: Vec<usize> = (0..data.len()).collect();
    evaluate_on(learner, data, &idx, None)
}

/// Mean loss and accuracy of `learner` on the samples `indices` of `data`, with their pixels
/// permuted by `perm` (see [`Dataset::batch_permuted`]), in batches of 1000.
pub fn evaluate_on(
    learner: &mut dyn Learner,
    data: &Dataset,
    indices: &[usize],
    perm: Option<&[u32]>,
) -> (f64, f64) {
    evaluate_batches(&mut |x| learner.scores(x), data, indices, perm)
}

/// Mean loss and accuracy of the class scores `scores` gives for the samples `indices` of
/// `data` (pixels permuted by `perm`), in batches of 1000.
fn evaluate_batches(
    scores: &mut dyn FnMut(&nalgebra::DMatrix<f32>) -> nalgebra::DMatrix<f32>,
    data: &Dataset,
    indices: &[usize],
    perm: Option<&[u32]>,
) -> (f64, f64) {
    let (mut loss, mut correct) = (0f64, 0usize);
    for chunk in indices.chunks(1000) {
        let b = data.batch_permuted(chunk, perm);
        let s = scores(&b.inputs);
        let (l, _) = softmax_cross_entropy(&s, &b.labels);
        loss += l as f64 * chunk.len() as f64;
        correct += predictions(&s)
            .iter()
            .zip(&b.labels)
            .filter(|(p, y)| p == y)
            .count();
    }
    let n = indices.len().max(1) as f64;
    (loss / n, correct as f64 / n)
}

/// Mean loss and accuracy on `data` of the class scores `scores` gives for a batch, in
/// batches of 1000 as [`evaluate`] (the same batches and sums, so the same bits for the same
/// scores): for networks that are not a learner's, such as a deployed one.
pub fn evaluate_scores(
    scores: &mut dyn FnMut(&nalgebra::DMatrix<f32>) -> nalgebra::DMatrix<f32>,
    data: &Dataset,
) -> (f64, f64) {
    let indices: Vec<usize> = (0..data.len()).collect();
    evaluate_batches(scores, data, &indices, None)
}

/// A training loss this many times the first batch's marks an explosion (see [`collapsed`]).
pub const EXPLOSION_FACTOR: f64 = 10.0;

/// Whether a run has collapsed without a non-finite loss: some batch's training loss reached
/// [`EXPLOSION_FACTOR`] × the first batch's (`max_loss` against `first_loss`) and the test
/// accuracy sits at chance (at most 1.5 / `classes`). Forward-Forward at lr 0.05 is the case in
/// point: its goodness loss jumps from 216 to 1.2e5 within 20 steps, every unit dies, the loss
/// settles at θ and the head predicts one class (11.35 %); a healthy run's largest batch loss
/// stays within 2× of its first.
pub fn collapsed(first_loss: f64, max_loss: f64, test_accuracy: f64, classes: usize) -> bool {
    let exploded =
        first_loss.is_finite() && first_loss > 0.0 && max_loss >= EXPLOSION_FACTOR * first_loss;
    exploded && test_accuracy <= 1.5 / classes.max(1) as f64
}

/// Trains `learner` on `train_set` and evaluates it on `test_set` after every epoch;
/// `on_epoch` sees each report as it is made. A diverging run — a non-finite loss, or a
/// [`collapsed`] one — stops at the epoch it diverged.
pub fn train(
    learner: &mut dyn Learner,
    train_set: &Dataset,
    test_set: &Dataset,
    cfg: &TrainConfig,
    mut on_epoch: impl FnMut(&EpochReport),
) -> TrainReport {
    let mut epochs = Vec::with_capacity(cfg.epochs);
    let steps_per_epoch = train_set.len().div_ceil(cfg.batch.max(1));
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut step = 0;
    let mut care = Caretaker::start(learner, cfg.idle_s_per_sample, cfg.countermeasures);
    let (mut first_loss, mut max_loss) = (None, f64::NEG_INFINITY);
    for epoch in 1..=cfg.epochs {
        let order = shuffled_order(train_set.len(), cfg.seed, epoch as u64);
        let e0 = learner.energy_j();
        let t0 = learner.chip().now_s();
        let start = Instant::now();
        let p = pass(
            learner,
            train_set,
            &order,
            cfg.batch,
            None,
            &mut care,
            || {
                step += 1;
                cfg.schedule
                    .lr_in_epochs(cfg.lr, step - 1, total_steps, cfg.epochs)
            },
        );
        let diverged = p.diverged;
        first_loss = first_loss.or(p.first_loss);
        max_loss = max_loss.max(p.max_loss);
        let secs = start.elapsed().as_secs_f64();
        let e1 = learner.energy_j();
        let t1 = learner.chip().now_s();
        care.before_evaluation(learner);
        let (test_loss, test_accuracy) = evaluate(learner, test_set);
        let e2 = learner.energy_j();
        let pulses = pulses_spent(learner);
        let chip = learner.chip_mut();
        chip.sync_clock();
        let (sim_time_s, failed_fraction) = (chip.now_s(), chip.failed_fraction());
        let roles = RoleReport::of(chip);
        let report = EpochReport {
            epoch,
            train_loss: p.mean_loss(),
            test_loss,
            test_accuracy,
            train_seconds: secs,
            samples_per_s: train_set.len() as f64 / secs.max(1e-12),
            energy_per_sample_j: (e1 - e0) / train_set.len().max(1) as f64,
            energy_per_inference_j: (e2 - e1) / test_set.len().max(1) as f64,
            sim_time_s,
            sim_seconds_per_sample: (t1 - t0) / train_set.len().max(1) as f64,
            failed_fraction,
            pulses,
            roles,
            diverged: diverged
                || !test_loss.is_finite()
                || collapsed(
                    first_loss.unwrap_or(f64::NAN),
                    max_loss,
                    test_accuracy,
                    test_set.classes(),
                ),
        };
        on_epoch(&report);
        let stop = report.diverged;
        epochs.push(report);
        if stop {
            break;
        }
    }
    TrainReport { epochs }
}
