//! `bp-oracle`: exact backprop through the true conductances of the chip. The forward pass and
//! the updates are physical (reads and pulse updates); the backward pass uses Wᵀ of the true
//! apparent weights, which this hardware cannot read: every use is counted as an oracle read.
//! It is the reference for what backprop could do if a transpose were free.

use super::{apply_updates, backprop_deltas, softmax_cross_entropy, Learner};
use crate::crossbar::Counters;
use crate::device::Device;
use crate::net::{NetSpec, Network};
use nalgebra::DMatrix;

/// Backprop with a privileged transpose.
#[derive(Debug, Clone)]
pub struct BpOracle {
    net: Network,
    device: Device,
}

impl BpOracle {
    /// `spec` on `device`, initialised from `seed`.
    pub fn new(spec: &NetSpec, device: &Device, seed: u64) -> BpOracle {
        BpOracle {
            net: Network::new(spec, Some(device), seed),
            device: device.clone(),
        }
    }
}

impl Learner for BpOracle {
    fn name(&self) -> &'static str {
        "bp-oracle"
    }

    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        let fwd = self.net.forward(x);
        let (loss, e) = softmax_cross_entropy(&fwd[fwd.len() - 1].h, labels);
        let deltas = backprop_deltas(&mut self.net, &fwd, e, |layer| {
            layer.privileged_true_weights()
        });
        apply_updates(&mut self.net, x, &fwd, &deltas, lr);
        loss
    }

    fn counters(&self) -> Counters {
        self.net.counters()
    }

    fn energy_j(&self) -> f64 {
        self.net.energy_j(&self.device)
    }

    fn network(&mut self) -> &mut Network {
        &mut self.net
    }
}
