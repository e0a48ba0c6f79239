//! Importer tests on small models built in code: every recurrent option maps onto the
//! description, weights survive packing bit for bit, the interface names every input and
//! output, and each broken or unsupported construct is refused with its class and a
//! message that names the node and the attribute or input.
#![cfg(feature = "onnx")]

use prost::Message;
use recur_format::onnx::proto::*;
use recur_format::onnx::{import_bytes, import_file, ErrorClass, ImportOptions, Imported, OnnxError};
use recur_format::*;

// ------------------------------------------------------------------ model building

#[derive(Clone, Copy)]
enum D {
    K(i64),
    P(&'static str),
}

fn ramp(n: usize, seed: u32) -> Vec<f32> {
    // A small deterministic generator: distinct, sign-mixed values.
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn f32_init(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn f32_typed(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

fn i64_init(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::INT64,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

fn vi(name: &str, elem: i32, dims: &[D]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            D::K(v) => tensor_shape_proto::Dimension { dim_value: Some(*v), ..Default::default() },
                            D::P(p) => {
                                tensor_shape_proto::Dimension { dim_param: Some((*p).into()), ..Default::default() }
                            }
                        })
                        .collect(),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn fvi(name: &str, dims: &[D]) -> ValueInfoProto {
    vi(name, data_type::FLOAT, dims)
}

fn node(op: &str, name: &str, ins: &[&str], outs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

fn ai(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INT, i: v, ..Default::default() }
}
fn af(name: &str, v: f32) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::FLOAT, f: v, ..Default::default() }
}
fn as_(name: &str, v: &str) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::STRING, s: v.as_bytes().to_vec(), ..Default::default() }
}
fn aints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::INTS, ints: v.to_vec(), ..Default::default() }
}
fn afloats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::FLOATS, floats: v.to_vec(), ..Default::default() }
}
fn astrs(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRINGS,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}
fn atensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: attribute_type::TENSOR, t: Some(t), ..Default::default() }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    opset: i64,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: opset }],
        producer_name: "recur-tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: inputs,
            output: outputs,
            name: "g".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn import(m: &ModelProto) -> Result<Imported, OnnxError> {
    import_bytes(&m.encode_to_vec(), None, &ImportOptions::default())
}

fn refused(m: &ModelProto, class: ErrorClass, needles: &[&str]) -> String {
    match import(m) {
        Ok(i) => panic!("imported, expected {class:?}: {:#?}", i.report),
        Err(e) => {
            let msg = e.to_string();
            assert_eq!(e.class(), class, "{msg}");
            for n in needles {
                assert!(msg.contains(n), "message {msg:?} does not mention {n:?}");
            }
            msg
        }
    }
}

/// A single recurrent node over graph input X [T, B, I] with W, R (and B) initializers.
struct Rec {
    op: &'static str,
    i: usize,
    h: usize,
    dirs: usize,
    attrs: Vec<AttributeProto>,
    bias: bool,
}

impl Rec {
    fn gates(&self) -> usize {
        match self.op {
            "RNN" => 1,
            "GRU" => 3,
            _ => 4,
        }
    }
    fn weights(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let gh = self.gates() * self.h;
        (ramp(self.dirs * gh * self.i, 1), ramp(self.dirs * gh * self.h, 2), ramp(self.dirs * 2 * gh, 3))
    }
    fn model(&self) -> ModelProto {
        let gh = (self.gates() * self.h) as i64;
        let (w, r, b) = self.weights();
        let d = self.dirs as i64;
        let mut inits = vec![f32_init("W", &[d, gh, self.i as i64], &w), f32_init("R", &[d, gh, self.h as i64], &r)];
        let mut ins = vec!["X", "W", "R"];
        if self.bias {
            inits.push(f32_init("B", &[d, 2 * gh], &b));
            ins.push("B");
        }
        let mut outs = vec!["Y", "Y_h"];
        let mut out_vi = vec![
            fvi("Y", &[D::P("T"), D::K(d), D::P("N"), D::K(self.h as i64)]),
            fvi("Y_h", &[D::K(d), D::P("N"), D::K(self.h as i64)]),
        ];
        if self.op == "LSTM" {
            outs.push("Y_c");
            out_vi.push(fvi("Y_c", &[D::K(d), D::P("N"), D::K(self.h as i64)]));
        }
        model(
            vec![node(self.op, "rec", &ins, &outs, self.attrs.clone())],
            inits,
            vec![fvi("X", &[D::P("T"), D::P("N"), D::K(self.i as i64)])],
            out_vi,
            14,
        )
    }
}

fn rec(op: &'static str, attrs: Vec<AttributeProto>) -> Rec {
    let dirs = if attrs.iter().any(|a| a.name == "direction" && a.s == b"bidirectional") { 2 } else { 1 };
    Rec { op, i: 5, h: 7, dirs, attrs, bias: true }
}

fn recurrent(imp: &Imported, layer: usize) -> &RecurrentDesc {
    match &imp.model.desc.layers[layer] {
        LayerDesc::Recurrent(r) => r,
        l => panic!("layer {layer} is {l:?}"),
    }
}

// ------------------------------------------------------------------ recognition

#[test]
fn gru_lbr1_with_activations_maps_every_attribute() {
    let r = rec(
        "GRU",
        vec![
            as_("direction", "bidirectional"),
            ai("hidden_size", 7),
            ai("linear_before_reset", 1),
            astrs("activations", &["HardSigmoid", "Softplus", "Sigmoid", "ScaledTanh"]),
            afloats("activation_alpha", &[0.3, 0.9]),
            afloats("activation_beta", &[0.55, 1.2]),
            af("clip", 2.5),
        ],
    );
    let imp = import(&r.model()).unwrap();
    let d = recurrent(&imp, 0);
    assert_eq!((d.cell, d.input_size, d.hidden_size, d.direction), (CellKind::Gru, 5, 7, Direction::Bidirectional));
    assert!(d.linear_before_reset && !d.input_forget && !d.peepholes);
    assert_eq!(d.clip, Some(2.5));
    assert_eq!(d.activations[0][0], Activation::with_params(ActKind::HardSigmoid, 0.3, 0.55));
    assert_eq!(d.activations[0][1], Activation::new(ActKind::Softplus));
    assert_eq!(d.activations[1][0], Activation::new(ActKind::Sigmoid));
    assert_eq!(d.activations[1][1], Activation::with_params(ActKind::ScaledTanh, 0.9, 1.2));
    // Weights come back from the packed layout exactly as the initializers held them.
    let (w, rw, b) = r.weights();
    assert_eq!(imp.model.unpack(), vec![LayerWeights::Recurrent { w, r: rw, b: Some(b), p: None }]);
    // Interface: X, then Y and Y_h, in graph order.
    let i = &imp.interface;
    assert_eq!(i.inputs.len(), 1);
    assert_eq!(i.inputs[0].name, "X");
    assert_eq!(i.inputs[0].role, IoRole::Sequence(SeqLayout::TimeBatchFeature));
    assert_eq!(i.inputs[0].dims, vec![Dim::Symbolic("T".into()), Dim::Symbolic("N".into()), Dim::Fixed(5)]);
    assert_eq!(i.outputs[0].role, IoRole::Output(SeqLayout::OnnxY));
    let slots = vec![StateSlot { layer: 0, dir: 0 }, StateSlot { layer: 0, dir: 1 }];
    assert_eq!(
        i.outputs[1].role,
        IoRole::FinalState { kind: StateKind::H, slots, layout: StateLayout::SlotBatchHidden }
    );
}

#[test]
fn typed_float_data_reads_like_raw_data() {
    let r = rec("RNN", vec![ai("hidden_size", 7)]);
    let mut m = r.model();
    let g = m.graph.as_mut().unwrap();
    for t in g.initializer.iter_mut() {
        let v: Vec<f32> = t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        *t = f32_typed(&t.name, &t.dims, &v);
    }
    let a = import(&r.model()).unwrap();
    let b = import(&m).unwrap();
    assert_eq!(a.model, b.model);
}

#[test]
fn lstm_with_every_input_and_layout_1() {
    let (i, h) = (3usize, 4usize);
    let w = ramp(4 * h * i, 7);
    let r = ramp(4 * h * h, 8);
    let b = ramp(8 * h, 9);
    let p = ramp(3 * h, 10);
    let m = model(
        vec![node(
            "LSTM",
            "lstm",
            &["X", "W", "R", "B", "lens", "h0", "c0", "P"],
            &["Y", "Y_h", "Y_c"],
            vec![
                ai("hidden_size", h as i64),
                ai("layout", 1),
                ai("input_forget", 1),
                as_("direction", "reverse"),
                af("clip", 3.0),
            ],
        )],
        vec![
            f32_init("W", &[1, 4 * h as i64, i as i64], &w),
            f32_init("R", &[1, 4 * h as i64, h as i64], &r),
            f32_init("B", &[1, 8 * h as i64], &b),
            f32_init("P", &[1, 3 * h as i64], &p),
        ],
        vec![
            fvi("X", &[D::P("N"), D::P("T"), D::K(i as i64)]),
            vi("lens", data_type::INT32, &[D::P("N")]),
            fvi("h0", &[D::P("N"), D::K(1), D::K(h as i64)]),
            fvi("c0", &[D::P("N"), D::K(1), D::K(h as i64)]),
        ],
        vec![fvi("Y", &[]), fvi("Y_h", &[]), fvi("Y_c", &[])],
        14,
    );
    let imp = import(&m).unwrap();
    let d = recurrent(&imp, 0);
    assert!(d.input_forget && d.peepholes && d.direction == Direction::Reverse && d.clip == Some(3.0));
    assert_eq!(imp.model.unpack(), vec![LayerWeights::Recurrent { w, r, b: Some(b), p: Some(p) }]);
    let slot = vec![StateSlot { layer: 0, dir: 0 }];
    let roles: Vec<&IoRole> = imp.interface.inputs.iter().map(|b| &b.role).collect();
    assert_eq!(
        roles,
        vec![
            &IoRole::Sequence(SeqLayout::BatchTimeFeature),
            &IoRole::SequenceLens,
            &IoRole::InitialState { kind: StateKind::H, slots: slot.clone(), layout: StateLayout::BatchSlotHidden },
            &IoRole::InitialState { kind: StateKind::C, slots: slot.clone(), layout: StateLayout::BatchSlotHidden },
        ]
    );
    let roles: Vec<&IoRole> = imp.interface.outputs.iter().map(|b| &b.role).collect();
    assert_eq!(
        roles,
        vec![
            &IoRole::Output(SeqLayout::OnnxYBatchFirst),
            &IoRole::FinalState { kind: StateKind::H, slots: slot.clone(), layout: StateLayout::BatchSlotHidden },
            &IoRole::FinalState { kind: StateKind::C, slots: slot, layout: StateLayout::BatchSlotHidden },
        ]
    );
}

#[test]
fn hidden_size_is_inferred_from_r() {
    let imp = import(&rec("GRU", vec![]).model()).unwrap();
    assert_eq!(recurrent(&imp, 0).hidden_size, 7);
    assert!(!recurrent(&imp, 0).linear_before_reset);
}

#[test]
fn alpha_beta_follow_onnxruntime() {
    // Values run out: the second Affine takes onnxruntime's defaults (0, 0).
    let imp = import(
        &rec(
            "RNN",
            vec![
                as_("direction", "bidirectional"),
                astrs("activations", &["Affine", "Affine"]),
                afloats("activation_alpha", &[2.0]),
                afloats("activation_beta", &[1.0]),
            ],
        )
        .model(),
    )
    .unwrap();
    let d = recurrent(&imp, 0);
    assert_eq!(d.activations[0][0], Activation::with_params(ActKind::Affine, 2.0, 1.0));
    assert_eq!(d.activations[1][0], Activation::with_params(ActKind::Affine, 0.0, 0.0));
    assert!(imp.report.iter().any(|l| l.contains("default alpha")), "{:?}", imp.report);
    // Only the activations that take a value consume one: Sigmoid skips, LeakyRelu takes 0.3.
    let imp = import(
        &rec(
            "RNN",
            vec![
                as_("direction", "bidirectional"),
                astrs("activations", &["Sigmoid", "LeakyRelu"]),
                afloats("activation_alpha", &[0.3]),
            ],
        )
        .model(),
    )
    .unwrap();
    assert_eq!(recurrent(&imp, 0).activations[1][0], Activation::with_params(ActKind::LeakyRelu, 0.3, 0.0));
    // Lower-case names are accepted.
    let imp = import(&rec("RNN", vec![astrs("activations", &["relu"])]).model()).unwrap();
    assert_eq!(recurrent(&imp, 0).activations[0][0].kind, ActKind::Relu);
}

#[test]
fn surplus_alpha_values_are_refused_unless_unambiguous() {
    // One value per activation, placeholders where unused: positional and onnxruntime's
    // readings agree (LeakyRelu gets 0.1 either way).
    let ok = rec(
        "LSTM",
        vec![astrs("activations", &["LeakyRelu", "Tanh", "Tanh"]), afloats("activation_alpha", &[0.1, 0.0, 0.0])],
    );
    let imp = import(&ok.model()).unwrap();
    assert_eq!(recurrent(&imp, 0).activations[0][0], Activation::with_params(ActKind::LeakyRelu, 0.1, 0.0));
    // Here onnxruntime gives Elu 0.5 but a positional reader gives it 0.7.
    let bad = rec(
        "LSTM",
        vec![astrs("activations", &["Sigmoid", "Elu", "Tanh"]), afloats("activation_alpha", &[0.5, 0.7, 0.9])],
    );
    refused(&bad.model(), ErrorClass::Unsupported, &["'rec' (LSTM)", "activation_alpha", "ambiguous"]);
}

#[test]
fn attribute_errors_name_node_and_attribute() {
    refused(
        &rec("LSTM", vec![as_("direction", "sideways")]).model(),
        ErrorClass::InvalidModel,
        &["'rec' (LSTM)", "direction='sideways'"],
    );
    refused(&rec("GRU", vec![ai("layout", 2)]).model(), ErrorClass::InvalidModel, &["layout='2'", "0 or 1"]);
    refused(
        &rec("GRU", vec![ai("linear_before_reset", 3)]).model(),
        ErrorClass::InvalidModel,
        &["linear_before_reset"],
    );
    refused(&rec("GRU", vec![ai("hidden_size", 0)]).model(), ErrorClass::InvalidModel, &["hidden_size"]);
    refused(&rec("RNN", vec![af("clip", -1.0)]).model(), ErrorClass::InvalidModel, &["clip"]);
    refused(&rec("RNN", vec![ai("foo", 1)]).model(), ErrorClass::InvalidModel, &["'foo'", "RNN"]);
    refused(&rec("RNN", vec![af("hidden_size", 7.0)]).model(), ErrorClass::InvalidModel, &["hidden_size", "type"]);
    refused(
        &rec("RNN", vec![astrs("activations", &["Gelu"])]).model(),
        ErrorClass::Unsupported,
        &["activations='Gelu'"],
    );
    refused(
        &rec("LSTM", vec![astrs("activations", &["Sigmoid", "Tanh"])]).model(),
        ErrorClass::InvalidModel,
        &["activations"],
    );
    // input_forget only exists on LSTM.
    refused(&rec("GRU", vec![ai("input_forget", 1)]).model(), ErrorClass::InvalidModel, &["input_forget"]);
}

#[test]
fn weight_shape_errors_are_invalid() {
    let mut r = rec("LSTM", vec![ai("hidden_size", 7)]);
    r.bias = true;
    let mut m = r.model();
    // Bias of the wrong length.
    let g = m.graph.as_mut().unwrap();
    g.initializer[2] = f32_init("B", &[1, 10], &[0.0; 10]);
    refused(&m, ErrorClass::InvalidModel, &["input B", "[1, 56]"]);
    // Raw data that disagrees with the dims.
    let mut m = r.model();
    m.graph.as_mut().unwrap().initializer[0].raw_data.truncate(12);
    refused(&m, ErrorClass::InvalidModel, &["tensor 'W'", "bytes"]);
    // Negative dimension.
    let mut m = r.model();
    m.graph.as_mut().unwrap().initializer[0].dims[0] = -1;
    refused(&m, ErrorClass::InvalidModel, &["tensor 'W'", "negative"]);
    // Absurd dimensions are refused before anything is allocated.
    let mut m = r.model();
    m.graph.as_mut().unwrap().initializer[0].dims = vec![1 << 40, 1 << 40, 1 << 40];
    refused(&m, ErrorClass::Unsupported, &["tensor 'W'", "limit"]);
}

#[test]
fn type_errors() {
    // float16 weights with float32 X violate T.
    let mut m = rec("GRU", vec![]).model();
    let w = &mut m.graph.as_mut().unwrap().initializer[0];
    w.data_type = data_type::FLOAT16;
    w.raw_data.truncate(w.raw_data.len() / 2);
    refused(&m, ErrorClass::InvalidModel, &["input W is float16"]);
    // float64 everywhere is valid ONNX that recur does not run.
    let mut m = rec("GRU", vec![]).model();
    let g = m.graph.as_mut().unwrap();
    for t in g.initializer.iter_mut() {
        let v: Vec<f64> =
            t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect();
        t.data_type = data_type::DOUBLE;
        t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    }
    for v in g.input.iter_mut().chain(g.output.iter_mut()) {
        v.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().elem_type = Some(data_type::DOUBLE);
    }
    refused(&m, ErrorClass::Unsupported, &["double"]);
}

#[test]
fn float16_weights_cast_to_float_are_accepted() {
    let r = rec("RNN", vec![]);
    let mut m = r.model();
    let g = m.graph.as_mut().unwrap();
    let w = g.initializer[0].clone();
    let vals: Vec<f32> = w.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    let halves: Vec<half::f16> = vals.iter().map(|&v| half::f16::from_f32(v)).collect();
    g.initializer[0] = TensorProto {
        name: "W16".into(),
        dims: w.dims.clone(),
        data_type: data_type::FLOAT16,
        raw_data: halves.iter().flat_map(|h| h.to_le_bytes()).collect(),
        ..Default::default()
    };
    g.node.insert(0, node("Cast", "cast", &["W16"], &["W"], vec![ai("to", data_type::FLOAT as i64)]));
    let imp = import(&m).unwrap();
    let LayerWeights::Recurrent { w, .. } = &imp.model.unpack()[0] else { panic!() };
    assert_eq!(w, &halves.iter().map(|h| h.to_f32()).collect::<Vec<_>>());
}

#[test]
fn structural_errors_are_invalid() {
    // Two definitions of one value.
    let mut m = rec("RNN", vec![]).model();
    m.graph.as_mut().unwrap().node.push(node("Identity", "dup", &["X"], &["Y"], vec![]));
    refused(&m, ErrorClass::InvalidModel, &["'Y'", "defined twice"]);
    // A cycle.
    let mut m = rec("RNN", vec![]).model();
    let g = m.graph.as_mut().unwrap();
    g.node[0].input.push(String::new());
    g.node[0].input.push(String::new());
    g.node[0].input[5] = "Y_h2".into();
    g.node.push(node("Identity", "loop", &["Y_h"], &["Y_h2"], vec![]));
    refused(&m, ErrorClass::InvalidModel, &["cycle"]);
    // No default opset; an opset outside the supported range.
    let mut m = rec("RNN", vec![]).model();
    m.opset_import[0].domain = "com.example".into();
    refused(&m, ErrorClass::InvalidModel, &["opset"]);
    let mut m = rec("RNN", vec![]).model();
    m.opset_import[0].version = 5;
    refused(&m, ErrorClass::Unsupported, &["opset 5"]);
    // Too many inputs.
    let mut m = rec("GRU", vec![]).model();
    m.graph.as_mut().unwrap().node[0].input.extend(["", "", "", "X"].iter().map(|s| s.to_string()));
    refused(&m, ErrorClass::InvalidModel, &["'rec' (GRU)", "inputs"]);
}

// ------------------------------------------------------------------ glue patterns

/// x [B, T, I] -> Transpose -> LSTM -> Squeeze(dir) -> Transpose -> MatMul + Add -> `tail`.
fn lstm_head(tail: &str, extra: Vec<AttributeProto>, opset: i64) -> ModelProto {
    let (i, h, o) = (4usize, 6usize, 3usize);
    let mut nodes = vec![
        node("Transpose", "t0", &["x"], &["xt"], vec![aints("perm", &[1, 0, 2])]),
        node("LSTM", "lstm", &["xt", "W", "R", "B"], &["Y"], vec![ai("hidden_size", h as i64)]),
        if opset >= 13 {
            node("Squeeze", "sq", &["Y", "one"], &["ys"], vec![])
        } else {
            node("Squeeze", "sq", &["Y"], &["ys"], vec![aints("axes", &[1])])
        },
        node("Transpose", "t1", &["ys"], &["yb"], vec![aints("perm", &[1, 0, 2])]),
        node("MatMul", "mm", &["yb", "Wd"], &["lin"], vec![]),
        node("Add", "add", &["bd", "lin"], &["pre"], vec![]),
    ];
    let out = if tail.is_empty() {
        "pre"
    } else {
        nodes.push(node(tail, "act", &["pre"], &["out"], extra));
        "out"
    };
    model(
        nodes,
        vec![
            f32_init("W", &[1, 4 * h as i64, i as i64], &ramp(4 * h * i, 1)),
            f32_init("R", &[1, 4 * h as i64, h as i64], &ramp(4 * h * h, 2)),
            f32_init("B", &[1, 8 * h as i64], &ramp(8 * h, 3)),
            f32_init("Wd", &[h as i64, o as i64], &ramp(h * o, 4)),
            f32_init("bd", &[o as i64], &ramp(o, 5)),
            i64_init("one", &[1], &[1]),
        ],
        vec![fvi("x", &[D::P("batch"), D::P("time"), D::K(i as i64)])],
        vec![fvi(out, &[D::P("batch"), D::P("time"), D::K(o as i64)])],
        opset,
    )
}

#[test]
fn batch_first_lstm_with_dense_head_and_log_softmax() {
    for opset in [11, 13, 17] {
        let imp = import(&lstm_head("LogSoftmax", vec![ai("axis", -1)], opset)).unwrap();
        let layers = &imp.model.desc.layers;
        assert_eq!(layers.len(), 2, "{:?}", imp.report);
        let LayerDesc::Dense(dd) = &layers[1] else { panic!() };
        assert_eq!((dd.input_size, dd.output_size, dd.activation), (6, 3, DenseAct::LogSoftmax));
        // Dense weights: MatMul's [I, O] becomes [O, I].
        let LayerWeights::Dense { w, b } = &imp.model.unpack()[1] else { panic!() };
        let wd = ramp(18, 4);
        for oo in 0..3 {
            for ii in 0..6 {
                assert_eq!(w[oo * 6 + ii], wd[ii * 3 + oo]);
            }
        }
        assert_eq!(b.as_deref(), Some(&ramp(3, 5)[..]));
        assert_eq!(imp.interface.inputs[0].role, IoRole::Sequence(SeqLayout::BatchTimeFeature));
        assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::BatchTimeFeature));
    }
}

#[test]
fn softmax_must_normalize_features() {
    refused(&lstm_head("Softmax", vec![ai("axis", 1)], 13), ErrorClass::Unsupported, &["'act' (Softmax)", "axis='1'"]);
    // Before opset 13, axis 1 of [B, T, O] flattens T and O together.
    refused(&lstm_head("Softmax", vec![], 11), ErrorClass::Unsupported, &["axis"]);
    assert!(import(&lstm_head("Softmax", vec![ai("axis", 2)], 11)).is_ok());
}

#[test]
fn activation_without_dense_gets_identity_layer() {
    let mut m = lstm_head("", vec![], 13);
    let g = m.graph.as_mut().unwrap();
    // Relu right after the squeezed LSTM output, no dense layer.
    g.node.truncate(4);
    g.node.push(node("Relu", "relu", &["yb"], &["out"], vec![]));
    g.output = vec![fvi("out", &[])];
    let imp = import(&m).unwrap();
    let LayerDesc::Dense(dd) = &imp.model.desc.layers[1] else { panic!() };
    assert_eq!((dd.input_size, dd.output_size, dd.activation), (6, 6, DenseAct::Relu));
    let LayerWeights::Dense { w, b } = &imp.model.unpack()[1] else { panic!() };
    for r in 0..6 {
        for c in 0..6 {
            assert_eq!(w[r * 6 + c], if r == c { 1.0 } else { 0.0 });
        }
    }
    assert!(b.as_ref().unwrap().iter().all(|&v| v == 0.0));
}

#[test]
fn gemm_folds_alpha_beta_and_trans_b() {
    let (i, h, o) = (3usize, 5usize, 2usize);
    let wd = ramp(o * h, 11);
    let c = ramp(o, 12);
    let m = model(
        vec![
            node("GRU", "gru", &["x", "W", "R"], &["Y"], vec![ai("hidden_size", h as i64)]),
            node("Reshape", "flat", &["Y", "shape"], &["y2"], vec![]),
            node("Gemm", "fc", &["y2", "Wd", "C"], &["out"], vec![ai("transB", 1), af("alpha", 2.0), af("beta", 0.5)]),
        ],
        vec![
            f32_init("W", &[1, 3 * h as i64, i as i64], &ramp(3 * h * i, 1)),
            f32_init("R", &[1, 3 * h as i64, h as i64], &ramp(3 * h * h, 2)),
            f32_init("Wd", &[o as i64, h as i64], &wd),
            f32_init("C", &[o as i64], &c),
            i64_init("shape", &[2], &[-1, h as i64]),
        ],
        vec![fvi("x", &[D::P("T"), D::K(1), D::K(i as i64)])],
        vec![fvi("out", &[D::P("T"), D::K(o as i64)])],
        13,
    );
    let imp = import(&m).unwrap();
    let LayerWeights::Dense { w, b } = &imp.model.unpack()[1] else { panic!() };
    assert_eq!(w, &wd.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    assert_eq!(b.as_deref().unwrap(), &c.iter().map(|v| 0.5 * v).collect::<Vec<_>>()[..]);
    assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::TimeFeature));
}

/// Two stacked forward GRUs fed by a zero state built the way the TorchScript exporter
/// does (Shape -> Gather -> Unsqueeze -> Concat -> Expand), per-layer states sliced from
/// graph inputs when `stateful`.
fn two_layer_gru(stateful: bool, opset: i64) -> ModelProto {
    let (i, h) = (3usize, 4usize);
    let mut nodes = vec![];
    let mut inits = vec![
        f32_init("W0", &[1, 3 * h as i64, i as i64], &ramp(3 * h * i, 1)),
        f32_init("R0", &[1, 3 * h as i64, h as i64], &ramp(3 * h * h, 2)),
        f32_init("W1", &[1, 3 * h as i64, h as i64], &ramp(3 * h * h, 3)),
        f32_init("R1", &[1, 3 * h as i64, h as i64], &ramp(3 * h * h, 4)),
        i64_init("zero", &[1], &[0]),
        i64_init("one", &[1], &[1]),
        i64_init("two", &[1], &[2]),
        i64_init("axis1", &[], &[1]),
        i64_init("hid", &[1], &[h as i64]),
    ];
    let mut inputs = vec![fvi("x", &[D::P("T"), D::P("B"), D::K(i as i64)])];
    if stateful {
        inputs.push(fvi("h0", &[D::K(2), D::P("B"), D::K(h as i64)]));
        if opset >= 10 {
            nodes.push(node("Slice", "s0", &["h0", "zero", "one", "zero"], &["h0a"], vec![]));
            nodes.push(node("Slice", "s1", &["h0", "one", "two", "zero"], &["h0b"], vec![]));
        } else {
            nodes.push(node(
                "Slice",
                "s0",
                &["h0"],
                &["h0a"],
                vec![aints("starts", &[0]), aints("ends", &[1]), aints("axes", &[0])],
            ));
            nodes.push(node(
                "Slice",
                "s1",
                &["h0"],
                &["h0b"],
                vec![aints("starts", &[1]), aints("ends", &[2]), aints("axes", &[0])],
            ));
        }
    } else {
        nodes.push(node("Shape", "shape", &["x"], &["xs"], vec![]));
        nodes.push(node("Gather", "gb", &["xs", "axis1"], &["bsz"], vec![]));
        if opset >= 13 {
            nodes.push(node("Unsqueeze", "ub", &["bsz", "zero"], &["bsz1"], vec![]));
        } else {
            nodes.push(node("Unsqueeze", "ub", &["bsz"], &["bsz1"], vec![aints("axes", &[0])]));
        }
        nodes.push(node("Concat", "cs", &["one", "bsz1", "hid"], &["st_shape"], vec![ai("axis", 0)]));
        let zeros =
            TensorProto { dims: vec![1], data_type: data_type::FLOAT, float_data: vec![0.0], ..Default::default() };
        nodes.push(node("ConstantOfShape", "zs", &["st_shape"], &["h0a"], vec![atensor("value", zeros)]));
        nodes.push(node("Expand", "ex", &["zc", "st_shape"], &["h0b"], vec![]));
        inits.push(f32_init("zc", &[1, 1, 1], &[0.0]));
    }
    nodes.push(node("GRU", "g0", &["x", "W0", "R0", "", "", "h0a"], &["y0", "hn0"], vec![ai("hidden_size", h as i64)]));
    if opset >= 13 {
        nodes.push(node("Squeeze", "q0", &["y0", "one"], &["y0s"], vec![]));
    } else {
        nodes.push(node("Squeeze", "q0", &["y0"], &["y0s"], vec![aints("axes", &[1])]));
    }
    nodes.push(node(
        "GRU",
        "g1",
        &["y0s", "W1", "R1", "", "", "h0b"],
        &["y1", "hn1"],
        vec![ai("hidden_size", h as i64)],
    ));
    // [T, 1, B, H] -> [T, B, 1, H] -> [T, B, H], as the TorchScript exporter writes it.
    nodes.push(node("Transpose", "t1", &["y1"], &["y1t"], vec![aints("perm", &[0, 2, 1, 3])]));
    nodes.push(node("Reshape", "r1", &["y1t", "rs"], &["y"], vec![]));
    inits.push(i64_init("rs", &[3], &[0, 0, -1]));
    nodes.push(node("Concat", "hn", &["hn0", "hn1"], &["hn"], vec![ai("axis", 0)]));
    model(nodes, inits, inputs, vec![fvi("y", &[]), fvi("hn", &[])], opset)
}

#[test]
fn zero_states_built_from_run_time_shapes_are_the_zero_state() {
    for opset in [11, 13, 18] {
        let imp = import(&two_layer_gru(false, opset)).unwrap();
        assert_eq!(imp.model.desc.layers.len(), 2);
        assert_eq!(imp.interface.inputs.len(), 1);
        assert!(imp.report.iter().filter(|l| l.contains("zero state")).count() == 2, "{:?}", imp.report);
        let slots = vec![StateSlot { layer: 0, dir: 0 }, StateSlot { layer: 1, dir: 0 }];
        assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::TimeBatchFeature));
        assert_eq!(
            imp.interface.outputs[1].role,
            IoRole::FinalState { kind: StateKind::H, slots, layout: StateLayout::SlotBatchHidden }
        );
    }
}

/// The TorchScript exporter's zero state for a stacked nn.GRU/LSTM: one
/// `ConstantOfShape([layers, batch, H])` of run-time batch, each layer's rows sliced out
/// on axis 0 (as inputs from opset 10, as attributes before).
fn two_layer_gru_sliced_zero_state(opset: i64, batch_part: bool) -> ModelProto {
    let mut m = two_layer_gru(false, opset);
    let g = m.graph.as_mut().unwrap();
    let at = g.node.iter().position(|n| n.name == "zs").unwrap();
    g.node.retain(|n| n.name != "zs" && n.name != "ex");
    let zeros = TensorProto { dims: vec![1], data_type: data_type::FLOAT, float_data: vec![0.0], ..Default::default() };
    let mut glue = vec![
        node("Concat", "cs2", &["two", "bsz1", "hid"], &["st2"], vec![ai("axis", 0)]),
        node("ConstantOfShape", "zs2", &["st2"], &["z2"], vec![atensor("value", zeros)]),
    ];
    let (ends_b, axis_b) = if batch_part { (1, 1) } else { (2, 0) };
    if opset >= 10 {
        g.initializer.push(i64_init("end_b", &[1], &[ends_b]));
        g.initializer.push(i64_init("axis_b", &[1], &[axis_b]));
        glue.push(node("Slice", "sl0", &["z2", "zero", "one", "zero"], &["h0a"], vec![]));
        glue.push(node("Slice", "sl1", &["z2", "one", "end_b", "axis_b"], &["h0b"], vec![]));
    } else {
        let attrs = |s: i64, e: i64, a: i64| vec![aints("starts", &[s]), aints("ends", &[e]), aints("axes", &[a])];
        glue.push(node("Slice", "sl0", &["z2"], &["h0a"], attrs(0, 1, 0)));
        glue.push(node("Slice", "sl1", &["z2"], &["h0b"], attrs(1, ends_b, axis_b)));
    }
    g.node.splice(at..at, glue);
    m
}

#[test]
fn zero_states_sliced_from_one_run_time_zero_tensor_are_the_zero_state() {
    for opset in [9, 13, 17] {
        let imp = import(&two_layer_gru_sliced_zero_state(opset, false)).unwrap();
        assert_eq!(imp.model.desc.layers.len(), 2);
        assert_eq!(imp.interface.inputs.len(), 1);
        assert!(imp.report.iter().filter(|l| l.contains("zero state")).count() == 2, "{:?}", imp.report);
    }
    // Part of the run-time batch axis cannot be sliced symbolically.
    refused(
        &two_layer_gru_sliced_zero_state(13, true),
        ErrorClass::Unsupported,
        &["'sl1' (Slice)", "axis 1", "only known at run time"],
    );
}

#[test]
fn stateful_export_binds_state_rows_to_layers() {
    for opset in [9, 13] {
        let imp = import(&two_layer_gru(true, opset)).unwrap();
        let slots = vec![StateSlot { layer: 0, dir: 0 }, StateSlot { layer: 1, dir: 0 }];
        assert_eq!(imp.interface.inputs[1].name, "h0");
        assert_eq!(
            imp.interface.inputs[1].role,
            IoRole::InitialState { kind: StateKind::H, slots: slots.clone(), layout: StateLayout::SlotBatchHidden }
        );
        assert_eq!(
            imp.interface.outputs[1].role,
            IoRole::FinalState { kind: StateKind::H, slots, layout: StateLayout::SlotBatchHidden }
        );
    }
    // Rows that feed no layer cannot be bound.
    let mut m = two_layer_gru(true, 13);
    m.graph.as_mut().unwrap().input[1] = fvi("h0", &[D::K(3), D::P("B"), D::K(4)]);
    refused(&m, ErrorClass::Unsupported, &["'h0'", "rows"]);
}

#[test]
fn unsupported_dataflow_is_named() {
    // A non-zero constant initial state whose batch size contradicts X's.
    let mut m = rec("RNN", vec![]).model();
    let g = m.graph.as_mut().unwrap();
    g.input[0] = fvi("X", &[D::P("T"), D::K(2), D::K(5)]);
    g.initializer.push(f32_init("h0c", &[1, 1, 7], &[0.5; 7]));
    g.node[0].input.extend(["".to_string(), "h0c".to_string()]);
    refused(&m, ErrorClass::InvalidModel, &["'rec' (RNN)", "initial_h", "batch size 1"]);
    // Selecting the first time step (the last one is the final state, see below).
    let mut m = lstm_head("", vec![], 13);
    let g = m.graph.as_mut().unwrap();
    g.node.truncate(4);
    g.initializer.push(i64_init("last", &[], &[0]));
    g.node.push(node("Gather", "last_step", &["yb", "last"], &["out"], vec![ai("axis", 1)]));
    g.output = vec![fvi("out", &[])];
    refused(&m, ErrorClass::Unsupported, &["'last_step' (Gather)", "sequence"]);
    // A residual connection.
    let mut m = lstm_head("", vec![], 13);
    let g = m.graph.as_mut().unwrap();
    g.node.push(node("Add", "res", &["pre", "pre"], &["out"], vec![]));
    g.output = vec![fvi("out", &[])];
    refused(&m, ErrorClass::Unsupported, &["'res' (Add)", "run-time values"]);
    // An operator outside the supported set, and a foreign domain.
    let mut m = lstm_head("", vec![], 13);
    let g = m.graph.as_mut().unwrap();
    g.node.push(node("Gelu", "gelu", &["pre"], &["out"], vec![]));
    g.output = vec![fvi("out", &[])];
    refused(&m, ErrorClass::Unsupported, &["'gelu' (Gelu)"]);
    let mut m = lstm_head("Relu", vec![], 13);
    m.graph.as_mut().unwrap().node.last_mut().unwrap().domain = "com.microsoft".into();
    refused(&m, ErrorClass::Unsupported, &["'act' (Relu)", "com.microsoft"]);
    // An intermediate layer's output as a graph output.
    let mut m = lstm_head("", vec![], 13);
    m.graph.as_mut().unwrap().output.push(fvi("yb", &[]));
    refused(&m, ErrorClass::Unsupported, &["'yb'", "layer 0"]);
    // A graph input nothing uses.
    let mut m = rec("RNN", vec![]).model();
    m.graph.as_mut().unwrap().input.push(fvi("unused", &[D::K(1)]));
    refused(&m, ErrorClass::Unsupported, &["'unused'", "not used"]);
    // Weights computed at run time.
    let mut m = rec("RNN", vec![]).model();
    let g = m.graph.as_mut().unwrap();
    g.initializer.remove(0);
    g.input.push(fvi("W", &[D::K(1), D::K(7), D::K(5)]));
    refused(&m, ErrorClass::Unsupported, &["input W", "constant weights"]);
}

#[test]
fn time_major_input_without_batch_axis() {
    // x [T, F] -> Unsqueeze(axis 1) -> RNN -> Squeeze(1) -> Squeeze(1): TimeFeature in and out.
    let m = model(
        vec![
            node("Unsqueeze", "u", &["x", "one"], &["x3"], vec![]),
            node("RNN", "rnn", &["x3", "W", "R"], &["Y"], vec![]),
            node("Squeeze", "s", &["Y", "onetwo"], &["y"], vec![]),
        ],
        vec![
            f32_init("W", &[1, 2, 3], &ramp(6, 1)),
            f32_init("R", &[1, 2, 2], &ramp(4, 2)),
            i64_init("one", &[1], &[1]),
            i64_init("onetwo", &[2], &[1, 2]),
        ],
        vec![fvi("x", &[D::P("T"), D::K(3)])],
        vec![fvi("y", &[D::P("T"), D::K(2)])],
        13,
    );
    let imp = import(&m).unwrap();
    assert_eq!(imp.interface.inputs[0].role, IoRole::Sequence(SeqLayout::TimeFeature));
    assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::TimeFeature));
}

#[test]
fn single_slot_state_without_slot_axis() {
    // h0 [B, H] -> Unsqueeze(0) -> initial_h; Y_h -> Squeeze(0) -> hn [B, H].
    let m = model(
        vec![
            node("Unsqueeze", "u", &["h0", "zero"], &["h03"], vec![]),
            node("GRU", "gru", &["x", "W", "R", "", "", "h03"], &["", "Y_h"], vec![]),
            node("Squeeze", "s", &["Y_h", "zero"], &["hn"], vec![]),
        ],
        vec![
            f32_init("W", &[1, 6, 3], &ramp(18, 1)),
            f32_init("R", &[1, 6, 2], &ramp(12, 2)),
            i64_init("zero", &[1], &[0]),
        ],
        vec![fvi("x", &[D::P("T"), D::P("B"), D::K(3)]), fvi("h0", &[D::P("B"), D::K(2)])],
        vec![fvi("hn", &[D::P("B"), D::K(2)])],
        13,
    );
    let imp = import(&m).unwrap();
    let slot = vec![StateSlot { layer: 0, dir: 0 }];
    assert_eq!(
        imp.interface.inputs[1].role,
        IoRole::InitialState { kind: StateKind::H, slots: slot.clone(), layout: StateLayout::BatchHidden }
    );
    assert_eq!(
        imp.interface.outputs[0].role,
        IoRole::FinalState { kind: StateKind::H, slots: slot, layout: StateLayout::BatchHidden }
    );
}

/// An Elman RNN unrolled over `t` steps the way the dynamo exporter writes it.
fn unrolled(t: usize, c0_matches: bool) -> (ModelProto, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (i, h) = (3usize, 4usize);
    let wt = ramp(i * h, 1);
    let rt = ramp(h * h, 2);
    let bih = ramp(h, 3);
    let bhh = ramp(h, 4);
    let c0: Vec<f32> = if c0_matches { bhh.clone() } else { bhh.iter().map(|v| v + 1.0).collect() };
    let mut nodes = vec![
        node("MatMul", "proj", &["x", "Wt"], &["pm"], vec![]),
        node("Add", "proj_b", &["pm", "bih"], &["p"], vec![]),
    ];
    let mut inits = vec![
        f32_init("Wt", &[i as i64, h as i64], &wt),
        f32_init("Rt", &[h as i64, h as i64], &rt),
        f32_init("bih", &[h as i64], &bih),
        f32_init("bhh", &[h as i64], &bhh),
        f32_init("c0", &[1, 1, h as i64], &c0),
        i64_init("zero", &[1], &[0]),
    ];
    let mut hs: Vec<String> = vec![];
    for k in 0..t {
        inits.push(i64_init(&format!("k{k}"), &[1], &[k as i64]));
        inits.push(i64_init(&format!("k{}e", k), &[1], &[k as i64 + 1]));
        nodes.push(node(
            "Slice",
            &format!("sl{k}"),
            &["p", &format!("k{k}"), &format!("k{k}e"), "zero"],
            &[&format!("ps{k}")],
            vec![],
        ));
        nodes.push(node("Squeeze", &format!("sq{k}"), &[&format!("ps{k}"), "zero"], &[&format!("s{k}")], vec![]));
        let pre = if k == 0 {
            nodes.push(node("Add", "a0", &["c0", "s0"], &["a0"], vec![]));
            "a0".to_string()
        } else {
            nodes.push(node("MatMul", &format!("m{k}"), &[hs[k - 1].as_str(), "Rt"], &[&format!("m{k}")], vec![]));
            nodes.push(node("Add", &format!("mb{k}"), &[&format!("m{k}"), "bhh"], &[&format!("mb{k}")], vec![]));
            nodes.push(node(
                "Add",
                &format!("a{k}"),
                &[&format!("mb{k}"), &format!("s{k}")],
                &[&format!("a{k}")],
                vec![],
            ));
            format!("a{k}")
        };
        nodes.push(node("Tanh", &format!("h{k}"), &[&pre], &[&format!("h{k}")], vec![]));
        hs.push(format!("h{k}"));
    }
    let hrefs: Vec<&str> = hs.iter().map(|s| s.as_str()).collect();
    nodes.push(node("Concat", "cat", &hrefs, &["y"], vec![ai("axis", 0)]));
    let m = model(
        nodes,
        inits,
        vec![fvi("x", &[D::K(t as i64), D::K(1), D::K(i as i64)])],
        vec![fvi("y", &[]), fvi(&hs[t - 1], &[])],
        18,
    );
    (m, wt, rt, bih, bhh)
}

#[test]
fn unrolled_rnn_folds_into_one_layer() {
    let (m, wt, rt, bih, bhh) = unrolled(4, true);
    let imp = import(&m).unwrap();
    let d = recurrent(&imp, 0);
    assert_eq!((d.cell, d.input_size, d.hidden_size), (CellKind::Rnn, 3, 4));
    assert_eq!(d.activations[0][0].kind, ActKind::Tanh);
    let LayerWeights::Recurrent { w, r, b, .. } = &imp.model.unpack()[0] else { panic!() };
    // W = Wt^T, R = Rt^T, B = [b_ih, b_hh].
    for o in 0..4 {
        for k in 0..3 {
            assert_eq!(w[o * 3 + k], wt[k * 4 + o]);
        }
        for k in 0..4 {
            assert_eq!(r[o * 4 + k], rt[k * 4 + o]);
        }
    }
    assert_eq!(b.as_deref().unwrap(), &[bih, bhh].concat()[..]);
    assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::TimeBatchFeature));
    assert_eq!(
        imp.interface.outputs[1].role,
        IoRole::FinalState {
            kind: StateKind::H,
            slots: vec![StateSlot { layer: 0, dir: 0 }],
            layout: StateLayout::SlotBatchHidden
        }
    );
    // A first step that does not start from the zero state is not this pattern.
    let (m, ..) = unrolled(4, false);
    refused(&m, ErrorClass::Unsupported, &[]);
}

// ------------------------------------------------------------------ files and external data

fn lstm_external(dir: &std::path::Path, location: &str, length: Option<usize>) -> ModelProto {
    let h = 3usize;
    let w = ramp(4 * h * 2, 1);
    let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join("weights.bin"), [vec![0u8; 16], bytes.clone()].concat()).unwrap();
    let mut ext = vec![
        StringStringEntryProto { key: "location".into(), value: location.into() },
        StringStringEntryProto { key: "offset".into(), value: "16".into() },
    ];
    if let Some(l) = length {
        ext.push(StringStringEntryProto { key: "length".into(), value: l.to_string() });
    }
    let wt = TensorProto {
        name: "W".into(),
        dims: vec![1, 4 * h as i64, 2],
        data_type: data_type::FLOAT,
        external_data: ext,
        data_location: DATA_LOCATION_EXTERNAL,
        ..Default::default()
    };
    model(
        vec![node("LSTM", "lstm", &["x", "W", "R"], &["Y"], vec![])],
        vec![wt, f32_init("R", &[1, 4 * h as i64, h as i64], &ramp(4 * h * h, 2))],
        vec![fvi("x", &[D::P("T"), D::P("B"), D::K(2)])],
        vec![fvi("Y", &[])],
        14,
    )
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("recur-onnx-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn external_data_is_read_from_the_model_folder_only() {
    let dir = temp_dir("ext");
    let write = |m: &ModelProto| {
        let p = dir.join("model.onnx");
        std::fs::write(&p, m.encode_to_vec()).unwrap();
        import_file(&p, &ImportOptions::default())
    };
    let imp = write(&lstm_external(&dir, "weights.bin", Some(96))).unwrap();
    let LayerWeights::Recurrent { w, .. } = &imp.model.unpack()[0] else { panic!() };
    assert_eq!(w, &ramp(24, 1));
    // Without length: the rest of the file.
    assert!(write(&lstm_external(&dir, "weights.bin", None)).is_ok());
    let class = |r: Result<Imported, OnnxError>| r.map(|_| ()).unwrap_err();
    // Wrong length, escapes, absolute paths, missing files.
    let e = class(write(&lstm_external(&dir, "weights.bin", Some(100))));
    assert_eq!(e.class(), ErrorClass::InvalidModel, "{e}");
    for loc in ["../weights.bin", "sub/../../weights.bin", "/etc/passwd"] {
        let e = class(write(&lstm_external(&dir, loc, Some(96))));
        assert_eq!(e.class(), ErrorClass::InvalidModel, "{loc}: {e}");
        assert!(e.to_string().contains("tensor 'W'"), "{e}");
    }
    let e = class(write(&lstm_external(&dir, "missing.bin", Some(96))));
    assert_eq!(e.class(), ErrorClass::Parse, "{e}");
    // A symlink that leads out of the folder.
    #[cfg(unix)]
    {
        let outside = temp_dir("ext-outside");
        std::fs::copy(dir.join("weights.bin"), outside.join("weights.bin")).unwrap();
        let _ = std::fs::remove_file(dir.join("link.bin"));
        std::os::unix::fs::symlink(outside.join("weights.bin"), dir.join("link.bin")).unwrap();
        let e = class(write(&lstm_external(&dir, "link.bin", Some(96))));
        assert_eq!(e.class(), ErrorClass::InvalidModel, "{e}");
        assert!(e.to_string().contains("outside"), "{e}");
        let _ = std::fs::remove_dir_all(&outside);
    }
    // From bytes without a folder.
    let e =
        import_bytes(&lstm_external(&dir, "weights.bin", Some(96)).encode_to_vec(), None, &ImportOptions::default())
            .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Unsupported, "{e}");
    // The external byte budget.
    let mut opts = ImportOptions::default();
    opts.max_external_bytes = 10;
    let p = dir.join("model.onnx");
    std::fs::write(&p, lstm_external(&dir, "weights.bin", Some(96)).encode_to_vec()).unwrap();
    assert_eq!(import_file(&p, &opts).unwrap_err().class(), ErrorClass::Unsupported);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn file_size_limit_is_checked_before_reading() {
    let dir = temp_dir("size");
    let p = dir.join("model.onnx");
    std::fs::write(&p, rec("RNN", vec![]).model().encode_to_vec()).unwrap();
    let mut opts = ImportOptions::default();
    opts.max_file_bytes = 10;
    let e = import_file(&p, &opts).unwrap_err();
    assert!(matches!(e, OnnxError::FileTooLarge { .. }), "{e}");
    assert_eq!(e.class(), ErrorClass::Unsupported);
    let e = import_file(&dir.join("nope.onnx"), &ImportOptions::default()).unwrap_err();
    assert_eq!(e.class(), ErrorClass::Parse);
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ robustness

/// Byte-level mutations of valid models must give an error or a model, never a panic.
#[test]
fn mutated_models_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![
        rec("GRU", vec![as_("direction", "bidirectional"), ai("linear_before_reset", 1)]).model().encode_to_vec(),
        lstm_head("LogSoftmax", vec![ai("axis", -1)], 13).encode_to_vec(),
        two_layer_gru(false, 13).encode_to_vec(),
        two_layer_gru(true, 11).encode_to_vec(),
        unrolled(3, true).0.encode_to_vec(),
    ];
    let mut s: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        s ^= s << 7;
        s ^= s >> 9;
        s
    };
    let mut outcomes = [0usize; 2];
    for seed in &seeds {
        for _ in 0..400 {
            let mut b = seed.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                match next() % 4 {
                    0 => b[at] ^= 1 << (next() % 8),
                    1 => b[at] = next() as u8,
                    2 => b.truncate(at.max(1)),
                    _ => b.insert(at, next() as u8),
                }
            }
            outcomes[import_bytes(&b, None, &ImportOptions::default()).is_ok() as usize] += 1;
        }
    }
    println!("mutations: {} refused, {} imported", outcomes[0], outcomes[1]);
}

/// Attribute values at the edges of their types never panic either.
#[test]
fn extreme_attribute_values_never_panic() {
    let ints = [i64::MIN, -1, 0, 1, 2, 7, i64::MAX];
    for name in ["hidden_size", "layout", "linear_before_reset", "input_forget", "axis"] {
        for &v in &ints {
            let _ = import(&rec("GRU", vec![ai(name, v)]).model());
            let _ = import(&lstm_head("Softmax", vec![ai(name, v)], 13));
        }
    }
    for v in [f32::NAN, f32::INFINITY, -0.0, f32::MAX, f32::MIN_POSITIVE] {
        let _ = import(&rec("LSTM", vec![af("clip", v)]).model());
        let _ = import(&rec("RNN", vec![astrs("activations", &["Affine"]), afloats("activation_alpha", &[v])]).model());
    }
    let _ = import(&rec("RNN", vec![aints("activations", &[1])]).model());
    let mut m = two_layer_gru(false, 13);
    for t in m.graph.as_mut().unwrap().initializer.iter_mut().filter(|t| t.data_type == data_type::INT64) {
        t.int64_data.iter_mut().for_each(|v| *v = i64::MAX);
    }
    let _ = import(&m);
}

/// Mutations at the protobuf level reach deeper than byte flips: shapes, attribute values,
/// wiring and operator types change while the file stays readable. Any outcome but a
/// panic is fine.
#[test]
fn structurally_mutated_models_never_panic() {
    let mut seeds: Vec<ModelProto> = vec![
        rec("LSTM", vec![as_("direction", "bidirectional"), ai("layout", 1)]).model(),
        lstm_head("Softmax", vec![ai("axis", -1)], 13),
        lstm_head("Relu", vec![], 11),
        two_layer_gru(false, 13),
        two_layer_gru(true, 9),
        unrolled(3, true).0,
    ];
    let conf = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    for case in [
        "stateful_lstm_legacy",
        "gru_bi_2layer_dynamo",
        "bilstm_head_legacy",
        "mixed_stack_dynamo",
        "lstm_all_inputs_op14",
    ] {
        if let Ok(b) = std::fs::read(conf.join(case).join("model.onnx")) {
            seeds.push(ModelProto::decode(&b[..]).unwrap());
        }
    }
    let mut s: u64 = 0x2545F4914F6CDD1D;
    let mut rnd = move |n: usize| -> usize {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % n.max(1) as u64) as usize
    };
    let ints = [i64::MIN, -3, -2, -1, 0, 1, 2, 3, 4, 7, 1 << 20, i64::MAX];
    let ops = [
        "Transpose",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Slice",
        "Gather",
        "Concat",
        "MatMul",
        "Add",
        "Identity",
        "Shape",
        "Expand",
        "LSTM",
        "GRU",
        "RNN",
        "Softmax",
        "Split",
        "Cast",
    ];
    let mut ok = 0;
    for seed in &seeds {
        for _ in 0..300 {
            let mut m = seed.clone();
            let g = m.graph.as_mut().unwrap();
            let names: Vec<String> = g
                .node
                .iter()
                .flat_map(|n| n.output.clone())
                .chain(g.initializer.iter().map(|t| t.name.clone()))
                .collect();
            for _ in 0..1 + rnd(3) {
                match rnd(7) {
                    0 if !g.initializer.is_empty() => {
                        let k = rnd(g.initializer.len());
                        let t = &mut g.initializer[k];
                        if !t.dims.is_empty() {
                            let d = rnd(t.dims.len());
                            t.dims[d] = ints[rnd(ints.len())];
                        }
                    }
                    1 if !g.node.is_empty() => {
                        let k = rnd(g.node.len());
                        let n = &mut g.node[k];
                        if !n.attribute.is_empty() {
                            let a = rnd(n.attribute.len());
                            let at = &mut n.attribute[a];
                            at.i = ints[rnd(ints.len())];
                            at.ints.iter_mut().for_each(|v| *v = ints[rnd(ints.len())]);
                            at.f = [f32::NAN, -1.0, 0.0, 0.5, 1e30][rnd(5)];
                        }
                    }
                    2 if !g.node.is_empty() && !names.is_empty() => {
                        let k = rnd(g.node.len());
                        let n = &mut g.node[k];
                        if !n.input.is_empty() {
                            let i = rnd(n.input.len());
                            n.input[i] = names[rnd(names.len())].clone();
                        }
                    }
                    3 if !g.node.is_empty() => {
                        let k = rnd(g.node.len());
                        g.node[k].op_type = ops[rnd(ops.len())].into();
                    }
                    4 if !g.input.is_empty() => {
                        let k = rnd(g.input.len());
                        if let Some(sh) = g.input[k]
                            .r#type
                            .as_mut()
                            .and_then(|t| t.tensor_type.as_mut())
                            .and_then(|t| t.shape.as_mut())
                        {
                            if !sh.dim.is_empty() {
                                let d = rnd(sh.dim.len());
                                sh.dim[d] = tensor_shape_proto::Dimension {
                                    dim_value: Some(ints[rnd(ints.len())]),
                                    ..Default::default()
                                };
                            }
                        }
                    }
                    5 if !g.node.is_empty() => {
                        let k = rnd(g.node.len());
                        g.node.remove(k);
                    }
                    _ if !g.initializer.is_empty() => {
                        let k = rnd(g.initializer.len());
                        let t = &mut g.initializer[k];
                        if t.data_type == data_type::INT64 {
                            t.int64_data.iter_mut().for_each(|v| *v = ints[rnd(ints.len())]);
                            if !t.raw_data.is_empty() {
                                let at = rnd(t.raw_data.len());
                                t.raw_data[at] = rnd(256) as u8;
                            }
                        } else {
                            t.data_type =
                                [data_type::FLOAT16, data_type::DOUBLE, data_type::INT32, data_type::STRING][rnd(4)];
                        }
                    }
                    _ => {}
                }
            }
            let t0 = std::time::Instant::now();
            let r = import(&m);
            let dt = t0.elapsed();
            if dt.as_millis() > 200 {
                println!("slow ({dt:?}): {:?}", r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
            ok += r.is_ok() as usize;
        }
    }
    println!("{ok} of {} mutated models still imported", seeds.len() * 300);
}

#[test]
fn univariate_input_and_single_unit_layers() {
    // input_size 1, hidden_size 1: size-one feature and hidden axes are still axes.
    let m = model(
        vec![
            node("GRU", "gru", &["x", "W", "R"], &["Y"], vec![ai("hidden_size", 1)]),
            node("Squeeze", "s", &["Y", "one"], &["ys"], vec![]),
            node("MatMul", "mm", &["ys", "Wd"], &["out"], vec![]),
        ],
        vec![
            f32_init("W", &[1, 3, 1], &ramp(3, 1)),
            f32_init("R", &[1, 3, 1], &ramp(3, 2)),
            f32_init("Wd", &[1, 1], &[2.0]),
            i64_init("one", &[1], &[1]),
        ],
        vec![fvi("x", &[D::P("T"), D::K(1), D::K(1)])],
        vec![fvi("out", &[D::P("T"), D::K(1), D::K(1)])],
        13,
    );
    let imp = import(&m).unwrap();
    assert_eq!((imp.model.desc.input_size(), imp.model.desc.output_size()), (1, 1));
    assert_eq!(imp.interface.inputs[0].role, IoRole::Sequence(SeqLayout::TimeBatchFeature));
    assert_eq!(imp.interface.outputs[0].role, IoRole::Output(SeqLayout::TimeBatchFeature));
}

// ------------------------------------------------------------------ heads on the final state

/// x [T, N, 4] -> LSTM (hidden 6, `dir`) -> `glue` (from `Y`, `Y_h`, `Y_c`) -> `outs`.
fn classifier(dir: &str, glue: Vec<NodeProto>, inits: Vec<TensorProto>, outs: &[&str]) -> ModelProto {
    let (i, h) = (4i64, 6i64);
    let d = if dir == "bidirectional" { 2 } else { 1 };
    let mut nodes = vec![node(
        "LSTM",
        "lstm",
        &["x", "W", "R", "B"],
        &["Y", "Y_h", "Y_c"],
        vec![ai("hidden_size", h), as_("direction", dir)],
    )];
    nodes.extend(glue);
    let mut all = vec![
        f32_init("W", &[d, 4 * h, i], &ramp((d * 4 * h * i) as usize, 1)),
        f32_init("R", &[d, 4 * h, h], &ramp((d * 4 * h * h) as usize, 2)),
        f32_init("B", &[d, 8 * h], &ramp((d * 8 * h) as usize, 3)),
        i64_init("zero", &[1], &[0]),
        i64_init("one", &[1], &[1]),
    ];
    all.extend(inits);
    model(nodes, all, vec![fvi("x", &[D::P("T"), D::P("N"), D::K(i)])], outs.iter().map(|o| fvi(o, &[])).collect(), 14)
}

/// The dense weights of layer `l`.
fn dense_w(imp: &Imported, l: usize) -> (Vec<f32>, Option<Vec<f32>>) {
    match &imp.model.unpack()[l] {
        LayerWeights::Dense { w, b } => (w.clone(), b.clone()),
        w => panic!("layer {l} is {w:?}"),
    }
}

#[test]
fn gemm_on_the_final_state_is_a_head() {
    // PyTorch fc(h_n[-1]) on a one-layer LSTM: Y_h -> Squeeze(0) -> Gemm(transB) -> Relu.
    let fc = ramp(3 * 6, 4);
    let m = classifier(
        "forward",
        vec![
            node("Squeeze", "sq", &["Y_h", "zero"], &["hs"], vec![]),
            node("Gemm", "fc", &["hs", "fcW", "fcB"], &["g"], vec![ai("transB", 1)]),
            node("Relu", "act", &["g"], &["out"], vec![]),
        ],
        vec![f32_init("fcW", &[3, 6], &fc), f32_init("fcB", &[3], &ramp(3, 5))],
        &["out", "Y_h"],
    );
    let imp = import(&m).unwrap();
    let layers = &imp.model.desc.layers;
    assert_eq!(layers.len(), 2, "{:#?}", imp.report);
    let LayerDesc::Dense(dd) = &layers[1] else { panic!() };
    assert_eq!((dd.input_size, dd.output_size, dd.activation), (6, 3, DenseAct::Relu));
    assert_eq!(dense_w(&imp, 1), (fc, Some(ramp(3, 5))));
    assert_eq!(imp.interface.outputs[0].role, IoRole::FinalOutput(FinalLayout::BatchFeature));
    assert!(imp.interface.head_on_final_state());
    // The final state itself stays available.
    assert!(matches!(imp.interface.outputs[1].role, IoRole::FinalState { kind: StateKind::H, .. }));
    assert!(imp.report.iter().any(|l| l.contains("once per sequence")), "{:#?}", imp.report);
}

#[test]
fn bidirectional_heads_read_the_directions_they_select() {
    let fc = ramp(3 * 12, 4);
    // [2, N, 6] -> Transpose(1, 0, 2) -> Reshape(0, -1): both directions, forward first.
    let m = classifier(
        "bidirectional",
        vec![
            node("Transpose", "t", &["Y_h"], &["ht"], vec![aints("perm", &[1, 0, 2])]),
            node("Reshape", "r", &["ht", "shape"], &["hr"], vec![]),
            node("Gemm", "fc", &["hr", "fcW"], &["out"], vec![ai("transB", 1)]),
        ],
        vec![f32_init("fcW", &[3, 12], &fc), i64_init("shape", &[2], &[0, -1])],
        &["out"],
    );
    let imp = import(&m).unwrap();
    assert_eq!(dense_w(&imp, 1).0, fc);
    assert_eq!(imp.interface.outputs[0].role, IoRole::FinalOutput(FinalLayout::BatchFeature));

    // h_n[-1] alone (the backward direction): the forward columns get zero weights.
    let fc6 = ramp(6 * 3, 6);
    let m = classifier(
        "bidirectional",
        vec![
            node("Gather", "last", &["Y_h", "minus1"], &["hb"], vec![ai("axis", 0)]),
            node("MatMul", "mm", &["hb", "fcWt"], &["lin"], vec![]),
            node("Add", "add", &["lin", "fcB"], &["out"], vec![]),
        ],
        vec![f32_init("fcWt", &[6, 3], &fc6), f32_init("fcB", &[3], &ramp(3, 7)), i64_init("minus1", &[], &[-1])],
        &["out"],
    );
    let imp = import(&m).unwrap();
    let (w, b) = dense_w(&imp, 1);
    assert_eq!(b.as_deref(), Some(&ramp(3, 7)[..]));
    for o in 0..3 {
        assert!(w[o * 12..o * 12 + 6].iter().all(|&v| v == 0.0));
        for k in 0..6 {
            assert_eq!(w[o * 12 + 6 + k], fc6[k * 3 + o]);
        }
    }
    assert!(imp.report.iter().any(|l| l.contains("ignores direction 0")), "{:#?}", imp.report);

    // torch.cat([h_n[-1], h_n[-2]], dim=1): backward first, so the blocks swap.
    let m = classifier(
        "bidirectional",
        vec![
            node("Gather", "gb", &["Y_h", "minus1"], &["hb"], vec![ai("axis", 0)]),
            node("Gather", "gf", &["Y_h", "minus2"], &["hf"], vec![ai("axis", 0)]),
            node("Concat", "cat", &["hb", "hf"], &["hc"], vec![ai("axis", 1)]),
            node("Gemm", "fc", &["hc", "fcW"], &["out"], vec![ai("transB", 1)]),
        ],
        vec![f32_init("fcW", &[3, 12], &fc), i64_init("minus1", &[], &[-1]), i64_init("minus2", &[], &[-2])],
        &["out"],
    );
    let imp = import(&m).unwrap();
    let w = dense_w(&imp, 1).0;
    for o in 0..3 {
        assert_eq!(w[o * 12..o * 12 + 6], fc[o * 12 + 6..o * 12 + 12]);
        assert_eq!(w[o * 12 + 6..o * 12 + 12], fc[o * 12..o * 12 + 6]);
    }
}

#[test]
fn an_activation_on_the_final_state_starts_the_head_with_a_selection() {
    let m = classifier(
        "forward",
        vec![
            node("Squeeze", "sq", &["Y_h", "zero"], &["hs"], vec![]),
            node("Tanh", "act", &["hs"], &["ha"], vec![]),
            node("MatMul", "mm", &["ha", "fcWt"], &["out"], vec![]),
        ],
        vec![f32_init("fcWt", &[6, 2], &ramp(12, 4))],
        &["out", "Y"],
    );
    let imp = import(&m).unwrap();
    let layers = &imp.model.desc.layers;
    assert_eq!(layers.len(), 3, "{:#?}", imp.report);
    let LayerDesc::Dense(sel) = &layers[1] else { panic!() };
    assert_eq!((sel.input_size, sel.output_size, sel.activation), (6, 6, DenseAct::Tanh));
    let (w, b) = dense_w(&imp, 1);
    assert!(b.unwrap().iter().all(|&v| v == 0.0) && (0..36).all(|k| w[k] == if k % 7 == 0 { 1.0 } else { 0.0 }));
    assert_eq!(imp.interface.outputs[0].role, IoRole::FinalOutput(FinalLayout::BatchFeature));
    // With a head on the final state, Y is the recurrent layer's frames.
    assert_eq!(imp.interface.outputs[1].role, IoRole::Output(SeqLayout::OnnxY));
}

#[test]
fn heads_that_cannot_be_expressed_are_refused() {
    let sq = |from: &str| node("Squeeze", "sq", &[from, "zero"], &["hs"], vec![]);
    let fc = || node("Gemm", "fc", &["hs", "fcW"], &["out"], vec![ai("transB", 1)]);
    let fcw = || f32_init("fcW", &[3, 6], &ramp(18, 4));
    // On the cell state.
    let m = classifier("forward", vec![sq("Y_c"), fc()], vec![fcw()], &["out"]);
    refused(&m, ErrorClass::Unsupported, &["'fc' (Gemm)", "cell state"]);
    // A per-frame dense layer and a head after the same recurrent layer.
    let m = classifier(
        "forward",
        vec![
            sq("Y_h"),
            fc(),
            node("Squeeze", "sqy", &["Y", "one"], &["ys"], vec![]),
            node("MatMul", "frame", &["ys", "fcWt"], &["per_frame"], vec![]),
        ],
        vec![fcw(), f32_init("fcWt", &[6, 2], &ramp(12, 5))],
        &["out", "per_frame"],
    );
    refused(&m, ErrorClass::Unsupported, &["per frame", "final state"]);
    // Hidden units before directions: [N, 6, 2] flattened.
    let m = classifier(
        "bidirectional",
        vec![
            node("Transpose", "t", &["Y_h"], &["ht"], vec![aints("perm", &[1, 2, 0])]),
            node("Reshape", "r", &["ht", "shape"], &["hs"], vec![]),
            node("Gemm", "fc", &["hs", "fcW"], &["out"], vec![ai("transB", 1)]),
        ],
        vec![f32_init("fcW", &[3, 12], &ramp(36, 4)), i64_init("shape", &[2], &[0, -1])],
        &["out"],
    );
    refused(&m, ErrorClass::Unsupported, &["'fc' (Gemm)", "[slots, hidden]"]);
    // The final state of a layer that is not the last recurrent one.
    let m = model(
        vec![
            node("GRU", "g0", &["x", "W0", "R0"], &["Y0", "H0"], vec![ai("hidden_size", 6)]),
            node("Squeeze", "sy", &["Y0", "one"], &["y0"], vec![]),
            node("GRU", "g1", &["y0", "W1", "R1"], &["Y1"], vec![ai("hidden_size", 5)]),
            node("Squeeze", "sq", &["H0", "zero"], &["hs"], vec![]),
            node("Gemm", "fc", &["hs", "fcW"], &["out"], vec![ai("transB", 1)]),
        ],
        vec![
            f32_init("W0", &[1, 18, 4], &ramp(72, 1)),
            f32_init("R0", &[1, 18, 6], &ramp(108, 2)),
            f32_init("W1", &[1, 15, 6], &ramp(90, 3)),
            f32_init("R1", &[1, 15, 5], &ramp(75, 4)),
            fcw(),
            i64_init("zero", &[1], &[0]),
            i64_init("one", &[1], &[1]),
        ],
        vec![fvi("x", &[D::P("T"), D::P("N"), D::K(4)])],
        vec![fvi("out", &[]), fvi("Y1", &[])],
        14,
    );
    refused(&m, ErrorClass::Unsupported, &["layer 0"]);
}

#[test]
fn flattened_frames_are_an_output_layout() {
    // GRU Y [T, 1, N, 6] -> Squeeze(1) -> (Transpose to [N, T, 6]) -> Reshape(-1, 6) -> MatMul.
    for batch_first in [false, true] {
        let mut nodes = vec![
            node("GRU", "gru", &["x", "W", "R"], &["Y"], vec![ai("hidden_size", 6)]),
            node("Squeeze", "sq", &["Y", "one"], &["ys"], vec![]),
        ];
        let from = if batch_first {
            nodes.push(node("Transpose", "t", &["ys"], &["yt"], vec![aints("perm", &[1, 0, 2])]));
            "yt"
        } else {
            "ys"
        };
        nodes.push(node("Reshape", "r", &[from, "shape"], &["flat"], vec![]));
        nodes.push(node("MatMul", "mm", &["flat", "Wd"], &["out"], vec![]));
        let m = model(
            nodes,
            vec![
                f32_init("W", &[1, 18, 4], &ramp(72, 1)),
                f32_init("R", &[1, 18, 6], &ramp(108, 2)),
                f32_init("Wd", &[6, 2], &ramp(12, 3)),
                i64_init("one", &[1], &[1]),
                i64_init("shape", &[2], &[-1, 6]),
            ],
            vec![fvi("x", &[D::K(5), D::K(3), D::K(4)])],
            vec![fvi("out", &[D::K(15), D::K(2)])],
            14,
        );
        let imp = import(&m).unwrap();
        let want = if batch_first { SeqLayout::BatchTimeFlat } else { SeqLayout::TimeBatchFlat };
        assert_eq!(imp.interface.outputs[0].role, IoRole::Output(want), "{:#?}", imp.report);
    }
}

/// An LSTM over x [7, `n`, 5] with `sequence_lens`, `initial_h` and `initial_c` as
/// initializers (batch 3).
fn lstm_constants(n: D, lens: &[i32]) -> ModelProto {
    let h = 4;
    let lens = TensorProto {
        name: "lens".into(),
        dims: vec![lens.len() as i64],
        data_type: data_type::INT32,
        int32_data: lens.to_vec(),
        ..Default::default()
    };
    model(
        vec![node("LSTM", "lstm", &["x", "W", "R", "", "lens", "h0", "c0"], &["Y", "Y_h"], vec![ai("hidden_size", h)])],
        vec![
            f32_init("W", &[1, 4 * h, 5], &ramp(80, 1)),
            f32_init("R", &[1, 4 * h, h], &ramp(64, 2)),
            lens,
            f32_init("h0", &[1, 3, h], &ramp(12, 3)),
            f32_init("c0", &[1, 3, h], &[0.0; 12]),
        ],
        vec![fvi("x", &[D::K(7), n, D::K(5)])],
        vec![fvi("Y", &[]), fvi("Y_h", &[])],
        14,
    )
}

#[test]
fn constant_lengths_and_initial_states_are_recorded() {
    let imp = import(&lstm_constants(D::P("N"), &[6, 7, 0])).unwrap();
    let c = &imp.interface.constants;
    // The zero c0 is the engine's zero state: no constant.
    assert_eq!(c.len(), 2, "{c:#?}");
    assert_eq!((c[0].name.as_str(), &c[0].role, &c[0].shape[..]), ("lens", &IoRole::SequenceLens, &[3u64][..]));
    assert_eq!(c[0].values, ConstValues::Lengths(vec![6, 7, 0]));
    let slots = vec![StateSlot { layer: 0, dir: 0 }];
    assert_eq!(c[1].role, IoRole::InitialState { kind: StateKind::H, slots, layout: StateLayout::SlotBatchHidden });
    assert_eq!((c[1].name.as_str(), &c[1].shape[..]), ("h0", &[1u64, 3, 4][..]));
    assert_eq!(c[1].values, ConstValues::F32(ramp(12, 3)));
    assert_eq!(imp.interface.fixed_batch(), Some(3));
    // Only X is a graph input.
    assert_eq!(imp.interface.inputs.len(), 1);
    // They survive the file.
    let bytes = write_bytes(&imp.model, &imp.interface).unwrap();
    assert_eq!(parse(&bytes, ParseOptions::default()).unwrap().interface(), &imp.interface);

    // Lengths that contradict X: a batch of 2, a length past T = 7, a negative length.
    refused(&lstm_constants(D::K(2), &[6, 7, 0]), ErrorClass::InvalidModel, &["sequence_lens", "batch"]);
    refused(&lstm_constants(D::P("N"), &[6, 8, 0]), ErrorClass::InvalidModel, &["sequence_lens", "element 1 is 8"]);
    refused(&lstm_constants(D::P("N"), &[6, -1, 0]), ErrorClass::InvalidModel, &["sequence_lens", "-1"]);
}

#[test]
fn the_last_frame_of_a_forward_layer_is_its_final_state() {
    // out[:, -1, :] of a batch-first LSTM, then fc: a head on the final state.
    let glue = |dir: &str, index: i64| {
        let mut g = vec![
            node("Squeeze", "sy", &["Y", "one"], &["ys"], vec![]),
            node("Transpose", "t", &["ys"], &["yb"], vec![aints("perm", &[1, 0, 2])]),
            node("Gather", "last", &["yb", "idx"], &["hl"], vec![ai("axis", 1)]),
            node("Gemm", "fc", &["hl", "fcW"], &["out"], vec![ai("transB", 1)]),
        ];
        if dir == "bidirectional" {
            // [T, 2, N, 6] -> [T, N, 2, 6] -> [T, N, 12]
            g[0] = node("Transpose", "ty", &["Y"], &["yt"], vec![aints("perm", &[0, 2, 1, 3])]);
            g.insert(1, node("Reshape", "ry", &["yt", "shape"], &["ys"], vec![]));
        }
        let w = if dir == "bidirectional" { 12 } else { 6 };
        classifier(
            dir,
            g,
            vec![
                f32_init("fcW", &[3, w], &ramp(3 * w as usize, 4)),
                i64_init("idx", &[], &[index]),
                i64_init("shape", &[3], &[0, 0, -1]),
            ],
            &["out"],
        )
    };
    let imp = import(&glue("forward", -1)).unwrap();
    assert_eq!(imp.interface.outputs[0].role, IoRole::FinalOutput(FinalLayout::BatchFeature));
    assert_eq!(dense_w(&imp, 1).0, ramp(18, 4));
    // Another frame, or a layer that does not end at the last frame, is refused.
    refused(&glue("forward", 0), ErrorClass::Unsupported, &["'last' (Gather)", "part of a sequence"]);
    refused(&glue("bidirectional", -1), ErrorClass::Unsupported, &["'last' (Gather)", "both directions"]);
    refused(&glue("reverse", -1), ErrorClass::Unsupported, &["'last' (Gather)", "reverse"]);

    // Per-frame dense layers, then the last frame: they become the head.
    let m = model(
        vec![
            node("GRU", "gru", &["x", "W", "R"], &["Y"], vec![ai("hidden_size", 6)]),
            node("Squeeze", "sq", &["Y", "one"], &["ys"], vec![]),
            node("MatMul", "mm", &["ys", "Wd"], &["pre"], vec![]),
            node("Sigmoid", "act", &["pre"], &["frames"], vec![]),
            node("Gather", "last", &["frames", "idx"], &["out"], vec![ai("axis", 0)]),
        ],
        vec![
            f32_init("W", &[1, 18, 4], &ramp(72, 1)),
            f32_init("R", &[1, 18, 6], &ramp(108, 2)),
            f32_init("Wd", &[6, 2], &ramp(12, 3)),
            i64_init("one", &[1], &[1]),
            i64_init("idx", &[], &[4]),
        ],
        vec![fvi("x", &[D::K(5), D::P("N"), D::K(4)])],
        vec![fvi("out", &[]), fvi("Y", &[])],
        14,
    );
    let imp = import(&m).unwrap();
    assert_eq!(imp.interface.outputs[0].role, IoRole::FinalOutput(FinalLayout::BatchFeature), "{:#?}", imp.report);
    assert_eq!(imp.interface.outputs[1].role, IoRole::Output(SeqLayout::OnnxY));
    // The per-frame values of those layers cannot be an output as well.
    let mut m2 = m.clone();
    m2.graph.as_mut().unwrap().output.push(fvi("frames", &[]));
    refused(&m2, ErrorClass::Unsupported, &["'frames'", "once per sequence"]);
    // With sequence lengths the last frame is not the final state.
    let mut m3 = m;
    let g = m3.graph.as_mut().unwrap();
    g.node[0].input.extend(["".to_string(), "lens".to_string()]);
    g.input.push(vi("lens", data_type::INT32, &[D::P("N")]));
    refused(&m3, ErrorClass::Unsupported, &["'last' (Gather)", "sequence_lens"]);
}
