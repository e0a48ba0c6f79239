#!/usr/bin/env python3
"""Train and export recur's demo model: a small streaming keyword spotter (GRU).

Writes fixtures/demo/: model.onnx, input.npy, expected.npy, expected_hn.npy, labels.npy,
meta.json and README.md (overwritten on every run).

The task is synthetic (no data set is downloaded): a stream of 40-dim "log-mel" frames with
background noise in which keywords occur. A keyword is a sequence of three tones (Gaussian
bumps over the 40 bands) with its own band pattern; 10 keywords plus "_silence_" and
"_unknown_" (other tone triples, and the first two tones of a keyword alone) make 12 classes.
The label of a frame is the keyword whose third tone is playing or has just ended, else
_silence_ (or _unknown_ for a distractor).

The model is what a PyTorch user would write:
    nn.GRU(40, 64, num_layers=2, batch_first=True) -> nn.Linear(64, 12) -> LogSoftmax
trained here with a plain numpy implementation of the same formulas (float64, truncated
back-propagation through time, Adam), then exported in the shape of the TorchScript
exporter's stateful one-frame export: forward(x [1, 1, 40], h0 [2, 1, 64]) ->
(log_probs [1, 1, 12], hn [2, 1, 64]).

expected.npy holds onnxruntime's log-probabilities for input.npy run one frame at a time
with hn fed back as h0 (zero state at the start).

Usage: python3 tools/make_demo.py [--steps N] [--gradcheck]
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections import OrderedDict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixturelib as fl  # noqa: E402
import rnnref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fixtures", "demo")

N_MELS, HIDDEN, LAYERS = 40, 64, 2
CLASSES = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
N_CLASSES = len(CLASSES)
STREAM_T = 200
TAIL = 6  # frames after a keyword's end that still carry its label


# ============================================================================ data


def keyword_patterns(seed=1234):
    rng = np.random.default_rng(seed)
    pats = set()
    while len(pats) < 10:
        a, b, c = rng.choice(np.arange(3, 37, 3), 3, replace=False)
        pats.add((int(a), int(b), int(c)))
    return sorted(pats)


PATTERNS = keyword_patterns()


def make_stream(rng, T, n_events=None, force=None, gap=(3, 25)):
    """Return frames [T, 40] (float32), labels [T] (int), events [(start, end, class)]."""
    bands = np.arange(N_MELS)
    # background: white noise plus a slowly drifting coloured floor
    floor = np.convolve(rng.standard_normal(T + 20), np.ones(20) / 20, mode="valid")[:T]
    tilt = np.linspace(0.3, -0.3, N_MELS)
    x = 0.3 * rng.standard_normal((T, N_MELS)) + 0.5 * floor[:, None] * tilt[None, :]
    labels = np.zeros(T, np.int64)
    events = []
    t = int(rng.integers(2, 15))
    k = 0
    while True:
        if n_events is not None and k >= n_events:
            break
        if force is not None:
            if k >= len(force):
                break
            cls = force[k]
        else:
            cls = int(rng.integers(1, N_CLASSES)) if rng.random() < 0.9 else 1
        if cls >= 2:
            centers = list(PATTERNS[cls - 2])
        elif rng.random() < 0.5:  # distractor: a tone triple that is no keyword
            while True:
                c = tuple(int(v) for v in rng.choice(np.arange(3, 37, 3), 3, replace=False))
                if c not in PATTERNS:
                    break
            centers = list(c)
        else:  # distractor: the first two tones of a keyword
            centers = list(PATTERNS[int(rng.integers(0, 10))][:2])
        durs = [int(rng.integers(5, 9)) for _ in centers]
        gaps = [int(rng.integers(0, 3)) for _ in centers]
        length = sum(durs) + sum(gaps)
        if t + length + TAIL >= T:
            break
        start = t
        amp = rng.uniform(0.8, 1.4)
        third_start = None
        for j, (c, d, g) in enumerate(zip(centers, durs, gaps)):
            c = c + rng.uniform(-0.7, 0.7)
            env = np.sin(np.linspace(0.15, np.pi - 0.15, d))
            x[t:t + d] += amp * env[:, None] * np.exp(-0.5 * ((bands[None, :] - c) / 1.6) ** 2)
            if j == len(centers) - 1:
                third_start = t
            t += d + g
        end = t
        lab_from = third_start if cls >= 2 else start + length // 2
        labels[lab_from:min(T, end + TAIL)] = cls
        events.append((start, end, cls))
        t = end + TAIL + int(rng.integers(*gap))
        k += 1
    return x.astype(np.float32), labels, events


# ============================================================================ model


def init_params(rng):
    p = fl.torch_init_params(rng, "gru", N_MELS, HIDDEN, LAYERS, False)
    p = OrderedDict((k, v.astype(np.float64)) for k, v in p.items())
    w, b = fl.torch_linear_init(rng, HIDDEN, N_CLASSES)
    p["fc.weight"] = w.astype(np.float64)
    p["fc.bias"] = b.astype(np.float64)
    return p


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0):
    """x [T, B, I]. Returns y [T, B, H] and a cache for backward."""
    T, Bn, _ = x.shape
    H = w_hh.shape[1]
    gi = x @ w_ih.T + b_ih
    h = h0
    ys, cache = np.zeros((T, Bn, H)), []
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        r = sigmoid(gi[t, :, :H] + gh[:, :H])
        z = sigmoid(gi[t, :, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[t, :, 2 * H:] + r * gh[:, 2 * H:])
        hn = (1 - z) * n + z * h
        cache.append((h, r, z, n, gh[:, 2 * H:]))
        h = hn
        ys[t] = h
    return ys, cache


def gru_backward(dy, x, w_ih, w_hh, cache):
    T, Bn, _ = x.shape
    H = w_hh.shape[1]
    dgi = np.zeros((T, Bn, 3 * H))
    dw_hh = np.zeros_like(w_hh)
    db_hh = np.zeros(3 * H)
    dh = np.zeros((Bn, H))
    for t in range(T - 1, -1, -1):
        h, r, z, n, ghn = cache[t]
        dh = dh + dy[t]
        dn = dh * (1 - z)
        dz = dh * (h - n)
        dhp = dh * z
        dnp = dn * (1 - n * n)
        dr = dnp * ghn
        dzp = dz * z * (1 - z)
        drp = dr * r * (1 - r)
        dgh = np.concatenate([drp, dzp, dnp * r], axis=1)
        dgi[t] = np.concatenate([drp, dzp, dnp], axis=1)
        dw_hh += dgh.T @ h
        db_hh += dgh.sum(0)
        dh = dhp + dgh @ w_hh
    dw_ih = dgi.reshape(-1, 3 * H).T @ x.reshape(-1, x.shape[2])
    db_ih = dgi.sum((0, 1))
    dx = dgi @ w_ih
    return dx, dw_ih, dw_hh, db_ih, db_hh


def loss_and_grads(p, x, labels):
    """x [B, T, 40] batch-first, labels [B, T]. Mean frame cross-entropy."""
    inp = x.transpose(1, 0, 2)
    Bn = x.shape[0]
    caches, inputs = [], []
    for layer in range(LAYERS):
        sfx = f"_l{layer}"
        inputs.append(inp)
        y, c = gru_forward(inp, p["weight_ih" + sfx], p["weight_hh" + sfx], p["bias_ih" + sfx], p["bias_hh" + sfx],
                           np.zeros((Bn, HIDDEN)))
        caches.append(c)
        inp = y
    logits = inp @ p["fc.weight"].T + p["fc.bias"]  # [T, B, C]
    lab = labels.T
    m = logits.max(-1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(-1, keepdims=True))
    logp = logits - lse
    N = lab.size
    loss = -np.take_along_axis(logp, lab[..., None], -1).sum() / N
    prob = np.exp(logp)
    dlogits = prob.copy()
    np.put_along_axis(dlogits, lab[..., None], np.take_along_axis(dlogits, lab[..., None], -1) - 1.0, -1)
    dlogits /= N
    g = {}
    g["fc.weight"] = dlogits.reshape(-1, N_CLASSES).T @ inp.reshape(-1, HIDDEN)
    g["fc.bias"] = dlogits.sum((0, 1))
    dy = dlogits @ p["fc.weight"]
    for layer in range(LAYERS - 1, -1, -1):
        sfx = f"_l{layer}"
        dx, g["weight_ih" + sfx], g["weight_hh" + sfx], g["bias_ih" + sfx], g["bias_hh" + sfx] = gru_backward(
            dy, inputs[layer], p["weight_ih" + sfx], p["weight_hh" + sfx], caches[layer])
        dy = dx
    acc = float(np.mean(logp.argmax(-1) == lab))
    return loss, g, acc


def gradcheck():
    global HIDDEN, LAYERS
    saved = HIDDEN
    HIDDEN = 5
    rng = np.random.default_rng(0)
    p = init_params(rng)
    x = rng.standard_normal((2, 6, N_MELS))
    lab = rng.integers(0, N_CLASSES, (2, 6))
    _, g, _ = loss_and_grads(p, x, lab)
    worst = 0.0
    for k in p:
        flat = p[k].reshape(-1)
        for idx in rng.choice(flat.size, min(8, flat.size), replace=False):
            old = flat[idx]
            flat[idx] = old + 1e-5
            lp, _, _ = loss_and_grads(p, x, lab)
            flat[idx] = old - 1e-5
            lm, _, _ = loss_and_grads(p, x, lab)
            flat[idx] = old
            num = (lp - lm) / 2e-5
            # error relative to the tensor's largest gradient (tiny entries are all rounding noise)
            worst = max(worst, abs(num - g[k].reshape(-1)[idx]) / max(1e-12, float(np.max(np.abs(g[k])))))
    HIDDEN = saved
    print(f"gradcheck: worst relative error {worst:.2e}")
    assert worst < 1e-6


def evaluate(p, x):
    """float64 torch-semantics forward of the whole model on x [B, T, 40]: log-probs."""
    y, hn, _ = rnnref.torch_rnn_stack("gru", p, x, LAYERS, False, True)
    logits = y @ p["fc.weight"].T + p["fc.bias"]
    return fl._logsoftmax(logits, -1), hn


def train(steps, seed=20261125, batch=32, T=120, lr=3e-3):
    rng = np.random.default_rng(seed)
    p = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    t0 = time.time()
    hist = []
    for step in range(1, steps + 1):
        xs, ls = zip(*[make_stream(rng, T)[:2] for _ in range(batch)])
        x = np.stack(xs).astype(np.float64)
        lab = np.stack(ls)
        loss, g, acc = loss_and_grads(p, x, lab)
        norm = np.sqrt(sum(float(np.sum(gg * gg)) for gg in g.values()))
        scale = min(1.0, 1.0 / max(norm, 1e-12))  # clip global grad norm to 1
        cur_lr = lr * (0.1 ** (step / steps))      # exponential decay to lr/10
        for k in p:
            gk = g[k] * scale
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            mh = m[k] / (1 - b1 ** step)
            vh = v[k] / (1 - b2 ** step)
            p[k] -= cur_lr * mh / (np.sqrt(vh) + eps)
        hist.append((loss, acc))
        if step % 100 == 0 or step == 1:
            l_, a_ = np.mean(hist[-100:], axis=0)
            print(f"  step {step:5d}  loss {l_:.4f}  frame acc {a_:.3f}  ({time.time() - t0:.0f} s)", flush=True)
    return p, hist


# ============================================================================ export


def export(p):
    """Stateful one-frame export in the TorchScript exporter's shape (opset 17)."""
    pf = OrderedDict((k, v.astype(np.float32)) for k, v in p.items())
    gb = fl.GraphBuilder("main_graph")
    gb.input("x", [1, 1, N_MELS])
    gb.input("h0", [LAYERS, 1, HIDDEN])
    cur = gb.node("Transpose", ["x"], name="/gru/Transpose", perm=[1, 0, 2])
    hns = []
    for layer in range(LAYERS):
        W, R, B = fl.torch_layer_to_onnx("gru", pf, layer, False)
        hs = gb.node("Slice", ["h0", gb.const([layer], "/gru/Constant"), gb.const([layer + 1], "/gru/Constant"),
                               gb.const([0], "/gru/Constant")], name="/gru/Slice")
        outs = gb.node("GRU", [cur, gb.init(f"onnx::GRU_{110 + 10 * layer}", W), gb.init(f"onnx::GRU_{111 + 10 * layer}", R),
                               gb.init(f"onnx::GRU_{112 + 10 * layer}", B), "", hs],
                       n_out=2, name="/gru/GRU", hidden_size=HIDDEN, linear_before_reset=1)
        cur = gb.node("Squeeze", [outs[0], gb.const([1], "/gru/Constant")], name="/gru/Squeeze")
        hns.append(outs[1])
    t = gb.node("Transpose", [cur], name="/gru/Transpose", perm=[1, 0, 2])
    mm = gb.node("MatMul", [t, gb.init("onnx::MatMul_140", np.ascontiguousarray(pf["fc.weight"].T))], name="/fc/MatMul")
    z = gb.node("Add", [gb.init("fc.bias", pf["fc.bias"]), mm], name="/fc/Add")
    gb.node("LogSoftmax", [z], name="/LogSoftmax", outputs=["log_probs"], axis=-1)
    gb.node("Concat", hns, name="/gru/Concat", outputs=["hn"], axis=0)
    gb.output("log_probs", [1, 1, N_CLASSES])
    gb.output("hn", [LAYERS, 1, HIDDEN])
    return gb.model(17, doc="recur demo: streaming keyword spotter, GRU(40, 64, 2 layers) + Linear(64, 12) + "
                            "LogSoftmax, trained on a synthetic tone-pattern task by tools/make_demo.py")


def run_stream(model, stream):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    h = np.zeros((LAYERS, 1, HIDDEN), np.float32)
    outs = []
    for t in range(stream.shape[0]):
        lp, h = sess.run(None, {"x": stream[t][None, None, :], "h0": h})
        outs.append(lp[0, 0])
    return np.stack(outs).astype(np.float32), h


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--gradcheck", action="store_true")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--save-params", help="also save the trained float64 parameters to this .npz")
    ap.add_argument("--load-params", help="skip training: load parameters saved with --save-params")
    args = ap.parse_args()
    np.seterr(over="raise", invalid="raise")
    gradcheck()
    if args.gradcheck:
        return
    if args.load_params:
        z = np.load(args.load_params)
        p = OrderedDict((k, z[k]) for k in z.files if k != "_hist")
        hist = [tuple(h) for h in z["_hist"]]
        args.steps = len(hist)
    else:
        print(f"training GRU({N_MELS}, {HIDDEN}, {LAYERS} layers) -> Linear({HIDDEN}, {N_CLASSES}), {args.steps} steps")
        p, hist = train(args.steps)
    if args.save_params:
        np.savez(args.save_params, _hist=np.array(hist), **p)

    # held-out evaluation
    rng = np.random.default_rng(777)
    xs, ls = zip(*[make_stream(rng, 200)[:2] for _ in range(64)])
    lp, _ = evaluate(p, np.stack(xs).astype(np.float64))
    pred = lp.argmax(-1)
    lab = np.stack(ls)
    frame_acc = float(np.mean(pred == lab))
    kw = lab >= 2
    kw_frame_acc = float(np.mean(pred[kw] == lab[kw]))
    print(f"held-out: frame accuracy {frame_acc:.3f}, keyword-frame accuracy {kw_frame_acc:.3f}")

    # the bundled stream: every keyword class appears, plus distractors
    srng = np.random.default_rng(4242)
    stream, labels, events = make_stream(srng, STREAM_T, force=[2, 1, 5, 9, 3, 11, 7], gap=(1, 5))
    model = export(p)
    fl.check_model(model)
    expected, hn = run_stream(model, stream)
    ref_lp, ref_hn = evaluate(p, stream[None].astype(np.float64))
    # the exported float32 weights vs float64 training weights: compare against float32-rounded params
    pf = OrderedDict((k, v.astype(np.float32).astype(np.float64)) for k, v in p.items())
    ref32_lp, ref32_hn = evaluate(pf, stream[None].astype(np.float64))
    tol = fl.DEFAULT_TOL
    assert fl.within(expected, ref32_lp[0], tol, 0.1), fl.max_abs_diff(expected, ref32_lp[0])
    assert fl.within(hn, ref32_hn, tol, 0.1)
    stream_pred = expected.argmax(-1)

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    import onnx
    onnx.save(model, os.path.join(args.out, "model.onnx"))
    np.save(os.path.join(args.out, "input.npy"), np.ascontiguousarray(stream))
    np.save(os.path.join(args.out, "expected.npy"), expected)
    np.save(os.path.join(args.out, "expected_hn.npy"), np.ascontiguousarray(hn.astype(np.float32)))
    np.save(os.path.join(args.out, "labels.npy"), labels.astype(np.int32))
    n_params = sum(int(v.size) for v in p.values())
    ev = [{"start": s, "end": e, "class": int(c), "name": CLASSES[c],
           "predicted_at_end": CLASSES[int(stream_pred[min(STREAM_T - 1, e + 2)])]} for s, e, c in events]
    meta = OrderedDict(
        name="kws_gru_demo",
        description="Streaming keyword spotter: GRU(40, 64, num_layers=2, batch_first=True) -> Linear(64, 12) -> "
                    "LogSoftmax, one frame per call with state in/out.",
        classes=CLASSES,
        keyword_tone_bands={CLASSES[i + 2]: list(PATTERNS[i]) for i in range(10)},
        inputs={"x": [1, 1, N_MELS], "h0": [LAYERS, 1, HIDDEN]},
        outputs={"log_probs": [1, 1, N_CLASSES], "hn": [LAYERS, 1, HIDDEN]},
        stream={"input.npy": [STREAM_T, N_MELS], "expected.npy": [STREAM_T, N_CLASSES],
                "expected_hn.npy": [LAYERS, 1, HIDDEN], "labels.npy": [STREAM_T]},
        how_expected_was_made="onnxruntime, one frame at a time: x = input[t][None, None], h0 = previous hn "
                              "(zeros at t=0); expected[t] = log_probs[0, 0]; expected_hn = hn after the last frame",
        tolerance=tol,
        parameters=n_params,
        training={"steps": args.steps, "batch": 32, "sequence_length": 120, "optimizer": "Adam, lr 3e-3 decaying to 3e-4, grad-norm clip 1",
                  "final_train_loss": float(np.mean([h[0] for h in hist[-100:]])),
                  "final_train_frame_accuracy": float(np.mean([h[1] for h in hist[-100:]])),
                  "heldout_frame_accuracy": frame_acc, "heldout_keyword_frame_accuracy": kw_frame_acc},
        bundled_stream_events=ev,
        bundled_stream_frame_accuracy=float(np.mean(stream_pred == labels)),
        ref64_max_abs_diff=fl.max_abs_diff(expected, ref32_lp[0]),
    )
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    write_readme(args.out, meta)
    sizes = {f: os.path.getsize(os.path.join(args.out, f)) for f in sorted(os.listdir(args.out))}
    print(json.dumps({k: meta[k] for k in ("parameters", "training", "bundled_stream_events",
                                           "bundled_stream_frame_accuracy", "ref64_max_abs_diff")}, indent=1))
    print("files:", sizes, "total", sum(sizes.values()))


def write_readme(out, meta):
    sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
    total = sum(sizes.values())
    tr = meta["training"]
    ev = "\n".join(f"| {e['start']}-{e['end']} | {e['name']} | {e['predicted_at_end']} |" for e in meta["bundled_stream_events"])
    text = f"""# Demo model: streaming keyword spotter (GRU)

Generated by `tools/make_demo.py` (do not edit by hand; rerun the script).

## What it is

A keyword-spotting-style streaming model, as a PyTorch user would write it:

```
nn.GRU(40, 64, num_layers=2, batch_first=True)  ->  nn.Linear(64, 12)  ->  LogSoftmax(dim=-1)
```

{meta['parameters']} parameters ({meta['parameters'] * 4 / 1024:.0f} KiB as float32). It takes one 40-dim
"log-mel" frame per call and carries a 2 x 64 GRU state, i.e. the stateful one-frame export:

| graph input | shape | | graph output | shape |
| --- | --- | --- | --- | --- |
| `x` | [1, 1, 40] | | `log_probs` | [1, 1, 12] |
| `h0` | [2, 1, 64] | | `hn` | [2, 1, 64] |

The ONNX graph (opset 17) has the shape the TorchScript exporter gives this module: Transpose to
sequence-major, Slice of `h0` per layer, `GRU` nodes with `linear_before_reset=1` (torch's GRU),
Squeeze/Transpose glue, MatMul + Add for the Linear layer, LogSoftmax, and Concat of the layers'
`Y_h` into `hn`. torch itself could not be installed here (its PyPI wheel needs several GB of
CUDA libraries), so the graph is built with `onnx.helper` node for node, and the weights are converted
from torch's layout exactly as the exporter does (gates r,z,n -> z,r,h; B = [b_ih, b_hh]).

Classes: {', '.join(meta['classes'])}.

## How it was made

The weights are trained, not random. The task is synthetic (nothing is downloaded): a stream of
40-band frames with background noise (white noise plus a drifting tilted floor) in which
keywords occur. Each of the 10 keywords is a sequence of three tones (Gaussian bumps over the
bands, 5-8 frames each, with jittered centre, amplitude and gaps) with its own band pattern;
distractors are other tone triples or the first two tones of a keyword (`_unknown_`); everything
else is `_silence_`. A frame is labelled with the keyword from the start of its third tone until
{TAIL} frames after it ends.

Training: a plain numpy float64 implementation of torch's GRU/Linear formulas with
back-propagation through time (gradient-checked against finite differences), per-frame cross
entropy, {tr['steps']} steps of Adam on batches of {tr['batch']} random streams of {tr['sequence_length']} frames
({tr['optimizer']}). Final training loss {tr['final_train_loss']:.3f}, training frame accuracy
{tr['final_train_frame_accuracy']:.3f}; on 64 held-out streams of 200 frames: frame accuracy
{tr['heldout_frame_accuracy']:.3f}, accuracy on keyword frames {tr['heldout_keyword_frame_accuracy']:.3f}.

## Files

| file | content | bytes |
| --- | --- | --- |
| `model.onnx` | the model, weights as initializers | {sizes['model.onnx']} |
| `input.npy` | float32 [200, 40]: the bundled input stream, frame t = `input[t]` | {sizes['input.npy']} |
| `expected.npy` | float32 [200, 12]: onnxruntime's `log_probs` for each frame | {sizes['expected.npy']} |
| `expected_hn.npy` | float32 [2, 1, 64]: the state after the last frame | {sizes['expected_hn.npy']} |
| `labels.npy` | int32 [200]: the true class of each frame | {sizes['labels.npy']} |
| `meta.json` | classes, keyword tone bands, training figures, events in the stream | {sizes['meta.json']} |

Total {total / 1024:.0f} KiB.

`expected.npy` was made by running onnxruntime one frame at a time: `x = input[t][None, None]`,
`h0` = the previous call's `hn` (zeros at t = 0), `expected[t] = log_probs[0, 0]`. It agrees
with a float64 evaluation of the same float32 weights to {meta['ref64_max_abs_diff']:.1e}. Compare with
tolerance abs {meta['tolerance']['abs']}, rel {meta['tolerance']['rel']} (|actual - expected| <= abs + rel * |expected|).

Keywords in the bundled stream (argmax of `expected` two frames after each event ends;
frame accuracy over the whole stream {meta['bundled_stream_frame_accuracy']:.3f}):

| frames | event | model says |
| --- | --- | --- |
{ev}
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
