//! Difference target propagation: the targets of exact inverses are the Gauss-Newton targets,
//! with orthogonal weights DTP is backprop, an unchanged top target leaves every target at the
//! activity, the inverses learn to reconstruct, the options are checked, and a run is the same
//! bits at any thread count.

use mortalsim::data::{default_mnist_dir, Split};
use mortalsim::device::Device;
use mortalsim::learn::dtp::{Dtp, DtpConfig};
use mortalsim::learn::{self, softmax_cross_entropy, Learner, Options};
use mortalsim::net::{Activation, NetSpec};
use mortalsim::testing::{assert_params_close, random_batch, readout_params};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};

fn spec(widths: &[usize], act: Activation) -> NetSpec {
    NetSpec::new(widths.to_vec(), act)
}

/// A random n × n matrix with entries U(−1, 1).
fn random_matrix(n: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(n, n, |_, _| rng.random_range(-1.0f32..1.0))
}

/// A random orthogonal n × n matrix (the Q of a QR factorisation).
fn orthogonal(n: usize, seed: u64) -> DMatrix<f32> {
    random_matrix(n, seed).qr().q()
}

/// Config with frozen inverses, so that the targets come from the inverses as given.
fn frozen(top_step: f32) -> DtpConfig {
    DtpConfig {
        top_step,
        inverse_lr_factor: 0.0,
        ..DtpConfig::default()
    }
}

/// A linear network of square layers with the given weights programmed in, and its biases.
fn program(learner: &mut dyn Learner, weights: &[DMatrix<f32>]) -> Vec<DVector<f32>> {
    let net = learner.network();
    weights
        .iter()
        .enumerate()
        .map(|(l, w)| {
            net.layer(l).program(w);
            net.layer(l).bias().clone()
        })
        .collect()
}

#[test]
fn exact_inverses_give_the_gauss_newton_targets() {
    let n = 5;
    let s = spec(&[n, n, n, n], Activation::Identity);
    // Well-conditioned, not orthogonal: the targets differ from backprop's.
    let w: Vec<DMatrix<f32>> = (0..3)
        .map(|l| DMatrix::identity(n, n) + random_matrix(n, 10 + l) * 0.3)
        .collect();
    let inv: Vec<DMatrix<f32>> = w.iter().map(|m| m.clone().try_inverse().unwrap()).collect();
    let eta = 0.7;
    let init = (1..3)
        .map(|j| (inv[j].clone(), DVector::zeros(n)))
        .collect();
    let mut dtp = Dtp::with_inverses(&s, &Device::ideal(), 4, &frozen(eta), init, false).unwrap();
    program(&mut dtp, &w);
    let (x, y) = random_batch(n, 6, n, 3);
    let fwd = dtp.network().forward(&x);
    let (_, e) = softmax_cross_entropy(&fwd[2].h, &y);
    dtp.step(&x, &y, 0.1);
    // ĥ_1 − h_1 = W_2⁻¹(ĥ_2 − h_2), ĥ_0 − h_0 = W_1⁻¹ W_2⁻¹ (ĥ_2 − h_2), ĥ_2 − h_2 = −η̂·B·e.
    let top = &e * (-eta * x.ncols() as f32);
    let expected = [&inv[1] * &inv[2] * &top, &inv[2] * &top];
    let targets = dtp.last_targets();
    for j in 0..2 {
        let moved = &targets[j] - &fwd[j].h;
        let err = (&moved - &expected[j]).abs().max();
        assert!(
            err < 1e-4 * expected[j].abs().max(),
            "layer {j}: target moved by {moved}, Gauss-Newton says {}",
            expected[j]
        );
    }
}

#[test]
fn with_orthogonal_weights_and_exact_inverses_dtp_is_backprop() {
    let n = 6;
    let s = spec(&[n, n, n, n], Activation::Identity);
    let q: Vec<DMatrix<f32>> = (0..3).map(|l| orthogonal(n, 20 + l)).collect();
    let init = (1..3)
        .map(|j| (q[j].transpose(), DVector::zeros(n)))
        .collect();
    let ideal = Device::ideal();
    let mut dtp = Dtp::with_inverses(&s, &ideal, 9, &frozen(1.0), init, false).unwrap();
    let mut bp = learn::build("bp-oracle", &s, &ideal, 9, &Options::default()).unwrap();
    assert_eq!(program(&mut dtp, &q), program(&mut *bp, &q));
    assert_params_close(&readout_params(&mut dtp), &readout_params(&mut *bp), 0.0);
    let (x, y) = random_batch(n, 8, n, 0);
    let (a, b) = (dtp.step(&x, &y, 0.05), bp.step(&x, &y, 0.05));
    assert_eq!(a, b, "the same network before the step");
    assert_params_close(&readout_params(&mut dtp), &readout_params(&mut *bp), 1e-5);
    // After the step the weights are no longer orthogonal and Qᵀ no longer their inverse.
}

#[test]
fn an_unchanged_top_target_leaves_every_target_at_the_activity() {
    for act in [Activation::Tanh, Activation::Relu, Activation::Sigmoid] {
        let s = spec(&[12, 9, 7, 4], act);
        let mut dtp = Dtp::new(&s, &Device::ideal(), 5, &frozen(0.0), false).unwrap();
        let (x, y) = random_batch(12, 5, 4, 1);
        let fwd = dtp.network().forward(&x);
        let before = readout_params(&mut dtp);
        dtp.step(&x, &y, 0.1);
        for (j, t) in dtp.last_targets().iter().enumerate() {
            assert_eq!(
                t, &fwd[j].h,
                "{act:?}: layer {j}'s target is not its activity"
            );
        }
        // Only the output layer moved.
        let after = readout_params(&mut dtp);
        assert_eq!(before[..2], after[..2], "{act:?}: a hidden layer moved");
        assert_ne!(
            before[2], after[2],
            "{act:?}: the output layer did not learn"
        );
    }
}

#[test]
fn the_inverses_learn_to_reconstruct_the_layer_below() {
    let (train, _) = Split::load_dir(default_mnist_dir()).expect("MNIST ships in data/mnist");
    let train = train.subset(2000);
    let s = spec(&[784, 64, 32, 10], Activation::Tanh);
    // The forward layers nearly frozen (lr 0.001), the inverses at 0.05.
    let config = DtpConfig {
        inverse_lr_factor: 50.0,
        ..DtpConfig::default()
    };
    let mut dtp = Dtp::new(&s, &Device::ideal(), 2, &config, false).unwrap();
    let probe_x = train.batch(&(0..256).collect::<Vec<_>>()).inputs;
    let before = dtp.reconstruction_error(&probe_x);
    for k in 0..60 {
        let b = train.batch(&(k * 32..(k + 1) * 32).collect::<Vec<_>>());
        dtp.step(&b.inputs, &b.labels, 0.001);
    }
    let after = dtp.reconstruction_error(&probe_x);
    for (j, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            *a < 0.7 * b,
            "inverse of layer {}: reconstruction error {b} → {a}",
            j + 1
        );
    }
}

#[test]
fn the_inverses_are_modules_on_the_chip_and_dtp_reads_no_transpose() {
    let s = spec(&[16, 12, 8, 4], Activation::Tanh);
    let device = Device::load("constant-step").unwrap();
    let mut dtp = learn::build("dtp", &s, &device, 3, &Options::default()).unwrap();
    let (x, y) = random_batch(16, 8, 4, 2);
    dtp.step(&x, &y, 0.05);
    let chip = dtp.chip();
    let module = chip.counters_of(mortalsim::net::Role::Module);
    // Per step and inverse: one training read and update, two target reads.
    assert_eq!(module.reads % 3, 0, "{module:?}");
    assert!(module.reads > 0 && module.coincidences > 0, "{module:?}");
    assert_eq!(dtp.counters().oracle_reads, 0);
    let modules = chip
        .arrays()
        .filter(|(r, l)| *r == mortalsim::net::Role::Module && l.is_analog())
        .count();
    assert_eq!(modules, 2, "one analog inverse per layer above the first");
}

#[test]
fn bad_options_are_errors_naming_the_field() {
    let s = spec(&[8, 6, 4, 3], Activation::Tanh);
    let ideal = Device::ideal();
    for (text, field) in [
        ("noise_sd = -0.1", "rule.noise_sd"),
        ("top_step = nan", "rule.top_step"),
        ("inverse_lr_factor = inf", "rule.inverse_lr_factor"),
        ("inverse_step = 2", "inverse_step"),
    ] {
        let options = Options {
            rule: toml::from_str(text).unwrap(),
            ..Options::default()
        };
        let err = learn::build("dtp", &s, &ideal, 1, &options).err().unwrap();
        assert!(err.contains(field), "{text}: {err}");
    }
    let flat = spec(&[8, 3], Activation::Tanh);
    let err = learn::build("dtp", &flat, &ideal, 1, &Options::default())
        .err()
        .unwrap();
    assert!(err.contains("hidden layer"), "{err}");
}

#[test]
fn a_run_is_the_same_bits_at_one_and_two_threads() {
    let s = spec(&[20, 16, 12, 5], Activation::Tanh);
    let device = Device::load("idealized").unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut dtp = learn::build("dtp", &s, &device, 7, &Options::default()).unwrap();
            let losses: Vec<u32> = (0..4)
                .map(|k| {
                    let (x, y) = random_batch(20, 16, 5, k);
                    dtp.step(&x, &y, 0.05).to_bits()
                })
                .collect();
            (losses, readout_params(&mut *dtp))
        })
    };
    assert_eq!(run(1), run(2));
}
