//! Round trips through the `.recur` file: random valid models (every cell kind, option,
//! direction and dtype, dense layers) and random interfaces are written, parsed back, and
//! must come back identical, with every tensor at a 64-byte offset.

mod file_common;

use file_common::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use recur_format::file::{is_aligned, FILE_ALIGN};
use recur_format::*;

fn activation() -> impl Strategy<Value = Activation> {
    (0u8..11, -4.0f32..4.0, -4.0f32..4.0)
        .prop_map(|(k, a, b)| Activation::with_params(ActKind::from_code(k).unwrap(), a, b))
}

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![3 => Just(DType::F32), 2 => (1u8..5).prop_map(|c| DType::from_code(c).unwrap())]
}

/// A layer with input size 0: the chain is fixed up once the layers are known.
fn layer() -> impl Strategy<Value = LayerDesc> {
    let acts = [[activation(), activation(), activation()], [activation(), activation(), activation()]];
    let recurrent = (
        (0u8..3, 0u8..3, 1usize..=20, option::of(0.0f32..10.0)),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        acts,
        dtype(),
    )
        .prop_map(|((cell, dir, hidden, clip), (input_forget, peepholes, lbr), activations, dtype)| {
            let cell = CellKind::from_code(cell).unwrap();
            LayerDesc::Recurrent(RecurrentDesc {
                cell,
                input_size: 0,
                hidden_size: hidden,
                direction: Direction::from_code(dir).unwrap(),
                activations,
                clip,
                input_forget: input_forget && cell == CellKind::Lstm,
                peepholes: peepholes && cell == CellKind::Lstm,
                linear_before_reset: lbr && cell == CellKind::Gru,
                dtype,
            })
        });
    let dense = (1usize..=20, 0u8..6, dtype()).prop_map(|(output_size, act, dtype)| {
        LayerDesc::Dense(DenseDesc { input_size: 0, output_size, activation: DenseAct::from_code(act).unwrap(), dtype })
    });
    prop_oneof![3 => recurrent, 1 => dense]
}

/// A valid model: random logical weights packed (rounded, quantized) by `PackedModel::pack`
/// into each layer's dtype.
fn model() -> impl Strategy<Value = PackedModel> {
    (1usize..=12, vec(layer(), 1..=4), any::<u64>()).prop_map(|(input, mut layers, seed)| {
        let mut prev = input;
        for l in &mut layers {
            match l {
                LayerDesc::Recurrent(r) => r.input_size = prev,
                LayerDesc::Dense(d) => d.input_size = prev,
            }
            prev = l.output_size();
        }
        let desc = ModelDesc { layers };
        let mut rng = Rng(seed | 1);
        let weights: Vec<LayerWeights> = desc
            .layers
            .iter()
            .map(|l| match l {
                LayerDesc::Recurrent(r) => {
                    let (g, h, i, d) = (r.cell.gates(), r.hidden_size, r.input_size, r.direction.count());
                    let with_bias = rng.next().is_multiple_of(2);
                    LayerWeights::Recurrent {
                        w: rng.f32s(d * g * h * i),
                        r: rng.f32s(d * g * h * h),
                        b: with_bias.then(|| rng.f32s(d * 2 * g * h)),
                        p: r.peepholes.then(|| rng.f32s(d * 3 * h)),
                    }
                }
                LayerDesc::Dense(dn) => LayerWeights::Dense {
                    w: rng.f32s(dn.output_size * dn.input_size),
                    b: Some(rng.f32s(dn.output_size)),
                },
            })
            .collect();
        PackedModel::pack(desc, &weights).expect("valid model")
    })
}

/// A binding before it is fitted to a model: the selectors are reduced modulo what the model
/// offers.
#[derive(Clone, Debug)]
struct BindingPlan {
    name: String,
    role: u8,
    layout: u8,
    kind_c: bool,
    slots: Vec<usize>,
    dims: Vec<(bool, u64, String)>,
}

fn binding_plan() -> impl Strategy<Value = BindingPlan> {
    (
        "\\PC{0,12}",
        0u8..3,
        0u8..5,
        any::<bool>(),
        vec(any::<usize>(), 1..4),
        vec((any::<bool>(), any::<u64>(), "[a-z_]{0,6}|\\PC{0,4}"), 0..=4),
    )
        .prop_map(|(name, role, layout, kind_c, slots, dims)| BindingPlan {
            name,
            role,
            layout,
            kind_c,
            slots,
            dims,
        })
}

fn fit(plan: &BindingPlan, output: bool, desc: &ModelDesc) -> IoBinding {
    let mut all = vec![];
    let mut lstm = vec![];
    for (li, l) in desc.layers.iter().enumerate() {
        if let LayerDesc::Recurrent(r) = l {
            for d in 0..r.direction.count() {
                let s = StateSlot { layer: li as u16, dir: d as u8 };
                all.push(s);
                if r.cell == CellKind::Lstm {
                    lstm.push(s);
                }
            }
        }
    }
    let dims =
        plan.dims.iter().map(|(fixed, v, s)| if *fixed { Dim::Fixed(*v) } else { Dim::Symbolic(s.clone()) }).collect();
    let state = plan.role == 2 && !all.is_empty();
    let role = if state {
        let (kind, pool) = if plan.kind_c && !lstm.is_empty() { (StateKind::C, &lstm) } else { (StateKind::H, &all) };
        let layout = StateLayout::from_code(plan.layout % 3).unwrap();
        let n = if layout == StateLayout::BatchHidden { 1 } else { plan.slots.len() };
        let slots = plan.slots[..n].iter().map(|i| pool[i % pool.len()]).collect();
        if output {
            IoRole::FinalState { kind, slots, layout }
        } else {
            IoRole::InitialState { kind, slots, layout }
        }
    } else {
        let seq = SeqLayout::from_code(plan.layout).unwrap();
        match (output, plan.role) {
            (true, 1) => IoRole::FinalOutput(FinalLayout::from_code(plan.layout % 2).unwrap()),
            (true, _) => IoRole::Output(seq),
            (false, 1) => IoRole::SequenceLens,
            // Inputs take the input layouts only.
            (false, _) => IoRole::Sequence(
                [SeqLayout::TimeBatchFeature, SeqLayout::BatchTimeFeature, SeqLayout::TimeFeature]
                    [plan.layout as usize % 3],
            ),
        }
    };
    IoBinding { name: plan.name.clone(), role, dims }
}

/// A constant before it is fitted: sequence lengths, or the initial state of some slots.
#[derive(Clone, Debug)]
struct ConstPlan {
    name: String,
    lens: bool,
    layout: u8,
    kind_c: bool,
    slots: Vec<usize>,
    seed: u64,
}

fn const_plan() -> impl Strategy<Value = ConstPlan> {
    ("\\PC{0,8}", any::<bool>(), 0u8..3, any::<bool>(), vec(any::<usize>(), 1..3), any::<u64>())
        .prop_map(|(name, lens, layout, kind_c, slots, seed)| ConstPlan { name, lens, layout, kind_c, slots, seed })
}

/// Fits a constant to the model with batch size `batch`: states take slots of one hidden
/// size (the first chosen slot's).
fn fit_const(plan: &ConstPlan, desc: &ModelDesc, batch: u64) -> Option<ConstInput> {
    let mut rng = Rng(plan.seed | 1);
    if plan.lens {
        return Some(ConstInput {
            name: plan.name.clone(),
            role: IoRole::SequenceLens,
            shape: vec![batch],
            values: ConstValues::Lengths((0..batch).map(|_| (rng.next() % 100) as u32).collect()),
        });
    }
    let mut pool = vec![];
    for (li, l) in desc.layers.iter().enumerate() {
        if let LayerDesc::Recurrent(r) = l {
            for d in 0..r.direction.count() {
                if !plan.kind_c || r.cell == CellKind::Lstm {
                    pool.push((StateSlot { layer: li as u16, dir: d as u8 }, r.hidden_size as u64));
                }
            }
        }
    }
    if pool.is_empty() {
        return None;
    }
    let h = pool[plan.slots[0] % pool.len()].1;
    let pool: Vec<StateSlot> = pool.iter().filter(|p| p.1 == h).map(|p| p.0).collect();
    let layout = StateLayout::from_code(plan.layout).unwrap();
    let n = if layout == StateLayout::BatchHidden { 1 } else { plan.slots.len() };
    let slots: Vec<StateSlot> = plan.slots[..n].iter().map(|i| pool[i % pool.len()]).collect();
    let s = slots.len() as u64;
    let shape = match layout {
        StateLayout::SlotBatchHidden => vec![s, batch, h],
        StateLayout::BatchSlotHidden => vec![batch, s, h],
        StateLayout::BatchHidden => vec![batch, h],
    };
    let count = shape.iter().product::<u64>() as usize;
    let kind = if plan.kind_c { StateKind::C } else { StateKind::H };
    Some(ConstInput {
        name: plan.name.clone(),
        role: IoRole::InitialState { kind, slots, layout },
        shape,
        values: ConstValues::F32(rng.f32s(count)),
    })
}

/// Drops what would give one quantity twice: a second sequence_lens, and initial states
/// of slots already bound (inputs first, then constants).
fn dedupe(iface: &mut GraphInterface) {
    let mut lens = false;
    let mut bound: Vec<(StateKind, StateSlot)> = vec![];
    let mut keep = |role: &IoRole| match role {
        IoRole::SequenceLens => !std::mem::replace(&mut lens, true),
        IoRole::InitialState { kind, slots, .. } => {
            let mut seen = slots.clone();
            seen.sort_by_key(|s| (s.layer, s.dir));
            seen.dedup();
            if seen.len() != slots.len() || slots.iter().any(|s| bound.contains(&(*kind, *s))) {
                return false;
            }
            bound.extend(slots.iter().map(|s| (*kind, *s)));
            true
        }
        _ => true,
    };
    iface.inputs.retain(|b| keep(&b.role));
    iface.constants.retain(|c| keep(&c.role));
}

fn model_and_interface() -> impl Strategy<Value = (PackedModel, GraphInterface)> {
    (model(), vec(binding_plan(), 0..5), vec(binding_plan(), 0..5), vec(const_plan(), 0..3), 1u64..4).prop_map(
        |(m, ins, outs, consts, batch)| {
            let mut iface = GraphInterface {
                inputs: ins.iter().map(|p| fit(p, false, &m.desc)).collect(),
                outputs: outs.iter().map(|p| fit(p, true, &m.desc)).collect(),
                constants: consts.iter().filter_map(|p| fit_const(p, &m.desc, batch)).collect(),
            };
            dedupe(&mut iface);
            (m, iface)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_is_identity((model, iface) in model_and_interface()) {
        let bytes = write_bytes(&model, &iface).unwrap();
        prop_assert_eq!(bytes.len() as u64 % FILE_ALIGN, 0);
        for verify_checksums in [true, false] {
            let file = parse(&bytes, ParseOptions { verify_checksums }).unwrap();
            prop_assert_eq!(file.desc(), &model.desc);
            prop_assert_eq!(file.interface(), &iface);
            prop_assert_eq!(file.tensors().len(), model.tensors.len());
            for (ft, pt) in file.tensors().iter().zip(&model.tensors) {
                prop_assert_eq!(ft.spec, pt.spec);
                prop_assert_eq!(ft.offset as u64 % FILE_ALIGN, 0, "tensor {:?} misaligned", ft.spec.id);
                prop_assert_eq!(file.tensor_data(ft), &pt.bytes[..]);
                // Zero-copy: the slice points into the input.
                prop_assert_eq!(file.tensor_data(ft).as_ptr(), bytes[ft.offset..].as_ptr());
                prop_assert_eq!(file.find(pt.spec.id).map(|(_, d)| d), Some(&pt.bytes[..]));
            }
            prop_assert_eq!(&file.to_packed_model(), &model);
        }
        // Deterministic, and a re-write of what was read gives the same bytes.
        prop_assert_eq!(&write_bytes(&model, &iface).unwrap(), &bytes);
        let file = parse(&bytes, ParseOptions::default()).unwrap();
        prop_assert_eq!(&write_bytes(&file.to_packed_model(), file.interface()).unwrap(), &bytes);
    }
}

/// Copies into a 64-byte aligned buffer, as the engine does with an unaligned input, and
/// checks that every tensor is then aligned in memory.
#[test]
fn tensors_are_aligned_in_memory_when_the_buffer_is() {
    let bytes = small_file();
    // A Vec of 64-byte blocks is 64-byte aligned.
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C, align(64))]
    struct Block([u8; 64]);
    let mut blocks = vec![Block([0; 64]); bytes.len() / 64];
    for (b, chunk) in blocks.iter_mut().zip(bytes.chunks(64)) {
        b.0.copy_from_slice(chunk);
    }
    let aligned: &[u8] = bytemuck::cast_slice(&blocks);
    assert!(is_aligned(aligned));
    let file = parse(aligned, ParseOptions::default()).unwrap();
    for t in file.tensors() {
        assert_eq!(file.tensor_data(t).as_ptr() as usize % 64, 0);
    }
    // An unaligned copy still parses: alignment is the caller's concern.
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let unaligned = &shifted[1..];
    assert!(!is_aligned(unaligned) || !is_aligned(&shifted));
    assert!(parse(unaligned, ParseOptions::default()).is_ok());
}

#[test]
fn small_file_round_trips() {
    let model = small_model();
    let iface = small_iface();
    let bytes = write_bytes(&model, &iface).unwrap();
    let file = parse(&bytes, ParseOptions::default()).unwrap();
    assert_eq!(file.version(), 1);
    assert_eq!(file.desc(), &model.desc);
    assert_eq!(file.interface(), &iface);
    assert_eq!(file.to_packed_model(), model);
    assert_eq!(file.file_checksum(), rd_u64(&bytes, hdr::CHECKSUM));
}

/// Every dtype, recurrent and dense layers alike, round-trips through the file: the tensors
/// come back byte for byte and unpack to the same (rounded or dequantized) weights.
#[test]
fn every_dtype_round_trips_through_the_file() {
    let mut l0 = RecurrentDesc::new(CellKind::Lstm, 6, 19);
    l0.direction = Direction::Bidirectional;
    l0.peepholes = true;
    let l1 = RecurrentDesc::new(CellKind::Gru, 38, 7);
    let l2 = RecurrentDesc::new(CellKind::Rnn, 7, 5);
    let l3 = DenseDesc { input_size: 5, output_size: 17, activation: DenseAct::Relu, dtype: DType::F32 };
    let l4 = DenseDesc { input_size: 17, output_size: 3, activation: DenseAct::Softmax, dtype: DType::F32 };
    let desc = ModelDesc {
        layers: vec![
            LayerDesc::Recurrent(l0),
            LayerDesc::Recurrent(l1),
            LayerDesc::Recurrent(l2),
            LayerDesc::Dense(l3),
            LayerDesc::Dense(l4),
        ],
    };
    let mut rng = Rng(99);
    let f32_model = PackedModel::pack(
        desc.clone(),
        &[
            LayerWeights::Recurrent {
                w: rng.f32s(2 * 4 * 19 * 6),
                r: rng.f32s(2 * 4 * 19 * 19),
                b: Some(rng.f32s(2 * 8 * 19)),
                p: Some(rng.f32s(2 * 3 * 19)),
            },
            LayerWeights::Recurrent { w: rng.f32s(3 * 7 * 38), r: rng.f32s(3 * 7 * 7), b: None, p: None },
            LayerWeights::Recurrent { w: rng.f32s(5 * 7), r: rng.f32s(5 * 5), b: Some(rng.f32s(10)), p: None },
            LayerWeights::Dense { w: rng.f32s(17 * 5), b: Some(rng.f32s(17)) },
            LayerWeights::Dense { w: rng.f32s(3 * 17), b: None },
        ],
    )
    .unwrap();
    let all = [DType::F32, DType::F16, DType::BF16, DType::I8, DType::I8A8];
    let mut plans: Vec<Vec<DType>> = all.iter().map(|&d| vec![d; 5]).collect();
    plans.push(vec![DType::I8A8, DType::F16, DType::I8, DType::BF16, DType::F32]);
    for dtypes in plans {
        let model = f32_model.to_dtypes(&dtypes).unwrap();
        let bytes = write_bytes(&model, &GraphInterface::default()).unwrap();
        let file = parse(&bytes, ParseOptions::default()).unwrap();
        let back = file.to_packed_model();
        assert_eq!(back, model, "{dtypes:?}");
        for (l, d) in back.desc.layers.iter().zip(&dtypes) {
            assert_eq!(l.dtype(), *d);
        }
        for t in file.tensors() {
            let weight = matches!(t.spec.id.kind, TensorKind::W | TensorKind::R);
            let d = dtypes[t.spec.id.layer as usize];
            assert_eq!(t.spec.dtype, if weight { d } else { DType::F32 }, "{:?}", t.spec.id);
            let layout = match (weight, d.is_int8()) {
                (false, _) => PackedLayout::Vector,
                (true, false) => PackedLayout::Panel16,
                (true, true) => PackedLayout::Panel16K4,
            };
            assert_eq!(t.spec.layout, layout, "{:?}", t.spec.id);
        }
        assert_eq!(back.unpack(), model.unpack());
        // Smaller files: f16/bf16 weights take half of f32's bytes, int8 about a quarter.
        let weight_bytes: usize = model.tensors.iter().map(|t| t.bytes.len()).sum();
        println!("{dtypes:?}: {} bytes, {weight_bytes} bytes of tensors", bytes.len());
    }
}

#[test]
fn write_file_replaces_atomically() {
    let dir = std::env::temp_dir().join(format!("recur-file-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.recur");
    std::fs::write(&path, b"old contents").unwrap();
    let model = small_model();
    write_file(&path, &model, &small_iface()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, small_file());
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.recur")]);
    // A model the writer refuses leaves the target untouched.
    let mut bad = model.clone();
    bad.tensors.pop();
    assert!(matches!(write_file(&path, &bad, &small_iface()), Err(FileError::TensorCount { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // The operating system's refusal is reported with the path.
    let missing = dir.join("no such dir").join("model.recur");
    let e = write_file(&missing, &model, &small_iface()).unwrap_err();
    assert!(matches!(&e, FileError::Io { path, .. } if path == &missing), "{e}");
    assert!(e.to_string().starts_with("i/o error on "), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writer_refuses_what_the_reader_would() {
    let model = small_model();
    let iface = small_iface();

    let mut m = model.clone();
    m.tensors[1].bytes.push(0);
    let e = write_bytes(&m, &iface).unwrap_err();
    assert!(matches!(e, FileError::TensorLength { .. }), "{e}");

    let mut m = model.clone();
    m.tensors.swap(0, 1);
    assert!(matches!(write_bytes(&m, &iface).unwrap_err(), FileError::UnexpectedTensor { index: 0, .. }));

    let mut m = model.clone();
    m.tensors[0].spec.shape[1] += 1;
    assert!(matches!(write_bytes(&m, &iface).unwrap_err(), FileError::TensorMismatch { field: "shape[1]", .. }));

    let mut m = model.clone();
    if let LayerDesc::Dense(d) = &mut m.desc.layers[2] {
        d.input_size = 6;
    }
    assert!(matches!(write_bytes(&m, &iface).unwrap_err(), FileError::InvalidDesc(DescError::ChainMismatch { .. })));

    let mut i = iface.clone();
    i.outputs.push(i.inputs[0].clone());
    assert!(matches!(write_bytes(&model, &i).unwrap_err(), FileError::RoleMisplaced { loc: file::Loc::Output(2), .. }));

    let mut i = iface.clone();
    i.inputs[0].name = "n".repeat(1025);
    assert!(matches!(write_bytes(&model, &i).unwrap_err(), FileError::NameTooLong { .. }));

    let mut i = iface.clone();
    i.inputs[0].dims = vec![Dim::Fixed(1); 9];
    assert!(matches!(write_bytes(&model, &i).unwrap_err(), FileError::TooMany { .. }));

    let mut i = iface;
    i.inputs = vec![i.inputs[0].clone(); 65];
    assert!(matches!(write_bytes(&model, &i).unwrap_err(), FileError::TooMany { max: 64, .. }));
}
