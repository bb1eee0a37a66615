//! `bp-digital`: exact backprop in float32 on a digital network, no device at all — the ceiling
//! every analog learner is measured against.

use super::{apply_updates, backprop_deltas, softmax_cross_entropy, Learner};
use crate::crossbar::Counters;
use crate::device::Device;
use crate::net::{NetSpec, Network};
use nalgebra::DMatrix;

/// Backprop on float matrices.
#[derive(Debug, Clone)]
pub struct BpDigital {
    net: Network,
    pricing: Device,
}

impl BpDigital {
    /// A digital network of `spec` initialised from `seed`.
    pub fn new(spec: &NetSpec, seed: u64) -> BpDigital {
        BpDigital {
            net: Network::new(spec, None, seed),
            pricing: Device::ideal(),
        }
    }
}

impl Learner for BpDigital {
    fn name(&self) -> &'static str {
        "bp-digital"
    }

    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        let fwd = self.net.forward(x);
        let (loss, e) = softmax_cross_entropy(&fwd[fwd.len() - 1].h, labels);
        let deltas = backprop_deltas(&mut self.net, &fwd, e, |layer| {
            layer
                .digital_weights()
                .expect("bp-digital layers are digital")
                .clone()
        });
        apply_updates(&mut self.net, x, &fwd, &deltas, lr);
        loss
    }

    fn counters(&self) -> Counters {
        self.net.counters()
    }

    fn energy_j(&self) -> f64 {
        self.net.energy_j(&self.pricing)
    }

    fn network(&mut self) -> &mut Network {
        &mut self.net
    }
}
