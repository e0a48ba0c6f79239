//! The scalar kernel set: the executable reference.
//!
//! Each logical vector is sixteen `f32`s and each operation is the plain Rust one;
//! `f32::mul_add` is a correctly rounded fused multiply-add on every target (hardware
//! FMA where the CPU has it, an exact software routine otherwise), so this path follows
//! the numerics contract on any CPU Rust supports.

use super::{Simd, LANES};

/// The scalar kernel set (always available).
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

type V = [f32; LANES];

#[inline(always)]
fn map(a: V, f: impl Fn(f32) -> f32) -> V {
    let mut o = [0.0; LANES];
    for i in 0..LANES {
        o[i] = f(a[i]);
    }
    o
}

#[inline(always)]
fn zip(a: V, b: V, f: impl Fn(f32, f32) -> f32) -> V {
    let mut o = [0.0; LANES];
    for i in 0..LANES {
        o[i] = f(a[i], b[i]);
    }
    o
}

impl Simd for Scalar {
    const NAME: &'static str = "scalar";
    const TILE_LSTM: usize = 1;
    const TILE_GRU: usize = 1;
    const TILE_RNN: usize = 1;
    // One stream per tile: the multi-stream tiles are the same generic code on every set
    // and are checked where they run (AVX-512's 4, AVX2's and portable's 2); in the
    // reference they only multiplied the engine's build time (the scalar kernels were
    // over half of its machine code).
    type V = V;
    type M = [bool; LANES];
    type I = [i32; LANES];

    #[inline(always)]
    unsafe fn load(self, p: *const f32) -> V {
        // SAFETY: the caller guarantees 16 readable floats at `p`.
        unsafe { p.cast::<V>().read_unaligned() }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32, v: V) {
        // SAFETY: the caller guarantees 16 writable floats at `p`.
        unsafe { p.cast::<V>().write_unaligned(v) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> V {
        [x; LANES]
    }
    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        zip(a, b, |x, y| x + y)
    }
    #[inline(always)]
    fn sub(self, a: V, b: V) -> V {
        zip(a, b, |x, y| x - y)
    }
    #[inline(always)]
    fn mul(self, a: V, b: V) -> V {
        zip(a, b, |x, y| x * y)
    }
    #[inline(always)]
    fn div(self, a: V, b: V) -> V {
        zip(a, b, |x, y| x / y)
    }
    // Not inlined: without the `fma` target feature each lane is a libm `fmaf` call, and
    // 16 calls at every use made the reference kernels huge to compile. One call per
    // vector costs the reference little and keeps its code small.
    #[inline(never)]
    fn fma(self, a: V, b: V, c: V) -> V {
        let mut o = [0.0; LANES];
        for i in 0..LANES {
            o[i] = a[i].mul_add(b[i], c[i]);
        }
        o
    }
    #[inline(always)]
    fn min(self, a: V, b: V) -> V {
        zip(a, b, |x, y| if x < y { x } else { y })
    }
    #[inline(always)]
    fn max(self, a: V, b: V) -> V {
        zip(a, b, |x, y| if x > y { x } else { y })
    }
    #[inline(always)]
    fn abs(self, a: V) -> V {
        map(a, |x| f32::from_bits(x.to_bits() & 0x7fff_ffff))
    }
    #[inline(always)]
    fn copysign(self, mag: V, sign: V) -> V {
        zip(mag, sign, |m, s| f32::from_bits((m.to_bits() & 0x7fff_ffff) | (s.to_bits() & 0x8000_0000)))
    }
    #[inline(always)]
    fn lt(self, a: V, b: V) -> [bool; LANES] {
        let mut o = [false; LANES];
        for i in 0..LANES {
            o[i] = a[i] < b[i];
        }
        o
    }
    #[inline(always)]
    fn gt(self, a: V, b: V) -> [bool; LANES] {
        self.lt(b, a)
    }
    #[inline(always)]
    fn ge(self, a: V, b: V) -> [bool; LANES] {
        let mut o = [false; LANES];
        for i in 0..LANES {
            o[i] = a[i] >= b[i];
        }
        o
    }
    #[inline(always)]
    fn select(self, m: [bool; LANES], a: V, b: V) -> V {
        let mut o = [0.0; LANES];
        for i in 0..LANES {
            o[i] = if m[i] { a[i] } else { b[i] };
        }
        o
    }
    #[inline(always)]
    fn pow2i(self, n: V) -> V {
        map(n, |x| f32::from_bits(((x as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    fn frexp(self, x: V) -> (V, V) {
        let e = map(x, |v| ((v.to_bits() >> 23) as i32 - 127) as f32);
        let m = map(x, |v| f32::from_bits((v.to_bits() & 0x007f_ffff) | 0x3f80_0000));
        (e, m)
    }
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> V {
        // SAFETY: the caller guarantees 16 readable `u16` at `p`.
        let h = unsafe { p.cast::<[u16; LANES]>().read_unaligned() };
        h.map(|b| half::f16::from_bits(b).to_f32())
    }
    #[inline(always)]
    unsafe fn load_bf16(self, p: *const u16) -> V {
        // SAFETY: the caller guarantees 16 readable `u16` at `p`.
        let h = unsafe { p.cast::<[u16; LANES]>().read_unaligned() };
        h.map(|b| f32::from_bits((b as u32) << 16))
    }
    #[inline(always)]
    unsafe fn load_i8x4(self, p: *const i8) -> [V; 4] {
        // SAFETY: the caller guarantees 64 readable bytes at `p`.
        let q = unsafe { p.cast::<[i8; 4 * LANES]>().read_unaligned() };
        let mut out = [[0.0; LANES]; 4];
        for l in 0..LANES {
            for (j, o) in out.iter_mut().enumerate() {
                o[l] = q[4 * l + j] as f32;
            }
        }
        out
    }

    #[inline(always)]
    fn izero(self) -> [i32; LANES] {
        [0; LANES]
    }
    #[inline(always)]
    unsafe fn dot4_i8(self, acc: [i32; LANES], w: *const i8, x4: u32) -> [i32; LANES] {
        // SAFETY: the caller guarantees 64 readable bytes at `w`.
        let q = unsafe { w.cast::<[i8; 4 * LANES]>().read_unaligned() };
        let x = x4.to_le_bytes().map(|b| i32::from(b as i8));
        let mut out = acc;
        for l in 0..LANES {
            for j in 0..4 {
                out[l] = out[l].wrapping_add(i32::from(q[4 * l + j]) * x[j]);
            }
        }
        out
    }
    #[inline(always)]
    fn isub_splat(self, a: [i32; LANES], b: i32) -> [i32; LANES] {
        a.map(|v| v.wrapping_sub(b))
    }
    #[inline(always)]
    fn i2f(self, a: [i32; LANES]) -> V {
        a.map(|v| v as f32)
    }
}
