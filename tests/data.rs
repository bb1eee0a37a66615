//! The data room: the committed MNIST, IDX files of any shape (raw and gzipped), errors that
//! name the file, batches, subsets and the seeded epoch order.

use flate2::write::GzEncoder;
use flate2::Compression;
use mortalsim::data::{
    default_mnist_dir, idx, shuffled_order, DataError, Dataset, Split, DATA_ORDER_KEY,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The committed MNIST, loaded once per test binary.
fn mnist() -> &'static (Dataset, Dataset) {
    static M: OnceLock<(Dataset, Dataset)> = OnceLock::new();
    M.get_or_init(|| Split::load_dir(default_mnist_dir()).expect("committed MNIST loads"))
}

/// A fresh directory under the system temp dir, unique to this process and `tag`.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mortalsim-data-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The bytes of an IDX image file, written out by hand (not with the reader's code).
fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 0x03];
    for d in [count, rows, cols] {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

/// The bytes of an IDX label file.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, 0x01];
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// Five 3×2 images (pixel = 10·sample + position) with labels in 0..4.
const TINY_LABELS: [u8; 5] = [3, 0, 2, 1, 3];

fn tiny_pixels() -> Vec<u8> {
    (0..5u8)
        .flat_map(|s| (0..6u8).map(move |p| 10 * s + p))
        .collect()
}

/// Writes the tiny pair as `dir/{images,labels}` (gzipped if `gz`); returns the paths.
fn write_tiny(dir: &Path, gz: bool) -> (PathBuf, PathBuf) {
    let (mut im, mut lb) = (
        idx_images(5, 3, 2, &tiny_pixels()),
        idx_labels(&TINY_LABELS),
    );
    let suffix = if gz {
        im = gzip(&im);
        lb = gzip(&lb);
        ".gz"
    } else {
        ""
    };
    let (ip, lp) = (
        dir.join(format!("images{suffix}")),
        dir.join(format!("labels{suffix}")),
    );
    std::fs::write(&ip, im).unwrap();
    std::fs::write(&lp, lb).unwrap();
    (ip, lp)
}

fn assert_tiny(d: &Dataset) {
    assert_eq!(d.len(), 5);
    assert_eq!(
        (d.rows(), d.cols(), d.input_width(), d.classes()),
        (3, 2, 6, 4)
    );
    assert_eq!(d.images(), &tiny_pixels()[..]);
    assert_eq!(d.labels(), &TINY_LABELS[..]);
    assert_eq!(d.image(2), &[20, 21, 22, 23, 24, 25]);
    assert_eq!(d.label(0), 3);
}

// ---------------------------------------------------------------- the committed MNIST

#[test]
fn committed_mnist_loads_with_its_known_shape_and_samples() {
    let (train, test) = mnist();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    for d in [train, test] {
        assert_eq!(
            (d.rows(), d.cols(), d.input_width(), d.classes()),
            (28, 28, 784, 10)
        );
    }
    assert_eq!(train.label(0), 5);
    assert_eq!(test.label(0), 7);
    // Sums of the pixel bytes, computed independently from the IDX files.
    let sum = |img: &[u8]| img.iter().map(|&b| u32::from(b)).sum::<u32>();
    assert_eq!(sum(train.image(0)), 27_525);
    assert_eq!(sum(test.image(0)), 18_454);
    assert_eq!(sum(train.image(59_999)), 20_920);
    // Every digit occurs.
    let mut seen = [false; 10];
    for &l in test.labels() {
        seen[l as usize] = true;
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn committed_mnist_has_its_notice() {
    let notice = std::fs::read_to_string(default_mnist_dir().join("NOTICE")).unwrap();
    assert!(notice.contains("http://yann.lecun.com/exdb/mnist/"));
    assert!(notice.contains("CC BY-SA 3.0"));
}

#[test]
fn mnist_batch_is_byte_over_255_one_sample_per_column() {
    let (train, _) = mnist();
    let indices = [0usize, 59_999, 12_345, 0];
    let b = train.batch(&indices);
    assert_eq!(b.inputs.shape(), (784, 4));
    assert_eq!(b.labels, indices.map(|i| train.label(i)).to_vec());
    assert!(b.inputs.iter().all(|&x| (0.0..=1.0).contains(&x)));
    for (j, &i) in indices.iter().enumerate() {
        for (p, &byte) in train.image(i).iter().enumerate() {
            assert_eq!(b.inputs[(p, j)], f32::from(byte) / 255.0);
        }
    }
    assert!(b.inputs.iter().any(|&x| x == 1.0) && b.inputs.iter().any(|&x| x == 0.0));
}

#[test]
fn mnist_subset_keeps_the_first_samples() {
    let (train, test) = mnist();
    let s = train.subset(1000);
    assert_eq!((s.len(), s.classes(), s.input_width()), (1000, 10, 784));
    assert_eq!(s.image(999), train.image(999));
    assert_eq!(s.labels(), &train.labels()[..1000]);
    assert_eq!(test.subset(1_000_000).len(), 10_000);
    assert_eq!(test.subset(0).len(), 0);
}

// ---------------------------------------------------------------- any IDX pair

#[test]
fn a_synthetic_pair_of_any_shape_loads_raw_and_gzipped() {
    let dir = temp_dir("tiny");
    for gz in [false, true] {
        let (ip, lp) = write_tiny(&dir, gz);
        let d = Dataset::load_idx(&ip, &lp).unwrap();
        assert_tiny(&d);
        let b = d.batch(&[4, 1]);
        assert_eq!(b.inputs.shape(), (6, 2));
        assert_eq!(b.inputs[(5, 0)], 45.0 / 255.0);
        assert_eq!(b.labels, vec![3, 0]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_mnist_style_directory_of_mixed_raw_and_gzipped_files_loads() {
    let dir = temp_dir("split");
    let files = [
        (
            "train-images-idx3-ubyte.gz",
            gzip(&idx_images(5, 3, 2, &tiny_pixels())),
        ),
        ("train-labels-idx1-ubyte", idx_labels(&TINY_LABELS)),
        ("t10k-images-idx3-ubyte", idx_images(2, 3, 2, &[9; 12])),
        ("t10k-labels-idx1-ubyte.gz", gzip(&idx_labels(&[1, 1]))),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let (train, test) = Split::load_dir(&dir).unwrap();
    assert_tiny(&train);
    assert_eq!((test.len(), test.rows(), test.cols()), (2, 3, 2));
    // The test set takes the training set's classes.
    assert_eq!(test.classes(), 4);
    assert_eq!(Split::Test.load(&dir).unwrap().classes(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- errors name the file

#[test]
fn truncated_files_are_errors_naming_the_file() {
    let dir = temp_dir("trunc");
    let (ip, lp) = write_tiny(&dir, false);
    let full = std::fs::read(&ip).unwrap();
    std::fs::write(&ip, &full[..full.len() - 1]).unwrap();
    let e = Dataset::load_idx(&ip, &lp).unwrap_err();
    assert_eq!(
        e,
        DataError::Truncated {
            path: ip.clone(),
            expected: Some(46),
            found: 45
        }
    );
    assert!(e.to_string().starts_with(&ip.display().to_string()), "{e}");
    assert!(
        e.to_string().contains("46") && e.to_string().contains("45"),
        "{e}"
    );

    // A gzip stream cut short, at any point.
    let gz = gzip(&full);
    let gp = dir.join("images.gz");
    for cut in 0..gz.len() {
        std::fs::write(&gp, &gz[..cut]).unwrap();
        match Dataset::load_idx(&gp, &lp) {
            Err(DataError::Truncated { path, .. }) => assert_eq!(path, gp, "cut at {cut}"),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // Cut inside the pixels: the header's promise is reported.
    std::fs::write(&gp, &gz[..gz.len() / 2]).unwrap();
    let e = idx::read_images(&gp).unwrap_err();
    assert!(
        matches!(e, DataError::Truncated { expected: Some(46), found, .. } if found < 46),
        "{e:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_magic_names_the_file_and_both_numbers() {
    let dir = temp_dir("magic");
    let (ip, lp) = write_tiny(&dir, true);
    // Images and labels swapped.
    let e = Dataset::load_idx(&lp, &ip).unwrap_err();
    assert_eq!(
        e,
        DataError::WrongMagic {
            path: lp.clone(),
            found: idx::LABELS_MAGIC,
            expected: idx::IMAGES_MAGIC
        }
    );
    let msg = e.to_string();
    assert!(msg.starts_with(&lp.display().to_string()), "{msg}");
    assert!(
        msg.contains("0x00000801") && msg.contains("0x00000803"),
        "{msg}"
    );
    // Float images are not byte images.
    let fp = dir.join("float-images");
    let mut bytes = idx_images(1, 1, 1, &[0; 4]);
    bytes[2] = 0x0D;
    std::fs::write(&fp, bytes).unwrap();
    let e = idx::read_images(&fp).unwrap_err();
    assert!(e.to_string().contains("32-bit floats"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mismatched_counts_name_both_files_and_both_counts() {
    let dir = temp_dir("counts");
    let (ip, _) = write_tiny(&dir, false);
    let lp = dir.join("short-labels");
    std::fs::write(&lp, idx_labels(&[0, 1, 2])).unwrap();
    let e = Dataset::load_idx(&ip, &lp).unwrap_err();
    assert_eq!(
        e,
        DataError::MismatchedCounts {
            images: ip.clone(),
            image_count: 5,
            labels: lp.clone(),
            label_count: 3
        }
    );
    let msg = e.to_string();
    for part in [ip.display().to_string(), lp.display().to_string()] {
        assert!(msg.contains(&part), "{msg}");
    }
    assert!(
        msg.contains("5 images") && msg.contains("3 labels"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_files_and_directories_are_named() {
    let dir = temp_dir("missing");
    let nowhere = dir.join("nowhere");
    let e = Dataset::load_idx(&nowhere, dir.join("labels")).unwrap_err();
    assert!(
        matches!(&e, DataError::MissingFile { path, .. } if *path == nowhere),
        "{e:?}"
    );
    assert!(e.to_string().contains("nowhere"), "{e}");

    // A directory missing one of the four files: the file is named, with both spellings.
    for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        std::fs::write(dir.join(name), b"").unwrap();
    }
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), b"").unwrap();
    let e = Split::load_dir(&dir).unwrap_err();
    let gz = dir.join("t10k-labels-idx1-ubyte.gz");
    let raw = dir.join("t10k-labels-idx1-ubyte");
    assert_eq!(
        e,
        DataError::MissingFile {
            path: gz.clone(),
            also_tried: vec![raw.clone()]
        }
    );
    let msg = e.to_string();
    assert!(msg.contains(&gz.display().to_string()), "{msg}");
    assert!(msg.contains(&raw.display().to_string()), "{msg}");

    // A missing directory: the directory and the four files are named.
    let e = Split::load_dir(&nowhere).unwrap_err();
    assert!(
        matches!(&e, DataError::MissingDirectory { dir, looked_for } if *dir == nowhere && looked_for.len() == 4)
    );
    let msg = e.to_string();
    assert!(msg.contains(&nowhere.display().to_string()), "{msg}");
    for split in [Split::Train, Split::Test] {
        for name in split.file_names() {
            assert!(msg.contains(&name), "{msg}");
        }
    }
    // A file where the directory should be.
    let file = dir.join("train-images-idx3-ubyte");
    assert!(matches!(
        Split::load_dir(&file),
        Err(DataError::MissingDirectory { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_bytes_never_panic() {
    let dir = temp_dir("garbage");
    let p = dir.join("garbage");
    let mut rng = mortalsim::random::stream(9, &[DATA_ORDER_KEY]);
    use rand::Rng;
    for len in [0usize, 1, 3, 4, 7, 8, 15, 16, 17, 100, 1000] {
        for head in [
            &[][..],
            &[0x1f, 0x8b][..],
            &[0, 0, 8, 3][..],
            &[0, 0, 8, 1][..],
        ] {
            let mut bytes = head.to_vec();
            bytes.extend((0..len).map(|_| rng.next_u32() as u8));
            std::fs::write(&p, &bytes).unwrap();
            if let Err(e) = idx::read_images(&p) {
                assert!(e.to_string().contains("garbage"), "{e}");
            }
            if let Err(e) = idx::read_labels(&p) {
                assert!(e.to_string().contains("garbage"), "{e}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- epoch order

#[test]
fn shuffled_order_is_a_permutation_fixed_by_seed_and_epoch() {
    let n = 60_000;
    let a = shuffled_order(n, 1234, 0);
    let mut seen = vec![false; n];
    for &i in &a {
        assert!(!seen[i]);
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
    assert_ne!(a, (0..n).collect::<Vec<_>>());
    assert_eq!(a, shuffled_order(n, 1234, 0));
    assert_ne!(a, shuffled_order(n, 1234, 1));
    assert_ne!(a, shuffled_order(n, 1235, 0));
    // The same on every thread.
    let from_threads: Vec<Vec<usize>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| shuffled_order(n, 1234, 0)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(from_threads.iter().all(|o| *o == a));
}

/// An IDX file with zero images is valid IDX, but no training or test set: an error naming it.
#[test]
fn an_empty_split_is_an_error_naming_the_file() {
    let dir = temp_dir("empty");
    let files = [
        ("train-images-idx3-ubyte", idx_images(0, 3, 2, &[])),
        ("train-labels-idx1-ubyte", idx_labels(&[])),
        ("t10k-images-idx3-ubyte", idx_images(2, 3, 2, &[9; 12])),
        ("t10k-labels-idx1-ubyte", idx_labels(&[1, 1])),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let e = Split::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("0 images"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------- labels make classes

/// A stray label (200 among the digits) is an error naming the label file and the label, not a
/// 201-class output layer; so is a test label beyond the training set's classes. Labels that
/// count from 1 (EMNIST letters) are a set of classes.
#[test]
fn a_stray_label_is_an_error_naming_the_file_and_the_label() {
    let dir = temp_dir("labels");
    let write = |train: &[u8], test: &[u8]| {
        let n = train.len() as u32;
        std::fs::write(
            dir.join("train-images-idx3-ubyte"),
            idx_images(n, 1, 1, &vec![7; train.len()]),
        )
        .unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(train)).unwrap();
        std::fs::write(
            dir.join("t10k-images-idx3-ubyte"),
            idx_images(test.len() as u32, 1, 1, &vec![7; test.len()]),
        )
        .unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(test)).unwrap();
    };
    let mut train: Vec<u8> = (0..10).collect();
    train.push(200);
    write(&train, &[1, 2]);
    let e = Split::load_dir(&dir).unwrap_err().to_string();
    let file = dir.join("train-labels-idx1-ubyte").display().to_string();
    assert!(e.starts_with(&file), "{e}");
    assert!(e.contains("label 200") && e.contains("201 classes"), "{e}");
    assert!(e.contains("between 10 and 199"), "{e}");

    write(&[0, 1, 2, 3], &[1, 200, 3]);
    let e = Split::load_dir(&dir).unwrap_err().to_string();
    let file = dir.join("t10k-labels-idx1-ubyte").display().to_string();
    assert!(e.starts_with(&file), "{e}");
    assert!(
        e.contains("label 200 (sample 1)") && e.contains("up to 3"),
        "{e}"
    );

    // 1-based labels: class 0 has no sample, the others all do.
    write(&[1, 2, 3, 26, 4], &[26]);
    let e = Split::load_dir(&dir).unwrap_err().to_string();
    assert!(
        e.contains("label 26") && e.contains("between 5 and 25"),
        "{e}"
    );
    write(&(1..=26).collect::<Vec<u8>>(), &[26, 1]);
    let (train, test) = Split::load_dir(&dir).unwrap();
    assert_eq!((train.classes(), test.classes()), (27, 27));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small gzip file whose header promises more than the machine has is refused before the
/// stream is inflated (a decompression bomb cannot exhaust memory).
#[test]
fn a_gzip_header_promising_too_much_is_refused_before_decompression() {
    let dir = temp_dir("bomb");
    let mut b = idx_images(u32::MAX, 1 << 16, 1 << 16, &[]);
    b.extend_from_slice(&[0; 4096]);
    let p = dir.join("images.gz");
    std::fs::write(&p, gzip(&b)).unwrap();
    let e = idx::read_images(&p).unwrap_err().to_string();
    assert!(e.contains("needs about") && e.contains("images.gz"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
