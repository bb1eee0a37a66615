//! Experiment files (parsing, validation with located errors) and runs (run directory, resume,
//! shard + merge equals unsharded, thread-count independence, drift evaluation).

use mortalsim::experiment::rundir::{self, Manifest, PointRecord};
use mortalsim::experiment::{run, Experiment, RunOutcome, RunSettings, Shard};
use std::path::{Path, PathBuf};

fn parse(src: &str) -> Result<Experiment, String> {
    Experiment::from_toml(src, "exp.toml", "exp").map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mortalsim-exp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small experiment: 2 learners × 2 devices × 2 sweep values × 2 seeds = 16 points of a
/// 784-16-10 network, 100 steps of 10 samples.
const SMALL: &str = r#"
name = "small"
learners = ["bp-oracle", "bp-mirror"]
devices = ["idealized", { preset = "constant-step", label = "cs", periphery = { adc_bits = 8 } }]
seeds = [1, 2]

[data]
train_limit = 1000
test_limit = 100

[network]
hidden = [16]

[train]
epochs = 1
batch = 10
lr = 0.1

[learner.bp-mirror]
lr = 0.05

[[sweep]]
path = "device.failure.stuck_at_min_fraction"
values = [0.0, 0.1]
"#;

fn run_in(exp: &Experiment, dir: &Path, shard: Shard, force: bool) -> RunOutcome {
    run(
        exp,
        &RunSettings {
            out: dir.to_path_buf(),
            shard,
            force,
            command_line: "test".into(),
            wait: false,
        },
        &|_| {},
    )
    .expect("run")
}

/// metrics.csv without its wall-clock rows (samples/s, seconds), which no two runs share.
fn deterministic_metrics(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains(",samples_per_s,") && !l.contains(",train_seconds,"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn points_are_learners_by_devices_by_sweep_values_by_seeds_in_order() {
    let exp = parse(SMALL).unwrap();
    assert_eq!(exp.points.len(), 16);
    let p = &exp.points;
    assert_eq!(
        p[0].id,
        "bp-oracle__idealized__stuck_at_min_fraction=0.0__s1"
    );
    assert_eq!(
        p[1].id,
        "bp-oracle__idealized__stuck_at_min_fraction=0.0__s2"
    );
    assert_eq!(
        p[2].id,
        "bp-oracle__idealized__stuck_at_min_fraction=0.1__s1"
    );
    assert_eq!(p[15].id, "bp-mirror__cs__stuck_at_min_fraction=0.1__s2");
    // Per-learner overrides, device overrides and sweep values reach the point.
    assert_eq!(p[0].settings.train.lr, 0.1);
    assert_eq!(p[4].learner, "bp-mirror");
    assert_eq!(p[4].settings.train.lr, 0.05);
    let cs = p.iter().find(|p| p.device_label == "cs").unwrap();
    assert_eq!(
        cs.device.spec().periphery.adc_bits,
        mortalsim::device::params::Bits::Finite(8)
    );
    assert_eq!(p[2].device.spec().failure.stuck_at_min_fraction, 0.1);
    assert_eq!(p[0].device.spec().failure.stuck_at_min_fraction, 0.0);
    // Ids are unique, hashes differ between points and are stable between parses.
    let ids: std::collections::HashSet<_> = p.iter().map(|p| &p.id).collect();
    assert_eq!(ids.len(), 16);
    let again = parse(SMALL).unwrap();
    assert!(p
        .iter()
        .zip(&again.points)
        .all(|(a, b)| a.config_hash == b.config_hash));
    assert_ne!(p[0].config_hash, p[1].config_hash);
    assert_eq!(exp.config_hash, again.config_hash);
}

#[test]
fn defaults_match_the_train_command() {
    let exp = parse("learners = [\"fa\", \"ff\"]\ndevices = [\"ideal\"]\n").unwrap();
    // lr and batch are each learner's recommended settings, as `train --learner NAME` uses.
    for (p, name) in exp.points.iter().zip(["fa", "ff"]) {
        let r = mortalsim::learn::registry::lookup(name)
            .unwrap()
            .recommended;
        let t = &p.settings.train;
        assert_eq!((t.epochs, t.batch, t.lr), (10, r.batch, r.lr), "{name}");
    }
    assert_eq!(
        exp.points[1].settings.train.lr, 0.002,
        "Forward-Forward's own recipe"
    );
    // [train] and [learner.NAME] still win over the recommendation.
    let exp = parse(
        "learners = [\"fa\", \"ff\"]\ndevices = [\"ideal\"]\n[train]\nlr = 0.1\n\
         [learner.ff]\nbatch = 7\n",
    )
    .unwrap();
    let t = |i: usize| {
        (
            exp.points[i].settings.train.lr,
            exp.points[i].settings.train.batch,
        )
    };
    assert_eq!(t(0), (0.1, 32));
    assert_eq!(t(1), (0.1, 7));
    let s = &exp.points[0].settings;
    assert_eq!(s.network.hidden, vec![500, 500]);
    assert_eq!(exp.points[0].seed, 1);
    assert_eq!(exp.name, "exp");
}

fn error_of(src: &str) -> String {
    parse(src).expect_err("the file is invalid")
}

#[test]
fn bad_files_are_errors_naming_file_line_and_field() {
    let base = "learners = [\"fa\"]\ndevices = [\"ideal\"]\n";
    let e = error_of("learners = [\"fa\", \"backprop\"]\ndevices = [\"ideal\"]\n");
    assert!(e.starts_with("exp.toml:1:"), "{e}");
    assert!(
        e.contains("learners.1") && e.contains("unknown learner `backprop`"),
        "{e}"
    );
    assert!(e.contains("bp-oracle"), "lists the learners: {e}");

    let e = error_of("learners = [\"fa\"]\ndevices = [\"ideal\", \"memristor9\"]\n");
    assert!(e.starts_with("exp.toml:2:"), "{e}");
    assert!(
        e.contains("memristor9") && e.contains("constant-step"),
        "lists presets: {e}"
    );

    let e = error_of(&format!("{base}[train]\nepochs = 3\nlearning_rate = 0.1\n"));
    assert!(e.starts_with("exp.toml:5:"), "{e}");
    assert!(e.contains("unknown field `learning_rate`"), "{e}");

    let e = error_of(&format!("{base}[train]\nlr = -0.1\n"));
    assert!(e.contains("exp.toml:4:") && e.contains("train.lr"), "{e}");

    let e = error_of(&format!(
        "{base}[[sweep]]\npath = \"device.failure.stuck_fraction\"\nvalues = [0.0, 0.1]\n"
    ));
    assert!(e.starts_with("exp.toml:5:"), "{e}");
    assert!(
        e.contains("sweep.0.values") && e.contains("stuck_fraction"),
        "{e}"
    );

    let e = error_of(
        "learners = [\"fa\"]\ndevices = [\"constant-step\"]\n\
         [[sweep]]\npath = \"device.response.dw_min\"\nvalues = [0.01, -1.0]\n",
    );
    assert!(e.starts_with("exp.toml:5:"), "{e}");
    assert!(
        e.contains("sweep.0.values.1") && e.contains("dw_min"),
        "{e}"
    );

    let e = error_of(&format!("{base}[[sweep]]\npath = \"lr\"\nvalues = [0.1]\n"));
    assert!(e.contains("sweep.0.path"), "{e}");

    let e = error_of(&format!(
        "{base}[learner.fa]\noptions = {{ feedback_digitl = true }}\n"
    ));
    assert!(
        e.contains("learner.fa") && e.contains("feedback_digitl"),
        "{e}"
    );

    let e = error_of(&format!(
        "{base}[learner.fa]\noptions = {{ activity_l2 = -1.0 }}\n"
    ));
    assert!(
        e.starts_with("exp.toml:4:") && e.contains("learner.fa.options.activity_l2"),
        "{e}"
    );

    let e = error_of(&format!(
        "{base}[learner.fa]\noptions = {{ momentum = 1.0 }}\n"
    ));
    assert!(
        e.starts_with("exp.toml:4:") && e.contains("learner.fa.options.momentum"),
        "{e}"
    );

    let e = error_of(&format!("{base}[learner.dfa]\nlr = 0.1\n"));
    assert!(e.contains("`dfa` is not among `learners`"), "{e}");

    let e =
        error_of("learners = [\"fa\"]\ndevices = [{ preset = \"ideal\", file = \"x.toml\" }]\n");
    assert!(e.contains("exactly one of"), "{e}");

    let e = error_of("learners = [\"fa\"]\ndevices = [\"ideal\", \"ideal\"]\n");
    assert!(e.contains("labelled `ideal`"), "{e}");

    let e = error_of("learners = [\"fa\"]\ndevices = [\"ideal\"]\nseeds = [1, 1]\n");
    assert!(e.contains("seed 1 is listed twice"), "{e}");

    let e =
        error_of("learners = [\"fa\"]\ndevices = [\"ideal\"]\n[evaluate]\ndrift_times_s = [-1]\n");
    assert!(e.contains("evaluate.drift_times_s.0"), "{e}");

    let e = error_of(&format!(
        "{base}[[sweep]]\npath = \"device.failure.stuck_at_min_fraction\"\nvalues = [0.1]\n"
    ));
    assert!(
        e.contains("finite bounds"),
        "stuck at ±1e30 on the ideal device: {e}"
    );

    let e = error_of("devices = [\"ideal\"]\n");
    assert!(e.contains("missing field `learners`"), "{e}");
}

#[test]
fn a_missing_data_directory_says_where_the_data_should_be() {
    let exp = parse(
        "learners = [\"fa\"]\ndevices = [\"ideal\"]\n[data]\ndir = \"/nonexistent/fashion\"\n",
    )
    .unwrap();
    let dir = tempdir("nodata");
    let err = run(
        &exp,
        &RunSettings {
            out: dir.clone(),
            shard: Shard::ALL,
            force: false,
            command_line: "test".into(),
            wait: false,
        },
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("/nonexistent/fashion") && err.contains("train-images-idx3-ubyte"),
        "{err}"
    );
}

#[test]
fn shards_partition_the_points_and_come_from_slurm() {
    let s = Shard::parse("2/3").unwrap();
    let owned: Vec<usize> = (0..8).filter(|&i| s.owns(i)).collect();
    assert_eq!(owned, vec![1, 4, 7]);
    for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let s = Shard::from_slurm(env(&[
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
    ]))
    .unwrap();
    assert_eq!(s, Some(Shard { index: 3, count: 4 }));
    let s = Shard::from_slurm(env(&[
        ("SLURM_ARRAY_TASK_ID", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]))
    .unwrap();
    assert_eq!(s, Some(Shard { index: 1, count: 4 }));
    assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
}

#[test]
fn a_run_resumes_shards_merge_to_the_unsharded_run_and_threads_do_not_matter() {
    let exp = parse(SMALL).unwrap();
    let root = tempdir("run");

    // The whole run, on one thread.
    let full = root.join("full");
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let outcome = one_thread.install(|| run_in(&exp, &full, Shard::ALL, false));
    assert_eq!((outcome.ran, outcome.skipped), (16, 0));
    assert!(outcome.missing.is_empty() && outcome.failed.is_empty());
    let manifest: Manifest = rundir::read_json(&full.join("manifest.json")).unwrap();
    assert_eq!(manifest.status, "completed");
    assert_eq!(manifest.point_ids.len(), 16);
    assert_eq!(
        manifest.sweep_axes,
        vec!["device.failure.stuck_at_min_fraction"]
    );
    let summary = std::fs::read_to_string(full.join("summary.csv")).unwrap();
    let lines: Vec<&str> = summary.lines().collect();
    assert_eq!(lines.len(), 17);
    assert!(lines[0].starts_with(
        "point,learner,device,device.failure.stuck_at_min_fraction,seed,status,epochs,"
    ));
    assert!(lines[1].starts_with(
        "bp-oracle__idealized__stuck_at_min_fraction=0.0__s1,bp-oracle,idealized,0.0,1,done,1,"
    ));
    // Every point without stuck cells learned something in 100 steps (chance is 10 %); with
    // 10 % of the cells stuck at their lowest conductance a tenth of them have failed.
    for r in exp
        .points
        .iter()
        .map(|p| rundir::read_point(&full, &p.id).unwrap())
    {
        let e = &r.epochs[0];
        if r.id.contains("fraction=0.0") {
            assert!(e.test_accuracy > 0.3, "{}: {:?}", r.id, r.epochs);
            assert_eq!(e.failed_fraction, 0.0);
        } else {
            assert!((e.failed_fraction - 0.1).abs() < 0.02, "{}: {e:?}", r.id);
        }
    }

    // Same seeds, two threads: the same summary, byte for byte.
    let two = root.join("two");
    let two_threads = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    two_threads.install(|| run_in(&exp, &two, Shard::ALL, false));
    assert_eq!(
        summary,
        std::fs::read_to_string(two.join("summary.csv")).unwrap()
    );
    assert_eq!(deterministic_metrics(&full), deterministic_metrics(&two));

    // A rerun skips everything and changes nothing.
    let again = run_in(&exp, &full, Shard::ALL, false);
    assert_eq!((again.ran, again.skipped), (0, 16));
    assert_eq!(
        summary,
        std::fs::read_to_string(full.join("summary.csv")).unwrap()
    );

    // An interrupted run: two points lost (one never written, one half-written); the rerun
    // computes exactly those, with the same results.
    std::fs::remove_file(rundir::point_path(&full, &exp.points[3].id)).unwrap();
    std::fs::write(
        rundir::point_path(&full, &exp.points[9].id),
        "{\"schema_ver",
    )
    .unwrap();
    let resumed = run_in(&exp, &full, Shard::ALL, false);
    assert_eq!((resumed.ran, resumed.skipped), (2, 14));
    assert_eq!(
        summary,
        std::fs::read_to_string(full.join("summary.csv")).unwrap()
    );

    // --force recomputes.
    let forced = run_in(&exp, &full, Shard::parse("1/8").unwrap(), true);
    assert_eq!((forced.ran, forced.skipped), (2, 0));

    // Three shards, merged: the unsharded run.
    let shards: Vec<PathBuf> = (1..=3).map(|k| root.join(format!("shard{k}"))).collect();
    for (k, d) in shards.iter().enumerate() {
        let o = run_in(
            &exp,
            d,
            Shard::parse(&format!("{}/3", k + 1)).unwrap(),
            false,
        );
        assert_eq!(o.ran, (16 + 2 - k) / 3);
        assert_eq!(o.missing.len(), 16 - o.ran);
    }
    let merged = root.join("merged");
    let report = rundir::merge(&shards[..2], &merged, "test").unwrap();
    assert_eq!(
        report.missing.len(),
        5,
        "the third shard's points are missing"
    );
    let report = rundir::merge(&shards, &merged, "test").unwrap();
    assert_eq!((report.points, report.missing.len()), (16, 0));
    assert_eq!(
        summary,
        std::fs::read_to_string(merged.join("summary.csv")).unwrap()
    );
    assert_eq!(deterministic_metrics(&full), deterministic_metrics(&merged));
    let m: Manifest = rundir::read_json(&merged.join("manifest.json")).unwrap();
    assert_eq!(
        (m.shard.as_str(), m.status.as_str()),
        ("merged", "completed")
    );

    // Directories of another experiment do not merge.
    let other = parse(&SMALL.replace("seeds = [1, 2]", "seeds = [1]")).unwrap();
    let od = root.join("other");
    run_in(&other, &od, Shard::parse("1/16").unwrap(), false);
    let err = rundir::merge(&[full.clone(), od], &root.join("bad"), "test").unwrap_err();
    assert!(err.to_string().contains("config hash"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn drift_evaluation_is_recorded_and_the_ideal_device_does_not_drift() {
    let exp = parse(
        r#"
learners = ["bp-oracle"]
devices = ["ideal", "pcm"]
[data]
train_limit = 200
test_limit = 100
[network]
hidden = [16]
[train]
epochs = 1
batch = 20
lr = 0.05
[evaluate]
drift_times_s = [31536000, 1, 3600]
"#,
    )
    .unwrap();
    assert_eq!(exp.evaluate.drift_times_s, vec![1.0, 3600.0, 31536000.0]);
    let dir = tempdir("drift");
    run_in(&exp, &dir, Shard::ALL, false);
    let ideal: PointRecord = rundir::read_point(&dir, &exp.points[0].id).unwrap();
    assert_eq!(ideal.drift.len(), 6);
    for d in &ideal.drift {
        assert_eq!(d.test_accuracy, ideal.epochs[0].test_accuracy, "{d:?}");
    }
    let pcm: PointRecord = rundir::read_point(&dir, &exp.points[1].id).unwrap();
    let times: Vec<(f64, bool)> = pcm
        .drift
        .iter()
        .map(|d| (d.time_after_training_s, d.compensated))
        .collect();
    assert_eq!(
        times,
        vec![
            (1.0, false),
            (1.0, true),
            (3600.0, false),
            (3600.0, true),
            (31536000.0, false),
            (31536000.0, true)
        ]
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(
        metrics.contains(",1,3.1536e7,drift_test_accuracy_compensated,"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn global_drift_compensation_undoes_a_uniform_drift() {
    use mortalsim::device::Device;
    use mortalsim::net::{Activation, Chip};
    use nalgebra::{DMatrix, DVector};
    // Every cell drifts by the same factor ((t + t0)/t0)^-0.05 and reads are exact: the
    // one-hot reference read restores the outputs of any input.
    let dev = Device::from_toml(
        "name = \"drifting\"\n[response]\nmodel = \"constant-step\"\ndw_min_dtod = 0.0\n\
         w_min_dtod = 0.0\nw_max_dtod = 0.0\n[drift]\nmodel = \"power-law\"\nnu_mean = 0.05\n\
         nu_std = 0.0\n[periphery]\nperfect = true\n",
        "drifting.toml",
    )
    .unwrap();
    let w = DMatrix::from_fn(5, 7, |i, j| {
        0.05 * (i as f32 - 2.0) + 0.03 * (j as f32 - 3.0)
    });
    let (mut chip, id) =
        Chip::with_array(Some(&dev), &w, DVector::zeros(5), Activation::Identity, 3);
    let layer = chip.tile(id);
    let x = DMatrix::from_fn(7, 4, |i, j| ((i * 4 + j) as f32 * 0.37).sin());
    let before = layer.preactivation(&x);
    layer.calibrate_drift_reference();
    layer.advance(86_400.0);
    let drifted = layer.preactivation(&x);
    let alpha = layer.compensate_drift(true);
    let restored = layer.preactivation(&x);
    let factor = ((86_400.0f64 + 20.0) / 20.0).powf(-0.05) as f32;
    assert!(
        (alpha * factor - 1.0).abs() < 1e-3,
        "alpha {alpha}, drift factor {factor}"
    );
    let rel = |a: &DMatrix<f32>| (a - &before).amax() / before.amax();
    assert!(
        rel(&drifted) > 0.3,
        "a day of drift is visible: {}",
        rel(&drifted)
    );
    assert!(rel(&restored) < 2e-3, "compensated: {}", rel(&restored));
    layer.compensate_drift(false);
    assert_eq!(layer.preactivation(&x), drifted);
}

#[test]
fn a_diverging_point_is_recorded_with_its_epoch_and_the_others_go_on() {
    let exp = parse(
        r#"
learners = ["bp-digital", "bp-oracle"]
devices = ["ideal"]
[data]
train_limit = 200
test_limit = 50
[network]
hidden = [8]
[train]
epochs = 3
batch = 20
lr = 0.05
[learner.bp-digital]
lr = 1e30
"#,
    )
    .unwrap();
    let dir = tempdir("diverge");
    let outcome = run_in(&exp, &dir, Shard::ALL, false);
    assert_eq!(
        outcome.diverged,
        vec!["bp-digital__digital__s1".to_string()]
    );
    let bad = rundir::read_point(&dir, "bp-digital__digital__s1").unwrap();
    assert_eq!(
        (bad.status.as_str(), bad.diverged_epoch),
        ("diverged", Some(1))
    );
    assert_eq!(bad.epochs.len(), 1, "training stops at the diverging epoch");
    let good = rundir::read_point(&dir, "bp-oracle__ideal__s1").unwrap();
    assert_eq!((good.status.as_str(), good.epochs.len()), ("done", 3));
    let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert!(
        summary.contains("bp-digital__digital__s1,bp-digital,digital,1,diverged,1,1,"),
        "{summary}"
    );
    let m: Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
    assert_eq!(m.status, "completed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cosine_schedule_anneals_from_lr_to_zero_and_files_can_choose_it() {
    use mortalsim::experiment::Schedule;
    assert_eq!(Schedule::Constant.lr(0.1, 7, 10), 0.1);
    assert_eq!(Schedule::Cosine.lr(0.1, 0, 10), 0.1);
    assert!((Schedule::Cosine.lr(0.1, 5, 10) - 0.05).abs() < 1e-7);
    assert!(Schedule::Cosine.lr(0.1, 9, 10) < 0.003);
    assert_eq!(Schedule::Cooldown.lr(0.1, 0, 10), 0.1);
    assert_eq!(Schedule::Cooldown.lr(0.1, 5, 10), 0.1);
    assert!((Schedule::Cooldown.lr(0.1, 6, 10) - 0.08).abs() < 1e-7);
    assert!((Schedule::Cooldown.lr(0.1, 9, 10) - 0.02).abs() < 1e-7);
    assert_eq!(Schedule::parse("cooldown"), Some(Schedule::Cooldown));
    let exp = parse(
        "learners = [\"fa\", \"dfa\"]\ndevices = [\"ideal\"]\n[train]\nschedule = \"cosine\"\n\
         [learner.dfa]\nschedule = \"constant\"\n",
    )
    .unwrap();
    assert_eq!(exp.points[0].settings.train.schedule, Schedule::Cosine);
    assert_eq!(exp.points[1].settings.train.schedule, Schedule::Constant);
    let e = error_of("learners = [\"fa\"]\ndevices = [\"ideal\"]\n[train]\nschedule = \"step\"\n");
    assert!(e.starts_with("exp.toml:4:") && e.contains("cosine"), "{e}");
}

/// A relative `data.dir` is relative to the experiment file, not to the working directory.
#[test]
fn a_relative_data_dir_is_relative_to_the_experiment_file() {
    let dir = tempdir("reldata");
    let sub = dir.join("experiments");
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("x.toml");
    std::fs::write(
        &file,
        "learners = [\"fa\"]\ndevices = [\"ideal\"]\n[data]\ndir = \"../mydata\"\n",
    )
    .unwrap();
    let exp = Experiment::load(&file).unwrap();
    assert_eq!(exp.data_dir, sub.join("../mydata"));
    let _ = std::fs::remove_dir_all(&dir);
}
