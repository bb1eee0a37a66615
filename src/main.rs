//! The `mortalsim` command: the library's command line ([`mortalsim::cli`]) with the built-in
//! learning rules, and MNIST built in (11 MB, gzipped), so that a copied binary runs anywhere.
//! `MORTALSIM_DATA`, `--data` and an experiment's `data.dir` still choose other files.

use mortalsim::data::{embed_mnist, EmbeddedMnist};

/// The four files of `data/mnist/`, as compiled into this binary.
const MNIST: EmbeddedMnist = EmbeddedMnist {
    train_images: include_bytes!("../data/mnist/train-images-idx3-ubyte.gz"),
    train_labels: include_bytes!("../data/mnist/train-labels-idx1-ubyte.gz"),
    test_images: include_bytes!("../data/mnist/t10k-images-idx3-ubyte.gz"),
    test_labels: include_bytes!("../data/mnist/t10k-labels-idx1-ubyte.gz"),
};

fn main() {
    embed_mnist(MNIST);
    std::process::exit(mortalsim::cli::main());
}
