//! Counters of physical operations, and the energy and time they cost.
//!
//! Every tile counts what it does; energy follows from the per-operation table of its device file
//! (`[energy]`), time from `[timing]` (the same durations advance the tile's clock).

use crate::device::{Bits, Device};
use serde::{Deserialize, Serialize};
use std::ops::AddAssign;

/// Counts of a tile's physical operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Vector reads (including bound-management re-reads).
    pub reads: u64,
    /// Re-reads caused by bound management (included in `reads`).
    pub bm_rereads: u64,
    /// Vector reads returned with an output clipped at the ADC bound.
    pub saturated_reads: u64,
    /// Cells taking part in reads (rows × columns per vector read).
    pub cells_read: u64,
    /// DAC conversions (one per input per vector read).
    pub dac_conversions: u64,
    /// ADC conversions (one per output per vector read).
    pub adc_conversions: u64,
    /// Vector pairs applied by pulse updates.
    pub update_rows: u64,
    /// Pulse slots driven (BL per vector pair).
    pub pulse_slots: u64,
    /// Coincidences: pulses that reached a cell.
    pub coincidences: u64,
    /// Write-verify iterations of programming (each a programming pulse and a verify read).
    pub programming_pulses: u64,
    /// Digital arithmetic operations done beside the array (scaling, sums of split tiles).
    pub digital_ops: u64,
    /// Reads of the true weights through the privileged call: impossible on this hardware.
    pub oracle_reads: u64,
    /// Cells that wore out (pulse count passed endurance).
    pub worn_out: u64,
    /// Cells that failed at random (hazard).
    pub hazard_failures: u64,
    /// One-sided pairs refreshed.
    pub refreshes: u64,
    /// Output lines remapped onto a spare line because too many of their devices had failed
    /// (see `periphery.spare_lines_per_tile`); the reads and programming of each remap are
    /// counted in `reads` and `programming_pulses`.
    #[serde(default)]
    pub spare_remaps: u64,
    /// Vector reads of an update scheme's transfers (one-hot forward reads of a fast array's
    /// columns, [`crate::net::scheme`]); included in `reads`. Not written out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transfer_reads: u64,
    /// Digital operations on an update scheme's buffers (the transfer buffer H, the
    /// mixed-precision accumulator χ, their choppers and running means); included in
    /// `digital_ops`. Not written out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub buffer_ops: u64,
    /// Vector reads of readouts (one-hot reads of the weights through the periphery's readout
    /// mode, every repetition: [`super::Tile::read_one_hot`]); included in `reads`. Not written
    /// out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub readout_reads: u64,
    /// Cells taking part in readout reads (included in `cells_read`): each conducts for the
    /// readout's `integration_cycles`, priced on top of `cells_read`'s one cycle. Not written
    /// out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub readout_cells_read: u64,
    /// ADC conversions of readout reads (included in `adc_conversions`), priced at the
    /// readout's `adc_bits`. Not written out when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub readout_adc_conversions: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.reads += o.reads;
        self.bm_rereads += o.bm_rereads;
        self.saturated_reads += o.saturated_reads;
        self.cells_read += o.cells_read;
        self.dac_conversions += o.dac_conversions;
        self.adc_conversions += o.adc_conversions;
        self.update_rows += o.update_rows;
        self.pulse_slots += o.pulse_slots;
        self.coincidences += o.coincidences;
        self.programming_pulses += o.programming_pulses;
        self.digital_ops += o.digital_ops;
        self.oracle_reads += o.oracle_reads;
        self.worn_out += o.worn_out;
        self.hazard_failures += o.hazard_failures;
        self.refreshes += o.refreshes;
        self.spare_remaps += o.spare_remaps;
        self.transfer_reads += o.transfer_reads;
        self.buffer_ops += o.buffer_ops;
        self.readout_reads += o.readout_reads;
        self.readout_cells_read += o.readout_cells_read;
        self.readout_adc_conversions += o.readout_adc_conversions;
    }
}

/// Energy by component, joules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// Array reads.
    pub array_read_j: f64,
    /// DAC conversions.
    pub dac_j: f64,
    /// ADC conversions.
    pub adc_j: f64,
    /// Update pulses.
    pub update_j: f64,
    /// Programming.
    pub program_j: f64,
    /// Digital arithmetic.
    pub digital_j: f64,
}

impl Energy {
    /// Sum of all components, joules.
    pub fn total_j(&self) -> f64 {
        self.array_read_j
            + self.dac_j
            + self.adc_j
            + self.update_j
            + self.program_j
            + self.digital_j
    }
}

fn per_conversion(step_j: f64, bits: Bits) -> f64 {
    match bits {
        Bits::Finite(b) => step_j * 2f64.powi(b as i32),
        // An unquantised converter still converts; cost it as a 16-bit one.
        Bits::Ideal(_) => step_j * 65536.0,
    }
}

impl Counters {
    /// Counts the vector reads of one read operation on an array of `rows` × `cols` cells with
    /// `sensed` output lines in service: every vector (re-reads included) drives all the cells,
    /// a DAC per column and an ADC per sensed line.
    pub fn count_read(
        &mut self,
        stats: &super::periphery::ReadStats,
        rows: usize,
        cols: usize,
        sensed: usize,
    ) {
        self.reads += stats.vectors;
        self.bm_rereads += stats.rereads;
        self.saturated_reads += stats.saturated;
        self.cells_read += stats.vectors * (rows * cols) as u64;
        self.dac_conversions += stats.vectors * cols as u64;
        self.adc_conversions += stats.vectors * sensed as u64;
        self.digital_ops += stats.digital_ops;
    }

    /// Counts the readout share of a read already counted by [`Counters::count_read`] (see
    /// `readout_reads`).
    pub fn count_readout(
        &mut self,
        stats: &super::periphery::ReadStats,
        rows: usize,
        cols: usize,
        sensed: usize,
    ) {
        self.readout_reads += stats.vectors;
        self.readout_cells_read += stats.vectors * (rows * cols) as u64;
        self.readout_adc_conversions += stats.vectors * sensed as u64;
    }

    /// Energy of these operations on `dev`'s table. Readout reads (`[readout]`) pay their
    /// integration cycles beyond the first on the array and their ADC at the readout's bits: the
    /// extra terms are exactly 0 with the section's defaults.
    pub fn energy(&self, dev: &Device) -> Energy {
        let e = &dev.spec.energy;
        let p = &dev.spec.periphery;
        let ro = &dev.spec.readout;
        let (dac, adc, readout_adc) = if p.perfect {
            (0.0, 0.0, 0.0)
        } else {
            (
                per_conversion(e.dac_step_j, p.dac_bits),
                per_conversion(e.adc_step_j, p.adc_bits),
                per_conversion(e.adc_step_j, ro.adc_bits.unwrap_or(p.adc_bits)),
            )
        };
        let extra_cycles = ro.integration_cycles - 1.0;
        Energy {
            array_read_j: self.cells_read as f64 * e.read_cell_j
                + self.readout_cells_read as f64 * extra_cycles * e.read_cell_j,
            dac_j: self.dac_conversions as f64 * dac,
            adc_j: self.adc_conversions as f64 * adc
                + self.readout_adc_conversions as f64 * (readout_adc - adc),
            update_j: self.coincidences as f64 * e.pulse_j,
            program_j: self.programming_pulses as f64 * e.program_pulse_j,
            digital_j: self.digital_ops as f64 * e.digital_op_j,
        }
    }

    /// Latency of these operations on `dev`, seconds (the time they advance the clock, plus
    /// digital work).
    pub fn latency_s(&self, dev: &Device) -> f64 {
        let t = &dev.spec.timing;
        let extra_cycles = dev.spec.readout.integration_cycles - 1.0;
        self.reads as f64 * t.read_s
            + self.readout_reads as f64 * extra_cycles * t.read_s
            + self.pulse_slots as f64 * t.pulse_s
            + self.programming_pulses as f64 * t.program_pulse_s
            + self.digital_ops as f64 * t.digital_op_s
    }
}
