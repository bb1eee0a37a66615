//! A run directory is never silently mixed or lost: it belongs to one experiment, one run at a
//! time holds it, a corrupted point file is recomputed with a warning, the manifest says what
//! is missing at every moment, and log lines are whole.

use mortalsim::experiment::run::{Progress, RunError};
use mortalsim::experiment::rundir::{self, Manifest};
use mortalsim::experiment::{run, Experiment, RunOutcome, RunSettings, Shard};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

fn experiment(name: &str, lr: f64) -> Experiment {
    let src = format!(
        "name = \"{name}\"\nlearners = [\"bp-digital\", \"dfa\"]\ndevices = [\"ideal\"]\n\
         seeds = [1, 2]\n[data]\ntrain_limit = 200\ntest_limit = 50\n[network]\nhidden = [8]\n\
         [train]\nepochs = 1\nbatch = 20\nlr = {lr}\n"
    );
    Experiment::from_toml(&src, "exp.toml", name).unwrap()
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mortalsim-safety-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn settings(dir: &Path, force: bool) -> RunSettings {
    RunSettings {
        out: dir.to_path_buf(),
        shard: Shard::ALL,
        force,
        command_line: "test".into(),
        wait: false,
    }
}

fn run_quiet(exp: &Experiment, dir: &Path, force: bool) -> Result<RunOutcome, RunError> {
    run(exp, &settings(dir, force), &|_| {})
}

#[test]
fn a_directory_belongs_to_one_experiment() {
    let dir = tempdir("owner");
    run_quiet(&experiment("first", 0.05), &dir, false).unwrap();
    let before = std::fs::read_dir(dir.join("points")).unwrap().count();
    let err = run_quiet(&experiment("second", 0.05), &dir, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`first`") && err.contains("`second`") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("points")).unwrap().count(),
        before
    );
    let m: Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
    assert_eq!(m.experiment, "first", "the refused run wrote nothing");
    // The same experiment with a changed setting reruns its changed points; --force takes over.
    let changed = run_quiet(&experiment("first", 0.1), &dir, false).unwrap();
    assert_eq!(changed.ran, 4, "every point's config changed");
    let forced = run_quiet(&experiment("second", 0.05), &dir, true).unwrap();
    assert_eq!(forced.ran, 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_run_at_a_time_holds_a_directory() {
    let dir = tempdir("lock");
    let held = rundir::lock(&dir, false).unwrap();
    let err = run_quiet(&experiment("locked", 0.05), &dir, false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("in use by another run")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    run_quiet(&experiment("locked", 0.05), &dir, false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_point_file_is_recomputed_with_a_warning() {
    let dir = tempdir("corrupt");
    let exp = experiment("corrupt", 0.05);
    run_quiet(&exp, &dir, false).unwrap();
    let id = &exp.points[1].id;
    let path = rundir::point_path(&dir, id);
    let good = std::fs::read_to_string(&path).unwrap();
    for bad in [
        "{ not json".to_string(),
        good.replace("\"status\": \"done\"", "\"status\": \"finished\""),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let warnings = Mutex::new(Vec::new());
        let out = run(&exp, &settings(&dir, false), &|p| {
            if let Progress::Warning { message } = p {
                warnings.lock().unwrap().push(message);
            }
        })
        .unwrap();
        assert_eq!(
            (out.ran, out.skipped),
            (1, 3),
            "only the corrupted point reruns"
        );
        let w = warnings.into_inner().unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(id.as_str()), "{}", w[0]);
        assert_eq!(
            rundir::read_point(&dir, id).unwrap().status,
            "done",
            "recomputed"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_manifest_says_what_is_missing_at_every_moment_and_log_lines_are_whole() {
    let dir = tempdir("manifest");
    let exp = experiment("manifest", 0.05);
    let seen = Mutex::new(Vec::new());
    run(&exp, &settings(&dir, false), &|p| {
        let m: Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
        let what = match p {
            Progress::Plan { .. } => "plan",
            Progress::Finished { .. } => "finished",
            _ => return,
        };
        seen.lock()
            .unwrap()
            .push((what, m.status, m.points_missing.len()));
    })
    .unwrap();
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen[0],
        ("plan", mortalsim::experiment::schema::RunStatus::Running, 4),
        "{seen:?}"
    );
    // While the points run, the manifest counts down (a point's own update follows its
    // Finished report), and it never claims fewer missing than there are.
    let counts: Vec<usize> = seen[1..].iter().map(|s| s.2).collect();
    assert!(counts.windows(2).all(|w| w[1] <= w[0]), "{counts:?}");
    assert!(counts.iter().enumerate().all(|(k, &c)| c >= 4 - k - 1));
    let m: Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
    assert_eq!(
        (m.status.as_str(), m.points_missing.len()),
        ("completed", 0)
    );
    let log = std::fs::read_to_string(dir.join("log.txt")).unwrap();
    assert_eq!(log.lines().count(), 4);
    for line in log.lines() {
        assert_eq!(line.matches("test accuracy").count(), 1, "torn: {line}");
        assert!(line.ends_with(" s)"), "torn: {line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A shard names itself as it is written on the command line (the manifest and the progress
/// lines show it; cargo-mutants found nothing checking it).
#[test]
fn a_shard_is_written_as_it_is_given() {
    assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
    let dir = tempdir("shardname");
    let mut s = settings(&dir, false);
    s.shard = Shard::parse("1/2").unwrap();
    run(&experiment("shardname", 0.05), &s, &|_| {}).unwrap();
    let m: Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
    assert_eq!(m.shard, "1/2");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A killed run leaves the temporary files of its atomic writes; the next run (holding the
/// lock, so no live writer owns them) removes them, and the finished files are untouched.
#[test]
fn a_killed_runs_temporary_files_are_removed_by_the_next_run() {
    let dir = tempdir("tmpfiles");
    let exp = experiment("tmp", 0.05);
    run_quiet(&exp, &dir, false).unwrap();
    let stale = [
        dir.join("points").join("dfa__ideal__s1.4242.tmp"),
        dir.join("summary.4242.tmp"),
    ];
    for s in &stale {
        std::fs::write(s, b"{\"half\": ").unwrap();
    }
    let before = std::fs::read(dir.join("summary.csv")).unwrap();
    let again = run_quiet(&exp, &dir, false).unwrap();
    assert_eq!(again.ran, 0);
    for s in &stale {
        assert!(!s.exists(), "{} left behind", s.display());
    }
    assert_eq!(std::fs::read(dir.join("summary.csv")).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}
