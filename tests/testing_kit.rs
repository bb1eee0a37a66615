//! The testing kit checks what it claims: each check fails on a rule that breaks it (a rule that
//! cheats through `bp-oracle`, one that leaves the device, one that grows arrays, one whose loss
//! is NaN, FA with random feedback against backprop) and passes on every built-in rule; its
//! multi-tile devices really split layers; a layer's tiles are visible read-only and their counts
//! add up to the layer's.

use mortalsim::crossbar::Counters;
use mortalsim::device::{Device, ResponseModel};
use mortalsim::learn::{self, registry, Learner, Options};
use mortalsim::net::{Activation, Chip, NetSpec, Role};
use mortalsim::proptest::prelude::*;
use mortalsim::proptest::strategy::ValueTree;
use mortalsim::proptest::test_runner::{Config, TestError, TestRunner};
use mortalsim::testing::{self, ChipSnapshot};
use nalgebra::DMatrix;

fn spec(widths: &[usize], act: Activation) -> NetSpec {
    NetSpec::new(widths.to_vec(), act)
}

/// `n` values of `strategy`, the same on every run.
fn samples<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// A user's rule that is a built-in one inside, under another name: `bp-oracle` inside makes a
/// cheat (it reads the true weights through the reference's key), `bp-digital` inside a rule
/// that trains a float network whatever device it is given.
struct Posing(Box<dyn Learner>);

impl Learner for Posing {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        self.0.step(x, labels, lr)
    }
    fn chip(&self) -> &Chip {
        self.0.chip()
    }
    fn chip_mut(&mut self) -> &mut Chip {
        self.0.chip_mut()
    }
}

/// A rule that allocates one more array at every step.
struct Grows(Box<dyn Learner>);

impl Learner for Grows {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        let loss = self.0.step(x, labels, lr);
        self.0
            .chip_mut()
            .allocate_fixed(Role::Module, &DMatrix::identity(2, 2), 1, false);
        loss
    }
    fn chip(&self) -> &Chip {
        self.0.chip()
    }
    fn chip_mut(&mut self) -> &mut Chip {
        self.0.chip_mut()
    }
}

/// A rule whose loss is not a number.
struct NanLoss(Box<dyn Learner>);

impl Learner for NanLoss {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        self.0.step(x, labels, lr);
        f32::NAN
    }
    fn chip(&self) -> &Chip {
        self.0.chip()
    }
    fn chip_mut(&mut self) -> &mut Chip {
        self.0.chip_mut()
    }
}

fn built(name: &str, s: &NetSpec, dev: &Device, options: &Options) -> Box<dyn Learner> {
    learn::build(name, s, dev, 7, options).unwrap()
}

#[test]
fn a_rule_that_reads_true_weights_is_caught() {
    let s = spec(&[6, 5, 3], Activation::Tanh);
    let dev = Device::load("constant-step").unwrap();
    let (x, y) = testing::random_batch(6, 4, 3, 1);
    let mut cheat = Posing(built("bp-oracle", &s, &dev, &Options::default()));
    assert!(
        testing::check_no_privileged_reads(&cheat).is_ok(),
        "before any step"
    );
    let err = testing::check_learner_step(&mut cheat, &x, &y, 0.05).unwrap_err();
    assert!(err.to_string().contains("privileged"), "{err}");
    let err = testing::check_no_privileged_reads(&cheat).unwrap_err();
    assert!(err.to_string().contains("forward"), "names the role: {err}");
    // bp-oracle itself passes the reference's step check, which allows its privilege.
    let mut oracle = built("bp-oracle", &s, &dev, &Options::default());
    testing::check_reference_step(oracle.as_mut(), &x, &y, 0.05).unwrap();
}

#[test]
fn a_failing_check_inside_proptest_is_a_failure_not_a_panic() {
    let s = spec(&[5, 4, 3], Activation::Relu);
    let dev = Device::ideal();
    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(1usize..4), |n| {
        let (x, y) = testing::random_batch(5, n, 3, n as u64);
        let mut cheat = Posing(built("bp-oracle", &s, &dev, &Options::default()));
        testing::check_learner_step(&mut cheat, &x, &y, 0.05)
    });
    match result {
        Err(TestError::Fail(reason, n)) => {
            assert!(reason.to_string().contains("privileged"), "{reason}");
            assert_eq!(n, 1, "shrunk to the smallest batch");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_rule_that_leaves_the_device_or_grows_arrays_is_caught() {
    let s = spec(&[6, 5, 3], Activation::Tanh);
    let dev = Device::load("constant-step").unwrap();
    let (x, y) = testing::random_batch(6, 4, 3, 2);

    let mut off = Posing(built("bp-digital", &s, &dev, &Options::default()));
    let before = ChipSnapshot::of(off.chip());
    off.step(&x, &y, 0.05);
    let err = testing::check_layers_stay_on_device(&off, Some(&dev), &before).unwrap_err();
    assert!(err.to_string().contains("device"), "{err}");
    // bp-digital is digital by design: with no device it passes.
    testing::check_layers_stay_on_device(&off, None, &before).unwrap();

    let mut grows = Grows(built("fa", &s, &dev, &Options::default()));
    let before = ChipSnapshot::of(grows.chip());
    grows.step(&x, &y, 0.05);
    let err = testing::check_layers_stay_on_device(&grows, Some(&dev), &before).unwrap_err();
    assert!(err.to_string().contains("number of arrays"), "{err}");
    assert!(testing::check_learner_step(&mut grows, &x, &y, 0.05).is_err());

    let mut nan = NanLoss(built("dfa", &s, &dev, &Options::default()));
    let err = testing::check_learner_step(&mut nan, &x, &y, 0.05).unwrap_err();
    assert!(err.to_string().contains("loss"), "{err}");
}

/// The spec, batch and device a built-in rule accepts: `ff` needs ReLU and the label's pixels.
fn fit_for(
    name: &str,
    (s, x, y): (NetSpec, DMatrix<f32>, Vec<usize>),
) -> (NetSpec, DMatrix<f32>, Vec<usize>) {
    if name != "ff" {
        return (s, x, y);
    }
    let classes = *s.widths.last().unwrap();
    let inputs = s.widths[0].max(classes);
    let mut widths = s.widths.clone();
    widths[0] = inputs;
    let x = DMatrix::from_fn(inputs, x.ncols(), |i, b| {
        if i < x.nrows() {
            x[(i, b)]
        } else {
            0.5
        }
    });
    (spec(&widths, Activation::Relu), x, y)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Every built-in rule passes every check on every kind of device.
    #[test]
    fn every_built_in_rule_passes_the_checks(
        k in 0usize..64,
        net in testing::net_and_batch(),
        dev in testing::any_device(),
    ) {
        let rules = registry::builtin();
        let name = rules[k % rules.len()].name;
        let (s, x, y) = fit_for(name, net);
        let mut rule = built(name, &s, &dev, &Options::default());
        let before = ChipSnapshot::of(rule.chip());
        if name == "bp-oracle" {
            testing::check_reference_step(rule.as_mut(), &x, &y, 0.05)?;
        } else {
            testing::check_learner_step(rule.as_mut(), &x, &y, 0.05)?;
            testing::check_no_privileged_reads(rule.as_ref())?;
        }
        let on = (name != "bp-digital").then_some(&dev);
        testing::check_layers_stay_on_device(rule.as_ref(), on, &before)?;
    }
}

/// Feedback matrices equal to the transposes of `bp`'s current weights of layers 1.. (FA's
/// B_{l+1} = W_{l+1}ᵀ for each hidden layer l).
fn transposed_weights(bp: &mut dyn Learner) -> Vec<DMatrix<f32>> {
    let p = testing::readout_params(bp);
    p[1..].iter().map(|(w, _)| w.transpose()).collect()
}

#[test]
fn fa_with_transposed_feedback_matches_backprop_and_random_feedback_does_not() {
    let s = spec(&[8, 7, 6, 4], Activation::Tanh);
    let (x, y) = testing::random_batch(8, 5, 4, 3);
    // On the ideal device, in one tile per layer and split over 2 × 2 tiles.
    let split = Device::from_toml(
        "name = \"split-ideal\"\n[response]\nmodel = \"ideal\"\ndw_min_dtod = 0.0\n\
         dw_min_std = 0.0\nup_down_dtod = 0.0\nw_min = -1.0e30\nw_max = 1.0e30\nw_min_dtod = 0.0\n\
         w_max_dtod = 0.0\nreset_std = 0.0\n[periphery]\nperfect = true\nmax_tile_rows = 2\n\
         max_tile_cols = 2\n[update]\npulse_type = \"none\"\n",
        "split-ideal",
    )
    .unwrap();
    for dev in [Device::ideal(), split] {
        let mut bp = built("bp-digital", &s, &dev, &Options::default());
        let options = Options {
            feedback: Some(transposed_weights(bp.as_mut())),
            ..Options::default()
        };
        let mut fa = built("fa", &s, &dev, &options);
        // B = Wᵀ holds for the first step only (B is fixed, W moves).
        testing::check_matches_reference(fa.as_mut(), bp.as_mut(), &x, &y, 0.3, 1, 1e-5).unwrap();

        let mut bp = built("bp-digital", &s, &dev, &Options::default());
        let mut fa = built("fa", &s, &dev, &Options::default());
        let err = testing::check_matches_reference(fa.as_mut(), bp.as_mut(), &x, &y, 0.3, 1, 1e-5)
            .unwrap_err();
        assert!(err.to_string().contains("layer 0"), "{err}");

        // bp-oracle on an ideal chip is bp-digital, step after step.
        let mut bp = built("bp-digital", &s, &dev, &Options::default());
        let mut oracle = built("bp-oracle", &s, &dev, &Options::default());
        testing::check_matches_reference(oracle.as_mut(), bp.as_mut(), &x, &y, 0.3, 5, 1e-5)
            .unwrap();
    }
}

#[test]
fn multi_tile_devices_split_every_layer_and_show_their_tiles_read_only() {
    let s = spec(&[6, 5, 4], Activation::Relu);
    for (k, dev) in samples(testing::multi_tile_device(), 16)
        .into_iter()
        .enumerate()
    {
        let chip = Chip::new(&s, Some(&dev), k as u64);
        for layer in chip.network().layers() {
            let tiles = layer.tiles();
            // Every width here is above the largest tile (3), so every layer spans tiles.
            assert!(tiles.len() >= 2, "{} tiles", tiles.len());
            let (failed, devices) = layer.failed_devices();
            assert_eq!(tiles.iter().map(|t| t.devices()).sum::<usize>(), devices);
            assert_eq!(
                tiles.iter().map(|t| t.failed_devices()).sum::<usize>(),
                failed
            );
            // Row blocks × column blocks, each tile with the spare lines of its row block.
            let p = &dev.spec().periphery;
            let row_blocks = layer.rows().div_ceil(p.max_tile_rows);
            let col_blocks = layer.cols().div_ceil(p.max_tile_cols);
            assert_eq!(tiles.len(), row_blocks * col_blocks);
            assert_eq!(
                tiles.iter().map(|t| t.cols()).sum::<usize>(),
                layer.cols() * row_blocks
            );
            assert_eq!(
                tiles.iter().map(|t| t.rows()).sum::<usize>(),
                (layer.rows() + p.spare_lines_per_tile * row_blocks) * col_blocks
            );
            for t in &tiles {
                assert!(t.device() == &dev);
                assert!(t.devices_per_cell() == 1 || t.devices_per_cell() == 2);
                // The view prints its facts, not the cells.
                let shown = format!("{t:?}");
                assert!(
                    shown.contains("rows") && !shown.contains("params"),
                    "{shown}"
                );
            }
        }
    }
    // A digital layer has no tiles.
    let digital = Chip::new(&s, None, 1);
    assert!(digital.network().layers()[0].tiles().is_empty());
}

/// `c` without the counts that are not per tile (see `TileView`).
fn per_tile_part(mut c: Counters) -> Counters {
    c.digital_ops = 0;
    c.spare_remaps = 0;
    c
}

#[test]
fn tile_counts_add_up_to_the_layers_but_its_digital_work() {
    let s = spec(&[7, 5, 4], Activation::Tanh);
    let (x, y) = testing::random_batch(7, 3, 4, 5);
    let devices = samples(testing::multi_tile_device(), 6)
        .into_iter()
        .chain(samples(testing::any_device(), 6));
    for dev in devices {
        let mut fa = built("fa", &s, &dev, &Options::default());
        fa.step(&x, &y, 0.05);
        for (role, layer) in fa.chip().arrays() {
            let tiles = layer.tiles();
            assert_eq!(tiles.is_empty(), !layer.is_analog(), "{}", role.name());
            if tiles.is_empty() {
                continue;
            }
            let mut sum = Counters::default();
            for t in &tiles {
                sum += t.counters();
                assert_eq!(t.counters().spare_remaps, 0);
            }
            let all = layer.counters();
            assert_eq!(per_tile_part(sum), per_tile_part(all), "{}", role.name());
            assert!(sum.digital_ops <= all.digital_ops);
            assert!(all.reads > 0, "the step read the {} array", role.name());
            let latest = tiles.iter().map(|t| t.now_s()).fold(0.0, f64::max);
            assert_eq!(latest, layer.now_s());
        }
    }
}

#[test]
fn every_strategy_makes_the_devices_it_promises() {
    let n = 24;
    for d in samples(testing::pcm_pair_device(), n) {
        assert!(d.spec().response.one_sided && d.spec().response.w_min == 0.0);
    }
    for d in samples(testing::piecewise_device(), n) {
        assert_eq!(d.spec().response.model, ResponseModel::Piecewise);
    }
    for d in samples(testing::multi_tile_device(), n) {
        let p = &d.spec().periphery;
        assert!(p.max_tile_rows <= 3 && p.max_tile_cols <= 3);
    }
    let noisy = samples(testing::noisy_periphery_device(), n);
    assert!(noisy.iter().any(|d| d.spec().periphery.out_noise > 0.0));
    assert!(noisy
        .iter()
        .any(|d| d.spec().read_noise.model != mortalsim::device::ReadNoiseModel::None));
    assert!(noisy
        .iter()
        .any(|d| d.spec().periphery.bound_management == mortalsim::device::BoundManagement::None));
    // The mix holds every kind.
    let mix = samples(testing::any_device(), 96);
    assert!(mix.iter().any(|d| d.spec().response.one_sided));
    assert!(mix
        .iter()
        .any(|d| d.spec().response.model == ResponseModel::Piecewise));
    assert!(mix.iter().any(|d| *d == Device::ideal()));
    assert!(mix.iter().any(|d| d.spec().periphery.max_tile_rows <= 3));
}
