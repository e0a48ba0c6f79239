#!/usr/bin/env python3
"""Generates engine/tests/data/reference_cases.json: small ONNX RNN/LSTM/GRU/dense models run by
onnxruntime, used by engine/tests/reference_selfcheck.rs to validate the plain f64 reference
implementation (engine/tests/common/reference.rs) against an independent implementation.

Usage: python3 tools/reference_check.py [OUT.json]     (needs numpy, onnx, onnxruntime)

Every weight and input is a 4-decimal number (so the JSON is short and both sides read the same
f32 value); outputs are written with 8 significant digits. Activations are written *resolved*:
each function with the alpha/beta that onnxruntime gives it, following its consumption rule
(the `activation_alpha` / `activation_beta` lists are consumed in order by the functions that
use a parameter: Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu take alpha;
Affine, ScaledTanh, HardSigmoid take beta; when a list runs out, LeakyRelu gets 0.01,
HardSigmoid 0.2/0.5, Elu 1.0 and the others 0).

The test at `cargo test` time reads only the JSON; Python is needed only to regenerate it.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper as oh

OPSET = 14
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
ACT_COUNT = {"RNN": 1, "LSTM": 3, "GRU": 2}
DEFAULT_ACTS = {"RNN": ["Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
USES_ALPHA = {"Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu"}
USES_BETA = {"Affine", "ScaledTanh", "HardSigmoid"}
ORT_DEFAULTS = {"LeakyRelu": (0.01, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}


def q(a):
    """Rounds to 4 decimals (the value both sides read, as f32)."""
    return np.round(np.asarray(a, dtype=np.float64), 4)


def f32(a):
    return np.asarray(a, dtype=np.float64).astype(np.float32)


def out_list(a):
    return [float("%.8g" % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def in_list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def resolve_activations(names, alphas, betas):
    """onnxruntime's rule (rnn_helpers.cc) for giving alpha/beta to each activation."""
    ai, bi, out = 0, 0, []
    for n in names:
        da, db = ORT_DEFAULTS.get(n, (0.0, 0.0))
        a = b = 0.0
        if n in USES_ALPHA:
            if alphas is not None and ai < len(alphas):
                a = alphas[ai]
                ai += 1
            else:
                a = da
        if n in USES_BETA:
            if betas is not None and bi < len(betas):
                b = betas[bi]
                bi += 1
            else:
                b = db
        out.append([n, float(np.float32(a)), float(np.float32(b))])
    return out


class Rec:
    """A recurrent layer spec with its random tensors (ONNX layouts)."""

    def __init__(self, rs, cell, I, H, direction="forward", acts=None, alphas=None, betas=None, clip=None,
                 input_forget=False, peepholes=False, lbr=False, bias=True, wscale=0.6):
        self.cell, self.I, self.H, self.direction = cell, I, H, direction
        self.dirs = 2 if direction == "bidirectional" else 1
        self.acts, self.alphas, self.betas = acts, alphas, betas
        self.clip, self.input_forget, self.peepholes, self.lbr = clip, input_forget, peepholes, lbr
        G = GATES[cell]
        self.W = q(rs.uniform(-wscale, wscale, (self.dirs, G * H, I)))
        self.R = q(rs.uniform(-wscale, wscale, (self.dirs, G * H, H)))
        self.B = q(rs.uniform(-0.4, 0.4, (self.dirs, 2 * G * H))) if bias else None
        self.P = q(rs.uniform(-0.6, 0.6, (self.dirs, 3 * H))) if peepholes else None
        names = acts if acts is not None else DEFAULT_ACTS[cell] * self.dirs
        assert len(names) == ACT_COUNT[cell] * self.dirs
        res = resolve_activations(names, alphas, betas)
        k = ACT_COUNT[cell]
        self.resolved = [res[d * k:(d + 1) * k] for d in range(self.dirs)]

    def desc(self):
        return {
            "cell": self.cell,
            "input_size": self.I,
            "hidden_size": self.H,
            "direction": self.direction,
            "activations": self.resolved,
            "clip": self.clip,
            "input_forget": self.input_forget,
            "peepholes": self.peepholes,
            "linear_before_reset": self.lbr,
        }

    def weights_json(self):
        return {
            "w": in_list(self.W),
            "r": in_list(self.R),
            "b": None if self.B is None else in_list(self.B),
            "p": None if self.P is None else in_list(self.P),
        }

    def node(self, prefix, x_name, inits, seq=None, h0=None, c0=None):
        """Appends initializers, returns the node and its output names (Y, Y_h[, Y_c])."""

        def init(name, arr, dt=TP.FLOAT):
            if arr is None:
                return ""
            full = prefix + name
            if dt == TP.FLOAT:
                inits.append(oh.make_tensor(full, dt, arr.shape, f32(arr).ravel().tolist()))
            else:
                inits.append(oh.make_tensor(full, dt, arr.shape, np.asarray(arr).ravel().tolist()))
            return full

        ins = [x_name, init("W", self.W), init("R", self.R), init("B", self.B),
               init("seq", None if seq is None else np.asarray(seq, np.int32), TP.INT32), init("h0", h0)]
        if self.cell == "LSTM":
            ins += [init("c0", c0), init("P", self.P)]
        while ins[-1] == "":
            ins.pop()
        outs = [prefix + "Y", prefix + "Y_h"] + ([prefix + "Y_c"] if self.cell == "LSTM" else [])
        attrs = {"hidden_size": self.H, "direction": self.direction}
        if self.acts is not None:
            attrs["activations"] = self.acts
        if self.alphas is not None:
            attrs["activation_alpha"] = self.alphas
        if self.betas is not None:
            attrs["activation_beta"] = self.betas
        if self.clip is not None:
            attrs["clip"] = self.clip
        if self.input_forget:
            attrs["input_forget"] = 1
        if self.cell == "GRU":
            attrs["linear_before_reset"] = 1 if self.lbr else 0
        return oh.make_node(self.cell, ins, outs, name=prefix + self.cell, **attrs), outs


def run_graph(nodes, inits, x, outputs):
    gi = [oh.make_tensor_value_info("X", TP.FLOAT, list(x.shape))]
    go = [oh.make_tensor_value_info(o, TP.FLOAT, None) for o in outputs]
    model = oh.make_model(oh.make_graph(nodes, "g", gi, go, inits), opset_imports=[oh.make_opsetid("", OPSET)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(outputs, {"X": f32(x)})


def layer_case(name, seed, cell, I, H, T, batch, seq_lens=None, h0=False, c0=False, **kw):
    rs = np.random.RandomState(seed)
    rec = Rec(rs, cell, I, H, **kw)
    x = q(rs.uniform(-1, 1, (T, batch, I)))
    h0a = q(rs.uniform(-0.6, 0.6, (rec.dirs, batch, H))) if h0 else None
    c0a = q(rs.uniform(-1, 1, (rec.dirs, batch, H))) if c0 else None
    inits = []
    node, outs = rec.node("", "X", inits, seq=seq_lens, h0=h0a, c0=c0a)
    res = run_graph([node], inits, x, outs)
    case = {
        "name": name,
        "kind": "layer",
        "desc": rec.desc(),
        **rec.weights_json(),
        "t": T,
        "batch": batch,
        "x": in_list(x),
        "seq_lens": seq_lens,
        "h0": None if h0a is None else in_list(h0a),
        "c0": None if c0a is None else in_list(c0a),
        "y": out_list(res[0]),
        "y_h": out_list(res[1]),
        "y_c": out_list(res[2]) if cell == "LSTM" else None,
    }
    return case, float(np.max(np.abs(res[0]))) if res[0].size else 0.0


DENSE_ONNX = {"None": None, "Relu": "Relu", "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Softmax": "Softmax",
              "LogSoftmax": "LogSoftmax"}


def dense_nodes(prefix, x_name, I, O, act, W, b, inits):
    inits.append(oh.make_tensor(prefix + "W", TP.FLOAT, W.shape, f32(W).ravel().tolist()))
    inits.append(oh.make_tensor(prefix + "b", TP.FLOAT, b.shape, f32(b).ravel().tolist()))
    nodes = [oh.make_node("Gemm", [x_name, prefix + "W", prefix + "b"], [prefix + "lin"], transB=1)]
    out = prefix + "lin"
    op = DENSE_ONNX[act]
    if op is not None:
        attrs = {"axis": 1} if op in ("Softmax", "LogSoftmax") else {}
        nodes.append(oh.make_node(op, [out], [prefix + "act"], **attrs))
        out = prefix + "act"
    return nodes, out


def dense_case(name, seed, I, O, T, act, bias=True):
    rs = np.random.RandomState(seed)
    W = q(rs.uniform(-1, 1, (O, I)))
    b = q(rs.uniform(-0.5, 0.5, (O,))) if bias else np.zeros((O,))
    x = q(rs.uniform(-1.5, 1.5, (T, I)))
    inits = []
    nodes, out = dense_nodes("", "X", I, O, act, W, b, inits)
    (y,) = run_graph(nodes, inits, x, [out])
    return {
        "name": name,
        "kind": "dense",
        "desc": {"input_size": I, "output_size": O, "activation": act},
        "w": in_list(W),
        "b": in_list(b) if bias else None,
        "t": T,
        "x": in_list(x),
        "y": out_list(y),
    }, float(np.max(np.abs(y)))


def model_case(name, seed, I, T, layers, initial=False):
    """layers: list of ('rec', dict of Rec kwargs incl. cell, H) or ('dense', O, act)."""
    rs = np.random.RandomState(seed)
    x = q(rs.uniform(-1, 1, (T, 1, I)))
    nodes, inits, outputs = [], [], []
    cur, cur_size = "X", I
    jl, h0s, c0s, state_outs = [], [], [], []
    for li, spec in enumerate(layers):
        p = "l%d_" % li
        if spec[0] == "rec":
            kw = dict(spec[1])
            cell, H = kw.pop("cell"), kw.pop("H")
            rec = Rec(rs, cell, cur_size, H, **kw)
            h0a = q(rs.uniform(-0.6, 0.6, (rec.dirs, 1, H))) if initial else None
            c0a = q(rs.uniform(-1, 1, (rec.dirs, 1, H))) if initial and cell == "LSTM" else None
            for d in range(rec.dirs):
                h0s.append(in_list(h0a[d]) if initial else None)
                c0s.append(in_list(c0a[d]) if c0a is not None else [])
            node, outs = rec.node(p, cur, inits, h0=h0a, c0=c0a)
            nodes.append(node)
            state_outs.append((rec, outs[1], outs[2] if cell == "LSTM" else None))
            # Y [T, dirs, 1, H] -> [T, 1, dirs*H]
            nodes.append(oh.make_node("Transpose", [outs[0]], [p + "Yt"], perm=[0, 2, 1, 3]))
            inits.append(oh.make_tensor(p + "shape", TP.INT64, [3], [T, 1, rec.dirs * H]))
            nodes.append(oh.make_node("Reshape", [p + "Yt", p + "shape"], [p + "out"]))
            cur, cur_size = p + "out", rec.dirs * H
            jl.append({"type": "recurrent", "desc": rec.desc(), **rec.weights_json()})
        else:
            _, O, act = spec
            W = q(rs.uniform(-1, 1, (O, cur_size)))
            b = q(rs.uniform(-0.5, 0.5, (O,)))
            inits.append(oh.make_tensor(p + "shape_in", TP.INT64, [2], [T, cur_size]))
            nodes.append(oh.make_node("Reshape", [cur, p + "shape_in"], [p + "x2"]))
            dn, out = dense_nodes(p, p + "x2", cur_size, O, act, W, b, inits)
            nodes += dn
            inits.append(oh.make_tensor(p + "shape_out", TP.INT64, [3], [T, 1, O]))
            nodes.append(oh.make_node("Reshape", [out, p + "shape_out"], [p + "out"]))
            jl.append({"type": "dense", "desc": {"input_size": cur_size, "output_size": O, "activation": act},
                       "w": in_list(W), "b": in_list(b)})
            cur, cur_size = p + "out", O
    outputs = [cur] + [n for (_, yh, yc) in state_outs for n in ([yh] + ([yc] if yc else []))]
    res = run_graph(nodes, inits, x, outputs)
    y = res[0]
    h_n, c_n, k = [], [], 1
    for rec, _, yc in state_outs:
        yh = res[k]
        k += 1
        ycv = None
        if yc:
            ycv = res[k]
            k += 1
        for d in range(rec.dirs):
            h_n.append(out_list(yh[d, 0]))
            c_n.append(out_list(ycv[d, 0]) if ycv is not None else [])
    return {
        "name": name,
        "kind": "model",
        "layers": jl,
        "t": T,
        "x": in_list(x),
        "h0": h0s if initial else None,
        "c0": c0s if initial else None,
        "y": out_list(y),
        "h_n": h_n,
        "c_n": c_n,
    }, float(np.max(np.abs(y)))


def all_cases():
    L = []

    def add(c):
        L.append(c)

    # ---- RNN ----
    add(layer_case("rnn_fwd_default", 101, "RNN", 3, 4, 5, 2))
    add(layer_case("rnn_reverse_relu_nobias", 102, "RNN", 3, 5, 6, 2, direction="reverse", acts=["Relu"],
                   bias=False, wscale=0.4))
    add(layer_case("rnn_bidir_leaky_affine_h0", 103, "RNN", 4, 3, 5, 2, direction="bidirectional",
                   acts=["LeakyRelu", "Affine"], alphas=[0.15, 0.7], betas=[0.2], h0=True, wscale=0.4))
    add(layer_case("rnn_bidir_seq_lens", 104, "RNN", 2, 4, 6, 3, direction="bidirectional", seq_lens=[6, 2, 4],
                   h0=True))
    add(layer_case("rnn_clip_scaledtanh", 105, "RNN", 3, 4, 5, 1, acts=["ScaledTanh"], alphas=[1.3],
                   betas=[0.8], clip=0.35))
    add(layer_case("rnn_bidir_thresholdedrelu_hardsigmoid", 106, "RNN", 3, 5, 5, 2, direction="bidirectional",
                   acts=["ThresholdedRelu", "HardSigmoid"], alphas=[0.1, 0.3], betas=[0.45], wscale=0.4))
    add(layer_case("rnn_bidir_elu_softsign", 107, "RNN", 3, 4, 5, 2, direction="bidirectional",
                   acts=["Elu", "Softsign"], alphas=[0.6], wscale=0.5))
    add(layer_case("rnn_bidir_softplus_sigmoid", 108, "RNN", 3, 4, 5, 2, direction="bidirectional",
                   acts=["Softplus", "Sigmoid"], wscale=0.3))
    add(layer_case("rnn_bidir_default_params", 109, "RNN", 3, 4, 4, 2, direction="bidirectional",
                   acts=["LeakyRelu", "HardSigmoid"], h0=True, wscale=0.5))
    add(layer_case("rnn_elu_default_alpha_reverse_seq", 110, "RNN", 2, 3, 6, 2, direction="reverse", acts=["Elu"],
                   seq_lens=[3, 6], h0=True))
    # ---- LSTM ----
    add(layer_case("lstm_fwd_default_h0_c0", 201, "LSTM", 3, 4, 5, 2, h0=True, c0=True))
    add(layer_case("lstm_reverse", 202, "LSTM", 4, 5, 6, 1, direction="reverse", h0=True, c0=True))
    add(layer_case("lstm_bidir_seq_lens", 203, "LSTM", 3, 4, 6, 3, direction="bidirectional", seq_lens=[6, 1, 4],
                   h0=True, c0=True))
    add(layer_case("lstm_peepholes", 204, "LSTM", 3, 5, 5, 2, peepholes=True, h0=True, c0=True))
    add(layer_case("lstm_input_forget", 205, "LSTM", 3, 4, 5, 2, input_forget=True, h0=True, c0=True))
    add(layer_case("lstm_peep_input_forget", 206, "LSTM", 3, 4, 5, 2, peepholes=True, input_forget=True, h0=True,
                   c0=True))
    add(layer_case("lstm_clip_peep", 207, "LSTM", 3, 4, 6, 2, peepholes=True, clip=0.3, h0=True, c0=True,
                   wscale=1.2))
    add(layer_case("lstm_acts_hardsig_softsign_scaledtanh", 208, "LSTM", 3, 4, 5, 2,
                   acts=["HardSigmoid", "Softsign", "ScaledTanh"], alphas=[0.3, 0.9], betas=[0.4, 1.1]))
    add(layer_case("lstm_bidir_acts_per_dir", 209, "LSTM", 3, 4, 5, 2, direction="bidirectional",
                   acts=["Sigmoid", "Elu", "Softplus", "HardSigmoid", "LeakyRelu", "Affine"],
                   alphas=[0.8, 0.25, 0.05, 0.6], betas=[0.55, -0.1], h0=True, c0=True, wscale=0.5))
    add(layer_case("lstm_bidir_everything", 210, "LSTM", 4, 6, 6, 3, direction="bidirectional", seq_lens=[5, 6, 2],
                   peepholes=True, input_forget=True, clip=0.8, h0=True, c0=True, wscale=0.9))
    add(layer_case("lstm_nobias_big", 211, "LSTM", 5, 9, 6, 1, bias=False, h0=True))
    add(layer_case("lstm_default_params_tanh_thresh", 212, "LSTM", 3, 4, 5, 2,
                   acts=["HardSigmoid", "ThresholdedRelu", "Relu"], alphas=[0.25], wscale=0.5))
    add(layer_case("lstm_reverse_seq_peep", 213, "LSTM", 2, 3, 5, 2, direction="reverse", seq_lens=[2, 5],
                   peepholes=True, c0=True))
    # ---- GRU ----
    add(layer_case("gru_fwd_default", 301, "GRU", 3, 4, 5, 2))
    add(layer_case("gru_lbr", 302, "GRU", 3, 4, 5, 2, lbr=True, h0=True))
    add(layer_case("gru_reverse_lbr_h0", 303, "GRU", 4, 5, 6, 1, direction="reverse", lbr=True, h0=True))
    add(layer_case("gru_bidir_seq_lens", 304, "GRU", 3, 4, 6, 3, direction="bidirectional", seq_lens=[4, 6, 1],
                   h0=True))
    add(layer_case("gru_clip", 305, "GRU", 3, 4, 5, 2, clip=0.3, h0=True, wscale=1.2))
    add(layer_case("gru_clip_lbr", 306, "GRU", 3, 4, 5, 2, clip=0.3, lbr=True, h0=True, wscale=1.2))
    add(layer_case("gru_acts_hardsig_softsign", 307, "GRU", 3, 4, 5, 2, acts=["HardSigmoid", "Softsign"],
                   alphas=[0.35], betas=[0.45], h0=True))
    add(layer_case("gru_bidir_acts_per_dir_lbr", 308, "GRU", 3, 4, 5, 2, direction="bidirectional", lbr=True,
                   acts=["Sigmoid", "LeakyRelu", "ScaledTanh", "Affine"], alphas=[0.2, 0.4, 0.9],
                   betas=[0.7, 0.1], h0=True, wscale=0.5))
    add(layer_case("gru_elu_thresholded", 309, "GRU", 3, 4, 5, 2, acts=["Softplus", "Elu"], alphas=[0.5]))
    add(layer_case("gru_thresholdedrelu_nobias_big", 310, "GRU", 5, 9, 6, 1, acts=["Sigmoid", "ThresholdedRelu"],
                   alphas=[0.05], bias=False, h0=True))
    add(layer_case("gru_bidir_everything", 311, "GRU", 4, 6, 6, 2, direction="bidirectional", seq_lens=[3, 6],
                   clip=0.9, h0=True, wscale=0.9))
    # ---- Dense ----
    for i, act in enumerate(["None", "Relu", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]):
        add(dense_case("dense_" + act.lower(), 401 + i, 4 + (i % 2), 3 + i, 3, act, bias=(i != 1)))
    # ---- Models (chains) ----
    add(model_case("model_lstm_bidir_gru_dense", 501, 3, 5,
                   [("rec", {"cell": "LSTM", "H": 4, "direction": "bidirectional", "peepholes": True}),
                    ("rec", {"cell": "GRU", "H": 5, "lbr": True}),
                    ("dense", 4, "Softmax")], initial=True))
    add(model_case("model_rnn_dense_lstm", 502, 2, 6,
                   [("rec", {"cell": "RNN", "H": 4, "acts": ["Relu"], "wscale": 0.4}),
                    ("dense", 3, "Tanh"),
                    ("rec", {"cell": "LSTM", "H": 3, "direction": "reverse", "clip": 0.7})]))
    add(model_case("model_gru_bidir_lstm_initial", 503, 4, 4,
                   [("rec", {"cell": "GRU", "H": 3, "direction": "bidirectional"}),
                    ("rec", {"cell": "LSTM", "H": 4, "input_forget": True}),
                    ("dense", 2, "LogSoftmax")], initial=True))
    return L


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "engine", "tests", "data",
                                                              "reference_cases.json")
    cases = []
    for case, ymax in all_cases():
        print("%-45s %-6s max|y| = %.3f" % (case["name"], case["kind"], ymax))
        cases.append(case)
    doc = {
        "generator": "tools/reference_check.py",
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "opset": OPSET,
        "layouts": "x [T,batch,I], h0/c0/y_h/y_c [dirs,batch,H], y [T,dirs,batch,H] (ONNX); "
                   "model cases: batch 1, per-(layer,dir) state slots",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("%d cases -> %s (%d bytes)" % (len(cases), out, os.path.getsize(out)))


if __name__ == "__main__":
    main()
