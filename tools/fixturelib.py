"""Shared helpers for gen_fixtures.py and make_demo.py.

- GraphBuilder: small wrapper over onnx.helper that names nodes the way the exporters do.
- ref_eval: an independent float64 evaluator for the ops the fixtures use (the recurrent
  nodes go through rnnref.run_op), used to cross-check onnxruntime.
- run_ort, check_model, write_case: run/verify a model and write a case folder in the
  layout of shared/conformance (model.onnx, input_<name>.npy, output_<name>.npy, case.json).
- torch-layout helpers: convert torch.nn.LSTM/GRU parameters to ONNX W/R/B the way the
  PyTorch exporter does (gate reordering, bias concatenation).
"""

import json
import os
import shutil
from collections import OrderedDict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import rnnref

PRODUCER = "recur-tools"
PRODUCER_VERSION = "1"

DEFAULT_TOL = {"abs": 1e-5, "rel": 1e-4}

RNN_SLOTS = {
    "RNN": (["X", "W", "R", "B", "sequence_lens", "initial_h"], ["Y", "Y_h"]),
    "GRU": (["X", "W", "R", "B", "sequence_lens", "initial_h"], ["Y", "Y_h"]),
    "LSTM": (["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"], ["Y", "Y_h", "Y_c"]),
}


# ----------------------------------------------------------------------------- building


class GraphBuilder:
    def __init__(self, name="graph"):
        self.name = name
        self.nodes = []
        self.inits = []
        self.inputs = []
        self.outputs = []
        self._n = {}

    def uniq(self, base):
        k = self._n.get(base, 0)
        self._n[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def input(self, name, arr_or_shape, dtype=TensorProto.FLOAT):
        shape = list(arr_or_shape.shape) if hasattr(arr_or_shape, "shape") else list(arr_or_shape)
        self.inputs.append(helper.make_tensor_value_info(name, dtype, shape))
        return name

    def output(self, name, shape, dtype=TensorProto.FLOAT):
        self.outputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def init(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op, inputs, n_out=1, name=None, outputs=None, **attrs):
        name = self.uniq(name or op)
        if outputs is None:
            outputs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs), name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def const(self, value, name=None, dtype=np.int64):
        name = self.uniq(name or "Constant")
        arr = np.asarray(value, dtype=dtype)
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node("Constant", [], [out], name=name,
                                           value=numpy_helper.from_array(arr)))
        return out

    def model(self, opset, doc=""):
        g = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.inits)
        opsets = [helper.make_opsetid("", opset)]
        m = helper.make_model(g, opset_imports=opsets, producer_name=PRODUCER,
                              producer_version=PRODUCER_VERSION,
                              ir_version=helper.find_min_ir_version_for(opsets))
        if doc:
            m.doc_string = doc
        return m


# ----------------------------------------------------------------------------- torch layout


def torch_lstm_to_onnx(w_ih, w_hh, b_ih, b_hh):
    """One direction: torch gates (i, f, g, o) -> ONNX gates (i, o, f, c)."""
    H = w_hh.shape[1]
    idx = np.concatenate([np.arange(H) + k * H for k in (0, 3, 1, 2)])
    return w_ih[idx], w_hh[idx], np.concatenate([b_ih[idx], b_hh[idx]])


def torch_gru_to_onnx(w_ih, w_hh, b_ih, b_hh):
    """One direction: torch gates (r, z, n) -> ONNX gates (z, r, h)."""
    H = w_hh.shape[1]
    idx = np.concatenate([np.arange(H) + k * H for k in (1, 0, 2)])
    return w_ih[idx], w_hh[idx], np.concatenate([b_ih[idx], b_hh[idx]])


def torch_layer_to_onnx(kind, params, layer, bidirectional):
    conv = torch_lstm_to_onnx if kind == "lstm" else torch_gru_to_onnx
    Ws, Rs, Bs = [], [], []
    for sfx in ([""] + (["_reverse"] if bidirectional else [])):
        w, r, b = conv(*[params[f"{n}_l{layer}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")])
        Ws.append(w)
        Rs.append(r)
        Bs.append(b)
    return (np.stack(Ws).astype(np.float32), np.stack(Rs).astype(np.float32),
            np.stack(Bs).astype(np.float32))


def torch_init_params(rng, kind, I, H, num_layers, bidirectional):
    """torch.nn.LSTM/GRU default init: U(-1/sqrt(H), 1/sqrt(H)), float32."""
    G = 4 if kind == "lstm" else 3
    D = 2 if bidirectional else 1
    k = 1.0 / np.sqrt(H)
    p = OrderedDict()
    for layer in range(num_layers):
        inp = I if layer == 0 else D * H
        for sfx in ([""] + (["_reverse"] if bidirectional else [])):
            p[f"weight_ih_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H, inp)).astype(np.float32)
            p[f"weight_hh_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H, H)).astype(np.float32)
            p[f"bias_ih_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H,)).astype(np.float32)
            p[f"bias_hh_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H,)).astype(np.float32)
    return p


def torch_linear_init(rng, fan_in, fan_out):
    k = 1.0 / np.sqrt(fan_in)
    return (rng.uniform(-k, k, (fan_out, fan_in)).astype(np.float32),
            rng.uniform(-k, k, (fan_out,)).astype(np.float32))


# ----------------------------------------------------------------------------- reference


def _attrs(node):
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [x.decode() for x in v]
        out[a.name] = v
    return out


def _softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _logsoftmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def ref_eval(model, feeds):
    """Evaluate `model` in float64 with plain numpy. Returns (outputs dict, list of Act)."""
    env = {}
    for k, v in feeds.items():
        v = np.asarray(v)
        env[k] = v.astype(np.float64) if v.dtype.kind == "f" else v
    for t in model.graph.initializer:
        v = numpy_helper.to_array(t)
        env[t.name] = v.astype(np.float64) if v.dtype.kind == "f" else v
    acts = []
    for node in model.graph.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op in RNN_SLOTS:
            slots = RNN_SLOTS[op][0]
            kw = {s: (ins[j] if j < len(ins) else None) for j, s in enumerate(slots)}
            Y, Yh, Yc, used = rnnref.run_op(
                op, kw["X"], kw["W"], kw["R"], kw["B"], kw["sequence_lens"], kw["initial_h"],
                kw.get("initial_c"), kw.get("P"), activations=a.get("activations"),
                alphas=a.get("activation_alpha"), betas=a.get("activation_beta"),
                clip=a.get("clip"), direction=a.get("direction", "forward"),
                linear_before_reset=a.get("linear_before_reset", 0),
                input_forget=a.get("input_forget", 0), layout=a.get("layout", 0))
            if "hidden_size" in a:
                assert Yh.shape[-1] == a["hidden_size"]
            acts += used
            outs = [Y, Yh, Yc]
        elif op == "Constant":
            outs = [numpy_helper.to_array(a["value"])]
        elif op == "Identity":
            outs = [ins[0]]
        elif op == "Transpose":
            outs = [np.transpose(ins[0], a.get("perm"))]
        elif op == "Squeeze":
            outs = [np.squeeze(ins[0], axis=tuple(int(x) for x in ins[1]))]
        elif op == "Unsqueeze":
            x = ins[0]
            axes = sorted(int(v) % (x.ndim + len(ins[1])) for v in ins[1])
            for ax in axes:
                x = np.expand_dims(x, ax)
            outs = [x]
        elif op == "Reshape":
            shape = [int(s) for s in ins[1]]
            shape = [ins[0].shape[i] if (s == 0 and not a.get("allowzero", 0)) else s for i, s in enumerate(shape)]
            outs = [ins[0].reshape(shape)]
        elif op == "Concat":
            outs = [np.concatenate(ins, axis=a["axis"])]
        elif op == "Slice":
            x = ins[0]
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            outs = [x[tuple(sl)]]
        elif op == "Shape":
            r = ins[0].ndim
            start, end = a.get("start", 0), a.get("end", r)
            outs = [np.array(ins[0].shape[slice(start, end)], np.int64)]
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]).reshape(-1)[0] if "value" in a else np.float32(0)
            dt = np.float64 if np.asarray(v).dtype.kind == "f" else np.asarray(v).dtype
            outs = [np.full(tuple(int(d) for d in ins[0]), v, dt)]
        elif op == "Mul":
            outs = [ins[0] * ins[1]]
        elif op == "Gather":
            outs = [np.take(ins[0], ins[1], axis=a.get("axis", 0))]
        elif op == "Expand":
            shape = np.broadcast_shapes(ins[0].shape, tuple(int(s) for s in ins[1]))
            outs = [np.broadcast_to(ins[0], shape).copy()]
        elif op == "Gemm":
            A = ins[0].T if a.get("transA", 0) else ins[0]
            Bm = ins[1].T if a.get("transB", 0) else ins[1]
            y = a.get("alpha", 1.0) * (A @ Bm)
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            outs = [y]
        elif op == "MatMul":
            outs = [ins[0] @ ins[1]]
        elif op == "Add":
            outs = [ins[0] + ins[1]]
        elif op == "Relu":
            outs = [np.maximum(ins[0], 0.0)]
        elif op == "Tanh":
            outs = [np.tanh(ins[0])]
        elif op == "Sigmoid":
            outs = [1.0 / (1.0 + np.exp(-ins[0]))]
        elif op == "Softmax":
            outs = [_softmax(ins[0], a.get("axis", -1))]
        elif op == "LogSoftmax":
            outs = [_logsoftmax(ins[0], a.get("axis", -1))]
        else:
            raise NotImplementedError(op)
        for name, v in zip(node.output, outs):
            if name:
                env[name] = v
    return OrderedDict((o.name, env[o.name]) for o in model.graph.output), acts


# ----------------------------------------------------------------------------- checks / ORT


def check_model(model):
    onnx.checker.check_model(model, full_check=True)
    return "ok"


def run_ort(model, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(None, dict(feeds))
    return OrderedDict(zip(names, res))


def within(actual, expected, tol, margin=1.0):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    return bool(np.all(np.abs(actual - expected) <= margin * (tol["abs"] + tol["rel"] * np.abs(expected))))


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0


def output_stats(arr):
    a = np.asarray(arr, np.float64)
    return {
        "shape": list(arr.shape),
        "finite": bool(np.all(np.isfinite(a))),
        "max_abs": float(np.max(np.abs(a))) if a.size else 0.0,
        "mean_abs": float(np.mean(np.abs(a))) if a.size else 0.0,
        "std": float(np.std(a)) if a.size else 0.0,
        "frac_abs_gt_0.99": float(np.mean(np.abs(a) > 0.99)) if a.size else 0.0,
    }


def graph_summary(model):
    g = model.graph
    inits = {t.name for t in g.initializer}
    gin = {i.name for i in g.input}
    gout = {o.name for o in g.output}
    producer = {}
    consumers = {}
    for n in g.node:
        for o in n.output:
            if o:
                producer[o] = n.op_type
        for i in n.input:
            if i:
                consumers.setdefault(i, []).append(n.op_type)
    ops = {}
    rec = []
    for n in g.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
        if n.op_type in RNN_SLOTS:
            slots_in, slots_out = RNN_SLOTS[n.op_type]
            ins = []
            for j, s in enumerate(slots_in):
                name = n.input[j] if j < len(n.input) else ""
                src = ("(omitted)" if not name else "graph input" if name in gin else
                       "initializer" if name in inits else producer.get(name, "?"))
                ins.append({"slot": s, "from": src})
            outs = []
            for j, s in enumerate(slots_out):
                name = n.output[j] if j < len(n.output) else ""
                if not name:
                    outs.append({"slot": s, "to": ["(not requested)"]})
                else:
                    to = (["graph output"] if name in gout else []) + consumers.get(name, [])
                    outs.append({"slot": s, "to": to or ["(unused)"]})
            rec.append({"op": n.op_type, "attributes": _attrs(n), "inputs": ins, "outputs": outs})
    return {"op_counts": dict(sorted(ops.items())), "node_count": len(g.node), "local_functions": len(model.functions),
            "recurrent_nodes": rec}


def _dtype_name(a):
    return {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}[a.dtype]


def save_npy(path, arr):
    arr = np.ascontiguousarray(arr)
    assert arr.dtype in (np.float32, np.int32), arr.dtype
    np.save(path, arr, allow_pickle=False)


def write_set(folder, inputs, outputs):
    os.makedirs(folder, exist_ok=True)
    for k, v in inputs.items():
        save_npy(os.path.join(folder, f"input_{k}.npy"), v)
    for k, v in outputs.items():
        save_npy(os.path.join(folder, f"output_{k}.npy"), v)


def write_case(root, name, model, inputs, outputs, meta, extra_sets=()):
    """inputs/outputs: OrderedDict in graph order. meta: the rest of case.json.

    extra_sets: list of (dir, description, inputs, outputs)."""
    folder = os.path.join(root, name)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    assert [i.name for i in model.graph.input] == list(inputs), ([i.name for i in model.graph.input], list(inputs))
    assert [o.name for o in model.graph.output] == list(outputs)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    write_set(folder, inputs, outputs)
    case = OrderedDict()
    case["name"] = name
    case["source"] = meta.pop("source", "onnx-helper")
    case["opset"] = model.opset_import[0].version
    case["description"] = meta.pop("description")
    case["inputs"] = list(inputs)
    case["outputs"] = list(outputs)
    case["input_dtypes"] = {k: _dtype_name(v) for k, v in inputs.items()}
    case["input_shapes"] = {k: list(v.shape) for k, v in inputs.items()}
    case["output_shapes"] = {k: list(v.shape) for k, v in outputs.items()}
    case["tolerance"] = meta.pop("tolerance", dict(DEFAULT_TOL))
    case["features"] = sorted(set(meta.pop("features")))
    if extra_sets:
        case["extra_sets"] = [{"dir": d, "description": desc} for d, desc, _, _ in extra_sets]
        for d, _, ins, outs in extra_sets:
            write_set(os.path.join(folder, d), ins, outs)
    case.update(meta)
    case["output_stats"] = {k: output_stats(v) for k, v in outputs.items()}
    case["graph"] = graph_summary(model)
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(case, f, indent=1)
        f.write("\n")
    return case
