//! `mortalsim bench`: argument handling and printing; the measuring is
//! [`crate::experiment::bench`].

use super::{hidden_activation, input, load, set_threads};
use crate::data::{default_mnist_dir, Split};
use crate::experiment::bench::{self, BenchPlan};
use crate::net::NetSpec;
use anyhow::Result;
use std::path::PathBuf;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Network sizes, `;`-separated, each as comma-separated widths.
    #[arg(
        long,
        default_value = "784,256,128,10;784,1024,1024,10;784,2048,2048,10"
    )]
    sizes: String,
    /// Learners, comma-separated (a learner that never touches the device is measured once
    /// per size, as `digital`).
    #[arg(long, value_delimiter = ',', default_value = "bp-digital,bp-oracle")]
    learners: Vec<String>,
    /// Devices (preset names or files), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ideal,constant-step")]
    devices: Vec<String>,
    /// Samples per update [default: each learner's recommended batch].
    #[arg(long)]
    batch: Option<usize>,
    /// Least wall time of one timed repeat, seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Timed repeats per configuration; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Hidden activation: relu, tanh, sigmoid (ff needs relu).
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// Directory of an IDX dataset [default: the MNIST shipped in data/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also write the rows as CSV to this file.
    #[arg(long)]
    csv: Option<PathBuf>,
}

/// Runs `bench`.
pub fn bench_command(args: BenchArgs) -> Result<i32> {
    set_threads(args.threads)?;
    if args.batch == Some(0) || args.repeats == 0 {
        return Err(input("--batch and --repeats must be at least 1".into()));
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err(input(format!(
            "--seconds must be a positive number, got {}",
            args.seconds
        )));
    }
    let sizes = args
        .sizes
        .split(';')
        .map(|s| NetSpec::parse_widths(s.trim()).map_err(|e| input(format!("--sizes: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let activation = hidden_activation(&args.activation)?;
    let devices = args
        .devices
        .iter()
        .map(|d| load(d))
        .collect::<Result<Vec<_>>>()?;
    if devices.is_empty() || args.learners.is_empty() {
        return Err(input(
            "--devices and --learners must name at least one".into(),
        ));
    }
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| default_mnist_dir().to_path_buf());
    let (train_set, _) = Split::load_dir(&dir).map_err(|e| input(e.to_string()))?;
    for w in &sizes {
        if w[0] != train_set.input_width() || *w.last().unwrap() < train_set.classes() {
            return Err(input(format!(
                "--sizes: {w:?} does not fit the data ({} inputs, {} classes)",
                train_set.input_width(),
                train_set.classes()
            )));
        }
        crate::memory::check(
            &format!("--sizes {w:?}"),
            crate::memory::network_bytes(w, 3),
        )
        .map_err(input)?;
    }
    let plan = BenchPlan {
        sizes,
        learners: args.learners,
        devices,
        batch: args.batch,
        seconds: args.seconds,
        repeats: args.repeats,
        activation,
        seed: 1,
    };
    let threads = rayon::current_num_threads();
    eprintln!(
        "benchmark on {threads} thread(s), {} s per repeat, median of {}",
        plan.seconds, plan.repeats
    );
    let rows = bench::run(&plan, &train_set, |r| {
        eprintln!(
            "{:?} {} on {}: {:.0} samples/s, {:.2}× the float baseline",
            r.widths, r.learner, r.device, r.samples_per_s, r.time_vs_baseline
        );
    })
    .map_err(input)?;
    out!("{}", bench::markdown(&rows));
    if let Some(path) = args.csv {
        let mut w =
            csv::Writer::from_path(&path).map_err(|e| input(format!("{}: {e}", path.display())))?;
        for r in &rows {
            w.serialize(CsvRow::from(r))?;
        }
        w.flush()?;
    }
    Ok(0)
}

/// A row of the CSV (flat: widths joined with `-`).
#[derive(serde::Serialize)]
struct CsvRow<'a> {
    layers: String,
    weights: usize,
    chip_weights: usize,
    learner: &'a str,
    device: &'a str,
    batch: usize,
    samples: usize,
    samples_per_s: f64,
    ns_per_weight_sample: f64,
    bytes_per_weight: f64,
    peak_resident_bytes: Option<u64>,
    baseline_samples_per_s: f64,
    time_vs_baseline: f64,
    threads: usize,
}

impl<'a> From<&'a bench::BenchRow> for CsvRow<'a> {
    fn from(r: &'a bench::BenchRow) -> Self {
        CsvRow {
            layers: r
                .widths
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-"),
            weights: r.weights,
            chip_weights: r.chip_weights,
            learner: &r.learner,
            device: &r.device,
            batch: r.batch,
            samples: r.samples,
            samples_per_s: r.samples_per_s,
            ns_per_weight_sample: r.ns_per_weight_sample,
            bytes_per_weight: r.bytes_per_weight,
            peak_resident_bytes: r.peak_resident_bytes,
            baseline_samples_per_s: r.baseline_samples_per_s,
            time_vs_baseline: r.time_vs_baseline,
            threads: rayon::current_num_threads(),
        }
    }
}
