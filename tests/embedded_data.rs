//! MNIST built into the `mortalsim` binary: a copied binary needs no data files (issue 14).

use flate2::write::GzEncoder;
use flate2::Compression;
use mortalsim::data::{checkout_mnist_dir, embed_mnist, embedded_mnist, EmbeddedMnist, Split};
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

/// The `mortalsim` binary holds the four files of `data/mnist/` byte for byte.
#[test]
fn the_binary_holds_the_mnist_files() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_mortalsim")).unwrap();
    for name in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        let file = std::fs::read(checkout_mnist_dir().join(name)).unwrap();
        let head = &file[..64];
        let found = binary
            .windows(head.len())
            .enumerate()
            .filter(|(_, w)| *w == head)
            .any(|(at, _)| binary.get(at..at + file.len()) == Some(&file[..]));
        assert!(found, "{name} is not embedded in the binary");
    }
}

/// Once files are embedded, the default directory decodes them and never reads the disk (here
/// the embedded "MNIST" is a tiny fake, so the result shows which one was read).
#[test]
fn the_default_directory_reads_the_embedded_files() {
    let images = |n: u32| {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 2, 2] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.extend((0..4 * n).map(|i| i as u8));
        gzip(&b)
    };
    let labels = |l: &[u8]| {
        let mut b = vec![0, 0, 8, 1];
        b.extend_from_slice(&(l.len() as u32).to_be_bytes());
        b.extend_from_slice(l);
        gzip(&b)
    };
    assert!(embedded_mnist().is_none());
    embed_mnist(EmbeddedMnist {
        train_images: leak(images(3)),
        train_labels: leak(labels(&[0, 1, 2])),
        test_images: leak(images(2)),
        test_labels: leak(labels(&[2, 0])),
    });
    let (train, test) = Split::load_dir(checkout_mnist_dir()).unwrap();
    assert_eq!((train.len(), train.rows(), train.classes()), (3, 2, 3));
    assert_eq!((test.len(), test.labels()), (2, &[2u8, 0][..]));
    // Any other directory is read from disk as before.
    let e = Split::load_dir("/no/such/mnist").unwrap_err();
    assert!(e.to_string().contains("/no/such/mnist"), "{e}");
}
