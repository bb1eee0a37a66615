//! Property-testing support for users' own learning rules and devices (feature `proptest`).
//!
//! **Strategies** generate devices within physical ranges — pulsed devices ([`device`]), noisy
//! and quantised periphery ([`noisy_periphery_device`]), layers split over several tiles
//! ([`multi_tile_device`]), one-sided pairs as PCM builds them ([`pcm_pair_device`]), piecewise
//! responses ([`piecewise_device`]), the ideal device ([`ideal_device`]) and all of them mixed
//! ([`any_device`]) — and small networks and batches ([`net_and_batch`]). Every generated device
//! is a device file checked by [`Device::from_toml`].
//!
//! **Checks** are the invariants mortalsim's own tests assert. They return proptest's
//! [`TestCaseError`] instead of panicking, so inside `proptest!` they compose with `?` and a
//! failing case shrinks quietly to one report:
//!
//! - [`check_learner_step`]: a step gives a finite loss, finite scores and readouts, counters
//!   that only grow, a clock that does not go back, and no privileged read
//!   ([`check_reference_step`] is the same for `bp-oracle`, which may read true weights);
//! - [`check_no_privileged_reads`]: no array of the chip was ever read through the privileged
//!   call;
//! - [`check_layers_stay_on_device`]: against a [`ChipSnapshot`] taken before, every array is
//!   still there with its shape and tiles, and every trained layer is still analog on the
//!   given device;
//! - [`check_matches_reference`]: a rule and a reference rule trained on the same batches agree
//!   within a tolerance (on ideal devices a rule that is backprop in disguise matches
//!   `bp-digital`).
//!
//! A rule written outside the crate implements [`crate::learn::Learner`] and is property-tested
//! in a few lines (`examples/user_rule.rs` does so for its own rule); here a built-in one, on
//! every kind of device:
//!
//! ```
//! use mortalsim::learn::{self, Learner};
//! use mortalsim::proptest::prelude::*;
//! use mortalsim::testing::{self, ChipSnapshot};
//!
//! proptest!(ProptestConfig::with_cases(4), |((spec, x, y) in testing::net_and_batch(),
//!                                             dev in testing::any_device())| {
//!     let mut rule = learn::build("dfa", &spec, &dev, 1, &Default::default()).unwrap();
//!     let before = ChipSnapshot::of(rule.chip());
//!     testing::check_learner_step(rule.as_mut(), &x, &y, 0.05)?;
//!     testing::check_layers_stay_on_device(rule.as_ref(), Some(&dev), &before)?;
//!     testing::check_no_privileged_reads(rule.as_ref())?;
//! });
//! ```

use crate::crossbar::{Counters, Status, Tile};
use crate::device::Device;
use crate::learn::Learner;
use crate::net::{Activation, Chip, NetSpec, Role};
use nalgebra::DMatrix;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Checks a generated device file; a failure is a bug of this module, so it panics with the file.
fn build(src: String) -> Device {
    Device::from_toml(&src, "generated")
        .unwrap_or_else(|e| panic!("a generated device is invalid: {e}\n{src}"))
}

/// The `[response]`, `[failure]`, `[drift]` and `[leak]` sections of a pulsed device (see
/// [`device`]).
fn pulsed_toml() -> impl Strategy<Value = String> {
    let model = prop_oneof![
        Just("constant-step"),
        Just("linear-step"),
        Just("soft-bounds"),
        Just("exp-step"),
        Just("pow-step")
    ];
    (
        model,
        50.0f64..10_000.0,
        -0.3f64..0.3,
        0.0f64..0.4,
        0.0f64..1.0,
        0.0f64..5.0,
        0.2f64..1.5,
        (0.0f64..0.2, 10.0f64..1e6, any::<bool>(), any::<bool>()),
    )
        .prop_map(|(model, states, up_down, dtod, c2c, write, w_max, (stuck, endurance, drift, leak))| {
            let dw_min = 2.0 * w_max / states;
            let mut src = format!(
                "name = \"generated\"\n[response]\nmodel = \"{model}\"\ndw_min = {dw_min}\nup_down = {up_down}\n\
                 dw_min_dtod = {dtod}\nw_min_dtod = {dtod}\nw_max_dtod = {dtod}\ndw_min_std = {c2c}\n\
                 w_min = {}\nw_max = {w_max}\n",
                -w_max
            );
            if model != "constant-step" {
                src.push_str(&format!("write_noise_std = {write}\n"));
            }
            src.push_str(&format!(
                "[failure]\nstuck_at_random_fraction = {stuck}\nendurance_median_pulses = {endurance}\nendurance_log_std = 0.5\n"
            ));
            if drift {
                src.push_str("[drift]\nmodel = \"power-law\"\nnu_mean = 0.05\nnu_std = 0.02\n");
            }
            if leak {
                src.push_str("[leak]\nlifetime_s = 1.0\n");
            }
            src
        })
}

/// A pulsed device with parameters drawn within physical ranges: one of the response models,
/// 50–10,000 states, asymmetry, device-to-device and cycle-to-cycle variation, write noise, and
/// optionally stuck cells, wear-out, drift and leak. Default periphery, one tile per layer of
/// up to 512 × 512.
pub fn device() -> impl Strategy<Value = Device> {
    pulsed_toml().prop_map(build)
}

/// A `[periphery]` section with tiles of at most `rows` × `cols` cells and `spares` spare lines
/// per tile: DAC and ADC of 4–9 and 4–12 bits or ideal, output noise up to 0.1, an output bound
/// of 2–20, every noise management (`none`, `abs-max`, `constant`) and bound management
/// (`none`, `iterative`).
fn periphery_toml(rows: usize, cols: usize, spares: usize) -> impl Strategy<Value = String> {
    let bits = |lo: u32, hi: u32| {
        prop_oneof![
            1 => Just("\"ideal\"".to_string()),
            3 => (lo..=hi).prop_map(|b| b.to_string()),
        ]
    };
    let nm = prop_oneof![
        Just("noise_management = \"none\"\n".to_string()),
        Just("noise_management = \"abs-max\"\n".to_string()),
        (0.5f64..2.0).prop_map(|t| format!("noise_management = \"constant\"\nnm_thres = {t}\n")),
    ];
    let bm = prop_oneof![Just("none"), Just("iterative")];
    (bits(4, 9), bits(4, 12), 0.0f64..0.1, 2.0f64..20.0, nm, bm).prop_map(
        move |(dac, adc, out_noise, out_bound, nm, bm)| {
            format!(
                "[periphery]\ndac_bits = {dac}\nadc_bits = {adc}\nout_noise = {out_noise}\n\
                 out_bound = {out_bound}\n{nm}bound_management = \"{bm}\"\n\
                 max_tile_rows = {rows}\nmax_tile_cols = {cols}\nspare_lines_per_tile = {spares}\n"
            )
        },
    )
}

/// A `[read_noise]` section: none, constant (up to 0.05 weight units) or relative (up to 10 %).
fn read_noise_toml() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (0.0f64..0.05).prop_map(|s| format!("[read_noise]\nmodel = \"constant\"\nstd = {s}\n")),
        (0.0f64..0.1).prop_map(|s| format!("[read_noise]\nmodel = \"relative\"\nstd = {s}\n")),
    ]
}

/// A pulsed device as [`device`] draws it, read through a drawn periphery and read noise:
/// DAC and ADC resolution (or ideal converters), output noise, output bound, noise management
/// and bound management, and constant or relative read noise.
pub fn noisy_periphery_device() -> impl Strategy<Value = Device> {
    (
        pulsed_toml(),
        periphery_toml(512, 512, 0),
        read_noise_toml(),
    )
        .prop_map(|(cells, periphery, read)| build(cells + &periphery + &read))
}

/// The ideal device file with tiles of at most `rows` × `cols` cells.
fn ideal_toml(rows: usize, cols: usize) -> String {
    format!(
        "name = \"generated-ideal\"\n[response]\nmodel = \"ideal\"\ndw_min_dtod = 0.0\n\
         dw_min_std = 0.0\nup_down_dtod = 0.0\nw_min = -1.0e30\nw_max = 1.0e30\nw_min_dtod = 0.0\n\
         w_max_dtod = 0.0\nreset_std = 0.0\n[periphery]\nperfect = true\n\
         max_tile_rows = {rows}\nmax_tile_cols = {cols}\n[update]\npulse_type = \"none\"\n"
    )
}

/// Devices whose tiles hold at most 1–3 rows × 1–3 columns, so that every layer wider than 3
/// units or inputs is split over a grid of tiles whose outputs are summed digitally: half of
/// them the ideal device (exact even when split), half a noisy pulsed device as
/// [`noisy_periphery_device`] draws it, with 0 or 1 spare line per tile.
pub fn multi_tile_device() -> impl Strategy<Value = Device> {
    let ideal = (1usize..=3, 1usize..=3).prop_map(|(r, c)| build(ideal_toml(r, c)));
    let noisy = (1usize..=3, 1usize..=3, 0usize..=1).prop_flat_map(|(r, c, spares)| {
        (
            pulsed_toml(),
            periphery_toml(r, c, spares),
            read_noise_toml(),
        )
            .prop_map(|(cells, periphery, read)| build(cells + &periphery + &read))
    });
    prop_oneof![ideal, noisy]
}

/// One-sided pairs as PCM builds a weight (w = g⁺ − g⁻, each device only potentiated): the
/// `pcm` preset's exp-step cell or a constant-step, linear-step or soft-bounds one on
/// [0, w_max], a reset value, refresh of saturated pairs after every update or never, each of
/// the PCM statistics (1/f read noise, programming noise, drift) on or off, and a drawn
/// periphery.
pub fn pcm_pair_device() -> impl Strategy<Value = Device> {
    let cell = prop_oneof![
        // The pcm preset's cell (Nandakumar et al. 2020), whose exp-step parameters are fitted
        // to its range [0, 2].
        Just(
            "model = \"exp-step\"\ndw_min = 0.01\nw_max = 2.0\nes_a = -1.0\nes_b = 0.0\n\
             es_A_up = -27.235\nes_A_down = -2.235\nes_gamma_up = 2.5\nes_gamma_down = 2.5\n\
             dw_min_std_add = 0.042\ndw_min_std_slope = 0.108\n"
                .to_string()
        ),
        (
            prop_oneof![
                Just("constant-step"),
                Just("linear-step"),
                Just("soft-bounds")
            ],
            0.5f64..2.0,
            20.0f64..2000.0,
        )
            .prop_map(|(model, w_max, states)| format!(
                "model = \"{model}\"\ndw_min = {}\nw_max = {w_max}\n",
                w_max / states
            )),
    ];
    (
        cell,
        (0.0f64..0.05, 0.0f64..0.3, 0.0f64..0.6),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        periphery_toml(512, 512, 0),
    )
        .prop_map(
            |(cell, (reset, dtod, c2c), (refresh, read, program, drift), periphery)| {
                let mut src = format!(
                    "name = \"generated-pair\"\n[response]\none_sided = true\nw_min = 0.0\n{cell}\
                     reset = {reset}\nreset_dtod = 0.01\ndw_min_dtod = {dtod}\nw_max_dtod = {dtod}\n\
                     w_min_dtod = 0.0\ndw_min_std = {c2c}\n"
                );
                if refresh {
                    src.push_str("[refresh]\nevery_updates = 1\n");
                }
                if read {
                    src.push_str("[read_noise]\nmodel = \"pcm\"\n");
                }
                if program {
                    src.push_str("[programming]\nnoise = \"pcm\"\nverify_tolerance = 0.02\n");
                }
                if drift {
                    src.push_str("[drift]\nmodel = \"pcm\"\n");
                }
                build(src + &periphery)
            },
        )
}

/// A piecewise response: relative up and down steps at 2–6 equally spaced nodes over the
/// cell's range (0.1–2 each), 50–2,000 states, device-to-device and cycle-to-cycle variation,
/// optional write noise, and a drawn periphery.
pub fn piecewise_device() -> impl Strategy<Value = Device> {
    (2usize..=6)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(0.1f64..2.0, n),
                proptest::collection::vec(0.1f64..2.0, n),
            )
        })
        .prop_flat_map(|(up, down)| {
            (
                Just((up, down)),
                (
                    50.0f64..2000.0,
                    0.2f64..1.5,
                    0.0f64..0.3,
                    0.0f64..0.5,
                    0.0f64..2.0,
                ),
                periphery_toml(512, 512, 0),
            )
        })
        .prop_map(
            |((up, down), (states, w_max, dtod, c2c, write), periphery)| {
                let list = |v: &[f64]| {
                    v.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                build(format!(
                    "name = \"generated-piecewise\"\n[response]\nmodel = \"piecewise\"\n\
                 piecewise_up = [{}]\npiecewise_down = [{}]\ndw_min = {}\nw_min = {}\n\
                 w_max = {w_max}\ndw_min_dtod = {dtod}\nw_min_dtod = {dtod}\nw_max_dtod = {dtod}\n\
                 dw_min_std = {c2c}\nwrite_noise_std = {write}\n{periphery}",
                    list(&up),
                    list(&down),
                    2.0 * w_max / states,
                    -w_max
                ))
            },
        )
}

/// The ideal device: floating-point cells, perfect periphery (the exact reference).
pub fn ideal_device() -> impl Strategy<Value = Device> {
    Just(Device::ideal())
}

/// Every kind of device above, mixed: pulsed, noisy periphery, split over tiles, one-sided
/// pairs, piecewise and ideal.
pub fn any_device() -> impl Strategy<Value = Device> {
    prop_oneof![
        device(),
        noisy_periphery_device(),
        multi_tile_device(),
        pcm_pair_device(),
        piecewise_device(),
        ideal_device(),
    ]
}

/// A small network (2–4 layers of 2–12 units) and a batch of 1–6 inputs in [0, 1] with labels.
pub fn net_and_batch() -> impl Strategy<Value = (NetSpec, DMatrix<f32>, Vec<usize>)> {
    (
        proptest::collection::vec(2usize..12, 3..5),
        prop_oneof![
            Just(Activation::Relu),
            Just(Activation::Tanh),
            Just(Activation::Sigmoid)
        ],
        1usize..6,
        any::<u64>(),
    )
        .prop_map(|(widths, activation, n, seed)| {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
            let x = DMatrix::from_fn(widths[0], n, |_, _| rng.random_range(0.0f32..1.0));
            let classes = *widths.last().unwrap();
            let y = (0..n).map(|_| rng.random_range(0..classes)).collect();
            (NetSpec::new(widths, activation), x, y)
        })
}

/// Every device of `tile` holds a finite value within its own bounds.
pub fn check_tile_bounds(tile: &Tile) {
    for (k, s) in tile.device_states().iter().enumerate() {
        let p = &s.params;
        assert!(s.w.is_finite(), "device {k} is not finite");
        assert!(
            s.w >= p.b_min && s.w <= p.b_max,
            "device {k} at {} outside its bounds [{}, {}]",
            s.w,
            p.b_min,
            p.b_max
        );
    }
}

/// Failed devices of `before` have the same value and are still failed in `after`.
pub fn check_failed_cells_unchanged(before: &Tile, after: &Tile) {
    for (k, (a, b)) in before
        .device_states()
        .iter()
        .zip(after.device_states())
        .enumerate()
    {
        if a.status != Status::Alive {
            assert_eq!(a.w, b.w, "failed device {k} changed");
            assert_ne!(b.status, Status::Alive, "failed device {k} came back");
        }
    }
}

/// The public facts of one array of a chip, as [`ChipSnapshot`] records them.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayFacts {
    /// What the array is for.
    pub role: Role,
    /// Outputs.
    pub rows: usize,
    /// Inputs.
    pub cols: usize,
    /// Whether it is on the device's tiles (false: a float matrix in digital memory).
    pub analog: bool,
    /// Physical tiles holding it (0 when digital).
    pub tiles: usize,
    /// Its operation counts.
    pub counters: Counters,
    /// Its simulated time, seconds.
    pub now_s: f64,
}

/// What a test compares of a chip across steps: every array, in [`Chip::arrays`] order, with
/// its role, shape, place (analog or digital, tiles), counts and clock, and the chip's time.
/// Take one before a step and hand it to [`check_layers_stay_on_device`] after.
#[derive(Debug, Clone, PartialEq)]
pub struct ChipSnapshot {
    /// The arrays, forward layers first.
    pub arrays: Vec<ArrayFacts>,
    /// The chip's time, seconds.
    pub now_s: f64,
}

impl ChipSnapshot {
    /// The facts of `chip` now.
    pub fn of(chip: &Chip) -> ChipSnapshot {
        ChipSnapshot {
            arrays: chip
                .arrays()
                .map(|(role, l)| ArrayFacts {
                    role,
                    rows: l.rows(),
                    cols: l.cols(),
                    analog: l.is_analog(),
                    tiles: l.tiles().len(),
                    counters: l.counters(),
                    now_s: l.now_s(),
                })
                .collect(),
            now_s: chip.now_s(),
        }
    }

    /// The counters of every array, summed.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for a in &self.arrays {
            c += a.counters;
        }
        c
    }
}

/// Every field of `c` by name (through serde, so a counter added later is covered too).
fn counter_fields(c: &Counters) -> Vec<(String, u64)> {
    match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m
            .into_iter()
            .filter_map(|(k, v)| v.as_u64().map(|v| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// `after` has the arrays of `before` (same roles, shapes, places and tiles), with counters
/// that did not decrease and clocks that did not go back.
fn check_grew(before: &ChipSnapshot, after: &ChipSnapshot) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        before.arrays.len(),
        after.arrays.len(),
        "the chip's number of arrays changed"
    );
    for (k, (a, b)) in before.arrays.iter().zip(&after.arrays).enumerate() {
        let place = |f: &ArrayFacts| (f.role, f.rows, f.cols, f.analog, f.tiles);
        prop_assert_eq!(
            place(a),
            place(b),
            "array {} changed (role, rows, cols, analog, tiles)",
            k
        );
        for ((name, x), (_, y)) in counter_fields(&a.counters)
            .into_iter()
            .zip(counter_fields(&b.counters))
        {
            prop_assert!(
                y >= x,
                "array {} ({}): counter {} went down from {} to {}",
                k,
                a.role.name(),
                name,
                x,
                y
            );
        }
        prop_assert!(
            b.now_s >= a.now_s,
            "array {} ({}): clock went back from {} s to {} s",
            k,
            a.role.name(),
            a.now_s,
            b.now_s
        );
    }
    prop_assert!(
        after.now_s >= before.now_s,
        "the chip's clock went back from {} s to {} s",
        before.now_s,
        after.now_s
    );
    Ok(())
}

/// One step and its checks; `privileged`: the rule may read true weights (`bp-oracle`).
fn step_checks(
    learner: &mut dyn Learner,
    x: &DMatrix<f32>,
    labels: &[usize],
    lr: f32,
    privileged: bool,
) -> Result<(), TestCaseError> {
    let before = ChipSnapshot::of(learner.chip());
    let loss = learner.step(x, labels, lr);
    prop_assert!(loss.is_finite() && loss >= 0.0, "loss {}", loss);
    let after = ChipSnapshot::of(learner.chip());
    check_grew(&before, &after)?;
    prop_assert!(
        after.counters().digital_ops > before.counters().digital_ops,
        "a step does some digital work (a rule counts its own)"
    );
    let classes = learner
        .chip()
        .network()
        .layers()
        .last()
        .map_or(0, |l| l.rows());
    let scores = learner.scores(x);
    prop_assert_eq!(scores.shape(), (classes, x.ncols()), "scores' shape");
    prop_assert!(scores.iter().all(|v| v.is_finite()), "non-finite scores");
    // Every array's weights as the chip can know them (counted reads, like a rule's).
    let chip = learner.chip_mut();
    let readouts = chip
        .net
        .layers
        .iter_mut()
        .map(|l| (Role::Forward, l))
        .chain(chip.tiles.iter_mut().map(|p| (p.role, &mut p.layer)));
    for (k, (role, layer)) in readouts.enumerate() {
        let w = layer.readout();
        prop_assert!(
            w.iter().all(|v| v.is_finite()),
            "array {} ({}): non-finite readout",
            k,
            role.name()
        );
    }
    if !privileged {
        check_no_privileged_reads(&*learner)?;
    }
    Ok(())
}

/// One step of `learner` on (`x`, `labels`) is sane: a finite loss ≥ 0; every array of the chip
/// still there with its shape, counters that only grow, some digital work counted; clocks (each
/// array's and the chip's) that do not go back; finite scores of shape classes × batch; a finite
/// readout of every array; and no privileged read of true weights, ever (use
/// [`check_reference_step`] for `bp-oracle`). Readouts and scores are counted reads on the chip,
/// like a rule's own.
pub fn check_learner_step(
    learner: &mut dyn Learner,
    x: &DMatrix<f32>,
    labels: &[usize],
    lr: f32,
) -> Result<(), TestCaseError> {
    step_checks(learner, x, labels, lr, false)
}

/// [`check_learner_step`] for the `bp-oracle` reference, the one rule allowed to read true
/// weights: everything but the privileged reads is checked.
pub fn check_reference_step(
    learner: &mut dyn Learner,
    x: &DMatrix<f32>,
    labels: &[usize],
    lr: f32,
) -> Result<(), TestCaseError> {
    step_checks(learner, x, labels, lr, true)
}

/// No array of `learner`'s chip, of any role, was ever read through the privileged call
/// (`Counters::oracle_reads` = 0 over the whole chip): what every rule but `bp-oracle` must
/// satisfy.
pub fn check_no_privileged_reads(learner: &dyn Learner) -> Result<(), TestCaseError> {
    let chip = learner.chip();
    for role in Role::ALL {
        let n = chip.counters_of(role).oracle_reads;
        prop_assert_eq!(
            n,
            0,
            "{} privileged reads of true weights on {} arrays (impossible on this hardware)",
            n,
            role.name()
        );
    }
    Ok(())
}

/// Every array of `learner`'s chip in `before` is still there with its role, shape, place
/// (analog or digital) and tiles, none was added, and clocks and counters did not go back; with
/// a `device`, the chip is on it and every trained (forward) layer is analog, each of its tiles
/// made of that device. `before` is a [`ChipSnapshot`] taken before the steps (after the first
/// step for a rule that allocates its arrays there). Pass `None` for a rule that is digital by
/// design (`bp-digital`).
pub fn check_layers_stay_on_device(
    learner: &dyn Learner,
    device: Option<&Device>,
    before: &ChipSnapshot,
) -> Result<(), TestCaseError> {
    let chip = learner.chip();
    check_grew(before, &ChipSnapshot::of(chip))?;
    let Some(device) = device else {
        return Ok(());
    };
    prop_assert!(
        chip.device() == Some(device),
        "the chip is not on the given device `{}`",
        device.spec.name
    );
    for (l, layer) in chip.network().layers().iter().enumerate() {
        prop_assert!(layer.is_analog(), "forward layer {} is not analog", l);
        for (k, tile) in layer.tiles().iter().enumerate() {
            prop_assert!(
                tile.device() == device,
                "forward layer {}, tile {}: made of `{}`, not of the given device",
                l,
                k,
                tile.device().spec.name
            );
        }
    }
    Ok(())
}

/// Trains `rule` and `reference` `steps` times each on the same batch (`x`, `labels`) at `lr`
/// and checks that their losses agree at every step and their parameters after (readouts and
/// biases, as [`readout_params`] gives them) agree within `tol`, relative to each layer's
/// largest weight (losses relative to the reference's, at least 1). On ideal devices a rule
/// that computes backprop's signal another way matches `bp-digital` to float rounding, e.g.
/// feedback alignment whose feedback is the forward weights' transpose, for its first step.
#[allow(clippy::too_many_arguments)]
pub fn check_matches_reference(
    rule: &mut dyn Learner,
    reference: &mut dyn Learner,
    x: &DMatrix<f32>,
    labels: &[usize],
    lr: f32,
    steps: usize,
    tol: f32,
) -> Result<(), TestCaseError> {
    for s in 0..steps {
        let a = rule.step(x, labels, lr);
        let b = reference.step(x, labels, lr);
        prop_assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "step {}: loss {} vs the reference's {}",
            s,
            a,
            b
        );
    }
    params_close(&readout_params(rule), &readout_params(reference), tol)
}

/// A batch of `n` inputs of width `rows` uniform in [0, 1) with labels below `classes`.
pub fn random_batch(
    rows: usize,
    n: usize,
    classes: usize,
    seed: u64,
) -> (DMatrix<f32>, Vec<usize>) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let x = DMatrix::from_fn(rows, n, |_, _| rng.random_range(0.0f32..1.0));
    let labels = (0..n).map(|_| rng.random_range(0..classes)).collect();
    (x, labels)
}

/// Every layer's weights (as the chip can read them out: exact on the ideal device) and bias.
pub fn readout_params(learner: &mut dyn Learner) -> Vec<(DMatrix<f32>, Vec<f32>)> {
    learner
        .network()
        .layers
        .iter_mut()
        .map(|layer| (layer.readout(), layer.bias().iter().copied().collect()))
        .collect()
}

/// Two learners' parameters (as [`readout_params`] gives them) agree within `tol`, relative to
/// each layer's largest weight of `b` (biases relative to that or 1, whichever is larger).
pub fn params_close(
    a: &[(DMatrix<f32>, Vec<f32>)],
    b: &[(DMatrix<f32>, Vec<f32>)],
    tol: f32,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.len(), b.len(), "different numbers of layers");
    for (l, ((wa, ba), (wb, bb))) in a.iter().zip(b).enumerate() {
        prop_assert_eq!(wa.shape(), wb.shape(), "layer {}: shapes", l);
        let scale = wb.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (k, (x, y)) in wa.iter().zip(wb.iter()).enumerate() {
            prop_assert!(
                (x - y).abs() <= tol * scale,
                "layer {}: weight ({}, {}) {} vs {} (tolerance {} of {})",
                l,
                k % wa.nrows(),
                k / wa.nrows(),
                x,
                y,
                tol,
                scale
            );
        }
        prop_assert_eq!(ba.len(), bb.len(), "layer {}: biases", l);
        for (i, (x, y)) in ba.iter().zip(bb).enumerate() {
            prop_assert!(
                (x - y).abs() <= tol * scale.max(1.0),
                "layer {}: bias {} {} vs {}",
                l,
                i,
                x,
                y
            );
        }
    }
    Ok(())
}

/// [`params_close`] as an assertion: panics with its message.
pub fn assert_params_close(
    a: &[(DMatrix<f32>, Vec<f32>)],
    b: &[(DMatrix<f32>, Vec<f32>)],
    tol: f32,
) {
    if let Err(e) = params_close(a, b, tol) {
        panic!("{e}");
    }
}
