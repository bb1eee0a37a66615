//! Property-testing support for users' own learning rules and devices (feature `proptest`).
//!
//! Strategies generate devices within physical ranges, small networks and batches; the checks
//! are the invariants mortalsim's own tests assert. A rule written outside the crate implements
//! [`crate::learn::Learner`] and can be property-tested in a few lines (see
//! `examples/sign_symmetric.rs`):
//!
//! ```ignore
//! proptest! {
//!     #[test]
//!     fn my_rule_is_sane((spec, x, y) in testing::net_and_batch(), dev in testing::device()) {
//!         let mut rule = MyRule::new(&spec, &dev, 1);
//!         testing::check_learner_step(&mut rule, &x, &y, 0.05);
//!     }
//! }
//! ```

use crate::crossbar::{Status, Tile};
use crate::device::Device;
use crate::learn::Learner;
use crate::net::{Activation, NetSpec};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// A pulsed device with parameters drawn within physical ranges: one of the response models,
/// 50–10,000 states, asymmetry, device-to-device and cycle-to-cycle variation, write noise, and
/// optionally stuck cells, wear-out, drift and leak.
pub fn device() -> impl Strategy<Value = Device> {
    let model = prop_oneof![
        Just("constant-step"),
        Just("linear-step"),
        Just("soft-bounds"),
        Just("exp-step"),
        Just("pow-step")
    ];
    (
        model,
        50.0f64..10_000.0,
        -0.3f64..0.3,
        0.0f64..0.4,
        0.0f64..1.0,
        0.0f64..5.0,
        0.2f64..1.5,
        (0.0f64..0.2, 10.0f64..1e6, any::<bool>(), any::<bool>()),
    )
        .prop_map(|(model, states, up_down, dtod, c2c, write, w_max, (stuck, endurance, drift, leak))| {
            let dw_min = 2.0 * w_max / states;
            let mut src = format!(
                "name = \"generated\"\n[response]\nmodel = \"{model}\"\ndw_min = {dw_min}\nup_down = {up_down}\n\
                 dw_min_dtod = {dtod}\nw_min_dtod = {dtod}\nw_max_dtod = {dtod}\ndw_min_std = {c2c}\n\
                 w_min = {}\nw_max = {w_max}\n",
                -w_max
            );
            if model != "constant-step" {
                src.push_str(&format!("write_noise_std = {write}\n"));
            }
            src.push_str(&format!(
                "[failure]\nstuck_at_random_fraction = {stuck}\nendurance_median_pulses = {endurance}\nendurance_log_std = 0.5\n"
            ));
            if drift {
                src.push_str("[drift]\nmodel = \"power-law\"\nnu_mean = 0.05\nnu_std = 0.02\n");
            }
            if leak {
                src.push_str("[leak]\nlifetime_s = 1.0\n");
            }
            Device::from_toml(&src, "generated").expect("generated devices are valid")
        })
}

/// A small network (2–4 layers of 2–12 units) and a batch of 1–6 inputs in [0, 1] with labels.
pub fn net_and_batch() -> impl Strategy<Value = (NetSpec, DMatrix<f32>, Vec<usize>)> {
    (
        proptest::collection::vec(2usize..12, 3..5),
        prop_oneof![
            Just(Activation::Relu),
            Just(Activation::Tanh),
            Just(Activation::Sigmoid)
        ],
        1usize..6,
        any::<u64>(),
    )
        .prop_map(|(widths, activation, n, seed)| {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            let x = DMatrix::from_fn(widths[0], n, |_, _| rng.random_range(0.0f32..1.0));
            let classes = *widths.last().unwrap();
            let y = (0..n).map(|_| rng.random_range(0..classes)).collect();
            (NetSpec { widths, activation }, x, y)
        })
}

/// Every device of `tile` holds a finite value within its own bounds.
pub fn check_tile_bounds(tile: &Tile) {
    for (k, s) in tile.device_states().iter().enumerate() {
        let p = &s.params;
        assert!(s.w.is_finite(), "device {k} is not finite");
        assert!(
            s.w >= p.b_min && s.w <= p.b_max,
            "device {k} at {} outside its bounds [{}, {}]",
            s.w,
            p.b_min,
            p.b_max
        );
    }
}

/// Failed devices of `before` have the same value and are still failed in `after`.
pub fn check_failed_cells_unchanged(before: &Tile, after: &Tile) {
    for (k, (a, b)) in before
        .device_states()
        .iter()
        .zip(after.device_states())
        .enumerate()
    {
        if a.status != Status::Alive {
            assert_eq!(a.w, b.w, "failed device {k} changed");
            assert_ne!(b.status, Status::Alive, "failed device {k} came back");
        }
    }
}

/// One step of `learner` on (`x`, `labels`) gives a finite loss, finite scores of the right
/// shape, and operation counters that only grow.
pub fn check_learner_step(learner: &mut dyn Learner, x: &DMatrix<f32>, labels: &[usize], lr: f32) {
    let before = learner.counters();
    let loss = learner.step(x, labels, lr);
    assert!(loss.is_finite() && loss >= 0.0, "loss {loss}");
    let scores = learner.scores(x);
    assert_eq!(scores.ncols(), x.ncols());
    assert!(scores.iter().all(|v| v.is_finite()), "non-finite scores");
    let after = learner.counters();
    assert!(after.reads >= before.reads && after.coincidences >= before.coincidences);
    assert!(
        after.digital_ops > before.digital_ops,
        "a step does some digital work"
    );
}

/// A batch of `n` inputs of width `rows` uniform in [0, 1) with labels below `classes`.
pub fn random_batch(
    rows: usize,
    n: usize,
    classes: usize,
    seed: u64,
) -> (DMatrix<f32>, Vec<usize>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let x = DMatrix::from_fn(rows, n, |_, _| rng.random_range(0.0f32..1.0));
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    (x, labels)
}

/// Every layer's weights (as the chip can read them out: exact on the ideal device) and bias.
pub fn readout_params(learner: &mut dyn Learner) -> Vec<(DMatrix<f32>, Vec<f32>)> {
    learner
        .network()
        .layers
        .iter_mut()
        .map(|layer| (layer.readout(), layer.bias().iter().copied().collect()))
        .collect()
}

/// Two learners' parameters agree within `tol`, relative to each layer's largest weight.
pub fn assert_params_close(
    a: &[(DMatrix<f32>, Vec<f32>)],
    b: &[(DMatrix<f32>, Vec<f32>)],
    tol: f32,
) {
    assert_eq!(a.len(), b.len(), "different numbers of layers");
    for (l, ((wa, ba), (wb, bb))) in a.iter().zip(b).enumerate() {
        let scale = wb.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (x, y) in wa.iter().zip(wb.iter()) {
            assert!((x - y).abs() <= tol * scale, "layer {l}: weight {x} vs {y}");
        }
        for (x, y) in ba.iter().zip(bb) {
            assert!(
                (x - y).abs() <= tol * scale.max(1.0),
                "layer {l}: bias {x} vs {y}"
            );
        }
    }
}
