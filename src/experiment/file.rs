//! Experiment files (`experiments/*.toml`): one comparison — learners × devices × sweep values ×
//! seeds — checked once into an [`Experiment`] whose points are all resolved (devices built and
//! validated) before anything runs, so that a typo fails in a second, not after an hour.
//!
//! ```toml
//! name = "faults"                       # default: the file's stem
//! learners = ["bp-oracle", "dfa"]
//! devices = ["ideal", { preset = "constant-step", label = "cs-6bit", periphery = { adc_bits = 6 } }]
//! seeds = [1, 2, 3]
//!
//! [data]                                # default: the MNIST shipped in data/mnist
//! train_limit = 10000
//!
//! [network]
//! hidden = [500, 500]
//! activation = "relu"
//! layer_devices = ["digital", "device", "digital"]   # default: every layer on the device
//!
//! [train]
//! epochs = 10
//! batch = 32
//! lr = 0.05
//!
//! [learner.ff]                          # per-learner overrides of [train], and learner options
//! lr = 0.003
//! options = { feedback_digital = false }
//!
//! [learner.dfa-digital-b]                # a labelled variant (listed in `learners`) of a rule
//! learner = "dfa"
//! options = { feedback_digital = true }
//!
//! [evaluate]
//! drift_times_s = [1, 3600, 86400, 3.15e7]
//!
//! [[sweep]]
//! path = "device.failure.stuck_at_min_fraction"
//! values = [0.0, 0.01, 0.05]
//! ```

use super::deploy::{DeployPlan, DeploySection};
use super::lifetime::StreamSection;
use super::train::Countermeasures;
use crate::config_file::{parse_toml, ConfigError};
use crate::device::{Device, DeviceError, DeviceFile};
use crate::learn::{registry, Options};
use crate::net::{Activation, LayerDevice, SchemeName, SchemeOptions, UpdateScheme};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An experiment file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// Name of the experiment and of its run directory `runs/NAME` (default: the file's stem).
    pub name: Option<String>,
    /// One line saying what the experiment compares.
    #[serde(default)]
    pub description: String,
    /// Learning rules to compare (see `mortalsim train --help`).
    pub learners: Vec<String>,
    /// Devices: preset names, device files, or tables `{ preset = NAME | file = PATH, label =
    /// LABEL, <section> = { <field> = value } }` overriding any device field.
    pub devices: Vec<toml::Value>,
    /// Seeds of the replicates (default `[1]`); seed S gives the same run as `train --seed S`.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The data.
    #[serde(default)]
    pub data: DataSection,
    /// The network.
    #[serde(default)]
    pub network: NetworkSection,
    /// Training settings shared by all learners.
    #[serde(default)]
    pub train: TrainSection,
    /// Per-learner overrides, keyed by learner name.
    #[serde(default)]
    pub learner: BTreeMap<String, LearnerSection>,
    /// Evaluation after training.
    #[serde(default)]
    pub evaluate: EvaluateSection,
    /// Up to two sweep axes.
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
    /// Continual learning: a stream of tasks instead of epochs (default: none).
    #[serde(default)]
    pub stream: Option<StreamSection>,
    /// How fast the chip ages (default: as its device files say).
    #[serde(default)]
    pub ageing: AgeingSection,
    /// Countermeasures against ageing while the chip learns (default: none).
    #[serde(default)]
    pub countermeasures: Countermeasures,
    /// Deployment onto inference chips after training (default: none; see
    /// [`super::deploy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeploySection>,
    /// Saving and loading the network's weights (default: neither).
    #[serde(default, skip_serializing_if = "WeightsSection::is_default")]
    pub weights: WeightsSection,
}

/// `[weights]`: a network's weights in and out (safetensors, see [`crate::net::weights_file`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsSection {
    /// Save each point's trained weights and biases to `RUN_DIR/weights/<point>.safetensors`
    /// (default false). An analog network is read out first (counted).
    pub save: bool,
    /// Start every point from the weights in this file instead of the seed's initial weights
    /// (relative to the experiment file; default none). Analog layers are programmed to them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<PathBuf>,
}

impl WeightsSection {
    /// Whether neither saving nor loading is asked for.
    pub fn is_default(&self) -> bool {
        *self == WeightsSection::default()
    }
}

/// `[ageing]`: accelerated ageing, so that a lifetime of wear fits in minutes. The scales
/// multiply every device's own values (its file, overrides and sweep values applied first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgeingSection {
    /// Multiplies the median endurance (`failure.endurance_median_pulses`) of every device:
    /// 1e-4 turns 1e8 pulses into 1e4 (default 1).
    pub endurance_scale: f64,
    /// Multiplies the random failure rate (`failure.hazard_rate_per_s`) of every device
    /// (default 1).
    pub hazard_scale: f64,
    /// Simulated seconds the chip idles per training sample (after each step, batch × this),
    /// while drift, leak and random failures act: the rate at which data arrives. A chip
    /// learning online from a sample a second ages otherwise than one trained in a burst
    /// (default 0).
    pub idle_s_per_sample: f64,
}

impl Default for AgeingSection {
    fn default() -> Self {
        AgeingSection {
            endurance_scale: 1.0,
            hazard_scale: 1.0,
            idle_s_per_sample: 0.0,
        }
    }
}

fn default_seeds() -> Vec<u64> {
    vec![1]
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Directory of an IDX image/label pair for training and test (default: the MNIST shipped
    /// in `data/mnist`); relative paths are relative to the current directory.
    pub dir: Option<PathBuf>,
    /// Use only the first N training samples (default: all).
    pub train_limit: Option<usize>,
    /// Use only the first N test samples (default: all).
    pub test_limit: Option<usize>,
}

/// `[network]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Hidden widths (default `[500, 500]`); the input width and the number of classes come
    /// from the data.
    pub hidden: Vec<usize>,
    /// Hidden activation: relu (default), tanh or sigmoid.
    pub activation: String,
    /// Where each layer's weights live, input side first, one entry per weight matrix
    /// (hidden widths + 1): `"device"` (the point's device, from `devices`), `"digital"` (a
    /// float matrix off the crossbars, counted as digital operations), or another device as
    /// `devices` writes one (a preset, a file or a table). Default: every layer on the point's
    /// device. Swept (`network.layer_devices`), each assignment is its own column in the tables
    /// and its own panel in the figures, labelled with the assignment (`digital/pcm/digital`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_devices: Vec<toml::Value>,
    /// How the initial weights are drawn: `torch-default` (the default, PyTorch's `nn.Linear`)
    /// or `kaiming-uniform` (Dohare et al.'s learners; biases 0). Continual backprop redraws
    /// replaced units from the same distribution. Not written out when default, so existing
    /// configs keep their hashes.
    #[serde(default, skip_serializing_if = "is_torch_default")]
    pub init: crate::net::WeightInit,
}

fn is_torch_default(init: &crate::net::WeightInit) -> bool {
    *init == crate::net::WeightInit::TorchDefault
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            hidden: vec![500, 500],
            activation: "relu".into(),
            layer_devices: Vec::new(),
            init: crate::net::WeightInit::TorchDefault,
        }
    }
}

/// `[train]`: the settings `mortalsim train` takes as flags, with the same defaults. The
/// learning rate and the batch default to each learner's recommended settings
/// ([`registry::Recommended`]), so a learner whose recipe differs (Forward-Forward's lr 0.002,
/// batch 50) runs with it unless the file says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Passes over the training set (default 10).
    pub epochs: usize,
    /// Samples per update (default: the learner's recommended batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Learning rate (default: the learner's recommended rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f32>,
    /// Learning-rate schedule: `constant` (default), `cosine` (annealed to 0 over the run) or
    /// `cooldown` (constant for the first half, then linear to 0).
    pub schedule: super::Schedule,
    /// The update scheme every rule's update goes through: `sgd` (default, the plain pulsed
    /// update), `mixed-precision`, `tiki-taka`, `ttv2` or `c-ttv2` (see
    /// [`crate::net::scheme`]). Not written out when `sgd`.
    #[serde(skip_serializing_if = "is_sgd")]
    pub update: SchemeName,
    /// `[train.scheme]`: the scheme's options, each defaulting to aihwkit's value
    /// ([`SchemeOptions`]). Not written out when empty.
    #[serde(skip_serializing_if = "SchemeOptions::is_default")]
    pub scheme: SchemeOptions,
}

fn is_sgd(n: &SchemeName) -> bool {
    *n == SchemeName::Sgd
}

/// A point's training settings: [`TrainSection`] after per-learner overrides, the learner's
/// recommended settings and sweep values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per update.
    pub batch: usize,
    /// Learning rate.
    pub lr: f32,
    /// Learning-rate schedule.
    pub schedule: super::Schedule,
    /// The update scheme (see [`TrainSection::update`]).
    #[serde(default, skip_serializing_if = "is_sgd")]
    pub update: SchemeName,
    /// Its options.
    #[serde(default, skip_serializing_if = "SchemeOptions::is_default")]
    pub scheme: SchemeOptions,
}

impl TrainSettings {
    /// The update scheme with its options.
    pub fn update_scheme(&self) -> UpdateScheme {
        UpdateScheme {
            name: self.update,
            options: self.scheme.clone(),
        }
    }
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            epochs: 10,
            batch: None,
            lr: None,
            schedule: super::Schedule::Constant,
            update: SchemeName::Sgd,
            scheme: SchemeOptions::default(),
        }
    }
}

/// `[learner.NAME]`: overrides of `[train]` for one learner, and its options. With `learner =
/// RULE`, NAME is a labelled variant of the registered rule RULE (its own settings and options,
/// its own rows and series), so one rule can appear several times in `learners`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnerSection {
    /// The registered rule this entry runs, when NAME is a variant's label (default: NAME
    /// itself is the rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learner: Option<String>,
    /// Passes over the training set.
    pub epochs: Option<usize>,
    /// Samples per update.
    pub batch: Option<usize>,
    /// Learning rate.
    pub lr: Option<f32>,
    /// Learning-rate schedule.
    pub schedule: Option<super::Schedule>,
    /// The learner's options (see [`Options`]).
    #[serde(default)]
    pub options: toml::Table,
}

/// `[evaluate]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateSection {
    /// Simulated seconds after training at which the trained chip is evaluated again (drift,
    /// leak, failures act meanwhile; no learning); default none.
    pub drift_times_s: Vec<f64>,
    /// Evaluate at those times also with global drift compensation (default true).
    pub drift_compensation: bool,
}

impl Default for EvaluateSection {
    fn default() -> Self {
        EvaluateSection {
            drift_times_s: Vec::new(),
            drift_compensation: true,
        }
    }
}

/// `[[sweep]]`: one axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepAxis {
    /// The parameter: `device.<section>.<field>`, `train.lr|batch|epochs|schedule`,
    /// `options.<field>`, `network.hidden|activation`, `data.train_limit|test_limit`.
    pub path: String,
    /// Its values, in the order they are run and plotted.
    pub values: Vec<toml::Value>,
    /// Axis label for plots (default: the path).
    pub label: Option<String>,
}

/// The resolved settings of one point, apart from its device: what `train` would be given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSettings {
    /// The data.
    pub data: DataSection,
    /// The network.
    pub network: NetworkSection,
    /// Training settings after per-learner overrides, recommended settings and sweep values.
    pub train: TrainSettings,
    /// Learner options after per-learner overrides and sweep values.
    pub options: Options,
    /// The task stream, if the point learns continually.
    pub stream: Option<StreamSection>,
    /// Accelerated ageing (already applied to the point's device; `idle_s_per_sample` acts in
    /// training).
    pub ageing: AgeingSection,
    /// Countermeasures against ageing.
    pub countermeasures: Countermeasures,
}

/// One run of the experiment: a learner on a device with sweep values and a seed.
#[derive(Debug, Clone)]
pub struct Point {
    /// Position in the experiment's declared order (sharding uses it).
    pub index: usize,
    /// Readable unique id, also the file name `points/<id>.json`.
    pub id: String,
    /// Learner label: the registered rule's name, or a variant's name (`[learner.LABEL]` with
    /// `learner = RULE`).
    pub learner: String,
    /// The registered rule the point runs.
    pub rule: String,
    /// Device label; with layers placed elsewhere ([`NetworkSection::layer_devices`]) the
    /// assignment, layer by layer (`digital/pcm/digital`).
    pub device_label: String,
    /// The device, overrides and sweep values applied, validated.
    pub device: Device,
    /// Where each layer lives (empty: every layer on `device`).
    pub layer_devices: Vec<LayerDevice>,
    /// (path, value) of each sweep axis.
    pub sweep: Vec<(String, toml::Value)>,
    /// The seed of the learner and of the data order.
    pub seed: u64,
    /// Whether the learner never touches the device (`bp-digital`): the point is labelled
    /// `digital`, runs once per distinct setting, and ages only through deployment.
    pub digital: bool,
    /// Everything else.
    pub settings: PointSettings,
    /// Hash of the point's whole resolved configuration (settings, device, seed, evaluation):
    /// a finished point is reused only when it matches.
    pub config_hash: String,
}

impl Point {
    /// Epochs, or tasks for a task stream: the stages after which the point reports.
    pub fn stages(&self) -> usize {
        self.settings
            .stream
            .as_ref()
            .map_or(self.settings.train.epochs, |s| s.tasks)
    }
}

/// A checked experiment.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// Name (run directory `runs/NAME`).
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Description.
    pub description: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Sweep axes: (path, label, values).
    pub axes: Vec<(String, String, Vec<toml::Value>)>,
    /// Evaluation after training.
    pub evaluate: EvaluateSection,
    /// Deployment after training, checked (None without `[deploy]`).
    pub deploy: Option<DeployPlan>,
    /// Weights in and out (`load` resolved against the file's directory by [`Experiment::load`]).
    pub weights: WeightsSection,
    /// All points, in declared order: learners × devices × sweep values × seeds (seeds
    /// innermost).
    pub points: Vec<Point>,
    /// The file as written, defaults filled in.
    pub resolved: ExperimentFile,
    /// The devices as resolved (label, file contents with every default), before sweeps.
    pub devices: Vec<(String, DeviceFile)>,
    /// Hash of the whole resolved experiment.
    pub config_hash: String,
}

/// The label of points whose learner never touches the device.
pub const DIGITAL_LABEL: &str = "digital";

/// Whether rule `name` never puts an array on the device: built on a tiny network on the ideal
/// device with default options, none of its chip's arrays is analog (`bp-digital`). A rule
/// that cannot be built so is taken to touch the device.
pub fn never_touches_device(name: &str) -> bool {
    let spec = crate::net::NetSpec::new(vec![3, 2, 2], Activation::Relu);
    match crate::learn::build(name, &spec, &Device::ideal(), 1, &Options::default()) {
        Ok(l) => l.chip().arrays().all(|(_, layer)| !layer.is_analog()),
        Err(_) => false,
    }
}

/// 64-bit FNV-1a of `bytes`, as 16 hex digits: a stable fingerprint of a configuration.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Experiment {
    /// Reads and checks the experiment file at `path`.
    pub fn load(path: &Path) -> Result<Experiment, Vec<ConfigError>> {
        let file = path.display().to_string();
        let src = crate::config_file::read_text(path)
            .map_err(|e| vec![ConfigError::file(&file, format!("cannot read: {e}"))])?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        let mut exp = Experiment::from_toml(&src, &file, &stem)?;
        // A relative `data.dir` is relative to the file, as cargo reads paths in Cargo.toml.
        if exp.data_dir.is_relative() {
            if let Some(parent) = path.parent() {
                exp.data_dir = parent.join(&exp.data_dir);
            }
        }
        if let (Some(load), Some(parent)) = (&exp.weights.load, path.parent()) {
            if load.is_relative() {
                exp.weights.load = Some(parent.join(load));
            }
        }
        Ok(exp)
    }

    /// Parses and checks an experiment file's contents; `file` names it in errors, `stem` is
    /// the default name.
    pub fn from_toml(src: &str, file: &str, stem: &str) -> Result<Experiment, Vec<ConfigError>> {
        let raw: ExperimentFile = parse_toml(src, file).map_err(|e| vec![e])?;
        check(raw, src, file, stem)
    }
}

/// Collects every problem of the file.
struct Problems<'a> {
    src: &'a str,
    file: &'a str,
    list: Vec<ConfigError>,
}

impl Problems<'_> {
    fn at(&mut self, path: &str, message: impl Into<String>) {
        self.list
            .push(ConfigError::at_field(self.src, self.file, path, message));
    }
}

fn check(
    mut raw: ExperimentFile,
    src: &str,
    file: &str,
    stem: &str,
) -> Result<Experiment, Vec<ConfigError>> {
    let mut p = Problems {
        src,
        file,
        list: Vec::new(),
    };
    let name = raw.name.clone().unwrap_or_else(|| stem.to_string());
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.at(
            "name",
            "use letters, digits, `-`, `_` and `.` (it names the run directory)",
        );
    }
    raw.name = Some(name.clone());
    if raw.learners.is_empty() {
        p.at("learners", "list at least one learner");
    }
    for (i, l) in raw.learners.iter().enumerate() {
        let variant_of = raw.learner.get(l).and_then(|s| s.learner.as_ref());
        if let Some(rule) = variant_of {
            if let Err(m) = registry::lookup(rule) {
                p.at(&format!("learner.{l}.learner"), m);
            } else if rule != l && registry::lookup(l).is_ok() {
                p.at(
                    &format!("learner.{l}.learner"),
                    format!(
                        "`{l}` is a learner of its own: give the variant of `{rule}` another name"
                    ),
                );
            } else if !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                || l.is_empty()
            {
                p.at(
                    &format!("learners.{i}"),
                    "a variant's name: use letters, digits, `-`, `_` and `.`",
                );
            }
        } else if let Err(m) = registry::lookup(l) {
            p.at(
                &format!("learners.{i}"),
                format!("{m}; a variant of one needs `[learner.{l}] learner = \"RULE\"`"),
            );
        }
        if raw.learners[..i].contains(l) {
            p.at(&format!("learners.{i}"), format!("`{l}` is listed twice"));
        }
    }
    for name in raw.learner.keys() {
        if !raw.learners.contains(name) {
            p.at(
                &format!("learner.{name}"),
                format!("`{name}` is not among `learners`"),
            );
        }
    }
    if raw.seeds.is_empty() {
        p.at("seeds", "list at least one seed");
    }
    for (i, s) in raw.seeds.iter().enumerate() {
        if raw.seeds[..i].contains(s) {
            p.at(&format!("seeds.{i}"), format!("seed {s} is listed twice"));
        }
    }
    for (i, t) in raw.evaluate.drift_times_s.iter().enumerate() {
        if !(t.is_finite() && *t >= 0.0) {
            p.at(
                &format!("evaluate.drift_times_s.{i}"),
                "must be a finite number of seconds ≥ 0",
            );
        }
    }
    raw.evaluate
        .drift_times_s
        .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    raw.evaluate.drift_times_s.dedup();
    if raw.sweep.len() > 2 {
        p.at("sweep", "at most two sweep axes");
    }
    for (i, axis) in raw.sweep.iter().enumerate() {
        let first = axis.path.split('.').next().unwrap_or("");
        if ![
            "device",
            "train",
            "options",
            "network",
            "data",
            "stream",
            "ageing",
            "countermeasures",
        ]
        .contains(&first)
            || axis.path == "data.dir"
            || !axis.path.contains('.')
        {
            p.at(
                &format!("sweep.{i}.path"),
                format!(
                    "`{}`: sweep a path under device., train., options., network., data., \
                     stream., ageing. or countermeasures. (data.dir excepted)",
                    axis.path
                ),
            );
        }
        if raw.sweep[..i].iter().any(|a| a.path == axis.path) {
            p.at(&format!("sweep.{i}.path"), "this path is swept twice");
        }
        if axis.values.is_empty() {
            p.at(&format!("sweep.{i}.values"), "list at least one value");
        }
        for (j, v) in axis.values.iter().enumerate() {
            if axis.values[..j].contains(v) {
                p.at(
                    &format!("sweep.{i}.values.{j}"),
                    format!("value {v} is listed twice"),
                );
            }
        }
    }
    if raw.devices.is_empty() {
        p.at("devices", "list at least one device");
    }
    let mut devices: Vec<(String, toml::Table)> = Vec::new();
    for (i, entry) in raw.devices.iter().enumerate() {
        match device_entry(entry) {
            Ok((label, table)) => {
                if devices.iter().any(|(l, _)| *l == label) {
                    p.at(
                        &format!("devices.{i}"),
                        format!("two devices are labelled `{label}`: give one a `label`"),
                    );
                }
                devices.push((label, table));
            }
            Err(m) => p.at(&format!("devices.{i}"), m),
        }
    }
    let deploy = raw.deploy.as_ref().and_then(|d| {
        if let Err((f, m)) = d.validate() {
            p.at(&f, m);
            return None;
        }
        if raw.evaluate.drift_times_s.is_empty() {
            p.at(
                "deploy",
                "give `[evaluate] drift_times_s`: the times after programming at which each copy is evaluated",
            );
        }
        if raw.learners.iter().any(|l| rule_of(&raw, l) == "ff") {
            p.at(
                "deploy",
                "`ff` classifies by goodness, not by the network's output scores: it cannot be deployed",
            );
        }
        let mut targets: Vec<(String, Device)> = Vec::new();
        for (i, entry) in d.devices.iter().enumerate() {
            let at = format!("deploy.devices.{i}");
            match device_entry(entry).and_then(|(label, t)| {
                device_from_table(&t, &label).map(|dev| (label, dev))
            }) {
                Ok((label, dev)) => {
                    if targets.iter().any(|(l, _)| *l == label) {
                        p.at(
                            &at,
                            format!("two inference devices are labelled `{label}`: give one a `label`"),
                        );
                    }
                    targets.push((label, dev));
                }
                Err(m) => p.at(&at, m),
            }
        }
        Some(DeployPlan {
            targets,
            spec: d.spec(),
            n_chips: d.n_chips,
            times_s: raw.evaluate.drift_times_s.clone(),
            compensation: raw.evaluate.drift_compensation,
        })
    });
    let data_dir = raw
        .data
        .dir
        .clone()
        .unwrap_or_else(crate::data::default_mnist_dir);
    if !p.list.is_empty() {
        return Err(p.list);
    }

    // Resolve every point; a problem is reported once per (device, sweep path), not per point.
    let combos = sweep_combinations(&raw.sweep);
    let mut points = Vec::new();
    let mut resolved_devices = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    let digital: Vec<bool> = raw
        .learners
        .iter()
        .map(|l| never_touches_device(rule_of(&raw, l)))
        .collect();
    let mut first_valid_device = None;
    for (d, (label, table)) in devices.iter().enumerate() {
        match device_from_table(table, label) {
            Ok(dev) => resolved_devices.push((label.clone(), dev.spec.clone())),
            Err(m) => {
                p.at(&format!("devices.{d}"), m);
                continue;
            }
        }
        let first_device = *first_valid_device.get_or_insert(d) == d;
        for (li, learner) in raw.learners.iter().enumerate() {
            let is_digital = digital[li];
            // A rule that never touches the device runs once per distinct setting: on the first
            // device, at the first value of every device axis, labelled `digital`.
            if is_digital && !first_device {
                continue;
            }
            for combo in &combos {
                let device_axis_moved = raw
                    .sweep
                    .iter()
                    .zip(combo)
                    .any(|(a, &v)| a.path.starts_with("device.") && v > 0);
                // A digital learner's layers are all digital: where they would sit matters
                // only to its deployment.
                let layers_axis_moved = raw
                    .sweep
                    .iter()
                    .zip(combo)
                    .any(|(a, &v)| a.path == LAYER_DEVICES_PATH && v > 0);
                if is_digital && (device_axis_moved || layers_axis_moved && deploy.is_none()) {
                    continue;
                }
                let Resolved {
                    device,
                    settings,
                    sweep,
                    layers,
                } = match resolve(&raw, d, label, table, learner, combo) {
                    Ok(r) => r,
                    Err((at, m)) => {
                        if seen.insert(at.clone() + &m) {
                            p.at(&at, m);
                        }
                        continue;
                    }
                };
                // The layer assignment is part of the label, not a sweep value.
                let sweep: Vec<_> = sweep
                    .into_iter()
                    .filter(|(path, _)| path != LAYER_DEVICES_PATH)
                    .collect();
                let (label, sweep, layer_devices): (String, Vec<_>, _) = if is_digital {
                    let kept = sweep
                        .into_iter()
                        .filter(|(path, _)| !path.starts_with("device."))
                        .collect();
                    let deployed = deploy.is_some().then_some(layers.devices);
                    let deployed = deployed.unwrap_or_default();
                    (digital_label(&deployed), kept, deployed)
                } else {
                    (layers.label(label), sweep, layers.devices)
                };
                for &seed in &raw.seeds {
                    let mut id = point_id(learner, &label, &sweep, seed);
                    if !ids.insert(id.clone()) {
                        id = format!("{id}~{}", points.len());
                    }
                    let mut hash_input = serde_json::json!({
                        "learner": learner,
                        "device": device.spec,
                        "settings": settings,
                        "seed": seed,
                        "evaluate": raw.evaluate,
                    });
                    // Present only when used, so that other experiments keep their hashes.
                    if let Some(d) = &raw.deploy {
                        hash_input["deploy"] = serde_json::json!(d);
                        hash_input["deploy_devices"] =
                            serde_json::json!(deploy.as_ref().map(|p| p
                                .targets
                                .iter()
                                .map(|(l, dev)| (l.clone(), dev.spec.clone()))
                                .collect::<Vec<_>>()));
                    }
                    if !raw.weights.is_default() {
                        hash_input["weights"] = serde_json::json!(raw.weights);
                    }
                    if is_digital {
                        hash_input["digital"] = serde_json::json!(true);
                    }
                    if layer_devices.iter().any(|l| *l != LayerDevice::Chip) {
                        hash_input["layer_devices"] = serde_json::json!(layer_devices
                            .iter()
                            .map(|l| match l {
                                LayerDevice::On(dev) => serde_json::json!(dev.spec),
                                l => serde_json::json!(format!("{l:?}")),
                            })
                            .collect::<Vec<_>>());
                    }
                    points.push(Point {
                        index: points.len(),
                        id,
                        learner: learner.clone(),
                        rule: rule_of(&raw, learner).to_string(),
                        device_label: label.clone(),
                        device: device.clone(),
                        layer_devices: layer_devices.clone(),
                        sweep: sweep.clone(),
                        seed,
                        digital: is_digital,
                        settings: settings.clone(),
                        config_hash: fingerprint(hash_input.to_string().as_bytes()),
                    });
                }
            }
        }
    }
    if !p.list.is_empty() {
        return Err(p.list);
    }
    let axes = raw
        .sweep
        .iter()
        .filter(|a| a.path != LAYER_DEVICES_PATH)
        .map(|a| {
            (
                a.path.clone(),
                a.label.clone().unwrap_or_else(|| a.path.clone()),
                a.values.clone(),
            )
        })
        .collect();
    let whole = serde_json::json!({
        "experiment": raw,
        "devices": resolved_devices,
    });
    Ok(Experiment {
        name,
        file: file.to_string(),
        description: raw.description.clone(),
        data_dir,
        axes,
        evaluate: raw.evaluate.clone(),
        deploy,
        weights: raw.weights.clone(),
        points,
        config_hash: fingerprint(whole.to_string().as_bytes()),
        resolved: raw,
        devices: resolved_devices,
    })
}

/// The device, settings and sweep values of `learner` on device `d` (`label`, file contents
/// `table`) at the sweep value indices `combo`; or where in the file the problem is and what.
fn resolve(
    raw: &ExperimentFile,
    d: usize,
    label: &str,
    table: &toml::Table,
    learner: &str,
    combo: &[usize],
) -> Result<Resolved, (String, String)> {
    let overrides = raw.learner.get(learner).cloned().unwrap_or_default();
    let mut train = raw.train.clone();
    train.epochs = overrides.epochs.unwrap_or(train.epochs);
    let rule = rule_of(raw, learner);
    let recommended = registry::lookup(rule)
        .map_err(|m| ("learners".to_string(), m))?
        .recommended;
    train.batch = Some(overrides.batch.or(train.batch).unwrap_or(recommended.batch));
    train.lr = Some(overrides.lr.or(train.lr).unwrap_or(recommended.lr));
    train.schedule = overrides.schedule.unwrap_or(train.schedule);
    let mut t = toml::Table::try_from(SettingsTable {
        data: &raw.data,
        network: &raw.network,
        train: &train,
        stream: &raw.stream,
        ageing: &raw.ageing,
        countermeasures: &raw.countermeasures,
    })
    .expect("settings serialise");
    t.insert("options".into(), toml::Value::Table(overrides.options));
    t.insert("device".into(), toml::Value::Table(table.clone()));
    let mut sweep = Vec::new();
    for (axis, &v) in raw.sweep.iter().zip(combo) {
        set_path(&mut t, &axis.path, axis.values[v].clone());
        sweep.push((axis.path.clone(), axis.values[v].clone()));
    }
    let mut device_table = match t.remove("device") {
        Some(toml::Value::Table(dt)) => dt,
        _ => toml::Table::new(),
    };
    // A problem met only with sweep values is reported at the value that brings it: the axis
    // whose field the message names, else the last axis.
    let at_value = |message: &str| -> String {
        if raw.sweep.is_empty() {
            return format!("devices.{d}");
        }
        let a = raw
            .sweep
            .iter()
            .position(|a| {
                let field = a.path.split_once('.').map_or("", |(_, f)| f);
                message.contains(field) || message.contains(&a.path)
            })
            .unwrap_or(raw.sweep.len() - 1);
        format!("sweep.{a}.values.{}", combo[a])
    };
    let has_overrides = raw.learner.contains_key(learner);

    let settings: PointSettings = toml::Value::Table(t).try_into().map_err(|e| {
        let m = e.message().trim().to_string();
        let at = if has_overrides && raw.sweep.is_empty() {
            format!("learner.{learner}")
        } else {
            at_value(&m)
        };
        (at, format!("learner `{learner}`: {m}"))
    })?;
    let own_options = |s: &PointSettings| {
        let entry = registry::lookup(rule).map_err(|m| ("learners".to_string(), m))?;
        (entry.check)(&s.options.rule).map_err(|(f, m)| match f.as_str() {
            "" => ("options.rule".to_string(), m),
            _ => (format!("options.rule.{f}"), m),
        })?;
        crate::learn::check_rule_options(rule, &s.options)
            .map_err(|(f, m)| (format!("options.{f}"), m))
    };
    // A scheme on bp-digital is an error rather than ignored: a comparison that lists it under
    // a scheme would claim what did not run.
    let digital_scheme = |s: &PointSettings| match s.train.update {
        SchemeName::Sgd => Ok(()),
        u if learner == "bp-digital" => Err((
            "train.update".to_string(),
            format!(
                "bp-digital trains float matrices with no device: the update scheme `{}` has \
                 no cells to reach (run it with the analog rules only)",
                u.name()
            ),
        )),
        _ => Ok(()),
    };
    check_settings(&settings)
        .and_then(|()| own_options(&settings))
        .and_then(|()| digital_scheme(&settings))
        .map_err(|(field, m)| {
            let at = match raw.sweep.iter().position(|a| a.path == field) {
                Some(a) => format!("sweep.{a}.values.{}", combo[a]),
                // Learner options come only from the learner's own table.
                None if field.starts_with("network.") => field,
                None if has_overrides && field.starts_with("options.") => {
                    format!("learner.{learner}.{field}")
                }
                None if has_overrides => format!("learner.{learner}"),
                None => field,
            };
            (at, m)
        })?;
    let layers_at = |i: usize| match raw.sweep.iter().position(|a| a.path == LAYER_DEVICES_PATH) {
        Some(a) => format!("sweep.{a}.values.{}.{i}", combo[a]),
        None => format!("{LAYER_DEVICES_PATH}.{i}"),
    };
    let mut layers = Layers::default();
    for (i, v) in settings.network.layer_devices.iter().enumerate() {
        let (l, dev) = layer_device_entry(v, &settings.ageing).map_err(|m| (layers_at(i), m))?;
        layers.labels.push(l);
        layers.devices.push(dev);
    }
    accelerate(&mut device_table, &settings.ageing);
    let device = device_from_table(&device_table, label)
        .map_err(|m| (at_value(&m), format!("device `{label}`: {m}")))?;
    Ok(Resolved {
        device,
        settings,
        sweep,
        layers,
    })
}

/// The sweep path and field of [`NetworkSection::layer_devices`].
pub const LAYER_DEVICES_PATH: &str = "network.layer_devices";

/// The registered rule that `learners` entry `name` runs: its `[learner.NAME] learner`, or
/// the name itself.
fn rule_of<'a>(raw: &'a ExperimentFile, name: &'a str) -> &'a str {
    raw.learner
        .get(name)
        .and_then(|s| s.learner.as_deref())
        .unwrap_or(name)
}

/// One entry of `layer_devices` (or of `train --layer-devices`): `"device"` (the chip's
/// device), `"digital"`, or a device as `devices` writes one, its failure rates scaled by
/// `ageing` as the chip's; with the label it shows in the point's label.
pub fn layer_device_entry(
    v: &toml::Value,
    ageing: &AgeingSection,
) -> Result<(String, LayerDevice), String> {
    match v.as_str() {
        Some("device") => return Ok((String::new(), LayerDevice::Chip)),
        Some(DIGITAL_LABEL) => return Ok((DIGITAL_LABEL.to_string(), LayerDevice::Digital)),
        _ => {}
    }
    let (label, mut table) = device_entry(v).map_err(|m| {
        format!("{m} (a layer is \"device\", \"digital\" or a device as in `devices`)")
    })?;
    accelerate(&mut table, ageing);
    let dev = device_from_table(&table, &label).map_err(|m| format!("device `{label}`: {m}"))?;
    Ok((label, LayerDevice::On(Box::new(dev))))
}

/// Where a point's layers live, with their labels (empty for the point's device).
#[derive(Default)]
struct Layers {
    devices: Vec<LayerDevice>,
    labels: Vec<String>,
}

impl Layers {
    /// The point's label on device `device`: the device's label when every layer is on it,
    /// else the assignment layer by layer (`digital/pcm/digital`).
    fn label(&self, device: &str) -> String {
        if self.devices.iter().all(|d| *d == LayerDevice::Chip) {
            return device.to_string();
        }
        self.labels
            .iter()
            .map(|l| if l.is_empty() { device } else { l.as_str() })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The label of a digital learner's point whose layers are deployed per `deployed`: `digital`,
/// or with layers kept digital at deployment `digital (digital/analog/digital)`.
fn digital_label(deployed: &[LayerDevice]) -> String {
    if !deployed.contains(&LayerDevice::Digital) {
        return DIGITAL_LABEL.to_string();
    }
    let parts: Vec<&str> = deployed
        .iter()
        .map(|d| match d {
            LayerDevice::Digital => DIGITAL_LABEL,
            _ => "analog",
        })
        .collect();
    format!("{DIGITAL_LABEL} ({})", parts.join("/"))
}

/// One point's resolution, before its seeds.
struct Resolved {
    device: Device,
    settings: PointSettings,
    sweep: Vec<(String, toml::Value)>,
    layers: Layers,
}

#[derive(Serialize)]
struct SettingsTable<'a> {
    data: &'a DataSection,
    network: &'a NetworkSection,
    train: &'a TrainSection,
    stream: &'a Option<StreamSection>,
    ageing: &'a AgeingSection,
    countermeasures: &'a Countermeasures,
}

/// Applies the ageing scales to a device table: its endurance median and hazard rate (their
/// defaults, ∞ and 0, stay as they are).
fn accelerate(device: &mut toml::Table, ageing: &AgeingSection) {
    let failure = device
        .entry("failure")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(failure) = failure.as_table_mut() else {
        return;
    };
    for (field, scale) in [
        ("endurance_median_pulses", ageing.endurance_scale),
        ("hazard_rate_per_s", ageing.hazard_scale),
    ] {
        let value = match failure.get(field) {
            Some(toml::Value::Float(v)) => *v,
            Some(toml::Value::Integer(v)) => *v as f64,
            _ => continue,
        };
        if scale != 1.0 {
            failure.insert(field.into(), toml::Value::Float(value * scale));
        }
    }
}

/// Range checks of a point's settings: (field path, message).
fn check_settings(s: &PointSettings) -> Result<(), (String, String)> {
    let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
    if s.train.epochs == 0 {
        return bad("train.epochs", "must be at least 1");
    }
    if s.train.batch == 0 {
        return bad("train.batch", "must be at least 1");
    }
    if !(s.train.lr.is_finite() && s.train.lr > 0.0) {
        return bad("train.lr", "must be a positive number");
    }
    s.train
        .schedule
        .validate()
        .map_err(|(f, m)| (f.to_string(), m))?;
    s.train
        .update_scheme()
        .validate()
        .map_err(|(f, m)| (format!("train.scheme.{f}"), m))?;
    if s.network.hidden.contains(&0) {
        return bad("network.hidden", "a hidden width of 0");
    }
    let mut widths = vec![784];
    widths.extend(&s.network.hidden);
    widths.push(10);
    if let Err(m) = crate::memory::check(
        &format!("a network with hidden widths {:?}", s.network.hidden),
        crate::memory::network_bytes(&widths, 3),
    ) {
        return Err(("network.hidden".to_string(), m));
    }
    let (given, layers) = (s.network.layer_devices.len(), s.network.hidden.len() + 1);
    if given != 0 && given != layers {
        return Err((
            LAYER_DEVICES_PATH.to_string(),
            format!(
                "{given} entries for {layers} layers (hidden widths {:?}): give one per weight matrix, input side first",
                s.network.hidden
            ),
        ));
    }
    match Activation::parse(&s.network.activation) {
        Some(a) if a != Activation::Identity => {}
        _ => return bad("network.activation", "expected relu, tanh or sigmoid"),
    }
    if s.data.train_limit == Some(0) || s.data.test_limit == Some(0) {
        return bad("data", "a limit of 0 samples");
    }
    let a = &s.ageing;
    for (f, v) in [
        ("ageing.endurance_scale", a.endurance_scale),
        ("ageing.hazard_scale", a.hazard_scale),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return bad(f, "must be a positive number");
        }
    }
    if !(a.idle_s_per_sample.is_finite() && a.idle_s_per_sample >= 0.0) {
        return bad(
            "ageing.idle_s_per_sample",
            "must be a finite number of seconds ≥ 0",
        );
    }
    if let Some(st) = &s.stream {
        st.validate().map_err(|(f, m)| (f.to_string(), m))?;
    }
    s.countermeasures
        .validate()
        .map_err(|(f, m)| (f.to_string(), m))?;
    s.options
        .validate()
        .map_err(|(f, m)| (format!("options.{f}"), m))
}

/// The label and the device table (file contents with the entry's overrides merged in) of one
/// `devices` entry.
fn device_entry(entry: &toml::Value) -> Result<(String, toml::Table), String> {
    let (source, mut overrides, label) = match entry {
        toml::Value::String(s) => (s.clone(), toml::Table::new(), None),
        toml::Value::Table(t) => {
            let mut t = t.clone();
            let take = |t: &mut toml::Table, k: &str| -> Result<Option<String>, String> {
                match t.remove(k) {
                    None => Ok(None),
                    Some(toml::Value::String(s)) => Ok(Some(s)),
                    Some(v) => Err(format!("`{k}` must be a string, not {v}")),
                }
            };
            let preset = take(&mut t, "preset")?;
            let file = take(&mut t, "file")?;
            let label = take(&mut t, "label")?;
            let source = match (preset, file) {
                (Some(p), None) => p,
                (None, Some(f)) => f,
                _ => return Err("give exactly one of `preset = NAME` or `file = PATH`".into()),
            };
            (source, t, label)
        }
        v => {
            return Err(format!(
                "expected a preset name, a file or a table, not {v}"
            ))
        }
    };
    let (src, file) = Device::source(&source).map_err(|e| e.to_string())?;
    let mut table: toml::Table =
        toml::from_str(&src).map_err(|e| format!("{file}: {}", e.message().trim()))?;
    if let Some(l) = &label {
        overrides.insert("name".into(), toml::Value::String(l.clone()));
    }
    merge(&mut table, overrides);
    let label = match (label, table.get("name")) {
        (Some(l), _) => l,
        (None, Some(toml::Value::String(n))) => n.clone(),
        _ => source,
    };
    Ok((label, table))
}

/// Validates a device table; the error is the validator's messages joined.
fn device_from_table(table: &toml::Table, label: &str) -> Result<Device, String> {
    let src = toml::to_string(table).map_err(|e| e.to_string())?;
    Device::from_toml(&src, label).map_err(|e| match e {
        DeviceError::Invalid(errs) => errs
            .iter()
            .map(|e| match &e.field {
                Some(f) => format!("`{f}`: {}", e.message),
                None => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        e => e.to_string(),
    })
}

/// Deep merge: tables are merged key by key, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Sets dotted `path` in `t` to `value`, creating tables on the way.
fn set_path(t: &mut toml::Table, path: &str, value: toml::Value) {
    let mut keys: Vec<&str> = path.split('.').collect();
    let last = keys.pop().unwrap_or_default();
    let mut cur = t;
    for k in keys {
        let entry = cur
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.to_string(), value);
}

/// Every combination of sweep value indices, first axis outermost (one empty combination
/// without sweeps).
fn sweep_combinations(axes: &[SweepAxis]) -> Vec<Vec<usize>> {
    let mut combos = vec![Vec::new()];
    for axis in axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                (0..axis.values.len()).map(move |v| {
                    let mut c = c.clone();
                    c.push(v);
                    c
                })
            })
            .collect();
    }
    combos
}

/// A sweep value as written in tables and ids: numbers and booleans as TOML writes them,
/// strings without quotes, arrays joined by `x`.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join("x"),
        v => v.to_string(),
    }
}

/// `learner__device[__field=value]...__sN`, restricted to file-name-safe characters.
fn point_id(learner: &str, device: &str, sweep: &[(String, toml::Value)], seed: u64) -> String {
    let mut id = format!("{learner}__{device}");
    for (path, v) in sweep {
        let field = path.rsplit('.').next().unwrap_or(path);
        id.push_str(&format!("__{field}={}", value_text(v)));
    }
    id.push_str(&format!("__s{seed}"));
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.=+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
