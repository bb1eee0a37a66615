//! `bp-mirror`: backprop through a second physical array holding Wᵀ — the honest price of
//! backprop on a chip without a transposed read.
//!
//! Every layer l ≥ 1 whose transpose the backward pass needs (all but the first) gets a
//! [`Mirror`]: a crossbar of the same device, n_{l−1} × n_l, programmed at the start to W_lᵀ of
//! the same initial weights. The backward product W_lᵀ δ_l is then a *forward* read of the mirror,
//! and whenever the forward layer takes its pulse update ΔW_l = −η δ_l h_{l−1}ᵀ, the mirror takes
//! the same update transposed, ΔW_lᵀ = −η h_{l−1} δ_lᵀ (its row and column pulse trains swapped).
//! On a real device the two arrays respond differently to the same pulses (device-to-device and
//! cycle-to-cycle variation, bounds, failures), so the mirror drifts away from the transpose it
//! stands for; every K steps ([`Options::mirror_refresh_every`], default
//! [`DEFAULT_MIRROR_REFRESH_EVERY`]) each mirror is re-programmed from a `readout()` of its forward
//! layer — one-hot reads and write-and-verify, both counted — which removes the divergence but
//! brings in the readout's own noise and quantisation. The cost is twice the arrays for the
//! mirrored layers, the refresh traffic, and a teaching signal that is never quite Wᵀδ.
//!
//! The mirror is an array of role [`Role::Mirror`] on the chip, with no bias: it is read with
//! [`crate::net::Layer::read`] (no bias added) and follows with
//! [`crate::net::Layer::pulse_weights`] (no bias update, which has no meaning for a transposed
//! copy). It offers only the chip's operations: read, pulse update, program, readout. Being on
//! the chip, it ages with it: idle time, drift, failures, compensation and refresh reach it.
//!
//! The transposition of a readout before programming it into the mirror is digital bookkeeping
//! of an address map (write row j of Wᵀ from column j of W), which the chip's controller can do:
//! it reaches no weight the chip could not read forward.

use super::{check_regression_targets, output_error, Learner, Options, Targets};
use crate::device::Device;
use crate::net::{Activation, Chip, NetSpec, Role, TileId};
use crate::random::derive;
use nalgebra::{DMatrix, DVector};

/// Steps between two refreshes of the transposed copies when the options do not say.
pub const DEFAULT_MIRROR_REFRESH_EVERY: usize = 100;

/// Seed key of the mirrors' tiles (a key of our own, so no other stream is shared).
const MIRROR_KEY: u64 = 0x4d49_5252_4f52; // "MIRROR"

/// A physical transposed copy of one forward layer's weight matrix: an array of role
/// [`Role::Mirror`] on the chip holding Wᵀ (cols × rows of the forward layer, no bias), read
/// forward to compute Wᵀδ.
#[derive(Debug, Clone)]
pub struct Mirror {
    tile: TileId,
    /// The forward layer it mirrors.
    layer: usize,
    refreshes: u64,
}

impl Mirror {
    /// A mirror of forward layer `layer` of `chip`, whose weights were programmed to `w0`
    /// (rows × cols): fabricated on that layer's device as cols × rows tiles (randomness from
    /// `seed`) and programmed (write-and-verify, counted) to w0ᵀ. Physical, also on an ideal
    /// device; a float matrix only when the layer itself is digital (off the chip, its
    /// transpose is plain digital memory: [`Chip::allocate_beside`]).
    pub fn new(chip: &mut Chip, layer: usize, w0: &DMatrix<f32>, seed: u64) -> Mirror {
        let t = w0.transpose();
        let tile = chip.allocate_beside(
            layer,
            Role::Mirror,
            &t,
            DVector::zeros(t.nrows()),
            Activation::Identity,
            seed,
        );
        Mirror {
            tile,
            layer,
            refreshes: 0,
        }
    }

    /// Wᵀδ of a batch (`delta`: rows of the forward layer × batch): one forward read of the
    /// mirror — noisy and counted like any read.
    pub fn backward(&self, chip: &mut Chip, delta: &DMatrix<f32>) -> DMatrix<f32> {
        chip.tile(self.tile).read(delta)
    }

    /// Follows the forward layer's step. Plain SGD, ΔW = −lr·Σ δ xᵀ: the same pulses
    /// transposed, Wᵀ ← Wᵀ − lr·Σ x δᵀ (`x`: the forward layer's input, `delta`: its teaching
    /// signal). Under momentum, W ← W − lr·v with the layer's velocity v (already in the
    /// periphery's digital memory): Wᵀ ← Wᵀ − lr·vᵀ, written column by column
    /// ([`crate::crossbar::Crossbar::pulse_write`]); reading v transposed is an address map, as
    /// for a refresh.
    pub fn follow(&self, chip: &mut Chip, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        let (net, mirror) = chip.network_and_tile(self.tile);
        match net.layers[self.layer].velocity() {
            Some(v) => mirror.write_weights(&v.transpose(), lr),
            None => mirror.pulse_weights(delta, x, lr),
        }
    }

    /// Re-programs the mirror from a readout of its forward layer (one-hot reads of the forward
    /// layer, then write-and-verify of every mirror cell to the transposed readout; both
    /// counted).
    pub fn refresh(&mut self, chip: &mut Chip) {
        let (net, mirror) = chip.network_and_tile(self.tile);
        let w = net.layers[self.layer].readout();
        mirror.program(&w.transpose());
        self.refreshes += 1;
    }

    /// Refreshes done so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes
    }

    /// A measurement, never a learning signal: ‖M − Wᵀ‖_F / ‖W‖_F between this mirror M and the
    /// transpose of its forward layer's W, both as `readout()` sees them (legitimate one-hot
    /// reads, counted, and noisy on a noisy periphery: the figure then includes the readout
    /// noise of both arrays). Exact with a perfect periphery.
    pub fn measure_mismatch(&self, chip: &mut Chip) -> f32 {
        let (net, mirror) = chip.network_and_tile(self.tile);
        let w = net.layers[self.layer].readout();
        let m = mirror.readout();
        (m - w.transpose()).norm() / w.norm().max(f32::MIN_POSITIVE)
    }

    /// The mirror's weights as the chip can read them (one-hot reads, counted).
    pub fn readout(&self, chip: &mut Chip) -> DMatrix<f32> {
        chip.tile(self.tile).readout()
    }
}

/// The mirrors of all layers l ≥ 1 of a network, with their refresh schedule: the transposed
/// copies shared by `bp-mirror` and `sg`.
#[derive(Debug, Clone)]
pub struct Mirrors {
    /// `mirrors[k]` mirrors layer k + 1.
    mirrors: Vec<Mirror>,
    every: usize,
    steps: u64,
}

impl Mirrors {
    /// Mirrors of layers 1..L−1 of `spec`, allocated on `chip`. Their initial weights are those
    /// the chip's network got for `seed` ([`NetSpec::initial_weights`] for the same seed), so both arrays are programmed to the same targets and differ only by
    /// programming noise. They refresh every [`Mirrors::refresh_every`] steps of `options`
    /// (0 = never).
    pub fn new(chip: &mut Chip, spec: &NetSpec, seed: u64, options: &Options) -> Mirrors {
        let n = spec.widths.len() - 1;
        let mirrors = (1..n)
            .map(|l| {
                let (w0, _) = spec.initial_weights(l, seed);
                Mirror::new(chip, l, &w0, derive(seed, &[MIRROR_KEY, l as u64]))
            })
            .collect();
        Mirrors {
            mirrors,
            every: Mirrors::refresh_every(options),
            steps: 0,
        }
    }

    /// The refresh period of `options` (default [`DEFAULT_MIRROR_REFRESH_EVERY`]).
    pub fn refresh_every(options: &Options) -> usize {
        options
            .mirror_refresh_every
            .unwrap_or(DEFAULT_MIRROR_REFRESH_EVERY)
    }

    /// W_lᵀδ through the mirror of layer `l` (l ≥ 1).
    pub fn backward(&self, chip: &mut Chip, l: usize, delta: &DMatrix<f32>) -> DMatrix<f32> {
        self.mirrors[l - 1].backward(chip, delta)
    }

    /// After the forward updates of a step: every mirror follows its layer's update (the
    /// layer's input `x` for layer 1 is `fwd_h[0]`, and so on; under momentum the layer's
    /// velocity, transposed), then, if the schedule says so,
    /// every mirror is refreshed from its forward layer.
    pub fn after_step(
        &mut self,
        chip: &mut Chip,
        hs: &[&DMatrix<f32>],
        deltas: &[DMatrix<f32>],
        lr: f32,
    ) {
        for (k, m) in self.mirrors.iter().enumerate() {
            m.follow(chip, hs[k], &deltas[k + 1], lr);
        }
        self.steps += 1;
        if self.every > 0 && self.steps.is_multiple_of(self.every as u64) {
            self.refresh(chip);
        }
    }

    /// Re-programs every mirror from a readout of its forward layer now.
    pub fn refresh(&mut self, chip: &mut Chip) {
        for m in &mut self.mirrors {
            m.refresh(chip);
        }
    }

    /// Refreshes done so far (each refresh re-programs every mirror once).
    pub fn refreshes(&self) -> u64 {
        self.mirrors.first().map_or(0, Mirror::refreshes)
    }

    /// Measurement only (see [`Mirror::measure_mismatch`]): per mirrored layer 1..L−1, the
    /// relative Frobenius distance between mirror and transposed forward weights.
    pub fn measure_mismatch(&self, chip: &mut Chip) -> Vec<f32> {
        self.mirrors
            .iter()
            .map(|m| m.measure_mismatch(chip))
            .collect()
    }

    /// The mirror of layer `l` (l ≥ 1).
    pub fn mirror(&self, l: usize) -> &Mirror {
        &self.mirrors[l - 1]
    }
}

/// Backprop through physical transposed copies.
#[derive(Debug, Clone)]
pub struct BpMirror {
    chip: Chip,
    mirrors: Mirrors,
}

impl BpMirror {
    /// `spec` on `device`, initialised from `seed`, with a mirror for every layer but the first,
    /// refreshed every [`Options::mirror_refresh_every`] steps.
    pub fn new(spec: &NetSpec, device: &Device, seed: u64, options: &Options) -> BpMirror {
        let mut chip = Chip::new(spec, Some(device), seed);
        let mirrors = Mirrors::new(&mut chip, spec, seed, options);
        BpMirror { chip, mirrors }
    }

    /// A measurement, not a learning signal (the training step never calls it): per mirrored
    /// layer (layers 1..L−1), ‖mirror − Wᵀ‖_F / ‖W‖_F from `readout()`s of both arrays. The
    /// readouts are counted like any read and include the periphery's read noise.
    pub fn mirror_mismatch(&mut self) -> Vec<f32> {
        self.mirrors.measure_mismatch(&mut self.chip)
    }

    /// Refreshes of the mirrors done so far.
    pub fn mirror_refreshes(&self) -> u64 {
        self.mirrors.refreshes()
    }
}

impl BpMirror {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        let chip = &mut self.chip;
        let fwd = chip.net.forward(x);
        let n = chip.net.layers.len();
        let (loss, e) = output_error(&mut chip.net, &fwd[n - 1].h, targets);
        let (mirrors, tiles) = (&self.mirrors, &mut chip.tiles);
        let deltas = super::chain_deltas(&mut chip.net, &fwd, e, |_, l, delta| {
            tiles[mirrors.mirrors[l].tile.index()].layer.read(delta)
        });
        super::apply_updates(&mut chip.net, x, &fwd, &deltas, lr);
        let hs: Vec<&DMatrix<f32>> = fwd[..n - 1].iter().map(|f| &f.h).collect();
        self.mirrors.after_step(chip, &hs, &deltas, lr);
        loss
    }
}

impl Learner for BpMirror {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        self.train_on(x, Targets::Classes(labels), lr)
    }

    fn step_regression(
        &mut self,
        x: &DMatrix<f32>,
        y: &DMatrix<f32>,
        lr: f32,
    ) -> Result<f32, String> {
        check_regression_targets(self.chip.network(), x, y)?;
        Ok(self.train_on(x, Targets::Values(y), lr))
    }

    fn chip(&self) -> &Chip {
        &self.chip
    }

    fn chip_mut(&mut self) -> &mut Chip {
        &mut self.chip
    }
}
