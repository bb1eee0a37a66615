//! `bp-digital`: exact backprop in float32 on a digital network, no device at all — the ceiling
//! every analog learner is measured against.

use super::{apply_updates, backprop_deltas, output_error, Learner};
use crate::net::{Chip, NetSpec};
use nalgebra::DMatrix;

/// Backprop on float matrices.
#[derive(Debug, Clone)]
pub struct BpDigital {
    chip: Chip,
}

impl BpDigital {
    /// A digital network of `spec` initialised from `seed`.
    pub fn new(spec: &NetSpec, seed: u64) -> BpDigital {
        BpDigital {
            chip: Chip::new(spec, None, seed),
        }
    }
}

impl Learner for BpDigital {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        let net = &mut self.chip.net;
        let fwd = net.forward(x);
        let (loss, e) = output_error(net, &fwd[fwd.len() - 1].h, labels);
        let deltas = backprop_deltas(net, &fwd, e, |layer, delta| {
            let w = layer
                .digital_weights()
                .expect("bp-digital layers are digital");
            crate::kernel::par_tr_matmul(w, delta)
        });
        apply_updates(net, x, &fwd, &deltas, lr);
        loss
    }

    fn chip(&self) -> &Chip {
        &self.chip
    }

    fn chip_mut(&mut self) -> &mut Chip {
        &mut self.chip
    }
}
