//! One physical tile: an array of cells with its periphery and its clock.
//!
//! The tile offers only physical operations: [`Tile::read`] (forward, batched), [`Tile::pulse_update`]
//! (the parallel rank-1 stochastic pulse update), [`Tile::program`] (write-and-verify),
//! [`Tile::readout`] (one-hot forward reads) and [`Tile::advance`] (time passes). There is no
//! transposed read. Cells live in flat arrays: per device (one per weight, or two for one-sided
//! pairs) its fabrication parameters and its state, plus a cache of the apparent weight of every
//! cell that the read multiplies with.
//!
//! Time-dependent physics (drift, leak, random failures) is integrated in closed form over the
//! time elapsed since the last settlement, which happens at every update, programming and
//! `advance`: reads between two updates see the chip as it was at the last of them.

use super::cells::{Cells, Devices, Physics};
use super::cost::Counters;
use super::periphery;
use super::pulse::{train, TrainPlan};
use crate::device::drift;
use crate::device::failure::{self, Fabrication};
use crate::device::noise;
use crate::device::response::{CellParams, Response};
use crate::device::{Device, PulseType, Shape};
use crate::random::normal as gauss;
use crate::random::{purpose, stream};
use nalgebra::DMatrix;
use rand::{Rng, RngExt};
use rayon::prelude::*;
use std::sync::Arc;

/// Condition of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Working.
    Alive,
    /// Stuck since fabrication.
    Stuck,
    /// Failed after its endurance was used up.
    WornOut,
    /// Failed at random (hazard).
    Hazard,
}

/// One device as a record: its changing state and its fabrication-time parameters. The tile
/// stores its devices field by field (`crossbar::cells`); a record is assembled on request
/// ([`Tile::device_states`]) for introspection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellState {
    /// Weight (or one-sided conductance) as programmed, before drift since `t_prog_s`.
    pub w: f32,
    /// Write noise on the apparent weight, drawn when the device was last written.
    pub wn: f32,
    /// Simulated time of the last programming or pulse, seconds (the drift clock). Tracked only
    /// for devices whose physics reads it (drift, PCM read noise); 0 for the others.
    pub t_prog_s: f64,
    /// Pulses received (update coincidences and programming pulses), saturating at u32::MAX.
    pub pulses: u32,
    /// Pulses this device survives (u32::MAX: unlimited; endurance above 4.29e9 counts as such).
    pub endurance: u32,
    /// Condition.
    pub status: Status,
    /// Fabrication-time parameters (device-to-device variation).
    pub params: CellParams,
}

/// A crossbar tile of `rows` outputs × `cols` inputs.
#[derive(Debug, Clone)]
pub struct Tile {
    dev: Arc<Device>,
    response: Response,
    rows: usize,
    cols: usize,
    sides: usize,
    cells: Cells,
    nu: Vec<f32>,
    tau_s: Vec<f32>,
    offset: Vec<f32>,
    weights: Vec<f32>,
    read_var: Vec<f32>,
    seed: u64,
    op: u64,
    now_s: f64,
    settled_s: f64,
    /// Time at which drift-dependent caches were last recomputed.
    drift_refreshed_s: f64,
    /// Largest drift exponent of the tile.
    nu_max: f32,
    updates: u64,
    counters: Counters,
    scratch: periphery::Scratch,
    /// Hazard intervals drawn so far: the key of their streams, apart from `op` so that random
    /// failures leave the read, update and programming streams as they were.
    hazard_draws: u64,
    /// Per output line, whether its output is sensed (empty: all are). Lines that are not
    /// sensed (free spares, retired lines) read as 0 in the array product, so their cells
    /// neither add to a unit's output nor trigger bound management, and their ADCs are idle.
    sensed: Vec<bool>,
    /// Diagnostic ([`Tile::set_keep_drift_clocks`]): programming keeps the drift clocks.
    keep_drift_clocks: bool,
}

std::thread_local! {
    /// The float update's ΔW buffer of this thread.
    static DELTA: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The pulse trains of one vector pair: its plan and, per slot, the columns (with the sign of
/// their input) that fire in it.
struct SlotPlan {
    plan: TrainPlan,
    /// The columns of slot k fire at `columns[starts[first + k]..starts[first + k + 1]]` of the
    /// batch's flat buffers (column index, input sign in bit 31).
    first: usize,
}

impl Tile {
    /// Fabricates a tile of `rows` × `cols` cells of `dev`, all randomness derived from `seed`.
    /// Cells start at weight 0 (one-sided pairs at their reset values).
    pub fn new(dev: &Device, rows: usize, cols: usize, seed: u64) -> Tile {
        Tile::with_device(Arc::new(dev.clone()), rows, cols, seed)
    }

    pub(crate) fn with_device(dev: Arc<Device>, rows: usize, cols: usize, seed: u64) -> Tile {
        let response = Response::new(&dev);
        let sides = if dev.spec.response.one_sided { 2 } else { 1 };
        let n = rows * cols * sides;
        let mut rng = stream(seed, &[purpose::FABRICATION]);
        // Endurance has its own stream: finite endurance leaves every other fabrication draw
        // as it was.
        let mut endurance_rng = stream(seed, &[purpose::ENDURANCE]);
        let fl = &dev.spec.failure;
        let mut state = Vec::with_capacity(n);
        let drift_on = drift::enabled(&dev);
        let leak = &dev.spec.leak;
        let mut nu = Vec::new();
        let mut tau_s = Vec::new();
        for _ in 0..n {
            let p = response.draw_cell(&dev, &mut rng);
            let start = if sides == 2 { p.reset } else { 0.0 };
            let mut st = CellState {
                w: start,
                wn: 0.0,
                t_prog_s: 0.0,
                pulses: 0,
                endurance: u32::MAX,
                status: Status::Alive,
                params: p,
            };
            let fab = failure::draw_fabrication(fl, &mut rng);
            if fab != Fabrication::Healthy {
                let state = match fab {
                    Fabrication::StuckMin => crate::device::FailedState::Min,
                    Fabrication::StuckMax => crate::device::FailedState::Max,
                    _ => crate::device::FailedState::Random,
                };
                st.w = failure::failed_value(
                    state,
                    start,
                    p.b_min,
                    p.b_max,
                    fl.stuck_random_range,
                    &mut rng,
                );
                st.status = Status::Stuck;
            }
            st.endurance =
                u32::try_from(failure::draw_endurance(fl, &mut endurance_rng)).unwrap_or(u32::MAX);
            if drift_on {
                let g = Some(dev.conductance_us(start as f64) / dev.spec.conductance.g_max_us)
                    .filter(|_| dev.spec.drift.model == crate::device::DriftModel::Pcm);
                nu.push(drift::draw_nu(&dev, g, &mut rng).unwrap_or(0.0));
            }
            if leak.lifetime_s.is_finite() {
                tau_s.push(
                    (leak.lifetime_s * (1.0 + leak.lifetime_dtod * gauss(&mut rng) as f64)).abs()
                        as f32,
                );
            }
            state.push(st);
        }
        let mut offset = Vec::new();
        let write_noise = response.write_noise_std() > 0.0;
        let timed = drift_on || dev.spec.read_noise.model == crate::device::ReadNoiseModel::Pcm;
        if let Shape::SoftBounds { .. } = dev.shape {
            let r = &dev.spec.response;
            let (mean, std) = (
                r.reference_mean.unwrap_or(0.0),
                r.reference_std.unwrap_or(0.0),
            );
            let sym = r.subtract_symmetry_point.unwrap_or(false);
            if mean != 0.0 || std != 0.0 || sym {
                offset = state
                    .iter()
                    .map(|st| {
                        let p = &st.params;
                        let reference = (mean + std * gauss(&mut rng) as f64) as f32;
                        reference
                            + if sym {
                                Response::symmetry_point(p)
                            } else {
                                0.0
                            }
                    })
                    .collect();
            }
        }
        let cells = Cells::from_states(&state, write_noise, timed);
        drop(state);
        let mut tile = Tile {
            dev,
            response,
            rows,
            cols,
            sides,
            cells,
            nu,
            tau_s,
            offset,
            weights: vec![0.0; rows * cols],
            read_var: Vec::new(),
            seed,
            op: 0,
            now_s: 0.0,
            settled_s: 0.0,
            drift_refreshed_s: 0.0,
            nu_max: 0.0,
            updates: 0,
            counters: Counters::default(),
            scratch: periphery::Scratch::default(),
            hazard_draws: 0,
            sensed: Vec::new(),
            keep_drift_clocks: false,
        };
        tile.nu_max = tile.nu.iter().fold(0f32, |m, v| m.max(*v));
        tile.refresh_weights();
        tile
    }

    /// Outputs (rows).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs (columns).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The device this tile is made of.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Simulated time, seconds.
    pub fn now_s(&self) -> f64 {
        self.now_s
    }

    /// Operation counts so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Devices per weight: 1, or 2 for one-sided pairs (w = g⁺ − g⁻, device 2c is g⁺).
    pub fn devices_per_cell(&self) -> usize {
        self.sides
    }

    /// Simulator introspection (tests, wear maps, checkpoints): the state of every device as
    /// a record, indexed `(row·cols + col)·devices_per_cell + side`. Not a physical operation;
    /// assembled on request from the tile's field-by-field storage.
    pub fn device_states(&self) -> Vec<CellState> {
        (0..self.cells.len()).map(|k| self.cells.state(k)).collect()
    }

    /// Simulator introspection: every device's fabrication parameters, indexed as
    /// [`Tile::device_states`].
    pub fn device_params(&self) -> impl Iterator<Item = CellParams> + '_ {
        (0..self.cells.len()).map(|k| self.cells.fabric.cell(k))
    }

    /// Number of devices (rows × cols × devices per cell).
    pub fn devices(&self) -> usize {
        self.cells.len()
    }

    /// Heap memory held by the tile's cells and caches, bytes.
    pub fn heap_bytes(&self) -> usize {
        self.cells.bytes()
            + 4 * (self.nu.capacity()
                + self.tau_s.capacity()
                + self.offset.capacity()
                + self.weights.capacity()
                + self.read_var.capacity())
            + self.sensed.capacity()
    }

    /// Fraction of devices that have failed (stuck, worn out or hazard).
    pub fn failed_fraction(&self) -> f64 {
        self.failed_devices() as f64 / self.cells.len().max(1) as f64
    }

    /// Number of devices that have failed.
    pub fn failed_devices(&self) -> usize {
        self.cells
            .status
            .iter()
            .filter(|s| **s != Status::Alive)
            .count()
    }

    /// Number of failed devices on output line `row` (its `cols × devices_per_cell` devices).
    pub fn failed_devices_in_line(&self, row: usize) -> usize {
        let n = self.cols * self.sides;
        self.cells.status[row * n..(row + 1) * n]
            .iter()
            .filter(|s| **s != Status::Alive)
            .count()
    }

    /// Cells that have failed so far by wearing out or at random (the events after which a
    /// controller's fault map changes; fabrication faults are known from the start).
    pub fn failure_events(&self) -> u64 {
        self.counters.worn_out + self.counters.hazard_failures
    }

    /// Whether output line `row` is sensed (see [`Tile::set_line_sensed`]).
    pub fn is_sensed(&self, row: usize) -> bool {
        self.sensed.get(row).copied().unwrap_or(true)
    }

    /// Number of sensed output lines.
    pub fn sensed_lines(&self) -> usize {
        if self.sensed.is_empty() {
            self.rows
        } else {
            self.sensed.iter().filter(|&&s| s).count()
        }
    }

    /// Puts output line `row` in or out of service. A line out of service (a free spare or a
    /// retired line) is not sensed: it contributes 0 to reads (its ADC result is discarded
    /// and uncounted, and it cannot trigger bound management); its cells still sit on the
    /// driven columns and are counted in `cells_read`. The caller must not pulse or program
    /// it. Not a physical operation on the cells: no time passes.
    pub fn set_line_sensed(&mut self, row: usize, on: bool) {
        assert!(row < self.rows, "set_line_sensed: line {row} out of range");
        if self.sensed.is_empty() {
            if on {
                return;
            }
            self.sensed = vec![true; self.rows];
        }
        self.sensed[row] = on;
        let ph = self.physics();
        let fresh: Vec<f32> = (row * self.cols..(row + 1) * self.cols)
            .map(|c| if on { self.cell_weight(&ph, c) } else { 0.0 })
            .collect();
        self.weights[row * self.cols..(row + 1) * self.cols].copy_from_slice(&fresh);
    }

    /// The true apparent weights, row-major: the privileged view that only the `bp-oracle`
    /// reference may use. Counted as an oracle read, impossible on this hardware.
    pub fn privileged_true_weights(&mut self, _key: &super::OracleKey) -> DMatrix<f32> {
        self.counters.oracle_reads += 1;
        DMatrix::from_row_slice(self.rows, self.cols, &self.weights)
    }

    /// Counts one oracle read (see [`Tile::privileged_true_weights`]) for a product computed
    /// on [`Tile::line_weights`] by the crossbar.
    pub(super) fn count_oracle_read(&mut self, _key: &super::OracleKey) {
        self.counters.oracle_reads += 1;
    }

    /// The cached apparent weights of physical line `line` (cols values).
    pub(super) fn line_weights(&self, line: usize) -> &[f32] {
        &self.weights[line * self.cols..(line + 1) * self.cols]
    }

    /// The apparent weights as the simulator knows them, row-major, without counting anything:
    /// introspection for metrics (mean |w|, wear maps), not an operation of the chip.
    pub fn inspect_weights(&self) -> DMatrix<f32> {
        DMatrix::from_row_slice(self.rows, self.cols, &self.weights)
    }

    /// Lets `dt_s` seconds of simulated time pass: drift, leak and random failures act.
    pub fn advance(&mut self, dt_s: f64) {
        assert!(
            dt_s >= 0.0 && dt_s.is_finite(),
            "advance: dt must be finite and ≥ 0"
        );
        self.now_s += dt_s;
        self.settle();
    }

    /// Moves the clock forward to `t_s` without settling (tiles of one crossbar stay in step).
    pub(crate) fn sync_clock(&mut self, t_s: f64) {
        if t_s > self.now_s {
            self.now_s = t_s;
        }
    }

    fn next_op(&mut self) -> u64 {
        self.op += 1;
        self.op
    }

    /// Apparent weight of cell `c` now.
    fn cell_weight(&self, ph: &Physics<'_>, c: usize) -> f32 {
        let off = self.offset.get(c).copied().unwrap_or(0.0);
        ph.apparent(&self.cells, &self.nu, c, self.sides, off)
    }

    fn physics(&self) -> Physics<'_> {
        Physics {
            dev: &self.dev,
            response: &self.response,
            now_s: self.now_s,
            drift_t0: self.dev.spec.drift.t0_s,
        }
    }

    /// Recomputes every cached apparent weight (and per-cell read-noise variance).
    fn refresh_weights(&mut self) {
        let ph = self.physics();
        let w: Vec<f32> = (0..self.rows * self.cols)
            .into_par_iter()
            .with_min_len(4096)
            .map(|c| {
                if self.is_sensed(c / self.cols) {
                    self.cell_weight(&ph, c)
                } else {
                    0.0
                }
            })
            .collect();
        self.weights = w;
        self.drift_refreshed_s = self.now_s;
        self.refresh_read_var();
    }

    /// Whether time-dependent caches (drift, PCM read noise) are stale by more than f32
    /// resolution: their relative change over Δt is at most ν_max·Δt/t₀ (drift) or Δt/t₀.
    fn drift_due(&self) -> bool {
        let time_dependent = !self.nu.is_empty()
            || self.dev.spec.read_noise.model == crate::device::ReadNoiseModel::Pcm;
        let rate = (self.nu_max as f64).max(1.0) / self.dev.spec.drift.t0_s;
        time_dependent && (self.now_s - self.drift_refreshed_s) * rate > 1e-7
    }

    fn refresh_read_var(&mut self) {
        if !noise::read_noise_per_cell(&self.dev) {
            return;
        }
        let dev = &self.dev;
        let now = self.now_s;
        self.read_var = (0..self.rows * self.cols)
            .into_par_iter()
            .with_min_len(4096)
            .map(|c| {
                let k = c * self.sides;
                let since = now - self.cells.t_prog_s(k);
                let s = noise::read_std(dev, self.weights[c], since);
                s * s
            })
            .collect();
    }

    /// Brings the cells to the current time: leak and random failures over the elapsed interval,
    /// then the drifted weights.
    fn settle(&mut self) {
        let dt = self.now_s - self.settled_s;
        if dt <= 0.0 {
            return;
        }
        self.settled_s = self.now_s;
        let mut changed = self.drift_due();
        if !self.tau_s.is_empty() {
            let cells = &mut self.cells;
            for (k, tau) in self.tau_s.iter().enumerate() {
                if cells.status[k] == Status::Alive && *tau > 0.0 {
                    let r = cells.fabric.reset(k);
                    cells.w[k] = r + (cells.w[k] - r) * (-(dt / *tau as f64)).exp() as f32;
                }
            }
            changed = true;
        }
        let dev = Arc::clone(&self.dev);
        let f = &dev.spec.failure;
        let p = failure::hazard_probability(f.hazard_rate_per_s, dt);
        if p > 0.0 {
            self.hazard_draws += 1;
            let mut rng = stream(self.seed, &[purpose::HAZARD, self.hazard_draws]);
            let n = self.cells.len();
            let ln_q = (-p).ln_1p();
            let mut k = 0usize;
            loop {
                // Geometric skip: the gap to the next failing device, exact for independent draws.
                if p < 1.0 {
                    let u: f64 = 1.0 - rng.random::<f64>();
                    let gap = (u.ln() / ln_q).floor();
                    if gap >= (n - k) as f64 {
                        break;
                    }
                    k += gap as usize;
                }
                if k >= n {
                    break;
                }
                if self.cells.status[k] == Status::Alive {
                    let ph = self.physics();
                    let cur = ph.value(&self.cells, k, self.nu.get(k).copied().unwrap_or(0.0));
                    let pr = self.cells.fabric.cell(k);
                    let v = failure::failed_value(
                        f.hazard_state,
                        cur,
                        pr.b_min,
                        pr.b_max,
                        f.stuck_random_range,
                        &mut rng,
                    );
                    self.cells.w[k] = v;
                    self.cells.status[k] = Status::Hazard;
                    self.counters.hazard_failures += 1;
                    changed = true;
                }
                k += 1;
            }
        }
        if changed {
            self.refresh_weights();
        }
    }

    /// Forward read of a batch: `x` is cols × batch (one input vector per column); returns
    /// rows × batch. Goes through noise management, DAC, the array product, read noise, output
    /// noise and ADC, with bound management (see [`super::periphery`]).
    pub fn read(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let io = periphery::Io::new(&self.dev);
        self.read_through(x, &io, 1.0, false)
    }

    /// One-hot reads for a readout: the one-hot inputs `x` (cols × m) are read `[readout]
    /// reads` times through the periphery's readout mode ([`periphery::Io::readout`]) and the
    /// reads averaged (digitally, one operation per output value and read when there are
    /// several). Each read is counted as a read and as a readout read, and advances the clock
    /// by `integration_cycles` × `timing.read_s` per vector. With the `[readout]` defaults this
    /// is [`Tile::read`], bit for bit.
    pub fn read_one_hot(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        let dev = Arc::clone(&self.dev);
        let ro = &dev.spec.readout;
        let io = periphery::Io::readout(&dev);
        let mut y = self.read_through(x, &io, ro.integration_cycles, true);
        if ro.reads > 1 {
            for _ in 1..ro.reads {
                y += self.read_through(x, &io, ro.integration_cycles, true);
            }
            y /= ro.reads as f32;
            self.counters.digital_ops += ro.reads as u64 * y.len() as u64;
        }
        y
    }

    /// One batched read through `io`, each vector integrating `cycles` read cycles; counted
    /// (as a readout when `readout`).
    fn read_through(
        &mut self,
        x: &DMatrix<f32>,
        io: &periphery::Io,
        cycles: f64,
        readout: bool,
    ) -> DMatrix<f32> {
        assert_eq!(
            x.nrows(),
            self.cols,
            "read: input has {} rows, tile has {} columns",
            x.nrows(),
            self.cols
        );
        let op = self.next_op();
        let mut rng = stream(self.seed, &[purpose::READ, op]);
        let (y, stats) = io.read(
            &mut self.scratch,
            &self.weights,
            &self.read_var,
            self.rows,
            self.cols,
            x,
            &mut rng,
        );
        let sensed = self.sensed_lines();
        self.counters
            .count_read(&stats, self.rows, self.cols, sensed);
        if readout {
            self.counters
                .count_readout(&stats, self.rows, self.cols, sensed);
        }
        self.now_s += stats.vectors as f64 * cycles * self.dev.spec.timing.read_s;
        y
    }

    /// Reads the whole array with one-hot inputs ([`Tile::read_one_hot`]): the weights as the
    /// chip can know them (noisy and quantised like any read, and counted). Returns rows × cols.
    pub fn readout(&mut self) -> DMatrix<f32> {
        let mut w = DMatrix::zeros(self.rows, self.cols);
        let chunk = 256;
        let mut j0 = 0;
        while j0 < self.cols {
            let m = chunk.min(self.cols - j0);
            let mut x = DMatrix::zeros(self.cols, m);
            for q in 0..m {
                x[(j0 + q, q)] = 1.0;
            }
            let y = self.read_one_hot(&x);
            w.columns_mut(j0, m).copy_from(&y);
            j0 += m;
        }
        w
    }

    /// The parallel rank-1 update W ← W − lr·Σ_b d_b x_bᵀ of a batch: `x` is cols × batch, `d` is
    /// rows × batch. With stochastic pulses each vector pair drives row and column pulse trains;
    /// every coincidence applies one update-once of the device model to that cell.
    pub fn pulse_update(&mut self, x: &DMatrix<f32>, d: &DMatrix<f32>, lr: f32) {
        let up = self.dev.spec.update.clone();
        self.pulse_update_with(x, d, lr, &up);
    }

    /// [`Tile::pulse_update`] with the pulse-train settings `up` instead of the device's (its
    /// `pulse_type` is the device's): how an update scheme's transfer drives its own trains
    /// (aihwkit's `transfer_update`, e.g. one slot without update management).
    pub fn pulse_update_with(
        &mut self,
        x: &DMatrix<f32>,
        d: &DMatrix<f32>,
        lr: f32,
        up: &crate::device::UpdateSection,
    ) {
        assert_eq!(
            x.nrows(),
            self.cols,
            "pulse_update: x has {} rows, tile has {} columns",
            x.nrows(),
            self.cols
        );
        assert_eq!(
            d.nrows(),
            self.rows,
            "pulse_update: d has {} rows, tile has {} rows",
            d.nrows(),
            self.rows
        );
        assert_eq!(
            x.ncols(),
            d.ncols(),
            "pulse_update: x and d batch sizes differ"
        );
        self.settle();
        let stochastic = self.dev.spec.update.pulse_type == PulseType::StochasticCompressed
            && !matches!(self.dev.shape, Shape::Ideal);
        if stochastic {
            self.stochastic_update(x, d, lr, up);
        } else {
            self.float_update(x, d, lr);
        }
        self.counters.update_rows += x.ncols() as u64;
        self.updates += 1;
        let every = self.dev.spec.refresh.every_updates;
        if every > 0 && self.updates.is_multiple_of(every) {
            self.refresh_pairs();
        }
        self.refresh_read_var();
    }

    fn stochastic_update(
        &mut self,
        x: &DMatrix<f32>,
        d: &DMatrix<f32>,
        lr: f32,
        up: &crate::device::UpdateSection,
    ) {
        let op = self.next_op();
        let batch = x.ncols();
        let dw_min = self.dev.spec.response.dw_min as f32;
        // Column trains are shared by all rows, as on the chip: draw them once per vector pair and
        // file each firing column under the slots it fires in, so that a row visits exactly the
        // columns it coincides with.
        let mut col_rng = stream(self.seed, &[purpose::UPDATE_COLUMNS, op]);
        let mut plans: Vec<Option<SlotPlan>> = Vec::with_capacity(batch);
        // Flat buffers for the whole batch: `columns` holds, sample after sample and slot after
        // slot, the firing columns (index | sign bit 31); `starts` the slot boundaries in it.
        let mut columns: Vec<u32> = Vec::new();
        let mut starts: Vec<u32> = Vec::new();
        let mut masks: Vec<(u32, u32)> = Vec::new();
        let mut next: Vec<u32> = Vec::new();
        let mut slots = 0u64;
        let (xs, ds) = (x.as_slice(), d.as_slice());
        let (cols, rows) = (self.cols, self.rows);
        for b in 0..batch {
            let xc = &xs[b * cols..(b + 1) * cols];
            let dc = &ds[b * rows..(b + 1) * rows];
            let x_max = xc.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d_max = dc.iter().fold(0f32, |m, v| m.max(v.abs()));
            let Some(plan) = TrainPlan::new(up, lr, dw_min, x_max, d_max) else {
                plans.push(None);
                continue;
            };
            slots += plan.bl as u64;
            masks.clear();
            for (j, v) in xc.iter().enumerate() {
                if *v != 0.0 {
                    let m = train(plan.b * v.abs(), plan.bl, &mut col_rng);
                    if m != 0 {
                        masks.push((j as u32 | (u32::from(*v < 0.0) << 31), m));
                    }
                }
            }
            // Counting sort by slot.
            let bl = plan.bl as usize;
            let first = starts.len();
            starts.resize(first + bl + 1, 0);
            let base = columns.len() as u32;
            for &(_, m) in &masks {
                let mut m = m;
                while m != 0 {
                    starts[first + m.trailing_zeros() as usize + 1] += 1;
                    m &= m - 1;
                }
            }
            starts[first] = base;
            for k in 0..bl {
                starts[first + k + 1] += starts[first + k];
            }
            columns.resize(starts[first + bl] as usize, 0);
            next.clear();
            next.extend_from_slice(&starts[first..first + bl]);
            for &(tagged, m) in &masks {
                let mut m = m;
                while m != 0 {
                    let slot = m.trailing_zeros() as usize;
                    columns[next[slot] as usize] = tagged;
                    next[slot] += 1;
                    m &= m - 1;
                }
            }
            plans.push(Some(SlotPlan { plan, first }));
        }
        self.counters.pulse_slots += slots;
        self.now_s += slots as f64 * self.dev.spec.timing.pulse_s;

        let sides = self.sides;
        let seed = self.seed;
        let ph = Physics {
            dev: &self.dev,
            response: &self.response,
            now_s: self.now_s,
            drift_t0: self.dev.spec.drift.t0_s,
        };
        let nu = &self.nu;
        let offset = &self.offset;
        let plans = &plans;
        let rows_of_cells = self.cells.rows_mut(cols * sides);
        let totals = self
            .weights
            .par_chunks_mut(cols)
            .zip(rows_of_cells)
            .enumerate()
            .with_min_len(8)
            .map(|(i, (wrow, mut srow))| {
                // One stream per row, consumed in sample order: the same bits on any thread count.
                let mut rng = stream(seed, &[purpose::UPDATE_ROWS, op, i as u64]);
                let mut local = Counters::default();
                let base = i * cols * sides;
                let row_nu = if nu.is_empty() {
                    &[][..]
                } else {
                    &nu[base..base + cols * sides]
                };
                let row_off = if offset.is_empty() {
                    &[][..]
                } else {
                    &offset[i * cols..(i + 1) * cols]
                };
                let simple = sides == 1 && row_nu.is_empty() && row_off.is_empty();
                for (b, plan) in plans.iter().enumerate() {
                    let Some(SlotPlan { plan, first }) = plan else {
                        continue;
                    };
                    let di = ds[b * rows + i];
                    if di == 0.0 {
                        continue;
                    }
                    let mut mask = train(plan.a * di.abs(), plan.bl, &mut rng);
                    let neg_d = di < 0.0;
                    // Slot by slot, as the pulses arrive in time.
                    while mask != 0 {
                        let slot = mask.trailing_zeros() as usize;
                        mask &= mask - 1;
                        let (lo, hi) = (
                            starts[first + slot] as usize,
                            starts[first + slot + 1] as usize,
                        );
                        for &tagged in &columns[lo..hi] {
                            let j = (tagged & 0x7FFF_FFFF) as usize;
                            let neg_x = tagged >> 31 == 1;
                            // ΔW = −lr·d·x: the weight goes up where d and x have opposite signs.
                            let up = neg_d != neg_x;
                            local.coincidences += 1;
                            if simple
                                && srow.status[j] == Status::Alive
                                && srow.pulses[j] < srow.endurance(j)
                            {
                                // Bidirectional cell, no drift, no reference: the common case.
                                srow.pulses[j] += 1;
                                let p = srow.params(j);
                                srow.w[j] = ph.response.update_once(srow.w[j], up, &p, &mut rng);
                                srow.written(j, ph.now_s, ph.response, &mut rng);
                                wrow[j] = srow.w[j] + srow.wn(j);
                                continue;
                            }
                            let k = if sides == 1 {
                                j
                            } else {
                                2 * j + usize::from(!up)
                            };
                            let nu_k = row_nu.get(k).copied().unwrap_or(0.0);
                            if ph.pulse(&mut srow, k, nu_k, 1, up || sides == 2, &mut rng) {
                                local.worn_out += 1;
                            }
                            let off = row_off.get(j).copied().unwrap_or(0.0);
                            wrow[j] = ph.apparent(&srow, row_nu, j, sides, off);
                        }
                    }
                }
                local
            })
            .reduce(Counters::default, |mut a, b| {
                a += b;
                a
            });
        self.counters += totals;
    }

    /// One pulse slot in which every row and every column fires: each alive cell receives exactly
    /// one pulse in direction `up` (for one-sided pairs: on g⁺ when up, on g⁻ when down). This is
    /// the device-response experiment's stimulus.
    pub fn pulse_all(&mut self, up: bool) {
        self.settle();
        let op = self.next_op();
        let mut rng = stream(self.seed, &[purpose::UPDATE_ROWS, op]);
        let ph = Physics {
            dev: &self.dev,
            response: &self.response,
            now_s: self.now_s,
            drift_t0: self.dev.spec.drift.t0_s,
        };
        let mut worn = 0;
        let mut all = self.cells.all_mut();
        for c in 0..self.rows * self.cols {
            let k = if self.sides == 1 {
                c
            } else {
                2 * c + usize::from(!up)
            };
            let nu = self.nu.get(k).copied().unwrap_or(0.0);
            let dir = up || self.sides == 2;
            if ph.pulse(&mut all, k, nu, 1, dir, &mut rng) {
                worn += 1;
            }
        }
        let n = (self.rows * self.cols) as u64;
        self.counters.coincidences += n;
        self.counters.pulse_slots += 1;
        self.counters.worn_out += worn;
        self.now_s += self.dev.spec.timing.pulse_s;
        self.refresh_weights();
    }

    /// Exact floating-point rank-1 update, clipped at each cell's bounds; failed cells stay. Each
    /// changed cell counts one pulse; a cell whose pulses have reached its endurance wears out
    /// instead of changing.
    fn float_update(&mut self, x: &DMatrix<f32>, d: &DMatrix<f32>, lr: f32) {
        let (rows, cols, batch) = (self.rows, self.cols, x.ncols());
        // A buffer reused across updates on this thread (a fresh one per update costs its page
        // faults); taken out, so that a nested update on the same thread gets its own.
        let mut delta = DELTA.with(|d| d.take());
        delta.resize(rows * cols, 0.0);
        // delta (row-major rows × cols) = −lr · D·Xᵀ (every element written: β = 0).
        unsafe {
            matrixmultiply::sgemm(
                rows,
                batch,
                cols,
                -lr,
                d.as_ptr(),
                1,
                rows as isize,
                x.as_ptr(),
                cols as isize,
                1,
                0.0,
                delta.as_mut_ptr(),
                cols as isize,
                1,
            );
        }
        let sides = self.sides;
        let ph = Physics {
            dev: &self.dev,
            response: &self.response,
            now_s: self.now_s,
            drift_t0: self.dev.spec.drift.t0_s,
        };
        let (nu, offset) = (&self.nu, &self.offset);
        let (seed, update) = (self.seed, self.updates);
        // One pass per row, rows in parallel: no randomness (except a row's own stream for the
        // state of a cell that wears out), so any thread count gives the same bits.
        let rows_of_cells = self.cells.rows_mut(cols * sides);
        let (changed, worn): (u64, u64) = self
            .weights
            .par_chunks_mut(cols)
            .zip(rows_of_cells)
            .zip(delta.par_chunks(cols))
            .enumerate()
            .with_min_len(8)
            .map(|(i, ((wrow, mut srow), drow))| {
                let base = i * cols * sides;
                let row_nu = if nu.is_empty() {
                    &[][..]
                } else {
                    &nu[base..base + cols * sides]
                };
                let (mut changed, mut worn) = (0u64, 0u64);
                if sides == 1 && row_nu.is_empty() && offset.is_empty() && srow.plain() {
                    // Float cells with nothing but a weight: the same arithmetic as below,
                    // without the per-device bookkeeping that does not exist here.
                    changed = srow.float_update_plain(drow, wrow);
                    return (changed, worn);
                }
                let mut rng = None;
                for (j, &dl) in drow.iter().enumerate() {
                    if dl == 0.0 {
                        continue;
                    }
                    // One-sided pairs: a positive change raises g⁺, a negative one raises g⁻.
                    let k = if sides == 1 {
                        j
                    } else {
                        2 * j + usize::from(dl < 0.0)
                    };
                    if srow.status[k] != Status::Alive {
                        continue;
                    }
                    let nu_k = row_nu.get(k).copied().unwrap_or(0.0);
                    let off = offset.get(i * cols + j).copied().unwrap_or(0.0);
                    // An update is one pulse: past its endurance the cell wears out instead.
                    if srow.pulses[k] >= srow.endurance(k) {
                        let rng = rng.get_or_insert_with(|| {
                            stream(seed, &[purpose::ENDURANCE, update, i as u64])
                        });
                        let cur = ph.value(&srow, k, nu_k);
                        srow.w[k] = srow.wear_out(ph.dev, k, cur, rng);
                        worn += 1;
                        wrow[j] = ph.apparent(&srow, row_nu, j, sides, off);
                        continue;
                    }
                    let step = if sides == 1 { dl } else { dl.abs() };
                    let p = srow.params(k);
                    srow.w[k] = (ph.value(&srow, k, nu_k) + step).clamp(p.b_min, p.b_max);
                    srow.clock_restart(k, ph.now_s);
                    srow.pulses[k] = srow.pulses[k].saturating_add(1);
                    changed += 1;
                    wrow[j] = ph.apparent(&srow, row_nu, j, sides, off);
                }
                (changed, worn)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        DELTA.with(|d| d.replace(delta));
        self.counters.coincidences += changed;
        self.counters.worn_out += worn;
        self.counters.digital_ops += (2 * rows * cols * batch) as u64;
    }

    /// Write-and-verify of cells `cells` (row-major indices) to `targets` (weights). Each
    /// iteration is one programming pulse (counted, and wearing the cell) with programming
    /// noise, followed by a verify read; it stops within the verify tolerance or after
    /// `max_iterations`. Targets outside a cell's range end at its bound. Failed cells cannot be
    /// programmed (the controller still spends its iterations on them).
    pub fn program(&mut self, cells: &[usize], targets: &[f32]) {
        assert_eq!(
            cells.len(),
            targets.len(),
            "program: {} cells but {} targets",
            cells.len(),
            targets.len()
        );
        self.settle();
        let op = self.next_op();
        let mut rng = stream(self.seed, &[purpose::PROGRAM, op]);
        let before = self.counters.programming_pulses;
        for (&c, &t) in cells.iter().zip(targets) {
            assert!(c < self.rows * self.cols, "program: cell {c} out of range");
            if self.sides == 1 {
                self.program_device(c, t, &mut rng);
            } else {
                // A pair: the idle side is reset, the other carries the weight above it.
                let (kp, km) = (2 * c, 2 * c + 1);
                let (carry, idle) = if t >= 0.0 { (kp, km) } else { (km, kp) };
                let r = self.cells.fabric.reset(idle);
                self.program_device(idle, r, &mut rng);
                let base = self.cells.w[idle] + self.cells.wn(idle);
                self.program_device(carry, t.abs() + base, &mut rng);
            }
        }
        let spent = self.counters.programming_pulses - before;
        self.now_s += spent as f64 * self.dev.spec.timing.program_pulse_s;
        self.settle();
        let ph = self.physics();
        let fresh: Vec<f32> = cells.iter().map(|&c| self.cell_weight(&ph, c)).collect();
        for (&c, v) in cells.iter().zip(fresh) {
            if self.is_sensed(c / self.cols) {
                self.weights[c] = v;
            }
        }
        self.refresh_read_var();
    }

    /// Programs every cell to `targets` (rows × cols).
    pub fn program_all(&mut self, targets: &DMatrix<f32>) {
        assert_eq!(
            targets.shape(),
            (self.rows, self.cols),
            "program_all: shape mismatch"
        );
        let cells: Vec<usize> = (0..self.rows * self.cols).collect();
        let t: Vec<f32> = cells
            .iter()
            .map(|c| targets[(c / self.cols, c % self.cols)])
            .collect();
        self.program(&cells, &t);
    }

    fn program_device<R: Rng + ?Sized>(&mut self, k: usize, target: f32, rng: &mut R) {
        // Diagnostic: the device's drift clock and exponent as they were.
        let kept = self.keep_drift_clocks.then(|| {
            (
                self.cells.t_prog_s(k),
                self.nu.get(k).copied().unwrap_or(0.0),
            )
        });
        let pr = &self.dev.spec.programming;
        let max_it = pr.max_iterations as u64;
        if self.cells.status[k] != Status::Alive {
            self.counters.programming_pulses += max_it;
            return;
        }
        let p = self.cells.fabric.cell(k);
        let target = target.clamp(p.b_min, p.b_max);
        let sigma = noise::program_std(&self.dev, target);
        let tol = pr.verify_tolerance as f32;
        let mut w = self.cells.w[k];
        let dev = Arc::clone(&self.dev);
        let mut all = self.cells.all_mut();
        let endurance = all.endurance(k);
        for _ in 0..max_it {
            if all.pulses[k] >= endurance {
                all.w[k] = all.wear_out(&dev, k, w, rng);
                self.counters.worn_out += 1;
                return;
            }
            all.pulses[k] = all.pulses[k].saturating_add(1);
            self.counters.programming_pulses += 1;
            w = if sigma > 0.0 {
                (target + sigma * gauss(rng)).clamp(p.b_min, p.b_max)
            } else {
                target
            };
            if (w - target).abs() <= tol {
                break;
            }
        }
        let wn = self.response.draw_write_noise(rng);
        all.w[k] = w;
        all.set_written(k, wn, self.now_s);
        if self.dev.spec.drift.model == crate::device::DriftModel::Pcm {
            let g = self.dev.conductance_us(target as f64) / self.dev.spec.conductance.g_max_us;
            if let Some(nu) = drift::draw_nu(&self.dev, Some(g), rng) {
                self.nu[k] = nu;
                self.nu_max = self.nu_max.max(nu);
            }
        }
        if let Some((t_prog_s, nu)) = kept {
            // The value written now, as a device whose clock runs from t_prog_s holds it: it
            // drifts on at that device's (slower) rate from here.
            let f = drift::factor(self.now_s - t_prog_s, self.dev.spec.drift.t0_s, nu);
            self.cells.w[k] = w / f;
            self.cells.all_mut().clock_restart(k, t_prog_s);
            if let Some(v) = self.nu.get_mut(k) {
                *v = nu;
            }
        }
    }

    /// Simulator-only diagnostic, not a chip operation: while on, programming leaves each
    /// device's drift clock and drift exponent as they were (the written value is stored so
    /// that it reads as written now and drifts on at the old device's rate), to measure what
    /// restarting the drift clocks costs a refresh. Off by default.
    pub fn set_keep_drift_clocks(&mut self, on: bool) {
        self.keep_drift_clocks = on;
    }

    /// One-sided pairs: reset and re-program a pair when both of its cells have climbed high
    /// (one above `upper_threshold`·b_max, the other above `lower_threshold`·b_max), freeing
    /// headroom while keeping the weight (aihwkit OneSidedUnitCell refresh).
    fn refresh_pairs(&mut self) {
        if self.sides != 2 {
            return;
        }
        let rf = &self.dev.spec.refresh;
        let (upper, lower) = (rf.upper_threshold as f32, rf.lower_threshold as f32);
        let ph = self.physics();
        let mut cells = Vec::new();
        let mut targets = Vec::new();
        for c in 0..self.rows * self.cols {
            let (kp, km) = (2 * c, 2 * c + 1);
            let devs = &self.cells;
            // Lines out of service (free spares, retired lines) are never written.
            if !self.is_sensed(c / self.cols) {
                continue;
            }
            if devs.status[kp] != Status::Alive || devs.status[km] != Status::Alive {
                continue;
            }
            let gp =
                ph.value(devs, kp, self.nu.get(kp).copied().unwrap_or(0.0)) / devs.fabric.b_max(kp);
            let gm =
                ph.value(devs, km, self.nu.get(km).copied().unwrap_or(0.0)) / devs.fabric.b_max(km);
            if gp.max(gm) > upper && gp.min(gm) > lower {
                cells.push(c);
                targets.push(self.weights[c] + self.offset.get(c).copied().unwrap_or(0.0));
            }
        }
        if !cells.is_empty() {
            self.counters.refreshes += cells.len() as u64;
            self.program(&cells, &targets);
        }
    }
}

/// A read-only view of one physical tile of a layer (`Layer::tiles`): the facts a
/// hardware researcher's test may look at — shape, devices, failures, clock, device and
/// operation counts — and nothing that would reveal a weight. It offers no cell state, no
/// weight and no operation, and its `Debug` prints only those facts, so no true weight leaks
/// through it.
///
/// Counts are per tile ([`TileView::counters`]). A layer's counters are the sum over its tiles
/// plus what is counted above them, field by field:
///
/// - `reads`, `bm_rereads`, `saturated_reads`, `cells_read`, `dac_conversions`,
///   `adc_conversions`: this tile's vector reads. A layer split over a grid of tiles reads
///   every tile for each input vector, so a layer's `reads` is the number of vectors times its
///   tiles; `cells_read` counts the tile's physical lines (spares included) × its columns.
/// - `update_rows`, `pulse_slots`, `coincidences`: this tile's pulse updates.
/// - `programming_pulses`, `refreshes`: this tile's write-and-verify (one-sided pair refreshes
///   included).
/// - `worn_out`, `hazard_failures`: this tile's devices.
/// - `oracle_reads`: one per privileged read of this tile (a layer on four tiles counts four per
///   privileged read of the layer).
/// - `digital_ops`: only the tile's own arithmetic — the periphery's scaling of each read and,
///   on `pulse_type = "none"` devices, the float rank-1 update. The sums of split tiles'
///   outputs and the layer's own digital work (backward products, a rule's bookkeeping) are
///   counted on the layer, not on any tile.
/// - `spare_remaps`: never on a tile (0): remapping is the layer's line map.
///
/// So the tiles' counters sum to the layer's, except `digital_ops` (the tiles' share is at most
/// the layer's) and `spare_remaps`.
#[derive(Clone, Copy)]
pub struct TileView<'a> {
    tile: &'a Tile,
}

impl<'a> TileView<'a> {
    /// A view of `tile`.
    pub(crate) fn new(tile: &'a Tile) -> TileView<'a> {
        TileView { tile }
    }

    /// Physical output lines, spare lines included.
    pub fn rows(&self) -> usize {
        self.tile.rows
    }

    /// Input lines.
    pub fn cols(&self) -> usize {
        self.tile.cols
    }

    /// Devices per weight: 1, or 2 for one-sided pairs.
    pub fn devices_per_cell(&self) -> usize {
        self.tile.sides
    }

    /// All devices of the tile (rows × cols × devices per cell).
    pub fn devices(&self) -> usize {
        self.tile.cells.len()
    }

    /// Devices that have failed (stuck, worn out or hazard).
    pub fn failed_devices(&self) -> usize {
        self.tile.failed_devices()
    }

    /// Output lines in service (sensed); free spares and retired lines are not.
    pub fn sensed_lines(&self) -> usize {
        self.tile.sensed_lines()
    }

    /// This tile's operation counts (see the type's documentation for what each counts here).
    pub fn counters(&self) -> Counters {
        self.tile.counters
    }

    /// The tile's simulated time, seconds.
    pub fn now_s(&self) -> f64 {
        self.tile.now_s
    }

    /// The device the tile is made of.
    pub fn device(&self) -> &'a Device {
        &self.tile.dev
    }
}

impl std::fmt::Debug for TileView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only the facts: a derived Debug would print the cells' states.
        f.debug_struct("TileView")
            .field("rows", &self.rows())
            .field("cols", &self.cols())
            .field("devices_per_cell", &self.devices_per_cell())
            .field("failed_devices", &self.failed_devices())
            .field("now_s", &self.now_s())
            .field("device", &self.tile.dev.spec.name)
            .field("counters", &self.counters())
            .finish()
    }
}
