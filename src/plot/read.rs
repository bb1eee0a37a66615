//! Reading a run directory (`manifest.json`, `summary.csv`, `metrics.csv`) into typed records,
//! and aggregating replicates (seeds) into mean, standard deviation and count.

use super::PlotError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The values one sweep axis takes in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAxis {
    /// The parameter path, e.g. `device.failure.stuck_at_min_fraction`.
    pub path: String,
    /// The axis label the experiment gave (manifest `sweep_labels`), if any.
    pub label: Option<String>,
    /// The values as written in the CSV files: sorted by value when all are numbers, else in
    /// order of first appearance.
    pub labels: Vec<String>,
    /// The numeric values (same order as `labels`) when every value parses as a number.
    pub numbers: Option<Vec<f64>>,
}

impl SweepAxis {
    /// The last segment of the path (`stuck_at_min_fraction`), for file names and labels.
    pub fn short_name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    fn index_of(&self, cell: &str) -> Option<usize> {
        if let (Some(nums), Ok(v)) = (&self.numbers, cell.parse::<f64>()) {
            if let Some(i) = nums
                .iter()
                .position(|&n| n == v || (n.is_nan() && v.is_nan()))
            {
                return Some(i);
            }
        }
        self.labels.iter().position(|l| l == cell)
    }
}

/// How a point ended: the results schema's [`PointStatus`], declared once for the writer and
/// this reader.
pub use crate::experiment::schema::PointStatus as Status;
use crate::experiment::schema::{self, RunStatus};

/// The `summary.csv` columns a plot needs (besides the key, the sweep paths and the seed).
const SUMMARY_NEEDED: [&str; 2] = [schema::SUMMARY[0], schema::SUMMARY[3]];

/// One row of `summary.csv`: one point (learner × device × sweep values × seed).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The point id.
    pub id: String,
    /// Index into [`Run::learners`].
    pub learner: usize,
    /// Index into [`Run::devices`].
    pub device: usize,
    /// Index into each [`Run::axes`]' values, in axis order.
    pub sweep: Vec<usize>,
    /// The replicate's seed, as written.
    pub seed: String,
    /// How the point ended.
    pub status: Status,
    /// Epoch at which it diverged, if it did.
    pub diverged_epoch: Option<u32>,
    /// Final test accuracy, fraction (NaN when absent).
    pub test_accuracy: f64,
    /// Energy per training sample, joules (NaN when absent).
    pub energy_per_sample_j: f64,
    /// Energy per inference, joules (NaN when absent).
    pub energy_per_inference_j: f64,
    /// Fraction of the chip's cells (every role) failed at the end (NaN when absent).
    pub failed_fraction: f64,
    /// Stream points: accuracy on the first task at the end (NaN when absent).
    pub first_task_accuracy: f64,
    /// Stream points: mean accuracy over all tasks (NaN when absent).
    pub mean_task_accuracy: f64,
    /// Stream points: pulses spent since fabrication (NaN when absent).
    pub pulses: f64,
    /// Stream points: units replaced by continual backprop (NaN when absent).
    pub replacements: f64,
    /// Stream points: spare lines used (NaN when absent).
    pub spare_lines_used: f64,
    /// Whether the point learned a stream of tasks: its `first_task_accuracy` cell in
    /// `summary.csv` is not empty, or `metrics.csv` has `first_task_accuracy` rows for it.
    pub stream: bool,
}

/// One row of `metrics.csv`. For a stream point, `epoch` is the 1-based task and `time_s` the
/// chip's age.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Index into [`Run::learners`].
    pub learner: usize,
    /// Index into [`Run::devices`].
    pub device: usize,
    /// Index into each axis' values.
    pub sweep: Vec<usize>,
    /// The replicate's seed, as written.
    pub seed: String,
    /// Epoch (1-based).
    pub epoch: u32,
    /// Simulated seconds: chip age for training metrics, time after training for `drift_*`.
    pub time_s: f64,
    /// Metric name.
    pub metric: String,
    /// Value (NaN when empty).
    pub value: f64,
}

/// A whole run directory, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run directory.
    pub dir: PathBuf,
    /// The experiment's name (`manifest.json`).
    pub experiment: String,
    /// The run's status (`manifest.json`; `unknown` when absent).
    pub status: String,
    /// The sweep axes, in `sweep_axes` order.
    pub axes: Vec<SweepAxis>,
    /// Learner names, in order of first appearance.
    pub learners: Vec<String>,
    /// Device names, in order of first appearance.
    pub devices: Vec<String>,
    /// The rows of `summary.csv`.
    pub points: Vec<Point>,
    /// The rows of `metrics.csv`.
    pub metrics: Vec<MetricRow>,
    /// The groups whose points learned a stream of tasks (see [`Point::stream`]).
    pub stream_groups: std::collections::BTreeSet<GroupKey>,
    /// Whether `summary.csv` has the stream columns (`first_task_accuracy`, …): the runner
    /// writes them when any point of the run is a stream point.
    pub stream_columns: bool,
}

/// The metric (and `summary.csv` column) that marks a stream point.
pub const STREAM_MARKER: &str = schema::STREAM_SUMMARY[0];

/// Whether `metric` is the per-layer metric `{prefix}_l{k}` (k = 1, 2, …), e.g.
/// `is_layer_metric("dead_fraction_l2", "dead_fraction")`.
pub fn is_layer_metric(metric: &str, prefix: &str) -> bool {
    metric
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix("_l"))
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

/// Mean, standard deviation and count of replicate values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator); 0 for a single value.
    pub std: f64,
    /// Number of values.
    pub n: usize,
}

impl Stats {
    /// Statistics of the finite values among `values`; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Stats> {
        let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Stats { mean, std, n })
    }
}

/// A group of replicates: one learner on one device at one sweep value combination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// Index into [`Run::learners`].
    pub learner: usize,
    /// Index into [`Run::devices`].
    pub device: usize,
    /// Index into each axis' values.
    pub sweep: Vec<usize>,
}

/// The final outcome of a group of replicates.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalAccuracy {
    /// Final test accuracy (fraction) over the finished (not diverged) replicates.
    pub accuracy: Option<Stats>,
    /// Replicates in the group.
    pub points: usize,
    /// Replicates that diverged.
    pub diverged: usize,
    /// Replicates with another status than `done` or `diverged`.
    pub other: usize,
}

impl Run {
    /// Reads `manifest.json`, `summary.csv` and `metrics.csv` from `dir`.
    pub fn read(dir: &Path) -> Result<Run, PlotError> {
        let manifest_path = dir.join("manifest.json");
        let text = read_text(&manifest_path)?;
        let (experiment, status, axis_paths) = parse_manifest(&manifest_path, &text)?;
        let axis_labels = sweep_labels(&text);
        let summary_path = dir.join("summary.csv");
        let summary = read_csv(&summary_path)?;
        let metrics_path = dir.join("metrics.csv");
        let metrics = read_csv(&metrics_path)?;

        let mut axes: Vec<SweepAxis> = axis_paths
            .iter()
            .enumerate()
            .map(|(i, p)| SweepAxis {
                path: p.clone(),
                label: axis_labels.get(i).filter(|l| *l != p).cloned(),
                labels: Vec::new(),
                numbers: None,
            })
            .collect();
        let mut learners = Vec::new();
        let mut devices = Vec::new();
        let s_cols = Columns::new(&summary, &axis_paths, &SUMMARY_NEEDED)?;
        let m_cols = Columns::new(&metrics, &axis_paths, &schema::METRICS)?;
        // Names and sweep values in order of first appearance, summary first.
        for (table, cols) in [(&summary, &s_cols), (&metrics, &m_cols)] {
            for row in &table.rows {
                intern(&mut learners, &row.cells[cols.learner]);
                intern(&mut devices, &row.cells[cols.device]);
                for (axis, &c) in axes.iter_mut().zip(&cols.axes) {
                    intern(&mut axis.labels, &row.cells[c]);
                }
            }
        }
        for axis in &mut axes {
            let nums: Result<Vec<f64>, _> = axis.labels.iter().map(|l| l.parse::<f64>()).collect();
            if let Ok(nums) = nums {
                let mut pairs: Vec<(f64, String)> =
                    nums.into_iter().zip(axis.labels.drain(..)).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                axis.numbers = Some(pairs.iter().map(|p| p.0).collect());
                axis.labels = pairs.into_iter().map(|p| p.1).collect();
            }
        }
        let key = |cells: &[String], cols: &Columns| -> (usize, usize, Vec<usize>) {
            let l = position(&learners, &cells[cols.learner]);
            let d = position(&devices, &cells[cols.device]);
            let s = axes
                .iter()
                .zip(&cols.axes)
                .map(|(a, &c)| a.index_of(&cells[c]).expect("interned above"))
                .collect();
            (l, d, s)
        };

        let mut points = Vec::with_capacity(summary.rows.len());
        for row in &summary.rows {
            let (learner, device, sweep) = key(&row.cells, &s_cols);
            let at = |col: &str| summary.index(col).map(|i| row.cells[i].as_str());
            let number = |col: &str| -> Result<f64, PlotError> {
                match at(col) {
                    None => Ok(f64::NAN),
                    Some(cell) => parse_f64(&summary_path, row.line, col, cell),
                }
            };
            let status = Status::parse(at("status").unwrap_or(""))
                .map_err(|m| malformed(&summary_path, Some(row.line), format!("`status`: {m}")))?;
            let diverged_epoch = match at("diverged_epoch") {
                None | Some("") => None,
                Some(cell) => Some(parse_u32(&summary_path, row.line, "diverged_epoch", cell)?),
            };
            points.push(Point {
                id: at(schema::KEY[0]).unwrap_or("").to_string(),
                learner,
                device,
                sweep,
                seed: row.cells[s_cols.seed].clone(),
                status,
                diverged_epoch,
                test_accuracy: number("test_accuracy")?,
                energy_per_sample_j: number("energy_per_sample_j")?,
                energy_per_inference_j: number("energy_per_inference_j")?,
                failed_fraction: number("failed_fraction")?,
                first_task_accuracy: number("first_task_accuracy")?,
                mean_task_accuracy: number("mean_task_accuracy")?,
                pulses: number("pulses")?,
                replacements: number("replacements")?,
                spare_lines_used: number("spare_lines_used")?,
                stream: at("first_task_accuracy").is_some_and(|c| !c.is_empty()),
            });
        }

        let mut rows = Vec::with_capacity(metrics.rows.len());
        let [epoch_c, time_c, metric_c, value_c] =
            schema::METRICS.map(|c| metrics.index(c).expect("checked"));
        for row in &metrics.rows {
            let (learner, device, sweep) = key(&row.cells, &m_cols);
            let c = &row.cells;
            rows.push(MetricRow {
                learner,
                device,
                sweep,
                seed: c[m_cols.seed].clone(),
                epoch: parse_u32(&metrics_path, row.line, "epoch", &c[epoch_c])?,
                time_s: parse_f64(&metrics_path, row.line, "time_s", &c[time_c])?,
                metric: c[metric_c].clone(),
                value: parse_f64(&metrics_path, row.line, "value", &c[value_c])?,
            });
        }

        // Points whose metric rows are per task are stream points too.
        let streamed: std::collections::BTreeSet<(GroupKey, &str)> = rows
            .iter()
            .filter(|m| m.metric == STREAM_MARKER)
            .map(|m| (row_key(m), m.seed.as_str()))
            .collect();
        for p in &mut points {
            if streamed.contains(&(point_key(p), p.seed.as_str())) {
                p.stream = true;
            }
        }
        let stream_groups = points
            .iter()
            .filter(|p| p.stream)
            .map(point_key)
            .chain(streamed.iter().map(|(k, _)| k.clone()))
            .collect();
        let stream_columns = summary.index(STREAM_MARKER).is_some();

        Ok(Run {
            stream_groups,
            stream_columns,
            dir: dir.to_path_buf(),
            experiment,
            status,
            axes,
            learners,
            devices,
            points,
            metrics: rows,
        })
    }

    /// Every sweep value combination present in the run, in axis-value order (one empty
    /// combination when there are no sweep axes).
    pub fn combinations(&self) -> Vec<Vec<usize>> {
        let mut set: Vec<Vec<usize>> = self.points.iter().map(|p| p.sweep.clone()).collect();
        set.extend(self.metrics.iter().map(|m| m.sweep.clone()));
        set.sort();
        set.dedup();
        if set.is_empty() {
            set.push(vec![0; self.axes.len()]);
        }
        set
    }

    /// Final test accuracy per group, over the replicates that finished (`done`).
    pub fn final_accuracy(&self) -> BTreeMap<GroupKey, FinalAccuracy> {
        let mut groups: BTreeMap<GroupKey, Vec<&Point>> = BTreeMap::new();
        for p in &self.points {
            groups.entry(point_key(p)).or_default().push(p);
        }
        groups
            .into_iter()
            .map(|(k, ps)| {
                let f = FinalAccuracy {
                    accuracy: Stats::of(
                        ps.iter()
                            .filter(|p| p.status == Status::Done)
                            .map(|p| p.test_accuracy),
                    ),
                    points: ps.len(),
                    diverged: ps.iter().filter(|p| p.status == Status::Diverged).count(),
                    other: ps.iter().filter(|p| p.status == Status::Failed).count(),
                };
                (k, f)
            })
            .collect()
    }

    /// Energy per training sample and per inference (joules) per (learner, device), over every
    /// replicate and every sweep value; only finite, positive values count.
    pub fn energy(&self) -> BTreeMap<(usize, usize), (Option<Stats>, Option<Stats>)> {
        let mut groups: BTreeMap<(usize, usize), Vec<&Point>> = BTreeMap::new();
        for p in &self.points {
            groups.entry((p.learner, p.device)).or_default().push(p);
        }
        let positive = |v: f64| if v > 0.0 { v } else { f64::NAN };
        groups
            .into_iter()
            .map(|(k, ps)| {
                let train = Stats::of(ps.iter().map(|p| positive(p.energy_per_sample_j)));
                let infer = Stats::of(ps.iter().map(|p| positive(p.energy_per_inference_j)));
                (k, (train, infer))
            })
            .collect()
    }

    /// `metric` per group and epoch, aggregated over replicates: `(epoch, stats)` sorted by
    /// epoch.
    pub fn per_epoch(&self, metric: &str) -> BTreeMap<GroupKey, Vec<(u32, Stats)>> {
        let mut acc: BTreeMap<GroupKey, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
        for m in self.metrics.iter().filter(|m| m.metric == metric) {
            acc.entry(row_key(m))
                .or_default()
                .entry(m.epoch)
                .or_default()
                .push(m.value);
        }
        acc.into_iter()
            .map(|(k, by)| {
                let v = by
                    .into_iter()
                    .filter_map(|(e, vals)| Stats::of(vals).map(|s| (e, s)))
                    .collect::<Vec<_>>();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// `metric` per group and `time_s`, aggregated over replicates: `(time_s, stats)` sorted
    /// by time (for the `drift_*` metrics, the time after training).
    pub fn per_time(&self, metric: &str) -> BTreeMap<GroupKey, Vec<(f64, Stats)>> {
        let mut acc: BTreeMap<GroupKey, Vec<(f64, Vec<f64>)>> = BTreeMap::new();
        for m in self.metrics.iter().filter(|m| m.metric == metric) {
            if !m.time_s.is_finite() {
                continue;
            }
            let times = acc.entry(row_key(m)).or_default();
            let tol = 1e-9 * m.time_s.abs();
            match times.iter_mut().find(|(t, _)| (t - m.time_s).abs() <= tol) {
                Some((_, vals)) => vals.push(m.value),
                None => times.push((m.time_s, vec![m.value])),
            }
        }
        acc.into_iter()
            .map(|(k, mut times)| {
                times.sort_by(|a, b| a.0.total_cmp(&b.0));
                let v = times
                    .into_iter()
                    .filter_map(|(t, vals)| Stats::of(vals).map(|s| (t, s)))
                    .collect::<Vec<_>>();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// Whether the run has stream points (points that learn a stream of tasks instead of
    /// epochs): `summary.csv` has the stream columns or some point has per-task rows.
    pub fn is_stream(&self) -> bool {
        self.stream_columns || !self.stream_groups.is_empty()
    }

    /// The values of the metrics selected by `select` for each stream group, seed and task:
    /// where several metrics are selected (the layers of a per-layer metric), their finite
    /// values at one task are averaged (NaN when none is finite).
    pub fn per_seed_task(
        &self,
        select: impl Fn(&str) -> bool,
    ) -> BTreeMap<GroupKey, BTreeMap<String, BTreeMap<u32, f64>>> {
        let mut acc: BTreeMap<GroupKey, BTreeMap<String, BTreeMap<u32, Vec<f64>>>> =
            BTreeMap::new();
        for m in self.metrics.iter().filter(|m| select(&m.metric)) {
            let k = row_key(m);
            if !self.stream_groups.contains(&k) {
                continue;
            }
            acc.entry(k)
                .or_default()
                .entry(m.seed.clone())
                .or_default()
                .entry(m.epoch)
                .or_default()
                .push(m.value);
        }
        acc.into_iter()
            .map(|(k, seeds)| {
                let seeds = seeds
                    .into_iter()
                    .map(|(s, tasks)| {
                        let tasks = tasks
                            .into_iter()
                            .map(|(t, v)| (t, Stats::of(v).map_or(f64::NAN, |s| s.mean)))
                            .collect();
                        (s, tasks)
                    })
                    .collect();
                (k, seeds)
            })
            .collect()
    }

    /// [`Run::per_seed_task`] aggregated over seeds: `(task, stats)` per stream group, sorted
    /// by task.
    pub fn per_task(&self, select: impl Fn(&str) -> bool) -> BTreeMap<GroupKey, Vec<(u32, Stats)>> {
        self.per_seed_task(select)
            .into_iter()
            .map(|(k, seeds)| {
                let mut by: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
                for tasks in seeds.values() {
                    for (&t, &v) in tasks {
                        by.entry(t).or_default().push(v);
                    }
                }
                let v = by
                    .into_iter()
                    .filter_map(|(t, vals)| Stats::of(vals).map(|s| (t, s)))
                    .collect::<Vec<_>>();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }

    /// Whether the stream points learn a regression stream: no finite accuracy on any task, a
    /// training loss (the online squared error) on some.
    pub fn stream_is_regression(&self) -> bool {
        let finite = |name: &str| {
            self.metrics
                .iter()
                .any(|m| m.metric == name && m.value.is_finite())
        };
        !self.stream_groups.is_empty() && !finite("test_accuracy") && finite("train_loss")
    }

    /// Whether any `metrics.csv` row has this metric.
    pub fn has_metric(&self, metric: &str) -> bool {
        self.metrics.iter().any(|m| m.metric == metric)
    }

    /// `axis = value` for each axis of a combination, e.g. `["lr = 0.01"]`.
    pub fn describe(&self, combination: &[usize]) -> Vec<String> {
        self.axes
            .iter()
            .zip(combination)
            .map(|(a, &i)| format!("{} = {}", a.short_name(), a.labels[i]))
            .collect()
    }
}

fn point_key(p: &Point) -> GroupKey {
    GroupKey {
        learner: p.learner,
        device: p.device,
        sweep: p.sweep.clone(),
    }
}

fn row_key(m: &MetricRow) -> GroupKey {
    GroupKey {
        learner: m.learner,
        device: m.device,
        sweep: m.sweep.clone(),
    }
}

fn intern(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

fn position(list: &[String], name: &str) -> usize {
    list.iter().position(|n| n == name).expect("interned")
}

fn read_text(path: &Path) -> Result<String, PlotError> {
    std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PlotError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            PlotError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
    })
}

fn malformed(path: &Path, line: Option<u64>, message: impl Into<String>) -> PlotError {
    PlotError::Malformed {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// `(experiment, status, sweep_axes)` from the manifest's text.
/// The manifest's optional `sweep_labels` (empty when absent or malformed).
fn sweep_labels(text: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("sweep_labels")?
                .as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn parse_manifest(path: &Path, text: &str) -> Result<(String, String, Vec<String>), PlotError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| malformed(path, Some(e.line() as u64), e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| malformed(path, None, "expected a JSON object"))?;
    let experiment = obj
        .get("experiment")
        .and_then(|e| e.as_str())
        .ok_or_else(|| malformed(path, None, "field `experiment`: expected a string"))?
        .to_string();
    let status = match obj.get("status") {
        None | Some(serde_json::Value::Null) => "unknown".to_string(),
        Some(s) => s
            .as_str()
            .ok_or_else(|| "expected a string".to_string())
            .and_then(RunStatus::parse)
            .map_err(|m| malformed(path, None, format!("field `status`: {m}")))?
            .to_string(),
    };
    let axes = match obj.get("sweep_axes") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                malformed(
                    path,
                    None,
                    "field `sweep_axes`: expected an array of strings",
                )
            })?,
        Some(_) => {
            return Err(malformed(
                path,
                None,
                "field `sweep_axes`: expected an array of strings",
            ))
        }
    };
    Ok((experiment, status, axes))
}

struct Row {
    line: u64,
    cells: Vec<String>,
}

struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Row>,
}

impl Table {
    fn index(&self, col: &str) -> Option<usize> {
        self.header.iter().position(|h| h == col)
    }
}

/// Column indices common to both tables.
struct Columns {
    learner: usize,
    device: usize,
    seed: usize,
    axes: Vec<usize>,
}

impl Columns {
    fn new(table: &Table, axes: &[String], extra: &[&str]) -> Result<Columns, PlotError> {
        let need = |col: &str| {
            table.index(col).ok_or_else(|| {
                let what = if axes.iter().any(|a| a == col) {
                    " (a sweep axis of manifest.json)"
                } else {
                    ""
                };
                malformed(
                    &table.path,
                    Some(1),
                    format!("missing column `{col}`{what}"),
                )
            })
        };
        for c in extra {
            need(c)?;
        }
        Ok(Columns {
            learner: need(schema::KEY[1])?,
            device: need(schema::KEY[2])?,
            seed: need(schema::SEED)?,
            axes: axes.iter().map(|a| need(a)).collect::<Result<_, _>>()?,
        })
    }
}

fn read_csv(path: &Path) -> Result<Table, PlotError> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| p.line());
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("{len} fields where the header has {expected_len}")
            }
            _ => e.to_string(),
        };
        malformed(path, line, message)
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(str::to_string)
        .collect();
    if header.iter().all(|h| h.is_empty()) {
        return Err(malformed(path, Some(1), "empty file: no header"));
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        rows.push(Row {
            line,
            cells: rec.iter().map(str::to_string).collect(),
        });
    }
    Ok(Table {
        path: path.to_path_buf(),
        header,
        rows,
    })
}

fn parse_f64(path: &Path, line: u64, col: &str, cell: &str) -> Result<f64, PlotError> {
    if cell.is_empty() {
        return Ok(f64::NAN);
    }
    cell.parse::<f64>().map_err(|_| {
        malformed(
            path,
            Some(line),
            format!("column `{col}`: `{cell}` is not a number"),
        )
    })
}

fn parse_u32(path: &Path, line: u64, col: &str, cell: &str) -> Result<u32, PlotError> {
    cell.parse::<u32>().map_err(|_| {
        malformed(
            path,
            Some(line),
            format!("column `{col}`: `{cell}` is not a whole number"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_finite_values() {
        let s = Stats::of([1.0, f64::NAN, 3.0]).unwrap();
        assert_eq!((s.mean, s.std, s.n), (2.0, 2f64.sqrt(), 2));
        assert_eq!(Stats::of([f64::NAN]), None);
        assert_eq!(Stats::of([5.0]).unwrap().std, 0.0);
    }
}
