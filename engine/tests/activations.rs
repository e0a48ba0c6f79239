//! Invariant sweeps of tanh and sigmoid over a dense f32 grid (past the clamp points):
//! accuracy against f64, range, monotonicity, oddness; special values. The per-ISA
//! identity of these functions is checked in kernel_ops.rs, so sweeping the scalar path
//! covers every kernel set.

use recur::kernels::{Scalar, LANES};
use recur::math;

/// Every `stride`-th f32 bit pattern from 0 up to `limit` (positive values), ascending.
fn grid(limit: f32, stride: u32) -> impl Iterator<Item = f32> {
    (0..=limit.to_bits()).step_by(stride as usize).map(f32::from_bits)
}

fn sweep(f: impl Fn([f32; LANES]) -> [f32; LANES], xs: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(xs.len());
    for c in xs.chunks(LANES) {
        let mut v = [0.0; LANES];
        v[..c.len()].copy_from_slice(c);
        out.extend_from_slice(&f(v)[..c.len()]);
    }
    out
}

struct Report {
    max_err: f64,
    at: f32,
}

/// Checks accuracy, monotonicity, range and (for odd functions) oddness on `xs`
/// (ascending, positive) and their negatives.
fn check(
    name: &str,
    f: impl Fn([f32; LANES]) -> [f32; LANES],
    exact: impl Fn(f64) -> f64,
    lo: f32,
    hi: f32,
    odd: bool,
    xs: &[f32],
) -> Report {
    let pos = sweep(&f, xs);
    let negx: Vec<f32> = xs.iter().map(|x| -x).collect();
    let neg = sweep(&f, &negx);
    let mut r = Report { max_err: 0.0, at: 0.0 };
    for (i, (&x, &y)) in xs.iter().zip(&pos).enumerate() {
        for (x, y) in [(x, y), (-x, neg[i])] {
            assert!((lo..=hi).contains(&y), "{name}({x}) = {y} outside [{lo}, {hi}]");
            let e = (y as f64 - exact(x as f64)).abs();
            if e > r.max_err {
                r = Report { max_err: e, at: x };
            }
        }
        if i > 0 {
            assert!(pos[i - 1] <= y, "{name} not monotone: f({}) = {} > f({x}) = {y}", xs[i - 1], pos[i - 1]);
            assert!(neg[i - 1] >= neg[i], "{name} not monotone at -{x}");
        }
        if odd {
            assert_eq!((-y).to_bits(), neg[i].to_bits(), "{name} not odd at {x}");
        }
    }
    r
}

fn tanh16(v: [f32; LANES]) -> [f32; LANES] {
    math::tanh(Scalar, v)
}
fn sigmoid16(v: [f32; LANES]) -> [f32; LANES] {
    math::sigmoid(Scalar, v)
}
fn sigmoid_exact(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Dense grid: every 128th bit pattern in [0, 20] (8.6 million points per sign), plus every
/// single f32 in windows around small values, 1, and the clamps (tanh 9.125, sigmoid 18.25).
#[test]
fn tanh_and_sigmoid_sweeps() {
    let mut xs: Vec<f32> = grid(20.0, 128).collect();
    let t = check("tanh", tanh16, f64::tanh, -1.0, 1.0, true, &xs);
    let s = check("sigmoid", sigmoid16, sigmoid_exact, 0.0, 1.0, false, &xs);
    println!("grid: tanh max abs err {:.3e} at {}, sigmoid {:.3e} at {}", t.max_err, t.at, s.max_err, s.at);
    assert!(t.max_err <= 1e-6 && s.max_err <= 1e-6);
    for (a, b) in [(1e-30f32, 1.000_001e-30f32), (0.0165, 0.0175), (0.999, 1.001), (9.1, 9.15), (18.2, 18.3)] {
        xs = (a.to_bits()..=b.to_bits()).map(f32::from_bits).collect();
        let t = check("tanh", tanh16, f64::tanh, -1.0, 1.0, true, &xs);
        let s = check("sigmoid", sigmoid16, sigmoid_exact, 0.0, 1.0, false, &xs);
        println!("every f32 in [{a}, {b}]: tanh max err {:.3e}, sigmoid {:.3e}", t.max_err, s.max_err);
        assert!(t.max_err <= 1e-6 && s.max_err <= 1e-6);
    }
}

#[test]
fn special_values() {
    let v = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.0,
        -0.0,
        f32::MAX,
        f32::MIN,
        1e-45,
        100.0,
        -100.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ];
    let t = tanh16(v);
    let s = sigmoid16(v);
    assert_eq!((t[0], t[1]), (1.0, -1.0));
    assert!(t[2].is_nan() && s[2].is_nan(), "NaN propagates");
    assert_eq!(t[3].to_bits(), 0.0f32.to_bits());
    assert_eq!(t[4].to_bits(), (-0.0f32).to_bits(), "tanh(-0) = -0");
    assert_eq!((t[5], t[6]), (1.0, -1.0));
    assert_eq!((s[0], s[1]), (1.0, 0.0));
    assert_eq!(s[3], 0.5);
    assert_eq!((s[5], s[6]), (1.0, 0.0));
    assert_eq!((t[8], t[9], s[8], s[9]), (1.0, -1.0, 1.0, 0.0));
    // exp saturates instead of overflowing; ln of the softmax sums is accurate.
    let e = math::exp(Scalar, [200.0, -200.0, 0.0, 1.0, -1.0, 10.0, 0.5, 80.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    assert!(e[0].is_finite() && e[0] > 1e38 && e[1] >= 0.0 && e[1] < 1e-37);
    for (i, x) in [0.0f64, 1.0, -1.0, 10.0, 0.5, 80.0].iter().enumerate() {
        let got = e[i + 2] as f64;
        assert!((got - x.exp()).abs() <= 2e-7 * x.exp(), "exp({x}) = {got}");
    }
    for x in [1.0f32, 1.5, 2.0, 3.7, 12.0, 1000.0, 65537.0] {
        assert!((math::scalar_ln(x) as f64 - (x as f64).ln()).abs() < 1e-6, "ln({x})");
    }
}
