//! Datasets: the IDX reader, image classification datasets held as bytes, batches, subsets and
//! the seeded epoch order.
//!
//! A [`Dataset`] keeps its images as bytes (one `u8` per pixel) and converts them to `f32` one
//! batch at a time ([`Dataset::batch`]): a batch is an `input_width × batch` matrix, one sample
//! per column, pixels scaled to [0, 1]. The order of the samples in an epoch comes from
//! [`shuffled_order`], which depends only on (seed, epoch) — never on the machine or the
//! thread count.
//!
//! MNIST ships with the repository under `data/mnist/` ([`default_mnist_dir`]); any directory
//! holding the four files of an MNIST-style split (raw or gzipped IDX, see [`Split`]) loads the
//! same way, and [`Dataset::load_idx`] reads any IDX image/label pair.
//!
//! ```no_run
//! use mortalsim::data::{default_mnist_dir, shuffled_order, Split};
//!
//! let (train, test) = Split::load_dir(default_mnist_dir())?;
//! assert_eq!((train.len(), test.len(), train.input_width()), (60_000, 10_000, 784));
//! let order = shuffled_order(train.len(), 42, 0);
//! for chunk in order.chunks(100) {
//!     let batch = train.batch(chunk);
//!     assert_eq!(batch.inputs.shape(), (784, chunk.len()));
//! }
//! # Ok::<(), mortalsim::data::DataError>(())
//! ```

mod error;
pub mod idx;
pub mod stream;

pub use error::DataError;

use crate::random;
use nalgebra::DMatrix;
use rand::Rng;
use std::fmt;
use std::path::{Path, PathBuf};

/// Key of the data-order stream, `random::stream(seed, &[DATA_ORDER_KEY, epoch])`; distinct from
/// the tile purposes in [`random::purpose`].
pub const DATA_ORDER_KEY: u64 = 100;

/// Every byte's pixel value `byte / 255` (IEEE division is exact-rounded, so these are the bits
/// that [`Dataset::batch`] computes): a permuted gather through this table costs two loads per
/// pixel and no division.
const PIXEL_VALUES: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = b as f32 / 255.0;
        b += 1;
    }
    t
};

/// The directory MNIST is read from when none is given: `MORTALSIM_DATA` when set (pointing a
/// binary at another copy of the files), else [`checkout_mnist_dir`], which stands for the
/// MNIST built into the binary when one is ([`embed_mnist`]; the `mortalsim` binary always is),
/// so that a copied binary needs no files at all.
pub fn default_mnist_dir() -> PathBuf {
    match std::env::var_os("MORTALSIM_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => checkout_mnist_dir(),
    }
}

/// The `data/mnist` directory of the checkout this crate was compiled from (a path fixed at
/// compile time). Loading from this path reads the embedded copy when the binary has one
/// ([`embedded_mnist`]) and never touches the disk then; otherwise it reads the directory.
pub fn checkout_mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"))
}

/// The four gzipped IDX files of an MNIST-style split, as bytes built into a binary (with
/// `include_bytes!`; see `src/main.rs`).
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedMnist {
    /// `train-images-idx3-ubyte.gz`.
    pub train_images: &'static [u8],
    /// `train-labels-idx1-ubyte.gz`.
    pub train_labels: &'static [u8],
    /// `t10k-images-idx3-ubyte.gz`.
    pub test_images: &'static [u8],
    /// `t10k-labels-idx1-ubyte.gz`.
    pub test_labels: &'static [u8],
}

static EMBEDDED: std::sync::OnceLock<EmbeddedMnist> = std::sync::OnceLock::new();

/// Registers the MNIST files built into this binary: from then on, loading
/// [`checkout_mnist_dir`] (the default data) decodes them instead of reading the directory.
/// The `mortalsim` binary calls it first thing; the library does not embed the 11 MB itself,
/// so that tests and users' crates that do not need it stay small and fast to link. A second
/// call is ignored.
pub fn embed_mnist(files: EmbeddedMnist) {
    let _ = EMBEDDED.set(files);
}

/// The MNIST files built into this binary, if [`embed_mnist`] registered them.
pub fn embedded_mnist() -> Option<&'static EmbeddedMnist> {
    EMBEDDED.get()
}

/// The embedded files of `split` when `dir` is [`checkout_mnist_dir`] and MNIST is embedded:
/// (image bytes, label bytes, the paths they stand for).
fn embedded_split(
    dir: &Path,
    split: Split,
) -> Option<(&'static [u8], &'static [u8], [PathBuf; 2])> {
    let files = embedded_mnist()?;
    if dir != checkout_mnist_dir() {
        return None;
    }
    let (images, labels) = match split {
        Split::Train => (files.train_images, files.train_labels),
        Split::Test => (files.test_images, files.test_labels),
    };
    let names = split
        .file_names()
        .map(|n| PathBuf::from(format!("<embedded MNIST>/{n}.gz")));
    Some((images, labels, names))
}

/// An image classification dataset: `len` images of `rows × cols` bytes and their labels in
/// `0..classes`.
#[derive(Clone, PartialEq, Eq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
    classes: usize,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

/// A batch of samples ready for a network: inputs as columns and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `input_width × batch` matrix, one sample per column, pixels as byte/255 in [0, 1].
    pub inputs: DMatrix<f32>,
    /// The label of each column.
    pub labels: Vec<usize>,
}

impl Dataset {
    /// A dataset from its parts: `images` holds `labels.len()` images of `rows × cols` bytes,
    /// one after another, each row-major; every label must be below `classes`.
    pub fn from_parts(
        images: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
        classes: usize,
    ) -> Result<Dataset, DataError> {
        let invalid = |message: String| Err(DataError::Invalid { message });
        let Some(expected) = rows
            .checked_mul(cols)
            .and_then(|w| w.checked_mul(labels.len()))
        else {
            return invalid(format!(
                "{} images of {rows}×{cols} pixels overflow",
                labels.len()
            ));
        };
        if !labels.is_empty() && (rows == 0 || cols == 0) {
            return invalid(format!("images of {rows}×{cols} pixels (must be > 0)"));
        }
        if images.len() != expected {
            return invalid(format!(
                "{} labels of {rows}×{cols} images need {expected} pixel bytes, got {}",
                labels.len(),
                images.len()
            ));
        }
        if let Some(&max) = labels.iter().max() {
            if max as usize >= classes {
                return invalid(format!("label {max} is not below the {classes} classes"));
            }
        }
        Ok(Dataset {
            images,
            labels,
            rows,
            cols,
            classes,
        })
    }

    /// Loads an IDX image file and an IDX label file (each raw or gzipped, see [`idx`]). The
    /// number of classes is the largest label + 1.
    pub fn load_idx(
        images_path: impl AsRef<Path>,
        labels_path: impl AsRef<Path>,
    ) -> Result<Dataset, DataError> {
        let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
        let images = idx::read_images(images_path)?;
        let labels = idx::read_labels(labels_path)?;
        Dataset::from_idx(images, labels, images_path, labels_path)
    }

    /// A dataset from the bytes of an IDX image file and an IDX label file as stored (each raw
    /// or gzipped); the paths only name them in errors. The number of classes is the largest
    /// label + 1.
    pub fn from_idx_bytes(
        images: &[u8],
        labels: &[u8],
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Dataset, DataError> {
        let images = idx::images_from_bytes(images, images_path)?;
        let labels = idx::labels_from_bytes(labels, labels_path)?;
        Dataset::from_idx(images, labels, images_path, labels_path)
    }

    fn from_idx(
        images: idx::IdxImages,
        labels: Vec<u8>,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Dataset, DataError> {
        if images.count != labels.len() {
            return Err(DataError::MismatchedCounts {
                images: images_path.to_path_buf(),
                image_count: images.count,
                labels: labels_path.to_path_buf(),
                label_count: labels.len(),
            });
        }
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        Ok(Dataset {
            images: images.pixels,
            labels,
            rows: images.rows,
            cols: images.cols,
            classes,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the dataset holds no sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Rows of each image.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of each image.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Inputs per sample: `rows × cols` (784 for MNIST).
    pub fn input_width(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of classes; every label is below it.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All pixels, image after image (`len × input_width` bytes).
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of sample `i`, row-major.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let w = self.input_width();
        &self.images[i * w..(i + 1) * w]
    }

    /// The label of sample `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }

    /// The first `limit` samples (all of them when `limit >= len()`), with the same number of
    /// classes as `self` even if some class does not occur among them.
    pub fn subset(&self, limit: usize) -> Dataset {
        let n = limit.min(self.len());
        Dataset {
            images: self.images[..n * self.input_width()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
            classes: self.classes,
        }
    }

    /// The samples at `indices` as a batch: an `input_width × indices.len()` matrix whose column
    /// `j` is sample `indices[j]` with each pixel as `byte / 255`, and their labels. Only this
    /// batch is converted to `f32`. Same as [`Dataset::batch_permuted`] with no permutation.
    ///
    /// # Panics
    /// If an index is `>= len()` (indices come from [`shuffled_order`] or a range over the
    /// dataset, so this is a programming error).
    pub fn batch(&self, indices: &[usize]) -> Batch {
        self.batch_permuted(indices, None)
    }

    /// The samples at `indices` as a batch with their pixels rearranged: input `i` of column `j`
    /// is pixel `perm[i]` of sample `indices[j]` (row-major pixel index), as `byte / 255`. With
    /// `None` this is [`Dataset::batch`], bit for bit. Used for permuted-MNIST task streams
    /// ([`stream::PermutedTasks::permutation`]); `perm` need not be a bijection (any pixel map of
    /// length `input_width` works). One allocation per batch, none per sample.
    ///
    /// # Panics
    /// If an index is `>= len()`, or `perm` does not have `input_width()` entries all below
    /// `input_width()` (both are programming errors: permutations come from
    /// [`stream::PermutedTasks::permutation`] with this dataset's width).
    pub fn batch_permuted(&self, indices: &[usize], perm: Option<&[u32]>) -> Batch {
        let w = self.input_width();
        if let Some(perm) = perm {
            assert!(
                perm.len() == w && perm.iter().all(|&p| (p as usize) < w),
                "pixel permutation of {} entries (max {:?}) does not fit images of {w} pixels",
                perm.len(),
                perm.iter().max()
            );
        }
        let mut inputs = Vec::with_capacity(w * indices.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            assert!(
                i < self.len(),
                "sample index {i} out of range for a dataset of {} samples",
                self.len()
            );
            let image = self.image(i);
            match perm {
                None => inputs.extend(image.iter().map(|&b| f32::from(b) / 255.0)),
                Some(perm) => inputs.extend(
                    perm.iter()
                        .map(|&p| PIXEL_VALUES[usize::from(image[p as usize])]),
                ),
            }
            labels.push(self.label(i));
        }
        Batch {
            inputs: DMatrix::from_vec(w, indices.len(), inputs),
            labels,
        }
    }

    /// Raises the number of classes to at least `classes`.
    fn with_at_least_classes(mut self, classes: usize) -> Dataset {
        self.classes = self.classes.max(classes);
        self
    }
}

/// The two parts of an MNIST-style directory: the training set (`train-*` files) and the test
/// set (`t10k-*` files). Each part is an image file `PREFIX-images-idx3-ubyte` and a label file
/// `PREFIX-labels-idx1-ubyte`, raw or with a `.gz` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`.
    Train,
    /// The test set: `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`.
    Test,
}

impl Split {
    /// The file name prefix: `train` or `t10k`.
    pub fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }

    /// The names of the image and label files, without the optional `.gz` suffix.
    pub fn file_names(self) -> [String; 2] {
        let p = self.prefix();
        [
            format!("{p}-images-idx3-ubyte"),
            format!("{p}-labels-idx1-ubyte"),
        ]
    }

    /// Loads this part from `dir`. When both a raw and a gzipped file exist, the raw one is read.
    /// The number of classes is this part's largest label + 1 (see [`Split::load_dir`]).
    /// [`checkout_mnist_dir`] reads the embedded MNIST when the binary has one.
    pub fn load(self, dir: impl AsRef<Path>) -> Result<Dataset, DataError> {
        self.load_named(dir.as_ref()).map(|(data, _)| data)
    }

    /// [`Split::load`], and the path of the label file (for errors about labels).
    fn load_named(self, dir: &Path) -> Result<(Dataset, PathBuf), DataError> {
        let (data, images, labels) = match embedded_split(dir, self) {
            Some((im, lb, [ip, lp])) => (Dataset::from_idx_bytes(im, lb, &ip, &lp)?, ip, lp),
            None => {
                check_dir(dir)?;
                let [images, labels] = self.file_names().map(|name| find(dir, &name));
                let (images, labels) = (images?, labels?);
                (Dataset::load_idx(&images, &labels)?, images, labels)
            }
        };
        if data.is_empty() {
            // An empty file is a valid IDX file, but no training or test set.
            return Err(DataError::UnsupportedDimensions {
                path: images,
                message: "0 images: a training or test set needs at least one".into(),
            });
        }
        Ok((data, labels))
    }

    /// Loads the training and the test set from an MNIST-style directory, as (train, test).
    ///
    /// The classes are `0..=L`, `L` the largest training label, and both sets get that many.
    /// Every class must have a training sample, except class 0 when the labels count from 1
    /// (EMNIST letters); a test label above `L` is an error. So a stray label (a 200 among
    /// digits) is an error naming the label file and the label, not a 201-class output layer.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<(Dataset, Dataset), DataError> {
        let dir = dir.as_ref();
        if embedded_split(dir, Split::Train).is_none() {
            check_dir(dir)?;
            // Find all four files first, so that a missing one is reported before any decoding.
            for split in [Split::Train, Split::Test] {
                for name in split.file_names() {
                    find(dir, &name)?;
                }
            }
        }
        let (train, test) = rayon::join(
            || Split::Train.load_named(dir),
            || Split::Test.load_named(dir),
        );
        let ((train, train_labels), (test, test_labels)) = (train?, test?);
        check_classes(&train, &train_labels, &test, &test_labels)?;
        let classes = train.classes;
        Ok((
            train.with_at_least_classes(classes),
            test.with_at_least_classes(classes),
        ))
    }
}

/// The class rule of [`Split::load_dir`].
fn check_classes(
    train: &Dataset,
    train_labels: &Path,
    test: &Dataset,
    test_labels: &Path,
) -> Result<(), DataError> {
    let mut seen = [false; 256];
    for &l in train.labels() {
        seen[l as usize] = true;
    }
    let largest = train.classes.saturating_sub(1);
    let missing: Vec<usize> = (1..largest).filter(|&c| !seen[c]).collect();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        let classes = if first == last {
            format!("class {first} has")
        } else {
            format!("{} classes between {first} and {last} have", missing.len())
        };
        return Err(DataError::Labels {
            path: train_labels.to_path_buf(),
            message: format!(
                "label {largest} makes {} classes, but {classes} no training sample \
                 (labels must be 0..N-1, or 1..N, with every class present)",
                largest + 1
            ),
        });
    }
    if let Some((i, &l)) = test
        .labels()
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize > largest)
    {
        return Err(DataError::Labels {
            path: test_labels.to_path_buf(),
            message: format!(
                "label {l} (sample {i}) is not a class of the training set, whose labels \
                 go up to {largest}"
            ),
        });
    }
    Ok(())
}

/// Checks that the data directory exists.
fn check_dir(dir: &Path) -> Result<(), DataError> {
    if dir.is_dir() {
        return Ok(());
    }
    let looked_for = [Split::Train, Split::Test]
        .iter()
        .flat_map(|s| s.file_names())
        .map(|n| format!("{n}[.gz]"))
        .collect();
    Err(DataError::MissingDirectory {
        dir: dir.to_path_buf(),
        looked_for,
    })
}

/// `dir/name` if it exists, else `dir/name.gz`, else a [`DataError::MissingFile`] naming both.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    if raw.is_file() {
        Ok(raw)
    } else if gz.is_file() {
        Ok(gz)
    } else {
        Err(DataError::MissingFile {
            path: gz,
            also_tried: vec![raw],
        })
    }
}

/// The order of the samples `0..len` in epoch `epoch`: a Fisher–Yates shuffle driven by
/// `random::stream(seed, &[DATA_ORDER_KEY, epoch])`. It depends only on (len, seed, epoch), so
/// every learner, machine and thread count sees the same order.
pub fn shuffled_order(len: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = random::stream(seed, &[DATA_ORDER_KEY, epoch]);
    let mut order: Vec<usize> = (0..len).collect();
    shuffle(&mut order, &mut rng);
    order
}

/// Fisher–Yates shuffle of `v` in place (from the last position down, each swapped with a
/// uniform position at or below it, drawn by [`below`]); shared by [`shuffled_order`] and the
/// task streams of [`stream`].
fn shuffle<T, R: Rng + ?Sized>(v: &mut [T], rng: &mut R) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// A uniform integer in `0..n` (`n > 0`) by Lemire's multiply-and-reject method on 64-bit draws,
/// written out here so that the order cannot change with the `rand` crate's internals or with
/// the width of `usize`.
fn below<R: Rng + ?Sized>(rng: &mut R, n: u64) -> u64 {
    debug_assert!(n > 0);
    let threshold = n.wrapping_neg() % n; // 2⁶⁴ mod n
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        // 3 samples of 1×2 pixels.
        Dataset::from_parts(vec![0, 255, 51, 102, 7, 8], vec![2, 0, 1], 1, 2, 3).unwrap()
    }

    #[test]
    fn batch_is_columns_of_bytes_over_255() {
        let d = tiny();
        let b = d.batch(&[2, 0]);
        assert_eq!(b.inputs.shape(), (2, 2));
        assert_eq!(b.inputs[(0, 0)], 7.0 / 255.0);
        assert_eq!(b.inputs[(1, 0)], 8.0 / 255.0);
        assert_eq!(b.inputs[(0, 1)], 0.0);
        assert_eq!(b.inputs[(1, 1)], 1.0);
        assert_eq!(b.labels, vec![1, 2]);
        assert_eq!(d.batch(&[]).inputs.shape(), (2, 0));
    }

    #[test]
    fn pixel_table_has_the_bits_of_the_division() {
        for b in 0..=255u8 {
            let want = f32::from(b) / 255.0;
            assert_eq!(
                PIXEL_VALUES[usize::from(b)].to_bits(),
                want.to_bits(),
                "{b}"
            );
        }
    }

    #[test]
    fn subset_keeps_the_first_samples_and_the_classes() {
        let d = tiny();
        let s = d.subset(1);
        assert_eq!((s.len(), s.classes(), s.image(0)), (1, 3, &[0u8, 255][..]));
        assert_eq!(d.subset(10), d);
        assert!(d.subset(0).is_empty());
    }

    #[test]
    fn from_parts_rejects_inconsistent_parts() {
        assert!(Dataset::from_parts(vec![0; 5], vec![0, 0, 0], 1, 2, 1).is_err());
        assert!(Dataset::from_parts(vec![0; 6], vec![0, 3, 0], 1, 2, 3).is_err());
        assert!(Dataset::from_parts(vec![], vec![0], 0, 2, 1).is_err());
        assert!(Dataset::from_parts(vec![], vec![0], usize::MAX, 2, 1).is_err());
        assert!(Dataset::from_parts(vec![], vec![], 28, 28, 10).is_ok());
    }

    #[test]
    fn shuffled_order_is_a_seeded_permutation() {
        let a = shuffled_order(1000, 7, 3);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, shuffled_order(1000, 7, 3));
        assert_ne!(a, shuffled_order(1000, 7, 4));
        assert_ne!(a, shuffled_order(1000, 8, 3));
        assert!(shuffled_order(0, 1, 0).is_empty());
        assert_eq!(shuffled_order(1, 1, 0), vec![0]);
    }

    #[test]
    fn shuffled_order_is_fixed_across_versions_and_machines() {
        // Pinned: a change here changes every experiment's data order.
        assert_eq!(shuffled_order(10, 42, 0), PINNED_42_0);
    }

    const PINNED_42_0: [usize; 10] = [0, 1, 8, 4, 2, 3, 9, 6, 7, 5];

    #[test]
    fn shuffle_positions_are_uniform() {
        // Where does sample 0 land? Each of the 5 positions with probability 1/5.
        let (n, trials) = (5usize, 20_000u64);
        let mut hits = [0u32; 5];
        for e in 0..trials {
            let o = shuffled_order(n, 1, e);
            hits[o.iter().position(|&x| x == 0).unwrap()] += 1;
        }
        let p = 1.0 / n as f64;
        let sd = (trials as f64 * p * (1.0 - p)).sqrt();
        for h in hits {
            assert!((h as f64 - trials as f64 * p).abs() < 5.0 * sd, "{hits:?}");
        }
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = random::stream(0, &[1]);
        for n in [1u64, 2, 3, 7, 1 << 40, u64::MAX] {
            for _ in 0..100 {
                assert!(below(&mut rng, n) < n);
            }
        }
    }

    #[test]
    fn missing_directory_names_it_and_the_files() {
        let dir =
            std::env::temp_dir().join(format!("mortalsim-no-such-dir-{}", std::process::id()));
        let e = Split::load_dir(&dir).unwrap_err();
        assert!(matches!(&e, DataError::MissingDirectory { dir: d, .. } if *d == dir));
        let msg = e.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(msg.contains("t10k-labels-idx1-ubyte[.gz]"), "{msg}");
    }
}
