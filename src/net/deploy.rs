//! Deployment: a trained network's weights programmed onto an inference chip, which then ages
//! while it only infers (no learning).
//!
//! **Mapping** (aihwkit's `MappingParameter`, `src/aihwkit/simulator/parameters/mapping.py`):
//! a layer's weights W are stored as W̃ with a digital gain g applied to its outputs,
//! y_i = g_i·α·(W̃x)_i + b_i:
//! - [`Mapping::None`]: W̃ = W, g = 1 (aihwkit's default `weight_scaling_omega = 0`: no
//!   remapping; the statistical model still puts the array's largest |W̃| at g_max);
//! - [`Mapping::PerLayer`]: g = max|W|/ω for the whole layer (`weight_scaling_omega = ω`);
//! - [`Mapping::PerColumn`]: g_i = max_j|W_ij|/ω for each output line i (aihwkit's
//!   `weight_scaling_columnwise`; a "column" of aihwkit's tile is one output).
//!
//! The bias stays digital (aihwkit's `digital_bias = True`). **Physics**: [`Physics::Statistical`]
//! programs each layer onto an [`InferenceArray`] (aihwkit's statistical inference model: open-
//! loop programming noise, drift exponents fixed at programming, read noise drawn once per
//! inference time or per read); [`Physics::Chip`] onto a [`Crossbar`] of the device (mortalsim's
//! own cells: write-and-verify as the device file says, drift from each cell's programming, read
//! noise per read, failures). **Global drift compensation** (aihwkit's `GlobalDriftCompensation`,
//! `src/aihwkit/inference/compensation/drift.py`): right after programming each layer reads the
//! identity (one one-hot read per input) and keeps r₀ = max(mean|y|, 1e-4); at a later time it
//! reads it again, r = max(mean|y|, 1e-4), and multiplies its outputs by α = r₀/r.
//!
//! **Digital layers** ([`DeployedNetwork::program_keeping`]): a layer the network description
//! keeps digital stays a float matrix on the inference chip's periphery, neither programmed,
//! drifting nor compensated; its products are counted as digital operations.

use super::{Activation, NetworkWeights};
use crate::crossbar::inference::{InferenceArray, ReadNoiseTiming};
use crate::crossbar::{Counters, Crossbar};
use crate::device::Device;
use crate::kernel::par_matmul;
use crate::random::derive;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// How weights become conductances (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// Stored as trained, no digital gain (aihwkit's default).
    #[default]
    None,
    /// One digital gain per layer: the layer's largest |w| stored as ω.
    PerLayer,
    /// One digital gain per output line: each output's largest |w| stored as ω.
    PerColumn,
}

/// Which physics the inference chip follows (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Physics {
    /// aihwkit's statistical inference model ([`InferenceArray`]).
    #[default]
    Statistical,
    /// mortalsim's cell-level tiles ([`Crossbar`]).
    Chip,
}

/// How to deploy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeploySpec {
    /// Weight-to-conductance mapping.
    pub mapping: Mapping,
    /// The stored magnitude ω of the largest weight under `per-layer` and `per-column`
    /// mapping, weight units (None: the device's weight range, max(|w_min|, |w_max|)).
    pub omega: Option<f64>,
    /// The physics.
    pub physics: Physics,
    /// When the PCM read noise is drawn (statistical physics).
    pub read_noise: ReadNoiseTiming,
}

impl Default for DeploySpec {
    /// aihwkit's `InferenceRPUConfig()`: no remapping, statistical physics, read noise once per
    /// inference time.
    fn default() -> Self {
        DeploySpec {
            mapping: Mapping::None,
            omega: None,
            physics: Physics::Statistical,
            read_noise: ReadNoiseTiming::PerInferenceTime,
        }
    }
}

#[derive(Debug, Clone)]
enum Array {
    /// A layer kept digital ([`super::LayerDevice::Digital`]): a float matrix, no drift.
    Digital(DMatrix<f32>),
    Statistical(Box<InferenceArray>),
    Chip {
        xbar: Box<Crossbar>,
        programmed_s: f64,
    },
}

/// One deployed layer.
#[derive(Debug, Clone)]
pub struct DeployedLayer {
    array: Array,
    /// Digital gain per output.
    gain: Vec<f32>,
    bias: DVector<f32>,
    activation: Activation,
    /// Drift-compensation reference r₀.
    reference: Option<f64>,
    /// Drift-compensation factor α.
    alpha: f32,
    digital_ops: u64,
}

/// The stored weights and gains of `w` under `spec` on `dev`.
pub fn map_weights(w: &DMatrix<f32>, spec: &DeploySpec, dev: &Device) -> (DMatrix<f32>, Vec<f32>) {
    let omega = spec.omega.unwrap_or_else(|| dev.w_scale()) as f32;
    let gain_of = |m: f32| if m > 0.0 { m / omega } else { 1.0 };
    match spec.mapping {
        Mapping::None => (w.clone(), vec![1.0; w.nrows()]),
        Mapping::PerLayer => {
            let g = gain_of(w.amax());
            (w / g, vec![g; w.nrows()])
        }
        Mapping::PerColumn => {
            let gains: Vec<f32> = (0..w.nrows()).map(|i| gain_of(w.row(i).amax())).collect();
            let mut s = w.clone();
            for (i, g) in gains.iter().enumerate() {
                s.row_mut(i).iter_mut().for_each(|v| *v /= g);
            }
            (s, gains)
        }
    }
}

impl DeployedLayer {
    fn read_raw(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        match &mut self.array {
            Array::Digital(w) => {
                self.digital_ops += (2 * w.len() * x.ncols()) as u64;
                par_matmul(w, x)
            }
            Array::Statistical(a) => match a.exact_weights() {
                Some(w) => {
                    let y = par_matmul(w, x);
                    a.count_exact_reads(x.ncols());
                    y
                }
                None => a.read(x),
            },
            Array::Chip { xbar, .. } => xbar.read(x),
        }
    }

    /// Pre-activations of a batch: the array's read, scaled by the gain and the compensation,
    /// plus the digital bias.
    fn preactivation(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut a = self.read_raw(x);
        let rows = self.bias.len();
        if self.alpha != 1.0 || self.gain.iter().any(|&g| g != 1.0) {
            let scale: Vec<f32> = self.gain.iter().map(|g| g * self.alpha).collect();
            for col in a.as_mut_slice().chunks_exact_mut(rows) {
                for (v, s) in col.iter_mut().zip(&scale) {
                    *v *= s;
                }
            }
            self.digital_ops += a.len() as u64;
        }
        for col in a.as_mut_slice().chunks_exact_mut(rows) {
            for (v, b) in col.iter_mut().zip(self.bias.iter()) {
                *v += b;
            }
        }
        self.digital_ops += a.len() as u64;
        a
    }

    /// Mean |y| over the identity's reads, clamped at 1e-4 (aihwkit's `GlobalDriftCompensation.
    /// readout`).
    fn one_hot_readout(&mut self) -> f64 {
        let cols = match &self.array {
            Array::Digital(w) => w.ncols(),
            Array::Statistical(a) => a.cols(),
            Array::Chip { xbar, .. } => xbar.cols(),
        };
        let e = DMatrix::identity(cols, cols);
        // On the chip the reads go through its readout ([`Crossbar::read_one_hot`]).
        let y = match &mut self.array {
            Array::Chip { xbar, .. } => xbar.read_one_hot(&e),
            _ => self.read_raw(&e),
        };
        self.digital_ops += 2 * y.len() as u64;
        (y.iter().map(|v| v.abs() as f64).sum::<f64>() / y.len().max(1) as f64).max(1e-4)
    }

    /// Operations of the layer (array and digital work).
    pub fn counters(&self) -> Counters {
        let mut c = match &self.array {
            Array::Digital(_) => Counters::default(),
            Array::Statistical(a) => a.counters(),
            Array::Chip { xbar, .. } => xbar.counters(),
        };
        c.digital_ops += self.digital_ops;
        c
    }

    /// The layer's statistical array (None with chip physics): introspection for tests.
    pub fn inference_array(&self) -> Option<&InferenceArray> {
        match &self.array {
            Array::Statistical(a) => Some(a),
            Array::Chip { .. } | Array::Digital(_) => None,
        }
    }

    /// Whether the layer was kept digital.
    pub fn is_digital(&self) -> bool {
        matches!(self.array, Array::Digital(_))
    }

    /// The digital gain of each output.
    pub fn gains(&self) -> &[f32] {
        &self.gain
    }

    /// The compensation factor α now.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }
}

/// A network programmed onto an inference chip.
#[derive(Debug, Clone)]
pub struct DeployedNetwork {
    layers: Vec<DeployedLayer>,
    device: Device,
}

impl DeployedNetwork {
    /// Programs `weights` onto `dev` under `spec`; `seed` keys every random draw of this copy of
    /// the chip (fabrication, programming, drift exponents, read noise).
    pub fn program(
        weights: &NetworkWeights,
        dev: &Device,
        spec: &DeploySpec,
        seed: u64,
    ) -> DeployedNetwork {
        DeployedNetwork::program_keeping(weights, &[], dev, spec, seed)
    }

    /// As [`DeployedNetwork::program`], but layer l stays digital where `digital[l]` (a layer
    /// the network description keeps off the crossbars, [`super::LayerDevice::Digital`]): its
    /// float weights as trained, read as digital operations, never drifting; layers past the
    /// end of `digital` are programmed. The random draws of the programmed layers are those of
    /// [`DeployedNetwork::program`].
    pub fn program_keeping(
        weights: &NetworkWeights,
        digital: &[bool],
        dev: &Device,
        spec: &DeploySpec,
        seed: u64,
    ) -> DeployedNetwork {
        let layers = weights
            .layers
            .iter()
            .enumerate()
            .map(|(l, lw)| {
                if digital.get(l).copied().unwrap_or(false) {
                    return DeployedLayer {
                        array: Array::Digital(lw.weight.clone()),
                        gain: vec![1.0; lw.weight.nrows()],
                        bias: lw.bias.clone(),
                        activation: lw.activation,
                        reference: None,
                        alpha: 1.0,
                        digital_ops: 0,
                    };
                }
                let (stored, gain) = map_weights(&lw.weight, spec, dev);
                let s = derive(seed, &[l as u64]);
                let array =
                    match spec.physics {
                        Physics::Statistical => Array::Statistical(Box::new(
                            InferenceArray::program(dev, &stored, spec.read_noise, s),
                        )),
                        Physics::Chip => {
                            let mut xbar = Crossbar::new(dev, stored.nrows(), stored.ncols(), s);
                            xbar.program_all(&stored);
                            let programmed_s = xbar.now_s();
                            Array::Chip {
                                xbar: Box::new(xbar),
                                programmed_s,
                            }
                        }
                    };
                DeployedLayer {
                    array,
                    gain,
                    bias: lw.bias.clone(),
                    activation: lw.activation,
                    reference: None,
                    alpha: 1.0,
                    digital_ops: 0,
                }
            })
            .collect();
        DeployedNetwork {
            layers,
            device: dev.clone(),
        }
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[DeployedLayer] {
        &self.layers
    }

    /// Global drift compensation, step 1: every programmed layer reads the identity and keeps the mean |y|
    /// as its reference. Call it right after programming.
    pub fn calibrate_drift_reference(&mut self) {
        for l in self.layers.iter_mut().filter(|l| !l.is_digital()) {
            l.reference = Some(l.one_hot_readout());
        }
    }

    /// Lets the chip age to `t_s` seconds after programming. Statistical physics: a fresh draw
    /// of the accumulated read noise at that time. Chip physics: the tiles' clocks advance
    /// (times must not go back).
    pub fn age_to(&mut self, t_s: f64) {
        for l in &mut self.layers {
            match &mut l.array {
                Array::Digital(_) => {}
                Array::Statistical(a) => a.age_to(t_s),
                Array::Chip { xbar, programmed_s } => {
                    let dt = *programmed_s + t_s - xbar.now_s();
                    if dt > 0.0 {
                        xbar.advance(dt);
                    }
                }
            }
        }
    }

    /// Global drift compensation, step 2: with `on`, every layer reads the identity again and
    /// sets α = r₀/r; without, α = 1.
    pub fn compensate_drift(&mut self, on: bool) {
        for l in &mut self.layers {
            l.alpha = 1.0;
            if let (true, Some(r0)) = (on, l.reference) {
                let r = l.one_hot_readout();
                l.alpha = (r0 / r) as f32;
            }
        }
    }

    /// Class scores of a batch (inputs × batch → classes × batch): each layer's read, gain,
    /// compensation, digital bias and activation.
    pub fn scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut h = x.clone();
        for l in &mut self.layers {
            let a = l.preactivation(&h);
            let act = l.activation;
            h = a.map(|v| act.apply(v));
            l.digital_ops += h.len() as u64;
        }
        h
    }

    /// Operations of every layer so far.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for l in &self.layers {
            c += l.counters();
        }
        c
    }

    /// Energy of those operations on the inference device's table, joules.
    pub fn energy_j(&self) -> f64 {
        self.counters().energy(&self.device).total_j()
    }
}
