//! Execution: `step` (one frame of one stream) and `run` (a whole sequence), written once
//! generically and instantiated per kernel set behind one `#[target_feature]` entry each.

use crate::cell::{self, DirArgs};
use crate::isa::Isa;
use crate::kernels::{Simd, LANES};
use crate::model::{Model, Plan, RecPlan, State};
use crate::Error;
use alloc::vec;
use alloc::vec::Vec;
use recur_format::{CellKind, DenseAct};

/// Runs one direction's recurrence for one frame: tiles over blocks, then `hnew -> h`.
///
/// # Safety
/// `a` satisfies the [`DirArgs`] invariants.
#[inline(always)]
unsafe fn rec_frame<S: Simd>(s: S, cell: CellKind, lbr: bool, a: &DirArgs) {
    let nb = a.nb;
    macro_rules! tiles {
        ($f:ident, $tile:expr) => {{
            let mut b = 0;
            // SAFETY (all calls): b + TB <= nb; the rest is the caller's contract.
            match $tile {
                2 => {
                    while b + 2 <= nb {
                        unsafe { cell::$f::<S, 2>(s, a, b) };
                        b += 2;
                    }
                }
                3 => {
                    while b + 3 <= nb {
                        unsafe { cell::$f::<S, 3>(s, a, b) };
                        b += 3;
                    }
                }
                4 => {
                    while b + 4 <= nb {
                        unsafe { cell::$f::<S, 4>(s, a, b) };
                        b += 4;
                    }
                }
                8 => {
                    while b + 8 <= nb {
                        unsafe { cell::$f::<S, 8>(s, a, b) };
                        b += 8;
                    }
                }
                _ => {}
            }
            while b < nb {
                unsafe { cell::$f::<S, 1>(s, a, b) };
                b += 1;
            }
        }};
    }
    match (cell, lbr) {
        (CellKind::Lstm, _) => tiles!(lstm_tile, S::TILE_LSTM),
        (CellKind::Gru, true) => tiles!(gru_lbr_tile, S::TILE_GRU),
        (CellKind::Gru, false) => {
            tiles!(gru_pass1_tile, S::TILE_GRU);
            tiles!(gru_pass2_tile, S::TILE_RNN);
        }
        (CellKind::Rnn, _) => tiles!(rnn_tile, S::TILE_RNN),
    }
    // SAFETY: h and hnew are distinct state areas of nb * 16 floats.
    unsafe { core::ptr::copy_nonoverlapping(a.hnew, a.h as *mut f32, nb * LANES) };
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
            w: w.add(dp.w),
            r: w.add(dp.r),
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
unsafe fn dense_frame<S: Simd>(s: S, dp: &crate::model::DensePlan, w: *const f32, x: *const f32, out: *mut f32) {
    let nb = dp.nb;
    let k = dp.desc.input_size;
    let act = dp.desc.activation;
    // SAFETY: offsets from the validated plan.
    let (wp, bp) = unsafe { (w.add(dp.w), w.add(dp.b)) };
    let mut b = 0;
    // SAFETY (all calls): b + TB <= nb and the function contract.
    if S::TILE_RNN >= 4 {
        while b + 4 <= nb {
            unsafe { cell::dense_tile::<S, 4>(s, wp, bp, x, k, out, b, act) };
            b += 4;
        }
    }
    while b < nb {
        unsafe { cell::dense_tile::<S, 1>(s, wp, bp, x, k, out, b, act) };
        b += 1;
    }
    if matches!(act, DenseAct::Softmax | DenseAct::LogSoftmax) {
        // SAFETY: out holds nb * 16 floats.
        unsafe { crate::math::softmax_in_place(s, out, dp.desc.output_size, act == DenseAct::LogSoftmax) };
    }
}

/// One frame through every layer. The model must be streamable.
///
/// # Safety
/// `x` holds `input_size` floats, `y` `output_size`; `state` belongs to `m`.
#[inline(always)]
unsafe fn step_generic<S: Simd>(s: S, m: &Model, state: &mut State, x: *const f32, y: *mut f32) {
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
                unsafe { rec_frame(s, rp.desc.cell, rp.desc.linear_before_reset, &a) };
                inp = a.h;
            }
            Plan::Dense(dp) => {
                // SAFETY: scratch buffers hold the widest layer output.
                let out = unsafe { st.add(sc.buf[which]) };
                // SAFETY: inp holds the layer's input.
                unsafe { dense_frame(s, dp, w, inp, out) };
                inp = out;
                which ^= 1;
            }
        }
    }
    // SAFETY: inp holds output_size floats, y has room for them, and they do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(inp, y, m.output_size()) };
}

/// A whole sequence, layer by layer: for each recurrent layer the input projection of all
/// frames is one matrix product, then each direction runs its recurrence.
///
/// # Safety
/// `xs` holds `frames * input_size` floats, `ys` `frames * output_size`; `state` belongs to `m`.
#[inline(always)]
unsafe fn run_generic<S: Simd>(s: S, m: &Model, state: &mut State, xs: &[f32], frames: usize, ys: &mut [f32]) {
    let w = m.inner.backing.bytes().as_ptr() as *const f32;
    let st = state.floats_mut().as_mut_ptr();
    let sc = m.inner.scratch;
    let mut cur: Vec<f32> = xs.to_vec();
    let mut cur_width = m.input_size();
    let mut proj: Vec<f32> = Vec::new();
    for plan in &m.inner.plans {
        match plan {
            Plan::Rec(rp) => {
                let hsz = rp.desc.hidden_size;
                let dirs = rp.dirs.len();
                let width = hsz * dirs;
                let mut next = vec![0.0f32; frames * width];
                let g = rp.desc.cell.gates();
                let panels = rp.nb * g;
                let lbr = rp.desc.cell == CellKind::Gru && rp.desc.linear_before_reset;
                proj.clear();
                proj.resize(frames * panels * LANES, 0.0);
                for d in 0..dirs {
                    let dp = &rp.dirs[d];
                    // SAFETY: W and B of this direction from the validated plan; `cur`
                    // holds frames * k floats; `proj` frames * panels * 16.
                    unsafe {
                        cell::project(
                            s,
                            w.add(dp.w),
                            w.add(dp.b),
                            panels,
                            rp.desc.input_size,
                            cur.as_ptr(),
                            frames,
                            proj.as_mut_ptr(),
                            |p| lbr && p % 3 == 2,
                        )
                    };
                    for i in 0..frames {
                        let t = if dp.reverse { frames - 1 - i } else { i };
                        // SAFETY: frame t's projection lies within `proj`.
                        let pr = unsafe { proj.as_ptr().add(t * panels * LANES) };
                        // SAFETY: bases of this model's weights and state.
                        let a = unsafe { dir_args(m, rp, d, w, st, core::ptr::null(), pr) };
                        // SAFETY: invariants hold by construction.
                        unsafe { rec_frame(s, rp.desc.cell, rp.desc.linear_before_reset, &a) };
                        // SAFETY: h holds hsz floats.
                        let h = unsafe { core::slice::from_raw_parts(a.h, hsz) };
                        next[t * width + d * hsz..][..hsz].copy_from_slice(h);
                    }
                }
                cur = next;
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
                        dense_frame(s, dp, w, cur.as_ptr().add(t * cur_width), out);
                        core::ptr::copy_nonoverlapping(out, next.as_mut_ptr().add(t * o), o);
                    }
                }
                cur = next;
                cur_width = o;
            }
        }
    }
    ys.copy_from_slice(&cur[..frames * cur_width]);
}

macro_rules! entries {
    ($step:ident, $run:ident, $ty:ty, $feat:literal) => {
        /// # Safety
        /// The CPU supports the features; the arguments satisfy `step_generic`'s contract.
        #[target_feature(enable = $feat)]
        unsafe fn $step(s: $ty, m: &Model, state: &mut State, x: *const f32, y: *mut f32) {
            // SAFETY: forwarded contract.
            unsafe { step_generic(s, m, state, x, y) }
        }
        /// # Safety
        /// The CPU supports the features; the arguments satisfy `run_generic`'s contract.
        #[target_feature(enable = $feat)]
        unsafe fn $run(s: $ty, m: &Model, state: &mut State, xs: &[f32], frames: usize, ys: &mut [f32]) {
            // SAFETY: forwarded contract.
            unsafe { run_generic(s, m, state, xs, frames, ys) }
        }
    };
}

#[cfg(target_arch = "x86_64")]
use crate::kernels::x86_64::{avx2::Avx2, avx512::Avx512};
#[cfg(target_arch = "x86_64")]
entries!(step_avx512, run_avx512, Avx512, "avx512f,avx512bw,avx512vl,avx2,fma,f16c");
#[cfg(target_arch = "x86_64")]
entries!(step_avx2, run_avx2, Avx2, "avx2,fma,f16c");
#[cfg(target_arch = "aarch64")]
use crate::kernels::aarch64::neon::Neon;
#[cfg(target_arch = "aarch64")]
entries!(step_neon, run_neon, Neon, "neon");

/// The portable kernel set needs no target feature beyond the baseline.
fn portable_step(m: &Model, state: &mut State, x: *const f32, y: *mut f32) {
    // SAFETY: contract checked by the public caller.
    unsafe { step_generic(crate::kernels::Portable, m, state, x, y) }
}

fn scalar_step(m: &Model, state: &mut State, x: *const f32, y: *mut f32) {
    // SAFETY: contract checked by the public caller.
    unsafe { step_generic(crate::kernels::Scalar, m, state, x, y) }
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
    pub fn step(&self, state: &mut State, x: &[f32], y: &mut [f32]) -> Result<(), Error> {
        if let Some((layer, direction)) = self.inner.streamable_error {
            return Err(Error::NotStreamable { layer, direction });
        }
        self.check_state(state)?;
        Self::check_len("input frame", x.len(), self.input_size())?;
        Self::check_len("output frame", y.len(), self.output_size())?;
        let isa = self.inner.isa;
        crate::isa::mark_ran(isa);
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a model holds Avx512 only if the CPU has it (checked when built);
            // lengths were checked above and the state belongs to this model.
            Isa::Avx512 => unsafe {
                step_avx512(Avx512::new().unwrap_unchecked(), self, state, x.as_ptr(), y.as_mut_ptr())
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, for AVX2.
            Isa::Avx2 => unsafe { step_avx2(Avx2::new().unwrap_unchecked(), self, state, x.as_ptr(), y.as_mut_ptr()) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above, for NEON.
            Isa::Neon => unsafe { step_neon(Neon::new().unwrap_unchecked(), self, state, x.as_ptr(), y.as_mut_ptr()) },
            Isa::Portable => portable_step(self, state, x.as_ptr(), y.as_mut_ptr()),
            _ => scalar_step(self, state, x.as_ptr(), y.as_mut_ptr()),
        }
        Ok(())
    }

    /// Runs a whole sequence of `xs.len() / input_size` frames, writing one output per
    /// frame to `ys`. Supports reverse and bidirectional layers; on forward-only models
    /// it gives the same bits as repeated [`Model::step`]. Allocates scratch in
    /// proportion to the sequence (the projections and per-layer outputs).
    pub fn run(&self, state: &mut State, xs: &[f32], ys: &mut [f32]) -> Result<(), Error> {
        self.check_state(state)?;
        let i = self.input_size();
        if xs.len() % i != 0 {
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
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: see `step`.
            Isa::Avx512 => unsafe { run_avx512(Avx512::new().unwrap_unchecked(), self, state, xs, frames, ys) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: see `step`.
            Isa::Avx2 => unsafe { run_avx2(Avx2::new().unwrap_unchecked(), self, state, xs, frames, ys) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: see `step`.
            Isa::Neon => unsafe { run_neon(Neon::new().unwrap_unchecked(), self, state, xs, frames, ys) },
            // SAFETY: lengths checked above.
            Isa::Portable => unsafe { run_generic(crate::kernels::Portable, self, state, xs, frames, ys) },
            // SAFETY: lengths checked above.
            _ => unsafe { run_generic(crate::kernels::Scalar, self, state, xs, frames, ys) },
        }
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
        let _ = threads;
        for (n, s) in states.iter_mut().enumerate() {
            self.step(s, &xs[n * i..][..i], &mut ys[n * o..][..o])?;
        }
        Ok(())
    }
}
