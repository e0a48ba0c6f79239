//! The fused gate kernels, written once against [`Simd`].
//!
//! A recurrent step for one direction of one layer walks the hidden units in blocks of 16
//! (one panel height). For a *tile* of `TB` neighbouring blocks it:
//!
//! 1. starts every gate's accumulator from the bias (`Wb + Rb`, one addition) or, in a
//!    sequence run, from the precomputed input projection (which began from the same bias
//!    and added the same products in the same order);
//! 2. adds `W x` then `R h` with one fused multiply-add per input element, `k` ascending,
//!    all the tile's gate panels at once: each `k` broadcasts `x[k]` once and streams one
//!    16-row slice of each of the `TB * G` neighbouring panels;
//! 3. applies the cell's element-wise update with all gates in registers and stores the
//!    new `h` (and `c`).
//!
//! The tile size is the ISA's: enough independent accumulator chains to hide the FMA
//! latency (a row's sum is one chain and is never split, which is what keeps every ISA
//! bit-identical). Blocks left over after the last full tile run with `TB = 1`.
//!
//! GRU with `linear_before_reset = 0` needs the reset gate of *every* unit before the
//! candidate's recurrent product `R_h (r ⊙ h)`, so it takes two passes: the first computes
//! z, r and the input part of the candidate; the second the candidate and the new state.

use crate::kernels::{Simd, LANES};
use crate::math::activate;
use recur_format::Activation;

/// Everything a kernel needs about one direction of a recurrent layer, as raw pointers
/// into the model's weights and the stream's state.
///
/// Invariants (established by `Model` when it validated the tensors and by `State`'s
/// layout): `w` holds `nb * gs` panels of `k_in * 16` floats, `r` `nb * gs` panels of
/// `hidden * 16`, `b` `2 * nb * gs * 16` floats (input biases then recurrent biases), `p`
/// (if not null) `nb * 3 * 16`; `h`, `c`, `hnew` and the GRU scratch hold `nb * 16` floats;
/// `x` holds `k_in` floats; `proj` (if not null) `nb * gs * 16`.
#[derive(Clone, Copy)]
pub(crate) struct DirArgs<'a> {
    pub w: *const f32,
    pub r: *const f32,
    pub b: *const f32,
    pub p: *const f32,
    pub x: *const f32,
    pub proj: *const f32,
    pub h: *const f32,
    pub c: *mut f32,
    pub hnew: *mut f32,
    pub z: *mut f32,
    pub rh: *mut f32,
    pub nx: *mut f32,
    pub k_in: usize,
    pub hidden: usize,
    pub nb: usize,
    pub clip: Option<f32>,
    pub acts: &'a [Activation; 3],
    pub input_forget: bool,
}

/// Adds `panels · x` to the accumulators of a tile.
///
/// Panel of (tile block `t`, gate `g`) is at `base + ((t * GS + g) * k) * 16`: `GS` is
/// the number of gate panels per block in memory, `G` how many of them (from the first)
/// are used. With `SPLIT`, gate `G - 1` accumulates into `extra[t]` instead (GRU
/// `linear_before_reset` keeps the recurrent part of the candidate apart).
///
/// # Safety
/// `base` must hold the panels described above for `k` inputs, `x` `k` floats.
#[inline(always)]
unsafe fn matvec<S: Simd, const TB: usize, const G: usize, const GS: usize, const SPLIT: bool>(
    s: S,
    acc: &mut [[S::V; G]; TB],
    extra: &mut [S::V; TB],
    base: *const f32,
    k: usize,
    x: *const f32,
) {
    let stride = k * LANES;
    for kk in 0..k {
        // SAFETY: kk < k; the caller guarantees `k` floats at `x`.
        let xv = s.splat(unsafe { *x.add(kk) });
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: panel (t, g) lies within the caller's `TB * GS` panels and
                // `kk * 16 + 16 <= k * 16`.
                let wv = unsafe { s.load(base.add((t * GS + g) * stride + kk * LANES)) };
                if SPLIT && g == G - 1 {
                    extra[t] = s.fma(wv, xv, extra[t]);
                } else {
                    acc[t][g] = s.fma(wv, xv, acc[t][g]);
                }
            }
        }
    }
}

#[inline(always)]
fn clip<S: Simd>(s: S, c: Option<f32>, v: S::V) -> S::V {
    match c {
        // Value second: NaN propagates.
        Some(c) => s.min(s.splat(c), s.max(s.splat(-c), v)),
        None => v,
    }
}

/// Initial accumulators of gate panel `p` (global panel index): `Wb + Rb`, or the
/// projection when one is given. `wb_only` starts from `Wb` alone (GRU lbr candidate).
///
/// # Safety
/// See [`DirArgs`]; `p < nb * gates`.
#[inline(always)]
unsafe fn init<S: Simd>(s: S, a: &DirArgs, gates: usize, p: usize, wb_only: bool) -> S::V {
    // SAFETY: bias holds 2 * nb * gates panels of 16; projection nb * gates.
    unsafe {
        if !a.proj.is_null() {
            s.load(a.proj.add(p * LANES))
        } else if wb_only {
            s.load(a.b.add(p * LANES))
        } else {
            s.add(s.load(a.b.add(p * LANES)), s.load(a.b.add((a.nb * gates + p) * LANES)))
        }
    }
}

/// LSTM, one tile of `TB` blocks starting at block `b0`.
///
/// # Safety
/// [`DirArgs`] invariants; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn lstm_tile<S: Simd, const TB: usize>(s: S, a: &DirArgs, b0: usize) {
    const G: usize = 4;
    let mut acc = [[s.splat(0.0); G]; TB];
    let mut none = [s.splat(0.0); TB];
    for t in 0..TB {
        for g in 0..G {
            // SAFETY: (b0 + t) * G + g < nb * G.
            acc[t][g] = unsafe { init(s, a, G, (b0 + t) * G + g, false) };
        }
    }
    // SAFETY: the tile's panels are within W and R; x holds k_in floats, h hidden floats.
    unsafe {
        if a.proj.is_null() {
            matvec::<S, TB, G, G, false>(s, &mut acc, &mut none, a.w.add(b0 * G * a.k_in * LANES), a.k_in, a.x);
        }
        matvec::<S, TB, G, G, false>(s, &mut acc, &mut none, a.r.add(b0 * G * a.hidden * LANES), a.hidden, a.h);
    }
    let [fa, ga, ha] = a.acts;
    for (t, acc) in acc.iter().enumerate() {
        let u = (b0 + t) * LANES;
        // SAFETY: c and hnew hold nb * 16 floats; p (if any) nb * 3 * 16.
        unsafe {
            let c_prev = s.load(a.c.add(u));
            let [mut ip, mut fp, cp, op] = *acc;
            let peep = !a.p.is_null();
            if peep {
                ip = s.fma(s.load(a.p.add(3 * u)), c_prev, ip);
                fp = s.fma(s.load(a.p.add(3 * u + LANES)), c_prev, fp);
            }
            let i = activate(s, fa, clip(s, a.clip, ip));
            let f = if a.input_forget { s.sub(s.splat(1.0), i) } else { activate(s, fa, clip(s, a.clip, fp)) };
            let g = activate(s, ga, clip(s, a.clip, cp));
            let c_new = s.fma(f, c_prev, s.mul(i, g));
            let op = if peep { s.fma(s.load(a.p.add(3 * u + 2 * LANES)), c_new, op) } else { op };
            let o = activate(s, fa, clip(s, a.clip, op));
            let h_new = s.mul(o, activate(s, ha, c_new));
            s.store(a.c.add(u), c_new);
            s.store(a.hnew.add(u), h_new);
        }
    }
}

/// GRU with `linear_before_reset = 1`, one tile (a single pass).
///
/// # Safety
/// [`DirArgs`] invariants; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn gru_lbr_tile<S: Simd, const TB: usize>(s: S, a: &DirArgs, b0: usize) {
    const G: usize = 3;
    let mut acc = [[s.splat(0.0); G]; TB];
    let mut nh = [s.splat(0.0); TB];
    for t in 0..TB {
        let p0 = (b0 + t) * G;
        // SAFETY: panels p0..p0+3 < nb * 3; the recurrent bias of the candidate sits in
        // the second half of the bias tensor.
        unsafe {
            acc[t][0] = init(s, a, G, p0, false);
            acc[t][1] = init(s, a, G, p0 + 1, false);
            acc[t][2] = init(s, a, G, p0 + 2, true);
            nh[t] = s.load(a.b.add((a.nb * G + p0 + 2) * LANES));
        }
    }
    // SAFETY: as in `lstm_tile`.
    unsafe {
        if a.proj.is_null() {
            let mut none = [s.splat(0.0); TB];
            matvec::<S, TB, G, G, false>(s, &mut acc, &mut none, a.w.add(b0 * G * a.k_in * LANES), a.k_in, a.x);
        }
        matvec::<S, TB, G, G, true>(s, &mut acc, &mut nh, a.r.add(b0 * G * a.hidden * LANES), a.hidden, a.h);
    }
    let [fa, ga, _] = a.acts;
    for t in 0..TB {
        let u = (b0 + t) * LANES;
        let z = activate(s, fa, clip(s, a.clip, acc[t][0]));
        let r = activate(s, fa, clip(s, a.clip, acc[t][1]));
        let n = activate(s, ga, clip(s, a.clip, s.fma(r, nh[t], acc[t][2])));
        // SAFETY: h and hnew hold nb * 16 floats.
        unsafe {
            let h_prev = s.load(a.h.add(u));
            let h_new = s.fma(z, h_prev, s.mul(s.sub(s.splat(1.0), z), n));
            s.store(a.hnew.add(u), h_new);
        }
    }
}

/// GRU with `linear_before_reset = 0`, first pass: z, r, and the input part of the
/// candidate (`Wb + Rb + W_h x`), stored in the scratch; `rh = r ⊙ h`.
///
/// # Safety
/// [`DirArgs`] invariants; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn gru_pass1_tile<S: Simd, const TB: usize>(s: S, a: &DirArgs, b0: usize) {
    const G: usize = 3;
    let mut acc = [[s.splat(0.0); G]; TB];
    let mut none = [s.splat(0.0); TB];
    for t in 0..TB {
        for g in 0..G {
            // SAFETY: panel index < nb * 3.
            acc[t][g] = unsafe { init(s, a, G, (b0 + t) * G + g, false) };
        }
    }
    // SAFETY: as in `lstm_tile`; only the z and r panels of R are read here.
    unsafe {
        if a.proj.is_null() {
            matvec::<S, TB, G, G, false>(s, &mut acc, &mut none, a.w.add(b0 * G * a.k_in * LANES), a.k_in, a.x);
        }
        let mut acc2 = [[s.splat(0.0); 2]; TB];
        for t in 0..TB {
            acc2[t] = [acc[t][0], acc[t][1]];
        }
        matvec::<S, TB, 2, G, false>(s, &mut acc2, &mut none, a.r.add(b0 * G * a.hidden * LANES), a.hidden, a.h);
        for t in 0..TB {
            acc[t][0] = acc2[t][0];
            acc[t][1] = acc2[t][1];
        }
    }
    let fa = &a.acts[0];
    for t in 0..TB {
        let u = (b0 + t) * LANES;
        let z = activate(s, fa, clip(s, a.clip, acc[t][0]));
        let r = activate(s, fa, clip(s, a.clip, acc[t][1]));
        // SAFETY: scratch buffers hold nb * 16 floats.
        unsafe {
            s.store(a.z.add(u), z);
            s.store(a.rh.add(u), s.mul(r, s.load(a.h.add(u))));
            s.store(a.nx.add(u), acc[t][2]);
        }
    }
}

/// GRU with `linear_before_reset = 0`, second pass: the candidate from `R_h (r ⊙ h)` and
/// the new state.
///
/// # Safety
/// [`DirArgs`] invariants; pass 1 has run for every block; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn gru_pass2_tile<S: Simd, const TB: usize>(s: S, a: &DirArgs, b0: usize) {
    const G: usize = 3;
    let mut acc = [[s.splat(0.0); 1]; TB];
    let mut none = [s.splat(0.0); TB];
    for t in 0..TB {
        // SAFETY: scratch holds nb * 16 floats.
        acc[t][0] = unsafe { s.load(a.nx.add((b0 + t) * LANES)) };
    }
    // SAFETY: the candidate panel of block b is panel b * 3 + 2 of R; rh holds `hidden` floats.
    unsafe {
        matvec::<S, TB, 1, G, false>(s, &mut acc, &mut none, a.r.add((b0 * G + 2) * a.hidden * LANES), a.hidden, a.rh);
    }
    let ga = &a.acts[1];
    for t in 0..TB {
        let u = (b0 + t) * LANES;
        let n = activate(s, ga, clip(s, a.clip, acc[t][0]));
        // SAFETY: buffers hold nb * 16 floats.
        unsafe {
            let z = s.load(a.z.add(u));
            let h_prev = s.load(a.h.add(u));
            s.store(a.hnew.add(u), s.fma(z, h_prev, s.mul(s.sub(s.splat(1.0), z), n)));
        }
    }
}

/// Vanilla RNN, one tile.
///
/// # Safety
/// [`DirArgs`] invariants; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn rnn_tile<S: Simd, const TB: usize>(s: S, a: &DirArgs, b0: usize) {
    let mut acc = [[s.splat(0.0); 1]; TB];
    let mut none = [s.splat(0.0); TB];
    for t in 0..TB {
        // SAFETY: panel index < nb.
        acc[t][0] = unsafe { init(s, a, 1, b0 + t, false) };
    }
    // SAFETY: as in `lstm_tile`.
    unsafe {
        if a.proj.is_null() {
            matvec::<S, TB, 1, 1, false>(s, &mut acc, &mut none, a.w.add(b0 * a.k_in * LANES), a.k_in, a.x);
        }
        matvec::<S, TB, 1, 1, false>(s, &mut acc, &mut none, a.r.add(b0 * a.hidden * LANES), a.hidden, a.h);
    }
    let fa = &a.acts[0];
    for t in 0..TB {
        let h = activate(s, fa, clip(s, a.clip, acc[t][0]));
        // SAFETY: hnew holds nb * 16 floats.
        unsafe { s.store(a.hnew.add((b0 + t) * LANES), h) };
    }
}

/// Dense layer tile: `out = W x + b` for `TB` blocks of 16 outputs (activation applied by
/// the caller's closure-free post pass).
///
/// # Safety
/// `w` holds `nb` panels of `k * 16`, `b` `nb * 16`, `x` `k` floats, `out` `nb * 16`.
#[inline(always)]
pub(crate) unsafe fn dense_tile<S: Simd, const TB: usize>(
    s: S,
    w: *const f32,
    b: *const f32,
    x: *const f32,
    k: usize,
    out: *mut f32,
    b0: usize,
    act: recur_format::DenseAct,
) {
    let mut acc = [[s.splat(0.0); 1]; TB];
    let mut none = [s.splat(0.0); TB];
    // SAFETY: per the function contract.
    unsafe {
        for t in 0..TB {
            acc[t][0] = s.load(b.add((b0 + t) * LANES));
        }
        matvec::<S, TB, 1, 1, false>(s, &mut acc, &mut none, w.add(b0 * k * LANES), k, x);
        for t in 0..TB {
            s.store(out.add((b0 + t) * LANES), crate::math::activate_dense(s, act, acc[t][0]));
        }
    }
}

/// Input projection of a sequence: for frames `0..frames` and every gate panel `p`,
/// `proj[f][p] = init(p) + W_p x_f` with the same initial value and order as the fused
/// step. Tiles of `FT` frames share each loaded weight row.
///
/// `init_wb_only(p)` says whether panel `p` starts from `Wb` alone.
///
/// # Safety
/// `w` holds `panels` panels of `k * 16`; `b` the layer's bias tensor (`2 * panels * 16`);
/// `xs` `frames * k` floats (frame-major); `proj` `frames * panels * 16`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn project<S: Simd>(
    s: S,
    w: *const f32,
    b: *const f32,
    panels: usize,
    k: usize,
    xs: *const f32,
    frames: usize,
    proj: *mut f32,
    wb_only: impl Fn(usize) -> bool,
) {
    const FT: usize = 8;
    for p in 0..panels {
        // SAFETY: per the function contract.
        let init = unsafe {
            if wb_only(p) {
                s.load(b.add(p * LANES))
            } else {
                s.add(s.load(b.add(p * LANES)), s.load(b.add((panels + p) * LANES)))
            }
        };
        // SAFETY: panel p lies within W.
        let wp = unsafe { w.add(p * k * LANES) };
        let mut f0 = 0;
        while f0 + FT <= frames {
            let mut acc = [init; FT];
            for kk in 0..k {
                // SAFETY: kk < k.
                let wv = unsafe { s.load(wp.add(kk * LANES)) };
                for (t, a) in acc.iter_mut().enumerate() {
                    // SAFETY: frame f0 + t < frames.
                    let xv = s.splat(unsafe { *xs.add((f0 + t) * k + kk) });
                    *a = s.fma(wv, xv, *a);
                }
            }
            for (t, a) in acc.iter().enumerate() {
                // SAFETY: frame f0 + t < frames, panel p < panels.
                unsafe { s.store(proj.add(((f0 + t) * panels + p) * LANES), *a) };
            }
            f0 += FT;
        }
        while f0 < frames {
            let mut a = init;
            for kk in 0..k {
                // SAFETY: kk < k, f0 < frames.
                unsafe {
                    a = s.fma(s.load(wp.add(kk * LANES)), s.splat(*xs.add(f0 * k + kk)), a);
                }
            }
            // SAFETY: as above.
            unsafe { s.store(proj.add((f0 * panels + p) * LANES), a) };
            f0 += 1;
        }
    }
}
