//! Task streams for continual learning: permuted tasks, class-incremental splits and the
//! slowly-changing regression problem.

use mortalsim::data::stream::{
    class_incremental, PermutedTasks, SlowlyChangingRegression, SlowlyChangingRegressionConfig,
};
use mortalsim::data::{default_mnist_dir, Dataset, Split};
use nalgebra::DMatrix;
use std::sync::OnceLock;

/// The first 2000 MNIST training images, loaded once per test binary.
fn mnist() -> &'static Dataset {
    static M: OnceLock<Dataset> = OnceLock::new();
    M.get_or_init(|| {
        Split::Train
            .load(default_mnist_dir())
            .expect("committed MNIST loads")
            .subset(2000)
    })
}

fn stream_of(tasks: usize, samples_per_task: usize, seed: u64) -> PermutedTasks {
    PermutedTasks {
        tasks,
        samples_per_task,
        seed,
    }
}

fn is_permutation(p: &[u32]) -> bool {
    let mut s = p.to_vec();
    s.sort_unstable();
    s.iter().enumerate().all(|(i, &x)| x as usize == i)
}

#[test]
fn permutations_are_permutations_that_differ_between_tasks() {
    let s = stream_of(10, 100, 42);
    let perms: Vec<Vec<u32>> = (0..10).map(|t| s.permutation(t, 784)).collect();
    let identity: Vec<u32> = (0..784).collect();
    for (t, p) in perms.iter().enumerate() {
        assert!(is_permutation(p), "task {t}");
        assert_ne!(*p, identity, "task {t} (task 0 is permuted too)");
        for q in &perms[..t] {
            assert_ne!(p, q);
        }
        assert_eq!(*p, s.permutation(t, 784), "reproducible");
    }
    assert_ne!(perms[0], stream_of(10, 100, 43).permutation(0, 784));
    assert!(s.permutation(0, 0).is_empty());
    assert_eq!(s.permutation(0, 1), vec![0]);
}

#[test]
fn permutations_do_not_depend_on_the_length_of_the_stream() {
    let (short, long) = (stream_of(3, 60_000, 9), stream_of(800, 10, 9));
    for t in 0..3 {
        assert_eq!(short.permutation(t, 784), long.permutation(t, 784));
        assert_eq!(short.order(t, 100)[..10], long.order(t, 100)[..]);
    }
}

#[test]
fn permutation_positions_are_uniform() {
    // Where does pixel 0 land among 5 positions? 1/5 each; 5σ bounds over 10 000 tasks.
    let s = stream_of(10_000, 1, 1);
    let mut hits = [0u32; 5];
    for t in 0..10_000 {
        let p = s.permutation(t, 5);
        hits[p.iter().position(|&x| x == 0).unwrap()] += 1;
    }
    let sd = (10_000.0f64 * 0.2 * 0.8).sqrt();
    for h in hits {
        assert!((f64::from(h) - 2000.0).abs() < 5.0 * sd, "{hits:?}");
    }
}

#[test]
fn batch_permuted_with_no_or_identity_permutation_is_batch_bit_for_bit() {
    let d = mnist();
    let indices: Vec<usize> = (0..d.len()).step_by(7).collect();
    let plain = d.batch(&indices);
    let identity: Vec<u32> = (0..d.input_width() as u32).collect();
    for b in [
        d.batch_permuted(&indices, None),
        d.batch_permuted(&indices, Some(&identity)),
    ] {
        assert_eq!(b.labels, plain.labels);
        assert_eq!(b.inputs.shape(), plain.inputs.shape());
        assert!(b
            .inputs
            .iter()
            .zip(plain.inputs.iter())
            .all(|(a, p)| a.to_bits() == p.to_bits()));
    }
    // `batch` itself: column j is image indices[j] as byte/255.
    for (j, &i) in indices.iter().enumerate().take(20) {
        for (p, &byte) in d.image(i).iter().enumerate() {
            assert_eq!(
                plain.inputs[(p, j)].to_bits(),
                (f32::from(byte) / 255.0).to_bits()
            );
        }
    }
}

#[test]
fn batch_permuted_shows_the_permuted_images() {
    let d = mnist();
    let s = stream_of(5, 2000, 3);
    let perm = s.permutation(4, d.input_width());
    let indices = &s.order(4, d.len())[..64];
    let b = d.batch_permuted(indices, Some(&perm));
    assert_eq!(b.inputs.shape(), (784, 64));
    for (j, &i) in indices.iter().enumerate() {
        assert_eq!(b.labels[j], d.label(i));
        let image = d.image(i);
        for (input, &pixel) in perm.iter().enumerate() {
            let want = f32::from(image[pixel as usize]) / 255.0;
            assert_eq!(b.inputs[(input, j)].to_bits(), want.to_bits());
        }
    }
    // A hand-made case: 1×3 images, perm (2, 0, 1).
    let tiny = Dataset::from_parts(vec![0, 51, 255, 102, 0, 0], vec![1, 0], 1, 3, 2).unwrap();
    let b = tiny.batch_permuted(&[1, 0], Some(&[2, 0, 1]));
    let want = DMatrix::from_column_slice(3, 2, &[0.0, 0.4, 0.0, 1.0, 0.0, 0.2]);
    assert_eq!(b.inputs, want);
    assert_eq!(b.labels, vec![0, 1]);
}

#[test]
#[should_panic(expected = "does not fit images of 3 pixels")]
fn batch_permuted_rejects_a_permutation_of_the_wrong_width() {
    let tiny = Dataset::from_parts(vec![0; 6], vec![1, 0], 1, 3, 2).unwrap();
    tiny.batch_permuted(&[0], Some(&[0, 1]));
}

#[test]
fn orders_show_every_image_once_per_pass() {
    let len = 97;
    let s = stream_of(4, 3 * len + 20, 11);
    for task in 0..4 {
        let order = s.order(task, len);
        assert_eq!(order.len(), 3 * len + 20);
        let passes: Vec<&[usize]> = order.chunks(len).collect();
        for pass in &passes[..3] {
            let mut sorted = pass.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..len).collect::<Vec<_>>(), "task {task}");
        }
        // Each pass is a new shuffle; the cut-short last pass has no repeats.
        assert_ne!(passes[0], passes[1]);
        assert_ne!(passes[1], passes[2]);
        let mut last = passes[3].to_vec();
        last.sort_unstable();
        last.dedup();
        assert_eq!(last.len(), 20);
        assert_eq!(order, s.order(task, len), "reproducible");
    }
    assert_ne!(s.order(0, len), s.order(1, len));
    assert!(s.order(0, 0).is_empty());
}

#[test]
fn short_tasks_see_different_subsets() {
    let s = stream_of(3, 50, 5);
    let a = s.order(0, 1000);
    let b = s.order(1, 1000);
    assert_eq!((a.len(), b.len()), (50, 50));
    let mut da = a.clone();
    da.sort_unstable();
    da.dedup();
    assert_eq!(da.len(), 50, "no repeats within a pass");
    assert!(a.iter().all(|&i| i < 1000));
    let mut sb = b.clone();
    sb.sort_unstable();
    assert_ne!(da, sb);
}

#[test]
fn validate_rejects_empty_streams() {
    assert!(stream_of(1, 1, 0).validate().is_ok());
    assert!(stream_of(0, 1, 0).validate().unwrap_err().contains("tasks"));
    assert!(stream_of(1, 0, 0)
        .validate()
        .unwrap_err()
        .contains("samples_per_task"));
}

#[test]
fn class_incremental_splits_partition_the_data_by_class() {
    let d = mnist();
    for k in [1, 2, 5, 10] {
        let tasks = class_incremental(d, k).unwrap();
        assert_eq!(tasks.len(), 10 / k);
        let mut all: Vec<usize> = Vec::new();
        for (t, task) in tasks.iter().enumerate() {
            assert!(!task.is_empty());
            assert!(task.windows(2).all(|w| w[0] < w[1]), "increasing indices");
            assert!(task
                .iter()
                .all(|&i| (t * k..(t + 1) * k).contains(&d.label(i))));
            all.extend(task);
        }
        all.sort_unstable();
        assert_eq!(all, (0..d.len()).collect::<Vec<_>>(), "k = {k}");
    }
    // Any number of classes; a task whose classes are absent is empty.
    let six = Dataset::from_parts(vec![0; 4], vec![0, 5, 1, 2], 1, 1, 6).unwrap();
    assert_eq!(
        class_incremental(&six, 2).unwrap(),
        vec![vec![0, 2], vec![3], vec![1]]
    );
    let gap = Dataset::from_parts(vec![0; 2], vec![0, 5], 1, 1, 6).unwrap();
    assert_eq!(class_incremental(&gap, 3).unwrap(), vec![vec![0], vec![1]]);
    assert_eq!(
        class_incremental(&gap, 2).unwrap(),
        vec![vec![0], vec![], vec![1]]
    );
}

#[test]
fn class_incremental_rejects_bad_splits_with_a_message() {
    let d = mnist();
    let e = class_incremental(d, 0).unwrap_err();
    assert!(e.contains("at least 1") && e.contains("10 classes"), "{e}");
    for k in [3, 4, 11] {
        let e = class_incremental(d, k).unwrap_err();
        assert!(
            e.contains(&format!(
                "classes_per_task = {k} does not divide the 10 classes"
            )),
            "{e}"
        );
    }
    let empty = Dataset::from_parts(vec![], vec![], 1, 1, 0).unwrap();
    assert!(class_incremental(&empty, 1)
        .unwrap_err()
        .contains("no classes"));
}

fn small_config(flip_one: bool) -> SlowlyChangingRegressionConfig {
    SlowlyChangingRegressionConfig {
        change_every: 100,
        flip_one,
        ..Default::default()
    }
}

#[test]
fn regression_defaults_are_the_papers() {
    let c = SlowlyChangingRegressionConfig::default();
    assert_eq!(
        (
            c.inputs,
            c.slow_bits,
            c.change_every,
            c.hidden,
            c.beta,
            c.flip_one
        ),
        (20, 15, 10_000, 100, 0.7, false)
    );
    // Serde: defaults fill missing fields, unknown fields are rejected.
    let parsed: SlowlyChangingRegressionConfig = toml::from_str("flip_one = true").unwrap();
    assert_eq!(
        parsed,
        SlowlyChangingRegressionConfig {
            flip_one: true,
            ..c.clone()
        }
    );
    let e = toml::from_str::<SlowlyChangingRegressionConfig>("flip_ones = true").unwrap_err();
    assert!(e.to_string().contains("flip_ones"), "{e}");
}

#[test]
fn regression_rejects_bad_configs() {
    let bad = [
        (
            "inputs",
            SlowlyChangingRegressionConfig {
                inputs: 0,
                slow_bits: 0,
                ..Default::default()
            },
        ),
        (
            "slow_bits",
            SlowlyChangingRegressionConfig {
                slow_bits: 21,
                ..Default::default()
            },
        ),
        (
            "change_every",
            SlowlyChangingRegressionConfig {
                change_every: 0,
                ..Default::default()
            },
        ),
        (
            "hidden",
            SlowlyChangingRegressionConfig {
                hidden: 0,
                ..Default::default()
            },
        ),
        (
            "beta",
            SlowlyChangingRegressionConfig {
                beta: f64::NAN,
                ..Default::default()
            },
        ),
        (
            "flip_one",
            SlowlyChangingRegressionConfig {
                slow_bits: 0,
                flip_one: true,
                ..Default::default()
            },
        ),
    ];
    for (field, config) in bad {
        let e = SlowlyChangingRegression::new(config, 1).unwrap_err();
        assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
    }
    // All bits slow, or none, are fine.
    for slow_bits in [0, 20] {
        let c = SlowlyChangingRegressionConfig {
            slow_bits,
            ..Default::default()
        };
        let mut s = SlowlyChangingRegression::new(c, 1).unwrap();
        assert_eq!(s.next_batch(3).0.shape(), (20, 3));
    }
}

#[test]
fn regression_is_deterministic_and_independent_of_batching() {
    let make = |seed| SlowlyChangingRegression::new(small_config(false), seed).unwrap();
    let (mut a, mut b) = (make(5), make(5));
    let (xa, ya) = a.next_batch(250);
    let (x1, y1) = b.next_batch(17);
    let (x2, y2) = b.next_batch(233);
    assert_eq!(xa.columns(0, 17), x1);
    assert_eq!(xa.columns(17, 233), x2);
    assert_eq!(ya, [y1, y2].concat());
    assert_eq!(a.examples_seen(), 250);
    let (xc, _) = make(6).next_batch(250);
    assert_ne!(xa, xc);
    assert_eq!(xa.shape(), (20, 250));
    assert!(xa.iter().all(|&x| x == 0.0 || x == 1.0));
    assert_eq!(make(5).next_batch(0).0.shape(), (20, 0));
}

/// The slow bits (first 15 rows) of each column.
fn slow_columns(x: &DMatrix<f32>) -> Vec<Vec<f32>> {
    x.column_iter()
        .map(|c| c.iter().take(15).copied().collect())
        .collect()
}

#[test]
fn slow_bits_hold_for_exactly_the_configured_examples_then_change() {
    for flip_one in [false, true] {
        let mut s = SlowlyChangingRegression::new(small_config(flip_one), 8).unwrap();
        assert_eq!(s.slow_bits().len(), 15);
        let first = s.slow_bits().to_vec();
        let (x, _) = s.next_batch(1000);
        let cols = slow_columns(&x);
        assert_eq!(cols[0], first);
        for block in 0..10 {
            let b = &cols[block * 100..(block + 1) * 100];
            assert!(b.iter().all(|c| *c == b[0]), "block {block} constant");
            if block > 0 {
                let prev = &cols[block * 100 - 1];
                let changed = prev.iter().zip(&b[0]).filter(|(p, q)| p != q).count();
                if flip_one {
                    assert_eq!(changed, 1, "flip_one: exactly one bit at block {block}");
                } else {
                    assert!(changed > 0, "re-drawn bits changed at block {block}");
                }
            }
        }
        // The state shown is the next example's.
        let next = s.slow_bits().to_vec();
        assert_eq!(slow_columns(&s.next_batch(1).0)[0], next);
    }
}

#[test]
fn random_bits_are_balanced() {
    // 20 000 examples × 5 random bits: each bit's mean is ½ ± 5σ with σ = √(¼/20 000) ≈ 0.0035
    // (tolerance 0.018).
    let mut s = SlowlyChangingRegression::new(small_config(false), 21).unwrap();
    let (x, _) = s.next_batch(20_000);
    for row in 15..20 {
        let mean = x.row(row).iter().map(|&v| f64::from(v)).sum::<f64>() / 20_000.0;
        assert!(
            (mean - 0.5).abs() < 5.0 * (0.25f64 / 20_000.0).sqrt(),
            "bit {row}: {mean}"
        );
    }
    // Redrawn slow bits over 200 blocks are balanced too (3000 bits, σ ≈ 0.009, 5σ).
    let slow: f64 = slow_columns(&x)
        .iter()
        .step_by(100)
        .flatten()
        .map(|&v| f64::from(v))
        .sum::<f64>()
        / 3000.0;
    assert!((slow - 0.5).abs() < 0.046, "slow bits mean {slow}");
}

/// The target network formula written out independently: S_i counts the negative input
/// weights plus b_i/2, τ_i = β(m + 1) − S_i, h_i = [a_i > τ_i], y = Σ v_i h_i + c.
fn reference_target(s: &SlowlyChangingRegression, x: &[f32]) -> f32 {
    let t = s.target();
    let m = x.len() as f64;
    let beta = s.config().beta;
    let mut y = t.output_bias as f64;
    for i in 0..t.hidden_biases.len() {
        let w: Vec<f32> = t.input_weights.row(i).iter().copied().collect();
        let negatives = w.iter().filter(|&&v| v < 0.0).count() as f64;
        let b = t.hidden_biases[i] as f64;
        let tau = beta * (m + 1.0) - (negatives + b / 2.0);
        let mut a = b;
        for (wj, xj) in w.iter().zip(x) {
            if *xj == 1.0 {
                a += *wj as f64;
            }
        }
        if a > tau {
            y += t.output_weights[i] as f64;
        }
    }
    y as f32
}

#[test]
fn targets_are_the_target_network_on_the_inputs() {
    let mut s = SlowlyChangingRegression::new(small_config(true), 2).unwrap();
    let t = s.target();
    assert_eq!(t.input_weights.shape(), (100, 20));
    let signs = |v: &[f32]| v.iter().all(|&x| x == 1.0 || x == -1.0);
    assert!(signs(t.input_weights.as_slice()));
    assert!(signs(&t.hidden_biases));
    assert!(signs(&t.output_weights));
    assert!(t.output_bias.abs() == 1.0);
    let (x, y) = s.next_batch(2000);
    let mut distinct = y.clone();
    distinct.sort_by(f32::total_cmp);
    distinct.dedup();
    assert!(distinct.len() > 3, "the target varies: {distinct:?}");
    for (j, col) in x.column_iter().enumerate().step_by(37) {
        let xs: Vec<f32> = col.iter().copied().collect();
        assert_eq!(y[j], reference_target(&s, &xs), "example {j}");
        assert_eq!(s.target_of(&xs).unwrap(), y[j]);
    }
    assert!(s.target_of(&[0.0; 3]).unwrap_err().contains("expected 20"));
}
