#!/usr/bin/env python3
"""Build recur's four canonical benchmark workloads as ONNX models.

    python3 tools/make_workloads.py OUT_DIR [--only W1,W3] [--seed 0] [--exporter helper|torch|dynamo]

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

`--exporter torch` (TorchScript exporter, opset 14) and `--exporter dynamo` (torch.export,
opset 18) export the same workloads from PyTorch itself instead: `nn.GRU`/`nn.LSTM` (+
`nn.Linear` for W1) holding the same weights (`torch_modules`), wrapped so that the graph
has the same inputs and outputs (x, h0[, c0] -> y, hn[, cn]; W4 x [T,1,256] -> y with T
dynamic). Each export is checked against the onnx.helper graph under ONNX Runtime on
random inputs (and a 7-frame sequence for W4) before it is written. These need torch (and
onnxscript for dynamo); compare.py takes the same option.
"""

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings

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


EXPORTERS = ("helper", "torch", "dynamo")


def _reorder(kind, a):
    """ONNX gate order -> PyTorch's, along axis 0 (GRU z r h -> r z n; LSTM i o f c -> i f g o)."""
    if kind == "GRU":
        z, r, n = np.split(a, 3, axis=0)
        return np.concatenate([r, z, n], axis=0)
    i, o, f, c = np.split(a, 4, axis=0)
    return np.concatenate([i, f, c, o], axis=0)


def torch_modules(model):
    """PyTorch modules holding the weights of an onnx.helper workload graph.

    Returns (rnn, fc): an `nn.GRU`/`nn.LSTM` with every layer's weights and biases, and the
    `nn.Linear` of W1's dense head (None for the others). Needs torch.
    """
    import torch

    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    kind = next(n.op_type for n in model.graph.node if n.op_type in ("GRU", "LSTM"))
    layers = sum(1 for k in w if k.endswith("_R"))
    i0, h = w["l0_W"].shape[2], w["l0_R"].shape[2]
    rnn = (torch.nn.GRU if kind == "GRU" else torch.nn.LSTM)(i0, h, num_layers=layers)
    fc = None
    with torch.no_grad():
        for l in range(layers):
            p = f"l{l}_"
            wb, rb = np.split(w[p + "B"][0], 2)
            getattr(rnn, f"weight_ih_l{l}").copy_(torch.from_numpy(_reorder(kind, w[p + "W"][0])))
            getattr(rnn, f"weight_hh_l{l}").copy_(torch.from_numpy(_reorder(kind, w[p + "R"][0])))
            getattr(rnn, f"bias_ih_l{l}").copy_(torch.from_numpy(_reorder(kind, wb)))
            getattr(rnn, f"bias_hh_l{l}").copy_(torch.from_numpy(_reorder(kind, rb)))
        if "fc_W" in w:
            fc = torch.nn.Linear(h, w["fc_W"].shape[1])
            fc.weight.copy_(torch.from_numpy(w["fc_W"].T.copy()))
            fc.bias.copy_(torch.from_numpy(w["fc_B"].copy()))
    rnn.eval()
    return rnn, fc


def _torch_export(model, wid, path, exporter):
    """Exports workload `wid` (built as `model` by onnx.helper) from PyTorch to `path`."""
    import torch

    rnn, fc = torch_modules(model)
    lstm = isinstance(rnn, torch.nn.LSTM)
    layers, i0, h = rnn.num_layers, rnn.input_size, rnn.hidden_size
    sequence = WORKLOADS[wid][2] == "run"

    class Streaming(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = rnn, fc

        def forward(self, x, h0, c0=None):
            y, s = self.rnn(x, (h0, c0) if lstm else h0)
            if self.fc is not None:
                y = self.fc(y)
            return (y, *s) if lstm else (y, s)

    class Sequence(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    if sequence:
        module, args = Sequence().eval(), (torch.zeros(5, 1, i0),)
        names, outs = ["x"], ["y"]
    else:
        module = Streaming().eval()
        args = (torch.zeros(1, 1, i0), torch.zeros(layers, 1, h)) + ((torch.zeros(layers, 1, h),) if lstm else ())
        names, outs = ["x", "h0", "c0"][: len(args)], ["y", "hn", "cn"][: len(args)]
    kw = {"input_names": names, "output_names": outs}
    # The exporters warn about their own deprecations and batch sizes (the graphs here
    # have batch 1 and take their initial states as inputs) and narrate their passes.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            if sequence:
                kw["dynamic_shapes"] = {"x": {0: torch.export.Dim("T", min=1, max=1 << 20)}}
            torch.onnx.export(module, args, path, dynamo=True, opset_version=18, external_data=False,
                              verbose=False, **kw)
        else:
            if sequence:
                kw["dynamic_axes"] = {"x": {0: "T"}, "y": {0: "T"}}
            torch.onnx.export(module, args, path, dynamo=False, opset_version=OPSET, **kw)
    _check_export(model, path)


def _check_export(model, path, tol=1e-5):
    """Runs the export and the onnx.helper graph under ONNX Runtime on the same random inputs."""
    import onnxruntime as ort

    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    exp = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(11)
    feeds = {}
    for v in ref.get_inputs():
        shape = [7 if isinstance(d, str) or d is None else d for d in v.shape]
        feeds[v.name] = rng.uniform(-1, 1, shape).astype(np.float32)
    got_names = [o.name for o in exp.get_outputs()]
    want = dict(zip([o.name for o in ref.get_outputs()], ref.run(None, feeds)))
    got = dict(zip(got_names, exp.run(None, {i.name: feeds[i.name] for i in exp.get_inputs()})))
    for name, a in want.items():
        if name not in got:
            raise SystemExit(f"{path}: the export has no output {name!r} (has {got_names})")
        err = float(np.max(np.abs(got[name].reshape(a.shape) - a)))
        if err > tol:
            raise SystemExit(f"{path}: output {name!r} differs from the onnx.helper graph by {err:.2e}")


def make(out_dir, ids=None, seed=0, verbose=True, exporter="helper"):
    """Write the workloads to out_dir; return {id: path}."""
    if exporter not in EXPORTERS:
        raise SystemExit(f"unknown exporter {exporter!r} (have {', '.join(EXPORTERS)})")
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for wid in ids or WORKLOADS:
        builder, desc, _ = WORKLOADS[wid]
        path = os.path.join(out_dir, wid.lower() + ".onnx")
        model = builder(seed)
        if exporter == "helper":
            onnx.save(model, path)
        else:
            _torch_export(model, wid, path, exporter)
        paths[wid] = path
        if verbose:
            print(f"{wid}: {desc} -> {path} ({os.path.getsize(path):,} bytes, {exporter})")
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("out_dir")
    ap.add_argument("--only", help="comma-separated ids, e.g. W1,W4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exporter", choices=EXPORTERS, default="helper",
                    help="onnx.helper (default, no torch), or export from PyTorch: torch (TorchScript), dynamo")
    a = ap.parse_args()
    ids = [s.strip().upper() for s in a.only.split(",")] if a.only else None
    for wid in ids or []:
        if wid not in WORKLOADS:
            sys.exit(f"unknown workload {wid} (have {', '.join(WORKLOADS)})")
    make(a.out_dir, ids, a.seed, exporter=a.exporter)


if __name__ == "__main__":
    main()
