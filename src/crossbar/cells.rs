//! The devices of a tile, stored field by field ("structure of arrays"): one array per changing
//! quantity, and a fabrication parameter that is the same for every device (no device-to-device
//! spread), or a quantity that no physics of the device reads, takes no memory per device.
//!
//! | field | bytes per device | kept when |
//! | --- | --- | --- |
//! | weight as written `w` | 4 | always |
//! | pulses received | 4 | always |
//! | condition | 1 | always |
//! | write noise `wn` | 4 | the device has write noise |
//! | time of the last write | 8 | drift or PCM read noise reads it |
//! | endurance | 4 | some device's endurance is finite |
//! | Δw⁺, Δw⁻, b_min, b_max (one record) | 16 | one of them varies between devices |
//! | each of γ⁺, γ⁻, reset | 4 | it varies between devices |
//!
//! A tile adds its cached apparent weight (4 bytes per weight) and, where the device has them,
//! drift exponents, leak constants, reference offsets and read-noise variances.

use super::tile::{CellState, Status};
use crate::device::response::{CellParams, Response};
use crate::device::{drift, failure, Device};
use rand::Rng;

/// A fabrication parameter of every device: one value shared by all, or one per device.
#[derive(Debug, Clone)]
pub(super) enum Column {
    /// Every device has this value.
    Same(f32),
    /// Device k has `v[k]`.
    Each(Vec<f32>),
}

impl Column {
    /// The column of `values`, stored once when they are all the same bits.
    fn of(values: Vec<f32>) -> Column {
        match values.first() {
            Some(&v0) if values.iter().all(|v| v.to_bits() == v0.to_bits()) => Column::Same(v0),
            None => Column::Same(0.0),
            _ => Column::Each(values),
        }
    }

    #[inline(always)]
    fn get(&self, k: usize) -> f32 {
        match self {
            Column::Same(v) => *v,
            Column::Each(v) => v[k],
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Column::Same(_) => 0,
            Column::Each(v) => v.capacity() * 4,
        }
    }
}

/// The fabrication-time parameters of every device (device-to-device variation, drawn once).
/// The four that every pulse reads (Δw⁺, Δw⁻, b_min, b_max) sit together in one record per
/// device when any of them varies, so that a pulse loads one cache line for them.
#[derive(Debug, Clone)]
pub(super) struct Fabric {
    /// (Δw⁺, Δw⁻, b_min, b_max) per device, or one record for all.
    core: Core,
    shape_up: Column,
    shape_down: Column,
    reset: Column,
}

/// Δw⁺, Δw⁻, b_min, b_max of every device.
#[derive(Debug, Clone)]
enum Core {
    Same([f32; 4]),
    Each(Vec<[f32; 4]>),
}

impl Fabric {
    /// The parameters of `params`, column by column.
    pub(super) fn of(params: &[CellParams]) -> Fabric {
        let col = |f: fn(&CellParams) -> f32| Column::of(params.iter().map(f).collect());
        let core: Vec<[f32; 4]> = params
            .iter()
            .map(|p| [p.step_up, p.step_down, p.b_min, p.b_max])
            .collect();
        let bits = |c: &[f32; 4]| c.map(f32::to_bits);
        let core = match core.first() {
            Some(c0) if core.iter().all(|c| bits(c) == bits(c0)) => Core::Same(*c0),
            None => Core::Same([0.0; 4]),
            _ => Core::Each(core),
        };
        Fabric {
            core,
            shape_up: col(|p| p.shape_up),
            shape_down: col(|p| p.shape_down),
            reset: col(|p| p.reset),
        }
    }

    #[inline(always)]
    fn core(&self, k: usize) -> [f32; 4] {
        match &self.core {
            Core::Same(c) => *c,
            Core::Each(v) => v[k],
        }
    }

    /// Device k's parameters.
    #[inline(always)]
    pub(super) fn cell(&self, k: usize) -> CellParams {
        let [step_up, step_down, b_min, b_max] = self.core(k);
        CellParams {
            step_up,
            step_down,
            b_min,
            b_max,
            shape_up: self.shape_up.get(k),
            shape_down: self.shape_down.get(k),
            reset: self.reset.get(k),
        }
    }

    /// Device k's reset value.
    #[inline]
    pub(super) fn reset(&self, k: usize) -> f32 {
        self.reset.get(k)
    }

    /// Device k's upper bound.
    #[inline]
    pub(super) fn b_max(&self, k: usize) -> f32 {
        self.core(k)[3]
    }

    /// Device k's bounds (b_min, b_max).
    #[inline(always)]
    fn bounds(&self, k: usize) -> (f32, f32) {
        let c = self.core(k);
        (c[2], c[3])
    }

    /// The bounds when every device has the same.
    fn same_bounds(&self) -> Option<(f32, f32)> {
        match &self.core {
            Core::Same(c) => Some((c[2], c[3])),
            Core::Each(_) => None,
        }
    }

    fn bytes(&self) -> usize {
        let core = match &self.core {
            Core::Same(_) => 0,
            Core::Each(v) => v.capacity() * 16,
        };
        core + self.shape_up.bytes() + self.shape_down.bytes() + self.reset.bytes()
    }
}

/// The changing state and the fabrication parameters of every device of a tile.
#[derive(Debug, Clone)]
pub(super) struct Cells {
    /// Weight (or one-sided conductance) as written, before drift since the last write.
    pub(super) w: Vec<f32>,
    /// Write noise on the apparent weight (empty: the device has none, all 0).
    pub(super) wn: Vec<f32>,
    /// Simulated time of the last write, seconds (empty: not tracked, nothing reads it).
    pub(super) t_prog_s: Vec<f64>,
    /// Pulses received, saturating.
    pub(super) pulses: Vec<u32>,
    /// Pulses each device survives (empty: unlimited for every device).
    pub(super) endurance: Vec<u32>,
    /// Condition.
    pub(super) status: Vec<Status>,
    /// Fabrication parameters.
    pub(super) fabric: Fabric,
}

impl Cells {
    /// Devices from their records; `write_noise` and `timed` say whether `wn` and the time of the
    /// last write are kept.
    pub(super) fn from_states(states: &[CellState], write_noise: bool, timed: bool) -> Cells {
        let params: Vec<CellParams> = states.iter().map(|s| s.params).collect();
        let endurance: Vec<u32> = if states.iter().all(|s| s.endurance == u32::MAX) {
            Vec::new()
        } else {
            states.iter().map(|s| s.endurance).collect()
        };
        Cells {
            w: states.iter().map(|s| s.w).collect(),
            wn: if write_noise {
                states.iter().map(|s| s.wn).collect()
            } else {
                Vec::new()
            },
            t_prog_s: if timed {
                states.iter().map(|s| s.t_prog_s).collect()
            } else {
                Vec::new()
            },
            pulses: states.iter().map(|s| s.pulses).collect(),
            endurance,
            status: states.iter().map(|s| s.status).collect(),
            fabric: Fabric::of(&params),
        }
    }

    /// Number of devices.
    pub(super) fn len(&self) -> usize {
        self.w.len()
    }

    /// Device k as a record.
    pub(super) fn state(&self, k: usize) -> CellState {
        CellState {
            w: self.w[k],
            wn: self.wn(k),
            t_prog_s: self.t_prog_s(k),
            pulses: self.pulses[k],
            endurance: self.endurance.get(k).copied().unwrap_or(u32::MAX),
            status: self.status[k],
            params: self.fabric.cell(k),
        }
    }

    /// Heap bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.w.capacity() * 4
            + self.wn.capacity() * 4
            + self.t_prog_s.capacity() * 8
            + self.pulses.capacity() * 4
            + self.endurance.capacity() * 4
            + self.status.capacity() * std::mem::size_of::<Status>()
            + self.fabric.bytes()
    }

    /// Mutable views of consecutive runs of `n` devices (a tile's rows), for parallel updates.
    pub(super) fn rows_mut(&mut self, n: usize) -> Vec<Row<'_>> {
        let count = self.w.len() / n.max(1);
        fn split<T>(v: &mut [T], n: usize, count: usize) -> Vec<&mut [T]> {
            if v.is_empty() {
                (0..count).map(|_| Default::default()).collect()
            } else {
                v.chunks_mut(n).collect()
            }
        }
        let endurance: Vec<&[u32]> = if self.endurance.is_empty() {
            vec![&[][..]; count]
        } else {
            self.endurance.chunks(n).collect()
        };
        let fabric = &self.fabric;
        split(&mut self.w, n, count)
            .into_iter()
            .zip(split(&mut self.wn, n, count))
            .zip(split(&mut self.t_prog_s, n, count))
            .zip(split(&mut self.pulses, n, count))
            .zip(split(&mut self.status, n, count))
            .zip(endurance)
            .enumerate()
            .map(
                |(i, (((((w, wn), t_prog_s), pulses), status), endurance))| Row {
                    w,
                    wn,
                    t_prog_s,
                    pulses,
                    status,
                    endurance,
                    fabric,
                    base: i * n,
                },
            )
            .collect()
    }

    /// A mutable view of every device.
    pub(super) fn all_mut(&mut self) -> Row<'_> {
        let n = self.w.len();
        Row {
            w: &mut self.w,
            wn: &mut self.wn,
            t_prog_s: &mut self.t_prog_s,
            pulses: &mut self.pulses,
            status: &mut self.status,
            endurance: &self.endurance,
            fabric: &self.fabric,
            base: 0,
        }
        .checked(n)
    }
}

/// Read access to devices by index: the whole tile ([`Cells`], global index) or one row
/// ([`Row`], index within the row).
pub(super) trait Devices {
    /// Weight as written.
    fn w(&self, k: usize) -> f32;
    /// Write noise.
    fn wn(&self, k: usize) -> f32;
    /// Condition.
    fn status(&self, k: usize) -> Status;
    /// Time of the last write (0 when not tracked).
    fn t_prog_s(&self, k: usize) -> f64;
}

/// `Devices` for a type whose fields `w`, `wn`, `status`, `t_prog_s` index like its devices
/// (an empty `wn` or `t_prog_s`: 0 for every device).
macro_rules! devices_by_fields {
    ($t:ty) => {
        impl Devices for $t {
            #[inline(always)]
            fn w(&self, k: usize) -> f32 {
                self.w[k]
            }
            #[inline(always)]
            fn wn(&self, k: usize) -> f32 {
                self.wn.get(k).copied().unwrap_or(0.0)
            }
            #[inline(always)]
            fn status(&self, k: usize) -> Status {
                self.status[k]
            }
            #[inline(always)]
            fn t_prog_s(&self, k: usize) -> f64 {
                self.t_prog_s.get(k).copied().unwrap_or(0.0)
            }
        }
    };
}

devices_by_fields!(Cells);

/// Mutable view of a run of devices (a row of a tile, or all of them).
pub(super) struct Row<'a> {
    pub(super) w: &'a mut [f32],
    wn: &'a mut [f32],
    t_prog_s: &'a mut [f64],
    pub(super) pulses: &'a mut [u32],
    pub(super) status: &'a mut [Status],
    endurance: &'a [u32],
    fabric: &'a Fabric,
    /// Index in the tile of the view's first device.
    base: usize,
}

devices_by_fields!(Row<'_>);

impl<'a> Row<'a> {
    fn checked(self, n: usize) -> Row<'a> {
        debug_assert_eq!(self.w.len(), n);
        self
    }

    /// Whether these devices keep nothing but a weight, a pulse count and a condition (no write
    /// noise, no drift clock, unlimited endurance): the float update's fast path.
    pub(super) fn plain(&self) -> bool {
        self.wn.is_empty() && self.t_prog_s.is_empty() && self.endurance.is_empty()
    }

    /// The float update of plain devices ([`Row::plain`]): w ← clamp(w + Δ, b_min, b_max) for
    /// every alive device whose Δ ≠ 0, each such change one pulse, and the apparent weight
    /// (w + 0 − 0: no write noise, no reference) written to `apparent`. Returns the number of
    /// devices changed. Branch-free over the row, so that it vectorises.
    pub(super) fn float_update_plain(&mut self, delta: &[f32], apparent: &mut [f32]) -> u64 {
        match self.fabric.same_bounds() {
            Some((lo, hi)) => self.plain_update(delta, apparent, |_| lo, |_| hi),
            None => {
                let (base, fabric) = (self.base, self.fabric);
                self.plain_update(
                    delta,
                    apparent,
                    |k| fabric.bounds(base + k).0,
                    |k| fabric.bounds(base + k).1,
                )
            }
        }
    }

    #[inline(always)]
    fn plain_update(
        &mut self,
        delta: &[f32],
        apparent: &mut [f32],
        lo: impl Fn(usize) -> f32,
        hi: impl Fn(usize) -> f32,
    ) -> u64 {
        let n = self.w.len();
        let (w, pulses, status) = (&mut self.w[..n], &mut self.pulses[..n], &self.status[..n]);
        let (delta, apparent) = (&delta[..n], &mut apparent[..n]);
        let mut changed = 0u64;
        for k in 0..n {
            let dl = delta[k];
            let on = dl != 0.0 && status[k] == Status::Alive;
            let next = (w[k] + dl).clamp(lo(k), hi(k));
            if on {
                w[k] = next;
                apparent[k] = next + 0.0 - 0.0;
            }
            pulses[k] = pulses[k].saturating_add(u32::from(on));
            changed += u64::from(on);
        }
        changed
    }

    /// Pulses device k survives.
    #[inline(always)]
    pub(super) fn endurance(&self, k: usize) -> u32 {
        self.endurance.get(k).copied().unwrap_or(u32::MAX)
    }

    /// Device k's fabrication parameters.
    #[inline(always)]
    pub(super) fn params(&self, k: usize) -> CellParams {
        self.fabric.cell(self.base + k)
    }

    /// Records a write of device k at `now_s`: its write noise redrawn and its drift clock
    /// restarted.
    #[inline(always)]
    pub(super) fn written<R: Rng + ?Sized>(
        &mut self,
        k: usize,
        now_s: f64,
        response: &Response,
        rng: &mut R,
    ) {
        if let Some(t) = self.t_prog_s.get_mut(k) {
            *t = now_s;
        }
        let wn = response.draw_write_noise(rng);
        if let Some(v) = self.wn.get_mut(k) {
            *v = wn;
        }
    }

    /// Sets device k's write noise and drift clock to given values.
    #[inline]
    pub(super) fn set_written(&mut self, k: usize, wn: f32, now_s: f64) {
        if let Some(t) = self.t_prog_s.get_mut(k) {
            *t = now_s;
        }
        if let Some(v) = self.wn.get_mut(k) {
            *v = wn;
        }
    }

    /// Restarts device k's drift clock at `now_s` (its write noise unchanged).
    #[inline]
    pub(super) fn clock_restart(&mut self, k: usize, now_s: f64) {
        if let Some(t) = self.t_prog_s.get_mut(k) {
            *t = now_s;
        }
    }

    /// Device k, holding `w`, has used up its endurance: it takes its worn-out state for good.
    /// Returns the value it is frozen at.
    pub(super) fn wear_out<R: Rng + ?Sized>(
        &mut self,
        dev: &Device,
        k: usize,
        w: f32,
        rng: &mut R,
    ) -> f32 {
        let f = &dev.spec.failure;
        let p = self.params(k);
        let v = failure::failed_value(
            f.worn_out_state,
            w,
            p.b_min,
            p.b_max,
            f.stuck_random_range,
            rng,
        );
        self.status[k] = Status::WornOut;
        v
    }
}

/// Physics shared by devices while they are updated: the device, its pulse response and the
/// time.
pub(super) struct Physics<'a> {
    pub(super) dev: &'a Device,
    pub(super) response: &'a Response,
    pub(super) now_s: f64,
    pub(super) drift_t0: f64,
}

impl Physics<'_> {
    /// Value of device k of `d` now (drift applied unless frozen); `nu` its drift exponent.
    #[inline(always)]
    pub(super) fn value<D: Devices>(&self, d: &D, k: usize, nu: f32) -> f32 {
        if nu != 0.0 && d.status(k) == Status::Alive {
            d.w(k) * drift::factor(self.now_s - d.t_prog_s(k), self.drift_t0, nu)
        } else {
            d.w(k)
        }
    }

    /// Apparent weight of cell `j` of `d` now: its device(s)' values with drift and write
    /// noise, minus the cell's reference offset `off`. `nu` holds the drift exponents indexed
    /// like `d` (empty when the device does not drift).
    #[inline(always)]
    pub(super) fn apparent<D: Devices>(
        &self,
        d: &D,
        nu: &[f32],
        j: usize,
        sides: usize,
        off: f32,
    ) -> f32 {
        let v = |k: usize| self.value(d, k, nu.get(k).copied().unwrap_or(0.0)) + d.wn(k);
        if sides == 1 {
            v(j) - off
        } else {
            v(2 * j) - v(2 * j + 1) - off
        }
    }

    /// Applies `n` pulses in direction `up` to device k of `row`; returns true when the device
    /// wore out.
    #[inline]
    pub(super) fn pulse<R: Rng + ?Sized>(
        &self,
        row: &mut Row<'_>,
        k: usize,
        nu: f32,
        n: u32,
        up: bool,
        rng: &mut R,
    ) -> bool {
        if row.status[k] != Status::Alive {
            return false;
        }
        let mut w = self.value(row, k, nu);
        let mut worn = false;
        let p = row.params(k);
        let endurance = row.endurance(k);
        for _ in 0..n {
            if row.pulses[k] >= endurance {
                w = row.wear_out(self.dev, k, w, rng);
                worn = true;
                break;
            }
            row.pulses[k] = row.pulses[k].saturating_add(1);
            w = self.response.update_once(w, up, &p, rng);
        }
        row.w[k] = w;
        if !worn {
            row.written(k, self.now_s, self.response, rng);
        }
        worn
    }
}
