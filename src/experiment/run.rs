//! Running an experiment: its points in parallel, each written as soon as it is finished, so that
//! a rerun skips what is done and a killed run loses only the points in progress.

use super::file::{Experiment, Point};
use super::lifetime::{train_lifetime, LifetimeConfig, TaskReport};
use super::rundir::{
    self, utc_now, write_atomic, write_json, write_tables, DriftRecord, Host, Manifest,
    PointRecord, RunDirError, SCHEMA_VERSION,
};
use super::schema::{PointStatus, RunStatus};
use super::train::{evaluate, train, EpochReport, TrainConfig};
use crate::data::{DataError, Dataset, Split};
use crate::learn;
use crate::net::{Activation, LayerDevice, NetSpec, NetworkWeights};
use rayon::prelude::*;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

/// Longest time between two rewrites of the tables while points finish.
const TABLE_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// Which points a process runs: every `count`-th point from the `index`-th (1-based), as
/// nextest's `count:K/N` partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, 1-based.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl Shard {
    /// All points.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N` (1 ≤ K ≤ N).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard `{s}`: expected K/N with 1 ≤ K ≤ N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// From a SLURM array job's variables: K = `SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN`
    /// + 1, N = `SLURM_ARRAY_TASK_COUNT`; `None` outside an array job.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
        let num = |k: &str| -> Result<Option<usize>, String> {
            match var(k) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{k}=`{v}` is not a number")),
            }
        };
        let (Some(id), Some(count)) = (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?)
        else {
            return Ok(None);
        };
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        Shard::parse(&format!("{}/{count}", (id + 1).saturating_sub(min))).map(Some)
    }

    /// Whether point number `index` (0-based, experiment order) belongs to this shard.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The run directory.
    pub out: PathBuf,
    /// The points this process runs.
    pub shard: Shard,
    /// Recompute finished points.
    pub force: bool,
    /// The command line, for the manifest.
    pub command_line: String,
    /// When another run holds the directory's lock: wait for it (true) or refuse (false).
    pub wait: bool,
}

/// What the run is doing, for a progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Before the first point: how much work there is.
    Plan {
        /// Points to run now.
        to_run: usize,
        /// Points already finished (skipped).
        skipped: usize,
        /// Epochs (or tasks, for a task stream) of the points to run.
        epochs: usize,
    },
    /// A point learning a task stream finished a task.
    Task {
        /// The point.
        point: &'a Point,
        /// Its report.
        report: &'a TaskReport,
    },
    /// A point finished an epoch.
    Epoch {
        /// The point.
        point: &'a Point,
        /// Its report.
        report: &'a EpochReport,
    },
    /// Something the user should know that does not stop the run (a corrupted point file
    /// that will be recomputed, …).
    Warning {
        /// What.
        message: String,
    },
    /// A point is finished and written.
    Finished {
        /// The point.
        point: &'a Point,
        /// Its record.
        record: &'a PointRecord,
    },
}

/// What the run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// Points computed now.
    pub ran: usize,
    /// Points found finished.
    pub skipped: usize,
    /// Points that diverged (recorded, not errors).
    pub diverged: Vec<String>,
    /// Points that failed, with why.
    pub failed: Vec<(String, String)>,
    /// Points of the experiment without a record in this directory (other shards').
    pub missing: Vec<String>,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run directory.
    #[error(transparent)]
    Dir(#[from] RunDirError),
    /// The data.
    #[error(transparent)]
    Data(#[from] DataError),
}

/// Runs the points of `exp` that `settings.shard` owns and that are not finished in
/// `settings.out`, in parallel over the thread pool, and rewrites the tables after each one.
pub fn run(
    exp: &Experiment,
    settings: &RunSettings,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<RunOutcome, RunError> {
    let dir = &settings.out;
    std::fs::create_dir_all(dir.join("points")).map_err(|e| RunDirError::Io {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    // Held until this function returns; the OS releases it if the process dies.
    let _lock = rundir::lock(dir, settings.wait)?;
    // A killed run's half-written files (its writes were atomic, so nothing else is lost).
    rundir::remove_stale_temporaries(dir);
    if !settings.force {
        rundir::check_owner(dir, &exp.name, &exp.config_hash)?;
    }
    let (git_revision, git_dirty) = rundir::git_revision();
    let mut manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        tool: env!("CARGO_PKG_NAME").into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision,
        git_dirty,
        experiment: exp.name.clone(),
        experiment_file: exp.file.clone(),
        description: exp.description.clone(),
        config_hash: exp.config_hash.clone(),
        seeds: exp.resolved.seeds.clone(),
        sweep_axes: exp.axes.iter().map(|a| a.0.clone()).collect(),
        sweep_labels: exp.axes.iter().map(|a| a.1.clone()).collect(),
        drift_times_s: exp.evaluate.drift_times_s.clone(),
        shard: settings.shard.to_string(),
        point_ids: exp.points.iter().map(|p| p.id.clone()).collect(),
        points_missing: Vec::new(),
        host: Host::current(),
        command_line: settings.command_line.clone(),
        started_utc: utc_now(),
        ended_utc: None,
        status: RunStatus::Running,
        error: None,
    };
    // Records already there, in experiment order; `None` where a point must (or may) run. A
    // file that does not parse into the schema is never reused.
    let records: Vec<Option<PointRecord>> = exp
        .points
        .iter()
        .map(|p| {
            let record = match rundir::read_point_checked(dir, &p.id) {
                Ok(r) => r,
                Err(why) => {
                    progress(Progress::Warning {
                        message: format!("{why}: the point is computed again"),
                    });
                    None
                }
            };
            record.filter(|r| {
                r.config_hash == p.config_hash
                    && r.status != PointStatus::Failed
                    && !(settings.force && settings.shard.owns(p.index))
            })
        })
        .collect();
    let missing_now = |records: &[Option<PointRecord>]| -> Vec<String> {
        exp.points
            .iter()
            .filter(|p| records[p.index].is_none())
            .map(|p| p.id.clone())
            .collect()
    };
    // The manifest is right at every moment: what is missing now, updated after every point.
    manifest.points_missing = missing_now(&records);
    write_json(&dir.join("manifest.json"), &manifest)?;
    write_atomic(
        &dir.join("config.resolved.toml"),
        resolved_toml(exp).as_bytes(),
    )?;
    let todo: Vec<&Point> = exp
        .points
        .iter()
        .filter(|p| settings.shard.owns(p.index) && records[p.index].is_none())
        .collect();
    let owned = exp
        .points
        .iter()
        .filter(|p| settings.shard.owns(p.index))
        .count();
    progress(Progress::Plan {
        to_run: todo.len(),
        skipped: owned - todo.len(),
        epochs: todo.iter().map(|p| p.stages()).sum(),
    });

    let data = if todo.is_empty() {
        None
    } else if todo.iter().all(|p| {
        p.settings
            .stream
            .as_ref()
            .is_some_and(|s| s.needs_no_data())
    }) {
        // A regression stream makes its own examples: no dataset is read.
        let none = || Dataset::from_parts(Vec::new(), Vec::new(), 0, 0, 0);
        Some((none()?, none()?))
    } else {
        Some(Split::load_dir(&exp.data_dir)?)
    };
    // The tables derive from the point records (rebuilt at the end, and by any rerun); during
    // a long sweep they are refreshed at most every TABLE_REFRESH so that partial results can
    // be read without rewriting every row after every point.
    let shared = Mutex::new((records, Instant::now()));
    let axes = &manifest.sweep_axes;
    let results: Vec<Result<(), RunDirError>> = todo
        .par_iter()
        .map(|point| {
            let (train_set, test_set) = data.as_ref().expect("data loaded when points run");
            let record = run_point(
                exp,
                Some(dir),
                point,
                train_set,
                test_set,
                &|report| progress(Progress::Epoch { point, report }),
                &|report| progress(Progress::Task { point, report }),
            );
            rundir::write_json(&rundir::point_path(dir, &point.id), &record)?;
            append_log(dir, &record);
            progress(Progress::Finished {
                point,
                record: &record,
            });
            let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
            let (records, refreshed) = &mut *guard;
            records[point.index] = Some(record);
            let mut now = manifest.clone();
            now.points_missing = missing_now(records);
            write_json(&dir.join("manifest.json"), &now)?;
            if refreshed.elapsed() >= TABLE_REFRESH {
                write_tables(dir, axes, records.iter().flatten())?;
                *refreshed = Instant::now();
            }
            Ok(())
        })
        .collect();
    let records = shared.into_inner().unwrap_or_else(|e| e.into_inner()).0;
    write_tables(dir, axes, records.iter().flatten())?;
    super::deploy::write_deploy_tables(dir, axes, records.iter().flatten())?;
    let mut outcome = RunOutcome {
        dir: dir.clone(),
        ran: 0,
        skipped: owned - todo.len(),
        diverged: Vec::new(),
        failed: Vec::new(),
        missing: Vec::new(),
    };
    for rec in todo.iter().filter_map(|p| records[p.index].as_ref()) {
        outcome.ran += 1;
        match rec.status {
            PointStatus::Diverged => outcome.diverged.push(rec.id.clone()),
            PointStatus::Failed => outcome
                .failed
                .push((rec.id.clone(), rec.error.clone().unwrap_or_default())),
            PointStatus::Done => {}
        }
    }
    let first_error = results.into_iter().find_map(Result::err);
    outcome.missing = missing_now(&records);
    manifest.points_missing = outcome.missing.clone();
    manifest.ended_utc = Some(utc_now());
    manifest.status = match (&first_error, outcome.failed.is_empty()) {
        (Some(_), _) => RunStatus::Failed,
        (None, false) => RunStatus::Incomplete,
        (None, true) if outcome.missing.is_empty() => RunStatus::Completed,
        // Other shards' points are missing: this shard itself is complete.
        (None, true) if settings.shard.count > 1 => RunStatus::Completed,
        (None, true) => RunStatus::Incomplete,
    };
    manifest.error = first_error.as_ref().map(|e| e.to_string());
    write_json(&dir.join("manifest.json"), &manifest)?;
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(outcome),
    }
}

/// Trains one point of `exp` and evaluates it after training: at the drift times on its own
/// chip (not for a digital rule, whose weights age only when deployed), then deployed
/// (`[deploy]`); its weights are saved to `dir/weights/<id>.safetensors` when `[weights] save`.
/// A learner that cannot be built, or weights that cannot be loaded or saved, give a `failed`
/// record, a non-finite loss a `diverged` one.
pub fn run_point(
    exp: &Experiment,
    dir: Option<&std::path::Path>,
    point: &Point,
    train_set: &Dataset,
    test_set: &Dataset,
    on_epoch: &dyn Fn(&EpochReport),
    on_task: &dyn Fn(&TaskReport),
) -> PointRecord {
    let start = Instant::now();
    let s = &point.settings;
    fn limit(d: &Dataset, n: Option<usize>) -> Cow<'_, Dataset> {
        match n {
            Some(n) if n < d.len() => Cow::Owned(d.subset(n)),
            _ => Cow::Borrowed(d),
        }
    }
    let (tr, te) = (
        limit(train_set, s.data.train_limit),
        limit(test_set, s.data.test_limit),
    );
    let (inputs, outputs) = s
        .stream
        .as_ref()
        .and_then(|st| st.widths())
        .unwrap_or((tr.input_width(), tr.classes()));
    let mut widths = vec![inputs];
    widths.extend(&s.network.hidden);
    widths.push(outputs);
    let spec = NetSpec {
        widths,
        activation: Activation::parse(&s.network.activation).unwrap_or(Activation::Relu),
        layer_devices: point.layer_devices.clone(),
        init: s.network.init,
    };
    let mut record = PointRecord {
        schema_version: SCHEMA_VERSION,
        id: point.id.clone(),
        index: point.index,
        config_hash: point.config_hash.clone(),
        learner: point.learner.clone(),
        device: point.device_label.clone(),
        sweep: point.sweep.clone(),
        seed: point.seed,
        status: PointStatus::Done,
        diverged_epoch: None,
        error: None,
        epochs: Vec::new(),
        tasks: Vec::new(),
        drift: Vec::new(),
        deploy: Vec::new(),
        wall_seconds: 0.0,
        finished_utc: String::new(),
    };
    let evaluate = &exp.evaluate;
    let options = learn::Options {
        update: s.train.update_scheme(),
        ..s.options.clone()
    };
    let built =
        learn::build(&point.rule, &spec, &point.device, point.seed, &options).and_then(|mut l| {
            if let Some(path) = &exp.weights.load {
                NetworkWeights::load(path)
                    .and_then(|w| w.write_into(l.network()))
                    .map_err(|e| format!("[weights] load: {e}"))?;
            }
            Ok(l)
        });
    match built {
        Err(e) => {
            record.status = PointStatus::Failed;
            record.error = Some(e);
        }
        Ok(mut learner) if s.stream.is_some() => {
            let cfg = LifetimeConfig {
                stream: s.stream.clone().unwrap_or_default(),
                batch: s.train.batch,
                lr: s.train.lr,
                seed: point.seed,
                idle_s_per_sample: s.ageing.idle_s_per_sample,
                countermeasures: s.countermeasures,
            };
            match train_lifetime(learner.as_mut(), &tr, &te, &cfg, on_task) {
                Err(e) => {
                    record.status = PointStatus::Failed;
                    record.error = Some(e);
                }
                Ok(tasks) => {
                    record.tasks = tasks;
                    if let Some(t) = record.tasks.iter().find(|t| t.diverged) {
                        record.status = PointStatus::Diverged;
                        record.diverged_epoch = Some(t.task);
                    }
                }
            }
        }
        Ok(mut learner) => {
            let cfg = TrainConfig {
                epochs: s.train.epochs,
                batch: s.train.batch,
                lr: s.train.lr,
                seed: point.seed,
                schedule: s.train.schedule,
                idle_s_per_sample: s.ageing.idle_s_per_sample,
                countermeasures: s.countermeasures,
            };
            let report = train(learner.as_mut(), &tr, &te, &cfg, on_epoch);
            record.epochs = report.epochs;
            if let Some(e) = record.epochs.iter().find(|e| e.diverged) {
                record.status = PointStatus::Diverged;
                record.diverged_epoch = Some(e.epoch);
            } else {
                if !point.digital {
                    record.drift = drift_evaluation(
                        learner.as_mut(),
                        &te,
                        &evaluate.drift_times_s,
                        evaluate.drift_compensation,
                    );
                }
                if let Err(e) = after_training(exp, dir, point, learner.as_mut(), &te, &mut record)
                {
                    record.status = crate::experiment::schema::PointStatus::Failed;
                    record.error = Some(e);
                }
            }
        }
    }
    record.wall_seconds = start.elapsed().as_secs_f64();
    record.finished_utc = utc_now();
    record
}

/// Reads the trained weights out (counted) when they are to be saved or deployed, saves them,
/// and deploys them.
fn after_training(
    exp: &Experiment,
    dir: Option<&std::path::Path>,
    point: &Point,
    learner: &mut dyn learn::Learner,
    test_set: &Dataset,
    record: &mut PointRecord,
) -> Result<(), String> {
    let save = exp.weights.save && dir.is_some();
    if !save && exp.deploy.is_none() {
        return Ok(());
    }
    let reads_before = learner.counters().reads;
    let weights = NetworkWeights::read_out(learner.network());
    let readout_reads = learner.counters().reads - reads_before;
    if let (true, Some(dir)) = (save, dir) {
        let wdir = dir.join("weights");
        std::fs::create_dir_all(&wdir).map_err(|e| format!("{}: {e}", wdir.display()))?;
        weights
            .save(&wdir.join(format!("{}.safetensors", point.id)))
            .map_err(|e| e.to_string())?;
    }
    if let Some(plan) = &exp.deploy {
        let digital: Vec<bool> = point
            .layer_devices
            .iter()
            .map(|d| *d == LayerDevice::Digital)
            .collect();
        record.deploy = super::deploy::deploy_and_evaluate(
            plan,
            &weights,
            &digital,
            readout_reads,
            point.seed,
            test_set,
        );
    }
    Ok(())
}

/// Evaluates the trained chip at each time after training (ascending), without and, when
/// `compensation`, with global drift compensation referenced at the end of training. Every
/// array of the chip ages, feedback and mirrors included.
pub fn drift_evaluation(
    learner: &mut dyn learn::Learner,
    test_set: &Dataset,
    times_s: &[f64],
    compensation: bool,
) -> Vec<DriftRecord> {
    let mut out = Vec::new();
    if times_s.is_empty() {
        return out;
    }
    learner.chip_mut().calibrate_drift_reference();
    let mut now = 0.0;
    for &t in times_s {
        learner.chip_mut().advance(t - now);
        now = t;
        let modes: &[bool] = if compensation {
            &[false, true]
        } else {
            &[false]
        };
        for &on in modes {
            learner.chip_mut().compensate_drift(on);
            let (test_loss, test_accuracy) = evaluate(learner, test_set);
            out.push(DriftRecord {
                time_after_training_s: t,
                compensated: on,
                test_accuracy,
                test_loss,
            });
        }
        learner.chip_mut().compensate_drift(false);
    }
    out
}

/// `config.resolved.toml`: the experiment with its defaults, then each device in full under
/// `[resolved_devices.LABEL]`.
fn resolved_toml(exp: &Experiment) -> String {
    let mut devices = toml::Table::new();
    for (label, spec) in &exp.devices {
        devices.insert(
            label.clone(),
            toml::Value::Table(toml::Table::try_from(spec).unwrap_or_default()),
        );
    }
    let mut t = toml::Table::new();
    t.insert("resolved_devices".into(), toml::Value::Table(devices));
    format!(
        "# {}: resolved by mortalsim {} (every default filled in; devices in full below)\n\n{}\n{}",
        exp.file,
        env!("CARGO_PKG_VERSION"),
        toml::to_string(&exp.resolved).unwrap_or_default(),
        toml::to_string(&t).unwrap_or_default()
    )
}

/// Appends a plain line to `log.txt` (what a progress bar hides under a batch system): the
/// whole line in one write to a file opened for appending, so lines of points that finish at
/// once never interleave.
fn append_log(dir: &std::path::Path, r: &PointRecord) {
    use std::io::Write;
    let acc = r
        .final_accuracy()
        .map_or("-".into(), |a| format!("{:.2} %", 100.0 * a));
    let line = format!(
        "{} {} {} test accuracy {} ({:.1} s)\n",
        r.finished_utc, r.id, r.status, acc, r.wall_seconds
    );
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.txt"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}
