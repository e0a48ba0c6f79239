//! Loading a `.recur` file that the reader accepted, and using it.
//!
//! A file that parses is a model the engine must be able to run, so this half loads it
//! (checksums skipped, as in the reader half) and runs a few frames, checking the engine's
//! own promises on the way:
//!
//! * building succeeds for every f32 file (other dtypes may be refused with
//!   `Error::Tensor` by a build without those kernels), and sizes are those of the
//!   description, within the format's limits;
//! * a streamable model steps frame by frame, and `run` over the same frames gives the
//!   same bits (`Model::run` docs); a model with a reverse or bidirectional layer refuses
//!   `step` with `NotStreamable` and runs whole sequences;
//! * a saved and restored state continues exactly like the original;
//! * the scalar kernel set gives the same bits as the selected one (the numerics contract
//!   of the crate docs), on files whose weights are all finite. Weights straight from
//!   random bytes are full of NaN and infinity bit patterns, and NaN propagation through
//!   `min`/`max` is not part of that contract.

use recur::recur_format::limits::MAX_DIM;
use recur::recur_format::{DType, LayerDesc, ModelDesc, ParseOptions};
use recur::{Error, Isa, Model, OpenOptions, State};

/// Frames fed to every model: enough for the recurrence to feed back twice.
const FRAMES: usize = 3;

/// The whole `recur_file` target: read `data` both ways (`file::parse`), then load and
/// run it when it parses.
pub fn recur_file(data: &[u8]) {
    if let Some(parsed) = super::file::parse(data) {
        load_and_run(data, parsed.desc());
    }
}

/// Loads `bytes` (a file the reader accepted, whose description is `desc`) and runs it.
pub fn load_and_run(bytes: &[u8], desc: &ModelDesc) {
    let opts = OpenOptions { verify_checksums: false, ..OpenOptions::default() };
    let model = match Model::from_bytes_with(bytes, &opts) {
        Ok(m) => m,
        Err(Error::Tensor { .. }) if !all_f32(desc) => return,
        Err(e) => panic!("the engine refuses a file the reader accepted: {e}"),
    };
    assert!(super::file::same_desc(model.desc(), desc), "the engine decoded another description");
    let (i, o) = (model.input_size(), model.output_size());
    assert!((1..=MAX_DIM).contains(&i), "input size {i} outside 1..={MAX_DIM}");
    assert!((1..=2 * MAX_DIM).contains(&o), "output size {o} outside 1..={}", 2 * MAX_DIM);
    assert_eq!(model.weight_bytes(), bytes.len(), "the weights are not the file");
    assert_eq!(model.is_streamable(), desc.is_streamable());

    let xs = inputs(i);
    let ys = run_all(&model, &xs);
    if model.is_streamable() {
        check_saved_state(&model, &xs);
    }
    if model.isa() != Isa::Scalar && weights_finite(bytes, desc) {
        let scalar = model.with_isa(Isa::Scalar).expect("the scalar kernels are always available");
        let ys_scalar = run_all(&scalar, &xs);
        assert!(same_bits(&ys, &ys_scalar), "{:?} and scalar kernels disagree", model.isa());
    }
}

/// Runs [`FRAMES`] frames through a fresh state: by `step` when the model is streamable
/// (checked against `run`), by `run` otherwise. Returns every output frame.
fn run_all(model: &Model, xs: &[f32]) -> Vec<f32> {
    let (i, o) = (model.input_size(), model.output_size());
    let mut by_run = vec![0.0f32; FRAMES * o];
    model.run(&mut model.new_state(), xs, &mut by_run).expect("run");
    let mut state = model.new_state();
    let mut y = vec![0.0f32; o];
    if !model.is_streamable() {
        match model.step(&mut state, &xs[..i], &mut y) {
            Err(Error::NotStreamable { .. }) => {}
            other => panic!("step on a non-streamable model gave {other:?}"),
        }
        return by_run;
    }
    let mut by_step = Vec::with_capacity(FRAMES * o);
    for x in xs.chunks_exact(i) {
        model.step(&mut state, x, &mut y).expect("step");
        by_step.extend_from_slice(&y);
    }
    assert!(same_bits(&by_step, &by_run), "step and run disagree");
    by_step
}

/// Steps one frame, saves the state, restores it into a fresh one, and checks that both
/// states give the same next frames.
fn check_saved_state(model: &Model, xs: &[f32]) {
    let (i, o) = (model.input_size(), model.output_size());
    let mut a = model.new_state();
    let mut y = vec![0.0f32; o];
    model.step(&mut a, &xs[..i], &mut y).expect("step");
    let mut saved = vec![0u8; model.saved_state_size()];
    model.save_state(&a, &mut saved).expect("save_state");
    let mut b: State = model.new_state();
    model.load_state(&mut b, &saved).expect("load_state of a state just saved");
    let mut ya = vec![0.0f32; o];
    let mut yb = vec![0.0f32; o];
    for x in xs[i..].chunks_exact(i) {
        model.step(&mut a, x, &mut ya).expect("step");
        model.step(&mut b, x, &mut yb).expect("step");
        assert!(same_bits(&ya, &yb), "a restored state diverges from the saved one");
    }
}

/// [`FRAMES`] frames of `i` values spread over [-2, 2], different in every frame.
fn inputs(i: usize) -> Vec<f32> {
    (0..FRAMES * i).map(|k| ((k * 37 % 101) as f32 / 25.0) - 2.0).collect()
}

fn all_f32(desc: &ModelDesc) -> bool {
    desc.layers.iter().all(|l| match l {
        LayerDesc::Recurrent(r) => r.dtype == DType::F32,
        LayerDesc::Dense(d) => d.dtype == DType::F32,
    })
}

/// Whether `bytes` is an f32 file whose every tensor element is finite.
fn weights_finite(bytes: &[u8], desc: &ModelDesc) -> bool {
    let opts = ParseOptions { verify_checksums: false };
    let Ok(parsed) = recur::recur_format::parse(bytes, opts) else { return false };
    all_f32(desc)
        && parsed.tensors().iter().all(|t| {
            parsed.tensor_data(t).chunks_exact(4).all(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]).is_finite())
        })
}

/// Equal bits, with every NaN equal to every other (their payloads are not specified).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}
