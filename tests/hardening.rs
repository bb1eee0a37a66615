//! Inputs found by the fuzzing campaign (`tests/fuzz_readers.rs`) and by the soak test
//! (`scripts/soak.sh`), each once a crash: now located errors (issue 14).

use mortalsim::device::Device;
use mortalsim::experiment::Experiment;

/// Found by `experiment_files_mutated` after 6,052 cases: an integer beyond TOML's i64 range
/// in a `u64` field was accepted, then could not be written back into a TOML table (`expect`
/// → panic, SIGABRT through the CLI).
#[test]
fn an_integer_beyond_toml_range_is_a_located_error_not_a_panic() {
    let src = "learners = [\"dfa\"]\ndevices = [\"ideal\"]\n[countermeasures]\n\
               compensate_every_steps = 18446744073709551615\n";
    let e = Experiment::from_toml(src, "big.toml", "big").unwrap_err();
    let e = e[0].to_string();
    assert!(
        e.starts_with("big.toml:4:") && e.contains("countermeasures.compensate_every_steps"),
        "{e}"
    );
    assert!(e.contains("9223372036854775807"), "{e}");
    let src = "name = \"x\"\n[periphery]\nmax_tile_rows = 18446744073709551615\n";
    let e = Device::from_toml(src, "x.toml").unwrap_err().to_string();
    assert!(
        e.starts_with("x.toml:3:") && e.contains("max_tile_rows"),
        "{e}"
    );
}
