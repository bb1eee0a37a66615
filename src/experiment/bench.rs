//! Speed and memory as a user quotes them in a paper (`mortalsim bench`): for each network size,
//! device and learner, training samples per second, nanoseconds per weight per sample, resident
//! bytes per weight, and the ratio of the time per sample to a bare float baseline measured in
//! the same run — the single-precision products of a digital training step (forward W·x,
//! backward Wᵀ·δ on every layer but the first, update W ← W − lr·δ·xᵀ), on the same threads. Ratios against
//! that baseline are what compare across machines; absolute rates do not.

use crate::data::Dataset;
use crate::device::Device;
use crate::kernel::{par_gemm, par_matmul, par_tr_matmul};
use crate::learn::{self, Learner, Options};
use crate::net::{Activation, NetSpec};
use nalgebra::DMatrix;
use std::time::Instant;

/// One measured configuration.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    /// Layer widths, input first.
    pub widths: Vec<usize>,
    /// Learner name.
    pub learner: String,
    /// Device name (`digital` for a learner that never touches the device).
    pub device: String,
    /// Samples per update.
    pub batch: usize,
    /// Samples trained in the timed part.
    pub samples: usize,
    /// Training samples per second (median over repeats).
    pub samples_per_s: f64,
    /// Weights of the forward network.
    pub weights: usize,
    /// Weights of every array on the chip (forward, feedback, mirror, module).
    pub chip_weights: usize,
    /// Wall time per forward weight per sample, nanoseconds.
    pub ns_per_weight_sample: f64,
    /// Heap memory of the chip's arrays (cells, caches, float matrices) per chip weight, bytes.
    pub bytes_per_weight: f64,
    /// Peak resident memory of the process so far, bytes (None where the operating system does
    /// not say).
    pub peak_resident_bytes: Option<u64>,
    /// Samples per second of the float baseline at this size and batch.
    pub baseline_samples_per_s: f64,
    /// Time per sample relative to the baseline's (1 = as fast as three bare sgemm per layer).
    pub time_vs_baseline: f64,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// Network sizes.
    pub sizes: Vec<Vec<usize>>,
    /// Learner names.
    pub learners: Vec<String>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Samples per update (None: each learner's recommended batch).
    pub batch: Option<usize>,
    /// Least wall time of one timed repeat, seconds (at least two batches are trained).
    pub seconds: f64,
    /// Timed repeats per configuration (the median is reported).
    pub repeats: usize,
    /// Hidden activation.
    pub activation: Activation,
    /// Master seed.
    pub seed: u64,
}

/// Peak resident set size of this process, bytes (Linux `/proc/self/status` VmHWM; None
/// elsewhere).
pub fn peak_resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Samples per second of the float baseline: per layer and batch, W·x, Wᵀ·δ (not on the first
/// layer) and W ← W − lr·δ·xᵀ with the simulator's own kernels, repeated for at least
/// `seconds`.
pub fn baseline_samples_per_s(widths: &[usize], batch: usize, seconds: f64) -> f64 {
    let mut ws: Vec<DMatrix<f32>> = widths
        .windows(2)
        .map(|p| DMatrix::from_fn(p[1], p[0], |i, j| ((i * 7 + j * 3) % 13) as f32 * 1e-3))
        .collect();
    let xs: Vec<DMatrix<f32>> = widths
        .iter()
        .map(|&n| DMatrix::from_fn(n, batch, |i, b| ((i + b) % 5) as f32 * 0.1))
        .collect();
    let step = |ws: &mut [DMatrix<f32>]| {
        for (l, w) in ws.iter_mut().enumerate() {
            let y = par_matmul(w, &xs[l]);
            std::hint::black_box(&y);
            // The first layer's input needs no teaching signal: no backward product there.
            if l > 0 {
                std::hint::black_box(par_tr_matmul(w, &xs[l + 1]));
            }
            par_gemm(w, -1e-6, &xs[l + 1], &xs[l].transpose(), 1.0);
        }
    };
    step(&mut ws);
    let start = Instant::now();
    let mut batches = 0usize;
    while batches < 2 || start.elapsed().as_secs_f64() < seconds {
        step(&mut ws);
        batches += 1;
    }
    (batches * batch) as f64 / start.elapsed().as_secs_f64()
}

/// Trains `learner` on consecutive batches of `data` (wrapping around) for at least `seconds`
/// and two batches; returns (samples, seconds).
fn time_training(
    learner: &mut dyn Learner,
    data: &Dataset,
    batch: usize,
    lr: f32,
    seconds: f64,
) -> (usize, f64) {
    let n = data.len();
    let mut next = 0usize;
    let batch_at = |next: &mut usize| {
        let idx: Vec<usize> = (0..batch).map(|k| (*next + k) % n).collect();
        *next = (*next + batch) % n;
        data.batch(&idx)
    };
    // One untimed batch: first-touch allocations and caches.
    let b = batch_at(&mut next);
    learner.step(&b.inputs, &b.labels, lr);
    let batches: Vec<_> = (0..8).map(|_| batch_at(&mut next)).collect();
    let start = Instant::now();
    let mut done = 0usize;
    while done < 2 || start.elapsed().as_secs_f64() < seconds {
        let b = &batches[done % batches.len()];
        learner.step(&b.inputs, &b.labels, lr);
        done += 1;
    }
    (done * batch, start.elapsed().as_secs_f64())
}

/// Measures every (size, device, learner) of `plan` on `data`, calling `each` with every row
/// as it is measured. A learner that never touches the device (`bp-digital`) is measured once
/// per size, under the device name `digital`.
pub fn run(
    plan: &BenchPlan,
    data: &Dataset,
    mut each: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>, String> {
    let mut rows = Vec::new();
    for widths in &plan.sizes {
        let spec = NetSpec::new(widths.clone(), plan.activation);
        let weights: usize = widths.windows(2).map(|p| p[0] * p[1]).sum();
        let mut baselines: Vec<(usize, f64)> = Vec::new();
        for learner_name in &plan.learners {
            let entry = learn::registry::lookup(learner_name)?;
            let batch = plan.batch.unwrap_or(entry.recommended.batch);
            let lr = entry.recommended.lr;
            let digital = learner_name == "bp-digital";
            let devices: Vec<&Device> = if digital {
                plan.devices.iter().take(1).collect()
            } else {
                plan.devices.iter().collect()
            };
            for device in devices {
                let baseline = match baselines.iter().find(|(b, _)| *b == batch) {
                    Some(&(_, v)) => v,
                    None => {
                        let v = baseline_samples_per_s(widths, batch, plan.seconds);
                        baselines.push((batch, v));
                        v
                    }
                };
                let mut rates = Vec::new();
                let mut samples = 0;
                let mut bytes = 0;
                let mut chip_weights = 0;
                for _ in 0..plan.repeats.max(1) {
                    let mut learner =
                        learn::build(learner_name, &spec, device, plan.seed, &Options::default())?;
                    let arrays = || learner.chip().arrays();
                    chip_weights = arrays().map(|(_, l)| l.rows() * l.cols()).sum();
                    bytes = arrays().map(|(_, l)| l.heap_bytes()).sum();
                    let (n, secs) = time_training(&mut *learner, data, batch, lr, plan.seconds);
                    samples = n;
                    rates.push(n as f64 / secs);
                }
                rates.sort_by(f64::total_cmp);
                let rate = rates[rates.len() / 2];
                let row = BenchRow {
                    widths: widths.clone(),
                    learner: learner_name.clone(),
                    device: if digital {
                        "digital".into()
                    } else {
                        device.spec().name.clone()
                    },
                    batch,
                    samples,
                    samples_per_s: rate,
                    weights,
                    chip_weights,
                    ns_per_weight_sample: 1e9 / (rate * weights as f64),
                    bytes_per_weight: bytes as f64 / chip_weights.max(1) as f64,
                    peak_resident_bytes: peak_resident_bytes(),
                    baseline_samples_per_s: baseline,
                    time_vs_baseline: baseline / rate,
                };
                each(&row);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[BenchRow]) -> String {
    let mut s = String::from(
        "| layers | weights | learner | device | batch | samples/s | ns per weight per sample | \
         bytes per weight | float baseline samples/s | time vs baseline |\n\
         | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.3} | {:.1} | {:.0} | {:.2}× |\n",
            r.widths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-"),
            r.weights,
            r.learner,
            r.device,
            r.batch,
            r.samples_per_s,
            r.ns_per_weight_sample,
            r.bytes_per_weight,
            r.baseline_samples_per_s,
            r.time_vs_baseline
        );
    }
    s
}
