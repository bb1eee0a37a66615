//! The run directory: what `mortalsim run` writes and `plot` and `merge` read.
//!
//! ```text
//! manifest.json          tool, version, git revision, config hash, seeds, shard, host, command
//!                        line, start/end (UTC), status, all point ids and the missing ones
//! config.resolved.toml   the experiment with every default filled in, and its devices in full
//! points/<id>.json       one record per point, written atomically (a rerun skips it when its
//!                        config hash matches)
//! metrics.csv            tidy: point,learner,device,<sweep paths>,seed,epoch,time_s,metric,value
//! summary.csv            one row per point (no wall-clock column: equal runs give equal bytes)
//! log.txt                one line per finished point
//! ```
//!
//! `metrics.csv`'s `time_s` is the chip's simulated age at the end of the epoch for training
//! metrics, and the simulated time since the end of training for the `drift_*` metrics.

use super::lifetime::TaskReport;
use super::schema::{PointStatus, RunStatus};
use super::train::EpochReport;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the files' layout.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a run directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Directories that do not belong to the same experiment.
    #[error("{0}")]
    Mismatch(String),
    /// Another run holds the directory's lock.
    #[error("{0}")]
    Busy(String),
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> RunDirError {
    RunDirError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One evaluation of the trained chip some time after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// Simulated seconds since the end of training.
    pub time_after_training_s: f64,
    /// Whether global drift compensation was on.
    pub compensated: bool,
    /// Test accuracy, fraction.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub test_accuracy: f64,
    /// Test loss.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub test_loss: f64,
}

/// What one point gave: `points/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    /// Layout version.
    pub schema_version: u32,
    /// The point's id.
    pub id: String,
    /// Its position in the experiment.
    pub index: usize,
    /// Hash of its resolved configuration.
    pub config_hash: String,
    /// Learner.
    pub learner: String,
    /// Device label.
    pub device: String,
    /// (path, value) of each sweep axis.
    pub sweep: Vec<(String, toml::Value)>,
    /// Seed.
    pub seed: u64,
    /// How it ended.
    pub status: PointStatus,
    /// The epoch in which training diverged.
    pub diverged_epoch: Option<usize>,
    /// Why the point failed (`failed` only).
    pub error: Option<String>,
    /// Per epoch.
    pub epochs: Vec<EpochReport>,
    /// Per task of a task stream (continual learning); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskReport>,
    /// Evaluations after training.
    pub drift: Vec<DriftRecord>,
    /// Evaluations of the trained network deployed onto inference chips (`[deploy]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<super::deploy::DeployRecord>,
    /// Wall-clock seconds of the whole point.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub wall_seconds: f64,
    /// When it finished (UTC).
    pub finished_utc: String,
}

impl PointRecord {
    /// Test accuracy at the end: of the last epoch, or on the last task of a stream.
    pub fn final_accuracy(&self) -> Option<f64> {
        match self.tasks.last() {
            Some(t) => Some(t.accuracy),
            None => self.epochs.last().map(|e| e.test_accuracy),
        }
    }
}

/// Where the run took place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// CPU model.
    pub cpu: String,
    /// Logical cores available.
    pub cores: usize,
    /// Threads of the pool the run used.
    pub threads: usize,
    /// `SLURM_JOB_ID`, `SLURM_ARRAY_JOB_ID`, `SLURM_ARRAY_TASK_ID` when set.
    pub slurm: Vec<(String, String)>,
}

impl Host {
    /// This machine.
    pub fn current() -> Host {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let hostname = read("/proc/sys/kernel/hostname")
            .or_else(|| read("/etc/hostname"))
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cpu = read("/proc/cpuinfo")
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let slurm = ["SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        Host {
            hostname,
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads: rayon::current_num_threads(),
            slurm,
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub schema_version: u32,
    /// `mortalsim`.
    pub tool: String,
    /// The crate version.
    pub version: String,
    /// Git commit the binary was built from (`unknown` outside a checkout).
    pub git_revision: String,
    /// Whether the working tree had uncommitted changes at build time.
    pub git_dirty: Option<bool>,
    /// Experiment name.
    pub experiment: String,
    /// Experiment file as given.
    pub experiment_file: String,
    /// Its description.
    pub description: String,
    /// Hash of the resolved experiment.
    pub config_hash: String,
    /// Seeds of the replicates.
    pub seeds: Vec<u64>,
    /// Sweep parameter paths (the extra columns of the CSV files).
    pub sweep_axes: Vec<String>,
    /// Their labels for plots.
    pub sweep_labels: Vec<String>,
    /// Times after training of the drift evaluations, seconds.
    pub drift_times_s: Vec<f64>,
    /// `K/N`: this directory holds every N-th point from the K-th (1-based); `merged` after
    /// `mortalsim merge`.
    pub shard: String,
    /// Every point of the experiment, in order.
    pub point_ids: Vec<String>,
    /// Points of this shard (or of the merge) without a finished record.
    pub points_missing: Vec<String>,
    /// Host.
    pub host: Host,
    /// The command line.
    pub command_line: String,
    /// Start (UTC, ISO 8601).
    pub started_utc: String,
    /// End (UTC), once finished.
    pub ended_utc: Option<String>,
    /// `running` (or interrupted, if it stays so), `completed`, `incomplete` (points failed or
    /// missing), `failed`.
    pub status: RunStatus,
    /// Why it failed.
    pub error: Option<String>,
}

/// Git revision and dirty flag captured at build time (see `build.rs`).
pub fn git_revision() -> (String, Option<bool>) {
    let rev = option_env!("MORTALSIM_GIT_REVISION").unwrap_or("unknown");
    let dirty = match option_env!("MORTALSIM_GIT_DIRTY") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    (rev.to_string(), dirty)
}

/// The current time as ISO 8601 UTC (`2026-11-23T10:00:00Z`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename,
/// so that a reader (or a killed run) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunDirError> {
    use std::io::Write;
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io_error(&tmp, e))?;
    f.sync_all().map_err(|e| io_error(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

/// Removes the temporary files of [`write_atomic`] (`*.tmp`) that a killed run left in `dir`
/// and `dir/points`. Call it only while holding the directory's [`lock`]: then no live writer
/// owns them.
pub fn remove_stale_temporaries(dir: &Path) {
    for d in [dir.to_path_buf(), dir.join("points")] {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "tmp") && path.is_file() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Reads and parses a JSON file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunDirError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| io_error(path, format!("line {}: {e}", e.line())))
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunDirError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| io_error(path, e))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// `DIR/points/<id>.json`.
pub fn point_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("points").join(format!("{id}.json"))
}

/// The finished record of point `id` in `dir`, if there is one that parses.
pub fn read_point(dir: &Path, id: &str) -> Option<PointRecord> {
    read_point_checked(dir, id).ok().flatten()
}

/// The point record `id` of `dir`: `Ok(None)` when there is none, `Ok(Some)` when it parses
/// into the schema (this schema version, this id, a known status), and an error naming the file
/// and what is wrong otherwise (a corrupted or foreign file, never to be reused).
pub fn read_point_checked(dir: &Path, id: &str) -> Result<Option<PointRecord>, String> {
    let path = point_path(dir, id);
    if !path.exists() {
        return Ok(None);
    }
    let r = read_json::<PointRecord>(&path).map_err(|e| e.to_string())?;
    let bad = |why: String| Err(format!("{}: {why}", path.display()));
    if r.schema_version != SCHEMA_VERSION {
        return bad(format!(
            "schema version {} (this mortalsim writes {SCHEMA_VERSION})",
            r.schema_version
        ));
    }
    if r.id != id {
        return bad(format!("holds point `{}`", r.id));
    }
    Ok(Some(r))
}

/// The lock of a run directory (`DIR/.lock`): an OS advisory lock, so that a run that crashes
/// leaves nothing stuck. Holds the holder's pid and host for the message of a refused run.
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

/// Takes the exclusive lock of run directory `dir`: waits for the holder when `wait`, else
/// refuses with the holder's pid and host.
pub fn lock(dir: &Path, wait: bool) -> Result<DirLock, RunDirError> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(".lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) if wait => {
            file.lock().map_err(|e| io_error(&path, e))?;
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(RunDirError::Busy(format!(
                "{} is in use by another run ({}); wait for it with --wait, or choose another \
                 --out",
                dir.display(),
                match holder.trim() {
                    "" => "holder unknown".to_string(),
                    h => h.to_string(),
                }
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path, e)),
    }
    let me = format!("pid {} on {}", std::process::id(), Host::current().hostname);
    file.set_len(0).map_err(|e| io_error(&path, e))?;
    file.rewind().map_err(|e| io_error(&path, e))?;
    file.write_all(me.as_bytes())
        .map_err(|e| io_error(&path, e))?;
    Ok(DirLock { _file: file })
}

/// Refuses a run of experiment `name` into a directory that holds another experiment's run
/// (its manifest names another experiment), naming both; `--force` overrides.
pub fn check_owner(dir: &Path, name: &str, config_hash: &str) -> Result<(), RunDirError> {
    let path = dir.join("manifest.json");
    if !path.exists() {
        return Ok(());
    }
    let Ok(m) = read_json::<Manifest>(&path) else {
        return Ok(());
    };
    if m.experiment != name {
        return Err(RunDirError::Mismatch(format!(
            "{} holds the run of experiment `{}` (config hash {}), not of `{name}` (config hash \
             {config_hash}): its points would be replaced; choose another --out, or --force to \
             replace them",
            dir.display(),
            m.experiment,
            m.config_hash
        )));
    }
    Ok(())
}

/// A number as a CSV cell: shortest text that reads back to the same f64, in scientific
/// notation when very small or large (`3.7684e-6` rather than `0.0000037684`).
pub fn number(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-3..1e7).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// Writes `metrics.csv` and `summary.csv` for `records` (in experiment order) with the sweep
/// columns `axes`.
pub fn write_tables<'a>(
    dir: &Path,
    axes: &[String],
    records: impl IntoIterator<Item = &'a PointRecord>,
) -> Result<(), RunDirError> {
    let records: Vec<&PointRecord> = records.into_iter().collect();
    let streams = records.iter().any(|r| !r.tasks.is_empty());
    let metrics_path = dir.join("metrics.csv");
    let summary_path = dir.join("summary.csv");
    let mut m = csv::Writer::from_writer(Vec::new());
    let mut s = csv::Writer::from_writer(Vec::new());
    fn csv_err(p: &Path) -> impl Fn(csv::Error) -> RunDirError + '_ {
        move |e| io_error(p, e)
    }
    m.write_record(super::schema::metrics_header(axes))
        .map_err(csv_err(&metrics_path))?;
    let sh = super::schema::summary_header(axes, streams);
    s.write_record(&sh).map_err(csv_err(&summary_path))?;
    for r in records {
        let mut key = vec![r.id.clone(), r.learner.clone(), r.device.clone()];
        for a in axes {
            key.push(
                r.sweep
                    .iter()
                    .find(|(p, _)| p == a)
                    .map(|(_, v)| super::file::value_text(v))
                    .unwrap_or_default(),
            );
        }
        key.push(r.seed.to_string());
        let mut row = |epoch: usize, time: f64, metric: &str, value: f64| {
            let mut rec = key.clone();
            rec.extend([
                epoch.to_string(),
                number(time),
                metric.to_string(),
                number(value),
            ]);
            m.write_record(&rec)
        };
        for e in &r.epochs {
            for (name, v) in [
                ("test_accuracy", e.test_accuracy),
                ("test_loss", e.test_loss),
                ("train_loss", e.train_loss),
                ("energy_per_sample_j", e.energy_per_sample_j),
                ("energy_per_inference_j", e.energy_per_inference_j),
                ("sim_seconds_per_sample", e.sim_seconds_per_sample),
                ("failed_fraction", e.failed_fraction),
                ("samples_per_s", e.samples_per_s),
                ("train_seconds", e.train_seconds),
            ] {
                row(e.epoch, e.sim_time_s, name, v).map_err(csv_err(&metrics_path))?;
            }
        }
        for e in &r.epochs {
            row(e.epoch, e.sim_time_s, "pulses", e.pulses as f64)
                .map_err(csv_err(&metrics_path))?;
            for (name, v) in role_metrics(&e.roles) {
                row(e.epoch, e.sim_time_s, &name, v).map_err(csv_err(&metrics_path))?;
            }
        }
        for t in &r.tasks {
            let mut values = vec![
                ("test_accuracy".to_string(), t.accuracy),
                ("first_task_accuracy".into(), t.first_task_accuracy),
                ("train_loss".into(), t.train_loss),
                ("failed_fraction".into(), t.failed_fraction),
                ("pulses".into(), t.pulses as f64),
                ("spare_lines_used".into(), t.spare_lines.0 as f64),
                ("replacements".into(), t.replacements as f64),
                ("energy_per_sample_j".into(), t.energy_per_sample_j),
                ("samples_per_s".into(), t.samples_per_s),
            ];
            let per_layer = |name: &str, v: &[f64]| {
                v.iter()
                    .enumerate()
                    .map(|(l, x)| (format!("{name}_l{}", l + 1), *x))
                    .collect::<Vec<_>>()
            };
            values.extend(per_layer("dead_fraction", &t.dead_fraction));
            let ranks: Vec<f64> = t.stable_rank.iter().map(|&r| r as f64).collect();
            values.extend(per_layer("stable_rank", &ranks));
            values.extend(per_layer("mean_abs_weight", &t.mean_abs_weight));
            values.extend(per_layer("backbone_fraction", &t.backbone_fraction));
            values.extend(role_metrics(&t.roles));
            for (name, v) in values {
                row(t.task, t.sim_time_s, &name, v).map_err(csv_err(&metrics_path))?;
            }
        }
        let last_epoch = r.epochs.last().map_or(0, |e| e.epoch);
        for d in &r.drift {
            let suffix = if d.compensated { "_compensated" } else { "" };
            for (name, v) in [
                ("drift_test_accuracy", d.test_accuracy),
                ("drift_test_loss", d.test_loss),
            ] {
                row(
                    last_epoch,
                    d.time_after_training_s,
                    &format!("{name}{suffix}"),
                    v,
                )
                .map_err(csv_err(&metrics_path))?;
            }
        }
        let last = r.epochs.last();
        let f = |v: Option<f64>| v.map(number).unwrap_or_default();
        let accuracies: Vec<f64> = if r.tasks.is_empty() {
            r.epochs.iter().map(|e| e.test_accuracy).collect()
        } else {
            r.tasks.iter().map(|t| t.accuracy).collect()
        };
        let best = accuracies
            .iter()
            .copied()
            .filter(|a| a.is_finite())
            .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))));
        let mut rec = key.clone();
        rec.push(r.status.to_string());
        match r.tasks.last() {
            None => rec.extend([
                r.epochs.len().to_string(),
                r.diverged_epoch.map(|e| e.to_string()).unwrap_or_default(),
                f(last.map(|e| e.test_accuracy)),
                f(last.map(|e| e.test_loss)),
                f(best),
                f(last.map(|e| e.train_loss)),
                f(last.map(|e| e.energy_per_sample_j)),
                f(last.map(|e| e.energy_per_inference_j)),
                f(last.map(|e| e.sim_time_s)),
                f(last.map(|e| e.sim_seconds_per_sample)),
                f(last.map(|e| e.failed_fraction)),
            ]),
            Some(t) => rec.extend([
                r.tasks.len().to_string(),
                r.diverged_epoch.map(|e| e.to_string()).unwrap_or_default(),
                number(t.accuracy),
                String::new(),
                f(best),
                number(t.train_loss),
                number(t.energy_per_sample_j),
                String::new(),
                number(t.sim_time_s),
                String::new(),
                number(t.failed_fraction),
            ]),
        }
        if streams {
            match r.tasks.last() {
                None => rec.extend(std::iter::repeat_n(String::new(), 5)),
                Some(t) => rec.extend([
                    number(t.first_task_accuracy),
                    number(accuracies.iter().sum::<f64>() / accuracies.len() as f64),
                    t.pulses.to_string(),
                    t.replacements.to_string(),
                    t.spare_lines.0.to_string(),
                ]),
            }
        }
        s.write_record(&rec).map_err(csv_err(&summary_path))?;
    }
    let bytes = |w: csv::Writer<Vec<u8>>, p: &Path| {
        w.into_inner()
            .map_err(|e| io_error(p, e.error().to_string()))
    };
    write_atomic(&metrics_path, &bytes(m, &metrics_path)?)?;
    write_atomic(&summary_path, &bytes(s, &summary_path)?)
}

/// What a merge found.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeReport {
    /// Points gathered.
    pub points: usize,
    /// Points of the experiment found in none of the directories.
    pub missing: Vec<String>,
}

/// Joins the run directories `dirs` (shards of one experiment) into `out`: point records are
/// copied, the tables rebuilt from all of them in experiment order, the manifest marks the
/// shard `merged` and lists the missing points.
pub fn merge(dirs: &[PathBuf], out: &Path, command_line: &str) -> Result<MergeReport, RunDirError> {
    let Some(first) = dirs.first() else {
        return Err(RunDirError::Mismatch("merge: no directories given".into()));
    };
    let manifests: Vec<Manifest> = dirs
        .iter()
        .map(|d| read_json::<Manifest>(&d.join("manifest.json")))
        .collect::<Result<_, _>>()?;
    let base = &manifests[0];
    for (d, m) in dirs.iter().zip(&manifests).skip(1) {
        if m.config_hash != base.config_hash {
            return Err(RunDirError::Mismatch(format!(
                "{}: config hash {} differs from {}'s {} (not shards of one experiment)",
                d.display(),
                m.config_hash,
                first.display(),
                base.config_hash
            )));
        }
    }
    std::fs::create_dir_all(out.join("points")).map_err(|e| io_error(out, e))?;
    let mut records = Vec::new();
    let mut missing = Vec::new();
    for id in &base.point_ids {
        match dirs.iter().find_map(|d| read_point(d, id)) {
            Some(r) => {
                write_json(&point_path(out, id), &r)?;
                records.push(r);
            }
            None => missing.push(id.clone()),
        }
    }
    let config = first.join("config.resolved.toml");
    let text = std::fs::read(&config).map_err(|e| io_error(&config, e))?;
    write_atomic(&out.join("config.resolved.toml"), &text)?;
    write_tables(out, &base.sweep_axes, &records)?;
    let started = manifests
        .iter()
        .map(|m| m.started_utc.clone())
        .min()
        .unwrap_or_default();
    let manifest = Manifest {
        shard: "merged".into(),
        points_missing: missing.clone(),
        host: Host::current(),
        command_line: command_line.to_string(),
        started_utc: started,
        ended_utc: Some(utc_now()),
        status: if missing.is_empty() {
            RunStatus::Completed
        } else {
            RunStatus::Incomplete
        },
        error: None,
        ..base.clone()
    };
    write_json(&out.join("manifest.json"), &manifest)?;
    Ok(MergeReport {
        points: records.len(),
        missing,
    })
}

/// The per-role rows of an epoch or task: `failed_fraction_ROLE`, `pulses_ROLE` and
/// `energy_j_ROLE` for each role of the chip's arrays (forward, feedback, mirror, module).
fn role_metrics(roles: &[super::train::RoleReport]) -> Vec<(String, f64)> {
    roles
        .iter()
        .flat_map(|r| {
            [
                (format!("failed_fraction_{}", r.role), r.failed_fraction),
                (format!("pulses_{}", r.role), r.pulses as f64),
                (format!("energy_j_{}", r.role), r.energy_j),
            ]
        })
        .collect()
}
