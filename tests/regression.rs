//! The squared-error head, Kaiming-uniform initial weights and the slowly-changing regression
//! stream as a lifetime (Dohare et al. 2024): the head's loss and gradient against the closed
//! form, a regression step of backprop against hand-computed gradients, continual backprop with
//! ρ = 0 against plain backprop on the stream bit for bit, every rule with a regression head
//! learning a regression, and the errors of rules and targets that cannot train.

use mortalsim::device::Device;
use mortalsim::experiment::lifetime::{
    train_lifetime, LifetimeConfig, StreamKind, StreamSection, TaskReport,
};
use mortalsim::learn::continual::{Continual, ContinualConfig, UtilityKind};
use mortalsim::learn::{self, squared_error, Learner, Options};
use mortalsim::net::{torch_default_init, Activation, NetSpec, WeightInit};
use mortalsim::testing::readout_params;
use nalgebra::DMatrix;
use std::process::Command;

fn bits(m: &DMatrix<f32>) -> Vec<u32> {
    m.iter().map(|v| v.to_bits()).collect()
}

/// A deterministic regression batch: inputs in [0, 1) and a target that a small tanh network
/// can fit, y = 0.8·x₀ − 0.5·x₁ + 0.3.
fn regression_batch(inputs: usize, n: usize, seed: u64) -> (DMatrix<f32>, DMatrix<f32>) {
    let x = DMatrix::from_fn(inputs, n, |i, j| {
        let k = (i as u64 * 7919 + j as u64 * 104_729 + seed * 1_299_709) % 1000;
        k as f32 / 1000.0
    });
    let y = DMatrix::from_fn(1, n, |_, j| 0.8 * x[(0, j)] - 0.5 * x[(1, j)] + 0.3);
    (x, y)
}

#[test]
fn squared_error_is_the_mean_over_every_element_and_its_gradient_the_closed_form() {
    let z = DMatrix::from_row_slice(2, 3, &[1.0, -2.0, 0.5, 3.0, 0.0, -1.0]);
    let y = DMatrix::from_row_slice(2, 3, &[0.0, -1.0, 0.5, 1.0, 2.0, 1.0]);
    let (loss, e) = squared_error(&z, &y);
    // (1 + 1 + 0 + 4 + 4 + 4) / 6, as torch.nn.functional.mse_loss.
    assert!((loss - 14.0 / 6.0).abs() < 1e-6, "loss {loss}");
    let expected = [2.0, -2.0, 0.0, 4.0, -4.0, -4.0].map(|d: f32| d / 6.0);
    let want = DMatrix::from_row_slice(2, 3, &expected);
    assert!((e - &want).abs().max() < 1e-7);
    // The gradient is the loss's derivative: central differences agree.
    let (_, e) = squared_error(&z, &y);
    for k in 0..z.len() {
        let h = 1e-2f32;
        let mut up = z.clone();
        up[k] += h;
        let mut down = z.clone();
        down[k] -= h;
        let fd = (squared_error(&up, &y).0 - squared_error(&down, &y).0) / (2.0 * h);
        assert!((fd - e[k]).abs() < 1e-4, "element {k}: {fd} vs {}", e[k]);
    }
}

/// One regression step of backprop on a 3-4-1 tanh network, batch 3, computed by hand in f64:
/// e = 2(z − y)/B, δ₁ = (W₂ᵀe) ⊙ (1 − h₁²), ΔW = −lr δ xᵀ, Δb = −lr Σ_b δ.
#[test]
fn a_regression_step_of_backprop_is_the_closed_form_gradient_step() {
    let spec = NetSpec::new(vec![3, 4, 1], Activation::Tanh);
    let (x, y) = regression_batch(3, 3, 1);
    let lr = 0.1f32;
    for (name, dev) in [
        ("bp-digital", Device::ideal()),
        ("bp-oracle", Device::ideal()),
    ] {
        let mut l = learn::build(name, &spec, &dev, 11, &Options::default()).unwrap();
        let before = readout_params(&mut *l);
        let (w1, b1) = (before[0].0.clone().cast::<f64>(), &before[0].1);
        let (w2, b2) = (before[1].0.clone().cast::<f64>(), &before[1].1);
        let xd = x.clone().cast::<f64>();
        let batch = x.ncols();
        let mut a1 = &w1 * &xd;
        for j in 0..batch {
            for i in 0..4 {
                a1[(i, j)] += f64::from(b1[i]);
            }
        }
        let h1 = a1.map(f64::tanh);
        let mut z = &w2 * &h1;
        z.iter_mut().for_each(|v| *v += f64::from(b2[0]));
        let diff = &z - y.clone().cast::<f64>();
        let want_loss = diff.iter().map(|d| d * d).sum::<f64>() / batch as f64;
        let e = diff * (2.0 / batch as f64);
        let g1 = w2.transpose() * &e;
        let d1 = g1.zip_map(&h1, |g, h| g * (1.0 - h * h));
        let lrd = f64::from(lr);
        let w1_after = &w1 - (&d1 * xd.transpose()) * lrd;
        let w2_after = &w2 - (&e * h1.transpose()) * lrd;
        let loss = l.step_regression(&x, &y, lr).unwrap();
        assert!(
            (f64::from(loss) - want_loss).abs() < 1e-5,
            "{name}: loss {loss} vs {want_loss}"
        );
        let after = readout_params(&mut *l);
        let close = |got: &DMatrix<f32>, want: &DMatrix<f64>, what: &str| {
            let worst = (got.clone().cast::<f64>() - want).abs().max();
            assert!(worst < 1e-5, "{name}: {what} off by {worst}");
        };
        close(&after[0].0, &w1_after, "W1");
        close(&after[1].0, &w2_after, "W2");
        for (i, (&b, &got)) in b1.iter().zip(&after[0].1).enumerate() {
            let want = f64::from(b) - lrd * d1.row(i).sum();
            assert!((f64::from(got) - want).abs() < 1e-5, "{name}: b1[{i}]");
        }
        let want_b2 = f64::from(b2[0]) - lrd * e.sum();
        assert!(
            (f64::from(after[1].1[0]) - want_b2).abs() < 1e-5,
            "{name}: b2"
        );
    }
}

/// Every rule but Forward-Forward fits y = 0.8·x₀ − 0.5·x₁ + 0.3 on the ideal device: the
/// held-out squared error ends below 0.05 (a constant predictor's is the targets' variance,
/// about 0.074) and below a tenth of the initial error.
#[test]
fn every_rule_with_a_regression_head_fits_a_regression() {
    let spec = NetSpec::new(vec![6, 12, 10, 1], Activation::Tanh);
    let (test_x, test_y) = regression_batch(6, 64, 1000);
    for name in [
        "bp-digital",
        "bp-oracle",
        "bp-mirror",
        "fa",
        "dfa",
        "sg",
        "dtp",
    ] {
        let mut l = learn::build(name, &spec, &Device::ideal(), 3, &Options::default()).unwrap();
        let mse = |l: &mut dyn Learner| squared_error(&l.scores(&test_x), &test_y).0;
        let start = mse(&mut *l);
        for step in 0..400 {
            let (x, y) = regression_batch(6, 8, step);
            let loss = l.step_regression(&x, &y, 0.05).unwrap();
            assert!(loss.is_finite(), "{name}: step {step} loss {loss}");
        }
        let end = mse(&mut *l);
        assert!(
            end < 0.1 * start && end < 0.05,
            "{name}: held-out squared error {start} → {end}"
        );
    }
}

#[test]
fn rules_without_a_head_and_bad_targets_are_errors_that_leave_the_learner_untouched() {
    let dev = Device::ideal();
    let (x, y) = regression_batch(6, 4, 2);
    // Forward-Forward's goodness needs classes.
    let ff_spec = NetSpec::new(vec![30, 20, 5], Activation::Relu);
    let mut ff = learn::build("ff", &ff_spec, &dev, 1, &Options::default()).unwrap();
    let before = ff.counters();
    let (x30, _) = regression_batch(30, 4, 2);
    let err = ff
        .step_regression(&x30, &DMatrix::zeros(5, 4), 0.1)
        .unwrap_err();
    assert!(err.contains("no regression head"), "{err}");
    assert_eq!(ff.counters(), before);
    let spec = NetSpec::new(vec![6, 5, 1], Activation::Relu);
    let mut bp = learn::build("bp-oracle", &spec, &dev, 1, &Options::default()).unwrap();
    let before = bp.counters();
    let wide = DMatrix::zeros(2, 4);
    let err = bp.step_regression(&x, &wide, 0.1).unwrap_err();
    assert!(err.contains("2×4") && err.contains("1 outputs"), "{err}");
    let mut nan = y.clone();
    nan[2] = f32::NAN;
    let err = bp.step_regression(&x, &nan, 0.1).unwrap_err();
    assert!(err.contains("not finite"), "{err}");
    assert_eq!(bp.counters(), before, "a refused step does nothing");
    // Wrapped in continual backprop, the refusal passes through and nothing is recorded.
    let plain = learn::build("bp-oracle", &spec, &dev, 1, &Options::default()).unwrap();
    let c = ContinualConfig {
        replacement_rate: 0.5,
        maturity: 0,
        ..ContinualConfig::default()
    };
    let mut wrapped = Continual::new(plain, c, 1).unwrap();
    assert!(wrapped.step_regression(&x, &wide, 0.1).is_err());
    wrapped.step_regression(&x, &y, 0.1).unwrap();
}

#[test]
fn kaiming_uniform_draws_within_its_bound_with_the_uniform_variance() {
    let (rows, cols) = (200, 500);
    for (act, gain) in [
        (Activation::Relu, 2f64.sqrt()),
        (Activation::Tanh, 5.0 / 3.0),
        (Activation::Identity, 1.0),
    ] {
        let (w, b) = WeightInit::KaimingUniform.draw(rows, cols, act, 9);
        let bound = gain * (3.0 / cols as f64).sqrt();
        assert!(b.iter().all(|&v| v == 0.0), "biases 0");
        let max = w.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
        assert!(
            max <= bound && max > 0.99 * bound,
            "{act:?}: max {max} vs {bound}"
        );
        let n = w.len() as f64;
        let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = w
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        // U(−a, a) has variance a²/3; 100,000 draws put the estimate within 1 % (5σ ≈ 0.7 %).
        let want = bound * bound / 3.0;
        assert!(
            (var / want - 1.0).abs() < 0.01,
            "{act:?}: var {var} vs {want}"
        );
        assert!(mean.abs() < 5.0 * (want / n).sqrt(), "{act:?}: mean {mean}");
    }
    // The default is PyTorch's nn.Linear draw, unchanged.
    let (w, b) = WeightInit::TorchDefault.draw(7, 9, Activation::Relu, 4);
    let (w0, b0) = torch_default_init(7, 9, 4);
    assert_eq!((bits(&w), b.as_slice()), (bits(&w0), b0.as_slice()));
    assert_eq!(
        WeightInit::parse("kaiming-uniform"),
        Some(WeightInit::KaimingUniform)
    );
    assert_eq!(WeightInit::parse("kaiming"), None);
}

fn regression_lifetime(tasks: usize, per_task: usize, batch: usize) -> LifetimeConfig {
    LifetimeConfig {
        stream: StreamSection {
            kind: StreamKind::SlowlyChangingRegression,
            tasks,
            samples_per_task: Some(per_task),
            metrics_samples: 200,
            ..StreamSection::default()
        },
        batch,
        lr: 0.01,
        seed: 5,
        ..LifetimeConfig::default()
    }
}

fn lifetime_of(l: &mut dyn Learner, cfg: &LifetimeConfig) -> Vec<TaskReport> {
    let none = mortalsim::data::Dataset::from_parts(Vec::new(), Vec::new(), 0, 0, 0).unwrap();
    train_lifetime(l, &none, &none, cfg, |_| {}).unwrap()
}

fn regression_spec() -> NetSpec {
    NetSpec {
        init: WeightInit::KaimingUniform,
        ..NetSpec::new(vec![20, 5, 1], Activation::Relu)
    }
}

/// Issue 15: continual backprop with ρ = 0 is plain backprop on the regression stream, bit for
/// bit — wrapped explicitly (the mechanisms' bookkeeping runs) and with utilities tracked.
#[test]
fn continual_backprop_with_rho_zero_is_backprop_on_the_regression_stream_bit_for_bit() {
    let spec = regression_spec();
    let dev = Device::ideal();
    let cfg = regression_lifetime(4, 500, 1);
    let build = || learn::build("bp-digital", &spec, &dev, 2, &Options::default()).unwrap();
    let mut plain = build();
    let reference = lifetime_of(&mut *plain, &cfg);
    let off = ContinualConfig {
        maturity: 10,
        utility: UtilityKind::AdaptableContribution,
        readout_every: 1,
        ..ContinualConfig::default()
    };
    let tracking = ContinualConfig {
        replacement_rate: 0.01,
        maturity: u64::MAX,
        ..off.clone()
    };
    for c in [off, tracking] {
        let mut wrapped = Continual::new(build(), c, 2).unwrap();
        let got = lifetime_of(&mut wrapped, &cfg);
        assert_eq!(got.len(), reference.len());
        for (a, b) in reference.iter().zip(&got) {
            assert_eq!(
                a.train_loss.to_bits(),
                b.train_loss.to_bits(),
                "task {}",
                a.task
            );
            assert_eq!(a.dead_fraction, b.dead_fraction);
            assert_eq!(a.stable_rank, b.stable_rank);
        }
        for (pa, pb) in readout_params(&mut *plain)
            .iter()
            .zip(&readout_params(&mut wrapped))
        {
            assert_eq!(bits(&pa.0), bits(&pb.0));
            assert_eq!(pa.1, pb.1);
        }
    }
    // With replacements on, the trajectory does change (the comparison can fail).
    let on = ContinualConfig {
        replacement_rate: 1e-2,
        maturity: 10,
        utility: UtilityKind::AdaptableContribution,
        ..ContinualConfig::default()
    };
    let mut cbp = Continual::new(build(), on, 2).unwrap();
    let got = lifetime_of(&mut cbp, &cfg);
    assert!(got.last().unwrap().replacements > 0);
    assert_ne!(
        got.last().unwrap().train_loss.to_bits(),
        reference.last().unwrap().train_loss.to_bits()
    );
}

#[test]
fn a_regression_lifetime_reports_the_online_error_and_no_accuracy() {
    let spec = regression_spec();
    let mut l = learn::build(
        "bp-digital",
        &spec,
        &Device::ideal(),
        1,
        &Options::default(),
    )
    .unwrap();
    let cfg = regression_lifetime(3, 1000, 4);
    let reports = lifetime_of(&mut *l, &cfg);
    assert_eq!(reports.len(), 3);
    for (t, r) in reports.iter().enumerate() {
        assert_eq!(r.task, t + 1);
        assert_eq!(r.samples_seen, 1000 * (t as u64 + 1));
        assert!(r.accuracy.is_nan() && r.first_task_accuracy.is_nan());
        assert!(r.train_loss.is_finite() && r.train_loss > 0.0);
        assert!(!r.diverged);
        assert_eq!(r.dead_fraction.len(), 1);
        assert_eq!(r.mean_abs_weight.len(), 2);
    }
}

/// An experiment on the regression stream runs without any dataset: its `[data] dir` does not
/// exist, and the run completes with the online-error figure and table.
#[test]
fn a_regression_experiment_needs_no_dataset() {
    let dir = std::env::temp_dir().join(format!("mortalsim-regression-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scr.toml");
    std::fs::write(
        &file,
        r#"name = "scr"
description = "a short slowly-changing regression"
learners = ["bp-digital", "dfa"]
devices = ["ideal"]
seeds = [1]
[data]
dir = "no/such/directory"
[network]
hidden = [5]
init = "kaiming-uniform"
[train]
batch = 1
lr = 0.01
[stream]
kind = "slowly-changing-regression"
tasks = 3
samples_per_task = 2000
metrics_samples = 100
[stream.regression]
change_every = 2000
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary = std::fs::read_to_string(out.join("plots/summary.md")).unwrap();
    assert!(summary.contains("Online squared error"), "{summary}");
    assert!(!summary.contains("first task at end"), "{summary}");
    assert!(out.join("plots/online_error.png").exists());
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let losses = metrics
        .lines()
        .filter(|l| l.contains(",train_loss,") && l.starts_with("dfa"))
        .count();
    assert_eq!(losses, 3, "dfa trains on the stream too");
    let _ = std::fs::remove_dir_all(&dir);
}
