//! `bp-mirror` and `sg`: exactness on the ideal device (bp-mirror = bp-digital; sg with the true
//! gradient as its signal = bp-digital; zero-initialised modules leave the hidden layers still on
//! the first step; the last module's target is W_Lᵀe), the mirrors' mismatch growing on a noisy
//! device and dropping at a refresh, the refresh's cost in the counters, and MNIST smoke tests.

use mortalsim::data::{default_mnist_dir, Split};
use mortalsim::device::Device;
use mortalsim::experiment::{train, TrainConfig};
use mortalsim::learn::bp_mirror::BpMirror;
use mortalsim::learn::sg::{Sg, Signal};
use mortalsim::learn::{self, softmax_cross_entropy, Learner, Options};
use mortalsim::net::{Activation, NetSpec};
use mortalsim::testing::{assert_params_close, random_batch, readout_params};

fn spec(widths: &[usize], act: Activation) -> NetSpec {
    NetSpec::new(widths.to_vec(), act)
}

fn refresh(k: usize) -> Options {
    Options {
        mirror_refresh_every: Some(k),
        ..Options::default()
    }
}

/// constant-step cells (noisy, device-to-device varied pulse response) behind a perfect
/// periphery, so that `readout()` — and with it the mismatch measurement and the refresh — is
/// exact and the mismatch shows only how the two arrays answer the same pulses differently.
fn constant_step_exact_readout() -> Device {
    Device::load("constant-step")
        .unwrap()
        .edited("constant-step+perfect", |s| s.periphery.perfect = true)
        .unwrap()
}

#[test]
fn bp_mirror_on_the_ideal_device_equals_bp_digital() {
    let ideal = Device::ideal();
    for (widths, act) in [
        (vec![20, 16, 12, 5], Activation::Relu),
        (vec![12, 9, 8, 6, 3], Activation::Tanh),
    ] {
        let s = spec(&widths, act);
        // With and without refreshes: on the ideal device both keep the mirrors exact.
        for k in [0, 2] {
            let mut mirror = learn::build("bp-mirror", &s, &ideal, 3, &refresh(k)).unwrap();
            let mut d = learn::build("bp-digital", &s, &ideal, 3, &Options::default()).unwrap();
            assert_params_close(&readout_params(&mut *d), &readout_params(&mut *mirror), 0.0);
            for step in 0..6 {
                let (x, y) = random_batch(widths[0], 8, *widths.last().unwrap(), step);
                let la = d.step(&x, &y, 0.1);
                let lb = mirror.step(&x, &y, 0.1);
                assert!((la - lb).abs() < 1e-5, "losses {la} vs {lb}");
            }
            assert_params_close(
                &readout_params(&mut *d),
                &readout_params(&mut *mirror),
                1e-5,
            );
            assert_eq!(mirror.counters().oracle_reads, 0, "no privileged reads");
        }
    }
}

#[test]
fn mirrors_stay_exact_on_the_ideal_device() {
    let s = spec(&[20, 16, 12, 5], Activation::Relu);
    let mut m = BpMirror::new(&s, &Device::ideal(), 4, &refresh(0));
    for step in 0..5 {
        let (x, y) = random_batch(20, 8, 5, step);
        m.step(&x, &y, 0.2);
    }
    for v in m.mirror_mismatch() {
        assert!(v < 1e-6, "mismatch {v} on the ideal device");
    }
}

/// Mismatch of every mirror after 1, 20 and 100 steps of random batches without refreshes.
fn mismatch_run(dev: &Device, k: usize, checkpoints: &[usize]) -> Vec<Vec<f32>> {
    let s = spec(&[64, 48, 32, 10], Activation::Relu);
    let mut m = BpMirror::new(&s, dev, 5, &refresh(k));
    let mut out = Vec::new();
    let mut done = 0;
    for &c in checkpoints {
        while done < c {
            let (x, y) = random_batch(64, 16, 10, 100 + done as u64);
            m.step(&x, &y, 0.1);
            done += 1;
        }
        out.push(m.mirror_mismatch());
    }
    out
}

#[test]
fn mismatch_grows_without_refresh_and_drops_at_a_refresh() {
    let dev = constant_step_exact_readout();
    let never = mismatch_run(&dev, 0, &[0, 1, 20, 100]);
    eprintln!("constant-step, exact readout, no refresh (steps 0, 1, 20, 100): {never:?}");
    for layer in 0..2 {
        let series: Vec<f32> = never.iter().map(|m| m[layer]).collect();
        assert!(
            series[1] < series[2] && series[2] < series[3],
            "layer {}: mismatch does not grow: {series:?}",
            layer + 1
        );
    }
    let every = mismatch_run(&dev, 50, &[49, 50, 99, 100]);
    eprintln!("constant-step, exact readout, refresh every 50 (steps 49, 50, 99, 100): {every:?}");
    for layer in 0..2 {
        let series: Vec<f32> = every.iter().map(|m| m[layer]).collect();
        // The refresh removes what the pulses put between the arrays: the mismatch falls back
        // to where it stood after the first step (what remains is fabrication: the two arrays'
        // cells have different device-to-device bounds, so a few weights clip differently).
        assert!(
            series[1] < 0.7 * series[0] && series[3] < 0.7 * series[2],
            "layer {}: a refresh does not bring the mismatch down: {series:?}",
            layer + 1
        );
        assert!(series[1] <= never[1][layer] && series[3] <= never[1][layer]);
        // Refreshing keeps it below the unrefreshed run's at 100 steps.
        assert!(series[2] < never[3][layer]);
    }
}

#[test]
fn mismatch_on_the_stock_constant_step_device() {
    // With aihwkit's default periphery (output noise σ = 0.06, 9-bit ADC over ±12, step
    // Δ = 24/510) every entry of a one-hot readout carries noise of variance
    // σ_r² = σ² + Δ²/12, far above what 100 steps put between the arrays. The measurement
    // ‖M − Wᵀ‖/‖W‖ (both read out) then shows the readout noise: before any step (mirror and
    // layer programmed alike) it is the noise of two readouts, √(2nσ_r²)/‖W_r‖ for n cells; a
    // refresh programs one more readout's noise into the mirror, so right after it the squared
    // mismatch rises by about nσ_r²/‖W_r‖² — on a noisy periphery a refresh cannot bring the
    // mismatch down.
    let dev = Device::load("constant-step").unwrap();
    let never = mismatch_run(&dev, 0, &[0, 1, 20, 100]);
    eprintln!("constant-step, no refresh (steps 0, 1, 20, 100): {never:?}");
    let every = mismatch_run(&dev, 50, &[49, 50, 99, 100]);
    eprintln!("constant-step, refresh every 50 (steps 49, 50, 99, 100): {every:?}");
    let sr2 = 0.06f64 * 0.06 + (24.0f64 / 510.0).powi(2) / 12.0;
    // The mirrored layers' weights as the chip reads them.
    let mut fresh = BpMirror::new(
        &spec(&[64, 48, 32, 10], Activation::Relu),
        &dev,
        5,
        &refresh(0),
    );
    let params = readout_params(&mut fresh);
    for layer in 0..2 {
        let w = &params[layer + 1].0;
        let n = w.len() as f64;
        // The measurement divides by the norm of a readout, ‖W_r‖.
        let w2 = (w.norm() as f64).powi(2);
        let floor = (2.0 * n * sr2 / w2).sqrt();
        let m0 = never[0][layer] as f64;
        assert!(
            (m0 - floor).abs() <= 0.15 * floor,
            "layer {}: mismatch before any step {m0} vs the readout-noise floor {floor}",
            layer + 1
        );
        // Without refreshes it stays at the floor within 100 steps (the pulses' mismatch is small
        // against the readout noise) — neither collapsing nor exploding.
        for m in &never {
            let v = m[layer] as f64;
            assert!(
                v > 0.8 * floor && v < 1.3 * floor,
                "layer {}: {v} vs floor {floor}",
                layer + 1
            );
        }
        // Each refresh raises the squared mismatch by about one readout's noise, nσ_r²/‖W‖²
        // (tolerance: between a half and two readouts' worth).
        for (before, after) in [(0, 1), (2, 3)] {
            let (b, a) = (every[before][layer] as f64, every[after][layer] as f64);
            if after == 3 {
                // Step 99 → 100 is not a refresh: only the measurement noise changes it.
                assert!(
                    (a - b).abs() < 0.15 * floor,
                    "layer {}: {b} → {a}",
                    layer + 1
                );
                continue;
            }
            let rise = a * a - b * b;
            let one = n * sr2 / w2;
            assert!(
                rise > 0.5 * one && rise < 2.0 * one,
                "layer {}: a refresh moved the squared mismatch by {rise}, one readout's noise is {one}",
                layer + 1
            );
        }
    }
}

#[test]
fn a_refresh_costs_reads_and_programming_pulses() {
    let widths = [20, 16, 12, 5];
    let s = spec(&widths, Activation::Relu);
    for dev in [Device::ideal(), Device::load("constant-step").unwrap()] {
        let mut never = BpMirror::new(&s, &dev, 6, &refresh(0));
        let mut every = BpMirror::new(&s, &dev, 6, &refresh(1));
        for step in 0..3 {
            let (x, y) = random_batch(20, 4, 5, step);
            never.step(&x, &y, 0.1);
            every.step(&x, &y, 0.1);
        }
        assert_eq!(never.mirror_refreshes(), 0);
        assert_eq!(every.mirror_refreshes(), 3);
        let (a, b) = (never.counters(), every.counters());
        // Each refresh reads out every mirrored forward layer (one one-hot vector per column,
        // at least) and write-and-verifies every mirror cell (at least one pulse per cell).
        let cols: u64 = widths[1..widths.len() - 1].iter().map(|&c| c as u64).sum();
        let cells: u64 = (1..widths.len() - 1)
            .map(|l| (widths[l] * widths[l + 1]) as u64)
            .sum();
        assert!(b.reads >= a.reads + 3 * cols, "{} vs {}", b.reads, a.reads);
        assert!(
            b.programming_pulses >= a.programming_pulses + 3 * cells,
            "{} vs {}",
            b.programming_pulses,
            a.programming_pulses
        );
        assert!(every.energy_j() > never.energy_j());
    }
}

#[test]
fn sg_zero_initialised_modules_leave_hidden_layers_still_at_the_first_step() {
    let ideal = Device::ideal();
    let s = spec(&[14, 10, 9, 6], Activation::Tanh);
    let mut sg = learn::build("sg", &s, &ideal, 9, &Options::default()).unwrap();
    let before = readout_params(&mut *sg);
    let (x, y) = random_batch(14, 5, 6, 1);
    sg.step(&x, &y, 0.5);
    let after = readout_params(&mut *sg);
    assert_params_close(&after[..2], &before[..2], 0.0);
    assert!(
        (&after[2].0 - &before[2].0).norm() > 0.0,
        "output layer still"
    );
    // The output layer got the exact gradient: as backprop's.
    let mut bp = learn::build("bp-digital", &s, &ideal, 9, &Options::default()).unwrap();
    bp.step(&x, &y, 0.5);
    assert_params_close(&after[2..], &readout_params(&mut *bp)[2..], 1e-5);
    // The modules moved, and the signal bootstraps down one layer per step: the last hidden
    // layer learns from the second step on (its module learned from the exact W_Lᵀe), the one
    // below it from the third (its module's target was W_2ᵀ(0 ⊙ f′) = 0 at the first step).
    let (x, y) = random_batch(14, 5, 6, 2);
    sg.step(&x, &y, 0.5);
    let second = readout_params(&mut *sg);
    assert!((&second[1].0 - &after[1].0).norm() > 0.0, "layer 1 still");
    assert_params_close(&second[..1], &after[..1], 0.0);
    let (x, y) = random_batch(14, 5, 6, 3);
    sg.step(&x, &y, 0.5);
    let third = readout_params(&mut *sg);
    assert!((&third[0].0 - &second[0].0).norm() > 0.0, "layer 0 still");
}

#[test]
fn sg_with_the_true_gradient_as_signal_is_backprop() {
    let ideal = Device::ideal();
    for (widths, act) in [
        (vec![20, 16, 12, 5], Activation::Relu),
        (vec![12, 9, 8, 6, 3], Activation::Sigmoid),
    ] {
        let s = spec(&widths, act);
        let mut bp = learn::build("bp-digital", &s, &ideal, 7, &Options::default()).unwrap();
        let mut sg = Sg::with_signal(&s, &ideal, 7, &Options::default(), Signal::Oracle).unwrap();
        for step in 0..6 {
            let (x, y) = random_batch(widths[0], 8, *widths.last().unwrap(), 30 + step);
            bp.step(&x, &y, 0.2);
            sg.step(&x, &y, 0.2);
        }
        assert_params_close(&readout_params(&mut *bp), &readout_params(&mut sg), 1e-5);
    }
}

#[test]
fn the_last_modules_target_is_the_true_gradient() {
    let ideal = Device::ideal();
    let s = spec(&[15, 11, 8, 4], Activation::Relu);
    let mut bp = learn::build("bp-digital", &s, &ideal, 12, &Options::default()).unwrap();
    let mut sg = Sg::new(&s, &ideal, 12, &Options::default()).unwrap();
    for step in 0..4 {
        let (x, y) = random_batch(15, 6, 4, 50 + step);
        // ∂L/∂h_{L−1} = W_Lᵀ e at sg's current weights, computed outside the learner.
        let p = readout_params(&mut sg);
        let scores = sg.network().scores(&x);
        let (_, e) = softmax_cross_entropy(&scores, &y);
        let expect = p[2].0.transpose() * e;
        sg.step(&x, &y, 0.3);
        let got = &sg.last_targets()[1];
        assert!(
            (got - &expect).norm() <= 1e-5 * expect.norm().max(1e-12),
            "step {step}: target {got} vs W_Lᵀe {expect}"
        );
        bp.step(&x, &y, 0.3);
    }
}

fn mnist_accuracy(name: &str, epochs: usize) -> f64 {
    let (train_set, test_set) =
        Split::load_dir(default_mnist_dir()).expect("MNIST ships in data/mnist");
    let (train_set, test_set) = (train_set.subset(3000), test_set.subset(1000));
    let s = spec(&[784, 100, 100, 10], Activation::Relu);
    let mut learner = learn::build(name, &s, &Device::ideal(), 1, &Options::default()).unwrap();
    let cfg = TrainConfig {
        epochs,
        batch: 32,
        lr: 0.1,
        seed: 1,
        schedule: Default::default(),
        idle_s_per_sample: 0.0,
        countermeasures: Default::default(),
    };
    let report = train(&mut *learner, &train_set, &test_set, &cfg, |r| {
        eprintln!(
            "{name}: epoch {} test accuracy {:.3}",
            r.epoch, r.test_accuracy
        )
    });
    let last = report.epochs.last().unwrap();
    assert!(!last.diverged);
    last.test_accuracy
}

#[test]
fn bp_mirror_learns_mnist_clearly_above_chance() {
    let acc = mnist_accuracy("bp-mirror", 1);
    assert!(acc >= 0.55, "bp-mirror: {:.1} %", 100.0 * acc);
}

#[test]
fn sg_learns_mnist_clearly_above_chance() {
    let acc = mnist_accuracy("sg", 2);
    assert!(acc >= 0.35, "sg: {:.1} %", 100.0 * acc);
}
