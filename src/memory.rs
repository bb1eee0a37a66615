//! Memory estimates, checked before anything large is allocated: a network, a tile or a table
//! that does not fit is an error that states its estimate, never an aborted process.

/// Bytes one simulated weight costs on tiles, all its state included (measured: 624 MiB for
/// 5.8 M weights of 784-2048-2048-10 on `constant-step`, about 107 bytes each; rounded up).
pub const BYTES_PER_WEIGHT: u64 = 112;

/// Memory this machine can give now, bytes: `MemAvailable` of `/proc/meminfo` on Linux, else
/// 16 GiB (a conservative guess for a machine we cannot ask).
pub fn available_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(16 << 30, |kib| kib.saturating_mul(1024))
}

/// `Ok` when `bytes` fit in the memory available; else an error saying what (`what`) needs how
/// much, against what the machine has.
pub fn check(what: &str, bytes: u64) -> Result<(), String> {
    let have = available_bytes();
    if bytes <= have {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {} of memory; this machine has {} available",
        human(bytes),
        human(have)
    ))
}

/// Bytes for people: `3.2 GiB`, `310 TiB`.
pub fn human(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

/// The estimated bytes of a network of `widths` on tiles (`arrays_factor` × its weights, for
/// the feedback matrices, mirrors or modules a rule adds: at most 3 for the built-in rules).
pub fn network_bytes(widths: &[usize], arrays_factor: u64) -> u64 {
    let weights: u64 = widths
        .windows(2)
        .map(|w| (w[0] as u64).saturating_mul(w[1] as u64))
        .fold(0u64, u64::saturating_add);
    weights
        .saturating_mul(BYTES_PER_WEIGHT)
        .saturating_mul(arrays_factor)
}
