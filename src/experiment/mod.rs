//! Running learners on data: the training loop of one run, experiment files (comparisons with
//! sweeps), and the run directory they write.

pub mod bench;
pub mod deploy;
pub mod file;
pub mod lifetime;
pub mod plausible;
pub mod run;
pub mod rundir;
pub mod schema;
pub mod train;

pub use file::{Experiment, Point};
pub use lifetime::{train_lifetime, LifetimeConfig, StreamSection, TaskReport};
pub use run::{run, RunOutcome, RunSettings, Shard};
pub use train::{train, Countermeasures, EpochReport, Schedule, TrainConfig, TrainReport};
