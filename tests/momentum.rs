//! SGD momentum: torch.optim.SGD's recursion exactly on digital layers, the same numbers through
//! an ideal chip (every learner that carries matrices of its own keeps them in step), the
//! column-by-column write on a pulsed chip and its cost, a replaced unit starting at rest, and
//! clear errors for out-of-range values.

use mortalsim::crossbar::Crossbar;
use mortalsim::device::Device;
use mortalsim::learn::sg::{Sg, Signal};
use mortalsim::learn::{self, Learner, Options};
use mortalsim::net::{Activation, Chip, Momentum, NetSpec};
use mortalsim::testing::{assert_params_close, random_batch, readout_params};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};

fn spec(widths: &[usize]) -> NetSpec {
    NetSpec::new(widths.to_vec(), Activation::Relu)
}

fn random_matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-1.0f32..1.0))
}

fn with_momentum(momentum: f32, dampening: f32) -> Options {
    Options {
        momentum,
        dampening,
        ..Options::default()
    }
}

#[test]
fn a_digital_layer_follows_torch_sgd_momentum() {
    let (mu, tau, lr) = (0.9f32, 0.25f32, 0.1f32);
    let w0 = random_matrix(4, 6, 1);
    let b0 = DVector::from_fn(4, |i, _| 0.1 * i as f32);
    let (mut chip, id) = Chip::with_array(None, &w0, b0.clone(), Activation::Identity, 1);
    let layer = chip.tile(id);
    layer.set_momentum(Momentum {
        momentum: mu,
        dampening: tau,
    });
    // torch.optim.SGD by hand: buf = g on the first step, then buf = μ·buf + (1 − τ)·g.
    let (mut w, mut b) = (w0, b0);
    let (mut vw, mut vb): (Option<DMatrix<f32>>, Option<DVector<f32>>) = (None, None);
    for step in 0..4 {
        let x = random_matrix(6, 3, 10 + step);
        let delta = random_matrix(4, 3, 20 + step);
        let gw = &delta * x.transpose();
        let gb = DVector::from_fn(4, |i, _| delta.row(i).sum());
        let nw = match vw {
            None => gw,
            Some(v) => v * mu + gw * (1.0 - tau),
        };
        let nb = match vb {
            None => gb,
            Some(v) => v * mu + gb * (1.0 - tau),
        };
        w -= &nw * lr;
        b -= &nb * lr;
        (vw, vb) = (Some(nw), Some(nb));
        layer.update(&x, &delta, lr);
        let got = layer.digital_weights().unwrap();
        assert!((got - &w).amax() < 1e-6, "step {step}: weights");
        assert!((layer.bias() - &b).amax() < 1e-6, "step {step}: bias");
    }
}

#[test]
fn momentum_zero_is_plain_sgd_bit_for_bit() {
    let s = spec(&[10, 8, 4]);
    let ideal = Device::ideal();
    for name in ["bp-digital", "fa", "sg"] {
        let mut plain = learn::build(name, &s, &ideal, 5, &Options::default()).unwrap();
        let mut zero = learn::build(name, &s, &ideal, 5, &with_momentum(0.0, 0.5)).unwrap();
        for step in 0..3 {
            let (x, y) = random_batch(10, 6, 4, step);
            plain.step(&x, &y, 0.2);
            zero.step(&x, &y, 0.2);
        }
        assert_params_close(
            &readout_params(&mut *plain),
            &readout_params(&mut *zero),
            0.0,
        );
    }
}

/// Through an ideal chip, momentum gives bp-digital's numbers: bp-oracle (momentum on its
/// layers), bp-mirror (its transposed copies follow with their own velocities, never refreshed)
/// and sg taught by the true gradient (through mirrors that follow momentum). And momentum
/// changes the path: the result is far from plain SGD's.
#[test]
fn on_the_ideal_chip_momentum_gives_bp_digitals_numbers() {
    let s = spec(&[20, 16, 12, 5]);
    let ideal = Device::ideal();
    let options = Options {
        mirror_refresh_every: Some(0),
        ..with_momentum(0.9, 0.0)
    };
    let mut digital = learn::build("bp-digital", &s, &ideal, 3, &options).unwrap();
    let mut plain = learn::build("bp-digital", &s, &ideal, 3, &Options::default()).unwrap();
    let mut others: Vec<Box<dyn Learner>> = vec![
        learn::build("bp-oracle", &s, &ideal, 3, &options).unwrap(),
        learn::build("bp-mirror", &s, &ideal, 3, &options).unwrap(),
        Box::new(Sg::with_signal(&s, &ideal, 3, &options, Signal::Oracle).unwrap()),
    ];
    // `learn::build` gives the network its momentum; the directly built Sg needs it given.
    others[2].network().set_momentum(options.momentum());
    for step in 0..6 {
        let (x, y) = random_batch(20, 8, 5, 40 + step);
        digital.step(&x, &y, 0.05);
        plain.step(&x, &y, 0.05);
        for l in &mut others {
            l.step(&x, &y, 0.05);
        }
    }
    let want = readout_params(&mut *digital);
    for l in &mut others {
        assert_params_close(&readout_params(&mut **l), &want, 1e-5);
    }
    let moved = (&readout_params(&mut *plain)[0].0 - &want[0].0).amax();
    assert!(moved > 1e-3, "momentum changed nothing ({moved})");
}

/// On a pulsed chip the step −lr·v is written column by column: the change matches −lr·V within
/// the pulses' granularity and costs one update cycle per input line, each tile driving its own.
#[test]
fn a_pulse_write_moves_the_chip_by_minus_lr_v_at_one_cycle_per_input_line() {
    let dev = Device::load("constant-step").unwrap();
    // 600 columns: two tiles of at most 512 across.
    let (rows, cols) = (40, 600);
    let mut xbar = Crossbar::new(&dev, rows, cols, 9);
    xbar.program_all(&DMatrix::zeros(rows, cols));
    let before = xbar.inspect_weights();
    let cycles_before = xbar.counters().update_rows;
    let v = random_matrix(rows, cols, 2);
    // Steps of up to 0.02, i.e. 20 of constant-step's dw_min (0.001): below the 31 pulses one
    // update cycle can give, and well inside the ±0.6 range.
    let lr = 0.02;
    xbar.pulse_write(&v, lr);
    let change = xbar.inspect_weights() - before;
    let want = -&v * lr;
    // Unbiased: the least-squares slope of the change on −lr·V is 1 (the cells' 30 %
    // device-to-device spread of dw_min averages out over 24,000 cells)...
    let slope = change.dot(&want) / want.dot(&want);
    assert!((slope - 1.0).abs() < 0.05, "slope {slope}");
    // ...and per cell within the device's spread: 30 % device-to-device and 30 % cycle-to-cycle
    // over ~10 pulses give ≈ 0.33 relative error.
    let rel = (&change - &want).norm() / want.norm();
    assert!(rel < 0.4, "relative error of the write {rel}");
    let cycles = xbar.counters().update_rows - cycles_before;
    assert_eq!(xbar.tiles().len(), 2);
    // 512 + 88: each tile drives only the input lines it holds.
    assert_eq!(cycles, cols as u64, "one cycle per input line");
}

#[test]
fn momentum_on_tiles_is_counted_as_full_matrix_writes() {
    let s = spec(&[12, 9, 4]);
    let dev = Device::load("constant-step").unwrap();
    let (x, y) = random_batch(12, 5, 4, 1);
    let cycles = |options: &Options| {
        let mut l = learn::build("bp-oracle", &s, &dev, 2, options).unwrap();
        let before = l.counters().update_rows;
        l.step(&x, &y, 0.1);
        l.counters().update_rows - before
    };
    // Plain SGD: one cycle per sample per layer; momentum: one per input line per layer.
    assert_eq!(cycles(&Options::default()), 2 * 5);
    assert_eq!(cycles(&with_momentum(0.9, 0.0)), 12 + 9);
}

#[test]
fn a_reprogrammed_unit_or_input_restarts_at_rest() {
    let w = random_matrix(3, 4, 3);
    let (mut chip, id) = Chip::with_array(None, &w, DVector::zeros(3), Activation::Identity, 3);
    let layer = chip.tile(id);
    layer.set_momentum(Momentum {
        momentum: 0.9,
        dampening: 0.0,
    });
    layer.update(&random_matrix(4, 2, 4), &random_matrix(3, 2, 5), 0.1);
    layer.program_unit(0, &[0.0; 4], 0.0);
    layer.program_input(3, 0.5);
    let before = layer.digital_weights().unwrap().clone();
    let before_bias = layer.bias().clone();
    // A zero gradient: only the velocity moves the weights.
    layer.update(&random_matrix(4, 2, 6), &DMatrix::zeros(3, 2), 0.1);
    let after = layer.digital_weights().unwrap();
    assert_eq!(
        after.row(0),
        before.row(0),
        "the replaced unit's weights coasted"
    );
    assert_eq!(after[(0, 0)], 0.0);
    assert_eq!(
        after.column(3),
        before.column(3),
        "the re-programmed input coasted"
    );
    assert_eq!(
        layer.bias()[0],
        before_bias[0],
        "the replaced unit's bias coasted"
    );
    assert!(
        (after[(1, 0)] - before[(1, 0)]).abs() > 1e-6,
        "the other units keep their velocity"
    );
}

#[test]
fn out_of_range_momentum_is_a_clear_error() {
    let s = spec(&[4, 3, 2]);
    for (mu, tau, field) in [
        (1.0, 0.0, "momentum"),
        (-0.1, 0.0, "momentum"),
        (f32::NAN, 0.0, "momentum"),
        (0.5, 1.5, "dampening"),
        (0.5, -0.5, "dampening"),
    ] {
        let err = learn::build(
            "bp-digital",
            &s,
            &Device::ideal(),
            1,
            &with_momentum(mu, tau),
        )
        .err()
        .unwrap();
        assert!(err.contains(field), "{mu}, {tau}: {err}");
    }
}
