//! The chip's readout (`[readout]` of a device file): one-hot reads of each column repeated and
//! averaged, through the periphery's readout mode (its own ADC bits, output bound and
//! integration time). Issue 15, "refresh hurts".
//!
//! Statistical tolerances: the standard deviation of N = 16,384 readout errors has a relative
//! standard error of 1/√(2N) ≈ 0.55 %, a ratio of two of them 0.78 %; the tolerances below (3 %
//! on a standard deviation, 4 % on a ratio) are more than 5 of those, and a factor-2 error in any
//! of the quantities is far outside them.

use mortalsim::crossbar::{Counters, Crossbar, Tile};
use mortalsim::device::Device;
use nalgebra::DMatrix;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};

fn dev(src: &str) -> Device {
    Device::from_toml(src, "test").unwrap_or_else(|e| panic!("{e}"))
}

/// Exactly programmable cells (ideal response, bounds ±1) behind the periphery `periphery` and
/// the readout section `readout` (TOML lines).
fn cells_with(periphery: &str, readout: &str) -> Device {
    dev(&format!(
        "name = \"p\"\n[response]\nmodel = \"ideal\"\nw_min = -1.0\nw_max = 1.0\n\
         [periphery]\n{periphery}\n[readout]\n{readout}\n[update]\npulse_type = \"none\"\n"
    ))
}

fn rand_matrix(rows: usize, cols: usize, lo: f32, hi: f32, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

const SIDE: usize = 128;

/// Standard deviation of (readout − true weight) over a 128 × 128 tile of weights in ±0.3.
fn readout_error_std(d: &Device, seed: u64) -> f64 {
    let w = rand_matrix(SIDE, SIDE, -0.3, 0.3, seed);
    let mut t = Tile::new(d, SIDE, SIDE, seed);
    t.program_all(&w);
    let truth = t.inspect_weights();
    let r = t.readout();
    let e: Vec<f64> = r
        .iter()
        .zip(truth.iter())
        .map(|(a, b)| (*a - *b) as f64)
        .collect();
    let mean = e.iter().sum::<f64>() / e.len() as f64;
    (e.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (e.len() - 1) as f64).sqrt()
}

/// With output noise 0.06 and a 16-bit ADC (step 3.7e-4 over ±12, negligible) the readout error
/// is the output noise: 0.06 for one read, 0.06/√n for n reads averaged.
#[test]
fn readout_error_falls_as_one_over_sqrt_n_with_a_fine_adc() {
    let periphery = "adc_bits = 16\nout_bound = 12.0\nout_noise = 0.06";
    let s1 = readout_error_std(&cells_with(periphery, "reads = 1"), 1);
    assert!(
        (s1 / 0.06 - 1.0).abs() < 0.03,
        "one read: std {s1}, expected 0.06"
    );
    for n in [4u32, 16] {
        let sn = readout_error_std(&cells_with(periphery, &format!("reads = {n}")), 1);
        let ratio = s1 / sn;
        let expected = (n as f64).sqrt();
        assert!(
            (ratio / expected - 1.0).abs() < 0.04,
            "n = {n}: std {sn}, ratio to one read {ratio}, expected √n = {expected}"
        );
    }
}

/// On the stock `idealized` periphery (out_noise 0.1, 9-bit ADC over ±20: step 0.078) a single
/// read's error is √(0.1² + 0.078²/12) = 0.1025 weight units, three times a trained MNIST
/// weight; the output noise dithers the ADC (σ/step = 1.3), so averaging still gives 1/√n.
#[test]
fn readout_error_of_the_stock_periphery_and_its_average() {
    let periphery = "adc_bits = 9\nout_bound = 20.0\nout_noise = 0.1";
    let step = 40.0 / 510.0;
    let one = (0.1f64.powi(2) + step * step / 12.0).sqrt();
    let s1 = readout_error_std(&cells_with(periphery, ""), 2);
    assert!((s1 / one - 1.0).abs() < 0.03, "std {s1}, expected {one}");
    let s16 = readout_error_std(&cells_with(periphery, "reads = 16"), 2);
    assert!(
        (s16 / (one / 4.0) - 1.0).abs() < 0.03,
        "16 reads: std {s16}, expected {}",
        one / 4.0
    );
}

/// The readout mode: a 12-bit ADC over ±1 (step 4.9e-4) and 16 integration cycles (output noise
/// 0.1/4) give an error of √(0.025² + step²/12) ≈ 0.025 from one conversion.
#[test]
fn readout_mode_has_its_own_converter_and_integration() {
    let periphery = "adc_bits = 9\nout_bound = 20.0\nout_noise = 0.1";
    let d = cells_with(
        periphery,
        "adc_bits = 12\nout_bound = 1.0\nintegration_cycles = 16.0",
    );
    let step = 2.0 / 4094.0;
    let expected = (0.025f64.powi(2) + step * step / 12.0).sqrt();
    let s = readout_error_std(&d, 3);
    assert!(
        (s / expected - 1.0).abs() < 0.03,
        "std {s}, expected {expected}"
    );
    // The forward reads keep the periphery's own settings: a one-hot forward read still has
    // the stock error (0.1025).
    let w = rand_matrix(SIDE, SIDE, -0.3, 0.3, 3);
    let mut t = Tile::new(&d, SIDE, SIDE, 3);
    t.program_all(&w);
    let truth = t.inspect_weights();
    let y = t.read(&DMatrix::identity(SIDE, SIDE));
    let e: Vec<f64> = y
        .iter()
        .zip(truth.iter())
        .map(|(a, b)| (*a - *b) as f64)
        .collect();
    let fwd = (e.iter().map(|v| v * v).sum::<f64>() / e.len() as f64).sqrt();
    let stock = (0.01f64 + (40.0f64 / 510.0).powi(2) / 12.0).sqrt();
    assert!(
        (fwd / stock - 1.0).abs() < 0.03,
        "forward std {fwd}, expected {stock}"
    );
}

/// Today's readout, as it was before the readout section: chunks of 256 one-hot columns, each
/// one forward read.
fn readout_as_before(t: &mut Tile) -> DMatrix<f32> {
    let (rows, cols) = (t.rows(), t.cols());
    let mut w = DMatrix::zeros(rows, cols);
    let mut j0 = 0;
    while j0 < cols {
        let m = 256.min(cols - j0);
        let mut x = DMatrix::zeros(cols, m);
        for q in 0..m {
            x[(j0 + q, q)] = 1.0;
        }
        w.columns_mut(j0, m).copy_from(&t.read(&x));
        j0 += m;
    }
    w
}

/// n = 1 without a readout mode is today's readout bit for bit — values, counters, clock and
/// energy —, and a section spelling out the periphery's own settings changes nothing.
#[test]
fn one_read_without_readout_mode_is_todays_readout_bit_for_bit() {
    let stock = Device::load("idealized").unwrap();
    let spelled = {
        let mut s = stock.spec().clone();
        s.readout.reads = 1;
        s.readout.adc_bits = Some(s.periphery.adc_bits);
        s.readout.out_bound = Some(s.periphery.out_bound);
        s.readout.integration_cycles = 1.0;
        Device::from_toml(&toml::to_string(&s).unwrap(), "spelled").unwrap()
    };
    let w = rand_matrix(40, 300, -0.2, 0.2, 7);
    let mut base = Tile::new(&stock, 40, 300, 7);
    base.program_all(&w);
    let mut before = base.clone();
    let mut now = base.clone();
    let expected = readout_as_before(&mut before);
    let got = now.readout();
    assert_eq!(
        got.as_slice()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        expected
            .as_slice()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    );
    let (cb, cn) = (before.counters(), now.counters());
    assert_eq!(cn.reads, cb.reads);
    assert_eq!(cn.cells_read, cb.cells_read);
    assert_eq!(cn.adc_conversions, cb.adc_conversions);
    assert_eq!(cn.digital_ops, cb.digital_ops);
    assert_eq!(now.now_s().to_bits(), before.now_s().to_bits());
    assert_eq!(
        cn.energy(&stock).total_j().to_bits(),
        cb.energy(&stock).total_j().to_bits()
    );
    assert_eq!(
        cn.latency_s(&stock).to_bits(),
        cb.latency_s(&stock).to_bits()
    );
    // The same with the periphery's settings written out in the section.
    let mut explicit = Tile::new(&spelled, 40, 300, 7);
    explicit.program_all(&w);
    assert_eq!(explicit.readout(), expected);
    // Drift compensation's one-hot reads of a whole crossbar (split over tiles) likewise.
    let small = Device::from_toml(
        &toml::to_string(&{
            let mut s = stock.spec().clone();
            s.periphery.max_tile_rows = 16;
            s.periphery.max_tile_cols = 128;
            s
        })
        .unwrap(),
        "small",
    )
    .unwrap();
    let mut a = Crossbar::new(&small, 40, 300, 9);
    a.program_all(&w);
    let mut b = a.clone();
    let e = DMatrix::identity(300, 300);
    assert_eq!(a.read_one_hot(&e), b.read(&e));
    let (ca, cb) = (a.counters(), b.counters());
    assert_eq!(
        ca.readout_reads, ca.reads,
        "every one-hot read is a readout read"
    );
    let bare = Counters {
        readout_reads: 0,
        readout_cells_read: 0,
        readout_adc_conversions: 0,
        ..ca
    };
    assert_eq!(bare, cb, "otherwise counted as the forward read");
}

/// n reads count n × the reads, cells, DAC and ADC conversions of one read, as readout reads
/// too; the clock advances n × k read cycles per column; the ADC is priced at the readout's
/// bits and the array at k cycles.
#[test]
fn n_reads_are_counted_and_priced_n_times() {
    let periphery = "adc_bits = 9\nout_bound = 20.0\nout_noise = 0.1";
    let w = rand_matrix(30, 50, -0.3, 0.3, 11);
    let measure = |readout: &str| {
        let d = cells_with(periphery, readout);
        let mut t = Tile::new(&d, 30, 50, 11);
        t.program_all(&w);
        let (c0, t0) = (t.counters(), t.now_s());
        t.readout();
        let mut c = t.counters();
        c.programming_pulses -= c0.programming_pulses;
        (d, c, t.now_s() - t0)
    };
    let (d1, one, dt1) = measure("");
    assert_eq!(one.reads, 50);
    assert_eq!(one.readout_reads, 50);
    for (n, k) in [(4u64, 1.0), (16, 1.0), (3, 8.0)] {
        let (d, c, dt) = measure(&format!(
            "reads = {n}\nadc_bits = 12\nout_bound = 1.0\nintegration_cycles = {k:?}"
        ));
        assert_eq!(c.reads, n * one.reads, "n = {n}");
        assert_eq!(c.readout_reads, n * one.reads);
        assert_eq!(c.cells_read, n * one.cells_read);
        assert_eq!(c.readout_cells_read, n * one.cells_read);
        assert_eq!(c.dac_conversions, n * one.dac_conversions);
        assert_eq!(c.adc_conversions, n * one.adc_conversions);
        assert_eq!(c.readout_adc_conversions, n * one.adc_conversions);
        assert_eq!(c.bm_rereads, 0);
        // The average: one operation per output value and read.
        assert_eq!(c.digital_ops, n * one.digital_ops + n * 30 * 50);
        let read_s = d.spec().timing.read_s;
        assert!(
            (dt - (n as f64) * k * 50.0 * read_s).abs() < 1e-12 * dt,
            "clock {dt}"
        );
        assert!((dt1 - 50.0 * read_s).abs() < 1e-15);
        let e = c.energy(&d);
        let en = &d.spec().energy;
        let adc_12 = en.adc_step_j * 4096.0;
        assert!((e.adc_j - c.adc_conversions as f64 * adc_12).abs() < 1e-9 * e.adc_j);
        let array = c.cells_read as f64 * k * en.read_cell_j;
        assert!((e.array_read_j - array).abs() < 1e-9 * array);
        let lat = c.latency_s(&d) - c.digital_ops as f64 * d.spec().timing.digital_op_s;
        assert!((lat - dt).abs() < 1e-9 * dt, "latency {lat} vs clock {dt}");
    }
    let _ = d1;
}

/// Bad readout values are errors naming the field (and `devices check` exits 2).
#[test]
fn bad_readout_values_name_the_field() {
    for (line, field) in [
        ("reads = 0", "readout.reads"),
        ("reads = -2", "readout.reads"),
        ("adc_bits = 1", "readout.adc_bits"),
        ("adc_bits = 17", "readout.adc_bits"),
        ("adc_bits = 8.5", "readout.adc_bits"),
        ("out_bound = 0.0", "readout.out_bound"),
        ("out_bound = nan", "readout.out_bound"),
        ("integration_cycles = 0.5", "readout.integration_cycles"),
        ("integration_cycles = inf", "readout.integration_cycles"),
        ("repeats = 4", "readout.repeats"),
    ] {
        let src = format!("name = \"bad\"\n[readout]\n{line}\n");
        let err = Device::from_toml(&src, "bad.toml").unwrap_err().to_string();
        assert!(err.contains(&format!("field `{field}`")), "{line}: {err}");
        assert!(err.contains("bad.toml:3:"), "{line}: {err}");
    }
    let dir = std::env::temp_dir().join(format!("mortalsim-readout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.toml");
    std::fs::write(&f, "name = \"bad\"\n[readout]\nreads = 0\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["devices", "check", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("field `readout.reads`"));
    // In an experiment file, a swept value is checked like the device field it sets.
    let e = dir.join("e.toml");
    std::fs::write(
        &e,
        "name = \"e\"\nlearners = [\"bp-oracle\"]\ndevices = [\"idealized\"]\n\
         [[sweep]]\npath = \"device.readout.reads\"\nvalues = [1, 0]\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mortalsim"))
        .args(["run", e.to_str().unwrap(), "--list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("readout.reads"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The refresh diagnostic that keeps drift clocks: the re-programmed value reads as written
/// and then drifts on at the old device's rate, not from a restarted clock.
#[test]
fn keeping_drift_clocks_continues_the_old_drift() {
    let d = dev(
        "name = \"d\"\n[response]\nmodel = \"ideal\"\nw_min = -1.0\nw_max = 1.0\n\
         [drift]\nmodel = \"power-law\"\nt0_s = 20.0\nnu_mean = 0.1\n\
         [periphery]\nperfect = true\n[update]\npulse_type = \"none\"\n",
    );
    let w = DMatrix::from_element(2, 3, 0.5f32);
    let run = |keep: bool| {
        let mut t = Tile::new(&d, 2, 3, 1);
        t.program_all(&w);
        t.advance(1000.0);
        t.set_keep_drift_clocks(keep);
        t.program_all(&w);
        t.set_keep_drift_clocks(false);
        let now = t.inspect_weights()[(0, 0)];
        t.advance(100.0);
        (now, t.inspect_weights()[(0, 0)])
    };
    let (now_kept, later_kept) = run(true);
    let (now_restarted, later_restarted) = run(false);
    assert!((now_kept - 0.5).abs() < 1e-6 && (now_restarted - 0.5).abs() < 1e-6);
    let old_rate = ((1100.0f64 + 20.0) / (1000.0 + 20.0)).powf(-0.1);
    let restarted = ((100.0f64 + 20.0) / 20.0).powf(-0.1);
    // The programming pulses take simulated time too (µs): 1e-4 relative is ample.
    assert!(
        (later_kept as f64 / 0.5 - old_rate).abs() < 1e-4,
        "{later_kept}"
    );
    assert!(
        (later_restarted as f64 / 0.5 - restarted).abs() < 1e-4,
        "{later_restarted}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// For any layer shape (split over tiles) and any number of reads n, a readout costs exactly
    /// n times the reads, cells read and conversions of a single-read readout, and with neither
    /// noise nor quantisation returns the weights whatever n (averaging is unbiased).
    #[test]
    fn readout_cost_is_linear_in_reads_and_the_average_is_exact_without_noise(
        rows in 1usize..40,
        cols in 1usize..40,
        n in 1u32..6,
        seed in 0u64..1000,
    ) {
        let tiles = "max_tile_rows = 16\nmax_tile_cols = 16";
        let noisy = |r: u32| cells_with(
            &format!("adc_bits = 9\nout_bound = 20.0\nout_noise = 0.1\n{tiles}"),
            &format!("reads = {r}"),
        );
        let w = rand_matrix(rows, cols, -0.5, 0.5, seed);
        let count = |d: &Device| {
            let mut x = Crossbar::new(d, rows, cols, seed);
            x.program_all(&w);
            let c0 = x.counters();
            x.readout();
            let c = x.counters();
            (c.reads - c0.reads, c.cells_read - c0.cells_read, c.adc_conversions - c0.adc_conversions)
        };
        let (r1, c1, a1) = count(&noisy(1));
        let (rn, cn, an) = count(&noisy(n));
        prop_assert_eq!(rn, n as u64 * r1);
        prop_assert_eq!(cn, n as u64 * c1);
        prop_assert_eq!(an, n as u64 * a1);
        let exact = cells_with(
            &format!("adc_bits = \"ideal\"\nout_bound = 20.0\nout_noise = 0.0\n{tiles}"),
            &format!("reads = {n}"),
        );
        let mut x = Crossbar::new(&exact, rows, cols, seed);
        x.program_all(&w);
        let r = x.readout();
        for (a, b) in r.iter().zip(w.iter()) {
            prop_assert!((a - b).abs() <= 1e-6, "{} vs {}", a, b);
        }
    }
}

/// The chip's readout-based operations — refresh, drift compensation's reference and factor, a
/// layer's readout (continual backprop, mirrors, L2, shrink-and-perturb, saving weights and
/// deployment all take it) — read through `[readout]`: with `reads = 3` each costs exactly 3×
/// the reads of one read, all of them readout reads; the `exact-readouts` diagnostic replaces
/// them by oracle reads.
#[test]
fn every_readout_of_the_chip_goes_through_the_readout() {
    use mortalsim::net::{Activation, Chip, Diagnostics, NetSpec};
    let spec = NetSpec::new(vec![20, 8, 5], Activation::Relu);
    let stock = Device::load("idealized").unwrap();
    let thrice = stock
        .edited("idealized+3", |s| s.readout.reads = 3)
        .unwrap();
    let cols = 20 + 8;
    let delta = |chip: &mut Chip, op: &dyn Fn(&mut Chip)| {
        let c0 = chip.counters();
        op(chip);
        let c = chip.counters();
        (
            c.reads - c0.reads,
            c.readout_reads - c0.readout_reads,
            c.oracle_reads - c0.oracle_reads,
        )
    };
    /// A named operation on the chip.
    type Op<'a> = (&'a str, &'a dyn Fn(&mut Chip));
    let ops: [Op; 4] = [
        ("calibrate", &|c: &mut Chip| c.calibrate_drift_reference()),
        ("compensate", &|c: &mut Chip| c.compensate_drift(true)),
        ("refresh", &|c: &mut Chip| c.refresh()),
        ("readout", &|c: &mut Chip| {
            let _ = c.network_mut().layer(0).readout();
        }),
    ];
    for (dev, n) in [(&stock, 1u64), (&thrice, 3)] {
        let mut chip = Chip::new(&spec, Some(dev), 4);
        for (name, op) in ops {
            let (reads, readout_reads, oracle) = delta(&mut chip, op);
            let expected = match name {
                "readout" => n * 20,
                // Refresh reads out, then re-takes the reference (calibrated above).
                "refresh" => 2 * n * cols as u64,
                _ => n * cols as u64,
            };
            assert_eq!(
                (reads, readout_reads, oracle),
                (expected, expected, 0),
                "{name}, n = {n}"
            );
        }
        chip.set_diagnostics(Diagnostics {
            exact_readouts: true,
            keep_drift_clocks: false,
        });
        let (reads, readout_reads, oracle) = delta(&mut chip, &|c: &mut Chip| c.refresh());
        assert_eq!(
            (reads, readout_reads),
            (0, 0),
            "exact readouts read nothing"
        );
        assert!(oracle > 0, "they are counted as oracle reads");
    }
}
