//! A lifetime of continual learning in experiment files and runs: task streams, accelerated
//! ageing, countermeasures, and what is recorded after every task.

use mortalsim::data::Split;
use mortalsim::device::Device;
use mortalsim::experiment::rundir::{self, PointRecord};
use mortalsim::experiment::{
    run, train, Countermeasures, Experiment, RunSettings, Shard, TrainConfig,
};
use mortalsim::learn::{self, Options};
use mortalsim::net::{Activation, NetSpec};
use std::path::{Path, PathBuf};

fn parse(src: &str) -> Result<Experiment, String> {
    Experiment::from_toml(src, "life.toml", "life").map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mortalsim-life-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Two learners × two replacement rates × one seed on an ageing `idealized` chip: 3 permuted
/// tasks of 300 samples on a 784-24-10 network.
const LIFE: &str = r#"
learners = ["bp-oracle", "dfa"]
devices = [{ preset = "idealized", label = "worn", failure = { endurance_median_pulses = 1e6, endurance_log_std = 1.0, hazard_rate_per_s = 1e-9, hazard_state = "random" } }]
seeds = [3]

[data]
train_limit = 2000
test_limit = 200

[network]
hidden = [24]

[train]
batch = 10
lr = 0.05

[learner.bp-oracle]
options = { continual = { maturity = 20, readout_every = 10 } }

[learner.dfa]
options = { continual = { maturity = 20, readout_every = 10 } }

[stream]
tasks = 3
samples_per_task = 300
eval_limit = 200
metrics_samples = 100

[ageing]
endurance_scale = 2e-4
hazard_scale = 1e4
idle_s_per_sample = 2.0

[[sweep]]
path = "options.continual.replacement_rate"
values = [0.0, 0.02]
"#;

fn run_in(exp: &Experiment, dir: &Path) {
    run(
        exp,
        &RunSettings {
            out: dir.to_path_buf(),
            shard: Shard::ALL,
            force: true,
            command_line: "test".into(),
            wait: false,
        },
        &|_| {},
    )
    .expect("run");
}

#[test]
fn ageing_scales_apply_to_every_device_and_bad_stream_values_are_located() {
    let exp = parse(LIFE).unwrap();
    assert_eq!(exp.points.len(), 4);
    for p in &exp.points {
        let f = &p.device.spec().failure;
        assert!(
            (f.endurance_median_pulses - 200.0).abs() < 1e-9,
            "1e6 × 2e-4"
        );
        assert!((f.hazard_rate_per_s - 1e-5).abs() < 1e-18, "1e-9 × 1e4");
        assert_eq!(p.stages(), 3, "a stream point reports per task");
    }
    let base = "learners = [\"dfa\"]\ndevices = [\"idealized\"]\n";
    let e = parse(&format!("{base}[stream]\ntasks = 0\n")).unwrap_err();
    assert!(
        e.contains("life.toml:4:") && e.contains("stream.tasks"),
        "{e}"
    );
    let e = parse(&format!("{base}[stream]\ntask = 5\n")).unwrap_err();
    assert!(
        e.contains("life.toml:4:") && e.contains("unknown field `task`"),
        "{e}"
    );
    let e = parse(&format!("{base}[ageing]\nendurance_scale = 0.0\n")).unwrap_err();
    assert!(e.contains("ageing.endurance_scale"), "{e}");
    let e = parse(&format!("{base}[ageing]\nidle_s_per_sample = -1.0\n")).unwrap_err();
    assert!(e.contains("ageing.idle_s_per_sample"), "{e}");
    let e = parse(&format!("{base}[countermeasures]\nrefresh_every_s = 0.0\n")).unwrap_err();
    assert!(e.contains("countermeasures.refresh_every_s"), "{e}");
    let e = parse(&format!(
        "{base}[[sweep]]\npath = \"stream.kind\"\nvalues = [\"permuted\", \"shuffled\"]\n"
    ))
    .unwrap_err();
    assert!(
        e.contains("sweep.0.values.1") && e.contains("shuffled"),
        "{e}"
    );
}

#[test]
fn a_lifetime_records_every_task_and_does_not_depend_on_the_thread_count() {
    let exp = parse(LIFE).unwrap();
    let root = tempdir("threads");
    let (one, two) = (root.join("one"), root.join("two"));
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    pool(1).install(|| run_in(&exp, &one));
    pool(2).install(|| run_in(&exp, &two));
    let summary = |d: &Path| std::fs::read_to_string(d.join("summary.csv")).unwrap();
    assert_eq!(summary(&one), summary(&two));
    assert!(summary(&one).lines().next().unwrap().ends_with(
        "failed_fraction,first_task_accuracy,mean_task_accuracy,pulses,replacements,spare_lines_used"
    ));
    for p in &exp.points {
        let r: PointRecord = rundir::read_json(&rundir::point_path(&one, &p.id)).unwrap();
        let r2: PointRecord = rundir::read_json(&rundir::point_path(&two, &p.id)).unwrap();
        assert_eq!(r.status, "done", "{}", p.id);
        assert_eq!(r.tasks.len(), 3);
        assert!(r.epochs.is_empty());
        let t = &r.tasks;
        assert_eq!(
            t[0].first_task_accuracy, t[0].accuracy,
            "task 1 is the first task"
        );
        for (k, (tk, tk2)) in t.iter().zip(&r2.tasks).enumerate() {
            assert_eq!(tk.task, k + 1);
            assert_eq!(tk.samples_seen, 300 * (k as u64 + 1));
            if r.learner == "bp-oracle" {
                // 30 steps of batch 10 per task on a chip losing cells fast: well above chance.
                assert!(
                    tk.accuracy > 0.2,
                    "{}: task {} at {}",
                    p.id,
                    k + 1,
                    tk.accuracy
                );
            }
            assert!((0.0..=1.0).contains(&tk.accuracy));
            // Idle time alone: 2 s per sample seen.
            assert!(tk.sim_time_s >= 2.0 * tk.samples_seen as f64);
            assert_eq!(tk.dead_fraction.len(), 1);
            assert_eq!(tk.stable_rank.len(), 1);
            assert!(tk.stable_rank[0] >= 1 && tk.stable_rank[0] <= 24);
            assert_eq!(tk.mean_abs_weight.len(), 2);
            assert_eq!(tk.accuracy, tk2.accuracy, "thread count");
            assert_eq!(tk.pulses, tk2.pulses, "thread count");
        }
        for w in t.windows(2) {
            assert!(
                w[1].failed_fraction >= w[0].failed_fraction,
                "failures are for good"
            );
            assert!(w[1].pulses > w[0].pulses);
        }
        assert!(
            t[2].failed_fraction > 0.05,
            "{}: an accelerated chip loses cells ({})",
            p.id,
            t[2].failed_fraction
        );
        let rho = p.settings.options.continual.replacement_rate;
        if rho == 0.0 {
            assert_eq!(t[2].replacements, 0);
        } else {
            assert!(t[2].replacements > 0, "{}: ρ = {rho} replaces units", p.id);
        }
    }
}

#[test]
fn idle_time_ages_the_chip_and_refresh_reprograms_it() {
    let (train_set, test_set) = Split::load_dir(mortalsim::data::default_mnist_dir()).unwrap();
    let (train_set, test_set) = (train_set.subset(500), test_set.subset(100));
    let spec = NetSpec::new(vec![784, 16, 10], Activation::Relu);
    let dev = Device::load("idealized")
        .unwrap()
        .edited("idealized+drift", |s| {
            s.drift.model = mortalsim::device::DriftModel::PowerLaw
        })
        .unwrap();
    let run = |idle: f64, refresh_every_s: f64| {
        let mut learner = learn::build("bp-oracle", &spec, &dev, 1, &Options::default()).unwrap();
        let cfg = TrainConfig {
            epochs: 1,
            batch: 10,
            lr: 0.05,
            seed: 1,
            schedule: Default::default(),
            idle_s_per_sample: idle,
            countermeasures: Countermeasures {
                refresh_every_s,
                ..Default::default()
            },
        };
        let report = train(&mut *learner, &train_set, &test_set, &cfg, |_| {});
        (report.epochs[0].clone(), learner.counters())
    };
    let (busy, busy_c) = run(0.0, f64::INFINITY);
    let (idle, idle_c) = run(3.0, f64::INFINITY);
    let (refreshed, refreshed_c) = run(3.0, 300.0);
    assert!(
        busy.sim_time_s < 10.0,
        "500 samples take {} s",
        busy.sim_time_s
    );
    assert!(idle.sim_time_s >= 1500.0 && idle.sim_time_s < 1500.0 + 10.0);
    assert_eq!(busy_c.programming_pulses, idle_c.programming_pulses);
    // 1500 s of idle time, a refresh every 300 s: 5 re-programmings of every layer.
    assert!(
        refreshed_c.programming_pulses >= idle_c.programming_pulses + 4 * (784 * 16 + 16 * 10),
        "{} vs {}",
        refreshed_c.programming_pulses,
        idle_c.programming_pulses
    );
    assert!(refreshed.pulses > idle.pulses);
}

#[test]
fn a_class_incremental_stream_trains_each_task_on_its_own_classes() {
    let exp = parse(
        r#"
learners = ["bp-oracle"]
devices = ["ideal"]
[data]
train_limit = 600
test_limit = 200
[network]
hidden = [16]
[train]
batch = 10
lr = 0.1
[stream]
kind = "class-incremental"
classes_per_task = 5
tasks = 2
metrics_samples = 50
"#,
    )
    .unwrap();
    let dir = tempdir("classes");
    run_in(&exp, &dir);
    let r: PointRecord = rundir::read_json(&rundir::point_path(&dir, &exp.points[0].id)).unwrap();
    let (train_set, _) = Split::load_dir(mortalsim::data::default_mnist_dir()).unwrap();
    let train_set = train_set.subset(600);
    let low = (0..600).filter(|&i| train_set.label(i) < 5).count() as u64;
    assert_eq!(r.tasks.len(), 2);
    // Each task's whole pool once: classes 0-4, then 5-9.
    assert_eq!(r.tasks[0].samples_seen, low);
    assert_eq!(r.tasks[1].samples_seen, 600);
    assert!(r.tasks[0].accuracy > 0.5, "{}", r.tasks[0].accuracy);
    // Learning classes 5-9 alone forgets 0-4 (catastrophic forgetting on the ideal device).
    assert!(r.tasks[1].first_task_accuracy < r.tasks[0].accuracy);
}
