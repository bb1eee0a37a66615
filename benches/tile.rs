//! Speed of the two hot operations, as ratios against a baseline measured in the same run.
//!
//! - `read/*`: a batched forward read through the full IO chain of the `constant-step` preset
//!   (noise management, 7-bit DAC, product, output noise, 9-bit ADC, bound management) against
//!   `matmul/*`, the bare float product of the same shape. Target: read ≤ 1.5 × matmul.
//! - `pulse_update/*`: the stochastic pulse update of a batch of 64 at the pulse probabilities of
//!   MNIST training: lr 0.05, BL 31 with bit-length and update management, inputs in [0, 1] with
//!   19 % non-zero pixels as in MNIST, and errors d ~ N(0, σ²). `typical` uses σ = 2.4e-5, the
//!   spread of the per-sample errors reaching the first layer (784 → 256) in aihwkit's MNIST
//!   example (784-256-128-10 sigmoid, batch 64, mean loss) during its first epoch, measured with
//!   a float replica of that task (1.9e-5 at step 10, 2.4e-5 at step 500, 4.8e-5 at step 930);
//!   the second layer sees ≈ 2e-4 and the output layer ≈ 5e-3. `heavy` uses σ = 1e-3, 40× more,
//!   to show how the cost grows with the number of coincidences. Throughput is in cells ×
//!   samples, so 1/throughput is the time per cell per sample. Target: ≤ 0.1 ns per cell per
//!   sample on one core at `typical` (aihwkit: ~0.2 ns).
//!
//! Run: `cargo bench --bench tile` (add `-- --quick` for a fast look). Pin one core for the
//! per-core figure with `RAYON_NUM_THREADS=1`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mortalsim::crossbar::periphery::matmul;
use mortalsim::crossbar::Tile;
use mortalsim::device::Device;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::hint::black_box;

const BATCH: usize = 64;
const SHAPES: [(usize, usize); 2] = [(256, 784), (512, 512)];

fn mnist_like_inputs(cols: usize, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    DMatrix::from_fn(cols, BATCH, |_, _| {
        if rng.random::<f32>() < 0.19 {
            rng.random_range(0.05f32..1.0)
        } else {
            0.0
        }
    })
}

fn errors(rows: usize, sd: f32, seed: u64) -> DMatrix<f32> {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let n = Normal::new(0.0f32, sd).unwrap();
    DMatrix::from_fn(rows, BATCH, |_, _| n.sample(&mut rng))
}

fn tile(rows: usize, cols: usize) -> Tile {
    let dev = Device::load("constant-step").unwrap();
    let mut t = Tile::new(&dev, rows, cols, 1);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(2);
    t.program_all(&DMatrix::from_fn(rows, cols, |_, _| {
        rng.random_range(-0.1f32..0.1)
    }));
    t
}

fn bench_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    for (rows, cols) in SHAPES {
        let id = format!("{cols}x{rows}");
        let x = mnist_like_inputs(cols, 3);
        let mut t = tile(rows, cols);
        let w: Vec<f32> = t.inspect_weights().transpose().as_slice().to_vec();
        let mut out = vec![0f32; rows * BATCH];
        g.throughput(Throughput::Elements((rows * cols * BATCH) as u64));
        g.bench_function(BenchmarkId::new("matmul", &id), |b| {
            b.iter(|| {
                matmul(
                    black_box(&w),
                    rows,
                    cols,
                    black_box(x.as_slice()),
                    BATCH,
                    &mut out,
                )
            })
        });
        g.bench_function(BenchmarkId::new("tile_read", &id), |b| {
            b.iter(|| black_box(t.read(black_box(&x))))
        });
    }
    g.finish();
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("pulse_update");
    for (rows, cols) in SHAPES {
        for (regime, sd) in [("typical", 2.4e-5f32), ("heavy", 1e-3)] {
            let id = format!("{cols}x{rows}/{regime}");
            let x = mnist_like_inputs(cols, 4);
            let d = errors(rows, sd, 5);
            let mut t = tile(rows, cols);
            g.throughput(Throughput::Elements((rows * cols * BATCH) as u64));
            g.bench_function(BenchmarkId::new("constant_step", &id), |b| {
                b.iter(|| t.pulse_update(black_box(&x), black_box(&d), 0.05))
            });
            let c = t.counters();
            eprintln!(
                "pulse_update {id}: {:.1} coincidences and {:.2} pulse slots per sample",
                c.coincidences as f64 / c.update_rows as f64,
                c.pulse_slots as f64 / c.update_rows as f64
            );
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = bench_read, bench_update
}
criterion_main!(benches);
