//! The device presets shipped in `devices/`, embedded in the binary so that a preset name works
//! from any directory. A user's own file works wherever a preset name does.

/// (name, file contents) of every preset, in the order `devices list` shows them.
const PRESETS: &[(&str, &str)] = &[
    ("ideal", include_str!("../../devices/ideal.toml")),
    (
        "constant-step",
        include_str!("../../devices/constant-step.toml"),
    ),
    ("idealized", include_str!("../../devices/idealized.toml")),
    (
        "gokmen-vlasov",
        include_str!("../../devices/gokmen-vlasov.toml"),
    ),
    ("reram-es", include_str!("../../devices/reram-es.toml")),
    ("reram-sb", include_str!("../../devices/reram-sb.toml")),
    ("capacitor", include_str!("../../devices/capacitor.toml")),
    ("ecram", include_str!("../../devices/ecram.toml")),
    ("ecram-mo", include_str!("../../devices/ecram-mo.toml")),
    ("pcm", include_str!("../../devices/pcm.toml")),
    (
        "reram-array-om",
        include_str!("../../devices/reram-array-om.toml"),
    ),
    (
        "reram-array-hfo2",
        include_str!("../../devices/reram-array-hfo2.toml"),
    ),
    (
        "aihwkit-inference",
        include_str!("../../devices/aihwkit-inference.toml"),
    ),
];

/// The preset names.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// The TOML source of a preset, if `name` is one.
pub fn source(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
