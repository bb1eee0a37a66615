//! `dfa`: direct feedback alignment (Nøkland, NeurIPS 2016).
//!
//! δ_L = e and, for every hidden layer in parallel, δ_l = (B_l e) ⊙ f′(a_l) with B_l (n_l × n_out)
//! fixed and random on its own tiles (or digital), plus an optional activity penalty
//! ([`Options::activity_l2`]). The output layer receives the exact gradient;
//! no transposed read and no sequential backward pass are needed.

use super::{
    add_activity_penalty, apply_updates, check_regression_targets, feedback_layers, output_error,
    Learner, Options, Targets,
};
use crate::device::Device;
use crate::net::{Chip, NetSpec, TileId};
use nalgebra::DMatrix;

/// Direct feedback alignment.
#[derive(Debug, Clone)]
pub struct Dfa {
    chip: Chip,
    feedback: Vec<TileId>,
    activity_l2: f32,
}

impl Dfa {
    /// `spec` on `device` with one feedback matrix from the output error to each hidden layer.
    pub fn new(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        options: &Options,
    ) -> Result<Dfa, String> {
        let w = &spec.widths;
        let out = w[w.len() - 1];
        let shapes: Vec<(usize, usize)> = (0..w.len() - 2).map(|l| (w[l + 1], out)).collect();
        let mut chip = Chip::new(spec, Some(device), seed);
        Ok(Dfa {
            feedback: feedback_layers(&mut chip, &shapes, seed, options)?,
            chip,
            activity_l2: options.activity_l2,
        })
    }
}

impl Dfa {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        let chip = &mut self.chip;
        let fwd = chip.net.forward(x);
        let n = chip.net.layers.len();
        let (loss, e) = output_error(&mut chip.net, &fwd[n - 1].h, targets);
        let mut deltas = vec![DMatrix::zeros(0, 0); n];
        for l in 0..n - 1 {
            let mut g = chip.tile(self.feedback[l]).preactivation(&e);
            let layer = &mut chip.net.layers[l];
            add_activity_penalty(&mut g, &fwd[l].h, self.activity_l2, layer);
            deltas[l] = layer.gate(&g, &fwd[l]);
        }
        deltas[n - 1] = e;
        apply_updates(&mut chip.net, x, &fwd, &deltas, lr);
        loss
    }
}

impl Learner for Dfa {
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
