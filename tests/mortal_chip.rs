//! The mortal chip's physics and countermeasures: drift during training in closed form, endurance
//! and hazard streams that leave every other draw alone, spare lines (remapping a unit whose cells
//! have failed), and refresh of drifted cells.
//!
//! Everything here runs on devices without device-to-device or cycle-to-cycle variation and with
//! perfect periphery, so that the expected values are exact (up to f32 rounding where stated).

use mortalsim::crossbar::{Crossbar, Status};
use mortalsim::device::{Device, DeviceError};
use mortalsim::net::{Activation, Chip, NetSpec};
use nalgebra::{DMatrix, DVector};
use rand::{RngExt, SeedableRng};

fn dev(src: &str) -> Device {
    Device::from_toml(src, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn rand_matrix(rows: usize, cols: usize, lo: f32, hi: f32, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

/// A constant-step cell without any variation (every coincidence moves it by exactly 0.001),
/// wide bounds, perfect periphery with `periphery` added, and further `sections`.
fn clean(periphery: &str, sections: &str) -> Device {
    dev(&format!(
        "name = \"c\"\n[response]\nmodel = \"constant-step\"\ndw_min = 0.001\ndw_min_dtod = 0.0\n\
         dw_min_std = 0.0\nup_down_dtod = 0.0\nw_min_dtod = 0.0\nw_max_dtod = 0.0\n\
         w_min = -100.0\nw_max = 100.0\n[periphery]\nperfect = true\n{periphery}\n{sections}\n"
    ))
}

/// A unit column vector of length `n` with 1 at `i`.
fn unit(n: usize, i: usize) -> DMatrix<f32> {
    let mut v = DMatrix::zeros(n, 1);
    v[i] = 1.0;
    v
}

fn drift_factor(elapsed: f64, t0: f64, nu: f64) -> f64 {
    ((elapsed + t0) / t0).powf(-nu)
}

fn assert_rel(got: f32, want: f64, rel: f64, what: &str) {
    assert!(
        (got as f64 - want).abs() <= rel * want.abs().max(1e-6),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn drift_during_training_follows_the_closed_form_between_pulses() {
    let (t0, nu) = (20.0, 0.06);
    let d = clean(
        "",
        &format!("[drift]\nmodel = \"power-law\"\nt0_s = {t0}\nnu_mean = {nu}\nnu_std = 0.0"),
    );
    let mut xb = Crossbar::new(&d, 2, 2, 3);
    xb.program_all(&DMatrix::from_row_slice(2, 2, &[0.3, -0.2, 0.1, 0.4]));
    // lr·|x|·|d| = dw_min: a bit length of 1 with probability 1, so exactly one coincidence at
    // the cell where x and d are both non-zero, and none elsewhere.
    let lr = 0.001;
    let pulse =
        |xb: &mut Crossbar, i: usize, j: usize| xb.pulse_update(&unit(2, j), &unit(2, i), lr);
    pulse(&mut xb, 0, 0);
    let st = xb.tiles()[0].device_states()[0];
    let (t1, w1) = (st.t_prog_s, st.w as f64);
    assert_eq!(st.pulses, 2, "one programming pulse and one update pulse");
    assert_rel(xb.inspect_weights()[(0, 0)], w1, 1e-7, "weight at t1");
    // Time passes with reads and with updates of another cell; cell (0, 0) only drifts.
    for (k, dt) in [1.0, 100.0, 1.0e4, 1.0e6].into_iter().enumerate() {
        xb.read(&rand_matrix(2, 3, -1.0, 1.0, k as u64));
        pulse(&mut xb, 1, 1);
        xb.advance(dt);
        let st = xb.tiles()[0].device_states()[0];
        assert_eq!(
            st.t_prog_s, t1,
            "the clock of an unpulsed cell does not restart"
        );
        assert_eq!(st.pulses, 2);
        let want = w1 * drift_factor(xb.now_s() - t1, t0, nu);
        assert_rel(xb.inspect_weights()[(0, 0)], want, 2e-6, "drifted weight");
        // The pulsed neighbour restarted its clock at its pulse.
        let other = xb.tiles()[0].device_states()[3];
        assert!(other.t_prog_s > t1 && other.t_prog_s + dt <= xb.now_s() * (1.0 + 1e-12));
    }
    // A new pulse: the cell steps from its drifted value and its clock restarts there.
    pulse(&mut xb, 0, 0);
    let st = xb.tiles()[0].device_states()[0];
    let t2 = st.t_prog_s;
    assert!(t2 > t1);
    let before = w1 * drift_factor(t2 - t1, t0, nu);
    assert_rel(
        st.w,
        before - 0.001,
        2e-6,
        "the step applies to the drifted value",
    );
    let w2 = st.w as f64;
    xb.advance(5.0e5);
    let want = w2 * drift_factor(xb.now_s() - t2, t0, nu);
    assert_rel(
        xb.inspect_weights()[(0, 0)],
        want,
        2e-6,
        "drift after the new pulse",
    );
}

#[test]
fn a_float_updated_cell_wears_out_at_its_endurance_too() {
    // Exact float updates (the ideal model) count one pulse per update and cell.
    let d = dev(
        "name = \"f\"\n[response]\nmodel = \"ideal\"\nw_min = -1e30\nw_max = 1e30\n\
                 [periphery]\nperfect = true\n[update]\npulse_type = \"none\"\n\
                 [failure]\nendurance_median_pulses = 3.0\nworn_out_state = \"current\"\n",
    );
    let mut xb = Crossbar::new(&d, 2, 3, 1);
    xb.program_all(&DMatrix::from_element(2, 3, 0.5f32));
    let (x, e) = (
        DMatrix::from_element(3, 1, 1.0f32),
        DMatrix::from_element(2, 1, 1.0f32),
    );
    xb.pulse_update(&x, &e, 0.1);
    xb.pulse_update(&x, &e, 0.1);
    let w = xb.inspect_weights();
    assert!(w.iter().all(|v| (v - 0.3).abs() < 1e-6), "{w}");
    xb.pulse_update(&x, &e, 0.1);
    assert_eq!(
        xb.inspect_weights(),
        w,
        "the third update finds them worn out"
    );
    assert_eq!(xb.counters().worn_out, 6);
    assert!(xb.tiles()[0]
        .device_states()
        .iter()
        .all(|s| s.status == Status::WornOut));
}

/// A fixed workload on a two-tile crossbar; returns every observable bit.
fn workload(d: &Device, seed: u64) -> (Vec<u32>, Vec<u32>, String) {
    let (rows, cols) = (40, 600);
    let mut xb = Crossbar::new(d, rows, cols, seed);
    xb.program_all(&rand_matrix(rows, cols, -0.3, 0.3, 1));
    let mut outs = Vec::new();
    for s in 0..4 {
        let x = rand_matrix(cols, 16, 0.0, 1.0, 10 + s);
        let e = rand_matrix(rows, 16, -0.2, 0.2, 20 + s);
        outs.extend(xb.read(&x).iter().map(|v| v.to_bits()));
        xb.pulse_update(&x, &e, 0.05);
        xb.advance(10.0);
    }
    outs.extend(xb.readout().iter().map(|v| v.to_bits()));
    let w = xb.inspect_weights();
    (
        outs,
        w.iter().map(|v| v.to_bits()).collect(),
        format!("{:?} {:?}", xb.counters(), xb.failed_devices()),
    )
}

/// The PCM preset (drift, read and programming noise, refresh, one-sided pairs) with its
/// `[failure]` and `[periphery]` lines edited.
fn pcm_with(failure: &str, periphery: &str) -> Device {
    let src = toml::to_string(&Device::load("pcm").unwrap().spec()).unwrap();
    let src = src.replacen("[failure]\n", &format!("[failure]\n{failure}"), 1);
    let src = src.replacen("[periphery]\n", &format!("[periphery]\n{periphery}"), 1);
    // Later keys of the same name would be duplicates: drop the resolved ones we override.
    let mut seen = std::collections::HashSet::new();
    let lines: Vec<&str> = src
        .lines()
        .filter(|l| {
            if l.starts_with('[') {
                seen.clear();
            }
            let key = l.split('=').next().unwrap_or("").trim();
            key.is_empty() || l.starts_with('[') || seen.insert(key.to_string())
        })
        .collect();
    dev(&lines.join("\n"))
}

#[test]
fn no_spare_lines_changes_nothing() {
    // Finite endurance, so that cells wear out in the workload and the spare check would run.
    let failure = "endurance_median_pulses = 30.0\nendurance_log_std = 0.5\n";
    let without = pcm_with(failure, "");
    let with_zero = pcm_with(
        failure,
        "spare_lines_per_tile = 0\nspare_remap_failed_fraction = 0.01\n",
    );
    assert_eq!(with_zero.spec().periphery.spare_lines_per_tile, 0);
    let a = workload(&without, 7);
    assert!(
        a.2.contains("worn_out: ") && !a.2.contains("worn_out: 0,"),
        "{}",
        a.2
    );
    assert_eq!(a, workload(&with_zero, 7));
}

#[test]
fn finite_endurance_and_a_harmless_hazard_leave_every_other_draw_unchanged() {
    // Endurance comes from its own stream and hazard draws do not advance the operation
    // counter: with failures that never happen, every bit is as without them.
    let base = pcm_with(
        "endurance_median_pulses = inf\nhazard_rate_per_s = 0.0\n",
        "",
    );
    let aged = pcm_with(
        "endurance_median_pulses = 1e9\nendurance_log_std = 1.0\nhazard_rate_per_s = 1e-15\n",
        "",
    );
    let (a, b) = (workload(&base, 3), workload(&aged, 3));
    assert!(
        b.2.contains("worn_out: 0,") && b.2.contains("hazard_failures: 0,"),
        "{}",
        b.2
    );
    assert_eq!(a, b);
    // And the endurance draws do differ from cell to cell.
    let xb = Crossbar::new(&aged, 4, 4, 1);
    let e: Vec<u32> = xb.tiles()[0]
        .device_states()
        .iter()
        .map(|s| s.endurance)
        .collect();
    assert!(e.windows(2).any(|w| w[0] != w[1]), "{e:?}");
}

/// A clean device with endurance 4 pulses (frozen when worn out) and `spares` spare lines.
fn wearing(spares: usize) -> Device {
    clean(
        &format!("spare_lines_per_tile = {spares}\nspare_remap_failed_fraction = 0.5"),
        "[failure]\nendurance_median_pulses = 4.0\nworn_out_state = \"current\"",
    )
}

#[test]
fn a_failed_line_moves_to_a_spare_keeps_its_weights_and_learns_there_until_spares_run_out() {
    let (rows, cols) = (4, 6);
    let w0 = rand_matrix(rows, cols, -0.5, 0.5, 11);
    let mut xb = Crossbar::new(&wearing(2), rows, cols, 5);
    let mut twin = Crossbar::new(&wearing(0), rows, cols, 5);
    xb.program_all(&w0);
    twin.program_all(&w0);
    assert_eq!(xb.spare_lines(), (0, 2));
    assert_eq!(xb.physical_lines(), vec![0, 1, 2, 3]);
    let xt = rand_matrix(cols, 5, -1.0, 1.0, 12);
    // Pulses on row 2 only: one coincidence per cell per update (lr·1·1 = dw_min).
    let x = DMatrix::from_element(cols, 1, 1.0f32);
    let d = unit(rows, 2);
    let step = |xb: &mut Crossbar| xb.pulse_update(&x, &d, 0.001);
    // Programming took one pulse; three updates bring every cell of row 2 to its endurance.
    for _ in 0..3 {
        step(&mut xb);
        step(&mut twin);
    }
    let before = xb.read(&xt);
    let w_before = xb.inspect_weights();
    assert_eq!(before, twin.read(&xt));
    let c0 = xb.counters();
    // The fourth finds them worn out: the line has failed and moves to the first spare.
    step(&mut xb);
    step(&mut twin);
    assert_eq!(twin.failed_devices_per_row(), vec![0, 0, cols, 0]);
    assert_eq!(xb.failed_devices_per_row(), vec![0; rows]);
    assert_eq!(xb.spare_lines(), (1, 2));
    assert_eq!(xb.physical_lines(), vec![0, 1, 4, 3]);
    // Costed: one readout of the tile (one one-hot read per column) and one write-verify
    // iteration per cell of the spare (ideal programming reaches its target at once).
    let c1 = xb.counters();
    assert_eq!(c1.spare_remaps - c0.spare_remaps, 1);
    assert_eq!(c1.reads - c0.reads, cols as u64);
    assert_eq!(c1.programming_pulses - c0.programming_pulses, cols as u64);
    assert_eq!(
        c1.cells_read - c0.cells_read,
        (cols * (rows + 2) * cols) as u64
    );
    assert_eq!(twin.counters().spare_remaps, 0);
    // The outputs are those before the failure: exactly for the other lines, and for the
    // remapped unit within programming tolerance (0 here: exact reads and programming).
    let after = xb.read(&xt);
    assert_eq!(after, before, "outputs after the remap");
    assert_eq!(after, twin.read(&xt));
    assert_eq!(xb.inspect_weights(), w_before);
    let retired: Vec<_> = xb.tiles()[0].device_states()[2 * cols..3 * cols].to_vec();
    assert!(retired
        .iter()
        .all(|s| s.status == Status::WornOut && s.pulses == 4));
    // Later updates reach the spare: row 2 learns again, and the retired line gets nothing.
    step(&mut xb);
    let w5 = xb.inspect_weights();
    for j in 0..cols {
        assert!(
            (w5[(2, j)] - (w_before[(2, j)] - 0.001)).abs() < 1e-6,
            "cell (2, {j})"
        );
        for i in [0, 1, 3] {
            assert_eq!(w5[(i, j)], w_before[(i, j)]);
        }
    }
    assert_eq!(
        &xb.tiles()[0].device_states()[2 * cols..3 * cols],
        &retired[..]
    );
    // The spare wears out too (1 programming + 3 updates), and the unit moves to the second;
    // when that one is worn out as well, no spare is left: the line stays mapped, failed.
    for _ in 0..3 {
        step(&mut xb);
    }
    assert_eq!(xb.physical_lines(), vec![0, 1, 5, 3]);
    assert_eq!(xb.spare_lines(), (2, 2));
    for _ in 0..6 {
        step(&mut xb);
    }
    assert_eq!(xb.physical_lines(), vec![0, 1, 5, 3]);
    assert_eq!(xb.failed_devices_per_row(), vec![0, 0, cols, 0]);
    assert_eq!(xb.counters().spare_remaps, 2);
    xb.advance(1.0);
    let _ = xb.read(&xt);
    let _ = xb.readout();
}

#[test]
fn lines_faulty_from_fabrication_are_replaced_at_the_first_programming() {
    // One stuck cell in 20 reaches the 5 % threshold; with 5 % stuck cells most lines are
    // faulty, and some spares are too.
    let (rows, cols, spares) = (8, 20, 8);
    let d = clean(
        &format!("spare_lines_per_tile = {spares}"),
        "[failure]\nstuck_at_random_fraction = 0.05",
    );
    let mut xb = Crossbar::new(&d, rows, cols, 2);
    let bad_before = xb
        .failed_devices_per_row()
        .iter()
        .filter(|&&f| f > 0)
        .count();
    let tile = &xb.tiles()[0];
    let healthy_spares = (rows..rows + spares)
        .filter(|&q| tile.failed_devices_in_line(q) == 0)
        .count();
    assert!(
        bad_before > 0 && healthy_spares > 0,
        "{bad_before} {healthy_spares}"
    );
    let w = rand_matrix(rows, cols, -0.5, 0.5, 4);
    xb.program_all(&w);
    let moved = bad_before.min(healthy_spares);
    assert_eq!(xb.spare_lines().0, moved);
    assert_eq!(xb.counters().spare_remaps, moved as u64);
    assert_eq!(
        xb.counters().reads,
        0,
        "nothing to copy before the first write"
    );
    let failed = xb.failed_devices_per_row();
    assert_eq!(
        failed.iter().filter(|&&f| f > 0).count(),
        bad_before - moved
    );
    let got = xb.inspect_weights();
    for (r, &f) in failed.iter().enumerate() {
        if f == 0 {
            assert_eq!(got.row(r), w.row(r), "row {r}");
        }
    }
}

/// A line's devices as (weight bits, pulse count).
type LineSnapshot = Vec<(u32, u32)>;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
    /// Whatever fails and whatever is remapped: the logical read is the logical weights times
    /// the input; lines out of service (free spares, retired lines) are never pulsed or
    /// programmed; a retired line never comes back; and the counts agree.
    #[test]
    fn reads_and_updates_never_touch_lines_out_of_service(
        rows in 1usize..7, cols in 1usize..9, spares in 0usize..4, seed in 0u64..10_000,
        steps in 1usize..10,
    ) {
        let d = clean(
            &format!("spare_lines_per_tile = {spares}\nspare_remap_failed_fraction = 0.3\nmax_tile_rows = 3\nmax_tile_cols = 4"),
            "[failure]\nendurance_median_pulses = 8.0\nendurance_log_std = 0.7\nworn_out_state = \"current\"\nhazard_rate_per_s = 0.02\nhazard_state = \"current\"\nstuck_at_random_fraction = 0.03",
        );
        let mut xb = Crossbar::new(&d, rows, cols, seed);
        let (nb, nc) = xb.grid();
        let block_rows: Vec<usize> = (0..nb).map(|b| xb.tiles()[b * nc].rows() - spares).collect();
        // Per block: the set of mapped physical lines.
        let mapped = |xb: &Crossbar| -> Vec<Vec<usize>> {
            let lines = xb.physical_lines();
            let mut out = Vec::new();
            let mut r = 0;
            for &n in &block_rows {
                out.push(lines[r..r + n].to_vec());
                r += n;
            }
            out
        };
        let snapshot = |xb: &Crossbar, b: usize, q: usize| -> LineSnapshot {
            (0..nc).flat_map(|bj| {
                let t = &xb.tiles()[b * nc + bj];
                let n = t.cols();
                t.device_states()[q * n..(q + 1) * n].iter().map(|s| (s.w.to_bits(), s.pulses)).collect::<Vec<_>>()
            }).collect()
        };
        let mut ever_mapped: Vec<std::collections::HashSet<usize>> = mapped(&xb).into_iter().map(|v| v.into_iter().collect()).collect();
        // Lines faulty from fabrication move to spares at the first programming.
        xb.program_all(&rand_matrix(rows, cols, -0.5, 0.5, seed + 1));
        for (b, lines) in mapped(&xb).into_iter().enumerate() {
            for q in lines {
                if ever_mapped[b].insert(q) {
                    proptest::prop_assert!(q >= block_rows[b]);
                }
            }
        }
        for s in 0..steps {
            let before_map = mapped(&xb);
            let before: Vec<Vec<(usize, LineSnapshot)>> = (0..nb).map(|b| {
                (0..block_rows[b] + spares).filter(|q| !before_map[b].contains(q)).map(|q| (q, snapshot(&xb, b, q))).collect()
            }).collect();
            let x = rand_matrix(cols, 2, -1.0, 1.0, seed + 10 + s as u64);
            let e = rand_matrix(rows, 2, -1.0, 1.0, seed + 20 + s as u64);
            match s % 3 {
                0 => xb.pulse_update(&x, &e, 0.01),
                1 => xb.advance(5.0),
                _ => xb.program(&[(s % rows, s % cols)], &[0.25]),
            }
            let after_map = mapped(&xb);
            for b in 0..nb {
                for (q, snap) in &before[b] {
                    if after_map[b].contains(q) {
                        // A free spare taken into service: it must be new, never a retired line.
                        proptest::prop_assert!(*q >= block_rows[b], "retired line {q} came back");
                        proptest::prop_assert!(ever_mapped[b].insert(*q));
                    } else {
                        proptest::prop_assert_eq!(&snapshot(&xb, b, *q), snap, "line {} of block {} changed out of service", q, b);
                    }
                }
            }
            let y = xb.read(&x);
            let w = xb.inspect_weights();
            let want = &w * &x;
            for (a, b) in y.iter().zip(want.iter()) {
                proptest::prop_assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{} vs {}", a, b);
            }
            let retired: usize = (0..nb).map(|b| ever_mapped[b].len() - block_rows[b]).sum();
            proptest::prop_assert_eq!(xb.spare_lines(), (retired, spares * nb));
            proptest::prop_assert_eq!(xb.counters().spare_remaps, retired as u64);
        }
    }
}

#[test]
fn refresh_undoes_a_uniform_drift_and_restarts_the_drift_clocks() {
    let (t0, nu) = (20.0, 0.05);
    let d = clean(
        "",
        &format!("[drift]\nmodel = \"power-law\"\nt0_s = {t0}\nnu_mean = {nu}\nnu_std = 0.0"),
    );
    let w = rand_matrix(5, 7, -0.5, 0.5, 3);
    let make = || Chip::with_array(Some(&d), &w, DVector::zeros(5), Activation::Identity, 9);
    let (mut chip, id) = make();
    let layer = chip.tile(id);
    layer.calibrate_drift_reference();
    layer.advance(1.0e6);
    let drifted = layer.readout();
    assert!((&drifted - &w).amax() > 0.05, "the drift should be visible");
    let c0 = layer.counters();
    layer.refresh();
    let c1 = layer.counters();
    // One readout (7 one-hot reads), one full write-verify (35 cells), one new reference (7).
    assert_eq!(c1.reads - c0.reads, 14);
    assert_eq!(c1.programming_pulses - c0.programming_pulses, 35);
    let t_refresh = layer.now_s();
    let restored = layer.readout();
    assert!(
        (&restored - &w).amax() < 1e-3,
        "{}",
        (&restored - &w).amax()
    );
    // Compensation measured right after refresh finds nothing to undo.
    assert!((layer.compensate_drift(true) - 1.0).abs() < 1e-5);
    layer.compensate_drift(false);
    // The clocks restarted at the refresh: drift now follows the power law from there (cells
    // were written microseconds apart; 1e-5 covers that and f32 rounding).
    layer.advance(1.0e6);
    let f = drift_factor(layer.now_s() - t_refresh, t0, nu) as f32;
    let later = layer.readout();
    assert!((&later - &restored * f).amax() < 1e-5 * restored.amax());
    let f_total = drift_factor(layer.now_s(), t0, nu) as f32;
    assert!(
        (&later - &w * f_total).amax() > 5e-3,
        "an unrefreshed clock would give this"
    );

    // Without a drift reference α = 1: refresh writes back the drifted weights (and still
    // restarts the clocks).
    let (mut plain_chip, id) = make();
    let plain = plain_chip.tile(id);
    plain.advance(1.0e6);
    let drifted = plain.readout();
    plain.refresh();
    assert!((plain.readout() - &drifted).amax() < 1e-6);
}

#[test]
fn layers_and_networks_report_spares_and_refresh() {
    let d = clean(
        "spare_lines_per_tile = 2\nmax_tile_rows = 3",
        "[drift]\nmodel = \"power-law\"\nnu_mean = 0.05",
    );
    let spec = NetSpec::new(vec![5, 4, 3], Activation::Relu);
    let mut chip = Chip::new(&spec, Some(&d), 1);
    let net = chip.network_mut();
    // Layer 1: 4 rows in 2 row-blocks (2 + 2), layer 2: 3 rows in one block.
    assert_eq!(net.layer(0).spare_lines(), (0, 4));
    assert_eq!(net.layer(1).spare_lines(), (0, 2));
    assert_eq!(chip.spare_lines(), (0, 6));
    let digital = Chip::new(&spec, None, 1);
    assert_eq!(digital.spare_lines(), (0, 0));
    chip.calibrate_drift_reference();
    chip.advance(1.0e5);
    let x = rand_matrix(5, 3, 0.0, 1.0, 2);
    let before = chip.counters().programming_pulses;
    chip.refresh();
    assert_eq!(chip.counters().programming_pulses - before, 5 * 4 + 4 * 3);
    let mut fresh = Chip::new(&spec, Some(&d), 1);
    let (a, b) = (
        chip.network_mut().scores(&x),
        fresh.network_mut().scores(&x),
    );
    assert!(
        (&a - &b).amax() < 1e-4,
        "refreshed network ≈ freshly programmed one"
    );
}

#[test]
fn spare_fields_are_validated_by_name() {
    for (line, field) in [
        (
            "spare_lines_per_tile = 600",
            "periphery.spare_lines_per_tile",
        ),
        (
            "spare_remap_failed_fraction = 0.0",
            "periphery.spare_remap_failed_fraction",
        ),
        (
            "spare_remap_failed_fraction = 1.5",
            "periphery.spare_remap_failed_fraction",
        ),
        (
            "spare_remap_failed_fraction = nan",
            "periphery.spare_remap_failed_fraction",
        ),
    ] {
        let src = format!("name = \"t\"\n[periphery]\n{line}\n");
        match Device::from_toml(&src, "bad.toml") {
            Err(DeviceError::Invalid(errs)) => {
                assert_eq!(errs.len(), 1, "{errs:?}");
                assert_eq!(errs[0].field.as_deref(), Some(field));
                assert_eq!(errs[0].line, Some(3));
            }
            other => panic!("{line}: expected an invalid file, got {other:?}"),
        }
    }
    let d = dev("name = \"t\"\n");
    assert_eq!(d.spec().periphery.spare_lines_per_tile, 0);
    assert_eq!(d.spec().periphery.spare_remap_failed_fraction, 0.05);
}
