//! The dense kernels: transposed products bit-identical to nalgebra's `tr_mul` on any shape
//! (the summation order every committed result was computed with), whatever the thread count.

use mortalsim::kernel::{lane_dot, par_tr_matmul};
use nalgebra::DMatrix;
use proptest::prelude::*;

fn matrix(rows: usize, cols: usize, seed: u64) -> DMatrix<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    DMatrix::from_fn(rows, cols, |_, _| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        // Values over several binades, both signs, so that any change of order shows.
        ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * (1 + (s & 7)) as f32
    })
}

fn assert_bits(got: &DMatrix<f32>, want: &DMatrix<f32>) {
    assert_eq!(got.shape(), want.shape());
    for (k, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "element {k}: {a} vs {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn par_tr_matmul_is_tr_mul(n in 1usize..150, m in 1usize..120, nb in 1usize..70, seed in any::<u64>()) {
        let a = matrix(n, m, seed);
        let b = matrix(n, nb, seed ^ 1);
        assert_bits(&par_tr_matmul(&a, &b), &a.tr_mul(&b));
    }

    #[test]
    fn lane_dot_is_scaled_tr_mul(n in 1usize..100, width in 1usize..90, nq in 1usize..30,
                                 scale in 0.01f32..4.0, seed in any::<u64>()) {
        let r = matrix(n, width, seed);
        let b = matrix(n, nq, seed ^ 2);
        // R's rows as slices (R is column-major: take them from its transpose).
        let rt = r.transpose();
        let rows: Vec<&[f32]> = rt.as_slice().chunks(width).collect();
        let got = lane_dot(&rows, width, scale, b.as_slice(), n, nq);
        let want = (&r * scale).tr_mul(&b);
        assert_bits(&DMatrix::from_column_slice(width, nq, &got), &want);
    }
}

#[test]
fn large_products_are_tr_mul_on_one_and_two_threads() {
    let a = matrix(523, 301, 7);
    let b = matrix(523, 64, 8);
    let want = a.tr_mul(&b);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let got = pool.install(|| par_tr_matmul(&a, &b));
        assert_bits(&got, &want);
    }
}
