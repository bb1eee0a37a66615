//! Invariants every device model must obey, checked over every preset and every response model:
//! conductances stay within each cell's own bounds after any sequence of operations (proptest),
//! up pulses raise and down pulses lower the mean weight, failed cells never change, and a
//! read of the zero vector returns nothing but the periphery's noise.

use mortalsim::crossbar::Tile;
use mortalsim::device::{presets, Device, Shape};
use mortalsim::testing;
use nalgebra::DMatrix;
use proptest::prelude::*;

/// Every preset plus the response models no preset uses (pow-step, piecewise), with faults on.
fn all_devices() -> Vec<Device> {
    let mut devs: Vec<Device> = presets::names()
        .into_iter()
        .map(|n| Device::load(n).unwrap())
        .collect();
    for src in [
        "name = \"pow\"\n[response]\nmodel = \"pow-step\"\npow_gamma = 2.0\npow_up_down = 0.2\n",
        "name = \"pw\"\n[response]\nmodel = \"piecewise\"\npiecewise_up = [1.5, 1.0, 0.4, 0.1]\npiecewise_down = [0.1, 0.5, 1.0, 1.4]\nwrite_noise_std = 2.0\n",
        "name = \"faulty\"\n[failure]\nstuck_at_min_fraction = 0.1\nstuck_at_random_fraction = 0.1\nendurance_median_pulses = 30.0\nendurance_log_std = 1.0\nworn_out_state = \"random\"\nhazard_rate_per_s = 0.01\nhazard_state = \"max\"\n",
        "name = \"leaky-drifty\"\n[response]\nmodel = \"soft-bounds\"\nreference_std = 0.05\nsubtract_symmetry_point = true\n[leak]\nlifetime_s = 5.0\nlifetime_dtod = 0.3\n[drift]\nmodel = \"power-law\"\nnu_mean = 0.1\nnu_std = 0.05\n[programming]\nnoise = \"relative\"\nstd = 0.2\nverify_tolerance = 0.01\n[read_noise]\nmodel = \"relative\"\nstd = 0.05\n",
    ] {
        devs.push(Device::from_toml(src, "test").unwrap_or_else(|e| panic!("{e}")));
    }
    devs
}

#[derive(Debug, Clone)]
enum Op {
    Update { lr: f32, seed: u64 },
    Program { seed: u64, scale: f32 },
    Advance { dt: f64 },
    PulseAll { up: bool },
    Read { seed: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0.001f32..1.0, any::<u64>()).prop_map(|(lr, seed)| Op::Update { lr, seed }),
        (any::<u64>(), 0.1f32..5.0).prop_map(|(seed, scale)| Op::Program { seed, scale }),
        (0.0f64..1e5).prop_map(|dt| Op::Advance { dt }),
        any::<bool>().prop_map(|up| Op::PulseAll { up }),
        any::<u64>().prop_map(|seed| Op::Read { seed }),
    ]
}

fn matrix(rows: usize, cols: usize, lo: f32, hi: f32, seed: u64) -> DMatrix<f32> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

fn apply(t: &mut Tile, op: &Op) {
    let (r, c) = (t.rows(), t.cols());
    match *op {
        Op::Update { lr, seed } => t.pulse_update(
            &matrix(c, 3, -1.0, 1.0, seed),
            &matrix(r, 3, -1.0, 1.0, seed ^ 1),
            lr,
        ),
        Op::Program { seed, scale } => t.program_all(&matrix(r, c, -scale, scale, seed)),
        Op::Advance { dt } => t.advance(dt),
        Op::PulseAll { up } => t.pulse_all(up),
        Op::Read { seed } => {
            let y = t.read(&matrix(c, 2, -1.0, 1.0, seed));
            assert!(
                y.iter().all(|v| v.is_finite()),
                "read gave a non-finite output"
            );
            check_zero_read(t);
        }
    }
}

/// A read of the zero vector returns the periphery's noise and nothing else: exactly 0 with a
/// perfect periphery (read noise scales with the input) or with abs-max noise management (α = 0:
/// nothing is read), otherwise within α·(6·out_noise + ADC step/2) (α = 1 without noise
/// management, nm_thres with a constant one) — whatever the cells hold.
fn check_zero_read(t: &mut Tile) {
    use mortalsim::device::params::{Bits, NoiseManagement};
    let p = t.device().spec().periphery.clone();
    let y = t.read(&DMatrix::zeros(t.cols(), 3));
    let alpha = match p.noise_management {
        NoiseManagement::AbsMax => 0.0,
        NoiseManagement::Constant => p.nm_thres,
        NoiseManagement::None => 1.0,
    };
    let step = match p.adc_bits {
        Bits::Finite(b) => 2.0 * p.out_bound / ((1u64 << b) - 2) as f64,
        Bits::Ideal(_) => 0.0,
    };
    let noise = 6.0 * p.out_noise + step / 2.0;
    if !p.perfect && noise >= p.out_bound {
        return; // noise alone may saturate and trigger bound management: no simple bound
    }
    let bound = if p.perfect { 0.0 } else { alpha * noise };
    for v in y.iter() {
        assert!(
            (*v as f64).abs() <= bound + 1e-6 * alpha,
            "{}: a read of the zero vector gave {v}, beyond {bound}",
            t.device().spec().name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn conductances_stay_within_each_cells_bounds(which in 0usize..16, seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..12)) {
        let devs = all_devices();
        let d = &devs[which % devs.len()];
        let mut t = Tile::new(d, 5, 7, seed);
        for o in &ops {
            apply(&mut t, o);
            testing::check_tile_bounds(&t);
        }
    }

    #[test]
    fn failed_cells_never_change(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..10)) {
        let d = all_devices().into_iter().find(|d| d.spec().name == "faulty").unwrap();
        let mut t = Tile::new(&d, 6, 6, seed);
        for o in &ops {
            let before = t.clone();
            apply(&mut t, o);
            testing::check_failed_cells_unchanged(&before, &t);
        }
    }

    /// The same invariants for devices generated within physical ranges.
    #[test]
    fn generated_devices_keep_their_invariants(d in testing::device(), seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..8)) {
        let mut t = Tile::new(&d, 4, 6, seed);
        for o in &ops {
            let before = t.clone();
            apply(&mut t, o);
            testing::check_tile_bounds(&t);
            testing::check_failed_cells_unchanged(&before, &t);
        }
    }
}

#[test]
fn up_pulses_raise_and_down_pulses_lower_the_mean_weight() {
    for d in all_devices() {
        // Float cells (the reference and inference chips, which are programmed, not pulsed).
        if matches!(d.shape(), Shape::Ideal) {
            continue;
        }
        let mut t = Tile::new(&d, 1, 400, 3);
        let mean = |t: &mut Tile| t.inspect_weights().mean();
        let m0 = mean(&mut t);
        for _ in 0..20 {
            t.pulse_all(true);
        }
        let m_up = mean(&mut t);
        for _ in 0..40 {
            t.pulse_all(false);
        }
        let m_down = mean(&mut t);
        assert!(
            m_up > m0,
            "{}: 20 up pulses moved the mean from {m0} to {m_up}",
            d.spec().name
        );
        assert!(
            m_down < m_up,
            "{}: 40 down pulses moved the mean from {m_up} to {m_down}",
            d.spec().name
        );
    }
}
