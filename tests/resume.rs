//! The reuse rules of a run directory (`experiment::run`): a rerun into an existing directory
//! skips a point only when its record parses, belongs to the point, has the point's current
//! config hash and did not fail. Everything else is recomputed: a changed config, a `failed`
//! record, a corrupted or foreign file.

use mortalsim::experiment::rundir::{self, PointRecord};
use mortalsim::experiment::{run, Experiment, RunOutcome, RunSettings, Shard};
use std::path::{Path, PathBuf};

/// Two points (bp-digital and bp-oracle on the ideal device) of a 784-4-10 network, 10 steps.
const TINY: &str = r#"
name = "tiny"
learners = ["bp-digital", "bp-oracle"]
devices = ["ideal"]
seeds = [1]

[data]
train_limit = 100
test_limit = 20

[network]
hidden = [4]

[train]
epochs = 1
batch = 10
lr = 0.1
"#;

fn parse(src: &str) -> Experiment {
    Experiment::from_toml(src, "tiny.toml", "tiny").unwrap_or_else(|errs| {
        panic!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mortalsim-resume-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run_in(exp: &Experiment, dir: &Path) -> RunOutcome {
    run(
        exp,
        &RunSettings {
            out: dir.to_path_buf(),
            shard: Shard::ALL,
            force: false,
            command_line: "test".into(),
            wait: false,
        },
        &|_| {},
    )
    .expect("run")
}

fn bytes(dir: &Path, id: &str) -> Vec<u8> {
    std::fs::read(rundir::point_path(dir, id)).unwrap()
}

/// The deterministic part of a record's training (no wall-clock fields).
fn outcome(r: &PointRecord) -> Vec<(f64, f64, f64)> {
    r.epochs
        .iter()
        .map(|e| (e.train_loss, e.test_loss, e.test_accuracy))
        .collect()
}

fn record(dir: &Path, id: &str) -> PointRecord {
    rundir::read_point(dir, id).expect("a finished record")
}

/// A finished run of TINY in a fresh directory.
fn finished(name: &str) -> (Experiment, PathBuf) {
    let exp = parse(TINY);
    let dir = tempdir(name);
    let o = run_in(&exp, &dir);
    assert_eq!((o.ran, o.skipped), (2, 0));
    (exp, dir)
}

#[test]
fn an_unchanged_config_is_skipped_and_its_point_files_keep_their_bytes() {
    let (exp, dir) = finished("unchanged");
    let before: Vec<Vec<u8>> = exp.points.iter().map(|p| bytes(&dir, &p.id)).collect();
    let o = run_in(&parse(TINY), &dir);
    assert_eq!((o.ran, o.skipped), (0, 2));
    for (p, b) in exp.points.iter().zip(&before) {
        assert_eq!(&bytes(&dir, &p.id), b, "{} was rewritten", p.id);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_config_recomputes_exactly_the_points_it_changes() {
    let (old, dir) = finished("changed");
    let digital = &old.points[0].id;
    let oracle = &old.points[1].id;
    let digital_bytes = bytes(&dir, digital);
    let old_oracle = record(&dir, oracle);
    // A new learning rate for bp-oracle only: its point id stays, its config hash changes.
    let new = parse(&format!("{TINY}\n[learner.bp-oracle]\nlr = 0.02\n"));
    assert_eq!(new.points[1].id, *oracle);
    assert_ne!(new.points[1].config_hash, old.points[1].config_hash);
    assert_eq!(new.points[0].config_hash, old.points[0].config_hash);
    let o = run_in(&new, &dir);
    assert_eq!((o.ran, o.skipped), (1, 1), "only bp-oracle's point reruns");
    assert_eq!(
        bytes(&dir, digital),
        digital_bytes,
        "bp-digital's point is kept"
    );
    let fresh = record(&dir, oracle);
    assert_eq!(fresh.config_hash, new.points[1].config_hash);
    assert_eq!(fresh.status, "done");
    assert_ne!(
        fresh.epochs[0].train_loss, old_oracle.epochs[0].train_loss,
        "the record holds the new learning rate's training"
    );
    // Back to the old config: recomputed again, and equal to the first run (same seeds).
    let o = run_in(&old, &dir);
    assert_eq!((o.ran, o.skipped), (1, 1));
    let back = record(&dir, oracle);
    assert_eq!(back.config_hash, old_oracle.config_hash);
    assert_eq!(back.epochs[0].train_loss, old_oracle.epochs[0].train_loss);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_point_is_recomputed() {
    let (exp, dir) = finished("failed");
    let id = &exp.points[0].id;
    let done = record(&dir, id);
    // The record of a point that failed (e.g. a crash of its learner) under the same config.
    let failed = PointRecord {
        status: mortalsim::experiment::schema::PointStatus::Failed,
        error: Some("simulated failure".into()),
        epochs: Vec::new(),
        drift: Vec::new(),
        deploy: Vec::new(),
        ..done.clone()
    };
    rundir::write_json(&rundir::point_path(&dir, id), &failed).unwrap();
    assert_eq!(record(&dir, id).status, "failed");
    let o = run_in(&exp, &dir);
    assert_eq!((o.ran, o.skipped), (1, 1));
    assert!(o.failed.is_empty());
    let again = record(&dir, id);
    assert_eq!(again.status, "done");
    assert_eq!(again.error, None);
    assert_eq!(outcome(&again), outcome(&done));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_diverged_point_is_a_finished_result_and_is_kept() {
    // Divergence is deterministic (same seed, same config, same NaN): rerunning cannot change
    // it, so a diverged record with the current hash is reused like a done one.
    let (exp, dir) = finished("diverged");
    let id = &exp.points[0].id;
    let mut r = record(&dir, id);
    r.status = mortalsim::experiment::schema::PointStatus::Diverged;
    r.diverged_epoch = Some(1);
    rundir::write_json(&rundir::point_path(&dir, id), &r).unwrap();
    let kept = bytes(&dir, id);
    let o = run_in(&exp, &dir);
    assert_eq!((o.ran, o.skipped), (0, 2));
    assert_eq!(bytes(&dir, id), kept);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_or_foreign_point_files_are_recomputed() {
    let (exp, dir) = finished("corrupt");
    let id = &exp.points[0].id;
    let done = record(&dir, id);
    let path = rundir::point_path(&dir, id);
    let other = record(&dir, &exp.points[1].id);
    let foreign_schema = PointRecord {
        schema_version: rundir::SCHEMA_VERSION + 1,
        ..done.clone()
    };
    for (what, text) in [
        ("invalid JSON", "{ this is not json".to_string()),
        ("a truncated file", {
            let full = String::from_utf8(bytes(&dir, id)).unwrap();
            full[..full.len() / 2].to_string()
        }),
        ("an empty file", String::new()),
        (
            "another point's record",
            serde_json::to_string_pretty(&other).unwrap(),
        ),
        (
            "another schema version",
            serde_json::to_string_pretty(&foreign_schema).unwrap(),
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let o = run_in(&exp, &dir);
        assert_eq!((o.ran, o.skipped), (1, 1), "{what}: the point reruns");
        let again = record(&dir, id);
        assert_eq!(again.status, "done", "{what}");
        assert_eq!(again.id, *id, "{what}");
        assert_eq!(
            outcome(&again),
            outcome(&done),
            "{what}: the same result as before"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
