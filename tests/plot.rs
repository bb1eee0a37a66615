//! `mortalsim::plot`: reading a run directory, aggregating seeds, and the figures and
//! `summary.md` written from the fixture `tests/fixtures/run-small` (2 learners × 2 devices ×
//! 3 values of one sweep axis × 2 seeds × 3 epochs, drift rows, one diverged point) and from
//! the stream fixture `tests/fixtures/run-lifetime` (continual learning: bp-oracle and dfa ×
//! replacement rate 0 and 1e-4 × seeds 1 and 2 × 12 tasks on one device). Its numbers, with
//! σ = −1 for seed 1 and +1 for seed 2, b = 0.90 (bp-oracle) or 0.80 (dfa), t the task:
//! accuracy b − d·(t − 1) + 0.01σ with d = 0.02 (rate 0) or 0.005; first-task accuracy
//! b + 0.01σ − e·(t − 1) with e = 0.03 or 0.01; failed fraction f·t + 0.001σ with f = 0.004
//! (bp-oracle, rate 0), 0.005, 0.006 (dfa, rate 0), 0.007; replacements 0 at rate 0, else 10·t
//! (seed 1) and 12·t (seed 2); dead fraction g·t + 0.001σ (layer 1) and 2g·t + 0.001σ (layer
//! 2), g = 0.01 or 0.002, plus 0.002·t for dfa.

use mortalsim::plot::figures::{self, Item, Stroke};
use mortalsim::plot::read::{self, GroupKey, Status};
use mortalsim::plot::{plot_run, Format, PlotError, Run, Stats};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-small")
}

fn lifetime_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-lifetime")
}

/// A copy of the stream fixture, to be changed by a test.
fn lifetime_copy(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    for f in ["manifest.json", "summary.csv", "metrics.csv"] {
        std::fs::copy(lifetime_fixture().join(f), dir.join(f)).unwrap();
    }
    dir
}

fn file_names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// A fresh directory under the system temp dir, unique to this process and `tag`.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mortalsim-plot-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of the fixture run directory, to be damaged by a test.
fn fixture_copy(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    for f in ["manifest.json", "summary.csv", "metrics.csv"] {
        std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
    }
    dir
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn key(run: &Run, learner: &str, device: &str, sweep: usize) -> GroupKey {
    GroupKey {
        learner: run.learners.iter().position(|l| l == learner).unwrap(),
        device: run.devices.iter().position(|d| d == device).unwrap(),
        sweep: vec![sweep],
    }
}

fn assert_svg(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let head = text.trim_start();
    assert!(
        head.starts_with("<svg") || head.starts_with("<?xml"),
        "{}: not an SVG",
        path.display()
    );
    assert!(
        text.contains("</svg>"),
        "{}: unterminated SVG",
        path.display()
    );
    assert!(text.contains("<text"), "{}: no text", path.display());
}

/// Checks the PNG signature and returns the (width, height) of its IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() > 10_000,
        "{}: only {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR", "{}: no IHDR first", path.display());
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn fixture_is_read_into_typed_records() {
    let run = Run::read(&fixture()).unwrap();
    assert_eq!(run.experiment, "run-small");
    assert_eq!(run.status, "completed");
    assert_eq!(run.learners, ["bp-oracle", "fa"]);
    assert_eq!(run.devices, ["reram-es", "pcm"]);
    assert_eq!(run.axes.len(), 1);
    let axis = &run.axes[0];
    assert_eq!(axis.path, "device.failure.stuck_at_min_fraction");
    assert_eq!(axis.short_name(), "stuck_at_min_fraction");
    assert_eq!(axis.numbers.as_deref(), Some(&[0.0, 0.01, 0.1][..]));
    assert_eq!(run.points.len(), 24);
    let diverged: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.status == Status::Diverged)
        .collect();
    assert_eq!(diverged.len(), 1);
    assert_eq!(diverged[0].diverged_epoch, Some(2));
    assert!(diverged[0].test_accuracy.is_nan());
    assert_eq!(run.combinations(), vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn stats_are_mean_and_sample_std() {
    let s = Stats::of([1.0, 2.0, 3.0, 4.0]).unwrap();
    assert_eq!(s.n, 4);
    assert_eq!(s.mean, 2.5);
    assert_eq!(s.std, (5.0f64 / 3.0).sqrt());
    let one = Stats::of([0.7]).unwrap();
    assert_eq!((one.mean, one.std, one.n), (0.7, 0.0, 1));
    assert_eq!(Stats::of([f64::NAN, f64::INFINITY]), None);
    assert_eq!(Stats::of(std::iter::empty()), None);
}

#[test]
fn seeds_are_aggregated_by_group() {
    let run = Run::read(&fixture()).unwrap();
    let finals = run.final_accuracy();
    assert_eq!(finals.len(), 2 * 2 * 3);
    // bp-oracle on reram-es at fraction 0: seeds 0.89 and 0.91.
    let f = &finals[&key(&run, "bp-oracle", "reram-es", 0)];
    let s = f.accuracy.unwrap();
    assert_eq!((s.n, f.points, f.diverged), (2, 2, 0));
    assert!(close(s.mean, 0.9), "{}", s.mean);
    assert!(close(s.std, 0.02f64.sqrt() / 10.0), "{}", s.std);
    // fa on pcm at fraction 0.1: one seed done (0.69), one diverged.
    let f = &finals[&key(&run, "fa", "pcm", 2)];
    let s = f.accuracy.unwrap();
    assert_eq!((s.n, f.points, f.diverged), (1, 2, 1));
    assert_eq!((s.mean, s.std), (0.69, 0.0));

    // Per epoch: epoch 1 of bp-oracle on reram-es at fraction 0 is 0.69 and 0.71.
    let curves = run.per_epoch("test_accuracy");
    let c = &curves[&key(&run, "bp-oracle", "reram-es", 0)];
    assert_eq!(c.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(close(c[0].1.mean, 0.7) && c[0].1.n == 2);
    // The diverged seed's NaN at epoch 2 is left out; its epoch 1 counts.
    let c = &curves[&key(&run, "fa", "pcm", 2)];
    assert_eq!(
        c.iter().map(|e| e.1.n).collect::<Vec<_>>(),
        [2, 1, 1],
        "{c:?}"
    );

    // Drift: four times after training, both seeds.
    let drift = run.per_time("drift_test_accuracy_compensated");
    let d = &drift[&key(&run, "fa", "reram-es", 1)];
    assert_eq!(
        d.iter().map(|t| t.0).collect::<Vec<_>>(),
        [1.0, 3600.0, 86400.0, 3.15e7]
    );
    assert!(d.iter().all(|t| t.1.n == 2));

    // Energy per (learner, device) over seeds and sweep values: 1.9e-9 and 2.1e-9, 3 each.
    let e = run.energy();
    let (train, infer) = e[&(0, 0)];
    let train = train.unwrap();
    assert_eq!(train.n, 6);
    assert!(close(train.mean, 2e-9));
    assert!(close(
        train.std,
        (6.0 * 1e-20f64 / 5.0).sqrt() // six deviations of ±1e-10
    ));
    assert!(close(infer.unwrap().mean, 5e-10));
}

#[test]
fn plot_run_writes_every_figure_as_svg_and_png() {
    let out = temp_dir("all");
    let files = plot_run(&fixture(), &out, &Format::ALL).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut expected = Vec::new();
    for stem in [
        "accuracy_vs_epoch_stuck_at_min_fraction=0.0",
        "accuracy_vs_epoch_stuck_at_min_fraction=0.01",
        "accuracy_vs_epoch_stuck_at_min_fraction=0.1",
        "accuracy_vs_stuck_at_min_fraction",
        "accuracy_vs_time_stuck_at_min_fraction=0.0",
        "accuracy_vs_time_stuck_at_min_fraction=0.01",
        "accuracy_vs_time_stuck_at_min_fraction=0.1",
        "energy",
    ] {
        expected.push(format!("{stem}.svg"));
        expected.push(format!("{stem}.png"));
    }
    expected.push("summary.md".into());
    assert_eq!(names, expected);
    for f in &files {
        assert!(f.starts_with(&out));
        match f.extension().and_then(|e| e.to_str()) {
            Some("svg") => assert_svg(f),
            Some("png") => {
                let (w, h) = png_size(f);
                assert!(w >= 1200 && h >= 500, "{}: {w}×{h}", f.display());
                // The SVG of the same figure has the same size.
                let svg = std::fs::read_to_string(f.with_extension("svg")).unwrap();
                assert!(
                    svg.contains(&format!("width=\"{w}\" height=\"{h}\"")),
                    "{}",
                    f.display()
                );
            }
            _ => {}
        }
    }

    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    // Mean ± std of 0.89 and 0.91 (sample std 0.01·√2 = 1.41 %).
    assert!(
        md.contains(
            "| bp-oracle | 90.00 ± 1.41 % (n = 2) | 89.00 ± 1.41 % (n = 2) | 80.00 ± 1.41 % (n = 2) |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| fa | 80.00 ± 1.41 % (n = 2) | 79.00 ± 1.41 % (n = 2) | 69.00 ± 0.00 % (n = 1); diverged 1/2 |"
        ),
        "{md}"
    );
    assert!(md.contains("## Final test accuracy on pcm"));
    assert!(md.contains("| learner \\ stuck_at_min_fraction | 0.0 | 0.01 | 0.1 |"));
    assert!(md.contains("## Energy per training sample"));
    assert!(md.contains("2.000e-9 ±"), "{md}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn formats_are_honoured() {
    let out = temp_dir("svg-only");
    let files = plot_run(&fixture(), &out, &[Format::Svg]).unwrap();
    assert!(files.iter().all(|f| f.extension().unwrap() != "png"));
    assert_eq!(
        files
            .iter()
            .filter(|f| f.extension().unwrap() == "svg")
            .count(),
        8
    );
    assert_eq!("PNG".parse::<Format>(), Ok(Format::Png));
    assert!("jpg".parse::<Format>().unwrap_err().contains("jpg"));
    std::fs::remove_dir_all(&out).unwrap();
}

/// A run with no sweep axis, one learner, one seed, one epoch and no drift or energy.
#[test]
fn minimal_run_plots_without_sweep_drift_or_energy() {
    let dir = temp_dir("minimal");
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"experiment": "tiny", "sweep_axes": [], "status": "completed"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("summary.csv"),
        "point,learner,device,seed,status,epochs,diverged_epoch,test_accuracy,energy_per_sample_j,energy_per_inference_j\n\
         a,bp-digital,none,1,done,1,,0.5,0,0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("metrics.csv"),
        "point,learner,device,seed,epoch,time_s,metric,value\n\
         a,bp-digital,none,1,1,0,test_accuracy,0.5\n",
    )
    .unwrap();
    let out = dir.join("plots");
    let files = plot_run(&dir, &out, &Format::ALL).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "accuracy_vs_epoch.svg",
            "accuracy_vs_epoch.png",
            "summary.md"
        ]
    );
    png_size(&out.join("accuracy_vs_epoch.png"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("| bp-digital | 50.00 ± 0.00 % (n = 1) |"),
        "{md}"
    );
    assert!(md.contains("No energy figure"), "{md}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_files_are_named() {
    let dir = temp_dir("missing");
    let err = plot_run(&dir, &dir.join("plots"), &Format::ALL).unwrap_err();
    assert!(matches!(err, PlotError::Missing { .. }), "{err:?}");
    assert!(err.is_input());
    assert!(err.to_string().contains("manifest.json"), "{err}");

    let dir = fixture_copy("missing-metrics");
    std::fs::remove_file(dir.join("metrics.csv")).unwrap();
    let err = plot_run(&dir, &dir.join("plots"), &Format::ALL).unwrap_err();
    assert!(err.to_string().contains("metrics.csv"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_files_are_named_with_the_line() {
    // A row with a field too many.
    let dir = fixture_copy("extra-field");
    let path = dir.join("metrics.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines[4].push_str(",oops");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = plot_run(&dir, &dir.join("plots"), &Format::ALL).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("metrics.csv line 5"), "{msg}");
    assert!(matches!(err, PlotError::Malformed { line: Some(5), .. }));

    // A value that is not a number.
    std::fs::copy(fixture().join("metrics.csv"), dir.join("metrics.csv")).unwrap();
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[2] = lines[2].replace(",0.91,", ",ninety,");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = Run::read(&dir).unwrap_err().to_string();
    assert!(err.contains("summary.csv line 3"), "{err}");
    assert!(err.contains("ninety"), "{err}");

    // A sweep axis without its column.
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"experiment": "x", "sweep_axes": ["train.lr"], "status": "completed"}"#,
    )
    .unwrap();
    let err = Run::read(&dir).unwrap_err().to_string();
    assert!(
        err.contains("summary.csv line 1") && err.contains("train.lr"),
        "{err}"
    );

    // A manifest that is not JSON.
    std::fs::write(dir.join("manifest.json"), "{\"experiment\": \n").unwrap();
    let err = Run::read(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.json line 2"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_plots_and_exits_2_on_bad_input() {
    let out = temp_dir("cli");
    let o = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args([
            "plot",
            fixture().to_str().unwrap(),
            "--format",
            "svg",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let printed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(printed.lines().count(), 9, "{printed}");
    assert!(printed.lines().all(|l| Path::new(l).exists()), "{printed}");

    let o = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["plot"])
        .arg(out.join("no-such-run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("manifest.json") && !err.contains("panicked"),
        "{err}"
    );

    let o = Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["plot", fixture().to_str().unwrap(), "--format", "gif"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn stream_runs_are_detected() {
    let run = Run::read(&lifetime_fixture()).unwrap();
    assert!(run.is_stream() && run.stream_columns);
    assert_eq!(run.learners, ["bp-oracle", "dfa"]);
    assert_eq!(run.axes[0].labels, ["0.0", "0.0001"]);
    assert_eq!(run.axes[0].label.as_deref(), Some("replacement_rate"));
    assert_eq!(run.stream_groups.len(), 4);
    assert!(run.points.iter().all(|p| p.stream));
    let p = &run.points[2];
    assert_eq!((p.replacements, p.first_task_accuracy), (120.0, 0.78));

    // Detected from the metric rows alone as well (a summary without the stream columns).
    let dir = lifetime_copy("stream-rows");
    let path = dir.join("summary.csv");
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(17).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    let run = Run::read(&dir).unwrap();
    assert!(!run.stream_columns && run.is_stream());
    assert!(run.points.iter().all(|p| p.stream));
    std::fs::remove_dir_all(&dir).unwrap();

    // The epoch fixture is no stream run.
    let run = Run::read(&fixture()).unwrap();
    assert!(!run.is_stream() && run.stream_groups.is_empty());
    assert!(run.points.iter().all(|p| !p.stream));
}

#[test]
fn per_task_metrics_are_averaged_over_layers_then_seeds() {
    let run = Run::read(&lifetime_fixture()).unwrap();
    let k = |l: &str, rate: usize| GroupKey {
        learner: run.learners.iter().position(|x| x == l).unwrap(),
        device: 0,
        sweep: vec![rate],
    };
    let dead = run.per_task(|m| read::is_layer_metric(m, "dead_fraction"));
    // bp-oracle, rate 0, task 12: layers 0.12 + 0.001σ and 0.24 + 0.001σ.
    let c = &dead[&k("bp-oracle", 0)];
    assert_eq!(c.len(), 12);
    let (t, s) = c[11];
    assert_eq!((t, s.n), (12, 2));
    assert!(close(s.mean, 0.18), "{}", s.mean);
    assert!(close(s.std, 0.002 / 2f64.sqrt()), "{}", s.std);
    // Replacements: 120 and 144 at task 12 with continual backprop.
    let r = run.per_task(|m| m == "replacements");
    let (_, s) = r[&k("dfa", 1)][11];
    assert_eq!(s.mean, 132.0);
    assert!(read::is_layer_metric("stable_rank_l12", "stable_rank"));
    assert!(!read::is_layer_metric("stable_rank_l", "stable_rank"));
    assert!(!read::is_layer_metric("stable_rank", "stable_rank"));
}

#[test]
fn stream_run_gets_lifetime_figures_and_table() {
    let out = temp_dir("lifetime");
    let files = plot_run(&lifetime_fixture(), &out, &Format::ALL).unwrap();
    let mut expected = Vec::new();
    for stem in [
        "lifetime",
        "first_task",
        "plasticity",
        "accuracy_vs_replacement_rate",
        "energy",
    ] {
        expected.push(format!("{stem}.svg"));
        expected.push(format!("{stem}.png"));
    }
    expected.push("summary.md".into());
    assert_eq!(file_names(&files), expected);
    for f in &files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("svg") => assert_svg(f),
            Some("png") => {
                let (w, h) = png_size(f);
                // The energy figure has one panel (no inference energy for streams): narrower.
                let min_w = if f.ends_with("energy.png") { 800 } else { 1200 };
                assert!(w >= min_w && h >= 500, "{}: {w}×{h}", f.display());
            }
            _ => {}
        }
    }
    let svg = std::fs::read_to_string(out.join("lifetime.svg")).unwrap();
    for text in [
        "failed cells (%)",
        "replacement_rate = 0.0001",
        "accuracy on the current task (%)",
        "task",
    ] {
        assert!(svg.contains(text), "lifetime.svg lacks {text}");
    }
    let svg = std::fs::read_to_string(out.join("plasticity.svg")).unwrap();
    for text in ["Dead units", "Stable rank", "mean |w|", "Backbone"] {
        assert!(svg.contains(text), "plasticity.svg lacks {text}");
    }

    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for row in [
        "| learner | replacement_rate | seeds | task 1 (%) | task 10 (%) | task 12 (%) | mean over tasks (%) | first task at end (%) | failed cells at end (%) | replaced at end |",
        "| bp-oracle | 0.0 | 2 | 90.00 ± 1.41 | 72.00 ± 1.41 | 68.00 ± 1.41 | 79.00 ± 1.41 | 57.00 ± 1.41 | 4.80 ± 0.14 | 0.0 ± 0.0 |",
        "| bp-oracle | 0.0001 | 2 | 90.00 ± 1.41 | 85.50 ± 1.41 | 84.50 ± 1.41 | 87.25 ± 1.41 | 79.00 ± 1.41 | 6.00 ± 0.14 | 132.0 ± 17.0 |",
        "| dfa | 0.0 | 2 | 80.00 ± 1.41 | 62.00 ± 1.41 | 58.00 ± 1.41 | 69.00 ± 1.41 | 47.00 ± 1.41 | 7.20 ± 0.14 | 0.0 ± 0.0 |",
        "| dfa | 0.0001 | 2 | 80.00 ± 1.41 | 75.50 ± 1.41 | 74.50 ± 1.41 | 77.25 ± 1.41 | 69.00 ± 1.41 | 8.40 ± 0.14 | 132.0 ± 17.0 |",
    ] {
        assert!(md.contains(row), "missing\n{row}\nin\n{md}");
    }
    assert!(md.contains("## Lifetime on pcm"), "{md}");
    // The final accuracies are in the lifetime table, not in a table of their own.
    assert!(!md.contains("## Final test accuracy"), "{md}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn lifetime_figure_has_a_secondary_failed_axis_and_styles_per_rate() {
    let run = Run::read(&lifetime_fixture()).unwrap();
    let (figs, _) = figures::all_figures(&run);
    let life = figs.iter().find(|f| f.name == "lifetime").unwrap();
    assert_eq!(life.panels.len(), 1);
    let panel = &life.panels[0];
    let sec = panel
        .secondary
        .as_ref()
        .expect("failed cells on a right-hand axis");
    assert_eq!(sec.axis.desc, "failed cells (%)");
    // Mean over the panel's 8 points at task 12: 12 · (0.004 + 0.005 + 0.006 + 0.007) / 4.
    let Item::Line { points, .. } = &sec.items[0] else {
        panic!("{:?}", sec.items[0])
    };
    assert_eq!(points.len(), 12);
    assert!(
        close(points[11].1, 100.0 * 12.0 * 0.0055),
        "{:?}",
        points[11]
    );
    let strokes: Vec<Stroke> = panel
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Line { stroke, .. } => Some(*stroke),
            _ => None,
        })
        .collect();
    assert_eq!(
        strokes,
        [Stroke::Solid, Stroke::Dashed, Stroke::Solid, Stroke::Dashed]
    );
    let first = figs.iter().find(|f| f.name == "first_task").unwrap();
    assert!(first.panels[0].secondary.is_none());
    let plast = figs.iter().find(|f| f.name == "plasticity").unwrap();
    assert_eq!(plast.panels.len(), 6);
    // No per-epoch figure for a run of stream points.
    assert!(!figs.iter().any(|f| f.name.starts_with("accuracy_vs_epoch")));

    // Without utility propagation there is no backbone panel.
    let dir = lifetime_copy("no-backbone");
    let path = dir.join("metrics.csv");
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("backbone_fraction"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, text).unwrap();
    let run = Run::read(&dir).unwrap();
    let (figs, _) = figures::all_figures(&run);
    let plast = figs.iter().find(|f| f.name == "plasticity").unwrap();
    assert_eq!(plast.panels.len(), 5);
    assert!(plast.panels.iter().all(|p| !p.title.contains("Backbone")));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A second sweep axis splits the panels (and the plasticity figures and summary tables).
#[test]
fn a_second_axis_gets_its_own_panels() {
    let dir = lifetime_copy("two-axes");
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"experiment": "two", "status": "completed",
            "sweep_axes": ["options.continual.replacement_rate", "device.periphery.spare_lines_per_tile"]}"#,
    )
    .unwrap();
    // spare lines 0 for seed 1, 2 for seed 2: one seed per group.
    for (file, seed_col) in [("summary.csv", 4), ("metrics.csv", 4)] {
        let path = dir.join(file);
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let mut c: Vec<String> = l.split(',').map(str::to_string).collect();
                let v = if i == 0 {
                    "device.periphery.spare_lines_per_tile".to_string()
                } else if c[seed_col] == "1" {
                    "0".into()
                } else {
                    "2".into()
                };
                c.insert(4, v);
                c.join(",") + "\n"
            })
            .collect();
        std::fs::write(&path, text).unwrap();
    }
    let out = dir.join("plots");
    let files = plot_run(&dir, &out, &[Format::Svg]).unwrap();
    let names = file_names(&files);
    for name in [
        "lifetime.svg",
        "first_task.svg",
        "plasticity_pcm_spare_lines_per_tile=0.svg",
        "plasticity_pcm_spare_lines_per_tile=2.svg",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} not in {names:?}");
    }
    let run = Run::read(&dir).unwrap();
    let (figs, _) = figures::all_figures(&run);
    let life = figs.iter().find(|f| f.name == "lifetime").unwrap();
    let titles: Vec<&str> = life.panels.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "pcm · spare_lines_per_tile = 0",
            "pcm · spare_lines_per_tile = 2"
        ]
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        md.contains("## Lifetime on pcm · spare_lines_per_tile = 2"),
        "{md}"
    );
    // One seed: standard deviation 0; seed 2 of bp-oracle without replacement.
    assert!(
        md.contains("| bp-oracle | 0.0 | 1 | 91.00 ± 0.00 | 73.00 ± 0.00 | 69.00 ± 0.00 |"),
        "{md}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_per_task_rows_are_named_with_the_line() {
    let dir = lifetime_copy("bad-task");
    let path = dir.join("metrics.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let good = lines[40].clone();
    // A task that is not a whole number.
    lines[40] = good.replacen(",3,10800,", ",three,10800,", 1);
    assert_ne!(lines[40], good);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = plot_run(&dir, &dir.join("plots"), &Format::ALL).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("metrics.csv line 41") && msg.contains("three"),
        "{msg}"
    );
    // A per-layer value that is not a number.
    lines[40] = good.rsplit_once(',').unwrap().0.to_string() + ",dead";
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let msg = plot_run(&dir, &dir.join("plots"), &Format::ALL)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("metrics.csv line 41") && msg.contains("dead"),
        "{msg}"
    );
    // A stream column of summary.csv that is not a number.
    std::fs::copy(lifetime_fixture().join("metrics.csv"), &path).unwrap();
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(",12000000,120,", ",12000000,many,", 1)).unwrap();
    let msg = Run::read(&dir).unwrap_err().to_string();
    assert!(
        msg.contains("summary.csv line 4") && msg.contains("replacements"),
        "{msg}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_with_an_infinite_value_is_drawn_as_categories() {
    // `refresh_every_s = [inf, 60]`: "never" has no place on a numeric axis (it hung the
    // tick generator before).
    let axis = mortalsim::plot::read::SweepAxis {
        path: "countermeasures.refresh_every_s".into(),
        label: None,
        labels: vec!["60.0".into(), "inf".into()],
        numbers: Some(vec![60.0, f64::INFINITY]),
    };
    let (x, spec) = mortalsim::plot::figures::sweep_x(&axis, "refresh".into());
    assert_eq!(x, vec![0.0, 1.0]);
    assert_eq!(spec.ticks.len(), 2);
    assert_eq!(spec.ticks[1].1, "inf");
}
