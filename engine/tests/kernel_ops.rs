//! One harness for the `Simd` trait, instantiated for every kernel set the host has:
//! each operation on random and special values must give the scalar path's bits
//! (NaN payloads excepted), and the activations built on them too.

use recur::kernels::{Scalar, Simd, LANES};
use recur::math;

fn canon(v: [f32; LANES]) -> [u32; LANES] {
    v.map(|x| if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() })
}

/// Special and random values, 16 at a time.
fn inputs() -> Vec<[f32; LANES]> {
    let specials = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-30,
        -1e-30,
        1e-40,
        88.5,
        -88.5,
        9.125,
        -9.125,
        20.0,
        -20.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        3.0,
        -7.0,
        0.1,
    ];
    let mut out = Vec::new();
    for c in specials.chunks(LANES) {
        let mut v = [0.25; LANES];
        v[..c.len()].copy_from_slice(c);
        out.push(v);
    }
    let mut x: u64 = 0x1234_5678_9abc_def1;
    for _ in 0..400 {
        let mut v = [0.0; LANES];
        for e in &mut v {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *e = ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * [0.01, 1.0, 5.0, 30.0][(x % 4) as usize];
        }
        out.push(v);
    }
    out
}

/// Every operation of `S` on `a, b, c`, stored lane-wise.
fn ops<S: Simd>(s: S, a: [f32; LANES], b: [f32; LANES], c: [f32; LANES]) -> Vec<[f32; LANES]> {
    let mut out = Vec::new();
    let mut st = |v: S::V| {
        let mut o = [0.0f32; LANES];
        // SAFETY: `o` holds 16 floats.
        unsafe { s.store(o.as_mut_ptr(), v) };
        out.push(o);
    };
    // SAFETY: each array holds 16 floats.
    let (va, vb, vc) = unsafe { (s.load(a.as_ptr()), s.load(b.as_ptr()), s.load(c.as_ptr())) };
    st(s.add(va, vb));
    st(s.sub(va, vb));
    st(s.mul(va, vb));
    st(s.div(va, vb));
    st(s.fma(va, vb, vc));
    st(s.min(va, vb));
    st(s.max(va, vb));
    st(s.abs(va));
    st(s.copysign(va, vb));
    st(s.select(s.lt(va, vb), va, vc));
    st(s.select(s.gt(va, vb), va, vc));
    st(s.select(s.ge(va, vb), va, vc));
    st(s.splat(a[3]));
    let n = s.sub(
        s.fma(s.min(s.splat(100.0), s.max(s.splat(-100.0), va)), s.splat(1.0), s.splat(12582912.0)),
        s.splat(12582912.0),
    );
    st(s.pow2i(n));
    let (e, m) = s.frexp(s.add(s.abs(va), s.splat(1e-3)));
    st(e);
    st(m);
    st(math::tanh(s, va));
    st(math::sigmoid(s, va));
    st(math::exp(s, va));
    st(math::ln(s, s.add(s.abs(va), s.splat(1e-3))));
    st(math::log1p_unit(s, s.min(s.splat(1.0), s.abs(va))));
    for kind in recur_format::ActKind::ALL {
        let act = recur_format::Activation::with_params(kind, 0.7, -0.2);
        st(math::activate(s, &act, va));
    }
    let half: [u16; LANES] = a.map(|x| half::f16::from_f32(x).to_bits());
    let bf: [u16; LANES] = a.map(|x| (x.to_bits() >> 16) as u16);
    let mut q = [0i8; 4 * LANES];
    for (i, e) in q.iter_mut().enumerate() {
        *e = (a[i % LANES] * 40.0 + i as f32) as i8;
    }
    // SAFETY: the arrays hold 16 u16 / 64 bytes.
    unsafe {
        st(s.load_f16(half.as_ptr()));
        st(s.load_bf16(bf.as_ptr()));
        for v in s.load_i8x4(q.as_ptr()) {
            st(v);
        }
    }
    out
}

fn check<S: Simd>(s: S) {
    let ins = inputs();
    let mut checked = 0;
    for (i, a) in ins.iter().enumerate() {
        let b = ins[(i * 7 + 3) % ins.len()];
        let c = ins[(i * 13 + 5) % ins.len()];
        let want = ops(Scalar, *a, b, c);
        let got = ops(s, *a, b, c);
        for (k, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(canon(*g), canon(*w), "{}: op #{k} differs from scalar on a={a:?} b={b:?} c={c:?}", S::NAME);
            checked += 1;
        }
    }
    println!("{}: {checked} vectors identical to scalar", S::NAME);
}

#[test]
fn every_kernel_set_matches_scalar_per_op() {
    check(Scalar);
    check(recur::kernels::Portable);
    #[cfg(target_arch = "aarch64")]
    {
        let s = recur::kernels::aarch64::neon::Neon::new().expect("NEON is baseline on aarch64");
        check(s);
    }
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(s) = recur::kernels::x86_64::avx2::Avx2::new() {
            check(s);
        }
        if let Some(s) = recur::kernels::x86_64::avx512::Avx512::new() {
            check(s);
        }
    }
}

/// Every f16 and bf16 bit pattern through `load_f16` / `load_bf16` of `S`, against `half`
/// (NaNs: only NaN-ness is compared, payloads are unspecified).
fn check_every_half<S: Simd>(s: S) {
    for base in (0..=u16::MAX).step_by(LANES) {
        let h: [u16; LANES] = core::array::from_fn(|i| base + i as u16);
        let mut got = [0.0f32; LANES];
        // SAFETY: `h` holds 16 u16, `got` 16 floats.
        unsafe { s.store(got.as_mut_ptr(), s.load_f16(h.as_ptr())) };
        let want = h.map(|b| half::f16::from_bits(b).to_f32());
        assert_eq!(canon(got), canon(want), "{}: load_f16 of {:#06x}..", S::NAME, base);
        // SAFETY: as above.
        unsafe { s.store(got.as_mut_ptr(), s.load_bf16(h.as_ptr())) };
        let want = h.map(|b| half::bf16::from_bits(b).to_f32());
        assert_eq!(canon(got), canon(want), "{}: load_bf16 of {:#06x}..", S::NAME, base);
    }
    println!("{}: all 65536 f16 and bf16 patterns exact", S::NAME);
}

#[test]
fn every_kernel_set_widens_every_half_exactly() {
    check_every_half(Scalar);
    check_every_half(recur::kernels::Portable);
    #[cfg(target_arch = "aarch64")]
    check_every_half(recur::kernels::aarch64::neon::Neon::new().expect("NEON is baseline on aarch64"));
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(s) = recur::kernels::x86_64::avx2::Avx2::new() {
            check_every_half(s);
        }
        if let Some(s) = recur::kernels::x86_64::avx512::Avx512::new() {
            check_every_half(s);
        }
    }
}

#[test]
fn wide_loads_are_exact() {
    // f16 and bf16 widening and the int8 de-interleave on the scalar path, against `half`.
    let vals: [f32; LANES] = core::array::from_fn(|i| (i as f32 - 7.5) * 0.37);
    let h: [u16; LANES] = vals.map(|x| half::f16::from_f32(x).to_bits());
    // SAFETY: 16 u16.
    let got = unsafe { Scalar.load_f16(h.as_ptr()) };
    for i in 0..LANES {
        assert_eq!(got[i], half::f16::from_bits(h[i]).to_f32());
    }
    let b: [u16; LANES] = vals.map(|x| half::bf16::from_f32(x).to_bits());
    // SAFETY: 16 u16.
    let got = unsafe { Scalar.load_bf16(b.as_ptr()) };
    for i in 0..LANES {
        assert_eq!(got[i], half::bf16::from_bits(b[i]).to_f32());
    }
    let q: [i8; 64] = core::array::from_fn(|i| (i as i32 * 5 - 128) as i8);
    // SAFETY: 64 bytes.
    let v = unsafe { Scalar.load_i8x4(q.as_ptr()) };
    for l in 0..LANES {
        for j in 0..4 {
            assert_eq!(v[j][l], q[4 * l + j] as f32);
        }
    }
}

/// `dot4_i8` of `S` (corrected for `DOT_OFFSET` as the kernels do) against exact integer
/// arithmetic, over extreme and random operands in -127..=127; and `i2f` against `as f32`.
fn check_dot<S: Simd>(s: S) {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for case in 0..20_000 {
        let w: [i8; 64] = core::array::from_fn(|i| match case % 4 {
            0 => 127 * if i % 2 == 0 { 1 } else { -1 },
            1 => -127,
            _ => (next() % 255) as i8 as i16 as i8,
        })
        .map(|v| v.max(-127));
        let x: [i8; 4] = core::array::from_fn(|j| match case % 4 {
            0 => -127 * if j % 2 == 0 { 1 } else { -1 },
            1 => -127,
            _ => ((next() % 255) as i64 - 127) as i8,
        });
        let acc0: [i32; LANES] = core::array::from_fn(|_| (next() % 2_000_001) as i32 - 1_000_000);
        let x4 = u32::from_le_bytes(x.map(|v| v as u8));
        let xsum: i32 = x.iter().map(|&v| i32::from(v)).sum();
        // SAFETY: `w` holds 64 bytes.
        let r = unsafe { s.dot4_i8(s.izero(), w.as_ptr(), x4) };
        let r = if S::DOT_OFFSET { s.isub_splat(r, 128 * xsum) } else { r };
        let mut got = [0.0f32; LANES];
        // SAFETY: 16 floats.
        unsafe { s.store(got.as_mut_ptr(), s.i2f(r)) };
        for l in 0..LANES {
            let want: i32 = (0..4).map(|j| i32::from(w[4 * l + j]) * i32::from(x[j])).sum();
            assert_eq!(got[l], want as f32, "{}: dot4 lane {l}, case {case}", S::NAME);
        }
        // i2f rounds to nearest even beyond 2^24 (every lane holds `big`).
        let big = acc0[case % LANES].wrapping_mul(4099);
        let z = s.isub_splat(s.izero(), big.wrapping_neg());
        // SAFETY: 16 floats.
        unsafe { s.store(got.as_mut_ptr(), s.i2f(z)) };
        assert!(got.iter().all(|&g| g == big as f32), "{}: i2f of {big}", S::NAME);
    }
    println!("{}: dot4_i8 exact on 20000 cases", S::NAME);
}

#[test]
fn every_kernel_set_dot4_is_exact() {
    check_dot(Scalar);
    check_dot(recur::kernels::Portable);
    #[cfg(target_arch = "aarch64")]
    check_dot(recur::kernels::aarch64::neon::Neon::new().expect("NEON is baseline on aarch64"));
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(s) = recur::kernels::x86_64::avx2::Avx2::new() {
            check_dot(s);
        }
        // Both AVX-512 variants: the dispatcher picks VNNI where the CPU has it, so the
        // BW-only form is tested here directly.
        if let Some(s) = recur::kernels::x86_64::avx512::Avx512::new() {
            check_dot(s);
        }
        if let Some(s) = recur::kernels::x86_64::avx512::Avx512::new_vnni() {
            check_dot(s);
        }
    }
}
