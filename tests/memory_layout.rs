//! What a tile keeps per device (`src/crossbar/cells.rs`): a field only where the device needs
//! it, so memory follows the physics that is switched on.

use mortalsim::crossbar::Tile;
use mortalsim::device::Device;

fn bytes_per_device(dev: &str) -> f64 {
    let t = Tile::new(&Device::load(dev).unwrap(), 64, 96, 3);
    t.heap_bytes() as f64 / t.devices() as f64
}

#[test]
fn an_ideal_tile_keeps_weight_pulses_condition_and_the_read_cache() {
    // w (4) + pulses (4) + condition (1) + apparent-weight cache (4): every parameter is the
    // same for all devices, nothing else is switched on.
    assert_eq!(bytes_per_device("ideal"), 13.0);
}

#[test]
fn device_to_device_spread_adds_one_parameter_record() {
    // constant-step varies Δw⁺, Δw⁻, b_min and b_max between devices: one 16-byte record more.
    assert_eq!(bytes_per_device("constant-step"), 29.0);
}

#[test]
fn each_switched_on_physics_adds_its_own_field() {
    let base = Device::load("constant-step").unwrap();
    let n = |d: &Device| {
        let t = Tile::new(d, 8, 8, 1);
        t.heap_bytes() as f64 / t.devices() as f64
    };
    // Write noise: 4 bytes (the noise of the last write).
    let noisy = base
        .edited("noisy", |s| s.response.write_noise_std = 0.5)
        .unwrap();
    assert_eq!(n(&noisy), 33.0);
    // Finite endurance: 4 bytes (the pulses each device survives).
    let mortal = base
        .edited("mortal", |s| s.failure.endurance_median_pulses = 1e6)
        .unwrap();
    assert_eq!(n(&mortal), 33.0);
    // Drift: the drift exponent (4) and the time of the last write (8).
    let drifting = base
        .edited("drifting", |s| {
            s.drift.model = mortalsim::device::DriftModel::PowerLaw;
            s.drift.nu_mean = 0.05;
        })
        .unwrap();
    assert_eq!(n(&drifting), 41.0);
}
