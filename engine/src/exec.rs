//! Execution: `step` (one frame of one stream) and `run` (a whole sequence), written once
//! generically and instantiated per kernel set behind one `#[target_feature]` entry each.

use crate::cell::{self, dt, DirArgs, QIn, Ride, RIDE_FRAMES};
use crate::isa::Isa;
use crate::kernels::{Simd, LANES};
use crate::model::{Model, Plan, RecPlan, State};
use crate::Error;
use alloc::vec;
use alloc::vec::Vec;
use recur_format::{CellKind, DenseAct};

/// How many passes over the blocks a cell needs per frame (GRU with
/// `linear_before_reset = 0` needs every reset gate before its candidate).
#[inline(always)]
fn phases(cell: CellKind, lbr: bool) -> usize {
    if cell == CellKind::Gru && !lbr {
        2
    } else {
        1
    }
}

/// Kernel kinds (a const parameter, so each kind compiles to its own function).
mod kind {
    pub const LSTM: u8 = 0;
    pub const GRU_LBR: u8 = 1;
    pub const GRU_P1: u8 = 2;
    pub const GRU_P2: u8 = 3;
    pub const RNN: u8 = 4;
}

/// The kernel kind of pass `phase` of a cell.
#[inline(always)]
fn kind_of(cell: CellKind, lbr: bool, phase: usize) -> u8 {
    match (cell, lbr, phase) {
        (CellKind::Lstm, _, _) => kind::LSTM,
        (CellKind::Gru, true, _) => kind::GRU_LBR,
        (CellKind::Gru, false, 0) => kind::GRU_P1,
        (CellKind::Gru, false, _) => kind::GRU_P2,
        (CellKind::Rnn, _, _) => kind::RNN,
    }
}

/// Runs kernel `KIND` over blocks `lo..hi` for `NS` streams sharing every weight load.
/// One stream uses the ISA's block tiles; several streams use one block per tile (the
/// streams are the register block). With `RIDE`, `ride` advances alongside.
///
/// # Safety
/// Every `a[n]` satisfies the [`DirArgs`] invariants for the same layer direction;
/// `lo <= hi <= nb`; no other thread writes blocks `lo..hi` of these streams; with
/// `RIDE`, `NS == 1`, `DT` is f32 and `ride` is valid (see [`cell::Ride`]).
#[inline(always)]
unsafe fn blocks_generic<S: Simd, const NS: usize, const KIND: u8, const DT: u8, const RIDE: bool>(
    s: S,
    a: &[DirArgs; NS],
    lo: usize,
    hi: usize,
    ride: *mut Ride,
) {
    macro_rules! tiles {
        ($f:ident, $tile:expr) => {{
            let mut b = lo;
            // SAFETY (all calls): b + TB <= hi <= nb; the rest is the caller's contract.
            if NS == 1 {
                match $tile {
                    2 => {
                        while b + 2 <= hi {
                            // SAFETY: b + TB <= hi <= nb; the rest is the caller's contract.
                            // SAFETY: b < hi <= nb; the rest is the caller's contract.
                            unsafe { cell::$f::<S, 2, NS, DT, RIDE>(s, a, b, ride) };
                            b += 2;
                        }
                    }
                    3 => {
                        while b + 3 <= hi {
                            // SAFETY: b + TB <= hi <= nb; the rest is the caller's contract.
                            // SAFETY: b < hi <= nb; the rest is the caller's contract.
                            unsafe { cell::$f::<S, 3, NS, DT, RIDE>(s, a, b, ride) };
                            b += 3;
                        }
                    }
                    4 => {
                        while b + 4 <= hi {
                            // SAFETY: b + TB <= hi <= nb; the rest is the caller's contract.
                            // SAFETY: b < hi <= nb; the rest is the caller's contract.
                            unsafe { cell::$f::<S, 4, NS, DT, RIDE>(s, a, b, ride) };
                            b += 4;
                        }
                    }
                    8 => {
                        while b + 8 <= hi {
                            // SAFETY: b + TB <= hi <= nb; the rest is the caller's contract.
                            // SAFETY: b < hi <= nb; the rest is the caller's contract.
                            unsafe { cell::$f::<S, 8, NS, DT, RIDE>(s, a, b, ride) };
                            b += 8;
                        }
                    }
                    _ => {}
                }
            }
            // Leftover blocks: pairs keep two blocks' chains in flight before singles.
            if NS == 1 && $tile > 2 {
                while b + 2 <= hi {
                    // SAFETY: b + 2 <= hi <= nb; the rest is the caller's contract.
                    unsafe { cell::$f::<S, 2, NS, DT, RIDE>(s, a, b, ride) };
                    b += 2;
                }
            }
            while b < hi {
                // SAFETY: b < hi <= nb; the rest is the caller's contract.
                unsafe { cell::$f::<S, 1, NS, DT, RIDE>(s, a, b, ride) };
                b += 1;
            }
        }};
    }
    match KIND {
        kind::LSTM => tiles!(lstm_tile, S::TILE_LSTM),
        kind::GRU_LBR => tiles!(gru_lbr_tile, S::TILE_GRU_LBR),
        kind::GRU_P1 => tiles!(gru_pass1_tile, S::TILE_GRU),
        kind::GRU_P2 => tiles!(gru_pass2_tile, S::TILE_GRU_P2),
        _ => tiles!(rnn_tile, S::TILE_RNN),
    }
}

/// Dense layer over output blocks `lo..hi` for `NS` streams (no softmax).
///
/// # Safety
/// See [`cell::dense_tile`]; `hi <= nb`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dense_generic<S: Simd, const NS: usize, const DT: u8>(
    s: S,
    w: *const u8,
    scale: *const f32,
    b: *const f32,
    x: [*const f32; NS],
    q: [QIn; NS],
    k: usize,
    out: [*mut f32; NS],
    lo: usize,
    hi: usize,
    act: DenseAct,
) {
    let mut blk = lo;
    // SAFETY (all calls): blk + TB <= hi <= nb and the function contract.
    if NS == 1 && S::TILE_RNN >= 4 {
        while blk + 4 <= hi {
            // SAFETY: blk + 4 <= hi <= nb and the function contract.
            unsafe { cell::dense_tile::<S, 4, NS, DT>(s, w, scale, b, x, q, k, out, blk, act) };
            blk += 4;
        }
    }
    while blk < hi {
        // SAFETY: blk < hi <= nb and the function contract.
        unsafe { cell::dense_tile::<S, 1, NS, DT>(s, w, scale, b, x, q, k, out, blk, act) };
        blk += 1;
    }
}

/// The kernels of one kernel set, each compiled once, as its own function, inside the
/// set's `#[target_feature]` context (see [`impl_exec`]). The drivers (`step`, `run`,
/// `step_many`) are generic over this trait and call these entry points; keeping each
/// kernel a separate function keeps compile times and code size proportional to
/// (kernel sets x kernel kinds), not to every driver that uses them.
pub(crate) trait Exec: Simd {
    /// Kernel `kind` over blocks `lo..hi` for `NS` streams.
    ///
    /// # Safety
    /// See [`blocks_generic`].
    unsafe fn blocks<const NS: usize>(self, kind: u8, dtype: u8, a: &[DirArgs; NS], lo: usize, hi: usize);
    /// Kernel `kind` over blocks `lo..hi` of one stream with f32 weights, advancing
    /// `ride` alongside (see [`cell::Ride`]); sets without [`Simd::RIDES`] run the plain
    /// kernel and leave the ride to [`Exec::ride_drain`].
    ///
    /// # Safety
    /// See [`blocks_generic`]; the layer's weights are f32.
    unsafe fn blocks_ride(self, kind: u8, a: &DirArgs, lo: usize, hi: usize, ride: &mut Ride);
    /// Whether [`Exec::blocks_ride`] advances the ride: this set's f32 kernels ride
    /// (its own, or those of the set it forwards f32 to).
    fn rides(self) -> bool;
    /// Finishes a ride on its own.
    ///
    /// # Safety
    /// See [`Ride::new`].
    unsafe fn ride_drain(self, ride: &mut Ride);
    /// Dense layer over blocks `lo..hi`.
    ///
    /// # Safety
    /// See [`dense_generic`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn dense<const NS: usize>(
        self,
        dtype: u8,
        w: *const u8,
        scale: *const f32,
        b: *const f32,
        x: [*const f32; NS],
        q: [QIn; NS],
        k: usize,
        out: [*mut f32; NS],
        lo: usize,
        hi: usize,
        act: DenseAct,
    );
    /// Input projection of a sequence.
    ///
    /// # Safety
    /// See [`cell::project`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn project(self, dtype: u8, p: &ProjectArgs, range: (usize, usize));
    /// Softmax or LogSoftmax in place.
    ///
    /// # Safety
    /// See [`crate::math::softmax_in_place`].
    unsafe fn softmax(self, v: *mut f32, n: usize, log: bool);
}

/// The operands of one input projection (see [`cell::project`]).
pub(crate) struct ProjectArgs {
    pub w: *const u8,
    pub scale: *const f32,
    pub b: *const f32,
    pub panels: usize,
    pub k: usize,
    pub xs: *const f32,
    pub qx: *const i8,
    pub qm: *const f32,
    pub frames: usize,
    pub proj: *mut f32,
    pub gru_lbr: bool,
}

/// Implements [`Exec`] for a kernel set: every method forwards to a nested function that
/// carries the set's `#[target_feature]` (none for the scalar and portable sets), into
/// which the generic kernel code inlines.
macro_rules! impl_exec {
    ($ty:ty $(, $feat:literal)?) => {
        impl_exec!(@impl $ty, [$($feat)?], [dt::F16, dt::BF16, dt::I8, dt::I8A8], dt::F32, []);
    };
    // A set that hands some dtypes to another set's kernels (`$when(dtype)`), compiling
    // only the others (`$d`..., then `$last` for anything else).
    ($ty:ty, $feat:literal, forward $base:ty, when $when:expr, dtypes [$($d:path),*], last $last:path) => {
        impl_exec!(@impl $ty, [$feat], [$($d),*], $last, [$base, $when]);
    };
    (@impl $ty:ty, [$($feat:literal)?], [$($d:path),*], $last:path, [$($base:ty, $when:expr)?]) => {
        impl Exec for $ty {
            #[inline(always)]
            unsafe fn blocks<const NS: usize>(self, k: u8, d: u8, a: &[DirArgs; NS], lo: usize, hi: usize) {
                /// # Safety
                /// The CPU has the set's features; see [`blocks_generic`].
                $(#[target_feature(enable = $feat)])?
                unsafe fn go<const NS: usize, const KIND: u8, const DT: u8>(
                    s: $ty,
                    a: &[DirArgs; NS],
                    lo: usize,
                    hi: usize,
                ) {
                    // SAFETY: forwarded contract.
                    unsafe { blocks_generic::<$ty, NS, KIND, DT, false>(s, a, lo, hi, core::ptr::null_mut()) }
                }
                $(if ($when)(d) {
                    // SAFETY: forwarded contract (the base set's token is implied by ours).
                    return unsafe { <$base as Exec>::blocks::<NS>(<$base>::from(self), k, d, a, lo, hi) };
                })?
                macro_rules! by_dtype {
                    ($kind:expr) => {
                        match d {
                            $($d => go::<NS, { $kind }, { $d }>(self, a, lo, hi),)*
                            _ => go::<NS, { $kind }, { $last }>(self, a, lo, hi),
                        }
                    };
                }
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe {
                    match k {
                        kind::LSTM => by_dtype!(kind::LSTM),
                        kind::GRU_LBR => by_dtype!(kind::GRU_LBR),
                        kind::GRU_P1 => by_dtype!(kind::GRU_P1),
                        kind::GRU_P2 => by_dtype!(kind::GRU_P2),
                        _ => by_dtype!(kind::RNN),
                    }
                }
            }
            #[inline(always)]
            unsafe fn blocks_ride(self, k: u8, a: &DirArgs, lo: usize, hi: usize, ride: &mut Ride) {
                /// # Safety
                /// The CPU has the set's features; see [`blocks_generic`] with `RIDE`.
                $(#[target_feature(enable = $feat)])?
                unsafe fn go<const KIND: u8>(s: $ty, a: &[DirArgs; 1], lo: usize, hi: usize, ride: *mut Ride) {
                    // SAFETY: forwarded contract.
                    unsafe { blocks_generic::<$ty, 1, KIND, { dt::F32 }, true>(s, a, lo, hi, ride) }
                }
                $(if ($when)(dt::F32) {
                    // SAFETY: forwarded contract (the base set's token is implied by ours).
                    return unsafe { <$base as Exec>::blocks_ride(<$base>::from(self), k, a, lo, hi, ride) };
                })?
                // A constant: sets that do not ride compile no riding kernels.
                if !<$ty as Simd>::RIDES {
                    // SAFETY: forwarded contract.
                    return unsafe { self.blocks::<1>(k, dt::F32, &[*a], lo, hi) };
                }
                let (a, r): ([DirArgs; 1], *mut Ride) = ([*a], ride);
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe {
                    match k {
                        kind::LSTM => go::<{ kind::LSTM }>(self, &a, lo, hi, r),
                        kind::GRU_LBR => go::<{ kind::GRU_LBR }>(self, &a, lo, hi, r),
                        kind::GRU_P1 => go::<{ kind::GRU_P1 }>(self, &a, lo, hi, r),
                        kind::GRU_P2 => go::<{ kind::GRU_P2 }>(self, &a, lo, hi, r),
                        _ => go::<{ kind::RNN }>(self, &a, lo, hi, r),
                    }
                }
            }
            #[inline(always)]
            fn rides(self) -> bool {
                $(if ($when)(dt::F32) {
                    return <$base as Exec>::rides(<$base>::from(self));
                })?
                <$ty as Simd>::RIDES
            }
            #[inline(always)]
            unsafe fn ride_drain(self, ride: &mut Ride) {
                /// # Safety
                /// The CPU has the set's features; see [`Ride::new`].
                $(#[target_feature(enable = $feat)])?
                unsafe fn go(s: $ty, ride: &mut Ride) {
                    // SAFETY: forwarded contract.
                    unsafe { ride.drain(s) }
                }
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe { go(self, ride) }
            }
            #[inline(always)]
            unsafe fn dense<const NS: usize>(
                self,
                d: u8,
                w: *const u8,
                scale: *const f32,
                b: *const f32,
                x: [*const f32; NS],
                q: [QIn; NS],
                k: usize,
                out: [*mut f32; NS],
                lo: usize,
                hi: usize,
                act: DenseAct,
            ) {
                /// # Safety
                /// The CPU has the set's features; see [`dense_generic`].
                $(#[target_feature(enable = $feat)])?
                #[allow(clippy::too_many_arguments)]
                unsafe fn go<const NS: usize, const DT: u8>(
                    s: $ty,
                    w: *const u8,
                    scale: *const f32,
                    b: *const f32,
                    x: [*const f32; NS],
                    q: [QIn; NS],
                    k: usize,
                    out: [*mut f32; NS],
                    lo: usize,
                    hi: usize,
                    act: DenseAct,
                ) {
                    // SAFETY: forwarded contract.
                    unsafe { dense_generic::<$ty, NS, DT>(s, w, scale, b, x, q, k, out, lo, hi, act) }
                }
                $(if ($when)(d) {
                    // SAFETY: forwarded contract (the base set's token is implied by ours).
                    return unsafe {
                        <$base as Exec>::dense::<NS>(<$base>::from(self), d, w, scale, b, x, q, k, out, lo, hi, act)
                    };
                })?
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe {
                    match d {
                        $($d => go::<NS, { $d }>(self, w, scale, b, x, q, k, out, lo, hi, act),)*
                        _ => go::<NS, { $last }>(self, w, scale, b, x, q, k, out, lo, hi, act),
                    }
                }
            }
            #[inline(always)]
            unsafe fn project(self, d: u8, p: &ProjectArgs, range: (usize, usize)) {
                /// # Safety
                /// The CPU has the set's features; see [`cell::project`].
                $(#[target_feature(enable = $feat)])?
                unsafe fn go<const DT: u8>(s: $ty, p: &ProjectArgs, range: (usize, usize)) {
                    let lbr = p.gru_lbr;
                    // SAFETY: forwarded contract. GRU with linear_before_reset starts the
                    // candidate's projection (every third panel) from Wb alone.
                    unsafe {
                        cell::project::<$ty, DT>(
                            s, p.w, p.scale, p.b, p.panels, range, p.k, p.xs, p.qx, p.qm, p.frames, p.proj,
                            |q| lbr && q % 3 == 2,
                        )
                    }
                }
                $(if ($when)(d) {
                    // SAFETY: forwarded contract (the base set's token is implied by ours).
                    return unsafe { <$base as Exec>::project(<$base>::from(self), d, p, range) };
                })?
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe {
                    match d {
                        $($d => go::<{ $d }>(self, p, range),)*
                        _ => go::<{ $last }>(self, p, range),
                    }
                }
            }
            #[inline(always)]
            unsafe fn softmax(self, v: *mut f32, n: usize, log: bool) {
                /// # Safety
                /// The CPU has the set's features; see [`crate::math::softmax_in_place`].
                $(#[target_feature(enable = $feat)])?
                unsafe fn go(s: $ty, v: *mut f32, n: usize, log: bool) {
                    // SAFETY: forwarded contract.
                    unsafe { crate::math::softmax_in_place(s, v, n, log) }
                }
                // SAFETY: the token proves the CPU has the features; forwarded contract.
                unsafe { go(self, v, n, log) }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
use crate::kernels::x86_64::{avx2::Avx2, avx512::Avx512};
#[cfg(target_arch = "x86_64")]
// f16 and bf16 weights run AVX2's kernels: on Zen 4 widening 8 lanes at a time into ymm
// FMAs beats every 512-bit form (W2 per step, f16: 92.7 us against 111 us with two
// 256-bit vcvtph2ps merged into a zmm, 123 us with the 512-bit vcvtph2ps; bf16: 107 us
// against 120 us with a 512-bit zero-extend and shift). Same FMA order per row, so the
// same bits.
impl_exec!(
    Avx512<false>,
    "avx512f,avx512bw,avx512vl,avx2,fma,f16c",
    forward Avx2,
    when |d: u8| d == dt::F16 || d == dt::BF16,
    dtypes [dt::I8, dt::I8A8],
    last dt::F32
);
// VNNI changes only the `w8a8` dot products: every other dtype runs the base set's
// kernels (compiled once).
#[cfg(target_arch = "x86_64")]
impl_exec!(
    Avx512<true>,
    "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
    forward Avx512<false>,
    when |d: u8| d != dt::I8A8,
    dtypes [],
    last dt::I8A8
);
#[cfg(target_arch = "x86_64")]
impl_exec!(Avx2, "avx2,fma,f16c");
#[cfg(target_arch = "aarch64")]
use crate::kernels::aarch64::neon::Neon;
#[cfg(target_arch = "aarch64")]
impl_exec!(Neon, "neon");
impl_exec!(crate::kernels::Portable);
impl_exec!(crate::kernels::Scalar);

/// Runs one of the engine's drivers with the model's kernel set: one `match` per call,
/// then code specialised for that set.
macro_rules! dispatch {
    ($isa:expr, $s:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // Int8 dot products use VNNI where the CPU has it (same bits either way).
                if let Some(v) = Avx512::new_vnni() {
                    let $s = v;
                    $body
                } else {
                    // SAFETY: a model holds Avx512 only if the CPU has it (checked when built).
                    let $s = unsafe { Avx512::new().unwrap_unchecked() };
                    $body
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                // SAFETY: as above, for AVX2.
                let $s = unsafe { Avx2::new().unwrap_unchecked() };
                $body
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => {
                // SAFETY: as above, for NEON.
                let $s = unsafe { Neon::new().unwrap_unchecked() };
                $body
            }
            Isa::Portable => {
                let $s = crate::kernels::Portable;
                $body
            }
            _ => {
                let $s = crate::kernels::Scalar;
                $body
            }
        }
    };
}

/// Quantizes the inputs a `w8a8` pass reads (no-op for other dtypes): before pass 0 the
/// state `h` (and the layer input `x` unless a projection replaces it), before GRU's
/// second pass `r ⊙ h`.
///
/// # Safety
/// `a` satisfies the [`DirArgs`] invariants; no other thread uses this stream's state.
#[inline(always)]
unsafe fn quantize_inputs(dtype: u8, phase: usize, a: &DirArgs) {
    if dtype != dt::I8A8 {
        return;
    }
    // SAFETY: the state's quantization areas hold the widest vectors (see `Scratch`).
    unsafe {
        if phase == 0 {
            crate::quant::quantize_raw(a.h, a.hidden, a.qh as *mut i8, (a.qm as *mut f32).add(2));
            if a.proj.is_null() {
                crate::quant::quantize_raw(a.x, a.k_in, a.qx as *mut i8, a.qm as *mut f32);
            }
        } else {
            crate::quant::quantize_raw(a.rh, a.hidden, a.qrh as *mut i8, (a.qm as *mut f32).add(4));
        }
    }
}

/// Runs one direction's recurrence for one frame of one stream: every pass over every
/// block, then `hnew -> h`; with a `ride`, the passes advance it (see [`cell::Ride`]).
///
/// # Safety
/// `a` satisfies the [`DirArgs`] invariants; with a ride, the layer's weights are f32
/// and the ride's contract holds.
#[inline(always)]
unsafe fn rec_frame<S: Exec>(s: S, rp: &RecPlan, a: &DirArgs, mut ride: Option<&mut Ride>) {
    let (cell, lbr) = (rp.desc.cell, rp.desc.linear_before_reset);
    let arr = [*a];
    for phase in 0..phases(cell, lbr) {
        let kind = kind_of(cell, lbr, phase);
        // SAFETY: forwarded contract; all blocks, one thread.
        unsafe {
            match ride.as_deref_mut() {
                Some(r) => s.blocks_ride(kind, a, 0, a.nb, r),
                None => {
                    quantize_inputs(rp.dt, phase, a);
                    s.blocks::<1>(kind, rp.dt, &arr, 0, a.nb)
                }
            }
        };
    }
    // SAFETY: h and hnew are distinct state areas of nb * 16 floats.
    unsafe { core::ptr::copy_nonoverlapping(a.hnew, a.h as *mut f32, a.nb * LANES) };
}

/// One direction's recurrence over a whole sequence on one thread, with the input
/// projection riding along (f32 weights, a set that rides): the frames go in chunks of
/// [`RIDE_FRAMES`] (in the direction's order); while chunk `c` runs its recurrence, the
/// projection of chunk `c + 1` is computed inside the same row loops (see
/// [`cell::Ride`]), and whatever of it is left when chunk `c` ends is finished on its
/// own. Chunk 0 and a short last chunk are projected as in [`run_generic`]. Projections
/// take two chunks of memory instead of the whole sequence's, and every value has the
/// bits [`cell::project`] gives it.
///
/// # Safety
/// `xs` holds `frames * input_size` floats; `out.0` `frames * out.1` floats; `base` are
/// the model's weights and a state of this model that no one else uses; the layer's
/// weights are f32; `proj` is only used as scratch.
#[allow(clippy::too_many_arguments)]
unsafe fn rec_frames_riding<S: Exec>(
    s: S,
    m: &Model,
    rp: &RecPlan,
    d: usize,
    (w, st): (*const f32, *mut f32),
    xs: *const f32,
    frames: usize,
    out: (*mut f32, usize),
    proj: &mut Vec<f32>,
) {
    const F: usize = RIDE_FRAMES;
    let dp = &rp.dirs[d];
    let (cell, lbr) = (rp.desc.cell, rp.desc.linear_before_reset);
    let panels = rp.nb * cell.gates();
    let row = panels * LANES;
    let (k, hsz) = (rp.desc.input_size, rp.desc.hidden_size);
    if proj.len() < 2 * F * row {
        proj.resize(2 * F * row, 0.0);
    }
    let pbase = proj.as_mut_ptr();
    // Frames of chunk `c`, in frame order (`lo..hi`).
    let range = |c: usize| {
        let (lo, hi) = (c * F, ((c + 1) * F).min(frames));
        if dp.reverse {
            (frames - hi, frames - lo)
        } else {
            (lo, hi)
        }
    };
    // Chunk c's projections: frame t at row t - lo of half c % 2.
    let half = |c: usize| pbase.wrapping_add((c % 2) * F * row);
    // SAFETY: W and B of this direction, offsets from the validated plan.
    let (wd, bd) = unsafe { (w.add(dp.w).cast::<u8>(), w.add(dp.b)) };
    let plain = |c: usize| {
        let (lo, hi) = range(c);
        let args = ProjectArgs {
            w: wd,
            scale: core::ptr::null(),
            b: bd,
            panels,
            k,
            xs: xs.wrapping_add(lo * k),
            qx: core::ptr::null(),
            qm: core::ptr::null(),
            frames: hi - lo,
            proj: half(c),
            gru_lbr: lbr,
        };
        // SAFETY: W and B of this direction; frames lo..hi of `xs` exist; a half holds
        // F rows; f32 weights need no scales or quantized inputs.
        unsafe { s.project(dt::F32, &args, (0, panels)) };
    };
    let chunks = frames.div_ceil(F);
    let mut xt = vec![0.0f32; k * F];
    plain(0);
    for c in 0..chunks {
        let (lo, hi) = range(c);
        let next = (c + 1 < chunks).then(|| range(c + 1));
        let mut ride = match next {
            Some((nlo, nhi)) if nhi - nlo == F => {
                // SAFETY: frames nlo..nhi exist; half c + 1 is not read by chunk c.
                Some(unsafe {
                    Ride::new(
                        s,
                        wd,
                        bd,
                        panels,
                        k,
                        lbr,
                        core::array::from_fn(|j| xs.wrapping_add((nlo + j) * k)),
                        xt.as_mut_ptr(),
                        core::array::from_fn(|j| half(c + 1).wrapping_add(j * row)),
                    )
                })
            }
            _ => None,
        };
        for i in 0..hi - lo {
            let t = if dp.reverse { hi - 1 - i } else { lo + i };
            // SAFETY: bases of this model's weights and state; frame t's projection is
            // row t - lo of half c.
            let a = unsafe { dir_args(m, rp, d, w, st, core::ptr::null(), half(c).add((t - lo) * row)) };
            // SAFETY: invariants hold by construction; f32 weights; the ride writes
            // half c + 1, which this frame does not read.
            unsafe { rec_frame(s, rp, &a, ride.as_mut()) };
            // SAFETY: h holds hsz floats; frame t of `out` has room at column d * hsz.
            unsafe { core::ptr::copy_nonoverlapping(a.h, out.0.add(t * out.1 + d * hsz), hsz) };
        }
        match ride.as_mut() {
            // SAFETY: the ride's contract holds until it is done.
            Some(r) => unsafe { s.ride_drain(r) },
            None if next.is_some() => plain(c + 1),
            None => {}
        }
    }
}

/// Builds the kernel arguments of direction `d` of a recurrent layer.
///
/// # Safety
/// `w` and `st` are the bases of the model's weights and of a state of this model.
#[inline(always)]
unsafe fn dir_args<'a>(
    m: &'a Model,
    rp: &'a RecPlan,
    d: usize,
    w: *const f32,
    st: *mut f32,
    x: *const f32,
    proj: *const f32,
) -> DirArgs<'a> {
    let dp = &rp.dirs[d];
    let sc = m.inner.scratch;
    // SAFETY: offsets come from the model's validated plan and state layout.
    unsafe {
        DirArgs {
            w: w.add(dp.w).cast(),
            r: w.add(dp.r).cast(),
            ws: dp.ws.map_or(core::ptr::null(), |o| w.add(o)),
            rs: dp.rs.map_or(core::ptr::null(), |o| w.add(o)),
            qx: st.add(sc.qx).cast_const().cast(),
            qh: st.add(sc.qh).cast_const().cast(),
            qrh: st.add(sc.qrh).cast_const().cast(),
            qm: st.add(sc.qm),
            b: w.add(dp.b),
            p: dp.p.map_or(core::ptr::null(), |p| w.add(p)),
            x,
            proj,
            h: st.add(dp.h),
            c: dp.c.map_or(core::ptr::null_mut(), |c| st.add(c)),
            hnew: st.add(sc.hnew),
            z: st.add(sc.z),
            rh: st.add(sc.rh),
            nx: st.add(sc.nx),
            k_in: rp.desc.input_size,
            hidden: rp.desc.hidden_size,
            nb: rp.nb,
            clip: rp.desc.clip,
            acts: &dp.acts,
            input_forget: rp.desc.input_forget,
        }
    }
}

/// Dense layer on one frame: `out[..nb*16] = act(W x + b)`.
///
/// # Safety
/// `x` holds the layer's input, `out` `nb * 16` floats.
#[inline(always)]
unsafe fn dense_frame<S: Exec>(
    s: S,
    dp: &crate::model::DensePlan,
    w: *const f32,
    st: *mut f32,
    sc: crate::model::Scratch,
    x: *const f32,
    out: *mut f32,
) {
    let act = dp.desc.activation;
    // SAFETY: offsets from the validated plan; out holds nb * 16 floats; the state's
    // quantization areas hold the widest input.
    unsafe {
        let q: QIn = (st.add(sc.qx).cast_const().cast(), st.add(sc.qm).cast_const());
        if dp.dt == dt::I8A8 {
            crate::quant::quantize_raw(x, dp.desc.input_size, q.0 as *mut i8, st.add(sc.qm));
        }
        let ws = dp.ws.map_or(core::ptr::null(), |o| w.add(o));
        s.dense::<1>(dp.dt, w.add(dp.w).cast(), ws, w.add(dp.b), [x], [q], dp.desc.input_size, [out], 0, dp.nb, act);
        if matches!(act, DenseAct::Softmax | DenseAct::LogSoftmax) {
            s.softmax(out, dp.desc.output_size, act == DenseAct::LogSoftmax);
        }
    }
}

/// One frame through every layer. The model must be streamable.
///
/// # Safety
/// `x` holds `input_size` floats, `y` `output_size`; `state` belongs to `m`.
#[inline]
unsafe fn step_generic<S: Exec>(s: S, m: &Model, state: &mut State, x: *const f32, y: *mut f32) {
    let w = m.inner.backing.bytes().as_ptr() as *const f32;
    let st = state.floats_mut().as_mut_ptr();
    let sc = m.inner.scratch;
    let mut inp = x;
    let mut which = 0;
    for plan in &m.inner.plans {
        match plan {
            Plan::Rec(rp) => {
                // SAFETY: bases of this model's weights and state.
                let a = unsafe { dir_args(m, rp, 0, w, st, inp, core::ptr::null()) };
                // SAFETY: a satisfies the invariants by construction.
                unsafe { rec_frame(s, rp, &a, None) };
                inp = a.h;
            }
            Plan::Dense(dp) => {
                // SAFETY: scratch buffers hold the widest layer output.
                let out = unsafe { st.add(sc.buf[which]) };
                // SAFETY: inp holds the layer's input.
                unsafe { dense_frame(s, dp, w, st, sc, inp, out) };
                inp = out;
                which ^= 1;
            }
        }
    }
    // SAFETY: inp holds output_size floats, y has room for them, and they do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(inp, y, m.output_size()) };
}

/// A whole sequence, layer by layer: for each recurrent layer the input projection of all
/// frames is one matrix product, then each direction runs its recurrence. On one thread
/// with f32 weights, sets that ride ([`Simd::RIDES`]) instead compute the projection 8
/// frames at a time inside the previous 8 frames' recurrence ([`rec_frames_riding`]):
/// W4 (GRU in=256 H=256) 12.1-12.7 -> 10.8-11.0 ms per 1000 frames on Zen 4, where the
/// recurrence waits on L2 with the FMA units idle and the projection is FMA-bound.
///
/// # Safety
/// `xs` holds `frames * input_size` floats, `ys` `frames * output_size`; `state` belongs to `m`.
#[inline]
unsafe fn run_generic<S: Exec>(s: S, m: &Model, state: &mut State, xs: &[f32], frames: usize, ys: &mut [f32]) {
    let w = m.inner.backing.bytes().as_ptr() as *const f32;
    let st = state.floats_mut().as_mut_ptr();
    let sc = m.inner.scratch;
    // Layer outputs; the first layer reads `xs` in place (no copy of the input).
    let mut buf: Vec<f32> = Vec::new();
    let mut first = true;
    let mut cur_width = m.input_size();
    let mut proj: Vec<f32> = Vec::new();
    // w8a8 layers: every input frame quantized, with its (scale, sum) pair.
    let mut qx: Vec<i8> = Vec::new();
    let mut qm: Vec<f32> = Vec::new();
    for plan in &m.inner.plans {
        let cur: &[f32] = if first { xs } else { &buf };
        match plan {
            Plan::Rec(rp) => {
                let hsz = rp.desc.hidden_size;
                let dirs = rp.dirs.len();
                let width = hsz * dirs;
                let mut next = vec![0.0f32; frames * width];
                let g = rp.desc.cell.gates();
                let panels = rp.nb * g;
                let lbr = rp.desc.cell == CellKind::Gru && rp.desc.linear_before_reset;
                for d in 0..dirs {
                    let dp = &rp.dirs[d];
                    // The projection of all frames is one matrix product; big ones are
                    // split by panels across the current rayon pool (each thread writes
                    // its own panels of every frame, with the same per-row order).
                    let macs = frames * panels * LANES * rp.desc.input_size;
                    let threads = if macs >= PROJECT_SPLIT_MACS { m.pool_threads() } else { 1 };
                    let rec_threads = rec_split_threads(m, rp);
                    if threads == 1 && rec_threads == 1 && rp.dt == dt::F32 && s.rides() && frames > RIDE_FRAMES {
                        // SAFETY: `cur` holds frames * input_size floats, `next` frames *
                        // width; bases of this model's weights and state.
                        unsafe {
                            rec_frames_riding(
                                s,
                                m,
                                rp,
                                d,
                                (w, st),
                                cur.as_ptr(),
                                frames,
                                (next.as_mut_ptr(), width),
                                &mut proj,
                            )
                        };
                        continue;
                    }
                    // Every element is written by the projection before it is read, so the
                    // buffer only grows; it is not cleared between layers.
                    if proj.len() < frames * panels * LANES {
                        proj.resize(frames * panels * LANES, 0.0);
                    }
                    let k_in = rp.desc.input_size;
                    if rp.dt == dt::I8A8 && d == 0 {
                        // Every frame quantized once for both directions.
                        let kq = k_in.next_multiple_of(4);
                        qx.resize(frames * kq, 0);
                        qm.resize(frames * 2, 0.0);
                        for f in 0..frames {
                            // SAFETY: frame f of `cur` holds k_in floats; qx has room for
                            // frame f's kq bytes, qm for its pair.
                            unsafe {
                                crate::quant::quantize_raw(
                                    cur.as_ptr().add(f * k_in),
                                    k_in,
                                    qx.as_mut_ptr().add(f * kq),
                                    qm.as_mut_ptr().add(2 * f),
                                )
                            };
                        }
                    }
                    // SAFETY: W, its scales and B of this direction from the validated plan.
                    let args = SendPtr(unsafe {
                        crate::exec::ProjectArgs {
                            w: w.add(dp.w).cast(),
                            scale: dp.ws.map_or(core::ptr::null(), |o| w.add(o)),
                            b: w.add(dp.b),
                            panels,
                            k: k_in,
                            xs: cur.as_ptr(),
                            qx: qx.as_ptr(),
                            qm: qm.as_ptr(),
                            frames,
                            proj: proj.as_mut_ptr(),
                            gru_lbr: lbr,
                        }
                    });
                    let dtype = rp.dt;
                    split_blocks(panels, threads, &|lo, hi| {
                        let args = &args;
                        // SAFETY: `cur` holds frames * k floats (and their quantization);
                        // `proj` frames * panels * 16; threads write disjoint panel ranges.
                        unsafe { s.project(dtype, &args.0, (lo, hi)) };
                    });
                    #[cfg(feature = "std")]
                    if rec_threads > 1 {
                        // SAFETY: `proj` holds every frame's projection, `next` frames *
                        // width floats; bases of this model's weights and state.
                        unsafe {
                            rec_frames_parallel(
                                s,
                                m,
                                rp,
                                d,
                                (w, st),
                                proj.as_ptr(),
                                frames,
                                (next.as_mut_ptr(), width),
                                rec_threads,
                            )
                        };
                        continue;
                    }
                    let _ = rec_threads;
                    for i in 0..frames {
                        let t = if dp.reverse { frames - 1 - i } else { i };
                        // SAFETY: frame t's projection lies within `proj`.
                        let pr = unsafe { proj.as_ptr().add(t * panels * LANES) };
                        // SAFETY: bases of this model's weights and state.
                        let a = unsafe { dir_args(m, rp, d, w, st, core::ptr::null(), pr) };
                        // SAFETY: invariants hold by construction.
                        unsafe { rec_frame(s, rp, &a, None) };
                        // SAFETY: h holds hsz floats.
                        let h = unsafe { core::slice::from_raw_parts(a.h, hsz) };
                        next[t * width + d * hsz..][..hsz].copy_from_slice(h);
                    }
                }
                buf = next;
                first = false;
                cur_width = width;
            }
            Plan::Dense(dp) => {
                let o = dp.desc.output_size;
                let mut next = vec![0.0f32; frames * o];
                // SAFETY: scratch buffer holds the widest layer output.
                let out = unsafe { st.add(sc.buf[0]) };
                for t in 0..frames {
                    // SAFETY: frame t of `cur` holds the layer's input; out has nb * 16 floats.
                    unsafe {
                        dense_frame(s, dp, w, st, sc, cur.as_ptr().add(t * cur_width), out);
                        core::ptr::copy_nonoverlapping(out, next.as_mut_ptr().add(t * o), o);
                    }
                }
                buf = next;
                first = false;
                cur_width = o;
            }
        }
    }
    let out: &[f32] = if first { xs } else { &buf };
    ys.copy_from_slice(&out[..frames * cur_width]);
}

impl Model {
    fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), Error> {
        if got != expected {
            return Err(Error::Length { what, got, expected });
        }
        Ok(())
    }

    /// Advances one stream by one frame: reads `input_size` floats from `x`, writes
    /// `output_size` to `y`. Allocates nothing. Models with a reverse or bidirectional
    /// layer refuse (use [`Model::run`]).
    ///
    /// Models big enough to pay for a fork-join (see [`Model::step_many`]) split the
    /// step's hidden-unit blocks across the current rayon pool, with the same bits; call
    /// it inside `pool.install(..)` to choose the pool, or use [`Model::step_with`] with
    /// `Some(1)` to stay on the calling thread.
    pub fn step(&self, state: &mut State, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        self.step_with(state, x, y, None)
    }

    /// [`Model::step`] with an explicit thread cap: `Some(1)` runs on the calling thread
    /// only and never touches rayon; `None` uses the current rayon pool when the model is
    /// big enough.
    pub fn step_with(&self, state: &mut State, x: &[f32], y: &mut [f32], threads: Option<usize>) -> Result<(), Error> {
        if let Some((layer, direction)) = self.inner.streamable_error {
            return Err(Error::NotStreamable { layer, direction });
        }
        self.check_state(state)?;
        Self::check_len("input frame", x.len(), self.input_size())?;
        Self::check_len("output frame", y.len(), self.output_size())?;
        let isa = self.inner.isa;
        crate::isa::mark_ran(isa);
        let threads = self.many_threads(1, threads);
        if threads > 1 {
            let mut states = [state];
            // SAFETY: lengths were checked above; one state, of this model.
            dispatch!(isa, s => unsafe { many_generic(s, self, &mut states, x, y, threads) });
            return Ok(());
        }
        // SAFETY: lengths were checked above and the state belongs to this model.
        dispatch!(isa, s => unsafe { step_generic(s, self, state, x.as_ptr(), y.as_mut_ptr()) });
        Ok(())
    }

    /// Runs a whole sequence of `xs.len() / input_size` frames, writing one output per
    /// frame to `ys`. Supports reverse and bidirectional layers; on forward-only models
    /// it gives the same bits as repeated [`Model::step`]. Allocates scratch in
    /// proportion to the sequence (the per-layer outputs, and the projections unless a
    /// single thread computes them 8 frames at a time alongside the recurrence).
    pub fn run(&self, state: &mut State, xs: &[f32], ys: &mut [f32]) -> Result<(), Error> {
        self.check_state(state)?;
        let i = self.input_size();
        if !xs.len().is_multiple_of(i) {
            return Err(Error::Length {
                what: "input sequence (not a whole number of frames)",
                got: xs.len(),
                expected: (xs.len() / i) * i,
            });
        }
        let frames = xs.len() / i;
        Self::check_len("output sequence", ys.len(), frames * self.output_size())?;
        if frames == 0 {
            return Ok(());
        }
        let isa = self.inner.isa;
        crate::isa::mark_ran(isa);
        // SAFETY: lengths were checked above and the state belongs to this model.
        dispatch!(isa, s => unsafe { run_generic(s, self, state, xs, frames, ys) });
        Ok(())
    }
}

impl Model {
    /// Advances many independent streams of this model by one frame each: `states[i]`
    /// consumes frame `i` of `xs` (`states.len() * input_size` floats) and writes frame
    /// `i` of `ys`. Each stream's result is bit-identical to stepping it alone with
    /// [`Model::step`], whatever the grouping, order and thread count. Work is spread over
    /// the current rayon pool (call it inside `pool.install(..)` to cap the threads); see
    /// [`Model::step_many_with`] for a single-threaded call that never touches rayon.
    pub fn step_many(&self, states: &mut [&mut State], xs: &[f32], ys: &mut [f32]) -> Result<(), Error> {
        self.step_many_with(states, xs, ys, None)
    }

    /// [`Model::step_many`] with an explicit thread cap: `Some(1)` runs on the calling
    /// thread only and never touches rayon; `None` uses the current rayon pool.
    pub fn step_many_with(
        &self,
        states: &mut [&mut State],
        xs: &[f32],
        ys: &mut [f32],
        threads: Option<usize>,
    ) -> Result<(), Error> {
        let (i, o) = (self.input_size(), self.output_size());
        Self::check_len("input frames", xs.len(), states.len() * i)?;
        Self::check_len("output frames", ys.len(), states.len() * o)?;
        for s in states.iter() {
            self.check_state(s)?;
        }
        if states.is_empty() {
            return Ok(());
        }
        // No state can appear twice: the slice holds `&mut State`s, which Rust's borrow
        // rules make distinct (the C ABI, which builds the slice from raw pointers,
        // refuses duplicates before it gets here).
        if let Some((layer, direction)) = self.inner.streamable_error {
            return Err(Error::NotStreamable { layer, direction });
        }
        let isa = self.inner.isa;
        crate::isa::mark_ran(isa);
        let threads = self.many_threads(states.len(), threads);
        // SAFETY: lengths and states were checked above; no state appears twice.
        dispatch!(isa, s => unsafe { many_generic(s, self, states, xs, ys, threads) });
        Ok(())
    }
}

/// Streams whose pointers `step_many` keeps on the stack at once; more streams are
/// processed in chunks of this many (each chunk reads every weight once per block).
const MANY_CHUNK: usize = 64;

/// A pointer that may cross to a rayon worker: every use is a disjoint block range of
/// the same streams, as the callers' SAFETY comments argue.
#[derive(Clone, Copy)]
struct SendPtr<T>(T);
// SAFETY: used only to hand disjoint block ranges of the same buffers to worker threads
// inside a join that ends before the buffers can be touched again.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T: Copy> SendPtr<T> {
    /// The pointers (a method, so that closures capture the whole `SendPtr`, not its
    /// non-`Sync` field).
    #[inline(always)]
    fn get(&self) -> T {
        self.0
    }
}

/// Input projections smaller than this many multiply-adds run on one thread: below it,
/// a fork-join costs more than it saves (a few microseconds on this class of machine).
const PROJECT_SPLIT_MACS: usize = 4_000_000;

impl Model {
    /// Threads of the current rayon pool (1 without `std`).
    fn pool_threads(&self) -> usize {
        #[cfg(feature = "std")]
        {
            rayon::current_num_threads().max(1)
        }
        #[cfg(not(feature = "std"))]
        {
            1
        }
    }

    /// Threads for a `step_many` call: 1 when asked, else the current rayon pool's size
    /// when the frame has enough work to pay for a fork-join (measured crossover: a few
    /// hundred thousand multiply-adds), else 1.
    fn many_threads(&self, streams: usize, threads: Option<usize>) -> usize {
        if threads == Some(1) {
            return 1;
        }
        let macs: usize = self.inner.macs_per_frame * streams;
        if macs < 300_000 {
            return 1;
        }
        #[cfg(feature = "std")]
        {
            let pool = rayon::current_num_threads();
            threads.map_or(pool, |t| t.min(pool)).max(1)
        }
        #[cfg(not(feature = "std"))]
        {
            1
        }
    }
}

/// Recurrences with fewer multiply-adds per frame than this run on one thread in `run`:
/// below it the two hand-offs per pass between cores cost more than half a frame saves.
const REC_SPLIT_MACS: usize = 100_000;

/// Threads for one direction's recurrence in `run`: the current pool's size for big
/// enough f32/f16/bf16/w8 layers, else 1. (`w8a8` quantizes each whole `h` with one
/// scale, a serial step every frame, so it stays on one thread.)
fn rec_split_threads(m: &Model, rp: &RecPlan) -> usize {
    let h = rp.desc.hidden_size;
    if rp.dt == dt::I8A8 || rp.desc.cell.gates() * h * h < REC_SPLIT_MACS {
        return 1;
    }
    m.pool_threads().min(rp.nb)
}

/// One direction's recurrence over a whole sequence, each frame's blocks split across
/// `parts` threads of the current pool that stay in the loop for the whole sequence
/// (a fork-join per frame would cost more than a frame of W4).
///
/// Work is a sequence of tickets (frame, pass, chunk of blocks) claimed in order from
/// one counter; a ticket starts once every ticket of the previous passes has finished
/// (a second counter). A thread only ever waits for tickets that running threads have
/// claimed, so a worker that arrives late (or never) cannot stall the others: the
/// caller alone would do every ticket. Each block's arithmetic is the single-thread
/// kernel's, so the bits do not depend on `parts`. `h` and the scratch `hnew` swap roles
/// every frame instead of being copied, since every chunk reads all of `h`.
///
/// # Safety
/// `proj` holds `frames` projections of the layer's panels; `out.0` holds `frames *
/// out.1` floats; `base` are the model's weights and a state of this model that no one
/// else uses; the layer is not `w8a8`.
#[cfg(feature = "std")]
#[allow(clippy::too_many_arguments)]
unsafe fn rec_frames_parallel<S: Exec>(
    s: S,
    m: &Model,
    rp: &RecPlan,
    d: usize,
    base: (*const f32, *mut f32),
    proj: *const f32,
    frames: usize,
    out: (*mut f32, usize),
    parts: usize,
) {
    use core::sync::atomic::{AtomicUsize, Ordering};
    let (cell, lbr) = (rp.desc.cell, rp.desc.linear_before_reset);
    let passes = phases(cell, lbr);
    let per_frame = passes * parts;
    let total = frames * per_frame;
    let (nb, hsz) = (rp.nb, rp.desc.hidden_size);
    let panels = nb * cell.gates();
    let reverse = rp.dirs[d].reverse;
    let claim = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let ptrs = SendPtr((base.0, base.1, proj, out.0));
    let work = || {
        let (w, st, proj, next) = ptrs.get();
        loop {
            let n = claim.fetch_add(1, Ordering::Relaxed);
            if n >= total {
                break;
            }
            let (i, rem) = (n / per_frame, n % per_frame);
            let (pass, c) = (rem / parts, rem % parts);
            // Every ticket before this pass's first must be finished.
            let start = n - c;
            let mut spins = 0u32;
            while done.load(Ordering::Acquire) < start {
                spins = spins.saturating_add(1);
                if spins < 1 << 16 {
                    core::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            let t = if reverse { frames - 1 - i } else { i };
            // SAFETY: frame t's projection lies within `proj`; bases of this model.
            let mut a = unsafe { dir_args(m, rp, d, w, st, core::ptr::null(), proj.add(t * panels * LANES)) };
            if i % 2 == 1 {
                let (h, hnew) = (a.h, a.hnew);
                a.h = hnew.cast_const();
                a.hnew = h.cast_mut();
            }
            let (lo, hi) = (nb * c / parts, nb * (c + 1) / parts);
            // SAFETY: blocks lo..hi < nb; this ticket alone writes their units; every
            // unit it reads from other chunks was finished before it started.
            unsafe { s.blocks::<1>(kind_of(cell, lbr, pass), rp.dt, &[a], lo, hi) };
            if pass == passes - 1 {
                let (u0, u1) = (lo * LANES, (hi * LANES).min(hsz));
                if u1 > u0 {
                    // SAFETY: units u0..u1 of hnew were written above; row t of the
                    // output has room for this direction's hsz floats.
                    unsafe {
                        core::ptr::copy_nonoverlapping(a.hnew.add(u0), next.add(t * out.1 + d * hsz + u0), u1 - u0)
                    };
                }
            }
            done.fetch_add(1, Ordering::Release);
        }
    };
    // One part per thread; the parts' ranges are unused (tickets carry the blocks).
    split_blocks(parts, parts, &|_, _| work());
    if frames % 2 == 1 {
        // The last frame wrote the scratch buffer: the state's h takes it.
        // SAFETY: h and hnew are distinct state areas of nb * 16 floats.
        unsafe {
            let a = dir_args(m, rp, d, base.0, base.1, core::ptr::null(), proj);
            core::ptr::copy_nonoverlapping(a.hnew, a.h as *mut f32, nb * LANES);
        }
    }
}

/// Runs `f(lo, hi)` over `0..nb` split into `threads` contiguous block ranges, in parallel
/// with `rayon::join` (which, unlike a scope, allocates nothing).
#[inline]
fn split_blocks(nb: usize, threads: usize, f: &(dyn Fn(usize, usize) + Sync)) {
    fn go(lo: usize, hi: usize, parts: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        if parts <= 1 || hi - lo < 2 {
            f(lo, hi);
            return;
        }
        let half = parts / 2;
        let mid = lo + (hi - lo) * half / parts;
        #[cfg(feature = "std")]
        rayon::join(|| go(lo, mid, half, f), || go(mid, hi, parts - half, f));
        #[cfg(not(feature = "std"))]
        {
            go(lo, mid, half, f);
            go(mid, hi, parts - half, f);
        }
    }
    go(0, nb, threads.min(nb).max(1), f);
}

/// One frame for many streams: for each layer and pass, the blocks are split across
/// threads; within a thread, for each block, groups of streams share every
/// weight load (groups of 4, then 2, then 1). Block-outer order keeps a block's panels in cache while every stream
/// uses them, so each weight comes from memory once per chunk of streams.
///
/// # Safety
/// Lengths checked by the caller; every state belongs to `m`, no state appears twice;
/// the model is streamable.
#[inline(always)]
unsafe fn many_generic<S: Exec>(
    s: S,
    m: &Model,
    states: &mut [&mut State],
    xs: &[f32],
    ys: &mut [f32],
    threads: usize,
) {
    let (isz, osz) = (m.input_size(), m.output_size());
    let w = m.inner.backing.bytes().as_ptr() as *const f32;
    let sc = m.inner.scratch;
    for (ci, chunk) in states.chunks_mut(MANY_CHUNK).enumerate() {
        let n = chunk.len();
        let base = ci * MANY_CHUNK;
        let mut st = [core::ptr::null_mut::<f32>(); MANY_CHUNK];
        let mut inp = [core::ptr::null::<f32>(); MANY_CHUNK];
        for (k, state) in chunk.iter_mut().enumerate() {
            st[k] = state.floats_mut().as_mut_ptr();
            inp[k] = xs[(base + k) * isz..].as_ptr();
        }
        let mut which = 0;
        for plan in &m.inner.plans {
            match plan {
                Plan::Rec(rp) => {
                    let (cell, lbr) = (rp.desc.cell, rp.desc.linear_before_reset);
                    let stp = SendPtr(st);
                    let inpp = SendPtr(inp);
                    let wp = SendPtr(w);
                    for phase in 0..phases(cell, lbr) {
                        if rp.dt == dt::I8A8 {
                            for k in 0..n {
                                // SAFETY: stream k's state, on this thread only.
                                unsafe {
                                    let a = dir_args(m, rp, 0, w, st[k], inp[k], core::ptr::null());
                                    quantize_inputs(rp.dt, phase, &a);
                                }
                            }
                        }
                        let work = |lo: usize, hi: usize| {
                            // Whole-struct copies: the closure must capture the Send wrappers.
                            let (st, inp, w) = (stp, inpp, wp);
                            let w = w.0;
                            macro_rules! group {
                                ($g:ident, $ns:literal, $lo:expr, $hi:expr) => {
                                    while n - $g >= $ns {
                                        // SAFETY: bases of this model's weights and of states
                                        // of this model; each thread writes only blocks lo..hi.
                                        let a: [DirArgs; $ns] = core::array::from_fn(|j| unsafe {
                                            dir_args(m, rp, 0, w, st.0[$g + j], inp.0[$g + j], core::ptr::null())
                                        });
                                        // SAFETY: as above.
                                        unsafe { s.blocks::<$ns>(kind_of(cell, lbr, phase), rp.dt, &a, $lo, $hi) };
                                        $g += $ns;
                                    }
                                };
                            }
                            if n == 1 {
                                // One stream: the ISA's multi-block tiles over the whole range.
                                let mut g = 0;
                                group!(g, 1, lo, hi);
                            } else {
                                // Block-outer: a block's panels stay in cache while every
                                // group of streams uses them.
                                for b in lo..hi {
                                    let mut g = 0;
                                    if S::MANY_STREAMS >= 4 {
                                        group!(g, 4, b, b + 1);
                                    }
                                    if S::MANY_STREAMS >= 2 {
                                        group!(g, 2, b, b + 1);
                                    }
                                    group!(g, 1, b, b + 1);
                                }
                            }
                        };
                        split_blocks(rp.nb, threads, &work);
                    }
                    let dp = &rp.dirs[0];
                    for k in 0..n {
                        // SAFETY: hnew and h are distinct nb * 16 areas of stream k's state.
                        unsafe {
                            core::ptr::copy_nonoverlapping(st[k].add(sc.hnew), st[k].add(dp.h), rp.nb * LANES);
                            inp[k] = st[k].add(dp.h);
                        }
                    }
                }
                Plan::Dense(dp) => {
                    let k_in = dp.desc.input_size;
                    let act = dp.desc.activation;
                    if dp.dt == dt::I8A8 {
                        for k in 0..n {
                            // SAFETY: stream k's input and quantization areas.
                            unsafe {
                                crate::quant::quantize_raw(inp[k], k_in, st[k].add(sc.qx).cast(), st[k].add(sc.qm))
                            };
                        }
                    }
                    let stp = SendPtr(st);
                    let inpp = SendPtr(inp);
                    let wp = SendPtr(w);
                    let work = |lo: usize, hi: usize| {
                        let (st, inp, w) = (stp, inpp, wp);
                        let w = w.0;
                        macro_rules! group {
                            ($g:ident, $ns:literal, $b:expr) => {
                                while n - $g >= $ns {
                                    let xsn: [*const f32; $ns] = core::array::from_fn(|j| inp.0[$g + j]);
                                    let qsn: [QIn; $ns] = core::array::from_fn(|j| {
                                        // SAFETY: stream scratch areas of this model's states.
                                        unsafe {
                                            (
                                                st.0[$g + j].add(sc.qx).cast_const().cast(),
                                                st.0[$g + j].add(sc.qm).cast_const(),
                                            )
                                        }
                                    });
                                    let outs: [*mut f32; $ns] = core::array::from_fn(|j| {
                                        // SAFETY: stream scratch buffers hold the widest layer output.
                                        unsafe { st.0[$g + j].add(sc.buf[which]) }
                                    });
                                    // SAFETY: validated plan offsets; b < nb; disjoint blocks per thread.
                                    unsafe {
                                        s.dense::<$ns>(
                                            dp.dt,
                                            w.add(dp.w).cast(),
                                            dp.ws.map_or(core::ptr::null(), |o| w.add(o)),
                                            w.add(dp.b),
                                            xsn,
                                            qsn,
                                            k_in,
                                            outs,
                                            $b,
                                            $b + 1,
                                            act,
                                        )
                                    };
                                    $g += $ns;
                                }
                            };
                        }
                        for b in lo..hi {
                            let mut g = 0;
                            if S::MANY_STREAMS >= 4 {
                                group!(g, 4, b);
                            }
                            if S::MANY_STREAMS >= 2 {
                                group!(g, 2, b);
                            }
                            group!(g, 1, b);
                        }
                    };
                    split_blocks(dp.nb, threads, &work);
                    for k in 0..n {
                        // SAFETY: the scratch buffer of stream k.
                        let out = unsafe { st[k].add(sc.buf[which]) };
                        if matches!(act, DenseAct::Softmax | DenseAct::LogSoftmax) {
                            // SAFETY: out holds nb * 16 floats.
                            unsafe { s.softmax(out, dp.desc.output_size, act == DenseAct::LogSoftmax) };
                        }
                        inp[k] = out;
                    }
                    which ^= 1;
                }
            }
        }
        for k in 0..n {
            // SAFETY: inp[k] holds the stream's output_size floats; ys has room for frame base + k.
            unsafe { core::ptr::copy_nonoverlapping(inp[k], ys[(base + k) * osz..].as_mut_ptr(), osz) };
        }
    }
}
