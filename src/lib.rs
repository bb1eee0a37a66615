//! mortalsim: a simulator of analog in-memory hardware (crossbar arrays) whose cells are noisy,
//! imprecise, drifting and failing, and which cannot read a weight matrix transposed.
//!
//! The crate is laid out as the physics is, from the cell up; each room uses only the rooms
//! above it in this list:
//!
//! - [`device`]: one cell's physics — device files, pulse response models, drift, noise, failure;
//! - [`crossbar`]: tiles of cells with their periphery, offering only the physical operations
//!   `read`, `pulse_update`, `program`, `readout` and `advance` (no transpose);
//! - [`net`]: layers on tiles (or digital float matrices), with digital biases and activations;
//! - [`learn`]: the learning rules, one file each, behind one [`learn::Learner`] trait;
//! - [`data`]: datasets (uses no other room) — the IDX reader, MNIST, batches, seeded epoch order;
//! - [`experiment`]: running learners on data (the training loop of a run);
//! - [`plot`]: figures and summary tables of a run directory, from its files alone;
//!
//! with [`config_file`] (TOML loading with located errors), [`random`] (seeding, Gaussian
//! sampling), [`kernel`] (the dense matrix products, the same bits on any thread count and any
//! x86-64 CPU where stated) and [`memory`] (estimates checked before large allocations) beside them, [`cli`] (the thin command-line layer, which a user's crate reuses
//! with its own rules), and `testing` (feature `proptest`): strategies and invariant checks
//! for users' own rules.
//!
//! ```
//! use mortalsim::{crossbar::Crossbar, device::Device};
//! use nalgebra::DMatrix;
//!
//! let dev = Device::ideal();
//! let mut xbar = Crossbar::new(&dev, 2, 3, 42);
//! xbar.program_all(&DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
//! let y = xbar.read(&DMatrix::from_column_slice(3, 1, &[1.0, 0.0, -1.0]));
//! assert_eq!((y[0], y[1]), (-2.0, -2.0));
//! ```
#![deny(missing_docs)]

pub mod cli;
pub mod config_file;
pub mod crossbar;
pub mod data;
pub mod device;
pub mod experiment;
pub mod kernel;
pub mod learn;
pub mod memory;
pub mod net;
pub mod plot;
pub mod random;
#[cfg(feature = "proptest")]
pub mod testing;

/// The linear algebra of every public signature, so that a user's crate need not pin a version.
pub use nalgebra;
/// Property testing for users' rules (feature `proptest`), at the version `testing` uses.
#[cfg(feature = "proptest")]
pub use proptest;
/// TOML values, in which a registered rule receives its own options ([`learn::Options::rule`]).
pub use toml;
