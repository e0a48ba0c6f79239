#!/usr/bin/env python3
"""Fixtures exported by PyTorch itself: fixtures/onnx/torchexport_*/.

Unlike the torch_* cases of gen_fixtures.py (graphs built with onnx.helper in the shape of
the exporter's output), these models are real torch.nn modules exported with
torch.onnx.export, and their expected outputs are the torch module's own float32 outputs.

  torchexport_bilstm2_linear_legacy_op14/op17  nn.LSTM(20, 32, num_layers=2, batch_first=True,
                                               bidirectional=True) + nn.Linear(64, 10) on every
                                               frame, TorchScript exporter (dynamo=False)
  torchexport_bigru2_linear_legacy_op14/op17   the same with nn.GRU
  torchexport_bilstm2_linear_dynamo            the LSTM model through the torch.export-based
                                               exporter (dynamo=True, needs onnxscript)
  torchexport_bigru2_linear_dynamo             the GRU model likewise
  torchexport_lstm2_stateful_legacy_op17       streaming forward(x, h0, c0) -> (y, hn, cn) of a
                                               unidirectional 2-layer batch-first LSTM + Linear;
                                               extra sets are the following chunks of a stream

Batch and time are dynamic axes of every export; the stored inputs are batch 3, T 11.
Each case records max |torch - onnxruntime|, max |torch - float64 torch.nn formulas
(rnnref.torch_rnn_stack)| and max |torch - the ONNX graph in float64 (fixturelib.ref_eval)|
as cross-checks; generation stops if any exceeds half the tolerance (abs 1e-5, rel 0).

Needs torch (CPU is enough) and, for the dynamo cases, onnxscript. gen_fixtures.py calls
this module when torch imports and otherwise keeps the committed torchexport_* folders.
Standalone: python3 tools/export_torch.py [--out DIR] [--only SUBSTR] writes these cases
only (fixtures/onnx/index.json and README.md are rewritten by gen_fixtures.py).
"""

import argparse
import os
import sys
import tempfile
import warnings
import zlib
from collections import OrderedDict

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixturelib as fl  # noqa: E402
import rnnref  # noqa: E402

PREFIX = "torchexport_"
TOL = {"abs": 1e-5, "rel": 0.0}
I, H, K, BATCH, T = 20, 32, 10, 3, 11
LAYERS = 2


def available():
    """Whether torch imports (the cases can be regenerated)."""
    try:
        import torch  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install counts as missing
        return False
    return True


def _seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def _model_class():
    import torch.nn as nn

    class RnnLinear(nn.Module):
        """nn.LSTM/GRU then nn.Linear on every frame; forward returns (logits, h_n[, c_n])."""

        def __init__(self, kind, bidirectional):
            super().__init__()
            self.kind = kind
            cls = nn.LSTM if kind == "lstm" else nn.GRU
            self.rnn = cls(I, H, num_layers=LAYERS, batch_first=True, bidirectional=bidirectional)
            self.head = nn.Linear((2 if bidirectional else 1) * H, K)

        def forward(self, x):
            y, st = self.rnn(x)
            if self.kind == "lstm":
                return self.head(y), st[0], st[1]
            return self.head(y), st

    class StatefulLstm(nn.Module):
        """Streaming step: forward(x, h0, c0) -> (y, hn, cn)."""

        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(I, H, num_layers=LAYERS, batch_first=True)
            self.head = nn.Linear(H, K)

        def forward(self, x, h0, c0):
            y, (hn, cn) = self.rnn(x, (h0, c0))
            return self.head(y), hn, cn

    # The dynamo exporter writes the class path into node metadata: make it the same whether
    # this file runs as a script or is imported by gen_fixtures.py.
    for cls in (RnnLinear, StatefulLstm):
        cls.__module__ = "export_torch"
        cls.__qualname__ = cls.__name__
    return RnnLinear, StatefulLstm


def _export(module, args, input_names, output_names, dynamo, opset):
    """torch.onnx.export to a temporary file; returns the loaded ModelProto."""
    import torch

    batch_time = {0: "batch", 1: "time"}
    state = {1: "batch"}
    axes = {n: (batch_time if n in ("x", "logits", "y") else state) for n in input_names + output_names}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if dynamo:
                b, t = torch.export.Dim("batch"), torch.export.Dim("time")
                shapes = {"x": {0: b, 1: t}}
                for n in input_names[1:]:
                    shapes[n] = {1: b}
                kw = {} if opset is None else {"opset_version": opset}
                prog = torch.onnx.export(module, args, dynamo=True, input_names=input_names,
                                         output_names=output_names, dynamic_shapes=shapes, verbose=False, **kw)
                prog.save(path)
            else:
                torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, input_names=input_names,
                                  output_names=output_names, dynamic_axes=axes)
        return onnx.load(path)


def _params(module):
    return OrderedDict((k, v.detach().numpy().astype(np.float32)) for k, v in module.rnn.state_dict().items())


def _float64_forward(module, kind, bidirectional, x, h0=None, c0=None):
    """torch.nn's formulas in float64 on the module's parameters (rnnref.torch_rnn_stack)."""
    y, hn, cn = rnnref.torch_rnn_stack(kind, _params(module), x, LAYERS, bidirectional, True, h0=h0, c0=c0)
    w = module.head.weight.detach().numpy().astype(np.float64)
    b = module.head.bias.detach().numpy().astype(np.float64)
    out = [y @ w.T + b, hn]
    if kind == "lstm":
        out.append(cn)
    return out


def _torch_run(module, feeds):
    import torch

    with torch.no_grad():
        res = module(*[torch.from_numpy(v) for v in feeds.values()])
    return [r.numpy().astype(np.float32) for r in res]


def _glue_features(model):
    ops = {n.op_type for n in model.graph.node}
    feats = set()
    if "ConstantOfShape" in ops:
        feats.add("constant_of_shape_glue")
    if "Expand" in ops:
        feats.add("shape_expand_glue")
    if "Slice" in ops:
        feats.add("slice_glue")
    if "Reshape" in ops:
        feats.add("reshape_glue")
    return feats


def _exporter_text(dynamo, model):
    import torch

    opset = model.opset_import[0].version
    if dynamo:
        import onnxscript

        return (f"torch.onnx.export(dynamo=True) (torch.export-based exporter), torch {torch.__version__}, "
                f"onnxscript {onnxscript.__version__}, opset {opset} (the exporter's default)")
    return f"torch.onnx.export(dynamo=False) (TorchScript exporter), torch {torch.__version__}, opset {opset}"


def _check_and_meta(name, model, sets, ref64s):
    """sets: [(feeds, torch outputs)]; ref64s: float64 outputs per set. Returns the cross-check meta."""
    ort_diff, ref_diff, graph64_diff = 0.0, 0.0, 0.0
    for (feeds, expected), ref in zip(sets, ref64s):
        ort = fl.run_ort(model, feeds)
        g64, _ = fl.ref_eval(model, feeds)
        for k in expected:
            d = fl.max_abs_diff(g64[k], expected[k])
            assert fl.within(expected[k], g64[k], TOL, 0.5), f"{name}: torch differs from the graph in float64 by {d:.3g}"
            graph64_diff = max(graph64_diff, d)
        assert list(ort) == list(expected), (name, list(ort), list(expected))
        for k in expected:
            assert ort[k].shape == expected[k].shape, (name, k, ort[k].shape, expected[k].shape)
            assert np.all(np.isfinite(expected[k])), (name, k)
            d = fl.max_abs_diff(ort[k], expected[k])
            assert fl.within(ort[k], expected[k], TOL, 0.5), f"{name}: onnxruntime differs from torch by {d:.3g} in {k}"
            ort_diff = max(ort_diff, d)
        for k, r in zip(expected, ref):
            d = fl.max_abs_diff(expected[k], r)
            assert fl.within(expected[k], r, TOL, 0.5), f"{name}: torch differs from float64 formulas by {d:.3g} in {k}"
            ref_diff = max(ref_diff, d)
    return OrderedDict(torch_vs_ort_max_abs_diff=ort_diff, torch_vs_float64_max_abs_diff=ref_diff,
                       ref64_max_abs_diff=graph64_diff)


def bidirectional_case(emit, name, kind, dynamo, opset):
    import torch

    RnnLinear, _ = _model_class()
    torch.manual_seed(_seed(name))
    module = RnnLinear(kind, True).eval()
    rng = np.random.default_rng(_seed(name))
    x = rng.standard_normal((BATCH, T, I)).astype(np.float32)
    outs = ["logits", "hn"] + (["cn"] if kind == "lstm" else [])
    model = _export(module, (torch.from_numpy(x),), ["x"], outs, dynamo, opset)
    feeds = OrderedDict(x=x)
    expected = OrderedDict(zip(outs, _torch_run(module, feeds)))
    meta = _check_and_meta(name, model, [(feeds, expected)], [_float64_forward(module, kind, True, x)])
    op = "LSTM" if kind == "lstm" else "GRU"
    st = "(h_n, c_n)" if kind == "lstm" else "h_n"
    desc = (f"Exported by PyTorch: nn.{op}({I}, {H}, num_layers={LAYERS}, batch_first=True, bidirectional=True) "
            f"then nn.Linear({2 * H}, {K}) on every frame; forward(x) -> (logits, " + ", ".join(outs[1:]) + f") "
            f"with {', '.join(outs[1:])} the module's {st}. Exported with {_exporter_text(dynamo, model)}, "
            f"batch and time dynamic. x [B={BATCH}, T={T}, {I}], logits [B, T, {K}], "
            + ", ".join(f"{o} [{2 * LAYERS}, B, {H}]" for o in outs[1:])
            + ". Default torch init under torch.manual_seed; expected outputs are the torch module's float32 "
            "outputs.")
    feats = {kind, "bias", "bidirectional", "multi_layer", "batch_first", "dense_head", "matmul_add",
             "torch_export", "concat_states"} | _glue_features(model)
    if kind == "gru":
        feats.add("lbr")
    if dynamo:
        feats.add("dynamo_export")
    _emit(emit, name, model, feeds, expected, desc, feats, meta, dynamo)


def stateful_case(emit, name, n_chunks=3):
    import torch

    _, StatefulLstm = _model_class()
    torch.manual_seed(_seed(name))
    module = StatefulLstm().eval()
    rng = np.random.default_rng(_seed(name))
    xs = rng.standard_normal((n_chunks, BATCH, T, I)).astype(np.float32)
    h = (rng.standard_normal((LAYERS, BATCH, H)) * 0.5).astype(np.float32)
    c = (rng.standard_normal((LAYERS, BATCH, H)) * 0.5).astype(np.float32)
    h_first, c_first = h, c
    ins, outs = ["x", "h0", "c0"], ["y", "hn", "cn"]
    model = _export(module, tuple(torch.from_numpy(v) for v in (xs[0], h, c)), ins, outs, False, 17)
    sets, refs = [], []
    for i in range(n_chunks):
        feeds = OrderedDict(x=xs[i], h0=h, c0=c)
        expected = OrderedDict(zip(outs, _torch_run(module, feeds)))
        sets.append((feeds, expected))
        refs.append(_float64_forward(module, "lstm", False, xs[i], h, c))
        h, c = expected["hn"], expected["cn"]
    meta = _check_and_meta(name, model, sets, refs)
    # chained chunks == one torch pass over the whole stream
    whole = OrderedDict(x=np.concatenate(list(xs), axis=1), h0=h_first, c0=c_first)
    y_all, hn_all, _ = _torch_run(module, whole)
    chained = np.concatenate([s[1]["y"] for s in sets], axis=1)
    assert fl.within(chained, y_all, TOL, 0.5), fl.max_abs_diff(chained, y_all)
    assert fl.within(sets[-1][1]["hn"], hn_all, TOL, 0.5)
    meta["stream_check"] = ("chunk outputs chained through hn/cn equal one torch pass over the concatenated "
                            "stream to within half the tolerance")
    desc = (f"Exported by PyTorch: streaming model forward(x, h0, c0) -> (y, hn, cn) of nn.LSTM({I}, {H}, "
            f"num_layers={LAYERS}, batch_first=True) then nn.Linear({H}, {K}) on every frame, exported with "
            f"{_exporter_text(False, model)}, batch and time dynamic. One chunk is x [B={BATCH}, T={T}, {I}], "
            f"h0/c0 [{LAYERS}, B, {H}]. The main set is chunk 1 with a random initial state; "
            + ", ".join(f"set_chunk{i + 1}" for i in range(1, n_chunks))
            + " are the following chunks, each fed the hn/cn outputs of the chunk before. Expected outputs are "
            "the torch module's float32 outputs.")
    feats = {"lstm", "bias", "multi_layer", "batch_first", "dense_head", "matmul_add", "torch_export",
             "initial_state", "stateful_io", "concat_states"} | _glue_features(model)
    extra = [(f"set_chunk{i + 1}", f"chunk {i + 1} of the stream: new x, h0/c0 = hn/cn outputs of chunk {i}",
              sets[i][0], sets[i][1]) for i in range(1, n_chunks)]
    _emit(emit, name, model, sets[0][0], sets[0][1], desc, feats, meta, False, extra)


def _emit(emit, name, model, feeds, expected, desc, feats, checks, dynamo, extra=()):
    import torch

    meta = OrderedDict(description=desc, features=feats, source="pytorch", tolerance=dict(TOL))
    meta["exporter"] = "torch-dynamo" if dynamo else "torch-legacy"
    meta["torch_version"] = torch.__version__
    meta["reference"] = "the torch module in float32 (torch " + torch.__version__ + ", CPU)"
    meta["reference_note"] = ("Expected outputs are the exported torch.nn module's own float32 outputs on CPU. "
                              "torch_vs_ort_max_abs_diff: onnxruntime on this model vs torch; "
                              "torch_vs_float64_max_abs_diff: torch vs torch.nn's formulas evaluated in float64 "
                              "(tools/rnnref.py); ref64_max_abs_diff: torch vs the exported graph evaluated in "
                              "float64 (fixturelib.ref_eval).")
    meta.update(checks)
    emit(name, model, feeds, expected, meta, extra_sets=list(extra))


def _specs():
    specs = []
    for kind, tag in (("lstm", "bilstm2"), ("gru", "bigru2")):
        for opset in (14, 17):
            specs.append((f"{PREFIX}{tag}_linear_legacy_op{opset}", lambda e, n, k=kind, o=opset:
                          bidirectional_case(e, n, k, False, o)))
    for kind, tag in (("lstm", "bilstm2"), ("gru", "bigru2")):
        specs.append((f"{PREFIX}{tag}_linear_dynamo", lambda e, n, k=kind: bidirectional_case(e, n, k, True, None)))
    specs.append((f"{PREFIX}lstm2_stateful_legacy_op17", stateful_case))
    return specs


def names():
    """Every case name, in the order they are made."""
    return [name for name, _ in _specs()]


def cases(emit, wanted=lambda name: True):
    """Exports every case whose name passes `wanted`, writing each through
    emit(name, model, feeds, expected, meta, extra_sets=...)."""
    for name, fn in _specs():
        if wanted(name):
            fn(emit, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "fixtures", "onnx"))
    ap.add_argument("--only", default=None, help="export only cases whose name contains this")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    def emit(name, model, feeds, expected, meta, extra_sets=()):
        meta = dict(meta)
        meta["onnx_checker"] = fl.check_model(model)
        meta["onnxruntime_loads_model"] = True
        fl.write_case(args.out, name, model, feeds, expected, meta, extra_sets)
        print(f"  {name}")

    cases(emit, lambda n: args.only is None or args.only in n)


if __name__ == "__main__":
    main()
