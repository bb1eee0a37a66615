//! Randomness: seeding and the Gaussian sampler used in the hot paths.
//!
//! Every random stream is derived from one master seed and a key, so results depend only on
//! (seed, key), never on thread count or the order in which work is done. [`normal`] is an exact
//! standard-normal sampler (Doornik's 128-layer ziggurat, 2005) inlined into the read and update
//! loops, where a general-purpose sampler's call overhead would dominate.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};
use std::sync::OnceLock;

/// SplitMix64 finaliser: a bijective mix of 64 bits.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from `seed` and the key parts, in order.
#[inline]
pub fn derive(seed: u64, key: &[u64]) -> u64 {
    key.iter().fold(mix(seed), |acc, &k| mix(acc ^ mix(k)))
}

/// A fast generator for the stream (seed, key…).
#[inline]
pub fn stream(seed: u64, key: &[u64]) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(derive(seed, key))
}

/// Purposes of the streams of a tile, so that two uses never share a stream.
pub mod purpose {
    /// Fabrication: device-to-device parameters, stuck cells, endurance.
    pub const FABRICATION: u64 = 1;
    /// Read noise and output noise.
    pub const READ: u64 = 2;
    /// Column pulse trains of an update.
    pub const UPDATE_COLUMNS: u64 = 3;
    /// Row pulse trains and cycle-to-cycle noise of an update.
    pub const UPDATE_ROWS: u64 = 4;
    /// Programming noise.
    pub const PROGRAM: u64 = 5;
    /// Random failures over time.
    pub const HAZARD: u64 = 6;
    /// Tiles of a crossbar.
    pub const TILE: u64 = 7;
    /// Initial weights of a layer.
    pub const INIT: u64 = 8;
    /// Fixed random feedback matrices (feedback alignment).
    pub const FEEDBACK: u64 = 9;
    /// Layers of a network.
    pub const LAYER: u64 = 10;
    /// Endurance of each device (its own stream, so that finite endurance leaves every other
    /// fabrication draw as it was).
    pub const ENDURANCE: u64 = 11;
    /// Continual-learning mechanisms: re-initialised units, shrink-and-perturb noise.
    pub const CONTINUAL: u64 = 12;
    /// Task streams: permutations and orders of continual-learning tasks.
    pub const STREAM: u64 = 13;
    /// Deployment onto an inference chip: programming, drift and read noise of each copy.
    pub const DEPLOY: u64 = 14;
    /// Hardware-aware training: the weight modifiers' noise.
    pub const HWA: u64 = 15;
    /// Update schemes: fabrication of their fast arrays, choppers and column resets.
    pub const SCHEME: u64 = 16;
}

const ZIG_C: usize = 128;
const ZIG_R: f64 = 3.442_619_855_899;
const ZIG_V: f64 = 9.912_563_035_262_17e-3;

struct Ziggurat {
    /// Layer edges x_i (x_0 is the base strip's pseudo-width V/f(R)), x_C = 0.
    x: [f64; ZIG_C + 1],
    /// x_{i+1}/x_i: below it a sample is accepted at once.
    ratio: [f32; ZIG_C],
    /// x_i as f32.
    xf: [f32; ZIG_C],
}

fn ziggurat() -> &'static Ziggurat {
    static Z: OnceLock<Ziggurat> = OnceLock::new();
    Z.get_or_init(|| {
        let mut x = [0f64; ZIG_C + 1];
        let mut f = (-0.5 * ZIG_R * ZIG_R).exp();
        x[0] = ZIG_V / f;
        x[1] = ZIG_R;
        for i in 2..ZIG_C {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        x[ZIG_C] = 0.0;
        let mut ratio = [0f32; ZIG_C];
        let mut xf = [0f32; ZIG_C];
        for i in 0..ZIG_C {
            ratio[i] = (x[i + 1] / x[i]) as f32;
            xf[i] = x[i] as f32;
        }
        Ziggurat { x, ratio, xf }
    })
}

/// The standard normal sampler, holding its tables so that hot loops skip the one-time
/// initialisation check.
#[derive(Clone, Copy)]
pub struct Normal {
    z: &'static Ziggurat,
}

impl std::fmt::Debug for Normal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Normal")
    }
}

impl Default for Normal {
    fn default() -> Self {
        Normal { z: ziggurat() }
    }
}

impl Normal {
    /// A standard normal sample (exact: the ziggurat is a rejection sampler of the normal
    /// density). About 98.8 % of calls take one 64-bit draw and a comparison.
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        let z = self.z;
        loop {
            let bits = rng.next_u64();
            let i = (bits & 0x7F) as usize;
            // A uniform in [−1, 1) from the top 32 bits.
            let u = ((bits >> 32) as u32 as i32) as f32 * (1.0 / 2_147_483_648.0);
            if u.abs() < z.ratio[i] {
                return u * z.xf[i];
            }
            if let Some(x) = slow_path(z, i, u, rng) {
                return x;
            }
        }
    }
}

impl Normal {
    /// Adds σ·N(0, 1) to every element of `out`. Two samples share one 64-bit draw (7 bits pick
    /// the layer, 24 bits give the uniform), which halves the generator's cost in bulk noise.
    #[inline]
    pub fn add_scaled<R: Rng + ?Sized>(&self, out: &mut [f32], sigma: f32, rng: &mut R) {
        let mut pairs = out.chunks_exact_mut(2);
        for pair in &mut pairs {
            let bits = rng.next_u64();
            pair[0] += sigma * self.sample_bits(bits as u32, rng);
            pair[1] += sigma * self.sample_bits((bits >> 32) as u32, rng);
        }
        for v in pairs.into_remainder() {
            *v += sigma * self.sample(rng);
        }
    }

    /// One sample from 32 random bits; on the rare rejection it continues with fresh draws, so
    /// the result is exactly normal.
    #[inline(always)]
    fn sample_bits<R: Rng + ?Sized>(&self, bits: u32, rng: &mut R) -> f32 {
        let z = self.z;
        let i = (bits & 0x7F) as usize;
        let u = ((bits & !0xFF) as i32) as f32 * (1.0 / 2_147_483_648.0);
        if u.abs() < z.ratio[i] {
            return u * z.xf[i];
        }
        match slow_path(z, i, u, rng) {
            Some(x) => x,
            None => self.sample(rng),
        }
    }
}

/// The rare rejection step of the ziggurat (≈ 1.2 % of draws), kept out of line.
#[cold]
#[inline(never)]
fn slow_path<R: Rng + ?Sized>(z: &Ziggurat, i: usize, u: f32, rng: &mut R) -> Option<f32> {
    if i == 0 {
        // The tail beyond R (Marsaglia's method).
        loop {
            let a: f64 = 1.0 - rng.random::<f64>();
            let b: f64 = 1.0 - rng.random::<f64>();
            let x = a.ln() / ZIG_R;
            let y = b.ln();
            if -2.0 * y >= x * x {
                let t = (ZIG_R - x) as f32;
                return Some(if u < 0.0 { -t } else { t });
            }
        }
    }
    let x = u as f64 * z.x[i];
    let f0 = (-0.5 * (z.x[i] * z.x[i] - x * x)).exp();
    let f1 = (-0.5 * (z.x[i + 1] * z.x[i + 1] - x * x)).exp();
    (f1 + rng.random::<f64>() * (f0 - f1) < 1.0).then_some(x as f32)
}

/// A standard normal sample (see [`Normal`]).
#[inline]
pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f32 {
    Normal::default().sample(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_noise_has_the_moments_of_a_gaussian() {
        let mut rng = stream(5, &[6]);
        let n = 1_000_001usize; // odd: the remainder path is used too
        let mut v = vec![1.0f32; n];
        Normal::default().add_scaled(&mut v, 2.0, &mut rng);
        let nf = n as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / nf;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / nf;
        // N(1, 4): σ(mean) = 2/√n, σ(var) = 4·√(2/n); 5σ bounds.
        assert!((mean - 1.0).abs() < 5.0 * 2.0 / nf.sqrt(), "mean {mean}");
        assert!(
            (var - 4.0).abs() < 5.0 * 4.0 * (2.0 / nf).sqrt(),
            "var {var}"
        );
        let tail = v.iter().filter(|&&x| (x - 1.0).abs() > 6.0).count() as f64 / nf;
        let p3 = 0.002_699_796;
        assert!(
            (tail - p3).abs() < 5.0 * (p3 / nf).sqrt(),
            "P(|x|>3σ) {tail}"
        );
    }

    #[test]
    fn normal_has_the_moments_and_tails_of_a_gaussian() {
        let mut rng = stream(3, &[4]);
        let n = 2_000_000usize;
        let (mut s1, mut s2, mut s4, mut tail3, mut below) =
            (0f64, 0f64, 0f64, 0usize, [0usize; 5]);
        let cuts = [-2.0f32, -1.0, 0.0, 0.5, 1.5];
        for _ in 0..n {
            let x = normal(&mut rng);
            let xd = x as f64;
            s1 += xd;
            s2 += xd * xd;
            s4 += xd * xd * xd * xd;
            tail3 += usize::from(x.abs() > 3.0);
            for (c, b) in cuts.iter().zip(below.iter_mut()) {
                *b += usize::from(x < *c);
            }
        }
        let nf = n as f64;
        let (mean, var, kurt) = (s1 / nf, s2 / nf, s4 / nf);
        // 5σ bounds: σ(mean) = 1/√n, σ(var) = √(2/n), σ(E x⁴) = √(96/n).
        assert!(mean.abs() < 5.0 / nf.sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(), "var {var}");
        assert!(
            (kurt - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
            "E x^4 {kurt}"
        );
        let p3 = 0.002_699_796;
        let sd3 = (p3 * (1.0 - p3) / nf).sqrt();
        assert!(
            (tail3 as f64 / nf - p3).abs() < 5.0 * sd3,
            "P(|x|>3) {}",
            tail3 as f64 / nf
        );
        // Φ at the cuts.
        let phi = [0.022_750_13, 0.158_655_25, 0.5, 0.691_462_46, 0.933_192_80];
        for ((c, b), p) in cuts.iter().zip(below).zip(phi) {
            let sd = (p * (1.0 - p) / nf).sqrt();
            assert!(
                (b as f64 / nf - p).abs() < 5.0 * sd,
                "Φ({c}) {} vs {p}",
                b as f64 / nf
            );
        }
    }

    #[test]
    fn streams_differ_by_key_and_repeat_by_key() {
        let a = stream(1, &[2, 3]).next_u64();
        assert_eq!(a, stream(1, &[2, 3]).next_u64());
        assert_ne!(a, stream(1, &[3, 2]).next_u64());
        assert_ne!(a, stream(2, &[2, 3]).next_u64());
    }
}
