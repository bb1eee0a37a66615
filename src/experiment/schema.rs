//! The results schema, declared once: a point's status, a run's status and the columns of
//! `summary.csv` and `metrics.csv`. The run directory's writer ([`super::rundir`]) and `plot`'s
//! reader ([`crate::plot::read`]) both use these declarations, so a record that does not fit
//! cannot be written (the types do not allow it) nor read (it is an error naming the file).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a point ended (`status` of `points/<id>.json` and of `summary.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointStatus {
    /// Trained all its epochs (or tasks).
    Done,
    /// The loss became NaN or infinite, or collapsed (with its epoch in `diverged_epoch`).
    Diverged,
    /// It could not run (with why in `error`); a rerun computes it again.
    Failed,
}

/// How a run ended (`status` of `manifest.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Running, or killed while it ran (the manifest's `points_missing` is right either way).
    Running,
    /// Every point of the shard finished.
    Completed,
    /// Some points failed or are missing.
    Incomplete,
    /// The run stopped on an error (in the manifest's `error`).
    Failed,
}

macro_rules! names {
    ($t:ty: $($v:ident = $s:literal),+) => {
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [$t] = &[$(<$t>::$v),+];

            /// The name as written in the files.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),+ }
            }

            /// The value named `s`, or an error listing the names.
            pub fn parse(s: &str) -> Result<$t, String> {
                match s {
                    $($s => Ok(<$t>::$v),)+
                    _ => Err(format!(
                        "unknown status `{s}` (expected {})",
                        [$($s),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

names!(PointStatus: Done = "done", Diverged = "diverged", Failed = "failed");
names!(RunStatus: Running = "running", Completed = "completed", Incomplete = "incomplete", Failed = "failed");

/// The columns that identify a point, first in both tables (the sweep paths follow them, then
/// [`SEED`]).
pub const KEY: [&str; 3] = ["point", "learner", "device"];

/// The seed column, after the sweep paths.
pub const SEED: &str = "seed";

/// `metrics.csv`'s columns after the key and the seed.
pub const METRICS: [&str; 4] = ["epoch", "time_s", "metric", "value"];

/// `summary.csv`'s columns after the key and the seed.
pub const SUMMARY: [&str; 12] = [
    "status",
    "epochs",
    "diverged_epoch",
    "test_accuracy",
    "test_loss",
    "best_test_accuracy",
    "train_loss",
    "energy_per_sample_j",
    "energy_per_inference_j",
    "sim_time_s",
    "sim_seconds_per_sample",
    "failed_fraction",
];

/// `summary.csv`'s columns after [`SUMMARY`] when any point of the run learned a task stream;
/// the first of them marks the stream columns.
pub const STREAM_SUMMARY: [&str; 5] = [
    "first_task_accuracy",
    "mean_task_accuracy",
    "pulses",
    "replacements",
    "spare_lines_used",
];

/// The key columns, the sweep paths `axes` and the seed.
fn head(axes: &[String]) -> Vec<String> {
    KEY.iter()
        .map(|s| s.to_string())
        .chain(axes.iter().cloned())
        .chain([SEED.to_string()])
        .collect()
}

/// The header of `metrics.csv` for a run with sweep paths `axes`.
pub fn metrics_header(axes: &[String]) -> Vec<String> {
    let mut h = head(axes);
    h.extend(METRICS.map(String::from));
    h
}

/// The header of `summary.csv` for a run with sweep paths `axes` (`streams`: with the stream
/// columns).
pub fn summary_header(axes: &[String], streams: bool) -> Vec<String> {
    let mut h = head(axes);
    h.extend(SUMMARY.map(String::from));
    if streams {
        h.extend(STREAM_SUMMARY.map(String::from));
    }
    h
}
