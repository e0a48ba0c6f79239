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
/// layout): `w` holds `nb * gs` panels of `k_in` inputs in the layer's dtype (see
/// [`panel_bytes`]), `r` `nb * gs` panels of `hidden` inputs; for int8 dtypes `ws` and
/// `rs` hold `nb * gs * 16` row scales; for `w8a8` `qx`, `qh`, `qrh` hold the quantized
/// input, state and `r ⊙ h` (padded to a multiple of 4) and `qm` their `(scale, sum)`
/// pairs (see [`crate::quant`]); `b` `2 * nb * gs * 16` floats (input biases then recurrent biases), `p`
/// (if not null) `nb * 3 * 16`; `h`, `c`, `hnew` and the GRU scratch hold `nb * 16` floats;
/// `x` holds `k_in` floats; `proj` (if not null) `nb * gs * 16`.
#[derive(Clone, Copy)]
pub(crate) struct DirArgs<'a> {
    pub w: *const u8,
    pub r: *const u8,
    pub ws: *const f32,
    pub rs: *const f32,
    pub qx: *const i8,
    pub qh: *const i8,
    pub qrh: *const i8,
    pub qm: *const f32,
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

/// Weight element types: the `DType` codes, as a const parameter so that each dtype
/// compiles to its own kernels.
pub(crate) mod dt {
    pub const F32: u8 = 0;
    pub const F16: u8 = 1;
    pub const BF16: u8 = 2;
    pub const I8: u8 = 3;
    pub const I8A8: u8 = 4;
}

/// Bytes of one panel of `k` inputs in dtype `d`.
#[inline(always)]
pub(crate) const fn panel_bytes(d: u8, k: usize) -> usize {
    match d {
        dt::F32 => k * LANES * 4,
        dt::F16 | dt::BF16 => k * LANES * 2,
        _ => k.div_ceil(4) * 4 * LANES,
    }
}

/// Loads the 16 weights of one panel row of a float dtype, widened to f32.
///
/// # Safety
/// `p` valid for one panel row (16 elements of the dtype).
#[inline(always)]
unsafe fn loadw<S: Simd, const DT: u8>(s: S, p: *const u8) -> S::V {
    // SAFETY: per the function contract.
    unsafe {
        match DT {
            dt::F16 => s.load_f16(p.cast()),
            dt::BF16 => s.load_bf16(p.cast()),
            _ => s.load(p.cast()),
        }
    }
}

/// Where the quantized input vector of a `w8a8` product lives, with its meta pair.
pub(crate) type QIn = (*const i8, *const f32);

/// Frames whose input projection one [`Ride`] computes.
pub(crate) const RIDE_FRAMES: usize = 8;

/// The input projection of the next [`RIDE_FRAMES`] frames of a sequence, computed
/// inside the recurrence of the current ones (f32 weights, one thread).
///
/// A recurrence streams its `R` panels from L2 and waits on those reads with the FMA
/// units mostly idle; the projection is the opposite: 8 frames share each `W` row, which
/// makes it FMA-bound. So [`matvec`] runs one projection row (one `W` row, 8 FMAs) next
/// to each of its own rows, and out-of-order execution overlaps the two. Each frame's
/// value of a panel starts from the same initial value as [`project`]'s and adds the
/// same products in `k` order, so it has `project`'s bits. Partial sums wait here
/// between calls (one store and one load per frame per call).
#[repr(C, align(64))]
pub(crate) struct Ride {
    acc: [[f32; LANES]; RIDE_FRAMES],
    w: *const u8,
    b: *const f32,
    panels: usize,
    k: usize,
    lbr: bool,
    /// The frames' inputs interleaved, `xt[kk * RIDE_FRAMES + j]` = `x_j[kk]`: one
    /// pointer register serves all eight broadcasts of a row.
    xt: *const f32,
    out: [*mut f32; RIDE_FRAMES],
    /// Current panel and the next row of it.
    p: usize,
    kk: usize,
}

impl Ride {
    /// A ride over every panel of `w`, for the frames whose inputs `x` points at.
    ///
    /// # Safety
    /// `w` holds `panels` f32 panels of `k >= 1` inputs; `b` the layer's bias tensor
    /// (`2 * panels * 16` floats); each `x[j]` `k` floats; `xt` room for
    /// `k * RIDE_FRAMES` floats (the interleaved copy of the inputs), each `out[j]`
    /// `panels * 16`; `xt`, `w`, `b` and `out` stay valid, and `xt` and `out` unaliased,
    /// until the ride is done. `lbr`: GRU with `linear_before_reset`, whose candidate
    /// panels (every third) start from `Wb` alone.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn new<S: Simd>(
        s: S,
        w: *const u8,
        b: *const f32,
        panels: usize,
        k: usize,
        lbr: bool,
        x: [*const f32; RIDE_FRAMES],
        xt: *mut f32,
        out: [*mut f32; RIDE_FRAMES],
    ) -> Self {
        for kk in 0..k {
            for (j, xj) in x.iter().enumerate() {
                // SAFETY: kk < k; xt holds k * RIDE_FRAMES floats.
                unsafe { *xt.add(kk * RIDE_FRAMES + j) = *xj.add(kk) };
            }
        }
        let mut r = Ride { acc: [[0.0; LANES]; RIDE_FRAMES], w, b, panels, k, lbr, xt, out, p: 0, kk: 0 };
        // SAFETY: per the function contract.
        unsafe { r.start_panel(s) };
        r
    }

    /// Whether every panel of every frame has been written.
    #[inline(always)]
    pub(crate) fn done(&self) -> bool {
        self.p >= self.panels
    }

    /// Sets every frame's partial sum of panel `p` to [`project`]'s initial value (the
    /// same loads and the same vector addition).
    ///
    /// # Safety
    /// As [`Ride::new`].
    #[inline(always)]
    unsafe fn start_panel<S: Simd>(&mut self, s: S) {
        if self.done() {
            return;
        }
        let (p, n) = (self.p, self.panels);
        // SAFETY: the bias tensor holds 2 * panels * 16 floats; acc rows hold 16.
        unsafe {
            let v = if self.lbr && p % 3 == 2 {
                s.load(self.b.add(p * LANES))
            } else {
                s.add(s.load(self.b.add(p * LANES)), s.load(self.b.add((n + p) * LANES)))
            };
            for a in self.acc.iter_mut() {
                s.store(a.as_mut_ptr(), v);
            }
        }
    }

    /// Runs `n` rows of the current panel, calling `row(i)` (the caller's own row) before
    /// row `i` of the ride; stores the panel and starts the next when it is complete.
    ///
    /// # Safety
    /// As [`Ride::new`]; `n <= k - kk`.
    #[inline(always)]
    pub(crate) unsafe fn rows<S: Simd>(&mut self, s: S, n: usize, mut row: impl FnMut(usize)) {
        let xt = self.xt;
        let kk = self.kk;
        // SAFETY: `acc` holds RIDE_FRAMES rows of 16 floats; panel p < panels, rows
        // kk..kk + n < k of it; xt holds k * RIDE_FRAMES floats; out[j] panels * 16.
        unsafe {
            let mut a: [S::V; RIDE_FRAMES] = core::array::from_fn(|j| s.load(self.acc[j].as_ptr()));
            let wp = self.w.add(self.p * panel_bytes(dt::F32, self.k) + kk * panel_bytes(dt::F32, 1));
            for i in 0..n {
                row(i);
                let w = s.load(wp.add(i * panel_bytes(dt::F32, 1)).cast());
                for j in 0..RIDE_FRAMES {
                    a[j] = s.fma(w, s.splat(*xt.add((kk + i) * RIDE_FRAMES + j)), a[j]);
                }
            }
            self.kk += n;
            if self.kk == self.k {
                for j in 0..RIDE_FRAMES {
                    s.store(self.out[j].add(self.p * LANES), a[j]);
                }
                self.p += 1;
                self.kk = 0;
                self.start_panel(s);
            } else {
                for j in 0..RIDE_FRAMES {
                    s.store(self.acc[j].as_mut_ptr(), a[j]);
                }
            }
        }
    }

    /// Finishes the ride on its own (no recurrence left to ride along).
    ///
    /// # Safety
    /// As [`Ride::new`].
    pub(crate) unsafe fn drain<S: Simd>(&mut self, s: S) {
        while !self.done() {
            // SAFETY: the current panel has exactly k - kk rows left.
            unsafe { self.rows(s, self.k - self.kk, |_| {}) };
        }
    }
}

/// Adds `panels · x_n` to the accumulators of a tile, for `NS` streams at once, with
/// float weights (f32, or f16/bf16 widened exactly).
///
/// Panel of (tile block `t`, gate `g`) is at `base + (t * GS + g) * panel_bytes(k)`: `GS`
/// is the number of gate panels per block in memory, `G` how many of them (from the
/// first) are used. With `SPLIT`, gate `G - 1` accumulates into `extra[n][t]` instead (GRU
/// `linear_before_reset` keeps the recurrent part of the candidate apart).
///
/// Each `k` loads the tile's `TB * G` weight vectors once and feeds them to every stream:
/// with `NS > 1` this is a small matrix product, each weight read serving `NS` rows of
/// output. Every accumulator is its own chain of FMAs in `k` order, so a stream gets the
/// same bits whatever `NS` and `TB` are.
///
/// With `NS > 1` (`step_many`, which walks the blocks in order and runs every group of
/// streams over a block before the next) each row read also prefetches the same row of
/// the next block's panels into L2: the next block's first group then computes from L2
/// instead of waiting on L3 or memory, which overlapped the weight traffic with the
/// arithmetic (addresses past the last block are harmless: a prefetch never faults).
///
/// With `RIDE`, the loop also advances `ride` by one row per row of its own (see
/// [`Ride`]) until the ride is done; neither changes the other's bits.
///
/// # Safety
/// `base` must hold the panels described above for `k` inputs, each `x[n]` `k` floats;
/// with `RIDE`, `ride` points at a valid [`Ride`] and `DT` is f32.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn matvec<
    S: Simd,
    const NS: usize,
    const TB: usize,
    const G: usize,
    const GS: usize,
    const SPLIT: bool,
    const DT: u8,
    const RIDE: bool,
>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    extra: &mut [[S::V; TB]; NS],
    base: *const u8,
    k: usize,
    x: [*const f32; NS],
    ride: *mut Ride,
) {
    let mut k0 = 0;
    if RIDE {
        // SAFETY: per the function contract.
        let ride = unsafe { &mut *ride };
        while k0 < k && !ride.done() {
            let n = (k - k0).min(ride.k - ride.kk);
            // SAFETY: the ride's panel has `n` rows left (its contract is the caller's);
            // rows k0 + i < k of the tile's panels, per the function contract.
            unsafe {
                ride.rows(s, n, |i| matvec_row::<S, NS, TB, G, GS, SPLIT, DT>(s, acc, extra, base, k, x, k0 + i))
            };
            k0 += n;
        }
    }
    for kk in k0..k {
        // SAFETY: kk < k; per the function contract.
        unsafe { matvec_row::<S, NS, TB, G, GS, SPLIT, DT>(s, acc, extra, base, k, x, kk) };
    }
}

/// Row `kk` of [`matvec`]: one weight row of every panel of the tile into every stream's
/// accumulators.
///
/// # Safety
/// As [`matvec`]; `kk < k`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn matvec_row<
    S: Simd,
    const NS: usize,
    const TB: usize,
    const G: usize,
    const GS: usize,
    const SPLIT: bool,
    const DT: u8,
>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    extra: &mut [[S::V; TB]; NS],
    base: *const u8,
    k: usize,
    x: [*const f32; NS],
    kk: usize,
) {
    let stride = panel_bytes(DT, k);
    let row = panel_bytes(DT, 1);
    if S::PRELOAD_WEIGHTS {
        // Load the tile's weight vectors first, then feed them to every stream: with
        // 32 registers (AVX-512) this schedules best (W2 185 us vs 207 us per step).
        let mut wv = [[s.splat(0.0); G]; TB];
        for (t, wt) in wv.iter_mut().enumerate() {
            for (g, w) in wt.iter_mut().enumerate() {
                // SAFETY: panel (t, g) lies within the caller's `TB * GS` panels and
                // row kk < k.
                *w = unsafe { loadw::<S, DT>(s, base.add((t * GS + g) * stride + kk * row)) };
                if NS > 1 {
                    s.prefetch_l2(base.wrapping_add(((TB + t) * GS + g) * stride + kk * row));
                }
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
        return;
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
            // row kk < k.
            let wv = unsafe { loadw::<S, DT>(s, base.add((t * GS + g) * stride + kk * row)) };
            if NS > 1 {
                s.prefetch_l2(base.wrapping_add(((TB + t) * GS + g) * stride + kk * row));
            }
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

/// [`matvec`] for int8 weights and f32 inputs (`w8`): each 64-byte group of a panel holds
/// 4 consecutive `k` per lane, widened exactly to f32; one FMA per `k`, `k` ascending.
///
/// # Safety
/// As [`matvec`], with int8 panels (`ceil(k / 4)` groups of 64 bytes).
#[inline(always)]
unsafe fn matvec_w8<S: Simd, const NS: usize, const TB: usize, const G: usize, const GS: usize, const SPLIT: bool>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    extra: &mut [[S::V; TB]; NS],
    base: *const u8,
    k: usize,
    x: [*const f32; NS],
) {
    let stride = panel_bytes(dt::I8, k);
    for kg in 0..k.div_ceil(4) {
        let kn = (k - 4 * kg).min(4);
        let mut xv = [[s.splat(0.0); 4]; NS];
        for n in 0..NS {
            for j in 0..kn {
                // SAFETY: 4 kg + j < k; the caller guarantees `k` floats at `x[n]`.
                xv[n][j] = s.splat(unsafe { *x[n].add(4 * kg + j) });
            }
        }
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: panel (t, g) lies within the caller's panels; group kg < ceil(k/4).
                let wq = unsafe { s.load_i8x4(base.add((t * GS + g) * stride + kg * 64).cast()) };
                if NS > 1 {
                    // As in `matvec`: the next block's row, into L2.
                    s.prefetch_l2(base.wrapping_add(((TB + t) * GS + g) * stride + kg * 64));
                }
                for n in 0..NS {
                    for j in 0..kn {
                        if SPLIT && g == G - 1 {
                            extra[n][t] = s.fma(wq[j], xv[n][j], extra[n][t]);
                        } else {
                            acc[n][t][g] = s.fma(wq[j], xv[n][j], acc[n][t][g]);
                        }
                    }
                }
            }
        }
    }
}

/// [`matvec`] for int8 weights and int8 inputs (`w8a8`): exact `i32` dot products, 4 `k`
/// per instruction group.
///
/// # Safety
/// As [`matvec_w8`]; each `q[n]` holds `k` quantized inputs padded with zeros to a
/// multiple of 4.
#[inline(always)]
unsafe fn matvec_a8<S: Simd, const NS: usize, const TB: usize, const G: usize, const GS: usize, const SPLIT: bool>(
    s: S,
    acc: &mut [[[S::I; G]; TB]; NS],
    extra: &mut [[S::I; TB]; NS],
    base: *const u8,
    k: usize,
    q: [*const i8; NS],
) {
    let stride = panel_bytes(dt::I8, k);
    for kg in 0..k.div_ceil(4) {
        let mut x4 = [0u32; NS];
        for n in 0..NS {
            // SAFETY: the quantized input is padded to a multiple of 4 bytes.
            x4[n] = unsafe { q[n].add(4 * kg).cast::<u32>().read_unaligned() };
        }
        for t in 0..TB {
            for g in 0..G {
                // SAFETY: panel (t, g) lies within the caller's panels; group kg < ceil(k/4).
                let w = unsafe { base.add((t * GS + g) * stride + kg * 64).cast::<i8>() };
                if NS > 1 {
                    // As in `matvec`: the next block's row, into L2.
                    s.prefetch_l2(base.wrapping_add(((TB + t) * GS + g) * stride + kg * 64));
                }
                for n in 0..NS {
                    // SAFETY: 64 bytes at w.
                    unsafe {
                        if SPLIT && g == G - 1 {
                            extra[n][t] = s.dot4_i8(extra[n][t], w, x4[n]);
                        } else {
                            acc[n][t][g] = s.dot4_i8(acc[n][t][g], w, x4[n]);
                        }
                    }
                }
            }
        }
    }
}

/// Adds the products of a tile's panels with the streams' inputs to the accumulators,
/// for any weight dtype:
///
/// - f32, f16, bf16: the FMA chain of each row continues from its accumulator ([`matvec`]);
/// - int8 `w8`: a fresh FMA chain per row from zero, then `acc = fma(dot, scale, acc)`;
/// - int8 `w8a8`: an exact `i32` dot product per row, then
///   `acc = fma(f32(dot), scale * input_scale, acc)`.
///
/// `scale` points at the row scales of the tile's first panel (same panel indexing as
/// the weights); `q` gives the quantized inputs for `w8a8`.
///
/// # Safety
/// As [`matvec`] for the dtype; `scale` valid for the tile's panels (int8); `q` valid
/// (w8a8); `RIDE` only with f32 weights, `ride` valid then.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn products<
    S: Simd,
    const NS: usize,
    const TB: usize,
    const G: usize,
    const GS: usize,
    const SPLIT: bool,
    const DT: u8,
    const RIDE: bool,
>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    extra: &mut [[S::V; TB]; NS],
    base: *const u8,
    scale: *const f32,
    k: usize,
    x: [*const f32; NS],
    q: [QIn; NS],
    ride: *mut Ride,
) {
    match DT {
        dt::I8 => {
            let mut t = [[[s.splat(0.0); G]; TB]; NS];
            let mut te = [[s.splat(0.0); TB]; NS];
            // SAFETY: per the function contract.
            unsafe { matvec_w8::<S, NS, TB, G, GS, SPLIT>(s, &mut t, &mut te, base, k, x) };
            for tb in 0..TB {
                for g in 0..G {
                    // SAFETY: the scales of panel (tb, g), within the caller's panels.
                    let sc = unsafe { s.load(scale.add((tb * GS + g) * LANES)) };
                    for n in 0..NS {
                        if SPLIT && g == G - 1 {
                            extra[n][tb] = s.fma(te[n][tb], sc, extra[n][tb]);
                        } else {
                            acc[n][tb][g] = s.fma(t[n][tb][g], sc, acc[n][tb][g]);
                        }
                    }
                }
            }
        }
        dt::I8A8 => {
            let mut t = [[[s.izero(); G]; TB]; NS];
            let mut te = [[s.izero(); TB]; NS];
            let qp: [*const i8; NS] = core::array::from_fn(|n| q[n].0);
            // SAFETY: per the function contract.
            unsafe { matvec_a8::<S, NS, TB, G, GS, SPLIT>(s, &mut t, &mut te, base, k, qp) };
            // SAFETY: each stream's meta pair was written by its quantization.
            let meta: [(f32, i32); NS] = core::array::from_fn(|n| unsafe { crate::quant::read_meta(q[n].1) });
            for tb in 0..TB {
                for g in 0..G {
                    // SAFETY: the scales of panel (tb, g), within the caller's panels.
                    let sc = unsafe { s.load(scale.add((tb * GS + g) * LANES)) };
                    for n in 0..NS {
                        let (xs, xsum) = meta[n];
                        let scn = s.mul(sc, s.splat(xs));
                        let fix = |v: S::I| if S::DOT_OFFSET { s.isub_splat(v, xsum.wrapping_mul(128)) } else { v };
                        if SPLIT && g == G - 1 {
                            extra[n][tb] = s.fma(s.i2f(fix(te[n][tb])), scn, extra[n][tb]);
                        } else {
                            acc[n][tb][g] = s.fma(s.i2f(fix(t[n][tb][g])), scn, acc[n][tb][g]);
                        }
                    }
                }
            }
        }
        // SAFETY: per the function contract.
        _ => unsafe { matvec::<S, NS, TB, G, GS, SPLIT, DT, RIDE>(s, acc, extra, base, k, x, ride) },
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

/// Quantized inputs (w8a8): slot 0 the layer input, 1 the state, 2 GRU's `r ⊙ h`.
#[inline(always)]
fn qs<const NS: usize>(a: &[DirArgs; NS], slot: usize) -> [QIn; NS] {
    core::array::from_fn(|n| {
        let q = [a[n].qx, a[n].qh, a[n].qrh][slot];
        // The meta area holds three (scale, sum) pairs; the pointer is only read for w8a8.
        (q, a[n].qm.wrapping_add(2 * slot))
    })
}

/// The `W x` products of a tile of blocks from `b0` (all `G` gates of each block).
///
/// # Safety
/// As [`products`], for the direction's W.
#[inline(always)]
unsafe fn w_products<S: Simd, const NS: usize, const TB: usize, const G: usize, const DT: u8>(
    s: S,
    acc: &mut [[[S::V; G]; TB]; NS],
    a: &[DirArgs; NS],
    b0: usize,
) {
    let a0 = &a[0];
    let mut none = [[s.splat(0.0); TB]; NS];
    // SAFETY: the tile's panels lie within W (and its scales).
    unsafe {
        products::<S, NS, TB, G, G, false, DT, false>(
            s,
            acc,
            &mut none,
            a0.w.add(b0 * G * panel_bytes(DT, a0.k_in)),
            a0.ws.wrapping_add(b0 * G * LANES),
            a0.k_in,
            xs(a),
            qs(a, 0),
            core::ptr::null_mut(),
        )
    }
}

/// LSTM, one tile of `TB` blocks starting at block `b0`, for `NS` streams.
///
/// # Safety
/// Every `a[n]` satisfies the [`DirArgs`] invariants and all share the same weights and
/// sizes; either all or none have a projection; `b0 + TB <= nb`. With `RIDE` (one
/// stream, f32 weights) `ride` is a valid [`Ride`], advanced alongside the recurrent
/// product.
#[inline(always)]
pub(crate) unsafe fn lstm_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    b0: usize,
    ride: *mut Ride,
) {
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
            w_products::<S, NS, TB, G, DT>(s, &mut acc, a, b0);
        }
        products::<S, NS, TB, G, G, false, DT, RIDE>(
            s,
            &mut acc,
            &mut none,
            a0.r.add(b0 * G * panel_bytes(DT, a0.hidden)),
            a0.rs.wrapping_add(b0 * G * LANES),
            a0.hidden,
            hs(a),
            qs(a, 1),
            ride,
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
pub(crate) unsafe fn gru_lbr_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    b0: usize,
    ride: *mut Ride,
) {
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
            w_products::<S, NS, TB, G, DT>(s, &mut acc, a, b0);
        }
        products::<S, NS, TB, G, G, true, DT, RIDE>(
            s,
            &mut acc,
            &mut nh,
            a0.r.add(b0 * G * panel_bytes(DT, a0.hidden)),
            a0.rs.wrapping_add(b0 * G * LANES),
            a0.hidden,
            hs(a),
            qs(a, 1),
            ride,
        );
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
pub(crate) unsafe fn gru_pass1_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    b0: usize,
    ride: *mut Ride,
) {
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
            w_products::<S, NS, TB, G, DT>(s, &mut acc, a, b0);
        }
        let mut acc2 = [[[s.splat(0.0); 2]; TB]; NS];
        for n in 0..NS {
            for t in 0..TB {
                acc2[n][t] = [acc[n][t][0], acc[n][t][1]];
            }
        }
        products::<S, NS, TB, 2, G, false, DT, RIDE>(
            s,
            &mut acc2,
            &mut none,
            a0.r.add(b0 * G * panel_bytes(DT, a0.hidden)),
            a0.rs.wrapping_add(b0 * G * LANES),
            a0.hidden,
            hs(a),
            qs(a, 1),
            ride,
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
pub(crate) unsafe fn gru_pass2_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    b0: usize,
    ride: *mut Ride,
) {
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
        products::<S, NS, TB, 1, G, false, DT, RIDE>(
            s,
            &mut acc,
            &mut none,
            a0.r.add((b0 * G + 2) * panel_bytes(DT, a0.hidden)),
            a0.rs.wrapping_add((b0 * G + 2) * LANES),
            a0.hidden,
            rhs,
            qs(a, 2),
            ride,
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
pub(crate) unsafe fn rnn_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    b0: usize,
    ride: *mut Ride,
) {
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
            w_products::<S, NS, TB, 1, DT>(s, &mut acc, a, b0);
        }
        products::<S, NS, TB, 1, 1, false, DT, RIDE>(
            s,
            &mut acc,
            &mut none,
            a0.r.add(b0 * panel_bytes(DT, a0.hidden)),
            a0.rs.wrapping_add(b0 * LANES),
            a0.hidden,
            hs(a),
            qs(a, 1),
            ride,
        );
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
/// `w` holds `nb` panels of `k` inputs in dtype `DT`, `scale` (int8) `nb * 16` row scales,
/// `b` `nb * 16`, each `x[n]` `k` floats (and `q[n]` its quantization for w8a8), each
/// `out[n]` `nb * 16`; `b0 + TB <= nb`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn dense_tile<S: Simd, const TB: usize, const NS: usize, const DT: u8>(
    s: S,
    w: *const u8,
    scale: *const f32,
    b: *const f32,
    x: [*const f32; NS],
    q: [QIn; NS],
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
        products::<S, NS, TB, 1, 1, false, DT, false>(
            s,
            &mut acc,
            &mut none,
            w.add(b0 * panel_bytes(DT, k)),
            scale.wrapping_add(b0 * LANES),
            k,
            x,
            q,
            core::ptr::null_mut(),
        );
        for n in 0..NS {
            for t in 0..TB {
                s.store(out[n].add((b0 + t) * LANES), crate::math::activate_dense(s, act, acc[n][t][0]));
            }
        }
    }
}

/// Input projection of a sequence: for frames `0..frames` and every gate panel `p`,
/// `proj[f][p] = init(p) + W_p x_f` with the same initial value and operations as the
/// fused step (the same [`products`] call, with frames in place of streams). Tiles of
/// `FT` frames share each loaded weight row.
///
/// `init_wb_only(p)` says whether panel `p` starts from `Wb` alone. Only panels
/// `range.0..range.1` are computed (threads take disjoint ranges).
///
/// # Safety
/// `w` holds `panels` panels of `k` inputs in dtype `DT` (`scale` their row scales for
/// int8); `b` the layer's bias tensor (`2 * panels * 16`); `xs` `frames * k` floats
/// (frame-major); for w8a8 `qx` the quantized frames (`frames` rows of
/// `k.next_multiple_of(4)` bytes) and `qm` their `frames` (scale, sum) pairs; `proj`
/// `frames * panels * 16`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn project<S: Simd, const DT: u8>(
    s: S,
    w: *const u8,
    scale: *const f32,
    b: *const f32,
    panels: usize,
    range: (usize, usize),
    k: usize,
    xs: *const f32,
    qx: *const i8,
    qm: *const f32,
    frames: usize,
    proj: *mut f32,
    wb_only: impl Fn(usize) -> bool,
) {
    const FT: usize = 8;
    let kq = k.next_multiple_of(4);
    let xf = |f: usize| xs.wrapping_add(f * k);
    let qf = |f: usize| -> QIn { (qx.wrapping_add(f * kq), qm.wrapping_add(2 * f)) };
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
        let wp = unsafe { w.add(p * panel_bytes(DT, k)) };
        let sp = scale.wrapping_add(p * LANES);
        let mut f0 = 0;
        while f0 + FT <= frames {
            let mut acc = [[[init; 1]; 1]; FT];
            let mut none = [[init; 1]; FT];
            let x: [*const f32; FT] = core::array::from_fn(|t| xf(f0 + t));
            let q: [QIn; FT] = core::array::from_fn(|t| qf(f0 + t));
            // SAFETY: frames f0..f0+FT exist; panel p within W.
            unsafe {
                products::<S, FT, 1, 1, 1, false, DT, false>(
                    s,
                    &mut acc,
                    &mut none,
                    wp,
                    sp,
                    k,
                    x,
                    q,
                    core::ptr::null_mut(),
                )
            };
            for (t, a) in acc.iter().enumerate() {
                // SAFETY: frame f0 + t < frames, panel p < panels.
                unsafe { s.store(proj.add(((f0 + t) * panels + p) * LANES), a[0][0]) };
            }
            f0 += FT;
        }
        while f0 < frames {
            let mut acc = [[[init; 1]; 1]; 1];
            let mut none = [[init; 1]; 1];
            // SAFETY: frame f0 < frames; panel p within W.
            unsafe {
                products::<S, 1, 1, 1, 1, false, DT, false>(
                    s,
                    &mut acc,
                    &mut none,
                    wp,
                    sp,
                    k,
                    [xf(f0)],
                    [qf(f0)],
                    core::ptr::null_mut(),
                )
            };
            // SAFETY: as above.
            unsafe { s.store(proj.add((f0 * panels + p) * LANES), acc[0][0][0]) };
            f0 += 1;
        }
    }
}
