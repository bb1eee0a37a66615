//! Update schemes (mixed precision, Tiki-Taka, TTv2, chopped TTv2, AGAD): equal to SGD where the
//! algorithm says so, transfer reads and pulses exactly on schedule, chopping cancelling a fast
//! array's drift toward its symmetry point, every rule stepping with every scheme, and clear
//! errors for bad options.

use mortalsim::device::Device;
use mortalsim::experiment::Experiment;
use mortalsim::learn::{self, Options};
use mortalsim::net::{Activation, Chip, NetSpec, Role, SchemeName, SchemeOptions, UpdateScheme};
use mortalsim::testing::random_batch;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};

fn random_matrix(rows: usize, cols: usize, seed: u64, scale: f32) -> DMatrix<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-scale..scale))
}

/// A chip holding one linear layer of `cols` inputs and `rows` outputs on `device`.
fn one_layer(device: &Device, cols: usize, rows: usize, seed: u64) -> Chip {
    let spec = NetSpec::new(vec![cols, rows], Activation::Relu);
    Chip::new(&spec, Some(device), seed)
}

fn scheme(name: SchemeName, options: SchemeOptions) -> UpdateScheme {
    UpdateScheme { name, options }
}

/// Takes `steps` updates with the same random x, δ on both chips; returns the largest
/// difference of their weights as read out (exact on the ideal device).
fn max_difference(a: &mut Chip, b: &mut Chip, steps: u64, lr: f32) -> f32 {
    let (rows, cols) = {
        let l = &a.network().layers()[0];
        (l.rows(), l.cols())
    };
    for s in 0..steps {
        let x = random_matrix(cols, 5, 100 + s, 1.0);
        let d = random_matrix(rows, 5, 200 + s, 0.5);
        a.network_mut().layer(0).update(&x, &d, lr);
        b.network_mut().layer(0).update(&x, &d, lr);
    }
    let wa = a.network_mut().layer(0).readout();
    let wb = b.network_mut().layer(0).readout();
    (wa - wb).amax()
}

#[test]
fn sgd_scheme_leaves_the_chip_as_it_was() {
    let dev = Device::load("constant-step").unwrap();
    let mut plain = one_layer(&dev, 7, 5, 3);
    let mut sgd = one_layer(&dev, 7, 5, 3);
    sgd.set_update_scheme(&UpdateScheme::sgd(), 3).unwrap();
    assert_eq!(max_difference(&mut plain, &mut sgd, 4, 0.1), 0.0);
    assert_eq!(plain.counters(), sgd.counters());
    assert_eq!(sgd.arrays().count(), 1, "sgd allocates no array");
}

#[test]
fn mixed_precision_with_zero_granularity_on_the_ideal_device_is_sgd() {
    let ideal = Device::ideal();
    let mut plain = one_layer(&ideal, 6, 4, 1);
    let mut mp = one_layer(&ideal, 6, 4, 1);
    let opts = SchemeOptions {
        granularity: Some(0.0),
        ..Default::default()
    };
    mp.set_update_scheme(&scheme(SchemeName::MixedPrecision, opts), 1)
        .unwrap();
    let diff = max_difference(&mut plain, &mut mp, 6, 0.1);
    assert!(diff < 1e-6, "{diff}");
    let c = mp.counters_of(Role::Forward);
    // χ: 2 operations per weight per sample on every step, 2 per weight per transfer.
    assert_eq!(c.buffer_ops, 6 * (2 * 24 * 5 + 2 * 24));
}

#[test]
fn mixed_precision_on_the_ideal_device_is_sgd_up_to_one_step() {
    // With the step ε the transfer leaves |χ| < ε in every cell, so the weights differ from
    // SGD's by less than ε.
    let ideal = Device::ideal();
    let eps = 0.01f32;
    let mut plain = one_layer(&ideal, 6, 4, 2);
    let mut mp = one_layer(&ideal, 6, 4, 2);
    let opts = SchemeOptions {
        granularity: Some(eps),
        ..Default::default()
    };
    mp.set_update_scheme(&scheme(SchemeName::MixedPrecision, opts), 2)
        .unwrap();
    let diff = max_difference(&mut plain, &mut mp, 8, 0.1);
    assert!(diff < eps * 1.0001, "{diff}");
    assert!(diff > 0.0, "the quantisation is visible");
}

#[test]
fn tiki_taka_with_gamma_zero_and_every_column_every_step_is_sgd_on_the_ideal_device() {
    // A ← A − lr·δxᵀ, then every column read and added to C with rate 1 and cleared: C follows
    // SGD exactly (the ideal device's reads and writes are exact, so there is no quantisation).
    let ideal = Device::ideal();
    let lr = 0.1f32;
    let mut plain = one_layer(&ideal, 6, 4, 4);
    let mut tt = one_layer(&ideal, 6, 4, 4);
    let opts = SchemeOptions {
        columns_per_transfer: Some(6),
        transfer_lr: Some(1.0 / lr),
        with_reset_prob: Some(1.0),
        ..Default::default()
    };
    tt.set_update_scheme(&scheme(SchemeName::TikiTaka, opts), 4)
        .unwrap();
    let diff = max_difference(&mut plain, &mut tt, 5, lr);
    assert!(diff < 1e-5, "{diff}");
    let a = tt.counters_of(Role::Transfer);
    assert_eq!(a.transfer_reads, 5 * 6);
}

#[test]
fn tiki_taka_transfer_reads_and_pulses_follow_the_schedule() {
    let dev = Device::load("constant-step").unwrap();
    let mut chip = one_layer(&dev, 5, 3, 6);
    let opts = SchemeOptions {
        transfer_every: Some(2),
        columns_per_transfer: Some(3),
        ..Default::default()
    };
    chip.set_update_scheme(&scheme(SchemeName::TikiTaka, opts), 6)
        .unwrap();
    let before_c = chip.counters_of(Role::Forward);
    let before_a = chip.counters_of(Role::Transfer);
    for s in 0..7 {
        let x = random_matrix(5, 4, s, 1.0);
        let d = random_matrix(3, 4, 50 + s, 0.5);
        chip.network_mut().layer(0).update(&x, &d, 0.1);
    }
    let c = chip.counters_of(Role::Forward);
    let a = chip.counters_of(Role::Transfer);
    // Transfers after updates 2, 4 and 6, three columns each.
    assert_eq!(a.transfer_reads - before_a.transfer_reads, 9);
    assert_eq!(
        a.reads - before_a.reads,
        9,
        "A is read only by transfers when γ = 0"
    );
    assert_eq!(
        a.update_rows - before_a.update_rows,
        7 * 4,
        "A gets every sample"
    );
    assert_eq!(
        c.update_rows - before_c.update_rows,
        9,
        "C gets one pair per column"
    );
    assert_eq!(c.reads, before_c.reads, "C is not read by the scheme");
    assert_eq!(chip.network().layers()[0].scheme_transfer_events(), 9);
}

#[test]
fn ttv2_transfer_reads_and_pulses_follow_the_schedule() {
    // Samples 4 per update, a transfer every 3 samples: after 5 updates (20 samples) 6 columns
    // were read; C receives exactly one pulse per buffer entry that reached 1 (transfer trains
    // of one slot at probability 1).
    let dev = Device::load("constant-step").unwrap();
    let mut chip = one_layer(&dev, 5, 3, 7);
    let opts = SchemeOptions {
        transfer_every: Some(3),
        auto_granularity: Some(0.0),
        transfer_lr: Some(50.0),
        ..Default::default()
    };
    chip.set_update_scheme(&scheme(SchemeName::Ttv2, opts), 7)
        .unwrap();
    let before_c = chip.counters_of(Role::Forward);
    let programming = chip.counters_of(Role::Transfer).programming_pulses;
    assert!(programming > 0, "A was programmed to 0 at allocation");
    for s in 0..5 {
        let x = random_matrix(5, 4, s, 1.0);
        let d = random_matrix(3, 4, 70 + s, 0.5);
        chip.network_mut().layer(0).update(&x, &d, 0.5);
    }
    let c = chip.counters_of(Role::Forward);
    let a = chip.counters_of(Role::Transfer);
    assert_eq!(a.transfer_reads, 6);
    let events = chip.network().layers()[0].scheme_transfer_events();
    assert_eq!(c.update_rows - before_c.update_rows, events);
    // One slot per transfer pair; every non-zero entry of the pair's d is one coincidence.
    assert_eq!(c.pulse_slots - before_c.pulse_slots, events);
    assert!(c.coincidences - before_c.coincidences >= events);
    assert!(events > 0, "the buffer reached its threshold");
    assert!(a.buffer_ops > 0);
}

/// A soft-bounds device whose up and down steps differ (up_down 0.5), so that its symmetry
/// point is w* = (1.5 − 0.5)/(1.5 + 0.5) = 0.5 instead of 0; no variation, exact periphery.
fn off_symmetry_device() -> Device {
    let src = r#"
name = "off-symmetry"
description = "soft bounds with symmetry point at 0.5"
source = "test"
[response]
model = "soft-bounds"
dw_min = 0.01
dw_min_dtod = 0.0
dw_min_std = 0.0
up_down = 0.5
up_down_dtod = 0.0
w_min = -1.0
w_max = 1.0
w_min_dtod = 0.0
w_max_dtod = 0.0
[failure]
[periphery]
perfect = true
[update]
pulse_type = "stochastic-compressed"
desired_bl = 31
"#;
    Device::from_toml(src, "off-symmetry.toml").unwrap()
}

/// Signed transfer pulses per cell sent to C after `steps` updates of zero-mean random
/// gradients under `name`.
fn drift_of_c(name: SchemeName, steps: u64) -> f32 {
    let dev = off_symmetry_device();
    let mut chip = one_layer(&dev, 8, 6, 9);
    let opts = SchemeOptions {
        in_chop_prob: (name != SchemeName::Ttv2).then_some(0.2),
        auto_granularity: Some(0.0),
        ..Default::default()
    };
    chip.set_update_scheme(&scheme(name, opts), 9).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..steps {
        let x = DMatrix::from_fn(8, 4, |_, _| if rng.random::<bool>() { 1.0 } else { -1.0 });
        let d = DMatrix::from_fn(6, 4, |_, _| if rng.random::<bool>() { 0.1 } else { -0.1 });
        chip.network_mut().layer(0).update(&x, &d, 0.05);
    }
    chip.network().layers()[0].scheme_net_pulses() as f32 / 48.0
}

#[test]
fn chopping_cancels_the_fast_arrays_drift_toward_its_symmetry_point() {
    // Zero-mean gradients carry no signal; A drifts to its symmetry point 0.5 anyway, and
    // TTv2 transfers that offset into C. The choppers flip the sign under which A's columns
    // are read, so the offset averages out of the buffer. (C's own weights are no measure: C
    // is the same asymmetric device and drifts under any mix of up and down pulses.)
    let plain = drift_of_c(SchemeName::Ttv2, 300);
    let chopped = drift_of_c(SchemeName::CTtv2, 300);
    assert!(
        plain > 5.0,
        "TTv2 pushes C toward A's symmetry point: {plain} pulses per cell"
    );
    assert!(
        chopped.abs() < 0.25 * plain,
        "chopped {chopped} vs plain {plain}"
    );
    // AGAD subtracts a running reference of A's reads as well.
    let agad = drift_of_c(SchemeName::Agad, 300);
    assert!(agad.abs() < 0.25 * plain, "agad {agad} vs plain {plain}");
}

#[test]
fn agad_writes_nothing_before_its_first_chopper_periods() {
    // in_chop_prob 0.5: a period of N = 2 sweeps; 5 inputs and 5 samples per update, so one
    // sweep per update. Transfers may write only once more than N sweeps are done (from the
    // fourth update on); the columns are read from the first.
    let dev = Device::load("constant-step").unwrap();
    let mut chip = one_layer(&dev, 5, 3, 12);
    let opts = SchemeOptions {
        in_chop_prob: Some(0.5),
        auto_granularity: Some(0.0),
        transfer_lr: Some(1000.0),
        ..Default::default()
    };
    chip.set_update_scheme(&scheme(SchemeName::Agad, opts), 12)
        .unwrap();
    let step = |chip: &mut Chip, s: u64| {
        let x = random_matrix(5, 5, 300 + s, 1.0);
        let d = random_matrix(3, 5, 400 + s, 0.5);
        chip.network_mut().layer(0).update(&x, &d, 0.5);
    };
    for s in 0..3 {
        step(&mut chip, s);
    }
    assert_eq!(chip.counters_of(Role::Transfer).transfer_reads, 15);
    assert_eq!(chip.network().layers()[0].scheme_transfer_events(), 0);
    for s in 3..8 {
        step(&mut chip, s);
    }
    assert_eq!(chip.counters_of(Role::Transfer).transfer_reads, 40);
    assert!(chip.network().layers()[0].scheme_transfer_events() > 0);
}

#[test]
fn every_rule_steps_with_every_scheme_and_pays_for_it() {
    let dev = Device::load("constant-step").unwrap();
    let spec = NetSpec::new(vec![12, 8, 4], Activation::Relu);
    for rule in ["bp-oracle", "bp-mirror", "fa", "dfa", "sg", "ff"] {
        for name in [
            SchemeName::MixedPrecision,
            SchemeName::TikiTaka,
            SchemeName::Ttv2,
            SchemeName::CTtv2,
            SchemeName::Agad,
        ] {
            let options = Options {
                update: UpdateScheme::named(name),
                ..Options::default()
            };
            let mut l = learn::build(rule, &spec, &dev, 3, &options).unwrap();
            for s in 0..3 {
                let (x, y) = random_batch(12, 6, 4, s);
                let loss = l.step(&x, &y, 0.05);
                assert!(loss.is_finite(), "{rule} {name:?}");
            }
            let chip = l.chip();
            let fwd = chip.counters_of(Role::Forward);
            let t = chip.counters_of(Role::Transfer);
            match name {
                SchemeName::MixedPrecision => {
                    assert!(fwd.buffer_ops > 0, "{rule}: χ is counted");
                    assert_eq!(t, Default::default(), "{rule}: no transfer array");
                }
                _ => {
                    assert!(t.transfer_reads > 0, "{rule} {name:?}: transfer reads");
                    assert!(t.update_rows > 0, "{rule} {name:?}: A is pulsed");
                    assert!(chip.energy_of_j(Role::Transfer) > 0.0, "{rule} {name:?}");
                    let n = chip.arrays().filter(|(r, _)| *r == Role::Transfer).count();
                    assert_eq!(n, 2, "{rule}: one fast array per forward layer");
                }
            }
            if name != SchemeName::TikiTaka {
                assert!(t.buffer_ops + fwd.buffer_ops > 0, "{rule} {name:?}: buffer");
            }
        }
    }
}

#[test]
fn a_scheme_on_bp_digital_or_with_momentum_is_an_error() {
    let spec = NetSpec::new(vec![12, 8, 4], Activation::Relu);
    let dev = Device::load("constant-step").unwrap();
    let options = Options {
        update: UpdateScheme::named(SchemeName::Ttv2),
        ..Options::default()
    };
    let e = learn::build("bp-digital", &spec, &dev, 1, &options)
        .err()
        .unwrap();
    assert!(
        e.starts_with("update:") && e.contains("needs a device"),
        "{e}"
    );
    let with_momentum = Options {
        momentum: 0.9,
        ..options.clone()
    };
    let e = learn::build("fa", &spec, &dev, 1, &with_momentum)
        .err()
        .unwrap();
    assert!(e.contains("momentum"), "{e}");
    let bad = Options {
        update: scheme(
            SchemeName::TikiTaka,
            SchemeOptions {
                in_chop_prob: Some(0.1),
                ..Default::default()
            },
        ),
        ..Options::default()
    };
    let e = learn::build("fa", &spec, &dev, 1, &bad).err().unwrap();
    assert!(
        e.contains("scheme.in_chop_prob") && e.contains("tiki-taka"),
        "{e}"
    );
}

const FILE: &str = r#"
name = "schemes"
learners = ["fa"]
devices = ["constant-step"]
seeds = [1]
[network]
hidden = [8]
[train]
epochs = 1
update = "c-ttv2"
[train.scheme]
in_chop_prob = 0.05
"#;

#[test]
fn experiment_files_choose_and_sweep_schemes() {
    let exp = Experiment::from_toml(FILE, "s.toml", "s").unwrap();
    let s = &exp.points[0].settings.train;
    assert_eq!(s.update, SchemeName::CTtv2);
    assert_eq!(s.scheme.in_chop_prob, Some(0.05));

    let swept = FILE.replace(
        "[train.scheme]\nin_chop_prob = 0.05\n",
        "[[sweep]]\npath = \"train.update\"\nvalues = [\"sgd\", \"ttv2\", \"mixed-precision\"]\n",
    );
    let exp = Experiment::from_toml(&swept, "s.toml", "s").unwrap();
    let names: Vec<_> = exp.points.iter().map(|p| p.settings.train.update).collect();
    assert_eq!(
        names,
        [
            SchemeName::Sgd,
            SchemeName::Ttv2,
            SchemeName::MixedPrecision
        ]
    );
    let hashes: std::collections::HashSet<_> = exp.points.iter().map(|p| &p.config_hash).collect();
    assert_eq!(hashes.len(), 3);

    let err = |src: &str| {
        Experiment::from_toml(src, "s.toml", "s")
            .err()
            .unwrap()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    // A scheme's option is swept like any field.
    let swept_option = FILE.replace(
        "[train.scheme]\nin_chop_prob = 0.05\n",
        "[[sweep]]\npath = \"train.scheme.in_chop_prob\"\nvalues = [0.0, 0.1]\n",
    );
    let exp = Experiment::from_toml(&swept_option, "s.toml", "s").unwrap();
    let probs: Vec<_> = exp
        .points
        .iter()
        .map(|p| p.settings.train.scheme.in_chop_prob)
        .collect();
    assert_eq!(probs, [Some(0.0), Some(0.1)]);

    let e = err(&FILE.replace("in_chop_prob = 0.05", "chop = 0.05"));
    assert!(e.contains("chop"), "{e}");
    let e = err(&FILE.replace("in_chop_prob = 0.05", "in_chop_prob = 1.5"));
    assert!(e.contains("train.scheme.in_chop_prob"), "{e}");
    let e = err(&FILE.replace("update = \"c-ttv2\"", "update = \"ttv3\""));
    assert!(e.contains("ttv3"), "{e}");
    let e = err(&FILE.replace("learners = [\"fa\"]", "learners = [\"bp-digital\"]"));
    assert!(
        e.contains("train.update") && e.contains("bp-digital"),
        "{e}"
    );
}

#[test]
fn schemes_give_the_same_bits_on_one_and_two_threads() {
    let dev = Device::load("reram-sb").unwrap();
    let spec = NetSpec::new(vec![12, 8, 4], Activation::Relu);
    for name in [
        SchemeName::MixedPrecision,
        SchemeName::TikiTaka,
        SchemeName::CTtv2,
        SchemeName::Agad,
    ] {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let options = Options {
                    update: UpdateScheme::named(name),
                    ..Options::default()
                };
                let mut l = learn::build("dfa", &spec, &dev, 8, &options).unwrap();
                for s in 0..4 {
                    let (x, y) = random_batch(12, 6, 4, s);
                    l.step(&x, &y, 0.05);
                }
                let w: Vec<DMatrix<f32>> = (0..2).map(|k| l.network().layer(k).readout()).collect();
                (w, l.counters())
            })
        };
        assert_eq!(run(1), run(2), "{name:?}");
    }
}

#[test]
fn with_gamma_the_fast_array_joins_every_read_and_readout() {
    // W = γ·(A − R)·diag(c) + C: a forward read of the identity, the one-hot readout and the
    // trained network's predictions agree, choppers and symmetry-point reference included.
    let dev = off_symmetry_device();
    for name in [SchemeName::TikiTaka, SchemeName::CTtv2] {
        let mut chip = one_layer(&dev, 6, 4, 13);
        let opts = SchemeOptions {
            gamma: Some(0.5),
            symmetry_pulses: Some(20),
            in_chop_prob: (name == SchemeName::CTtv2).then_some(0.3),
            ..Default::default()
        };
        chip.set_update_scheme(&scheme(name, opts), 13).unwrap();
        for s in 0..6 {
            let x = random_matrix(6, 3, 500 + s, 1.0);
            let d = random_matrix(4, 3, 600 + s, 0.5);
            chip.network_mut().layer(0).update(&x, &d, 0.2);
        }
        let layer = chip.network_mut().layer(0);
        let by_read = layer.read(&DMatrix::identity(6, 6));
        let by_readout = layer.readout();
        assert!((by_read - &by_readout).amax() < 1e-5, "{name:?}");
        let reads_before = chip.counters_of(Role::Transfer).reads;
        chip.network_mut()
            .layer(0)
            .read(&random_matrix(6, 2, 1, 1.0));
        assert_eq!(
            chip.counters_of(Role::Transfer).reads,
            reads_before + 2,
            "{name:?}: each read of the layer reads A too"
        );
    }
}

#[test]
fn the_symmetry_point_search_finds_the_devices_symmetry_point_and_is_counted() {
    // 200 alternating up/down pairs drive every cell of A to w* = 0.5; the reference is read
    // once per column, and subtracting it cancels A's offset in the transfers as chopping does.
    let dev = off_symmetry_device();
    let mut chip = one_layer(&dev, 8, 6, 9);
    let opts = SchemeOptions {
        symmetry_pulses: Some(200),
        auto_granularity: Some(0.0),
        ..Default::default()
    };
    chip.set_update_scheme(&scheme(SchemeName::Ttv2, opts), 9)
        .unwrap();
    let a = chip.counters_of(Role::Transfer);
    assert_eq!(a.coincidences, 2 * 200 * 48, "one pulse per cell per slot");
    assert_eq!(a.pulse_slots, 2 * 200);
    assert_eq!(a.transfer_reads, 8, "one one-hot read per column");
    let w = chip
        .arrays()
        .find(|(r, _)| *r == Role::Transfer)
        .map(|(_, l)| l.mean_abs_weight())
        .unwrap();
    assert!((w - 0.5).abs() < 0.02, "A sits at its symmetry point: {w}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..300 {
        let x = DMatrix::from_fn(8, 4, |_, _| if rng.random::<bool>() { 1.0 } else { -1.0 });
        let d = DMatrix::from_fn(6, 4, |_, _| if rng.random::<bool>() { 0.1 } else { -0.1 });
        chip.network_mut().layer(0).update(&x, &d, 0.05);
    }
    let with_reference = chip.network().layers()[0].scheme_net_pulses() as f32 / 48.0;
    let plain = drift_of_c(SchemeName::Ttv2, 300);
    assert!(
        with_reference.abs() < 0.25 * plain,
        "with reference {with_reference} vs plain {plain}"
    );
}
