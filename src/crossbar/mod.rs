//! Tiles of cells with their periphery: the only physical operations the chip offers.
//!
//! A [`Crossbar`] holds one logical weight matrix (a layer's) on one or more physical [`Tile`]s
//! of at most `max_tile_rows` × `max_tile_cols` cells; outputs of tiles that share rows are summed
//! digitally (counted). It offers exactly `read`, `pulse_update`, `program`, `readout` and
//! `advance`: there is no transposed read and no method that hands out the weights, except
//! [`Crossbar::privileged_true_weights`], counted as impossible on this hardware and meant only
//! for the `bp-oracle` reference.

pub mod cost;
pub mod periphery;
pub mod pulse;
pub mod tile;

pub use cost::{Counters, Energy};
pub use tile::{CellState, Status, Tile};

use crate::device::Device;
use crate::random::{derive, purpose};
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::sync::Arc;

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
        let mut tiles = Vec::new();
        for (bi, &(_, rl)) in row_blocks.iter().enumerate() {
            for (bj, &(_, cl)) in col_blocks.iter().enumerate() {
                let s = derive(seed, &[purpose::TILE, bi as u64, bj as u64]);
                tiles.push(Tile::with_device(Arc::clone(&dev), rl, cl, s));
            }
        }
        Crossbar {
            dev,
            rows,
            cols,
            row_blocks,
            col_blocks,
            tiles,
            digital_ops: 0,
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
            (f + t.failed_devices(), n + t.device_states().len())
        })
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
        assert_eq!(
            x.nrows(),
            self.cols,
            "read: input has {} rows, crossbar has {} columns",
            x.nrows(),
            self.cols
        );
        if self.tiles.len() == 1 {
            let y = self.tiles[0].read(x);
            return y;
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
            .map(|(k, t)| t.read(&xs[k % nc]))
            .collect();
        let mut y = DMatrix::zeros(self.rows, x.ncols());
        for (bi, &(r0, rl)) in self.row_blocks.iter().enumerate() {
            let mut acc = y.rows_mut(r0, rl);
            for bj in 0..nc {
                acc += &parts[bi * nc + bj];
            }
        }
        self.digital_ops += ((nc - 1) * self.rows * x.ncols()) as u64;
        self.sync();
        y
    }

    /// The rank-1 pulse update W ← W − lr·Σ_b d_b x_bᵀ (`x`: cols × batch, `d`: rows × batch).
    pub fn pulse_update(&mut self, x: &DMatrix<f32>, d: &DMatrix<f32>, lr: f32) {
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
        if self.tiles.len() == 1 {
            self.tiles[0].pulse_update(x, d, lr);
            return;
        }
        let nc = self.col_blocks.len();
        let xs: Vec<DMatrix<f32>> = self
            .col_blocks
            .iter()
            .map(|&b| Self::slice_rows(x, b))
            .collect();
        let ds: Vec<DMatrix<f32>> = self
            .row_blocks
            .iter()
            .map(|&b| Self::slice_rows(d, b))
            .collect();
        self.tiles
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, t)| t.pulse_update(&xs[k % nc], &ds[k / nc], lr));
        self.sync();
    }

    /// Write-and-verify of every cell to `targets` (rows × cols).
    pub fn program_all(&mut self, targets: &DMatrix<f32>) {
        assert_eq!(
            targets.shape(),
            (self.rows, self.cols),
            "program_all: shape mismatch"
        );
        let blocks: Vec<_> = (0..self.tiles.len()).map(|k| self.block(k)).collect();
        self.tiles
            .par_iter_mut()
            .zip(&blocks)
            .for_each(|(t, &((r0, rl), (c0, cl)))| {
                t.program_all(&targets.view((r0, c0), (rl, cl)).into_owned());
            });
        self.sync();
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
            let e = &mut per_tile[bi * nc + bj];
            e.0.push((r - r0) * tc + (c - c0));
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
    }

    /// One-hot reads of the whole matrix: the weights as the chip can know them (noisy,
    /// quantised, counted). Returns rows × cols.
    pub fn readout(&mut self) -> DMatrix<f32> {
        let parts: Vec<DMatrix<f32>> = self.tiles.par_iter_mut().map(Tile::readout).collect();
        let mut w = DMatrix::zeros(self.rows, self.cols);
        for (k, p) in parts.iter().enumerate() {
            let ((r0, rl), (c0, cl)) = self.block(k);
            w.view_mut((r0, c0), (rl, cl)).copy_from(p);
        }
        self.sync();
        w
    }

    /// Lets `dt_s` seconds pass: drift, leak and random failures act on every tile.
    pub fn advance(&mut self, dt_s: f64) {
        self.tiles.par_iter_mut().for_each(|t| t.advance(dt_s));
    }

    /// The true apparent weights (rows × cols), for the `bp-oracle` reference only: counted as
    /// an oracle read on every tile, impossible on this hardware.
    pub fn privileged_true_weights(&mut self) -> DMatrix<f32> {
        let mut w = DMatrix::zeros(self.rows, self.cols);
        for k in 0..self.tiles.len() {
            let ((r0, rl), (c0, cl)) = self.block(k);
            let p = self.tiles[k].privileged_true_weights();
            w.view_mut((r0, c0), (rl, cl)).copy_from(&p);
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::blocks;

    #[test]
    fn blocks_cover_and_balance() {
        assert_eq!(blocks(784, 512), vec![(0, 392), (392, 392)]);
        assert_eq!(blocks(10, 512), vec![(0, 10)]);
        assert_eq!(blocks(5, 2), vec![(0, 2), (2, 2), (4, 1)]);
    }
}
