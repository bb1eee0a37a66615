//! Deployment onto inference chips (issue 13): exactness on ideal hardware, aihwkit's PCM
//! statistics, drift compensation, weights in and out, thread independence, honest labels.

use mortalsim::crossbar::inference::{InferenceArray, ReadNoiseTiming};
use mortalsim::data::{default_mnist_dir, Dataset, Split};
use mortalsim::device::{Device, DriftModel, ProgramNoiseModel, ReadNoiseModel};
use mortalsim::experiment::deploy::{deploy_and_evaluate, DeployPlan};
use mortalsim::experiment::train::{evaluate, evaluate_scores, train, TrainConfig};
use mortalsim::experiment::Experiment;
use mortalsim::learn::{self, Learner, Options};
use mortalsim::nalgebra::{DMatrix, DVector};
use mortalsim::net::deploy::{DeploySpec, DeployedNetwork, Mapping, Physics};
use mortalsim::net::{Activation, LayerWeights, NetSpec, NetworkWeights, WeightsError};
use std::sync::OnceLock;

fn data() -> &'static (Dataset, Dataset) {
    static D: OnceLock<(Dataset, Dataset)> = OnceLock::new();
    D.get_or_init(|| {
        let (tr, te) = Split::load_dir(default_mnist_dir()).expect("committed MNIST loads");
        (tr.subset(1000), te.subset(300))
    })
}

/// A small digitally trained network (784-32-10 sigmoid, three epochs on 1000 samples).
fn trained(seed: u64) -> Box<dyn Learner> {
    let (tr, te) = data();
    let spec = NetSpec::new(vec![784, 32, 10], Activation::Sigmoid);
    let mut l = learn::build(
        "bp-digital",
        &spec,
        &Device::ideal(),
        seed,
        &Options::default(),
    )
    .expect("bp-digital builds");
    let cfg = TrainConfig {
        epochs: 3,
        batch: 32,
        lr: 0.5,
        seed,
        ..TrainConfig::default()
    };
    train(l.as_mut(), tr, te, &cfg, |_| {});
    l
}

fn aihwkit() -> Device {
    Device::load("aihwkit-inference").expect("the preset is valid")
}

#[test]
fn deploying_onto_ideal_reproduces_the_trained_network_exactly() {
    let te = &data().1;
    let mut l = trained(3);
    let (loss, acc) = evaluate(l.as_mut(), te);
    assert!(acc > 0.5, "the network learned something: {acc}");
    let w = NetworkWeights::read_out(l.network());
    // The ideal device, and aihwkit's chip with every non-ideality off.
    let quiet = aihwkit()
        .edited("quiet", |f| {
            f.programming.noise = ProgramNoiseModel::None;
            f.drift.model = DriftModel::None;
            f.read_noise.model = ReadNoiseModel::None;
            f.periphery.perfect = true;
        })
        .expect("valid");
    for dev in [Device::ideal(), quiet] {
        let mut net = DeployedNetwork::program(&w, &dev, &DeploySpec::default(), 9);
        assert_reproduces(&mut net, te, &[0.0, 3600.0, 3.15e7], (loss, acc), 0.0);
    }
}

/// `net`, aged to each of `times` with and without drift compensation, gives the accuracy of
/// `trained` (loss, accuracy) bit for bit, and its loss bit for bit (`loss_rel_tol` 0) or within
/// that relative tolerance.
fn assert_reproduces(
    net: &mut DeployedNetwork,
    te: &Dataset,
    times: &[f64],
    (loss, acc): (f64, f64),
    loss_rel_tol: f64,
) {
    net.calibrate_drift_reference();
    for &t in times {
        net.age_to(t);
        for comp in [false, true] {
            net.compensate_drift(comp);
            let (l2, a2) = evaluate_scores(&mut |x| net.scores(x), te);
            assert_eq!(
                a2.to_bits(),
                acc.to_bits(),
                "accuracy at {t} s, comp {comp}"
            );
            if loss_rel_tol == 0.0 {
                assert_eq!(l2.to_bits(), loss.to_bits(), "loss at {t} s, comp {comp}");
            } else {
                assert!(
                    (l2 - loss).abs() <= loss_rel_tol * loss,
                    "loss at {t} s, comp {comp}: {l2} vs {loss}"
                );
            }
        }
    }
}

#[test]
fn the_aihwkit_preset_costs_accuracy_that_compensation_partly_restores() {
    let te = &data().1;
    let mut l = trained(4);
    let (_, acc) = evaluate(l.as_mut(), te);
    let w = NetworkWeights::read_out(l.network());
    // aihwkit's hardware-aware examples map the largest weight to 1 (weight_scaling_omega = 1):
    // the one-hot readout of the compensation then stands well above the output noise.
    let spec = DeploySpec {
        mapping: Mapping::PerLayer,
        omega: Some(1.0),
        ..DeploySpec::default()
    };
    let mut net = DeployedNetwork::program(&w, &aihwkit(), &spec, 1);
    net.calibrate_drift_reference();
    net.age_to(3.15e7);
    net.compensate_drift(true);
    let alpha = net.layers()[0].alpha();
    // A year of PCM drift (ν ≈ 0.05–0.1) shrinks the outputs by ~2–4×: α undoes it.
    assert!(alpha > 1.5 && alpha < 6.0, "α after a year: {alpha}");
    let (_, a_comp) = evaluate_scores(&mut |x| net.scores(x), te);
    assert!(
        a_comp > 0.5 && a_comp <= acc + 0.05,
        "{a_comp} vs trained {acc}"
    );
}

/// aihwkit's PCM programming polynomial, µS, at g_max = 25 µS.
fn sigma_prog(g: f64) -> f64 {
    let x = g / 25.0;
    0.26348 + 1.9650 * x - 1.1731 * x * x
}

#[test]
fn programming_error_follows_aihwkit_polynomial() {
    // 4 weight levels × 20,000 weights; the largest maps to g_max = 25 µS.
    let levels = [1.0f32, 0.6, 0.3, 0.1];
    let n = 20_000;
    let w = DMatrix::from_fn(levels.len(), n, |i, _| levels[i]);
    let a = InferenceArray::program(&aihwkit(), &w, ReadNoiseTiming::PerInferenceTime, 5);
    let gt = a.target_conductances_us();
    let gp = a.programmed_conductances_us();
    for (i, &lv) in levels.iter().enumerate() {
        let target = 25.0 * lv as f64;
        let d: Vec<f64> = (0..n)
            .map(|k| gp[0][i * n + k] as f64 - gt[0][i * n + k] as f64)
            .collect();
        assert!((gt[0][i * n] as f64 - target).abs() < 1e-4);
        let mean = d.iter().sum::<f64>() / n as f64;
        let sd = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
        let want = sigma_prog(target);
        // Standard error of a s.d. from 20,000 draws ≈ 0.5 %; of the mean σ/√n.
        assert!(
            (sd / want - 1.0).abs() < 0.03,
            "level {lv}: s.d. {sd} vs {want}"
        );
        assert!(
            mean.abs() < 4.0 * want / (n as f64).sqrt(),
            "level {lv}: mean {mean}"
        );
        // The − device of a positive weight is at g_min = 0: its noise is clamped at 0.
        assert!(gp[1][i * n..(i + 1) * n].iter().all(|&g| g >= 0.0));
    }
}

#[test]
fn mean_conductance_follows_the_drift_power_law() {
    // Every weight at g_max: ν ~ |N(0.049, 0.008)| (both clipped), E[G(t)/G_P] =
    // E[exp(−ν L)] = exp(−μL + σ²L²/2), L = ln((t + t0)/t0).
    let n = 40_000;
    let w = DMatrix::from_element(1, n, 1.0f32);
    let (mu, sig, t0) = (0.049f64, 0.008f64, 20.0f64);
    for timing in [ReadNoiseTiming::PerInferenceTime, ReadNoiseTiming::PerRead] {
        let mut a = InferenceArray::program(&aihwkit(), &w, timing, 6);
        let gp: f64 = a.programmed_conductances_us()[0]
            .iter()
            .map(|&g| g as f64)
            .sum();
        for t in [1.0, 3600.0, 86_400.0, 3.15e7] {
            a.age_to(t);
            let g: f64 = a.conductances_us()[0].iter().map(|&g| g as f64).sum();
            let l = ((t + t0) / t0).ln();
            let want = (-mu * l + 0.5 * sig * sig * l * l).exp();
            let got = g / gp;
            assert!(
                (got / want - 1.0).abs() < 0.005,
                "{timing:?} at {t} s: mean ratio {got} vs power law {want}"
            );
        }
    }
}

#[test]
fn the_read_noise_of_one_inference_time_is_aihwkits() {
    // Without drift and programming noise, G(t) = G_T(1 + Q_s·√ln((t + t0 + t_read)/(2 t_read))·ξ)
    // at ĝ = 0.5: Q_s = 0.0088/0.5^0.65.
    let dev = aihwkit()
        .edited("read-only", |f| {
            f.programming.noise = ProgramNoiseModel::None;
            f.drift.model = DriftModel::None;
        })
        .expect("valid");
    let n = 40_000;
    let w = DMatrix::from_fn(1, n, |_, k| if k == 0 { 1.0 } else { 0.5f32 });
    let mut a = InferenceArray::program(&dev, &w, ReadNoiseTiming::PerInferenceTime, 7);
    let t = 86_400.0;
    a.age_to(t);
    let g = &a.conductances_us()[0];
    let rel: Vec<f64> = g[1..].iter().map(|&v| v as f64 / 12.5 - 1.0).collect();
    let m = rel.iter().sum::<f64>() / rel.len() as f64;
    let sd = (rel.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (rel.len() - 1) as f64).sqrt();
    let want = 0.0088 / 0.5f64.powf(0.65) * ((t + 20.0 + 250e-9) / (2.0 * 250e-9)).ln().sqrt();
    assert!((sd / want - 1.0).abs() < 0.03, "{sd} vs {want}");
    // Per inference time: two reads at that time see the same weights (no per-read noise).
    let dev_perfect = dev
        .edited("p", |f| f.periphery.perfect = true)
        .expect("valid");
    let mut b = InferenceArray::program(&dev_perfect, &w, ReadNoiseTiming::PerInferenceTime, 7);
    b.age_to(t);
    let x = DMatrix::from_element(n, 1, 0.01f32);
    assert_eq!(b.read(&x), b.read(&x));
    let mut c = InferenceArray::program(&dev_perfect, &w, ReadNoiseTiming::PerRead, 7);
    c.age_to(t);
    assert_ne!(
        c.read(&x),
        c.read(&x),
        "per-read noise differs between reads"
    );
}

#[test]
fn global_drift_compensation_restores_the_mean_output_of_a_drifted_layer() {
    let dev = aihwkit();
    let (rows, cols) = (64, 200);
    let w = DMatrix::from_fn(rows, cols, |i, j| {
        (((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5) * 0.4
    });
    let weights = NetworkWeights {
        layers: vec![LayerWeights {
            weight: w,
            bias: DVector::zeros(rows),
            activation: Activation::Identity,
        }],
    };
    let x = DMatrix::from_fn(cols, 256, |j, b| ((j * 7 + b * 13) % 11) as f32 / 11.0);
    let mean_abs =
        |y: &DMatrix<f32>| y.iter().map(|v| v.abs() as f64).sum::<f64>() / y.len() as f64;
    let spec = DeploySpec {
        mapping: Mapping::PerLayer,
        omega: Some(1.0),
        ..DeploySpec::default()
    };
    let mut net = DeployedNetwork::program(&weights, &dev, &spec, 11);
    net.calibrate_drift_reference();
    let y0 = mean_abs(&net.scores(&x));
    net.age_to(3.15e7);
    net.compensate_drift(false);
    let y_drift = mean_abs(&net.scores(&x));
    net.compensate_drift(true);
    let y_comp = mean_abs(&net.scores(&x));
    assert!(
        y_drift < 0.7 * y0,
        "a year of drift shrinks the output: {y_drift} vs {y0}"
    );
    assert!(
        (y_comp / y0 - 1.0).abs() < 0.05,
        "compensated {y_comp} vs {y0}"
    );
}

#[test]
fn mappings_store_the_largest_weight_at_omega_with_a_digital_gain() {
    let w = DMatrix::from_row_slice(2, 3, &[0.5, -2.0, 1.0, 0.1, 0.2, -0.4]);
    let dev = aihwkit();
    for (mapping, gains) in [
        (Mapping::None, [1.0, 1.0]),
        (Mapping::PerLayer, [4.0, 4.0]),
        (Mapping::PerColumn, [4.0, 0.8]),
    ] {
        let spec = DeploySpec {
            mapping,
            omega: Some(0.5),
            ..DeploySpec::default()
        };
        let (stored, g) = mortalsim::net::deploy::map_weights(&w, &spec, &dev);
        assert_eq!(g, gains, "{mapping:?}");
        for i in 0..2 {
            for j in 0..3 {
                assert!((stored[(i, j)] * g[i] - w[(i, j)]).abs() < 1e-6);
            }
        }
    }
}

#[test]
fn saved_then_loaded_weights_give_bit_identical_predictions() {
    let te = &data().1;
    let mut a = trained(5);
    let w = NetworkWeights::read_out(a.network());
    let path = std::env::temp_dir().join(format!(
        "mortalsim-weights-{}.safetensors",
        std::process::id()
    ));
    w.save(&path).expect("saved");
    let back = NetworkWeights::load(&path).expect("loaded");
    std::fs::remove_file(&path).ok();
    assert_eq!(back, w);
    // A network of another seed, loaded with the saved weights, predicts the same bits.
    let spec = NetSpec::new(vec![784, 32, 10], Activation::Sigmoid);
    let mut b = learn::build(
        "bp-digital",
        &spec,
        &Device::ideal(),
        99,
        &Options::default(),
    )
    .unwrap();
    back.write_into(b.network()).expect("shapes fit");
    let batch = te.batch_permuted(&(0..te.len()).collect::<Vec<_>>(), None);
    assert_eq!(a.scores(&batch.inputs), b.scores(&batch.inputs));
    // The safetensors layout: header length, JSON header, row-major F32 data.
    let bytes = w.to_bytes();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(
        header["layers.0.weight"]["shape"],
        serde_json::json!([32, 784])
    );
    let first = f32::from_le_bytes(bytes[8 + n..8 + n + 4].try_into().unwrap());
    let second = f32::from_le_bytes(bytes[8 + n + 4..8 + n + 8].try_into().unwrap());
    assert_eq!(
        (first, second),
        (w.layers[0].weight[(0, 0)], w.layers[0].weight[(0, 1)])
    );
}

#[test]
fn a_wrong_shaped_file_is_an_error_naming_the_tensor_and_both_shapes() {
    let mut a = trained(6);
    let w = NetworkWeights::read_out(a.network());
    let spec = NetSpec::new(vec![784, 64, 10], Activation::Sigmoid);
    let mut b = learn::build(
        "bp-digital",
        &spec,
        &Device::ideal(),
        1,
        &Options::default(),
    )
    .unwrap();
    let e = w.write_into(b.network()).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, WeightsError::Shape { .. }), "{m}");
    assert!(
        m.contains("layers.0.weight") && m.contains("[32, 784]") && m.contains("[64, 784]"),
        "{m}"
    );
    // Truncated files and wrong headers are errors, not panics.
    let bytes = w.to_bytes();
    for cut in [0, 7, 8, 100, bytes.len() - 1] {
        assert!(
            NetworkWeights::from_bytes(&bytes[..cut], "cut.safetensors").is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn deployment_is_bit_identical_at_one_and_two_threads() {
    let te = &data().1;
    let mut l = trained(7);
    let w = NetworkWeights::read_out(l.network());
    let perfect = aihwkit()
        .edited("perfect-periphery", |f| f.periphery.perfect = true)
        .unwrap();
    let plan = DeployPlan {
        targets: vec![
            ("aihwkit-inference".into(), aihwkit()),
            ("perfect".into(), perfect),
        ],
        spec: DeploySpec::default(),
        n_chips: 3,
        times_s: vec![1.0, 86_400.0],
        compensation: true,
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| deploy_and_evaluate(&plan, &w, &[], 0, 7, te))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.len(), 2 * 3 * 2 * 2);
    assert_eq!(one, two);
    // Copies differ from each other (programming noise is drawn anew per copy).
    assert_ne!(one[0].test_loss, one[4].test_loss);
    // Chip physics too.
    let chip = DeployPlan {
        spec: DeploySpec {
            physics: Physics::Chip,
            ..DeploySpec::default()
        },
        n_chips: 2,
        ..plan.clone()
    };
    let run_chip = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| deploy_and_evaluate(&chip, &w, &[], 0, 7, te))
    };
    assert_eq!(run_chip(1), run_chip(2));
}

#[test]
fn a_digital_rule_runs_once_per_setting_labelled_digital() {
    let src = r#"
learners = ["bp-digital", "dfa"]
devices = ["ideal", "pcm"]
seeds = [1, 2]
[[sweep]]
path = "device.read_noise.std"
values = [0.0, 0.01]
"#;
    let exp = Experiment::from_toml(src, "labels.toml", "labels").expect("valid");
    let digital: Vec<_> = exp
        .points
        .iter()
        .filter(|p| p.learner == "bp-digital")
        .collect();
    assert_eq!(
        digital.len(),
        2,
        "once per seed, not per device or device value"
    );
    assert!(digital
        .iter()
        .all(|p| p.device_label == "digital" && p.digital));
    assert!(digital.iter().all(|p| p.sweep.is_empty()));
    let dfa: Vec<_> = exp.points.iter().filter(|p| p.learner == "dfa").collect();
    assert_eq!(dfa.len(), 2 * 2 * 2);
    assert!(dfa
        .iter()
        .all(|p| p.device_label != "digital" && !p.digital));
}

#[test]
fn deploy_sections_are_checked_with_their_field() {
    let base =
        "learners = [\"bp-digital\"]\ndevices = [\"ideal\"]\n[evaluate]\ndrift_times_s = [1]\n";
    let cases = [
        (
            "[deploy]\ndevices = [\"aihwkit-inference\"]\nn_chips = 0\n",
            "deploy.n_chips",
        ),
        (
            "[deploy]\ndevices = [\"no-such-device\"]\n",
            "deploy.devices.0",
        ),
        (
            "[deploy]\ndevices = [\"ideal\"]\nmaping = \"none\"\n",
            "maping",
        ),
        (
            "[deploy]\ndevices = [\"ideal\"]\nomega = -1.0\n",
            "deploy.omega",
        ),
        ("[weights]\nsave = 1\n", "save"),
    ];
    for (section, field) in cases {
        let src = format!("{base}{section}");
        let e = Experiment::from_toml(&src, "x.toml", "x").expect_err(section);
        let m = e
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(m.contains(field), "{section}: {m}");
    }
    let no_times =
        "learners = [\"bp-digital\"]\ndevices = [\"ideal\"]\n[deploy]\ndevices = [\"ideal\"]\n";
    let e = Experiment::from_toml(no_times, "x.toml", "x").expect_err("needs times");
    assert!(e.iter().any(|e| e.to_string().contains("drift_times_s")));
    let ok = format!("{base}[deploy]\ndevices = [\"aihwkit-inference\", {{ preset = \"aihwkit-inference\", label = \"perfect\", periphery = {{ perfect = true }} }}]\nmapping = \"per-column\"\n");
    let exp = Experiment::from_toml(&ok, "x.toml", "x").expect("valid");
    let plan = exp.deploy.expect("a plan");
    assert_eq!(plan.targets.len(), 2);
    assert_eq!(plan.spec.mapping, Mapping::PerColumn);
    assert_eq!(plan.n_chips, 10);
}

#[test]
fn a_run_with_deploy_writes_its_tables_and_weights_and_no_drift_for_a_digital_rule() {
    use mortalsim::experiment::{run, rundir, RunSettings, Shard};
    let dir = std::env::temp_dir().join(format!("mortalsim-deploy-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = r#"
learners = ["bp-digital", "bp-oracle"]
devices = ["idealized"]
seeds = [1, 2]
[data]
train_limit = 300
test_limit = 100
[network]
hidden = [16]
[train]
epochs = 1
[evaluate]
drift_times_s = [1, 86400]
[deploy]
devices = ["aihwkit-inference"]
mapping = "per-column"
n_chips = 2
[weights]
save = true
"#;
    let exp = Experiment::from_toml(src, "d.toml", "d").expect("valid");
    let settings = RunSettings {
        out: dir.clone(),
        shard: Shard::ALL,
        force: false,
        command_line: "test".into(),
        wait: false,
    };
    let outcome = run(&exp, &settings, &|_| {}).expect("runs");
    assert_eq!(outcome.ran, 4);
    let digital = rundir::read_point(&dir, "bp-digital__digital__s1").expect("a record");
    assert!(
        digital.drift.is_empty(),
        "a digital network ages only when deployed"
    );
    assert_eq!(
        digital.deploy.len(),
        2 * 2 * 2,
        "copies × times × compensation"
    );
    assert!(digital.deploy.iter().all(|d| d.readout_reads == 0));
    let analog = rundir::read_point(&dir, "bp-oracle__idealized__s1").expect("a record");
    assert_eq!(analog.drift.len(), 2 * 2);
    // The analog network was read out with one-hot reads: one per input of every layer.
    assert!(analog
        .deploy
        .iter()
        .all(|d| d.readout_reads >= (784 + 16) as u64));
    let csv = std::fs::read_to_string(dir.join("deploy.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 * 8);
    let md = std::fs::read_to_string(dir.join("deploy.md")).unwrap();
    assert!(
        md.contains("| bp-digital | digital | aihwkit-inference |"),
        "{md}"
    );
    let w =
        NetworkWeights::load(&dir.join("weights/bp-oracle__idealized__s2.safetensors")).unwrap();
    assert_eq!(w.widths(), vec![784, 16, 10]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// On mortalsim's own cells (`chip` physics) an ideal device holds the weights exactly, but a
/// layer wider than a tile (784 inputs, tiles of 512 columns) sums the tiles' partial products,
/// an association the digital product does not make: every prediction is the same, and the
/// loss agrees to float rounding.
#[test]
fn chip_physics_on_ideal_reproduces_the_trained_network() {
    let te = &data().1;
    let mut l = trained(3);
    let (loss, acc) = evaluate(l.as_mut(), te);
    let w = NetworkWeights::read_out(l.network());
    let spec = DeploySpec {
        physics: Physics::Chip,
        ..DeploySpec::default()
    };
    let mut net = DeployedNetwork::program(&w, &Device::ideal(), &spec, 9);
    assert_reproduces(&mut net, te, &[0.0, 3.15e7], (loss, acc), 1e-6);
}
