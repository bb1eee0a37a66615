//! Hardware-aware training (issue 13): aihwkit's weight modifiers and clipping, and their use
//! by `bp-digital`; the step-decay schedule.

use mortalsim::device::Device;
use mortalsim::experiment::Schedule;
use mortalsim::learn::hwa::{Clip, HwaConfig, Modifier};
use mortalsim::learn::{self, Options};
use mortalsim::nalgebra::DMatrix;
use mortalsim::net::{Activation, NetSpec};

fn w() -> DMatrix<f32> {
    DMatrix::from_fn(200, 200, |i, j| {
        (((i * 37 + j * 11) % 101) as f32 / 100.0 - 0.5) * 0.8
    })
}

fn sd(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

#[test]
fn additive_and_multiplicative_noise_have_aihwkits_spread() {
    let w = w();
    let a = w.amax() as f64;
    let add = HwaConfig {
        modifier: Modifier::AddNormal,
        std_dev: 0.05,
        ..HwaConfig::default()
    };
    let d: Vec<f64> = (add.modify(&w, 1) - &w).iter().map(|&v| v as f64).collect();
    assert!(
        (sd(&d) / (0.05 * a) - 1.0).abs() < 0.03,
        "{} vs {}",
        sd(&d),
        0.05 * a
    );
    // aihwkit's MultNormal: w + w·σ·a·ξ.
    let mult = HwaConfig {
        modifier: Modifier::MultNormal,
        ..add.clone()
    };
    let m = mult.modify(&w, 2);
    let r: Vec<f64> = m
        .iter()
        .zip(w.iter())
        .filter(|(_, &w)| w.abs() > 0.1)
        .map(|(&m, &w)| (m / w - 1.0) as f64)
        .collect();
    assert!((sd(&r) / (0.05 * a) - 1.0).abs() < 0.05, "{}", sd(&r));
    // Different draws per key, the same for the same key.
    assert_eq!(add.modify(&w, 3), add.modify(&w, 3));
    assert_ne!(add.modify(&w, 3), add.modify(&w, 4));
}

#[test]
fn discretisation_drop_connect_prog_noise_and_clipping() {
    let w = w();
    let a = w.amax();
    let disc = HwaConfig {
        modifier: Modifier::Discretize,
        res: 0.25,
        ..HwaConfig::default()
    };
    for v in disc.modify(&w, 1).iter() {
        let k = v / a / 0.25;
        assert!((k - k.round()).abs() < 1e-4, "{v} is not on the grid");
    }
    let drop = HwaConfig {
        modifier: Modifier::DropConnect,
        pdrop: 0.3,
        ..HwaConfig::default()
    };
    let dropped = drop.modify(&w, 2);
    let zeros = dropped.iter().filter(|&&v| v == 0.0).count() as f64 / w.len() as f64;
    let zeros_before = w.iter().filter(|&&v| v == 0.0).count() as f64 / w.len() as f64;
    assert!(
        (zeros - zeros_before - 0.3 * (1.0 - zeros_before)).abs() < 0.02,
        "{zeros}"
    );
    let prog = HwaConfig {
        modifier: Modifier::ProgNoise,
        std_dev: 25.0,
        ..HwaConfig::default()
    };
    let p = prog.modify(&w, 3);
    assert!(p
        .iter()
        .zip(w.iter())
        .all(|(p, w)| *w == 0.0 || p.signum() == w.signum() || *p == 0.0));
    assert_ne!(p, w);
    let mut c = w.clone();
    HwaConfig {
        clip: Clip::Fixed,
        clip_fixed_value: 0.2,
        ..HwaConfig::default()
    }
    .clip(&mut c);
    assert!(c.amax() <= 0.2 && c.iter().any(|&v| v == 0.2));
}

#[test]
fn bp_digital_trains_hardware_aware_and_only_bp_digital_does() {
    let spec = NetSpec::new(vec![20, 16, 4], Activation::Relu);
    let x = DMatrix::from_fn(20, 8, |i, j| ((i + 3 * j) % 7) as f32 / 7.0);
    let labels = [0, 1, 2, 3, 0, 1, 2, 3];
    let plain = Options::default();
    let hwa = Options {
        hwa: HwaConfig {
            modifier: Modifier::AddNormal,
            std_dev: 0.1,
            clip: Clip::Fixed,
            clip_fixed_value: 0.3,
            out_noise: 0.05,
            ..HwaConfig::default()
        },
        ..Options::default()
    };
    let dev = Device::ideal();
    let mut a = learn::build("bp-digital", &spec, &dev, 1, &plain).unwrap();
    let mut b = learn::build("bp-digital", &spec, &dev, 1, &hwa).unwrap();
    for _ in 0..5 {
        a.step(&x, &labels, 0.1);
        b.step(&x, &labels, 0.1);
    }
    let (sa, sb) = (a.scores(&x), b.scores(&x));
    assert_ne!(sa, sb, "noise-aware training follows another path");
    let wb = b.network().layers()[0].digital_weights().unwrap().clone();
    assert!(wb.amax() <= 0.3, "clipped: {}", wb.amax());
    // Reproducible for a seed.
    let mut c = learn::build("bp-digital", &spec, &dev, 1, &hwa).unwrap();
    for _ in 0..5 {
        c.step(&x, &labels, 0.1);
    }
    assert_eq!(c.scores(&x), sb);
    let e = learn::build("bp-oracle", &spec, &dev, 1, &hwa)
        .err()
        .expect("rejected");
    assert!(e.contains("hwa"), "{e}");
    let bad = Options {
        hwa: HwaConfig {
            pdrop: 1.5,
            ..HwaConfig::default()
        },
        ..Options::default()
    };
    let e = learn::build("bp-digital", &spec, &dev, 1, &bad)
        .err()
        .expect("rejected");
    assert!(e.contains("hwa.pdrop"), "{e}");
}

#[test]
fn step_decay_halves_the_rate_every_ten_epochs() {
    let s = Schedule::StepDecay {
        every_epochs: 10,
        factor: 0.5,
    };
    // 30 epochs of 100 steps.
    let lr = |t| s.lr_in_epochs(0.05, t, 3000, 30);
    assert_eq!(lr(0), 0.05);
    assert_eq!(lr(999), 0.05);
    assert_eq!(lr(1000), 0.025);
    assert_eq!(lr(2999), 0.0125);
    let bad = "learners = [\"bp-digital\"]\ndevices = [\"ideal\"]\n[train]\nschedule = { step-decay = { every_epochs = 0, factor = 0.5 } }\n";
    let e = mortalsim::experiment::Experiment::from_toml(bad, "x.toml", "x").unwrap_err();
    assert!(e.iter().any(|e| e.to_string().contains("every_epochs")));
}

#[test]
fn one_file_holds_plain_noise_aware_and_oracle_as_labelled_variants() {
    let exp = mortalsim::experiment::Experiment::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/experiments/hwa-training.toml"
    )))
    .unwrap();
    let points: Vec<(&str, &str, &str, bool)> = exp
        .points
        .iter()
        .filter(|p| p.seed == 1)
        .map(|p| {
            (
                p.learner.as_str(),
                p.rule.as_str(),
                p.device_label.as_str(),
                p.settings.options.hwa.is_default(),
            )
        })
        .collect();
    assert_eq!(
        points,
        [
            ("bp-digital", "bp-digital", "digital", true),
            ("bp-digital-hwa", "bp-digital", "digital", false),
            ("bp-oracle", "bp-oracle", "idealized", true),
        ]
    );
    assert_eq!(exp.points.len(), 9);
    // The variant is built as its rule with its own options.
    let p = &exp.points[3];
    let spec = NetSpec::new(vec![20, 16, 4], Activation::Sigmoid);
    assert!(learn::build(&p.rule, &spec, &p.device, 1, &p.settings.options).is_ok());
}

#[test]
fn bad_variants_are_errors_naming_the_field() {
    let err = |src: &str| {
        mortalsim::experiment::Experiment::from_toml(src, "x.toml", "x")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let head = "learners = [\"bp-digital\", \"plain-2\"]\ndevices = [\"ideal\"]\n";
    let e = err(&format!(
        "{head}[learner.plain-2]\nlearner = \"backprop\"\n"
    ));
    assert!(
        e.contains("x.toml:4") && e.contains("learner.plain-2.learner") && e.contains("backprop"),
        "{e}"
    );
    let e = err(head);
    assert!(
        e.contains("learners.1") && e.contains("[learner.plain-2] learner = \"RULE\""),
        "{e}"
    );
    let e = err("learners = [\"fa\"]\ndevices = [\"ideal\"]\n[learner.fa]\nlearner = \"dfa\"\n");
    assert!(
        e.contains("learner.fa.learner") && e.contains("another name"),
        "{e}"
    );
    // A variant's options are checked against its rule.
    let e = err(&format!(
        "{head}[learner.plain-2]\nlearner = \"bp-oracle\"\noptions = {{ hwa = {{ modifier = \"add-normal\", std_dev = 0.1 }} }}\n"
    ));
    assert!(e.contains("learner.plain-2"), "{e}");
}
