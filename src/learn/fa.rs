//! `fa`: feedback alignment (Lillicrap et al., Nat. Commun. 7:13276, 2016).
//!
//! δ_L = e and δ_l = (B_{l+1} δ_{l+1}) ⊙ f′(a_l), with B_{l+1} (n_l × n_{l+1}) fixed and random,
//! drawn like a forward layer's transpose. Each B lives on its own tiles (reads only), with the
//! device's noise, drift and failures, or digital when the run says so. Learning works because
//! the forward weights come to align with B; no transposed read is needed. An optional activity
//! penalty ([`Options::activity_l2`]) joins each hidden layer's signal.

use super::{
    add_activity_penalty, apply_updates, chain_deltas, check_regression_targets, feedback_layers,
    output_error, Learner, Options, Targets,
};
use crate::device::Device;
use crate::net::{Chip, NetSpec, TileId};
use nalgebra::DMatrix;

/// Feedback alignment.
#[derive(Debug, Clone)]
pub struct Fa {
    chip: Chip,
    feedback: Vec<TileId>,
    activity_l2: f32,
}

impl Fa {
    /// `spec` on `device` with one feedback matrix per hidden layer.
    pub fn new(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        options: &Options,
    ) -> Result<Fa, String> {
        let w = &spec.widths;
        let shapes: Vec<(usize, usize)> = (0..w.len() - 2).map(|l| (w[l + 1], w[l + 2])).collect();
        let mut chip = Chip::new(spec, Some(device), seed);
        Ok(Fa {
            feedback: feedback_layers(&mut chip, &shapes, seed, options)?,
            chip,
            activity_l2: options.activity_l2,
        })
    }
}

impl Fa {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        let chip = &mut self.chip;
        let fwd = chip.net.forward(x);
        let n = chip.net.layers.len();
        let (loss, e) = output_error(&mut chip.net, &fwd[n - 1].h, targets);
        let (feedback, tiles) = (&self.feedback, &mut chip.tiles);
        let lambda = self.activity_l2;
        let deltas = chain_deltas(&mut chip.net, &fwd, e, |net, l, delta| {
            let mut g = tiles[feedback[l].index()].layer.preactivation(delta);
            add_activity_penalty(&mut g, &fwd[l].h, lambda, &mut net.layers[l]);
            g
        });
        apply_updates(&mut chip.net, x, &fwd, &deltas, lr);
        loss
    }
}

impl Learner for Fa {
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
