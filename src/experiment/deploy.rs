//! `[deploy]` of an experiment file: after training, each point's network is read out and
//! programmed onto inference chips, `n_chips` independently fabricated and programmed copies
//! per inference device, each evaluated at `[evaluate] drift_times_s` after programming, without
//! and (with `[evaluate] drift_compensation`) with global drift compensation.
//!
//! ```toml
//! [deploy]
//! devices = ["aihwkit-inference", { preset = "aihwkit-inference", label = "perfect-periphery", periphery = { perfect = true } }]
//! mapping = "none"          # none (aihwkit's default) | per-layer | per-column
//! omega = 1.0               # stored magnitude of the largest weight (per-layer, per-column)
//! physics = "statistical"   # statistical (aihwkit's inference model) | chip (mortalsim's cells)
//! read_noise = "per-inference-time"  # or per-read (statistical physics, PCM read noise)
//! n_chips = 10
//! ```
//!
//! The readout of an analog-trained network (one-hot forward reads, noisy and counted) is what
//! is programmed; its reads are recorded (`readout_reads`). Copy c of device d of a point with
//! seed S draws from the stream (S, DEPLOY, d, c) alone, so results do not depend on threads.

use super::rundir::{write_atomic, PointRecord, RunDirError};
use super::train::evaluate_scores;
use crate::crossbar::inference::ReadNoiseTiming;
use crate::data::Dataset;
use crate::device::Device;
use crate::net::deploy::{DeploySpec, DeployedNetwork, Mapping, Physics};
use crate::net::NetworkWeights;
use crate::random::{derive, purpose};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// `[deploy]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySection {
    /// Inference devices: preset names, device files, or tables `{ preset | file, label,
    /// <section> = { .. } }` as in `devices` (required, at least one).
    pub devices: Vec<toml::Value>,
    /// Weight-to-conductance mapping: `none` (default, aihwkit's), `per-layer` or `per-column`.
    #[serde(default)]
    pub mapping: Mapping,
    /// Stored magnitude of a layer's (per-layer) or an output's (per-column) largest weight,
    /// weight units (default: the device's weight range max(|w_min|, |w_max|)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega: Option<f64>,
    /// `statistical` (default: aihwkit's inference model) or `chip` (mortalsim's cells).
    #[serde(default)]
    pub physics: Physics,
    /// When PCM read noise is drawn under statistical physics: `per-inference-time` (default,
    /// aihwkit's) or `per-read` (mortalsim's tiles).
    #[serde(default = "default_timing")]
    pub read_noise: ReadNoiseTiming,
    /// Independently fabricated and programmed copies of each inference chip (default 10).
    #[serde(default = "default_n_chips")]
    pub n_chips: usize,
}

fn default_timing() -> ReadNoiseTiming {
    ReadNoiseTiming::PerInferenceTime
}

fn default_n_chips() -> usize {
    10
}

impl DeploySection {
    /// The deployment settings.
    pub fn spec(&self) -> DeploySpec {
        DeploySpec {
            mapping: self.mapping,
            omega: self.omega,
            physics: self.physics,
            read_noise: self.read_noise,
        }
    }

    /// Range checks: (field, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.devices.is_empty() {
            return Err(("deploy.devices".into(), "list at least one device".into()));
        }
        if self.n_chips == 0 {
            return Err(("deploy.n_chips".into(), "must be at least 1".into()));
        }
        if let Some(o) = self.omega {
            if !(o.is_finite() && o > 0.0) {
                return Err(("deploy.omega".into(), "must be a positive number".into()));
            }
        }
        Ok(())
    }
}

/// A checked deployment: its inference devices (label, device) and settings.
#[derive(Debug, Clone)]
pub struct DeployPlan {
    /// (label, device) of each inference device.
    pub targets: Vec<(String, Device)>,
    /// Mapping and physics.
    pub spec: DeploySpec,
    /// Copies per device.
    pub n_chips: usize,
    /// Times after programming at which each copy is evaluated, seconds (ascending).
    pub times_s: Vec<f64>,
    /// Also evaluate with global drift compensation.
    pub compensation: bool,
}

/// One evaluation of one programmed copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// The inference device's label.
    pub device: String,
    /// The copy (0-based).
    pub chip: usize,
    /// Seconds since programming.
    pub time_s: f64,
    /// Whether global drift compensation was on.
    pub compensated: bool,
    /// Test accuracy, fraction.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub test_accuracy: f64,
    /// Test loss.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub test_loss: f64,
    /// Vector reads spent reading the trained weights out of the training chip (0 for a
    /// digital network).
    pub readout_reads: u64,
    /// Energy per test inference on the inference chip at this evaluation, joules.
    #[serde(deserialize_with = "super::train::nan_if_null")]
    pub energy_per_inference_j: f64,
}

/// Deploys `weights` (trained by the point with seed `seed`) by `plan`, layer l kept digital
/// where `digital[l]` ([`DeployedNetwork::program_keeping`]), and evaluates every copy
/// on `test_set`. Copies run in parallel; the result is in (device, copy, time, compensation)
/// order and the same bits with any number of threads.
pub fn deploy_and_evaluate(
    plan: &DeployPlan,
    weights: &NetworkWeights,
    digital: &[bool],
    readout_reads: u64,
    seed: u64,
    test_set: &Dataset,
) -> Vec<DeployRecord> {
    let jobs: Vec<(usize, usize)> = (0..plan.targets.len())
        .flat_map(|d| (0..plan.n_chips).map(move |c| (d, c)))
        .collect();
    let parts: Vec<Vec<DeployRecord>> = jobs
        .par_iter()
        .map(|&(d, c)| {
            let (label, dev) = &plan.targets[d];
            let s = derive(seed, &[purpose::DEPLOY, d as u64, c as u64]);
            let mut net = DeployedNetwork::program_keeping(weights, digital, dev, &plan.spec, s);
            net.calibrate_drift_reference();
            let mut out = Vec::new();
            for &t in &plan.times_s {
                net.age_to(t);
                let modes: &[bool] = if plan.compensation {
                    &[false, true]
                } else {
                    &[false]
                };
                for &on in modes {
                    net.compensate_drift(on);
                    let e0 = net.energy_j();
                    let (test_loss, test_accuracy) =
                        evaluate_scores(&mut |x| net.scores(x), test_set);
                    let e1 = net.energy_j();
                    out.push(DeployRecord {
                        device: label.clone(),
                        chip: c,
                        time_s: t,
                        compensated: on,
                        test_accuracy,
                        test_loss,
                        readout_reads,
                        energy_per_inference_j: (e1 - e0) / test_set.len().max(1) as f64,
                    });
                }
            }
            out
        })
        .collect();
    parts.into_iter().flatten().collect()
}

/// Mean and sample standard deviation (n − 1; 0 for one value) of `v`.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// One row of the deployment summary: a setting (learner, training device, sweep values,
/// inference device, time, compensation) over every seed and copy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySummaryRow {
    /// Learner.
    pub learner: String,
    /// Where it was trained (`digital` for rules that never touch a device).
    pub trained_on: String,
    /// Sweep values, as the tables write them.
    pub sweep: Vec<String>,
    /// Inference device label.
    pub device: String,
    /// Seconds since programming.
    pub time_s: f64,
    /// Compensation on.
    pub compensated: bool,
    /// Mean and s.d. of the test accuracy over seeds × copies.
    pub accuracy: (f64, f64),
    /// Evaluations (seeds × copies).
    pub n: usize,
    /// Mean and s.d. over seeds of the trained network's own final test accuracy.
    pub trained_accuracy: (f64, f64),
}

/// The summary of `records` (experiment order) with sweep columns `axes`.
pub fn summarize<'a>(
    axes: &[String],
    records: impl IntoIterator<Item = &'a PointRecord>,
) -> Vec<DeploySummaryRow> {
    type Key = (String, String, Vec<String>, String, u64, bool);
    let mut order: Vec<Key> = Vec::new();
    let mut acc: BTreeMap<Key, (Vec<f64>, BTreeMap<u64, f64>)> = BTreeMap::new();
    for r in records {
        let sweep: Vec<String> = axes
            .iter()
            .map(|a| {
                r.sweep
                    .iter()
                    .find(|(p, _)| p == a)
                    .map(|(_, v)| super::file::value_text(v))
                    .unwrap_or_default()
            })
            .collect();
        for d in &r.deploy {
            let key = (
                r.learner.clone(),
                r.device.clone(),
                sweep.clone(),
                d.device.clone(),
                d.time_s.to_bits(),
                d.compensated,
            );
            let e = acc.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                (Vec::new(), BTreeMap::new())
            });
            e.0.push(d.test_accuracy);
            if let Some(a) = r.final_accuracy() {
                e.1.insert(r.seed, a);
            }
        }
    }
    order
        .into_iter()
        .map(|k| {
            let (v, trained) = &acc[&k];
            let t: Vec<f64> = trained.values().copied().collect();
            DeploySummaryRow {
                learner: k.0,
                trained_on: k.1,
                sweep: k.2,
                device: k.3,
                time_s: f64::from_bits(k.4),
                compensated: k.5,
                accuracy: mean_sd(v),
                n: v.len(),
                trained_accuracy: mean_sd(&t),
            }
        })
        .collect()
}

/// A duration in words: 1 s, 1 h, 1 day, 1 year (365 days), else seconds.
pub fn duration_text(t: f64) -> String {
    for (unit, s) in [("year", 31_536_000.0), ("day", 86_400.0), ("h", 3600.0)] {
        if t >= s && (t / s - (t / s).round()).abs() < 1e-9 {
            let n = (t / s).round();
            let plural = if n != 1.0 && unit != "h" { "s" } else { "" };
            return format!("{n} {unit}{plural}");
        }
    }
    format!("{t} s")
}

/// `deploy.csv` (one row per evaluation of a copy), `deploy_summary.csv` and `deploy.md` (mean ±
/// s.d. over seeds and copies per setting) in `dir`; nothing when no point was deployed.
pub fn write_deploy_tables<'a>(
    dir: &Path,
    axes: &[String],
    records: impl IntoIterator<Item = &'a PointRecord> + Clone,
) -> Result<(), RunDirError> {
    if !records.clone().into_iter().any(|r| !r.deploy.is_empty()) {
        return Ok(());
    }
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |e: csv::Error| RunDirError::Io {
            path: p.clone(),
            message: e.to_string(),
        }
    };
    let raw_path = dir.join("deploy.csv");
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<String> = ["point", "learner", "trained_on"]
        .map(String::from)
        .to_vec();
    head.extend(axes.iter().cloned());
    head.extend(
        [
            "seed",
            "deploy_device",
            "chip",
            "time_s",
            "compensated",
            "test_accuracy",
            "test_loss",
            "readout_reads",
            "energy_per_inference_j",
        ]
        .map(String::from),
    );
    w.write_record(&head).map_err(err(&raw_path))?;
    for r in records.clone() {
        for d in &r.deploy {
            let mut row = vec![r.id.clone(), r.learner.clone(), r.device.clone()];
            for a in axes {
                row.push(
                    r.sweep
                        .iter()
                        .find(|(p, _)| p == a)
                        .map(|(_, v)| super::file::value_text(v))
                        .unwrap_or_default(),
                );
            }
            row.extend([
                r.seed.to_string(),
                d.device.clone(),
                d.chip.to_string(),
                d.time_s.to_string(),
                d.compensated.to_string(),
                d.test_accuracy.to_string(),
                d.test_loss.to_string(),
                d.readout_reads.to_string(),
                d.energy_per_inference_j.to_string(),
            ]);
            w.write_record(&row).map_err(err(&raw_path))?;
        }
    }
    let bytes = w.into_inner().map_err(|e| RunDirError::Io {
        path: raw_path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&raw_path, &bytes)?;

    let rows = summarize(axes, records);
    let sum_path = dir.join("deploy_summary.csv");
    let mut s = csv::Writer::from_writer(Vec::new());
    let mut head: Vec<String> = ["learner", "trained_on"].map(String::from).to_vec();
    head.extend(axes.iter().cloned());
    head.extend(
        [
            "deploy_device",
            "time_s",
            "compensated",
            "test_accuracy_mean",
            "test_accuracy_sd",
            "n",
            "trained_accuracy_mean",
            "trained_accuracy_sd",
        ]
        .map(String::from),
    );
    s.write_record(&head).map_err(err(&sum_path))?;
    for r in &rows {
        let mut row = vec![r.learner.clone(), r.trained_on.clone()];
        row.extend(r.sweep.iter().cloned());
        row.extend([
            r.device.clone(),
            r.time_s.to_string(),
            r.compensated.to_string(),
            r.accuracy.0.to_string(),
            r.accuracy.1.to_string(),
            r.n.to_string(),
            r.trained_accuracy.0.to_string(),
            r.trained_accuracy.1.to_string(),
        ]);
        s.write_record(&row).map_err(err(&sum_path))?;
    }
    let bytes = s.into_inner().map_err(|e| RunDirError::Io {
        path: sum_path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&sum_path, &bytes)?;
    write_atomic(
        &dir.join("deploy.md"),
        deploy_markdown(axes, &rows).as_bytes(),
    )
}

/// The summary as a Markdown table: one row per (learner, training device, sweep values,
/// inference device), one column per time with and without compensation, test accuracy in %
/// as mean ± s.d. over seeds × copies, beside the trained network's own accuracy.
pub fn deploy_markdown(axes: &[String], rows: &[DeploySummaryRow]) -> String {
    let mut times: Vec<f64> = rows.iter().map(|r| r.time_s).collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    times.dedup();
    let comp = rows.iter().any(|r| r.compensated);
    let mut out = String::from("# Deployment: test accuracy (%) on the inference chip, mean ± s.d. over seeds × programmed copies\n\n");
    let mut head = vec!["learner".to_string(), "trained on".into()];
    head.extend(axes.iter().cloned());
    head.extend(["deployed on".into(), "trained accuracy".into()]);
    for &t in &times {
        head.push(duration_text(t));
        if comp {
            head.push(format!("{} comp.", duration_text(t)));
        }
    }
    head.push("n".into());
    out += &format!("| {} |\n", head.join(" | "));
    out += &format!("|{}\n", " --- |".repeat(head.len()));
    let mut settings: Vec<(String, String, Vec<String>, String)> = Vec::new();
    for r in rows {
        let k = (
            r.learner.clone(),
            r.trained_on.clone(),
            r.sweep.clone(),
            r.device.clone(),
        );
        if !settings.contains(&k) {
            settings.push(k);
        }
    }
    let pct = |(m, s): (f64, f64)| format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s);
    for k in settings {
        let of = |t: f64, c: bool| {
            rows.iter().find(|r| {
                (&r.learner, &r.trained_on, &r.sweep, &r.device) == (&k.0, &k.1, &k.2, &k.3)
                    && r.time_s == t
                    && r.compensated == c
            })
        };
        let first = rows
            .iter()
            .find(|r| (&r.learner, &r.trained_on, &r.sweep, &r.device) == (&k.0, &k.1, &k.2, &k.3))
            .expect("a row of this setting");
        let mut cells = vec![k.0.clone(), k.1.clone()];
        cells.extend(k.2.iter().cloned());
        cells.push(k.3.clone());
        cells.push(pct(first.trained_accuracy));
        for &t in &times {
            cells.push(of(t, false).map_or("–".into(), |r| pct(r.accuracy)));
            if comp {
                cells.push(of(t, true).map_or("–".into(), |r| pct(r.accuracy)));
            }
        }
        cells.push(first.n.to_string());
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out
}
