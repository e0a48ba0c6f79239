//! Running a model: `recur_step` (one frame of one stream), `recur_run` (a sequence) and
//! `recur_step_many` (one frame of many streams).

use crate::ffi::{self, call_status, handle, handle_mut, Failure};
use crate::model::recur_model;
use crate::state::recur_state;
use crate::status::recur_status;
use recur::State;

/// Advances one stream by one frame: reads `x_len` floats from `x`, writes `y_len` floats
/// to `y`. `x_len` must be `recur_model_input_size(model)` and `y_len`
/// `recur_model_output_size(model)`. Allocates nothing.
///
/// Errors: `RECUR_NULL_POINTER`, `RECUR_INVALID_LENGTH`, `RECUR_FOREIGN_STATE` (the state
/// was made by a model with other weights or shape; a state of the same file opened twice
/// is accepted), `RECUR_NOT_STREAMABLE`, `RECUR_OVERLAPPING_BUFFERS` (`x` and `y`
/// overlap), `RECUR_MISALIGNED_POINTER`. On failure neither `y` nor the state is touched.
///
/// # Safety
///
/// `model` is `NULL` or a live model; `state` is `NULL` or a live state that no other call
/// is using; `x` is `NULL` or valid for reading `x_len` floats; `y` is `NULL` or valid
/// for writing `y_len` floats.
#[no_mangle]
pub unsafe extern "C" fn recur_step(
    model: *const recur_model,
    state: *mut recur_state,
    x: *const f32,
    x_len: usize,
    y: *mut f32,
    y_len: usize,
) -> recur_status {
    call_status("recur_step", || {
        // SAFETY: NULL or live (the caller's contract).
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: NULL or live and exclusive (the caller's contract).
        let st = unsafe { handle_mut(state, "state") }?;
        ffi::disjoint(x, x_len, "x", y, y_len, "y")?;
        // SAFETY: NULL or valid for x_len floats; disjoint from y (checked).
        let x = unsafe { ffi::slice(x, x_len, "x") }?;
        // SAFETY: NULL or valid for y_len floats, exclusive (the caller's contract).
        let y = unsafe { ffi::slice_mut(y, y_len, "y") }?;
        m.model.step(&mut st.state, x, y)?;
        Ok(())
    })
}

/// Runs `steps` frames of one stream: reads `xs_len = steps * input_size` floats (frame
/// after frame) and writes `ys_len = steps * output_size` floats. Gives the same bits as
/// `steps` calls of `recur_step`, faster (the input projection of all frames is one matrix
/// product), and also runs models with reverse and bidirectional layers (the sequence is
/// then the whole utterance). Allocates scratch in proportion to `steps`.
///
/// Errors: those of `recur_step` but `RECUR_NOT_STREAMABLE`, and `RECUR_INVALID_LENGTH`
/// when `xs_len` or `ys_len` does not match `steps`. Every check runs before any work:
/// on failure neither `ys` nor the state is touched, and there is no failure midway
/// (a panic, which would be a bug, leaves `ys` and the state unspecified). `steps == 0`
/// does nothing and succeeds.
///
/// # Safety
///
/// As `recur_step`, for `xs_len` and `ys_len` floats.
#[no_mangle]
pub unsafe extern "C" fn recur_run(
    model: *const recur_model,
    state: *mut recur_state,
    steps: usize,
    xs: *const f32,
    xs_len: usize,
    ys: *mut f32,
    ys_len: usize,
) -> recur_status {
    call_status("recur_run", || {
        // SAFETY: NULL or live (the caller's contract).
        let m = unsafe { handle(model, "model") }?;
        // SAFETY: NULL or live and exclusive (the caller's contract).
        let st = unsafe { handle_mut(state, "state") }?;
        let (i, o) = (m.model.input_size(), m.model.output_size());
        check_frames("xs", xs_len, "steps", steps, "input", i)?;
        check_frames("ys", ys_len, "steps", steps, "output", o)?;
        ffi::disjoint(xs, xs_len, "xs", ys, ys_len, "ys")?;
        // SAFETY: NULL or valid for xs_len floats; disjoint from ys (checked).
        let xs = unsafe { ffi::slice(xs, xs_len, "xs") }?;
        // SAFETY: NULL or valid for ys_len floats, exclusive (the caller's contract).
        let ys = unsafe { ffi::slice_mut(ys, ys_len, "ys") }?;
        m.model.run(&mut st.state, xs, ys)?;
        Ok(())
    })
}

/// `len == count * per_frame`, without overflow.
fn check_frames(
    what: &'static str,
    len: usize,
    count_name: &'static str,
    count: usize,
    side: &'static str,
    per_frame: usize,
) -> Result<(), Failure> {
    match count.checked_mul(per_frame) {
        Some(n) if n == len => Ok(()),
        Some(n) => Err(Failure::new(
            recur_status::RECUR_INVALID_LENGTH,
            format!("{what} has {len} values, expected {n} ({count_name} {count} x {side} size {per_frame})"),
        )),
        None => Err(Failure::new(
            recur_status::RECUR_INVALID_LENGTH,
            format!("{what} has {len} values, but {count_name} {count} x {side} size {per_frame} overflows"),
        )),
    }
}

/// Advances `n` independent streams of `model` by one frame each: `states[i]` consumes
/// floats `[i * input_size, (i + 1) * input_size)` of `xs` and writes its output frame at
/// `[i * output_size, ...)` of `ys`, so `xs_len = n * input_size` and
/// `ys_len = n * output_size`. Each stream's result is bit-identical to `recur_step` on it
/// alone, whatever `n`, the order and the thread count.
///
/// May spread the streams over several threads (rayon's global pool, sized by the
/// environment variable `RAYON_NUM_THREADS` or the number of CPUs); use
/// `recur_step_many_threads` to cap them (1: only the calling thread).
///
/// Allocates one array of `n` references per call (the engine's `step_many` takes a
/// slice); `recur_step` allocates nothing.
///
/// Errors: those of `recur_step`, and `RECUR_NULL_POINTER` for a `NULL` entry in `states`,
/// `RECUR_ALIASED_STATE` when a state appears twice. Every check (every state included)
/// runs before any work: on failure no state and no output is touched. `n == 0` does
/// nothing and succeeds (`states`, `xs` and `ys` may then be `NULL`).
///
/// # Safety
///
/// `model` is `NULL` or a live model; `states` is `NULL` or valid for reading `n`
/// pointers, each `NULL` or a live state that no other call is using; `xs` and `ys` as in
/// `recur_step`, for `xs_len` and `ys_len` floats.
#[no_mangle]
pub unsafe extern "C" fn recur_step_many(
    model: *const recur_model,
    states: *const *mut recur_state,
    n: usize,
    xs: *const f32,
    xs_len: usize,
    ys: *mut f32,
    ys_len: usize,
) -> recur_status {
    // SAFETY: forwarded contract.
    call_status("recur_step_many", || unsafe { step_many(model, states, n, xs, xs_len, ys, ys_len, None) })
}

/// `recur_step_many` on at most `threads` threads: 1 runs every stream on the calling
/// thread and never touches a thread pool; 0 means no cap (as `recur_step_many`). The
/// results are the same bits whatever the cap.
///
/// # Safety
///
/// As `recur_step_many`.
#[no_mangle]
pub unsafe extern "C" fn recur_step_many_threads(
    model: *const recur_model,
    states: *const *mut recur_state,
    n: usize,
    xs: *const f32,
    xs_len: usize,
    ys: *mut f32,
    ys_len: usize,
    threads: usize,
) -> recur_status {
    let threads = (threads > 0).then_some(threads);
    // SAFETY: forwarded contract.
    call_status("recur_step_many_threads", || unsafe { step_many(model, states, n, xs, xs_len, ys, ys_len, threads) })
}

/// Below this many streams, duplicates are found by comparing every pair (no allocation);
/// above it, by sorting the addresses.
const PAIRWISE_MAX: usize = 32;

/// The body of both `recur_step_many` exports.
///
/// # Safety
///
/// The contract of `recur_step_many`.
#[allow(clippy::too_many_arguments)]
unsafe fn step_many(
    model: *const recur_model,
    states: *const *mut recur_state,
    n: usize,
    xs: *const f32,
    xs_len: usize,
    ys: *mut f32,
    ys_len: usize,
    threads: Option<usize>,
) -> Result<(), Failure> {
    // SAFETY: NULL or live (the caller's contract).
    let m = unsafe { handle(model, "model") }?;
    // SAFETY: NULL or valid for reading n pointers (the caller's contract).
    let ptrs = unsafe { ffi::slice(states, n, "states") }?;
    for (i, p) in ptrs.iter().enumerate() {
        if p.is_null() {
            return Err(Failure::new(recur_status::RECUR_NULL_POINTER, format!("states[{i}] is NULL")));
        }
    }
    // Two entries for one state would be two `&mut` to it: refuse before making any.
    if let Some((i, j)) = duplicate(ptrs) {
        return Err(Failure::new(
            recur_status::RECUR_ALIASED_STATE,
            format!("states[{i}] and states[{j}] are the same state ({:p})", ptrs[i]),
        ));
    }
    let (i, o) = (m.model.input_size(), m.model.output_size());
    check_frames("xs", xs_len, "n", n, "input", i)?;
    check_frames("ys", ys_len, "n", n, "output", o)?;
    ffi::disjoint(xs, xs_len, "xs", ys, ys_len, "ys")?;
    ffi::disjoint(states, n, "states", ys, ys_len, "ys")?;
    // SAFETY: NULL or valid for xs_len floats; disjoint from ys (checked).
    let xs = unsafe { ffi::slice(xs, xs_len, "xs") }?;
    // SAFETY: NULL or valid for ys_len floats, exclusive (the caller's contract).
    let ys = unsafe { ffi::slice_mut(ys, ys_len, "ys") }?;
    let mut refs: Vec<&mut State> = Vec::with_capacity(n);
    for &p in ptrs {
        // SAFETY: non-null (checked), pairwise distinct (checked), live and used by no
        // other call (the caller's contract): one exclusive borrow per state.
        refs.push(unsafe { &mut (*p).state });
    }
    // The engine checks the lengths, every state and streamability before it writes
    // anything, so a failure leaves every state and output untouched.
    m.model.step_many_with(&mut refs, xs, ys, threads)?;
    Ok(())
}

/// The indices of a pointer that appears twice, if any.
fn duplicate<T>(ptrs: &[*mut T]) -> Option<(usize, usize)> {
    if ptrs.len() <= PAIRWISE_MAX {
        for j in 1..ptrs.len() {
            if let Some(i) = ptrs[..j].iter().position(|&p| p == ptrs[j]) {
                return Some((i, j));
            }
        }
        return None;
    }
    let mut sorted: Vec<(usize, usize)> = ptrs.iter().enumerate().map(|(i, &p)| (p as usize, i)).collect();
    sorted.sort_unstable();
    sorted.windows(2).find(|w| w[0].0 == w[1].0).map(|w| (w[0].1.min(w[1].1), w[0].1.max(w[1].1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_small_and_large() {
        let mut v: Vec<u32> = (0..100).collect();
        let base = v.as_mut_ptr();
        for n in [0, 1, 2, 5, PAIRWISE_MAX, PAIRWISE_MAX + 1, 100] {
            let ptrs: Vec<*mut u32> = (0..n).map(|i| base.wrapping_add(i)).collect();
            assert_eq!(duplicate(&ptrs), None, "n={n}");
            if n >= 2 {
                let mut d = ptrs.clone();
                d[n - 1] = d[n / 3];
                assert_eq!(duplicate(&d), Some((n / 3, n - 1)), "n={n}");
            }
        }
    }

    #[test]
    fn frame_counts() {
        assert!(check_frames("xs", 12, "n", 3, "input", 4).is_ok());
        assert!(check_frames("xs", 0, "n", 0, "input", 4).is_ok());
        let e = check_frames("xs", 11, "steps", 3, "input", 4).unwrap_err();
        assert_eq!(e.status, recur_status::RECUR_INVALID_LENGTH);
        assert_eq!(e.detail, "xs has 11 values, expected 12 (steps 3 x input size 4)");
        assert!(check_frames("xs", 0, "n", usize::MAX, "input", 4).unwrap_err().detail.contains("overflows"));
    }
}
