//! One results schema: the point and run statuses and the table columns are declared once
//! (`experiment::schema`) and used by the run directory's writer and by `plot`'s reader, so a
//! record that does not fit can be neither written nor read (issue 14).

use mortalsim::experiment::rundir::{self, PointRecord};
use mortalsim::experiment::schema::{self, PointStatus, RunStatus};
use mortalsim::experiment::{run, Experiment, RunSettings, Shard};
use mortalsim::plot::read::Run;
use std::path::{Path, PathBuf};

fn idx_images(count: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [count, 3, 3] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..count * 9).map(|i| (i * 13) as u8));
    b
}

fn idx_labels(count: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&count.to_be_bytes());
    b.extend((0..count).map(|i| (i % 2) as u8));
    b
}

/// A finished run of a tiny experiment with one sweep axis, in a fresh directory.
fn finished_run(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mortalsim-schema-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for p in ["train", "t10k"] {
        std::fs::write(data.join(format!("{p}-images-idx3-ubyte")), idx_images(10)).unwrap();
        std::fs::write(data.join(format!("{p}-labels-idx1-ubyte")), idx_labels(10)).unwrap();
    }
    let src = format!(
        "learners = [\"dfa\"]\ndevices = [\"ideal\"]\n[data]\ndir = \"{}\"\n[network]\n\
         hidden = [2]\n[train]\nepochs = 1\nbatch = 5\n[[sweep]]\npath = \"train.lr\"\n\
         values = [0.01, 0.02]\n",
        data.display()
    );
    let exp = Experiment::from_toml(&src, "schema.toml", "schema").unwrap();
    let out = root.join("run");
    let settings = RunSettings {
        out: out.clone(),
        shard: Shard::ALL,
        force: false,
        command_line: "test".into(),
        wait: false,
    };
    run(&exp, &settings, &|_| {}).unwrap();
    out
}

fn first_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn the_writer_uses_the_declared_columns_and_statuses() {
    let dir = finished_run("columns");
    let axes = vec!["train.lr".to_string()];
    assert_eq!(
        first_line(&dir.join("summary.csv")),
        schema::summary_header(&axes, false).join(",")
    );
    assert_eq!(
        first_line(&dir.join("metrics.csv")),
        schema::metrics_header(&axes).join(",")
    );
    let m: rundir::Manifest = rundir::read_json(&dir.join("manifest.json")).unwrap();
    assert_eq!(m.status, RunStatus::Completed);
    let id = &m.point_ids[0];
    let r: PointRecord = rundir::read_point_checked(&dir, id).unwrap().unwrap();
    assert_eq!(r.status, PointStatus::Done);
    // The reader takes what the writer wrote.
    let run = Run::read(&dir).unwrap();
    assert!(run.points.iter().all(|p| p.status == PointStatus::Done));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// A status that is not in the schema is an error naming the file and the line, in the summary
/// table and in the manifest, and a point record with one is not reused.
#[test]
fn a_status_outside_the_schema_cannot_be_read() {
    let dir = finished_run("status");
    let summary = dir.join("summary.csv");
    let good = std::fs::read_to_string(&summary).unwrap();
    std::fs::write(&summary, good.replacen(",done,", ",finished,", 1)).unwrap();
    let e = Run::read(&dir).unwrap_err().to_string();
    assert!(
        e.contains("summary.csv line 2") && e.contains("unknown status `finished`"),
        "{e}"
    );
    assert!(e.contains("done, diverged, failed"), "{e}");
    std::fs::write(&summary, good).unwrap();

    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"status\": \"completed\"", "\"status\": \"halfway\""),
    )
    .unwrap();
    let e = Run::read(&dir).unwrap_err().to_string();
    assert!(
        e.contains("manifest.json") && e.contains("unknown status `halfway`"),
        "{e}"
    );
    assert!(rundir::read_json::<rundir::Manifest>(&manifest).is_err());

    let m_ids: Vec<String> = {
        std::fs::write(&manifest, &text).unwrap();
        rundir::read_json::<rundir::Manifest>(&manifest)
            .unwrap()
            .point_ids
    };
    let point = rundir::point_path(&dir, &m_ids[0]);
    let p = std::fs::read_to_string(&point).unwrap();
    std::fs::write(
        &point,
        p.replace("\"status\": \"done\"", "\"status\": \"ok\""),
    )
    .unwrap();
    let e = rundir::read_point_checked(&dir, &m_ids[0]).unwrap_err();
    assert!(e.contains("unknown variant `ok`"), "{e}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn statuses_parse_their_own_names_only() {
    for s in PointStatus::ALL {
        assert_eq!(PointStatus::parse(s.as_str()), Ok(*s));
    }
    for s in RunStatus::ALL {
        assert_eq!(RunStatus::parse(s.as_str()), Ok(*s));
    }
    assert!(PointStatus::parse("Done").is_err());
    assert!(RunStatus::parse("").is_err());
}
