//! Running learners on data: the training loop of one run (experiment files, sweeps and run
//! directories build on it).

pub mod train;

pub use train::{train, EpochReport, TrainConfig, TrainReport};
