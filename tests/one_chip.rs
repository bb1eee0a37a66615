//! One chip for every rule: every array a rule allocates — feedback matrices, mirrors,
//! synthetic-gradient modules — ages on the chip's one clock exactly as the forward layers do,
//! and the chip's reports cover every role.

use mortalsim::data::{default_mnist_dir, Split};
use mortalsim::device::{Device, FailedState};
use mortalsim::experiment::run::drift_evaluation;
use mortalsim::experiment::{train, TrainConfig};
use mortalsim::learn::{self, Learner, Options};
use mortalsim::net::{Activation, FailedDevices, NetSpec, Role};

fn spec() -> NetSpec {
    NetSpec::new(vec![784, 24, 16, 10], Activation::Relu)
}

/// `idealized` cells that fail at random at `rate` per second, to a random state.
fn hazardous(rate: f64) -> Device {
    Device::load("idealized")
        .unwrap()
        .edited("idealized+hazard", |s| {
            s.failure.hazard_rate_per_s = rate;
            s.failure.hazard_state = FailedState::Random;
        })
        .unwrap()
}

fn role(learner: &dyn Learner, r: Role) -> FailedDevices {
    learner
        .chip()
        .failed_by_role()
        .into_iter()
        .find(|(x, _)| *x == r)
        .map(|(_, f)| f)
        .unwrap_or_else(|| panic!("the chip has {r:?} arrays"))
}

/// Hazard failures do not depend on use: over the same idle time a feedback, mirror or module
/// cell fails with the same probability as a forward cell, p = 1 − exp(−λ·t). Before the chip
/// owned every array, feedback tiles saw no idle time at all (p = 0 for them).
#[test]
fn every_role_fails_at_the_hazard_rate_over_idle_time() {
    let (train_set, test_set) = Split::load_dir(default_mnist_dir()).unwrap();
    let (train_set, test_set) = (train_set.subset(256), test_set.subset(64));
    let rate = 2e-3;
    let dev = hazardous(rate);
    let cfg = TrainConfig {
        idle_s_per_sample: 1.0,
        ..TrainConfig::default()
    };
    for (name, other) in [
        ("fa", Role::Feedback),
        ("dfa", Role::Feedback),
        ("bp-mirror", Role::Mirror),
        ("sg", Role::Module),
    ] {
        let mut l = learn::build(name, &spec(), &dev, 3, &Options::default()).unwrap();
        train(&mut *l, &train_set, &test_set, &cfg, |_| {});
        let t = l.chip().now_s();
        assert!(t >= 256.0, "{name}: the idle time passed ({t} s)");
        // Every array reads the same clock.
        for (r, layer) in l.chip().arrays() {
            assert_eq!(
                layer.now_s(),
                t,
                "{name}: a {r:?} array is on its own clock"
            );
        }
        let p = 1.0 - (-rate * t).exp();
        for r in [Role::Forward, other] {
            let f = role(&*l, r);
            let se = (p * (1.0 - p) / f.total as f64).sqrt();
            assert!(
                (f.fraction() - p).abs() < 5.0 * se + 0.01,
                "{name}: {r:?} failed {:.3}, expected {p:.3} ± {se:.3} ({} devices)",
                f.fraction(),
                f.total
            );
        }
        // The chip's fraction covers every role.
        let all = l.chip().failed_by_role();
        let (failed, total) = all
            .iter()
            .fold((0, 0), |(a, b), (_, f)| (a + f.failed, b + f.total));
        assert_eq!(l.chip().failed_fraction(), failed as f64 / total as f64);
        assert!(all.len() >= 2, "{name}: forward and {other:?} reported");
    }
}

/// The ageing after training (`[evaluate] drift_times_s`) reaches the feedback arrays too.
#[test]
fn ageing_after_training_reaches_every_array() {
    let (_, test_set) = Split::load_dir(default_mnist_dir()).unwrap();
    let test_set = test_set.subset(32);
    let dev = hazardous(1e-2);
    let mut l = learn::build("dfa", &spec(), &dev, 5, &Options::default()).unwrap();
    let before = role(&*l, Role::Feedback).failed;
    drift_evaluation(&mut *l, &test_set, &[100.0], false);
    let after = role(&*l, Role::Feedback);
    let p = 1.0 - (-1e-2f64 * 100.0).exp();
    assert!(
        after.failed > before,
        "feedback cells failed while the chip aged"
    );
    assert!(
        after.fraction() > 0.5 * p,
        "feedback failed {:.3} of its devices, expected about {p:.3}",
        after.fraction()
    );
}

/// Counters and energy are the sum of the roles', and each role's share is there.
#[test]
fn counters_and_energy_break_down_by_role() {
    let dev = Device::load("constant-step").unwrap();
    let mut l = learn::build("sg", &spec(), &dev, 2, &Options::default()).unwrap();
    let (x, y) = mortalsim::testing::random_batch(784, 8, 10, 1);
    l.step(&x, &y, 0.05);
    let chip = l.chip();
    let mut sum = mortalsim::crossbar::Counters::default();
    let mut energy = 0.0;
    for r in Role::ALL {
        sum += chip.counters_of(r);
        energy += chip.energy_of_j(r);
    }
    assert_eq!(sum, chip.counters());
    assert!((energy - chip.energy_j()).abs() <= 1e-12 * chip.energy_j());
    for r in [Role::Forward, Role::Mirror, Role::Module] {
        assert!(chip.counters_of(r).reads > 0, "{r:?} arrays were read");
    }
    assert_eq!(chip.counters_of(Role::Feedback), Default::default());
    assert_eq!(
        l.counters(),
        chip.counters(),
        "the learner's bill is the chip's"
    );
}
