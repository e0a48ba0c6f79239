#!/usr/bin/env python3
"""Generate recur's own ONNX test fixtures under fixtures/onnx/.

Each case folder has the layout of shared/conformance:
  model.onnx, input_<name>.npy (graph order; float32, sequence_lens int32),
  output_<name>.npy (every graph output), case.json, and optional extra_sets sub-folders.
fixtures/onnx/index.json lists the cases.

Deterministic: every case draws its numbers from a generator seeded by a CRC of its name.
Expected outputs come from onnxruntime (CPU, one thread), except:
  - layout=1, hidden_size omitted and lower/upper-case RNN activation names, which
    onnxruntime refuses: those run the equivalent canonical model (see reference_note);
  - the torch_* cases, whose expected outputs are a float64 evaluation of torch.nn's own
    formulas on torch-layout weights (see reference_note);
  - the torchexport_* cases (export_torch.py): models exported by torch.onnx.export, whose
    expected outputs are the torch module's own float32 outputs. They are made only when
    torch imports; without torch the committed torchexport_* folders are kept as they are.
Every output is also checked against an independent float64 evaluation (rnnref.py,
fixturelib.ref_eval); the generator fails if the two disagree beyond a tenth of the
case tolerance. Every model passes onnx.checker.check_model(full_check=True).

Usage: python3 tools/gen_fixtures.py [--out DIR] [--only SUBSTRING]
"""

import argparse
import json
import os
import shutil
import sys
import zlib
from collections import OrderedDict

import numpy as np
from onnx import TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_torch  # noqa: E402
import fixturelib as fl  # noqa: E402
import rnnref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOL = dict(fl.DEFAULT_TOL)
CANON = {n.lower(): n for n in ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu",
                                "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus"]}
OPS_LOWER = {"RNN": "rnn", "GRU": "gru", "LSTM": "lstm"}
MIN_THRESHOLD_GAP = 1e-3  # ThresholdedRelu inputs must stay this far from alpha
CASES = []  # index entries
ONLY = None


def seed_of(name, attempt=0):
    return (zlib.crc32(name.encode()) + 7919 * attempt) & 0xFFFFFFFF


def sizes_text(s):
    return (f"Sizes: input_size={s['input_size']}, hidden_size={s['hidden_size']}, "
            f"T={s['seq_length']}, batch={s['batch_size']}.")


def verify(name, model, feeds, expected, ref, acts, tol=TOL):
    """Check expected (stored) outputs against the float64 reference."""
    for k in expected:
        e, r = expected[k], ref[k]
        assert e.shape == r.shape, (name, k, e.shape, r.shape)
        assert np.all(np.isfinite(e)), (name, k)
        if not fl.within(e, r, tol, margin=0.1):
            raise AssertionError(f"{name}: output {k} differs from the float64 reference by "
                                 f"{fl.max_abs_diff(e, r):.3g}")
    gaps = [a.min_gap for a in acts if a.name in rnnref.DISCONTINUOUS]
    return min(gaps) if gaps else None


def emit(name, model, feeds, expected, meta, extra_sets=(), ort_loads=True):
    meta = dict(meta)
    meta["onnx_checker"] = fl.check_model(model)
    meta["onnxruntime_loads_model"] = ort_loads
    case = fl.write_case(OUT, name, model, feeds, expected, meta, extra_sets)
    CASES.append(OrderedDict([
        ("name", name), ("source", case["source"]), ("opset", case["opset"]),
        ("features", case["features"]), ("tolerance", case["tolerance"]),
        ("onnxruntime_loads_model", ort_loads)]))
    print(f"  {name}: {', '.join(case['features'])}")


def wanted(name):
    return ONLY is None or ONLY in name


# ============================================================================ single node


def rnn_case(name, op, *, opset=14, I=5, H=17, T=7, Bn=3, direction=None, acts=None, alphas=None,
             betas=None, clip=None, lbr=None, input_forget=None, bias=True, peephole=False,
             seq_lens=None, init_h=False, init_c=False, node_outputs=None, graph_outputs=None,
             layout=None, hidden_size_attr=True, wscale=1.0, xscale=1.0, const_inputs=False,
             desc="", features=()):
    """One RNN/GRU/LSTM node whose inputs are graph inputs or initializers."""
    if not wanted(name):
        return
    D = 2 if direction == "bidirectional" else 1
    G = rnnref.NGATES[op]
    slots_out = fl.RNN_SLOTS[op][1]
    node_outputs = list(node_outputs or slots_out)
    graph_outputs = list(graph_outputs or [o for o in node_outputs if o])
    L1 = layout == 1

    for attempt in range(50):
        rng = np.random.default_rng(seed_of(name, attempt))
        k = wscale / np.sqrt(H)
        W = rng.uniform(-k, k, (D, G * H, I)).astype(np.float32)
        R = rng.uniform(-k, k, (D, G * H, H)).astype(np.float32)
        Bv = rng.uniform(-k, k, (D, 2 * G * H)).astype(np.float32)
        Pv = rng.uniform(-k, k, (D, 3 * H)).astype(np.float32)
        X0 = (rng.standard_normal((T, Bn, I)) * xscale).astype(np.float32)
        h0 = (rng.standard_normal((D, Bn, H)) * 0.5).astype(np.float32)
        c0 = (rng.standard_normal((D, Bn, H)) * 0.5).astype(np.float32)
        sl = None if seq_lens is None else np.asarray(seq_lens, np.int32)

        def build(layout_attr, hs_attr, names, stored):
            gb = fl.GraphBuilder(name)
            lay1 = layout_attr == 1
            ins = []
            xin = X0.transpose(1, 0, 2) if lay1 else X0
            gb.input("X", xin)
            ins += ["X", gb.init("W", W), gb.init("R", R), gb.init("B", Bv) if bias else ""]
            if sl is not None:
                if const_inputs:
                    ins.append(gb.init("sequence_lens", sl))
                else:
                    ins.append(gb.input("sequence_lens", sl, TensorProto.INT32))
            else:
                ins.append("")
            for flag, arr, nm in ((init_h, h0, "initial_h"), (init_c, c0, "initial_c")):
                if nm == "initial_c" and op != "LSTM":
                    continue
                if flag:
                    a = arr.transpose(1, 0, 2) if lay1 else arr
                    ins.append(gb.init(nm, a) if const_inputs else gb.input(nm, a))
                else:
                    ins.append("")
            if op == "LSTM":
                ins.append(gb.init("P", Pv) if peephole else "")
            while ins and ins[-1] == "":
                ins.pop()
            attrs = {}
            if hs_attr:
                attrs["hidden_size"] = H
            if direction is not None:
                attrs["direction"] = direction
            if names is not None:
                attrs["activations"] = names
            if alphas is not None:
                attrs["activation_alpha"] = alphas
            if betas is not None:
                attrs["activation_beta"] = betas
            if clip is not None:
                attrs["clip"] = clip
            if lbr is not None:
                attrs["linear_before_reset"] = lbr
            if input_forget is not None:
                attrs["input_forget"] = input_forget
            if layout_attr is not None:
                attrs["layout"] = layout_attr
            gb.node(op, ins, outputs=node_outputs, name=op, **attrs)
            for o in graph_outputs:
                if o == "Y":
                    shp = [Bn, T, D, H] if lay1 else [T, D, Bn, H]
                else:
                    shp = [Bn, D, H] if lay1 else [D, Bn, H]
                gb.output(o, shp)
            return gb.model(opset)

        model = build(layout, hidden_size_attr, acts, True)
        feeds = OrderedDict((i.name, None) for i in model.graph.input)
        feeds["X"] = X0.transpose(1, 0, 2) if L1 else X0
        if "sequence_lens" in feeds:
            feeds["sequence_lens"] = sl
        if "initial_h" in feeds:
            feeds["initial_h"] = h0.transpose(1, 0, 2) if L1 else h0
        if "initial_c" in feeds:
            feeds["initial_c"] = c0.transpose(1, 0, 2) if L1 else c0

        rnnref.CLIP_STATS.update(total=0, clipped=0, cells=0, cells_over=0)
        ref, used = fl.ref_eval(model, feeds)
        clip_frac = rnnref.CLIP_STATS["clipped"] / max(1, rnnref.CLIP_STATS["total"])
        cell_over = rnnref.CLIP_STATS["cells_over"] / max(1, rnnref.CLIP_STATS["cells"])

        # What onnxruntime runs: the model itself, or its canonical twin.
        notes = []
        twin_names = acts
        if acts is not None and op == "RNN" and any(a != CANON[a.lower()] for a in acts):
            twin_names = [CANON[a.lower()] for a in acts]
            notes.append("onnxruntime's RNN kernel only accepts the canonical spelling of activation "
                         f"names, so the reference model spells them {twin_names} (same function)")
        if not hidden_size_attr:
            notes.append("onnxruntime requires the hidden_size attribute, so the reference model sets "
                         f"hidden_size={H} (the value implied by R's shape)")
        if L1:
            notes.append("onnxruntime's CPU RNN/GRU/LSTM kernels reject layout=1, so the reference model is "
                         "the equivalent layout=0 model (same weights) run on the inputs transposed to "
                         "sequence-major, with its outputs transposed back to batch-major")
        if notes:
            twin = build(None, True, twin_names, False)
            tfeeds = OrderedDict()
            for k_, v in feeds.items():
                tfeeds[k_] = (v.transpose(1, 0, 2) if L1 and k_ in ("X", "initial_h", "initial_c") else v)
            tout = fl.run_ort(twin, tfeeds)
            expected = OrderedDict()
            for o in graph_outputs:
                v = tout[o]
                if L1:
                    v = v.transpose(2, 0, 1, 3) if o == "Y" else v.transpose(1, 0, 2)
                expected[o] = np.ascontiguousarray(v)
            ort_loads = _ort_loads(model)
        else:
            expected = fl.run_ort(model, feeds)
            ort_loads = True
        gap = verify(name, model, feeds, expected, ref, used)
        if gap is None or gap >= MIN_THRESHOLD_GAP:
            break
    else:
        raise RuntimeError(f"{name}: no seed keeps ThresholdedRelu inputs away from alpha")

    # features
    f = {OPS_LOWER[op]}
    f.add("bias" if bias else "no_bias")
    if acts is not None:
        f.add("activations")
        if any(a != CANON[a.lower()] for a in acts):
            f.add("mixed_case_activations")
        takes = sum((rnnref.ACT_DEFAULTS[a.lower()][0] is not None) for a in acts)
        if takes > len(alphas or []) or sum((rnnref.ACT_DEFAULTS[a.lower()][1] is not None) for a in acts) > len(betas or []):
            f.add("default_alphas")
    if clip is not None:
        f.add("clip")
    if direction == "reverse":
        f.add("reverse")
    if direction == "bidirectional":
        f.add("bidirectional")
    if direction == "forward":
        f.add("explicit_direction")
    if op == "GRU" and lbr == 1:
        f.add("lbr")
    if input_forget:
        f.add("input_forget")
    if peephole:
        f.add("peephole")
    if seq_lens is not None:
        f.add("seq_lens")
        if min(seq_lens) == 0:
            f.add("seq_len_zero")
    if init_h or init_c:
        f.add("initial_state")
    if const_inputs and (init_h or init_c or seq_lens is not None):
        f.add("constant_optional_inputs")
    if [o for o in node_outputs if o] != list(slots_out):
        f.add("partial_outputs")
    if "" in node_outputs:
        f.add("output_placeholders")
    if set(graph_outputs) != {o for o in node_outputs if o}:
        f.add("unused_node_outputs")
    if L1:
        f.add("layout1")
    if layout == 0:
        f.add("explicit_layout0")
    if not hidden_size_attr:
        f.add("no_hidden_size")
    if H in (1, 17, 33) or I in (1, 5):
        f.add("odd_sizes")
    if T == 1:
        f.add("seq_length_1")
    if Bn == 1:
        f.add("batch_1")
    f.update(features)

    sizes = {"input_size": I, "hidden_size": H, "seq_length": T, "batch_size": Bn, "num_directions": D}
    auto = []
    if acts is not None:
        auto.append(f"activations={acts}")
    if alphas is not None:
        auto.append(f"activation_alpha={alphas}")
    if betas is not None:
        auto.append(f"activation_beta={betas}")
    for k_, v in (("direction", direction), ("clip", clip), ("linear_before_reset", lbr),
                  ("input_forget", input_forget), ("layout", layout)):
        if v is not None:
            auto.append(f"{k_}={v}")
    if not hidden_size_attr:
        auto.append("no hidden_size attribute")
    if not bias:
        auto.append("no B")
    if peephole:
        auto.append("peepholes P")
    if seq_lens is not None:
        auto.append(f"sequence_lens={list(seq_lens)}")
    if init_h:
        auto.append("initial_h")
    if init_c:
        auto.append("initial_c")
    if const_inputs and (init_h or init_c or seq_lens is not None):
        auto.append("optional inputs given as initializers")
    auto.append(f"node outputs {node_outputs}")
    if set(graph_outputs) != {o for o in node_outputs if o}:
        auto.append(f"graph outputs {graph_outputs}")
    meta = OrderedDict()
    meta["description"] = f"{desc} {op} node: {'; '.join(auto)}. {sizes_text(sizes)}".strip()
    meta["features"] = f
    meta["sizes"] = sizes
    if notes:
        meta["reference_note"] = "; ".join(notes) + "."
    meta["reference"] = "onnxruntime " + _ort_version()
    meta["ref64_max_abs_diff"] = max(fl.max_abs_diff(expected[k_], ref[k_]) for k_ in expected)
    if gap is not None:
        meta["threshold_min_gap"] = gap
    if clip is not None:
        assert clip_frac > 0.05, (name, clip_frac)
        meta["clip_active_fraction"] = round(clip_frac, 4)
        if op == "LSTM":
            meta["cell_state_beyond_clip_fraction"] = round(cell_over, 4)
            rnnref.ALT_CLIP_CELL = True
            try:
                alt, _ = fl.ref_eval(model, feeds)
            finally:
                rnnref.ALT_CLIP_CELL = False
            alt_diff = max(fl.max_abs_diff(alt[k_], ref[k_]) for k_ in ref)
            assert alt_diff > 100 * TOL["abs"], (name, alt_diff)
            meta["clip_cell_state_alt_max_abs_diff"] = alt_diff
    emit(name, model, feeds, expected, meta, ort_loads=ort_loads)


def _ort_version():
    import onnxruntime
    return onnxruntime.__version__


def _ort_loads(model):
    try:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.log_severity_level = 4
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return True
    except Exception:
        return False


def single_node_cases():
    # ---------------------------------------------------------------- RNN
    for opset in (14, 22):
        rnn_case(f"rnn_default_op{opset}", "RNN", opset=opset, desc="Plain forward")
    one = {  # every activation alone as RNN f, with explicit alpha/beta where it takes them
        "Relu": ([], []), "Tanh": ([], []), "Sigmoid": ([], []),
        "Affine": ([0.6], [0.15]), "LeakyRelu": ([0.15], []), "ThresholdedRelu": ([0.25], []),
        "ScaledTanh": ([1.3], [0.7]), "HardSigmoid": ([0.3], [0.45]), "Elu": ([0.8], []),
        "Softsign": ([], []), "Softplus": ([], []),
    }
    for a, (al, be) in one.items():
        rnn_case(f"rnn_act_{a.lower()}_op14", "RNN", acts=[a], alphas=al or None, betas=be or None,
                 wscale=0.8, desc=f"Forward, activation {a}")
    rnn_case("rnn_act_affine_scaledtanh_bidirectional_op22", "RNN", opset=22, direction="bidirectional",
             acts=["Affine", "ScaledTanh"], alphas=[0.7, 1.2], betas=[-0.1, 0.8], wscale=0.8,
             desc="Bidirectional, forward Affine(0.7, -0.1), reverse ScaledTanh(1.2, 0.8)")
    rnn_case("rnn_act_leakyrelu_elu_bidirectional_op14", "RNN", direction="bidirectional",
             acts=["LeakyRelu", "Elu"], alphas=[0.05, 0.6], wscale=0.8,
             desc="Bidirectional, forward LeakyRelu(0.05), reverse Elu(0.6)")
    rnn_case("rnn_act_thresholdedrelu_softsign_bidirectional_op14", "RNN", direction="bidirectional",
             acts=["ThresholdedRelu", "Softsign"], alphas=[0.4], wscale=0.8,
             desc="Bidirectional, forward ThresholdedRelu(0.4), reverse Softsign (alpha list has one value, "
                  "taken by ThresholdedRelu)")
    rnn_case("rnn_mixed_case_tanh_op14", "RNN", acts=["tanh"], desc="Lower-case activation name")
    rnn_case("rnn_mixed_case_bidirectional_op14", "RNN", direction="bidirectional", acts=["RELU", "sigmoid"],
             wscale=0.8, desc="Upper/lower-case activation names")
    for opset in (14, 22):
        rnn_case(f"rnn_clip_op{opset}", "RNN", clip=0.6, wscale=2.0, desc="Clip on the pre-activation")
    rnn_case("rnn_reverse_op14", "RNN", direction="reverse", desc="Reverse")
    rnn_case("rnn_bidirectional_op14", "RNN", direction="bidirectional", init_h=True, desc="Bidirectional")
    rnn_case("rnn_explicit_forward_op14", "RNN", direction="forward", layout=0,
             desc="direction and layout attributes spelled out with their default values")
    rnn_case("rnn_no_hidden_size_op14", "RNN", hidden_size_attr=False, desc="hidden_size omitted (inferred from R)")
    rnn_case("rnn_no_bias_op14", "RNN", bias=False, init_h=True, desc="B absent (placeholder '' before initial_h)")
    for opset in (14, 22):
        rnn_case(f"rnn_seq_lens_op{opset}", "RNN", seq_lens=[7, 2, 5], desc="Ragged batch")
    rnn_case("rnn_seq_lens_reverse_init_op14", "RNN", direction="reverse", seq_lens=[3, 7, 1], init_h=True,
             desc="Reverse over ragged batch with initial_h")
    rnn_case("rnn_seq_lens_bidirectional_op14", "RNN", direction="bidirectional", seq_lens=[4, 7, 1], init_h=True,
             desc="Bidirectional over ragged batch with initial_h")
    for opset in (14, 22):
        rnn_case(f"rnn_initial_h_op{opset}", "RNN", init_h=True, desc="initial_h graph input")
    rnn_case("rnn_y_only_op14", "RNN", node_outputs=["Y"], desc="Only Y requested")
    rnn_case("rnn_y_h_only_op14", "RNN", node_outputs=["", "Y_h"], desc="Only Y_h requested (Y is '')")
    for opset in (14, 22):
        rnn_case(f"rnn_layout1_op{opset}", "RNN", layout=1, direction="bidirectional", init_h=True,
                 desc="Batch-major (layout=1)")
    rnn_case("rnn_layout1_seq_lens_op14", "RNN", layout=1, seq_lens=[2, 7, 5], init_h=True, node_outputs=["", "Y_h"],
             desc="Batch-major (layout=1) with ragged lengths, only Y_h")
    rnn_case("rnn_hidden1_input1_op14", "RNN", I=1, H=1, T=7, Bn=3, init_h=True, desc="Smallest sizes")
    rnn_case("rnn_hidden33_t1_batch1_op14", "RNN", I=5, H=33, T=1, Bn=1, direction="bidirectional",
             desc="One step, one sequence")

    # ---------------------------------------------------------------- LSTM
    for opset in (14, 22):
        rnn_case(f"lstm_default_op{opset}", "LSTM", opset=opset, desc="Plain forward")
    rnn_case("lstm_acts_hardsigmoid_softsign_scaledtanh_op14", "LSTM",
             acts=["HardSigmoid", "Softsign", "ScaledTanh"], alphas=[0.25, 0.9], betas=[0.5, 1.1],
             desc="f=HardSigmoid(0.25, 0.5), g=Softsign, h=ScaledTanh(0.9, 1.1)")
    for opset in (14, 22):
        rnn_case(f"lstm_acts_bidirectional_op{opset}", "LSTM", opset=opset, direction="bidirectional",
                 acts=["Sigmoid", "Affine", "LeakyRelu", "HardSigmoid", "Elu", "Softplus"],
                 alphas=[0.7, 0.2, 0.3, 0.9], betas=[0.05, 0.55],
                 desc="Forward f=Sigmoid g=Affine(0.7, 0.05) h=LeakyRelu(0.2); reverse f=HardSigmoid(0.3, 0.55) "
                      "g=Elu(0.9) h=Softplus")
    rnn_case("lstm_acts_relu_thresholdedrelu_op14", "LSTM", acts=["Sigmoid", "Relu", "ThresholdedRelu"],
             alphas=[0.1], desc="g=Relu, h=ThresholdedRelu(0.1)")
    rnn_case("lstm_acts_tanh_sigmoid_swapped_op14", "LSTM", acts=["Tanh", "Sigmoid", "Softsign"],
             desc="Unusual placement: f=Tanh, g=Sigmoid, h=Softsign")
    rnn_case("lstm_mixed_case_op14", "LSTM", acts=["sigmoid", "TANH", "Tanh"], desc="Mixed-case activation names")
    rnn_case("lstm_default_alphas_op14", "LSTM", direction="bidirectional",
             acts=["HardSigmoid", "LeakyRelu", "Elu", "Sigmoid", "Elu", "LeakyRelu"],
             desc="No activation_alpha/beta: ONNX defaults (HardSigmoid 0.2/0.5, LeakyRelu 0.01, Elu 1.0)")
    for opset in (14, 22):
        rnn_case(f"lstm_clip_op{opset}", "LSTM", opset=opset, clip=0.5, wscale=2.5, init_c=True, desc="Clip")
    rnn_case("lstm_reverse_op14", "LSTM", direction="reverse", init_h=True, init_c=True, desc="Reverse")
    rnn_case("lstm_bidirectional_op14", "LSTM", direction="bidirectional", desc="Bidirectional")
    rnn_case("lstm_no_hidden_size_op14", "LSTM", hidden_size_attr=False, peephole=True,
             desc="hidden_size omitted (inferred from R)")
    for opset in (14, 22):
        rnn_case(f"lstm_input_forget_op{opset}", "LSTM", opset=opset, input_forget=1, init_c=True,
                 desc="Coupled input-forget gate (f = 1 - i)")
    rnn_case("lstm_input_forget_peephole_bidirectional_op14", "LSTM", input_forget=1, peephole=True,
             direction="bidirectional", init_h=True, init_c=True, desc="input_forget with peepholes")
    rnn_case("lstm_peephole_op14", "LSTM", peephole=True, init_c=True, wscale=1.5, desc="Peepholes")
    rnn_case("lstm_peephole_no_bias_op14", "LSTM", peephole=True, bias=False, init_h=True, init_c=True,
             desc="Peepholes with B absent ('' placeholder)")
    for opset in (14, 22):
        rnn_case(f"lstm_all_inputs_op{opset}", "LSTM", opset=opset, direction="bidirectional", peephole=True,
                 clip=0.8, seq_lens=[7, 3, 5], init_h=True, init_c=True, wscale=2.0,
                 desc="Every input and every attribute at once")
    rnn_case("lstm_no_bias_op14", "LSTM", bias=False, desc="B absent")
    rnn_case("lstm_seq_lens_op14", "LSTM", seq_lens=[2, 7, 4], desc="Ragged batch")
    rnn_case("lstm_seq_lens_reverse_op14", "LSTM", direction="reverse", seq_lens=[5, 1, 7],
             init_h=True, init_c=True, desc="Reverse over ragged batch")
    rnn_case("lstm_seq_lens_zero_op14", "LSTM", direction="bidirectional", seq_lens=[4, 0, 7],
             desc="A sequence of length 0 (no initial state: its Y, Y_h and Y_c are zero)")
    rnn_case("lstm_seq_lens_const_op14", "LSTM", seq_lens=[6, 7, 3], init_h=True, init_c=True, const_inputs=True,
             desc="sequence_lens, initial_h, initial_c as initializers")
    rnn_case("lstm_initial_h_only_op14", "LSTM", init_h=True, desc="initial_h without initial_c")
    rnn_case("lstm_initial_c_only_op14", "LSTM", init_c=True, desc="initial_c without initial_h")
    for opset in (14, 22):
        rnn_case(f"lstm_initial_state_op{opset}", "LSTM", opset=opset, init_h=True, init_c=True,
                 desc="initial_h and initial_c")
    outsets = {
        "y": ["Y"], "y_h": ["", "Y_h"], "y_c": ["", "", "Y_c"], "y_y_h": ["Y", "Y_h"],
        "y_y_c": ["Y", "", "Y_c"], "y_h_y_c": ["", "Y_h", "Y_c"],
    }
    for k_, outs in outsets.items():
        rnn_case(f"lstm_out_{k_}_op14", "LSTM", node_outputs=outs, direction="bidirectional" if "c" in k_ else None,
                 init_c=True, desc=f"Outputs {outs}")
    rnn_case("lstm_out_y_h_op22", "LSTM", opset=22, node_outputs=["", "Y_h"], desc="Only Y_h")
    rnn_case("lstm_unused_outputs_op14", "LSTM", node_outputs=["Y", "Y_h", "Y_c"], graph_outputs=["Y_h"],
             desc="Node produces Y, Y_h, Y_c but only Y_h is a graph output")
    for opset in (14, 22):
        rnn_case(f"lstm_layout1_op{opset}", "LSTM", opset=opset, layout=1, init_h=True, init_c=True, peephole=True,
                 desc="Batch-major (layout=1)")
    rnn_case("lstm_layout1_seq_lens_bidirectional_op14", "LSTM", layout=1, direction="bidirectional",
             seq_lens=[3, 7, 6], init_h=True, init_c=True, desc="Batch-major, ragged, bidirectional")
    rnn_case("lstm_layout1_y_c_only_op14", "LSTM", layout=1, node_outputs=["", "", "Y_c"], desc="Batch-major, only Y_c")
    rnn_case("lstm_hidden1_input1_op14", "LSTM", I=1, H=1, T=7, Bn=3, peephole=True, init_h=True, init_c=True,
             desc="Smallest sizes")
    rnn_case("lstm_hidden33_op14", "LSTM", I=5, H=33, T=7, Bn=1, direction="bidirectional", desc="hidden 33")
    rnn_case("lstm_hidden17_t1_op14", "LSTM", I=1, H=17, T=1, Bn=3, init_h=True, init_c=True, desc="One step")

    # ---------------------------------------------------------------- GRU
    for lbr in (0, 1):
        for opset in (14, 22):
            rnn_case(f"gru_default_lbr{lbr}_op{opset}", "GRU", opset=opset, lbr=lbr, desc="Plain forward")
    rnn_case("gru_no_lbr_attr_op14", "GRU", desc="linear_before_reset attribute omitted (default 0)")
    rnn_case("gru_acts_hardsigmoid_elu_lbr0_op14", "GRU", lbr=0, acts=["HardSigmoid", "Elu"], alphas=[0.3, 0.9],
             betas=[0.45], desc="f=HardSigmoid(0.3, 0.45), g=Elu(0.9)")
    for lbr in (0, 1):
        rnn_case(f"gru_acts_bidirectional_lbr{lbr}_op14", "GRU", lbr=lbr, direction="bidirectional",
                 acts=["Sigmoid", "Softplus", "HardSigmoid", "ScaledTanh"], alphas=[0.35, 1.1], betas=[0.5, 0.9],
                 desc="Forward f=Sigmoid g=Softplus; reverse f=HardSigmoid(0.35, 0.5) g=ScaledTanh(1.1, 0.9)")
    rnn_case("gru_acts_bidirectional_lbr1_op22", "GRU", opset=22, lbr=1, direction="bidirectional",
             acts=["Sigmoid", "Affine", "Softsign", "LeakyRelu"], alphas=[0.8, 0.1], betas=[0.2],
             wscale=0.8, desc="Forward f=Sigmoid g=Affine(0.8, 0.2); reverse f=Softsign g=LeakyRelu(0.1)")
    rnn_case("gru_acts_relu_thresholdedrelu_lbr1_op14", "GRU", lbr=1, direction="bidirectional",
             acts=["Sigmoid", "Relu", "Sigmoid", "ThresholdedRelu"], alphas=[0.15], wscale=0.8,
             desc="Forward g=Relu; reverse g=ThresholdedRelu(0.15)")
    rnn_case("gru_acts_tanh_gate_lbr0_op14", "GRU", lbr=0, acts=["Tanh", "Sigmoid"],
             desc="Unusual placement: f=Tanh (gates can go negative), g=Sigmoid")
    rnn_case("gru_mixed_case_lbr1_op14", "GRU", lbr=1, acts=["SIGMOID", "tanh"], desc="Mixed-case activation names")
    rnn_case("gru_default_alphas_lbr0_op14", "GRU", lbr=0, acts=["HardSigmoid", "LeakyRelu"],
             desc="No activation_alpha/beta: ONNX defaults (HardSigmoid 0.2/0.5, LeakyRelu 0.01)")
    for lbr in (0, 1):
        rnn_case(f"gru_clip_lbr{lbr}_op14", "GRU", lbr=lbr, clip=0.5, wscale=2.5, desc="Clip")
    rnn_case("gru_clip_lbr1_op22", "GRU", opset=22, lbr=1, clip=0.8, wscale=2.5, init_h=True, desc="Clip")
    for lbr in (0, 1):
        rnn_case(f"gru_reverse_lbr{lbr}_op14", "GRU", lbr=lbr, direction="reverse", init_h=True, desc="Reverse")
        rnn_case(f"gru_bidirectional_lbr{lbr}_op14", "GRU", lbr=lbr, direction="bidirectional", desc="Bidirectional")
        rnn_case(f"gru_no_bias_lbr{lbr}_op14", "GRU", lbr=lbr, bias=False, seq_lens=[7, 4, 6], desc="B absent")
        rnn_case(f"gru_seq_lens_lbr{lbr}_op14", "GRU", lbr=lbr, direction="bidirectional", seq_lens=[1, 7, 3],
                 init_h=True, desc="Ragged batch")
        rnn_case(f"gru_initial_h_lbr{lbr}_op14", "GRU", lbr=lbr, init_h=True, desc="initial_h")
        rnn_case(f"gru_layout1_lbr{lbr}_op14", "GRU", lbr=lbr, layout=1, direction="bidirectional",
                 init_h=True, seq_lens=[7, 2, 4], desc="Batch-major (layout=1)")
    rnn_case("gru_layout1_lbr1_op22", "GRU", opset=22, lbr=1, layout=1, init_h=True, desc="Batch-major (layout=1)")
    rnn_case("gru_seq_lens_op22", "GRU", opset=22, lbr=1, seq_lens=[5, 7, 2], desc="Ragged batch")
    rnn_case("gru_seq_lens_zero_lbr1_op14", "GRU", lbr=1, direction="reverse", seq_lens=[0, 7, 3],
             desc="A sequence of length 0 (no initial state: its Y and Y_h are zero)")
    rnn_case("gru_no_hidden_size_lbr1_op14", "GRU", lbr=1, hidden_size_attr=False,
             desc="hidden_size omitted (inferred from R)")
    rnn_case("gru_y_only_lbr1_op14", "GRU", lbr=1, node_outputs=["Y"], desc="Only Y")
    rnn_case("gru_y_h_only_lbr0_op14", "GRU", lbr=0, node_outputs=["", "Y_h"], direction="bidirectional",
             desc="Only Y_h (Y is '')")
    rnn_case("gru_hidden1_input1_lbr1_op14", "GRU", lbr=1, I=1, H=1, init_h=True, desc="Smallest sizes")
    rnn_case("gru_hidden33_t1_batch1_lbr0_op14", "GRU", lbr=0, I=5, H=33, T=1, Bn=1, init_h=True, desc="One step")
    rnn_case("gru_input1_hidden17_lbr1_op14", "GRU", lbr=1, I=1, H=17, T=7, Bn=3, direction="bidirectional",
             desc="input_size 1")


# ============================================================================ graphs


def graph_case(name, gb_fn, opset, desc, features, ort=True, source="onnx-helper", extra=None):
    """gb_fn(rng) -> (GraphBuilder, feeds OrderedDict). Expected outputs from onnxruntime."""
    if not wanted(name):
        return
    rng = np.random.default_rng(seed_of(name))
    gb, feeds = gb_fn(rng)
    model = gb.model(opset)
    ref, used = fl.ref_eval(model, feeds)
    expected = fl.run_ort(model, feeds)
    gap = verify(name, model, feeds, expected, ref, used)
    assert gap is None or gap >= MIN_THRESHOLD_GAP
    meta = OrderedDict(description=desc, features=features, source=source)
    meta["reference"] = "onnxruntime " + _ort_version()
    meta["ref64_max_abs_diff"] = max(fl.max_abs_diff(expected[k], ref[k]) for k in expected)
    if extra:
        meta.update(extra)
    emit(name, model, feeds, expected, meta)


def _w(rng, shape, fan, scale=1.0):
    k = scale / np.sqrt(fan)
    return rng.uniform(-k, k, shape).astype(np.float32)


def _rnn_weights(rng, op, D, I, H, scale=1.0):
    G = rnnref.NGATES[op]
    return (_w(rng, (D, G * H, I), H, scale), _w(rng, (D, G * H, H), H, scale),
            _w(rng, (D, 2 * G * H), H, scale))


HEAD_SCALE = 3.0  # dense-head weights well above 1/sqrt(fan_in), so softmax outputs are not near uniform


HEAD_ACTS = ["Relu", "Tanh", "Sigmoid", "Softmax", "LogSoftmax"]


def head_cases():
    T, Bn, I, H, K = 6, 3, 5, 17, 7
    for idx, act in enumerate(HEAD_ACTS):
        op = ["LSTM", "GRU", "RNN", "LSTM", "GRU"][idx]

        def gemm_fn(rng, op=op, act=act, idx=idx):
            gb = fl.GraphBuilder("gemm_head")
            x = rng.standard_normal((T, Bn, I)).astype(np.float32)
            gb.input("x", x)
            W, R, B = _rnn_weights(rng, op, 1, I, H, 1.5)
            n_out = 3 if op == "LSTM" else 2
            attrs = {"hidden_size": H}
            if op == "GRU":
                attrs["linear_before_reset"] = 1
            outs = gb.node(op, ["x", gb.init("W", W), gb.init("R", R), gb.init("B", B)], n_out=n_out, name=op, **attrs)
            hn = gb.node("Squeeze", [outs[1], gb.const([0])], name="Squeeze")       # [B, H]
            Wd = _w(rng, (K, H), H, HEAD_SCALE)
            bd = _w(rng, (K,), H, HEAD_SCALE)
            z = gb.node("Gemm", [hn, gb.init("fc.weight", Wd), gb.init("fc.bias", bd)], name="Gemm", transB=1)
            attrs = {"axis": -1} if act in ("Softmax", "LogSoftmax") and idx % 2 == 0 else {}
            gb.node(act, [z], name=act, outputs=["out"], **attrs)
            gb.output("out", [Bn, K])
            return gb, OrderedDict(x=x)

        graph_case(f"head_gemm_{act.lower()}_op14", gemm_fn, 14,
                   f"{op}(I={I}, H={H}) over x [T={T}, B={Bn}, {I}]; Y_h -> Squeeze(axis 0) -> Gemm(transB=1, "
                   f"W [{K}, {H}], C [{K}]) -> {act}. Output [B, {K}].",
                   {"dense_head", "gemm", OPS_LOWER[op], "bias", f"head_{act.lower()}"} | ({"lbr"} if op == "GRU" else set()))

        def matmul_fn(rng, op=op, act=act, idx=idx):
            gb = fl.GraphBuilder("matmul_head")
            x = rng.standard_normal((T, Bn, I)).astype(np.float32)
            gb.input("x", x)
            W, R, B = _rnn_weights(rng, op, 1, I, H, 1.5)
            attrs = {"hidden_size": H}
            outs = gb.node(op, ["x", gb.init("W", W), gb.init("R", R), gb.init("B", B)], n_out=1, name=op,
                           outputs=["rnn_y"], **attrs)
            y = gb.node("Squeeze", [outs, gb.const([1])], name="Squeeze")            # [T, B, H]
            Wd = _w(rng, (H, K), H, HEAD_SCALE)
            bd = _w(rng, (K,), H, HEAD_SCALE)
            mm = gb.node("MatMul", [y, gb.init("fc.weight_t", Wd)], name="MatMul")
            # alternate operand order of the bias Add (torch puts the bias first)
            add_in = [gb.init("fc.bias", bd), mm] if idx % 2 == 0 else [mm, gb.init("fc.bias", bd)]
            z = gb.node("Add", add_in, name="Add")
            gb.node(act, [z], name=act, outputs=["out"])
            gb.output("out", [T, Bn, K])
            return gb, OrderedDict(x=x)

        graph_case(f"head_matmul_add_{act.lower()}_op14", matmul_fn, 14,
                   f"{op}(I={I}, H={H}) over x [T={T}, B={Bn}, {I}]; Y -> Squeeze(axis 1) -> MatMul(W [{H}, {K}]) "
                   f"-> Add(bias [{K}]) -> {act} on every frame. Output [T, B, {K}].",
                   {"dense_head", "matmul_add", OPS_LOWER[op], "bias", f"head_{act.lower()}"})

    def two_dense(rng):
        gb = fl.GraphBuilder("two_dense")
        x = rng.standard_normal((T, Bn, I)).astype(np.float32)
        gb.input("x", x)
        W, R, B = _rnn_weights(rng, "GRU", 2, I, H, 1.5)
        y = gb.node("GRU", ["x", gb.init("W", W), gb.init("R", R), gb.init("B", B)], name="GRU",
                    outputs=["gru_y"], hidden_size=H, direction="bidirectional", linear_before_reset=1)
        t = gb.node("Transpose", [y], name="Transpose", perm=[0, 2, 1, 3])               # [T, B, 2, H]
        r = gb.node("Reshape", [t, gb.const([-1, 2 * H])], name="Reshape")              # [T*B, 2H]
        z1 = gb.node("Gemm", [r, gb.init("fc1.weight", _w(rng, (2 * H, 11), 2 * H, HEAD_SCALE)),
                              gb.init("fc1.bias", _w(rng, (11,), 2 * H, HEAD_SCALE))], name="Gemm", transB=0)
        a1 = gb.node("Relu", [z1], name="Relu")
        z2 = gb.node("Gemm", [a1, gb.init("fc2.weight", _w(rng, (K, 11), 11, HEAD_SCALE)),
                              gb.init("fc2.bias", _w(rng, (K,), 11, HEAD_SCALE))], name="Gemm", transB=1)
        gb.node("LogSoftmax", [z2], name="LogSoftmax", outputs=["log_probs"], axis=1)
        gb.output("log_probs", [T * Bn, K])
        return gb, OrderedDict(x=x)

    graph_case("head_reshape_gemm2_logsoftmax_op14", two_dense, 14,
               f"Bidirectional GRU(lbr=1, I={I}, H={H}) -> Transpose(0,2,1,3) -> Reshape([-1, {2 * H}]) -> "
               f"Gemm(transB=0, 11 units) -> Relu -> Gemm(transB=1, {K} units) -> LogSoftmax(axis=1). "
               f"x [T={T}, B={Bn}, {I}], output [T*B, {K}].",
               {"dense_head", "gemm", "gemm_transb0", "gru", "lbr", "bias", "bidirectional", "head_relu",
                "head_logsoftmax", "reshape_glue"})

    def head_op22(rng):
        gb = fl.GraphBuilder("head22")
        x = rng.standard_normal((T, Bn, I)).astype(np.float32)
        gb.input("x", x)
        W, R, B = _rnn_weights(rng, "LSTM", 1, I, H, 1.5)
        y = gb.node("LSTM", ["x", gb.init("W", W), gb.init("R", R), gb.init("B", B)], name="LSTM",
                    outputs=["lstm_y"], hidden_size=H)
        s = gb.node("Squeeze", [y, gb.const([1])], name="Squeeze")
        mm = gb.node("MatMul", [s, gb.init("fc.weight_t", _w(rng, (H, K), H, HEAD_SCALE))], name="MatMul")
        z = gb.node("Add", [gb.init("fc.bias", _w(rng, (K,), H, HEAD_SCALE)), mm], name="Add")
        gb.node("Softmax", [z], name="Softmax", outputs=["probs"], axis=2)
        gb.output("probs", [T, Bn, K])
        return gb, OrderedDict(x=x)

    graph_case("head_matmul_add_softmax_op22", head_op22, 22,
               f"LSTM(I={I}, H={H}) -> Squeeze(axis 1) -> MatMul -> Add -> Softmax(axis=2), opset 22. "
               f"x [T={T}, B={Bn}, {I}], output [T, B, {K}].",
               {"dense_head", "matmul_add", "lstm", "bias", "head_softmax"})


def stack_cases():
    Bn, T, I, H = 2, 7, 5, 17

    def stack2(rng):
        gb = fl.GraphBuilder("stack2")
        x = rng.standard_normal((Bn, T, I)).astype(np.float32)
        gb.input("x", x)
        t = gb.node("Transpose", ["x"], name="/lstm/Transpose", perm=[1, 0, 2])               # [T, B, I]
        W0, R0, B0 = _rnn_weights(rng, "LSTM", 1, I, H)
        y0 = gb.node("LSTM", [t, gb.init("W0", W0), gb.init("R0", R0), gb.init("B0", B0)], n_out=3,
                     name="/lstm/LSTM", hidden_size=H)
        s0 = gb.node("Squeeze", [y0[0], gb.const([1])], name="/lstm/Squeeze")                 # [T, B, H]
        W1, R1, B1 = _rnn_weights(rng, "LSTM", 1, H, H)
        y1 = gb.node("LSTM", [s0, gb.init("W1", W1), gb.init("R1", R1), gb.init("B1", B1)], n_out=3,
                     name="/lstm/LSTM", hidden_size=H)
        s1 = gb.node("Squeeze", [y1[0], gb.const([1])], name="/lstm/Squeeze")
        gb.node("Transpose", [s1], name="/lstm/Transpose", perm=[1, 0, 2], outputs=["y"])    # [B, T, H]
        gb.node("Concat", [y0[1], y1[1]], name="/lstm/Concat", outputs=["hn"], axis=0)
        gb.node("Concat", [y0[2], y1[2]], name="/lstm/Concat", outputs=["cn"], axis=0)
        gb.output("y", [Bn, T, H])
        gb.output("hn", [2, Bn, H])
        gb.output("cn", [2, Bn, H])
        return gb, OrderedDict(x=x)

    graph_case("stack2_lstm_transpose_squeeze_op14", stack2, 14,
               f"Two stacked LSTM nodes (I={I}, H={H}), batch-first input x [B={Bn}, T={T}, {I}] through "
               "Transpose(1,0,2) -> LSTM -> Squeeze(axis 1) -> LSTM -> Squeeze -> Transpose(1,0,2) -> y; "
               "hn/cn = Concat of each layer's Y_h/Y_c on axis 0.",
               {"lstm", "bias", "multi_layer", "batch_first", "transpose_squeeze_glue", "concat_states"})

    def stack3(rng):
        gb = fl.GraphBuilder("stack3")
        x = rng.standard_normal((T, Bn, I)).astype(np.float32)
        gb.input("x", x)
        W, R, B = _rnn_weights(rng, "RNN", 2, I, 9)
        y = gb.node("RNN", ["x", gb.init("rnn.W", W), gb.init("rnn.R", R), gb.init("rnn.B", B)], name="RNN",
                    outputs=["rnn_y"], hidden_size=9, direction="bidirectional", activations=["Relu", "Tanh"])
        t = gb.node("Transpose", [y], name="Transpose", perm=[0, 2, 1, 3])
        r = gb.node("Reshape", [t, gb.const([0, 0, -1])], name="Reshape")                    # [T, B, 18]
        W, R, B = _rnn_weights(rng, "GRU", 1, 18, H)
        g = gb.node("GRU", [r, gb.init("gru.W", W), gb.init("gru.R", R), gb.init("gru.B", B)], name="GRU",
                    outputs=["gru_y"], hidden_size=H, linear_before_reset=0)
        s = gb.node("Squeeze", [g, gb.const([1])], name="Squeeze")
        W, R, B = _rnn_weights(rng, "LSTM", 2, H, 6)
        _, lh = gb.node("LSTM", [s, gb.init("lstm.W", W), gb.init("lstm.R", R), gb.init("lstm.B", B)],
                        name="LSTM", outputs=["", "lstm_hn"], hidden_size=6, direction="bidirectional")
        tr = gb.node("Transpose", [lh], name="Transpose", perm=[1, 0, 2])                   # [B, 2, 6]
        fl_ = gb.node("Reshape", [tr, gb.const([0, -1])], name="Reshape")                   # [B, 12]
        z = gb.node("Gemm", [fl_, gb.init("fc.weight", _w(rng, (4, 12), 12)), gb.init("fc.bias", _w(rng, (4,), 12))],
                    name="Gemm", transB=1)
        gb.node("Softmax", [z], name="Softmax", outputs=["probs"])
        gb.output("probs", [Bn, 4])
        return gb, OrderedDict(x=x)

    graph_case("stack3_rnn_gru_lstm_op14", stack3, 14,
               f"Bidirectional RNN(Relu/Tanh, H=9) -> Transpose(0,2,1,3)+Reshape(0,0,-1) -> GRU(lbr=0, H={H}) -> "
               "Squeeze(axis 1) -> bidirectional LSTM(H=6, outputs ['', Y_h]) -> Transpose(1,0,2)+Reshape(0,-1) "
               f"-> Gemm(transB=1) -> Softmax. x [T={T}, B={Bn}, {I}], probs [B, 4].",
               {"rnn", "gru", "lstm", "bias", "multi_layer", "stacked_rnn_types", "bidirectional", "activations",
                "reshape_glue", "partial_outputs", "output_placeholders", "dense_head", "gemm", "head_softmax"})


# ---------------------------------------------------------------------------- stateful


def stateful_case(name, kind, layers, I, H, K, Tc, n_chunks, head_act=None):
    """Streaming model forward(x, h0[, c0]) -> (y, hn[, cn]), batch-first, exported the way
    torch's legacy exporter writes a stateful nn.LSTM/GRU (Slice of h0 per layer, Concat of hn)."""
    if not wanted(name):
        return
    rng = np.random.default_rng(seed_of(name))
    params = fl.torch_init_params(rng, kind, I, H, layers, False)
    Wl, bl = fl.torch_linear_init(rng, H, K)
    op = "LSTM" if kind == "lstm" else "GRU"
    gb = fl.GraphBuilder(name)
    gb.input("x", [1, Tc, I])
    gb.input("h0", [layers, 1, H])
    if kind == "lstm":
        gb.input("c0", [layers, 1, H])
    cur = gb.node("Transpose", ["x"], name=f"/{kind}/Transpose", perm=[1, 0, 2])
    hns, cns = [], []
    for layer in range(layers):
        W, R, B = fl.torch_layer_to_onnx(kind, params, layer, False)
        sl = lambda src: gb.node("Slice", [src, gb.const([layer], f"/{kind}/Constant"),  # noqa: E731
                                           gb.const([layer + 1], f"/{kind}/Constant"),
                                           gb.const([0], f"/{kind}/Constant")], name=f"/{kind}/Slice")
        ins = [cur, gb.init(f"onnx::{op}_{100 + 3 * layer}", W), gb.init(f"onnx::{op}_{101 + 3 * layer}", R),
               gb.init(f"onnx::{op}_{102 + 3 * layer}", B), "", sl("h0")]
        if kind == "lstm":
            ins.append(sl("c0"))
        attrs = {"hidden_size": H}
        if kind == "gru":
            attrs["linear_before_reset"] = 1
        outs = gb.node(op, ins, n_out=3 if kind == "lstm" else 2, name=f"/{kind}/{op}", **attrs)
        cur = gb.node("Squeeze", [outs[0], gb.const([1], f"/{kind}/Constant")], name=f"/{kind}/Squeeze")
        hns.append(outs[1])
        if kind == "lstm":
            cns.append(outs[2])
    t = gb.node("Transpose", [cur], name=f"/{kind}/Transpose", perm=[1, 0, 2])
    mm = gb.node("MatMul", [t, gb.init("onnx::MatMul_200", np.ascontiguousarray(Wl.T))], name="/head/MatMul")
    if head_act:
        z = gb.node("Add", [gb.init("head.bias", bl), mm], name="/head/Add")
        gb.node(head_act, [z], name=f"/{head_act}", outputs=["y"], axis=-1)
    else:
        gb.node("Add", [gb.init("head.bias", bl), mm], name="/head/Add", outputs=["y"])
    if layers > 1:
        gb.node("Concat", hns, name=f"/{kind}/Concat", outputs=["hn"], axis=0)
        if kind == "lstm":
            gb.node("Concat", cns, name=f"/{kind}/Concat", outputs=["cn"], axis=0)
    else:
        gb.nodes.append(fl.helper.make_node("Identity", [hns[0]], ["hn"], name=f"/{kind}/Identity"))
        if kind == "lstm":
            gb.nodes.append(fl.helper.make_node("Identity", [cns[0]], ["cn"], name=f"/{kind}/Identity_1"))
    gb.output("y", [1, Tc, K])
    gb.output("hn", [layers, 1, H])
    if kind == "lstm":
        gb.output("cn", [layers, 1, H])
    model = gb.model(17)
    xs = rng.standard_normal((n_chunks, 1, Tc, I)).astype(np.float32)
    sets = []
    h = np.zeros((layers, 1, H), np.float32)
    c = np.zeros((layers, 1, H), np.float32)
    max_ref = 0.0
    for i in range(n_chunks):
        feeds = OrderedDict(x=xs[i], h0=h)
        if kind == "lstm":
            feeds["c0"] = c
        out = fl.run_ort(model, feeds)
        ref, _ = fl.ref_eval(model, feeds)
        verify(name, model, feeds, out, ref, [])
        max_ref = max(max_ref, max(fl.max_abs_diff(out[k], ref[k]) for k in out))
        sets.append((feeds, out))
        h = out["hn"]
        c = out.get("cn", c)
    # chained chunks == one pass over the whole stream (torch semantics, float64)
    full = np.concatenate([xs[i] for i in range(n_chunks)], axis=1)
    y_full, hn_full, cn_full = rnnref.torch_rnn_stack(kind, params, full, layers, False, True)
    z_full = y_full @ Wl.T.astype(np.float64) + bl
    if head_act == "LogSoftmax":
        z_full = fl._logsoftmax(z_full, -1)
    elif head_act == "Softmax":
        z_full = fl._softmax(z_full, -1)
    chained = np.concatenate([s[1]["y"] for s in sets], axis=1)
    assert fl.within(chained, z_full, TOL, 0.1), fl.max_abs_diff(chained, z_full)
    assert fl.within(sets[-1][1]["hn"], hn_full, TOL, 0.1)
    desc = (f"Streaming model forward(x, h0{', c0' if kind == 'lstm' else ''}) -> (y, hn{', cn' if kind == 'lstm' else ''}): "
            f"torch-style nn.{op}({I}, {H}, num_layers={layers}, batch_first=True) + nn.Linear({H}, {K})"
            f"{' + ' + head_act if head_act else ''}, in the TorchScript exporter's stateful pattern (Slice of h0 per "
            f"layer, Squeeze/Transpose glue, {'Concat' if layers > 1 else 'Identity'} to hn), built with onnx.helper. "
            f"One chunk is x [1, {Tc}, {I}]. The main set is chunk 1 of a stream (zero state); "
            + ", ".join(f"set_chunk{i + 1}" for i in range(1, n_chunks))
            + " are the following chunks, each fed the hn/cn outputs of the chunk before.")
    feats = {kind, "bias", "initial_state", "stateful_io", "batch_first", "dense_head", "matmul_add", "slice_glue"}
    if kind == "gru":
        feats.add("lbr")
    if layers > 1:
        feats |= {"multi_layer", "concat_states"}
    if head_act:
        feats.add(f"head_{head_act.lower()}")
    meta = OrderedDict(description=desc, features=feats)
    meta["reference"] = "onnxruntime " + _ort_version()
    meta["ref64_max_abs_diff"] = max_ref
    meta["stream_check"] = ("chunk outputs chained through hn/cn equal one float64 pass over the concatenated "
                            "stream to within a tenth of the tolerance")
    extra = [(f"set_chunk{i + 1}", f"chunk {i + 1} of the stream: new x, h0/c0 = hn/cn outputs of chunk {i}",
              sets[i][0], sets[i][1]) for i in range(1, n_chunks)]
    emit(name, model, sets[0][0], sets[0][1], meta, extra_sets=extra)


# ---------------------------------------------------------------------------- torch-style


def _legacy_zero_state(gb, scope, src, D, H, const_name_counter):
    """The TorchScript exporter's zero initial state: Expand(zeros[D,1,H], Concat([D], Unsqueeze(Shape(x)[1]), [H]))."""
    zeros = gb.const(np.zeros((D, 1, H), np.float32), f"{scope}/Constant", dtype=np.float32)
    shp = gb.node("Shape", [src], name=f"{scope}/Shape")
    g = gb.node("Gather", [shp, gb.const(1, f"{scope}/Constant")], name=f"{scope}/Gather", axis=0)
    u = gb.node("Unsqueeze", [g, gb.const([0], "Constant")], name="Unsqueeze")
    cat = gb.node("Concat", [gb.const([D], "Constant"), u, gb.const([H], f"{scope}/Constant")],
                  name=f"{scope}/Concat", axis=0)
    return gb.node("Expand", [zeros, cat], name=f"{scope}/Expand")


def torch_case(name, kind, I, H, K, Bn, T, with_h0):
    if not wanted(name):
        return
    rng = np.random.default_rng(seed_of(name))
    layers, D = 2, 2
    params = fl.torch_init_params(rng, kind, I, H, layers, True)
    Wl, bl = fl.torch_linear_init(rng, D * H, K)
    x = rng.standard_normal((Bn, T, I)).astype(np.float32)
    h0 = (rng.standard_normal((layers * D, Bn, H)) * 0.5).astype(np.float32) if with_h0 else None
    op = "LSTM" if kind == "lstm" else "GRU"
    scope = "/rnn"
    gb = fl.GraphBuilder("main_graph")
    gb.input("x", x)
    if with_h0:
        gb.input("h0", h0)
    cur = gb.node("Transpose", ["x"], name=f"{scope}/Transpose", perm=[1, 0, 2])
    hns, cns = [], []
    init_id = 300
    for layer in range(layers):
        W, R, B = fl.torch_layer_to_onnx(kind, params, layer, True)
        if with_h0:
            hs = gb.node("Slice", ["h0", gb.const([2 * layer], f"{scope}/Constant"),
                                   gb.const([2 * layer + 2], f"{scope}/Constant"),
                                   gb.const([0], f"{scope}/Constant")], name=f"{scope}/Slice")
        else:
            hs = _legacy_zero_state(gb, scope, cur, D, H, None)
        ins = [cur, gb.init(f"onnx::{op}_{init_id + 1}", W), gb.init(f"onnx::{op}_{init_id + 2}", R),
               gb.init(f"onnx::{op}_{init_id}", B), "", hs]
        init_id += 10
        if kind == "lstm":
            ins.append(_legacy_zero_state(gb, scope, cur, D, H, None))
        attrs = {"direction": "bidirectional", "hidden_size": H}
        if kind == "gru":
            attrs["linear_before_reset"] = 1
        outs = gb.node(op, ins, n_out=3 if kind == "lstm" else 2, name=f"{scope}/{op}", **attrs)
        t = gb.node("Transpose", [outs[0]], name=f"{scope}/Transpose", perm=[0, 2, 1, 3])
        cur = gb.node("Reshape", [t, gb.const([0, 0, -1], f"{scope}/Constant")], name=f"{scope}/Reshape", allowzero=0)
        hns.append(outs[1])
        if kind == "lstm":
            cns.append(outs[2])
    t = gb.node("Transpose", [cur], name=f"{scope}/Transpose", perm=[1, 0, 2])
    mm = gb.node("MatMul", [t, gb.init(f"onnx::MatMul_{init_id}", np.ascontiguousarray(Wl.T))], name="/head/MatMul")
    gb.node("Add", [gb.init("head.bias", bl), mm], name="/head/Add", outputs=["logits"])
    gb.node("Concat", hns, name=f"{scope}/Concat", outputs=["hn"], axis=0)
    gb.output("logits", [Bn, T, K])
    gb.output("hn", [layers * D, Bn, H])
    if kind == "lstm":
        gb.node("Concat", cns, name=f"{scope}/Concat", outputs=["cn"], axis=0)
        gb.output("cn", [layers * D, Bn, H])
    model = gb.model(17)
    feeds = OrderedDict(x=x)
    if with_h0:
        feeds["h0"] = h0

    # expected: torch.nn semantics in float64 on the torch-layout weights
    out, hn, cn = rnnref.torch_rnn_stack(kind, params, x, layers, True, True, h0=h0)
    logits = out @ Wl.T.astype(np.float64) + bl.astype(np.float64)
    expected = OrderedDict(logits=logits.astype(np.float32), hn=hn.astype(np.float32))
    if kind == "lstm":
        expected["cn"] = cn.astype(np.float32)
    ortout = fl.run_ort(model, feeds)
    ref, _ = fl.ref_eval(model, feeds)
    for k in expected:
        assert fl.within(ortout[k], expected[k], TOL, 0.1), (name, k, fl.max_abs_diff(ortout[k], expected[k]))
        assert fl.within(ref[k], expected[k], TOL, 0.01), (name, k)
    mod = f"nn.{op}({I}, {H}, num_layers=2, bidirectional=True, batch_first=True)"
    fwd = "forward(x, h0) -> (logits, hn)" if with_h0 else f"forward(x) -> (logits, hn{', cn' if kind == 'lstm' else ''})"
    desc = (f"PyTorch-style model {fwd}: {mod} then nn.Linear({2 * H}, {K}) on every step. x [B={Bn}, T={T}, {I}]"
            f"{f', h0 [4, B, {H}]' if with_h0 else ''}. NOT exported by torch (torch could not be installed here): "
            "the graph is built with onnx.helper node for node in the shape of the TorchScript (legacy) exporter's "
            "output for this module at opset 17 (Transpose to sequence-major, "
            + ("Slice of h0 per layer" if with_h0 else "zero initial states from Shape/Gather/Unsqueeze/Concat/Expand")
            + ", Transpose(0,2,1,3)+Reshape(0,0,-1) between layers, Transpose back, MatMul+Add head, Concat of h_n), "
            "with torch-layout weights converted as the exporter does (gate reorder "
            + ("ifgo -> iofc" if kind == "lstm" else "rzn -> zrh") + ", B = [b_ih, b_hh]).")
    feats = {kind, "bias", "bidirectional", "multi_layer", "batch_first", "dense_head", "matmul_add",
             "torch_style", "concat_states", "reshape_glue"}
    if kind == "gru":
        feats.add("lbr")
    if with_h0:
        feats |= {"initial_state", "slice_glue"}
    else:
        feats.add("shape_expand_glue")
    meta = OrderedDict(description=desc, features=feats, source="onnx-helper")
    meta["mimics"] = "torch-legacy"
    meta["reference"] = "torch.nn semantics in float64 (tools/rnnref.py torch_rnn_stack), not onnxruntime"
    meta["reference_note"] = ("Expected outputs are a float64 numpy evaluation of torch.nn."
                              f"{op}/Linear's documented formulas on the torch-layout parameters (torch itself "
                              "was not installable: the PyPI wheel needs several GB of CUDA libraries), rounded to "
                              "float32. onnxruntime on this model agrees to torch_ref_vs_ort_max_abs_diff.")
    meta["torch_ref_vs_ort_max_abs_diff"] = max(fl.max_abs_diff(ortout[k], expected[k]) for k in expected)
    meta["ref64_max_abs_diff"] = max(fl.max_abs_diff(ref[k], expected[k]) for k in expected)
    emit(name, model, feeds, expected, meta)


def torch_cases():
    torch_case("torch_bilstm2_batchfirst_linear", "lstm", I=10, H=16, K=6, Bn=2, T=9, with_h0=False)
    torch_case("torch_bigru2_batchfirst_linear", "gru", I=12, H=20, K=5, Bn=3, T=8, with_h0=True)


# ============================================================================ main


def keep_torch_exports():
    """Index entries for the committed torchexport_* folders (when torch is missing)."""
    for entry in export_torch.names():
        path = os.path.join(OUT, entry, "case.json")
        if wanted(entry) and os.path.exists(path):
            with open(path) as f:
                case = json.load(f)
            CASES.append(OrderedDict([
                ("name", case["name"]), ("source", case["source"]), ("opset", case["opset"]),
                ("features", case["features"]), ("tolerance", case["tolerance"]),
                ("onnxruntime_loads_model", case["onnxruntime_loads_model"])]))
            print(f"  {entry} (kept)")


def write_readme():
    rows = "\n".join(f"| `{c['name']}` | {c['opset']} | {'yes' if c['onnxruntime_loads_model'] else 'no'} | "
                     f"{', '.join(c['features'])} |" for c in CASES)
    text = f"""# recur's own ONNX fixtures

Generated by `tools/gen_fixtures.py` (do not edit by hand: rerun it; see `tools/README.md`).
Same layout as `shared/conformance`: `index.json`; per case `model.onnx`, `input_<name>.npy`
(graph order; float32, `sequence_lens` int32), `output_<name>.npy`, `case.json`; streaming cases
have `extra_sets` sub-folders. A case passes when every output element satisfies
`|actual - expected| <= abs + rel * |expected|` (abs 1e-5 and rel 1e-4, except the
`torchexport_*` cases: abs 1e-5, rel 0).

Expected outputs are onnxruntime's, except where `case.json` has a `reference_note`
(layout=1, hidden_size omitted, non-canonical RNN activation spelling: onnxruntime on the
equivalent canonical model; `torch_*`: float64 torch.nn semantics; `torchexport_*`: models
exported by `torch.onnx.export` (made by `tools/export_torch.py`), expected outputs from the
torch module itself in float32). Every case also agrees with an independent float64 evaluation
(`ref64_max_abs_diff`, or for `torchexport_*` `torch_vs_float64_max_abs_diff`) and the
`torchexport_*` cases with onnxruntime (`torch_vs_ort_max_abs_diff`).

{len(CASES)} cases:

| case | opset | onnxruntime loads it | features |
| --- | --- | --- | --- |
{rows}
"""
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)


def main():
    global OUT, ONLY
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "fixtures", "onnx"))
    ap.add_argument("--only", default=None, help="generate only cases whose name contains this (no index)")
    args = ap.parse_args()
    OUT = args.out
    ONLY = args.only
    have_torch = export_torch.available()
    if ONLY is None and os.path.exists(OUT):
        for entry in os.listdir(OUT):
            path = os.path.join(OUT, entry)
            if not have_torch and entry.startswith(export_torch.PREFIX):
                continue  # cannot be remade here: keep the committed exports
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    os.makedirs(OUT, exist_ok=True)
    print("single-node cases")
    single_node_cases()
    print("dense heads")
    head_cases()
    print("stacks")
    stack_cases()
    print("stateful streaming")
    stateful_case("stateful_lstm2_chunks", "lstm", layers=2, I=6, H=12, K=3, Tc=4, n_chunks=3)
    stateful_case("stateful_gru_step", "gru", layers=1, I=8, H=10, K=4, Tc=1, n_chunks=3, head_act="LogSoftmax")
    print("torch-style")
    torch_cases()
    if have_torch:
        print("exported by torch")
        export_torch.cases(emit, wanted)
    else:
        print("exported by torch: torch does not import here; keeping the existing torchexport_* cases")
        keep_torch_exports()
    if ONLY is None:
        with open(os.path.join(OUT, "index.json"), "w") as f:
            json.dump({"cases": CASES}, f, indent=1)
            f.write("\n")
        write_readme()
        total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
        print(f"{len(CASES)} cases, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
