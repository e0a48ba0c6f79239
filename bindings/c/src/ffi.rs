//! The boundary: the one wrapper every export runs in ([`call`]), the thread's last error,
//! and the early-return helpers that turn raw pointers and lengths into references.
//!
//! Every export is `body(...)` inside [`call`]: the body returns `Result<T, Failure>`,
//! using `?` on the helpers below (null pointers, lengths, alignment, overlap) and on the
//! engine's `Result`; [`call`] catches a panic, records the failure's detail for
//! `recur_last_error` and hands the C caller a [`recur_status`] (or a fallback value).
//! On success nothing thread-local is touched, so the wrapper costs a few compares and
//! branches on the hot path (`catch_unwind` is free until something panics).

use crate::status::recur_status;
use core::cell::RefCell;
use core::ffi::{c_char, CStr};
use std::any::Any;
use std::borrow::Cow;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A failed call: its status and the detail message.
#[derive(Debug)]
pub struct Failure {
    /// The class of the failure.
    pub status: recur_status,
    /// What went wrong, with the offending values (lowercase, no trailing period).
    pub detail: Cow<'static, str>,
}

impl Failure {
    /// A failure with a status and a message.
    pub fn new(status: recur_status, detail: impl Into<Cow<'static, str>>) -> Failure {
        Failure { status, detail: detail.into() }
    }
}

impl From<recur::Error> for Failure {
    fn from(e: recur::Error) -> Failure {
        Failure { status: recur_status::of(&e), detail: e.to_string().into() }
    }
}

thread_local! {
    /// This thread's last failure detail, handed out by `recur_last_error` (`None`: none
    /// yet, read as `""`).
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `func: detail` as this thread's last error.
fn set_last_error(func: &str, detail: &str) {
    let mut msg = String::with_capacity(func.len() + 2 + detail.len());
    msg.push_str(func);
    msg.push_str(": ");
    // A NUL would end the C string early: show it instead.
    msg.push_str(&detail.replace('\0', "\\0"));
    let msg = CString::new(msg).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the status still goes out.
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = Some(msg));
}

/// A pointer to this thread's last error (`""` if none), valid until it is next replaced.
pub(crate) fn last_error_ptr() -> *const c_char {
    with_last_error(CStr::as_ptr)
}

/// Runs `f` on this thread's last error.
pub(crate) fn with_last_error<T>(f: impl FnOnce(&CStr) -> T) -> T {
    let mut f = Some(f);
    let r = LAST_ERROR.try_with(|l| (f.take().expect("called once"))(l.borrow().as_deref().unwrap_or(c"")));
    match r {
        Ok(v) => v,
        Err(_) => (f.take().expect("not called"))(c""),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> Cow<'static, str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Cow::Borrowed(s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Cow::Owned(s.clone())
    } else {
        Cow::Borrowed("(no message)")
    }
}

/// The wrapper around every export: runs `f`, catching a panic; on failure records
/// `func: detail` for `recur_last_error` and returns the status.
pub fn call<T>(func: &'static str, f: impl FnOnce() -> Result<T, Failure>) -> Result<T, recur_status> {
    // AssertUnwindSafe: after a panic the only state the caller may observe is what the
    // call was writing (its output buffers and states), which the contract declares
    // unspecified after RECUR_PANIC; the model is immutable.
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(fail)) => {
            set_last_error(func, &fail.detail);
            Err(fail.status)
        }
        Err(payload) => {
            let msg = format!("panic (a bug in recur): {}", panic_message(&*payload));
            // Dropping the payload runs arbitrary code, which may panic in turn.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(func, &msg);
            Err(recur_status::RECUR_PANIC)
        }
    }
}

/// [`call`] for exports that return a status.
pub fn call_status(func: &'static str, f: impl FnOnce() -> Result<(), Failure>) -> recur_status {
    match call(func, f) {
        Ok(()) => recur_status::RECUR_OK,
        Err(s) => s,
    }
}

/// [`call`] for exports that return a value: `fallback` on failure.
pub fn call_value<T>(func: &'static str, fallback: T, f: impl FnOnce() -> Result<T, Failure>) -> T {
    call(func, f).unwrap_or(fallback)
}

fn null(name: &'static str) -> Failure {
    Failure::new(recur_status::RECUR_NULL_POINTER, format!("{name} is NULL"))
}

/// Borrows a handle.
///
/// # Safety
///
/// `p` is `NULL` or points to a live `T` that nothing mutates for `'a`.
pub unsafe fn handle<'a, T>(p: *const T, name: &'static str) -> Result<&'a T, Failure> {
    // SAFETY: non-null pointers are valid and unaliased by mutation (the caller's contract).
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// Borrows a handle mutably.
///
/// # Safety
///
/// `p` is `NULL` or points to a live `T` that nothing else accesses for `'a`.
pub unsafe fn handle_mut<'a, T>(p: *mut T, name: &'static str) -> Result<&'a mut T, Failure> {
    // SAFETY: non-null pointers are valid and exclusive (the caller's contract).
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// Checks that an `out` pointer is non-null (it is written only on success, by [`put`]).
pub fn out_ptr<T>(p: *mut *mut T, name: &'static str) -> Result<*mut *mut T, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    Ok(p)
}

/// Stores a new handle in `*out` (the last step of a constructor).
///
/// # Safety
///
/// `out` was checked by [`out_ptr`] and is valid for writing one pointer.
pub unsafe fn put<T>(out: *mut *mut T, value: T) {
    // SAFETY: the caller's contract; the Box's ownership passes to the C caller, who
    // gives it back to the matching `_free`.
    unsafe { out.write(Box::into_raw(Box::new(value))) };
}

/// Checks a buffer's pointer: non-null unless `len` is 0, aligned for `T`, and no larger
/// than a Rust slice may be.
fn check_buf<T>(p: *const T, len: usize, name: &'static str) -> Result<bool, Failure> {
    if len == 0 {
        return Ok(false);
    }
    if p.is_null() {
        return Err(Failure::new(recur_status::RECUR_NULL_POINTER, format!("{name} is NULL but its length is {len}")));
    }
    if !(p as usize).is_multiple_of(align_of::<T>()) {
        return Err(Failure::new(
            recur_status::RECUR_MISALIGNED_POINTER,
            format!("{name} ({p:p}) is not aligned to {} bytes", align_of::<T>()),
        ));
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Failure::new(
            recur_status::RECUR_INVALID_LENGTH,
            format!("{name} length {len} is impossibly large"),
        ));
    }
    Ok(true)
}

/// Borrows a C buffer of `len` elements as a slice (empty when `len` is 0, whatever `p`).
///
/// # Safety
///
/// `p` is `NULL`, or valid for reading `len` elements that nothing mutates for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, len: usize, name: &'static str) -> Result<&'a [T], Failure> {
    if !check_buf(p, len, name)? {
        return Ok(&[]);
    }
    // SAFETY: non-null, aligned, within isize::MAX bytes (checked); valid for `len`
    // elements and not mutated for 'a (the caller's contract).
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// Borrows a C buffer of `len` elements as a mutable slice (empty when `len` is 0).
///
/// # Safety
///
/// `p` is `NULL`, or valid for reading and writing `len` elements that nothing else
/// accesses for `'a`.
pub unsafe fn slice_mut<'a, T>(p: *mut T, len: usize, name: &'static str) -> Result<&'a mut [T], Failure> {
    if !check_buf(p, len, name)? {
        return Ok(&mut []);
    }
    // SAFETY: as in `slice`, and exclusive for 'a (the caller's contract).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// Refuses overlapping input and output buffers (before either becomes a Rust slice:
/// a shared and a mutable slice over the same bytes would be undefined behaviour).
pub fn disjoint<A, B>(
    a: *const A,
    a_len: usize,
    a_name: &'static str,
    b: *const B,
    b_len: usize,
    b_name: &'static str,
) -> Result<(), Failure> {
    let (a0, b0) = (a as usize, b as usize);
    let a1 = a0.saturating_add(a_len.saturating_mul(size_of::<A>()));
    let b1 = b0.saturating_add(b_len.saturating_mul(size_of::<B>()));
    if a_len > 0 && b_len > 0 && a0 < b1 && b0 < a1 {
        return Err(Failure::new(recur_status::RECUR_OVERLAPPING_BUFFERS, format!("{a_name} and {b_name} overlap")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let r: Result<(), _> = call("recur_test", || panic!("boom {}", 42));
        assert_eq!(r, Err(recur_status::RECUR_PANIC));
        with_last_error(|m| assert_eq!(m.to_str().unwrap(), "recur_test: panic (a bug in recur): boom 42"));
        let r: Result<(), _> = call("recur_test", || std::panic::panic_any(7u8));
        assert_eq!(r, Err(recur_status::RECUR_PANIC));
        with_last_error(|m| assert!(m.to_str().unwrap().ends_with("(no message)")));
    }

    #[test]
    fn success_leaves_the_last_error_alone() {
        let s = call_status("recur_a", || Err(Failure::new(recur_status::RECUR_INVALID_LENGTH, "x\0y")));
        assert_eq!(s, recur_status::RECUR_INVALID_LENGTH);
        assert_eq!(call_status("recur_b", || Ok(())), recur_status::RECUR_OK);
        with_last_error(|m| assert_eq!(m.to_str().unwrap(), "recur_a: x\\0y"));
        // SAFETY: a NUL-terminated string owned by this thread, not replaced meanwhile.
        assert_eq!(unsafe { CStr::from_ptr(last_error_ptr()) }.to_str().unwrap(), "recur_a: x\\0y");
    }

    #[test]
    fn buffers() {
        let v = [1.0f32, 2.0, 3.0];
        // SAFETY: NULL with length 0, then a valid array.
        unsafe {
            assert!(slice::<f32>(core::ptr::null(), 0, "x").unwrap().is_empty());
            assert_eq!(slice::<f32>(core::ptr::null(), 1, "x").unwrap_err().status, recur_status::RECUR_NULL_POINTER);
            assert_eq!(slice(v.as_ptr(), 3, "x").unwrap(), &v);
            let odd = (v.as_ptr() as *const u8).add(1) as *const f32;
            assert_eq!(slice(odd, 1, "x").unwrap_err().status, recur_status::RECUR_MISALIGNED_POINTER);
            assert_eq!(slice(v.as_ptr(), usize::MAX / 2, "x").unwrap_err().status, recur_status::RECUR_INVALID_LENGTH);
        }
        let p = v.as_ptr();
        assert!(disjoint(p, 1, "a", p.wrapping_add(1), 2, "b").is_ok());
        assert!(disjoint(p, 2, "a", p.wrapping_add(1), 2, "b").is_err());
        assert!(disjoint(p.wrapping_add(1), 2, "a", p, 2, "b").is_err());
        assert!(disjoint(p, 0, "a", p, 2, "b").is_ok());
    }
}
