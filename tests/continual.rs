//! Continual-learning mechanisms: continual backprop (Dohare et al., Nature 632:768, 2024),
//! L2 and shrink-and-perturb, and utility propagation (Javed & Sutton), checked against the facts
//! of the reference notes §9 items 16–21, plus the layer operations they are built on.

use mortalsim::device::Device;
use mortalsim::learn::continual::{
    Continual, ContinualConfig, ShrinkPerturb, UnitProbe, UtilityKind,
};
use mortalsim::learn::utility::{self, UtilityPropagationConfig};
use mortalsim::learn::{self, Learner, Options};
use mortalsim::net::{Activation, Chip, NetSpec};
use mortalsim::testing::{random_batch, readout_params};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;

fn spec(widths: &[usize]) -> NetSpec {
    NetSpec::new(widths.to_vec(), Activation::Relu)
}

fn idealized() -> Device {
    Device::load("idealized").unwrap()
}

fn options(c: ContinualConfig) -> Options {
    Options {
        continual: c,
        ..Options::default()
    }
}

fn wrap(name: &str, s: &NetSpec, dev: &Device, seed: u64, c: ContinualConfig) -> Continual {
    let plain = learn::build(name, s, dev, seed, &Options::default()).unwrap();
    Continual::new(plain, c, seed).unwrap()
}

/// CBP tracking utilities, with replacements that can never happen within a short test.
fn tracking_only() -> ContinualConfig {
    ContinualConfig {
        replacement_rate: 0.01,
        maturity: u64::MAX,
        readout_every: 3,
        ..ContinualConfig::default()
    }
}

fn bits(m: &DMatrix<f32>) -> Vec<u32> {
    m.iter().map(|v| v.to_bits()).collect()
}

/// Runs `a` and `b` side by side and asserts bit-identical losses, scores and parameters.
fn assert_same_trajectory(a: &mut dyn Learner, b: &mut dyn Learner, inputs: usize, classes: usize) {
    for step in 0..6 {
        let (x, y) = random_batch(inputs, 5, classes, step);
        let la = a.step(&x, &y, 0.05);
        let lb = b.step(&x, &y, 0.05);
        assert_eq!(la.to_bits(), lb.to_bits(), "step {step}: loss {la} vs {lb}");
    }
    let (x, _) = random_batch(inputs, 7, classes, 99);
    assert_eq!(bits(&a.scores(&x)), bits(&b.scores(&x)), "scores differ");
    for (l, (pa, pb)) in readout_params(a).iter().zip(&readout_params(b)).enumerate() {
        assert_eq!(bits(&pa.0), bits(&pb.0), "layer {l} weights differ");
        assert_eq!(pa.1, pb.1, "layer {l} biases differ");
    }
}

// ---- §9 item 17: ρ = 0 ⇒ continual backprop ≡ the plain learner ----------------------------

#[test]
fn rho_zero_is_the_plain_learner_bit_for_bit() {
    let s = spec(&[14, 10, 8, 4]);
    let dev = idealized();
    // Everything but the switches changed: still off.
    let off = ContinualConfig {
        maturity: 3,
        decay: 0.5,
        utility: UtilityKind::AdaptableContribution,
        readout_every: 1,
        ..ContinualConfig::default()
    };
    assert!(!off.is_active());
    for name in ["bp-oracle", "dfa", "ff"] {
        let mut plain = learn::build(name, &s, &dev, 7, &Options::default()).unwrap();
        let mut built = learn::build(name, &s, &dev, 7, &options(off.clone())).unwrap();
        assert!(built.continual_stats().is_none(), "{name}: not wrapped");
        assert_same_trajectory(&mut *plain, &mut *built, 14, 4);
        // An explicit wrapper with nothing on is bit-identical too, counters included.
        let mut plain = learn::build(name, &s, &dev, 7, &Options::default()).unwrap();
        let mut wrapped = wrap(name, &s, &dev, 7, off.clone());
        assert_same_trajectory(&mut *plain, &mut wrapped, 14, 4);
        assert_eq!(plain.counters(), wrapped.counters(), "{name}: counters");
        assert_eq!(plain.energy_j(), wrapped.energy_j(), "{name}: energy");
        let stats = wrapped.continual_stats().unwrap();
        assert_eq!(stats.replacements, 0);
        assert_eq!(stats.replacements_per_layer, vec![0, 0]);
    }
}

#[test]
fn tracking_utilities_does_not_change_the_trajectory_on_the_ideal_device() {
    let s = spec(&[14, 10, 8, 4]);
    let dev = Device::ideal();
    for name in ["bp-oracle", "dfa", "ff"] {
        for kind in [
            UtilityKind::Contribution,
            UtilityKind::AdaptableContribution,
        ] {
            let c = ContinualConfig {
                utility: kind,
                ..tracking_only()
            };
            let mut plain = learn::build(name, &s, &dev, 5, &Options::default()).unwrap();
            let mut wrapped = learn::build(name, &s, &dev, 5, &options(c)).unwrap();
            assert!(wrapped.continual_stats().is_some());
            assert_same_trajectory(&mut *plain, &mut *wrapped, 14, 4);
            let (p, w) = (plain.counters(), wrapped.counters());
            assert!(w.reads > p.reads, "{name}: readouts are counted");
            assert!(
                w.digital_ops > p.digital_ops,
                "{name}: utility work is counted"
            );
        }
    }
}

// ---- §9 item 16: zero outgoing weights ⇒ zero contribution utility --------------------------

#[test]
fn a_unit_with_zero_outgoing_weights_has_zero_utility() {
    // Exactly zero on the ideal device (on a real one "zero" is programmed and read with noise).
    for kind in [
        UtilityKind::Contribution,
        UtilityKind::AdaptableContribution,
    ] {
        for name in ["bp-oracle", "dfa", "ff"] {
            let s = spec(&[12, 9, 7, 3]);
            let mut c = wrap(
                name,
                &s,
                &Device::ideal(),
                3,
                ContinualConfig {
                    utility: kind,
                    ..tracking_only()
                },
            );
            // Unit 4 of hidden layer 0 and unit 2 of hidden layer 1 lose their outgoing weights.
            c.network().layer(1).program_input(4, 0.0);
            c.network().layer(2).program_input(2, 0.0);
            for step in 0..8 {
                let (x, y) = random_batch(12, 6, 3, step);
                c.step(&x, &y, 0.0);
            }
            let u0 = c.utilities(0);
            let u1 = c.utilities(1);
            assert_eq!(u0[4], 0.0, "{kind:?}: {u0:?}");
            assert_eq!(u1[2], 0.0, "{kind:?}: {u1:?}");
            assert!(
                u0.iter().chain(&u1).any(|&u| u > 0.0),
                "other units have utility"
            );
        }
    }
}

// ---- §9 item 20: bias correction --------------------------------------------------------------

#[test]
fn bias_corrected_utility_of_a_constant_contribution_is_that_contribution_at_every_age() {
    let s = spec(&[12, 9, 3]);
    let mut c = wrap("bp-oracle", &s, &Device::ideal(), 5, tracking_only());
    c.network().layer(0).program_unit(4, &[0.0; 12], 0.7);
    let out: f64 = c
        .network()
        .layer(1)
        .input_column(4)
        .iter()
        .map(|v| v.abs() as f64)
        .sum();
    let want = 0.7f32 as f64 * out;
    for step in 0..50 {
        let (x, y) = random_batch(12, 3, 3, step);
        c.step(&x, &y, 0.0);
        let u = c.utilities(0)[4];
        assert!(
            (u - want).abs() <= 1e-6 * want,
            "age {}: û = {u}, c = {want}",
            step + 1
        );
    }
}

// ---- §9 item 18: replacing a constant unit preserves the function ---------------------------

#[test]
fn replacing_a_dead_or_constant_unit_leaves_the_output_unchanged() {
    for name in ["bp-oracle", "dfa"] {
        for layer in [0usize, 1] {
            let s = spec(&[12, 9, 7, 3]);
            let mut c = wrap(name, &s, &Device::ideal(), 11, tracking_only());
            let fan_in = c.network().layer(layer).cols();
            let zeros = vec![0.0; fan_in];
            // Unit 2 dead (a = −1 < 0 whatever the input), unit 5 constant (h ≡ 0.7).
            c.network().layer(layer).program_unit(2, &zeros, -1.0);
            c.network().layer(layer).program_unit(5, &zeros, 0.7);
            for step in 0..30 {
                let (x, y) = random_batch(12, 4, 3, step);
                c.step(&x, &y, 0.0);
            }
            let f = c.mean_activations(layer);
            assert_eq!(f[2], 0.0);
            assert!((f[5] - 0.7).abs() < 1e-6, "bias-corrected mean {}", f[5]);
            let (x, _) = random_batch(12, 16, 3, 1234);
            let before = c.scores(&x);
            c.replace_unit(layer, 2);
            c.replace_unit(layer, 5);
            let after = c.scores(&x);
            let diff = (&after - &before).amax();
            assert!(diff <= 1e-6, "{name} layer {layer}: output moved by {diff}");
            assert_eq!(c.continual_stats().unwrap().replacements, 2);
            assert_eq!(c.ages(layer)[2], 0);
            // The new units have fresh incoming weights and no outgoing ones.
            let w = c.network().layer(layer).readout();
            assert!(w.row(2).iter().any(|&v| v != 0.0));
            assert!(w
                .row(2)
                .iter()
                .all(|&v| v.abs() <= 1.0 / (fan_in as f32).sqrt()));
            assert_eq!(c.network().layer(layer).bias()[2], 0.0);
            let next = c.network().layer(layer + 1).readout();
            assert!(next.column(2).iter().all(|&v| v == 0.0));
            assert!(next.column(5).iter().all(|&v| v == 0.0));
            // A varying unit is not function-preserving: the test can see a change.
            c.replace_unit(layer, 0);
            let moved = (&c.scores(&x) - &after).amax();
            assert!(
                moved > 1e-4,
                "replacing a live unit changes the output ({moved})"
            );
        }
    }
}

// ---- §9 item 19: replacements = ⌊Σ ρ·n_mature⌋; maturity protects new units ----------------

#[test]
fn replacements_follow_the_accumulator_and_respect_maturity() {
    let s = spec(&[10, 16, 12, 4]);
    let rho = 1.0 / 64.0; // exact in binary: the sums below are exact
    let m = 5;
    for (name, dev) in [("bp-oracle", Device::ideal()), ("dfa", idealized())] {
        let mut c = wrap(
            name,
            &s,
            &dev,
            2,
            ContinualConfig {
                replacement_rate: rho,
                maturity: m,
                readout_every: 4,
                ..ContinualConfig::default()
            },
        );
        let mut expected = [0f64; 2];
        for step in 0..300 {
            let before: Vec<Vec<u64>> = (0..2).map(|l| c.ages(l).to_vec()).collect();
            for l in 0..2 {
                expected[l] += rho * before[l].iter().filter(|&&a| a + 1 > m).count() as f64;
            }
            let (x, y) = random_batch(10, 4, 4, step);
            c.step(&x, &y, 0.05);
            for (l, ages_before) in before.iter().enumerate() {
                for (i, (&a, &b)) in c.ages(l).iter().zip(ages_before).enumerate() {
                    if a == 0 {
                        assert!(
                            b + 1 > m,
                            "{name} step {step}: unit {i} of layer {l} replaced at age {}",
                            b + 1
                        );
                    } else {
                        assert_eq!(a, b + 1);
                    }
                }
            }
        }
        let stats = c.continual_stats().unwrap();
        let want: Vec<u64> = expected.iter().map(|e| e.floor() as u64).collect();
        assert_eq!(stats.replacements_per_layer, want, "{name}");
        assert_eq!(stats.replacements, want.iter().sum::<u64>());
        assert!(stats.replacements > 10, "the test exercises replacement");
    }
}

#[test]
fn a_freshly_replaced_unit_has_zero_utility_until_it_matures() {
    let s = spec(&[10, 8, 4]);
    let mut c = wrap(
        "bp-oracle",
        &s,
        &Device::ideal(),
        4,
        ContinualConfig {
            replacement_rate: 0.25,
            maturity: 4,
            readout_every: 1,
            ..ContinualConfig::default()
        },
    );
    for step in 0..40 {
        let (x, y) = random_batch(10, 4, 4, step);
        c.step(&x, &y, 0.1);
        let u = c.utilities(0);
        for (i, &a) in c.ages(0).iter().enumerate() {
            if a == 0 {
                assert_eq!(u[i], 0.0, "replaced unit {i} starts at utility 0");
            }
        }
    }
    assert!(c.continual_stats().unwrap().replacements > 0);
}

// ---- failed cells --------------------------------------------------------------------------

#[test]
fn units_on_failed_cells_are_replaced_first() {
    // idealized with a finite endurance: hammering one row wears its cells out.
    let (src, _) = Device::source("idealized").unwrap();
    let src = src.replace(
        "[failure]\n",
        "[failure]\nendurance_median_pulses = 400\nendurance_log_std = 0.0\n",
    );
    let dev = Device::from_toml(&src, "idealized-endurance").unwrap();
    let s = spec(&[8, 6, 3]);
    let mut c = wrap(
        "bp-oracle",
        &s,
        &dev,
        9,
        ContinualConfig {
            replacement_rate: 1.0 / 6.0,
            maturity: 0,
            ..ContinualConfig::default()
        },
    );
    let target = 3;
    {
        let layer = &mut c.network().layer(0);
        assert_eq!(layer.failed_devices_per_unit(), vec![0; 6], "fresh chip");
        let x = DMatrix::from_element(8, 1, 1.0);
        let mut d = DMatrix::zeros(6, 1);
        for k in 0..400 {
            d[(target, 0)] = if k % 2 == 0 { 1.0 } else { -1.0 };
            layer.update(&x, &d, 0.05);
        }
        let failed = layer.failed_devices_per_unit();
        let per_unit = layer.devices_per_unit();
        assert!(
            failed[target] as f64 >= 0.5 * per_unit as f64,
            "row {target} worn out: {failed:?} of {per_unit}"
        );
        for (i, &f) in failed.iter().enumerate() {
            if i != target {
                assert_eq!(f, 0, "only row {target} was pulsed");
            }
        }
        assert_eq!(failed.iter().sum::<usize>(), layer.failed_devices().0);
    }
    // First step: 6 mature units × 1/6 = one replacement in each hidden layer.
    let (x, y) = random_batch(8, 4, 3, 0);
    c.step(&x, &y, 0.01);
    assert_eq!(c.continual_stats().unwrap().replacements_per_layer, vec![1]);
    assert_eq!(c.ages(0)[target], 0, "the unit on dead cells was replaced");
}

// ---- costs ---------------------------------------------------------------------------------

#[test]
fn replacement_and_readout_costs_show_in_the_counters() {
    let s = spec(&[10, 8, 8, 4]);
    let dev = idealized();
    let mut plain = learn::build("dfa", &s, &dev, 1, &Options::default()).unwrap();
    let cfg = ContinualConfig {
        replacement_rate: 0.1,
        maturity: 2,
        readout_every: 5,
        ..ContinualConfig::default()
    };
    let mut cbp = learn::build("dfa", &s, &dev, 1, &options(cfg)).unwrap();
    for step in 0..20 {
        let (x, y) = random_batch(10, 4, 4, step);
        plain.step(&x, &y, 0.05);
        cbp.step(&x, &y, 0.05);
    }
    let (p, c) = (plain.counters(), cbp.counters());
    assert!(cbp.continual_stats().unwrap().replacements > 0);
    // Readouts (one read per input of layers 1 and 2, every 5 steps) and one-hot column reads.
    assert!(
        c.reads >= p.reads + 4 * (8 + 8),
        "reads {} vs {}",
        c.reads,
        p.reads
    );
    assert!(
        c.programming_pulses > p.programming_pulses,
        "replacement programs cells"
    );
    assert!(c.digital_ops > p.digital_ops);
    assert!(cbp.energy_j() > plain.energy_j());
}

// ---- L2 and shrink-and-perturb -------------------------------------------------------------

#[test]
fn shrink_and_perturb_scales_the_weights_every_k_steps() {
    let s = spec(&[6, 5, 3]);
    let cfg = ContinualConfig {
        shrink_perturb: Some(ShrinkPerturb {
            shrink: 0.5,
            noise_std: 0.0,
        }),
        decay_every: 3,
        ..ContinualConfig::default()
    };
    let mut c = learn::build("bp-oracle", &s, &Device::ideal(), 2, &options(cfg)).unwrap();
    let start = readout_params(&mut *c);
    let before = c.counters();
    for step in 0..3 {
        let (x, y) = random_batch(6, 2, 3, step);
        c.step(&x, &y, 0.0);
        let now = readout_params(&mut *c);
        let f = if step == 2 { 0.5 } else { 1.0 };
        for ((w0, b0), (w, b)) in start.iter().zip(&now) {
            assert!((w0 * f - w).amax() < 1e-7, "step {step}");
            for (x0, x) in b0.iter().zip(b) {
                assert!((x0 * f - x).abs() < 1e-7);
            }
        }
    }
    assert!(c.counters().programming_pulses > before.programming_pulses);
    // With noise: the weights move away from the pure shrink, reproducibly.
    let noisy = ContinualConfig {
        shrink_perturb: Some(ShrinkPerturb {
            shrink: 1.0,
            noise_std: 0.01,
        }),
        decay_every: 1,
        ..ContinualConfig::default()
    };
    let run = || {
        let mut c = learn::build(
            "bp-digital",
            &s,
            &Device::ideal(),
            2,
            &options(noisy.clone()),
        )
        .unwrap();
        let (x, y) = random_batch(6, 2, 3, 0);
        c.step(&x, &y, 0.0);
        readout_params(&mut *c)
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let d = (&a[0].0 - &start[0].0).amax();
    assert!(
        d > 1e-4 && d < 0.1,
        "noise of std 0.01 moved a weight by {d}"
    );
}

#[test]
fn l2_multiplies_by_the_product_of_one_minus_lr_lambda() {
    let s = spec(&[6, 5, 3]);
    let (lr, lambda, k) = (0.1f32, 0.5f32, 4);
    let cfg = ContinualConfig {
        l2: lambda,
        decay_every: k,
        ..ContinualConfig::default()
    };
    let mut plain =
        learn::build("bp-digital", &s, &Device::ideal(), 8, &Options::default()).unwrap();
    let mut l2 = learn::build("bp-digital", &s, &Device::ideal(), 8, &options(cfg)).unwrap();
    for step in 0..k as u64 {
        let (x, y) = random_batch(6, 3, 3, step);
        plain.step(&x, &y, lr);
        l2.step(&x, &y, lr);
    }
    let f = (1.0 - (lr * lambda) as f64).powi(k as i32) as f32;
    for ((wp, bp), (wl, bl)) in readout_params(&mut *plain)
        .iter()
        .zip(&readout_params(&mut *l2))
    {
        assert!((wp * f - wl).amax() < 1e-6);
        for (x, y) in bp.iter().zip(bl) {
            assert!((x * f - y).abs() < 1e-6);
        }
    }
}

// ---- §9 item 21: utility propagation -------------------------------------------------------

fn assert_conserved(weights: &[DMatrix<f32>], p: &utility::Propagation) {
    for (k, units) in p.units.iter().enumerate() {
        let total: f64 = units.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-9,
            "layer boundary {k}: Σ U = {total}"
        );
        assert!(units.iter().all(|&u| u >= 0.0));
    }
    for (k, e) in p.edges.iter().enumerate() {
        assert_eq!(e.shape(), weights[k].shape());
        for i in 0..e.nrows() {
            let s: f64 = e.row(i).iter().sum();
            assert!(
                (s - p.units[k + 1][i]).abs() < 1e-12,
                "Σ in-edges of unit {i}"
            );
        }
        for j in 0..e.ncols() {
            let s: f64 = e.column(j).iter().sum();
            assert!(
                (s - p.units[k][j]).abs() < 1e-12,
                "Σ out-edges of input {j}"
            );
        }
    }
}

proptest! {
    #[test]
    fn utility_propagation_conserves_utility(
        widths in proptest::collection::vec(1usize..9, 2..6),
        seed in any::<u64>(),
        with_activity in any::<bool>(),
        silenced in any::<usize>(),
    ) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut weights: Vec<DMatrix<f32>> = (0..widths.len() - 1)
            .map(|k| DMatrix::from_fn(widths[k + 1], widths[k], |_, _| rng.random_range(-1.0f32..1.0)))
            .collect();
        // Silence one hidden unit's outgoing weights (when the next layer's units keep another
        // input, so that no utility stops there).
        let k = 1 + silenced % weights.len().saturating_sub(1).max(1);
        let zeroed = (k < weights.len() && weights[k].ncols() >= 2).then(|| {
            let j = silenced % weights[k].ncols();
            weights[k].column_mut(j).fill(0.0);
            j
        });
        let activity: Vec<Option<DVector<f32>>> = weights
            .iter()
            .map(|w| with_activity.then(|| DVector::from_fn(w.ncols(), |_, _| rng.random_range(0.0f32..2.0))))
            .collect();
        let p = utility::propagate(&weights, &activity);
        assert_conserved(&weights, &p);
        if let Some(j) = zeroed {
            prop_assert_eq!(p.units[k][j], 0.0);
        }
        let out = widths[widths.len() - 1];
        prop_assert!(p.units[weights.len()].iter().all(|&u| u == 1.0 / out as f64));
    }
}

#[test]
fn utility_follows_magnitude_and_activity() {
    // One unit, two inputs: |w| 1 and 3 → 1/4 and 3/4; with activities 3 and 1 → equal.
    let w = vec![DMatrix::from_row_slice(1, 2, &[1.0, -3.0])];
    let p = utility::propagate(&w, &[None]);
    assert_eq!(p.units[0].as_slice(), &[0.25, 0.75]);
    let p = utility::propagate(&w, &[Some(DVector::from_vec(vec![3.0, 1.0]))]);
    assert_eq!(p.units[0].as_slice(), &[0.5, 0.5]);
    // All-zero incoming weights: nothing is passed on.
    let p = utility::propagate(&[DMatrix::zeros(2, 4)], &[None]);
    assert_eq!(p.units[0].as_slice(), &[0.0; 4]);
    assert_eq!(
        utility::backbone(&DVector::from_vec(vec![0.5, 0.3, 0.2]), 1.0),
        vec![true, false, false]
    );
}

#[test]
fn utility_propagation_reports_the_backbone_and_can_protect_it() {
    let s = spec(&[10, 12, 8, 4]);
    let cfg = ContinualConfig {
        readout_every: 1,
        utility_propagation: UtilityPropagationConfig {
            enabled: true,
            every: 5,
            protect_backbone_lr_factor: 0.0,
            ..UtilityPropagationConfig::default()
        },
        ..ContinualConfig::default()
    };
    let mut c = wrap("bp-oracle", &s, &Device::ideal(), 6, cfg);
    // A dead unit without outgoing weights (they stay 0: it never fires) is never backbone.
    c.network().layer(1).program_input(7, 0.0);
    c.network().layer(0).program_unit(7, &[0.0; 10], -1.0);
    for step in 0..4 {
        let (x, y) = random_batch(10, 4, 4, step);
        c.step(&x, &y, 0.05);
        assert!(c.continual_stats().unwrap().backbone_fraction.is_none());
    }
    let (x, y) = random_batch(10, 4, 4, 4);
    c.step(&x, &y, 0.05);
    let stats = c.continual_stats().unwrap();
    let fractions = stats.backbone_fraction.unwrap();
    assert_eq!(fractions.len(), 2);
    assert!(
        fractions.iter().all(|&f| f > 0.0 && f < 1.0),
        "{fractions:?}"
    );
    let units = c.unit_utilities().unwrap().to_vec();
    for u in &units {
        assert!((u.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }
    assert_eq!(units[0][7], 0.0);
    let backbone = utility::backbone(&units[0], 1.0);
    assert!(!backbone[7]);
    // Protection with factor 0 freezes the backbone's incoming weights and biases.
    let scale = c.lr_scale(0).unwrap().clone();
    for (i, &b) in backbone.iter().enumerate() {
        assert_eq!(scale[i], if b { 0.0 } else { 1.0 });
    }
    let w0 = c.network().layer(0).readout();
    let b0 = c.network().layer(0).bias().clone();
    let (x, y) = random_batch(10, 4, 4, 5);
    c.step(&x, &y, 0.05);
    let w1 = c.network().layer(0).readout();
    let b1 = c.network().layer(0).bias().clone();
    for (i, &b) in backbone.iter().enumerate() {
        let moved = (w1.row(i) - w0.row(i)).amax() + (b1[i] - b0[i]).abs();
        if b {
            assert_eq!(moved, 0.0, "backbone unit {i} moved");
        }
    }
    assert!((&w1 - &w0).amax() > 0.0, "the fringe learns");
}

// ---- configuration -------------------------------------------------------------------------

#[test]
fn bad_continual_settings_are_errors_naming_the_field() {
    let s = spec(&[6, 5, 3]);
    let up = |f: fn(&mut UtilityPropagationConfig)| {
        let mut u = UtilityPropagationConfig::default();
        f(&mut u);
        u
    };
    let base = ContinualConfig::default;
    let cases: Vec<(ContinualConfig, &str)> = vec![
        (
            ContinualConfig {
                replacement_rate: -1e-4,
                ..base()
            },
            "replacement_rate",
        ),
        (
            ContinualConfig {
                replacement_rate: f64::NAN,
                ..base()
            },
            "replacement_rate",
        ),
        (
            ContinualConfig {
                replacement_rate: 1.5,
                ..base()
            },
            "replacement_rate",
        ),
        (
            ContinualConfig {
                decay: 1.0,
                ..base()
            },
            "decay",
        ),
        (
            ContinualConfig {
                decay: -0.1,
                ..base()
            },
            "decay",
        ),
        (
            ContinualConfig {
                readout_every: 0,
                ..base()
            },
            "readout_every",
        ),
        (
            ContinualConfig {
                failed_unit_fraction: 0.0,
                ..base()
            },
            "failed_unit_fraction",
        ),
        (
            ContinualConfig {
                failed_unit_fraction: 1.1,
                ..base()
            },
            "failed_unit_fraction",
        ),
        (ContinualConfig { l2: -1.0, ..base() }, "l2"),
        (
            ContinualConfig {
                shrink_perturb: Some(ShrinkPerturb {
                    shrink: 1.5,
                    noise_std: 0.0,
                }),
                ..base()
            },
            "shrink_perturb.shrink",
        ),
        (
            ContinualConfig {
                shrink_perturb: Some(ShrinkPerturb {
                    shrink: 0.9,
                    noise_std: -1.0,
                }),
                ..base()
            },
            "shrink_perturb.noise_std",
        ),
        (
            ContinualConfig {
                decay_every: 0,
                ..base()
            },
            "decay_every",
        ),
        (
            ContinualConfig {
                utility_propagation: up(|u| u.every = 0),
                ..base()
            },
            "utility_propagation.every",
        ),
        (
            ContinualConfig {
                utility_propagation: up(|u| u.backbone_threshold = -1.0),
                ..base()
            },
            "utility_propagation.backbone_threshold",
        ),
        (
            ContinualConfig {
                utility_propagation: up(|u| u.protect_backbone_lr_factor = f32::INFINITY),
                ..base()
            },
            "utility_propagation.protect_backbone_lr_factor",
        ),
    ];
    for (cfg, field) in cases {
        let err = cfg.validate().unwrap_err();
        assert!(err.contains(field), "`{err}` names {field}");
        let err = learn::build("bp-digital", &s, &Device::ideal(), 1, &options(cfg))
            .err()
            .expect("build rejects it");
        assert!(err.contains(field), "`{err}` names {field}");
    }
    assert!(ContinualConfig::default().validate().is_ok());
}

#[test]
fn continual_settings_parse_from_toml_with_defaults() {
    let o: Options = toml::from_str(
        "[continual]\nreplacement_rate = 1e-4\nutility = \"adaptable-contribution\"\n\
         [continual.shrink_perturb]\nshrink = 0.999\nnoise_std = 1e-5\n\
         [continual.utility_propagation]\nenabled = true\n",
    )
    .unwrap();
    let c = &o.continual;
    assert_eq!(c.replacement_rate, 1e-4);
    assert_eq!(c.utility, UtilityKind::AdaptableContribution);
    assert_eq!((c.maturity, c.decay, c.readout_every), (100, 0.99, 100));
    assert!(c.prefer_failed_units && c.utility_propagation.enabled);
    assert_eq!(c.utility_propagation.every, 100);
    assert!(toml::from_str::<Options>("[continual]\nreplacment_rate = 1e-4\n").is_err());
    assert!(toml::from_str::<Options>("[continual.utility_propagation]\nevry = 3\n").is_err());
    // Default settings are not written out (resolved configs and their hashes unchanged).
    let json = serde_json::to_string(&Options::default()).unwrap();
    assert!(!json.contains("continual"), "{json}");
}

// ---- layer operations ----------------------------------------------------------------------

#[test]
fn activity_recording_is_off_by_default_and_exact_when_on() {
    let w = DMatrix::from_row_slice(2, 3, &[1.0, -1.0, 0.5, -0.5, 0.25, 1.0]);
    let b = DVector::from_vec(vec![0.1, -0.2]);
    let mk = || Chip::with_array(Some(&Device::ideal()), &w, b.clone(), Activation::Tanh, 1);
    let x = DMatrix::from_fn(3, 4, |i, j| (i as f32 - j as f32) * 0.3);
    let ((mut c_off, id), (mut c_on, _)) = (mk(), mk());
    let (off, on) = (c_off.tile(id), c_on.tile(id));
    assert!(off.probe().is_none(), "no probe by default");
    UnitProbe::on(on).record(2, true);
    let fa = off.forward(&x);
    let fb = on.forward(&x);
    assert_eq!(bits(&fa.h), bits(&fb.h));
    assert!(
        on.counters().digital_ops > off.counters().digital_ops,
        "recording is counted"
    );
    UnitProbe::on(on).center = Some(DVector::from_vec(vec![0.5, -0.5]));
    on.forward(&x);
    let act = UnitProbe::on(on).take().unwrap();
    assert_eq!(act.samples, 8);
    for i in 0..2 {
        let row: Vec<f32> = fa.h.row(i).iter().copied().collect();
        let mean: f32 = row.iter().sum::<f32>() / 4.0;
        let mean_abs: f32 = row.iter().map(|v| v.abs()).sum::<f32>() / 4.0;
        assert!((act.mean_h[i] - mean).abs() < 1e-6);
        assert!((act.mean_abs_h[i] - mean_abs).abs() < 1e-6);
    }
    let after = UnitProbe::on(on).take().unwrap();
    assert_eq!(after.samples, 0, "taking restarts the sums");
    UnitProbe::on(on).record(2, false);
    assert!(UnitProbe::on(on).take().is_none());
}

#[test]
fn unit_operations_on_a_layer() {
    for dev in [Some(Device::ideal()), None] {
        let w = DMatrix::from_fn(3, 4, |i, j| 0.1 * (i as f32 + 1.0) - 0.05 * j as f32);
        let (mut chip, id) =
            Chip::with_array(dev.as_ref(), &w, DVector::zeros(3), Activation::Relu, 2);
        let l = chip.tile(id);
        for j in 0..4 {
            assert_eq!(l.input_column(j), w.column(j).into_owned());
        }
        l.program_unit(1, &[0.5, -0.5, 0.25, 0.0], 0.3);
        l.program_input(2, 0.0);
        let r = l.readout();
        assert_eq!(
            r.row(1).iter().copied().collect::<Vec<_>>(),
            vec![0.5, -0.5, 0.0, 0.0]
        );
        assert!(r.column(2).iter().all(|&v| v == 0.0));
        assert_eq!(l.bias()[1], 0.3);
        l.add_to_bias(&DVector::from_vec(vec![1.0, 1.0, 1.0]));
        assert_eq!(l.bias()[1], 1.3);
        // A step-size scale of 0 freezes unit 0, 2 doubles unit 2's step.
        let before = l.readout();
        let b_before = l.bias().clone();
        UnitProbe::on(l).lr_scale = Some(DVector::from_vec(vec![0.0, 1.0, 2.0]));
        let x = DMatrix::from_element(4, 1, 1.0);
        let d = DMatrix::from_element(3, 1, 1.0);
        l.update(&x, &d, 0.1);
        let dw = l.readout() - &before;
        assert!(dw.row(0).iter().all(|&v| v == 0.0));
        assert!((dw[(1, 0)] + 0.1).abs() < 1e-6 && (dw[(2, 0)] + 0.2).abs() < 1e-6);
        assert_eq!(l.bias()[0], b_before[0]);
        assert_eq!(l.failed_devices_per_unit(), vec![0; 3]);
    }
}

// ---- a second, independent check of the outgoing-weight zeroing ------------------------------

#[test]
fn units_replaced_by_the_accumulator_start_with_zero_outgoing_weights() {
    // Replacements chosen by the step itself (not a direct replace_unit call), under a learner
    // whose output layer keeps learning: right after the step that replaced unit i of layer l,
    // column i of layer l + 1 holds exactly 0 on the ideal device, although it was not 0 before.
    let s = spec(&[10, 12, 8, 4]);
    for name in ["fa", "bp-oracle"] {
        let mut c = wrap(
            name,
            &s,
            &Device::ideal(),
            5,
            ContinualConfig {
                replacement_rate: 1.0 / 16.0,
                maturity: 3,
                readout_every: 1,
                ..ContinualConfig::default()
            },
        );
        let (mut seen, mut had) = (0, 0);
        for step in 0..60 {
            let before: Vec<Vec<u64>> = (0..2).map(|l| c.ages(l).to_vec()).collect();
            let next_before: Vec<DMatrix<f32>> =
                (1..3).map(|l| c.network().layer(l).readout()).collect();
            let (x, y) = random_batch(10, 4, 4, 500 + step);
            c.step(&x, &y, 0.1);
            // Units replaced in this step (their age went back to 0).
            let fresh: Vec<Vec<bool>> = (0..2)
                .map(|l| {
                    c.ages(l)
                        .iter()
                        .zip(&before[l])
                        .map(|(&a, &b)| a == 0 && b > 0)
                        .collect()
                })
                .collect();
            for l in 0..2 {
                let next = c.network().layer(l + 1).readout();
                for i in (0..fresh[l].len()).filter(|&i| fresh[l][i]) {
                    seen += 1;
                    // A unit of layer l + 1 replaced in the same step has fresh incoming
                    // weights, from unit i too: its row is not an outgoing weight kept.
                    let kept: Vec<f32> = (0..next.nrows())
                        .filter(|&r| l + 1 > 1 || !fresh[1][r])
                        .map(|r| next[(r, i)])
                        .collect();
                    assert!(
                        kept.iter().all(|&v| v == 0.0),
                        "{name} step {step}: replaced unit {i} of layer {l} kept outgoing weights {kept:?}"
                    );
                    // Most had outgoing weights to lose (a unit replaced shortly before may
                    // not have grown any yet).
                    had += usize::from(next_before[l].column(i).iter().any(|&v| v != 0.0));
                }
            }
        }
        assert!(seen >= 5, "{name}: only {seen} replacements seen");
        assert!(
            2 * had >= seen,
            "{name}: {had} of {seen} had outgoing weights"
        );
    }
}
