//! The command-line interface (clap), part of the library so that a crate with a learning rule
//! of its own gets the whole of it from a three-line `main` ([`main_with`]). Only argument
//! handling and printing live here; the work is done by the other rooms.
use crate::crossbar::Tile;
use crate::device::{presets, Device, DeviceError};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;

/// `println!` that ends the process quietly, with status 0, when stdout has been closed
/// (`mortalsim run FILE --list | head`), as a Unix tool stopped by SIGPIPE does, where
/// `println!` would panic; any other write error ends it with status 1.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("error: writing to stdout: {e}");
                std::process::exit(1);
            }
            std::process::exit(0);
        }
    }};
}

mod bench;
mod experiment;

/// mortalsim: a simulator of analog in-memory hardware that learns while it ages.
#[derive(Debug, Parser)]
#[command(name = "mortalsim", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Device presets and device files.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Train one network with one learner on one device and report test accuracy per epoch.
    Train(Box<TrainArgs>),
    /// Run an experiment file (learners × devices × sweep values × seeds) into a run
    /// directory; a rerun skips finished points.
    Run(experiment::RunArgs),
    /// Join the run directories of shards into one and report missing points.
    Merge(experiment::MergeArgs),
    /// Draw the figures (SVG, PNG) and summary.md of a run directory; prints each file written.
    Plot(PlotArgs),
    /// The registered learning rules with their recommended learning rate and batch.
    Learners,
    /// Training speed and memory per size, learner and device, with the ratio to a bare float
    /// baseline measured in the same run (the numbers to quote).
    Bench(bench::BenchArgs),
}

#[derive(Debug, clap::Args)]
struct PlotArgs {
    /// The run directory (manifest.json, summary.csv, metrics.csv).
    run_dir: std::path::PathBuf,
    /// Output directory [default: RUN_DIR/plots].
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Image formats, comma-separated: svg, png.
    #[arg(long, value_delimiter = ',', default_value = "svg,png")]
    format: Vec<crate::plot::Format>,
}

#[derive(Debug, clap::Args)]
struct TrainArgs {
    /// Learning rule: a registered learner's name (`mortalsim learners` lists them: bp-digital,
    /// bp-oracle, bp-mirror, fa, dfa, sg, ff, dtp and any rule the program registered).
    #[arg(long)]
    learner: String,
    /// A device preset name or a device file (ignored by bp-digital, which has no device).
    #[arg(long, default_value = "ideal")]
    device: String,
    /// Layer widths from input to output; the input width must match the data.
    #[arg(long, default_value = "784,500,500,10")]
    layers: String,
    /// Where each layer's weights live, input side first, comma-separated, one per weight
    /// matrix: `device` (the --device), `digital` (a float matrix off the crossbars), or another
    /// device preset or file, e.g. `digital,device,digital` [default: every layer on --device].
    #[arg(long)]
    layer_devices: Option<String>,
    /// Hidden activation: relu, tanh, sigmoid.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Samples per update [default: the learner's recommended batch].
    #[arg(long)]
    batch: Option<usize>,
    /// Learning rate [default: the learner's recommended rate].
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Learning-rate schedule: constant, cosine (annealed to 0 over the run), or cooldown
    /// (constant for the first half, then linear to 0).
    #[arg(long, default_value = "constant")]
    lr_schedule: String,
    /// Master seed (weights, device fabrication, data order).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use only the first N training samples.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use only the first N test samples.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Directory of an IDX dataset (train-/t10k- images and labels, gzipped or raw)
    /// [default: the MNIST shipped in data/mnist].
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Worker threads [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// End with one JSON line summarising the run.
    #[arg(long)]
    json: bool,
    /// fa, dfa, sg: activity penalty λ on the hidden layers, (λ/2)·mean ‖h‖² (0 = off) [default: 0].
    #[arg(long)]
    activity_l2: Option<f32>,
    /// SGD momentum μ of every trained matrix, as torch.optim.SGD; on tiles each step becomes a
    /// full-matrix write (one update cycle per input line) [default: 0].
    #[arg(long)]
    momentum: Option<f32>,
    /// Dampening τ of the momentum, v ← μ·v + (1 − τ)·g [default: 0].
    #[arg(long)]
    dampening: Option<f32>,
    /// Update scheme of the network's layers: sgd (the plain pulsed update), mixed-precision,
    /// tiki-taka, ttv2 or c-ttv2, with aihwkit's defaults (options in an experiment file's
    /// `[train.scheme]`); not for bp-digital, which has no device.
    #[arg(long, default_value = "sgd")]
    update: String,
    /// ff: goodness threshold per unit (θ = value × layer width for the sum measure, the value
    /// itself for the mean) [default: the learner's].
    #[arg(long)]
    ff_theta: Option<f32>,
    /// ff: goodness measure, sum or mean of squares [default: the learner's].
    #[arg(long)]
    ff_measure: Option<String>,
    /// ff: negative labels, random or hard [default: the learner's].
    #[arg(long)]
    ff_negatives: Option<String>,
    /// ff: inference, goodness (over all labels) or head (one-pass softmax) [default: the
    /// learner's].
    #[arg(long)]
    ff_inference: Option<String>,
    /// ff: peer-normalisation strength λ, 0 = off [default: the learner's].
    #[arg(long)]
    ff_peer_lambda: Option<f32>,
    /// ff: head learning rate relative to --lr [default: the learner's].
    #[arg(long)]
    ff_head_lr_factor: Option<f32>,
    /// ff: value of the one-hot label pixel [default: the learner's].
    #[arg(long)]
    ff_label_value: Option<f32>,
    /// ff: temperature T of the logistic p = σ((G − θ)/T) [default: the learner's].
    #[arg(long)]
    ff_temperature: Option<f32>,
    /// ff: goodness inference also counts the first hidden layer (true or false) [default: the
    /// learner's].
    #[arg(long)]
    ff_score_first_layer: Option<bool>,
    /// A rule's own option, KEY=VALUE, as `[learner.NAME.options.rule]` of an experiment file
    /// would give it (VALUE in TOML: 0.5, true, "text"; a bare word is a string); repeatable,
    /// e.g. `--rule top_step=0.5 --rule inverse_steps=2` for dtp.
    #[arg(long = "rule", value_name = "KEY=VALUE")]
    rule: Vec<String>,
    /// Save the trained weights and biases to FILE (safetensors, readable by PyTorch); an analog
    /// network is read out first (one-hot reads, counted).
    #[arg(long, value_name = "FILE")]
    save_weights: Option<std::path::PathBuf>,
    /// Start from the weights and biases in FILE (safetensors, as --save-weights writes them)
    /// instead of the seed's initial weights; its shapes must match --layers.
    #[arg(long, value_name = "FILE")]
    load_weights: Option<std::path::PathBuf>,
}

/// A kebab-case option value (`hard`, `head`, ...) as the enum `T` of the library.
fn parse_choice<T: serde::de::DeserializeOwned>(flag: &str, value: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|e| input(format!("--{flag} `{value}`: {e}")))
}

/// The learner options the `train` flags give.
fn learner_options(args: &TrainArgs) -> Result<crate::learn::Options> {
    let mut o = crate::learn::Options::default();
    if let Some(v) = args.activity_l2 {
        // Checked by `learn::build`, like every learner option.
        o.activity_l2 = v;
    }
    if let Some(v) = args.momentum {
        o.momentum = v;
    }
    if let Some(v) = args.dampening {
        o.dampening = v;
    }
    o.update = crate::net::UpdateScheme::named(
        crate::net::SchemeName::parse(&args.update).map_err(|m| input(format!("--update: {m}")))?,
    );
    let ff = &mut o.ff;
    if let Some(v) = args.ff_theta {
        ff.theta_per_unit = v;
    }
    if let Some(v) = &args.ff_measure {
        ff.measure = parse_choice("ff-measure", v)?;
    }
    if let Some(v) = &args.ff_negatives {
        ff.negatives = parse_choice("ff-negatives", v)?;
    }
    if let Some(v) = &args.ff_inference {
        ff.inference = parse_choice("ff-inference", v)?;
    }
    if let Some(v) = args.ff_peer_lambda {
        ff.peer_lambda = v;
    }
    if let Some(v) = args.ff_head_lr_factor {
        ff.head_lr_factor = v;
    }
    if let Some(v) = args.ff_label_value {
        ff.label_value = v;
    }
    if let Some(v) = args.ff_temperature {
        ff.temperature = v;
    }
    if let Some(v) = args.ff_score_first_layer {
        ff.score_first_layer = v;
    }
    ff.validate().map_err(input)?;
    for option in &args.rule {
        let (key, value) = rule_option(option)?;
        o.rule.insert(key, value);
    }
    Ok(o)
}

/// One `--rule KEY=VALUE`: the key and its value read as TOML (a bare word as a string).
fn rule_option(option: &str) -> Result<(String, toml::Value)> {
    let Some((key, text)) = option.split_once('=') else {
        return Err(input(format!("--rule `{option}`: expected KEY=VALUE")));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(input(format!("--rule `{option}`: the key is empty")));
    }
    let text = text.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) => t
            .remove("v")
            .expect("the table has the key it was written with"),
        Err(_) => toml::Value::String(text.to_string()),
    };
    Ok((key.to_string(), value))
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Every preset with a one-line description.
    List,
    /// All parameters of a device, resolved with defaults, with units.
    Show {
        /// A preset name or a device file.
        device: String,
    },
    /// Validate device files; exit 0 when all are valid, 2 otherwise.
    Check {
        /// Device files (or preset names).
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// The standard device-response experiment: cells start at weight 0, receive N up pulses
    /// then N down pulses; writes CSV `pulse,direction,mean,std` (mean and std over cells).
    Response {
        /// A preset name or a device file.
        device: String,
        /// Pulses in each direction [default: 1.2 × the device's number of states, at most 100000].
        #[arg(long)]
        pulses: Option<usize>,
        /// Number of cells.
        #[arg(long, default_value_t = 1000)]
        cells: usize,
        /// Seed of the cells' fabrication and noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output CSV file [default: standard output].
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// An error that is the user's input: exit code 2.
#[derive(Debug)]
pub(crate) struct InputError(pub(crate) String);
impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for InputError {}

/// The `--activation` of hidden layers: relu, tanh or sigmoid.
fn hidden_activation(name: &str) -> Result<crate::net::Activation> {
    use crate::net::Activation;
    Activation::parse(name)
        .filter(|a| *a != Activation::Identity)
        .ok_or_else(|| {
            input(format!(
                "--activation `{name}`: expected relu, tanh or sigmoid"
            ))
        })
}

/// Loads a device, printing its warnings (unusual values) to stderr.
fn load(device: &str) -> Result<Device> {
    let (d, warnings) =
        Device::load_with_warnings(device).map_err(|e: DeviceError| InputError(e.to_string()))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok(d)
}

/// Runs the command line with the rules of `entries` registered beside the built-in ones
/// ([`crate::learn::registry::register`]): a crate with a rule of its own gets the whole
/// command line — `run`, `plot`, `merge`, `train`, `learners`, `--list`, shards — from
///
/// ```no_run
/// # fn my_rule() -> mortalsim::learn::registry::Entry { unimplemented!() }
/// fn main() {
///     std::process::exit(mortalsim::cli::main_with(&[my_rule()]));
/// }
/// ```
///
/// Returns the process exit code (0 ok, 2 bad input, e.g. a name clash, 1 other failure).
pub fn main_with(entries: &[crate::learn::registry::Entry]) -> i32 {
    run_with(entries, std::env::args_os())
}

/// Runs the command line; returns the process exit code (0 ok, 2 bad input, 1 other failure).
pub fn main() -> i32 {
    run_with(&[], std::env::args_os())
}

/// As [`main_with`], with the arguments given (the program's name first), e.g. from a test.
pub fn run_with<I, T>(entries: &[crate::learn::registry::Entry], args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    for &e in entries {
        if let Err(m) = crate::learn::registry::register(e) {
            eprintln!("error: {m}");
            return 2;
        }
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<InputError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Train(args) => train(*args),
        Command::Run(args) => experiment::run_command(args),
        Command::Merge(args) => experiment::merge_command(args),
        Command::Plot(args) => plot(args),
        Command::Bench(args) => bench::bench_command(args),
        Command::Learners => {
            for e in crate::learn::registry::entries() {
                out!(
                    "{:<14} lr {:<6} batch {:<4} {}",
                    e.name,
                    e.recommended.lr,
                    e.recommended.batch,
                    e.summary
                );
            }
            Ok(0)
        }
        Command::Devices(DevicesCommand::List) => {
            for name in presets::names() {
                let d = load(name)?;
                out!("{name:<18} {}", d.spec.description);
            }
            Ok(0)
        }
        Command::Devices(DevicesCommand::Show { device }) => {
            let d = load(&device)?;
            print!("{}", show(&d)?);
            Ok(0)
        }
        Command::Devices(DevicesCommand::Check { files }) => {
            let mut bad = 0;
            for f in &files {
                match Device::load_with_warnings(f) {
                    Ok((_, warnings)) => {
                        out!("ok      {f}");
                        for w in warnings {
                            eprintln!("warning: {w}");
                        }
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            if bad > 0 {
                eprintln!("{bad} of {} device files invalid", files.len());
                Ok(2)
            } else {
                Ok(0)
            }
        }
        Command::Devices(DevicesCommand::Response {
            device,
            pulses,
            cells,
            seed,
            out,
        }) => {
            let d = load(&device)?;
            if matches!(d.shape, crate::device::Shape::Ideal) {
                return Err(InputError(format!(
                    "{device}: floating-point cells have no pulse response (their updates are exact)"
                ))
                .into());
            }
            if cells == 0 {
                return Err(InputError("--cells must be at least 1".into()).into());
            }
            let n = match pulses {
                Some(n) => n,
                None => ((1.2 * d.states()).ceil() as usize).clamp(10, 100_000),
            };
            let csv = response_csv(&d, n, cells, seed)?;
            match out {
                Some(path) => std::fs::write(&path, csv)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => std::io::stdout().write_all(csv.as_bytes())?,
            }
            Ok(0)
        }
    }
}

pub(crate) fn input(msg: String) -> anyhow::Error {
    InputError(msg).into()
}

fn plot(args: PlotArgs) -> Result<i32> {
    let out = args.out.unwrap_or_else(|| args.run_dir.join("plots"));
    let files = crate::plot::plot_run(&args.run_dir, &out, &args.format).map_err(|e| {
        if e.is_input() {
            input(e.to_string())
        } else {
            anyhow::Error::new(e)
        }
    })?;
    for f in files {
        out!("{}", f.display());
    }
    Ok(0)
}

/// Sets the size of the global thread pool (`--threads`).
pub(crate) fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        if t == 0 {
            return Err(input("--threads must be at least 1".into()));
        }
        // More threads than cores only adds switching; thousands exhaust the process's limits.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let most = 4 * cores;
        if t > most {
            return Err(input(format!(
                "--threads {t}: this machine has {cores} cores; use at most {most}"
            )));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .context("cannot set up the thread pool")?;
    }
    Ok(())
}

fn train(args: TrainArgs) -> Result<i32> {
    use crate::data::{default_mnist_dir, Split};
    use crate::experiment::{train, TrainConfig};
    use crate::learn;
    use crate::net::NetSpec;

    set_threads(args.threads)?;
    let recommended = learn::registry::lookup(&args.learner)
        .map_err(|m| input(format!("--learner: {m}")))?
        .recommended;
    let batch = args.batch.unwrap_or(recommended.batch);
    let lr = args.lr.unwrap_or(recommended.lr);
    if batch == 0 || args.epochs == 0 {
        return Err(input("--batch and --epochs must be at least 1".into()));
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(input(format!("--lr must be a positive number, got {lr}")));
    }
    let widths = NetSpec::parse_widths(&args.layers).map_err(input)?;
    let activation = hidden_activation(&args.activation)?;
    let device = load(&args.device)?;
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| default_mnist_dir().to_path_buf());
    let (train_set, test_set) = Split::load_dir(&dir).map_err(|e| input(e.to_string()))?;
    if args.train_limit == Some(0) || args.test_limit == Some(0) {
        return Err(input(
            "--train-limit and --test-limit must be at least 1 sample".into(),
        ));
    }
    let train_set = match args.train_limit {
        Some(n) => train_set.subset(n),
        None => train_set,
    };
    let test_set = match args.test_limit {
        Some(n) => test_set.subset(n),
        None => test_set,
    };
    if widths[0] != train_set.input_width() {
        return Err(input(format!(
            "--layers starts with {} inputs but the data has {} ({}×{} images)",
            widths[0],
            train_set.input_width(),
            train_set.rows(),
            train_set.cols()
        )));
    }
    if *widths.last().unwrap() < train_set.classes() {
        return Err(input(format!(
            "--layers ends with {} outputs but the data has {} classes",
            widths.last().unwrap(),
            train_set.classes()
        )));
    }
    let (layer_devices, layer_labels) = match &args.layer_devices {
        None => (Vec::new(), Vec::new()),
        Some(list) => parse_layer_devices(list, &device.spec.name)?,
    };
    let spec = NetSpec {
        layer_devices,
        ..NetSpec::new(widths, activation)
    };
    spec.check_layers()
        .map_err(|m| input(format!("--layer-devices: {m}")))?;
    let options = learner_options(&args)?;
    let mut learner =
        learn::build(&args.learner, &spec, &device, args.seed, &options).map_err(input)?;
    if let Some(path) = &args.load_weights {
        crate::net::NetworkWeights::load(path)
            .and_then(|w| w.write_into(learner.network()))
            .map_err(|e| input(format!("--load-weights: {e}")))?;
    }
    let device_name = if args.learner == "bp-digital" {
        "none".to_string()
    } else if spec.is_mixed() {
        layer_labels.join("/")
    } else {
        device.spec.name.clone()
    };
    eprintln!(
        "training {} on {} · layers {} {} · {} train / {} test samples · batch {} · lr {}",
        args.learner,
        device_name,
        args.layers,
        args.activation,
        train_set.len(),
        test_set.len(),
        batch,
        lr
    );
    let schedule = crate::experiment::Schedule::parse(&args.lr_schedule).ok_or_else(|| {
        input(format!(
            "--lr-schedule `{}`: expected constant, cosine or cooldown",
            args.lr_schedule
        ))
    })?;
    let cfg = TrainConfig {
        epochs: args.epochs,
        batch,
        lr,
        seed: args.seed,
        schedule,
        idle_s_per_sample: 0.0,
        countermeasures: Default::default(),
    };
    let report = train(&mut *learner, &train_set, &test_set, &cfg, |e| {
        out!(
            "epoch {:>3}  test accuracy {:6.2} %  test loss {:.4}  train loss {:.4}  {:>8.0} samples/s  {:.3e} J/sample{}",
            e.epoch,
            100.0 * e.test_accuracy,
            e.test_loss,
            e.train_loss,
            e.samples_per_s,
            e.energy_per_sample_j,
            if e.diverged { "  DIVERGED" } else { "" }
        );
    });
    if let Some(e) = report.epochs.last().filter(|e| e.diverged) {
        eprintln!(
            "warning: training diverged in epoch {} (a non-finite loss, or a loss that exploded \
             to over {}× its first batch's while test accuracy sits at chance); {}'s \
             recommended settings are lr {} and batch {} (`mortalsim learners`)",
            e.epoch,
            crate::experiment::train::EXPLOSION_FACTOR,
            args.learner,
            recommended.lr,
            recommended.batch
        );
    }
    if let Some(path) = &args.save_weights {
        crate::net::NetworkWeights::read_out(learner.network())
            .save(path)
            .map_err(|e| input(format!("--save-weights: {e}")))?;
        eprintln!("weights saved to {}", path.display());
    }
    if args.json {
        let last = report.epochs.last().expect("at least one epoch");
        let total_samples = (train_set.len() * report.epochs.len()) as f64;
        let secs: f64 = report.epochs.iter().map(|e| e.train_seconds).sum();
        let c = learner.counters();
        let summary = serde_json::json!({
            "learner": args.learner,
            "device": device_name,
            "layers": spec.widths,
            "activation": args.activation,
            "epochs": report.epochs.len(),
            "batch": batch,
            "lr": format!("{lr}").parse::<f64>().unwrap_or(lr as f64),
            "seed": args.seed,
            "train_samples": train_set.len(),
            "test_samples": test_set.len(),
            "test_accuracy": last.test_accuracy,
            "test_accuracy_per_epoch": report.epochs.iter().map(|e| e.test_accuracy).collect::<Vec<_>>(),
            "test_loss_per_epoch": report.epochs.iter().map(|e| e.test_loss).collect::<Vec<_>>(),
            "samples_per_s": total_samples / secs.max(1e-12),
            "energy_per_sample_j": report.epochs.iter().map(|e| e.energy_per_sample_j).sum::<f64>() / report.epochs.len() as f64,
            "energy_per_inference_j": last.energy_per_inference_j,
            "diverged": last.diverged,
            "oracle_reads": c.oracle_reads,
            "coincidences": c.coincidences,
            "programming_pulses": c.programming_pulses,
        });
        let mut summary = summary;
        if args.learner == "ff" {
            summary["ff"] = serde_json::to_value(&options.ff)?;
        }
        out!("{summary}");
    }
    Ok(0)
}

/// `--layer-devices`: each layer's place, and its label (`device` shown as `device_name`).
fn parse_layer_devices(
    list: &str,
    device_name: &str,
) -> Result<(Vec<crate::net::LayerDevice>, Vec<String>)> {
    let mut devices = Vec::new();
    let mut labels = Vec::new();
    for (i, part) in list.split(',').map(str::trim).enumerate() {
        let (label, d) = crate::experiment::file::layer_device_entry(
            &toml::Value::String(part.to_string()),
            &Default::default(),
        )
        .map_err(|m| input(format!("--layer-devices, layer {i} (`{part}`): {m}")))?;
        labels.push(if label.is_empty() {
            device_name.to_string()
        } else {
            label
        });
        devices.push(d);
    }
    Ok((devices, labels))
}

/// The resolved device as TOML, with a header giving units and derived figures.
fn show(d: &Device) -> Result<String> {
    let body = toml::to_string(&d.spec).context("cannot format the device")?;
    let mut s = String::new();
    s.push_str(&format!("# {} — {}\n", d.spec.name, d.spec.description));
    s.push_str(
        "# Units: weights, steps, bounds and noise std in normalised weight units unless noted;\n",
    );
    s.push_str("# *_dtod and dw_min_std are relative; write_noise_std is in units of dw_min;\n");
    s.push_str(
        "# *_us microsiemens, *_s seconds, *_j joules, *_pulses pulses, *_per_s per second.\n",
    );
    if !matches!(d.shape, crate::device::Shape::Ideal) {
        s.push_str(&format!(
            "# Derived: states (w_max − w_min)/dw_min = {:.0}; weight scale {} ↔ {} µS above g_min.\n",
            d.states(),
            d.w_scale(),
            d.spec.conductance.g_max_us - d.spec.conductance.g_min_us
        ));
    }
    s.push('\n');
    s.push_str(&body);
    if d.spec.readout.is_default() {
        // Left out of the serialised file while default (its fingerprint stays as it was);
        // shown here with its defaults all the same.
        s.push_str(&format!(
            "\n[readout]\n{}# adc_bits, out_bound: the periphery's\n",
            toml::to_string(&d.spec.readout).context("cannot format the device")?
        ));
    }
    Ok(s)
}

/// Runs the response experiment and formats it as CSV.
fn response_csv(d: &Device, pulses: usize, cells: usize, seed: u64) -> Result<String> {
    // The cells, and the CSV held in memory until written (about 48 bytes a row).
    let bytes = (cells as u64)
        .saturating_mul(crate::memory::BYTES_PER_WEIGHT)
        .saturating_add((pulses as u64).saturating_mul(2 * 48));
    crate::memory::check(
        &format!("the response of {cells} cells to {pulses} pulses each way"),
        bytes,
    )
    .map_err(input)?;
    let mut tile = Tile::new(d, 1, cells, seed);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["pulse", "direction", "mean", "std"])?;
    for (dir, up) in [("up", true), ("down", false)] {
        for p in 1..=pulses {
            tile.pulse_all(up);
            let weights = tile.inspect_weights();
            let n = weights.len() as f64;
            let mean = weights.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = weights
                .iter()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            w.write_record([
                p.to_string(),
                dir.to_string(),
                mean.to_string(),
                var.sqrt().to_string(),
            ])?;
        }
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    if bytes.is_empty() {
        bail!("no output");
    }
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
