//! `bp-oracle`: exact backprop through the true conductances of the chip. The forward pass and
//! the updates are physical (reads and pulse updates); the backward pass uses Wᵀ of the true
//! apparent weights, which this hardware cannot read: every use is counted as an oracle read.
//! It is the reference for what backprop could do if a transpose were free.

use super::{
    apply_updates, backprop_deltas, check_regression_targets, output_error, Learner, Targets,
};
use crate::crossbar::OracleKey;
use crate::device::Device;
use crate::net::{Chip, NetSpec};
use nalgebra::DMatrix;

/// Backprop with a privileged transpose.
#[derive(Debug, Clone)]
pub struct BpOracle {
    chip: Chip,
    /// The privilege of reading true weights: only this reference holds one.
    key: OracleKey,
}

impl BpOracle {
    /// `spec` on `device`, initialised from `seed`.
    pub fn new(spec: &NetSpec, device: &Device, seed: u64) -> BpOracle {
        BpOracle {
            chip: Chip::new(spec, Some(device), seed),
            key: OracleKey::new(),
        }
    }
}

impl BpOracle {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        let (net, key) = (&mut self.chip.net, &self.key);
        let fwd = net.forward(x);
        let (loss, e) = output_error(net, &fwd[fwd.len() - 1].h, targets);
        let deltas = backprop_deltas(net, &fwd, e, |layer, delta| {
            layer.privileged_transposed_product(key, delta)
        });
        apply_updates(net, x, &fwd, &deltas, lr);
        loss
    }
}

impl Learner for BpOracle {
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
