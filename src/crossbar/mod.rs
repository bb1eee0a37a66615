//! Tiles of cells with their periphery: the only physical operations the chip offers.
//!
//! A [`Crossbar`] holds one logical weight matrix (a layer's) on one or more physical [`Tile`]s
//! of at most `max_tile_rows` × `max_tile_cols` cells; outputs of tiles that share rows are summed
//! digitally (counted). It offers exactly `read`, `pulse_update`, `program`, `readout` and
//! `advance`: there is no transposed read and no method that hands out the weights, except
//! [`Crossbar::privileged_true_weights`], counted as impossible on this hardware and meant only
//! for the `bp-oracle` reference.
//!
//! Spare lines (`periphery.spare_lines_per_tile` = S > 0): every tile of row-block b holds its
//! block's n_b output lines plus S spares, and the crossbar keeps, per row-block, the physical
//! line of each logical row (a unit). All operations take and return logical rows. Whenever
//! cells can have failed (after `pulse_update`, `program`, `program_all` and `advance`), and only
//! if some cell failed since the last check (or fabrication faults were not looked at yet), the
//! crossbar checks its mapped lines: a line whose failed devices reach
//! `spare_remap_failed_fraction` of its `cols × devices per cell` devices is remapped onto a free
//! spare of its row-block that is itself below the threshold, if any. The remap reads the old
//! line through one-hot forward reads of the block's tiles (counted) and writes the values onto
//! the spare with write-and-verify (counted); the old line is retired: never pulsed, programmed
//! or sensed again. Before `program_all` the lines are switched without copying (their contents
//! are about to be overwritten), so a line already over the threshold at fabrication is replaced
//! at the first programming. With S = 0 none of this exists and every result is as before.

mod cells;
pub mod cost;
pub mod inference;
pub mod periphery;
pub mod pulse;
pub mod tile;

pub use cost::{Counters, Energy};
pub use tile::{CellState, Status, Tile, TileView};

use crate::device::Device;
use crate::random::{derive, purpose};
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::sync::Arc;

/// The capability to read a tile's true weights, which this hardware cannot do: the privilege of
/// the `bp-oracle` reference, whose construction alone holds one. It has no public constructor,
/// so a rule written outside the crate cannot make one:
///
/// ```compile_fail
/// let key = mortalsim::crossbar::OracleKey(()); // private field: does not compile
/// ```
///
/// and without one the privileged read cannot be called:
///
/// ```compile_fail
/// use mortalsim::{crossbar::Crossbar, device::Device};
/// let mut xbar = Crossbar::new(&Device::ideal(), 2, 2, 1);
/// let w = xbar.privileged_true_weights(); // needs a key: does not compile
/// ```
#[derive(Debug, Clone)]
pub struct OracleKey(());

impl OracleKey {
    /// A key, for the crate's own reference learner.
    pub(crate) fn new() -> OracleKey {
        OracleKey(())
    }
}

/// One logical matrix of `rows` outputs × `cols` inputs on a grid of tiles.
#[derive(Debug, Clone)]
pub struct Crossbar {
    dev: Arc<Device>,
    rows: usize,
    cols: usize,
    /// Row ranges (start, len) of the tile grid.
    row_blocks: Vec<(usize, usize)>,
    /// Column ranges of the tile grid.
    col_blocks: Vec<(usize, usize)>,
    /// Tiles, row-block major.
    tiles: Vec<Tile>,
    digital_ops: u64,
    /// The spare-line map (None when the device has no spare lines).
    spares: Option<Spares>,
}

/// A line moved within a row-block: (the block's logical row, its old line, the spare).
type LineMove = (usize, usize, usize);

/// Spare output lines of a crossbar's tiles and the logical-row → physical-line map.
#[derive(Debug, Clone)]
struct Spares {
    /// Remap threshold: failed fraction of a line's devices.
    threshold: f64,
    /// `line[b][i]`: the physical line, in every tile of row-block b, of the block's i-th row.
    line: Vec<Vec<usize>>,
    /// `free[b]`: row-block b's spare lines not used yet, in order.
    free: Vec<Vec<usize>>,
    /// `retired[b]`: row-block b's lines taken out of service, in the order they were retired.
    retired: Vec<Vec<usize>>,
    /// Spare lines per tile.
    per_tile: usize,
    /// Failure events of each tile at the last check (`u64::MAX`: never checked, so that
    /// fabrication faults are looked at by the first check).
    seen: Vec<u64>,
    /// Lines remapped so far.
    remaps: u64,
}

fn blocks(n: usize, max: usize) -> Vec<(usize, usize)> {
    let k = n.div_ceil(max).max(1);
    // Equal-sized blocks, as a mapper would split a layer.
    let base = n / k;
    let extra = n % k;
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = base + usize::from(i < extra);
        out.push((start, len));
        start += len;
    }
    out
}

impl Crossbar {
    /// Fabricates a `rows` × `cols` crossbar of `dev` cells; randomness derives from `seed`.
    pub fn new(dev: &Device, rows: usize, cols: usize, seed: u64) -> Crossbar {
        let dev = Arc::new(dev.clone());
        let p = &dev.spec.periphery;
        let row_blocks = blocks(rows, p.max_tile_rows);
        let col_blocks = blocks(cols, p.max_tile_cols);
        let spare = p.spare_lines_per_tile;
        let mut tiles = Vec::new();
        for (bi, &(_, rl)) in row_blocks.iter().enumerate() {
            for (bj, &(_, cl)) in col_blocks.iter().enumerate() {
                let s = derive(seed, &[purpose::TILE, bi as u64, bj as u64]);
                // Spare lines come after the block's own lines: the fabrication draws of the
                // own lines are those of a tile without spares.
                let mut t = Tile::with_device(Arc::clone(&dev), rl + spare, cl, s);
                for q in rl..rl + spare {
                    t.set_line_sensed(q, false);
                }
                tiles.push(t);
            }
        }
        let spares = (spare > 0).then(|| Spares {
            threshold: p.spare_remap_failed_fraction,
            line: row_blocks
                .iter()
                .map(|&(_, rl)| (0..rl).collect())
                .collect(),
            free: row_blocks
                .iter()
                .map(|&(_, rl)| (rl..rl + spare).collect())
                .collect(),
            retired: vec![Vec::new(); row_blocks.len()],
            per_tile: spare,
            seen: vec![u64::MAX; tiles.len()],
            remaps: 0,
        });
        Crossbar {
            dev,
            rows,
            cols,
            row_blocks,
            col_blocks,
            tiles,
            digital_ops: 0,
            spares,
        }
    }

    /// Outputs.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Inputs.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// The physical tiles, row-block major (for introspection: wear maps, tests).
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// Tile grid shape (row blocks, column blocks).
    pub fn grid(&self) -> (usize, usize) {
        (self.row_blocks.len(), self.col_blocks.len())
    }

    /// Simulated time, seconds.
    pub fn now_s(&self) -> f64 {
        self.tiles.iter().map(Tile::now_s).fold(0.0, f64::max)
    }

    /// Operation counts of all tiles plus the digital sums between them.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for t in &self.tiles {
            c += t.counters();
        }
        c.digital_ops += self.digital_ops;
        c.spare_remaps += self.spares.as_ref().map_or(0, |s| s.remaps);
        c
    }

    /// Energy spent so far, joules by component.
    pub fn energy(&self) -> Energy {
        self.counters().energy(&self.dev)
    }

    /// Fraction of failed devices over all tiles.
    pub fn failed_fraction(&self) -> f64 {
        let (failed, total) = self.failed_devices();
        failed as f64 / total.max(1) as f64
    }

    /// Failed devices and all devices over the tiles (a one-sided pair is two devices).
    pub fn failed_devices(&self) -> (usize, usize) {
        self.tiles.iter().fold((0, 0), |(f, n), t| {
            (f + t.failed_devices(), n + t.devices())
        })
    }

    /// Moves every tile's clock forward to `t_s` (the chip's time) without settling: the
    /// drift, leak and hazards of the gap act at the tile's next operation.
    pub(crate) fn sync_to(&mut self, t_s: f64) {
        for tile in &mut self.tiles {
            tile.sync_clock(t_s);
        }
    }
    /// Tiles work in parallel: after an operation all clocks stand at the slowest one.
    fn sync(&mut self) {
        let t = self.now_s();
        for tile in &mut self.tiles {
            tile.sync_clock(t);
        }
    }

    /// Row range and column range of tile `k` in the logical matrix.
    fn block(&self, k: usize) -> ((usize, usize), (usize, usize)) {
        let nc = self.col_blocks.len();
        (self.row_blocks[k / nc], self.col_blocks[k % nc])
    }

    fn slice_rows(m: &DMatrix<f32>, (start, len): (usize, usize)) -> DMatrix<f32> {
        m.rows(start, len).into_owned()
    }

    /// Forward read of a batch (`x`: cols × batch) → rows × batch.
    pub fn read(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        self.read_with(x, Tile::read)
    }

    /// One-hot reads of a readout (`x`: cols × batch of one-hot columns) → rows × batch, each
    /// tile through its readout mode with its repetitions ([`Tile::read_one_hot`]), partial
    /// outputs summed as in [`Crossbar::read`].
    pub fn read_one_hot(&mut self, x: &DMatrix<f32>) -> DMatrix<f32> {
        self.read_with(x, Tile::read_one_hot)
    }

    /// A batch read with `read` on every tile, partial outputs of tiles sharing rows summed
    /// digitally (counted).
    fn read_with(
        &mut self,
        x: &DMatrix<f32>,
        read: fn(&mut Tile, &DMatrix<f32>) -> DMatrix<f32>,
    ) -> DMatrix<f32> {
        assert_eq!(
            x.nrows(),
            self.cols,
            "read: input has {} rows, crossbar has {} columns",
            x.nrows(),
            self.cols
        );
        if self.tiles.len() == 1 && self.spares.is_none() {
            return read(&mut self.tiles[0], x);
        }
        let nc = self.col_blocks.len();
        let xs: Vec<DMatrix<f32>> = self
            .col_blocks
            .iter()
            .map(|&b| Self::slice_rows(x, b))
            .collect();
        let parts: Vec<DMatrix<f32>> = self
            .tiles
            .par_iter_mut()
            .enumerate()
            .map(|(k, t)| read(t, &xs[k % nc]))
            .collect();
        let mut y = DMatrix::zeros(self.rows, x.ncols());
        for (bi, &(r0, rl)) in self.row_blocks.iter().enumerate() {
            match &self.spares {
                None => {
                    let mut acc = y.rows_mut(r0, rl);
                    for bj in 0..nc {
                        acc += &parts[bi * nc + bj];
                    }
                }
                Some(sp) => {
                    for bj in 0..nc {
                        let part = &parts[bi * nc + bj];
                        for (i, &p) in sp.line[bi].iter().enumerate() {
                            let mut acc = y.row_mut(r0 + i);
                            acc += part.row(p);
                        }
                    }
                }
            }
        }
        self.digital_ops += ((nc - 1) * self.rows * x.ncols()) as u64;
        self.sync();
        y
    }

    /// The rank-1 pulse update W ← W − lr·Σ_b d_b x_bᵀ (`x`: cols × batch, `d`: rows × batch).
    pub fn pulse_update(&mut self, x: &DMatrix<f32>, d: &DMatrix<f32>, lr: f32) {
        let up = self.dev.spec.update.clone();
        self.pulse_update_with(x, d, lr, &up);
    }

    /// [`Crossbar::pulse_update`] with the pulse-train settings `up` instead of the device's
    /// (see [`Tile::pulse_update_with`]).
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
            "pulse_update: x has {} rows, crossbar has {} columns",
            x.nrows(),
            self.cols
        );
        assert_eq!(
            d.nrows(),
            self.rows,
            "pulse_update: d has {} rows, crossbar has {} rows",
            d.nrows(),
            self.rows
        );
        if self.tiles.len() == 1 && self.spares.is_none() {
            self.tiles[0].pulse_update_with(x, d, lr, up);
            return;
        }
        let nc = self.col_blocks.len();
        let xs: Vec<DMatrix<f32>> = self
            .col_blocks
            .iter()
            .map(|&b| Self::slice_rows(x, b))
            .collect();
        let ds = self.line_signals(d);
        self.tiles
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, t)| t.pulse_update_with(&xs[k % nc], &ds[k / nc], lr, up));
        self.sync();
        self.maintain_spares(true);
    }

    /// The row signals `d` (rows × n) as each row block of tiles receives them: its rows, or
    /// with spare lines each mapped line gets its row's and the others 0 (no pulses reach them).
    fn line_signals(&self, d: &DMatrix<f32>) -> Vec<DMatrix<f32>> {
        match &self.spares {
            None => self
                .row_blocks
                .iter()
                .map(|&b| Self::slice_rows(d, b))
                .collect(),
            Some(sp) => self
                .row_blocks
                .iter()
                .enumerate()
                .map(|(bi, &(r0, rl))| {
                    let mut dp = DMatrix::zeros(rl + sp.per_tile, d.ncols());
                    for (i, &p) in sp.line[bi].iter().enumerate() {
                        dp.row_mut(p).copy_from(&d.row(r0 + i));
                    }
                    dp
                })
                .collect(),
        }
    }

    /// The full-matrix change W ← W − lr·V (`v`: rows × cols), written as `cols` one-hot pulse
    /// updates, W ← W − lr·Σ_j V_{·j} e_jᵀ: each input line in turn is driven at full amplitude
    /// while the rows carry column j of V, as Tiki-Taka transfers a matrix (Gokmen & Haensch,
    /// Front. Neurosci. 14:103, 2020). Each tile drives only its own input lines, all tiles at
    /// once: a tile counts one update cycle per input line it holds.
    pub fn pulse_write(&mut self, v: &DMatrix<f32>, lr: f32) {
        assert_eq!(
            v.shape(),
            (self.rows, self.cols),
            "pulse_write: V is {:?}, crossbar is {}×{}",
            v.shape(),
            self.rows,
            self.cols
        );
        let nc = self.col_blocks.len();
        let ds = self.line_signals(v);
        let blocks = &self.col_blocks;
        self.tiles.par_iter_mut().enumerate().for_each(|(k, t)| {
            let (c0, cl) = blocks[k % nc];
            let d = ds[k / nc].columns(c0, cl).into_owned();
            t.pulse_update(&DMatrix::identity(cl, cl), &d, lr);
        });
        self.sync();
        self.maintain_spares(true);
    }

    /// Write-and-verify of every cell to `targets` (rows × cols).
    pub fn program_all(&mut self, targets: &DMatrix<f32>) {
        assert_eq!(
            targets.shape(),
            (self.rows, self.cols),
            "program_all: shape mismatch"
        );
        let blocks: Vec<_> = (0..self.tiles.len()).map(|k| self.block(k)).collect();
        if self.spares.is_none() {
            self.tiles
                .par_iter_mut()
                .zip(&blocks)
                .for_each(|(t, &((r0, rl), (c0, cl)))| {
                    t.program_all(&targets.view((r0, c0), (rl, cl)).into_owned());
                });
            self.sync();
            return;
        }
        // Known faults first: lines over the threshold move to spares before the write, without
        // copying (everything is about to be written).
        self.maintain_spares(false);
        let lines = self
            .spares
            .as_ref()
            .map(|s| s.line.clone())
            .unwrap_or_default();
        let nc = self.col_blocks.len();
        self.tiles.par_iter_mut().enumerate().zip(&blocks).for_each(
            |((k, t), &((r0, _), (c0, cl)))| {
                let line = &lines[k / nc];
                let mut cells = Vec::with_capacity(line.len() * cl);
                let mut ts = Vec::with_capacity(line.len() * cl);
                for (i, &p) in line.iter().enumerate() {
                    for c in 0..cl {
                        cells.push(p * cl + c);
                        ts.push(targets[(r0 + i, c0 + c)]);
                    }
                }
                t.program(&cells, &ts);
            },
        );
        self.sync();
        self.maintain_spares(true);
    }

    /// Write-and-verify of chosen cells: `cells` are (row, col) pairs, `targets` their weights.
    pub fn program(&mut self, cells: &[(usize, usize)], targets: &[f32]) {
        assert_eq!(
            cells.len(),
            targets.len(),
            "program: {} cells but {} targets",
            cells.len(),
            targets.len()
        );
        // Known faults first (copying: only some cells are written).
        self.maintain_spares(true);
        let nc = self.col_blocks.len();
        let mut per_tile: Vec<(Vec<usize>, Vec<f32>)> =
            vec![(Vec::new(), Vec::new()); self.tiles.len()];
        for (&(r, c), &t) in cells.iter().zip(targets) {
            assert!(
                r < self.rows && c < self.cols,
                "program: cell ({r}, {c}) out of range"
            );
            let bi = self
                .row_blocks
                .iter()
                .position(|&(s, l)| r >= s && r < s + l)
                .expect("row in a block");
            let bj = self
                .col_blocks
                .iter()
                .position(|&(s, l)| c >= s && c < s + l)
                .expect("col in a block");
            let (r0, c0) = (self.row_blocks[bi].0, self.col_blocks[bj].0);
            let tc = self.col_blocks[bj].1;
            let line = self.spares.as_ref().map_or(r - r0, |s| s.line[bi][r - r0]);
            let e = &mut per_tile[bi * nc + bj];
            e.0.push(line * tc + (c - c0));
            e.1.push(t);
        }
        self.tiles
            .par_iter_mut()
            .zip(per_tile.par_iter())
            .for_each(|(t, (cs, ts))| {
                if !cs.is_empty() {
                    t.program(cs, ts);
                }
            });
        self.sync();
        self.maintain_spares(true);
    }

    /// One-hot reads of the whole matrix ([`Tile::readout`]: repeated and through the readout
    /// mode as the device's `[readout]` says): the weights as the chip can know them (noisy,
    /// quantised, counted). Returns rows × cols.
    pub fn readout(&mut self) -> DMatrix<f32> {
        let parts: Vec<DMatrix<f32>> = self.tiles.par_iter_mut().map(Tile::readout).collect();
        let w = self.logical(&parts);
        self.sync();
        w
    }

    /// Simulator-only diagnostic ([`Tile::set_keep_drift_clocks`]) on every tile: while on,
    /// programming keeps the devices' drift clocks.
    pub fn set_keep_drift_clocks(&mut self, on: bool) {
        for t in &mut self.tiles {
            t.set_keep_drift_clocks(on);
        }
    }

    /// Assembles per-tile physical matrices (tile lines × tile columns) into the logical
    /// rows × cols matrix, taking each logical row from its mapped line.
    fn logical(&self, parts: &[DMatrix<f32>]) -> DMatrix<f32> {
        let mut w = DMatrix::zeros(self.rows, self.cols);
        for (k, p) in parts.iter().enumerate() {
            let ((r0, rl), (c0, cl)) = self.block(k);
            match &self.spares {
                None => w.view_mut((r0, c0), (rl, cl)).copy_from(p),
                Some(sp) => {
                    let nc = self.col_blocks.len();
                    for (i, &line) in sp.line[k / nc].iter().enumerate() {
                        w.view_mut((r0 + i, c0), (1, cl)).copy_from(&p.row(line));
                    }
                }
            }
        }
        w
    }

    /// Heap memory held by the tiles' cells and caches, bytes (simulator memory, not a chip
    /// quantity).
    pub fn heap_bytes(&self) -> usize {
        self.tiles.iter().map(Tile::heap_bytes).sum()
    }

    /// One pulse slot in which every row and column of every tile fires: each alive cell gets
    /// one pulse up (`up`) or down (see [`Tile::pulse_all`]); counted.
    pub fn pulse_all(&mut self, up: bool) {
        self.tiles.par_iter_mut().for_each(|t| t.pulse_all(up));
        self.sync();
        self.maintain_spares(true);
    }

    /// Lets `dt_s` seconds pass: drift, leak and random failures act on every tile.
    pub fn advance(&mut self, dt_s: f64) {
        self.tiles.par_iter_mut().for_each(|t| t.advance(dt_s));
        self.maintain_spares(true);
    }

    /// The true apparent weights (rows × cols), for the `bp-oracle` reference only (it holds
    /// the [`OracleKey`]): counted as an oracle read on every tile, impossible on this hardware.
    pub fn privileged_true_weights(&mut self, key: &OracleKey) -> DMatrix<f32> {
        let parts: Vec<DMatrix<f32>> = self
            .tiles
            .iter_mut()
            .map(|t| t.privileged_true_weights(key))
            .collect();
        self.logical(&parts)
    }

    /// `(scale·W)ᵀ·δ` (cols × batch) for the true apparent weights W, without assembling W: the
    /// `bp-oracle` reference's backward product (it holds the [`OracleKey`]), counted as an
    /// oracle read on every tile like [`Crossbar::privileged_true_weights`], and bit-identical
    /// to `(privileged_true_weights · scale)ᵀ·δ` computed with nalgebra's `tr_mul`.
    pub fn privileged_transposed_product(
        &mut self,
        key: &OracleKey,
        delta: &DMatrix<f32>,
        scale: f32,
    ) -> DMatrix<f32> {
        assert_eq!(
            delta.nrows(),
            self.rows,
            "privileged_transposed_product: δ has {} rows, the crossbar {}",
            delta.nrows(),
            self.rows
        );
        for t in &mut self.tiles {
            t.count_oracle_read(key);
        }
        let batch = delta.ncols();
        let mut out = DMatrix::zeros(self.cols, batch);
        let nc = self.col_blocks.len();
        for (cb, &(c0, cl)) in self.col_blocks.iter().enumerate() {
            // The logical rows of this column block, each a line of one tile.
            let mut rows: Vec<&[f32]> = Vec::with_capacity(self.rows);
            for (rb, &(_, rl)) in self.row_blocks.iter().enumerate() {
                let tile = &self.tiles[rb * nc + cb];
                for i in 0..rl {
                    let line = match &self.spares {
                        None => i,
                        Some(sp) => sp.line[rb][i],
                    };
                    rows.push(tile.line_weights(line));
                }
            }
            let part =
                crate::kernel::lane_dot(&rows, cl, scale, delta.as_slice(), self.rows, batch);
            out.view_mut((c0, 0), (cl, batch))
                .copy_from(&nalgebra::DMatrixView::from_slice(&part, cl, batch));
        }
        out
    }

    /// The true apparent weights (rows × cols) without counting anything: simulator
    /// introspection for metrics, not an operation of the chip (learners use `readout`).
    pub fn inspect_weights(&self) -> DMatrix<f32> {
        let parts: Vec<DMatrix<f32>> = self.tiles.iter().map(Tile::inspect_weights).collect();
        self.logical(&parts)
    }

    /// Spare lines (used, total), counted in logical lines: a spare line of a row-block spans
    /// the block's tiles (one spare line per tile of each column block), so total =
    /// `spare_lines_per_tile` × row-blocks, and used = lines remapped so far. (0, 0) without
    /// spares.
    pub fn spare_lines(&self) -> (usize, usize) {
        match &self.spares {
            None => (0, 0),
            Some(sp) => (
                sp.retired.iter().map(Vec::len).sum(),
                sp.per_tile * self.row_blocks.len(),
            ),
        }
    }

    /// Failed devices of each logical row's currently mapped line, over all its tiles (a
    /// one-sided pair is two devices; a line has `cols × devices per cell` devices). Simulator
    /// introspection, what a controller's fault map holds.
    pub fn failed_devices_per_row(&self) -> Vec<usize> {
        let nc = self.col_blocks.len();
        let mut out = Vec::with_capacity(self.rows);
        for (bi, &(_, rl)) in self.row_blocks.iter().enumerate() {
            for i in 0..rl {
                let line = self.spares.as_ref().map_or(i, |s| s.line[bi][i]);
                out.push(
                    (0..nc)
                        .map(|bj| self.tiles[bi * nc + bj].failed_devices_in_line(line))
                        .sum(),
                );
            }
        }
        out
    }

    /// The physical line of each logical row within the tiles of its row-block (row − block
    /// start without spares; a spare line's index is at or above the block's row count).
    /// Simulator introspection (tests, wear maps).
    pub fn physical_lines(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.rows);
        for (bi, &(_, rl)) in self.row_blocks.iter().enumerate() {
            for i in 0..rl {
                out.push(self.spares.as_ref().map_or(i, |s| s.line[bi][i]));
            }
        }
        out
    }

    /// Checks the mapped lines after cells may have failed and remaps every line at or above
    /// the threshold onto a free spare of its row-block (see the module documentation);
    /// `copy` reads the old line and programs its values onto the spare. Does nothing unless a
    /// tile of the row-block has had a failure since the last check (or was never checked).
    fn maintain_spares(&mut self, copy: bool) {
        let nc = self.col_blocks.len();
        loop {
            let Some(sp) = self.spares.as_mut() else {
                return;
            };
            let line_devices = self.cols * self.tiles[0].devices_per_cell();
            let limit = sp.threshold * line_devices as f64;
            let tiles = &self.tiles;
            let failed = |bi: usize, p: usize| -> usize {
                (0..nc)
                    .map(|bj| tiles[bi * nc + bj].failed_devices_in_line(p))
                    .sum()
            };
            let over = |f: usize| f > 0 && f as f64 >= limit;
            let mut plan: Vec<(usize, Vec<LineMove>)> = Vec::new();
            for bi in 0..self.row_blocks.len() {
                let mut changed = false;
                for (k, t) in tiles.iter().enumerate().skip(bi * nc).take(nc) {
                    let ev = t.failure_events();
                    changed |= sp.seen[k] != ev;
                    sp.seen[k] = ev;
                }
                if !changed {
                    continue;
                }
                let mut moves = Vec::new();
                for i in 0..sp.line[bi].len() {
                    let p = sp.line[bi][i];
                    if !over(failed(bi, p)) {
                        continue;
                    }
                    let Some(k) = sp.free[bi].iter().position(|&q| !over(failed(bi, q))) else {
                        break; // out of usable spares: the line stays mapped
                    };
                    let q = sp.free[bi].remove(k);
                    moves.push((i, p, q));
                }
                if !moves.is_empty() {
                    plan.push((bi, moves));
                }
            }
            if plan.is_empty() {
                return;
            }
            for (bi, moves) in plan {
                // One readout of each tile of the block serves every line moved in it.
                let values: Vec<DMatrix<f32>> = if copy {
                    (0..nc)
                        .map(|bj| self.tiles[bi * nc + bj].readout())
                        .collect()
                } else {
                    Vec::new()
                };
                for (i, p, q) in moves {
                    let block = &mut self.tiles[bi * nc..(bi + 1) * nc];
                    for (bj, t) in block.iter_mut().enumerate() {
                        t.set_line_sensed(q, true);
                        if copy {
                            let cl = t.cols();
                            let cells: Vec<usize> = (q * cl..(q + 1) * cl).collect();
                            let ts: Vec<f32> = (0..cl).map(|c| values[bj][(p, c)]).collect();
                            t.program(&cells, &ts);
                        }
                        t.set_line_sensed(p, false);
                    }
                    let sp = self.spares.as_mut().expect("spares exist");
                    sp.line[bi][i] = q;
                    sp.retired[bi].push(p);
                    sp.remaps += 1;
                }
            }
            self.sync();
            // Programming the spares can wear cells out: look again (each round uses a spare,
            // so this ends).
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{blocks, Crossbar, OracleKey};
    use crate::device::Device;
    use nalgebra::DMatrix;
    use proptest::prelude::*;

    /// A crossbar of `rows` × `cols` on `dev` programmed with weights in [−0.5, 0.5], and a δ.
    fn programmed(
        dev: &Device,
        rows: usize,
        cols: usize,
        batch: usize,
        seed: u64,
    ) -> (Crossbar, DMatrix<f32>) {
        let mut xbar = Crossbar::new(dev, rows, cols, seed);
        let w = DMatrix::from_fn(rows, cols, |i, j| {
            (((i * 31 + j * 17) % 23) as f32 / 23.0) - 0.5
        });
        xbar.program_all(&w);
        let d = DMatrix::from_fn(rows, batch, |i, b| {
            ((i * 7 + b * 13) % 11) as f32 * 0.01 - 0.05
        });
        (xbar, d)
    }

    /// The transposed product on the tiles' layout equals, bit for bit, nalgebra's `tr_mul` of
    /// the assembled true weights, and counts the same oracle reads.
    fn check_transposed_product(mut xbar: Crossbar, d: &DMatrix<f32>, scale: f32) {
        let key = OracleKey::new();
        let mut twin = xbar.clone();
        let expected = (twin.privileged_true_weights(&key) * scale).tr_mul(d);
        let got = xbar.privileged_transposed_product(&key, d, scale);
        assert_eq!(got.shape(), expected.shape());
        for (a, b) in got.iter().zip(expected.iter()) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        }
        assert_eq!(xbar.counters().oracle_reads, twin.counters().oracle_reads);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn transposed_product_is_tr_mul_on_any_tiling(
            dev in crate::testing::multi_tile_device(),
            rows in 1usize..40,
            cols in 1usize..40,
            batch in 1usize..20,
            scale in prop_oneof![Just(1.0f32), 0.1f32..3.0],
        ) {
            let (xbar, d) = programmed(&dev, rows, cols, batch, 5);
            check_transposed_product(xbar, &d, scale);
        }
    }

    #[test]
    fn transposed_product_follows_remapped_spare_lines() {
        let dev = Device::from_toml(
            "name = \"spares\"\n[response]\nmodel = \"ideal\"\n\
             [failure]\nstuck_at_max_fraction = 0.08\n\
             [periphery]\nmax_tile_rows = 8\nmax_tile_cols = 16\nspare_lines_per_tile = 4\n\
             spare_remap_failed_fraction = 0.1\n",
            "spares.toml",
        )
        .unwrap();
        let (xbar, d) = programmed(&dev, 21, 37, 19, 3);
        assert!(xbar.spare_lines().0 > 0, "no line was remapped");
        check_transposed_product(xbar, &d, 0.7);
    }

    #[test]
    fn blocks_cover_and_balance() {
        assert_eq!(blocks(784, 512), vec![(0, 392), (392, 392)]);
        assert_eq!(blocks(10, 512), vec![(0, 10)]);
        assert_eq!(blocks(5, 2), vec![(0, 2), (2, 2), (4, 1)]);
    }
}
