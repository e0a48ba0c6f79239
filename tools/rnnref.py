"""Plain float64 numpy implementation of the ONNX RNN, GRU and LSTM operators.

Written straight from the ONNX operator documentation (opsets 14 and 22; they compute the
same thing), independent of onnxruntime. gen_fixtures.py uses it to cross-check every
onnxruntime output it stores (`ref64_max_abs_diff` in case.json) and make_demo.py uses the
torch-semantics helpers at the bottom to train the demo model.

Conventions (layout=0):
  X [T, B, I]; W [D, G*H, I]; R [D, G*H, H]; B [D, 2*G*H]; sequence_lens [B];
  initial_h / initial_c [D, B, H]; P [D, 3*H];
  Y [T, D, B, H]; Y_h / Y_c [D, B, H].
Gate order: LSTM i, o, f, c; GRU z, r, h; peepholes P: i, o, f.

activation_alpha / activation_beta are consumed in the order of the activation list, one
value per activation that *takes* that parameter (onnxruntime's reading); an activation
whose value is not in the list gets the ONNX default.
"""

import numpy as np

# name -> (default alpha or None if it takes none, default beta or None)
ACT_DEFAULTS = {
    "relu": (None, None),
    "tanh": (None, None),
    "sigmoid": (None, None),
    "affine": (1.0, 0.0),
    "leakyrelu": (0.01, None),
    "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0),
    "hardsigmoid": (0.2, 0.5),
    "elu": (1.0, None),
    "softsign": (None, None),
    "softplus": (None, None),
}

# Activations that have a jump (the generator keeps pre-activations away from it).
DISCONTINUOUS = {"thresholdedrelu"}


class Act:
    """One activation function with its resolved alpha/beta."""

    def __init__(self, name, alpha=None, beta=None):
        self.name = name.lower()
        if self.name not in ACT_DEFAULTS:
            raise ValueError(f"unknown activation {name}")
        self.alpha = alpha
        self.beta = beta
        self.min_gap = np.inf  # closest pre-activation to a discontinuity seen so far

    def __call__(self, x):
        n, a, b = self.name, self.alpha, self.beta
        if n == "relu":
            return np.maximum(x, 0.0)
        if n == "tanh":
            return np.tanh(x)
        if n == "sigmoid":
            return 1.0 / (1.0 + np.exp(-x))
        if n == "affine":
            return a * x + b
        if n == "leakyrelu":
            return np.where(x >= 0, x, a * x)
        if n == "thresholdedrelu":
            self.min_gap = min(self.min_gap, float(np.min(np.abs(x - a))) if x.size else np.inf)
            return np.where(x > a, x, 0.0)
        if n == "scaledtanh":
            return a * np.tanh(b * x)
        if n == "hardsigmoid":
            return np.clip(a * x + b, 0.0, 1.0)
        if n == "elu":
            return np.where(x >= 0, x, a * (np.exp(np.minimum(x, 0.0)) - 1.0))
        if n == "softsign":
            return x / (1.0 + np.abs(x))
        if n == "softplus":
            return np.logaddexp(0.0, x)
        raise AssertionError(n)

    def __repr__(self):
        return f"Act({self.name}, {self.alpha}, {self.beta})"


def resolve_activations(names, alphas=None, betas=None):
    """Turn the attribute lists into Act objects (see module doc for the consumption rule)."""
    alphas = list(alphas or [])
    betas = list(betas or [])
    ai = bi = 0
    out = []
    for n in names:
        da, db = ACT_DEFAULTS[n.lower()]
        a = b = None
        if da is not None:
            if ai < len(alphas):
                a = float(alphas[ai])
                ai += 1
            else:
                a = da
        if db is not None:
            if bi < len(betas):
                b = float(betas[bi])
                bi += 1
            else:
                b = db
        out.append(Act(n, a, b))
    return out


DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
NGATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


ALT_CLIP_CELL = False  # True: also clip the cell state before h() (the reading the fixtures rule out)
CLIP_STATS = {"total": 0, "clipped": 0, "cells": 0, "cells_over": 0}  # how many pre-activations a clip attribute changed


def _clip(x, clip):
    if clip is None:
        return x
    CLIP_STATS["total"] += x.size
    CLIP_STATS["clipped"] += int(np.sum(np.abs(x) > clip))
    return np.clip(x, -clip, clip)


def run_op(op, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None,
           activations=None, alphas=None, betas=None, clip=None, direction="forward",
           linear_before_reset=0, input_forget=0, layout=0):
    """Evaluate one RNN/GRU/LSTM node in float64. Returns (Y, Y_h, Y_c or None, acts)."""
    X = np.asarray(X, np.float64)
    if layout == 1:
        X = X.transpose(1, 0, 2)
        if initial_h is not None:
            initial_h = np.asarray(initial_h).transpose(1, 0, 2)
        if initial_c is not None:
            initial_c = np.asarray(initial_c).transpose(1, 0, 2)
    T, Bn, I = X.shape
    D = 2 if direction == "bidirectional" else 1
    G = NGATES[op]
    W = np.asarray(W, np.float64)
    R = np.asarray(R, np.float64)
    H = R.shape[-1]
    assert W.shape == (D, G * H, I), (W.shape, (D, G * H, I))
    assert R.shape == (D, G * H, H)
    Bb = np.zeros((D, 2 * G * H)) if B is None else np.asarray(B, np.float64)
    Pp = np.zeros((D, 3 * H)) if P is None else np.asarray(P, np.float64)
    h0 = np.zeros((D, Bn, H)) if initial_h is None else np.asarray(initial_h, np.float64)
    c0 = np.zeros((D, Bn, H)) if initial_c is None else np.asarray(initial_c, np.float64)
    lens = np.full(Bn, T, np.int64) if sequence_lens is None else np.asarray(sequence_lens, np.int64)
    names = activations if activations else DEFAULT_ACTS[op] * D
    nper = len(DEFAULT_ACTS[op])
    assert len(names) == nper * D, names
    acts = resolve_activations(names, alphas, betas)

    Y = np.zeros((T, D, Bn, H))
    Yh = np.zeros((D, Bn, H))
    Yc = np.zeros((D, Bn, H))
    for d in range(D):
        rev = direction == "reverse" or d == 1
        fa = acts[d * nper:(d + 1) * nper]
        Wd, Rd, Wb, Rb = W[d], R[d], Bb[d, :G * H], Bb[d, G * H:]
        for b in range(Bn):
            L = int(lens[b])
            h = h0[d, b].copy()
            c = c0[d, b].copy()
            steps = range(L - 1, -1, -1) if rev else range(L)
            for t in steps:
                x = X[t, b]
                if op == "RNN":
                    h = fa[0](_clip(Wd @ x + Rd @ h + Wb + Rb, clip))
                elif op == "GRU":
                    gx = Wd @ x + Wb
                    z = fa[0](_clip(gx[:H] + Rd[:H] @ h + Rb[:H], clip))
                    r = fa[0](_clip(gx[H:2 * H] + Rd[H:2 * H] @ h + Rb[H:2 * H], clip))
                    if linear_before_reset:
                        hh = gx[2 * H:] + r * (Rd[2 * H:] @ h + Rb[2 * H:])
                    else:
                        hh = gx[2 * H:] + Rd[2 * H:] @ (r * h) + Rb[2 * H:]
                    hh = fa[1](_clip(hh, clip))
                    h = (1.0 - z) * hh + z * h
                else:  # LSTM, gates i o f c
                    g = Wd @ x + Rd @ h + Wb + Rb
                    pi, po, pf = Pp[d, :H], Pp[d, H:2 * H], Pp[d, 2 * H:]
                    i = fa[0](_clip(g[:H] + pi * c, clip))
                    if input_forget:
                        f = 1.0 - i
                    else:
                        f = fa[0](_clip(g[2 * H:3 * H] + pf * c, clip))
                    cc = fa[1](_clip(g[3 * H:], clip))
                    c = f * c + i * cc
                    if clip is not None:  # the cell state is not clipped before h(); count how often it matters
                        CLIP_STATS["cells"] += c.size
                        CLIP_STATS["cells_over"] += int(np.sum(np.abs(c) > clip))
                    o = fa[0](_clip(g[H:2 * H] + po * c, clip))
                    h = o * fa[2](_clip(c, clip) if ALT_CLIP_CELL else c)
                Y[t, d, b] = h
            Yh[d, b] = h
            Yc[d, b] = c
    if layout == 1:
        Y = Y.transpose(2, 0, 1, 3)
        Yh = Yh.transpose(1, 0, 2)
        Yc = Yc.transpose(1, 0, 2)
    return Y, Yh, (Yc if op == "LSTM" else None), acts


# ---------------------------------------------------------------------------------------
# torch.nn semantics (weights in torch's own layout and gate order), float64.
# torch LSTM gates: i, f, g, o; torch GRU gates: r, z, n (linear-before-reset form).


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def torch_lstm_dir(x, w_ih, w_hh, b_ih, b_hh, h, c, reverse=False):
    """x [T, B, I]; returns y [T, B, H], h, c."""
    T = x.shape[0]
    H = w_hh.shape[1]
    y = np.zeros((T, x.shape[1], H))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        g = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f, gg, o = sigmoid(g[:, :H]), sigmoid(g[:, H:2 * H]), np.tanh(g[:, 2 * H:3 * H]), sigmoid(g[:, 3 * H:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        y[t] = h
    return y, h, c


def torch_gru_dir(x, w_ih, w_hh, b_ih, b_hh, h, reverse=False):
    T = x.shape[0]
    H = w_hh.shape[1]
    y = np.zeros((T, x.shape[1], H))
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        gi = x[t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        r = sigmoid(gi[:, :H] + gh[:, :H])
        z = sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1.0 - z) * n + z * h
        y[t] = h
    return y, h


def torch_rnn_stack(kind, params, x, num_layers, bidirectional, batch_first, h0=None, c0=None):
    """torch.nn.LSTM / torch.nn.GRU forward in float64.

    params: dict with torch state_dict names (weight_ih_l0, weight_ih_l0_reverse, ...).
    Returns (output, h_n, c_n or None) in torch's shapes.
    """
    x = np.asarray(x, np.float64)
    if batch_first:
        x = x.transpose(1, 0, 2)
    D = 2 if bidirectional else 1
    Bn = x.shape[1]
    H = params["weight_hh_l0"].shape[1]
    h0 = np.zeros((num_layers * D, Bn, H)) if h0 is None else np.asarray(h0, np.float64)
    c0 = np.zeros((num_layers * D, Bn, H)) if c0 is None else np.asarray(c0, np.float64)
    hn, cn = [], []
    inp = x
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            p = [params[n + sfx].astype(np.float64) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            k = layer * D + d
            if kind == "lstm":
                y, h, c = torch_lstm_dir(inp, *p, h0[k], c0[k], reverse=(d == 1))
                cn.append(c)
            else:
                y, h = torch_gru_dir(inp, *p, h0[k], reverse=(d == 1))
            outs.append(y)
            hn.append(h)
        inp = np.concatenate(outs, axis=-1)
    out = inp.transpose(1, 0, 2) if batch_first else inp
    return out, np.stack(hn), (np.stack(cn) if kind == "lstm" else None)
