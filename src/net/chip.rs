//! One chip: every tile a run uses, on one simulated clock — on the chip's device, apart from
//! the layers the network description puts elsewhere ([`super::LayerDevice`]: digital, or
//! another device).
//!
//! A learning rule does not own tiles of its own: it asks the [`Chip`] for them. The chip holds
//! the forward [`Network`] (role [`Role::Forward`]) and every other array a rule allocates —
//! feedback matrices ([`Role::Feedback`]), transposed copies ([`Role::Mirror`]),
//! synthetic-gradient modules ([`Role::Module`]) — so that time, ageing, failures,
//! countermeasures, counters and energy are properties of the chip and cover every tile:
//!
//! - **one clock**: tiles work in parallel, so after each step ([`Chip::sync_clock`]) and before
//!   any idle time ([`Chip::advance`]) every tile's clock stands at the chip's time, the latest
//!   of them; a feedback tile that is only read ages exactly as long as the layer it serves;
//! - **one ageing**: idle time, drift, leak, hazard failures, drift compensation and refresh act
//!   on every tile of every role;
//! - **one bill**: failed-cell fractions, counters and energy sum over all tiles and break down
//!   by [`Role`].
//!
//! A tile on the chip is a [`Layer`]: a rule reaches it through [`Chip::tile`] with a
//! [`TileId`] the allocation returned, and has only the layer's physical operations.
//!
//! # Sealed
//!
//! A rule cannot get around the chip. This compiles — a rule's view of the chip:
//!
//! ```
//! use mortalsim::device::Device;
//! use mortalsim::net::{Activation, Chip, NetSpec};
//! let spec = NetSpec::new(vec![4, 3, 2], Activation::Relu);
//! let mut chip = Chip::new(&spec, Some(&Device::ideal()), 1);
//! let w = chip.network_mut().layer(0).readout(); // one-hot reads, counted
//! assert_eq!(chip.network().layers().len(), 2);
//! assert!(chip.counters().reads > 0);
//! # let _ = w;
//! ```
//!
//! and none of these does. The true weights, uncounted:
//!
//! ```compile_fail
//! # use mortalsim::device::Device;
//! # use mortalsim::net::{Activation, Chip, NetSpec};
//! # let spec = NetSpec::new(vec![4, 3, 2], Activation::Relu);
//! let mut chip = Chip::new(&spec, Some(&Device::ideal()), 1);
//! let w = chip.network().layers()[0].inspect_weights(); // crate-private
//! ```
//!
//! the privileged transpose, which needs the key only `bp-oracle` holds:
//!
//! ```compile_fail
//! # use mortalsim::device::Device;
//! # use mortalsim::net::{Activation, Chip, NetSpec};
//! # let spec = NetSpec::new(vec![4, 3, 2], Activation::Relu);
//! let mut chip = Chip::new(&spec, Some(&Device::ideal()), 1);
//! # let delta = nalgebra::DMatrix::zeros(3, 1);
//! let g = chip.network_mut().layer(0).privileged_transposed_product(&delta); // crate-private
//! ```
//!
//! swapping a layer of the chip (say, for a digital one):
//!
//! ```compile_fail
//! # use mortalsim::device::Device;
//! # use mortalsim::net::{Activation, Chip, NetSpec};
//! # let spec = NetSpec::new(vec![4, 3, 2], Activation::Relu);
//! let mut chip = Chip::new(&spec, Some(&Device::ideal()), 1);
//! let digital = Chip::new(&spec, None, 1);
//! chip.network_mut().layers[0] = digital.network().layers()[0].clone(); // private field
//! ```
//!
//! or a network of one's own, off the chip's clock:
//!
//! ```compile_fail
//! # use mortalsim::device::Device;
//! # use mortalsim::net::{Activation, NetSpec, Network};
//! # let spec = NetSpec::new(vec![4, 3, 2], Activation::Relu);
//! let net = Network::new(&spec, Some(&Device::ideal()), 1); // crate-private
//! ```

use super::{Layer, NetSpec, Network};
use crate::crossbar::Counters;
use crate::device::Device;
use crate::net::Activation;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// What an array on the chip is for. Results break failures, counts and energy down by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The network's own layers, input side first.
    Forward,
    /// Fixed feedback matrices (feedback alignment, direct feedback alignment).
    Feedback,
    /// Transposed copies of forward layers (`bp-mirror`, `sg`'s targets).
    Mirror,
    /// Trained helper modules (synthetic-gradient modules, a user's own auxiliary arrays).
    Module,
    /// The fast arrays of an update scheme (Tiki-Taka's A, [`super::scheme`]).
    Transfer,
}

impl Role {
    /// Every role, in report order.
    pub const ALL: [Role; 5] = [
        Role::Forward,
        Role::Feedback,
        Role::Mirror,
        Role::Module,
        Role::Transfer,
    ];

    /// The role's name in results (`forward`, `feedback`, `mirror`, `module`, `transfer`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Forward => "forward",
            Role::Feedback => "feedback",
            Role::Mirror => "mirror",
            Role::Module => "module",
            Role::Transfer => "transfer",
        }
    }
}

/// Handle of an array allocated on a [`Chip`] by [`Chip::allocate`] or [`Chip::allocate_fixed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId(usize);

impl TileId {
    /// The array's position in the chip's allocation order.
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// Failed devices of one role's arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailedDevices {
    /// Devices that have failed (stuck at fabrication, worn out, or hazard).
    pub failed: usize,
    /// All devices (a one-sided pair is two devices).
    pub total: usize,
}

impl FailedDevices {
    /// failed / total (0 for a role without analog devices).
    pub fn fraction(&self) -> f64 {
        self.failed as f64 / self.total.max(1) as f64
    }
}

/// An array allocated on the chip besides the forward network.
#[derive(Debug, Clone)]
pub(crate) struct Placed {
    pub(crate) role: Role,
    pub(crate) layer: Layer,
}

/// Every array of a run on one device with one clock (see the module documentation).
#[derive(Debug, Clone)]
pub struct Chip {
    /// The forward network (role [`Role::Forward`]).
    pub(crate) net: Network,
    /// Every other array, in allocation order ([`TileId`] indexes it).
    pub(crate) tiles: Vec<Placed>,
    /// The chip's device (None: a digital reference "chip" of float matrices).
    device: Option<Device>,
    /// Prices digital work: the device's table, or the ideal device's for a digital chip.
    pricing: Device,
}

impl Chip {
    /// A chip holding `spec`'s network on `device` (or digital with `None`), everything random
    /// derived from `seed` as [`Network`] does; no other array yet.
    pub fn new(spec: &NetSpec, device: Option<&Device>, seed: u64) -> Chip {
        Chip {
            net: Network::new(spec, device, seed),
            ..Chip::bare(device)
        }
    }

    /// A chip with no network yet, on `device` (or digital): for studies of single arrays, which
    /// are allocated with [`Chip::allocate`] like any rule's.
    pub fn bare(device: Option<&Device>) -> Chip {
        Chip {
            net: Network::empty(),
            tiles: Vec::new(),
            device: device.cloned(),
            pricing: device.cloned().unwrap_or_else(Device::ideal),
        }
    }

    /// A chip holding one trainable array (role [`Role::Module`]) programmed to `w`, with its
    /// bias and activation: the set-up of a study of a single layer.
    pub fn with_array(
        device: Option<&Device>,
        w: &DMatrix<f32>,
        bias: DVector<f32>,
        activation: Activation,
        seed: u64,
    ) -> (Chip, TileId) {
        let mut chip = Chip::bare(device);
        let id = chip.allocate(Role::Module, w, bias, activation, seed, false);
        (chip, id)
    }

    /// The chip's device (None for a digital chip): its tiles' unless a layer is placed
    /// elsewhere ([`super::LayerDevice`]), the arrays a rule allocates, and the price of the
    /// digital work of every array.
    pub fn device(&self) -> Option<&Device> {
        self.device.as_ref()
    }

    /// The forward network.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The forward network, for its physical operations.
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// Allocates a trainable `w.nrows()` × `w.ncols()` array of role `role` with a digital
    /// bias and an activation, programmed to `w` (write-and-verify, counted); fabrication from
    /// `seed`. On the chip's device unless `digital` (a float matrix in the periphery's memory,
    /// its arithmetic counted as digital work), and always digital on a digital chip.
    pub fn allocate(
        &mut self,
        role: Role,
        w: &DMatrix<f32>,
        bias: DVector<f32>,
        activation: Activation,
        seed: u64,
        digital: bool,
    ) -> TileId {
        let device = self.device.as_ref().filter(|_| !digital);
        self.place(role, Layer::new(device, w, bias, activation, seed))
    }

    /// Allocates a fixed matrix `w` (no bias, linear) of role `role`, mapped onto the device's
    /// range with a digital gain (its largest entry at half the device's nominal range, the
    /// reads scaled back by [`Layer::gain`]: a small fixed matrix would otherwise sit below the
    /// periphery's output noise and ADC step); digital as for
    /// [`Chip::allocate`].
    pub fn allocate_fixed(
        &mut self,
        role: Role,
        w: &DMatrix<f32>,
        seed: u64,
        digital: bool,
    ) -> TileId {
        let device = self.device.as_ref().filter(|_| !digital);
        self.place(role, Layer::fixed(device, w, seed))
    }

    /// Allocates a trainable array as [`Chip::allocate`] does, but on the device of forward
    /// layer `layer` (digital when that layer is digital, see [`super::LayerDevice`]): a
    /// transposed copy of a layer is made of the same cells as the layer, and a digital layer
    /// needs no physical copy.
    ///
    /// # Panics
    /// If the network has no layer `layer`.
    pub fn allocate_beside(
        &mut self,
        layer: usize,
        role: Role,
        w: &DMatrix<f32>,
        bias: DVector<f32>,
        activation: Activation,
        seed: u64,
    ) -> TileId {
        let device = self.net.layers[layer].device().cloned();
        self.place(role, Layer::new(device.as_ref(), w, bias, activation, seed))
    }

    fn place(&mut self, role: Role, layer: Layer) -> TileId {
        // Arrays made later in a run start at the chip's time, not at its fabrication.
        let mut layer = layer;
        layer.sync_clock(self.now_s());
        self.tiles.push(Placed { role, layer });
        TileId(self.tiles.len() - 1)
    }

    /// The array `id`, for its physical operations.
    ///
    /// # Panics
    /// If `id` was allocated on another chip with more arrays.
    pub fn tile(&mut self, id: TileId) -> &mut Layer {
        &mut self.tiles[id.0].layer
    }

    /// The array `id`, read-only.
    pub fn tile_ref(&self, id: TileId) -> &Layer {
        &self.tiles[id.0].layer
    }

    /// The role of array `id`.
    pub fn role(&self, id: TileId) -> Role {
        self.tiles[id.0].role
    }

    /// The forward network and array `id` at once (a mirror refreshed from its layer, a
    /// feedback read feeding a layer's update).
    pub fn network_and_tile(&mut self, id: TileId) -> (&mut Network, &mut Layer) {
        (&mut self.net, &mut self.tiles[id.0].layer)
    }

    /// Every array with its role: the forward layers first, then the others in allocation
    /// order.
    /// An update scheme's fast arrays follow their forward layer, with role [`Role::Transfer`].
    pub fn arrays(&self) -> impl Iterator<Item = (Role, &Layer)> + '_ {
        self.net
            .layers
            .iter()
            .flat_map(|l| {
                std::iter::once((Role::Forward, l))
                    .chain(l.scheme_fast().map(|a| (Role::Transfer, a)))
            })
            .chain(self.tiles.iter().map(|p| (p.role, &p.layer)))
    }

    /// Installs the update scheme `scheme` on every forward layer (see [`super::scheme`]): its
    /// fast arrays are fabricated on the chip's device from `seed`, programmed to 0
    /// (write-and-verify, counted) and start at the chip's time. `sgd` with no options leaves
    /// the chip exactly as it was. Errors: the scheme's options (as (field, message), the field
    /// under `[train.scheme]`), a digital chip (a scheme needs a device), momentum on a layer
    /// (both shape the step: choose one).
    pub fn set_update_scheme(
        &mut self,
        scheme: &super::UpdateScheme,
        seed: u64,
    ) -> Result<(), (String, String)> {
        let resolved = scheme.validate()?;
        if scheme.is_sgd() {
            return Ok(());
        }
        let Some(device) = self.device.clone() else {
            return Err((
                String::new(),
                format!(
                    "the update scheme `{}` needs a device; this chip is digital (bp-digital \
                     trains float matrices)",
                    scheme.name.name()
                ),
            ));
        };
        let now = self.now_s();
        for (l, layer) in self.net.layers.iter_mut().enumerate() {
            if layer.has_momentum() {
                return Err((
                    String::new(),
                    format!(
                        "the update scheme `{}` and momentum both shape the step: choose one",
                        scheme.name.name()
                    ),
                ));
            }
            let state = super::scheme::SchemeState::new(
                resolved,
                &device,
                layer.rows(),
                layer.cols(),
                crate::random::derive(seed, &[crate::random::purpose::SCHEME, l as u64]),
            );
            layer.set_scheme(Some(state));
            layer.sync_clock(now);
        }
        Ok(())
    }

    fn arrays_mut(&mut self) -> impl Iterator<Item = &mut Layer> + '_ {
        self.net
            .layers
            .iter_mut()
            .chain(self.tiles.iter_mut().map(|p| &mut p.layer))
    }

    /// The chip's simulated age, seconds: the latest clock of its tiles (0 when digital).
    pub fn now_s(&self) -> f64 {
        self.arrays().map(|(_, l)| l.now_s()).fold(0.0, f64::max)
    }

    /// Brings every tile's clock to the chip's time ([`Chip::now_s`]): tiles work in parallel,
    /// so after an operation the whole chip stands at the slowest one. Drift, leak and hazards
    /// for the time a tile was idle act at its next operation.
    pub fn sync_clock(&mut self) {
        let t = self.now_s();
        for l in self.arrays_mut() {
            l.sync_clock(t);
        }
    }

    /// Lets `dt_s` seconds pass on every tile of every role, from the chip's time: drift, leak
    /// and random failures act meanwhile.
    pub fn advance(&mut self, dt_s: f64) {
        self.sync_clock();
        for l in self.arrays_mut() {
            l.advance(dt_s);
        }
    }

    /// Failed devices of each role that has arrays, in [`Role::ALL`] order.
    pub fn failed_by_role(&self) -> Vec<(Role, FailedDevices)> {
        Role::ALL
            .iter()
            .filter_map(|&r| {
                let mut any = false;
                let mut f = FailedDevices::default();
                for (role, l) in self.arrays() {
                    if role == r {
                        any = true;
                        let (lf, ln) = l.failed_devices();
                        f.failed += lf;
                        f.total += ln;
                    }
                }
                any.then_some((r, f))
            })
            .collect()
    }

    /// Fraction of all the chip's devices, every role, that have failed (0 when digital).
    pub fn failed_fraction(&self) -> f64 {
        let all = self
            .failed_by_role()
            .iter()
            .fold(FailedDevices::default(), |a, (_, f)| FailedDevices {
                failed: a.failed + f.failed,
                total: a.total + f.total,
            });
        all.fraction()
    }

    /// Operation counts of every array of role `role`.
    pub fn counters_of(&self, role: Role) -> Counters {
        let mut c = Counters::default();
        for (r, l) in self.arrays() {
            if r == role {
                c += l.counters();
            }
        }
        c
    }

    /// Operation counts of every array.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for (_, l) in self.arrays() {
            c += l.counters();
        }
        c
    }

    /// Energy of the operations of every array of role `role`, joules.
    pub fn energy_of_j(&self, role: Role) -> f64 {
        self.arrays()
            .filter(|(r, _)| *r == role)
            .map(|(_, l)| l.energy_j(&self.pricing))
            .sum()
    }

    /// Energy of every array's operations, joules (digital work priced with the chip's device,
    /// or the ideal device's table on a digital chip).
    pub fn energy_j(&self) -> f64 {
        self.arrays().map(|(_, l)| l.energy_j(&self.pricing)).sum()
    }

    /// Spare lines of every array, (used, total) (see [`Layer::spare_lines`]).
    pub fn spare_lines(&self) -> (usize, usize) {
        self.arrays().fold((0, 0), |(u, t), (_, l)| {
            let (lu, lt) = l.spare_lines();
            (u + lu, t + lt)
        })
    }

    /// Takes the global drift compensation reference of every analog array (see
    /// [`Layer::calibrate_drift_reference`]).
    pub fn calibrate_drift_reference(&mut self) {
        for l in self.arrays_mut() {
            l.calibrate_drift_reference();
        }
    }

    /// Switches global drift compensation on (re-estimating every array's factor) or off.
    pub fn compensate_drift(&mut self, on: bool) {
        for l in self.arrays_mut() {
            l.compensate_drift(on);
        }
    }

    /// Sets the simulator-only diagnostics of refresh and drift compensation on every array
    /// ([`super::Diagnostics`]; the default, all off, is the chip).
    pub fn set_diagnostics(&mut self, d: super::Diagnostics) {
        for l in self.arrays_mut() {
            l.set_diagnostics(d);
        }
    }

    /// Refreshes every analog array of every role: re-programs its drifted weights from its
    /// compensated readout and restarts the drift clocks (see [`Layer::refresh`]).
    pub fn refresh(&mut self) {
        for l in self.arrays_mut() {
            l.refresh();
        }
    }
}
