//! Sanity check of the importer's mapping: evaluates each imported conformance model with a
//! plain float64 reading of the description (ONNX formulas, test-only) on the case's
//! inputs, laid out as the [`GraphInterface`] says, and compares with onnxruntime's outputs.
//! This is not the engine; it checks that the description, the weights and the interface
//! together mean what the ONNX graph meant.
#![cfg(feature = "onnx")]

use recur_format::onnx::{import_file, ImportOptions};
use recur_format::*;
use std::path::{Path, PathBuf};

fn conformance_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("RECUR_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: conformance folder {} not found; skipping", dir.display());
        None
    }
}

/// A `.npy` array as f64 (float32, int32 and int64 little-endian, C order).
struct Npy {
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn read_npy(path: &Path) -> Npy {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (hlen, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(header.contains("'fortran_order': False"), "{header}");
    let descr = header.split("'descr':").nth(1).unwrap().split('\'').nth(1).unwrap().to_string();
    let shape_s = header.split("'shape':").nth(1).unwrap();
    let shape_s = &shape_s[shape_s.find('(').unwrap() + 1..shape_s.find(')').unwrap()];
    let shape: Vec<usize> = shape_s.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    let raw = &b[start + hlen..];
    let data: Vec<f64> = match descr.as_str() {
        "<f4" => raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<i4" => raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        "<i8" => raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        d => panic!("dtype {d}"),
    };
    assert_eq!(data.len(), shape.iter().product::<usize>());
    Npy { shape, data }
}

fn act(a: &Activation, x: f64) -> f64 {
    let (al, be) = (a.alpha as f64, a.beta as f64);
    match a.kind {
        ActKind::Relu => x.max(0.0),
        ActKind::Tanh => x.tanh(),
        ActKind::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        ActKind::Affine => al * x + be,
        ActKind::LeakyRelu => {
            if x >= 0.0 {
                x
            } else {
                al * x
            }
        }
        ActKind::ThresholdedRelu => {
            if x > al {
                x
            } else {
                0.0
            }
        }
        ActKind::ScaledTanh => al * (be * x).tanh(),
        ActKind::HardSigmoid => (al * x + be).clamp(0.0, 1.0),
        ActKind::Elu => {
            if x >= 0.0 {
                x
            } else {
                al * (x.exp() - 1.0)
            }
        }
        ActKind::Softsign => x / (1.0 + x.abs()),
        ActKind::Softplus => (1.0 + x.exp()).ln(),
    }
}

/// `[b][t][f]` frames.
type Seq = Vec<Vec<Vec<f64>>>;
/// state[layer][dir][b] = vector.
type States = Vec<Vec<Vec<Vec<f64>>>>;

struct Run {
    /// Per-frame output: of the last layer, or of the last recurrent layer with a head on
    /// the final state.
    y: Seq,
    h: States,
    c: States,
    /// The head on the final state, per sequence.
    head: Vec<Vec<f64>>,
}

fn matvec(w: &[f32], rows: std::ops::Range<usize>, k: usize, x: &[f64]) -> Vec<f64> {
    rows.map(|r| w[r * k..(r + 1) * k].iter().zip(x).map(|(a, b)| *a as f64 * b).sum()).collect()
}

/// Runs the description in f64. With `final_head`, the dense layers after the last
/// recurrent layer run once per sequence on its final `h` (directions concatenated).
fn run_model(m: &PackedModel, x: &Seq, lens: &[usize], h0: &States, c0: &States, final_head: bool) -> Run {
    let weights = m.unpack();
    let nb = x.len();
    let t_len = x.first().map_or(0, |s| s.len());
    let mut cur = x.clone();
    let mut hs: States = vec![];
    let mut cs: States = vec![];
    let last_rec = m.desc.layers.iter().rposition(|l| matches!(l, LayerDesc::Recurrent(_))).unwrap();
    let mut frames: Option<Seq> = None;
    for (li, (layer, w)) in m.desc.layers.iter().zip(&weights).enumerate() {
        if final_head && li == last_rec + 1 {
            // From here on, one "frame" per sequence: the final h.
            frames = Some(cur.clone());
            cur = (0..nb).map(|bi| vec![hs[last_rec].iter().flat_map(|d| d[bi].clone()).collect()]).collect();
        }
        match (layer, w) {
            (LayerDesc::Recurrent(r), LayerWeights::Recurrent { w, r: rw, b, p }) => {
                let (h, i, g) = (r.hidden_size, r.input_size, r.cell.gates());
                let dirs = r.direction.count();
                let mut out = vec![vec![vec![0.0; h * dirs]; t_len]; nb];
                let mut lh = vec![vec![vec![0.0; h]; nb]; dirs];
                let mut lc = vec![vec![vec![0.0; h]; nb]; dirs];
                for d in 0..dirs {
                    let wd = &w[d * g * h * i..(d + 1) * g * h * i];
                    let rd = &rw[d * g * h * h..(d + 1) * g * h * h];
                    let zero = vec![0.0f32; 2 * g * h];
                    let bd = b.as_ref().map_or(&zero[..], |b| &b[d * 2 * g * h..(d + 1) * 2 * g * h]);
                    let pd: Vec<f64> = p.as_ref().map_or(vec![0.0; 3 * h], |p| {
                        p[d * 3 * h..(d + 1) * 3 * h].iter().map(|&v| v as f64).collect()
                    });
                    let fa = &r.activations[d];
                    let clip = |v: f64| r.clip.map_or(v, |c| v.clamp(-(c as f64), c as f64));
                    for bi in 0..nb {
                        let mut hv =
                            h0.get(li).and_then(|s| s.get(d)).and_then(|s| s.get(bi)).cloned().unwrap_or(vec![0.0; h]);
                        let mut cv =
                            c0.get(li).and_then(|s| s.get(d)).and_then(|s| s.get(bi)).cloned().unwrap_or(vec![0.0; h]);
                        let len = lens[bi];
                        let steps: Vec<usize> =
                            if r.direction.is_reverse(d) { (0..len).rev().collect() } else { (0..len).collect() };
                        for t in steps {
                            let xt = &cur[bi][t];
                            let wx = matvec(wd, 0..g * h, i, xt);
                            let rh = matvec(rd, 0..g * h, h, &hv);
                            let wb = |k: usize| bd[k] as f64;
                            let rb = |k: usize| bd[g * h + k] as f64;
                            match r.cell {
                                CellKind::Rnn => {
                                    hv = (0..h).map(|u| act(&fa[0], clip(wx[u] + rh[u] + wb(u) + rb(u)))).collect();
                                }
                                CellKind::Gru => {
                                    let z: Vec<f64> =
                                        (0..h).map(|u| act(&fa[0], clip(wx[u] + wb(u) + rh[u] + rb(u)))).collect();
                                    let rr: Vec<f64> = (0..h)
                                        .map(|u| act(&fa[0], clip(wx[h + u] + wb(h + u) + rh[h + u] + rb(h + u))))
                                        .collect();
                                    let hh: Vec<f64> = if r.linear_before_reset {
                                        (0..h)
                                            .map(|u| {
                                                wx[2 * h + u] + wb(2 * h + u) + rr[u] * (rh[2 * h + u] + rb(2 * h + u))
                                            })
                                            .collect()
                                    } else {
                                        let rhv: Vec<f64> = hv.iter().zip(&rr).map(|(a, b)| a * b).collect();
                                        let rh2 = matvec(rd, 2 * h..3 * h, h, &rhv);
                                        (0..h).map(|u| wx[2 * h + u] + wb(2 * h + u) + rh2[u] + rb(2 * h + u)).collect()
                                    };
                                    hv = (0..h)
                                        .map(|u| {
                                            let n = act(&fa[1], clip(hh[u]));
                                            (1.0 - z[u]) * n + z[u] * hv[u]
                                        })
                                        .collect();
                                }
                                CellKind::Lstm => {
                                    let gsum = |k: usize| wx[k] + rh[k] + wb(k) + rb(k);
                                    let mut nh = vec![0.0; h];
                                    for u in 0..h {
                                        let ig = act(&fa[0], clip(gsum(u) + pd[u] * cv[u]));
                                        let fg = if r.input_forget {
                                            1.0 - ig
                                        } else {
                                            act(&fa[0], clip(gsum(2 * h + u) + pd[2 * h + u] * cv[u]))
                                        };
                                        let cc = act(&fa[1], clip(gsum(3 * h + u)));
                                        cv[u] = fg * cv[u] + ig * cc;
                                        let og = act(&fa[0], clip(gsum(h + u) + pd[h + u] * cv[u]));
                                        nh[u] = og * act(&fa[2], cv[u]);
                                    }
                                    hv = nh;
                                }
                            }
                            out[bi][t][d * h..(d + 1) * h].copy_from_slice(&hv);
                        }
                        // onnxruntime: a zero-length sequence's final state is zero.
                        if len == 0 {
                            hv.fill(0.0);
                            cv.fill(0.0);
                        }
                        lh[d][bi] = hv;
                        lc[d][bi] = cv;
                    }
                }
                cur = out;
                hs.push(lh);
                cs.push(lc);
            }
            (LayerDesc::Dense(dd), LayerWeights::Dense { w, b }) => {
                for seq in cur.iter_mut() {
                    for frame in seq.iter_mut() {
                        let mut y = matvec(w, 0..dd.output_size, dd.input_size, frame);
                        if let Some(b) = b {
                            y.iter_mut().zip(b).for_each(|(v, b)| *v += *b as f64);
                        }
                        match dd.activation {
                            DenseAct::None => {}
                            DenseAct::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
                            DenseAct::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
                            DenseAct::Sigmoid => y.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                            DenseAct::Softmax | DenseAct::LogSoftmax => {
                                let mx = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                                let s: f64 = y.iter().map(|v| (v - mx).exp()).sum();
                                for v in y.iter_mut() {
                                    *v = if dd.activation == DenseAct::Softmax {
                                        (*v - mx).exp() / s
                                    } else {
                                        *v - mx - s.ln()
                                    };
                                }
                            }
                        }
                        *frame = y;
                    }
                }
                hs.push(vec![]);
                cs.push(vec![]);
            }
            _ => unreachable!(),
        }
    }
    match frames {
        Some(y) => Run { y, h: hs, c: cs, head: cur.into_iter().map(|mut s| s.remove(0)).collect() },
        None if final_head => {
            let head = (0..nb).map(|bi| hs[last_rec].iter().flat_map(|d| d[bi].clone()).collect()).collect();
            Run { y: cur, h: hs, c: cs, head }
        }
        None => Run { y: cur, h: hs, c: cs, head: vec![] },
    }
}

/// Index helpers for the layouts.
fn seq_in(a: &Npy, layout: SeqLayout) -> Seq {
    let s = &a.shape;
    let (t, b, f) = match layout {
        SeqLayout::TimeBatchFeature => (s[0], s[1], s[2]),
        SeqLayout::BatchTimeFeature => (s[1], s[0], s[2]),
        SeqLayout::TimeFeature => (s[0], 1, s[1]),
        l => panic!("input layout {l:?}"),
    };
    (0..b)
        .map(|bi| {
            (0..t)
                .map(|ti| {
                    (0..f)
                        .map(|fi| {
                            a.data[match layout {
                                SeqLayout::TimeBatchFeature => (ti * b + bi) * f + fi,
                                SeqLayout::BatchTimeFeature => (bi * t + ti) * f + fi,
                                _ => ti * f + fi,
                            }]
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn state_index(layout: StateLayout, shape: &[usize], s: usize, b: usize, u: usize) -> usize {
    match layout {
        StateLayout::SlotBatchHidden => (s * shape[1] + b) * shape[2] + u,
        StateLayout::BatchSlotHidden => (b * shape[1] + s) * shape[2] + u,
        StateLayout::BatchHidden => b * shape[1] + u,
    }
}

fn compare(name: &str, got: &[f64], want: &Npy, abs: f64, rel: f64) -> Result<(), String> {
    if got.len() != want.data.len() {
        return Err(format!("{name}: {} values, expected {}", got.len(), want.data.len()));
    }
    let mut worst = 0.0f64;
    for (g, w) in got.iter().zip(&want.data) {
        let excess = (g - w).abs() - (abs + rel * w.abs());
        worst = worst.max(excess);
        if excess > 0.0 {
            return Err(format!("{name}: {g} vs {w}"));
        }
    }
    Ok(())
}

fn check_set(imp: &recur_format::onnx::Imported, dir: &Path, abs: f64, rel: f64) -> Result<(), String> {
    let m = &imp.model;
    let nl = m.desc.layers.len();
    let mut x = None;
    let mut lens = None;
    let mut h0: States = vec![vec![]; nl];
    let mut c0: States = vec![vec![]; nl];
    for b in &imp.interface.inputs {
        let a = read_npy(&dir.join(format!("input_{}.npy", b.name)));
        match &b.role {
            IoRole::Sequence(l) => x = Some(seq_in(&a, *l)),
            IoRole::SequenceLens => lens = Some(a.data.iter().map(|&v| v as usize).collect::<Vec<_>>()),
            IoRole::InitialState { kind, slots, layout } => {
                let nb = if *layout == StateLayout::BatchSlotHidden || *layout == StateLayout::BatchHidden {
                    a.shape[0]
                } else {
                    a.shape[1]
                };
                let hsz = *a.shape.last().unwrap();
                for (si, sl) in slots.iter().enumerate() {
                    let target = if *kind == StateKind::H { &mut h0 } else { &mut c0 };
                    let per = &mut target[sl.layer as usize];
                    while per.len() <= sl.dir as usize {
                        per.push(vec![]);
                    }
                    per[sl.dir as usize] = (0..nb)
                        .map(|bi| (0..hsz).map(|u| a.data[state_index(*layout, &a.shape, si, bi, u)]).collect())
                        .collect();
                }
            }
            r => return Err(format!("input role {r:?}")),
        }
    }
    for c in &imp.interface.constants {
        match (&c.role, &c.values) {
            (IoRole::SequenceLens, ConstValues::Lengths(v)) => lens = Some(v.iter().map(|&l| l as usize).collect()),
            (IoRole::InitialState { kind, slots, layout }, ConstValues::F32(v)) => {
                let shape: Vec<usize> = c.shape.iter().map(|&d| d as usize).collect();
                let nb = c.batch().unwrap() as usize;
                let hsz = *shape.last().unwrap();
                for (si, sl) in slots.iter().enumerate() {
                    let target = if *kind == StateKind::H { &mut h0 } else { &mut c0 };
                    let per = &mut target[sl.layer as usize];
                    while per.len() <= sl.dir as usize {
                        per.push(vec![]);
                    }
                    per[sl.dir as usize] = (0..nb)
                        .map(|bi| (0..hsz).map(|u| v[state_index(*layout, &shape, si, bi, u)] as f64).collect())
                        .collect();
                }
            }
            r => return Err(format!("constant {r:?}")),
        }
    }
    let x = x.ok_or("no sequence input")?;
    let t = x[0].len();
    let lens = lens.unwrap_or(vec![t; x.len()]);
    let run = run_model(m, &x, &lens, &h0, &c0, imp.interface.head_on_final_state());
    let nb = x.len();
    for b in &imp.interface.outputs {
        let want = read_npy(&dir.join(format!("output_{}.npy", b.name)));
        let got: Vec<f64> = match &b.role {
            IoRole::Output(l) => {
                let f = run.y[0][0].len();
                let mut v = vec![];
                match l {
                    SeqLayout::TimeBatchFeature | SeqLayout::TimeBatchFlat => {
                        (0..t).for_each(|ti| (0..nb).for_each(|bi| v.extend(&run.y[bi][ti])))
                    }
                    SeqLayout::BatchTimeFeature | SeqLayout::BatchTimeFlat => {
                        (0..nb).for_each(|bi| (0..t).for_each(|ti| v.extend(&run.y[bi][ti])))
                    }
                    SeqLayout::TimeFeature => (0..t).for_each(|ti| v.extend(&run.y[0][ti])),
                    SeqLayout::OnnxY | SeqLayout::OnnxYBatchFirst => {
                        let frame_layer = if imp.interface.head_on_final_state() {
                            m.desc.layers.iter().rev().find(|l| matches!(l, LayerDesc::Recurrent(_)))
                        } else {
                            m.desc.layers.last()
                        };
                        let Some(LayerDesc::Recurrent(r)) = frame_layer else {
                            return Err("OnnxY after dense".into());
                        };
                        let (dirs, h) = (r.direction.count(), r.hidden_size);
                        assert_eq!(dirs * h, f);
                        if *l == SeqLayout::OnnxY {
                            for ti in 0..t {
                                for d in 0..dirs {
                                    for bi in 0..nb {
                                        v.extend(&run.y[bi][ti][d * h..(d + 1) * h]);
                                    }
                                }
                            }
                        } else {
                            for bi in 0..nb {
                                for ti in 0..t {
                                    v.extend(&run.y[bi][ti]);
                                }
                            }
                        }
                    }
                }
                v
            }
            IoRole::FinalState { kind, slots, layout } => {
                let src = if *kind == StateKind::H { &run.h } else { &run.c };
                let hsz = *want.shape.last().unwrap();
                let mut v = vec![0.0; want.data.len()];
                for (si, sl) in slots.iter().enumerate() {
                    for bi in 0..nb {
                        for u in 0..hsz {
                            v[state_index(*layout, &want.shape, si, bi, u)] =
                                src[sl.layer as usize][sl.dir as usize][bi][u];
                        }
                    }
                }
                v
            }
            IoRole::FinalOutput(FinalLayout::BatchFeature) => run.head.concat(),
            IoRole::FinalOutput(FinalLayout::Feature) => run.head[0].clone(),
            r => return Err(format!("output role {r:?}")),
        };
        compare(&b.name, &got, &want, abs, rel)?;
    }
    Ok(())
}

#[test]
fn imported_models_reproduce_onnxruntime() {
    // The shared suite when it is here, and the project's own fixtures.
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/onnx");
    let mut cases: Vec<PathBuf> = vec![];
    for dir in conformance_dir().into_iter().chain([fixtures]) {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("model.onnx").is_file())
            .collect();
        found.sort();
        cases.extend(found);
    }
    let mut failures = vec![];
    let mut sets = 0;
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let imp = match import_file(&case.join("model.onnx"), &ImportOptions::default()) {
            Ok(i) => i,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        // f64 against onnxruntime's f32: a little looser than the cases' own tolerance.
        let mut dirs = vec![case.clone()];
        for e in std::fs::read_dir(case).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            }
        }
        for d in dirs {
            sets += 1;
            if let Err(m) = check_set(&imp, &d, 1e-4, 1e-3) {
                failures.push(format!("{name} ({}): {m}", d.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    println!("{sets} input sets checked");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
