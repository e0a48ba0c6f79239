#!/usr/bin/env python3
"""Build recur's four canonical benchmark workloads as ONNX models.

    python3 tools/make_workloads.py OUT_DIR [--only W1,W3] [--seed 0]

Writes OUT_DIR/w1.onnx ... w4.onnx (W2-W3 are tens of MB: not committed).

| id | model                              | form                                          |
|----|------------------------------------|-----------------------------------------------|
| W1 | GRU in=40 H=128 + Linear 128->12   | streaming: x [1,1,40], h0 [1,1,128] -> y, hn  |
| W2 | LSTM 2 layers in=80 H=512          | streaming: x [1,1,80], h0/c0 [2,1,512] -> y, hn, cn |
| W3 | LSTM in=1024 H=1024                | streaming: x [1,1,1024], h0/c0 [1,1,1024] -> y, hn, cn |
| W4 | GRU in=256 H=256                   | sequence: x [T,1,256] (T symbolic) -> y [T,1,256] |

The graphs are built with onnx.helper in the shape PyTorch's TorchScript exporter gives
(`nn.GRU`/`nn.LSTM` with `linear_before_reset=1` for GRU, PyTorch's gate order converted to
ONNX's, Slice/Concat of per-layer states for W2). torch is not needed. Weights are
deterministic: uniform(-1/sqrt(H), 1/sqrt(H)) from numpy's PCG64 seeded per workload, as
PyTorch initialises them, so the numbers stay in the activations' useful range.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 14


def _uniform(rng, shape, h):
    k = 1.0 / np.sqrt(h)
    return rng.uniform(-k, k, size=shape).astype(np.float32)


def _rnn_node(kind, name, x, w, r, b, h0, c0, hidden, outs):
    inputs = [x, w, r, b, "", h0] + ([c0] if kind == "LSTM" else [])
    attrs = {"hidden_size": hidden}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1  # what PyTorch's GRU computes
    return helper.make_node(kind, inputs, outs, name=name, **attrs)


def _layer_weights(rng, kind, i, h, prefix):
    g = 4 if kind == "LSTM" else 3
    w = _uniform(rng, (1, g * h, i), h)
    r = _uniform(rng, (1, g * h, h), h)
    b = _uniform(rng, (1, 2 * g * h), h)
    return [
        numpy_helper.from_array(w, prefix + "W"),
        numpy_helper.from_array(r, prefix + "R"),
        numpy_helper.from_array(b, prefix + "B"),
    ]


def _const_i64(name, vals):
    return numpy_helper.from_array(np.array(vals, dtype=np.int64), name)


def build_streaming(kind, layers, i, h, dense_out=None, seed=0, name="w"):
    """A stateful streaming graph: x [1,1,i], h0 (and c0) [layers,1,h] in; y, hn (cn) out."""
    rng = np.random.default_rng(seed)
    lstm = kind == "LSTM"
    inits, nodes = [], []
    g_inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, i]),
        helper.make_tensor_value_info("h0", TensorProto.FLOAT, [layers, 1, h]),
    ]
    if lstm:
        g_inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [layers, 1, h]))
    cur = "x"
    hn_parts, cn_parts = [], []
    for l in range(layers):
        p = f"l{l}_"
        inits += _layer_weights(rng, kind, i if l == 0 else h, h, p)
        if layers == 1:
            h0l, c0l = "h0", "c0"
        else:
            inits += [_const_i64(p + "s", [l]), _const_i64(p + "e", [l + 1]), _const_i64(p + "ax", [0])]
            h0l, c0l = p + "h0", p + "c0"
            nodes.append(helper.make_node("Slice", ["h0", p + "s", p + "e", p + "ax"], [h0l], name=p + "slice_h"))
            if lstm:
                nodes.append(helper.make_node("Slice", ["c0", p + "s", p + "e", p + "ax"], [c0l], name=p + "slice_c"))
        outs = [p + "Y", p + "Yh"] + ([p + "Yc"] if lstm else [])
        nodes.append(_rnn_node(kind, f"/rnn/{kind}_{l}", cur, p + "W", p + "R", p + "B", h0l, c0l, h, outs))
        # Y [T, 1(dir), B, H] -> [T, B, H]
        inits.append(_const_i64(p + "sq", [1]))
        nodes.append(helper.make_node("Squeeze", [p + "Y", p + "sq"], [p + "y"], name=p + "squeeze"))
        cur = p + "y"
        hn_parts.append(p + "Yh")
        if lstm:
            cn_parts.append(p + "Yc")
    g_outputs = []
    if dense_out:
        dw = _uniform(rng, (h, dense_out), h)
        db = _uniform(rng, (dense_out,), h)
        inits += [numpy_helper.from_array(dw, "fc_W"), numpy_helper.from_array(db, "fc_B")]
        nodes.append(helper.make_node("MatMul", [cur, "fc_W"], ["fc_mm"], name="/fc/MatMul"))
        nodes.append(helper.make_node("Add", ["fc_mm", "fc_B"], ["y"], name="/fc/Add"))
        g_outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, dense_out]))
    else:
        nodes.append(helper.make_node("Identity", [cur], ["y"], name="out_y"))
        g_outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, h]))
    for out, parts in (("hn", hn_parts), ("cn", cn_parts)):
        if not parts:
            continue
        if len(parts) == 1:
            nodes.append(helper.make_node("Identity", parts, [out], name="out_" + out))
        else:
            nodes.append(helper.make_node("Concat", parts, [out], axis=0, name="concat_" + out))
        g_outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, [layers, 1, h]))
    graph = helper.make_graph(nodes, name, g_inputs, g_outputs, inits)
    return _finish(graph)


def build_sequence(kind, i, h, seed=0, name="w"):
    """A sequence graph: x [T,1,i] (T symbolic), zero initial state, y [T,1,h] out."""
    rng = np.random.default_rng(seed)
    inits = _layer_weights(rng, kind, i, h, "l0_")
    outs = ["l0_Y"]
    node = helper.make_node(kind, ["x", "l0_W", "l0_R", "l0_B"], outs, name=f"/rnn/{kind}",
                            hidden_size=h, **({"linear_before_reset": 1} if kind == "GRU" else {}))
    inits.append(_const_i64("sq", [1]))
    sq = helper.make_node("Squeeze", ["l0_Y", "sq"], ["y"], name="squeeze")
    graph = helper.make_graph(
        [node, sq], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, i])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["T", 1, h])],
        inits,
    )
    return _finish(graph)


def _finish(graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="recur tools/make_workloads.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


WORKLOADS = {
    # id: (builder, description, mode for recur bench / peers)
    "W1": (lambda s: build_streaming("GRU", 1, 40, 128, dense_out=12, seed=s + 1, name="w1"),
           "GRU in=40 H=128 + Linear 128->12", "step"),
    "W2": (lambda s: build_streaming("LSTM", 2, 80, 512, seed=s + 2, name="w2"),
           "LSTM 2 layers in=80 H=512", "step"),
    "W3": (lambda s: build_streaming("LSTM", 1, 1024, 1024, seed=s + 3, name="w3"),
           "LSTM in=1024 H=1024", "step"),
    "W4": (lambda s: build_sequence("GRU", 256, 256, seed=s + 4, name="w4"),
           "GRU in=256 H=256", "run"),
}


def make(out_dir, ids=None, seed=0, verbose=True):
    """Write the workloads to out_dir; return {id: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for wid in ids or WORKLOADS:
        builder, desc, _ = WORKLOADS[wid]
        path = os.path.join(out_dir, wid.lower() + ".onnx")
        onnx.save(builder(seed), path)
        paths[wid] = path
        if verbose:
            print(f"{wid}: {desc} -> {path} ({os.path.getsize(path):,} bytes)")
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("out_dir")
    ap.add_argument("--only", help="comma-separated ids, e.g. W1,W4")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    ids = [s.strip().upper() for s in a.only.split(",")] if a.only else None
    for wid in ids or []:
        if wid not in WORKLOADS:
            sys.exit(f"unknown workload {wid} (have {', '.join(WORKLOADS)})")
    make(a.out_dir, ids, a.seed)


if __name__ == "__main__":
    main()
