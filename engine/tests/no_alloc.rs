//! `step` allocates nothing: a counting global allocator watches every kernel set stepping
//! every cell kind (LSTM with peepholes, both GRU variants, RNN, dense with softmax).

use recur::{Isa, Model};
use recur_format::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    /// Set on the threads whose allocations count (the test thread and the pool's
    /// workers), so that the test harness's own threads cannot make the test flaky.
    static WATCHED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn note() {
    if WATCHED.try_with(|w| w.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn step_allocates_nothing() {
    WATCHED.with(|w| w.set(true));
    let mut lstm = RecurrentDesc::new(CellKind::Lstm, 13, 37);
    lstm.peepholes = true;
    let mut gru1 = RecurrentDesc::new(CellKind::Gru, 37, 20);
    gru1.linear_before_reset = true;
    let gru0 = RecurrentDesc::new(CellKind::Gru, 20, 33);
    let rnn = RecurrentDesc::new(CellKind::Rnn, 33, 17);
    let desc = ModelDesc {
        layers: vec![
            LayerDesc::Recurrent(lstm),
            LayerDesc::Recurrent(gru1),
            LayerDesc::Recurrent(gru0),
            LayerDesc::Recurrent(rnn),
            LayerDesc::Dense(DenseDesc {
                input_size: 17,
                output_size: 9,
                activation: DenseAct::Softmax,
                dtype: DType::F32,
            }),
        ],
    };
    let weights: Vec<LayerWeights> = desc
        .layers
        .iter()
        .map(|l| match l {
            LayerDesc::Recurrent(r) => {
                let (g, h, i) = (r.cell.gates(), r.hidden_size, r.input_size);
                LayerWeights::Recurrent {
                    w: (0..g * h * i).map(|k| ((k % 7) as f32 - 3.0) * 0.05).collect(),
                    r: (0..g * h * h).map(|k| ((k % 5) as f32 - 2.0) * 0.05).collect(),
                    b: None,
                    p: r.peepholes.then(|| vec![0.1; 3 * h]),
                }
            }
            LayerDesc::Dense(d) => LayerWeights::Dense { w: vec![0.1; d.input_size * d.output_size], b: None },
        })
        .collect();
    let f32_packed = PackedModel::pack(desc, &weights).unwrap();
    let n_layers = f32_packed.desc.layers.len();
    let models: Vec<PackedModel> = [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8]
        .iter()
        .map(|&d| f32_packed.to_dtypes(&vec![d; n_layers]).unwrap())
        .collect();
    // One pool for the whole test: a pool dropped mid-test has workers whose thread-local
    // destructors (crossbeam's epoch handles) allocate as they exit, during later windows.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.broadcast(|_| WATCHED.with(|w| w.set(true)));
    for (set, packed) in Isa::available().flat_map(|i| models.iter().map(move |p| (i, p))) {
        let isa = format!("{set} {}", packed.desc.layers[0].dtype().name());
        let m = Model::from_packed_with_isa(packed, set).unwrap();
        let mut st = m.new_state();
        let x = vec![0.3f32; m.input_size()];
        let mut y = vec![0.0f32; m.output_size()];
        m.step(&mut st, &x, &mut y).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..100 {
            m.step(&mut st, &x, &mut y).unwrap();
        }
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(after - before, 0, "{isa}: step allocated {} times in 100 steps", after - before);
        // step_many: nothing after the first call with a given stream count, single-threaded
        // and on a rayon pool.
        let mut states: Vec<_> = (0..24).map(|_| m.new_state()).collect();
        let xs = vec![0.2f32; 24 * m.input_size()];
        let mut ys = vec![0.0f32; 24 * m.output_size()];
        let mut refs: Vec<&mut recur::State> = states.iter_mut().collect();
        // Single-threaded: no rayon at all.
        m.step_many_with(&mut refs, &xs, &mut ys, Some(1)).unwrap();
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..20 {
            m.step_many_with(&mut refs, &xs, &mut ys, Some(1)).unwrap();
        }
        let after = ALLOCS.load(Ordering::Relaxed);
        assert_eq!(after - before, 0, "{isa}: step_many (1 thread) allocated {} times", after - before);
        // On a pool: the loop runs inside one `install` (injecting a job into a pool from
        // outside is rayon's allocation, not step_many's).
        let counted = pool.install(|| {
            m.step_many(&mut refs, &xs, &mut ys).unwrap();
            let before = ALLOCS.load(Ordering::Relaxed);
            for _ in 0..20 {
                m.step_many(&mut refs, &xs, &mut ys).unwrap();
            }
            ALLOCS.load(Ordering::Relaxed) - before
        });
        assert_eq!(counted, 0, "{isa}: step_many on a 2-thread pool allocated {counted} times");
    }
}
