//! Fast learning smoke tests (CI): every learner, one epoch on the first 3000 MNIST training
//! images, ideal device, tested on the first 1000 test images; 784-100-100-10 ReLU, batch 32,
//! lr 0.1, seed 1. Measured when written (seeds 1–3): bp-digital and bp-oracle 72.6 % (equal:
//! the ideal device is exact), dfa 64–66 %, fa 40–48 % (feedback alignment needs time to align).
//! The bounds are well below those and far above chance (10 %).

use mortalsim::data::{default_mnist_dir, Split};
use mortalsim::device::Device;
use mortalsim::experiment::{train, TrainConfig};
use mortalsim::learn::{self, Options};
use mortalsim::net::{Activation, NetSpec};

fn accuracy_after_one_epoch(name: &str) -> f64 {
    accuracy_after_one_epoch_on(name, &Device::ideal())
}

fn accuracy_after_one_epoch_on(name: &str, device: &Device) -> f64 {
    let (train_set, test_set) =
        Split::load_dir(default_mnist_dir()).expect("MNIST ships in data/mnist");
    let (train_set, test_set) = (train_set.subset(3000), test_set.subset(1000));
    let spec = NetSpec::new(vec![784, 100, 100, 10], Activation::Relu);
    let mut learner = learn::build(name, &spec, device, 1, &Options::default()).unwrap();
    let cfg = TrainConfig {
        epochs: 1,
        batch: 32,
        lr: 0.1,
        seed: 1,
        schedule: Default::default(),
        idle_s_per_sample: 0.0,
        countermeasures: Default::default(),
    };
    let report = train(&mut *learner, &train_set, &test_set, &cfg, |_| {});
    let last = report.epochs.last().unwrap();
    assert!(!last.diverged);
    last.test_accuracy
}

#[test]
fn every_learner_learns_clearly_above_chance_in_one_epoch() {
    for (name, bound) in [
        ("bp-digital", 0.55),
        ("bp-oracle", 0.55),
        ("dfa", 0.45),
        ("fa", 0.25),
    ] {
        let acc = accuracy_after_one_epoch(name);
        assert!(
            acc >= bound,
            "{name}: {:.1} % after one epoch, expected ≥ {:.0} %",
            100.0 * acc,
            100.0 * bound
        );
    }
}

#[test]
fn learners_on_a_noisy_device_give_the_same_bits_with_one_and_two_threads() {
    let (train_set, _) = Split::load_dir(default_mnist_dir()).unwrap();
    let data = train_set.subset(256);
    let spec = NetSpec::new(vec![784, 600, 10], Activation::Relu); // 784 inputs: two tiles per layer
    let dev = Device::load("constant-step").unwrap();
    for name in ["bp-oracle", "fa", "dfa"] {
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let mut l = learn::build(name, &spec, &dev, 4, &Options::default()).unwrap();
                    let mut losses = Vec::new();
                    for k in 0..4 {
                        let idx: Vec<usize> = (k * 64..(k + 1) * 64).collect();
                        let b = data.batch(&idx);
                        losses.push(l.step(&b.inputs, &b.labels, 0.1).to_bits());
                    }
                    let scores: Vec<u32> = l
                        .scores(&data.batch(&[0, 1, 2]).inputs)
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    (losses, scores)
                })
        };
        assert_eq!(run(1), run(2), "{name}: 1 and 2 threads differ");
    }
}

/// The same on a noisy preset (constant-step: 7-bit DAC, 9-bit ADC, output noise, pulsed
/// updates). Measured when written: bp-oracle 70.4 %, dfa 55.3 %, fa 34.7 %. Before feedback
/// matrices were mapped onto the device's range (`Layer::fixed`), fa and dfa sat at chance here:
/// their signal was below the output noise and the ADC step.
#[test]
fn learners_learn_on_a_noisy_preset() {
    let dev = Device::load("constant-step").unwrap();
    for (name, bound) in [("bp-oracle", 0.5), ("dfa", 0.35), ("fa", 0.2)] {
        let acc = accuracy_after_one_epoch_on(name, &dev);
        assert!(
            acc >= bound,
            "{name} on constant-step: {:.1} %, expected ≥ {:.0} %",
            100.0 * acc,
            100.0 * bound
        );
    }
}
