//! Statistics, not just means: every stochastic element of a cell and of the read chain is
//! measured — mean *and* variance — against its closed form (reference notes §2.2–§2.5).
//!
//! Tolerances. A sample variance of n Gaussian draws has a relative standard error √(2/n); with
//! n ≥ 10 000 that is ≤ 1.4 %, and the tolerances below (8–10 % on variances, 5 standard errors
//! on means) keep a correct simulator well inside while any factor-2 error in a variance (or a
//! factor √2 in a standard deviation) falls far outside. Seeds are fixed, so the tests are
//! deterministic; the margins are there so that a change of random stream does not break them.

use mortalsim::crossbar::Tile;
use mortalsim::device::Device;
use nalgebra::DMatrix;

fn dev(src: &str) -> Device {
    Device::from_toml(src, "test").unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// Mean and unbiased variance.
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, var)
}

fn assert_rel(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: measured {got}, closed form {want} (tolerance {:.0} %)",
        rel * 100.0
    );
}

/// Sample correlation of two series.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    let cov = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - ma) * (y - mb))
        .sum::<f64>()
        / (a.len() as f64 - 1.0);
    cov / (va * vb).sqrt()
}

fn weights(t: &Tile) -> Vec<f64> {
    t.inspect_weights().iter().map(|&v| v as f64).collect()
}

/// A constant-step cell with wide bounds, a perfect periphery and the given response fields
/// (every variation not named is off).
fn cell(response: &str) -> Device {
    dev(&format!(
        "name = \"c\"\n[response]\nmodel = \"constant-step\"\ndw_min = 0.01\n\
         w_min = -100.0\nw_max = 100.0\nw_min_dtod = 0.0\nw_max_dtod = 0.0\nup_down_dtod = 0.0\n\
         {response}\n[periphery]\nperfect = true\n"
    ))
}

// ---- the pulse response ---------------------------------------------------------------------

#[test]
fn cycle_to_cycle_step_noise_has_the_closed_form_spread() {
    // Δw = dw_min(1 + σξ) per pulse, drawn anew at each pulse: after k pulses from 0 the weight
    // has mean k·dw_min and variance k·(σ·dw_min)².
    let (dw, sigma) = (0.01f64, 0.3f64);
    let d = cell("dw_min_dtod = 0.0\ndw_min_std = 0.3\nwrite_noise_std = 0.0");
    let mut t = Tile::new(&d, 100, 200, 1);
    let n = 20_000f64;
    for k in 1..=10u32 {
        t.pulse_all(true);
        if k == 1 || k == 10 {
            let (m, v) = mean_var(&weights(&t));
            let k = k as f64;
            let want_var = k * (sigma * dw).powi(2);
            assert!(
                (m - k * dw).abs() <= 5.0 * (want_var / n).sqrt(),
                "mean after {k} pulses: {m} vs {}",
                k * dw
            );
            assert_rel(&format!("variance after {k} pulses"), v, want_var, 0.1);
        }
    }
    // The same spread at w = 0 for soft bounds (f(0) = 1) with multiplicative and additive noise.
    for mult in [true, false] {
        let d = dev(&format!(
            "name = \"sb\"\n[response]\nmodel = \"soft-bounds\"\ndw_min = 0.01\ndw_min_dtod = 0.0\n\
             dw_min_std = 0.3\nup_down_dtod = 0.0\nw_min = -1.0\nw_max = 1.0\nw_min_dtod = 0.0\n\
             w_max_dtod = 0.0\nmult_noise = {mult}\n[periphery]\nperfect = true\n"
        ));
        let mut t = Tile::new(&d, 100, 200, 2);
        t.pulse_all(true);
        let (m, v) = mean_var(&weights(&t));
        assert!(
            (m - dw).abs() <= 5.0 * sigma * dw / n.sqrt(),
            "soft-bounds mean {m}"
        );
        assert_rel(
            "soft-bounds one-pulse variance",
            v,
            (sigma * dw).powi(2),
            0.1,
        );
    }
}

#[test]
fn device_to_device_step_spread_is_fixed_per_cell_and_has_the_closed_form() {
    let dw = 0.01f64;
    let n = 20_000f64;
    // Normal: Δw = dw_min(1 + σ_d ξ), drawn once per cell.
    let d = cell("dw_min_dtod = 0.3\ndw_min_std = 0.0\nwrite_noise_std = 0.0");
    let mut t = Tile::new(&d, 100, 200, 3);
    t.pulse_all(true);
    let first = weights(&t);
    let (m, v) = mean_var(&first);
    assert!((m - dw).abs() <= 5.0 * 0.3 * dw / n.sqrt(), "mean step {m}");
    assert_rel("dtod step variance (normal)", v, (0.3 * dw).powi(2), 0.08);
    // The second pulse repeats each cell's own step exactly: it is the cell's, not the pulse's.
    t.pulse_all(true);
    for (a, b) in first.iter().zip(weights(&t)) {
        assert!(
            (b - 2.0 * a).abs() <= 1e-6 * a.abs().max(1e-3),
            "{a} then {b}"
        );
    }
    // Two tiles (two fabrications) have uncorrelated steps.
    let mut other = Tile::new(&d, 100, 200, 4);
    other.pulse_all(true);
    let r = correlation(&first, &weights(&other));
    assert!(r.abs() < 5.0 / n.sqrt(), "two fabrications correlate: {r}");

    // Log-normal: Δw = dw_min·exp(σ_d ξ): mean dw·e^{σ²/2}, variance dw²(e^{σ²} − 1)e^{σ²}.
    let d = cell(
        "dw_min_dtod = 0.3\ndw_min_dtod_log_normal = true\ndw_min_std = 0.0\nwrite_noise_std = 0.0",
    );
    let mut t = Tile::new(&d, 100, 200, 5);
    t.pulse_all(true);
    let (m, v) = mean_var(&weights(&t));
    let s2 = 0.09f64;
    assert_rel("log-normal mean step", m, dw * (s2 / 2.0).exp(), 0.01);
    assert_rel(
        "log-normal step variance",
        v,
        dw * dw * (s2.exp() - 1.0) * s2.exp(),
        0.07,
    );
}

#[test]
fn write_noise_is_redrawn_at_each_write_and_never_accumulates() {
    // Write noise sits on the apparent weight: σ_w = write_noise_std·dw_min, drawn anew when the
    // cell is written, not added to its state. After two pulses the variance is still σ_w² (an
    // accumulating noise would give 2σ_w²).
    let d = cell("dw_min_dtod = 0.0\ndw_min_std = 0.0\nwrite_noise_std = 2.0");
    let sw2 = (2.0f64 * 0.01).powi(2);
    let mut t = Tile::new(&d, 100, 200, 6);
    t.pulse_all(true);
    let a: Vec<f64> = weights(&t).iter().map(|v| v - 0.01).collect();
    let (m, v) = mean_var(&a);
    assert!(m.abs() <= 5.0 * (sw2 / 20_000.0).sqrt(), "mean {m}");
    assert_rel("write-noise variance", v, sw2, 0.1);
    // The devices themselves hold the exact steps.
    assert!(t.device_states().iter().all(|s| (s.w - 0.01).abs() < 1e-7));
    t.pulse_all(true);
    let b: Vec<f64> = weights(&t).iter().map(|v| v - 0.02).collect();
    assert_rel(
        "write-noise variance after a second write",
        mean_var(&b).1,
        sw2,
        0.1,
    );
    let r = correlation(&a, &b);
    assert!(
        r.abs() < 0.04,
        "write noise is not redrawn: correlation {r}"
    );
    // Programming writes too: the programmed weight carries one fresh draw.
    t.program_all(&DMatrix::from_element(100, 200, 0.3));
    let c: Vec<f64> = weights(&t).iter().map(|v| v - 0.3).collect();
    assert_rel(
        "write-noise variance after programming",
        mean_var(&c).1,
        sw2,
        0.1,
    );
}

// ---- the read chain -------------------------------------------------------------------------

/// Ideal (float) cells behind the given periphery, read noise section `read_noise`.
fn ideal_cells(periphery: &str, read_noise: &str) -> Device {
    dev(&format!(
        "name = \"p\"\n[response]\nmodel = \"ideal\"\nw_min = -1e30\nw_max = 1e30\n[periphery]\n{periphery}\n[read_noise]\n{read_noise}\n[update]\npulse_type = \"none\"\n"
    ))
}

/// Reads `x` (one vector) `batch` times in one batched read and returns, per output row, the
/// deviations from `w·x`.
fn read_deviations(t: &mut Tile, w: &DMatrix<f32>, x: &[f32], batch: usize) -> Vec<Vec<f64>> {
    let xv = DMatrix::from_column_slice(x.len(), 1, x);
    let exact = w * &xv;
    let xb = DMatrix::from_fn(x.len(), batch, |j, _| x[j]);
    let y = t.read(&xb);
    (0..w.nrows())
        .map(|i| {
            (0..batch)
                .map(|b| y[(i, b)] as f64 - exact[i] as f64)
                .collect()
        })
        .collect()
}

fn pooled(rows: &[Vec<f64>]) -> Vec<f64> {
    rows.iter().flatten().copied().collect()
}

fn matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f32> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(-0.5..0.5))
}

#[test]
fn output_noise_has_the_configured_variance_scaled_back_by_noise_management() {
    let w = matrix(8, 16, 1);
    let x: Vec<f32> = (0..16).map(|j| 0.5 * ((j as f32) * 0.7).sin()).collect();
    let alpha = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    // (noise management, ADC bits, expected variance): unquantised, σ² (no NM) or (α·σ)² (abs-max,
    // the noise is added to the output of x/α and scaled back by α); a 9-bit ADC over ±12 adds
    // its quantisation variance Δ²/12 (Δ = 24/510 computed here, σ ≫ Δ).
    let sigma = 0.1f64;
    let delta = 24.0f64 / 510.0;
    for (nm, adc, want) in [
        ("none", "\"ideal\"", sigma * sigma),
        ("abs-max", "\"ideal\"", (alpha * sigma).powi(2)),
        ("none", "9", sigma * sigma + delta * delta / 12.0),
    ] {
        let d = ideal_cells(
            &format!(
                "dac_bits = \"ideal\"\nadc_bits = {adc}\nout_bound = 12.0\nout_noise = {sigma}\n\
                 noise_management = \"{nm}\"\nbound_management = \"none\""
            ),
            "model = \"none\"",
        );
        let mut t = Tile::new(&d, 8, 16, 7);
        t.program_all(&w);
        let dev = pooled(&read_deviations(&mut t, &w, &x, 2500));
        let (m, v) = mean_var(&dev);
        assert!(
            m.abs() <= 5.0 * (want / dev.len() as f64).sqrt() + 1e-4,
            "{nm}/{adc}: mean deviation {m}"
        );
        assert_rel(
            &format!("output-noise variance ({nm}, ADC {adc})"),
            v,
            want,
            0.1,
        );
    }
}

#[test]
fn constant_and_relative_read_noise_have_their_closed_forms() {
    // Constant: y_i += σ·‖x‖·ξ. Relative: y_i += √(Σ_j (σ|w_ij|)² x_j²)·ξ.
    let w = DMatrix::from_row_slice(
        4,
        3,
        &[0.5, 0.0, 0.0, 0.0, 0.2, -0.4, -0.3, 0.3, 0.3, 0.0, 0.0, 0.0],
    );
    let x = [0.6f32, 1.2, -1.6]; // ‖x‖ = 2.088…
    let norm2: f64 = x.iter().map(|v| (*v as f64).powi(2)).sum();
    let d = ideal_cells("perfect = true", "model = \"constant\"\nstd = 0.05");
    let mut t = Tile::new(&d, 4, 3, 8);
    t.program_all(&w);
    let rows = read_deviations(&mut t, &w, &x, 5000);
    for (i, r) in rows.iter().enumerate() {
        assert_rel(
            &format!("constant read noise, row {i}"),
            mean_var(r).1,
            0.0025 * norm2,
            0.1,
        );
    }
    let d = ideal_cells("perfect = true", "model = \"relative\"\nstd = 0.1");
    let mut t = Tile::new(&d, 4, 3, 9);
    t.program_all(&w);
    let rows = read_deviations(&mut t, &w, &x, 5000);
    for (i, r) in rows.iter().enumerate() {
        let want: f64 = (0..3)
            .map(|j| (0.1 * w[(i, j)] as f64).powi(2) * (x[j] as f64).powi(2))
            .sum();
        if want == 0.0 {
            assert!(
                r.iter().all(|v| v.abs() < 1e-6),
                "row {i} of zeros is noisy"
            );
        } else {
            assert_rel(
                &format!("relative read noise, row {i}"),
                mean_var(r).1,
                want,
                0.1,
            );
        }
    }
}

#[test]
fn pcm_read_noise_follows_the_one_over_f_law_in_conductance_and_time() {
    // σ = |w|·Q_s·√(ln((t + t_r)/(2 t_r))), Q_s = min(0.0088/ĝ^0.65, 0.2), ĝ = G/g_max,
    // t = time since programming + t₀. Here w_scale = 1, g ∈ [0, 25] µS: ĝ = |w|.
    let d = dev(
        "name = \"pcm-read\"\n[response]\nmodel = \"constant-step\"\nw_min = -1.0\n\
         w_max = 1.0\nw_min_dtod = 0.0\nw_max_dtod = 0.0\n[conductance]\ng_min_us = 0.0\n\
         g_max_us = 25.0\n[read_noise]\nmodel = \"pcm\"\nt_read_s = 250e-9\n[drift]\nt0_s = 20.0\n\
         [periphery]\nperfect = true\n",
    );
    let targets = [0.1f32, 0.5, 1.0];
    let w = DMatrix::from_column_slice(3, 1, &targets);
    let mut t = Tile::new(&d, 3, 1, 10);
    t.program_all(&w);
    let sigma = |wv: f64, since: f64| {
        let q = (0.0088 / wv.powf(0.65)).min(0.2);
        let tt = since + 20.0;
        wv * q * ((tt + 250e-9) / (2.0 * 250e-9)).ln().sqrt()
    };
    let mut stds = Vec::new();
    for advance in [0.0, 1e6] {
        t.advance(advance);
        let since = t.now_s() - t.device_states()[0].t_prog_s;
        let rows = read_deviations(&mut t, &w, &[1.0], 10_000);
        for (i, r) in rows.iter().enumerate() {
            let want = sigma(targets[i] as f64, since).powi(2);
            assert_rel(
                &format!("PCM read noise at w = {}, {since:.3e} s", targets[i]),
                mean_var(r).1,
                want,
                0.08,
            );
        }
        stds.push(mean_var(&rows[1]).1.sqrt());
    }
    assert!(
        stds[1] > 1.15 * stds[0],
        "1/f noise grows with time: {stds:?}"
    );
}

#[test]
fn programming_noise_and_the_write_verify_residual_have_their_closed_forms() {
    let prog = |section: &str| {
        dev(&format!(
            "name = \"prog\"\n[response]\nmodel = \"constant-step\"\nw_min = -1.0\nw_max = 1.0\n\
             w_min_dtod = 0.0\nw_max_dtod = 0.0\n[conductance]\ng_min_us = 0.0\ng_max_us = 25.0\n\
             [programming]\n{section}\n[periphery]\nperfect = true\n"
        ))
    };
    let n = 10_000usize;
    let residual = |d: &Device, target: f32, seed: u64| {
        let mut t = Tile::new(d, 100, 100, seed);
        t.program_all(&DMatrix::from_element(100, 100, target));
        let r: Vec<f64> = weights(&t).iter().map(|v| v - target as f64).collect();
        (r, t.counters().programming_pulses)
    };
    // Tolerance 0: every cell spends all its iterations and keeps the last draw, N(0, σ²).
    // Constant σ, relative σ·|target|, and aihwkit's PCM polynomial
    // σ = (c₀ + c₁ĝ + c₂ĝ²) µS·g_max/25 over g_max − g_min, ĝ = 0.5 here.
    let pcm_sigma = (0.26348 + 1.9650 * 0.5 - 1.1731 * 0.25) / 25.0;
    for (section, target, sigma) in [
        ("noise = \"constant\"\nstd = 0.05", 0.3f32, 0.05f64),
        ("noise = \"relative\"\nstd = 0.1", -0.5, 0.05),
        ("noise = \"pcm\"", 0.5, pcm_sigma),
    ] {
        let d = prog(&format!(
            "{section}\nverify_tolerance = 0.0\nmax_iterations = 4"
        ));
        let (r, pulses) = residual(&d, target, 11);
        assert_eq!(pulses, 4 * n as u64, "{section}: every iteration is spent");
        let (m, v) = mean_var(&r);
        assert!(
            m.abs() <= 5.0 * sigma / (n as f64).sqrt(),
            "{section}: mean {m}"
        );
        assert_rel(
            &format!("programming noise ({section})"),
            v,
            sigma * sigma,
            0.1,
        );
    }
    // Tolerance = σ: the accepted residual is N(0, σ²) truncated to ±σ, variance
    // σ²(1 − 2φ(1)/(2Φ(1) − 1)) = 0.29112·σ²; attempts are geometric with p = 2Φ(1) − 1 =
    // 0.682689, capped at 10: mean (1 − (1 − p)¹⁰)/p.
    let d = prog("noise = \"constant\"\nstd = 0.05\nverify_tolerance = 0.05\nmax_iterations = 10");
    let (r, pulses) = residual(&d, 0.3, 12);
    let outside = r.iter().filter(|v| v.abs() > 0.05 + 1e-6).count();
    assert!(outside <= 3, "{outside} cells outside the verify tolerance");
    assert_rel(
        "write-verify residual variance",
        mean_var(&r).1,
        0.29112 * 0.0025,
        0.08,
    );
    let p = 0.682689f64;
    let mean_attempts = pulses as f64 / n as f64;
    let want = (1.0 - (1.0 - p).powi(10)) / p;
    assert!(
        (mean_attempts - want).abs() <= 5.0 * ((1.0 - p) / (p * p) / n as f64).sqrt(),
        "mean attempts {mean_attempts} vs {want}"
    );
}

// ---- the stochastic pulse trains ------------------------------------------------------------

/// A constant-step cell without any noise or variation: each coincidence moves it by exactly
/// dw_min = 0.001, so a cell's change counts its coincidences.
fn counting_cell(update: &str) -> Device {
    dev(&format!(
        "name = \"count\"\n[response]\nmodel = \"constant-step\"\ndw_min = 0.001\ndw_min_dtod = 0.0\n\
         dw_min_std = 0.0\nup_down_dtod = 0.0\nw_min = -100.0\nw_max = 100.0\nw_min_dtod = 0.0\n\
         w_max_dtod = 0.0\n[periphery]\nperfect = true\n[update]\n{update}\n"
    ))
}

/// Runs `k` single-vector updates of an n × n tile with the given x and d and returns, per
/// update, each cell's signed coincidence count (rows × cols, row-major), checking the sign of
/// every change and the coincidence counter.
fn coincidences(dev: &Device, x: &[f32], d: &[f32], lr: f32, k: usize) -> Vec<Vec<i64>> {
    let (rows, cols) = (d.len(), x.len());
    let mut t = Tile::new(dev, rows, cols, 13);
    let xm = DMatrix::from_column_slice(cols, 1, x);
    let dm = DMatrix::from_column_slice(rows, 1, d);
    let mut out = Vec::with_capacity(k);
    let mut before = t.inspect_weights();
    for _ in 0..k {
        let c0 = t.counters().coincidences;
        t.pulse_update(&xm, &dm, lr);
        let after = t.inspect_weights();
        let mut counts = Vec::with_capacity(rows * cols);
        let mut total = 0u64;
        for i in 0..rows {
            for j in 0..cols {
                let delta = (after[(i, j)] - before[(i, j)]) as f64 / 0.001;
                let c = delta.round() as i64;
                assert!(
                    (delta - c as f64).abs() < 1e-2,
                    "{delta} is not whole steps"
                );
                // ΔW = −lr·d·x: every coincidence moves the cell against sign(x_j d_i).
                let sign = -(x[j] * d[i]).signum() as i64;
                assert!(
                    c == 0 || c.signum() == sign,
                    "cell ({i},{j}) with x {} d {} moved {c} steps",
                    x[j],
                    d[i]
                );
                total += c.unsigned_abs();
                counts.push(c.abs());
            }
        }
        assert_eq!(t.counters().coincidences - c0, total, "coincidence counter");
        out.push(counts);
        before = after;
    }
    out
}

#[test]
fn coincidence_counts_are_binomial_with_the_trains_probabilities() {
    // Fixed BL = 31, no update management: A = B = √(lr/(dw_min·BL)), and a cell coincides in a
    // slot with probability q = A|d_i|·B|x_j|; over BL independent slots its count is
    // Binomial(BL, q): mean BL·q = lr|x d|/dw_min = 2, variance BL·q(1 − q) = 1.871.
    let d =
        counting_cell("desired_bl = 31\nupdate_management = false\nupdate_bl_management = false");
    let n = 64;
    let x: Vec<f32> = (0..n)
        .map(|j| if j % 3 == 0 { -0.5 } else { 0.5 })
        .collect();
    let dv: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { 0.4 } else { -0.4 })
        .collect();
    let counts = coincidences(&d, &x, &dv, 0.01, 300);
    // Diagonal cells share neither a row nor a column train: independent samples.
    let diag: Vec<f64> = counts
        .iter()
        .flat_map(|c| (0..n).map(move |i| c[i * n + i] as f64))
        .collect();
    let bl = 31f64;
    let q = (0.01 / (0.001 * bl)) * 0.4 * 0.5;
    let (m, v) = mean_var(&diag);
    let var = bl * q * (1.0 - q);
    assert!(
        (m - bl * q).abs() <= 5.0 * (var / diag.len() as f64).sqrt(),
        "mean coincidences {m} vs {}",
        bl * q
    );
    assert_rel("coincidence variance (BL 31)", v, var, 0.08);
    // Every cell has the same mean (rows and columns are shared, but not biased).
    let all: Vec<f64> = counts.iter().flatten().map(|&c| c as f64).collect();
    assert_rel("mean over all cells", mean_var(&all).0, bl * q, 0.02);
}

#[test]
fn update_management_and_bit_length_management_give_their_binomials() {
    // lr 0.02, x_max 1, d_max 0.2, dw_min 0.001: BL = ⌈lr·x_max·d_max/dw_min⌉ = 4;
    // A = √(lr/(dw_min·BL))·√(x_max/d_max) = 5, B = √5/√5 = 1. Rows d ∈ {0.2, −0.1} fire with
    // p = 1, 0.5; columns x ∈ {1, −0.5} with p = 1, 0.5. Counts are Binomial(4, p_d·p_x).
    let d = counting_cell("desired_bl = 31\nupdate_management = true\nupdate_bl_management = true");
    let n = 40;
    let x: Vec<f32> = (0..n)
        .map(|j| if j % 2 == 0 { 1.0 } else { -0.5 })
        .collect();
    let dv: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { 0.2 } else { -0.1 })
        .collect();
    let counts = coincidences(&d, &x, &dv, 0.02, 400);
    for (pi, pj) in [(0usize, 0usize), (0, 1), (1, 0), (1, 1)] {
        let q = [1.0f64, 0.5][pi] * [1.0f64, 0.5][pj];
        // Diagonal-like cells (i, j) with i ≡ pi, j ≡ pj (mod 2), distinct rows and columns.
        let sample: Vec<f64> = counts
            .iter()
            .flat_map(|c| {
                (0..n / 2).map(move |k| {
                    let (i, j) = (2 * k + pi, 2 * ((k + pj) % (n / 2)) + pj);
                    c[i * n + j] as f64
                })
            })
            .collect();
        let (m, v) = mean_var(&sample);
        let (mean, var) = (4.0 * q, 4.0 * q * (1.0 - q));
        if var == 0.0 {
            assert!(
                sample.iter().all(|&c| c == 4.0),
                "p = 1: always 4 coincidences"
            );
            continue;
        }
        assert!(
            (m - mean).abs() <= 5.0 * (var / sample.len() as f64).sqrt(),
            "q {q}: mean {m} vs {mean}"
        );
        assert_rel(&format!("coincidence variance (q {q})"), v, var, 0.1);
    }
}

#[test]
fn one_sided_pairs_move_the_weight_against_x_times_d() {
    // A second, independent check of the update's sign, on a one-sided pair (w = g⁺ − g⁻): an
    // up move pulses g⁺, a down move g⁻. Every cell's change
    // has the sign of −x_j·d_i, its size lr·|x_j d_i| per update.
    let d = dev(
        "name = \"pair\"\n[response]\nmodel = \"constant-step\"\none_sided = true\n\
         dw_min = 0.001\ndw_min_dtod = 0.0\ndw_min_std = 0.0\nup_down_dtod = 0.0\nw_min = 0.0\n\
         w_max = 10.0\nw_min_dtod = 0.0\nw_max_dtod = 0.0\nreset = 0.0\nreset_dtod = 0.0\n\
         [periphery]\nperfect = true\n[update]\ndesired_bl = 31\n",
    );
    let (rows, cols) = (6, 8);
    let x = DMatrix::from_fn(cols, 1, |j, _| if j < 4 { 0.8f32 } else { -0.8 });
    let e = DMatrix::from_fn(rows, 1, |i, _| if i % 2 == 0 { 0.5f32 } else { -0.5 });
    let mut t = Tile::new(&d, rows, cols, 14);
    let k = 500;
    for _ in 0..k {
        t.pulse_update(&x, &e, 0.01);
    }
    let w = t.inspect_weights();
    for i in 0..rows {
        for j in 0..cols {
            let expect = -0.01 * k as f32 * x[j] * e[i];
            assert_eq!(
                w[(i, j)].signum(),
                expect.signum(),
                "cell ({i},{j}): {}",
                w[(i, j)]
            );
            // All |x| and |d| are equal: BL = 4 and update management makes p = 1 on every
            // line, so each update is exactly 4 coincidences = lr·|x d|/dw_min.
            assert!(
                (w[(i, j)] - expect).abs() <= 1e-3 * expect.abs(),
                "cell ({i},{j}): {} vs {expect}",
                w[(i, j)]
            );
        }
    }
    // Which side moved: g⁺ for cells going up, g⁻ for cells going down; the other stays at reset.
    let st = t.device_states();
    for i in 0..rows {
        for j in 0..cols {
            let (gp, gm) = (st[2 * (i * cols + j)].w, st[2 * (i * cols + j) + 1].w);
            if w[(i, j)] > 0.0 {
                assert!(gp > 0.0 && gm == 0.0, "cell ({i},{j}) up: g⁺ {gp}, g⁻ {gm}");
            } else {
                assert!(
                    gm > 0.0 && gp == 0.0,
                    "cell ({i},{j}) down: g⁺ {gp}, g⁻ {gm}"
                );
            }
        }
    }
}
