//! A learning rule of your own, outside the crate, run by the whole `mortalsim` command line:
//! sign-symmetric feedback (Xiao, Chen, Liao & Poggio 2018),
//! δ_l = (sign(W_{l+1})ᵀ δ_{l+1}) ⊙ f′(a_l).
//!
//! The chip has no transposed read, so the rule cannot use W directly: every `refresh_every`
//! steps (its own option) it reads the weights out (one-hot forward reads — noisy, quantised and
//! counted) and keeps their signs in digital memory, counting the sign products it does with
//! them as digital work. Everything it touches is the public API of `mortalsim::net` and
//! `mortalsim::learn`.
//!
//! The rule is an entry of the learner registry ([`ENTRY`]); `main` is the three lines that give
//! it the whole command line, so it runs in an experiment beside the built-in rules, in the same
//! run directory, manifest, config hash and figures:
//!
//! ```text
//! cargo run --release --example user_rule -- run examples/user_rule.toml
//! cargo run --release --example user_rule -- train --learner sign-symmetric --epochs 1
//! ```
//!
//! `mortalsim::testing` property-tests the rule in a few lines (the tests at the bottom, run by
//! `cargo test --release`), and one of them runs the experiment end to end on tiny data.

use mortalsim::learn::registry::{BuildArgs, Entry, Recommended};
use mortalsim::learn::{apply_updates, chain_deltas, output_error, Learner};
use mortalsim::net::{Chip, NetSpec};
use mortalsim::toml;
use nalgebra::DMatrix;
use serde::Deserialize;

/// The rule's own options (`[learner.sign-symmetric.options.rule]` of an experiment file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SignSymmetricOptions {
    /// Steps between two readouts of the signs (default 100).
    refresh_every: usize,
}

impl Default for SignSymmetricOptions {
    fn default() -> Self {
        SignSymmetricOptions { refresh_every: 100 }
    }
}

impl SignSymmetricOptions {
    /// The options of a `rule` table, or (field, message).
    fn parse(rule: &toml::Table) -> Result<SignSymmetricOptions, (String, String)> {
        let o: SignSymmetricOptions = toml::Value::Table(rule.clone())
            .try_into()
            .map_err(|e: toml::de::Error| (String::new(), e.message().trim().to_string()))?;
        if o.refresh_every == 0 {
            return Err(("refresh_every".into(), "must be at least 1".into()));
        }
        Ok(o)
    }
}

/// Sign-symmetric feedback with signs refreshed from readouts.
struct SignSymmetric {
    chip: Chip,
    signs: Vec<DMatrix<f32>>,
    refresh_every: usize,
    steps: usize,
}

/// The rule's registry entry: its name, its recommended settings and its constructor.
const ENTRY: Entry = Entry {
    name: "sign-symmetric",
    summary: "sign-symmetric feedback: sign(W)ᵀ from readouts every refresh_every steps",
    recommended: Recommended {
        lr: 0.05,
        batch: 32,
    },
    check: |rule| SignSymmetricOptions::parse(rule).map(|_| ()),
    build: |a: &BuildArgs| {
        let o = SignSymmetricOptions::parse(&a.options.rule)?;
        Ok(Box::new(SignSymmetric::new(
            a.spec,
            a.device,
            a.seed,
            o.refresh_every,
        )))
    },
};

impl SignSymmetric {
    fn new(
        spec: &NetSpec,
        device: &mortalsim::device::Device,
        seed: u64,
        refresh_every: usize,
    ) -> SignSymmetric {
        SignSymmetric {
            chip: Chip::new(spec, Some(device), seed),
            signs: Vec::new(),
            refresh_every,
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
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        if self.steps.is_multiple_of(self.refresh_every) {
            self.refresh_signs();
        }
        self.steps += 1;
        let net = self.chip.network_mut();
        let fwd = net.forward(x);
        let n = net.depth();
        let (loss, e) = output_error(net, &fwd[n - 1].h, labels);
        let signs = &self.signs;
        let deltas = chain_deltas(net, &fwd, e, |net, l, delta| {
            // The product with the stored signs is digital work, counted on the layer.
            let s = &signs[l + 1];
            net.layer(l + 1)
                .count_digital_ops((2 * s.len() * delta.ncols()) as u64);
            s.tr_mul(delta)
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
    std::process::exit(mortalsim::cli::main_with(&[ENTRY]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use mortalsim::device::Device;
    use mortalsim::net::Activation;
    use mortalsim::testing;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// On any device (pulsed, noisy periphery, split over tiles, one-sided pairs,
        /// piecewise, ideal) and any small network, a step is sane, the layers stay on the
        /// device and no true weight is read.
        #[test]
        fn a_step_is_sane((spec, x, y) in testing::net_and_batch(), dev in testing::any_device()) {
            let mut rule = SignSymmetric::new(&spec, &dev, 1, 100);
            let before = testing::ChipSnapshot::of(rule.chip());
            testing::check_learner_step(&mut rule, &x, &y, 0.05)?;
            testing::check_layers_stay_on_device(&rule, Some(&dev), &before)?;
            testing::check_no_privileged_reads(&rule)?;
        }
    }

    /// The output layer receives the exact gradient, as under any feedback rule.
    #[test]
    fn the_output_layer_gets_the_exact_gradient() {
        let spec = NetSpec::new(vec![6, 5, 3], Activation::Tanh);
        let ideal = Device::ideal();
        let x = DMatrix::from_fn(6, 4, |i, b| ((i + 2 * b) % 5) as f32 / 5.0);
        let y = vec![0, 2, 1, 2];
        let mut bp =
            mortalsim::learn::build("bp-digital", &spec, &ideal, 3, &Default::default()).unwrap();
        let mut rule = SignSymmetric::new(&spec, &ideal, 3, 100);
        bp.step(&x, &y, 0.3);
        rule.step(&x, &y, 0.3);
        let a = bp.network().layer(1).readout();
        let b = rule.network().layer(1).readout();
        assert!((a - b).abs().max() < 1e-6);
    }

    fn experiment(dir: &std::path::Path, rule_options: &str) -> std::path::PathBuf {
        let file = dir.join("user_rule.toml");
        std::fs::write(
            &file,
            format!(
                "learners = [\"sign-symmetric\", \"bp-oracle\", \"dfa\"]\n\
                 devices = [\"constant-step\"]\n\
                 [data]\ntrain_limit = 300\ntest_limit = 200\n\
                 [network]\nhidden = [16]\n\
                 [train]\nepochs = 2\n\
                 [learner.sign-symmetric.options.rule]\n{rule_options}\n"
            ),
        )
        .unwrap();
        file
    }

    fn run(file: &std::path::Path, out: &std::path::Path) -> i32 {
        mortalsim::cli::run_with(
            &[ENTRY],
            [
                "user_rule",
                "run",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--quiet",
            ],
        )
    }

    /// The rule runs in an experiment beside built-in rules: its points are in summary.csv and
    /// the figures, a rerun keeps them, and a bad option of its own is a located error.
    #[test]
    fn the_rule_runs_in_an_experiment_and_a_rerun_keeps_it() {
        let dir = std::env::temp_dir().join(format!("user_rule_e2e_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("run");
        let file = experiment(&dir, "refresh_every = 10");
        assert_eq!(run(&file, &out), 0);
        let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
        let rows = |s: &str, name: &str| s.lines().filter(|l| l.contains(name)).count();
        assert_eq!(rows(&summary, ",sign-symmetric,"), 1, "{summary}");
        assert_eq!(rows(&summary, ",bp-oracle,"), 1);
        let figure = std::fs::read_to_string(out.join("plots").join("accuracy_per_epoch.svg"))
            .or_else(|_| std::fs::read_to_string(out.join("plots").join("summary.md")))
            .unwrap();
        assert!(
            figure.contains("sign-symmetric"),
            "the figures name the rule"
        );
        let before = std::fs::read(
            out.join("points").join(
                std::fs::read_dir(out.join("points"))
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .find(|n| n.to_string_lossy().starts_with("sign-symmetric"))
                    .unwrap(),
            ),
        );
        assert_eq!(run(&file, &out), 0, "a rerun");
        let again = std::fs::read_to_string(out.join("summary.csv")).unwrap();
        assert_eq!(again, summary, "a rerun keeps every point as it was");
        let point = std::fs::read_dir(out.join("points"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("sign-symmetric")
            })
            .unwrap();
        assert_eq!(std::fs::read(point).ok(), before.ok(), "not recomputed");
        // The rule's own options are checked, located in the file.
        let bad = experiment(&dir, "refresh_every = 0");
        assert_eq!(run(&bad, &dir.join("bad")), 2);
        let bad = experiment(&dir, "refresh_evry = 10");
        assert_eq!(run(&bad, &dir.join("bad")), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
