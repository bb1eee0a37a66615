//! `dfa`: direct feedback alignment (Nøkland, NeurIPS 2016).
//!
//! δ_L = e and, for every hidden layer in parallel, δ_l = (B_l e) ⊙ f′(a_l) with B_l (n_l × n_out)
//! fixed and random on its own tiles (or digital), plus an optional activity penalty
//! ([`Options::activity_l2`]). The output layer receives the exact gradient;
//! no transposed read and no sequential backward pass are needed.

use super::{
    add_activity_penalty, apply_updates, cost_of, feedback_layers, softmax_cross_entropy, Learner,
    Options,
};
use crate::crossbar::Counters;
use crate::device::Device;
use crate::net::{Layer, NetSpec, Network};
use nalgebra::DMatrix;

/// Direct feedback alignment.
#[derive(Debug, Clone)]
pub struct Dfa {
    net: Network,
    feedback: Vec<Layer>,
    device: Device,
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
        Ok(Dfa {
            net: Network::new(spec, Some(device), seed),
            feedback: feedback_layers(&shapes, device, seed, options)?,
            device: device.clone(),
            activity_l2: options.activity_l2,
        })
    }
}

impl Learner for Dfa {
    fn name(&self) -> &'static str {
        "dfa"
    }

    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        let fwd = self.net.forward(x);
        let n = self.net.layers.len();
        let (loss, e) = softmax_cross_entropy(&fwd[n - 1].h, labels);
        let mut deltas = vec![DMatrix::zeros(0, 0); n];
        for l in 0..n - 1 {
            let mut g = self.feedback[l].preactivation(&e);
            add_activity_penalty(&mut g, &fwd[l].h, self.activity_l2, &mut self.net.layers[l]);
            deltas[l] = self.net.layers[l].gate(&g, &fwd[l]);
        }
        deltas[n - 1] = e;
        apply_updates(&mut self.net, x, &fwd, &deltas, lr);
        loss
    }

    fn counters(&self) -> Counters {
        cost_of(&self.net, &self.feedback, &self.device).0
    }

    fn energy_j(&self) -> f64 {
        cost_of(&self.net, &self.feedback, &self.device).1
    }

    fn network(&mut self) -> &mut Network {
        &mut self.net
    }
}
