//! Physically meaningless values are errors; merely unusual ones are warnings, shown and never
//! fatal; the README quotes each field's plausible range (issue 14).

use mortalsim::device::plausible::{Plausible, DEVICE_RANGES};
use mortalsim::device::{presets, Device};
use mortalsim::experiment::plausible::{warnings, EXPERIMENT_RANGES};
use mortalsim::experiment::Experiment;
use std::path::{Path, PathBuf};
use std::process::Command;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mortalsim-plaus-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mortalsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn no_preset_and_no_shipped_experiment_is_unusual() {
    for name in presets::names() {
        let (_, w) = Device::load_with_warnings(name).unwrap();
        assert!(w.is_empty(), "{name}: {w:?}");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        let exp = Experiment::load(&path).unwrap();
        assert_eq!(warnings(&exp), Vec::<String>::new(), "{}", path.display());
    }
}

/// An unusual device value is a warning with file, line and field; the file is valid (exit 0).
#[test]
fn an_unusual_device_value_is_a_located_warning_not_an_error() {
    let dir = temp_dir("dev");
    let f = dir.join("noisy.toml");
    std::fs::write(
        &f,
        "name = \"noisy\"\n[response]\ndw_min_std = 8.0\n[failure]\nhazard_rate_per_s = 0.01\n",
    )
    .unwrap();
    let o = mortalsim(&["devices", "check", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let file = f.display().to_string();
    assert!(
        err.contains(&format!("warning: {file}:3:")) && err.contains("response.dw_min_std"),
        "{err}"
    );
    assert!(err.contains("8 is unusual (plausible: 0 to 5"), "{err}");
    assert!(
        err.contains(&format!("warning: {file}:5:")) && err.contains("hazard_rate_per_s"),
        "{err}"
    );
    // The same device where a device is used: warned, and it runs.
    let o = mortalsim(&[
        "devices",
        "response",
        f.to_str().unwrap(),
        "--pulses",
        "3",
        "--cells",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning:"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unusual experiment value (a learning rate of 5, a device override) is warned about by
/// `run` (here `--list`), which goes on.
#[test]
fn an_unusual_experiment_value_is_a_warning_of_run() {
    let dir = temp_dir("exp");
    let f = dir.join("odd.toml");
    std::fs::write(
        &f,
        "learners = [\"dfa\"]\ndevices = [\"ideal\", { preset = \"idealized\", label = \"worn\", \
         failure = { endurance_median_pulses = 10 } }]\n[train]\nlr = 5.0\n",
    )
    .unwrap();
    let o = mortalsim(&["run", f.to_str().unwrap(), "--list"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("field `train.lr` of learner `dfa`: 5 is unusual"),
        "{err}"
    );
    assert!(
        err.contains("device `worn`: field `failure.endurance_median_pulses`: 10 is unusual"),
        "{err}"
    );
    assert_eq!(err.matches("train.lr").count(), 1, "once: {err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stuck fractions that add up to more than 1 blame a field the file sets, and name them.
#[test]
fn stuck_fractions_over_one_blame_a_field_the_file_sets() {
    let src = "name = \"x\"\n[failure]\nstuck_at_min_fraction = 0.4\nstuck_at_max_fraction = 0.7\n";
    let e = Device::from_toml(src, "x.toml").unwrap_err().to_string();
    assert!(e.starts_with("x.toml:4:"), "{e}");
    assert!(e.contains("failure.stuck_at_max_fraction"), "{e}");
    assert!(!e.contains("stuck_at_random_fraction"), "{e}");
    assert!(
        e.contains("stuck_at_min_fraction (0.4) + stuck_at_max_fraction (0.7)"),
        "{e}"
    );
}

/// The README's table of plausible ranges is the code's, row for row.
#[test]
fn the_readme_quotes_every_plausible_range() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let row = |r: &Plausible| format!("| `{}` | {} | {} |", r.field, r.range_text(), r.why);
    let missing: Vec<String> = DEVICE_RANGES
        .iter()
        .chain(EXPERIMENT_RANGES)
        .map(row)
        .filter(|r| !readme.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README lacks these rows:\n{}",
        missing.join("\n")
    );
}
