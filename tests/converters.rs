//! Converters as equalities: the DAC and the ADC of a tile produce exactly the levels their bit
//! width and bound allow — 2^bits − 1 levels evenly spaced over [−bound, bound], step
//! 2·bound/(2^bits − 2) (aihwkit's convention, `device::params::Bits`) — counted here from the
//! outputs of a swept input and compared with levels computed in the test, not with the code's
//! own `input_step()`/`output_step()`.

use mortalsim::crossbar::Tile;
use mortalsim::device::Device;
use nalgebra::DMatrix;

/// A 1 × 1 tile of an ideal (float) cell holding weight 1 behind the given periphery, so that a
/// read shows the converter under test directly.
fn unit_tile(periphery: &str) -> Tile {
    let d = Device::from_toml(
        &format!(
            "name = \"conv\"\n[response]\nmodel = \"ideal\"\nw_min = -1e30\nw_max = 1e30\n\
             [periphery]\n{periphery}\nout_noise = 0.0\nnoise_management = \"none\"\n\
             bound_management = \"none\"\n[update]\npulse_type = \"none\"\n"
        ),
        "test",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut t = Tile::new(&d, 1, 1, 1);
    t.program_all(&DMatrix::from_element(1, 1, 1.0));
    t
}

/// Reads a sweep of `n` inputs evenly over [−reach, reach]; returns (input, output) pairs.
fn sweep(t: &mut Tile, reach: f32, n: usize) -> Vec<(f32, f32)> {
    let x = DMatrix::from_fn(1, n, |_, k| {
        -reach + 2.0 * reach * k as f32 / (n - 1) as f32
    });
    let y = t.read(&x);
    x.iter()
        .zip(y.iter())
        .map(|(&a, &b)| (a, b + 0.0))
        .collect()
}

/// The levels a converter of `bits` over ±`bound` may output, computed from the definition.
fn expected_levels(bits: u32, bound: f64) -> Vec<f64> {
    let steps = (1u64 << bits) - 2; // intervals over [−bound, bound]
    let step = 2.0 * bound / steps as f64;
    (0..=steps).map(|k| -bound + k as f64 * step).collect()
}

fn check(what: &str, pairs: &[(f32, f32)], bits: u32, bound: f64) {
    let want = expected_levels(bits, bound);
    let step = want[1] - want[0];
    // Every output is the level nearest to the clipped input.
    for &(x, y) in pairs {
        let c = (x as f64).clamp(-bound, bound);
        let nearest = want
            .iter()
            .copied()
            .min_by(|a, b| (a - c).abs().total_cmp(&(b - c).abs()))
            .unwrap();
        let tie = ((c - want[0]) / step).fract();
        if (tie - 0.5).abs() > 1e-3 {
            assert!(
                (y as f64 - nearest).abs() <= 1e-5 * bound,
                "{what} {bits} bits: input {x} gave {y}, nearest level {nearest}"
            );
        }
    }
    // Exactly the expected levels occur, every one of them.
    let mut seen: Vec<f64> = pairs.iter().map(|p| p.1 as f64).collect();
    seen.sort_by(f64::total_cmp);
    seen.dedup_by(|a, b| (*a - *b).abs() <= 1e-6 * bound);
    assert_eq!(
        seen.len(),
        want.len(),
        "{what} {bits} bits over ±{bound}: {} distinct levels, expected 2^{bits} − 1 = {}",
        seen.len(),
        want.len()
    );
    for (s, w) in seen.iter().zip(&want) {
        assert!(
            (s - w).abs() <= 1e-5 * bound,
            "{what} {bits} bits: level {s} vs {w}"
        );
    }
}

#[test]
fn the_dac_has_two_to_the_bits_minus_one_levels_over_its_bound() {
    for (bits, bound) in [(2u32, 1.0f64), (3, 1.0), (5, 1.0), (7, 1.0), (4, 0.5)] {
        let mut t = unit_tile(&format!(
            "dac_bits = {bits}\ninp_bound = {bound}\nadc_bits = \"ideal\"\nout_bound = 100.0"
        ));
        // The sweep reaches past the bound (clipping) and is finer than a quarter step.
        let pairs = sweep(&mut t, 1.5 * bound as f32, 4 * (1 << bits) * 8 + 1);
        check("DAC", &pairs, bits, bound);
    }
}

#[test]
fn the_adc_has_two_to_the_bits_minus_one_levels_over_its_bound() {
    for (bits, bound) in [(2u32, 2.0f64), (3, 2.0), (6, 1.25), (9, 12.0), (4, 3.0)] {
        let mut t = unit_tile(&format!(
            "dac_bits = \"ideal\"\ninp_bound = 100.0\nadc_bits = {bits}\nout_bound = {bound}"
        ));
        let pairs = sweep(&mut t, 1.5 * bound as f32, 4 * (1 << bits) * 8 + 1);
        check("ADC", &pairs, bits, bound);
    }
}

#[test]
fn dac_and_adc_in_series_quantise_twice() {
    // A 3-bit DAC over ±1 (levels k/3) into a weight of 1 and a 3-bit ADC over ±1.8 (levels
    // 0.6k): each output is the ADC level nearest to the DAC level nearest to the input
    // (0 → 0, ±1/3 → ±0.6, ±2/3 → ±0.6, ±1 → ±1.2; no ADC ties with these bounds).
    let mut t = unit_tile("dac_bits = 3\ninp_bound = 1.0\nadc_bits = 3\nout_bound = 1.8");
    let pairs = sweep(&mut t, 1.5, 1001);
    let dac = expected_levels(3, 1.0);
    let adc = expected_levels(3, 1.8);
    let nearest = |v: f64, levels: &[f64]| {
        levels
            .iter()
            .copied()
            .min_by(|a, b| (a - v).abs().total_cmp(&(b - v).abs()))
            .unwrap()
    };
    for (x, y) in pairs {
        let d = nearest((x as f64).clamp(-1.0, 1.0), &dac);
        let tie_dac = (((x as f64).clamp(-1.0, 1.0) + 1.0) * 3.0).fract();
        if (tie_dac - 0.5).abs() < 1e-3 {
            continue;
        }
        let want = nearest(d, &adc);
        assert!((y as f64 - want).abs() < 1e-5, "input {x}: {y} vs {want}");
    }
}
