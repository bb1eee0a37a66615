//! `bp-digital`: exact backprop in float32 on a digital network, no device at all — the ceiling
//! every analog learner is measured against. With `options.hwa` it trains hardware-aware
//! (weight modifiers, clipping and output noise, see [`super::hwa`]).

use super::hwa::HwaConfig;
use super::{
    apply_updates, backprop_deltas, check_regression_targets, output_error, Learner, Targets,
};
use crate::net::{Chip, Forward, NetSpec};
use crate::random::{derive, normal, purpose, stream};
use nalgebra::DMatrix;

/// Backprop on float matrices.
#[derive(Debug, Clone)]
pub struct BpDigital {
    chip: Chip,
    /// Hardware-aware training (None: plain).
    hwa: Option<HwaConfig>,
    seed: u64,
    steps: u64,
}

impl BpDigital {
    /// A digital network of `spec` initialised from `seed`.
    pub fn new(spec: &NetSpec, seed: u64) -> BpDigital {
        BpDigital {
            chip: Chip::new(spec, None, seed),
            hwa: None,
            seed,
            steps: 0,
        }
    }

    /// The same, trained hardware-aware as `hwa` says (plain when it is all defaults).
    pub fn with_hwa(spec: &NetSpec, seed: u64, hwa: &HwaConfig) -> BpDigital {
        let mut b = BpDigital::new(spec, seed);
        b.hwa = (!hwa.is_default()).then(|| hwa.clone());
        b
    }

    /// One hardware-aware step: modified weights W′ for the forward and backward pass, output
    /// noise on the pre-activations, the update applied to the reference weights W
    /// (W ← W + (W′_after − W′)), then clipping.
    fn hwa_step(
        &mut self,
        x: &DMatrix<f32>,
        targets: Targets<'_>,
        lr: f32,
        hwa: &HwaConfig,
    ) -> f32 {
        self.steps += 1;
        let key =
            |l: usize, what: u64| derive(self.seed, &[purpose::HWA, self.steps, l as u64, what]);
        let net = &mut self.chip.net;
        let n = net.depth();
        let digital = |net: &mut crate::net::Network, l: usize| {
            net.layer(l)
                .digital_weights()
                .expect("bp-digital layers are digital")
                .clone()
        };
        let mut saved = Vec::new();
        if hwa.modifies() {
            for l in 0..n {
                let w = digital(net, l);
                let wm = hwa.modify(&w, key(l, 0));
                net.layer(l).program(&wm);
                saved.push((w, wm));
            }
        }
        let mut fwd: Vec<Forward> = Vec::with_capacity(n);
        for l in 0..n {
            let input = if l == 0 { x } else { &fwd[l - 1].h };
            let mut f = net.layer(l).forward(input);
            if hwa.out_noise > 0.0 {
                let mut rng = stream(key(l, 1), &[]);
                let act = net.layer(l).activation();
                f.a.iter_mut()
                    .for_each(|v| *v += hwa.out_noise * normal(&mut rng));
                f.h = f.a.map(|v| act.apply(v));
            }
            fwd.push(f);
        }
        let (loss, e) = output_error(net, &fwd[n - 1].h, targets);
        let deltas = backprop_deltas(net, &fwd, e, digital_transposed_product);
        apply_updates(net, x, &fwd, &deltas, lr);
        for (l, (w, wm)) in saved.into_iter().enumerate() {
            let after = digital(net, l);
            net.layer(l).program(&(w + (after - wm)));
        }
        if hwa.clip != super::hwa::Clip::None {
            for l in 0..n {
                let mut w = digital(net, l);
                hwa.clip(&mut w);
                net.layer(l).program(&w);
            }
        }
        loss
    }
}

impl BpDigital {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        if let Some(hwa) = self.hwa.take() {
            let loss = self.hwa_step(x, targets, lr, &hwa);
            self.hwa = Some(hwa);
            return loss;
        }
        let net = &mut self.chip.net;
        let fwd = net.forward(x);
        let (loss, e) = output_error(net, &fwd[fwd.len() - 1].h, targets);
        let deltas = backprop_deltas(net, &fwd, e, digital_transposed_product);
        apply_updates(net, x, &fwd, &deltas, lr);
        loss
    }
}

impl Learner for BpDigital {
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

/// Wᵀ·δ of a digital layer.
fn digital_transposed_product(layer: &mut crate::net::Layer, delta: &DMatrix<f32>) -> DMatrix<f32> {
    let w = layer
        .digital_weights()
        .expect("bp-digital layers are digital");
    crate::kernel::par_tr_matmul(w, delta)
}
