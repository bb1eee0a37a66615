//! The registry of learning rules: the built-in rules are entries in it, and a user's crate adds
//! its own with [`register`]. An entry holds everything the rest of the program knows about a
//! rule — its name, a one-line summary, its recommended settings and its constructor — so a
//! registered rule joins `mortalsim run`, `train`, `--list`, shards, figures and the config hash
//! exactly as a built-in one (see `examples/user_rule.rs`).
//!
//! A rule's own options come from the `rule` table of its options in an experiment file
//! (`[learner.NAME.options.rule]`); the constructor reads them (typically into a serde struct
//! with `deny_unknown_fields`) and answers a bad one with `Err((field, message))`, which the
//! experiment file reports at `learner.NAME.options.rule.FIELD`.

use super::{Learner, Options};
use crate::device::Device;
use crate::net::NetSpec;
use std::sync::{PoisonError, RwLock};

/// A rule's recommended settings: what `mortalsim train --learner NAME` and an experiment file
/// use when the user sets nothing (measured: each built-in rule with its settings reaches
/// ≥ 78 % on 10,000 MNIST images after 2 epochs at 784-256-10 on `ideal`; see the README).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommended {
    /// Learning rate.
    pub lr: f32,
    /// Samples per update.
    pub batch: usize,
}

/// What a constructor receives.
#[derive(Debug, Clone, Copy)]
pub struct BuildArgs<'a> {
    /// The network description.
    pub spec: &'a NetSpec,
    /// The chip's device.
    pub device: &'a Device,
    /// The learner's seed (weights, fabrication, the rule's own randomness).
    pub seed: u64,
    /// The options (validated before the constructor is called); the rule's own are in
    /// [`Options::rule`].
    pub options: &'a Options,
}

/// A rule's constructor: the learner, or `Err((field, message))` with the field of the rule's
/// own options that is wrong (an empty field when the problem is not one option's).
pub type Constructor = fn(&BuildArgs) -> Result<Box<dyn Learner>, (String, String)>;

/// One rule of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The rule's name, as `--learner` and `learners = [...]` spell it (letters, digits, `-`).
    pub name: &'static str,
    /// One line saying what the rule is.
    pub summary: &'static str,
    /// Its recommended settings.
    pub recommended: Recommended,
    /// Checks the rule's own options ([`Options::rule`]) without building anything, so that an
    /// experiment file is checked before any point runs: `Err((field, message))` for a bad one.
    pub check: fn(&toml::Table) -> Result<(), (String, String)>,
    /// Its constructor.
    pub build: Constructor,
}

/// The `check` of a rule that takes no options of its own: any is an error naming it.
pub fn no_options(rule: &toml::Table) -> Result<(), (String, String)> {
    match rule.keys().next() {
        None => Ok(()),
        Some(k) => Err((
            k.clone(),
            "this learner takes no options of its own".to_string(),
        )),
    }
}

/// A built-in constructor's message, which is about no option of the rule's own.
fn general(message: String) -> (String, String) {
    (String::new(), message)
}

/// The rules built into mortalsim.
pub fn builtin() -> Vec<Entry> {
    use super::{bp_digital, bp_mirror, bp_oracle, dfa, fa, ff, sg};
    const COMMON: Recommended = Recommended {
        lr: 0.05,
        batch: 32,
    };
    vec![
        Entry {
            name: "bp-digital",
            summary: "exact backprop in float32, no device (the ceiling)",
            recommended: COMMON,
            check: no_options,
            build: |a| {
                Ok(Box::new(bp_digital::BpDigital::with_hwa(
                    a.spec,
                    a.seed,
                    &a.options.hwa,
                )))
            },
        },
        Entry {
            name: "bp-oracle",
            summary: "exact backprop through the true conductances (a transpose the chip lacks)",
            recommended: COMMON,
            check: no_options,
            build: |a| Ok(Box::new(bp_oracle::BpOracle::new(a.spec, a.device, a.seed))),
        },
        Entry {
            name: "fa",
            summary: "feedback alignment: fixed random feedback tiles",
            recommended: COMMON,
            check: no_options,
            build: |a| {
                let rule = fa::Fa::new(a.spec, a.device, a.seed, a.options);
                Ok(Box::new(rule.map_err(general)?))
            },
        },
        Entry {
            name: "dfa",
            summary: "direct feedback alignment: the output error to every layer at once",
            recommended: COMMON,
            check: no_options,
            build: |a| {
                let rule = dfa::Dfa::new(a.spec, a.device, a.seed, a.options);
                Ok(Box::new(rule.map_err(general)?))
            },
        },
        Entry {
            name: "ff",
            // Hinton's recipe: above lr 0.003 the goodness overshoots and the units die (at
            // lr 0.05 the run ends at chance).
            summary: "Forward-Forward: a local goodness loss per layer, no backward pass",
            recommended: Recommended {
                lr: 0.002,
                batch: 50,
            },
            check: no_options,
            build: |a| {
                let rule = ff::Ff::new(a.spec, a.device, a.seed, a.options);
                Ok(Box::new(rule.map_err(general)?))
            },
        },
        Entry {
            name: "bp-mirror",
            summary: "backprop through physical transposed copies, refreshed from readouts",
            recommended: COMMON,
            check: no_options,
            build: |a| {
                Ok(Box::new(bp_mirror::BpMirror::new(
                    a.spec, a.device, a.seed, a.options,
                )))
            },
        },
        Entry {
            name: "sg",
            // Modules start at zero and need steps: batch 32 leaves 784-500-500-10 at 45 %
            // after an epoch of 10,000 images, batch 16 at 80 %.
            summary: "synthetic gradients from label-conditioned linear modules",
            recommended: Recommended {
                lr: 0.05,
                batch: 16,
            },
            check: no_options,
            build: |a| {
                let rule = sg::Sg::new(a.spec, a.device, a.seed, a.options);
                Ok(Box::new(rule.map_err(general)?))
            },
        },
        super::dtp::ENTRY,
    ]
}

/// Rules registered by the user's crate, after the built-in ones.
static USER: RwLock<Vec<Entry>> = RwLock::new(Vec::new());

/// Adds `entry` to the registry, for the whole process. Registering the same entry twice is a
/// no-op; a different rule under a taken name is an error naming it.
pub fn register(entry: Entry) -> Result<(), String> {
    if !valid_name(entry.name) {
        return Err(format!(
            "learner name `{}`: use lower-case letters, digits and `-`",
            entry.name
        ));
    }
    let mut user = USER.write().unwrap_or_else(PoisonError::into_inner);
    match lookup_in(&builtin(), &user, entry.name) {
        Some(e) if std::ptr::fn_addr_eq(e.build, entry.build) => Ok(()),
        Some(_) => Err(format!("a learner named `{}` already exists", entry.name)),
        None => {
            user.push(entry);
            Ok(())
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn lookup_in(builtin: &[Entry], user: &[Entry], name: &str) -> Option<Entry> {
    builtin.iter().chain(user).find(|e| e.name == name).copied()
}

/// Every registered rule: the built-in ones, then the user's in registration order.
pub fn entries() -> Vec<Entry> {
    let mut all = builtin();
    all.extend(
        USER.read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .copied(),
    );
    all
}

/// The entry named `name`, or an error listing the registered names.
pub fn lookup(name: &str) -> Result<Entry, String> {
    let all = entries();
    all.iter().find(|e| e.name == name).copied().ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|e| e.name).collect();
        format!("unknown learner `{name}` (learners: {})", names.join(", "))
    })
}

/// The names of every registered rule.
pub fn names() -> Vec<&'static str> {
    entries().iter().map(|e| e.name).collect()
}
