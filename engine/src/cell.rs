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

// The loops index accumulators, weights and panels by their (stream, block, gate)
// coordinates, which is how the layout is defined; iterator chains would hide that.
#![allow(clippy::needless_range_loop)]

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

/// Adds `panels · x_n` to the accumulators of a tile, for `NS` streams at once.
///
/// Panel of (tile block `t`, gate `g`) is at `base + ((t * GS + g) * k) * 16`: `GS` is
/// the number of gate panels per block in memory, `G` how many of them (from the first)
/// are used. With `SPLIT`, gate `G - 1` accumulates into `extra[n][t]` instead (GRU
/// `linear_before_reset` keeps the recurrent part of the candidate apart).
///
/// Each `k` loads the tile's `TB * G` weight vectors once and feeds them to every stream:
/// with `NS > 1` this is a small matrix product, each weight read serving `NS` rows of
/// output. Every accumulator is its own chain of FMAs in `k` order, so a stream gets the
/// same bits whatever `NS` and `TB` are.
///
/// # Safety
/// `base` must hold the panels described above for `k` inputs, each `x[n]` `k` floats.
#[inline(always)]
unsafe fn matvec<S: Simd, const NS: usize, const TB: usize, const G: usize, const GS: usize, const SPLIT: bool>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    extra: &mut [[S::V; TB]; NS],
    base: *const f32,
    k: usize,
    x: [*const f32; NS],
) {
    let stride = k * LANES;
    for kk in 0..k {
        if S::PRELOAD_WEIGHTS {
            // Load the tile's weight vectors first, then feed them to every stream: with
            // 32 registers (AVX-512) this schedules best (W2 185 us vs 207 us per step).
            let mut wv = [[s.splat(0.0); G]; TB];
            for (t, wt) in wv.iter_mut().enumerate() {
                for (g, w) in wt.iter_mut().enumerate() {
                    // SAFETY: panel (t, g) lies within the caller's `TB * GS` panels and
                    // `kk * 16 + 16 <= k * 16`.
                    *w = unsafe { s.load(base.add((t * GS + g) * stride + kk * LANES)) };
                }
            }
            for n in 0..NS {
                // SAFETY: kk < k; the caller guarantees `k` floats at `x[n]`.
                let xv = s.splat(unsafe { *x[n].add(kk) });
                for t in 0..TB {
                    for g in 0..G {
                        if SPLIT && g == G - 1 {
                            extra[n][t] = s.fma(wv[t][g], xv, extra[n][t]);
                        } else {
                            acc[n][t][g] = s.fma(wv[t][g], xv, acc[n][t][g]);
                        }
                    }
                }
            }
            continue;
        }
        // Broadcast every stream's input first, then stream each weight vector straight
        // into its FMAs: only one weight register is live at a time, which keeps the
        // largest tiles inside NEON's and AVX2's register files. Same FMA order per
        // accumulator either way, so the same bits.
        let mut xv = [s.splat(0.0); NS];
        for n in 0..NS {
            // SAFETY: kk < k; the caller guarantees `k` floats at `x[n]`.
            xv[n] = s.splat(unsafe { *x[n].add(kk) });
        }
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: panel (t, g) lies within the caller's `TB * GS` panels and
                // `kk * 16 + 16 <= k * 16`.
                let wv = unsafe { s.load(base.add((t * GS + g) * stride + kk * LANES)) };
                for n in 0..NS {
                    if SPLIT && g == G - 1 {
                        extra[n][t] = s.fma(wv, xv[n], extra[n][t]);
                    } else {
                        acc[n][t][g] = s.fma(wv, xv[n], acc[n][t][g]);
                    }
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

/// The input vectors (`x`) of the streams, for the `W x` part of a tile.
#[inline(always)]
fn xs<const NS: usize>(a: &[DirArgs; NS]) -> [*const f32; NS] {
    core::array::from_fn(|n| a[n].x)
}

/// The recurrent inputs (`h`) of the streams.
#[inline(always)]
fn hs<const NS: usize>(a: &[DirArgs; NS]) -> [*const f32; NS] {
    core::array::from_fn(|n| a[n].h)
}

/// LSTM, one tile of `TB` blocks starting at block `b0`, for `NS` streams.
///
/// # Safety
/// Every `a[n]` satisfies the [`DirArgs`] invariants and all share the same weights and
/// sizes; either all or none have a projection; `b0 + TB <= nb`.
#[inline(always)]
pub(crate) unsafe fn lstm_tile<S: Simd, const TB: usize, const NS: usize>(s: S, a: &[DirArgs; NS], b0: usize) {
    const G: usize = 4;
    let a0 = &a[0];
    let mut acc = [[[s.splat(0.0); G]; TB]; NS];
    let mut none = [[s.splat(0.0); TB]; NS];
    for n in 0..NS {
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: (b0 + t) * G + g < nb * G.
                acc[n][t][g] = unsafe { init(s, &a[n], G, (b0 + t) * G + g, false) };
            }
        }
    }
    // SAFETY: the tile's panels are within W and R; x holds k_in floats, h hidden floats.
    unsafe {
        if a0.proj.is_null() {
            matvec::<S, NS, TB, G, G, false>(
                s,
                &mut acc,
                &mut none,
                a0.w.add(b0 * G * a0.k_in * LANES),
                a0.k_in,
                xs(a),
            );
        }
        matvec::<S, NS, TB, G, G, false>(
            s,
            &mut acc,
            &mut none,
            a0.r.add(b0 * G * a0.hidden * LANES),
            a0.hidden,
            hs(a),
        );
    }
    let [fa, ga, ha] = a0.acts;
    for (n, acc) in acc.iter().enumerate() {
        let a = &a[n];
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
}

/// GRU with `linear_before_reset = 1`, one tile (a single pass).
///
/// # Safety
/// As [`lstm_tile`].
#[inline(always)]
pub(crate) unsafe fn gru_lbr_tile<S: Simd, const TB: usize, const NS: usize>(s: S, a: &[DirArgs; NS], b0: usize) {
    const G: usize = 3;
    let a0 = &a[0];
    let mut acc = [[[s.splat(0.0); G]; TB]; NS];
    let mut nh = [[s.splat(0.0); TB]; NS];
    for n in 0..NS {
        for t in 0..TB {
            let p0 = (b0 + t) * G;
            // SAFETY: panels p0..p0+3 < nb * 3; the recurrent bias of the candidate sits in
            // the second half of the bias tensor.
            unsafe {
                acc[n][t][0] = init(s, &a[n], G, p0, false);
                acc[n][t][1] = init(s, &a[n], G, p0 + 1, false);
                acc[n][t][2] = init(s, &a[n], G, p0 + 2, true);
                nh[n][t] = s.load(a0.b.add((a0.nb * G + p0 + 2) * LANES));
            }
        }
    }
    // SAFETY: as in `lstm_tile`.
    unsafe {
        if a0.proj.is_null() {
            let mut none = [[s.splat(0.0); TB]; NS];
            matvec::<S, NS, TB, G, G, false>(
                s,
                &mut acc,
                &mut none,
                a0.w.add(b0 * G * a0.k_in * LANES),
                a0.k_in,
                xs(a),
            );
        }
        matvec::<S, NS, TB, G, G, true>(s, &mut acc, &mut nh, a0.r.add(b0 * G * a0.hidden * LANES), a0.hidden, hs(a));
    }
    let [fa, ga, _] = a0.acts;
    for n in 0..NS {
        let a = &a[n];
        for t in 0..TB {
            let u = (b0 + t) * LANES;
            let z = activate(s, fa, clip(s, a.clip, acc[n][t][0]));
            let r = activate(s, fa, clip(s, a.clip, acc[n][t][1]));
            let cand = activate(s, ga, clip(s, a.clip, s.fma(r, nh[n][t], acc[n][t][2])));
            // SAFETY: h and hnew hold nb * 16 floats.
            unsafe {
                let h_prev = s.load(a.h.add(u));
                let h_new = s.fma(z, h_prev, s.mul(s.sub(s.splat(1.0), z), cand));
                s.store(a.hnew.add(u), h_new);
            }
        }
    }
}

/// GRU with `linear_before_reset = 0`, first pass: z, r, and the input part of the
/// candidate (`Wb + Rb + W_h x`), stored in the scratch; `rh = r ⊙ h`.
///
/// # Safety
/// As [`lstm_tile`].
#[inline(always)]
pub(crate) unsafe fn gru_pass1_tile<S: Simd, const TB: usize, const NS: usize>(s: S, a: &[DirArgs; NS], b0: usize) {
    const G: usize = 3;
    let a0 = &a[0];
    let mut acc = [[[s.splat(0.0); G]; TB]; NS];
    let mut none = [[s.splat(0.0); TB]; NS];
    for n in 0..NS {
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: panel index < nb * 3.
                acc[n][t][g] = unsafe { init(s, &a[n], G, (b0 + t) * G + g, false) };
            }
        }
    }
    // SAFETY: as in `lstm_tile`; only the z and r panels of R are read here.
    unsafe {
        if a0.proj.is_null() {
            matvec::<S, NS, TB, G, G, false>(
                s,
                &mut acc,
                &mut none,
                a0.w.add(b0 * G * a0.k_in * LANES),
                a0.k_in,
                xs(a),
            );
        }
        let mut acc2 = [[[s.splat(0.0); 2]; TB]; NS];
        for n in 0..NS {
            for t in 0..TB {
                acc2[n][t] = [acc[n][t][0], acc[n][t][1]];
            }
        }
        matvec::<S, NS, TB, 2, G, false>(
            s,
            &mut acc2,
            &mut none,
            a0.r.add(b0 * G * a0.hidden * LANES),
            a0.hidden,
            hs(a),
        );
        for n in 0..NS {
            for t in 0..TB {
                acc[n][t][0] = acc2[n][t][0];
                acc[n][t][1] = acc2[n][t][1];
            }
        }
    }
    let fa = &a0.acts[0];
    for n in 0..NS {
        let a = &a[n];
        for t in 0..TB {
            let u = (b0 + t) * LANES;
            let z = activate(s, fa, clip(s, a.clip, acc[n][t][0]));
            let r = activate(s, fa, clip(s, a.clip, acc[n][t][1]));
            // SAFETY: scratch buffers hold nb * 16 floats.
            unsafe {
                s.store(a.z.add(u), z);
                s.store(a.rh.add(u), s.mul(r, s.load(a.h.add(u))));
                s.store(a.nx.add(u), acc[n][t][2]);
            }
        }
    }
}

/// GRU with `linear_before_reset = 0`, second pass: the candidate from `R_h (r ⊙ h)` and
/// the new state.
///
/// # Safety
/// As [`lstm_tile`]; pass 1 has run for every block of every stream.
#[inline(always)]
pub(crate) unsafe fn gru_pass2_tile<S: Simd, const TB: usize, const NS: usize>(s: S, a: &[DirArgs; NS], b0: usize) {
    const G: usize = 3;
    let a0 = &a[0];
    let mut acc = [[[s.splat(0.0); 1]; TB]; NS];
    let mut none = [[s.splat(0.0); TB]; NS];
    for n in 0..NS {
        for t in 0..TB {
            // SAFETY: scratch holds nb * 16 floats.
            acc[n][t][0] = unsafe { s.load(a[n].nx.add((b0 + t) * LANES)) };
        }
    }
    let rhs: [*const f32; NS] = core::array::from_fn(|n| a[n].rh as *const f32);
    // SAFETY: the candidate panel of block b is panel b * 3 + 2 of R; rh holds `hidden` floats.
    unsafe {
        matvec::<S, NS, TB, 1, G, false>(
            s,
            &mut acc,
            &mut none,
            a0.r.add((b0 * G + 2) * a0.hidden * LANES),
            a0.hidden,
            rhs,
        );
    }
    let ga = &a0.acts[1];
    for n in 0..NS {
        let a = &a[n];
        for t in 0..TB {
            let u = (b0 + t) * LANES;
            let cand = activate(s, ga, clip(s, a.clip, acc[n][t][0]));
            // SAFETY: buffers hold nb * 16 floats.
            unsafe {
                let z = s.load(a.z.add(u));
                let h_prev = s.load(a.h.add(u));
                s.store(a.hnew.add(u), s.fma(z, h_prev, s.mul(s.sub(s.splat(1.0), z), cand)));
            }
        }
    }
}

/// Vanilla RNN, one tile.
///
/// # Safety
/// As [`lstm_tile`].
#[inline(always)]
pub(crate) unsafe fn rnn_tile<S: Simd, const TB: usize, const NS: usize>(s: S, a: &[DirArgs; NS], b0: usize) {
    let a0 = &a[0];
    let mut acc = [[[s.splat(0.0); 1]; TB]; NS];
    let mut none = [[s.splat(0.0); TB]; NS];
    for n in 0..NS {
        for t in 0..TB {
            // SAFETY: panel index < nb.
            acc[n][t][0] = unsafe { init(s, &a[n], 1, b0 + t, false) };
        }
    }
    // SAFETY: as in `lstm_tile`.
    unsafe {
        if a0.proj.is_null() {
            matvec::<S, NS, TB, 1, 1, false>(s, &mut acc, &mut none, a0.w.add(b0 * a0.k_in * LANES), a0.k_in, xs(a));
        }
        matvec::<S, NS, TB, 1, 1, false>(s, &mut acc, &mut none, a0.r.add(b0 * a0.hidden * LANES), a0.hidden, hs(a));
    }
    let fa = &a0.acts[0];
    for n in 0..NS {
        for t in 0..TB {
            let h = activate(s, fa, clip(s, a[n].clip, acc[n][t][0]));
            // SAFETY: hnew holds nb * 16 floats.
            unsafe { s.store(a[n].hnew.add((b0 + t) * LANES), h) };
        }
    }
}

/// Dense layer tile: `out_n = act(W x_n + b)` for `TB` blocks of 16 outputs and `NS`
/// streams (Softmax/LogSoftmax are applied afterwards over the whole output).
///
/// # Safety
/// `w` holds `nb` panels of `k * 16`, `b` `nb * 16`, each `x[n]` `k` floats, each
/// `out[n]` `nb * 16`; `b0 + TB <= nb`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dense_tile<S: Simd, const TB: usize, const NS: usize>(
    s: S,
    w: *const f32,
    b: *const f32,
    x: [*const f32; NS],
    k: usize,
    out: [*mut f32; NS],
    b0: usize,
    act: recur_format::DenseAct,
) {
    let mut acc = [[[s.splat(0.0); 1]; TB]; NS];
    let mut none = [[s.splat(0.0); TB]; NS];
    // SAFETY: per the function contract.
    unsafe {
        for a in acc.iter_mut() {
            for (t, a) in a.iter_mut().enumerate() {
                a[0] = s.load(b.add((b0 + t) * LANES));
            }
        }
        matvec::<S, NS, TB, 1, 1, false>(s, &mut acc, &mut none, w.add(b0 * k * LANES), k, x);
        for n in 0..NS {
            for t in 0..TB {
                s.store(out[n].add((b0 + t) * LANES), crate::math::activate_dense(s, act, acc[n][t][0]));
            }
        }
    }
}

/// Input projection of a sequence: for frames `0..frames` and every gate panel `p`,
/// `proj[f][p] = init(p) + W_p x_f` with the same initial value and order as the fused
/// step. Tiles of `FT` frames share each loaded weight row.
///
/// `init_wb_only(p)` says whether panel `p` starts from `Wb` alone. Only panels
/// `range.0..range.1` are computed (threads take disjoint ranges).
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
    range: (usize, usize),
    k: usize,
    xs: *const f32,
    frames: usize,
    proj: *mut f32,
    wb_only: impl Fn(usize) -> bool,
) {
    const FT: usize = 8;
    for p in range.0..range.1 {
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
