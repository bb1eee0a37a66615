//! A learning rule of your own, outside the crate: sign-symmetric feedback (Xiao, Chen, Liao &
//! Poggio 2018): δ_l = (sign(W_{l+1})ᵀ δ_{l+1}) ⊙ f′(a_l).
//!
//! The chip has no transposed read, so the rule cannot use W directly: every `refresh_every`
//! steps it reads the weights out (one-hot forward reads — noisy, quantised and counted) and keeps
//! their signs in digital memory. Everything it touches is the public API of `mortalsim::net`
//! and `mortalsim::learn`; `mortalsim::testing` property-tests it in a few lines (see the tests
//! at the bottom, run by `cargo test --release`).
//!
//! Run: `cargo run --release --example sign_symmetric -- [DEVICE]` (default `constant-step`).

use mortalsim::data::{default_mnist_dir, Split};
use mortalsim::device::Device;
use mortalsim::experiment::{train, TrainConfig};
use mortalsim::learn::{apply_updates, chain_deltas, softmax_cross_entropy, Learner};
use mortalsim::net::{Activation, Chip, NetSpec};
use nalgebra::DMatrix;

/// Sign-symmetric feedback with signs refreshed from readouts.
struct SignSymmetric {
    chip: Chip,
    signs: Vec<DMatrix<f32>>,
    refresh_every: usize,
    steps: usize,
}

impl SignSymmetric {
    fn new(spec: &NetSpec, device: &Device, seed: u64) -> SignSymmetric {
        SignSymmetric {
            chip: Chip::new(spec, Some(device), seed),
            signs: Vec::new(),
            refresh_every: 100,
            steps: 0,
        }
    }

    fn refresh_signs(&mut self) {
        let net = self.chip.network_mut();
        self.signs = (0..net.depth())
            .map(|l| {
                net.layer(l).readout().map(|w| {
                    if w > 0.0 {
                        1.0
                    } else if w < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                })
            })
            .collect();
    }
}

impl Learner for SignSymmetric {
    fn name(&self) -> &'static str {
        "sign-symmetric"
    }

    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        if self.steps.is_multiple_of(self.refresh_every) {
            self.refresh_signs();
        }
        self.steps += 1;
        let net = self.chip.network_mut();
        let fwd = net.forward(x);
        let n = net.depth();
        let (loss, e) = softmax_cross_entropy(&fwd[n - 1].h, labels);
        let signs = &self.signs;
        let deltas = chain_deltas(net, &fwd, e, |_, l, delta| {
            signs[l + 1].tr_mul(delta)
        });
        apply_updates(net, x, &fwd, &deltas, lr);
        loss
    }

    fn chip(&self) -> &Chip {
        &self.chip
    }

    fn chip_mut(&mut self) -> &mut Chip {
        &mut self.chip
    }
}

fn main() {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "constant-step".into());
    let device = Device::load(&name).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let (train_set, test_set) = Split::load_dir(default_mnist_dir()).expect("MNIST in data/mnist");
    let (train_set, test_set) = (train_set.subset(10_000), test_set.subset(2_000));
    let spec = NetSpec {
        widths: vec![784, 256, 10],
        activation: Activation::Relu,
    };
    let mut rule = SignSymmetric::new(&spec, &device, 1);
    let cfg = TrainConfig {
        epochs: 3,
        batch: 32,
        lr: 0.05,
        seed: 1,
        schedule: Default::default(),
        idle_s_per_sample: 0.0,
        countermeasures: Default::default(),
    };
    train(&mut rule, &train_set, &test_set, &cfg, |e| {
        println!(
            "epoch {}: test accuracy {:.1} % ({:.0} samples/s)",
            e.epoch,
            100.0 * e.test_accuracy,
            e.samples_per_s
        )
    });
    let c = rule.counters();
    println!(
        "reads {} (of which readouts refresh the signs), coincidences {}",
        c.reads, c.coincidences
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use mortalsim::testing;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// On any physical device and any small network, a step is sane.
        #[test]
        fn a_step_is_sane((spec, x, y) in testing::net_and_batch(), dev in testing::device()) {
            let mut rule = SignSymmetric::new(&spec, &dev, 1);
            testing::check_learner_step(&mut rule, &x, &y, 0.05);
        }
    }

    /// The output layer receives the exact gradient, as under any feedback rule.
    #[test]
    fn the_output_layer_gets_the_exact_gradient() {
        let spec = NetSpec {
            widths: vec![6, 5, 3],
            activation: Activation::Tanh,
        };
        let ideal = Device::ideal();
        let x = DMatrix::from_fn(6, 4, |i, b| ((i + 2 * b) % 5) as f32 / 5.0);
        let y = vec![0, 2, 1, 2];
        let mut bp =
            mortalsim::learn::build("bp-digital", &spec, &ideal, 3, &Default::default()).unwrap();
        let mut rule = SignSymmetric::new(&spec, &ideal, 3);
        bp.step(&x, &y, 0.3);
        rule.step(&x, &y, 0.3);
        let a = bp.network().layer(1).readout();
        let b = rule.network().layer(1).readout();
        assert!((a - b).abs().max() < 1e-6);
    }
}
