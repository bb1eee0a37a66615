//! Update schemes: how a rule's rank-1 update reaches a layer's cells.
//!
//! A learning rule decides the teaching signal δ_l of each layer; the update scheme decides how
//! the step ΔW = −η·Σ_b δ_b x_bᵀ reaches the cells. The scheme sits behind
//! [`super::Layer::update`], the one place every rule's update goes through, and is installed on
//! the forward layers of a chip by [`super::Chip::set_update_scheme`]. Arrays a rule owns (`sg`'s
//! modules, `bp-mirror`'s transposed copies, feedback matrices) keep the plain pulsed update.
//!
//! | scheme | what reaches the cells | source |
//! | --- | --- | --- |
//! | `sgd` | the stochastic pulse update of W itself (the default; exactly as without schemes) | Gokmen & Vlasov 2016 |
//! | `mixed-precision` | χ ← χ − η·δxᵀ in digital; every `transfer_every` steps each cell gets n = trunc(χ/ε) pulses of its step ε and χ ← χ − n·ε | Nandakumar et al., Front. Neurosci. 14:406 (2020); aihwkit `MixedPrecisionCompound` |
//! | `tiki-taka` | A ← A − fast_lr·η·δxᵀ (pulsed); every `transfer_every` steps `columns_per_transfer` columns of A are read (one-hot forward reads) and pulsed into C: C ← C + transfer_lr·η·A[:, j]; W = γ·A + C | Gokmen & Haensch, Front. Neurosci. 14:103 (2020); aihwkit `TransferCompound` |
//! | `ttv2` | A pulsed with an auto-scaled rate; after every `transfer_every` samples one column of A is read into a digital buffer H ← H + A[:, j]·η·transfer_lr/g_b, and where \|H\| ≥ 1 one pulse of C's step is sent and H forgotten (H ← momentum·H); W = γ·A + C | Gokmen, Front. AI 4:699148 (2021); aihwkit `ChoppedTransferCompound` with `in_chop_prob` 0 (its TTv2 presets) |
//! | `c-ttv2` | `ttv2` with choppers: the sign c_j of input j into A flips with probability `in_chop_prob` after each read of column j, and reads of A are multiplied back by c_j, so A's drift toward its symmetry point averages out of H | Rasch et al., Nat. Commun. (2024); aihwkit `ChoppedTransferCompound` |
//! | `agad` | chopped TTv2 with a dynamic reference: c_j flips regularly every N = max(⌈1/in_chop_prob⌉, 2) sweeps over the columns; each read updates a running mean M ← (1 − m)·M + m·A[:, j] (m = min(tail_weightening/N, 1)); at a chopper switch the past mean P ← M is kept, and H ← H + c_j·(A[:, j] − P)·η·transfer_lr/g_b; no transfer before N sweeps | Rasch et al., AGAD (2024); aihwkit `DynamicTransferCompound` (rpu_dynamic_transfer_device.cpp:198-340) |
//!
//! The defaults are aihwkit's (file and line of `src/aihwkit/simulator/configs/compounds.py`
//! and `presets/configs.py` at commit 4545f11 are cited on each field of [`SchemeOptions`]).
//!
//! Every extra array is a tile of the chip: the fast array A is fabricated on the chip's device,
//! ages on the chip's clock and is counted and priced under [`super::Role::Transfer`]. Every
//! transfer read is a forward read of A (counted in `reads` and in `transfer_reads`), every
//! operation on a digital buffer (H, χ, choppers, running maxima) in `digital_ops` and in
//! `buffer_ops`.
//!
//! Symmetry point: a fast array's cells drift toward the point where their up and down steps are
//! equal, and TTv2 transfers that offset into C unless it is removed. `c-ttv2` and `agad` remove
//! it by chopping; [`SchemeOptions::symmetry_pulses`] removes it with a reference found on the
//! chip (alternating up/down pulses, then a readout, all counted), subtracted from every read of A.
//!
//! Deviations from aihwkit, all documented here: one update per mini-batch (aihwkit applies the
//! vector pairs of a batch one by one; here the transfers due during a batch follow its update);
//! the auto-scale running maxima of `ttv2`/`c-ttv2` are updated with every sample of a batch
//! before the batch's rate is formed; output choppers (`out_chop_prob`, 0 by default in
//! aihwkit) are not implemented; `mixed-precision` always transfers every row.

use super::Layer;
use crate::crossbar::Crossbar;
use crate::device::{Device, UpdateSection};
use crate::random::{purpose, stream};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// The update scheme's name, as `[train] update` and `--update` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeName {
    /// The plain stochastic pulse update of the weights (default).
    #[default]
    Sgd,
    /// Digital accumulator χ, integer pulses when |χ| passes the device's step.
    MixedPrecision,
    /// Tiki-Taka (TTv1): fast array A, columns transferred into C.
    TikiTaka,
    /// TTv2: Tiki-Taka with a digital buffer H and thresholded transfers.
    Ttv2,
    /// Chopped TTv2 (TTv3).
    #[serde(rename = "c-ttv2")]
    CTtv2,
    /// AGAD (TTv4): chopped TTv2 whose reference of A is tracked from running means.
    Agad,
}

impl SchemeName {
    /// Every scheme, in report order.
    pub const ALL: [SchemeName; 6] = [
        SchemeName::Sgd,
        SchemeName::MixedPrecision,
        SchemeName::TikiTaka,
        SchemeName::Ttv2,
        SchemeName::CTtv2,
        SchemeName::Agad,
    ];

    /// The name as written in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SchemeName::Sgd => "sgd",
            SchemeName::MixedPrecision => "mixed-precision",
            SchemeName::TikiTaka => "tiki-taka",
            SchemeName::Ttv2 => "ttv2",
            SchemeName::CTtv2 => "c-ttv2",
            SchemeName::Agad => "agad",
        }
    }

    /// The scheme called `s`, or an error listing the names.
    pub fn parse(s: &str) -> Result<SchemeName, String> {
        SchemeName::ALL
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown update scheme `{s}`: expected one of {}",
                    SchemeName::ALL.map(SchemeName::name).join(", ")
                )
            })
    }

    fn is_sgd(&self) -> bool {
        *self == SchemeName::Sgd
    }
}

/// A scheme's options (`[train.scheme]`); every field is optional and defaults to aihwkit's
/// value for the chosen scheme. A field the chosen scheme does not use is an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeOptions {
    /// Transfer period. `tiki-taka` and `mixed-precision`: in updates (mini-batches), default 1
    /// (compounds.py:383 with `units_in_mbatch` True, :411; :1124). `ttv2`, `c-ttv2`: in samples
    /// (mat-vecs), default 1 (compounds.py:383 with `units_in_mbatch` False, :755).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_every: Option<u64>,
    /// `tiki-taka`: columns of A read and transferred at each transfer, default 1
    /// (`n_reads_per_transfer`, compounds.py:419). `ttv2`/`c-ttv2` read one (aihwkit's
    /// restriction for chopped transfers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns_per_transfer: Option<usize>,
    /// Weight γ of the fast array in the effective weight W = γ·A + C, default 0
    /// (compounds.py:367). With γ ≠ 0 every read of the layer also reads A (counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f32>,
    /// Rate of the fast array. `tiki-taka`: relative to the run's learning rate η, default 1
    /// (compounds.py:456, `scale_fast_lr` True :486). `ttv2`/`c-ttv2`: absolute, with auto-scale
    /// (A's rate = fast_lr·BL·dw_min/(x̄_max·d̄_max)), default 0.5 (the ReRAM TTv2 presets,
    /// presets/configs.py:829, :1050; the capacitor and ECRAM presets use 0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fast_lr: Option<f32>,
    /// Rate of the transfer relative to η (`scale_transfer_lr` True), default 1
    /// (compounds.py:465, :480; mixed precision :1158).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_lr: Option<f32>,
    /// `tiki-taka`: probability that a transferred column of A is reset to 0 (write-and-verify,
    /// counted), default 0 (`with_reset_prob`, compounds.py:438).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_reset_prob: Option<f32>,
    /// `c-ttv2`: probability that input j's chopper flips after a read of column j, default
    /// 0.01 (the ReRAM, capacitor and ECRAM presets, presets/configs.py:1049; the class default
    /// is 0.1, compounds.py:689). `agad`: the regular switching frequency (a switch every
    /// max(⌈1/in_chop_prob⌉, 2) sweeps), default 0.02 (the ReRAM AGAD preset,
    /// presets/configs.py:1282; class default 0.1, compounds.py:902). `ttv2` has none (0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_chop_prob: Option<f32>,
    /// `ttv2`/`c-ttv2`: the buffer's granularity is scaled by auto_granularity/(inputs ×
    /// transfer_every) (chopped device .cpp:135-146), default 1000 (ReRAM and capacitor
    /// presets, presets/configs.py:831; ECRAM 500); 0 = off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_granularity: Option<f32>,
    /// `ttv2`/`c-ttv2`: fraction of H kept after a transfer (`forget_buffer` True: H ←
    /// momentum·H), default 0 (compounds.py:730, :737).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f32>,
    /// `agad`: weight of the tail of a chopper period in the running mean, default 5
    /// (compounds.py:1002; the ReRAM preset's, presets/configs.py:1281).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail_weightening: Option<f32>,
    /// Tiki-Taka family (`tiki-taka`, `ttv2`, `c-ttv2`, `agad`): symmetry-point reference of
    /// the fast array found on the chip, default 0 = none. With n > 0, A receives n alternating
    /// up/down pulse pairs at allocation (every cell, counted), which drive each cell toward its
    /// symmetry point (where up and down steps are equal); A is then read out (one-hot reads,
    /// counted as transfer reads) into a digital reference R, subtracted from every later read
    /// of A (counted). aihwkit computes the same point per device from its parameters at
    /// fabrication (`subtract_symmetry_point`, rpu_powstep_reference_device.cpp:52-74;
    /// mortalsim's soft-bounds devices have that too, `response.subtract_symmetry_point`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symmetry_pulses: Option<u32>,
    /// `mixed-precision`: the step ε of a pulse, in weight units; default the device's
    /// `dw_min` (aihwkit's `granularity` 0, compounds.py:1148). 0 = no quantisation: χ is
    /// transferred whole at each transfer (a full-matrix pulse write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<f32>,
}

impl SchemeOptions {
    /// Whether no option is set.
    pub fn is_default(&self) -> bool {
        *self == SchemeOptions::default()
    }

    /// The options set, by field name.
    fn set_fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let mut add = |name, set: bool| {
            if set {
                f.push(name)
            }
        };
        add("transfer_every", self.transfer_every.is_some());
        add("columns_per_transfer", self.columns_per_transfer.is_some());
        add("gamma", self.gamma.is_some());
        add("fast_lr", self.fast_lr.is_some());
        add("transfer_lr", self.transfer_lr.is_some());
        add("with_reset_prob", self.with_reset_prob.is_some());
        add("in_chop_prob", self.in_chop_prob.is_some());
        add("auto_granularity", self.auto_granularity.is_some());
        add("momentum", self.momentum.is_some());
        add("granularity", self.granularity.is_some());
        add("tail_weightening", self.tail_weightening.is_some());
        add("symmetry_pulses", self.symmetry_pulses.is_some());
        f
    }
}

/// An update scheme with its options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateScheme {
    /// Which scheme.
    pub name: SchemeName,
    /// Its options.
    #[serde(default)]
    pub options: SchemeOptions,
}

/// A scheme's parameters with every default filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    /// The scheme.
    pub name: SchemeName,
    /// Transfer period (updates or samples, see [`SchemeOptions::transfer_every`]).
    pub transfer_every: u64,
    /// Columns per transfer (`tiki-taka`).
    pub columns_per_transfer: usize,
    /// γ.
    pub gamma: f32,
    /// Rate of A.
    pub fast_lr: f32,
    /// Transfer rate relative to η.
    pub transfer_lr: f32,
    /// Column reset probability (`tiki-taka`).
    pub with_reset_prob: f32,
    /// Chopper flip probability.
    pub in_chop_prob: f32,
    /// Buffer auto-granularity.
    pub auto_granularity: f32,
    /// Buffer momentum.
    pub momentum: f32,
    /// Mixed-precision step (None: the device's dw_min).
    pub granularity: Option<f32>,
    /// AGAD's tail weighting.
    pub tail_weightening: f32,
    /// Up/down pulse pairs of the symmetry-point search (0 = none).
    pub symmetry_pulses: u32,
}

impl UpdateScheme {
    /// The plain pulsed update.
    pub fn sgd() -> UpdateScheme {
        UpdateScheme::default()
    }

    /// Scheme `name` with aihwkit's defaults.
    pub fn named(name: SchemeName) -> UpdateScheme {
        UpdateScheme {
            name,
            options: SchemeOptions::default(),
        }
    }

    /// Whether this is the plain pulsed update.
    pub fn is_sgd(&self) -> bool {
        self.name.is_sgd() && self.options.is_default()
    }

    /// Checks the options: each used by the scheme and in range. The error is (field, message),
    /// the field as written under `[train.scheme]`.
    pub fn validate(&self) -> Result<Resolved, (String, String)> {
        use SchemeName::*;
        let name = self.name;
        let uses: &[&str] = match name {
            Sgd => &[],
            MixedPrecision => &["transfer_every", "transfer_lr", "granularity"],
            TikiTaka => &[
                "transfer_every",
                "columns_per_transfer",
                "gamma",
                "fast_lr",
                "transfer_lr",
                "with_reset_prob",
                "symmetry_pulses",
            ],
            Ttv2 => &[
                "transfer_every",
                "gamma",
                "fast_lr",
                "transfer_lr",
                "auto_granularity",
                "momentum",
                "symmetry_pulses",
            ],
            CTtv2 => &[
                "transfer_every",
                "gamma",
                "fast_lr",
                "transfer_lr",
                "in_chop_prob",
                "auto_granularity",
                "momentum",
                "symmetry_pulses",
            ],
            Agad => &[
                "transfer_every",
                "gamma",
                "fast_lr",
                "transfer_lr",
                "in_chop_prob",
                "auto_granularity",
                "momentum",
                "tail_weightening",
                "symmetry_pulses",
            ],
        };
        if let Some(f) = self
            .options
            .set_fields()
            .into_iter()
            .find(|f| !uses.contains(f))
        {
            return Err((
                f.to_string(),
                format!("the update scheme `{}` has no option `{f}`", name.name()),
            ));
        }
        let o = &self.options;
        let transfer = matches!(name, Ttv2 | CTtv2 | Agad);
        let r = Resolved {
            name,
            transfer_every: o.transfer_every.unwrap_or(1),
            columns_per_transfer: o.columns_per_transfer.unwrap_or(1),
            gamma: o.gamma.unwrap_or(0.0),
            fast_lr: o.fast_lr.unwrap_or(if transfer { 0.5 } else { 1.0 }),
            transfer_lr: o.transfer_lr.unwrap_or(1.0),
            with_reset_prob: o.with_reset_prob.unwrap_or(0.0),
            in_chop_prob: o.in_chop_prob.unwrap_or(match name {
                CTtv2 => 0.01,
                Agad => 0.02,
                _ => 0.0,
            }),
            auto_granularity: o.auto_granularity.unwrap_or(1000.0),
            momentum: o.momentum.unwrap_or(0.0),
            granularity: o.granularity,
            tail_weightening: o.tail_weightening.unwrap_or(5.0),
            symmetry_pulses: o.symmetry_pulses.unwrap_or(0),
        };
        let bad = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
        if r.transfer_every == 0 {
            return bad("transfer_every", "must be at least 1");
        }
        if r.columns_per_transfer == 0 {
            return bad("columns_per_transfer", "must be at least 1");
        }
        if !r.gamma.is_finite() {
            return bad("gamma", "must be a finite number");
        }
        for (f, v) in [("fast_lr", r.fast_lr), ("transfer_lr", r.transfer_lr)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(f, "must be a positive number");
            }
        }
        for (f, v) in [
            ("with_reset_prob", r.with_reset_prob),
            ("in_chop_prob", r.in_chop_prob),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(f, "must be a probability in [0, 1]");
            }
        }
        if !(r.auto_granularity.is_finite() && r.auto_granularity >= 0.0) {
            return bad("auto_granularity", "must be a finite number ≥ 0");
        }
        if !(0.0..1.0).contains(&r.momentum) {
            return bad("momentum", "must be in [0, 1)");
        }
        if !(r.tail_weightening.is_finite() && r.tail_weightening > 0.0) {
            return bad("tail_weightening", "must be a positive number");
        }
        if let Some(g) = r.granularity {
            if !(g.is_finite() && g >= 0.0) {
                return bad("granularity", "must be a finite number ≥ 0");
            }
        }
        Ok(r)
    }
}

/// The state of a scheme on one layer: its fast array, its buffer and its schedule.
#[derive(Debug, Clone)]
pub(crate) struct SchemeState {
    p: Resolved,
    /// The fast array A (`tiki-taka`, `ttv2`, `c-ttv2`), a tile of role `Transfer`.
    fast: Option<Box<Layer>>,
    /// H (`ttv2`, `c-ttv2`) or χ (`mixed-precision`), rows × cols, digital; empty for
    /// `tiki-taka`.
    buffer: DMatrix<f32>,
    /// Input choppers: true where input j enters A with its sign flipped.
    chopper: Vec<bool>,
    /// The next column of A to transfer.
    next_column: usize,
    /// Updates so far.
    steps: u64,
    /// Samples so far.
    samples: u64,
    /// Running maxima x̄_max, d̄_max of the auto-scale (0 before the first update).
    m_x: f32,
    m_d: f32,
    /// The device's step dw_min and pulse-train settings.
    dw_min: f32,
    update: UpdateSection,
    seed: u64,
    /// Transfer pulses sent to C so far (vector pairs with a non-zero entry count their
    /// coincidences on C; this is the scheme's own tally for checks).
    transfer_events: u64,
    /// Signed transfer pulses (up − down) asked of C by thresholded transfers (`ttv2`,
    /// `c-ttv2`, `agad`, `mixed-precision`).
    net_pulses: i64,
    /// `agad`: running mean M and past mean P of A's reads (rows × cols; empty otherwise).
    running_mean: DMatrix<f32>,
    past_mean: DMatrix<f32>,
    /// `agad`: whether input j's chopper switched since column j was last read.
    switched: Vec<bool>,
    /// `agad`: full sweeps over the columns so far.
    sweeps: u64,
    /// The fast array's symmetry-point reference R (rows × cols), when searched for.
    reference: Option<DMatrix<f32>>,
}

impl SchemeState {
    /// The state of `scheme` (validated) on a `rows` × `cols` layer of `device`; the fast array,
    /// if any, is fabricated from `seed` and programmed to 0 (write-and-verify, counted).
    pub(crate) fn new(
        p: Resolved,
        device: &Device,
        rows: usize,
        cols: usize,
        seed: u64,
    ) -> SchemeState {
        use SchemeName::*;
        let mut fast = matches!(p.name, TikiTaka | Ttv2 | CTtv2 | Agad).then(|| {
            Box::new(Layer::new(
                Some(device),
                &DMatrix::zeros(rows, cols),
                DVector::zeros(rows),
                super::Activation::Identity,
                seed,
            ))
        });
        // The symmetry-point search: alternating pulses, then a readout as the reference.
        let reference = match fast.as_mut() {
            Some(a) if p.symmetry_pulses > 0 => {
                for _ in 0..p.symmetry_pulses {
                    a.pulse_all(true);
                    a.pulse_all(false);
                }
                Some(a.transfer_read(&DMatrix::identity(cols, cols)))
            }
            _ => None,
        };
        let buffer = match p.name {
            MixedPrecision | Ttv2 | CTtv2 | Agad => DMatrix::zeros(rows, cols),
            _ => DMatrix::zeros(0, 0),
        };
        SchemeState {
            p,
            fast,
            buffer,
            chopper: vec![false; cols],
            next_column: 0,
            steps: 0,
            samples: 0,
            m_x: 0.0,
            m_d: 0.0,
            dw_min: device.spec.response.dw_min as f32,
            update: device.spec.update.clone(),
            seed,
            transfer_events: 0,
            net_pulses: 0,
            running_mean: agad_matrix(p.name, rows, cols),
            past_mean: agad_matrix(p.name, rows, cols),
            switched: vec![false; if p.name == Agad { cols } else { 0 }],
            sweeps: 0,
            reference,
        }
    }

    /// The resolved parameters.
    pub(crate) fn params(&self) -> &Resolved {
        &self.p
    }

    /// The fast array, if the scheme has one.
    pub(crate) fn fast(&self) -> Option<&Layer> {
        self.fast.as_deref()
    }

    /// The fast array, for the chip's operations on every tile (clock, ageing, refresh).
    pub(crate) fn fast_mut(&mut self) -> Option<&mut Layer> {
        self.fast.as_deref_mut()
    }

    /// Transfer pulse vectors sent to C so far.
    pub(crate) fn transfer_events(&self) -> u64 {
        self.transfer_events
    }

    /// Signed transfer pulses (up − down) asked of C so far.
    pub(crate) fn net_pulses(&self) -> i64 {
        self.net_pulses
    }

    /// The input choppers' signs (+1 or −1 per input).
    fn chop_signs(&self) -> Vec<f32> {
        self.chopper
            .iter()
            .map(|&c| if c { -1.0 } else { 1.0 })
            .collect()
    }

    /// γ·A·diag(c)·x (rows × batch): the fast array's share of a read, through a forward read
    /// of A (counted); None when γ = 0.
    pub(crate) fn fast_read(&mut self, x: &DMatrix<f32>) -> Option<DMatrix<f32>> {
        let gamma = self.p.gamma;
        if gamma == 0.0 {
            return None;
        }
        let signs = self.chop_signs();
        let chopped = self.p.in_chop_prob > 0.0;
        let fast = self.fast.as_mut()?;
        let mut xc = x.clone();
        if chopped {
            for (mut row, s) in xc.row_iter_mut().zip(&signs) {
                row *= *s;
            }
            fast.count_buffer_ops(x.len() as u64);
        }
        let mut y = fast.read(&xc);
        if let Some(r) = &self.reference {
            y -= r * &xc;
            fast.count_buffer_ops((2 * r.len() * x.ncols()) as u64);
        }
        fast.count_digital_ops(2 * y.len() as u64);
        Some(y * gamma)
    }

    /// γ·(A − R)·diag(c) as a matrix from `a` (A's weights however they were obtained; R the
    /// symmetry-point reference, if any); None when γ = 0.
    pub(crate) fn fast_share(&self, a: DMatrix<f32>) -> Option<DMatrix<f32>> {
        if self.p.gamma == 0.0 {
            return None;
        }
        let a = match &self.reference {
            Some(r) => a - r,
            None => a,
        };
        let mut a = a * self.p.gamma;
        for (mut col, s) in a.column_iter_mut().zip(self.chop_signs()) {
            col *= s;
        }
        Some(a)
    }

    /// γ·g·diag(c) for a product g (batch × cols) already taken against A − R; None when γ = 0.
    pub(crate) fn fast_share_of_product(&self, g: DMatrix<f32>) -> Option<DMatrix<f32>> {
        if self.p.gamma == 0.0 {
            return None;
        }
        let mut g = g * self.p.gamma;
        for (mut col, s) in g.column_iter_mut().zip(self.chop_signs()) {
            col *= s;
        }
        Some(g)
    }

    /// The fast array's symmetry-point reference R, if one was searched for.
    pub(crate) fn reference(&self) -> Option<&DMatrix<f32>> {
        self.reference.as_ref()
    }

    /// Forgets the fast array and the buffer after the layer was re-programmed: A is programmed
    /// to 0 (write-and-verify, counted) and H or χ cleared, as aihwkit sets a compound's weights
    /// (A = 0, C = W; rpu_transfer_device.cpp:560-600).
    pub(crate) fn reset(&mut self) {
        if let Some(fast) = self.fast.as_mut() {
            let (r, c) = (fast.rows(), fast.cols());
            fast.program(&DMatrix::zeros(r, c));
        }
        self.buffer.fill(0.0);
    }

    /// The step W ← W − lr·Σ_b δ_b x_bᵀ of the layer whose main array (C) is `c`, by the scheme;
    /// `buffer_ops` receives the digital buffer work done on C's side (`mixed-precision`).
    pub(crate) fn update(
        &mut self,
        c: &mut Crossbar,
        x: &DMatrix<f32>,
        delta: &DMatrix<f32>,
        lr: f32,
        buffer_ops: &mut u64,
    ) {
        match self.p.name {
            SchemeName::Sgd => c.pulse_update(x, delta, lr),
            SchemeName::MixedPrecision => self.mixed_precision(c, x, delta, lr, buffer_ops),
            SchemeName::TikiTaka => self.tiki_taka(c, x, delta, lr),
            SchemeName::Ttv2 | SchemeName::CTtv2 | SchemeName::Agad => {
                self.buffered(c, x, delta, lr)
            }
        }
        self.steps += 1;
        self.samples += x.ncols() as u64;
    }

    /// Mixed precision (Nandakumar et al. 2020; aihwkit rpu_mixedprec_device.cpp:147-190 and
    /// rpu_mixedprec_device_base.cpp:282-300): χ ← χ − lr·δxᵀ; at a transfer, per row i,
    /// n = trunc(χ_i/ε), χ_i ← χ_i − n·ε, and row i of C receives the pulsed update with
    /// x = n, d = e_i and rate ε·transfer_lr under update and bit-length management (so a cell
    /// gets |n| pulses on average, exactly |n| where |n| is the row's largest).
    fn mixed_precision(
        &mut self,
        c: &mut Crossbar,
        x: &DMatrix<f32>,
        delta: &DMatrix<f32>,
        lr: f32,
        buffer_ops: &mut u64,
    ) {
        crate::kernel::par_gemm(&mut self.buffer, -lr, delta, &x.transpose(), 1.0);
        *buffer_ops += (2 * self.buffer.len() * x.ncols()) as u64;
        if !(self.steps + 1).is_multiple_of(self.p.transfer_every) {
            return;
        }
        let (rows, cols) = self.buffer.shape();
        let eps = self.p.granularity.unwrap_or(self.dw_min);
        let tlr = self.p.transfer_lr;
        if eps == 0.0 {
            // No quantisation: χ written whole, C ← C + transfer_lr·χ.
            let v = &self.buffer * -tlr;
            c.pulse_write(&v, 1.0);
            *buffer_ops += 2 * self.buffer.len() as u64;
            self.transfer_events += rows as u64;
            self.buffer.fill(0.0);
            return;
        }
        let mut xs: Vec<f32> = Vec::new();
        let mut ds: Vec<f32> = Vec::new();
        let mut n_pairs = 0;
        for i in 0..rows {
            let mut any = false;
            let start = xs.len();
            xs.resize(start + cols, 0.0);
            for j in 0..cols {
                let v = self.buffer[(i, j)];
                let n = (v / eps).trunc();
                if n != 0.0 {
                    self.net_pulses += n as i64;
                    self.buffer[(i, j)] = v - n * eps;
                    xs[start + j] = n;
                    any = true;
                }
            }
            if any {
                let ds0 = ds.len();
                ds.resize(ds0 + rows, 0.0);
                ds[ds0 + i] = -1.0;
                n_pairs += 1;
            } else {
                xs.truncate(start);
            }
        }
        *buffer_ops += 3 * self.buffer.len() as u64;
        if n_pairs == 0 {
            return;
        }
        self.transfer_events += n_pairs as u64;
        let up = UpdateSection {
            update_management: true,
            update_bl_management: true,
            ..self.update.clone()
        };
        let xm = DMatrix::from_vec(cols, n_pairs, xs);
        let dm = DMatrix::from_vec(rows, n_pairs, ds);
        c.pulse_update_with(&xm, &dm, eps * tlr, &up);
    }

    /// Tiki-Taka (Gokmen & Haensch 2020; aihwkit rpu_transfer_device.cpp:434-520): A pulsed
    /// with fast_lr·lr; every `transfer_every` updates the next `columns_per_transfer` columns
    /// of A are read (one-hot forward reads) and pulsed into C with rate transfer_lr·lr
    /// (C ← C + transfer_lr·lr·A[:, j]) with the device's own pulse trains (aihwkit's default
    /// `transfer_update`); a transferred column is reset to 0 with `with_reset_prob`.
    fn tiki_taka(&mut self, c: &mut Crossbar, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        let fast = self.fast.as_mut().expect("tiki-taka has a fast array");
        fast.pulse_weights(x, delta, self.p.fast_lr * lr);
        if !(self.steps + 1).is_multiple_of(self.p.transfer_every) {
            return;
        }
        let cols = c.cols();
        let mut left = self.p.columns_per_transfer;
        while left > 0 {
            let n = left.min(cols);
            left -= n;
            let columns: Vec<usize> = (0..n).map(|k| (self.next_column + k) % cols).collect();
            self.next_column = (self.next_column + n) % cols;
            let e = one_hot(cols, &columns);
            let v = read_columns(fast, self.reference.as_ref(), &e, &columns);
            c.pulse_update(&e, &(-v), self.p.transfer_lr * lr);
            self.transfer_events += n as u64;
            if self.p.with_reset_prob > 0.0 {
                let mut rng = stream(self.seed, &[purpose::SCHEME, 1, self.steps]);
                for &j in &columns {
                    if rng.random::<f32>() < self.p.with_reset_prob {
                        fast.program_input(j, 0.0);
                    }
                }
            }
        }
    }

    /// TTv2 and chopped TTv2 (aihwkit rpu_chopped_transfer_device.cpp:333-475 and
    /// compounds.py:640-676): A ← A − count_lr·δ·(c ⊙ x)ᵀ with the auto-scaled
    /// count_lr = fast_lr·BL·dw_min/(x̄_max·d̄_max) (.cpp:158-167; running maxima with momentum
    /// 0.99, .cpp:88-103); after every `transfer_every` samples the next column j of A is read,
    /// H_j ← H_j + c_j·A[:, j]·lr·transfer_lr/g_b (g_b = dw_min·auto_granularity/(inputs ×
    /// transfer_every), .cpp:135-146), and where |H_ij| ≥ 1 one pulse of C's step in the
    /// direction of H_ij is sent (transfer trains of one slot without update management) and
    /// H_ij ← momentum·H_ij; then c_j flips with `in_chop_prob`.
    fn buffered(&mut self, c: &mut Crossbar, x: &DMatrix<f32>, delta: &DMatrix<f32>, lr: f32) {
        const AUTO_MOMENTUM: f32 = 0.99;
        let batch = x.ncols();
        let tau = (1.0 - AUTO_MOMENTUM) / batch as f32;
        for b in 0..batch {
            for (m, v) in [
                (&mut self.m_x, x.column(b).amax()),
                (&mut self.m_d, delta.column(b).amax()),
            ] {
                if *m <= 0.0 {
                    *m = v;
                } else if v > 0.0 {
                    *m = (1.0 - tau) * *m + tau * v;
                }
            }
        }
        let fast = self.fast.as_mut().expect("ttv2 has a fast array");
        fast.count_buffer_ops(2 * (x.len() + delta.len()) as u64);
        let mut count_lr = self.p.fast_lr * self.update.desired_bl as f32 * self.dw_min;
        if self.m_x > 0.0 && self.m_d > 0.0 {
            count_lr /= self.m_x * self.m_d;
        }
        let chopped = self.chopper.iter().any(|&c| c);
        if chopped {
            let mut xc = x.clone();
            for (mut row, &flip) in xc.row_iter_mut().zip(&self.chopper) {
                if flip {
                    row.neg_mut();
                }
            }
            fast.count_buffer_ops(x.len() as u64);
            fast.pulse_weights(&xc, delta, count_lr);
        } else {
            fast.pulse_weights(x, delta, count_lr);
        }
        let every = self.p.transfer_every;
        let due = (self.samples + batch as u64) / every - self.samples / every;
        if due == 0 {
            return;
        }
        let (rows, cols) = self.buffer.shape();
        let period = if self.p.auto_granularity > 0.0 {
            cols as f32 * every as f32 / self.p.auto_granularity
        } else {
            1.0
        };
        let lr_scale = self.p.transfer_lr * lr / (self.dw_min / period);
        let up = UpdateSection {
            desired_bl: 1,
            update_management: false,
            update_bl_management: false,
            ..self.update.clone()
        };
        let mut rng = stream(self.seed, &[purpose::SCHEME, 2, self.steps]);
        // AGAD's dynamic reference (rpu_dynamic_transfer_device.cpp:245-325).
        let agad = self.p.name == SchemeName::Agad;
        let n_samples = agad_period(self.p.in_chop_prob);
        let sample_momentum = (self.p.tail_weightening / n_samples as f32).min(1.0);
        let mut d = vec![0f32; rows];
        let mut left = due as usize;
        while left > 0 {
            let n = left.min(cols);
            left -= n;
            let columns: Vec<usize> = (0..n).map(|k| (self.next_column + k) % cols).collect();
            self.next_column = (self.next_column + n) % cols;
            let v = read_columns(
                fast,
                self.reference.as_ref(),
                &one_hot(cols, &columns),
                &columns,
            );
            let mut pulsed: Vec<usize> = Vec::new();
            let mut ds: Vec<f32> = Vec::new();
            for (k, &j) in columns.iter().enumerate() {
                let sign = if self.chopper[j] { -1.0 } else { 1.0 };
                d.fill(0.0);
                let mut any = false;
                let switched = agad && std::mem::take(&mut self.switched[j]);
                for (i, di) in d.iter_mut().enumerate() {
                    let val = v[(i, k)];
                    let reference = if !agad {
                        0.0
                    } else if switched {
                        let m = self.running_mean[(i, j)];
                        self.past_mean[(i, j)] = m;
                        m
                    } else {
                        self.past_mean[(i, j)]
                    };
                    let mut h = self.buffer[(i, j)] + sign * (val - reference) * lr_scale;
                    if h.abs() >= 1.0 {
                        let steps = h.trunc().clamp(-1.0, 1.0);
                        h *= self.p.momentum;
                        *di = -steps;
                        any = true;
                    }
                    self.buffer[(i, j)] = h;
                    if agad {
                        let m = &mut self.running_mean[(i, j)];
                        *m = *m * (1.0 - sample_momentum) + val * sample_momentum;
                    }
                }
                // AGAD writes nothing before its first N sweeps (.cpp:327).
                let any = any && (!agad || self.sweeps > n_samples);
                if any {
                    self.net_pulses -= d.iter().map(|&v| v as i64).sum::<i64>();
                    ds.extend_from_slice(&d);
                    pulsed.push(j);
                }
                if agad {
                    // Regular switching: all inputs at the last sample of a period (.cpp:329-340).
                    if self.sweeps % n_samples + 1 == n_samples {
                        self.chopper[j] = !self.chopper[j];
                        self.switched[j] = true;
                    }
                    if j == cols - 1 {
                        self.sweeps += 1;
                    }
                } else if self.p.in_chop_prob > 0.0 && rng.random::<f32>() < self.p.in_chop_prob {
                    self.chopper[j] = !self.chopper[j];
                }
            }
            fast.count_buffer_ops(5 * (rows * n) as u64);
            if !pulsed.is_empty() {
                self.transfer_events += pulsed.len() as u64;
                let dm = DMatrix::from_vec(rows, pulsed.len(), ds);
                c.pulse_update_with(&one_hot(cols, &pulsed), &dm, self.dw_min, &up);
            }
        }
    }
}

/// AGAD's chopper period in sweeps, N = max(⌈1/in_chop_prob⌉, 2) (2 when 0;
/// rpu_dynamic_transfer_device.cpp:52-59).
fn agad_period(in_chop_prob: f32) -> u64 {
    if in_chop_prob > 0.0 {
        ((1.0 / in_chop_prob).ceil() as u64).max(2)
    } else {
        2
    }
}

/// A rows × cols matrix of zeros for `agad`'s means, empty for other schemes.
fn agad_matrix(name: SchemeName, rows: usize, cols: usize) -> DMatrix<f32> {
    if name == SchemeName::Agad {
        DMatrix::zeros(rows, cols)
    } else {
        DMatrix::zeros(0, 0)
    }
}

/// Transfer reads of the fast array `fast` with the one-hot inputs `e` of `columns`, minus the
/// symmetry-point reference's columns when there is one (counted as buffer work).
fn read_columns(
    fast: &mut Layer,
    reference: Option<&DMatrix<f32>>,
    e: &DMatrix<f32>,
    columns: &[usize],
) -> DMatrix<f32> {
    let mut v = fast.transfer_read(e);
    if let Some(r) = reference {
        for (k, &j) in columns.iter().enumerate() {
            let mut vk = v.column_mut(k);
            vk -= r.column(j);
        }
        fast.count_buffer_ops(v.len() as u64);
    }
    v
}

/// The one-hot inputs e_j of `columns` (n × k).
fn one_hot(n: usize, columns: &[usize]) -> DMatrix<f32> {
    let mut e = DMatrix::zeros(n, columns.len());
    for (k, &j) in columns.iter().enumerate() {
        e[(j, k)] = 1.0;
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crossbar::OracleKey;
    use crate::net::{Chip, NetSpec};

    #[test]
    fn the_privileged_product_sees_the_fast_array_with_its_reference_and_choppers() {
        let spec = NetSpec::new(vec![5, 3], crate::net::Activation::Relu);
        let dev = Device::ideal();
        let mut chip = Chip::new(&spec, Some(&dev), 2);
        let scheme = UpdateScheme {
            name: SchemeName::CTtv2,
            options: SchemeOptions {
                gamma: Some(0.7),
                in_chop_prob: Some(0.5),
                symmetry_pulses: Some(3),
                ..Default::default()
            },
        };
        chip.set_update_scheme(&scheme, 2).unwrap();
        let layer = chip.network_mut().layer(0);
        for s in 0..5 {
            let x = DMatrix::from_fn(5, 4, |i, j| ((i * 7 + j * 3 + s) % 5) as f32 - 2.0);
            let d = DMatrix::from_fn(3, 4, |i, j| ((i * 5 + j + s) % 3) as f32 - 1.0);
            layer.update(&x, &d, 0.1);
        }
        let delta = DMatrix::from_fn(3, 2, |i, j| (i + 2 * j) as f32 - 1.5);
        let w = layer.readout();
        let g = layer.privileged_transposed_product(&OracleKey::new(), &delta);
        assert!((g - w.tr_mul(&delta)).amax() < 1e-5);
        assert!((layer.inspect_weights() - w).amax() < 1e-6);
    }
}
