//! Physical properties of tiles and crossbars: exact reference products, quantisation, bound
//! management, the expected pulse update, crossing the range, drift and leak closed forms,
//! failure rates, and determinism across thread counts.
//!
//! Statistical tolerances are 5σ of the stated binomial/Gaussian spread unless noted, so a
//! correct simulator fails one of them with probability well below 1e-5.

use mortalsim::crossbar::periphery::Io;
use mortalsim::crossbar::{Crossbar, Status, Tile};
use mortalsim::device::Device;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};

fn dev(src: &str) -> Device {
    Device::from_toml(src, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn rand_matrix(rows: usize, cols: usize, lo: f32, hi: f32, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

fn assert_close(a: &DMatrix<f32>, b: &DMatrix<f32>, rel: f32) {
    assert_eq!(a.shape(), b.shape());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() <= rel * scale, "{x} vs {y} (scale {scale})");
    }
}

/// An ideal cell (exact float update) behind a configurable periphery.
fn ideal_cells_with(periphery: &str) -> Device {
    dev(&format!(
        "name = \"p\"\n[response]\nmodel = \"ideal\"\nw_min = -1e30\nw_max = 1e30\n[periphery]\n{periphery}\n[update]\npulse_type = \"none\"\n"
    ))
}

#[test]
fn ideal_read_equals_float_product_on_split_tiles() {
    // Tiles of at most 7 × 5: a 23 × 17 layer spans a 4 × 4 grid.
    let d = ideal_cells_with("perfect = true\nmax_tile_rows = 7\nmax_tile_cols = 5");
    for &(rows, cols, batch) in &[(23usize, 17usize, 9usize), (1, 1, 1), (6, 40, 3)] {
        let w = rand_matrix(rows, cols, -1.0, 1.0, 1);
        let x = rand_matrix(cols, batch, -1.0, 1.0, 2);
        let mut xb = Crossbar::new(&d, rows, cols, 5);
        xb.program_all(&w);
        let y = xb.read(&x);
        assert_close(&y, &(&w * &x), 1e-5);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    #[test]
    fn ideal_preset_read_and_update_are_exact(rows in 1usize..20, cols in 1usize..20, batch in 1usize..6, seed in 0u64..1000) {
        let d = Device::ideal();
        let w = rand_matrix(rows, cols, -1.0, 1.0, seed);
        let x = rand_matrix(cols, batch, -1.0, 1.0, seed + 1);
        let e = rand_matrix(rows, batch, -1.0, 1.0, seed + 2);
        let mut t = Tile::new(&d, rows, cols, seed);
        t.program_all(&w);
        assert_close(&t.read(&x), &(&w * &x), 1e-5);
        // The ideal update is the float rank-1 update W − lr·D·Xᵀ.
        t.pulse_update(&x, &e, 0.1);
        let expect = &w - (&e * x.transpose()) * 0.1;
        assert_close(&t.inspect_weights(), &expect, 1e-5);
    }
}

#[test]
fn dac_and_adc_error_is_at_most_half_a_step_and_outputs_stay_in_bounds() {
    // Identity weights make the read show the DAC output directly (ADC ideal), then the ADC
    // (DAC ideal). Inputs reach past the input bound to check clipping.
    let n = 64;
    let eye: Vec<f32> = (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect();
    let x = rand_matrix(n, 32, -1.5, 1.5, 3);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
    for (periph, check_dac) in [
        (
            "dac_bits = 5\nadc_bits = \"ideal\"\nout_bound = 100.0\ninp_bound = 1.0",
            true,
        ),
        (
            "dac_bits = \"ideal\"\nadc_bits = 6\nout_bound = 1.25\ninp_bound = 2.0",
            false,
        ),
    ] {
        let d = ideal_cells_with(&format!(
            "{periph}\nout_noise = 0.0\nnoise_management = \"none\"\nbound_management = \"none\""
        ));
        let io = Io::new(&d);
        let (y, _) = io.read(&mut Default::default(), &eye, &[], n, n, &x, &mut rng);
        let (step, bound) = if check_dac {
            (io.input_step().unwrap(), 1.0)
        } else {
            (io.output_step().unwrap(), 1.25)
        };
        for (yv, xv) in y.iter().zip(x.iter()) {
            let clipped = xv.clamp(-bound, bound);
            assert!(
                (yv - clipped).abs() <= step / 2.0 + 1e-6,
                "{yv} vs {xv}, step {step}"
            );
            assert!(yv.abs() <= bound + 1e-6, "{yv} outside ±{bound}");
            let k = yv / step;
            assert!(
                (k - k.round()).abs() < 1e-3,
                "{yv} is not on the {step} grid"
            );
        }
    }
}

#[test]
fn outputs_stay_within_bounds_without_bound_management() {
    let d = ideal_cells_with("out_bound = 3.0\nout_noise = 0.5\nbound_management = \"none\"");
    let mut t = Tile::new(&d, 10, 50, 1);
    t.program_all(&rand_matrix(10, 50, -1.0, 1.0, 1));
    let x = rand_matrix(50, 20, -1.0, 1.0, 2);
    let y = t.read(&x);
    // abs-max noise management: the bound applies before scaling back by α = max|x|.
    let mut saturated = 0;
    for b in 0..20 {
        let alpha = x.column(b).iter().fold(0f32, |m, v| m.max(v.abs()));
        for v in y.column(b).iter() {
            assert!(
                v.abs() <= 3.0 * alpha * (1.0 + 1e-6),
                "{v} beyond 3·α = {}",
                3.0 * alpha
            );
            saturated += usize::from(v.abs() >= 3.0 * alpha * (1.0 - 1e-6));
        }
    }
    assert!(saturated > 0, "the test should saturate some outputs");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// Iterative bound management never returns a clipped output when a smaller input scale
    /// (within its limits) would not clip: every output equals the exact product within the
    /// quantisation error at the scale bound management ended on. With `max_bm_res` = 16·2/126
    /// the reduction may reach 16, enough for |Wx|/α up to 16 × out_bound; larger outputs are
    /// returned clipped and counted.
    #[test]
    fn bound_management_never_returns_clipped_outputs(rows in 1usize..12, cols in 1usize..40, seed in 0u64..10_000, big in 0.5f32..30.0) {
        let d = ideal_cells_with("out_bound = 2.0\nout_noise = 0.0\nbound_management = \"iterative\"\nmax_bm_res = 8.0");
        let w = rand_matrix(rows, cols, -big, big, seed);
        let x = rand_matrix(cols, 4, -1.0, 1.0, seed + 7);
        let mut t = Tile::new(&d, rows, cols, seed);
        t.program_all(&w);
        let y = t.read(&x);
        let truth = &w * &x;
        let io = Io::new(&d);
        let (si, so) = (io.input_step().unwrap(), io.output_step().unwrap());
        for b in 0..x.ncols() {
            let alpha = x.column(b).iter().fold(0f32, |m, v| m.max(v.abs()));
            let ymax = truth.column(b).iter().fold(0f32, |m, v| m.max(v.abs())) / alpha.max(1e-12);
            // The last scale s satisfies α/s ≤ max(α, 2·max|y|/out_bound) (halving stops once it fits).
            let back = alpha.max(2.0 * ymax * alpha / 2.0) * 1.0001;
            for i in 0..rows {
                let l1: f32 = w.row(i).iter().map(|v| v.abs()).sum();
                let tol = (so / 2.0 + l1 * si / 2.0) * back + 1e-4;
                proptest::prop_assert!((y[(i, b)] - truth[(i, b)]).abs() <= tol,
                    "out {} vs exact {} (tol {})", y[(i, b)], truth[(i, b)], tol);
            }
        }
    }
}

#[test]
fn abs_max_read_of_a_subnormal_vector_is_finite_and_scales_linearly() {
    // A saturated softmax leaves output errors of ~1e-40 (subnormal in f32), whose 1/α
    // overflows; such a read once returned NaN and killed every hidden layer under DFA.
    let d = ideal_cells_with("out_noise = 0.0\nnoise_management = \"abs-max\"");
    let w = rand_matrix(3, 4, -1.0, 1.0, 7);
    let x = rand_matrix(4, 1, -1.0, 1.0, 8);
    let tiny = 1e-40f32;
    assert!(tiny.is_subnormal() && (1.0 / tiny).is_infinite());
    let mut t = Tile::new(&d, 3, 4, 1);
    t.program_all(&w);
    let big = t.read(&x);
    let small = t.read(&x.map(|v| v * tiny));
    for (s, b) in small.iter().zip(big.iter()) {
        assert!(s.is_finite(), "{small}");
        // Rounding of the scaled-back product in subnormal range: relative error up to 1e-3.
        assert!(
            (s / tiny - b).abs() <= 1e-3 * b.abs().max(1.0),
            "{s} vs {b}·{tiny}"
        );
    }
}

#[test]
fn bound_management_recovers_a_saturating_read() {
    let periph = "out_bound = 1.0\nout_noise = 0.0";
    let x = DMatrix::from_element(8, 1, 1.0f32);
    let w = DMatrix::from_element(1, 8, 1.0f32);
    let mut with = Tile::new(
        &ideal_cells_with(&format!("{periph}\nbound_management = \"iterative\"")),
        1,
        8,
        1,
    );
    with.program_all(&w);
    let y = with.read(&x)[0];
    // |Wx| = 8 against out_bound 1: read at scale 1/16 the input 1/16 sits between DAC levels
    // (step 2/126), so the error bound is (ADC step/2 + 8·DAC step/2)·16.
    let io = Io::new(&ideal_cells_with(periph));
    let tol = (io.output_step().unwrap() / 2.0 + 8.0 * io.input_step().unwrap() / 2.0) * 16.0;
    assert!(
        (y - 8.0).abs() <= tol && y > 4.0,
        "iterative bound management should read 8 ± {tol}, got {y}"
    );
    assert_eq!(with.counters().bm_rereads, 4, "{:?}", with.counters());
    assert_eq!(with.counters().saturated_reads, 0);
    let mut without = Tile::new(
        &ideal_cells_with(&format!("{periph}\nbound_management = \"none\"")),
        1,
        8,
        1,
    );
    without.program_all(&w);
    assert!(
        (without.read(&x)[0] - 1.0).abs() < 1e-6,
        "without it the output clips at the bound"
    );
}

/// A constant-step device with no device-to-device variation and wide bounds.
fn clean_constant_step(extra: &str) -> Device {
    dev(&format!(
        "name = \"c\"\n[response]\nmodel = \"constant-step\"\ndw_min = 0.001\ndw_min_dtod = 0.0\nup_down_dtod = 0.0\nw_min_dtod = 0.0\nw_max_dtod = 0.0\nw_min = -100.0\nw_max = 100.0\n{extra}\n[periphery]\nperfect = true\n"
    ))
}

#[test]
fn expected_pulse_update_is_lr_x_d_with_the_right_signs() {
    // Without step noise every coincidence moves a cell by exactly dw_min, so the change per
    // update is dw_min·Binomial(BL, p_i p_j) with mean lr|x_j d_i|.
    let d = clean_constant_step("dw_min_std = 0.0");
    let (lr, k) = (0.01f32, 4000usize);
    let x = DMatrix::from_column_slice(4, 1, &[0.2, 0.5, -0.7, 1.0]);
    let e = DMatrix::from_column_slice(3, 1, &[0.1, -0.3, -0.8]);
    let mut t = Tile::new(&d, 3, 4, 11);
    for _ in 0..k {
        t.pulse_update(&x, &e, lr);
    }
    let w = t.inspect_weights();
    // BL = ⌈lr·x_max·d_max/dw_min⌉ = 8 and update management balances p_max = 1.
    let bl = 8.0f64;
    let (xm, dm) = (1.0f64, 0.8f64);
    let a = (lr as f64 / (0.001 * bl)).sqrt() * (xm / dm).sqrt();
    let b = (lr as f64 / (0.001 * bl)).sqrt() / (xm / dm).sqrt();
    for i in 0..3 {
        for j in 0..4 {
            let expect = -(lr as f64) * e[i] as f64 * x[j] as f64;
            let p = (a * (e[i] as f64).abs()).min(1.0) * (b * (x[j] as f64).abs()).min(1.0);
            let sd = 0.001 * (bl * p * (1.0 - p)).sqrt() / (k as f64).sqrt();
            let got = w[(i, j)] as f64 / k as f64;
            // 5σ, plus the f32 rounding of 4000 accumulated steps.
            assert!(
                (got - expect).abs() <= 5.0 * sd + 5e-4 * expect.abs(),
                "cell ({i},{j}): {got} vs {expect} ± {sd}"
            );
            assert_eq!(got.signum(), expect.signum(), "sign of cell ({i},{j})");
        }
    }
}

#[test]
fn asymmetry_biases_alternating_updates_in_its_direction() {
    let (x, e) = (
        DMatrix::from_element(1, 1, 1.0f32),
        DMatrix::from_element(1, 1, 0.5f32),
    );
    let neg_e = -&e;
    for (up_down, sign) in [(0.2, 1.0f32), (-0.2, -1.0)] {
        let d = clean_constant_step(&format!("dw_min_std = 0.0\nup_down = {up_down}"));
        let mut t = Tile::new(&d, 1, 1, 3);
        for _ in 0..2000 {
            t.pulse_update(&x, &e, 0.01);
            t.pulse_update(&x, &neg_e, 0.01);
        }
        let w = t.inspect_weights()[0];
        // Equal numbers of up and down coincidences in expectation: the net is ≈ 2000·5·(±0.4)·dw_min.
        assert_eq!(w.signum(), sign, "up_down {up_down} gave {w}");
        assert!(w.abs() > 1.0, "up_down {up_down}: drift {w} is too small");
    }
}

#[test]
fn constant_step_crosses_its_range_in_states_pulses() {
    // The constant-step preset without device-to-device variation, c2c noise kept.
    let d = dev(&Device::load("constant-step")
        .map(|d| toml::to_string(&d.spec()).unwrap())
        .unwrap()
        .replace("dw_min_dtod = 0.3", "dw_min_dtod = 0.0")
        .replace("w_min_dtod = 0.3", "w_min_dtod = 0.0")
        .replace("w_max_dtod = 0.3", "w_max_dtod = 0.0"));
    let states = d.states();
    let mut t = Tile::new(&d, 1, 200, 9);
    t.program_all(&DMatrix::from_element(1, 200, -0.6));
    let mut crossed = vec![0usize; 200];
    for p in 1..=(2.0 * states) as usize {
        t.pulse_all(true);
        let w = t.inspect_weights();
        for (c, v) in crossed.iter_mut().zip(w.iter()) {
            if *c == 0 && *v >= 0.6 - 1e-6 {
                *c = p;
            }
        }
    }
    assert!(
        crossed.iter().all(|&c| c > 0),
        "some cells never reached the upper bound"
    );
    let mean = crossed.iter().sum::<usize>() as f64 / 200.0;
    assert!(
        (mean - states).abs() <= 0.1 * states,
        "mean pulses {mean} vs states {states}"
    );
}

#[test]
fn drift_without_updates_follows_the_power_law() {
    let d = clean_constant_step(
        "dw_min_std = 0.0\n[drift]\nmodel = \"power-law\"\nt0_s = 20.0\nnu_mean = 0.06",
    );
    let mut t = Tile::new(&d, 4, 5, 1);
    let w0 = rand_matrix(4, 5, -0.5, 0.5, 4);
    t.program_all(&w0);
    let t_prog = t.device_states()[0].t_prog_s;
    for dt in [1.0, 3600.0, 86_400.0, 3.15e7] {
        t.advance(dt);
        let elapsed = t.now_s() - t_prog;
        let f = ((elapsed + 20.0) / 20.0).powf(-0.06) as f32;
        assert_close(&t.inspect_weights(), &(&w0 * f), 1e-5);
    }
}

#[test]
fn leak_follows_its_exponential_and_composes() {
    let d = clean_constant_step("dw_min_std = 0.0\n[leak]\nlifetime_s = 10.0");
    let w0 = rand_matrix(3, 3, -0.5, 0.5, 8);
    let mut a = Tile::new(&d, 3, 3, 2);
    let mut b = Tile::new(&d, 3, 3, 2);
    a.program_all(&w0);
    b.program_all(&w0);
    a.advance(5.0);
    b.advance(2.0);
    b.advance(3.0);
    let expect = &w0 * (-0.5f32).exp();
    assert_close(&a.inspect_weights(), &expect, 1e-5);
    assert_close(&b.inspect_weights(), &expect, 1e-5);
}

fn binomial_ok(count: usize, n: usize, p: f64) -> bool {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    (count as f64 - mean).abs() <= 5.0 * sd + 1.0
}

#[test]
fn stuck_cells_occur_at_their_rates_and_never_change() {
    let d = dev("name = \"s\"\n[failure]\nstuck_at_min_fraction = 0.1\nstuck_at_max_fraction = 0.05\nstuck_at_random_fraction = 0.02\nstuck_random_range = 0.1\n[periphery]\nperfect = true\n");
    let (rows, cols) = (100, 200);
    let mut t = Tile::new(&d, rows, cols, 21);
    let n = rows * cols;
    let classify = |t: &Tile| {
        let (mut lo, mut hi, mut rnd) = (0, 0, 0);
        for (s, p) in t.device_states().iter().zip(t.device_params()) {
            if s.status == Status::Stuck {
                if s.w == p.b_min {
                    lo += 1
                } else if s.w == p.b_max {
                    hi += 1
                } else {
                    assert!(s.w.abs() <= 0.1 + 1e-6);
                    rnd += 1
                }
            }
        }
        (lo, hi, rnd)
    };
    let (lo, hi, rnd) = classify(&t);
    assert!(binomial_ok(lo, n, 0.1), "stuck at min: {lo} of {n}");
    assert!(binomial_ok(hi, n, 0.05), "stuck at max: {hi} of {n}");
    assert!(binomial_ok(rnd, n, 0.02), "stuck at random: {rnd} of {n}");
    let before: Vec<(usize, f32)> = t
        .device_states()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == Status::Stuck)
        .map(|(k, s)| (k, s.w))
        .collect();
    t.program_all(&rand_matrix(rows, cols, -0.5, 0.5, 1));
    for _ in 0..20 {
        t.pulse_update(
            &rand_matrix(cols, 8, 0.0, 1.0, 2),
            &rand_matrix(rows, 8, -0.3, 0.3, 3),
            0.05,
        );
    }
    t.advance(1e6);
    for (k, w) in before {
        assert_eq!(t.device_states()[k].w, w, "stuck device {k} changed");
    }
}

#[test]
fn a_cell_stops_changing_exactly_when_its_pulses_pass_its_endurance() {
    let d = clean_constant_step("dw_min_std = 0.0\n[failure]\nendurance_median_pulses = 100.0");
    let mut t = Tile::new(&d, 2, 3, 1);
    for _ in 0..100 {
        t.pulse_all(true);
    }
    let w100 = t.inspect_weights();
    assert!(
        w100.iter().all(|v| (v - 0.1).abs() < 1e-5),
        "100 pulses of 0.001: {w100}"
    );
    assert!(t
        .device_states()
        .iter()
        .all(|s| s.status == Status::Alive && s.pulses == 100));
    t.pulse_all(true);
    t.pulse_all(false);
    assert_eq!(
        t.inspect_weights(),
        w100,
        "the 101st pulse finds the cell worn out"
    );
    assert!(t
        .device_states()
        .iter()
        .all(|s| s.status == Status::WornOut));
    assert_eq!(t.counters().worn_out, 6);
}

#[test]
fn endurance_failures_follow_the_log_normal_distribution() {
    let d = clean_constant_step(
        "dw_min_std = 0.0\n[failure]\nendurance_median_pulses = 50.0\nendurance_log_std = 0.5",
    );
    let mut t = Tile::new(&d, 50, 100, 4);
    for _ in 0..60 {
        t.pulse_all(true);
    }
    let worn = t
        .device_states()
        .iter()
        .filter(|s| s.status == Status::WornOut)
        .count();
    // P(N < 60) for ln N ~ N(ln 50, 0.5²): Φ(ln(1.2)/0.5) = Φ(0.3646) = 0.6423 (endurance is
    // rounded to whole pulses, so "passes 60" means N ≤ 59.5).
    let z = (59.5f64 / 50.0).ln() / 0.5;
    let p = 0.5 * (1.0 + erf(z / std::f64::consts::SQRT_2));
    assert!(
        binomial_ok(worn, 5000, p),
        "{worn} of 5000 worn out, expected p = {p}"
    );
}

fn erf(x: f64) -> f64 {
    // Abramowitz & Stegun 7.1.26, |error| < 1.5e-7.
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

#[test]
fn random_failures_match_the_hazard_rate_in_one_step_or_many() {
    let d = clean_constant_step(
        "dw_min_std = 0.0\n[failure]\nhazard_rate_per_s = 0.001\nhazard_state = \"min\"",
    );
    let p = 1.0 - (-0.1f64).exp();
    let mut one = Tile::new(&d, 100, 100, 5);
    one.advance(100.0);
    let mut many = Tile::new(&d, 100, 100, 6);
    for _ in 0..10 {
        many.advance(10.0);
    }
    for t in [&one, &many] {
        let failed = t
            .device_states()
            .iter()
            .filter(|s| s.status == Status::Hazard)
            .count();
        assert!(
            binomial_ok(failed, 10_000, p),
            "{failed} of 10000 failed, expected p = {p}"
        );
        assert_eq!(failed as u64, t.counters().hazard_failures);
        for (s, pr) in t.device_states().iter().zip(t.device_params()) {
            if s.status == Status::Hazard {
                assert_eq!(s.w, pr.b_min);
            }
        }
    }
}

/// Runs a fixed workload and returns every observable bit.
fn workload(name: &str, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let d = Device::load(name).unwrap();
    let (rows, cols) = (40, 600); // 600 columns: two tiles
    let mut xb = Crossbar::new(&d, rows, cols, seed);
    xb.program_all(&rand_matrix(rows, cols, -0.3, 0.3, 1));
    let mut outs = Vec::new();
    for s in 0..4 {
        let x = rand_matrix(cols, 16, 0.0, 1.0, 10 + s);
        let e = rand_matrix(rows, 16, -0.2, 0.2, 20 + s);
        outs.extend(xb.read(&x).iter().map(|v| v.to_bits()));
        xb.pulse_update(&x, &e, 0.05);
        xb.advance(10.0);
    }
    let weights = xb.inspect_weights().iter().map(|v| v.to_bits()).collect();
    (outs, weights)
}

#[test]
fn same_seed_same_bits_with_one_and_two_threads() {
    for name in ["constant-step", "pcm", "reram-es"] {
        let run = |threads: usize, seed: u64| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| workload(name, seed))
        };
        let a = run(1, 7);
        let b = run(2, 7);
        assert!(a == b, "{name}: 1 and 2 threads differ");
        let c = run(2, 8);
        assert!(
            a.1 != c.1,
            "{name}: a different seed should give different weights"
        );
    }
}

#[test]
fn operations_advance_the_clock_and_counters_and_energy_follows() {
    let d = Device::load("constant-step").unwrap();
    let (rows, cols, batch) = (6usize, 9usize, 5usize);
    let mut t = Tile::new(&d, rows, cols, 3);
    t.program_all(&rand_matrix(rows, cols, -0.3, 0.3, 1));
    let c = t.counters();
    // No programming noise: one write-verify iteration per cell.
    assert_eq!(c.programming_pulses, (rows * cols) as u64);
    let timing = &d.spec().timing;
    let t_prog = (rows * cols) as f64 * timing.program_pulse_s;
    assert!((t.now_s() - t_prog).abs() < 1e-15);

    // Small weights and inputs: no output saturates, so no bound-management re-reads.
    let x = rand_matrix(cols, batch, 0.0, 0.1, 2);
    t.read(&x);
    let c = t.counters();
    assert_eq!(c.bm_rereads, 0);
    assert_eq!(c.reads, batch as u64);
    assert_eq!(c.cells_read, (rows * cols * batch) as u64);
    assert_eq!(c.dac_conversions, (cols * batch) as u64);
    assert_eq!(c.adc_conversions, (rows * batch) as u64);
    let t_read = t_prog + batch as f64 * timing.read_s;
    assert!((t.now_s() - t_read).abs() < 1e-12);

    t.pulse_update(&x, &rand_matrix(rows, batch, -0.5, 0.5, 3), 0.1);
    let c = t.counters();
    assert_eq!(c.update_rows, batch as u64);
    assert!(c.coincidences > 0 && c.pulse_slots > 0);
    assert!((t.now_s() - (t_read + c.pulse_slots as f64 * timing.pulse_s)).abs() < 1e-12);
    // Pulses received by the cells equal programming pulses plus coincidences.
    let received: u64 = t.device_states().iter().map(|s| s.pulses as u64).sum();
    assert_eq!(received, c.programming_pulses + c.coincidences);

    let e = c.energy(&d);
    let en = &d.spec().energy;
    assert_eq!(e.array_read_j, c.cells_read as f64 * en.read_cell_j);
    assert_eq!(e.adc_j, c.adc_conversions as f64 * en.adc_step_j * 512.0); // 9 bits
    assert_eq!(e.dac_j, c.dac_conversions as f64 * en.dac_step_j * 128.0); // 7 bits
    assert_eq!(e.update_j, c.coincidences as f64 * en.pulse_j);
    assert_eq!(
        e.program_j,
        c.programming_pulses as f64 * en.program_pulse_j
    );
    assert!(
        (e.total_j()
            - (e.array_read_j + e.dac_j + e.adc_j + e.update_j + e.program_j + e.digital_j))
            .abs()
            < 1e-24
    );
}

#[test]
fn readout_returns_the_weights_within_the_read_chains_resolution() {
    // One-hot reads through a 9-bit ADC with output bound 12 resolve 24/510 per step, so
    // readout is coarse but unbiased, and it is counted like any read.
    let d = dev(&Device::load("constant-step")
        .map(|d| toml::to_string(&d.spec()).unwrap())
        .unwrap()
        .replace("out_noise = 0.06", "out_noise = 0.0"));
    let w = rand_matrix(8, 300, -0.5, 0.5, 5);
    let mut t = Tile::new(&d, 8, 300, 1);
    t.program_all(&w);
    let truth = t.inspect_weights();
    let r = t.readout();
    // abs-max noise management makes α = 1 for a one-hot input: the error is half an ADC step.
    let step = 24.0 / 510.0;
    for (a, b) in r.iter().zip(truth.iter()) {
        assert!((a - b).abs() <= step / 2.0 + 1e-6, "{a} vs {b}");
    }
    assert_eq!(t.counters().reads, 300);
}

#[test]
fn bound_management_stops_at_aihwkits_resolution_limit_and_counts_it() {
    // |Wx| = 200 against out_bound 1 needs a reduction of 256; with a 7-bit DAC and
    // max_bm_res 0.25 halving stops once the reduction passes 0.25/(2/126) ≈ 15.75, i.e. at 16,
    // and the read comes back clipped at out_bound·16.
    let d = ideal_cells_with("out_bound = 1.0\nout_noise = 0.0");
    let mut t = Tile::new(&d, 1, 200, 1);
    t.program_all(&DMatrix::from_element(1, 200, 1.0f32));
    let y = t.read(&DMatrix::from_element(200, 1, 1.0f32))[0];
    assert!(
        (y - 16.0).abs() < 1e-4,
        "clipped at out_bound·16 = 16, got {y}"
    );
    let c = t.counters();
    assert_eq!(c.saturated_reads, 1);
    assert_eq!(c.bm_rereads, 4);
}
