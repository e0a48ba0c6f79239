//! What the C boundary costs per call: `recur_step` called through the C ABI symbol of
//! `librecur.so` (loaded with `dlopen`, called through a function pointer, as a C program
//! calls it through the PLT) against `Model::step` called directly, interleaved on the
//! same model: benchmark workload W1 (GRU in=40 H=128, dense 128->12), and a tiny GRU
//! whose step takes tens of nanoseconds, so that the boundary's cost stands out.
//!
//! ```text
//! cargo build --release -p recur-capi --lib --example overhead
//! target/release/examples/overhead [path/to/librecur.so] [--rounds N] [--calls K]
//! ```
//!
//! Each round times K calls of each path (20 K for the tiny model), alternating which goes
//! first; the report gives the median ns per call of each over the rounds and the median
//! of the per-round differences. It also times the cheapest export (`recur_model_input_size`), whose cost
//! is the wrapper alone: the call, the panic guard and the NULL check. The two copies of
//! the engine (this binary's and the library's) run the same code with the same kernel
//! set; the first outputs are compared bit for bit.

mod common;

use common::models;
use core::ffi::{c_char, c_void, CStr};
use recur::Model;
use std::ffi::CString;
use std::hint::black_box;
use std::time::Instant;

type Status = i32;
type FromBytes = unsafe extern "C" fn(*const u8, usize, *mut *mut c_void) -> Status;
type StateNew = unsafe extern "C" fn(*const c_void, *mut *mut c_void) -> Status;
type Step = unsafe extern "C" fn(*const c_void, *mut c_void, *const f32, usize, *mut f32, usize) -> Status;
type Size = unsafe extern "C" fn(*const c_void) -> usize;
type Free = unsafe extern "C" fn(*mut c_void);
type Isa = unsafe extern "C" fn(*const c_void) -> *const c_char;

/// The library's exports this example calls.
struct Lib {
    from_bytes: FromBytes,
    state_new: StateNew,
    step: Step,
    input_size: Size,
    isa: Isa,
    model_free: Free,
    state_free: Free,
}

/// Opens `path` with dlopen and looks up one symbol.
fn load(path: &str) -> Lib {
    let cpath = CString::new(path).expect("path");
    // SAFETY: a NUL-terminated path; loading librecur runs no initializer with preconditions.
    let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns NULL or a NUL-terminated string.
        let err = unsafe { libc::dlerror() };
        let msg = if err.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: non-null and NUL-terminated (dlerror's contract).
            unsafe { CStr::from_ptr(err) }.to_string_lossy()
        };
        eprintln!("cannot load {path}: {msg}\n(build it first: cargo build --release -p recur-capi)");
        std::process::exit(2);
    }
    let sym = |name: &CStr| -> *mut c_void {
        // SAFETY: a live handle and a NUL-terminated name.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        assert!(!p.is_null(), "{name:?} not exported");
        p
    };
    // SAFETY (all transmutes): each symbol is the `extern "C"` function of that name in
    // recur.h, whose signature the matching type spells with ABI-identical types (opaque
    // handles as `void *`, `recur_status` as a 32-bit int, `size_t` as usize).
    unsafe {
        Lib {
            from_bytes: std::mem::transmute::<*mut c_void, FromBytes>(sym(c"recur_model_from_bytes")),
            state_new: std::mem::transmute::<*mut c_void, StateNew>(sym(c"recur_state_new")),
            step: std::mem::transmute::<*mut c_void, Step>(sym(c"recur_step")),
            input_size: std::mem::transmute::<*mut c_void, Size>(sym(c"recur_model_input_size")),
            isa: std::mem::transmute::<*mut c_void, Isa>(sym(c"recur_model_isa")),
            model_free: std::mem::transmute::<*mut c_void, Free>(sym(c"recur_model_free")),
            state_free: std::mem::transmute::<*mut c_void, Free>(sym(c"recur_state_free")),
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut lib_path = None;
    let (mut rounds, mut calls) = (201usize, 2000usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--calls" => calls = args.next().and_then(|v| v.parse().ok()).expect("--calls K"),
            _ => lib_path = Some(a),
        }
    }
    // target/release/examples/overhead -> target/release/librecur.so
    let lib_path = lib_path.unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("current_exe");
        exe.parent().and_then(|p| p.parent()).expect("target dir").join("librecur.so").to_string_lossy().into_owned()
    });
    let lib = load(&lib_path);

    println!("rounds: {rounds} per model, interleaved; ns per call, medians over the rounds");
    println!("{:<44} {:>10} {:>10} {:>12}", "model", "Rust", "C ABI", "difference");
    let w1 = "GRU in=40 H=128 + dense 128->12 (W1)";
    let tiny = "GRU in=4 H=16 + dense 16->2";
    for (name, desc, calls) in [(w1, models::gru_w1(), calls), (tiny, models::tiny(), calls * 20)] {
        let (r, c, d, isa) = measure(&lib, desc, rounds, calls);
        println!("{:<44} {r:>10.1} {c:>10.1} {d:>+12.1}   ({isa})", name);
    }

    // The wrapper alone: the cheapest export against the inlined accessor.
    let bytes = models::file_bytes(models::tiny(), 2);
    let model = Model::from_bytes(&bytes).expect("model");
    let mut cm: *mut c_void = core::ptr::null_mut();
    // SAFETY: valid bytes and out pointer; the model is freed below.
    assert_eq!(unsafe { (lib.from_bytes)(bytes.as_ptr(), bytes.len(), &mut cm) }, 0);
    let (mut wc, mut wr) = (Vec::new(), Vec::new());
    let calls = calls * 20;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls {
            // SAFETY: a live model.
            black_box(unsafe { (lib.input_size)(black_box(cm)) });
        }
        wc.push(t.elapsed().as_nanos() as f64 / calls as f64);
        let t = Instant::now();
        for _ in 0..calls {
            black_box(black_box(&model).input_size());
        }
        wr.push(t.elapsed().as_nanos() as f64 / calls as f64);
    }
    println!(
        "wrapper alone: recur_model_input_size {:.1} ns/call vs Model::input_size {:.1} ns/call",
        median(&mut wc),
        median(&mut wr)
    );
    // SAFETY: a live handle, freed once.
    unsafe { (lib.model_free)(cm) };
}

/// Times `Model::step` and `recur_step` on the same model, interleaved: the medians of
/// ns per call of each, the median of the per-round differences, and the kernel set.
fn measure(lib: &Lib, desc: recur_format::ModelDesc, rounds: usize, calls: usize) -> (f64, f64, f64, String) {
    let bytes = models::file_bytes(desc, 2);
    let model = Model::from_bytes(&bytes).expect("model");
    let mut state = model.new_state();
    let (i, o) = (model.input_size(), model.output_size());

    let mut cm: *mut c_void = core::ptr::null_mut();
    let mut cs: *mut c_void = core::ptr::null_mut();
    // SAFETY: valid bytes and out pointers; the handles are freed at the end.
    unsafe {
        assert_eq!((lib.from_bytes)(bytes.as_ptr(), bytes.len(), &mut cm), 0);
        assert_eq!((lib.state_new)(cm, &mut cs), 0);
    }
    // SAFETY: a live model; the result is a static string.
    let c_isa = unsafe { CStr::from_ptr((lib.isa)(cm)) }.to_string_lossy().into_owned();
    assert_eq!(c_isa, model.isa().name(), "both copies of the engine must run the same kernel set");

    let x: Vec<f32> = (0..i).map(|k| ((k * 7 % 13) as f32 - 6.0) / 6.0).collect();
    let (mut y_rust, mut y_c) = (vec![0.0f32; o], vec![0.0f32; o]);
    model.step(&mut state, &x, &mut y_rust).expect("step");
    // SAFETY: live handles; x and y hold input_size and output_size floats.
    assert_eq!(unsafe { (lib.step)(cm, cs, x.as_ptr(), i, y_c.as_mut_ptr(), o) }, 0);
    assert!(y_rust.iter().zip(&y_c).all(|(a, b)| a.to_bits() == b.to_bits()), "the two paths differ");

    let time_rust = |state: &mut recur::State, y: &mut [f32]| {
        let t = Instant::now();
        for _ in 0..calls {
            model.step(state, black_box(&x), y).expect("step");
        }
        t.elapsed().as_nanos() as f64 / calls as f64
    };
    let time_c = |y: &mut [f32]| {
        let t = Instant::now();
        for _ in 0..calls {
            // SAFETY: as above.
            let s = unsafe { (lib.step)(cm, cs, black_box(x.as_ptr()), i, y.as_mut_ptr(), o) };
            black_box(s);
        }
        t.elapsed().as_nanos() as f64 / calls as f64
    };
    // warm-up
    time_rust(&mut state, &mut y_rust);
    time_c(&mut y_c);

    let (mut r, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (tr, tc) = if round % 2 == 0 {
            let tr = time_rust(&mut state, &mut y_rust);
            (tr, time_c(&mut y_c))
        } else {
            let tc = time_c(&mut y_c);
            (time_rust(&mut state, &mut y_rust), tc)
        };
        r.push(tr);
        c.push(tc);
        d.push(tc - tr);
    }
    // SAFETY: live handles, freed once.
    unsafe {
        (lib.state_free)(cs);
        (lib.model_free)(cm);
    }
    (median(&mut r), median(&mut c), median(&mut d), c_isa)
}
