//! Quick side-by-side of the weight dtypes on one workload, interleaved rounds, medians.
//! Usage: `cargo run --release -p recur-benches --example dtypes -- W2 [streams] [rounds]`
use recur::Model;
use recur_benches::{weights, workloads};
use recur_format::{DType, PackedModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let id = args.get(1).map(String::as_str).unwrap_or("W2");
    let streams: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(15);
    let w = workloads().into_iter().find(|w| w.id == id).expect("unknown workload");
    let f32m = PackedModel::pack(w.desc.clone(), &weights(&w.desc, 42)).unwrap();
    let n = w.desc.layers.len();
    let dts = [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8];
    let models: Vec<Model> =
        dts.iter().map(|&d| Model::from_packed(&f32m.to_dtypes(&vec![d; n]).unwrap()).unwrap()).collect();
    let mut times = vec![Vec::new(); dts.len()];
    for _ in 0..rounds {
        for (k, m) in models.iter().enumerate() {
            let mut sts: Vec<_> = (0..streams).map(|_| m.new_state()).collect();
            let xs: Vec<f32> =
                (0..streams * w.frames * m.input_size()).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
            let mut ys = vec![0.0f32; streams * w.frames * m.output_size()];
            let iters = 30;
            let t = std::time::Instant::now();
            for _ in 0..iters {
                if streams > 1 {
                    let mut refs: Vec<&mut recur::State> = sts.iter_mut().collect();
                    m.step_many_with(&mut refs, &xs, &mut ys, Some(1)).unwrap();
                } else if w.frames == 1 {
                    m.step_with(&mut sts[0], &xs, &mut ys, Some(1)).unwrap();
                } else {
                    m.run(&mut sts[0], &xs, &mut ys).unwrap();
                }
            }
            times[k].push(t.elapsed().as_secs_f64() * 1e6 / iters as f64 / streams as f64);
        }
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let base = med(&mut times[0].clone());
    for (k, d) in dts.iter().enumerate() {
        let m = med(&mut times[k]);
        println!(
            "{id} x{streams} {:>10} on {}: {m:9.2} us per stream-step, {:.2}x vs f32",
            d.name(),
            models[k].isa(),
            base / m
        );
    }
}
