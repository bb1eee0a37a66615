//! The `mortalsim` binary: `devices list|show|check|response`, exit codes (0 ok, 2 bad input) and
//! the response CSV.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PRESETS: [&str; 13] = [
    "ideal",
    "constant-step",
    "idealized",
    "gokmen-vlasov",
    "reram-es",
    "reram-sb",
    "capacitor",
    "ecram",
    "ecram-mo",
    "pcm",
    "reram-array-om",
    "reram-array-hfo2",
    "aihwkit-inference",
];

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(args)
        .output()
        .expect("cannot run mortalsim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last line of stdout, parsed as JSON (what `train --json` ends with).
fn last_json_line(o: &Output) -> serde_json::Value {
    let out = stdout(o);
    let last = out.lines().last().expect("some output");
    serde_json::from_str(last).expect("the last line is JSON")
}

/// Asserts the exit code, showing both streams when it is wrong.
fn assert_code(o: &Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}: exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Exit 2, a non-empty message and no panic.
fn assert_bad_input(o: &Output, what: &str) -> String {
    assert_code(o, 2, what);
    let err = stderr(o);
    assert!(!err.trim().is_empty(), "{what}: empty stderr");
    assert!(!err.contains("panicked"), "{what}: panicked:\n{err}");
    err
}

/// A fresh directory under the system temp dir, unique to this process and `tag`.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mortalsim-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp path is UTF-8")
}

#[test]
fn devices_list_prints_every_preset() {
    let o = run(&["devices", "list"]);
    assert_code(&o, 0, "devices list");
    let out = stdout(&o);
    let first_words: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in PRESETS {
        assert!(
            first_words.contains(&name),
            "preset {name} missing from `devices list`:\n{out}"
        );
    }
    assert_eq!(first_words.len(), PRESETS.len(), "{out}");
}

#[test]
fn devices_show_constant_step() {
    let o = run(&["devices", "show", "constant-step"]);
    assert_code(&o, 0, "devices show constant-step");
    let out = stdout(&o);
    assert!(
        out.lines().any(|l| l.trim() == "dw_min = 0.001"),
        "no `dw_min = 0.001` line:\n{out}"
    );
    assert!(out.contains("# Units:"), "no units header:\n{out}");
    assert!(out.contains("constant-step"), "{out}");
    // The body is the resolved device: every section is shown.
    for section in ["[response]", "[conductance]", "[periphery]", "[failure]"] {
        assert!(out.contains(section), "{section} missing:\n{out}");
    }
}

#[test]
fn devices_show_unknown_name() {
    let o = run(&["devices", "show", "no-such-device"]);
    let err = assert_bad_input(&o, "devices show no-such-device");
    assert!(err.contains("no-such-device"), "{err}");
    for name in PRESETS {
        assert!(err.contains(name), "preset {name} not listed:\n{err}");
    }
}

#[test]
fn devices_check_valid_file_and_preset() {
    let dir = temp_dir("check-ok");
    let good = dir.join("good.toml");
    std::fs::write(&good, "name = \"mine\"\n[response]\ndw_min = 0.01\n").unwrap();
    let o = run(&["devices", "check", path_str(&good), "constant-step"]);
    assert_code(&o, 0, "devices check good.toml constant-step");
    let out = stdout(&o);
    assert!(out.contains(path_str(&good)), "{out}");
    assert!(out.contains("constant-step"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_check_out_of_range_value() {
    let dir = temp_dir("check-bad");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"bad\"\n[response]\ndw_min = 0.001\n\n[update]\ndesired_bl = 40\n",
    )
    .unwrap();
    let p = path_str(&bad);
    let o = run(&["devices", "check", p]);
    let err = assert_bad_input(&o, "devices check bad.toml");
    assert!(err.contains(&format!("{p}:6:")), "no `{p}:6:` in:\n{err}");
    assert!(err.contains("update.desired_bl"), "field not named:\n{err}");

    // One bad file among good ones still fails the whole check.
    let o = run(&["devices", "check", "ideal", p, "constant-step"]);
    let err = assert_bad_input(&o, "devices check ideal bad.toml constant-step");
    assert!(err.contains("update.desired_bl"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_check_missing_file() {
    let o = run(&["devices", "check", "no/such/file.toml"]);
    let err = assert_bad_input(&o, "devices check no/such/file.toml");
    assert!(err.contains("no/such/file.toml"), "{err}");
}

#[test]
fn devices_check_needs_a_file() {
    let o = run(&["devices", "check"]);
    assert_bad_input(&o, "devices check (no file)");
}

struct Row {
    pulse: usize,
    direction: String,
    mean: f64,
    std: f64,
}

fn response(seed: &str, out: &Path) -> String {
    let o = run(&[
        "devices",
        "response",
        "constant-step",
        "--pulses",
        "50",
        "--cells",
        "200",
        "--seed",
        seed,
        "--out",
        path_str(out),
    ]);
    assert_code(&o, 0, "devices response constant-step");
    std::fs::read_to_string(out).expect("response CSV not written")
}

fn parse(csv: &str) -> Vec<Row> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("pulse,direction,mean,std"), "{csv}");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "bad row {l:?}");
            Row {
                pulse: f[0]
                    .parse()
                    .unwrap_or_else(|_| panic!("bad pulse in {l:?}")),
                direction: f[1].to_string(),
                mean: f[2].parse().unwrap_or_else(|_| panic!("bad mean in {l:?}")),
                std: f[3].parse().unwrap_or_else(|_| panic!("bad std in {l:?}")),
            }
        })
        .collect()
}

#[test]
fn devices_response_csv() {
    let dir = temp_dir("response");
    let f1 = dir.join("a.csv");
    let csv = response("3", &f1);
    let rows = parse(&csv);
    assert_eq!(rows.len(), 100, "{csv}");
    let (up, down) = rows.split_at(50);
    for (i, r) in up.iter().enumerate() {
        assert_eq!(r.direction, "up", "row {}", i + 1);
        assert_eq!(r.pulse, i + 1);
    }
    for (i, r) in down.iter().enumerate() {
        assert_eq!(r.direction, "down", "row {}", i + 51);
        assert_eq!(r.pulse, i + 1);
    }
    for r in &rows {
        assert!(r.mean.is_finite() && r.std.is_finite() && r.std >= 0.0);
    }
    assert!(up[0].mean > 0.0, "mean after one up pulse: {}", up[0].mean);
    assert!(
        up[49].mean > up[0].mean,
        "up means do not increase: {} then {}",
        up[0].mean,
        up[49].mean
    );
    assert!(
        down[49].mean < up[49].mean,
        "down half does not end lower: up end {}, down end {}",
        up[49].mean,
        down[49].mean
    );
    // Cells differ (30 % device-to-device spread), so the spread over cells is not zero.
    assert!(up[49].std > 0.0);

    // Same seed: the same bytes.
    let f2 = dir.join("b.csv");
    let again = response("3", &f2);
    assert_eq!(std::fs::read(&f1).unwrap(), std::fs::read(&f2).unwrap());
    assert_eq!(csv, again);

    // Another seed: other numbers.
    let f3 = dir.join("c.csv");
    let other = response("4", &f3);
    assert_ne!(csv, other, "seeds 3 and 4 give the same CSV");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn devices_response_to_stdout() {
    let o = run(&[
        "devices",
        "response",
        "constant-step",
        "--pulses",
        "5",
        "--cells",
        "10",
    ]);
    assert_code(&o, 0, "devices response to stdout");
    let rows = parse(&stdout(&o));
    assert_eq!(rows.len(), 10);
}

#[test]
fn devices_response_zero_cells() {
    let o = run(&["devices", "response", "constant-step", "--cells", "0"]);
    let err = assert_bad_input(&o, "devices response --cells 0");
    assert!(err.contains("cells"), "{err}");
}

#[test]
fn devices_response_unknown_device() {
    let o = run(&["devices", "response", "no-such-device", "--pulses", "5"]);
    let err = assert_bad_input(&o, "devices response no-such-device");
    assert!(err.contains("no-such-device"), "{err}");
}

#[test]
fn unknown_subcommand_or_flag() {
    for args in [
        &["devices", "frobnicate"][..],
        &["frobnicate"][..],
        &["devices", "list", "--bogus"][..],
        &["devices", "response", "constant-step", "--pulses", "many"][..],
        &[][..],
    ] {
        let o = run(args);
        assert_bad_input(&o, &format!("mortalsim {}", args.join(" ")));
    }
}

#[test]
fn help_and_version_exit_zero() {
    for args in [
        &["--help"][..],
        &["--version"][..],
        &["devices", "--help"][..],
    ] {
        let o = run(args);
        assert_code(&o, 0, &format!("mortalsim {}", args.join(" ")));
        assert!(!stdout(&o).trim().is_empty());
    }
}

#[test]
fn devices_response_of_the_ideal_device_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["devices", "response", "ideal", "--pulses", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no pulse response"), "{err}");
}

fn mortalsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn train_json_ends_with_the_summary_object() {
    let out = mortalsim(&[
        "train",
        "--learner",
        "dfa",
        "--device",
        "constant-step",
        "--layers",
        "784,32,10",
        "--epochs",
        "2",
        "--train-limit",
        "300",
        "--test-limit",
        "100",
        "--batch",
        "32",
        "--lr",
        "0.1",
        "--json",
    ]);
    assert_code(&out, 0, "train --json");
    let v = last_json_line(&out);
    assert_eq!(v["learner"], "dfa");
    assert_eq!(v["device"], "constant-step");
    assert_eq!(v["epochs"], 2);
    let per_epoch = v["test_accuracy_per_epoch"].as_array().unwrap();
    assert_eq!(per_epoch.len(), 2);
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc) && acc == per_epoch[1].as_f64().unwrap());
    assert!(v["samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["energy_per_sample_j"].as_f64().unwrap() > 0.0);
    assert_eq!(
        stdout(&out)
            .lines()
            .filter(|l| l.starts_with("epoch"))
            .count(),
        2
    );
}

#[test]
fn train_rejects_bad_input_with_exit_code_2() {
    for args in [
        &["--learner", "nope"][..],
        &["--learner", "dfa", "--layers", "784,x,10"],
        &["--learner", "dfa", "--layers", "100,10"],
        &["--learner", "dfa", "--layers", "784,10,5"],
        &["--learner", "dfa", "--activation", "softplus"],
        &["--learner", "dfa", "--data", "/no/such/dir"],
        &["--learner", "dfa", "--device", "nodev"],
        &["--learner", "dfa", "--batch", "0"],
        &["--learner", "dfa", "--lr", "0"],
        &["--learner", "ff", "--ff-negatives", "bogus"],
        &["--learner", "ff", "--ff-inference", "Head"],
        &["--learner", "ff", "--ff-theta", "-1"],
        &["--learner", "ff", "--ff-temperature", "0"],
        &["--learner", "dtp", "--rule", "noise_sd=-1"],
        &["--learner", "dtp", "--rule", "noise_sd"],
        &["--learner", "dtp", "--rule", "=1"],
        &["--learner", "dtp", "--rule", "inverse_steps=two"],
        &["--learner", "dfa", "--rule", "top_step=1"],
    ] {
        let mut all = vec![
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "50",
            "--test-limit",
            "10",
        ];
        all.extend_from_slice(args);
        let out = mortalsim(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("error") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

/// `--rule KEY=VALUE` reaches the rule's own options: an inverse step count of 0 trains no
/// inverse, so the inverses' tiles see targets read but no update.
#[test]
fn train_rule_options_reach_the_learner() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--learner",
            "dtp",
            "--device",
            "constant-step",
            "--layers",
            "784,16,10",
            "--epochs",
            "1",
            "--train-limit",
            "64",
            "--test-limit",
            "10",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = mortalsim(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (plain, frozen) = (
        run(&[]),
        run(&["--rule", "inverse_steps=0", "--rule", "noise_sd=0.2"]),
    );
    assert_ne!(plain.lines().last(), frozen.lines().last());
    let err = String::from_utf8_lossy(
        &mortalsim(&[
            "train",
            "--learner",
            "dtp",
            "--rule",
            "noise_sd=-1",
            "--epochs",
            "1",
        ])
        .stderr,
    )
    .into_owned();
    assert!(err.contains("rule.noise_sd"), "{err}");
}

#[test]
fn train_ff_flags_reach_the_learner_and_the_summary() {
    let out = mortalsim(&[
        "train",
        "--learner",
        "ff",
        "--layers",
        "784,32,32,10",
        "--epochs",
        "1",
        "--train-limit",
        "200",
        "--test-limit",
        "50",
        "--batch",
        "50",
        "--lr",
        "0.001",
        "--ff-negatives",
        "random",
        "--ff-inference",
        "goodness",
        "--ff-measure",
        "mean",
        "--ff-theta",
        "2",
        "--ff-temperature",
        "0.5",
        "--ff-label-value",
        "2.5",
        "--ff-peer-lambda",
        "0.01",
        "--ff-score-first-layer",
        "true",
        "--json",
    ]);
    assert_code(&out, 0, "train --json with ff flags");
    let v = last_json_line(&out);
    let ff = &v["ff"];
    assert_eq!(ff["negatives"], "random");
    assert_eq!(ff["inference"], "goodness");
    assert_eq!(ff["measure"], "mean");
    assert_eq!(ff["theta_per_unit"], 2.0);
    assert_eq!(ff["temperature"], 0.5);
    assert_eq!(ff["label_value"], 2.5);
    assert_eq!(ff["score_first_layer"], true);
    assert!((ff["peer_lambda"].as_f64().unwrap() - 0.01).abs() < 1e-6);
}

/// A two-point experiment of a tiny network, written to a fresh directory.
fn tiny_experiment(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("mortalsim-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        "learners = [\"bp-digital\", \"bp-oracle\"]\ndevices = [\"ideal\"]\n\
         [data]\ntrain_limit = 200\ntest_limit = 50\n[network]\nhidden = [8]\n\
         [train]\nepochs = 1\nbatch = 20\n",
    )
    .unwrap();
    (dir, file)
}

#[test]
fn run_writes_a_run_directory_and_a_rerun_skips_it() {
    let (dir, file) = tiny_experiment("tiny");
    let out = dir.join("run");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_code(&o, 0, "run");
    for f in [
        "manifest.json",
        "config.resolved.toml",
        "metrics.csv",
        "summary.csv",
        "log.txt",
    ] {
        assert!(out.join(f).is_file(), "{f} written");
    }
    assert!(
        stderr(&o).contains("2 points run, 0 skipped"),
        "{}",
        stderr(&o)
    );
    let o = run(&args);
    assert_code(&o, 0, "rerun");
    assert!(
        stderr(&o).contains("0 points run, 2 skipped"),
        "{}",
        stderr(&o)
    );
    let o = run(&["run", file.to_str().unwrap(), "--list"]);
    assert_code(&o, 0, "list");
    assert!(
        stdout(&o).contains("bp-oracle__ideal__s1"),
        "{}",
        stdout(&o)
    );

    // Shard 2/2 alone, then merged with an empty first shard: one point is missing.
    let shard = dir.join("shard2");
    let o = run(&[
        "run",
        file.to_str().unwrap(),
        "--shard",
        "2/2",
        "--out",
        shard.to_str().unwrap(),
    ]);
    assert_code(&o, 0, "shard 2/2");
    let merged = dir.join("merged");
    let o = run(&[
        "merge",
        shard.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_code(&o, 1, "merge with a point missing");
    assert!(
        stderr(&o).contains("1 points missing") && stderr(&o).contains("bp-digital__digital__s1"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "merge",
        out.to_str().unwrap(),
        shard.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_code(&o, 0, "merge");
    let o = run(&[
        "merge",
        dir.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_code(&o, 2, "merge of a directory that is not a run");
    assert!(stderr(&o).contains("no manifest.json"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_rejects_bad_experiment_files_and_shards_with_exit_code_2() {
    let (dir, file) = tiny_experiment("bad");
    std::fs::write(&file, "learners = [\"bp-oracle\"]\ndevices = [\"idael\"]\n").unwrap();
    let o = run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("r").to_str().unwrap(),
    ]);
    assert_code(&o, 2, "unknown device");
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:2:", file.display())), "{err}");
    assert!(err.contains("idael") && err.contains("idealized"), "{err}");
    let o = run(&["run", dir.join("none.toml").to_str().unwrap()]);
    assert_code(&o, 2, "missing file");
    assert!(
        stderr(&o).contains("none.toml: cannot read"),
        "{}",
        stderr(&o)
    );
    let (good_dir, good) = tiny_experiment("shard");
    let o = run(&["run", good.to_str().unwrap(), "--shard", "3/2"]);
    assert_code(&o, 2, "bad shard");
    assert!(stderr(&o).contains("--shard `3/2`"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&good_dir);
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    // `devices list | head -0`: the reader is gone before the first line is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["devices", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run mortalsim");
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "status {:?}", o.status);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// Sizes that would not fit in memory are errors stating the estimate, before anything is
/// allocated (they used to abort the process after minutes); nonsense flags are located.
#[test]
fn oversized_runs_and_bad_flags_are_errors_not_aborts() {
    let o = run(&["train", "--learner", "fa", "--layers", "784,100000000,10"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("needs about") && stderr(&o).contains("TiB"),
        "{}",
        stderr(&o)
    );
    let o = run(&["devices", "response", "ecram", "--pulses", "10000000000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs about"), "{}", stderr(&o));
    let dir = std::env::temp_dir().join(format!("mortalsim-cli-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.toml");
    std::fs::write(
        &file,
        "learners = [\"fa\"]\ndevices = [\"ideal\"]\n[network]\nhidden = [100000000]\n",
    )
    .unwrap();
    let o = run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        dir.join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("big.toml:4:") && stderr(&o).contains("network.hidden"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
    for (args, says) in [
        (
            &["--lr", "-1"][..],
            "--lr must be a positive number, got -1",
        ),
        (&["--threads", "100000"][..], "use at most"),
        (&["--train-limit", "0"][..], "at least 1 sample"),
    ] {
        let mut a = vec!["train", "--learner", "fa", "--epochs", "1"];
        a.extend_from_slice(args);
        let o = run(&a);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

/// `train` without flags uses the rule's recommended settings and says when a run diverged.
#[test]
fn train_uses_the_recommended_settings_and_reports_divergence() {
    let o = run(&["learners"]);
    assert!(o.status.success());
    let ff = stdout(&o)
        .lines()
        .find(|l| l.starts_with("ff "))
        .unwrap()
        .to_string();
    assert!(ff.contains("lr 0.002") && ff.contains("batch 50"), "{ff}");
    let o = run(&[
        "train",
        "--learner",
        "ff",
        "--layers",
        "784,32,10",
        "--epochs",
        "1",
        "--train-limit",
        "1000",
        "--test-limit",
        "200",
        "--lr",
        "0.05",
        "--batch",
        "64",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(last_json_line(&o)["diverged"], true, "{}", stdout(&o));
    assert!(stderr(&o).contains("recommended settings are lr 0.002 and batch 50"));
}

#[test]
fn train_places_layers_and_rejects_bad_layer_devices() {
    let base = [
        "train",
        "--learner",
        "bp-oracle",
        "--device",
        "constant-step",
        "--layers",
        "784,16,10",
        "--epochs",
        "1",
        "--train-limit",
        "200",
        "--test-limit",
        "100",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        run(&a)
    };
    let o = with(&["--layer-devices", "digital,device", "--json"]);
    assert_code(&o, 0, "mixed");
    assert_eq!(last_json_line(&o)["device"], "digital/constant-step");
    // Every layer on the device is the run without the flag.
    let plain = with(&["--json"]);
    let same = with(&["--layer-devices", "device,device", "--json"]);
    let (p, s) = (last_json_line(&plain), last_json_line(&same));
    assert_eq!(p["test_loss_per_epoch"], s["test_loss_per_epoch"]);
    assert_eq!(p["device"], s["device"]);
    let e = assert_bad_input(&with(&["--layer-devices", "digital"]), "too few");
    assert!(
        e.contains("--layer-devices") && e.contains("1 layer devices for 2 layers"),
        "{e}"
    );
    let e = assert_bad_input(&with(&["--layer-devices", "digital,memristor9"]), "unknown");
    assert!(e.contains("layer 1") && e.contains("memristor9"), "{e}");
}

#[test]
fn train_takes_an_update_scheme_and_names_a_bad_one() {
    let o = run(&[
        "train",
        "--learner",
        "dfa",
        "--device",
        "constant-step",
        "--layers",
        "784,16,10",
        "--epochs",
        "1",
        "--train-limit",
        "200",
        "--test-limit",
        "100",
        "--update",
        "ttv2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(last_json_line(&o)["test_accuracy"].as_f64().is_some());
    let o = run(&[
        "train",
        "--learner",
        "dfa",
        "--layers",
        "784,16,10",
        "--update",
        "ttv3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--update") && stderr(&o).contains("ttv3"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "train",
        "--learner",
        "bp-digital",
        "--layers",
        "784,16,10",
        "--update",
        "ttv2",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs a device"), "{}", stderr(&o));
}
