//! A lifetime of continual learning: the chip learns task after task of a stream (permuted
//! pixels, or new classes) while its cells drift, wear out and fail, and after every task it is
//! measured: accuracy on the current and on the first task, the state of the chip (age, failed
//! cells, pulses spent, spare lines used) and the plasticity of the network (dead units, stable
//! rank, weight magnitude, replacements, backbone).

use super::train::{
    evaluate_on, pass, pass_steps, pulses_spent, Caretaker, Countermeasures, RoleReport,
};
use crate::data::stream::{
    class_incremental, PermutedTasks, SlowlyChangingRegression, SlowlyChangingRegressionConfig,
};
use crate::data::Dataset;
use crate::learn::Learner;
use crate::net::{metrics, Layer};
use crate::random::{derive, purpose};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How the tasks of a stream differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamKind {
    /// Permuted MNIST (Goodfellow et al. 2013; Dohare et al. 2024): every task is the whole
    /// classification problem with a new fixed random permutation of the pixels.
    #[default]
    Permuted,
    /// Class-incremental: task k holds the classes k·c … k·c + c − 1 of the dataset (c =
    /// `classes_per_task`); the output layer keeps all classes.
    ClassIncremental,
    /// Dohare et al.'s slowly-changing regression ([`SlowlyChangingRegression`], configured by
    /// `[stream.regression]`): no dataset; the network has the stream's binary inputs and one
    /// linear output trained with the squared-error head ([`Learner::step_regression`]). A task
    /// is `samples_per_task` examples (default: the examples between two changes of the slow
    /// bits), and its report's `train_loss` is the online squared error, the paper's measure.
    SlowlyChangingRegression,
}

/// `[stream]` of an experiment file: continual learning on a stream of tasks instead of epochs
/// over one training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamSection {
    /// What changes from task to task (default `permuted`).
    pub kind: StreamKind,
    /// Number of tasks (default 10; class-incremental: at most classes / classes_per_task).
    pub tasks: usize,
    /// Training samples per task (default: the whole training set for `permuted`, every image
    /// of the task's classes for `class-incremental`); each image is seen once per pass, passes
    /// follow each other with new orders.
    pub samples_per_task: Option<usize>,
    /// Classes per task of a class-incremental stream (default 2).
    pub classes_per_task: usize,
    /// Test images per accuracy evaluation, on the current task and on the first (default
    /// 2000).
    pub eval_limit: usize,
    /// Training images of the current task on which the plasticity metrics (dead units,
    /// stable rank) are measured (default 500, Dohare et al. use 2000).
    pub metrics_samples: usize,
    /// The slowly-changing regression problem (default: the paper's, see
    /// [`SlowlyChangingRegressionConfig`]); read only by that kind. Not written out when
    /// default, so that other streams' configs keep their hashes.
    #[serde(skip_serializing_if = "is_default_regression")]
    pub regression: SlowlyChangingRegressionConfig,
}

fn is_default_regression(c: &SlowlyChangingRegressionConfig) -> bool {
    *c == SlowlyChangingRegressionConfig::default()
}

impl Default for StreamSection {
    fn default() -> Self {
        StreamSection {
            kind: StreamKind::Permuted,
            tasks: 10,
            samples_per_task: None,
            classes_per_task: 2,
            eval_limit: 2000,
            metrics_samples: 500,
            regression: SlowlyChangingRegressionConfig::default(),
        }
    }
}

impl StreamSection {
    /// Range checks: (field, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.tasks == 0 {
            return Err(("stream.tasks", "must be at least 1".into()));
        }
        if self.samples_per_task == Some(0) {
            return Err(("stream.samples_per_task", "must be at least 1".into()));
        }
        if self.classes_per_task == 0 {
            return Err(("stream.classes_per_task", "must be at least 1".into()));
        }
        if self.eval_limit == 0 {
            return Err(("stream.eval_limit", "must be at least 1".into()));
        }
        self.regression
            .validate()
            .map_err(|m| ("stream.regression", m))
    }

    /// Whether the stream is made without a dataset (the regression stream).
    pub fn needs_no_data(&self) -> bool {
        self.kind == StreamKind::SlowlyChangingRegression
    }

    /// Input and output widths of the network the stream trains, when the stream fixes them
    /// (the regression stream: its inputs and one output); None for image streams, whose widths
    /// come from the data.
    pub fn widths(&self) -> Option<(usize, usize)> {
        self.needs_no_data().then_some((self.regression.inputs, 1))
    }
}

/// How one lifetime is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct LifetimeConfig {
    /// The stream.
    pub stream: StreamSection,
    /// Samples per update.
    pub batch: usize,
    /// Learning rate (constant over the lifetime).
    pub lr: f32,
    /// Seed of the stream (permutations, orders).
    pub seed: u64,
    /// Simulated seconds the chip idles per training sample (after each step).
    pub idle_s_per_sample: f64,
    /// Countermeasures against ageing.
    pub countermeasures: Countermeasures,
}

impl Default for LifetimeConfig {
    /// The default stream ([`StreamSection::default`]), batch 32, lr 0.05, seed 1, no idle
    /// time, no countermeasures.
    fn default() -> Self {
        LifetimeConfig {
            stream: StreamSection::default(),
            batch: 32,
            lr: 0.05,
            seed: 1,
            idle_s_per_sample: 0.0,
            countermeasures: Countermeasures::default(),
        }
    }
}

/// What the chip and the network were after one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// 1-based task.
    pub task: usize,
    /// Training samples seen since the start of the lifetime.
    pub samples_seen: u64,
    /// Mean training loss over the task's batches (before each step).
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub train_loss: f64,
    /// Test accuracy on the task just learned, fraction.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub accuracy: f64,
    /// Test accuracy on the first task, fraction (forgetting and, with permutations, transfer).
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub first_task_accuracy: f64,
    /// Simulated age of the chip, seconds.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub sim_time_s: f64,
    /// Fraction of the chip's devices (every role) that have failed.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub failed_fraction: f64,
    /// Pulses spent by all the learner's tiles since fabrication.
    pub pulses: u64,
    /// Failures, pulses and energy per role of the chip's arrays.
    #[serde(default)]
    pub roles: Vec<RoleReport>,
    /// Spare lines in use and spare lines fabricated, over every array of the chip.
    pub spare_lines: (usize, usize),
    /// Simulated energy per training sample during the task, joules.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub energy_per_sample_j: f64,
    /// Training samples per wall-clock second during the task.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub samples_per_s: f64,
    /// Per hidden layer: fraction of units that are 0 on every one of the metric samples.
    pub dead_fraction: Vec<f64>,
    /// Per hidden layer: stable rank of its activities on the metric samples (singular values
    /// reaching 99 % of their sum; Dohare et al. 2024).
    pub stable_rank: Vec<usize>,
    /// Per layer (output last): mean |w| of the true weights (simulator introspection, not a
    /// chip operation).
    pub mean_abs_weight: Vec<f64>,
    /// Units replaced by continual backprop since the start.
    pub replacements: u64,
    /// Per hidden layer: fraction of units in the backbone (utility propagation; empty when
    /// off).
    pub backbone_fraction: Vec<f64>,
    /// Whether training diverged during the task.
    pub diverged: bool,
}

/// What distinguishes the tasks of a stream.
enum Source {
    /// A pixel permutation per task over the whole training set.
    Permuted(PermutedTasks),
    /// The training and test sample indices of each task's classes; a task trains on
    /// `samples_per_task` (default: its whole pool) in passes of shuffled orders, as permuted
    /// tasks do.
    Classes {
        train: Vec<Vec<usize>>,
        test: Vec<Vec<usize>>,
        samples_per_task: Option<usize>,
        tasks: usize,
        seed: u64,
    },
}

/// The tasks of a stream over one dataset pair: per task, the training order, the test
/// indices of the task and its pixel permutation.
struct Tasks {
    source: Source,
    eval_limit: usize,
}

impl Tasks {
    fn new(s: &StreamSection, train: &Dataset, test: &Dataset, seed: u64) -> Result<Tasks, String> {
        let seed = derive(seed, &[purpose::STREAM]);
        let source = match s.kind {
            StreamKind::Permuted => Source::Permuted(PermutedTasks {
                tasks: s.tasks,
                samples_per_task: s.samples_per_task.unwrap_or(train.len()),
                seed,
            }),
            StreamKind::SlowlyChangingRegression => {
                return Err("the regression stream has no image tasks".into())
            }
            StreamKind::ClassIncremental => {
                let tr = class_incremental(train, s.classes_per_task)?;
                let te = class_incremental(test, s.classes_per_task)?;
                if s.tasks > tr.len() {
                    return Err(format!(
                        "stream.tasks: {} tasks of {} classes need {} classes, the data has {}",
                        s.tasks,
                        s.classes_per_task,
                        s.tasks * s.classes_per_task,
                        train.classes()
                    ));
                }
                Source::Classes {
                    train: tr,
                    test: te,
                    samples_per_task: s.samples_per_task,
                    tasks: s.tasks,
                    seed,
                }
            }
        };
        Ok(Tasks {
            source,
            eval_limit: s.eval_limit,
        })
    }

    /// Pixel permutation of task `t` (None: the images as they are).
    fn permutation(&self, t: usize, width: usize) -> Option<Vec<u32>> {
        match &self.source {
            Source::Permuted(p) => Some(p.permutation(t, width)),
            Source::Classes { .. } => None,
        }
    }

    /// Training sample indices of task `t`, in order.
    fn order(&self, t: usize, train: &Dataset) -> Vec<usize> {
        match &self.source {
            Source::Permuted(p) => p.order(t, train.len()),
            Source::Classes {
                train,
                samples_per_task,
                tasks,
                seed,
                ..
            } => {
                let pool = &train[t];
                let passes = PermutedTasks {
                    tasks: *tasks,
                    samples_per_task: samples_per_task.unwrap_or(pool.len()),
                    seed: *seed,
                };
                passes
                    .order(t, pool.len())
                    .into_iter()
                    .map(|i| pool[i])
                    .collect()
            }
        }
    }

    /// Test indices of task `t` (at most `eval_limit`).
    fn test_indices(&self, t: usize, test: &Dataset) -> Vec<usize> {
        match &self.source {
            Source::Classes { test: te, .. } => {
                te[t].iter().copied().take(self.eval_limit).collect()
            }
            Source::Permuted(_) => (0..test.len().min(self.eval_limit)).collect(),
        }
    }
}

/// Trains `learner` through the stream's tasks; `on_task` sees each report as it is made. A
/// diverging lifetime stops at the task it diverged in.
pub fn train_lifetime(
    learner: &mut dyn Learner,
    train_set: &Dataset,
    test_set: &Dataset,
    cfg: &LifetimeConfig,
    mut on_task: impl FnMut(&TaskReport),
) -> Result<Vec<TaskReport>, String> {
    if cfg.stream.kind == StreamKind::SlowlyChangingRegression {
        return regression_lifetime(learner, cfg, on_task);
    }
    let tasks = Tasks::new(&cfg.stream, train_set, test_set, cfg.seed)?;
    let width = train_set.input_width();
    let first_perm = tasks.permutation(0, width);
    let first_test = tasks.test_indices(0, test_set);
    let mut care = Caretaker::start(learner, cfg.idle_s_per_sample, cfg.countermeasures);
    let mut reports = Vec::with_capacity(cfg.stream.tasks);
    let mut seen = 0u64;
    for t in 0..cfg.stream.tasks {
        let perm = tasks.permutation(t, width);
        let order = tasks.order(t, train_set);
        let e0 = learner.energy_j();
        let start = Instant::now();
        let p = pass(
            learner,
            train_set,
            &order,
            cfg.batch,
            perm.as_deref(),
            &mut care,
            || cfg.lr,
        );
        seen += p.samples as u64;
        let secs = start.elapsed().as_secs_f64();
        let energy = (learner.energy_j() - e0) / order.len().max(1) as f64;
        care.before_evaluation(learner);
        let (_, accuracy) = evaluate_on(
            learner,
            test_set,
            &tasks.test_indices(t, test_set),
            perm.as_deref(),
        );
        let first_task_accuracy = if t == 0 {
            accuracy
        } else {
            evaluate_on(learner, test_set, &first_test, first_perm.as_deref()).1
        };
        let sample: Vec<usize> = order
            .iter()
            .copied()
            .take(cfg.stream.metrics_samples)
            .collect();
        let metric_inputs =
            (!sample.is_empty()).then(|| train_set.batch_permuted(&sample, perm.as_deref()).inputs);
        let report = measure_task(
            learner,
            TaskOutcome {
                task: t + 1,
                seen,
                train_loss: p.mean_loss(),
                samples: order.len(),
                secs,
                energy_per_sample_j: energy,
                accuracy,
                first_task_accuracy,
                metric_inputs,
                diverged: p.diverged || !accuracy.is_finite(),
            },
        );
        on_task(&report);
        let stop = report.diverged;
        reports.push(report);
        if stop {
            break;
        }
    }
    Ok(reports)
}

/// A task's training as measured before the chip's state is read.
struct TaskOutcome {
    /// 1-based task.
    task: usize,
    /// Training samples since the start of the lifetime.
    seen: u64,
    /// Mean training loss over the task's batches (before each step).
    train_loss: f64,
    /// Samples the task presented.
    samples: usize,
    /// Wall-clock seconds of the pass.
    secs: f64,
    /// Simulated energy per training sample during the task, joules.
    energy_per_sample_j: f64,
    /// Test accuracy on the task, fraction (NaN for a regression stream).
    accuracy: f64,
    /// Test accuracy on the first task, fraction (NaN for a regression stream).
    first_task_accuracy: f64,
    /// Inputs (one per column) on which the plasticity metrics are measured; None: none.
    metric_inputs: Option<DMatrix<f32>>,
    /// Whether training diverged during the task.
    diverged: bool,
}

/// The report of a task: its outcome, the plasticity metrics on its metric inputs, and the
/// chip's state (its clock brought to the present).
fn measure_task(learner: &mut dyn Learner, o: TaskOutcome) -> TaskReport {
    let (dead_fraction, stable_rank) = match &o.metric_inputs {
        None => (Vec::new(), Vec::new()),
        Some(x) => {
            let hidden = learner.hidden_activities(x);
            (
                hidden.iter().map(metrics::dead_fraction).collect(),
                hidden.iter().map(metrics::stable_rank).collect(),
            )
        }
    };
    let stats = learner.continual_stats();
    let pulses = pulses_spent(learner);
    let chip = learner.chip_mut();
    chip.sync_clock();
    TaskReport {
        task: o.task,
        samples_seen: o.seen,
        train_loss: o.train_loss,
        accuracy: o.accuracy,
        first_task_accuracy: o.first_task_accuracy,
        sim_time_s: chip.now_s(),
        failed_fraction: chip.failed_fraction(),
        pulses,
        roles: RoleReport::of(chip),
        spare_lines: chip.spare_lines(),
        energy_per_sample_j: o.energy_per_sample_j,
        samples_per_s: o.samples as f64 / o.secs.max(1e-12),
        dead_fraction,
        stable_rank,
        mean_abs_weight: chip
            .network()
            .layers()
            .iter()
            .map(Layer::mean_abs_weight)
            .collect(),
        replacements: stats.as_ref().map_or(0, |s| s.replacements),
        backbone_fraction: stats.and_then(|s| s.backbone_fraction).unwrap_or_default(),
        diverged: o.diverged,
    }
}

/// The lifetime on the slowly-changing regression stream (see
/// [`StreamKind::SlowlyChangingRegression`]): the stream is drawn from `derive(seed, [STREAM])`;
/// each task trains on the next `samples_per_task` examples in batches with the squared-error
/// head; the plasticity metrics are measured on the next `metrics_samples` examples of a copy of
/// the stream (the stream itself does not advance). Accuracies are NaN. A rule without a
/// regression head is an error.
fn regression_lifetime(
    learner: &mut dyn Learner,
    cfg: &LifetimeConfig,
    mut on_task: impl FnMut(&TaskReport),
) -> Result<Vec<TaskReport>, String> {
    let s = &cfg.stream;
    let mut stream =
        SlowlyChangingRegression::new(s.regression.clone(), derive(cfg.seed, &[purpose::STREAM]))
            .map_err(|m| format!("stream.regression: {m}"))?;
    let per_task = s
        .samples_per_task
        .unwrap_or(s.regression.change_every as usize);
    let mut care = Caretaker::start(learner, cfg.idle_s_per_sample, cfg.countermeasures);
    let mut reports = Vec::with_capacity(s.tasks);
    let mut seen = 0u64;
    for t in 0..s.tasks {
        let e0 = learner.energy_j();
        let start = Instant::now();
        let mut left = per_task;
        let p = pass_steps(learner, &mut care, |learner| {
            if left == 0 {
                return None;
            }
            let n = left.min(cfg.batch.max(1));
            left -= n;
            let (x, y) = stream.next_batch(n);
            let y = DMatrix::from_vec(1, n, y);
            Some(
                learner
                    .step_regression(&x, &y, cfg.lr)
                    .map(|loss| (n, loss)),
            )
        })?;
        seen += p.samples as u64;
        let secs = start.elapsed().as_secs_f64();
        let energy = (learner.energy_j() - e0) / per_task.max(1) as f64;
        let metric_inputs =
            (s.metrics_samples > 0).then(|| stream.clone().next_batch(s.metrics_samples).0);
        let report = measure_task(
            learner,
            TaskOutcome {
                task: t + 1,
                seen,
                train_loss: p.mean_loss(),
                samples: per_task,
                secs,
                energy_per_sample_j: energy,
                accuracy: f64::NAN,
                first_task_accuracy: f64::NAN,
                metric_inputs,
                diverged: p.diverged,
            },
        );
        on_task(&report);
        let stop = report.diverged;
        reports.push(report);
        if stop {
            break;
        }
    }
    Ok(reports)
}
