//! Networks built on crossbar tiles: layers with digital biases and activations, and the same
//! description built as a digital float reference.

pub mod activation;
pub mod layer;
pub mod metrics;
pub mod momentum;

pub use activation::Activation;
pub use layer::{torch_default_init, Forward, Layer, Weights};
pub use momentum::Momentum;

use crate::crossbar::Counters;
use crate::device::Device;
use crate::random::{derive, purpose};
use nalgebra::DMatrix;

/// A fully connected network: layer widths from input to output, and the hidden activation
/// (the output layer is linear; its scores feed a softmax).
#[derive(Debug, Clone, PartialEq)]
pub struct NetSpec {
    /// Widths, input first (e.g. 784, 500, 500, 10).
    pub widths: Vec<usize>,
    /// Activation of the hidden layers.
    pub activation: Activation,
}

impl NetSpec {
    /// Parses widths written as `784,500,500,10`.
    pub fn parse_widths(s: &str) -> Result<Vec<usize>, String> {
        let widths: Result<Vec<usize>, _> =
            s.split(',').map(|w| w.trim().parse::<usize>()).collect();
        let widths =
            widths.map_err(|_| format!("layers `{s}`: expected widths like 784,500,10"))?;
        if widths.len() < 2 {
            return Err(format!(
                "layers `{s}`: need at least an input and an output width"
            ));
        }
        if widths.contains(&0) {
            return Err(format!("layers `{s}`: a width of 0"));
        }
        Ok(widths)
    }
}

/// A network of layers.
#[derive(Debug, Clone)]
pub struct Network {
    /// The layers, input side first.
    pub layers: Vec<Layer>,
}

impl Network {
    /// Builds `spec` on `device` (or digital with `None`). Initial weights depend only on `seed`
    /// and the layer's position, so the digital reference and every device start from the same
    /// weights; analog layers are programmed to them (write-and-verify, counted).
    pub fn new(spec: &NetSpec, device: Option<&Device>, seed: u64) -> Network {
        let n = spec.widths.len() - 1;
        let layers = (0..n)
            .map(|l| {
                let (rows, cols) = (spec.widths[l + 1], spec.widths[l]);
                let (w, b) =
                    torch_default_init(rows, cols, derive(seed, &[purpose::LAYER, l as u64]));
                let act = if l + 1 == n {
                    Activation::Identity
                } else {
                    spec.activation
                };
                Layer::new(device, &w, b, act, derive(seed, &[purpose::TILE, l as u64]))
            })
            .collect();
        Network { layers }
    }

    /// Forward pass of a batch through every layer.
    pub fn forward(&mut self, x: &DMatrix<f32>) -> Vec<Forward> {
        let mut out: Vec<Forward> = Vec::with_capacity(self.layers.len());
        for l in 0..self.layers.len() {
            let input = if l == 0 { x } else { &out[l - 1].h };
            let f = self.layers[l].forward(input);
            out.push(f);
        }
        out
    }

    /// Output scores of a batch (classes × batch).
    pub fn scores(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let mut h = x.clone();
        for layer in &mut self.layers {
            h = layer.forward(&h).h;
        }
        h
    }

    /// Simulated age of the network's chip, seconds: the latest clock of its tiles (0 when
    /// digital).
    pub fn now_s(&self) -> f64 {
        self.layers.iter().map(Layer::now_s).fold(0.0, f64::max)
    }

    /// Fraction of the network's cells that have failed (0 when digital).
    pub fn failed_fraction(&self) -> f64 {
        let (failed, total) = self.layers.iter().fold((0, 0), |(f, n), l| {
            let (lf, ln) = l.failed_devices();
            (f + lf, n + ln)
        });
        failed as f64 / total.max(1) as f64
    }

    /// Lets `dt_s` seconds pass on every layer's tiles.
    pub fn advance(&mut self, dt_s: f64) {
        for l in &mut self.layers {
            l.advance(dt_s);
        }
    }

    /// Takes the global drift compensation reference of every analog layer (see
    /// [`Layer::calibrate_drift_reference`]).
    pub fn calibrate_drift_reference(&mut self) {
        for l in &mut self.layers {
            l.calibrate_drift_reference();
        }
    }

    /// Switches global drift compensation on (re-estimating each layer's factor) or off.
    pub fn compensate_drift(&mut self, on: bool) {
        for l in &mut self.layers {
            l.compensate_drift(on);
        }
    }

    /// Operation counts of all layers.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for l in &self.layers {
            c += l.counters();
        }
        c
    }

    /// Energy of all layers' operations, joules (digital layers priced with `pricing`).
    pub fn energy_j(&self, pricing: &Device) -> f64 {
        self.layers.iter().map(|l| l.energy_j(pricing)).sum()
    }

    /// Spare lines of all layers, (used, total) (see [`Layer::spare_lines`]).
    pub fn spare_lines(&self) -> (usize, usize) {
        self.layers.iter().fold((0, 0), |(u, t), l| {
            let (lu, lt) = l.spare_lines();
            (u + lu, t + lt)
        })
    }

    /// Gives every layer SGD momentum (see [`Layer::set_momentum`]).
    pub fn set_momentum(&mut self, momentum: Momentum) {
        for l in &mut self.layers {
            l.set_momentum(momentum);
        }
    }

    /// Refreshes every analog layer: re-programs its drifted weights, undoing the global drift
    /// factor, and restarts the drift clocks (see [`Layer::refresh`]).
    pub fn refresh(&mut self) {
        for l in &mut self.layers {
            l.refresh();
        }
    }
}
