//! Property-based fuzzing of every reader: device files, experiment files, IDX files (raw and
//! gzipped), point records, manifests and the tables `plot` reads. Inputs are arbitrary bytes and
//! mutations of valid files (bytes deleted, inserted, replaced, numbers swapped for extreme
//! ones, lines duplicated, files cut short). Every reader must return (a value or an error): no
//! panic, no abort, and bounded memory — a counting allocator fails the test if the process ever
//! holds more than `MEMORY_LIMIT` at once.
//!
//! The suite runs `PROPTEST_CASES` cases per reader (default 48: a few seconds). A long campaign:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --test fuzz_readers
//! ```

use flate2::write::GzEncoder;
use flate2::Compression;
use mortalsim::data::{idx, Dataset};
use mortalsim::device::{presets, Device};
use mortalsim::experiment::rundir::{self, Manifest};
use mortalsim::experiment::{run, Experiment, RunSettings, Shard};
use mortalsim::plot::read::Run;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;

// ---------------------------------------------------------------- bounded memory

/// The most the process may hold at once (every test of this binary together).
const MEMORY_LIMIT: usize = 512 << 20;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now =
                    LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn check_memory() -> Result<(), TestCaseError> {
    let peak = PEAK.load(Relaxed);
    prop_assert!(
        peak <= MEMORY_LIMIT,
        "the process held {peak} bytes at once (limit {MEMORY_LIMIT})"
    );
    Ok(())
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- mutations

/// Text that readers must survive when spliced in.
const SNIPPETS: &[&str] = &[
    "=",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "'",
    ",",
    ".",
    "\n",
    "#",
    "[[sweep]]",
    "[response]",
    "[failure]",
    "[data]",
    "[network]",
    "hidden = [100000000]",
    "nan",
    "inf",
    "-inf",
    "-0.0",
    "1e300",
    "-1e300",
    "1e-320",
    "18446744073709551616",
    "-9223372036854775809",
    "4294967296",
    "0",
    "-1",
    "true",
    "\"\"",
    "\u{feff}",
    "\u{0}",
    "é",
    "values = []",
    "path = \"train.lr\"",
    "seeds = []",
    "epochs = 0",
    "batch = 0",
    "adc_bits = 8.5",
    "model = \"pcm\"",
    "null",
    "{}",
    "[]",
    "\"status\": \"x\"",
    "\"schema_version\": 2",
    "\t",
    "\r\n",
    "\\",
    "\"\"\"",
];

/// Numbers that readers must survive in place of any number.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e300",
    "-1e300",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999",
    "0.5",
    "2",
    "1e6",
    "3e9",
    "-2147483649",
];

/// One mutation of a text or byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    Byte(usize, u8),
    Number(usize, usize),
    DuplicateLine(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Mutation::Byte(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, s)| Mutation::Number(a, s)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

/// Applies `muts` to `bytes`.
fn mutate(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = b.len();
        let at = |x: usize| if len == 0 { 0 } else { x % (len + 1) };
        match *m {
            Mutation::Delete(a, n) => {
                let a = at(a);
                let end = (a + n).min(len);
                b.drain(a..end);
            }
            Mutation::Insert(a, s) => {
                let a = at(a);
                let snip = SNIPPETS[s % SNIPPETS.len()].as_bytes();
                b.splice(a..a, snip.iter().copied());
            }
            Mutation::Byte(a, v) => {
                if len > 0 {
                    b[a % len] = v;
                }
            }
            Mutation::Number(a, s) => {
                // Replace the number at or after position a.
                let a = at(a);
                let is_num = |c: u8| c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'-';
                if let Some(start) = (a..len).find(|&i| b[i].is_ascii_digit()) {
                    let end = (start..len).find(|&i| !is_num(b[i])).unwrap_or(len);
                    let n = NUMBERS[s % NUMBERS.len()].as_bytes();
                    b.splice(start..end, n.iter().copied());
                }
            }
            Mutation::DuplicateLine(a) => {
                let a = at(a).min(len);
                let start = b[..a]
                    .iter()
                    .rposition(|&c| c == b'\n')
                    .map_or(0, |i| i + 1);
                let end = b[a..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(len, |i| a + i + 1);
                let line = b[start..end].to_vec();
                b.splice(end..end, line);
            }
            Mutation::Truncate(a) => {
                let a = at(a);
                b.truncate(a);
            }
        }
    }
    b
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------- device files

fn preset_sources() -> Vec<String> {
    presets::names()
        .iter()
        .map(|n| Device::source(n).unwrap().0)
        .collect()
}

fn read_device(src: &str) -> Result<(), TestCaseError> {
    if let Ok(d) = Device::from_toml(src, "fuzz.toml") {
        let _ = d.spec().warnings(src, "fuzz.toml");
        let _ = d.states();
        let _ = toml::to_string(d.spec());
    }
    check_memory()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn device_files_arbitrary(src in "\\PC{0,400}") {
        read_device(&src)?;
    }

    #[test]
    fn device_files_mutated(which in any::<usize>(), muts in mutations()) {
        let sources = preset_sources();
        let src = &sources[which % sources.len()];
        read_device(&text(mutate(src.clone().into_bytes(), &muts)))?;
    }
}

// ---------------------------------------------------------------- experiment files

fn experiment_sources() -> Vec<String> {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        v.sort();
        v
    })
    .clone()
}

fn read_experiment(src: &str) -> Result<(), TestCaseError> {
    if let Ok(exp) = Experiment::from_toml(src, "fuzz.toml", "fuzz") {
        let _ = mortalsim::experiment::plausible::warnings(&exp);
    }
    check_memory()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn experiment_files_arbitrary(src in "\\PC{0,400}") {
        read_experiment(&src)?;
    }

    #[test]
    fn experiment_files_mutated(which in any::<usize>(), muts in mutations()) {
        let sources = experiment_sources();
        let src = &sources[which % sources.len()];
        read_experiment(&text(mutate(src.clone().into_bytes(), &muts)))?;
    }
}

// ---------------------------------------------------------------- IDX files

fn idx_images(count: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [count, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend((0..count * rows * cols).map(|i| (i * 7) as u8));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn read_idx(images: &[u8], labels: &[u8]) -> Result<(), TestCaseError> {
    let (ip, lp) = (Path::new("images"), Path::new("labels"));
    let _ = idx::images_from_bytes(images, ip);
    let _ = idx::labels_from_bytes(labels, lp);
    let _ = idx::images_from_bytes(labels, lp);
    let _ = idx::labels_from_bytes(images, ip);
    if let Ok(d) = Dataset::from_idx_bytes(images, labels, ip, lp) {
        if !d.is_empty() {
            let _ = d.batch(&[0, d.len() - 1]);
        }
    }
    check_memory()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_arbitrary(images in prop::collection::vec(any::<u8>(), 0..600),
                     labels in prop::collection::vec(any::<u8>(), 0..80), gz in any::<bool>()) {
        if gz {
            read_idx(&gzip(&images), &gzip(&labels))?;
        } else {
            read_idx(&images, &labels)?;
        }
    }

    /// A valid pair, mutated before compression (the header lies) or after (the gzip stream is
    /// corrupt), or raw.
    #[test]
    fn idx_mutated(count in 0u32..6, rows in 0u32..5, cols in 0u32..5, mode in 0u8..3,
                   im in mutations(), lm in mutations()) {
        let labels: Vec<u8> = (0..count as u8).collect();
        let (i, l) = (idx_images(count, rows, cols), idx_labels(&labels));
        let (i, l) = match mode {
            0 => (mutate(i, &im), mutate(l, &lm)),
            1 => (gzip(&mutate(i, &im)), gzip(&mutate(l, &lm))),
            _ => (mutate(gzip(&i), &im), mutate(gzip(&l), &lm)),
        };
        read_idx(&i, &l)?;
    }
}

// ---------------------------------------------------------------- run directories

/// A finished run directory of a tiny experiment (2 points, a 2-value sweep), made once: its
/// manifest, point records and tables are the seeds of the mutations.
fn template_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("mortalsim-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let labels: Vec<u8> = (0..24).map(|i| (i % 3) as u8).collect();
        for (prefix, n) in [("train", 24u32), ("t10k", 24)] {
            std::fs::write(
                data.join(format!("{prefix}-images-idx3-ubyte")),
                idx_images(n, 4, 4),
            )
            .unwrap();
            std::fs::write(
                data.join(format!("{prefix}-labels-idx1-ubyte")),
                idx_labels(&labels[..n as usize]),
            )
            .unwrap();
        }
        let src = format!(
            "learners = [\"dfa\"]\ndevices = [\"ideal\"]\n[data]\ndir = \"{}\"\n[network]\n\
             hidden = [3]\n[train]\nepochs = 2\nbatch = 8\n[evaluate]\ndrift_times_s = [1]\n\
             [[sweep]]\npath = \"train.lr\"\nvalues = [0.01, 0.02]\n",
            data.display()
        );
        let exp = Experiment::from_toml(&src, "fuzz.toml", "fuzz").unwrap();
        let out = root.join("run");
        run(
            &exp,
            &RunSettings {
                out: out.clone(),
                shard: Shard::ALL,
                force: false,
                command_line: "fuzz".into(),
                wait: false,
            },
            &|_| {},
        )
        .unwrap();
        out
    })
}

/// The files of the template run, by name relative to it.
fn template_files() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = template_run();
    let mut files = Vec::new();
    for name in ["manifest.json", "summary.csv", "metrics.csv"] {
        files.push((PathBuf::from(name), std::fs::read(dir.join(name)).unwrap()));
    }
    let mut points: Vec<PathBuf> = std::fs::read_dir(dir.join("points"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    points.sort();
    for p in points {
        let rel = p.strip_prefix(dir).unwrap().to_path_buf();
        files.push((rel, std::fs::read(&p).unwrap()));
    }
    files
}

static CASE: AtomicUsize = AtomicUsize::new(0);

/// A copy of the template run with file `which` replaced by `bytes`; reads it every way the
/// tool does.
fn read_run_with(which: usize, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let files = template_files();
    let n = CASE.fetch_add(1, Relaxed);
    let dir = std::env::temp_dir().join(format!("mortalsim-fuzz-{}-case-{n}", std::process::id()));
    std::fs::create_dir_all(dir.join("points")).unwrap();
    let target = which % files.len();
    for (i, (rel, b)) in files.iter().enumerate() {
        let content = if i == target { &bytes } else { b };
        std::fs::write(dir.join(rel), content).unwrap();
    }
    let _ = Run::read(&dir);
    let _ = rundir::read_json::<Manifest>(&dir.join("manifest.json"));
    for (rel, _) in &files {
        if let Some(id) = rel
            .strip_prefix("points")
            .ok()
            .and_then(|f| f.file_stem())
            .and_then(|s| s.to_str())
        {
            let _ = rundir::read_point_checked(&dir, id);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    check_memory()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn run_directory_files_mutated(which in any::<usize>(), muts in mutations()) {
        let files = template_files();
        let original = files[which % files.len()].1.clone();
        read_run_with(which, mutate(original, &muts))?;
    }

    #[test]
    fn run_directory_files_arbitrary(which in any::<usize>(),
                                     bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        read_run_with(which, bytes)?;
    }
}
