//! Networks built on crossbar tiles: layers with digital biases and activations, and the same
//! description built as a digital float reference.

pub mod activation;
pub mod chip;
pub mod deploy;
pub mod layer;
pub mod metrics;
pub mod momentum;
pub mod scheme;
pub mod weights_file;

pub use activation::Activation;
pub use chip::{Chip, FailedDevices, Role, TileId};
pub use layer::{torch_default_init, Diagnostics, Forward, Layer, WeightInit, Weights};
pub use momentum::Momentum;
pub use scheme::{SchemeName, SchemeOptions, UpdateScheme};
pub use weights_file::{LayerWeights, NetworkWeights, WeightsError};

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
    /// Where each layer's weights live, input side first (one entry per weight matrix); empty
    /// (the default): every layer on the chip's device. Checked by [`NetSpec::check_layers`].
    pub layer_devices: Vec<LayerDevice>,
    /// How the initial weights are drawn (default [`WeightInit::TorchDefault`]).
    pub init: WeightInit,
}

/// Where one layer's weights live on a [`Chip`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LayerDevice {
    /// On tiles of the chip's device (the default).
    #[default]
    Chip,
    /// Digital: a float matrix in the periphery's memory, off the crossbars. Its arithmetic is
    /// counted (and priced) as digital operations, it neither drifts nor fails, and since it is
    /// not on the chip a rule may read it transposed (no mirror, no oracle needed).
    Digital,
    /// On tiles of this device: another device on the same chip and clock (a layer of a
    /// different technology).
    On(Box<Device>),
}

impl LayerDevice {
    /// The device the layer's tiles are made of on a chip of `chip` (None: digital). On a
    /// digital chip (`chip` None) every layer is digital.
    pub fn resolve<'a>(&'a self, chip: Option<&'a Device>) -> Option<&'a Device> {
        match (self, chip) {
            (_, None) | (LayerDevice::Digital, _) => None,
            (LayerDevice::Chip, Some(d)) => Some(d),
            (LayerDevice::On(d), Some(_)) => Some(d),
        }
    }
}

impl Default for NetSpec {
    /// 784-500-500-10 with ReLU, the `train` command's default network.
    fn default() -> Self {
        NetSpec {
            widths: vec![784, 500, 500, 10],
            activation: Activation::Relu,
            layer_devices: Vec::new(),
            init: WeightInit::TorchDefault,
        }
    }
}

impl NetSpec {
    /// `widths` with hidden activation `activation`, every layer on the chip's device.
    pub fn new(widths: Vec<usize>, activation: Activation) -> NetSpec {
        NetSpec {
            widths,
            activation,
            layer_devices: Vec::new(),
            init: WeightInit::TorchDefault,
        }
    }

    /// The activation of layer `l` (0 = the input side): the hidden activation, identity for
    /// the output layer.
    pub fn layer_activation(&self, l: usize) -> Activation {
        if l + 2 == self.widths.len() {
            Activation::Identity
        } else {
            self.activation
        }
    }

    /// The initial weights and biases of layer `l` for `seed` ([`NetSpec::init`]): every
    /// array programmed to a layer's starting weights (the layer itself, a mirror) draws them
    /// here, so they are the same targets.
    pub fn initial_weights(&self, l: usize, seed: u64) -> (DMatrix<f32>, nalgebra::DVector<f32>) {
        let (rows, cols) = (self.widths[l + 1], self.widths[l]);
        self.init.draw(
            rows,
            cols,
            self.layer_activation(l),
            derive(seed, &[purpose::LAYER, l as u64]),
        )
    }

    /// Where layer `l` (0 = the input side) lives ([`LayerDevice::Chip`] unless
    /// [`NetSpec::layer_devices`] says otherwise).
    pub fn layer_device(&self, l: usize) -> &LayerDevice {
        const CHIP: LayerDevice = LayerDevice::Chip;
        self.layer_devices.get(l).unwrap_or(&CHIP)
    }

    /// Whether some layer is not on the chip's device.
    pub fn is_mixed(&self) -> bool {
        self.layer_devices.iter().any(|d| *d != LayerDevice::Chip)
    }

    /// Checks [`NetSpec::layer_devices`]: empty, or one entry per layer.
    pub fn check_layers(&self) -> Result<(), String> {
        let n = self.widths.len().saturating_sub(1);
        match self.layer_devices.len() {
            0 => Ok(()),
            k if k == n => Ok(()),
            k => Err(format!(
                "{k} layer devices for {n} layers (widths {:?}): give one per weight matrix",
                self.widths
            )),
        }
    }

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

/// A network of layers: the forward arrays of a [`Chip`].
#[derive(Debug, Clone)]
pub struct Network {
    /// The layers, input side first.
    pub(crate) layers: Vec<Layer>,
    /// How the initial weights were drawn (continual backprop redraws units from it).
    init: WeightInit,
}

impl Network {
    /// Builds `spec` on `device` (or digital with `None`), each layer where
    /// [`NetSpec::layer_devices`] puts it. Initial weights depend only on `seed` and the layer's
    /// position, so the digital reference and every device start from the same weights; analog
    /// layers are programmed to them (write-and-verify, counted).
    pub(crate) fn new(spec: &NetSpec, device: Option<&Device>, seed: u64) -> Network {
        let n = spec.widths.len() - 1;
        let layers = (0..n)
            .map(|l| {
                let (w, b) = spec.initial_weights(l, seed);
                let dev = spec.layer_device(l).resolve(device);
                let act = spec.layer_activation(l);
                Layer::new(dev, &w, b, act, derive(seed, &[purpose::TILE, l as u64]))
            })
            .collect();
        Network {
            layers,
            init: spec.init,
        }
    }

    /// A network without layers (a bare chip's).
    pub(crate) fn empty() -> Network {
        Network {
            layers: Vec::new(),
            init: WeightInit::TorchDefault,
        }
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

    /// The layers, input side first (read-only: a network's layers cannot be swapped).
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Layer `l` (0 = the input side), for its physical operations.
    pub fn layer(&mut self, l: usize) -> &mut Layer {
        &mut self.layers[l]
    }

    /// How the initial weights were drawn: the distribution a replaced unit is redrawn from.
    pub fn weight_init(&self) -> WeightInit {
        self.init
    }

    /// Number of layers (weight matrices).
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Gives every layer SGD momentum (see [`Layer::set_momentum`]).
    pub fn set_momentum(&mut self, momentum: Momentum) {
        for l in &mut self.layers {
            l.set_momentum(momentum);
        }
    }
}
