//! `mortalsim bench`'s measurements are consistent with what they say they are (no wall-clock
//! time is asserted: only how the reported quantities relate).

use mortalsim::data::Dataset;
use mortalsim::device::Device;
use mortalsim::experiment::bench::{self, BenchPlan};
use mortalsim::net::Activation;

fn data() -> Dataset {
    let n = 64;
    let images: Vec<u8> = (0..n * 16).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
    Dataset::from_parts(images, labels, 4, 4, 4).unwrap()
}

#[test]
fn rows_relate_rate_weights_and_memory_as_documented() {
    let plan = BenchPlan {
        sizes: vec![vec![16, 8, 4]],
        learners: vec!["bp-digital".into(), "bp-oracle".into(), "fa".into()],
        devices: vec![Device::ideal(), Device::load("constant-step").unwrap()],
        batch: Some(4),
        seconds: 0.01,
        repeats: 1,
        activation: Activation::Relu,
        seed: 1,
    };
    let mut seen = 0;
    let rows = bench::run(&plan, &data(), |_| seen += 1).unwrap();
    // bp-digital once (as `digital`), the others once per device.
    assert_eq!(rows.len(), 5);
    assert_eq!(seen, 5);
    assert_eq!(rows[0].device, "digital");
    for r in &rows {
        assert_eq!(r.weights, 16 * 8 + 8 * 4);
        assert!(r.samples >= 2 * r.batch && r.samples % r.batch == 0);
        let ns = 1e9 / (r.samples_per_s * r.weights as f64);
        assert!((r.ns_per_weight_sample - ns).abs() <= 1e-9 * ns);
        assert!((r.time_vs_baseline - r.baseline_samples_per_s / r.samples_per_s).abs() < 1e-9);
    }
    // fa adds its feedback matrix (4 × 8) to the chip's weights.
    let fa = rows.iter().find(|r| r.learner == "fa").unwrap();
    assert_eq!(fa.chip_weights, fa.weights + 4 * 8);
    // A digital weight is one float (plus its share of the biases).
    assert!(rows[0].bytes_per_weight >= 4.0 && rows[0].bytes_per_weight < 4.5);
    let table = bench::markdown(&rows);
    assert_eq!(table.lines().count(), 2 + rows.len());
}

#[test]
fn an_unknown_learner_is_an_error_naming_it() {
    let plan = BenchPlan {
        sizes: vec![vec![16, 4]],
        learners: vec!["backprop".into()],
        devices: vec![Device::ideal()],
        batch: Some(4),
        seconds: 0.01,
        repeats: 1,
        activation: Activation::Relu,
        seed: 1,
    };
    let err = bench::run(&plan, &data(), |_| {}).unwrap_err();
    assert!(err.contains("backprop"), "{err}");
}
